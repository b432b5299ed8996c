"""Lossless LZMA2: the exact baseline, and a ``.pnc`` method.

A grid is bit-packed (``numpy.packbits`` of the C-order voxels, 1 = pore) and a
scan written as its values in the original dtype (little-endian), then raw LZMA2
at its strongest preset (9 extreme), without the .xz container (its ~60 bytes of
headers and checksum would dominate a 30³ grid's code). zstandard was measured and
not added as a dependency: at level 22 its scans are 10-17 % larger than lzma's,
its grids within ±10 %.

Float scans rarely shrink much this way (1.3-1.4:1 on the benchmark's CT scans:
their low bits are noise), but sparse grids do (30:1 on a 30³ grid of porosity
0.006), so for a grid lossless can meet a ratio that lossy codes are asked for.
"""

from __future__ import annotations

import lzma
import math

import numpy as np

#: LZMA2 at its strongest preset. Decoding uses these filters; encoding shrinks
#: the dictionary to the input (the preset's 64 MiB costs ~0.15 s to set up, which
#: dominated small inputs; a larger dictionary finds no more matches).
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
#: Smallest LZMA2 dictionary (bytes).
_MIN_DICT = 4096


def lzma_compress(data: bytes, *, preset: int = 9 | lzma.PRESET_EXTREME) -> bytes:
    """Raw LZMA2 of ``data`` at ``preset``, its dictionary no larger than ``data``."""
    dict_size = min(max(_MIN_DICT, len(data)), 64 << 20)
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": preset,
                                                                   "dict_size": dict_size}])


def lzma_decompress(data: bytes, expected: int) -> bytes:
    """Inflate raw LZMA2, refusing a stream of other than ``expected`` bytes (no more than that is allocated).

    Raises
    ------
    ValueError
        If the stream is damaged or inflates to another length.
    """
    try:
        decoder = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_FILTERS)
        raw = decoder.decompress(data, max_length=expected + 1)
    except lzma.LZMAError as exc:
        raise ValueError(f"invalid compressed volume: its LZMA2 stream does not decode ({exc})") from None
    if len(raw) != expected:
        raise ValueError(
            f"invalid compressed volume: its LZMA2 stream holds {'more than ' if len(raw) > expected else ''}"
            f"{len(raw)} bytes, the volume needs {expected}"
        )
    return raw


def raw_bytes(volume: np.ndarray, kind: str) -> bytes:
    """What is coded: the bit-packed grid, or the scan's values in its dtype, little-endian."""
    if kind == "binary":
        return np.packbits(volume.astype(bool)).tobytes()
    return np.ascontiguousarray(volume, dtype=volume.dtype.newbyteorder("<")).tobytes()


def lzma_encode(volume: np.ndarray, kind: str) -> bytes:
    """Raw LZMA2 of :func:`raw_bytes`."""
    return lzma_compress(raw_bytes(np.asarray(volume), kind))


def lzma_decode(data: bytes, shape, kind: str, dtype="<f4") -> np.ndarray:
    """Inverse of :func:`lzma_encode`: a bool grid, or the scan in ``dtype``.

    Raises
    ------
    ValueError
        If the stream is damaged or does not hold a volume of ``shape``.
    """
    voxels = math.prod(shape)
    if kind == "binary":
        raw = lzma_decompress(data, -(-voxels // 8))
        return np.unpackbits(np.frombuffer(raw, dtype=np.uint8))[:voxels].astype(bool).reshape(shape)
    dtype = np.dtype(dtype).newbyteorder("<")
    raw = lzma_decompress(data, voxels * dtype.itemsize)
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
