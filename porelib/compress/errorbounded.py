"""What SZ3 and zfp share: the values they code, and the searches that turn a target into an error bound.

Both code float arrays. A scan is coded as float32 values in its own units. A grid
(bool) is coded as its truncated signed distance: the distance in voxels from each
voxel to the nearest voxel of the other phase, negative in the pores, clipped to
±:data:`SDF_TRUNCATION`; decoding thresholds at 0. A pore voxel is at distance −1
or less and a solid one at +1 or more, so an absolute error below 1 voxel gives
the grid back exactly, and an error bound ``E`` moves the pore surface by at most
``E`` voxels. (On the 128³ benchmark label at about 10:1, SZ3 of the 0/1 values
kept IoU 0.86 at 8:1 and collapsed beyond 15:1; of the signed distance, IoU 0.86 at
12:1 and 0.79 at 28:1.)

Targets (see :class:`Target`): a ratio is met by bisecting the error bound (or,
for zfp, choosing the rate) for the finest code that fits raw size / ratio; a
PSNR by bisecting for the largest error bound whose decoded volume keeps it;
an absolute error is the codecs' own mode.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from porelib.compress.scores import psnr as psnr_of

#: Signed distances are clipped to ± this many voxels.
SDF_TRUNCATION = 8.0
#: Halvings of the (log) interval of error bounds in a search.
SEARCH_STEPS = 18


@dataclass(frozen=True)
class Target:
    """What a code must reach: a ratio, an absolute error, a PSNR, or (``auto`` only) a ratio and a PSNR.

    Attributes
    ----------
    ratio : float, optional
        Raw size / file size, at least (see :mod:`porelib.compress.volume`).
    abs_error : float, optional
        Largest absolute error of any voxel, in the scan's units (a grid: in voxels
        of surface displacement; below 1 it is exact).
    psnr : float, optional
        Least PSNR in dB on the scan's value range.
    """

    ratio: float | None = None
    abs_error: float | None = None
    psnr: float | None = None

    def describe(self) -> str:
        """``"ratio 100:1"``, ``"PSNR >= 35 dB"``, ``"max error 0.01"``, joined by ", "."""
        parts = []
        if self.ratio is not None:
            parts.append(f"ratio {self.ratio:g}:1")
        if self.psnr is not None:
            parts.append(f"PSNR >= {self.psnr:g} dB")
        if self.abs_error is not None:
            parts.append(f"max error {self.abs_error:g}")
        return ", ".join(parts)


def float_values(array: np.ndarray, kind: str) -> np.ndarray:
    """The float32 array SZ3 and zfp code: a scan's values, or a grid's truncated signed distance."""
    if kind == "binary":
        return signed_distance(array.astype(bool))
    return np.ascontiguousarray(array, dtype=np.float32)


def signed_distance(grid: np.ndarray) -> np.ndarray:
    """Truncated signed distance of a grid in voxels, float32: ≤ −1 in pores, ≥ 1 in the solid."""
    if grid.all() or not grid.any():  # one phase: no surface, a constant field
        return np.full(grid.shape, -SDF_TRUNCATION if grid.any() else SDF_TRUNCATION, dtype=np.float32)
    distance = ndimage.distance_transform_edt(~grid) - ndimage.distance_transform_edt(grid)
    return np.clip(distance, -SDF_TRUNCATION, SDF_TRUNCATION).astype(np.float32)


def from_float(values: np.ndarray, kind: str, value_range) -> np.ndarray:
    """Decoded floats back to a grid (``< 0`` = pore) or to a scan clipped to its ``value_range``, float64."""
    if kind == "binary":
        return values < 0
    lo, hi = value_range
    return np.clip(values.astype(np.float64), lo, hi)


def error_range(values: np.ndarray, kind: str) -> tuple[float, float]:
    """The interval of absolute error bounds worth searching: from near-exact to coarser than the whole range."""
    if kind == "binary":
        return 0.5, SDF_TRUNCATION
    spread = float(values.max() - values.min()) or 1.0
    return spread * 1e-7, spread


def finest_within(
    code: Callable[[float], bytes], max_bytes: float, bounds: tuple[float, float], *, deadline: float | None = None
) -> tuple[float, bytes] | None:
    """The smallest error bound in ``bounds`` (log bisection) whose code is at most ``max_bytes``, and its code.

    ``None`` if even the coarsest bound is too large, or the deadline
    (:func:`time.perf_counter` seconds) passes before any code fits.
    """
    fine, coarse = bounds
    best = None
    candidate = code(coarse)
    if len(candidate) > max_bytes:
        return None
    best = (coarse, candidate)
    candidate = code(fine)
    if len(candidate) <= max_bytes:  # even the finest bound fits
        return fine, candidate
    for _ in range(SEARCH_STEPS):
        if deadline is not None and time.perf_counter() > deadline:
            break
        middle = math.sqrt(fine * coarse)
        candidate = code(middle)
        if len(candidate) <= max_bytes:
            best, coarse = (middle, candidate), middle
        else:
            fine = middle
    return best


def coarsest_keeping(
    code: Callable[[float], bytes],
    decode: Callable[[bytes], np.ndarray],
    original: np.ndarray,
    least_psnr: float,
    bounds: tuple[float, float],
    *,
    value_range,
) -> tuple[float, bytes, float] | None:
    """The largest error bound in ``bounds`` whose decoded scan keeps PSNR ≥ ``least_psnr``: bound, code, PSNR.

    ``None`` if even the finest bound misses it.
    """
    data_range = value_range[1] - value_range[0]

    def score(stream: bytes) -> float:
        decoded = from_float(decode(stream), "scan", value_range)
        return psnr_of(original, decoded, data_range=data_range)

    fine, coarse = bounds
    stream = code(fine)
    reached = score(stream)
    if reached < least_psnr:
        return None
    best = (fine, stream, reached)
    for _ in range(SEARCH_STEPS):
        middle = math.sqrt(fine * coarse)
        stream = code(middle)
        reached = score(stream)
        if reached >= least_psnr:
            best, fine = (middle, stream, reached), middle
        else:
            coarse = middle
    return best
