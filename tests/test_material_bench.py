"""bench material --quick: every material trains through the train command and every method is scored."""

from __future__ import annotations

import json

from porelib.bench import material as material_bench
from porelib.material.generate import METHODS as GENERATION_METHODS


def test_material_benchmark_quick(tmp_path):
    rows = material_bench.run(out_dir=tmp_path, quick=True, materials=("anisotropic", "micrograph (2-D)"))
    methods = {(row["material"], row["method"]) for row in rows}
    for name in ("anisotropic", "micrograph (2-D)"):
        assert {(name, m) for m in (*GENERATION_METHODS, "patch", "summary")} <= methods
    scored = [row for row in rows if row["method"] not in ("summary",)]
    assert all(row["worst"] != "porosity" and row["max_high"] >= row["worst_ratio"] > 0 for row in scored)
    summaries = {row["material"]: row for row in rows if row["method"] == "summary"}
    assert all(row["recommended"] in GENERATION_METHODS for row in summaries.values())
    assert json.loads((tmp_path / "material.json").read_text())["rows"] == json.loads(json.dumps(rows))
