"""What each shipped model's published benchmark says, in plain words, for the Home page.

:func:`model_verdict` reads the benchmark file of a model's role (``docs/bench/<name>.json``,
written by ``python -m porelib bench <name>``) and returns one or two sentences with the
figures that matter to a user and the baseline beside them, plus the Markdown file that holds
the whole table. Nothing here is hard-coded but the file names and which row is the baseline:
rerunning a benchmark changes what Home says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from porelib import registry
from porelib.data import REPO_ROOT

#: The published benchmarks (``python -m porelib bench ...`` writes them here).
BENCH_DIR = REPO_ROOT / "docs" / "bench"


@dataclass(frozen=True)
class ModelVerdict:
    """A model's benchmark in plain words.

    Attributes
    ----------
    text : str
        One or two sentences: what the benchmark found, beside its baseline.
    good : bool
        The model does what the benchmark asks of it at least somewhere (drawn green on Home).
    source : str
        The Markdown file with the numbers, relative to the repository (e.g. ``docs/bench/generators.md``).
    """

    text: str
    good: bool
    source: str


def _rows(name: str, bench_dir: Path) -> tuple[list[dict], dict] | None:
    try:
        document = json.loads((bench_dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return document.get("rows", []), document


def _generator(model: str, bench_dir: Path) -> ModelVerdict | None:
    found = _rows("generators", bench_dir)
    if found is None:
        return None
    rows, document = found
    summary = {row.get("generator"): row for row in rows if row.get("density") == "summary"}
    row = summary.get(model)
    if row is None:
        return None
    target = document.get("target", 1.5)
    held = row.get("holds_at", "none")
    speed = f" {row['ms_per_grid']:.1f} ms per grid." if isinstance(row.get("ms_per_grid"), (int, float)) else ""
    if held == "none":
        text = (f"Its grids are not statistically like the dataset at any density tested (each statistic must be "
                f"within {target:g}× the dataset's own spread); for statistics, use the simulator.")
    elif model == "simulator":
        text = f"Statistically like the dataset at every density tested (d = {held}): the reference the others are held to."
    else:
        text = (f"Statistically like the dataset only at d = {held}; at other densities some statistic is further "
                f"off than {target:g}× the dataset's own spread (the simulator holds everywhere).")
    return ModelVerdict(text + speed, held != "none", "docs/bench/generators.md")


def _segmenter(model: str, bench_dir: Path) -> ModelVerdict | None:
    found = _rows("segmentation", bench_dir)
    if found is None or not found[0] or model not in found[0][0]:
        return None
    rows = found[0]
    ahead = sum(row["diff_low"] > 0 for row in rows)
    close = sum(row["unet_minus_best"] < 0.01 for row in rows)
    held_out = [row for row in rows if row["family"] == "held-out"]
    text = (f"On simulated CT scans ({len(rows)} conditions of dose, contrast and scan family), ahead of the best "
            f"classical pipeline (denoise + threshold) on {ahead} of {len(rows)} with the interval above 0")
    if held_out:
        ours = [row[model] for row in held_out]
        best = [row[row["best_classical"]] for row in held_out]
        text += (f"; on the held-out family it never trained on, Dice {min(ours):.3f}–{max(ours):.3f} against "
                 f"{min(best):.3f}–{max(best):.3f}")
    text += "."
    if close:
        text += f" On {close} condition(s) the margin is under 0.01 Dice: there a filter + Otsu is nearly as good."
    return ModelVerdict(text, ahead == len(rows), "docs/bench/segmentation.md")


def _section(model: str, bench_dir: Path) -> ModelVerdict | None:
    found = _rows("section", bench_dir)
    if found is None:
        return None
    rows = {(row["method"], row.get("true d")): row for row in found[0]}
    ours, baseline = rows.get((model, "all")), rows.get(("simulator at d̂ + section", "all"))
    if ours is None:
        return None
    text = (f"Keeps the given section exactly; near it the grid overlaps the true one by IoU {ours['near_iou']:.2f}"
            + (f" (the simulator with the same section: {baseline['near_iou']:.2f})" if baseline else "")
            + f"; its pore sizes are {ours['pore_size_ratio']:.1f}× the dataset's spread away, S2 {ours['s2_ratio']:.1f}×.")
    good = baseline is None or ours["near_iou"] >= baseline["near_iou"]
    return ModelVerdict(text, good, "docs/bench/section.md")


def _parts(model: str, bench_dir: Path) -> ModelVerdict | None:
    found = _rows("parts", bench_dir)
    if found is None:
        return None
    one_view = [row for row in found[0] if row.get("views") == 1 and "iou" in row]
    ours = next((row for row in one_view if row["method"] == "model"), None)
    if ours is None:
        return None
    others = [row for row in one_view if row["method"] != "model" and not row["method"].startswith("model")]
    best = max(others, key=lambda row: row["iou"]) if others else None
    text = f"From one picture, IoU {ours['iou']:.2f} with the true part over {ours['parts']} test parts"
    text += f"; the best baseline ({best['method']}) reaches {best['iou']:.2f}." if best else "."
    return ModelVerdict(text, best is None or ours["iou"] >= best["iou"], "docs/bench/parts.md")


def _material(model: str, bench_dir: Path) -> ModelVerdict | None:
    found = _rows("material", bench_dir)
    if found is None:
        return None
    rows = [row for row in found[0] if row.get("method") not in (None, "summary") and "ratios_within_2" in row]
    materials = sorted({row["material"] for row in rows})
    if not materials:
        return None

    def held(method: str) -> int:
        return sum(bool(row["ratios_within_2"]) for row in rows if row["method"] == method)

    ours = held("model")
    # Copied training patches are the yardstick, not a reconstruction a user could make bigger than the sample.
    baselines = {method: held(method) for method in sorted({row["method"] for row in rows} - {"model", "patch"})}
    best = max(baselines, key=baselines.get) if baselines else None
    text = (f"On {len(materials)} test materials its volumes are within 2× the held-out slab's spread on every "
            f"statistic for {ours}")
    text += f"; the best classical reconstruction ({best}) for {baselines[best]}." if best else "."
    return ModelVerdict(text, best is None or ours >= baselines[best], "docs/bench/material.md")


#: How each role's verdict is read (roles without a published benchmark have none).
_BY_ROLE = {"generator": _generator, "segmenter": _segmenter, "material-generator": _material}
_BY_NAME = {"img2vox": _section, "parts": _parts}


def model_verdict(name: str, *, bench_dir=BENCH_DIR) -> ModelVerdict | None:
    """The published benchmark's verdict on model ``name``, or ``None`` when there is none to read.

    A missing or unreadable benchmark file gives ``None`` (Home then says nothing rather
    than something stale or invented).
    """
    entry = registry.entry(name)
    read = _BY_NAME.get(name) or _BY_ROLE.get(entry.role)
    if read is None:
        return None
    try:
        return read(name, Path(bench_dir))
    except (KeyError, TypeError, ValueError):  # a file from another version of the benchmark
        return None

