"""Part from a picture on held-out parts, against baselines: ``python -m porelib bench parts``.

Test parts: the first ``TEST_PARTS`` seeds of ``SPLITS["test"]`` (never trained on, never
used to pick a checkpoint; the families cycle, so each family has 1/len(FAMILIES) of them), each
as generated (its own pose), rendered by the picture convention and voxelised at the
checkpoint's size. Every method answers with a bool grid; IoU and Dice are per part
(:func:`porelib.metrics.iou`), then averaged over all parts and per family.

Methods, one picture each (view 0):

``model``
    The shipped reconstructor, ``checkpoints/parts`` (threshold 0.5).
``extruded silhouette``
    :func:`porelib.parts.baselines.extruded_silhouette`: the outline pushed through the grid.
``retrieval (model embedding)`` / ``retrieval (pixels)``
    The grid of the nearest *training* sample (the checkpoint's own training parts and
    poses, regenerated from its card) by the model's global code, or by the pictures
    averaged down to 32 × 32 (:func:`porelib.parts.baselines.pixel_embedding`).

The seed's comparisons, where their checkpoints exist (trained by the same command as the
shipped one but for one flag; see ``docs/parts.md``):

``model, grey only (no Canny edges)``
    ``checkpoints/parts_grey`` (``--channels grey``).
``model, 3 views`` and ``visual hull, 3 views``
    ``checkpoints/parts_views3`` (``--views 3``) on views 0-2 of the same parts, beside the
    intersection of the three extruded silhouettes.

Each checkpoint's card says which generator families it was trained on (``data.families``);
a card without that list predates issue 21 and saw only the first ten families, so its
columns for the six later ones (``fitting`` … ``wedge``) are parts of shapes it never met.

``unseen``: two sets of hand-made parts of no generator family
(:mod:`porelib.bench.parts_unseen`; the first guided the families of issue 21, the second
was made after them) through the model, the extruded silhouette and retrieval, a rough
check away from the training distribution; each set's means are reported.

Also: the paired difference of the model's IoU and each baseline's (and each comparison
model's) over the test parts (mean and a 95 % bootstrap interval); the model on the same
parts when their pictures change within the convention (:data:`VARIANTS`: JPEG, darker,
lower contrast, rendered at 512 pixels and resized); a figure of examples (picture |
prediction | truth, ``parts.png``); and inference milliseconds per part on this machine.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from porelib import metrics
from porelib.bench._report import markdown_table, write_report
from porelib.inference import checkpoint_dir
from porelib.parts.generator import FAMILIES, SPLITS

TEST_PARTS = 20 * len(FAMILIES)
QUICK_TEST_PARTS = len(FAMILIES)
#: Training parts regenerated for retrieval in a quick run (the full run uses the checkpoint's).
QUICK_RETRIEVAL_PARTS = 100
#: The seed's comparisons: row name -> checkpoint folder name under checkpoints/.
ABLATIONS = {"model, grey only (no Canny edges)": "parts_grey", "model, 3 views": "parts_views3"}
#: Test parts drawn in the figure (one per family, the first ones).
FIGURE_PARTS = len(FAMILIES)
#: The generator families before issue 21 (what a card without ``data.families`` was trained on).
FIRST_FAMILIES = FAMILIES[:10]
BOOTSTRAP = 2000
SEED = 4321
BATCH = 16


def _predict(model, samples) -> tuple[np.ndarray, float]:
    """Grids ``(N, S, S, S)`` of a reconstructor on samples, and milliseconds per part."""
    return _predict_arrays(model, samples.pictures, samples.edges)


def _predict_arrays(model, pictures: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, float]:
    """Grids of a reconstructor on uint8 pictures and bool edges ``(N, V, P, P)``, and milliseconds per part."""
    import torch

    from porelib.parts.render import network_input

    grids = []
    with torch.inference_mode():
        model(network_input(torch.from_numpy(pictures[:1]), torch.from_numpy(edges[:1]),
                            with_edges=model.config.edges))  # warm-up, not timed
        start = time.perf_counter()
        for begin in range(0, len(pictures), BATCH):
            chosen = slice(begin, begin + BATCH)
            inputs = network_input(torch.from_numpy(pictures[chosen]), torch.from_numpy(edges[chosen]),
                                   with_edges=model.config.edges)
            grids.append((model(inputs) > 0).numpy())
    return np.concatenate(grids), 1000 * (time.perf_counter() - start) / len(pictures)


#: Pictures that keep the convention but not its exact pixels: name -> change of a grey picture in [0, 1].
VARIANTS = {
    "JPEG, quality 75": "jpeg",
    "darker (grey ** 1.5)": lambda grey: grey**1.5,
    "lower contrast (1 - 0.7 (1 - grey))": lambda grey: 1 - 0.7 * (1 - grey),
    "rendered at 512 px, resized": "512",
}


def _jpeg(grey: np.ndarray) -> np.ndarray:
    import io as stdio

    from PIL import Image

    buffer = stdio.BytesIO()
    Image.fromarray(np.round(grey * 255).astype(np.uint8)).save(buffer, format="JPEG", quality=75)
    return np.asarray(Image.open(stdio.BytesIO(buffer.getvalue())).convert("L"), dtype=np.float64) / 255.0


def _robustness(model, test, truth: np.ndarray, base_iou: np.ndarray) -> list[dict]:
    """The model's IoU on the test parts when their pictures are changed within the convention (:data:`VARIANTS`)."""
    from porelib.parts.generator import make_part
    from porelib.parts.predict import picture_arrays
    from porelib.parts.render import render

    pixels = model.config.pixels
    rows = [{"pictures": "as rendered (the convention)", "iou": float(base_iou.mean()), "change": 0.0}]
    for name, change in VARIANTS.items():
        changed = []
        for k, seed in enumerate(test.seeds):
            if change == "512":
                part = make_part(int(seed))
                greys = list(render(part.vertices, part.faces, views=tuple(range(model.config.views)), pixels=4 * pixels))
            elif change == "jpeg":
                greys = [_jpeg(g) for g in test.grey(k)]
            else:
                greys = [change(g) for g in test.grey(k)]
            changed.append(picture_arrays(greys, pixels=pixels))
        pictures, edges = np.stack([c[0] for c in changed]), np.stack([c[1] for c in changed])
        iou, _ = _scores(_predict_arrays(model, pictures, edges)[0], truth)
        rows.append({"pictures": name, "iou": float(iou.mean()), "change": float(iou.mean() - base_iou.mean())})
    return rows


