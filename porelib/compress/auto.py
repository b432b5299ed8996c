"""``method="auto"``: choose the method per volume and target, within the time the user allows, and say why.

The rules, from ``docs/bench/compression.md`` (noise-free 128³ CT scan: SZ3 wins
below about 50:1, the neural field above; grids: lossless lzma is exact and often
smaller than any lossy code, the neural field is the best lossy code):

1. **Lossless first.** A grid is bit-packed and LZMA2-coded (milliseconds). If
   that meets the ratio, it is chosen: exact, and no larger than asked. Float
   scans are tried losslessly only up to a ratio of :data:`LOSSLESS_SCAN_MAX_RATIO`
   (their low bits are noise: 1.3-1.4:1 on the benchmark scans).
2. **SZ3 and zfp** (about a second on 128³) are coded at the target and decoded,
   and scored (PSNR, or IoU for grids).
3. **A PSNR to keep at a ratio** (``ratio`` with ``psnr``): if SZ3 or zfp keeps it,
   the better of them is chosen and the slower neural field is not tried; if neither
   does, the neural field is fitted, if the time allows.
4. **A ratio alone**: the neural field is fitted when the ratio is at least
   :data:`NEURAL_FROM_RATIO` of the kind (below it, it lost to SZ3 on every
   benchmark scan) and the time allows; the code with the best score is chosen.
5. **An error bound or a PSNR alone**: only the error-bounded codes (and lossless)
   can promise it; the smallest file is chosen. The neural field is sized by a
   ratio and has no error bound.

Time: everything stops by ``max_seconds`` (default :data:`DEFAULT_MAX_SECONDS`).
Before fitting, a few steps are timed (:func:`porelib.compress.neural.seconds_per_step`);
the fit is skipped if even :data:`~porelib.compress.neural.MIN_STEPS` steps and
the decoding would not fit in the time left, and otherwise shortened to it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from porelib.compress import neural
from porelib.compress.container import Compressed
from porelib.compress.errorbounded import Target
from porelib.compress.methods import decode_with, encode_with
from porelib.compress.names import DEFAULT_MAX_SECONDS
from porelib.compress.scores import quality

#: Ratio from which the neural field is tried for a ratio target alone, per kind.
#: Scans: on the benchmark scans SZ3 beat it below 50:1 (docs/bench/compression.md).
#: Grids: SZ3 and zfp code a grid poorly, so the neural field is always worth a try.
NEURAL_FROM_RATIO = {"scan": 50.0, "binary": 1.0}
#: Largest ratio at which a float scan is tried losslessly.
LOSSLESS_SCAN_MAX_RATIO = 2.0
#: Seconds kept back for quantising and scoring the neural code after its fit.
NEURAL_MARGIN_S = 0.5


@dataclass(frozen=True)
class Candidate:
    """One method ``auto`` tried or skipped.

    Attributes
    ----------
    method : str
        The method.
    compressed : Compressed or None
        Its code, ``None`` if skipped or failed.
    scores : dict
        ``{"psnr": dB}`` for a scan, ``{"iou": ..., "dice": ...}`` for a grid (empty if skipped).
    seconds : float
        Encoding and decoding time.
    note : str
        Why it was skipped or failed (empty if it ran).
    """

    method: str
    compressed: Compressed | None = None
    scores: dict = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""

    @property
    def score(self) -> float:
        """PSNR (scans) or IoU (grids); ``-inf`` if skipped."""
        if not self.scores:
            return -math.inf
        return self.scores.get("psnr", self.scores.get("iou"))

    def describe(self) -> str:
        """``"sz3 30.91 dB, 100.0:1, 0.8 s"`` or ``"neural skipped: ..."``."""
        if self.compressed is None:
            return f"{self.method} skipped: {self.note}"
        return f"{self.method} {_format_score(self.scores)}, {self.compressed.ratio:.1f}:1, {self.seconds:.1f} s"


@dataclass(frozen=True)
class AutoChoice:
    """What ``auto`` chose and why.

    Attributes
    ----------
    compressed : Compressed
        The chosen code (its ``info["reason"]`` is :attr:`reason`).
    reason : str
        One sentence: why this method (``"auto chose sz3: " + reason`` reads well), with the numbers
        beside the others'.
    candidates : tuple of Candidate
        Every method tried or skipped, in the order tried.
    """

    compressed: Compressed
    reason: str
    candidates: tuple[Candidate, ...]

    @property
    def method(self) -> str:
        """The chosen method."""
        return self.compressed.method


def choose(array: np.ndarray, kind: str, target: Target, *, max_seconds: float = DEFAULT_MAX_SECONDS,
           options: dict | None = None) -> AutoChoice:
    """Compress a checked volume with the method that suits it and ``target`` best (see the module notes).

    Parameters
    ----------
    array : ndarray, (X, Y, Z)
        Checked by :func:`porelib.compress.volume.check_volume`.
    kind : {"scan", "binary"}
    target : Target
        Checked by :func:`porelib.compress.methods.check_target`.
    max_seconds : float
        Wall-clock seconds allowed, everything included.
    options : dict, optional
        The neural field's options (steps, bits, batch_size, lr, seed, device, threads, progress).

    Raises
    ------
    ValueError
        If no method produced a code within the time or the target.
    """
    start = time.perf_counter()
    deadline = start + max_seconds
    options = dict(options or {})
    tried: list[Candidate] = []

    def run(method: str) -> Candidate:
        if time.perf_counter() >= deadline:
            candidate = Candidate(method, note=f"the {max_seconds:g} s allowed were used up")
        else:
            candidate = _attempt(method, array, kind, target, deadline, options)
        tried.append(candidate)
        return candidate

    lossless = None
    if kind == "binary" or (target.ratio is not None and target.ratio <= LOSSLESS_SCAN_MAX_RATIO):
        lossless = run("lzma")
        if lossless.compressed is not None and target.ratio is not None:
            reason = (
                f"lossless reaches {lossless.compressed.ratio:.1f}:1 on this {_volume_name(kind)}, at least "
                f"the {target.ratio:g}:1 asked, so the {_volume_name(kind)} is kept exactly"
            )
            return _chosen(lossless, reason, tried)
    classical = [run("sz3"), run("zfp")]
    done = [c for c in classical if c.compressed is not None]

    if target.ratio is None:  # an error bound or a PSNR alone: the smallest file that keeps it
        done += [lossless] if lossless is not None and lossless.compressed is not None else []
        if not done:
            raise ValueError(_nothing(tried, target))
        best = min(done, key=lambda c: c.compressed.nbytes)
        others = "; ".join(c.describe() for c in tried if c is not best)
        reason = (
            f"the smallest file that keeps {target.describe()} ({best.compressed.ratio:.1f}:1; "
            f"{others}); the neural field is sized by a ratio and has no error bound, so it was not tried"
        )
        return _chosen(best, reason, tried)

    if target.psnr is not None:
        keeping = [c for c in done if c.scores["psnr"] >= target.psnr]
        if keeping:
            best = max(keeping, key=lambda c: c.score)
            reason = (
                f"it keeps PSNR >= {target.psnr:g} dB at {target.ratio:g}:1 ({best.describe()}), so the "
                "slower neural field was not needed"
            )
            return _chosen(best, reason, tried)
        neural_candidate = run("neural")
    elif target.ratio >= NEURAL_FROM_RATIO[kind]:
        neural_candidate = run("neural")
    else:
        neural_candidate = Candidate(
            "neural",
            note=f"not tried below {NEURAL_FROM_RATIO[kind]:g}:1 on a scan (SZ3 beat it there on every benchmark scan)",
        )
        tried.append(neural_candidate)

    done = [c for c in (*classical, neural_candidate) if c.compressed is not None]
    if not done:
        raise ValueError(_nothing(tried, target))
    best = max(done, key=lambda c: (c.score, c.compressed.ratio, -c.seconds))  # ties: the smaller file, then faster
    others = "; ".join(c.describe() for c in tried if c is not best and c.method != "lzma")
    if target.psnr is not None:
        verdict = "keeps" if best.scores["psnr"] >= target.psnr else "comes closest to"
        reason = f"it {verdict} PSNR >= {target.psnr:g} dB at {target.ratio:g}:1 ({best.describe()}; {others})"
    else:
        reason = f"the best {_score_name(kind)} at {target.ratio:g}:1 ({best.describe()}; {others})"
    return _chosen(best, reason, tried)


def _attempt(method: str, array, kind: str, target: Target, deadline: float, options: dict) -> Candidate:
    """Encode, decode and score one method; a method that cannot reach the target is skipped with its reason."""
    start = time.perf_counter()
    try:
        if method == "neural":
            note = neural_time_note(array, kind, target.ratio, deadline - time.perf_counter(), options)
            if note:
                return Candidate(method, note=note)
            decode_s = _neural_decode_estimate(array, kind, target.ratio, options)
            compressed = encode_with(method, array, kind, Target(ratio=target.ratio),
                                     deadline=deadline - decode_s - NEURAL_MARGIN_S, options=options)
        else:  # with a ratio, the error-bounded codes aim at the ratio (the PSNR is then checked, not aimed at)
            aim = Target(ratio=target.ratio) if target.ratio is not None else target
            compressed = encode_with(method, array, kind, aim, deadline=deadline, options=options)
    except ValueError as exc:
        return Candidate(method, note=str(exc))
    decoded = decode_with(compressed, **_decode_options(options))
    scores = quality(array, decoded, kind=kind)
    return Candidate(method, compressed, scores, time.perf_counter() - start)


def neural_time_note(array, kind: str, ratio: float, seconds: float, options: dict) -> str:
    """Why the neural field cannot be fitted at ``ratio`` in ``seconds`` here ("" if it can).

    A few steps are timed (:func:`porelib.compress.neural.seconds_per_step`); the fit
    needs :data:`~porelib.compress.neural.MIN_STEPS` of them, the decoding and
    :data:`NEURAL_MARGIN_S`.

    Raises
    ------
    ValueError
        If ``ratio`` is too high for the neural field on this volume.
    """
    config = neural.plan_network(array.shape, kind=kind, ratio=ratio, bits=options.get("bits", neural.DEFAULT_BITS),
                                 batch_size=options.get("batch_size", neural.DEFAULT_BATCH_SIZE))
    per_step = neural.seconds_per_step(config, **_timing_options(options))
    needed = per_step * neural.MIN_STEPS + _neural_decode_estimate(array, kind, ratio, options, per_step=per_step)
    left = seconds - NEURAL_MARGIN_S
    if needed > left:
        return (
            f"its fewest {neural.MIN_STEPS} steps and decoding need about {needed + NEURAL_MARGIN_S:.1f} s here, "
            f"and {max(seconds, 0):.1f} s were left of the time allowed"
        )
    return ""


def _neural_decode_estimate(array, kind, ratio, options, *, per_step: float | None = None) -> float:
    """Seconds to decode: a forward pass costs about a third of a training step, per voxel."""
    if per_step is None:
        config = neural.plan_network(array.shape, kind=kind, ratio=ratio,
                                     bits=options.get("bits", neural.DEFAULT_BITS),
                                     batch_size=options.get("batch_size", neural.DEFAULT_BATCH_SIZE))
        per_step = neural.seconds_per_step(config, **_timing_options(options))
    batch = options.get("batch_size", neural.DEFAULT_BATCH_SIZE)
    return per_step / 3 * array.size / batch


def _timing_options(options: dict) -> dict:
    return {key: options[key] for key in ("batch_size", "device", "threads") if key in options}


def _decode_options(options: dict) -> dict:
    return {key: options[key] for key in ("device", "threads") if key in options}


def _chosen(candidate: Candidate, reason: str, tried: list[Candidate]) -> AutoChoice:
    compressed = candidate.compressed
    compressed.info.update(
        reason=reason,
        candidates=[{"method": c.method, **c.scores, "ratio": c.compressed.ratio if c.compressed else None,
                     "seconds": c.seconds, "note": c.note} for c in tried],
    )
    return AutoChoice(compressed, reason, tuple(tried))


def _nothing(tried: list[Candidate], target: Target) -> str:
    return f"no method reached {target.describe()}: " + "; ".join(c.describe() for c in tried)


def _volume_name(kind: str) -> str:
    return "scan" if kind == "scan" else "grid"


def _score_name(kind: str) -> str:
    return "PSNR" if kind == "scan" else "IoU"


def _format_score(scores: dict) -> str:
    if "psnr" in scores:
        return "exact" if math.isinf(scores["psnr"]) else f"{scores['psnr']:.2f} dB"
    return f"IoU {scores['iou']:.4f}"
