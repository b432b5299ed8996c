"""Segmentation methods on held-out simulated CT scans whose labels are exact.

``python -m porelib bench segmentation`` calls :func:`run`. One scan is
simulated (:func:`porelib.ct.simulate`) per contrast × dose × volume fraction,
scan ``i`` with seed ``BENCHMARK_SEED_START + i`` (1 000 000 upwards); training
data uses seeds in :data:`porelib.ct.TRAINING_SEEDS` (below 10 000), so no
benchmark scan was ever trained on. Every method segments every scan; the
U-Net rows appear only when a checkpoint exists.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from porelib import ct, segmentation
from porelib.bench._report import markdown_table, write_report
from porelib.checkpoint import CARD_FILE
from porelib.metrics import dice, iou

#: Edge length of the benchmark scans, and of the quick run's.
SIZE = 128
QUICK_SIZE = 32

VOLUME_FRACTIONS = (0.1, 0.3)

#: Classical methods by row name; the U-Net is added when a checkpoint exists.
CLASSICAL_METHODS = {
    "otsu": segmentation.otsu,
    "otsu+clahe": lambda volume: segmentation.otsu(volume, clahe=True),
    "kmeans": segmentation.kmeans,
    "kmeans(intensity+xyz)": lambda volume: segmentation.kmeans(volume, features="intensity+xyz"),
    "depthmap": segmentation.depthmap,
}

NOTES = """\
Held-out simulated scans (`porelib.ct.simulate`, seeds 1 000 000 + i; training uses seeds < 10 000),
one per contrast (bright = glass spheres in polymer, dark = pores in a solid) × dose (photons per
detector pixel at 128 px: high 20 000, default 3 000, low 1 000) × volume fraction. `dice`/`iou` of the
inclusion phase against the exact label; `porosity_error` = segmented minus true inclusion fraction;
`mvox_per_s` = megavoxels segmented per second of wall time (2 shared CPU cores, so indicative).
otsu/kmeans pick the minority class as the inclusion phase; the U-Net (`checkpoints/unet`, see
docs/unet.md) is trained on bright inclusions and sees a scan inverted when Otsu's minority class is
the darker one (the same rule, `contrast="auto"`). `kmeans(intensity+xyz)` is seed 001's
feature set: on noisy scans cutting the volume in two halves beats the blurred intensity split, and
it segments half the volume. `depthmap` is seed 001's depth map (cumsum along z of |dI/dz|, 75th
percentile): it selects the top quarter of the slices whatever the material.

Mean Dice per method and dose (over contrasts and volume fractions):"""


def run(*, out_dir="docs/bench", quick: bool = False, checkpoint=None) -> list[dict]:
    """Segment the benchmark scans with every method; write ``segmentation.md`` and ``.json``.

    Parameters
    ----------
    out_dir : str or Path
        Folder of the report.
    quick : bool
        Scans of :data:`QUICK_SIZE`³ instead of :data:`SIZE`³ (a smoke test).
    checkpoint : str or Path, optional
        U-Net checkpoint folder; by default ``checkpoints/unet`` if it exists
        (no U-Net rows otherwise).

    Returns
    -------
    list of dict
        One row per method and scan: method, contrast, dose, volume_fraction,
        porosity (true), dice, iou, porosity_error, mvox_per_s.

    Raises
    ------
    ValueError
        If an explicit ``checkpoint`` is not a U-Net checkpoint.
    """
    methods = dict(CLASSICAL_METHODS)
    model = _unet_if_available(checkpoint)
    if model is not None:
        methods["unet"] = lambda volume: segmentation.unet_probability(volume, model) > 0.5
    size = QUICK_SIZE if quick else SIZE
    settings = list(itertools.product(ct.CONTRASTS, ct.DOSES, VOLUME_FRACTIONS))
    rows = []
    for index, (contrast, dose, fraction) in enumerate(settings):
        scan = ct.simulate(
            size, volume_fraction=fraction, contrast=contrast, dose=dose, seed=ct.BENCHMARK_SEED_START + index
        )
        for name, method in methods.items():
            started = time.perf_counter()
            mask = method(scan.image)
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "method": name,
                    "contrast": contrast,
                    "dose": dose,
                    "volume_fraction": fraction,
                    "porosity": float(scan.label.mean()),
                    "dice": dice(mask, scan.label),
                    "iou": iou(mask, scan.label),
                    "porosity_error": float(mask.mean() - scan.label.mean()),
                    "mvox_per_s": mask.size / seconds / 1e6,
                }
            )
    summary = mean_dice_by_dose(rows)
    write_report(
        "segmentation",
        rows,
        out_dir,
        notes=NOTES + "\n\n" + markdown_table(summary),
        extra={
            "size": size,
            "seeds": [ct.BENCHMARK_SEED_START, ct.BENCHMARK_SEED_START + len(settings) - 1],
            "summary": summary,
        },
    )
    return rows


def mean_dice_by_dose(rows: list[dict]) -> list[dict]:
    """One row per method: its mean Dice at each dose and its worst Dice over all scans."""
    summary = []
    for method in dict.fromkeys(row["method"] for row in rows):
        own = [row for row in rows if row["method"] == method]
        means = {f"dice_{dose}": float(np.mean([r["dice"] for r in own if r["dose"] == dose])) for dose in ct.DOSES}
        summary.append({"method": method, **means, "worst_dice": min(r["dice"] for r in own)})
    return summary


def _unet_if_available(checkpoint):
    """The U-Net of ``checkpoint``; with ``None``, that of the default folder if it has a card, else None."""
    if checkpoint is None and not (segmentation.DEFAULT_CHECKPOINT / CARD_FILE).is_file():
        return None
    return segmentation.load_unet(checkpoint)
