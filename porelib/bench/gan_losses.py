"""Which adversarial loss trains the cGAN: ``python -m porelib bench gan-losses``.

Every entry of :data:`RUNS` is trained by the same command,
``python -m porelib train cgan <its flags> <COMMON_FLAGS> --out runs/gan_losses/<name>``
(same model, data, batch size, learning rate, epochs and seed; only the loss differs), then
the best checkpoint of each run (picked by its validation ``mismatch``) is judged on
held-out data the way ``bench generators`` judges generators: at each density of
:data:`DENSITIES`, :data:`SAMPLES` generated grids against :data:`ENSEMBLE_SIZE` held-out
simulator grids (:func:`porelib.bench.generators.held_out_ensemble`, seeds the dataset
never used), as noise-floor ratios (:meth:`porelib.metrics.Reference.fidelity`; about 1
for grids like the ensemble's), and the mean pairwise IoU of the generated grids divided
by the ensemble's (mode collapse when ≫ 1).

Verdict of a run: ``mode collapse`` when its worst pairwise-IoU ratio exceeds
:data:`COLLAPSE_RATIO`; otherwise ``meets target`` when its S2 and pore-size ratios are at
most :data:`TARGET_RATIO` at every density, ``meets floor`` when at most
:data:`FLOOR_RATIO` (the issue's "≤ 2.5 to resolve"), else ``misses floor``. A run
whose loss becomes NaN or infinite is ``diverged``. The training curves (validation
mismatch first, best and last epoch) show whether a run is still improving.

The shipped checkpoint (``checkpoints/cgan``, trained by its own longer command, see its
card) is judged the same way in a row of its own, and so are two baselines: fresh
simulator grids (the ceiling) and Bernoulli grids (the calibrated number of pore voxels
at random positions).

Writes ``docs/bench/gan_losses.{md,json}``, the training curves of every run
(``gan_losses.png``: critic loss, generator loss and validation mismatch per epoch) and
a central section of one generated grid per run and density (``gan_losses_samples.png``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from porelib import metrics, runfolder
from porelib.bench._report import write_report
from porelib.bench.generators import (
    SAMPLE_SEED,
    SIMULATOR_SEED,
    bernoulli_grids,
    held_out_ensemble,
)
from porelib.checkpoint import read_card
from porelib.data import load_dataset
from porelib.inference import checkpoint_dir
from porelib.metrics import mean_pairwise_iou, sample_mismatch
from porelib.synth import expected_pore_voxels, pore_grids

#: ``(name, flags)`` of every compared run; the name is also its folder under ``runs_dir``.
RUNS = (
    ("bce", ("--loss", "bce")),
    ("bce_mse", ("--loss", "bce_mse")),
    ("bce_bcelogits", ("--loss", "bce_bcelogits")),
    ("hinge", ("--loss", "hinge")),
    ("wgan_gp", ("--loss", "wgan_gp")),
    ("hinge_no_s2", ("--loss", "hinge", "--s2-weight", "0")),
)
#: What every run shares (the issue's budget: about 4 minutes each on one shared core).
COMMON_FLAGS = ("--epochs", "6", "--batch-size", "8", "--lr", "1e-3", "--seed", "0", "--threads", "1", "--no-progress")
#: ``quick``: a smoke test of seconds (one epoch of a tiny model on 16 grids).
QUICK_FLAGS = ("--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--seed", "0", "--threads", "1", "--no-progress",
               "--limit", "16", "--width", "8", "--critic-width", "4", "--noise-channels", "2", "--film-hidden", "8",
               "--fine-channels", "2")
DENSITIES = (0.5, 0.7, 0.9, 1.0)
QUICK_DENSITIES = (0.5, 0.9)
ENSEMBLE_SIZE = 16
SAMPLES = 16
#: Largest S2 / pore-size ratio that meets the issue's floor ("≤ 2.5 to resolve").
FLOOR_RATIO = 2.5
#: The issue's target for the ratios.
TARGET_RATIO = 1.5
#: Largest pairwise-IoU ratio (generated / held-out ensemble) without mode collapse.
COLLAPSE_RATIO = 1.5
#: Default folder of the runs (ignored by git).
RUNS_DIR = Path("runs") / "gan_losses"


def _train(name: str, flags: tuple[str, ...], folder: Path, data) -> str:
    """Train one run as ``python -m porelib train cgan FLAGS`` would; ``"finished"``, ``"diverged"`` or ``"failed (...)"``."""
    from porelib.training import fit_flags, train_parser

    args = [*flags, "--out", str(folder)] + (["--data", str(data)] if data is not None else [])
    try:
        fit_flags("cgan", train_parser("cgan").parse_args(args), command=["python", "-m", "porelib", "train", "cgan", *args])
    except FloatingPointError:
        return "diverged"
    except (ValueError, TypeError) as exc:
        return f"failed ({exc})"
    return "finished"


def _recorded_status(folder: Path) -> str:
    """The ``state`` in a run folder's ``status.json`` (``"missing"`` without one)."""
    path = folder / "status.json"
    return json.loads(path.read_text()).get("state", "unknown") if path.is_file() else "missing"


