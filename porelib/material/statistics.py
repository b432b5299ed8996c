"""Statistics of a material sample: a volume of any box shape, a 2-D image, or slices of a volume.

A volume is a bool array ``volume[ix, iy, iz]`` of any box shape and an image ``image[i, j]``,
``True`` = pore; lengths are in voxels (pixels). Every statistic keeps the axes apart, so that
an anisotropic material (layers, fibres along one axis) is compared axis by axis.

==================  ====================================================================
statistic           definition (per axis ``a`` where named ``…_x``, ``…_y``, ``…_z``)
==================  ====================================================================
porosity            pore fraction φ
s2_a                two-point correlation along axis ``a``: the probability that voxels
                    ``p`` and ``p + r e_a`` are both pore, r = 0 … r_max, non-periodic
                    (each lag divided by its number of voxel pairs inside the box), as
                    :func:`porelib.metrics.two_point_correlation` but per axis lag
                    instead of averaged over shells; S2(0) = φ
pore_size           local thickness of the pore voxels (:func:`porelib.metrics.local_thickness`,
                    PoreSpy's map), as a histogram over integer radii, one count per voxel
chords_a            lengths of the chords along axis ``a``: runs of consecutive pore voxels
                    on each line parallel to ``a``. Chords that touch either face
                    perpendicular to ``a`` are cut by the box and are discarded (chords on
                    lines at the other faces are kept; PoreSpy's ``apply_chords`` also drops
                    those). One count per chord
specific_surface    marching-cubes pore surface area per voxel (:func:`porelib.metrics.specific_surface`)
euler_per_voxel     Euler characteristic of the pore phase, 26-connectivity, per voxel
percolation_a       fraction of the pore voxels in clusters (face connectivity) that touch
                    both faces perpendicular to ``a``; 0.0 without pores
==================  ====================================================================

Images have the same statistics in 2-D, with axes ``u`` (axis 0, down a column) and ``v``
(axis 1, along a row): ``s2_u``, ``s2_v``, ``pore_size`` (local thickness with
disks), ``chords_u``, ``chords_v``, ``perimeter`` (marching-squares contour length per pixel, the
image zero-padded so contours close at its edges), ``euler_per_pixel`` (8-connectivity, Gray's
bit quads; equals ``skimage.measure.euler_number(image, connectivity=2)``) and ``percolation_u``,
``percolation_v`` (4-connectivity).

A volume is compared with an image through its slices (SliceGAN's principle):
:func:`slice_statistics` gives the 2-D statistics of every slice normal to x, y and z. The
in-plane axes of a slice are its remaining axes in increasing order: ``(u, v)`` = ``(y, z)``
for slices normal to x, ``(x, z)`` normal to y, ``(x, y)`` normal to z.

Distances between two statistics of the same kind (:func:`distances`,
:func:`distance_matrices`): root-mean-square difference over r for ``s2_a``; the 1-D Wasserstein
distance between the histograms for ``pore_size`` and ``chords_a`` (in voxels; an empty
histogram counts as one value 0, as :func:`porelib.metrics.wasserstein`); the absolute difference
for the scalars.

One statistic alone: :func:`axis_two_point_correlation`, :func:`chord_lengths`,
:func:`percolating_fraction` (and :mod:`porelib.metrics` for the others). S2 uses float32
FFTs (absolute error below 1e-6).

Speed and memory (``python -m porelib bench speed``, docs/bench/speed.md): at 256³ every
statistic is faster than PoreSpy's equivalent (local thickness, the same map, 1.6 s against
2.7 s); everything runs slab by slab except the local-thickness and cluster-label maps, so
loading a 512³ volume and computing all its statistics peaks at about 1 GB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage
from scipy.spatial import distance as spatial_distance

from porelib import metrics, morphology
from porelib._validate import check_box, check_positive_int

__all__ = [
    "AXES_2D",
    "AXES_3D",
    "VolumeStatistics",
    "axis_two_point_correlation",
    "chord_lengths",
    "distance_matrices",
    "distances",
    "image_statistics",
    "percolating_fraction",
    "slice_statistics",
    "statistic_names",
    "volume_statistics",
]

#: Names of the axes of a volume and of an image (or slice), in statistic names.
AXES_3D = ("x", "y", "z")
AXES_2D = ("u", "v")

#: Voxels per slab of the slab-by-slab computations.
_SLAB_VOXELS = 1 << 22

def _cell_perimeter_table() -> np.ndarray:
    """Marching-squares contour length inside one 2×2 cell, per corner pattern.

    Bit ``b`` of the pattern is corner ``b`` of (0, 0), (0, 1), (1, 0), (1, 1). At level 0.5
    of 0/1 values every cut edge is cut at its midpoint: one corner apart from the others
    gives a segment of length √½, two corners along an edge a segment of length 1, two on a
    diagonal two segments of √½ (whichever way the saddle is resolved).
    """
    one_corner, edge, diagonal = math.sqrt(0.5), 1.0, 2 * math.sqrt(0.5)
    lengths = np.zeros(16)
    for pattern in range(16):
        bits = [(pattern >> b) & 1 for b in range(4)]
        count = sum(bits)
        if count in (1, 3):
            lengths[pattern] = one_corner
        elif count == 2:
            lengths[pattern] = diagonal if bits[0] == bits[3] else edge
    lengths.setflags(write=False)
    return lengths


#: :func:`_cell_perimeter_table`, per pattern (16,).
_CELL_PERIMETER = _cell_perimeter_table()


def statistic_names(ndim: int) -> tuple[str, ...]:
    """Names of the statistics of a volume (``ndim=3``) or an image (``ndim=2``), in display order.

    Raises
    ------
    ValueError
        If ``ndim`` is not 2 or 3.
    """
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 (an image) or 3 (a volume); got {ndim!r}")
    axes = AXES_3D if ndim == 3 else AXES_2D
    surface, euler = ("specific_surface", "euler_per_voxel") if ndim == 3 else ("perimeter", "euler_per_pixel")
    return (
        "porosity",
        *(f"s2_{a}" for a in axes),
        "pore_size",
        *(f"chords_{a}" for a in axes),
        surface,
        euler,
        *(f"percolation_{a}" for a in axes),
    )


@dataclass(frozen=True, eq=False)
class VolumeStatistics:
    """Statistics of one volume (``ndim == 3``) or image (``ndim == 2``); arrays are read-only.

    Attributes
    ----------
    shape : tuple of int
        Shape of the volume or image.
    porosity : float
        Pore fraction φ.
    s2 : ndarray, (ndim, r_max + 1) float64
        ``s2[a, r]``: two-point correlation along axis ``a`` at lag r voxels.
    pore_size : ndarray, (R + 1,) int64
        ``pore_size[r]``: pore voxels of local thickness r (``pore_size[0] == 0``).
    chords : tuple of ndarray, one (L + 1,) int64 per axis
        ``chords[a][n]``: chords of length n along axis ``a``, border chords excluded.
    surface : float
        3-D: marching-cubes surface area per voxel (1/voxel); 2-D: contour length per pixel.
    euler : float
        Euler characteristic per voxel (26-connectivity) or pixel (8-connectivity).
    percolation : ndarray, (ndim,) float64
        Fraction of pore voxels in clusters spanning the box along each axis.
    """

    shape: tuple
    porosity: float
    s2: np.ndarray
    pore_size: np.ndarray
    chords: tuple
    surface: float
    euler: float
    percolation: np.ndarray

    @property
    def ndim(self) -> int:
        """2 for an image, 3 for a volume."""
        return len(self.shape)

    @property
    def axes(self) -> tuple[str, ...]:
        """Axis names used in statistic names: ``("x", "y", "z")`` or ``("u", "v")``."""
        return AXES_3D if self.ndim == 3 else AXES_2D

    @property
    def names(self) -> tuple[str, ...]:
        """:func:`statistic_names` of this kind."""
        return statistic_names(self.ndim)

    @property
    def r_max(self) -> int:
        """Largest S2 lag, in voxels."""
        return self.s2.shape[1] - 1

    def mean_pore_size(self) -> float:
        """Mean local thickness over pore voxels, in voxels; 0.0 without pores."""
        return _histogram_mean(self.pore_size)

    def mean_chord_length(self) -> tuple[float, ...]:
        """Mean chord length along each axis, in voxels; 0.0 where there is no chord."""
        return tuple(_histogram_mean(counts) for counts in self.chords)

    def to_dict(self) -> dict:
        """JSON-ready summary: plain floats and lists (histograms as their means)."""
        surface, euler = self.names[-(self.ndim + 2) : -self.ndim]
        summary = {"shape": list(self.shape), "porosity": float(self.porosity)}
        summary.update({f"s2_{a}": [float(v) for v in self.s2[i]] for i, a in enumerate(self.axes)})
        summary["mean_pore_size"] = self.mean_pore_size()
        summary.update({f"mean_chord_{a}": m for a, m in zip(self.axes, self.mean_chord_length())})
        summary[surface] = float(self.surface)
        summary[euler] = float(self.euler)
        summary.update({f"percolation_{a}": float(p) for a, p in zip(self.axes, self.percolation)})
        return summary


def _histogram_mean(counts: np.ndarray) -> float:
    total = counts.sum()
    return float(np.arange(len(counts)) @ counts / total) if total else 0.0


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


def _check_r_max(r_max, dims: tuple[int, ...]) -> int:
    smallest = min(dims)
    if r_max is None:
        return smallest // 2
    return check_positive_int(r_max, "r_max", minimum=0, maximum=smallest - 1)


def volume_statistics(volume, *, r_max: int | None = None) -> VolumeStatistics:
    """All statistics of a volume of any box shape (see the module docstring).

    Parameters
    ----------
    volume : array_like, (X, Y, Z) bool or 0/1
        At most 512³ voxels, at least 2 along each axis.
    r_max : int, optional
        Largest S2 lag in voxels, ``0 ≤ r_max < min(X, Y, Z)``; default ``min(X, Y, Z) // 2``.
        Statistics compared with each other need the same ``r_max``.

    Returns
    -------
    VolumeStatistics

    Raises
    ------
    ValueError
        If ``volume`` is not a 3-D 0/1 array or ``r_max`` is out of range.
    """
    volume = check_box(volume, "volume")
    r_max = _check_r_max(r_max, volume.shape)
    return _statistics(volume, r_max, planar=False)[0]


def image_statistics(image, *, r_max: int | None = None) -> VolumeStatistics:
    """All 2-D statistics of an image (see the module docstring).

    Parameters
    ----------
    image : array_like, (P, Q) bool or 0/1
    r_max : int, optional
        Largest S2 lag in pixels, ``0 ≤ r_max < min(P, Q)``; default ``min(P, Q) // 2``.

    Raises
    ------
    ValueError
        If ``image`` is not a 2-D 0/1 array or ``r_max`` is out of range.
    """
    image = check_box(image, "image", ndim=2)
    r_max = _check_r_max(r_max, image.shape)
    return _statistics(image[None], r_max, planar=True)[0]


def slice_statistics(
    volume, *, tile: tuple[int, int] | None = None, axes=(0, 1, 2), step: int = 1, r_max: int | None = None
) -> list[VolumeStatistics]:
    """2-D statistics of the slices of a volume normal to each of ``axes`` (SliceGAN's principle).

    Each slice is cut into non-overlapping tiles of shape ``tile`` from its first corner
    (what does not fill a tile is left out); each tile is one image. The in-plane axes
    ``(u, v)`` of a slice normal to axis ``a`` are the two other axes in increasing order.

    Parameters
    ----------
    volume : array_like, (X, Y, Z) bool or 0/1
    tile : (int, int), optional
        Shape of the images compared; default the whole slice (which then differs between
        orientations unless the volume is a cube).
    axes : sequence of int
        Slicing directions among 0, 1, 2 (x, y, z).
    step : int
        Use every ``step``-th slice along each direction (1 = all).
    r_max : int, optional
        Largest S2 lag; default ``min(tile) // 2`` (the smallest slice without ``tile``).

    Returns
    -------
    list of VolumeStatistics
        2-D statistics, slices normal to ``axes[0]`` first, then by slice index, tiles in
        C order within a slice.

    Raises
    ------
    ValueError
        If ``volume`` is not a 3-D 0/1 array, a tile does not fit any slice, or an
        argument is out of range.
    """
    volume = check_box(volume, "volume")
    step = check_positive_int(step, "step")
    axes = tuple(check_positive_int(a, "axes", minimum=0, maximum=2) for a in axes)
    if not axes:
        raise ValueError("axes must name at least one slicing direction among 0, 1, 2")
    planes = [tuple(n for i, n in enumerate(volume.shape) if i != a) for a in axes]
    if tile is None:
        smallest = min(min(p) for p in planes)
    else:
        tile = tuple(check_positive_int(t, "tile", minimum=2) for t in tile)
        if len(tile) != 2:
            raise ValueError(f"tile must be a pair (P, Q); got {tile!r}")
        misfit = [p for p in planes if p[0] < tile[0] or p[1] < tile[1]]
        if misfit:
            raise ValueError(f"tile {tile} does not fit the slices {misfit[0]} of a volume {volume.shape}")
        smallest = min(tile)
    r_max = _check_r_max(r_max, (smallest,))
    result = []
    for axis in axes:
        stack = np.moveaxis(volume, axis, 0)[::step]
        if tile is not None:
            stack = _tiles(stack, tile)
        result += _statistics(np.ascontiguousarray(stack), r_max, planar=True)
    return result


def _as_stack(array, arg_name: str) -> tuple[np.ndarray, bool]:
    """A volume as itself, or an image as a stack of one image (``planar``)."""
    ndim = np.ndim(array)
    if ndim not in (2, 3):
        raise ValueError(f"{arg_name} must be a volume (X, Y, Z) or an image (P, Q); got {ndim}-D shape {np.shape(array)}")
    array = check_box(array, arg_name, ndim=ndim)
    return (array, False) if ndim == 3 else (array[None], True)


def axis_two_point_correlation(volume, *, r_max: int | None = None) -> np.ndarray:
    """S2 along each axis of a volume or an image, non-periodic (the ``s2`` of :class:`VolumeStatistics`).

    Parameters
    ----------
    volume : array_like, (X, Y, Z) or (P, Q) bool or 0/1
    r_max : int, optional
        Largest lag, ``0 ≤ r_max < smallest side``; default half the smallest side.

    Returns
    -------
    ndarray, (ndim, r_max + 1) float64
        ``out[a, r]``: probability that voxels ``p`` and ``p + r e_a`` are both pore.

    Raises
    ------
    ValueError
        If ``volume`` is not a 2-D or 3-D 0/1 array or ``r_max`` is out of range.
    """
    stack, planar = _as_stack(volume, "volume")
    r_max = _check_r_max(r_max, stack.shape[1:] if planar else stack.shape)
    return np.stack([_axis_two_point(stack, axis, r_max, planar)[0] for axis in ((1, 2) if planar else (0, 1, 2))])


def chord_lengths(volume, axis: int) -> np.ndarray:
    """Histogram of the pore chord lengths along one axis (border chords discarded; module docstring).

    Parameters
    ----------
    volume : array_like, (X, Y, Z) or (P, Q) bool or 0/1
    axis : int
        Axis of the chords.

    Returns
    -------
    ndarray, (L + 1,) int64
        ``out[n]``: number of chords of n voxels (trailing zeros trimmed; at least one entry).

    Raises
    ------
    ValueError
        If ``volume`` is not a 2-D or 3-D 0/1 array or ``axis`` is out of range.
    """
    stack, planar = _as_stack(volume, "volume")
    axis = check_positive_int(axis, "axis", minimum=0, maximum=np.ndim(volume) - 1)
    return _chord_counts(stack, axis + planar, planar)[0]


def percolating_fraction(volume) -> np.ndarray:
    """Fraction of the pore voxels in face-connected clusters that touch both faces normal to each axis.

    ``porespy.metrics.percolating_porosity(volume, axis)`` divided by the porosity.

    Parameters
    ----------
    volume : array_like, (X, Y, Z) or (P, Q) bool or 0/1

    Returns
    -------
    ndarray, (ndim,) float64
        0.0 along every axis for a volume without pores.

    Raises
    ------
    ValueError
        If ``volume`` is not a 2-D or 3-D 0/1 array.
    """
    stack, planar = _as_stack(volume, "volume")
    return _percolating_fraction(stack, _per_item_count(stack, planar), planar)[0]


def _tiles(stack: np.ndarray, tile: tuple[int, int]) -> np.ndarray:
    """Non-overlapping tiles ``(n · tP · tQ, P, Q)`` of a stack of images ``(n, A, B)``."""
    n, a, b = stack.shape
    rows, cols = a // tile[0], b // tile[1]
    cut = stack[:, : rows * tile[0], : cols * tile[1]].reshape(n, rows, tile[0], cols, tile[1])
    return cut.transpose(0, 1, 3, 2, 4).reshape(-1, *tile)


# --------------------------------------------------------------------------------------
# The statistics of a volume, or of a stack of independent images
# --------------------------------------------------------------------------------------


def _statistics(array: np.ndarray, r_max: int, *, planar: bool) -> list[VolumeStatistics]:
    """Statistics of ``array`` (one volume) or, with ``planar``, of each image ``array[k]``."""
    measured = (1, 2) if planar else (0, 1, 2)
    items = array.shape[0] if planar else 1
    item_voxels = array[0].size if planar else array.size
    shape = array.shape[1:] if planar else array.shape
    pores = _per_item_count(array, planar)
    s2 = np.stack([_axis_two_point(array, axis, r_max, planar) for axis in measured], axis=1)
    chords = [_chord_counts(array, axis, planar) for axis in measured]
    pore_size = _pore_size_counts(array, planar)
    percolation = _percolating_fraction(array, pores, planar)
    if planar:
        cells = _cell_counts_2d(array)
        surface = cells @ _CELL_PERIMETER / item_voxels
        euler = _euler_2d(cells) / item_voxels
    else:
        surface = np.array([metrics.specific_surface(array)])
        euler = np.array([metrics.euler_per_voxel(array)])
    result = []
    for k in range(items):
        arrays = [s2[k], pore_size[k], *(c[k] for c in chords), percolation[k]]
        for a in arrays:
            a.setflags(write=False)
        result.append(
            VolumeStatistics(
                shape=tuple(int(n) for n in shape),
                porosity=float(pores[k] / item_voxels),
                s2=s2[k],
                pore_size=pore_size[k],
                chords=tuple(c[k] for c in chords),
                surface=float(surface[k]),
                euler=float(euler[k]),
                percolation=percolation[k],
            )
        )
    return result


def _slabs(length: int, voxels_per_index: int):
    """``slice`` objects covering ``range(length)`` in pieces of about :data:`_SLAB_VOXELS` voxels."""
    step = max(1, _SLAB_VOXELS // max(1, voxels_per_index))
    for start in range(0, length, step):
        yield slice(start, min(length, start + step))


def _slab_axis(axis: int, planar: bool) -> int:
    """The axis to cut slabs along while measuring along ``axis`` (never ``axis`` itself)."""
    return 0 if planar or axis != 0 else 1


def _per_item_count(array: np.ndarray, planar: bool) -> np.ndarray:
    if planar:
        return np.count_nonzero(array.reshape(len(array), -1), axis=1)
    return np.array([np.count_nonzero(array)])


def _axis_two_point(array: np.ndarray, axis: int, r_max: int, planar: bool) -> np.ndarray:
    """S2 along ``axis`` at lags 0 … r_max, per item: ``(items, r_max + 1)`` float64.

    The autocorrelation of every line parallel to ``axis``, summed over lines, is the
    inverse FFT of the summed power spectra (zero-padded to ``L + r_max``, so no lag
    wraps around); each lag r is divided by its pair count ``(L − r) × lines``.
    """
    length = array.shape[axis]
    n = fft.next_fast_len(length + r_max, real=True)
    slab_axis = _slab_axis(axis, planar)
    items = array.shape[0] if planar else 1
    spectrum = np.zeros((items, n // 2 + 1))
    for part in _slabs(array.shape[slab_axis], array.size // array.shape[slab_axis]):
        index = [slice(None)] * 3
        index[slab_axis] = part
        block = array[tuple(index)].astype(np.float32)  # absolute error of S2 below 1e-6
        power = fft.rfft(block, n=n, axis=axis)
        power = power.real**2 + power.imag**2
        power = np.moveaxis(power, axis, -1)
        if planar:
            spectrum[part] += power.sum(axis=1, dtype=np.float64)
        else:
            spectrum[0] += power.reshape(-1, power.shape[-1]).sum(axis=0, dtype=np.float64)
    correlation = fft.irfft(spectrum, n=n, axis=-1)[:, : r_max + 1]
    lines = (array[0].size if planar else array.size) // length
    return correlation / ((length - np.arange(r_max + 1)) * lines)


def _chord_counts(array: np.ndarray, axis: int, planar: bool) -> list[np.ndarray]:
    """Histogram of chord lengths along ``axis`` per item, border chords discarded."""
    length = array.shape[axis]
    items = array.shape[0] if planar else 1
    counts = np.zeros(items * (length + 1), dtype=np.int64)
    slab_axis = _slab_axis(axis, planar)
    for part in _slabs(array.shape[slab_axis], array.size // array.shape[slab_axis]):
        index = [slice(None)] * 3
        index[slab_axis] = part
        lines = np.moveaxis(array[tuple(index)], axis, -1)
        padded = np.zeros((*lines.shape[:-1], length + 2), dtype=np.int8)
        padded[..., 1:-1] = lines
        steps = np.diff(padded, axis=-1)  # +1 where a chord starts, −1 one past its end
        del padded
        starts = np.nonzero(steps == 1)
        ends = np.nonzero(steps == -1)[-1]
        first, last = starts[-1], ends  # C order pairs each start with its end
        inside = (first > 0) & (last < length)
        item = starts[0][inside] + part.start if planar else 0
        counts += np.bincount(item * (length + 1) + (last - first)[inside], minlength=counts.size)
    per_item = counts.reshape(items, length + 1)
    return [_trim(row) for row in per_item]


def _trim(counts: np.ndarray) -> np.ndarray:
    """A histogram without its trailing zeros (at least one entry)."""
    nonzero = np.flatnonzero(counts)
    return counts[: nonzero[-1] + 1].copy() if nonzero.size else counts[:1].copy()


def _pore_size_counts(array: np.ndarray, planar: bool) -> list[np.ndarray]:
    """Histogram of the local thickness of pore voxels per item."""
    thickness = morphology.local_thickness(array, planar=planar)
    largest = int(thickness.max())
    items = array.shape[0] if planar else 1
    counts = np.zeros((items, largest + 1), dtype=np.int64)
    for part in _slabs(len(array), array[0].size):
        block = thickness[part].astype(np.int64)
        if planar:
            block += np.arange(part.start, part.stop)[:, None, None] * (largest + 1)
        counts += np.bincount(block[array[part]], minlength=counts.size).reshape(counts.shape)
    return [_trim(row) for row in counts]


def _percolating_fraction(array: np.ndarray, pores: np.ndarray, planar: bool) -> list[np.ndarray]:
    """Per item, for each measured axis: pore fraction in face-connected clusters spanning it."""
    structure = ndimage.generate_binary_structure(3, 1)
    if planar:
        structure[0] = structure[2] = False
    labels, count = ndimage.label(array, structure=structure)
    sizes = np.zeros(count + 1, dtype=np.int64)
    for part in _slabs(len(labels), labels[0].size):
        sizes += np.bincount(labels[part].ravel(), minlength=count + 1)
    sizes[0] = 0
    measured = (1, 2) if planar else (0, 1, 2)
    items = array.shape[0] if planar else 1
    if planar:  # labels are numbered in scan order, so each image holds a contiguous range
        last_label = np.maximum.accumulate(labels.reshape(items, -1).max(axis=1))
        item_of_label = np.searchsorted(last_label, np.arange(count + 1))
    else:
        item_of_label = np.zeros(count + 1, dtype=np.intp)
    fractions = np.zeros((items, len(measured)))
    for column, axis in enumerate(measured):
        first = np.unique(labels.take(0, axis=axis))
        last = np.unique(labels.take(-1, axis=axis))
        spanning = np.intersect1d(first, last)
        spanning = spanning[spanning > 0]
        voxels = np.bincount(item_of_label[spanning], weights=sizes[spanning], minlength=items)
        fractions[:, column] = np.divide(voxels, pores, out=np.zeros(items), where=pores > 0)
    return list(fractions)


def _cell_counts_2d(stack: np.ndarray) -> np.ndarray:
    """Per image, how many 2×2 cells of the zero-padded image have each corner pattern: (items, 16)."""
    items, rows, cols = stack.shape
    counts = np.zeros((items, 16), dtype=np.int64)
    for part in _slabs(items, (rows + 1) * (cols + 1)):
        padded = np.pad(stack[part], ((0, 0), (1, 1), (1, 1))).astype(np.uint8)
        pattern = (
            padded[:, :-1, :-1] | (padded[:, :-1, 1:] << 1) | (padded[:, 1:, :-1] << 2) | (padded[:, 1:, 1:] << 3)
        )
        item = np.arange(part.stop - part.start)[:, None, None] * 16
        counts[part] += np.bincount((pattern + item).ravel(), minlength=16 * (part.stop - part.start)).reshape(-1, 16)
    return counts


def _euler_2d(cells: np.ndarray) -> np.ndarray:
    """8-connectivity Euler number per image from its 2×2 cell patterns (Gray's bit quads).

    ``E = (n(Q1) − n(Q3) − 2 n(QD)) / 4``: cells with one pore pixel, with three, and with
    two on a diagonal (patterns 0b1001 and 0b0110).
    """
    ones = cells[:, [1, 2, 4, 8]].sum(axis=1)
    threes = cells[:, [7, 11, 13, 14]].sum(axis=1)
    diagonals = cells[:, [6, 9]].sum(axis=1)
    return (ones - threes - 2 * diagonals) / 4


# --------------------------------------------------------------------------------------
# Distances
# --------------------------------------------------------------------------------------


def distances(a: VolumeStatistics, b: VolumeStatistics) -> dict[str, float]:
    """Distance between two statistics of the same kind, per statistic (module docstring).

    Raises
    ------
    ValueError
        If one is of a volume and the other of an image, or their S2 lags differ.
    """
    return {name: float(matrix[0, 0]) for name, matrix in distance_matrices([a], [b]).items()}


def distance_matrices(rows, columns) -> dict[str, np.ndarray]:
    """Pairwise distances, per statistic, between two lists of statistics of the same kind.

    Parameters
    ----------
    rows, columns : sequence of VolumeStatistics
        All of one kind (all volumes or all images) with the same ``r_max``.

    Returns
    -------
    dict
        ``{name: ndarray (len(rows), len(columns)) float64}`` for every name of
        :func:`statistic_names`, in that order.

    Raises
    ------
    ValueError
        If a list is empty or the statistics are not all of one kind and ``r_max``.
    """
    rows, columns = list(rows), list(columns)
    if not rows or not columns:
        raise ValueError("distance_matrices needs at least one statistics object on each side")
    kinds = {(s.ndim, s.r_max) for s in rows + columns}
    if len(kinds) != 1:
        raise ValueError(
            "statistics must all be of volumes or all of images, with the same r_max; got (ndim, r_max) "
            f"{sorted(kinds)}. Compute them with the same r_max, and compare a volume with an image "
            "through slice_statistics"
        )
    ndim = rows[0].ndim
    names = statistic_names(ndim)
    result = {"porosity": _scalar_distances([s.porosity for s in rows], [s.porosity for s in columns])}
    for axis, name in enumerate(names[1 : 1 + ndim]):
        r = np.stack([s.s2[axis] for s in rows])
        c = np.stack([s.s2[axis] for s in columns])
        result[name] = spatial_distance.cdist(r, c) / math.sqrt(r.shape[1])
    result["pore_size"] = _wasserstein_matrix([s.pore_size for s in rows], [s.pore_size for s in columns])
    for axis, name in enumerate(names[2 + ndim : 2 + 2 * ndim]):
        result[name] = _wasserstein_matrix([s.chords[axis] for s in rows], [s.chords[axis] for s in columns])
    surface, euler = names[2 + 2 * ndim : 4 + 2 * ndim]
    result[surface] = _scalar_distances([s.surface for s in rows], [s.surface for s in columns])
    result[euler] = _scalar_distances([s.euler for s in rows], [s.euler for s in columns])
    for axis, name in enumerate(names[4 + 2 * ndim :]):
        result[name] = _scalar_distances([s.percolation[axis] for s in rows], [s.percolation[axis] for s in columns])
    return {name: result[name] for name in names}


def _scalar_distances(rows, columns) -> np.ndarray:
    return np.abs(np.subtract.outer(np.asarray(rows, dtype=np.float64), np.asarray(columns, dtype=np.float64)))


def _wasserstein_matrix(rows: list[np.ndarray], columns: list[np.ndarray]) -> np.ndarray:
    """1-D Wasserstein distances between histograms over the integers 0, 1, 2, …

    ``W1 = Σ_t |F_a(t) − F_b(t)|`` with the cumulative distributions ``F`` (unit spacing).
    An empty histogram stands for the single value 0.
    """
    width = max(len(h) for h in rows + columns)

    def cdfs(histograms):
        out = np.ones((len(histograms), width))
        for i, h in enumerate(histograms):
            total = h.sum()
            if total:
                out[i, : len(h)] = np.cumsum(h) / total
        return out

    return spatial_distance.cdist(cdfs(rows), cdfs(columns), metric="cityblock")
