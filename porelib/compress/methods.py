"""The registry of compression methods: one entry per ``.pnc`` method, and the one place that runs them.

Every list of methods a user sees (the CLI's ``--method`` choices, the Compress
page's menu, the benchmark's rows) is read from :data:`METHOD_CODECS` and
:data:`CHOICES`; :func:`encode_with` and :func:`decode_with` are what
:func:`porelib.compress.compress`, ``auto``, the comparisons and the benchmark call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from porelib._validate import check_choice, check_number
from porelib.compress import container, errorbounded, lossless, neural, sz3, zfp
from porelib.compress.container import Compressed
from porelib.compress.errorbounded import Target
from porelib.compress.names import METHODS, OVERHEAD_NBYTES
from porelib.compress.volume import raw_nbytes, restore_dtype

TARGETS = ("ratio", "abs_error", "psnr")


@dataclass(frozen=True)
class Method:
    """One compression method of the ``.pnc`` container.

    Attributes
    ----------
    name : str
        Its name in the CLI, the file and the app.
    summary : str
        One line for menus and help.
    grids : str
        What it does with a binary grid.
    targets : tuple of str
        The targets it accepts (:data:`TARGETS`).
    lossless : bool
        Whether decoding gives the volume back exactly.
    """

    name: str
    summary: str
    grids: str
    targets: tuple[str, ...]
    lossless: bool
    encode: Callable[..., tuple[bytes, dict]]
    decode: Callable[..., np.ndarray]
    check_payload: Callable[[Compressed], None]


def _neural_encode(array, kind, target: Target, *, max_bytes, deadline, options) -> tuple[bytes, dict]:
    options = dict(options)
    if deadline is not None:
        options["max_seconds"] = deadline - time.perf_counter()
    return neural.encode(array, kind, ratio=target.ratio, **options)


def _neural_decode(compressed: Compressed, *, device="auto", batch_size=neural.DECODE_BATCH_SIZE,
                   threads=neural.DEFAULT_THREADS) -> np.ndarray:
    return neural.decode(compressed.network, compressed.shape, compressed.kind, compressed.value_range,
                         device=device, batch_size=batch_size, threads=threads)


def _neural_check(compressed: Compressed) -> None:
    compressed.network  # parses, and checks the payload against the network it declares  # noqa: B018


def _classical_encode(codec) -> Callable[..., tuple[bytes, dict]]:
    def encode(array, kind, target: Target, *, max_bytes, deadline, options) -> tuple[bytes, dict]:
        return codec.encode(array, kind, target, max_bytes=max_bytes, deadline=deadline)

    return encode


def _classical_decode(codec) -> Callable[..., np.ndarray]:
    def decode(compressed: Compressed, **_) -> np.ndarray:
        values = codec.decode_stream(compressed.payload, compressed.shape)
        return errorbounded.from_float(values, compressed.kind, compressed.value_range)

    return decode


def _lzma_encode(array, kind, target: Target, *, max_bytes, deadline, options) -> tuple[bytes, dict]:
    payload = lossless.lzma_encode(array, kind)
    if max_bytes is not None and len(payload) > max_bytes:
        reached = raw_nbytes(array.shape, kind) / (len(payload) + OVERHEAD_NBYTES)
        raise ValueError(
            f"lzma is lossless and reaches only {reached:.2f}:1 on this volume, short of the ratio {target.ratio:g}; "
            "use a lossy method (auto, sz3, zfp or neural) for that ratio"
        )
    return payload, {}


def _lzma_decode(compressed: Compressed, **_) -> np.ndarray:
    dtype = "|b1" if compressed.kind == "binary" else compressed.dtype
    return lossless.lzma_decode(compressed.payload, compressed.shape, compressed.kind, dtype)


def _lzma_check(compressed: Compressed) -> None:
    if compressed.kind == "scan" and np.dtype(compressed.dtype).kind not in "biuf":
        raise ValueError(f"invalid compressed volume: dtype {compressed.dtype}")


METHOD_CODECS: dict[str, Method] = {
    "neural": Method(
        "neural",
        "a coordinate network per tile, fitted to the volume (seconds to minutes), 8-bit entropy-coded weights",
        "fitted as logits with the binary cross-entropy, thresholded at 0",
        ("ratio",),
        False,
        _neural_encode,
        _neural_decode,
        _neural_check,
    ),
    "sz3": Method(
        "sz3",
        "SZ3, error-bounded prediction + quantisation (pysz): every voxel within the error bound",
        "its signed distance in voxels, thresholded at 0 (an error below 1 voxel is exact)",
        TARGETS,
        False,
        _classical_encode(sz3),
        _classical_decode(sz3),
        lambda compressed: sz3.check_stream(compressed.payload),
    ),
    "zfp": Method(
        "zfp",
        "zfp, 4³ block transform (zfpy): fixed rate for a ratio, fixed accuracy for an error bound",
        "its signed distance in voxels, thresholded at 0 (an error below 1 voxel is exact)",
        TARGETS,
        False,
        _classical_encode(zfp),
        _classical_decode(zfp),
        lambda compressed: zfp.check_stream(compressed.payload, compressed.shape),
    ),
    "lzma": Method(
        "lzma",
        "lossless LZMA2: exact, but float scans shrink only about 1.3:1",
        "bit-packed (1 bit per voxel), then LZMA2: exact",
        TARGETS,
        True,
        _lzma_encode,
        _lzma_decode,
        _lzma_check,
    ),
}
container.PAYLOAD_CHECKS.update({name: codec.check_payload for name, codec in METHOD_CODECS.items()})
if tuple(METHOD_CODECS) != METHODS:  # the container's method codes follow the registry's order
    raise RuntimeError(f"porelib.compress: the registry {tuple(METHOD_CODECS)} and the names {METHODS} disagree")


def check_target(ratio, abs_error, psnr, *, kind: str, method: str) -> Target:
    """Validate the target of ``method`` on a volume of ``kind``.

    Exactly one of ``ratio``, ``abs_error`` and ``psnr``; ``auto`` also takes
    ``ratio`` with ``psnr`` (the PSNR to keep at that ratio); ``lzma`` also none.

    Raises
    ------
    TypeError
        If a value is not a number.
    ValueError
        If none or several are given, one is out of range, or the method or kind does not take it.
    """
    given = {
        name: value for name, value in (("ratio", ratio), ("abs_error", abs_error), ("psnr", psnr)) if value is not None
    }
    if ratio is not None:
        ratio = neural.check_ratio(ratio)
    if abs_error is not None:
        abs_error = check_number(abs_error, "abs_error", minimum=0.0)
        if abs_error == 0:
            raise ValueError("abs_error must be positive; for an exact code use method 'lzma'")
    if psnr is not None:
        psnr = check_number(psnr, "psnr", minimum=1.0, maximum=300.0)
        if kind == "binary":
            raise ValueError(
                "psnr applies to scans; a grid is judged by IoU: give a ratio, or abs_error (voxels the pore "
                "surface may move; below 1 is exact)"
            )
    allowed_pair = method == "auto" and set(given) == {"ratio", "psnr"}
    if len(given) > 1 and not allowed_pair:
        raise ValueError(
            f"give one target, ratio, abs_error or psnr; got {', '.join(given)}"
            + (" (only method 'auto' takes ratio and psnr together)" if set(given) == {"ratio", "psnr"} else "")
        )
    if not given and method != "lzma":
        raise ValueError(f"method '{method}' needs a target: ratio (e.g. 100), abs_error or psnr (dB)")
    if method in METHOD_CODECS:
        accepted = METHOD_CODECS[method].targets
        for name in given:
            if name not in accepted:
                raise ValueError(
                    f"method '{method}' takes only {' or '.join(accepted)}: it has no error bound to aim at. "
                    f"For {name} use sz3 or zfp, or method 'auto'"
                )
    return Target(ratio, abs_error, psnr)


def payload_budget(shape, kind: str, target: Target) -> float | None:
    """Bytes the payload may take for ``target.ratio`` (the container's own bytes deducted), or ``None``."""
    if target.ratio is None:
        return None
    return raw_nbytes(shape, kind) / target.ratio - OVERHEAD_NBYTES


def encode_with(method: str, array: np.ndarray, kind: str, target: Target, *, deadline: float | None = None,
                options: dict | None = None) -> Compressed:
    """Compress a checked volume (:func:`porelib.compress.volume.check_volume`) with one method.

    ``options`` are the neural field's (steps, bits, batch_size, lr, seed, device,
    threads, progress); ``deadline`` a :func:`time.perf_counter` time the encoding
    should end by (the neural fit is shortened to it; searches stop at it).
    The result's ``info`` holds ``target``, ``target_ratio``, ``encode_s`` (wall-clock) and
    ``encode_cpu_s`` (CPU time of this process: on a busy machine, closer to what
    an idle one would take) besides the method's own.

    Raises
    ------
    ValueError
        If the method cannot reach the target on this volume.
    """
    codec = METHOD_CODECS[check_choice(method, tuple(METHOD_CODECS), "method")]
    max_bytes = payload_budget(array.shape, kind, target)
    if max_bytes is not None and max_bytes < 1:
        raise ValueError(
            f"ratio {target.ratio:g} is too high for a volume of shape {array.shape}: the container alone takes "
            f"{OVERHEAD_NBYTES} bytes of its {raw_nbytes(array.shape, kind)} raw bytes"
        )
    start, cpu_start = time.perf_counter(), time.process_time()
    payload, info = codec.encode(array, kind, target, max_bytes=max_bytes, deadline=deadline, options=options or {})
    encode_s, encode_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    value_range = (0.0, 1.0) if kind == "binary" else (float(array.min()), float(array.max()))
    info = {"target": target.describe(), "target_ratio": target.ratio, **info, "encode_s": encode_s,
            "encode_cpu_s": encode_cpu_s}
    return Compressed(method, tuple(int(n) for n in array.shape), kind, array.dtype.str, value_range, payload, info=info)


def decode_with(compressed: Compressed, *, device="auto", batch_size: int = neural.DECODE_BATCH_SIZE,
                threads: int = neural.DEFAULT_THREADS) -> np.ndarray:
    """The volume of a :class:`Compressed`, in its original dtype (a scan clipped to its stored range)."""
    codec = METHOD_CODECS[compressed.method]
    values = codec.decode(compressed, device=device, batch_size=batch_size, threads=threads)
    if compressed.kind == "binary":
        return np.asarray(values, dtype=bool).astype(compressed.dtype)
    if np.asarray(values).dtype == np.dtype(compressed.dtype) and codec.lossless:
        return values
    lo, hi = compressed.value_range
    return restore_dtype(np.clip(values, lo, hi), compressed.dtype)

