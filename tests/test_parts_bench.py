"""``bench parts`` end to end on a tiny untrained checkpoint: the rows, the report, the figure."""

from __future__ import annotations

import json

import pytest
import torch

from porelib.bench import parts as bench
from porelib.cli import BENCHMARKS
from porelib.models.parts import PartReconstructor, PartReconstructorConfig


@pytest.fixture
def tiny_checkpoints(tmp_path, monkeypatch):
    from porelib import inference
    from porelib.checkpoint import save_checkpoint

    torch.manual_seed(0)
    config = PartReconstructorConfig(size=16, pixels=64, width=4, latent=8, groups=2)
    save_checkpoint(tmp_path / "parts", PartReconstructor(config), card={
        "command": "python -m porelib train parts --tiny", "options": {"data": {"train_parts": 8, "poses": 1}}})
    save_checkpoint(tmp_path / "parts_grey", PartReconstructor(PartReconstructorConfig(
        size=16, pixels=64, width=4, latent=8, groups=2, channels="grey")), card={"command": "grey", "duration_s": 60})
    monkeypatch.setattr(inference, "CHECKPOINTS_DIR", tmp_path)
    monkeypatch.setattr(bench, "QUICK_TEST_PARTS", 10)
    monkeypatch.setattr(bench, "QUICK_RETRIEVAL_PARTS", 6)
    monkeypatch.setattr(bench, "FIGURE_PARTS", 2)
    return tmp_path


def test_bench_parts_scores_the_model_beside_the_baselines(tiny_checkpoints, tmp_path, single_thread):
    assert "parts" in BENCHMARKS
    rows = bench.run(out_dir=tmp_path / "docs", quick=True)
    methods = [row["method"] for row in rows]
    assert methods == ["model", "extruded silhouette", "retrieval (model embedding)", "retrieval (pixels)",
                       "model, grey only (no Canny edges)"]
    assert all(row["parts"] == 10 and 0 <= row["iou"] <= 1 for row in rows)
    assert rows[0]["plate"] is not None  # per-family columns
    report = (tmp_path / "docs" / "parts.md").read_text()
    assert "no checkpoint at checkpoints/parts_views3/" in report and "hex nut" in report and "spur gear" in report
    # Cards without a family list were trained before issue 21 added six families; the report says so.
    assert "never trained on fitting, wheel, knob, fastener, fork, wedge" in report
    assert "beat" in report and "![examples](parts.png)" in report
    saved = json.loads((tmp_path / "docs" / "parts.json").read_text())
    assert len(saved["unseen"]) == 8 + 10 and len(saved["unseen_means"]) == 2 and [row["model minus"] for row in saved["paired"]] == methods[1:]
    assert [row["pictures"] for row in saved["robustness"]][0] == "as rendered (the convention)"
    assert len(saved["robustness"]) == 1 + len(bench.VARIANTS)
    assert (tmp_path / "docs" / "parts.png").stat().st_size > 1000


def test_bench_parts_without_a_checkpoint_has_nothing_to_score(tmp_path, monkeypatch):
    from porelib import inference

    monkeypatch.setattr(inference, "CHECKPOINTS_DIR", tmp_path)
    assert bench.run(out_dir=tmp_path / "docs", quick=True) == []
