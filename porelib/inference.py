"""What the pages and the CLI call to generate pore grids.

:func:`generate` is the one entry point for every generator: the simulator
(:mod:`porelib.synth`) and the trained models, loaded once per checkpoint
folder and cached.
"""

from __future__ import annotations

import numpy as np

from porelib._validate import check_choice, check_density, check_positive_int
from porelib.synth import pore_grids

#: Generators offered by :func:`generate`, the CLI and the app.
MODELS = ("simulator",)


def generate(model: str, density, n: int = 1, seed=None, *, size: int = 30, checkpoint=None) -> np.ndarray:
    """Generate ``n`` pore grids for a density factor.

    Parameters
    ----------
    model : str
        One of :data:`MODELS`.
    density : float
        Density factor in [0, 1].
    n : int
        Number of grids.
    seed : int, optional
        The same seed gives the same grids.
    size : int
        Edge length for the simulator; trained models use their checkpoint's size.
    checkpoint : str or Path, optional
        Checkpoint folder of a trained model (default ``checkpoints/<model>``).

    Returns
    -------
    ndarray of bool, shape (n, S, S, S)

    Raises
    ------
    ValueError
        For an unknown model, a density outside [0, 1] or ``n < 1``.
    """
    check_choice(model, MODELS, "model")
    density = check_density(density)
    n = check_positive_int(n, "n", maximum=10_000)
    return pore_grids(np.full(n, density), size=size, seed=seed)
