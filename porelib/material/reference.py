"""The held-out reference every score of a user's material is measured against.

A user's sample is split: the generator trains on one part and never sees the other, the
held-out slab (a volume of any box shape, or a strip of a 2-D image). :class:`HeldOutReference`
cuts that slab into ``M`` *members*, sub-volumes (or windows) of the size being scored, and
computes their statistics (:mod:`porelib.material.statistics`) once. For candidate volumes
(generated, or a baseline's) and each statistic ``s`` with distance ``d_s``:

.. code-block:: text

    distance    = mean over candidates c and members m of d_s(c, m)
    noise_floor = mean over pairs of different members m ≠ m' of d_s(m, m')
    ratio       = distance / noise_floor

A candidate drawn like the members (another piece of the same material) has expected ratio 1:
its distance and the noise floor are expectations of the same quantity. A ratio well above 1
says by how much the candidates miss that statistic. If the noise floor is 0 (all members
agree exactly) the ratio is 1.0 when the distance is 0 too and ``inf`` otherwise.

**Bootstrap interval.** :func:`bootstrap_ratio` resamples candidates and members with
replacement (both sides vary: a ratio is only as sure as the few members behind its noise
floor), recomputes the ratio from the precomputed distance matrices (no statistic is
recomputed; pairs of a member with itself are left out of the resampled noise floor), and
reports the 2.5 and 97.5 percentiles. A statistic *passes* only when the upper bound is at
most the limit (issue #24: a benchmark that cannot be flattered).

**Units.** Members have the scored shape; each candidate is cut into non-overlapping tiles of
that shape from its first corner (a candidate of exactly that shape is one tile), and each
tile is compared with each member, so a bigger candidate is not favoured by averaging away
its own noise. The tiles of one candidate are averaged before resampling (the bootstrap
resamples candidates, not tiles, which are correlated). Against a 2-D reference a volume is
compared through its slices normal to x, y and z (SliceGAN's principle), tiled the same way.

**Sections.** A material given as 2-D sections normal to x, y and z (a single image stands for
all three; :mod:`porelib.material.sample`) is scored by :class:`SectionReference`: one
:class:`HeldOutReference` per section's held-out strip, and a volume's slices normal to axis
``a`` are compared with the strip of the section normal to ``a`` only. Its statistics are
named by the section and the volume axes: ``x:s2_y`` is the two-point correlation along y of
the slices normal to x (the section's rows), ``x:chords_z`` the chords along z (its columns),
``x:porosity``, ``x:pore_size``, ``x:perimeter``, … (see :data:`porelib.material.sample.SECTION_PLANES`).

**Where the members are.** If the slab is thinner than the scored size along an axis, members
take the slab's thickness there (:attr:`HeldOutReference.member_shape`; a note says so). Members
do not overlap when at least two fit side by side: the slab holds a grid of ``⌊L/s⌋`` windows
per axis, shifted by a random offset within the leftover margin, and ``M`` of its cells are
drawn at random (by ``seed``); if fewer than ``M`` fit, all are used. Only when fewer than two
fit are the members placed on a regular grid of overlapping windows, evenly spaced; then the
members share voxels, the noise floor is underestimated and the ratios overestimated, and a
note says so.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from porelib._validate import check_box, check_number, check_positive_int
from porelib.bootstrap import DEFAULT_RESAMPLES, bootstrap_ratio
from porelib.bootstrap import noise_floor_ratio as _ratio
from porelib.material.statistics import (
    AXES_2D,
    AXES_3D,
    VolumeStatistics,
    distance_matrices,
    image_statistics,
    slice_statistics,
    statistic_names,
    volume_statistics,
)

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_MEMBERS",
    "DEFAULT_RESAMPLES",
    "HeldOutReference",
    "SectionReference",
    "StatisticScore",
    "bootstrap_ratio",
]

#: Members cut from the held-out slab by default.
DEFAULT_MEMBERS = 16
#: A statistic passes when the upper bound of its ratio's 95 % interval is at most this.
DEFAULT_LIMIT = 1.5
#: Candidate tiles per candidate used for the candidates' own spread.
_SPREAD_TILES = 16


@dataclass(frozen=True)
class StatisticScore:
    """How far candidates are from the held-out reference on one statistic.

    Attributes
    ----------
    name : str
        Statistic name (:func:`porelib.material.statistics.statistic_names`).
    distance : float
        Mean distance from the candidates' tiles to the members.
    noise_floor : float
        Mean distance between two different members.
    ratio : float
        ``distance / noise_floor``; about 1 for candidates like the held-out material.
    low, high : float
        Bootstrap 95 % interval of the ratio.
    limit : float
        The ratio the upper bound is held to.
    passed : bool
        ``high <= limit``.
    spread : float
        Mean distance between tiles of different candidates over the noise floor: well
        below 1 means the candidates are more alike than pieces of the material (collapse);
        NaN with a single candidate.
    """

    name: str
    distance: float
    noise_floor: float
    ratio: float
    low: float
    high: float
    limit: float
    passed: bool
    spread: float

    def to_dict(self) -> dict:
        """Plain floats, a bool and the name (JSON-ready; inf and NaN stay floats)."""
        return asdict(self)


def _member_shape(extent: tuple[int, ...], size) -> tuple[tuple[int, ...], list[str]]:
    ndim = len(extent)
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size),) * ndim
    size = tuple(size)
    if len(size) != ndim:
        raise ValueError(f"size must be one int or {ndim} ints for a {ndim}-D held-out part; got {size!r}")
    size = tuple(check_positive_int(s, "size", minimum=2) for s in size)
    shape, notes = [], []
    for axis, (s, length) in enumerate(zip(size, extent)):
        if length < s:
            notes.append(
                f"the held-out part is {length} voxels thick along axis {axis}, thinner than the scored size {s}: "
                f"members (and candidate tiles) are {length} voxels there"
            )
        shape.append(min(s, length))
    return tuple(shape), notes


def _member_positions(extent, shape, members: int, rng) -> tuple[list[tuple[int, ...]], bool, list[str]]:
    """Corners of the members: non-overlapping when two fit, else an evenly spaced overlapping grid."""
    per_axis = [length // s for length, s in zip(extent, shape)]
    cells = math.prod(per_axis)
    notes = []
    if cells >= 2:
        margins = [length - count * s for length, count, s in zip(extent, per_axis, shape)]
        offset = [int(rng.integers(0, m + 1)) for m in margins]
        chosen = np.sort(rng.choice(cells, size=min(members, cells), replace=False))
        grid = np.unravel_index(chosen, per_axis)
        positions = [tuple(o + int(i) * s for o, i, s in zip(offset, cell, shape)) for cell in zip(*grid)]
        if cells < members:
            notes.append(f"only {cells} non-overlapping members fit in the held-out part; using {cells} instead of {members}")
        return positions, False, notes
    room = [length - s for length, s in zip(extent, shape)]
    free = [axis for axis, r in enumerate(room) if r > 0]
    if not free:
        raise ValueError(
            f"the held-out part {tuple(extent)} holds only one member of shape {tuple(shape)}; the noise floor needs "
            "at least two. Hold out a larger part or score a smaller size"
        )
    per_free = math.ceil(members ** (1 / len(free)))
    starts = [
        np.unique(np.round(np.linspace(0, r, min(per_free, r + 1))).astype(int)) if axis in free else np.array([0])
        for axis, r in enumerate(room)
    ]
    grid = list(itertools.product(*starts))
    if len(grid) > members:
        grid = [grid[i] for i in np.unique(np.round(np.linspace(0, len(grid) - 1, members)).astype(int))]
    notes.append(
        f"fewer than two non-overlapping members of {tuple(shape)} fit in the held-out part {tuple(extent)}: "
        f"{len(grid)} members overlap on an evenly spaced grid, so the noise floor is underestimated and the "
        "ratios overestimated"
    )
    return [tuple(int(v) for v in g) for g in grid], True, notes


class HeldOutReference:
    """The held-out part of a sample, cut into members of the scored size, with its noise floor.

    Parameters
    ----------
    held_out : array_like, (X, Y, Z) or (P, Q) bool or 0/1
        The held-out slab of a volume (any box shape), or a strip of a 2-D image.
    size : int or tuple of int
        Shape being scored (one int: a cube or a square). Clipped to the held-out part's
        extent along each axis (see the module docstring).
    members : int
        Number of members to cut (at least 2; fewer if fewer fit without overlap).
    seed : int or numpy.random.Generator
        Chooses the members' positions.
    r_max : int, optional
        Largest S2 lag; default ``min(member_shape) // 2``.

    Attributes
    ----------
    ndim : int
        2 (image reference) or 3 (volume reference).
    member_shape : tuple of int
        Shape of each member and of the tiles candidates are cut into.
    positions : list of tuple of int
        First corner of each member in ``held_out``.
    overlapping : bool
        Whether members share voxels (only when fewer than two fit side by side).
    notes : tuple of str
        What was adapted (thin slab, fewer members, overlap), for the user.
    names : tuple of str
        The statistics scored, in order.
    stats : list of VolumeStatistics
        Statistics of each member.
    r_max : int
        Largest S2 lag.

    Raises
    ------
    ValueError
        If ``held_out`` is not a 2-D or 3-D 0/1 array, fewer than two members can be cut,
        or an argument is out of range.
    """

    def __init__(self, held_out, size, *, members: int = DEFAULT_MEMBERS, seed=0, r_max: int | None = None):
        ndim = np.ndim(held_out)
        if ndim not in (2, 3):
            raise ValueError(
                f"held_out must be a 3-D volume (X, Y, Z) or a 2-D image (P, Q); got {ndim}-D shape {np.shape(held_out)}"
            )
        held_out = check_box(held_out, "held_out", ndim=ndim)
        members = check_positive_int(members, "members", minimum=2)
        self.ndim = ndim
        self.member_shape, notes = _member_shape(held_out.shape, size)
        self.r_max = (
            min(self.member_shape) // 2
            if r_max is None
            else check_positive_int(r_max, "r_max", minimum=0, maximum=min(self.member_shape) - 1)
        )
        rng = np.random.default_rng(seed)
        self.positions, self.overlapping, placement_notes = _member_positions(held_out.shape, self.member_shape, members, rng)
        self.notes = tuple(notes + placement_notes)
        self.names = statistic_names(ndim)
        statistics = volume_statistics if ndim == 3 else image_statistics
        self.stats = [statistics(held_out[self.window(corner)], r_max=self.r_max) for corner in self.positions]
        self.member_distances = distance_matrices(self.stats, self.stats)
        count = len(self.stats)
        self.noise_floors = {
            name: float(matrix.sum() / (count * (count - 1))) for name, matrix in self.member_distances.items()
        }

    def __repr__(self) -> str:
        return (
            f"HeldOutReference(members={len(self.stats)}, member_shape={self.member_shape}, "
            f"overlapping={self.overlapping})"
        )

    def window(self, corner) -> tuple[slice, ...]:
        """The slices of the member (or tile) whose first corner is ``corner``."""
        return tuple(slice(p, p + s) for p, s in zip(corner, self.member_shape))

    def noise_floor(self, name: str) -> float:
        """Mean distance between two different members on statistic ``name``.

        Raises
        ------
        ValueError
            If ``name`` is not one of :attr:`names`.
        """
        if name not in self.noise_floors:
            raise ValueError(f"name must be one of {', '.join(self.names)}; got {name!r}")
        return self.noise_floors[name]

    def tiles(self, candidate, *, slice_step: int = 1, axes=(0, 1, 2)) -> list[VolumeStatistics]:
        """Statistics of the tiles one candidate is compared by (see the module docstring).

        Parameters
        ----------
        candidate : array_like, bool or 0/1
            A volume (X, Y, Z) at least :attr:`member_shape` along each axis; against a 2-D
            reference, a volume whose slices hold a tile in every orientation, or an image.
        slice_step : int
            Against a 2-D reference, use every ``slice_step``-th slice of a volume.
        axes : sequence of int
            Against a 2-D reference, the axes (0, 1, 2 = x, y, z) normal to which a volume is sliced.

        Raises
        ------
        ValueError
            If the candidate has the wrong dimensions or is smaller than a tile.
        """
        ndim = np.ndim(candidate)
        allowed = (3,) if self.ndim == 3 else (2, 3)
        if ndim not in allowed:
            expected = "a 3-D volume" if self.ndim == 3 else "a 3-D volume or a 2-D image"
            raise ValueError(f"candidates must be {expected} for a {self.ndim}-D reference; got {ndim}-D {np.shape(candidate)}")
        candidate = check_box(candidate, "candidate", ndim=ndim)
        if self.ndim == 2 and ndim == 3:
            try:
                return slice_statistics(candidate, tile=self.member_shape, axes=axes, step=slice_step, r_max=self.r_max)
            except ValueError as error:
                raise ValueError(f"candidate {candidate.shape}: {error}") from None
        if any(c < s for c, s in zip(candidate.shape, self.member_shape)):
            raise ValueError(
                f"candidate {candidate.shape} is smaller than a member {self.member_shape} along some axis; "
                "generate at least the member shape"
            )
        statistics = volume_statistics if ndim == 3 else image_statistics
        corners = itertools.product(*(range(0, c - s + 1, s) for c, s in zip(candidate.shape, self.member_shape)))
        return [statistics(candidate[self.window(corner)], r_max=self.r_max) for corner in corners]

    def score(
        self,
        candidates,
        *,
        limit: float = DEFAULT_LIMIT,
        resamples: int = DEFAULT_RESAMPLES,
        seed=0,
        slice_step: int = 1,
        axes=(0, 1, 2),
    ) -> dict[str, StatisticScore]:
        """Score candidate volumes against the members, statistic by statistic.

        Parameters
        ----------
        candidates : array_like or sequence of array_like
            One volume ``(X, Y, Z)``, a batch ``(N, X, Y, Z)``, or a list of candidates of
            possibly different shapes; against a 2-D reference also one image ``(P, Q)`` or a
            list of images. See :meth:`tiles`.
        limit : float
            A statistic passes when the upper bound of its ratio's interval is at most this.
        resamples : int
            Bootstrap resamples (see :func:`bootstrap_ratio`).
        seed : int or numpy.random.Generator
            Seeds the resampling.
        slice_step : int
            Against a 2-D reference, use every ``slice_step``-th slice of a volume.
        axes : sequence of int
            Against a 2-D reference, the axes (0, 1, 2 = x, y, z) normal to which volumes are sliced.

        Returns
        -------
        dict
            ``{name: StatisticScore}`` for every name in :attr:`names`, in that order.

        Raises
        ------
        ValueError
            If a candidate does not fit (see :meth:`tiles`) or an argument is out of range.
        """
        limit = check_number(limit, "limit", minimum=0.0)
        units = [self.tiles(c, slice_step=slice_step, axes=axes) for c in self._split(candidates)]
        flat = [tile for tiles in units for tile in tiles]
        owner = np.repeat(np.arange(len(units)), [len(tiles) for tiles in units])
        average = np.zeros((len(units), len(flat)))
        average[owner, np.arange(len(flat))] = 1.0 / np.bincount(owner)[owner]  # mean over each candidate's tiles
        per_candidate = {name: average @ m for name, m in distance_matrices(flat, self.stats).items()}
        spreads = self._spread(units)
        stacked_d = np.stack([per_candidate[name] for name in self.names])
        stacked_e = np.stack([self.member_distances[name] for name in self.names])
        ratio, low, high = bootstrap_ratio(stacked_d, stacked_e, resamples=resamples, seed=seed)
        scores = {}
        for k, name in enumerate(self.names):
            scores[name] = StatisticScore(
                name=name,
                distance=float(per_candidate[name].mean()),
                noise_floor=self.noise_floors[name],
                ratio=float(ratio[k]),
                low=float(low[k]),
                high=float(high[k]),
                limit=limit,
                passed=bool(high[k] <= limit),
                spread=float(_ratio(spreads[name], self.noise_floors[name])) if spreads else math.nan,
            )
        return scores

    def _split(self, candidates) -> list:
        """A list of single candidates from one candidate, a batch or a sequence."""
        if isinstance(candidates, (list, tuple)):
            if not candidates:
                raise ValueError("candidates is empty; expected at least one volume")
            return list(candidates)
        array = np.asarray(candidates)
        if array.ndim == 4:
            if len(array) == 0:
                raise ValueError("candidates is an empty batch; expected at least one volume")
            return list(array)
        if array.ndim == 3 or (array.ndim == 2 and self.ndim == 2):
            return [array]
        raise ValueError(
            f"candidates must be one volume (X, Y, Z), a batch (N, X, Y, Z) or a list of volumes; got shape {array.shape}"
        )

    def _spread(self, units: list[list[VolumeStatistics]]) -> dict[str, float]:
        """Mean distance between tiles of different candidates (up to :data:`_SPREAD_TILES` each)."""
        if len(units) < 2:
            return {}
        picked, owner = [], []
        for i, tiles in enumerate(units):
            keep = np.unique(np.round(np.linspace(0, len(tiles) - 1, min(len(tiles), _SPREAD_TILES))).astype(int))
            picked += [tiles[j] for j in keep]
            owner += [i] * len(keep)
        owner = np.array(owner)
        different = owner[:, None] != owner[None, :]
        return {name: float(m[different].mean()) for name, m in distance_matrices(picked, picked).items()}


class SectionReference:
    """The held-out strips of a material's sections normal to x, y and z (the module notes, "Sections").

    Parameters
    ----------
    held_outs : sequence of three array_like or None
        The held-out strip ``(P, Q)`` of the section normal to x, y and z (rows and columns
        as :data:`porelib.material.sample.SECTION_PLANES`), ``None`` for a section not given.
        The very same array repeated (a single image) is cut and measured once.
    size, members, seed, r_max
        As :class:`HeldOutReference`, for each strip.

    Attributes
    ----------
    ndim : int
        2 (candidates are volumes judged on their slices).
    axes : tuple of int
        The axes normal to which a section is given.
    references : dict
        ``{axis: HeldOutReference}`` (the same object for a repeated image).
    member_shape : tuple of int
        The smallest member shape over the strips; a candidate volume must be at least a cube
        of :attr:`side`.
    side : int
        The edge of the cubes generated for scoring: the longest member side over the strips.
    notes : tuple of str
        The strips' notes, each naming its section.
    names : tuple of str
        ``"<section>:<statistic>"``, e.g. ``x:s2_y``, section by section.

    Raises
    ------
    ValueError
        Fewer than one section, or as :class:`HeldOutReference`.
    """

    def __init__(self, held_outs, size, *, members: int = DEFAULT_MEMBERS, seed=0, r_max: int | None = None):
        from porelib.material.sample import repeated

        held_outs = list(held_outs)
        if len(held_outs) != 3 or all(h is None for h in held_outs):
            raise ValueError("held_outs must hold the strips of the sections normal to x, y and z (None for a missing one)")
        self.ndim = 2
        self.axes = tuple(a for a, h in enumerate(held_outs) if h is not None)
        self.references: dict[int, HeldOutReference] = {}
        for axis in self.axes:
            same = repeated(held_outs, axis)
            self.references[axis] = (self.references[same] if same is not None else
                                     HeldOutReference(held_outs[axis], size, members=members, seed=seed, r_max=r_max))  # fmt: skip
        shapes = [reference.member_shape for reference in self.references.values()]
        self.member_shape = tuple(min(shape[k] for shape in shapes) for k in range(2))
        self.side = max(max(shape) for shape in shapes)
        self.notes = tuple(dict.fromkeys(f"the section normal to {AXES_3D[a]}: {note}"
                                         for a in self.axes for note in self.references[a].notes))  # fmt: skip
        self.names = tuple(name for axis in self.axes for name in self._renamed(axis).values())

    def __repr__(self) -> str:
        return f"SectionReference(axes={self.axes}, references={list(self.references.values())})"

    @staticmethod
    def statistic_name(axis: int, name: str) -> str:
        """The name of 2-D statistic ``name`` (axes u, v) of slices normal to ``axis``: e.g. ``(0, "s2_u") -> "x:s2_y"``."""
        from porelib.material.sample import in_plane_axes

        rows, columns = (AXES_3D[a] for a in in_plane_axes(axis))
        stem, _, suffix = name.rpartition("_")
        if stem and suffix in AXES_2D:
            name = f"{stem}_{rows if suffix == 'u' else columns}"
        return f"{AXES_3D[axis]}:{name}"

    def _renamed(self, axis: int) -> dict[str, str]:
        return {name: self.statistic_name(axis, name) for name in self.references[axis].names}

    def score(self, candidates, *, limit: float = DEFAULT_LIMIT, resamples: int = DEFAULT_RESAMPLES, seed=0,
              slice_step: int = 1) -> dict[str, StatisticScore]:
        """Score candidates section by section: ``{"<section>:<statistic>": StatisticScore}`` in :attr:`names` order.

        Parameters
        ----------
        candidates : volumes, images, or dict
            Volumes ``(X, Y, Z)`` (one, a batch or a list): their slices normal to each given
            axis against that section's strip. Images ``(P, Q)``: each image against every
            section. A dict ``{axis: candidates}``: those candidates against that section only
            (e.g. patches of each section's training region).
        limit, resamples, seed, slice_step
            As :meth:`HeldOutReference.score`.

        Raises
        ------
        ValueError
            If a candidate does not fit, or a dict names an axis without a section.
        """
        if isinstance(candidates, dict):
            unknown = [a for a in candidates if a not in self.axes]
            if unknown or not candidates:
                raise ValueError(f"candidates must be keyed by the given sections' axes {self.axes}; got {list(candidates)}")
            chosen = candidates
        else:
            chosen = dict.fromkeys(self.axes, candidates)
        scores = {}
        for axis, group in chosen.items():
            found = self.references[axis].score(group, limit=limit, resamples=resamples, seed=seed,
                                                slice_step=slice_step, axes=(axis,))  # fmt: skip
            renamed = self._renamed(axis)
            scores.update({renamed[name]: replace(score, name=renamed[name]) for name, score in found.items()})
        return scores
