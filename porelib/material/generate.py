"""Volumes of a material at any size and an exact porosity, from a trained run or a classical baseline.

:func:`generate_material` is what ``python -m porelib generate --checkpoint RUN --size S
--porosity P`` and the app call. ``method="model"`` runs the run's generator
(:func:`porelib.models.material.generate_volume`) on noise and, for a generator with a prior,
the Gaussian random field of the run's training region at the requested porosity; the baselines
are fitted to the run's training region (never to its held-out slab). From 2-D sections the
Gaussian field (and the generator's prior) is fitted to every section's training strip, one
correlation profile per axis; the sphere and grain packs see the section normal to x (they assume an
isotropic material). Every method returns exactly
``round(porosity · voxels)`` pore voxels.

The porosities a run supports are those of its training patches
(:func:`supported_porosity`): the generator learnt the structure at the sample's own
porosity, and a porosity far outside what the sample shows is a different material.
Outside that range :func:`generate_material` still generates but
:func:`porosity_warning` says so.
"""

from __future__ import annotations

import numpy as np

from porelib._validate import check_choice, check_number, check_positive_int

#: Methods of :func:`generate_material`: the trained generator and the classical baselines.
METHODS = ("model", "gaussian-field", "spheres", "grains")
#: Largest edge of a generated volume, in voxels.
MAX_SIZE = 512
#: Stream of :func:`prior_seed` (the noise uses the seed itself).
PRIOR_STREAM = 1
#: Training patches whose porosities give :func:`supported_porosity`.
RANGE_PATCHES = 64


def supported_porosity(run) -> tuple[float, float]:
    """The lowest and highest porosity of :data:`RANGE_PATCHES` random training patches of the run (of each section)."""
    rng = np.random.default_rng(0)
    values = []
    for region in run.split.parts("train"):
        patch = int(run.card.get("data", {}).get("patch", min(region.shape)))
        box = tuple(min(patch, extent) for extent in region.shape)
        for _ in range(RANGE_PATCHES):
            corner = [int(rng.integers(0, extent - side + 1)) for extent, side in zip(region.shape, box)]
            values.append(region[tuple(slice(c, c + side) for c, side in zip(corner, box))].mean())
    return float(min(values)), float(max(values))


def porosity_warning(run, porosity: float) -> str | None:
    """A sentence when ``porosity`` lies outside :func:`supported_porosity`, else ``None``."""
    low, high = supported_porosity(run)
    if low <= porosity <= high:
        return None
    return (f"porosity {porosity:g} is outside what the training patches of this sample show ({low:.3f} to "
            f"{high:.3f}); the structure there is an extrapolation of the trained one")


def prior_seed(seed):
    """The seed of the prior field of a generated volume: drawn from ``seed``, independent of its noise (``None`` stays ``None``)."""
    if seed is None:
        return None
    return np.random.default_rng([check_positive_int(seed, "seed", minimum=0), PRIOR_STREAM])


def generate_material(run, size, porosity: float, *, seed=None, method: str = "model") -> np.ndarray:
    """A bool volume ``(S, S, S)`` (or of shape ``size``) with exactly the requested porosity.

    Parameters
    ----------
    run : MaterialRun
        From :func:`porelib.material.run.load_material_run`.
    size : int or tuple of int
        Edge length S, or a shape ``(X, Y, Z)``; each side in [8, :data:`MAX_SIZE`].
    porosity : float
        In (0, 1).
    seed : int, optional
        Same seed, same volume.
    method : {"model", "gaussian-field", "spheres", "grains"}

    Raises
    ------
    ValueError
        For a size or porosity out of range, or an unknown method.
    """
    check_choice(method, METHODS, "method")
    shape = (size,) * 3 if np.ndim(size) == 0 else tuple(size)
    shape = tuple(check_positive_int(side, "size", minimum=8, maximum=MAX_SIZE) for side in shape)
    if len(shape) != 3:
        raise ValueError(f"size must be an edge length or a 3-D shape (X, Y, Z); got {size!r}")
    porosity = check_number(porosity, "porosity", minimum=1e-4, maximum=1 - 1e-4)
    from porelib.material import baselines

    if method == "model":
        from porelib.models.material import generate_volume

        prior = None
        if run.model.config.uses_prior:
            prior = baselines.gaussian_field(run.split.field_training(), run.model.prior_shape(shape), porosity, seed=prior_seed(seed))
        return generate_volume(run.model, shape, porosity, seed=seed, prior=prior)

    if method == "gaussian-field":
        return baselines.gaussian_random_field(run.split.field_training(), shape, porosity, seed=seed)
    if method == "grains":
        return baselines.grain_pack(run.split.train, shape, porosity, seed=seed)
    return baselines.sphere_pack(run.split.train, shape, porosity, seed=seed)
