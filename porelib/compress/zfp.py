"""zfp: the block-transform lossy compressor of the field (``zfpy``), as a ``.pnc`` method.

zfp cuts the volume into 4³ blocks, aligns each block's values to a common
exponent, decorrelates them with a near-orthogonal transform and codes the
coefficients bit plane by bit plane.

Targets: ``ratio`` uses zfp's fixed-rate mode (the same number of bits for every
block: the rate is the largest whose stream fits raw size / ratio); ``abs_error``
its fixed-accuracy mode (every value within the tolerance); ``psnr`` bisects the
tolerance for the largest whose decoded scan keeps the PSNR. A grid is coded as
its signed distance (:mod:`porelib.compress.errorbounded`). Fixed rate spends as
many bits on a flat block as on an edge, which is why it trails SZ3 at high ratios.

The payload is a zfp stream with zfp's full header (type, dimensions and mode),
float32 in C order (``Z`` varies fastest), as ``zfpy.compress_numpy`` writes it.
:meth:`~porelib.compress.Compressed.standard_stream` gives it as a ``.zfp`` file;
``zfp -h -z volume.zfp -o volume.f32`` decodes it (the header holds the rest), and
``zfpy.decompress_numpy`` reads it in Python.
"""

from __future__ import annotations

import math

import numpy as np

from porelib.compress import errorbounded as eb

#: Bytes of zfp's full header.
HEADER_NBYTES = 16
#: Fixed-rate mode here spends at most 32 bits per value, and at least :data:`MIN_BLOCK_BITS` per 4³ block:
#: below 9 bits (a float block's flag and 8-bit exponent) zfpy 1.0.1 writes past its output buffer and
#: corrupts the process's memory (found with ``MALLOC_CHECK_=3``: aborts at 8 bits per block on 32³, none
#: at 9 on 7×9×5 to 128³). So zfp reaches at most 32 × 64 / 10 ≈ 205:1 on a scan and 6.4:1 on a grid.
MAX_RATE = 32.0
MIN_BLOCK_BITS = 10
MIN_RATE = MIN_BLOCK_BITS / 64.0
#: Tries at shrinking the rate when a stream comes out larger than its budget.
RATE_TRIES = 24


def _zfpy():
    try:
        import zfpy
    except ImportError as exc:  # pragma: no cover - a dependency in requirements.txt
        raise ValueError(f"method 'zfp' needs the package zfpy (pip install 'zfpy>=1.0.1'): {exc}") from None
    return zfpy


def code_tolerance(values: np.ndarray, tolerance: float) -> bytes:
    """The fixed-accuracy zfp stream of float32 ``values``: every value within ``tolerance``."""
    return _zfpy().compress_numpy(values, tolerance=float(tolerance))


def code_rate(values: np.ndarray, rate: float) -> bytes:
    """The fixed-rate zfp stream of float32 ``values`` at ``rate`` bits per value (at least :data:`MIN_RATE`)."""
    if rate < MIN_RATE:
        raise ValueError(f"zfp rate must be at least {MIN_RATE:g} bits per value here (zfpy corrupts memory below)")
    return _zfpy().compress_numpy(values, rate=float(rate))


def decode_stream(payload: bytes, shape) -> np.ndarray:
    """The float32 ``shape`` array of a zfp stream.

    Raises
    ------
    ValueError
        If the stream is not zfp's, or its header declares another shape or type.
    """
    check_stream(payload, shape)
    return np.ascontiguousarray(_zfpy().decompress_numpy(payload), dtype=np.float32)


def check_stream(payload: bytes, shape) -> None:
    """Raise ValueError unless ``payload`` is a zfp stream of float32 values of ``shape`` with a full header."""
    if len(payload) < HEADER_NBYTES or payload[:3] != b"zfp":
        raise ValueError(
            "invalid compressed volume: its payload is not a zfp stream (wrong magic); the file was written by "
            "another method or is damaged"
        )
    header = _zfpy().header(payload)
    declared = tuple(n for n in (header["nz"], header["ny"], header["nx"]) if n)  # zfp lists the fastest first
    if declared != tuple(shape) or header["type"] is not np.float32:
        raise ValueError(
            f"invalid compressed volume: its zfp stream holds {declared} values of {header['type'].__name__}, "
            f"the container declares {tuple(shape)} float32"
        )
    if header["mode"] not in ("rate", "tolerance"):
        raise ValueError(f"invalid compressed volume: its zfp stream uses mode '{header['mode']}', not written here")
    if header["mode"] == "rate":
        if header["config"]["rate"] < MIN_RATE:  # zfpy mishandles such streams (see MIN_BLOCK_BITS)
            raise ValueError(f"invalid compressed volume: its zfp rate {header['config']['rate']:g} is below {MIN_RATE:g}")
        blocks = math.prod(-(-n // 4) for n in shape)
        least = HEADER_NBYTES + blocks * header["config"]["rate"] * 64 / 8 * 0.99
        if len(payload) < least:
            raise ValueError("invalid compressed volume: its zfp stream is truncated")


def encode(array: np.ndarray, kind: str, target: eb.Target, *, max_bytes: float | None, deadline=None) -> tuple[bytes, dict]:
    """The zfp stream of a checked volume for ``target``, and what was chosen (``rate`` or ``abs_error``).

    Raises
    ------
    ValueError
        If the target cannot be reached (a ratio beyond one bit per 4³ block, a PSNR beyond the finest tolerance).
    """
    values = eb.float_values(array, kind)
    if target.abs_error is not None:
        return code_tolerance(values, target.abs_error), {"abs_error": target.abs_error}
    if target.psnr is not None:
        lo, hi = float(array.min()), float(array.max())
        found = eb.coarsest_keeping(
            lambda tolerance: code_tolerance(values, tolerance),
            lambda stream: decode_stream(stream, array.shape),
            array,
            target.psnr,
            eb.error_range(values, kind),
            value_range=(lo, hi),
        )
        if found is None:
            raise ValueError(f"zfp cannot reach PSNR {target.psnr:g} dB on this volume; ask for a lower --psnr")
        return found[1], {"abs_error": found[0]}
    blocks = math.prod(-(-n // 4) for n in array.shape)
    rate = min(MAX_RATE, math.floor((max_bytes - HEADER_NBYTES) * 8 / blocks) / 64)  # whole bits per block
    for _ in range(RATE_TRIES):
        if rate < MIN_RATE:
            break
        stream = code_rate(values, rate)
        if len(stream) <= max_bytes:
            return stream, {"rate": rate}
        rate -= 1 / 64
    raise ValueError(
        f"ratio {target.ratio:g} is too high for zfp on this volume: its lowest safe rate ({MIN_BLOCK_BITS} bits per "
        f"4³ block) already takes {HEADER_NBYTES + -(-blocks * MIN_BLOCK_BITS // 8)} bytes; ask for a lower ratio"
    )
