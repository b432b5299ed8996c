"""SZ3: the error-bounded lossy compressor of the field (``pysz``), as a ``.pnc`` method.

SZ3 predicts every value from its decoded neighbours (interpolation, with Lorenzo
prediction where it does better, its default algorithm), quantises the prediction
error within the error bound, then Huffman- and zstd-codes it. Every decoded value
is within the absolute error bound of the original.

Targets: ``abs_error`` is SZ3's own ABS mode; ``ratio`` bisects the bound for the
finest code of at most raw size / ratio; ``psnr`` bisects it for the largest bound
whose decoded scan keeps the PSNR (checked by decoding, not SZ3's estimate, which
overshot by 5 dB on the benchmark scan). A grid is coded as its signed distance
(:mod:`porelib.compress.errorbounded`). The ratio is not quite monotone in the
bound, so the bisection finds a good bound, not always the best.

The payload is the SZ3 stream exactly as ``SZ_compress`` writes it (magic, version,
data, then its configuration: dimensions, error bound, algorithm), float32 in C
order: ``Z`` varies fastest. :meth:`~porelib.compress.Compressed.standard_stream`
gives it as a ``.sz3`` file, which SZ3's command-line tool decodes with
``sz3 -f -z volume.sz3 -o volume.f32 -3 Z Y X`` (SZ3 lists the fastest dimension first).
"""

from __future__ import annotations

import numpy as np

from porelib.compress import errorbounded as eb

#: First bytes of every SZ3 stream (SZ3's magic number, little-endian).
SZ3_MAGIC = b"\x10\xf3\x42\xf3"
#: Bytes of an SZ3 stream besides its data: a 16-byte header and about 100 of configuration.
MIN_STREAM_NBYTES = 16


def _sz():
    try:
        from pysz import sz, szConfig, szErrorBoundMode
    except ImportError as exc:  # pragma: no cover - a dependency in requirements.txt
        raise ValueError(f"method 'sz3' needs the package pysz (pip install 'pysz>=1.1'): {exc}") from None
    return sz, szConfig, szErrorBoundMode


def code(values: np.ndarray, abs_error: float) -> bytes:
    """The SZ3 stream of float32 ``values`` with every value within ``abs_error``."""
    sz, config_class, modes = _sz()
    config = config_class()
    config.errorBoundMode = modes.ABS
    config.absErrorBound = float(abs_error)
    stream, _ = sz.compress(values, config)
    return stream.tobytes()


def decode_stream(payload: bytes, shape) -> np.ndarray:
    """The float32 ``shape`` array of an SZ3 stream.

    Raises
    ------
    ValueError
        If the stream is not SZ3's or holds another number of values.
    """
    sz, _, _ = _sz()
    check_stream(payload)
    try:
        values, _ = sz.decompress(np.frombuffer(payload, dtype=np.uint8), np.float32, tuple(int(n) for n in shape))
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"invalid compressed volume: its SZ3 stream does not decode ({exc})") from None
    return values


def check_stream(payload: bytes) -> None:
    """Raise ValueError unless ``payload`` starts like an SZ3 stream."""
    if len(payload) < MIN_STREAM_NBYTES or payload[:4] != SZ3_MAGIC:
        raise ValueError(
            "invalid compressed volume: its payload is not an SZ3 stream (wrong magic); the file was written by "
            "another method or is damaged"
        )


def encode(array: np.ndarray, kind: str, target: eb.Target, *, max_bytes: float | None, deadline=None) -> tuple[bytes, dict]:
    """The SZ3 stream of a checked volume for ``target``, and what was chosen (``abs_error``).

    ``max_bytes`` is the payload budget of a ``ratio`` target.

    Raises
    ------
    ValueError
        If the target cannot be reached (a ratio beyond SZ3's coarsest code, a PSNR beyond its finest).
    """
    values = eb.float_values(array, kind)
    bounds = eb.error_range(values, kind)
    if target.abs_error is not None:
        return code(values, target.abs_error), {"abs_error": target.abs_error}
    if target.psnr is not None:
        lo, hi = float(array.min()), float(array.max())
        found = eb.coarsest_keeping(
            lambda bound: code(values, bound),
            lambda stream: decode_stream(stream, array.shape),
            array,
            target.psnr,
            bounds,
            value_range=(lo, hi),
        )
        if found is None:
            raise ValueError(f"sz3 cannot reach PSNR {target.psnr:g} dB on this volume; ask for a lower --psnr")
        return found[1], {"abs_error": found[0]}
    found = eb.finest_within(lambda bound: code(values, bound), max_bytes, bounds, deadline=deadline)
    if found is None:
        raise ValueError(
            f"ratio {target.ratio:g} is too high for sz3 on this volume: even its coarsest code is larger than "
            f"{max(0, int(max_bytes))} bytes; ask for a lower ratio"
        )
    return found[1], {"abs_error": found[0]}