def _history(folder: Path) -> list[dict]:
    return runfolder.epoch_rows(runfolder.read_metrics(folder))


def _model_sampler(folder: Path):
    """``sample(density, n, seed)`` of the best checkpoint in ``folder``."""
    from porelib.inference import generate

    return lambda density, n, seed: generate("cgan", density, n=n, seed=seed, checkpoint=folder)


def _baselines(size: int) -> dict:
    """``{name: sample(density, n, seed)}`` of the baselines: the simulator and Bernoulli grids."""
    return {
        "simulator (baseline)": lambda density, n, seed: pore_grids(
            np.full(n, density), size=size, seed=SIMULATOR_SEED + round(100 * density)
        ),
        "bernoulli (baseline)": lambda density, n, seed: bernoulli_grids(density, n, size=size, seed=seed),
    }


def _val_mismatch(sample, val) -> float:
    """Mean :func:`sample_mismatch` of one grid from ``sample`` per validation grid, at its density."""
    values = [sample(float(density), 1, SAMPLE_SEED + index)[0] for index, density in enumerate(val.densities)]
    return float(np.mean([sample_mismatch(grid, truth) for grid, truth in zip(values, val.grids)]))


def _shipped_card(shipped, size: int) -> dict | None:
    """The card of the shipped cGAN checkpoint if it is there and generates ``size``³ grids, else ``None``."""
    folder = checkpoint_dir("cgan", shipped)
    if not (folder / "model.safetensors").is_file():
        return None
    card = read_card(folder)
    return card if card.get("model") == "cgan" and card["config"].get("size") == size else None


def _judge(sample, references: dict, densities, samples: int) -> tuple[dict, dict, dict]:
    """Held-out scores of a generator ``sample(density, n, seed)``.

    Returns
    -------
    summary : dict
        ``worst_<score>``: the largest value over ``densities`` of each score (noise-floor
        ratios of S2, pore size, pore count and Euler per voxel, the pairwise-IoU ratio and
        the porosity error); ``worst_at``: the density of the largest S2 or pore-size ratio;
        and the seed's metrics, AAD and AVAR of each generated grid against a held-out grid
        of the same density (``mean_aad``, ``mean_avar``), beside the all-empty grid's
        (``mean_aad_empty``, ``mean_avar_empty``), averaged over grids and densities.
    by_density : dict
        ``{density: {score: value}}``.
    shown : dict
        ``{density: one generated grid}``.
    """
    by_density, shown = {}, {}
    agreement = {"aad": [], "aad_empty": [], "avar": [], "avar_empty": []}
    for density in densities:
        reference, ensemble, ensemble_iou, target = references[density]
        grids = sample(density, samples, SAMPLE_SEED + round(100 * density))
        for grid, truth in zip(grids, ensemble[np.arange(len(grids)) % len(ensemble)]):
            compared = metrics.compare(grid, truth)
            for key in ("aad", "avar"):
                agreement[key].append(compared[key])
                agreement[f"{key}_empty"].append(compared[f"{key}_empty_baseline"])
        fidelity = reference.fidelity(grids)
        by_density[density] = {
            "s2_ratio": fidelity["s2"].ratio,
            "pore_size_ratio": fidelity["pore_size"].ratio,
            "pore_count_ratio": fidelity["pore_count"].ratio,
            "euler_ratio": fidelity["euler_per_voxel"].ratio,
            "pairwise_iou_ratio": mean_pairwise_iou(grids) / ensemble_iou if ensemble_iou > 0 else math.inf,
            "porosity_error": float(np.abs(grids.reshape(len(grids), -1).mean(1) - target).max()),
        }
        shown[density] = grids[0]
    scores = next(iter(by_density.values()))
    summary = {f"worst_{key}": max(values[key] for values in by_density.values()) for key in scores}
    summary["worst_at"] = max(by_density, key=lambda d: max(by_density[d]["s2_ratio"], by_density[d]["pore_size_ratio"]))
    summary.update({f"mean_{key}": float(np.mean(values)) for key, values in agreement.items()})
    return summary, by_density, shown