def _embed(model, samples) -> np.ndarray:
    import torch

    from porelib.parts.render import network_input

    codes = []
    with torch.inference_mode():
        for begin in range(0, len(samples), BATCH):
            chosen = slice(begin, begin + BATCH)
            codes.append(model.embed(network_input(torch.from_numpy(samples.pictures[chosen]),
                                                   torch.from_numpy(samples.edges[chosen]),
                                                   with_edges=model.config.edges)).numpy())
    return np.concatenate(codes)


def _scores(predicted: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    iou = np.array([metrics.iou(p, t) for p, t in zip(predicted, truth)])
    dice = np.array([metrics.dice(p, t) for p, t in zip(predicted, truth)])
    return iou, dice


def _row(method: str, iou: np.ndarray, dice: np.ndarray, families: np.ndarray, *, views: int = 1,
         ms: float | None = None) -> dict:
    row = {"method": method, "views": views, "parts": len(iou), "iou": float(iou.mean()), "dice": float(dice.mean())}
    for index, name in enumerate(FAMILIES):
        chosen = families == index
        row[name] = float(iou[chosen].mean()) if chosen.any() else None
    row["ms_per_part"] = ms
    return row


def _paired(a: np.ndarray, b: np.ndarray, rng) -> tuple[float, float, float, float]:
    """Mean of ``a - b``, its 95 % bootstrap interval, and the share of parts where ``a > b``."""
    difference = a - b
    means = difference[rng.integers(0, len(difference), (BOOTSTRAP, len(difference)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(difference.mean()), float(low), float(high), float(np.mean(a > b))


def _figure(path: Path, samples, predicted: np.ndarray, truth: np.ndarray, iou: np.ndarray, count: int) -> Path:
    """Rows of picture | prediction | truth for the first ``count`` test parts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from porelib.parts.render import render
    from porelib.parts.voxels import grid_mesh, voxel_to_part_space

    def drawn(grid: np.ndarray) -> np.ndarray:
        if not grid.any():
            return np.ones(samples.pictures.shape[-2:])
        vertices, faces = grid_mesh(grid.astype(np.float32))
        return render(voxel_to_part_space(vertices, grid.shape[0]), faces, fit=False)[0]

    names = samples.family_names()
    figure, axes = plt.subplots(count, 3, figsize=(6.6, 2.2 * count))
    for k in range(count):
        panels = [samples.grey(k)[0], drawn(predicted[k]), drawn(truth[k])]
        titles = [f"{names[k]} (seed {samples.seeds[k]})", f"prediction, IoU {iou[k]:.2f}", "truth"]
        for axis, panel, title in zip(axes[k], panels, titles):
            axis.imshow(panel, cmap="gray", vmin=0, vmax=1)
            axis.set_title(title, fontsize=8)
            axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def trained_families(card: dict) -> tuple[str, ...]:
    """The generator families a checkpoint was trained on, from its card (:data:`FIRST_FAMILIES` if it lists none)."""
    return tuple(card.get("data", {}).get("families") or FIRST_FAMILIES)


def _families_note(card: dict) -> str:
    families = trained_families(card)
    listed = bool(card.get("data", {}).get("families"))
    unseen = [name for name in FAMILIES if name not in families]
    text = f"trained on {len(families)} families ({families[0]} … {families[-1]}"
    text += ", as its card lists)" if listed else "; its card predates the family list: trained before issue 21)"
    if unseen:
        text += f"; never trained on {', '.join(unseen)}"
    return text


def _unseen(model, retrieval, size: int) -> list[dict]:
    """Model, extruded silhouette and retrieval (model embedding) IoU on both sets of hand-made parts."""
    from porelib.bench.parts_unseen import UNSEEN_SETS, unseen_meshes

    rows = []
    for set_name, parts in UNSEEN_SETS.items():
        rows += [{"set": set_name, **row} for row in _unseen_rows(model, retrieval, size, unseen_meshes(parts))]
    return rows


def _unseen_rows(model, retrieval, size: int, meshes: dict) -> list[dict]:
    """One row per hand-made part of ``meshes`` (``{name: (vertices, faces)}``): IoU of each method."""
    import torch

    from porelib.parts.baselines import extruded_silhouette
    from porelib.parts.predict import picture_arrays
    from porelib.parts.render import network_input, render
    from porelib.parts.voxels import voxelise

    rows = []
    for name, (vertices, faces) in meshes.items():
        grey = render(vertices, faces, pixels=model.config.pixels)
        truth = voxelise(vertices, faces, size=size)
        pictures, edges = picture_arrays(list(grey), pixels=model.config.pixels)
        with torch.inference_mode():
            inputs = network_input(torch.from_numpy(pictures)[None], torch.from_numpy(edges)[None],
                                   with_edges=model.config.edges)
            predicted = (model(inputs) > 0).numpy()[0]
            code = model.embed(inputs).numpy()
        rows.append({
            "part": name,
            "model": metrics.iou(predicted, truth),
            "extruded silhouette": metrics.iou(extruded_silhouette(pictures / 255.0, size=size), truth),
            "retrieval (model embedding)": metrics.iou(retrieval.grids(code)[0], truth),
            "true occupancy": float(truth.mean()),
        })
    return rows


def run(*, out_dir="docs/bench", quick: bool = False) -> list[dict]:
    """Score the model and the baselines on held-out parts; write ``parts.md``, ``parts.json`` and ``parts.png``.

    Returns the rows (one per method). Without a checkpoint at ``checkpoints/parts`` there is
    nothing to score and no rows are returned.
    """
    from porelib.checkpoint import load_checkpoint
    from porelib.parts.baselines import Retrieval, extruded_silhouette, pixel_embedding
    from porelib.parts.samples import build_samples

    folder = checkpoint_dir("parts")
    if not (folder / "model.safetensors").is_file():
        return []
    started = time.perf_counter()
    model, card = load_checkpoint(folder)
    config = model.config
    count = QUICK_TEST_PARTS if quick else TEST_PARTS
    test = build_samples(SPLITS["test"][:count], size=config.size, views=config.views, pixels=config.pixels)
    truth, families = test.grids(), test.families
    predicted, ms = _predict(model, test)
    iou, dice = _scores(predicted, truth)
    rows = [_row("model", iou, dice, families, views=config.views, ms=ms)]
    results = {"model": iou}

    start = time.perf_counter()
    hulls = np.stack([extruded_silhouette(g[:1], size=config.size) for g in test.grey()])
    hull_ms = 1000 * (time.perf_counter() - start) / len(test)
    hull_iou, hull_dice = _scores(hulls, truth)
    rows.append(_row("extruded silhouette", hull_iou, hull_dice, families, ms=hull_ms))
    results["extruded silhouette"] = hull_iou

    data = card.get("options", {}).get("data", {})
    train_parts = min(QUICK_RETRIEVAL_PARTS, data.get("train_parts", 1)) if quick else data.get("train_parts", 1)
    train = build_samples(SPLITS["train"][:train_parts], poses=data.get("poses", 1), size=config.size,
                          views=config.views, pixels=config.pixels)
    by_code = Retrieval(_embed(model, train), train.packed_grids, train.size)
    by_pixels = Retrieval(pixel_embedding(train.grey()), train.packed_grids, train.size)
    for name, retrieval, queries in (("retrieval (model embedding)", by_code, _embed(model, test)),
                                     ("retrieval (pixels)", by_pixels, pixel_embedding(test.grey()))):
        start = time.perf_counter()
        found = retrieval.grids(queries)
        found_iou, found_dice = _scores(found, truth)
        rows.append(_row(name, found_iou, found_dice, families,
                         ms=1000 * (time.perf_counter() - start) / len(test)))
        results[name] = found_iou

    ablations = []
    for name, folder_name in ABLATIONS.items():
        other_folder = folder.parent / folder_name
        if not (other_folder / "model.safetensors").is_file():
            ablations.append(f"- {name}: no checkpoint at checkpoints/{folder_name}/, not scored.")
            continue
        other, other_card = load_checkpoint(other_folder)
        other_config = other.config
        samples = test if (other_config.views, other_config.pixels) == (config.views, config.pixels) else \
            build_samples(SPLITS["test"][:count], size=other_config.size, views=other_config.views,
                          pixels=other_config.pixels)
        other_predicted, other_ms = _predict(other, samples)
        other_iou, other_dice = _scores(other_predicted, samples.grids())
        rows.append(_row(name, other_iou, other_dice, samples.families, views=other_config.views, ms=other_ms))
        results[name] = other_iou
        ablations.append(f"- {name}: `{other_card.get('command', '?')}` ({other_card.get('duration_s', 0) / 60:.0f} min; "
                         f"{_families_note(other_card)})")
        if other_config.views > 1:
            hull = np.stack([extruded_silhouette(g, size=other_config.size) for g in samples.grey()])
            hull_iou, hull_dice = _scores(hull, samples.grids())
            rows.append(_row(f"visual hull, {other_config.views} views", hull_iou, hull_dice, samples.families,
                             views=other_config.views))

    rng = np.random.default_rng(SEED)
    paired = []
    for name in [key for key in results if key != "model"]:
        mean, low, high, share = _paired(results["model"], results[name], rng)
        paired.append({"model minus": name, "mean IoU difference": mean, "95% interval low": low,
                       "95% interval high": high, "parts where the model is better": share})
    robustness = _robustness(model, test, truth, iou)
    unseen = _unseen(model, by_code, config.size)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    figure = _figure(Path(out_dir) / "parts.png", test, predicted, truth, iou, min(FIGURE_PARTS, len(test)))

    best_baseline = max(row["iou"] for row in rows[1:4])
    families_won = sum(
        rows[0][name] is not None and rows[0][name] > max(row[name] for row in rows[1:4] if row[name] is not None)
        for name in FAMILIES)
    verdict = (f"The model's mean IoU {rows[0]['iou']:.3f} {'beats' if rows[0]['iou'] > best_baseline else 'does NOT beat'} "
               f"the best baseline ({best_baseline:.3f}); it is ahead on {families_won} of {len(FAMILIES)} families.")
    methods = [key for key in unseen[0] if key not in ("set", "part")]
    unseen_means = {name: {key: float(np.mean([row[key] for row in unseen if row["set"] == name])) for key in methods}
                    for name in dict.fromkeys(row["set"] for row in unseen)}
    unseen_text = "\n\n".join(
        f"{name}, IoU; means: model {means['model']:.3f}, extruded silhouette {means['extruded silhouette']:.3f}, "
        f"retrieval {means['retrieval (model embedding)']:.3f}:\n\n"
        + markdown_table([{k: v for k, v in row.items() if k != "set"} for row in unseen if row["set"] == name])
        for name, means in unseen_means.items())
    training = card.get("training", {})
    notes = "\n\n".join([
        f"{len(test)} held-out test parts (seeds {SPLITS['test'].start} … {SPLITS['test'].start + len(test) - 1}, "
        f"the {len(FAMILIES)} families in turn{', quick' if quick else ''}), one picture each by "
        f"the convention of `part render`, voxels {config.size}³. Checkpoint `{folder.name}/` ({_families_note(card)}): "
        f"`{card.get('command', '?')}` "
        f"({card.get('duration_s', 0) / 60:.0f} min, {card.get('epochs')} epochs, best epoch {card.get('best_epoch')}, "
        f"validation IoU {card.get('metrics', {}).get('iou', float('nan')):.3f}; {training.get('threads')} thread(s), "
        f"{card.get('device')}). Retrieval searches the {len(train)} training samples of that run. IoU per family "
        "in the family columns; ms_per_part on this machine (2 shared cores). See porelib/bench/parts.py.",
        f"**{verdict}**",
        "Paired over the test parts (bootstrap of the mean, 2000 resamples):\n\n" + markdown_table(paired),
        "The seed's comparisons (same command but one flag; their family sets as their cards say; not retrained "
        "for issue 21, so where they never met a family the comparison with the shipped model is not like for "
        "like):\n" + "\n".join(ablations),
        "Pictures that keep the convention but not its exact pixels (the same test parts, the shipped model; "
        "`change` = IoU difference from the pictures as rendered):\n\n" + markdown_table(robustness),
        "Hand-made parts of no generator family (porelib/bench/parts_unseen.py), one picture each (view 0), the "
        "shipped model. The first set guided which families issue 21 added (so it is no longer a clean "
        "out-of-family check); the second was made after those families and before any model was scored on it.\n\n"
        + unseen_text,
        f"![examples](parts.png)\n\nExamples ({figure.name}): picture | prediction | truth, the first test part of "
        "each family. Rows of the main table:",
    ])
    write_report("parts", rows, out_dir, notes=notes, extra={
        "paired": paired, "robustness": robustness, "unseen": unseen, "unseen_means": unseen_means,
        "checkpoint": card.get("command"), "families": list(trained_families(card)), "figure": figure.name,
        "seconds": round(time.perf_counter() - started, 1)})
    return rows
