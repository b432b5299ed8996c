"""Simulated pore grids that stand in for the seed-000 dataset.

The original dataset holds 30³ grids of spherical pores of several sizes that
never touch the faces of the cube. Its density factor is uniform on [0, 1] and
is *not* the porosity: the number of pore voxels follows the calibration
measured on those files,

.. math::  N(d) = (d / 0.0882)^{3.8}  \\quad\\text{voxels of a 30³ grid,}

about 105 voxels at d = 0.3, 730 at 0.5 and 10,000 (37 %) at 1.0. For other
edge lengths S the porosity is kept, ``N_S = N(d) · (S / 30)³``.

:func:`pore_grid` places balls of random radius at random centres, fully inside
the cube with a one-voxel margin, until the pore-voxel count reaches that
target. Each new ball is sized to add no more voxels than are still missing,
and the last few voxels are placed by a small ball grown from an existing
pore, chosen among many candidate positions to add exactly the missing count.
The count is exact above density 0.3 and within :data:`COUNT_TOLERANCE`
voxels below (a target of 2 voxels cannot always be met by one ball), which
is far below the dataset's own grid-to-grid spread at any density.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from porelib._validate import check_density, check_positive_int

#: Calibration of the seed dataset: pore voxels of a 30³ grid = (density / SCALE) ** EXPONENT.
CALIBRATION_SCALE = 0.0882
CALIBRATION_EXPONENT = 3.8
CALIBRATION_SIZE = 30

#: Largest difference, in voxels, between a grid's pore count and :func:`expected_pore_voxels`.
COUNT_TOLERANCE = 2

_MIN_RADIUS = 1.0
_NON_OVERLAP_TRIES = 12
_FINAL_CANDIDATES = 400
_MAX_BALLS = 10_000


def expected_pore_voxels(density, *, size: int = CALIBRATION_SIZE) -> float:
    """Return the calibrated number of pore voxels for ``density`` on a ``size``³ grid.

    Parameters
    ----------
    density : float or array_like
        Density factor(s) in [0, 1].
    size : int
        Edge length S of the grid, in voxels.

    Returns
    -------
    float or ndarray
        ``(density / 0.0882) ** 3.8 * (size / 30) ** 3``, capped at the
        interior volume ``(size - 2) ** 3``.
    """
    d = np.clip(np.asarray(density, dtype=float), 0.0, 1.0)
    count = (d / CALIBRATION_SCALE) ** CALIBRATION_EXPONENT * (size / CALIBRATION_SIZE) ** 3
    count = np.minimum(count, 0.6 * (size - 2) ** 3)
    return float(count) if count.ndim == 0 else count


def density_from_porosity(porosity) -> float:
    """Invert the calibration: the density factor whose expected porosity is ``porosity``.

    Porosity does not depend on the grid size, so this holds for any S. Values
    above the porosity at density 1 (about 0.377) map to 1.0.
    """
    phi = np.clip(np.asarray(porosity, dtype=float), 0.0, 1.0)
    count_30 = phi * CALIBRATION_SIZE**3
    d = np.minimum(CALIBRATION_SCALE * count_30 ** (1.0 / CALIBRATION_EXPONENT), 1.0)
    return float(d) if d.ndim == 0 else d


@lru_cache(maxsize=64)
def _ball_offsets(radius_tenths: int) -> np.ndarray:
    """Integer offsets ``(K, 3)`` of the voxels within ``radius_tenths / 10`` of the centre."""
    radius = radius_tenths / 10.0
    r = int(np.floor(radius))
    axis = np.arange(-r, r + 1)
    dx, dy, dz = np.meshgrid(axis, axis, axis, indexing="ij")
    inside = dx**2 + dy**2 + dz**2 <= radius**2 + 1e-9
    return np.stack([dx[inside], dy[inside], dz[inside]], axis=1)


def _ball(radius: float) -> np.ndarray:
    return _ball_offsets(int(round(radius * 10)))


def _max_radius(density: float, size: int) -> float:
    """Largest pore radius at this density: bigger pores at higher density, as in the dataset."""
    return max(_MIN_RADIUS, min((1.5 + 4.5 * density) * size / CALIBRATION_SIZE, (size - 3) / 2))


def _random_centre(rng, radius: float, size: int) -> np.ndarray:
    """A centre whose ball stays inside [1, size - 2] on every axis (never touches a face)."""
    r = int(np.floor(radius))
    return rng.integers(1 + r, size - 1 - r, size=3, endpoint=False)


def _new_voxels(grid: np.ndarray, centre: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    idx = offsets + centre
    return idx[~grid[idx[:, 0], idx[:, 1], idx[:, 2]]]


def _touches_pores(grid: np.ndarray, centre: np.ndarray, radius: float) -> bool:
    """True if the ball, grown by one voxel, meets an existing pore."""
    idx = _ball(radius + 1.0) + centre
    idx = idx[np.all((idx >= 0) & (idx < grid.shape[0]), axis=1)]
    return bool(grid[idx[:, 0], idx[:, 1], idx[:, 2]].any())


def _largest_radius_within(count: int, upper: float) -> float | None:
    """Largest radius (step 0.1) at most ``upper`` whose ball has at most ``count`` voxels."""
    radius = upper
    while radius >= _MIN_RADIUS:
        if len(_ball(radius)) <= count:
            return radius
        radius = round(radius - 0.1, 1)
    return None


def _fill_remainder(grid: np.ndarray, remaining: int, rng) -> int:
    """Add ``remaining`` voxels (or as close as found) with one small ball; return the count added.

    Candidate balls are centred on existing pore voxels, so they grow a pore
    by a few voxels rather than create a speck; the best of
    ``_FINAL_CANDIDATES`` random candidates is kept.
    """
    size = grid.shape[0]
    pores = np.argwhere(grid)
    best, best_error = None, remaining
    for _ in range(_FINAL_CANDIDATES):
        radius = float(rng.choice([0.5, 1.0, 1.5, 2.0]))
        if len(pores):
            r = int(np.floor(radius))
            centre = np.clip(pores[rng.integers(len(pores))], 1 + r, size - 2 - r)
        else:
            centre = _random_centre(rng, radius, size)
        new = _new_voxels(grid, centre, _ball(radius))
        error = abs(remaining - len(new))
        if error < best_error:
            best, best_error = new, error
            if error == 0:
                break
    if best is None:
        return 0
    grid[best[:, 0], best[:, 1], best[:, 2]] = True
    return len(best)


def pore_grid(density, *, size: int = CALIBRATION_SIZE, seed=None) -> np.ndarray:
    """Simulate one grid of spherical pores for a density factor.

    Parameters
    ----------
    density : float
        Density factor in [0, 1] (not the porosity; see the module docstring).
    size : int, optional
        Edge length S in voxels (default 30, at least 5).
    seed : int or numpy.random.Generator, optional
        Source of randomness; the same seed gives the same grid.

    Returns
    -------
    ndarray of bool, shape (S, S, S)
        ``grid[ix, iy, iz]`` is True inside a pore. No pore voxel lies on a
        face of the cube, and ``grid.sum()`` is within :data:`COUNT_TOLERANCE`
        voxels of ``round(expected_pore_voxels(density, size=size))``.

    Raises
    ------
    ValueError, TypeError
        If ``density`` is not in [0, 1] or ``size`` is not an integer >= 5.
    """
    density = check_density(density)
    size = check_positive_int(size, "size", minimum=5, maximum=512)
    rng = np.random.default_rng(seed)
    grid = np.zeros((size, size, size), dtype=bool)
    target = int(round(expected_pore_voxels(density, size=size)))
    max_radius = _max_radius(density, size)
    count = 0
    for _ in range(_MAX_BALLS):
        remaining = target - count
        if remaining <= 0:
            break
        radius = _largest_radius_within(remaining, round(rng.uniform(_MIN_RADIUS, max_radius), 1))
        if radius is None:  # fewer voxels missing than the smallest ball holds
            _fill_remainder(grid, remaining, rng)
            break
        offsets = _ball(radius)
        for _ in range(_NON_OVERLAP_TRIES):
            centre = _random_centre(rng, radius, size)
            if not _touches_pores(grid, centre, radius):
                break
        new = _new_voxels(grid, centre, offsets)
        grid[new[:, 0], new[:, 1], new[:, 2]] = True
        count += len(new)
    return grid


def pore_grids(densities, *, size: int = CALIBRATION_SIZE, seed=None) -> np.ndarray:
    """Simulate one grid per density; returns bool ``(N, S, S, S)``.

    Each grid gets its own child generator spawned from ``seed``, so grid i
    does not depend on how many grids come before it.
    """
    densities = np.atleast_1d(np.asarray(densities, dtype=float))
    children = np.random.default_rng(seed).spawn(len(densities))
    return np.stack([pore_grid(float(d), size=size, seed=rng) for d, rng in zip(densities, children)])
