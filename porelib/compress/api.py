""":func:`compress` and :func:`decompress`: one volume in, one ``.pnc`` out, whichever method."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from porelib._validate import (
    check_choice,
    check_number,
    check_positive_int,
    check_progress,
)
from porelib.compress import auto, neural
from porelib.compress.container import Compressed, from_bytes
from porelib.compress.methods import check_target, decode_with, encode_with
from porelib.compress.names import CHOICES
from porelib.compress.volume import check_volume
from porelib.devices import DEVICES


def compress(
    volume,
    *,
    method: str = "auto",
    ratio: float | None = None,
    abs_error: float | None = None,
    psnr: float | None = None,
    kind: str = "auto",
    max_seconds: float | None = None,
    steps: int = neural.DEFAULT_STEPS,
    bits: int = neural.DEFAULT_BITS,
    batch_size: int = neural.DEFAULT_BATCH_SIZE,
    lr: float | None = None,
    seed=None,
    device="auto",
    threads: int = neural.DEFAULT_THREADS,
    progress: Callable[[int, int], None] | None = None,
) -> Compressed:
    """Compress a scan or a grid with ``method`` to a target ratio or error.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
        ``volume[ix, iy, iz]``: a scan (finite numbers) or a grid (``True`` = pore).
        Each side at least 2 voxels, at most :data:`~porelib.compress.volume.MAX_VOXELS` voxels.
    method : {"auto", "neural", "sz3", "zfp", "lzma"}
        ``auto`` chooses per volume and target and says why in ``info["reason"]``
        (:mod:`porelib.compress.auto`); the others are in :data:`porelib.compress.METHOD_CODECS`.
    ratio : float, optional
        Target compression ratio > 1, raw size / file size (raw: 4 bytes per voxel
        for a scan, 1 bit for a grid); the file's :attr:`Compressed.ratio` is at least this.
    abs_error : float, optional
        Largest error of any voxel, in the scan's units (sz3, zfp, auto); for a
        grid, voxels its pore surface may move (below 1: exact).
    psnr : float, optional
        Least PSNR in dB on the scan's range (sz3, zfp, auto; with ``ratio``, auto only).
    kind : {"auto", "scan", "binary"}
        ``"auto"``: bool arrays, and integer arrays holding only 0 and 1, are
        binary grids; anything else is a scan.
    max_seconds : float, optional
        Wall-clock limit: ``auto`` stops by it (default
        :data:`porelib.compress.auto.DEFAULT_MAX_SECONDS`), and a neural fit is
        shortened to it.
    steps, bits, batch_size, lr, seed, device, threads, progress
        The neural field's fit (:func:`porelib.compress.neural.encode`): steps,
        bits per weight (2 … 16), voxels per step, peak learning rate (default per
        kind), seed (same seed, same file on the same machine and thread count),
        ``"auto"``/``"cpu"``/``"cuda"``, CPU threads (1 or 2), and
        ``progress(done, total)`` after each step.

    Returns
    -------
    Compressed
        Its ``data`` are the ``.pnc`` file's bytes; :func:`decompress` rebuilds the volume.

    Raises
    ------
    TypeError
        If the volume does not hold numbers, or an option has the wrong type.
    ValueError
        If the volume is not 3-D, is empty or too small, has NaN/inf, is not 0/1 for
        ``kind="binary"``; if the target is missing, not one the method takes, or out
        of reach for the method on this volume.
    """
    array, kind = check_volume(volume, kind)
    method = check_choice(method, CHOICES, "method")
    target = check_target(ratio, abs_error, psnr, kind=kind, method=method)
    if max_seconds is not None:
        max_seconds = check_number(max_seconds, "max_seconds", minimum=0.0)
        if max_seconds == 0:
            raise ValueError("max_seconds must be positive; leave it out for no limit on a chosen method")
    options = {
        "steps": check_positive_int(steps, "steps"),
        "bits": check_positive_int(bits, "bits", minimum=2, maximum=16),
        "batch_size": check_positive_int(batch_size, "batch_size"),
        "lr": lr,
        "seed": seed,
        "device": check_choice(device, DEVICES, "device") if isinstance(device, str) else device,
        "threads": check_positive_int(threads, "threads", maximum=neural.MAX_THREADS),
        "progress": progress,
    }
    check_progress(progress)
    if method == "auto":
        limit = auto.DEFAULT_MAX_SECONDS if max_seconds is None else max_seconds
        return auto.choose(array, kind, target, max_seconds=limit, options=options).compressed
    if method == "neural" and max_seconds is not None:
        note = auto.neural_time_note(array, kind, target.ratio, max_seconds, options)
        if note:
            raise ValueError(f"the neural field cannot fit in max_seconds={max_seconds:g}: {note}")
    deadline = None if max_seconds is None else time.perf_counter() + max_seconds
    return encode_with(method, array, kind, target, deadline=deadline, options=options)


def decompress(data, *, device="auto", batch_size: int = neural.DECODE_BATCH_SIZE,
               threads: int = neural.DEFAULT_THREADS) -> np.ndarray:
    """Rebuild the volume from a :class:`Compressed` or a ``.pnc`` file's bytes (any method, version 1 or 2).

    A neural code is evaluated on every voxel, ``batch_size`` coordinates at a
    time (on ``device``, with ``threads`` CPU threads), so memory stays bounded by
    the output plus one batch of activations.

    Returns
    -------
    ndarray, shape (X, Y, Z)
        In the original dtype: bool for a grid; for a scan the values clipped to
        the stored range (rounded for integer dtypes).

    Raises
    ------
    TypeError
        If ``data`` is neither bytes nor a :class:`Compressed`.
    ValueError
        If ``data`` is not a valid compressed volume (wrong magic, other
        version, truncated, corrupt, an unknown method, or a payload that is not
        its method's stream).
    """
    compressed = data if isinstance(data, Compressed) else from_bytes(data)
    batch_size = check_positive_int(batch_size, "batch_size")
    threads = check_positive_int(threads, "threads", maximum=neural.MAX_THREADS)
    return decode_with(compressed, device=device, batch_size=batch_size, threads=threads)
