"""Choose the parameters of the classical segmentation methods on validation scans.

``python -m porelib bench segmentation-tuning`` calls :func:`run`: a grid search over
:data:`porelib.segmentation.PARAMETER_GRID` for each of
:data:`porelib.segmentation.DENOISING_METHODS`, scored by the mean Dice over validation
scans whose seeds come from :data:`porelib.ct.VALIDATION_SEEDS` (500 000 upwards):
disjoint from the training seeds (below 10 000) and from the benchmark's (1 000 000
upwards), so the parameters are never tuned on a scan the benchmark reports. The
validation scans are those of the ``"spheres"`` and ``"randomised"`` families, each
contrast × named dose; the held-out family is never looked at. The winners are
written to ``segmentation_tuning.json``; :data:`porelib.segmentation.CLASSICAL_PARAMETERS`
holds the same values (a test checks it).
"""

from __future__ import annotations

import itertools

import numpy as np

from porelib import ct, segmentation
from porelib.bench._report import markdown_table, write_report
from porelib.metrics import dice

#: Edge length of the validation scans, and of the quick run's.
SIZE = 48
QUICK_SIZE = 24

#: Families and scans per family × contrast × named dose.
FAMILIES = ("spheres", "randomised")
SCANS_PER_SETTING = 2


def validation_scans(size: int, per_setting: int = SCANS_PER_SETTING) -> list[ct.Scan]:
    """The validation scans: family × contrast × named dose × ``per_setting``, seeds from ``ct.VALIDATION_SEEDS``."""
    settings = list(itertools.product(FAMILIES, ct.CONTRASTS, ct.DOSES, range(per_setting)))
    return [
        ct.random_scan(family, size, ct.VALIDATION_SEEDS[index], contrast=contrast, dose=dose)
        for index, (family, contrast, dose, _) in enumerate(settings)
    ]


def _segment(method: str, volume, parameters: dict) -> np.ndarray:
    if method == "watershed":
        return segmentation.watershed(volume, **parameters)
    return segmentation.denoised_otsu(volume, method, **parameters)


def run(*, out_dir="docs/bench", quick: bool = False) -> list[dict]:
    """Score every grid point of every denoising method; write ``segmentation_tuning.md`` and ``.json``.

    Parameters
    ----------
    out_dir : str or Path
        Folder of the report.
    quick : bool
        Scans of :data:`QUICK_SIZE`³, one per setting (a smoke test).

    Returns
    -------
    list of dict
        One row per method and parameter set: method, parameters (``"name=value, ..."``),
        mean_dice, worst_dice, chosen (whether it is the method's best).
    """
    scans = validation_scans(QUICK_SIZE if quick else SIZE, 1 if quick else SCANS_PER_SETTING)
    rows = []
    chosen = {}
    for method in segmentation.DENOISING_METHODS:
        grid = segmentation.PARAMETER_GRID[method]
        own = []
        for values in itertools.product(*grid.values()):
            parameters = dict(zip(grid, values))
            dices = [dice(_segment(method, scan.image, parameters), scan.label) for scan in scans]
            own.append((parameters, float(np.mean(dices)), min(dices)))
        best = max(range(len(own)), key=lambda i: own[i][1])
        chosen[method] = own[best][0]
        rows += [
            {
                "method": method,
                "parameters": ", ".join(f"{k}={v:g}" for k, v in parameters.items()),
                "mean_dice": mean,
                "worst_dice": worst,
                "chosen": i == best,
            }
            for i, (parameters, mean, worst) in enumerate(own)
        ]
    notes = (
        f"Grid search of the classical methods' parameters on {len(scans)} validation scans "
        f"({'×'.join(map(str, [len(FAMILIES), len(ct.CONTRASTS), len(ct.DOSES)]))} family × contrast × dose, "
        f"{1 if quick else SCANS_PER_SETTING} each, {QUICK_SIZE if quick else SIZE}³, seeds "
        f"{ct.VALIDATION_SEEDS[0]} upwards; families {', '.join(FAMILIES)}; the held-out family is not used). "
        "`nlm` h is in units of the estimated noise σ; `watershed` margin in units of the distance between the "
        "two classes' mean intensities. The chosen values (`chosen`) are "
        "`porelib.segmentation.CLASSICAL_PARAMETERS`.\n\nChosen:\n\n"
        + markdown_table([{"method": m, **p} for m, p in chosen.items()])
        + "\nAll grid points:"
    )
    write_report("segmentation_tuning", rows, out_dir, notes=notes, extra={"chosen": chosen, "n_scans": len(scans)})
    return rows
