"""Every way of making a material, scored against the held-out slab the run never saw.

:func:`compare_methods` is what the app, ``python -m porelib score --material RUN`` and
``bench material`` report: for the trained generator and the baselines a user would
otherwise use, ``samples`` volumes of the scored size at the training region's porosity,
each statistic as a ratio to the held-out noise floor with its bootstrap 95 % interval
(:class:`porelib.material.reference.HeldOutReference`), the worst ratio, the time per
volume, and which method to use for this material: the smallest worst ratio (the point
estimates; with 16 members an upper bound mostly measures how noisy a statistic is on
the held-out slab, e.g. the percolating fraction of small cubes, which even copied
training patches can miss).

Methods (:data:`METHODS`):

``model``
    the run's trained generator;
``gaussian-field``
    a level-cut Gaussian random field matched to the training region's two-point
    correlation — the classical reconstruction;
``spheres``
    overlapping spheres with the training region's pore-size distribution;
``grains``
    overlapping solid spheres with the training solid's sizes, pores between them (a
    granular material's classical model);
``patch``
    random patches of the training region itself: what copying scores. It is a yardstick,
    not a generator (it cannot be bigger than the sample); a generator whose patches are
    nearer to training patches than held-out patches are has memorised (see
    :attr:`MethodResult.nearest_training_iou`).

A 2-D sample (one image, or sections normal to x, y and z) is scored section by section
(:class:`porelib.material.reference.SectionReference`): the slices of each volume normal to
axis ``a`` against the held-out strip of the section normal to ``a``, statistics named
``x:s2_y``, ``y:chords_x``, …; ``patch`` copies patches of each section's own training
region. The Gaussian field is fitted to every section's training strip (one correlation
profile per axis, :func:`porelib.material.baselines.gaussian_field`); the sphere and grain packs see
the section normal to x (they assume an isotropic material).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from porelib._validate import check_positive_int
from porelib.material.generate import METHODS as GENERATION_METHODS

#: Methods scored by :func:`compare_methods`, in table order: every generation method, then copied patches.
METHODS = (*GENERATION_METHODS, "patch")
#: Largest and smallest edge of the scored volumes (see :func:`scored_size`).
SCORED_SIZE = 64
MIN_SCORED_SIZE = 16
#: Statistics reported but not judged: every method is asked for the porosity (exact by construction).
NOT_JUDGED = ("porosity",)
#: Volumes generated per method, and members cut from the held-out slab.
SAMPLES = 8
MEMBERS = 16


def judged(name: str) -> bool:
    """Whether statistic ``name`` (``"porosity"``, ``"x:porosity"``, ``"s2_x"``, …) is judged (not in :data:`NOT_JUDGED`)."""
    return name.rpartition(":")[2] not in NOT_JUDGED


@dataclass(frozen=True)
class MethodResult:
    """One method against the held-out slab.

    Attributes
    ----------
    method : str
    scores : dict
        ``{statistic: StatisticScore}`` (ratio, interval, pass) in the reference's order.
    worst : str
        The judged statistic (not :data:`NOT_JUDGED`) with the highest ratio.
    seconds_per_volume : float
        Wall time to make one scored volume.
    nearest_training_iou : float or None
        Mean over the volumes of the best IoU with a training patch (memorisation check).
    """

    method: str
    scores: dict
    worst: str
    seconds_per_volume: float
    nearest_training_iou: float | None = None

    @property
    def worst_ratio(self) -> float:
        return self.scores[self.worst].ratio

    @property
    def worst_high(self) -> float:
        """The highest upper bound over the judged statistics (a method passes a limit when this is within it)."""
        return max(score.high for name, score in self.scores.items() if judged(name))

    def to_dict(self) -> dict:
        return {"method": self.method, "worst": self.worst, "worst_ratio": self.worst_ratio, "worst_high": self.worst_high,
                "seconds_per_volume": self.seconds_per_volume, "nearest_training_iou": self.nearest_training_iou,
                "scores": {name: score.to_dict() for name, score in self.scores.items()}}  # fmt: skip


@dataclass(frozen=True)
class MaterialComparison:
    """:func:`compare_methods`'s answer.

    Attributes
    ----------
    results : list of MethodResult
    recommended : str
        The method with the smallest worst ratio.
    reason : str
        One sentence a user can act on.
    member_shape : tuple of int
        Shape of the scored volumes (held-out members).
    notes : tuple of str
        What the reference adapted (thin slab, overlapping members).
    porosity : float
        The porosity every method was asked for (the training region's).
    held_out_training_iou : float or None
        The memorisation yardstick: mean best IoU of held-out members with a training patch.
    """

    results: list
    recommended: str
    reason: str
    member_shape: tuple
    notes: tuple
    porosity: float
    held_out_training_iou: float | None = None
    extra: dict = field(default_factory=dict)

    def result(self, method: str) -> MethodResult:
        return next(r for r in self.results if r.method == method)

    def to_dict(self) -> dict:
        return {"recommended": self.recommended, "reason": self.reason, "member_shape": list(self.member_shape),
                "notes": list(self.notes), "porosity": self.porosity,
                "held_out_training_iou": self.held_out_training_iou,
                "results": [r.to_dict() for r in self.results]}  # fmt: skip


def scored_size(held_out_shape, members: int = MEMBERS) -> int:
    """The largest edge in [:data:`MIN_SCORED_SIZE`, :data:`SCORED_SIZE`] at which ``members`` disjoint members fit.

    Members clipped to a thin slab take its thickness; when not even the smallest size
    fits ``members`` times, the smallest is used (the reference then overlaps them and says so).
    """
    for size in range(SCORED_SIZE, MIN_SCORED_SIZE - 1, -4):
        if np.prod([extent // min(size, extent) for extent in held_out_shape]) >= members:
            return size
    return MIN_SCORED_SIZE


def held_out_reference(run, *, size: int | None = None, members: int = MEMBERS, seed: int = 0):
    """The reference of a run's held-out part (size: :func:`scored_size`, the smallest over the sections'):
    a :class:`~porelib.material.reference.HeldOutReference` of a volume's slab, or a
    :class:`~porelib.material.reference.SectionReference` of a 2-D sample's strips."""
    from porelib.material.reference import HeldOutReference, SectionReference

    if size is None:
        size = min(scored_size(part.shape, members) for part in run.split.parts("held_out"))
    if not run.material.is_image:
        return HeldOutReference(run.split.held_out, size, members=members, seed=seed)
    strips = [None if split is None else split.held_out for split in run.split.sections]
    return SectionReference(strips, size, members=members, seed=seed)


