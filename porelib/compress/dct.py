"""A blockwise 3-D DCT code: the classical transform baseline (JPEG-like in 3-D), not a ``.pnc`` method.

The volume is scaled to [0, 1] (a grid as 0/1, thresholded at 0.5 on decoding),
cut into 8³ blocks (edge-padded), each transformed by the orthonormal DCT
(:func:`scipy.fft.dctn`); every coefficient is quantised with one uniform step,
the levels are stored frequency by frequency (all blocks' DC first: long runs of
zeros) in the narrowest integer type that holds them, through raw LZMA2, after a
:data:`HEADER_NBYTES`-byte header. The step is bisected so that the code is at
most the budget. It needs only scipy and codes grids too; it is measured beside
the ``.pnc`` methods in ``bench compression`` and on the Compress page.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
from scipy import fft

from porelib.compress.lossless import lzma_compress, lzma_decompress

BLOCK = 8
#: Header: shape (3 × uint32), value range lo and hi (2 × float64), step (float32), level type code (uint8).
_HEADER = struct.Struct("<3I2dfB")
HEADER_NBYTES = _HEADER.size
_LEVEL_TYPES = (np.int8, np.int16, np.int32)
#: Halvings of the (log) interval of quantisation steps.
SEARCH_STEPS = 14


@dataclass(frozen=True)
class DctCode:
    """A blockwise DCT code: the bytes, and the quantised coefficients ``levels * step`` of the volume in [0, 1]."""

    data: bytes
    step: float
    levels: np.ndarray
    value_range: tuple[float, float]

    @property
    def nbytes(self) -> int:
        """Size of the code in bytes, header included."""
        return len(self.data)


def dct_encode(volume: np.ndarray, kind: str, *, max_bytes: float) -> DctCode:
    """The finest blockwise DCT code of at most ``max_bytes`` (header included).

    The quantisation step is bisected on a log scale (a coarser step gives a
    smaller file). If even the coarsest step is too large, the code keeps the
    block means only, and is then larger than asked.
    """
    volume = np.asarray(volume)
    lo, hi = (0.0, 1.0) if kind == "binary" else (float(volume.min()), float(volume.max()))
    coefficients = _block_dct((volume.astype(np.float64) - lo) / ((hi - lo) or 1.0))

    def code(step: float) -> DctCode:
        levels = np.rint(coefficients / step).astype(np.int32)
        type_code = next(i for i, t in enumerate(_LEVEL_TYPES) if _fits(levels, t))
        narrow = _frequency_major(levels).astype(_LEVEL_TYPES[type_code])
        data = _HEADER.pack(*volume.shape, lo, hi, step, type_code) + lzma_compress(narrow.tobytes())
        return DctCode(data, step, levels, (lo, hi))

    fine, coarse, best = 1e-5, 10.0, None
    for _ in range(SEARCH_STEPS):
        candidate = code(math.sqrt(fine * coarse))
        if candidate.nbytes <= max_bytes:
            best, coarse = candidate, candidate.step
        else:
            fine = candidate.step
    return best if best is not None else code(1e6)


def dct_decode(code: DctCode | bytes, shape, kind: str, dtype) -> np.ndarray:
    """The volume of a code (or its bytes): bool for a grid (> 0.5), else clipped to the range in ``dtype``.

    Raises
    ------
    ValueError
        If the bytes are not a DCT code of ``shape``.
    """
    if isinstance(code, (bytes, bytearray)):
        code = _parse(bytes(code), shape)
    unit = _inverse_block_dct(code.levels * code.step, shape)
    if kind == "binary":
        return unit > 0.5
    lo, hi = code.value_range
    return (np.clip(unit, 0.0, 1.0) * (hi - lo) + lo).astype(dtype)


def _parse(data: bytes, shape) -> DctCode:
    if len(data) < _HEADER.size:
        raise ValueError("invalid DCT code: shorter than its header")
    *stored_shape, lo, hi, step, type_code = _HEADER.unpack_from(data)
    if tuple(stored_shape) != tuple(shape) or type_code >= len(_LEVEL_TYPES):
        raise ValueError(f"invalid DCT code: shape {tuple(stored_shape)} (expected {tuple(shape)}), level type {type_code}")
    blocks = tuple(-(-n // BLOCK) for n in shape)
    count = math.prod(blocks) * BLOCK**3
    level_type = np.dtype(_LEVEL_TYPES[type_code])
    raw = lzma_decompress(data[_HEADER.size :], count * level_type.itemsize)
    levels = np.frombuffer(raw, dtype=level_type).reshape(BLOCK, BLOCK, BLOCK, *blocks).transpose(3, 4, 5, 0, 1, 2)
    return DctCode(data, step, levels.astype(np.int32), (lo, hi))


def _fits(levels: np.ndarray, level_type) -> bool:
    info = np.iinfo(level_type)
    return info.min <= levels.min() and levels.max() <= info.max


def _block_dct(unit: np.ndarray) -> np.ndarray:
    """Orthonormal DCT of every 8³ block (edge-padded): ``(bx, by, bz, 8, 8, 8)``."""
    padded_shape = [-(-n // BLOCK) * BLOCK for n in unit.shape]
    padded = np.pad(unit, [(0, p - n) for p, n in zip(padded_shape, unit.shape)], mode="edge")
    bx, by, bz = (p // BLOCK for p in padded_shape)
    blocks = padded.reshape(bx, BLOCK, by, BLOCK, bz, BLOCK).transpose(0, 2, 4, 1, 3, 5)
    return fft.dctn(blocks, axes=(3, 4, 5), norm="ortho")


def _inverse_block_dct(coefficients: np.ndarray, shape) -> np.ndarray:
    blocks = fft.idctn(coefficients, axes=(3, 4, 5), norm="ortho")
    bx, by, bz = blocks.shape[:3]
    padded = blocks.transpose(0, 3, 1, 4, 2, 5).reshape(bx * BLOCK, by * BLOCK, bz * BLOCK)
    return padded[: shape[0], : shape[1], : shape[2]]


def _frequency_major(levels: np.ndarray) -> np.ndarray:
    """Coefficients ordered frequency by frequency (all blocks' DC first): long runs of zeros for lzma."""
    return np.ascontiguousarray(levels.transpose(3, 4, 5, 0, 1, 2))
