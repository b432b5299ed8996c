"""Euclidean distance transform and local thickness of pore volumes of any box shape.

Both work on a 3-D bool array ``pore[i0, i1, i2]`` (``True`` = pore, lengths in voxels).
With ``planar=True`` the array is a stack of independent 2-D images ``pore[k, i, j]``:
distances and balls stay inside each image ``k`` (2-D micrographs, and the slices of a
volume compared with one).

:func:`squared_distance`
    Exact squared Euclidean distance from every voxel to the nearest solid voxel, as
    integers. Three separable passes: the first (along the last axis) from running
    maxima of solid positions; the other two minimise ``g(i + k) + k²`` over offsets
    ``k``, stopping for each voxel once ``k²`` exceeds its current best, so the work is
    about the sum of the distances rather than ``S`` per voxel. Slab by slab: besides the
    ``int32`` result, memory stays at a few tens of MB at 512³. Same values as
    ``scipy.ndimage.distance_transform_edt(pore) ** 2``, which needs about 60 bytes per
    voxel and is 3–5 times slower at 256³.

:func:`local_thickness`
    The radius of the largest ball inside the pores that contains each pore voxel, the
    same map as PoreSpy 3.2's ``porespy.filters.local_thickness`` (default ``'bf'``
    method, every integer radius; see :func:`local_thickness` for the definition). Balls
    are written as runs along the last axis into a sparse table (a run of length ``L``
    is two writes of power-of-two blocks), so no ball is rasterised voxel by voxel.

The faces of the box are open, not walls: voxels outside the box are neither pore nor
solid, so distances are to solid voxels inside the box and balls may extend past it.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["NO_SOLID", "local_thickness", "squared_distance"]

#: Squared distance given to the voxels of a volume (or, with ``planar=True``, an image)
#: without any solid voxel. Far above any real squared distance (at most ~3·512²·…).
NO_SOLID = np.int32(2**30)

#: Voxels per slab of the distance transform's passes (about 4 MB of int32 at a time).
_SLAB_VOXELS = 1 << 20

#: Bytes of sparse table held at once by local thickness (per slab along the first axis).
_TABLE_BYTES = 64 << 20

#: Bound on the (centre, run) index pairs held at once by local thickness.
_RUN_CHUNK = 1 << 22


def _check_stack(pore) -> np.ndarray:
    pore = np.asarray(pore)
    if pore.dtype != bool or pore.ndim != 3:
        raise ValueError(f"pore must be a 3-D bool array; got {pore.ndim}-D {pore.dtype}")
    return pore


# --------------------------------------------------------------------------------------
# Squared Euclidean distance transform
# --------------------------------------------------------------------------------------


def squared_distance(pore, *, planar: bool = False) -> np.ndarray:
    """Squared Euclidean distance, in voxels², from each voxel to the nearest solid voxel.

    Parameters
    ----------
    pore : ndarray, (N0, N1, N2) bool
        ``True`` = pore. With ``planar=True``, a stack of N0 independent images (N1, N2).
    planar : bool
        Measure distances within each image ``pore[k]`` only.

    Returns
    -------
    ndarray, (N0, N1, N2) int32
        0 at solid voxels; :data:`NO_SOLID` in a volume (or image) without solid voxels.

    Raises
    ------
    ValueError
        If ``pore`` is not a 3-D bool array.
    """
    pore = _check_stack(pore)
    out = np.empty(pore.shape, dtype=np.int32)
    step = max(1, _SLAB_VOXELS // max(1, pore.shape[1] * pore.shape[2]))
    for start in range(0, pore.shape[0], step):
        out[start : start + step] = _axis_distance_squared(~pore[start : start + step])
    for axis in (1,) if planar else (1, 0):
        _parabola_pass(out, axis)
    return out


def _axis_distance_squared(solid: np.ndarray) -> np.ndarray:
    """Squared distance along the last axis to the nearest ``True``; :data:`NO_SOLID` on lines without one."""
    n = solid.shape[-1]
    dtype = np.int16 if n < 8000 else np.int32
    far = np.iinfo(dtype).max // 4  # farther than any position, and no overflow in differences
    position = np.arange(n, dtype=dtype)
    before = np.where(solid, position, dtype(-far))
    np.maximum.accumulate(before, axis=-1, out=before)
    after = np.where(solid[..., ::-1], position[::-1], dtype(2 * far))
    np.minimum.accumulate(after, axis=-1, out=after)
    np.subtract(position, before, out=before)
    np.subtract(after[..., ::-1], position, out=after[..., ::-1])
    np.minimum(before, after[..., ::-1], out=before)
    distance = before.astype(np.int32)
    squared = distance * distance
    squared[distance >= far] = NO_SOLID
    return squared


def _parabola_pass(distance: np.ndarray, axis: int) -> None:
    """In place, ``d(i) <- min_k d(i + k e_axis) + k²`` along ``axis`` (1 or 0), slab by slab."""
    other = 0 if axis == 1 else 1
    step = max(1, _SLAB_VOXELS // max(1, distance.size // distance.shape[other]))
    for start in range(0, distance.shape[other], step):
        index = [slice(None)] * 3
        index[other] = slice(start, start + step)
        index = tuple(index)
        distance[index] = _parabola(np.ascontiguousarray(distance[index]), axis)


def _parabola(g: np.ndarray, axis: int) -> np.ndarray:
    """``min_k g(i + k e_axis) + k²`` for a contiguous block ``g``, exact.

    Offsets ``k = 1, 2, …`` are tried while some voxel's best value exceeds ``k²`` (a
    larger offset cannot do better). While many voxels are left, each offset is a
    sliced minimum over the whole block; once fewer than 1/8 remain, only those are
    updated, by gathering their neighbours ``i ± k`` (clipped to the line: a clipped
    neighbour was already tried at a smaller offset, so clipping changes nothing).
    """
    f = g.copy()
    n = g.shape[axis]
    g_lines, f_lines = np.moveaxis(g, axis, 0), np.moveaxis(f, axis, 0)
    k = 1
    while k < n:
        np.minimum(f_lines[:-k], g_lines[k:] + np.int32(k * k), out=f_lines[:-k])
        np.minimum(f_lines[k:], g_lines[:-k] + np.int32(k * k), out=f_lines[k:])
        k += 1
        left = np.count_nonzero(f > k * k)
        if left == 0:
            return f
        if left * 8 < f.size:
            break
    stride = g.strides[axis] // g.itemsize
    g_flat, f_flat = g.reshape(-1), f.reshape(-1)
    index_type = np.int32 if f.size < 2**31 else np.int64
    active = np.flatnonzero(f_flat > k * k).astype(index_type)
    position = (active // stride) % n
    while active.size and k < n:
        best = f_flat[active]
        ahead = active + (np.minimum(position + k, n - 1) - position) * stride
        np.minimum(best, g_flat[ahead] + np.int32(k * k), out=best)
        behind = active - (position - np.maximum(position - k, 0)) * stride
        np.minimum(best, g_flat[behind] + np.int32(k * k), out=best)
        f_flat[active] = best
        k += 1
        unfinished = best > k * k
        active, position = active[unfinished], position[unfinished]
    return f


# --------------------------------------------------------------------------------------
# Local thickness
# --------------------------------------------------------------------------------------


def local_thickness(pore, *, planar: bool = False) -> np.ndarray:
    """Radius of the largest ball inside the pores that contains each pore voxel.

    A ball of radius ``r`` centred on pore voxel ``c`` is the set of voxels ``x`` with
    ``|x − c| < r``; it fits when ``r ≤ dt(c)``, the Euclidean distance from ``c`` to
    the nearest solid voxel. Radii are integers ``1 … floor(max dt)``, so every pore
    voxel gets at least 1. This is the map of PoreSpy 3.2's
    ``porespy.filters.local_thickness(pore)`` (default method ``'bf'``, ``smooth=True``,
    every integer radius), voxel for voxel.

    Every pore voxel ``x`` starts at ``floor(dt(x))`` (its own ball); then balls of
    radius ≥ 2 are drawn, except at centres whose face-neighbour fits a ball one voxel
    larger (that ball contains theirs). Each ball is a set of runs along the last axis,
    written by increasing radius into a sparse table of power-of-two blocks (two writes
    per run), whose levels are then folded into one map.

    Parameters
    ----------
    pore : ndarray, (N0, N1, N2) bool
        ``True`` = pore. With ``planar=True``, a stack of independent images (disks in
        each image instead of balls).
    planar : bool
        Treat ``pore[k]`` as separate 2-D images.

    Returns
    -------
    ndarray, (N0, N1, N2) uint16
        Radius in voxels at pore voxels, 0 at solid voxels. A volume (or image) without
        any solid voxel has no wall to bound the balls; it gets half its smallest edge
        (at least 1), the radius of the largest ball inscribed in the box.

    Raises
    ------
    ValueError
        If ``pore`` is not a 3-D bool array.
    """
    pore = _check_stack(pore)
    fits = _integer_radius(squared_distance(pore, planar=planar), pore, planar)
    centres = _ball_centres(fits, planar)
    return _draw_balls(fits, centres, planar)


def _integer_radius(squared: np.ndarray, pore: np.ndarray, planar: bool) -> np.ndarray:
    """``floor(sqrt(squared))`` as uint16, with the no-solid convention of :func:`local_thickness`."""
    fits = np.empty(squared.shape, dtype=np.uint16)
    inscribed = max(1, min(pore.shape[1:] if planar else pore.shape) // 2)
    step = max(1, _SLAB_VOXELS // max(1, squared.shape[1] * squared.shape[2]))
    for start in range(0, squared.shape[0], step):
        block = squared[start : start + step]
        # float64 sqrt is exact enough: floor(sqrt(n)) is right for every n < 2**52. Solid voxels are at 0.
        fits[start : start + step] = np.sqrt(block, dtype=np.float64)
        if block.max() >= NO_SOLID:
            fits[start : start + step][block >= NO_SOLID] = inscribed
    return fits


def _ball_centres(fits: np.ndarray, planar: bool) -> tuple[np.ndarray, ...]:
    """Coordinates ``(c0, c1, c2, r)`` of the balls to draw, sorted by radius then by ``c0``.

    A centre needs drawing when its radius is at least 2 and no face-neighbour fits a ball
    one voxel larger (that ball contains this one: ``|x − c'| ≤ |x − c| + 1 < r + 1``).
    """
    needed = fits >= 2
    for axis in (1, 2) if planar else (0, 1, 2):  # no face-neighbour larger (outside the box counts as 0)
        lower = [slice(None)] * 3
        upper = [slice(None)] * 3
        lower[axis], upper[axis] = slice(0, -1), slice(1, None)
        lower, upper = tuple(lower), tuple(upper)
        needed[lower] &= fits[upper] <= fits[lower]
        needed[upper] &= fits[lower] <= fits[upper]
    # A volume or image without solid voxels is already filled with its inscribed radius.
    if planar:
        constant = fits.reshape(len(fits), -1)
        needed &= ~(constant.min(axis=1) == constant.max(axis=1))[:, None, None]
    elif fits.min() == fits.max():
        needed[...] = False
    c0, c1, c2 = (axis.astype(np.int32) for axis in np.nonzero(needed))
    radius = fits[needed].astype(np.int32)
    order = np.lexsort((c0, radius))
    return c0[order], c1[order], c2[order], radius[order]


@functools.lru_cache(maxsize=256)
def _ball_runs(radius: int, planar: bool) -> tuple[tuple[int, np.ndarray, np.ndarray], ...]:
    """The open ball ``|o| < radius`` as runs along the last axis.

    Returns one ``(d0, d1, h)`` entry per offset ``d0`` along the first axis: arrays of
    the offsets ``d1`` along the second axis and the half-lengths ``h`` (the run covers
    ``-h … h`` along the last axis), for every ``d0² + d1² < radius²``. In planar mode
    only ``d0 = 0``.
    """
    limit = radius * radius - 1  # |o|² < r²  ⇔  |o|² ≤ r² − 1
    rows = []
    for d0 in (0,) if planar else range(-radius + 1, radius):
        d1 = np.arange(-radius + 1, radius)
        left = limit - d0 * d0 - d1 * d1
        keep = left >= 0
        half = np.array([math.isqrt(int(value)) for value in left[keep]], dtype=np.int64)
        rows.append((d0, d1[keep].astype(np.int64), half))
    return tuple(rows)


def _draw_balls(fits: np.ndarray, centres: tuple[np.ndarray, ...], planar: bool) -> np.ndarray:
    """``max(fits, radius of every listed ball containing the voxel)``, at pore voxels.

    The map is built slab by slab along the first axis. In each slab a sparse table
    ``table[k, i0, i1, i2]`` holds, per block ``[i2, i2 + 2^k)`` of a line, the largest
    radius written there; a run ``[a, b]`` of length ``L`` is the union of the two blocks
    of length ``2^floor(log2 L)`` starting at ``a`` and ending at ``b``. Radii are written
    in increasing order (so the last write is the largest); folding level ``k`` into
    ``k − 1`` then gives each voxel the largest radius of the runs covering it. The last
    two axes are padded by ``max radius − 1`` so that runs need no clipping.
    """
    c0, c1, c2, radius = centres
    thickness = fits.copy()
    if radius.size == 0:
        return thickness
    n0, n1, n2 = fits.shape
    largest = int(radius[-1])
    pad = largest - 1
    levels = int(math.log2(2 * pad + 1)) + 1
    dtype = np.uint8 if largest < 256 else np.uint16
    p1, p2 = n1 + 2 * pad, n2 + 2 * pad
    width = max(1, min(n0, _TABLE_BYTES // (levels * p1 * p2 * np.dtype(dtype).itemsize)))
    group_starts = np.searchsorted(radius, np.arange(largest + 2))
    # int32 positions when every position relative to any slab fits (halves the index traffic).
    index = np.int32 if (2 * n0 + levels * width) * p1 * p2 < 2**31 else np.int64
    for s0 in range(0, n0, width):
        s1 = min(n0, s0 + width)
        table = np.zeros((levels, s1 - s0, p1, p2), dtype=dtype)
        level_size = table[0].size
        flat = table.reshape(-1)
        for r in range(2, largest + 1):
            group = slice(group_starts[r], group_starts[r + 1])
            if group.start == group.stop:
                continue
            g0 = c0[group]
            # Flat position in the slab's table of each centre with offset (0, 0, 0), less s0 planes.
            base = (c1[group].astype(index) + pad) * p2 + (c2[group] + pad) + (g0.astype(index) - s0) * (p1 * p2)
            for d0, d1, half in _ball_runs(r, planar):
                lo, hi = np.searchsorted(g0, (s0 - d0, s1 - d0))
                if lo == hi:
                    continue
                _write_runs(flat, base[lo:hi] + d0 * (p1 * p2), d1, half, p2, level_size, r)
        for k in range(levels - 1, 0, -1):  # fold level k into k − 1
            half_block = 1 << (k - 1)
            lower, upper = table[k - 1], table[k]
            np.maximum(lower, upper, out=lower)
            np.maximum(lower[..., half_block:], upper[..., :-half_block], out=lower[..., half_block:])
        np.maximum(thickness[s0:s1], table[0, :, pad : pad + n1, pad : pad + n2], out=thickness[s0:s1])
    thickness[fits == 0] = 0
    return thickness


def _write_runs(flat, base, d1, half, p2, level_size, value) -> None:
    """Write ``value`` at both blocks of the runs ``[c2 − h, c2 + h]`` on lines ``c1 + d1`` of each centre."""
    length = 2 * half + 1
    level = np.floor(np.log2(length)).astype(np.int64)
    for k in np.unique(level):
        rows = level == k
        starts = d1[rows] * p2 - half[rows]  # block [a, a + 2^k) at the run's start
        ends = d1[rows] * p2 + half[rows] - (1 << int(k)) + 1  # block ending at the run's end
        offsets = (np.concatenate([starts, ends]) + int(k) * level_size).astype(base.dtype)
        chunk = max(1, _RUN_CHUNK // len(offsets))
        for start in range(0, len(base), chunk):
            flat[(base[start : start + chunk, None] + offsets[None, :]).ravel()] = value