def _verdict(status: str, summary: dict | None) -> str:
    """``diverged``/``failed``, ``mode collapse``, or how far the ratios are from the issue's floor and target."""
    if summary is None:
        return status
    if summary["worst_pairwise_iou_ratio"] > COLLAPSE_RATIO:
        return "mode collapse"
    ratios = max(summary["worst_s2_ratio"], summary["worst_pore_size_ratio"])
    if ratios <= TARGET_RATIO:
        return "meets target"
    return "meets floor" if ratios <= FLOOR_RATIO else "misses floor"


def _row(name: str, flags, status: str, history: list[dict], summary: dict | None) -> dict:
    row = {"run": name, "flags": " ".join(flags), "status": status}
    if history:
        mismatch = [h["val_mismatch"] for h in history]
        row.update({
            "epochs": len(history),
            "minutes": round(sum(h["time_s"] for h in history) / 60, 2),
            "val_mismatch_first": mismatch[0],
            "val_mismatch_best": min(mismatch),
            "val_mismatch_last": mismatch[-1],
            "best_epoch": int(np.argmin(mismatch)) + 1,
            "train_critic_last": history[-1].get("train_critic"),
            "train_generator_last": history[-1].get("train_generator"),
        })
    row.update(summary or {})
    row["verdict"] = _verdict(status, summary)
    return row


