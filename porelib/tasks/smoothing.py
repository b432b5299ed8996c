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
    for knot in SMOOTHING_KNOTS:
        inside = np.flatnonzero(np.abs(val.densities - knot) <= HALF_BAND + 1e-9)
        counts[str(knot)] = int(len(inside))
        if not len(inside):
            chosen.append(0.0)
            continue
        nearest = np.argsort(np.abs(train.densities[None, :] - val.densities[inside, None]), axis=1)
        reference = metrics.PairedReference(
            val.grids[inside], train.grids[nearest[:, : min(NEIGHBOURS, len(train.grids))]], statistics=STATISTICS
        )
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


__all__ = ["choose_smoothing"]
