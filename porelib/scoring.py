"""Score a grid: its statistics, against a reference grid and against the dataset.

This is what ``python -m porelib score`` and the app's Score page call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from porelib import metrics
from porelib._validate import check_density, check_grid, check_same_shape
from porelib.synth import density_from_porosity

#: Number of dataset grids nearest in density that form "the dataset at this density".
ENSEMBLE_SIZE = 16


@dataclass(frozen=True)
class Score:
    """The scores of one grid.

    Attributes
    ----------
    stats : metrics.GridStats
        The grid's own statistics.
    comparison : dict or None
        IoU, Dice, AAD, AVAR against a reference grid, with the all-empty
        grid's AAD/AVAR as a baseline (``None`` without a reference).
    density : float or None
        The density the grid was compared at (given, or estimated from its porosity).
    fidelity : dict of metrics.StatFidelity, or None
        Distance to the dataset at ``density`` per statistic, as a ratio to
        the dataset's own spread (``None`` without a density).
    band : dict or None
        The dataset's mean and spread of each statistic at ``density``.
    """

    stats: metrics.GridStats
    comparison: dict | None = None
    density: float | None = None
    fidelity: dict | None = None
    band: dict | None = None

    def to_dict(self) -> dict:
        """JSON-ready dictionary: the statistics' keys, plus comparison and ``fidelity``."""
        out = self.stats.to_dict()
        if self.comparison is not None:
            out.update(self.comparison)
        if self.density is not None:
            out["density"] = self.density
            out["fidelity"] = {
                name: {"distance": f.distance, "noise_floor": f.noise_floor, "ratio": f.ratio}
                for name, f in self.fidelity.items()
            }
        return out


def estimate_density(grid) -> float:
    """The density factor whose calibrated porosity equals the grid's porosity."""
    return density_from_porosity(metrics.porosity(check_grid(grid)))


def score_grid(
    grid, *, reference=None, density=None, dataset=None, ensemble_size: int = ENSEMBLE_SIZE, ensemble=None
) -> Score:
    """Score one grid.

    Parameters
    ----------
    grid : array_like, shape (S, S, S)
        Bool or 0/1 grid.
    reference : array_like, shape (S, S, S), optional
        Grid to compare voxel by voxel (IoU, Dice, AAD, AVAR).
    density : float or "auto", optional
        Compare against the dataset at this density factor; ``"auto"``
        estimates it from the grid's porosity through the calibration.
    dataset : porelib.data.Dataset, optional
        Dataset to compare against (default: :func:`porelib.data.load_dataset`).
    ensemble_size : int
        How many dataset grids nearest in density form the reference ensemble.
    ensemble : metrics.Reference, optional
        The dataset's statistics at ``density``, already computed (the app caches
        them per density); replaces ``dataset`` and ``ensemble_size``.

    Raises
    ------
    ValueError
        For a malformed grid, a reference of another shape, a density outside
        [0, 1], or a dataset whose grid size differs from the grid's.
    """
    grid = check_grid(grid)
    comparison = None
    if reference is not None:
        reference = check_grid(reference, "reference")
        check_same_shape(grid, reference, ("grid", "reference"))
        comparison = metrics.compare(grid, reference)
    stats = metrics.summary(grid)
    if density is None:
        return Score(stats, comparison)
    density = estimate_density(grid) if density == "auto" else check_density(density)
    if ensemble is None:
        if dataset is None:
            from porelib.data import load_dataset

            dataset = load_dataset()
        ensemble_grid_size = dataset.size
    else:
        ensemble_grid_size = ensemble.size
    if ensemble_grid_size != grid.shape[0]:
        raise ValueError(
            f"the grid is {grid.shape[0]}³ but the dataset's grids are {ensemble_grid_size}³; "
            "compare grids of the dataset's size, or drop the density"
        )
    ref = ensemble if ensemble is not None else metrics.Reference(dataset.ensemble(density, ensemble_size))
    return Score(stats, comparison, float(np.round(density, 4)), ref.fidelity(grid), ref.band())
