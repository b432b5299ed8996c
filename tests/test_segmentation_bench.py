"""The segmentation benchmark's per-condition summary: best classical method, the U-Net's paired margin, verdicts."""

from __future__ import annotations

import numpy as np

from porelib.bench import segmentation as bench


def test_summary_picks_the_best_classical_method_and_a_paired_interval():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.90, 0.95, 8)
    scores = {
        ("held-out", "dark", "low"): {"unet": list(base + 0.02), "nlm": list(base), "otsu": list(base - 0.1)},
        ("spheres", "bright", "high"): {"unet": list(base - 0.03), "nlm": list(base), "otsu": list(base - 0.1)},
    }
    rows, intervals = bench._summaries(scores)
    ahead, behind = rows
    assert ahead["best_classical"] == "nlm" and abs(ahead["unet_minus_best"] - 0.02) < 1e-12
    assert bench._verdict(ahead) == "U-Net ahead by ≥ 0.01"
    assert bench._verdict(behind) == "classical ahead"
    assert len(intervals) == 6 and all(i["low"] <= i["dice"] <= i["high"] for i in intervals)
    row = bench._verdict_row(ahead)
    assert row["best classical"].startswith("nlm ") and row["U-Net − best"].startswith("+0.020")


def test_every_method_of_the_library_is_benchmarked():
    from porelib import segmentation

    assert set(bench.CLASSICAL) | {"auto", "unet"} == set(segmentation.METHODS)
