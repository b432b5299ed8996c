"""porelib.app.verdicts: Home's plain-words verdicts come from the benchmark files, not from the code."""

from __future__ import annotations

import json

from porelib.app.verdicts import BENCH_DIR, model_verdict


def _generators(tmp_path, holds_at: str):
    rows = [{"density": "summary", "generator": "cvae", "holds_at": holds_at, "ms_per_grid": 12.0}]
    (tmp_path / "generators.json").write_text(json.dumps({"target": 1.5, "rows": rows}))


def test_the_generator_verdict_follows_the_benchmark_file(tmp_path):
    _generators(tmp_path, "none")
    verdict = model_verdict("cvae", bench_dir=tmp_path)
    assert not verdict.good and "not statistically like the dataset" in verdict.text and "12.0 ms" in verdict.text
    _generators(tmp_path, "0.7, 0.8")
    verdict = model_verdict("cvae", bench_dir=tmp_path)
    assert verdict.good and "only at d = 0.7, 0.8" in verdict.text
    assert verdict.source == "docs/bench/generators.md"


def test_no_file_no_verdict(tmp_path):
    assert model_verdict("cvae", bench_dir=tmp_path) is None
    assert model_verdict("unet", bench_dir=tmp_path) is None


def test_every_published_verdict_names_its_report():
    for name in ("simulator", "cvae", "cgan", "unet", "img2vox", "parts"):
        verdict = model_verdict(name)
        assert verdict is not None and (BENCH_DIR.parent.parent / verdict.source).is_file(), name


def test_the_material_verdict_compares_with_reconstructions_not_with_copied_patches(tmp_path):
    rows = [{"material": material, "method": method, "ratios_within_2": method != "model" or material == "a"}
            for material in ("a", "b") for method in ("model", "gaussian-field", "patch")]
    rows.append({"material": "a", "method": "summary", "recommended": "model"})
    (tmp_path / "material.json").write_text(json.dumps({"rows": rows}))
    verdict = model_verdict("material", bench_dir=tmp_path)
    assert "On 2 test materials" in verdict.text and "for 1;" in verdict.text
    assert "(gaussian-field) for 2." in verdict.text and "patch" not in verdict.text and not verdict.good
