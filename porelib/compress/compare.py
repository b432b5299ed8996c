"""Every method on one volume: rows of size, quality and time, the figures of the Compress page, rate-distortion.

A row (one method at one target on one volume) is a dict with the keys of
:data:`ROW_KEYS`: ``bytes`` is the whole file (the ``.pnc`` container for the
``.pnc`` methods, the code with its 33-byte header for the DCT), ``ratio`` =
raw size / bytes (:mod:`porelib.compress.volume`), quality as
:func:`porelib.compress.scores.quality`, times in wall-clock seconds, and
``setting`` what the method chose (error bound, rate or network). A method that
cannot reach a target has a row with ``bytes`` ``None`` and the reason in ``note``.

:func:`simulated_scan` gives the benchmark's CT scan and its twin without photon
noise, so that a code can be scored against the truth as well as its input.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from porelib._validate import check_choice, check_same_shape
from porelib.compress import dct
from porelib.compress.container import Compressed, from_bytes, highest_ratio
from porelib.compress.errorbounded import Target
from porelib.compress.methods import METHOD_CODECS, decode_with, encode_with
from porelib.compress.scores import psnr, quality
from porelib.compress.volume import KINDS, check_volume, raw_nbytes

#: The DCT baseline's name in rows; it is measured beside the ``.pnc`` methods.
DCT = "dct"
#: Every method measured, in the order of tables and plots.
ALL_METHODS = (*METHOD_CODECS, DCT)
#: Methods fast enough to run beside any code (seconds on 128³).
FAST_METHODS = ("sz3", "zfp", "lzma", DCT)
#: Photons per detector pixel for the scan without photon noise.
NOISE_FREE_DOSE = 1e12
ROW_KEYS = (
    "volume", "method", "target", "bytes", "ratio", "ratio_vs_dtype", "psnr", "ssim", "iou", "dice",
    "psnr_vs_noise_free", "encode_s", "encode_cpu_s", "decode_s", "setting", "note",
)


def simulated_scan(size: int, *, seed, dose="default") -> tuple[np.ndarray, np.ndarray]:
    """A simulated CT scan of glass spheres in a polymer, and its twin without photon noise.

    The scan is ``porelib.ct.simulate(size, dose=dose, seed=seed).image``; the
    twin scans the same phantom with the same detector gains (ring artefacts)
    and cupping at :data:`NOISE_FREE_DOSE` photons, so the two differ by the
    photon noise only.

    Returns
    -------
    image, noise_free : ndarray of float32, (S, S, S)
    """
    from porelib import ct

    rng = np.random.default_rng(seed)
    label = ct.sphere_phantom(size, seed=rng)
    twin = copy.deepcopy(rng)  # the scan's first draws are the detector gains
    image = ct.simulate_scan(label, dose=dose, seed=rng).image
    return image, ct.simulate_scan(label, dose=NOISE_FREE_DOSE, seed=twin).image


# ----------------------------------------------------------------------------- rows


def _row(volume: np.ndarray, kind: str, *, name: str, method: str, target, nbytes, decoded, encode_s, decode_s,
         encode_cpu_s=None, setting=None, note="", noise_free=None, with_ssim=False) -> dict:
    row = dict.fromkeys(ROW_KEYS)
    row.update(volume=name, method=method, target=target, setting=setting, note=note)
    if nbytes is None:
        return row
    scores = quality(volume, decoded, kind=kind, with_ssim=with_ssim)
    exact = np.isinf(scores.get("psnr", 0.0))
    row.update(
        bytes=int(nbytes),
        ratio=raw_nbytes(volume.shape, kind) / nbytes,
        ratio_vs_dtype=volume.nbytes / nbytes,
        psnr=None if exact else scores.get("psnr"),
        ssim=scores.get("ssim"),
        iou=scores.get("iou"),
        dice=scores.get("dice"),
        psnr_vs_noise_free=psnr(noise_free, decoded) if noise_free is not None else None,
        encode_s=encode_s,
        encode_cpu_s=encode_cpu_s,
        decode_s=decode_s,
    )
    return row


def compressed_row(volume, compressed: Compressed, *, name: str = "volume", encode_s: float | None = None,
                   noise_free=None, with_ssim: bool = False, decode_options: dict | None = None) -> tuple[dict, np.ndarray]:
    """The row of a code of ``volume`` (decoded and timed here), and the decoded volume.

    ``encode_s`` defaults to the code's ``info["encode_s"]``.
    """
    volume = np.asarray(volume)
    start = time.perf_counter()
    decoded = decode_with(compressed, **(decode_options or {}))
    decode_s = time.perf_counter() - start
    info = compressed.info
    row = _row(
        volume, compressed.kind, name=name, method=compressed.method, target=info.get("target_ratio"),
        nbytes=compressed.nbytes, decoded=decoded, encode_s=info.get("encode_s") if encode_s is None else encode_s,
        encode_cpu_s=info.get("encode_cpu_s"), decode_s=decode_s, setting=_setting(info), noise_free=noise_free,
        with_ssim=with_ssim,
    )
    return row, decoded


def method_row(method: str, volume, *, kind: str, ratio: float | None, name: str = "volume", noise_free=None,
               with_ssim: bool = False, options: dict | None = None) -> tuple[dict, np.ndarray | None]:
    """Compress ``volume`` with ``method`` (a ``.pnc`` method or ``"dct"``) at ``ratio`` (``None``: lzma only).

    Returns the row and the decoded volume (``None`` if the method cannot reach the ratio:
    the row's ``note`` says why).
    """
    volume = np.asarray(volume)
    check_choice(method, ALL_METHODS, "method")
    if method == DCT:
        return _dct_row(volume, kind, ratio, name=name, noise_free=noise_free, with_ssim=with_ssim)
    try:
        compressed = encode_with(method, volume, kind, Target(ratio=ratio), options=options)
    except ValueError as exc:
        return _row(volume, kind, name=name, method=method, target=ratio, nbytes=None, decoded=None,
                    encode_s=None, decode_s=None, note=str(exc)), None
    return compressed_row(volume, compressed, name=name, noise_free=noise_free, with_ssim=with_ssim,
                          decode_options={k: options[k] for k in ("device", "threads") if k in (options or {})})


def _dct_row(volume, kind, ratio, *, name, noise_free, with_ssim) -> tuple[dict, np.ndarray | None]:
    max_bytes = raw_nbytes(volume.shape, kind) / ratio
    start, cpu_start = time.perf_counter(), time.process_time()
    code = dct.dct_encode(volume, kind, max_bytes=max_bytes)
    encode_s = time.perf_counter() - start  # the bisection included: the cost of hitting a ratio
    encode_cpu_s = time.process_time() - cpu_start
    start = time.perf_counter()
    decoded = dct.dct_decode(code.data, volume.shape, kind, volume.dtype)
    decode_s = time.perf_counter() - start
    if code.nbytes > max_bytes:
        note = f"ratio {ratio:g} is too high for the DCT on this volume: even the block means alone take {code.nbytes} bytes"
        return _row(volume, kind, name=name, method=DCT, target=ratio, nbytes=None, decoded=None, encode_s=None,
                    decode_s=None, note=note), None
    note = ""
    row = _row(volume, kind, name=name, method=DCT, target=ratio, nbytes=code.nbytes, decoded=decoded,
               encode_s=encode_s, encode_cpu_s=encode_cpu_s, decode_s=decode_s, setting=f"step {code.step:.3g}", note=note,
               noise_free=noise_free, with_ssim=with_ssim)
    return row, decoded


def lossless_row(volume, *, kind: str, name: str = "volume", noise_free=None) -> dict:
    """The row of lossless lzma (exact: its ``psnr`` is ``None`` and its ``iou`` 1)."""
    row, decoded = method_row("lzma", volume, kind=kind, ratio=None, name=name, noise_free=noise_free)
    if not np.array_equal(decoded, volume):
        raise RuntimeError("lzma round trip is not exact")  # a bug here, not a user error
    return row


def baseline_rows(volume, *, kind: str, target: float, name: str = "volume",
                  methods: Sequence[str] = FAST_METHODS, noise_free=None, with_ssim: bool = False) -> list[dict]:
    """The rows of ``methods`` (default the fast ones: SZ3, zfp, lossless lzma, DCT) at raw size / ``target``.

    lzma is lossless and ignores the target. ``kind`` is ``"scan"`` or ``"binary"``
    (:func:`porelib.compress.volume_kind`). With a ``noise_free`` twin of a scan
    (:func:`simulated_scan`), the rows have ``psnr_vs_noise_free``.
    """
    volume = np.asarray(volume)
    check_choice(kind, KINDS, "kind")
    noise_free = None if noise_free is None else np.asarray(noise_free)
    rows = []
    for method in methods:
        if method == "lzma":
            rows.append(lossless_row(volume, kind=kind, name=name, noise_free=noise_free))
        else:
            rows.append(method_row(method, volume, kind=kind, ratio=target, name=name, noise_free=noise_free,
                                   with_ssim=with_ssim)[0])
    return rows


# ----------------------------------------------------------------------------- one volume, for the app


@dataclass(frozen=True)
class Comparison:
    """A code of one volume beside the other methods at the same target ratio.

    Attributes
    ----------
    kind : {"scan", "binary"}
        What the volume is; scans are scored by PSNR, grids by IoU and Dice.
    method : str
        The method of the code compared.
    target : float or None
        The ratio the baselines were given (the code's own ratio if it had none).
    raw_bytes : int
        The raw size the ratios divide (see :mod:`porelib.compress.volume`).
    decoded : ndarray, (X, Y, Z)
        The code's reconstruction, in the volume's dtype.
    rows : list of dict
        The code's row first, then the baselines' (:data:`ROW_KEYS`).
    reason : str
        Why ``auto`` chose the method (empty for a method chosen by hand).
    """

    kind: str
    method: str
    target: float | None
    raw_bytes: int
    decoded: np.ndarray
    rows: list[dict]
    reason: str = ""

    def row(self, method: str) -> dict | None:
        """The first row of ``method``, or ``None``."""
        return next((row for row in self.rows if row["method"] == method), None)

    def table(self) -> pd.DataFrame:
        """The rows as a table, with the columns that apply to this kind of volume."""
        score = ["psnr", "ssim"] if self.kind == "scan" else ["iou", "dice"]
        if self.rows[0]["psnr_vs_noise_free"] is not None:
            score.append("psnr_vs_noise_free")
        columns = ["method", "bytes", "ratio", *score, "encode_s", "decode_s", "setting", "note"]
        return pd.DataFrame(self.rows)[columns].fillna({"setting": "–", "note": ""})


def compare_methods(volume, compressed, *, target: float | None = None, name: str = "volume",
                    baselines: list[dict] | None = None, methods: Sequence[str] = FAST_METHODS,
                    noise_free=None, with_ssim: bool = True) -> Comparison:
    """Decode a code of ``volume`` and set it beside the other methods at ``target``.

    Parameters
    ----------
    volume : array_like, (X, Y, Z)
        The original that was compressed.
    compressed : Compressed or bytes
        Its code (a ``.pnc`` file's bytes are parsed); ``info["encode_s"]`` is its encoding time.
    target : float, optional
        The ratio the baselines get (raw size / ``target``); default the code's own ratio.
    name : str
        The volume's name in the rows.
    baselines : list of dict, optional
        :func:`baseline_rows` of this volume and target, if already computed.
    methods : sequence of str
        The baselines to run if ``baselines`` is not given; the code's own method is left out.
    noise_free : array_like, (X, Y, Z), optional
        The scan without photon noise (:func:`simulated_scan`): adds ``psnr_vs_noise_free``.
    with_ssim : bool
        Score scans by SSIM too (about 1 s per row on 128³).

    Raises
    ------
    ValueError
        If ``compressed`` is not a valid code, or its shape differs from the volume's.
    """
    if not isinstance(compressed, Compressed):
        compressed = from_bytes(compressed)
    volume = np.asarray(volume)
    if volume.shape != compressed.shape:
        raise ValueError(f"volume has shape {volume.shape} but the compressed volume {compressed.shape}")
    if noise_free is not None:
        noise_free = np.asarray(noise_free)
        check_same_shape(volume, noise_free, ("volume", "noise_free"))
    main, decoded = compressed_row(volume, compressed, name=name, noise_free=noise_free, with_ssim=with_ssim)
    target = float(target) if target is not None else compressed.info.get("target_ratio") or main["ratio"]
    if baselines is None:
        others = [m for m in methods if m != compressed.method]
        baselines = baseline_rows(volume, kind=compressed.kind, target=target, name=name, methods=others,
                                  noise_free=noise_free, with_ssim=with_ssim)
    return Comparison(compressed.kind, compressed.method, target, compressed.raw_nbytes, decoded, [main, *baselines],
                      compressed.info.get("reason", ""))


# ----------------------------------------------------------------------------- rate-distortion

#: Ratios of a rate-distortion curve unless asked otherwise (:func:`curve_ratios`).
RD_RATIOS = (2, 3, 4, 6, 10, 25, 50, 100, 200, 500)
#: Scans start here: float scans have room for far higher ratios than grids (1 bit per voxel raw).
RD_SCAN_FROM = 10


def curve_ratios(shape, kind: str) -> tuple[float, ...]:
    """The ratios of :data:`RD_RATIOS` worth plotting for a volume: from :data:`RD_SCAN_FROM` for a scan, and
    no higher than any container allows (:func:`porelib.compress.container.highest_ratio`)."""
    highest = highest_ratio(shape, kind)
    return tuple(r for r in RD_RATIOS if r <= highest and (kind == "binary" or r >= RD_SCAN_FROM))


def rate_distortion(volume, *, kind: str = "auto", ratios: Sequence[float] | None = None,
                    methods: Sequence[str] = FAST_METHODS, name: str = "volume", options: dict | None = None,
                    progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Every method in ``methods`` at every ratio of ``ratios`` on one volume: the rows of a rate-distortion plot.

    ``ratios`` default to :func:`curve_ratios`. lzma (lossless) gives one row at its own ratio. A method that cannot reach a
    ratio gives a row without ``bytes`` (its ``note`` says why). ``options`` are the
    neural field's; ``progress(done, total)`` is called after each row.

    Raises
    ------
    ValueError
        If the volume is not a valid volume (:func:`porelib.compress.volume.check_volume`)
        or a method is unknown.
    """
    volume, kind = check_volume(volume, kind)
    ratios = curve_ratios(volume.shape, kind) if ratios is None else ratios
    for method in methods:
        check_choice(method, ALL_METHODS, "methods")
    jobs = [(method, None) for method in methods if method == "lzma"]
    jobs += [(method, ratio) for ratio in ratios for method in methods if method != "lzma"]
    rows = []
    for done, (method, ratio) in enumerate(jobs, start=1):
        if method == "lzma":
            rows.append(lossless_row(volume, kind=kind, name=name))
        else:
            rows.append(method_row(method, volume, kind=kind, ratio=ratio, name=name, options=options)[0])
        if progress is not None:
            progress(done, len(jobs))
    return rows


def best_by_ratio(rows: list[dict], *, score: str) -> dict[float, dict]:
    """The row with the highest ``score`` at each target ratio (lossless rows left out)."""
    best: dict[float, dict] = {}
    for row in rows:
        if row["target"] is None or row["bytes"] is None or row[score] is None:
            continue
        if row["target"] not in best or row[score] > best[row["target"]][score]:
            best[row["target"]] = row
    return dict(sorted(best.items()))


def pareto_front(rows: list[dict], *, score: str, cost: str = "encode_cpu_s") -> list[dict]:
    """The rows no other row of the same target ratio beats in both ``score`` (higher) and ``cost`` (lower).

    Lossless rows and rows without a code are left out.
    """
    ranked = [row for row in rows if row["target"] is not None and row["bytes"] is not None
              and row[score] is not None and row[cost] is not None]
    front = []
    for row in ranked:
        rivals = [other for other in ranked if other is not row and other["target"] == row["target"]]
        if not any(other[score] >= row[score] and other[cost] <= row[cost]
                   and (other[score] > row[score] or other[cost] < row[cost]) for other in rivals):
            front.append(row)
    return front


# ----------------------------------------------------------------------------- helpers


def _setting(info: dict) -> str | None:
    if "network" in info:
        return f"{info['network']}, {info['steps']} steps"
    if "rate" in info:
        return f"rate {info['rate']:.4g} bits/value"
    if "abs_error" in info:
        return f"max error {info['abs_error']:.4g}"
    return None


__all__ = [
    "ALL_METHODS",
    "DCT",
    "FAST_METHODS",
    "ROW_KEYS",
    "Comparison",
    "baseline_rows",
    "best_by_ratio",
    "compare_methods",
    "compressed_row",
    "curve_ratios",
    "lossless_row",
    "method_row",
    "pareto_front",
    "rate_distortion",
    "simulated_scan",
]
