"""Pick a generator's smoothing width per density on validation grids (after training).

A generator's logits are smoothed by a Gaussian before the top-k
(:func:`porelib.models.blocks.smooth`): wider smoothing gives rounder pores with less
surface, and can merge small neighbouring pores. Which width is right depends on the
density, so :func:`choose_smoothing` sets one at each of
:data:`porelib.models.blocks.SMOOTHING_KNOTS`: for the validation grids within
:data:`HALF_BAND` of the knot, :data:`SAMPLES` generated grids per validation grid (at its
density, fixed noise) are scored with the benchmark's fidelity ratios at matched densities
(:class:`porelib.metrics.PairedReference`: the distance of a sample to its validation grid
over the distance from that grid to its :data:`NEIGHBOURS` nearest-density training grids),
and the width of :data:`WIDTHS` with the lowest *worst* ratio over :data:`STATISTICS` wins
(ties: the narrower). Neither the training loss nor the benchmark's held-out ensembles play
a part.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from porelib import metrics
from porelib.models.blocks import SMOOTHING_KNOTS, keep_top_k, smooth

#: Candidate widths, in voxels (0: no smoothing).
WIDTHS = (0.0, 0.5, 0.7, 0.85, 1.0, 1.2)
#: A knot's validation grids lie within this distance of it in density.
HALF_BAND = 0.075
#: Generated grids per validation grid.
SAMPLES = 8
#: Training grids nearest in density that set each validation grid's noise floor.
NEIGHBOURS = 4
#: Ratios whose worst picks the width: the benchmark's.
STATISTICS = metrics.MATRIX_STATISTICS
#: Seed of the fixed noise.
SEED = 1357


def knot_bands(knots=SMOOTHING_KNOTS, half_band: float = HALF_BAND) -> list[tuple[float, float]]:
    """``[(knot − half_band, knot + half_band), ...]``: the validation densities that speak for each knot."""
    return [(knot - half_band - 1e-9, knot + half_band + 1e-9) for knot in knots]


def band_references(val, train, bands, *, neighbours: int = NEIGHBOURS, statistics=STATISTICS) -> list:
    """Per density band, its validation grids paired with their nearest-density training grids.

    Parameters
    ----------
    val, train : porelib.data split
        ``.grids`` bool ``(M, S, S, S)`` and ``.densities`` ``(M,)`` each.
    bands : sequence of (float, float)
        Closed density intervals ``[low, high]``.
    neighbours : int
        Training grids nearest in density that set each validation grid's noise floor.
    statistics : sequence of str
        Scored statistics (:data:`porelib.metrics.PAIRED_STATISTICS`).

    Returns
    -------
    list of (ndarray, porelib.metrics.PairedReference) or None
        For each band the indices of its validation grids and their :class:`~porelib.metrics.PairedReference`;
        None for a band without validation grids.
    """
    result = []
    for low, high in bands:
        inside = np.flatnonzero((val.densities >= low) & (val.densities <= high))
        if not len(inside):
            result.append(None)
            continue
        nearest = np.argsort(np.abs(train.densities[None, :] - val.densities[inside, None]), axis=1)
        result.append((inside, metrics.PairedReference(val.grids[inside], train.grids[nearest[:, : min(neighbours, len(train.grids))]],
                                                       statistics=statistics)))  # fmt: skip
    return result


def selection_score(ratios: dict[str, float]) -> float:
    """``Σ log²(ratio)`` over the fidelity ratios of one band: 0 for grids like the dataset's.

    Unlike the worst ratio it weighs every statistic, and it penalises a ratio of ½ (samples
    more alike than the dataset's grids) as much as one of 2.
    """
    return float(sum(np.log(max(ratio, 1e-6)) ** 2 for ratio in ratios.values()))


def choose_smoothing(model, logits: Callable, val, train, device, noise_shape: tuple) -> dict:
    """Set ``model.smoothing`` at every knot from validation grids; return the choice and its scores.

    Parameters
    ----------
    model : torch.nn.Module
        A generator with a ``smoothing`` buffer (one width per knot of
        :data:`porelib.models.blocks.SMOOTHING_KNOTS`) and ``pore_counts(densities)``.
    logits : callable
        ``logits(densities (N,), noise (N, *noise_shape)) -> (N, S, S, S)``: the
        generator's logits before smoothing and top-k.
    val, train : porelib.data split
        ``.grids`` bool ``(M, S, S, S)`` and ``.densities`` ``(M,)`` each.
    device : torch.device
    noise_shape : tuple of int
        Shape of one grid's standard normal noise.

    Returns
    -------
    dict
        ``smoothing``: ``{knot: width}``; ``val_worst_ratio_by_width``:
        ``{knot: {width: worst ratio}}``; ``val_grids``: ``{knot: count}``. A knot without
        validation grids keeps width 0.
    """
    generator = torch.Generator().manual_seed(SEED)
    chosen, scores, counts = [], {}, {}
    for knot, band in zip(SMOOTHING_KNOTS, band_references(val, train, knot_bands())):
        counts[str(knot)] = 0 if band is None else int(len(band[0]))
        if band is None:
            chosen.append(0.0)
            continue
        inside, reference = band
        densities = torch.from_numpy(np.repeat(val.densities[inside], SAMPLES).astype(np.float32)).to(device)
        noise = torch.randn((len(densities), *noise_shape), generator=generator).to(device)
        with torch.no_grad():
            raw = logits(densities, noise)
        counts_k = model.pore_counts(densities)
        worst = {}
        for width in WIDTHS:
            grids = keep_top_k(smooth(raw, torch.full((len(raw),), width)), counts_k).cpu().numpy()
            fidelity = reference.fidelity(grids.reshape(len(inside), SAMPLES, *grids.shape[1:]))
            worst[width] = max(fidelity[name].ratio for name in STATISTICS)
        chosen.append(min(WIDTHS, key=lambda width: (worst[width], width)))
        scores[str(knot)] = {str(width): round(value, 3) for width, value in worst.items()}
    model.smoothing.copy_(torch.tensor(chosen, dtype=model.smoothing.dtype))
    return {
        "smoothing": dict(zip(map(str, SMOOTHING_KNOTS), chosen)),
        "val_worst_ratio_by_width": scores,
        "val_grids": counts,
    }


__all__ = ["band_references", "choose_smoothing", "knot_bands", "selection_score"]