def _volumes(run, method: str, reference, porosity: float, samples: int, seed: int):
    """``samples`` candidates from ``method`` (seeds ``seed``, ``seed + 1``, …): volumes of the member shape
    (cubes of :attr:`~porelib.material.reference.SectionReference.side` against sections), or for
    ``patch`` training patches of the member shape (of each section: ``{axis: patches}``)."""
    from porelib.material import baselines
    from porelib.material.generate import generate_material

    if method == "patch" and reference.ndim == 3:
        return list(baselines.patch_bootstrap(run.split.train, tuple(reference.member_shape), samples, seed=seed))
    if method == "patch":
        return {axis: list(baselines.patch_bootstrap(run.split.sections[axis].train, part.member_shape, samples, seed=seed))
                for axis, part in reference.references.items()}  # fmt: skip
    shape = tuple(reference.member_shape) if reference.ndim == 3 else (reference.side,) * 3
    return [generate_material(run, shape, porosity, seed=seed + k, method=method) for k in range(samples)]


def compare_methods(run, *, size: int | None = None, samples: int = SAMPLES, members: int = MEMBERS,
                    methods=METHODS, seed: int = 0, resamples: int = 2000, progress=None) -> MaterialComparison:
    """Score every method of :data:`METHODS` against the run's held-out slab (see the module notes).

    Parameters
    ----------
    run : MaterialRun
        From :func:`porelib.material.run.load_material_run`.
    size : int, optional
        Edge of the scored volumes (clipped to the held-out slab); default :func:`scored_size`.
    samples : int
        Volumes per method (at least 2, for the bootstrap).
    members : int
        Members cut from the held-out slab.
    methods : sequence of str
        A subset of :data:`METHODS`.
    progress : callable, optional
        ``progress(done, total)`` after each method.

    Raises
    ------
    ValueError
        For an unknown method, fewer than 2 samples, or a slab too small to cut members from.
    """
    from porelib.material import baselines

    samples = check_positive_int(samples, "samples", minimum=2, maximum=256)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"methods must be among {', '.join(METHODS)}; got {unknown}")
    reference = held_out_reference(run, size=size, members=members, seed=seed)
    porosity = run.split.porosity("train")
    results = []
    for index, method in enumerate(methods):
        start = time.perf_counter()
        volumes = _volumes(run, method, reference, porosity, samples, seed)
        seconds = (time.perf_counter() - start) / samples
        scores = reference.score(volumes, resamples=resamples, seed=seed)
        worst = max((name for name in scores if judged(name)), key=lambda name: scores[name].ratio)
        memorised = None
        if method in ("model", "patch") and reference.ndim == 3:
            memorised = float(np.mean(baselines.nearest_patch_iou(volumes, run.split.train)))
        results.append(MethodResult(method, scores, worst, seconds, memorised))
        if progress is not None:
            progress(index + 1, len(methods))
    yardstick = None
    if reference.ndim == 3:
        members_arrays = [run.split.held_out[reference.window(corner)] for corner in reference.positions]
        yardstick = float(np.mean(baselines.nearest_patch_iou(members_arrays, run.split.train)))
    candidates = [r for r in results if r.method != "patch"] or results
    best = min(candidates, key=lambda r: r.worst_ratio)
    reason = _reason(best, candidates)
    return MaterialComparison(results, best.method, reason, tuple(reference.member_shape), tuple(reference.notes),
                              porosity, yardstick)  # fmt: skip


def _reason(best: MethodResult, candidates: list[MethodResult]) -> str:
    others = "; ".join(f"{r.method} {r.worst_ratio:.2f} ({r.worst})" for r in candidates if r is not best)
    return (f"{best.method} comes closest to the held-out slab: its worst statistic, {best.worst}, is "
            f"{best.worst_ratio:.2f}× the slab's own spread" + (f"; the others: {others}" if others else ""))


def score_volume(run, volume, *, size: int | None = None, members: int = MEMBERS, seed: int = 0) -> dict:
    """Score one volume (any box at least the member shape) against the run's held-out part: ``{name: StatisticScore}``
    (for a 2-D sample, section by section: see the module notes)."""
    return held_out_reference(run, size=size, members=members, seed=seed).score(volume, seed=seed)
