"""3D from a 2D section, on held-out grids: ``python -m porelib bench section``.

For every grid of the dataset's *test* split (never trained on, never used to pick a
checkpoint), its central section ``grid[:, :, S // 2]`` goes through each method below,
with the same seeds every run:

``img2vox``
    The shipped section-to-volume model (``checkpoints/img2vox``), section imposed: what
    :func:`porelib.section.grid_from_section` returns.
``img2vox, not imposed``
    The same network output without imposing the section (same noise, same voxel count).
``simulator at d̂``
    A simulator grid at the implied density: statistics like the dataset's, section ignored.
``simulator at d̂ + section``
    That grid with its central plane overwritten by the section: the naive way to
    "reproduce the section", which leaves flat discs where the pores should be balls.

Columns: ``section_iou`` (IoU of the output's central plane with the section, mean over
grids; two empty planes count 1), ``section_iou_nonempty`` (over non-empty sections),
``near_iou`` (IoU of the planes ``S // 2 ± 1`` and ``± 2`` with the true grid's, over
grids with a non-empty section: do the pores cut by the section continue as they do in
the grid it was cut from?),
the noise-floor ratio of each statistic against the 16 *training* grids nearest the
implied density d̂ (ratio 1 = as close as another dataset grid), their geometric mean
``fidelity`` (means over grids), and ``fidelity_true_d``: the *median* over grids of the
same geometric mean against the training grids nearest the grid's *true* density, which
the section only estimates (a median, because near d = 0 those grids are all empty and
every non-empty output's ratio is infinite). Rows per density band of the true density,
and over all test grids.
"""

from __future__ import annotations

import time

import numpy as np

from porelib import metrics
from porelib.bench._report import write_report
from porelib.data import load_dataset
from porelib.inference import checkpoint_dir
from porelib.scoring import ENSEMBLE_SIZE
from porelib.synth import pore_grid

#: Planes on either side of the section compared with the true grid (``near_iou``).
NEAR_PLANES = 2
#: Bands of the true density, ``[low, high)`` (the last closed); ``None`` = all grids.
BANDS = (None, (0.0, 0.5), (0.5, 1.0))
SEED = 4321
QUICK_GRIDS = 12
DENSITY_DECIMALS = 2


def _geometric_mean(ratios: dict) -> float:
    values = np.array([f.ratio for f in ratios.values()], dtype=float)
    values = values[np.isfinite(values)]
    return float(np.exp(np.mean(np.log(np.maximum(values, 1e-6))))) if values.size else float("inf")


class _References:
    """Reference ensembles of training grids by rounded density, computed once each."""

    def __init__(self, train):
        self.train, self.cache = train, {}

    def __call__(self, density: float) -> metrics.Reference:
        key = round(float(density), DENSITY_DECIMALS)
        if key not in self.cache:
            self.cache[key] = metrics.Reference(self.train.ensemble(key, ENSEMBLE_SIZE))
        return self.cache[key]


def _outputs(test, model, rng) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """Each method's outputs ``(N, S, S, S)``, the implied densities and the model's ms per grid."""
    import torch

    size = test.size
    sections = test.grids[:, :, :, size // 2]
    tensor = torch.from_numpy(sections.astype(np.float32))
    noise = torch.from_numpy(rng.standard_normal((len(sections), *model.latent_shape), dtype=np.float32))
    with torch.inference_mode():
        implied = model.implied_density(tensor).double().numpy()
        start = time.perf_counter()
        imposed = model.sample(tensor, noise, impose=True).numpy()
        milliseconds = 1000 * (time.perf_counter() - start) / len(sections)
        raw = model.sample(tensor, noise, impose=False).numpy()
    simulated = np.stack([pore_grid(d, size=size, seed=rng) for d in implied])
    pasted = simulated.copy()
    pasted[:, :, :, size // 2] = sections
    methods = {
        "img2vox": imposed,
        "img2vox, not imposed": raw,
        "simulator at d̂": simulated,
        "simulator at d̂ + section": pasted,
    }
    return methods, implied, milliseconds


def run(*, out_dir="docs/bench", quick: bool = False) -> list[dict]:
    """Score every method on the test split's central sections; write ``section.md`` and ``.json``.

    Returns the rows (one per method and density band). Without a checkpoint at
    ``checkpoints/img2vox`` there is nothing to score and no rows are returned.
    """
    from porelib.inference import load_generator

    folder = checkpoint_dir("img2vox")
    if not (folder / "model.safetensors").is_file():
        return []
    model = load_generator("img2vox")
    dataset = load_dataset()
    test = dataset.split("test")
    if quick:
        test = test.subset(slice(0, QUICK_GRIDS))
    references = _References(dataset.split("train"))
    methods, implied, milliseconds = _outputs(test, model, np.random.default_rng(SEED))
    size = test.size
    sections = test.grids[:, :, :, size // 2]
    offsets = np.arange(1, NEAR_PLANES + 1)
    near = np.concatenate([size // 2 - offsets, size // 2 + offsets])
    rows = []
    for name, outputs in methods.items():
        per_grid = []
        for grid, truth, section, d_hat, d_true in zip(outputs, test.grids, sections, implied, test.densities):
            ratios = references(d_hat).fidelity(grid)
            per_grid.append({
                "section_iou": metrics.iou(grid[:, :, size // 2], section),
                "nonempty": bool(section.any()),
                "near_iou": metrics.iou(grid[:, :, near], truth[:, :, near]),
                **{stat: f.ratio for stat, f in ratios.items()},
                "fidelity": _geometric_mean(ratios),
                "fidelity_true_d": _geometric_mean(references(d_true).fidelity(grid)),
            })
        for band in BANDS:
            inside = np.ones(len(per_grid), bool) if band is None else (
                (test.densities >= band[0]) & ((test.densities < band[1]) if band[1] < 1 else (test.densities <= 1))
            )
            chosen = [row for row, keep in zip(per_grid, inside) if keep]
            if not chosen:
                continue
            nonempty = [row["section_iou"] for row in chosen if row["nonempty"]]
            near_values = [row["near_iou"] for row in chosen if row["nonempty"]]
            rows.append({
                "method": name,
                "true d": "all" if band is None else f"{band[0]:.1f}-{band[1]:.1f}",
                "grids": len(chosen),
                "section_iou": float(np.mean([row["section_iou"] for row in chosen])),
                "section_iou_nonempty": float(np.mean(nonempty)) if nonempty else None,
                "near_iou": float(np.mean(near_values)) if near_values else None,
                **{f"{stat}_ratio": float(np.mean([row[stat] for row in chosen])) for stat in metrics.STATISTICS},
                "fidelity": float(np.mean([row["fidelity"] for row in chosen])),
                "fidelity_true_d": float(np.median([row["fidelity_true_d"] for row in chosen])),
                "ms_per_grid": milliseconds if name == "img2vox" else None,
            })
    notes = (
        f"Test split of the dataset ({len(test)} grids{', quick' if quick else ''}), central z-sections; checkpoint "
        f"{folder.name}/. Ratios: distance to the 16 training grids nearest the implied density d̂ divided by their "
        "own spread (1 = like a dataset grid); fidelity = geometric mean of the ratios; fidelity_true_d against the "
        "training grids at the grid's true density (median over grids). near_iou: planes S//2 ± 1, ± 2 against the true "
        "grid, over non-empty sections. See porelib/bench/section.py."
    )
    write_report("section", rows, out_dir, notes=notes)
    return rows
