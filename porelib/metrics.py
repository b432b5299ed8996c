"""Porous-media statistics of voxel grids, and how far a grid is from a dataset.

A grid is a cubic bool array ``(S, S, S)``, ``grid[ix, iy, iz]``, ``True`` = pore;
:func:`local_thickness`, :func:`euler_per_voxel` and :func:`specific_surface` take any
box ``(X, Y, Z)`` (per-axis statistics of boxes and images: :mod:`porelib.material.statistics`).
Lengths are in voxels, areas in voxel faces. The definitions are the project's
(design notes, "Metrics"), so that numbers mean the same on every page and in the CLI.

Voxelwise comparison with a reference grid
    :func:`iou`, :func:`dice`, :func:`aad`, :func:`avar` and :func:`compare`, which
    also reports the score of the trivial all-empty grid: on sparse grids it is hard
    to beat, so AAD and AVAR are never shown alone.

Structure of one grid
    :func:`porosity`, :func:`two_point_correlation` (S2), :func:`pore_radii`,
    :func:`pore_count`, :func:`largest_cluster_fraction`, :func:`local_thickness`,
    :func:`euler_per_voxel`, :func:`specific_surface`; :func:`summary` computes all of
    them at once (about 10 ms for a 30³ grid; ``python -m porelib bench speed``).

Fidelity to a dataset ensemble
    :class:`Reference` holds the statistics of an ensemble of dataset grids
    ``e_1 … e_M`` at one density. For each statistic ``s`` in :data:`STATISTICS`
    there is a distance ``d_s`` between two grids:

    ====================  =====================================================
    porosity              ``|φ(x) − φ(y)|``
    s2                    root-mean-square of ``S2_x(r) − S2_y(r)`` over r
    pore_size             :func:`wasserstein` of the equivalent pore radii
    thickness             :func:`wasserstein` of the pore-voxel local thickness
    pore_count            ``|difference|`` of the number of pores
    euler_per_voxel       ``|difference|``
    specific_surface      ``|difference|``
    ====================  =====================================================

    ``distance(x) = mean over members e of d_s(x, e)``, averaged over the grids of a
    batch. ``noise_floor = mean over ordered pairs i ≠ j of d_s(e_i, e_j)``: the
    leave-one-out spread, i.e. how far a member is from the rest of the ensemble.
    ``ratio = distance / noise_floor``. A grid drawn from the same distribution as the
    ensemble has expected ratio 1 (its distance and the noise floor are expectations
    of the same quantity); ratios well above 1 say by how much a generator misses
    that statistic. If the noise floor is 0 (all members agree exactly), the ratio is
    1.0 when the distance is 0 too and ``inf`` otherwise.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage, stats
from skimage import measure

from porelib import morphology
from porelib._validate import (
    check_binary,
    check_box,
    check_choice,
    check_density,
    check_finite,
    check_grid,
    check_grids,
    check_numeric,
    check_positive_int,
    check_same_shape,
    describe,
)

__all__ = [
    "MATRIX_STATISTICS",
    "PAIRED_STATISTICS",
    "distance_matrices",
    "mean_pairwise_iou",
    "sample_mismatch",
    "STATISTICS",
    "GridStats",
    "PairedReference",
    "Reference",
    "StatFidelity",
    "aad",
    "avar",
    "compare",
    "dice",
    "euler_per_voxel",
    "face_depth_map",
    "face_depths",
    "fidelity",
    "iou",
    "largest_cluster_fraction",
    "local_thickness",
    "pore_count",
    "pore_radii",
    "porosity",
    "specific_surface",
    "summary",
    "two_point_correlation",
    "two_point_map",
    "wasserstein",
]

#: Statistics scored by :meth:`Reference.fidelity`, in display order.
STATISTICS = ("porosity", "s2", "pore_size", "thickness", "pore_count", "euler_per_voxel", "specific_surface")

#: 26-connectivity: voxels sharing a face, an edge or a corner belong to one pore.
_CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)

#: Above this many voxels in the padded FFT volume (256³, 128 MiB in float64), S2 is
#: computed in float32; its absolute error stays below 1e-5.
_FLOAT64_MAX_FFT_VOXELS = 256**3

#: From this many voxels in the padded FFT volume (96³) the FFTs use every core; below,
#: waking threads costs more than it saves (and a lot on a busy machine).
_PARALLEL_MIN_FFT_VOXELS = 96**3

#: Voxels per slab of the slab-by-slab statistics (surface, Euler number): bounded memory at 512³.
_SLAB_VOXELS = 1 << 22

#: Corner offsets of a marching-cubes cell (2×2×2 voxels); corner ``b`` sets bit ``b`` of its pattern.
_CELL_CORNERS = tuple(itertools.product((0, 1), repeat=3))


# --------------------------------------------------------------------------------------
# Input checks shared by the voxelwise comparisons
# --------------------------------------------------------------------------------------


def _non_empty(array, arg_name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.size == 0:
        raise ValueError(f"{arg_name} is empty ({describe(array)}); expected at least one voxel")
    return array


def _as_binary(array, arg_name: str) -> np.ndarray:
    """Return a non-empty bool array of any shape, accepting 0/1 numbers."""
    return check_binary(_non_empty(array, arg_name), arg_name)


def _as_probabilities(array, arg_name: str) -> np.ndarray:
    """Return a non-empty bool or float array whose values lie in [0, 1]."""
    array = _non_empty(array, arg_name)
    check_numeric(array, arg_name)
    if array.dtype == bool:
        return array
    check_finite(array, arg_name)
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"{arg_name} must hold probabilities in [0, 1] or 0/1 values; found values from {low!r} to {high!r}"
        )
    return array.astype(np.float64, copy=False) if array.dtype.kind in "iu" else array


def _binary_pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_binary(a, "a"), _as_binary(b, "b")
    check_same_shape(a, b)
    return a, b


def _probability_pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_probabilities(a, "a"), _as_probabilities(b, "b")
    check_same_shape(a, b)
    return a, b


# --------------------------------------------------------------------------------------
# Voxelwise comparison
# --------------------------------------------------------------------------------------


def porosity(grid) -> float:
    """Return the pore fraction φ = mean(grid) of a cubic grid ``(S, S, S)``.

    Raises
    ------
    ValueError
        If ``grid`` is not a cubic 3-D array of 0/1 values.
    """
    return float(check_grid(grid).mean())


def iou(a, b, *, empty_score: float = 1.0) -> float:
    """Intersection over union ``|a ∧ b| / |a ∨ b|`` of two bool arrays of the same shape.

    Parameters
    ----------
    a, b : array_like of bool or 0/1, same shape (any number of dimensions)
    empty_score : float
        Returned when both are empty (the union is empty).

    Raises
    ------
    ValueError
        If an array is empty, holds values other than 0/1, or the shapes differ.
    """
    a, b = _binary_pair(a, b)
    return _iou(a, b, empty_score)


def _iou(a: np.ndarray, b: np.ndarray, empty_score: float) -> float:
    union = np.count_nonzero(a | b)
    return float(empty_score) if union == 0 else float(np.count_nonzero(a & b) / union)


def dice(a, b, *, empty_score: float = 1.0) -> float:
    """Dice coefficient ``2 |a ∧ b| / (|a| + |b|)`` of two bool arrays of the same shape.

    Parameters
    ----------
    a, b : array_like of bool or 0/1, same shape (any number of dimensions)
    empty_score : float
        Returned when both are empty.

    Raises
    ------
    ValueError
        If an array is empty, holds values other than 0/1, or the shapes differ.
    """
    a, b = _binary_pair(a, b)
    return _dice(a, b, empty_score)


def _dice(a: np.ndarray, b: np.ndarray, empty_score: float) -> float:
    total = np.count_nonzero(a) + np.count_nonzero(b)
    return float(empty_score) if total == 0 else float(2 * np.count_nonzero(a & b) / total)


def aad(a, b) -> float:
    """Average absolute difference ``mean |a − b|`` over voxels.

    Parameters
    ----------
    a, b : array_like, same shape
        Probabilities in [0, 1] or 0/1 values (float, int or bool).

    Raises
    ------
    ValueError
        If an array is empty, holds values outside [0, 1] or NaN, or the shapes differ.
    """
    a, b = _probability_pair(a, b)
    return _aad(a, b)


def _aad(a: np.ndarray, b: np.ndarray) -> float:
    if a.dtype == bool and b.dtype == bool:
        return float(np.mean(a != b))
    return float(np.mean(np.abs(np.subtract(a, b, dtype=np.float64))))


def avar(a, b, *, threshold: float = 0.5) -> float:
    """Fraction of voxels on which ``a`` and ``b`` agree after thresholding.

    Float values become pore where ``value > threshold``; bool arrays are used as they
    are. This is the seeds' AVAR, but computed on thresholded grids: AVAR = 1 − AAD
    only holds for 0/1 inputs.

    Parameters
    ----------
    a, b : array_like, same shape
        Probabilities in [0, 1] or 0/1 values (float, int or bool).
    threshold : float
        In [0, 1].

    Raises
    ------
    ValueError
        If an array is empty, holds values outside [0, 1], the shapes differ, or
        ``threshold`` is outside [0, 1].
    """
    a, b = _probability_pair(a, b)
    return _avar(a, b, check_density(threshold, "threshold"))


def _threshold(array: np.ndarray, threshold: float) -> np.ndarray:
    return array if array.dtype == bool else array > threshold


def _avar(a: np.ndarray, b: np.ndarray, threshold: float) -> float:
    return float(np.mean(_threshold(a, threshold) == _threshold(b, threshold)))


def compare(grid, reference) -> dict:
    """Score ``grid`` against ``reference`` voxel by voxel, beside the all-empty baseline.

    Parameters
    ----------
    grid : array_like
        Bool/0-1 grid or a probability map in [0, 1]; IoU and Dice use ``grid > 0.5``,
        AAD uses the values themselves.
    reference : array_like of bool or 0/1, same shape as ``grid``

    Returns
    -------
    dict
        Plain floats: ``iou``, ``dice``, ``aad``, ``avar`` and ``aad_empty_baseline``,
        ``avar_empty_baseline``, the scores of an all-empty grid against
        ``reference`` (its AAD is the reference's porosity).

    Raises
    ------
    ValueError
        If either array is empty or has invalid values, or the shapes differ.
    """
    grid = _as_probabilities(grid, "grid")
    reference = _as_binary(reference, "reference")
    check_same_shape(grid, reference, ("grid", "reference"))
    predicted = _threshold(grid, 0.5)
    empty = np.zeros_like(reference)
    return {
        "iou": _iou(predicted, reference, 1.0),
        "dice": _dice(predicted, reference, 1.0),
        "aad": _aad(grid, reference),
        "avar": _avar(grid, reference, 0.5),
        "aad_empty_baseline": _aad(empty, reference),
        "avar_empty_baseline": _avar(empty, reference, 0.5),
    }


# --------------------------------------------------------------------------------------
# Two-point correlation
# --------------------------------------------------------------------------------------


def two_point_correlation(grid, *, r_max: int | None = None) -> np.ndarray:
    """Two-point correlation S2(r): the probability that two voxels r apart are both pore.

    Non-periodic: the grid is zero-padded before the FFT autocorrelation and each lag
    ``d`` is divided by its number of voxel pairs inside the grid,
    ``prod_i (S − |d_i|)``. Lags are averaged over shells ``round(|d|) = r``. The
    values agree with PoreSpy 3.2's ``two_point_correlation(im).probability_scaled``
    up to binning (PoreSpy averages over ``[r, r + 1)``).

    Parameters
    ----------
    grid : array_like, (S, S, S) bool or 0/1
    r_max : int, optional
        Largest distance, in voxels, 0 ≤ r_max < S; default ``S // 2``.

    Returns
    -------
    ndarray, (r_max + 1,) float64
        S2 at r = 0, 1, …, r_max; ``S2(0)`` is the porosity.

    Raises
    ------
    ValueError
        If ``grid`` is not a cubic 0/1 grid or ``r_max`` is out of range.
    """
    grid = check_grid(grid)
    size = grid.shape[0]
    r_max = size // 2 if r_max is None else check_positive_int(r_max, "r_max", minimum=0, maximum=size - 1)
    return _two_point_correlation(grid, r_max)


def _two_point_correlation(grid: np.ndarray, r_max: int) -> np.ndarray:
    size = grid.shape[0]
    # Shells depend on |d| only, so sum the lags (±dx, ±dy, ±dz) first: lags 0 … r_max per axis.
    correlation = _fold_signs(_autocorrelation(grid, r_max).astype(np.float64), r_max)
    pairs = size - np.arange(r_max + 1.0)  # voxel pairs per |lag| along one axis
    correlation /= pairs[:, None, None] * pairs[None, :, None] * pairs[None, None, :]
    shells, lag_counts = _lag_shells(r_max)
    return np.bincount(shells, weights=correlation.ravel(), minlength=r_max + 2)[: r_max + 1] / lag_counts


def _autocorrelation(grid: np.ndarray, r_max) -> np.ndarray:
    """Non-periodic ``sum_x g(x) g(x + d)`` for lags ``d`` in ``[-r_max, r_max]`` along each axis.

    ``grid`` may be any 3-D box and ``r_max`` one int or one per axis. Returns a
    ``(2 r_0 + 1, 2 r_1 + 1, 2 r_2 + 1)`` array in FFT order along each axis: lags
    ``0 … r, −r … −1``. Zero padding to ``L + r`` (not ``2 L``) suffices because no
    lag up to ``r`` wraps around. The transforms run one axis at a time, so that the
    forward pass skips the all-zero padded lines and the inverse pass only keeps needed lags.
    """
    radii = (r_max,) * 3 if np.ndim(r_max) == 0 else tuple(r_max)
    n = [fft.next_fast_len(length + r, real=True) for length, r in zip(grid.shape, radii)]
    dtype = np.float64 if math.prod(n) <= _FLOAT64_MAX_FFT_VOXELS else np.float32
    workers = -1 if math.prod(n) >= _PARALLEL_MIN_FFT_VOXELS else 1
    spectrum = fft.rfft(grid.astype(dtype), n=n[2], axis=2, workers=workers)
    spectrum = fft.fft(spectrum, n=n[1], axis=1, workers=workers, overwrite_x=True)
    spectrum = fft.fft(spectrum, n=n[0], axis=0, workers=workers, overwrite_x=True)
    np.multiply(spectrum, spectrum.conj(), out=spectrum)  # power spectrum, imaginary part 0
    kept = [np.r_[0 : r + 1, size - r : size] for size, r in zip(n, radii)]
    correlation = fft.ifft(spectrum, axis=0, workers=workers, overwrite_x=True)[kept[0]]
    del spectrum
    correlation = fft.ifft(correlation, axis=1, workers=workers, overwrite_x=True)[:, kept[1]]
    return fft.irfft(correlation, n=n[2], axis=2, workers=workers)[:, :, kept[2]]


def two_point_map(grid, *, radius) -> np.ndarray:
    """Two-point correlation at every lag up to ``radius`` along each axis, anisotropy kept.

    ``S2(d)`` is the probability that voxels ``p`` and ``p + d`` are both pore,
    non-periodic: each lag is divided by its number of voxel pairs inside the box,
    ``prod_i (L_i − |d_i|)``. :func:`two_point_correlation` is this map averaged over
    shells ``round(|d|) = r``.

    Parameters
    ----------
    grid : array_like, (X, Y, Z) bool or 0/1
        Any box shape; for an image ``(P, Q)`` pass ``image[None]`` with radius ``(0, r, r)``.
    radius : int or (int, int, int)
        Largest lag along each axis, ``0 ≤ radius_i < L_i``.

    Returns
    -------
    ndarray, (2 r_x + 1, 2 r_y + 1, 2 r_z + 1) float64
        ``out[r_x + dx, r_y + dy, r_z + dz] = S2(dx, dy, dz)``; the centre is the porosity.

    Raises
    ------
    ValueError
        If ``grid`` is not a 3-D 0/1 array or a radius is out of range.
    """
    grid = np.asarray(grid)
    if grid.ndim != 3:
        raise ValueError(
            f"grid must be a 3-D box (X, Y, Z); got {grid.ndim}-D {describe(grid)}. "
            "For an image (P, Q) pass image[None] with radius (0, r, r)"
        )
    grid = _as_binary(grid, "grid")
    radii = (radius,) * 3 if np.ndim(radius) == 0 else tuple(radius)
    if len(radii) != 3:
        raise ValueError(f"radius must be one int or three; got {radius!r}")
    radii = tuple(check_positive_int(r, "radius", minimum=0, maximum=length - 1) for r, length in zip(radii, grid.shape))
    correlation = _autocorrelation(grid, radii).astype(np.float64)
    for axis, (r, length) in enumerate(zip(radii, grid.shape)):
        lags = np.r_[0 : r + 1, -r:0]
        pairs = (length - np.abs(lags)).reshape([-1 if a == axis else 1 for a in range(3)])
        correlation /= pairs
    return np.fft.fftshift(correlation)


def _fold_signs(correlation: np.ndarray, r_max: int) -> np.ndarray:
    """Sum FFT-ordered lags ``d`` and ``−d`` along each axis: ``(r_max + 1,)*3`` for |d_i| = 0 … r_max."""
    for axis in range(3):
        lags = np.moveaxis(correlation, axis, 0)
        folded = lags[: r_max + 1].copy()
        folded[1:] += lags[: r_max : -1]  # lags −1, −2, …, −r_max
        correlation = np.moveaxis(folded, 0, axis)
    return correlation


@functools.lru_cache(maxsize=4)
def _lag_shells(r_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Shell ``round(|d|)`` of each lag ``(|dx|, |dy|, |dz|)`` in ``[0, r_max]³`` (flat), and lags per shell.

    Lags beyond ``r_max`` go to the overflow shell ``r_max + 1``. The counts are over the
    whole cube ``[-r_max, r_max]³``: each entry stands for 2^(non-zero components) lags.
    No lag lies on a tie: ``|d|² = (k + ½)²`` has no integer solution.
    """
    steps = np.arange(r_max + 1)
    squared_lengths = steps[:, None, None] ** 2 + steps[None, :, None] ** 2 + steps[None, None, :] ** 2
    shell_of_squared_length = np.minimum(np.rint(np.sqrt(np.arange(3 * r_max**2 + 1))), r_max + 1)
    shells = shell_of_squared_length.astype(np.intp)[squared_lengths.ravel()]
    signs = np.where(steps > 0, 2, 1)
    multiplicity = (signs[:, None, None] * signs[None, :, None] * signs[None, None, :]).ravel()
    lag_counts = np.bincount(shells, weights=multiplicity, minlength=r_max + 2)[: r_max + 1]
    shells.setflags(write=False)
    lag_counts.setflags(write=False)
    return shells, lag_counts


# --------------------------------------------------------------------------------------
# Pores as connected components
# --------------------------------------------------------------------------------------


def _pore_volumes(grid: np.ndarray) -> np.ndarray:
    """Voxel count of each 26-connected pore, largest first."""
    labels, count = ndimage.label(grid, structure=_CONNECTIVITY_26)
    return np.sort(np.bincount(labels.ravel(), minlength=count + 1)[1:])[::-1]


def _equivalent_radii(volumes: np.ndarray) -> np.ndarray:
    return np.cbrt(3.0 * volumes / (4.0 * np.pi))


def _largest_cluster_fraction(volumes: np.ndarray) -> float:
    return float(volumes[0] / volumes.sum()) if volumes.size else 0.0


def pore_radii(grid) -> np.ndarray:
    """Equivalent radius ``(3 V / 4π)^(1/3)``, in voxels, of each pore, largest first.

    A pore is a 26-connected component of pore voxels and ``V`` its voxel count.

    Parameters
    ----------
    grid : array_like, (S, S, S) bool or 0/1

    Returns
    -------
    ndarray, (pore_count,) float64
        Empty for a grid without pores.

    Raises
    ------
    ValueError
        If ``grid`` is not a cubic 0/1 grid.
    """
    return _equivalent_radii(_pore_volumes(check_grid(grid)))


def pore_count(grid) -> int:
    """Number of 26-connected pores in a cubic grid ``(S, S, S)``.

    Raises
    ------
    ValueError
        If ``grid`` is not a cubic 0/1 grid.
    """
    return int(_pore_volumes(check_grid(grid)).size)


def largest_cluster_fraction(grid) -> float:
    """Pore voxels in the largest 26-connected pore divided by all pore voxels.

    Returns 0.0 for a grid without pores.

    Raises
    ------
    ValueError
        If ``grid`` is not a cubic 0/1 grid.
    """
    return _largest_cluster_fraction(_pore_volumes(check_grid(grid)))


def face_depths(grid) -> np.ndarray:
    """Depth of each pore voxel below the nearest face of the cube, in voxels (0 on a face).

    Parameters
    ----------
    grid : array_like, (S, S, S) bool or 0/1

    Returns
    -------
    ndarray of int32, (number of pore voxels,)
        In C order of the grid. Its distribution says where in the volume the pores sit,
        which the other statistics, blind to position, cannot.

    Raises
    ------
    ValueError
        If ``grid`` is not a cubic 0/1 grid.
    """
    grid = check_grid(grid)
    return face_depth_map(grid.shape)[grid]


# --------------------------------------------------------------------------------------
# Local thickness
# --------------------------------------------------------------------------------------


def local_thickness(grid) -> np.ndarray:
    """Radius of the largest ball inside the pores that contains each pore voxel.

    The same map as PoreSpy 3.2's ``porespy.filters.local_thickness(grid)`` (default
    ``method='bf'``, ``smooth=True``, every integer radius; its ``'dt'`` and ``'conv'``
    methods give the same map): a ball of radius ``r`` centred on pore voxel ``c`` is
    the set of voxels ``x`` with ``|x − c| < r`` and fits when ``r ≤ dt(c)``, the
    Euclidean distance from ``c`` to the nearest solid voxel. Radii are integers
    ``1 … floor(max dt)``, so every pore voxel gets at least 1. The faces of the box are
    open, not walls: balls may extend past them. Computed by
    :func:`porelib.morphology.local_thickness` (about 3 s at 256³, half PoreSpy's time;
    ``python -m porelib bench speed``); the tests check the map voxel for voxel against
    PoreSpy's.

    Parameters
    ----------
    grid : array_like, (X, Y, Z) bool or 0/1
        Any box shape (a cubic grid ``(S, S, S)`` included), at most 512³ voxels.

    Returns
    -------
    ndarray, (X, Y, Z) float32
        Radius in voxels at pore voxels, 0 at solid voxels. A grid without any solid
        voxel has no wall to bound the balls; it gets ``min(X, Y, Z) // 2``, the radius
        of the largest ball inscribed in the box, everywhere.

    Raises
    ------
    ValueError
        If ``grid`` is not a 3-D 0/1 array.
    """
    return _local_thickness(check_box(grid, "grid"))


def _local_thickness(grid: np.ndarray) -> np.ndarray:
    return morphology.local_thickness(grid).astype(np.float32)


# --------------------------------------------------------------------------------------
# Topology and surface
# --------------------------------------------------------------------------------------


def euler_per_voxel(grid) -> float:
    """Euler characteristic of the pore phase (26-connectivity) divided by the voxel count.

    ``skimage.measure.euler_number(grid, connectivity=3) / grid.size``: pores minus
    tunnels plus enclosed cavities, per voxel. Computed on slabs that share one plane,
    ``χ = Σ χ(slab) − Σ χ(shared plane)`` (the Euler characteristic is additive), so
    that memory stays bounded (skimage holds 16 bytes per voxel).

    Parameters
    ----------
    grid : array_like, (X, Y, Z) bool or 0/1
        Any box shape, at most 512³ voxels.

    Raises
    ------
    ValueError
        If ``grid`` is not a 3-D 0/1 array.
    """
    return _euler_per_voxel(check_box(grid, "grid"))


def _euler_per_voxel(grid: np.ndarray) -> float:
    return _euler_number(grid) / grid.size


def _euler_number(grid: np.ndarray) -> int:
    """26-connectivity Euler number of a 3-D bool array, slab by slab along the first axis."""
    step = max(1, _SLAB_VOXELS // max(1, grid.shape[1] * grid.shape[2]))
    total = 0
    for start in range(0, grid.shape[0], step):
        stop = min(grid.shape[0], start + step + 1)  # one plane shared with the next slab
        total += int(measure.euler_number(grid[start:stop], connectivity=3))
        if stop < grid.shape[0]:
            total -= int(measure.euler_number(grid[stop - 1 : stop], connectivity=3))
    return total


def specific_surface(grid) -> float:
    """Pore surface area per voxel of the grid, in 1/voxel.

    The area of the marching-cubes surface at level 0.5 of the grid zero-padded by one
    voxel, so surfaces that touch the faces of the box are closed there (a full cubic
    grid gives the area of its cube, about ``6 S² / S³``). Divided by the voxel count.
    A grid without pores gives 0.0. Equals ``skimage.measure.mesh_surface_area`` of
    ``skimage.measure.marching_cubes(np.pad(grid, 1), 0.5)`` (Lewiner), to float32
    rounding, computed about 50 times faster from a table of cell areas, slab by slab.

    Parameters
    ----------
    grid : array_like, (X, Y, Z) bool or 0/1
        Any box shape, at most 512³ voxels.

    Raises
    ------
    ValueError
        If ``grid`` is not a 3-D 0/1 array.
    """
    return _specific_surface(check_box(grid, "grid"))


def _specific_surface(grid: np.ndarray) -> float:
    return _marching_cubes_area(grid) / grid.size


def _marching_cubes_area(grid: np.ndarray) -> float:
    """Marching-cubes area (level 0.5) of ``grid`` zero-padded by one voxel.

    Marching cubes triangulates each 2×2×2 cell from its 8 corner values alone, so on
    0/1 data the area is a sum over cells of a table indexed by the corner pattern.
    """
    return float(_cell_pattern_counts(grid) @ _cell_surface_areas())


def _cell_pattern_counts(grid: np.ndarray) -> np.ndarray:
    """How many 2×2×2 cells of the zero-padded ``grid`` have each corner pattern (256,).

    Corner ``b`` of :data:`_CELL_CORNERS` sets bit ``b``. Slab by slab along the first
    axis, so that the counting (8 bytes per cell) stays small.
    """
    padded = np.pad(grid, 1).astype(np.uint8)
    cells = tuple(size + 1 for size in grid.shape)
    step = max(1, _SLAB_VOXELS // max(1, cells[1] * cells[2]))
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, cells[0], step):
        stop = min(cells[0], start + step)
        pattern = np.zeros((stop - start, cells[1], cells[2]), dtype=np.uint8)
        for bit, (i, j, k) in enumerate(_CELL_CORNERS):
            pattern |= padded[start + i : stop + i, j : j + cells[1], k : k + cells[2]] << bit
        counts += np.bincount(pattern.ravel(), minlength=256)
    return counts


@functools.lru_cache(maxsize=1)
def _cell_surface_areas() -> np.ndarray:
    """Area of skimage's Lewiner marching-cubes surface inside one cell, for each of the 256 patterns."""
    areas = np.zeros(256)
    for pattern in range(1, 255):  # 0 and 255 (all solid, all pore) have no surface
        corners = np.array([(pattern >> bit) & 1 for bit in range(8)], dtype=np.float32).reshape(2, 2, 2)
        vertices, faces, _, _ = measure.marching_cubes(corners, level=0.5)
        areas[pattern] = measure.mesh_surface_area(vertices, faces)
    areas.setflags(write=False)
    return areas


# --------------------------------------------------------------------------------------
# Distributions
# --------------------------------------------------------------------------------------


def wasserstein(u, v) -> float:
    """1-D Wasserstein (earth mover's) distance between two samples of values.

    ``scipy.stats.wasserstein_distance`` with the convention for empty samples used
    throughout porelib (a grid without pores has no pore sizes): both empty gives 0.0;
    one empty is compared against the single value 0, i.e. "no pore" counts as a pore
    of size 0, so the distance is the mean of the other sample's absolute values.

    Parameters
    ----------
    u, v : array_like, 1-D, finite numbers

    Raises
    ------
    ValueError
        If a sample is not 1-D or holds NaN/inf.
    """
    return _wasserstein(_as_sample(u, "u"), _as_sample(v, "v"))


def _as_sample(values, arg_name: str) -> np.ndarray:
    array = np.asarray(values)
    check_numeric(array, arg_name)
    if array.ndim != 1:
        raise ValueError(f"{arg_name} must be a 1-D sample of values; got {array.ndim}-D {describe(array)}")
    check_finite(array, arg_name)
    return array


def _wasserstein(u: np.ndarray, v: np.ndarray) -> float:
    if u.size == 0 and v.size == 0:
        return 0.0
    empty_as_zero = np.zeros(1)
    return float(stats.wasserstein_distance(u if u.size else empty_as_zero, v if v.size else empty_as_zero))


# --------------------------------------------------------------------------------------
# Summary of one grid
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GridStats:
    """Summary statistics of one grid; arrays are read-only.

    Attributes
    ----------
    porosity : float
        Pore fraction φ.
    s2 : ndarray, (S // 2 + 1,)
        Two-point correlation at r = 0 … S // 2 voxels.
    pore_count : int
        Number of 26-connected pores.
    mean_pore_radius : float
        Mean equivalent pore radius in voxels; 0.0 without pores.
    pore_radii : ndarray, (pore_count,)
        Equivalent pore radii in voxels, largest first.
    thickness : ndarray, (number of pore voxels,)
        Local thickness (voxels) at each pore voxel, in C order of the grid.
    euler_per_voxel : float
        Euler characteristic per voxel.
    specific_surface : float
        Marching-cubes pore surface area per voxel (1/voxel).
    largest_cluster_fraction : float
        Share of the pore voxels in the largest pore; 0.0 without pores.
    face_depths : ndarray, (number of pore voxels,)
        Depth of each pore voxel below the nearest face of the cube, in voxels (0 on a face),
        in C order of the grid: where in the volume the pores sit, which the other statistics,
        all blind to position, cannot see (a generator that crowds its pores into the centre).
    """

    porosity: float
    s2: np.ndarray
    pore_count: int
    mean_pore_radius: float
    pore_radii: np.ndarray
    thickness: np.ndarray
    euler_per_voxel: float
    specific_surface: float
    largest_cluster_fraction: float
    face_depths: np.ndarray

    @property
    def mean_local_thickness(self) -> float:
        """Mean local thickness over pore voxels, in voxels; 0.0 without pores."""
        return float(self.thickness.mean()) if self.thickness.size else 0.0

    def to_dict(self) -> dict:
        """JSON-ready summary: plain floats, ints and lists (no per-voxel thickness)."""
        return {
            "porosity": float(self.porosity),
            "s2": [float(value) for value in self.s2],
            "pore_count": int(self.pore_count),
            "mean_pore_radius": float(self.mean_pore_radius),
            "euler_per_voxel": float(self.euler_per_voxel),
            "specific_surface": float(self.specific_surface),
            "largest_cluster_fraction": float(self.largest_cluster_fraction),
            "pore_radii": [float(value) for value in self.pore_radii],
            "mean_local_thickness": self.mean_local_thickness,
            "mean_face_depth": float(self.face_depths.mean()) if self.face_depths.size else 0.0,
        }


def summary(grid) -> GridStats:
    """All structure statistics of one grid, sharing the work (about 10 ms for 30³).

    Parameters
    ----------
    grid : array_like, (S, S, S) bool or 0/1

    Raises
    ------
    ValueError
        If ``grid`` is not a cubic 0/1 grid.
    """
    return _summary(check_grid(grid))


def _summary(grid: np.ndarray, *, thickness: bool = True) -> GridStats:
    """:class:`GridStats` of a checked grid; ``thickness=False`` skips the local thickness (left empty)."""
    volumes = _pore_volumes(grid)
    radii = _equivalent_radii(volumes)
    s2 = _two_point_correlation(grid, grid.shape[0] // 2)
    thickness = _local_thickness(grid)[grid] if thickness else np.zeros(0)
    depths = face_depth_map(grid.shape)[grid]
    for array in (s2, radii, thickness, depths):
        array.setflags(write=False)
    return GridStats(
        porosity=float(grid.mean()),
        s2=s2,
        pore_count=int(volumes.size),
        mean_pore_radius=float(radii.mean()) if radii.size else 0.0,
        pore_radii=radii,
        thickness=thickness,
        euler_per_voxel=_euler_per_voxel(grid),
        specific_surface=_specific_surface(grid),
        largest_cluster_fraction=_largest_cluster_fraction(volumes),
        face_depths=depths,
    )


@functools.lru_cache(maxsize=8)
def face_depth_map(shape: tuple[int, ...]) -> np.ndarray:
    """Array of ``shape`` (int32, read-only): each voxel's distance to the nearest face, in voxels (0 on a face)."""
    along = [np.minimum(np.arange(size), size - 1 - np.arange(size)).astype(np.int32) for size in shape]
    depth = functools.reduce(np.minimum, np.ix_(*along))  # broadcasts the per-axis depths to ``shape``
    depth.setflags(write=False)
    return depth


# --------------------------------------------------------------------------------------
# Fidelity to a dataset ensemble
# --------------------------------------------------------------------------------------


def _rms(difference: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(difference))))


#: Distance between two grids' summaries, per statistic (see the module docstring).
_DISTANCES = {
    "porosity": lambda x, y: abs(x.porosity - y.porosity),
    "s2": lambda x, y: _rms(x.s2 - y.s2),
    "pore_size": lambda x, y: _wasserstein(x.pore_radii, y.pore_radii),
    "thickness": lambda x, y: _wasserstein(x.thickness, y.thickness),
    "pore_count": lambda x, y: float(abs(x.pore_count - y.pore_count)),
    "euler_per_voxel": lambda x, y: abs(x.euler_per_voxel - y.euler_per_voxel),
    "specific_surface": lambda x, y: abs(x.specific_surface - y.specific_surface),
    "largest_cluster_fraction": lambda x, y: abs(x.largest_cluster_fraction - y.largest_cluster_fraction),
    "face_depth": lambda x, y: _wasserstein(x.face_depths, y.face_depths),
}
#: Statistics :class:`PairedReference` can score: :data:`STATISTICS`, the largest-cluster fraction and the
#: face depth (so every statistic of the generators benchmark, :data:`MATRIX_STATISTICS`).
PAIRED_STATISTICS = tuple(_DISTANCES)


#: Statistics of :func:`distance_matrices` (the benchmark's), in order.
MATRIX_STATISTICS = ("s2", "pore_size", "pore_count", "euler_per_voxel", "specific_surface", "largest_cluster_fraction",
                     "face_depth")
#: Quantile levels at which :func:`distance_matrices` compares distributions (midpoint rule).
QUANTILE_LEVELS = 256


def _quantile_functions(samples: list[np.ndarray], levels: int) -> np.ndarray:
    """``(N, levels)``: each sample's quantile function at the midpoints ``(k + 0.5) / levels``; empty = 0."""
    u = (np.arange(levels) + 0.5) / levels
    return np.stack([np.quantile(x, u, method="inverted_cdf") if x.size else np.zeros(levels) for x in samples])


def distance_matrices(rows: list[GridStats], columns: list[GridStats], *, levels: int = QUANTILE_LEVELS) -> dict:
    """Pairwise distances of every statistic of :data:`MATRIX_STATISTICS` between two lists of summaries.

    The distances of :class:`Reference` (S2: RMS over r; the pore sizes: 1-D Wasserstein of
    the equivalent radii; scalars: absolute difference), plus the largest-cluster fraction and
    the face depth (1-D Wasserstein of the pore voxels' depths below the nearest face),
    computed as whole matrices: the Wasserstein distance as the mean absolute difference of
    the quantile functions at ``levels`` midpoints, which is the exact integral
    ``∫ |F⁻¹_a(u) − F⁻¹_b(u)| du`` up to a quadrature error below (largest value) / levels.

    Returns
    -------
    dict
        ``{name: ndarray (len(rows), len(columns))}``.
    """
    from scipy.spatial import distance as spatial

    def scalar(name):
        a = np.array([getattr(x, name) for x in rows], dtype=np.float64)
        b = np.array([getattr(x, name) for x in columns], dtype=np.float64)
        return np.abs(a[:, None] - b[None, :])

    s2_rows, s2_columns = np.stack([x.s2 for x in rows]), np.stack([x.s2 for x in columns])
    def wasserstein(name):
        q_rows = _quantile_functions([getattr(x, name) for x in rows], levels)
        q_columns = _quantile_functions([getattr(x, name) for x in columns], levels)
        return spatial.cdist(q_rows, q_columns, metric="cityblock") / levels

    return {
        "s2": spatial.cdist(s2_rows, s2_columns) / math.sqrt(s2_rows.shape[1]),
        "pore_size": wasserstein("pore_radii"),
        "pore_count": scalar("pore_count"),
        "euler_per_voxel": scalar("euler_per_voxel"),
        "specific_surface": scalar("specific_surface"),
        "largest_cluster_fraction": scalar("largest_cluster_fraction"),
        "face_depth": wasserstein("face_depths"),
    }


@dataclass(frozen=True)
class StatFidelity:
    """How far grids are from an ensemble on one statistic.

    Attributes
    ----------
    distance : float
        Mean distance from the grids to the ensemble members.
    noise_floor : float
        Mean distance between two different ensemble members.
    ratio : float
        ``distance / noise_floor``; about 1 for grids like the ensemble's members.
    """

    distance: float
    noise_floor: float
    ratio: float


def _ratio(distance: float, noise_floor: float) -> float:
    if noise_floor == 0.0:
        return 1.0 if distance == 0.0 else math.inf
    return distance / noise_floor


class Reference:
    """Statistics of an ensemble of dataset grids at one density, computed once.

    Holds the :func:`summary` of each member and the leave-one-out noise floor of every
    statistic in :data:`STATISTICS` (definitions in the module docstring).

    Parameters
    ----------
    ensemble : array_like, (M, S, S, S) bool or 0/1, M ≥ 2

    Attributes
    ----------
    stats : list of GridStats
        One summary per member, in order.
    size : int
        Edge length S of the members.

    Raises
    ------
    ValueError
        If ``ensemble`` is not a batch of at least two cubic 0/1 grids.
    """

    def __init__(self, ensemble):
        ensemble = check_grids(ensemble, "ensemble")
        if ensemble.shape[0] < 2:
            raise ValueError(
                f"ensemble must hold at least 2 grids (M, S, S, S) to measure its spread; got {ensemble.shape[0]}"
            )
        self.size = int(ensemble.shape[1])
        self.stats = [_summary(member) for member in ensemble]
        self._noise_floors = {name: self._mean_distance(name, self.stats, exclude_self=True) for name in STATISTICS}

    def __repr__(self) -> str:
        return f"Reference(members={len(self.stats)}, size={self.size})"

    def _mean_distance(self, name: str, candidates: list[GridStats], *, exclude_self: bool) -> float:
        """Mean of ``d_name(c, e)`` over candidates c and members e (c is not e if ``exclude_self``)."""
        distance = _DISTANCES[name]
        values = [
            distance(candidate, member)
            for candidate in candidates
            for member in self.stats
            if not (exclude_self and candidate is member)
        ]
        return float(np.mean(values))

    def noise_floor(self, name: str) -> float:
        """Mean distance between two different members on statistic ``name``.

        Raises
        ------
        ValueError
            If ``name`` is not in :data:`STATISTICS`.
        """
        return self._noise_floors[check_choice(name, STATISTICS, "name")]

    def band(self) -> dict:
        """The ensemble's value and spread, for charts.

        Returns
        -------
        dict
            For each scalar of :meth:`GridStats.to_dict` (porosity, pore_count, …,
            mean_local_thickness) ``{"mean": float, "std": float}``, and ``"s2"`` as
            ``{"r": [...], "mean": [...], "std": [...]}`` per distance. ``std`` is the
            sample standard deviation (ddof=1) over members.
        """
        rows = [stats.to_dict() for stats in self.stats]
        scalars = [key for key, value in rows[0].items() if not isinstance(value, list)]
        band = {}
        for key in scalars:
            values = np.array([row[key] for row in rows], dtype=np.float64)
            band[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1))}
        s2 = np.stack([stats.s2 for stats in self.stats])
        band["s2"] = {
            "r": list(range(s2.shape[1])),
            "mean": s2.mean(axis=0).tolist(),
            "std": s2.std(axis=0, ddof=1).tolist(),
        }
        return band

    def fidelity(self, grids) -> dict[str, StatFidelity]:
        """Distance, noise floor and ratio of every statistic for ``grids``.

        Parameters
        ----------
        grids : array_like, (S, S, S) or (N, S, S, S) bool or 0/1
            Same S as the ensemble; distances are averaged over the N grids.

        Returns
        -------
        dict
            ``{name: StatFidelity}`` for every name in :data:`STATISTICS`, in that order.

        Raises
        ------
        ValueError
            If ``grids`` are not cubic 0/1 grids of the ensemble's size.
        """
        grids = check_grids(grids, "grids")
        if grids.shape[1] != self.size:
            raise ValueError(
                f"grids must have the ensemble's size {self.size}³ to be compared with it; "
                f"got {grids.shape[1]}³. Resample them or build the Reference at that size"
            )
        candidates = [_summary(grid) for grid in grids]
        result = {}
        for name in STATISTICS:
            distance = self._mean_distance(name, candidates, exclude_self=False)
            noise_floor = self._noise_floors[name]
            result[name] = StatFidelity(distance=distance, noise_floor=noise_floor, ratio=_ratio(distance, noise_floor))
        return result