def _plot_curves(histories: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("train_critic", "critic loss (train)"), ("train_generator", "generator adversarial loss (train)"),
              ("val_mismatch", "validation mismatch (lower is better)"))
    figure, axes = plt.subplots(1, len(panels), figsize=(15, 4))
    for axis, (key, title) in zip(axes, panels):
        for name, history in histories.items():
            points = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
            if points:
                axis.plot(*zip(*points), marker="o", label=name)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    axes[-1].set_yscale("log")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _plot_samples(samples: dict[str, dict], reference: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {"held-out simulator": reference, **samples}
    densities = list(reference)
    figure, axes = plt.subplots(len(rows), len(densities), figsize=(2 * len(densities), 2 * len(rows)), squeeze=False)
    for i, (name, grids) in enumerate(rows.items()):
        for j, density in enumerate(densities):
            axis = axes[i, j]
            grid = grids.get(density)
            if grid is not None:
                axis.imshow(grid[:, :, grid.shape[2] // 2].T, cmap="gray_r", origin="lower", interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if i == 0:
                axis.set_title(f"d = {density}", fontsize=9)
            if j == 0:
                axis.set_ylabel(name, fontsize=8)
    figure.suptitle("central section z = S/2 of one grid (pores dark)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def run(*, out_dir="docs/bench", quick: bool = False, runs=None, runs_dir=RUNS_DIR, data=None, train: bool = True,
        shipped=None) -> list[dict]:
    """Train every run of :data:`RUNS`, judge its best checkpoint, write ``out_dir/gan_losses.*``.

    Parameters
    ----------
    out_dir : str or Path
        Where the Markdown, JSON and figures go.
    quick : bool
        :data:`QUICK_FLAGS` (one epoch of a tiny model on 16 grids), two densities, a few
        samples: a smoke test.
    runs : sequence of str, optional
        Names of :data:`RUNS` to train (default all).
    runs_dir : str or Path
        Parent folder of the run folders (overwritten).
    data : str or Path, optional
        Dataset (default ``data/``).
    train : bool
        Train the runs (default). ``False`` judges the run folders already in ``runs_dir``
        again (e.g. after a change of the judgement), with the status they recorded.
    shipped : str or Path, optional
        The shipped cGAN checkpoint judged beside the runs (not trained here; default
        ``checkpoints/cgan``); skipped when missing or of another grid size.

    Returns
    -------
    list of dict
        One row per run: the flags, status, epochs and minutes, validation mismatch (first,
        best, last), the last training losses, the worst held-out ratios over the densities
        and the verdict; then the shipped checkpoint's row and the baselines' rows.

    Raises
    ------
    ValueError
        For an unknown run name.
    """
    known = dict(RUNS)
    names = list(known) if runs is None else list(runs)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"runs must be among {', '.join(known)}; got {unknown}")
    common = QUICK_FLAGS if quick else COMMON_FLAGS
    densities = QUICK_DENSITIES if quick else DENSITIES
    ensemble_size, samples = (4, 3) if quick else (ENSEMBLE_SIZE, SAMPLES)
    dataset = load_dataset(data)
    size = dataset.size
    references, reference_grids = {}, {}
    for density in densities:
        ensemble = held_out_ensemble(density, ensemble_size, size=size)
        target = expected_pore_voxels(density, size=size) / size**3
        references[density] = (metrics.Reference(ensemble), ensemble, mean_pairwise_iou(ensemble), target)
        reference_grids[density] = ensemble[0]
    out_dir, runs_dir = Path(out_dir), Path(runs_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, histories, shown, by_density = [], {}, {}, {}
    for name in names:
        flags = (*known[name], *common)
        folder = runs_dir / name
        status = _train(name, flags, folder, data) if train else _recorded_status(folder)
        history = _history(folder)
        card = json.loads((folder / "card.json").read_text()) if (folder / "card.json").is_file() else None
        summary = None
        if card is not None:
            summary, by_density[name], shown[name] = _judge(_model_sampler(folder), references, densities, samples)
        histories[name] = history
        rows.append(_row(name, known[name], status, history, summary))
    val = dataset.split("val")
    shipped_card = _shipped_card(shipped, size)
    if shipped_card is not None:
        name = "shipped (checkpoints/cgan)" if shipped is None else f"shipped ({shipped})"
        summary, by_density[name], shown[name] = _judge(_model_sampler(checkpoint_dir("cgan", shipped)), references,
                                                        densities, samples)
        rows.append({"run": name, "flags": shipped_card["command"], "status": "shipped",
                     "epochs": shipped_card.get("epochs"), "minutes": round(shipped_card.get("duration_s", 0) / 60, 2),
                     "val_mismatch_best": shipped_card["metrics"].get("mismatch"), "best_epoch": shipped_card.get("best_epoch"),
                     **summary, "verdict": _verdict("shipped", summary)})
    for name, sample in _baselines(size).items():
        summary, by_density[name], _ = _judge(sample, references, densities, samples)
        rows.append({"run": name, "val_mismatch_best": _val_mismatch(sample, val), **summary, "verdict": "baseline"})
    _plot_curves(histories, out_dir / "gan_losses.png")
    _plot_samples(shown, reference_grids, out_dir / "gan_losses_samples.png")
    notes = (
        f"Each run: `python -m porelib train cgan <flags> {' '.join(common)} --out {runs_dir}/<run>`. "
        f"Held-out judgement of each run's best checkpoint (by validation mismatch) at densities "
        f"{', '.join(map(str, densities))}: {samples} generated grids against {ensemble_size} held-out simulator grids; "
        "worst_* = the largest value over those densities of the noise-floor ratios (≈ 1 for grids like the "
        "ensemble's), of the porosity error and of pairwise IoU (generated / ensemble; ≫ 1 = mode collapse). "
        "worst_at: the density of the largest S2 or pore-size ratio (every density's values: by_density in the JSON). "
        f"Verdict: mode collapse = pairwise-IoU ratio > {COLLAPSE_RATIO}; otherwise meets target = S2 and pore-size "
        f"ratios ≤ {TARGET_RATIO} at every density, meets floor = ≤ {FLOOR_RATIO}, else misses floor. val_mismatch: S2 + pore-count + mean-radius mismatch of one generated "
        "grid per validation grid (0 = alike; the baselines' rows give the simulator's and Bernoulli grids'). "
        "mean_aad/mean_avar: the seed's metrics, each generated grid against a held-out grid of the same density "
        "(mean over grids and densities), beside the all-empty grid's (mean_aad_empty, mean_avar_empty): no "
        "generator of new structures beats the empty grid on them, which is why they are not used to rank. "
        "minutes: training wall time on a 2-core machine shared with other jobs. "
        "Curves: gan_losses.png; sections: gan_losses_samples.png."
    )
    extra = {"data": dataset.fingerprint, "quick": quick,
             "by_density": {name: {str(d): values for d, values in scores.items()} for name, scores in by_density.items()}}
    write_report("gan_losses", rows, out_dir, notes=notes, extra=extra)
    return rows
