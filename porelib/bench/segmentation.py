"""Every segmentation method on every condition of held-out simulated CT scans whose labels are exact.

``python -m porelib bench segmentation`` calls :func:`run`.

Conditions. A condition is a scan family (:data:`porelib.ct.FAMILIES`: ``spheres``, the
default scanner on sphere phantoms; ``randomised``, the U-Net's training distribution;
``held-out``, irregular grains with streaks and strong bias fields, never trained or
tuned on) × contrast × named dose. Each condition has :data:`SCANS_PER_CONDITION` scans
(:func:`porelib.ct.random_scan`, everything else drawn per scan); scan ``i`` has seed
``BENCHMARK_SEED_START + i`` (1 000 000 upwards), while training uses seeds below 10 000
and the classical methods' parameters were tuned on seeds from 500 000
(``bench segmentation-tuning``), so no benchmark scan was trained or tuned on.

Every method of :data:`porelib.segmentation.METHODS` segments every scan (the U-Net
when a checkpoint exists; ``auto`` is the method :func:`porelib.segmentation.choose_method`
picks). Per condition: each method's mean Dice with a 95 % bootstrap interval over the
scans (:func:`porelib.bootstrap.bootstrap_mean`), the best classical method, and the
U-Net's paired difference to it with its interval.

Speed and memory. Each method segments one 256³ volume (a :func:`porelib.ct.phantom`
with noise and blur of :func:`porelib.ct.apply_image_artefacts`, not a reconstruction:
run time does not depend on how the volume was made) in a fresh process with 2 threads;
the wall time and the process's peak resident memory (``ru_maxrss``, the volume itself
included) are reported.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from porelib import ct, segmentation
from porelib._validate import check_choice
from porelib.bench._report import markdown_table, write_report
from porelib.bootstrap import bootstrap_mean
from porelib.checkpoint import CARD_FILE
from porelib.metrics import dice

#: Edge length of the benchmark scans, and of the quick run's.
SIZE = 48
QUICK_SIZE = 24
#: Scans per condition (quick: 2).
SCANS_PER_CONDITION = 8
#: Edge length of the speed and memory test, and of the quick run's.
SPEED_SIZE = 256
QUICK_SPEED_SIZE = 32
#: Torch and BLAS threads of the speed test.
SPEED_THREADS = 2

#: The U-Net claims a condition when it beats the best classical method by this much.
MARGIN = 0.01

#: Methods of the benchmark in table order: ``auto`` last, as it reuses another's mask.
CLASSICAL = tuple(m for m in segmentation.METHODS if m not in ("auto", "unet"))

NOTES = """\
Held-out simulated scans ({size}³; {n} per condition; seeds {first} upwards; training seeds < 10 000, tuning
seeds 500 000 – 599 999). Families (`porelib.ct.random_settings`): `spheres` = sphere phantoms through the
default scanner; `randomised` = the U-Net's training distribution (spheres, ellipsoids or bicontinuous pores;
random attenuations, partial volume, blur, white or correlated extra noise, rings, cupping, a mild bias field,
gain and offset), new seeds; `held-out` = irregular grains, streaks and a strong bias field, which neither the
U-Net nor the parameter search ever saw. Doses: photons per detector pixel at 128 px (high 20 000, default
3 000, low 1 000). Dice of the inclusion phase against the exact label, mean over the scans with a 95 %
bootstrap interval. `best classical` = the classical method with the highest mean on that condition (chosen on
these scans, which favours the classical side); `unet − best` = the paired difference on the same scans.
`auto` = the method `porelib.segmentation.choose_method` picks per scan from the estimated noise.
Classical methods: `nlm`, `gaussian`, `median` = that filter then Otsu; `watershed` = marker watershed on the
Gaussian-smoothed scan; `otsu` = raw Otsu; `kmeans`; `depthmap` = seed 001's depth map (fails by design).
Parameters from `python -m porelib bench segmentation-tuning` (docs/bench/segmentation_tuning.md)."""


def run(*, out_dir="docs/bench", quick: bool = False, checkpoint=None, methods=None) -> list[dict]:
    """Segment the benchmark scans with every method; write ``segmentation.md`` and ``.json``.

    Parameters
    ----------
    out_dir : str or Path
        Folder of the report.
    quick : bool
        :data:`QUICK_SIZE`³ scans, 2 per condition, speed at :data:`QUICK_SPEED_SIZE`³ (a smoke test).
    checkpoint : str or Path, optional
        U-Net checkpoint folder; by default ``checkpoints/unet`` if it exists (no U-Net otherwise).
    methods : sequence of str, optional
        Only these methods (default: all of :data:`porelib.segmentation.METHODS`), e.g. to
        score a candidate checkpoint without re-running the classical ones.

    Returns
    -------
    list of dict
        One row per condition: family, contrast, dose, then per method
        ``<method>`` (mean Dice), and the best classical method with the U-Net's margin.

    Raises
    ------
    ValueError
        For an unknown method, or an explicit ``checkpoint`` that is not a U-Net checkpoint.
    """
    model = _unet_if_available(checkpoint)
    chosen = list(segmentation.METHODS if methods is None else methods)
    for method in chosen:
        check_choice(method, segmentation.METHODS, "methods")
    if model is None:
        chosen = [m for m in chosen if m != "unet"]
    size = QUICK_SIZE if quick else SIZE
    per_condition = 2 if quick else SCANS_PER_CONDITION
    conditions = list(itertools.product(ct.FAMILIES, ct.CONTRASTS, ct.DOSES))
    scores = {}  # (family, contrast, dose) -> method -> list of Dice
    seed = ct.BENCHMARK_SEED_START
    for condition in conditions:
        family, contrast, dose = condition
        own = scores[condition] = {m: [] for m in chosen}
        for _ in range(per_condition):
            scan = ct.random_scan(family, size, seed, contrast=contrast, dose=dose)
            seed += 1
            masks = {}
            for method in chosen:
                if method == "auto":
                    continue
                masks[method] = (
                    segmentation.unet_probability(scan.image, model) > 0.5
                    if method == "unet"
                    else segmentation.segment(scan.image, method)
                )
                own[method].append(dice(masks[method], scan.label))
            if "auto" in chosen:
                pick, _ = segmentation.choose_method(scan.image, unet_available=model is not None)
                mask = masks[pick] if pick in masks else segmentation.segment(scan.image, pick, checkpoint=checkpoint)
                own["auto"].append(dice(mask, scan.label))
    rows, intervals = _summaries(scores)
    speed = speed_and_memory(chosen, QUICK_SPEED_SIZE if quick else SPEED_SIZE, checkpoint)
    notes = NOTES.format(size=size, n=per_condition, first=ct.BENCHMARK_SEED_START)
    notes += "\n\n## The U-Net against the best classical method, per condition\n\n" + markdown_table(
        [_verdict_row(row) for row in rows]
    )
    notes += (
        f"\n## Speed and memory of one {speed[0]['size']}³ volume ({SPEED_THREADS} threads, a fresh process per "
        "method; peak resident memory includes the volume and the Python runtime; `load_average` = the machine's "
        "1-minute load average after the run, on 2 shared cores)\n\n" + markdown_table(speed)
    )
    notes += "\n## Mean Dice of every method on every condition (intervals in the JSON)\n"
    write_report(
        "segmentation",
        rows,
        out_dir,
        notes=notes,
        extra={
            "size": size,
            "scans_per_condition": per_condition,
            "seeds": [ct.BENCHMARK_SEED_START, seed - 1],
            "intervals": intervals,
            "speed": speed,
            "classical_parameters": segmentation.CLASSICAL_PARAMETERS,
        },
    )
    return rows


def _summaries(scores: dict) -> tuple[list[dict], list[dict]]:
    """Per condition: the mean Dice row of the tables and the intervals of the JSON."""
    rows, intervals = [], []
    for (family, contrast, dose), own in scores.items():
        key = {"family": family, "contrast": contrast, "dose": dose}
        row = dict(key)
        for method, values in own.items():
            mean, low, high = bootstrap_mean(values)
            row[method] = mean
            intervals.append({**key, "method": method, "dice": mean, "low": low, "high": high, "scans": len(values)})
        classical = {m: row[m] for m in own if m in CLASSICAL}
        if classical:
            best = max(classical, key=classical.get)
            row["best_classical"] = best
            if "unet" in own:
                difference = np.asarray(own["unet"]) - np.asarray(own[best])
                row["unet_minus_best"], row["diff_low"], row["diff_high"] = bootstrap_mean(difference)
                best_interval = bootstrap_mean(own[best])
                row["best_low"], row["best_high"] = best_interval[1:]
                unet_interval = bootstrap_mean(own["unet"])
                row["unet_low"], row["unet_high"] = unet_interval[1:]
        rows.append(row)
    return rows, intervals


def _verdict_row(row: dict) -> dict:
    """The short per-condition comparison of the report: best classical, U-Net, difference, verdict."""
    out = {"family": row["family"], "contrast": row["contrast"], "dose": row["dose"]}
    if "best_classical" not in row:
        return out
    best = row["best_classical"]
    out["best classical"] = f"{best} {row[best]:.3f} [{row['best_low']:.3f}, {row['best_high']:.3f}]" if "best_low" in row else f"{best} {row[best]:.3f}"
    if "unet" in row:
        out["U-Net"] = f"{row['unet']:.3f} [{row['unet_low']:.3f}, {row['unet_high']:.3f}]"
        out["U-Net − best"] = f"{row['unet_minus_best']:+.3f} [{row['diff_low']:+.3f}, {row['diff_high']:+.3f}]"
        out["verdict"] = _verdict(row)
    return out


def _verdict(row: dict) -> str:
    """Whether the U-Net meets the target on a condition (see :data:`MARGIN`)."""
    if row["diff_low"] > 0 and row["unet_minus_best"] >= MARGIN:
        return f"U-Net ahead by ≥ {MARGIN}"
    if row["diff_low"] > 0:
        return f"U-Net ahead, by < {MARGIN}"
    if row["diff_high"] < 0:
        return "classical ahead"
    return "tie (interval spans 0)"


def speed_and_memory(methods, size: int, checkpoint=None) -> list[dict]:
    """Wall time and peak memory of each method on one ``size``³ volume, each in a fresh interpreter.

    A fresh ``python -c`` per method (:func:`timed_segmentation` there), so that each peak
    resident memory is that method's alone.
    """
    rows = []
    for method in methods:
        if method == "auto":
            continue
        code = (
            "import json; from porelib.bench.segmentation import timed_segmentation; "
            f"print(json.dumps(timed_segmentation({method!r}, {int(size)}, {None if checkpoint is None else str(checkpoint)!r})))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the speed test of {method} failed:\n{done.stderr[-2000:]}")
        seconds, peak_mib = json.loads(done.stdout.strip().splitlines()[-1])
        load = os.getloadavg()[0]
        rows.append({"method": method, "size": size, "seconds": seconds, "peak_mib": peak_mib, "load_average": load})
    return rows


def timed_segmentation(method: str, size: int, checkpoint=None) -> tuple[float, float]:
    """Build the speed test's volume, segment it with ``method``; return (seconds, peak RSS of this process in MiB)."""
    import torch

    torch.set_num_threads(SPEED_THREADS)
    rng = np.random.default_rng(ct.BENCHMARK_SEED_START)
    label = ct.phantom(size, volume_fraction=0.2, radius_range=(3, 10), seed=rng)
    image = ct.apply_image_artefacts(label.astype(np.float32), blur=0.8, noise=0.25, seed=rng)
    started = time.perf_counter()
    segmentation.segment(image, method, checkpoint=checkpoint)
    seconds = time.perf_counter() - started
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _unet_if_available(checkpoint):
    """The U-Net of ``checkpoint``; with ``None``, that of the default folder if it has a card, else None."""
    if checkpoint is None and not (segmentation.DEFAULT_CHECKPOINT / CARD_FILE).is_file():
        return None
    return segmentation.load_unet(checkpoint)