class PairedReference:
    """Reference grids, each with its own noise floor from grids drawn under its conditions.

    :class:`Reference` needs an ensemble at one density. A validation split has one grid
    per density instead; pairing keeps the comparison at matched densities. For reference
    grids ``x_i`` with neighbours ``y_ik`` (other grids drawn under the same conditions,
    e.g. the training grids nearest in density) and candidate grids ``c_ig`` made for
    ``x_i`` (e.g. generated at its density), on statistic ``s``::

        distance    = mean over i, g of d_s(c_ig, x_i)
        noise_floor = mean over i, k of d_s(y_ik, x_i)
        ratio       = distance / noise_floor

    so a generator whose grids are drawn like the neighbours scores about 1, as with
    :class:`Reference` (same distances ``d_s``; see the module docstring).

    Parameters
    ----------
    references : array_like, (M, S, S, S) bool or 0/1
    neighbours : array_like, (M, K, S, S, S) bool or 0/1, K ≥ 1
        ``neighbours[i]``: grids drawn under the conditions of ``references[i]``.
    statistics : sequence of str
        Names from :data:`PAIRED_STATISTICS` to score (default: :data:`STATISTICS`).

    Raises
    ------
    ValueError
        If the shapes do not match as above or a name is unknown.
    """

    def __init__(self, references, neighbours, *, statistics=STATISTICS):
        references = check_grids(references, "references")
        neighbours = np.asarray(neighbours)
        if neighbours.ndim != 5 or neighbours.shape[0] != len(references) or neighbours.shape[2:] != references.shape[1:]:
            raise ValueError(
                f"neighbours must have shape (M, K, S, S, S) = ({len(references)}, K, "
                f"{', '.join(map(str, references.shape[1:]))}) with K ≥ 1 grids per reference; got {neighbours.shape}"
            )
        self.statistics = tuple(check_choice(name, PAIRED_STATISTICS, "statistics") for name in statistics)
        self.size = int(references.shape[1])
        self._thickness = "thickness" in self.statistics  # the slowest statistic: computed only when scored
        self.stats = [_summary(member, thickness=self._thickness) for member in references]
        flat = check_grids(neighbours.reshape(-1, *neighbours.shape[2:]), "neighbours")
        neighbour_stats = [_summary(grid, thickness=self._thickness) for grid in flat]
        per = neighbours.shape[1]
        self._noise_floors = {
            name: float(np.mean([_DISTANCES[name](y, self.stats[index // per]) for index, y in enumerate(neighbour_stats)]))
            for name in self.statistics
        }

    def __repr__(self) -> str:
        return f"PairedReference(references={len(self.stats)}, size={self.size}, statistics={self.statistics})"

    def fidelity(self, grids) -> dict[str, StatFidelity]:
        """Distance, noise floor and ratio of each scored statistic for candidate grids.

        Parameters
        ----------
        grids : array_like, (M, G, S, S, S) or (M, S, S, S) bool or 0/1
            ``grids[i]``: the G ≥ 1 candidates made for reference ``i``.

        Returns
        -------
        dict
            ``{name: StatFidelity}`` for every scored statistic, in order.

        Raises
        ------
        ValueError
            If ``grids`` do not hold candidates for each of the M references at size S.
        """
        grids = np.asarray(grids)
        if grids.ndim == 4:
            grids = grids[:, None]
        if grids.ndim != 5 or grids.shape[0] != len(self.stats) or grids.shape[2:] != (self.size,) * 3:
            raise ValueError(
                f"grids must have shape (M, G, S, S, S) = ({len(self.stats)}, G, {self.size}, {self.size}, "
                f"{self.size}): G candidates for each reference; got {grids.shape}"
            )
        per = grids.shape[1]
        candidates = [_summary(grid, thickness=self._thickness)
                      for grid in check_grids(grids.reshape(-1, *grids.shape[2:]), "grids")]
        result = {}
        for name in self.statistics:
            distance = float(np.mean([_DISTANCES[name](c, self.stats[index // per]) for index, c in enumerate(candidates)]))
            noise_floor = self._noise_floors[name]
            result[name] = StatFidelity(distance=distance, noise_floor=noise_floor, ratio=_ratio(distance, noise_floor))
        return result


def fidelity(grids, ensemble) -> dict[str, StatFidelity]:
    """``Reference(ensemble).fidelity(grids)``; build a :class:`Reference` to reuse it.

    Raises
    ------
    ValueError
        As :class:`Reference` and :meth:`Reference.fidelity`.
    """
    return Reference(ensemble).fidelity(grids)


# ----------------------------------------------------------------------------- generated against real


def mean_pairwise_iou(grids: np.ndarray) -> float:
    """Mean IoU over all pairs of different grids of a batch ``(N, S, S, S)`` bool (N ≥ 2).

    Two empty grids count as IoU 1. High values mean the grids are alike (mode collapse
    when generated grids are more alike than dataset grids at the same density).

    Raises
    ------
    ValueError
        For fewer than two grids.
    """
    if len(grids) < 2:
        raise ValueError(f"mean_pairwise_iou needs at least 2 grids; got {len(grids)}")
    flat = np.asarray(grids).reshape(len(grids), -1).astype(np.float32)
    intersection = flat @ flat.T
    counts = flat.sum(1)
    union = counts[:, None] + counts[None, :] - intersection
    iou = np.where(union > 0, intersection / np.maximum(union, 1), 1.0)
    upper = np.triu_indices(len(grids), k=1)
    return float(iou[upper].mean())


def sample_mismatch(generated: np.ndarray, grid: np.ndarray) -> float:
    """How unlike a dataset grid a generated grid of the same density is (0 = alike).

    The sum of the RMS over r of ``(S2_generated − S2_grid) / φ``, ``|log((1 + n_gen) / (1 + n_grid))|``
    for the pore counts and ``|log(r_gen / r_grid)|`` for the mean equivalent pore radii.
    """
    s2_gen, s2_grid = two_point_correlation(generated), two_point_correlation(grid)
    s2 = float(np.sqrt(np.mean(((s2_gen - s2_grid) / max(s2_grid[0], 1e-3)) ** 2)))
    radii_gen, radii_grid = pore_radii(generated), pore_radii(grid)
    count = abs(np.log((1 + len(radii_gen)) / (1 + len(radii_grid))))
    size = abs(np.log(max(radii_gen.mean(), 0.5) / max(radii_grid.mean(), 0.5))) if len(radii_gen) and len(radii_grid) else 0.0
    return s2 + float(count) + float(size)
