"""Speed of porelib's metrics and simulator, beside PoreSpy's equivalents.

``python -m porelib bench speed`` calls :func:`run`. Each row is the best of a few
runs (``time.perf_counter``), so one-off costs (caches, PoreSpy's numba compilation)
are not counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from porelib import metrics
from porelib.bench._report import write_report

#: Runs per operation: at most this many, and at least two so the first (cold) run can be discarded.
MAX_RUNS = 5
#: Stop repeating an operation once this many seconds have been spent on it (after two runs).
TIME_BUDGET_S = 3.0


def best_time_ms(operation: Callable[[], object]) -> float:
    """Best wall time of ``operation()`` in milliseconds over 2 … :data:`MAX_RUNS` runs."""
    times = []
    started = time.perf_counter()
    while len(times) < MAX_RUNS and (len(times) < 2 or time.perf_counter() - started < TIME_BUDGET_S):
        begin = time.perf_counter()
        operation()
        times.append(time.perf_counter() - begin)
    return 1e3 * min(times)


def blobs(size: int, *, porosity: float = 0.3, seed: int = 0) -> np.ndarray:
    """Smooth random pore structure ``(S, S, S)`` bool: Gaussian-filtered noise cut at ``porosity``.

    Like PoreSpy's ``generators.blobs``; features are about ``S / 20`` voxels wide.
    """
    field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal((size,) * 3), sigma=max(1.0, size / 40))
    return field > np.quantile(field, 1.0 - porosity)


def _import_porespy():
    """PoreSpy with its progress bars off, or None if it is not installed."""
    try:
        import porespy
    except ImportError:
        return None
    porespy.settings.tqdm["disable"] = True
    return porespy


#: porelib functions of one grid timed on the small grid.
METRICS = {
    "summary": metrics.summary,
    "porosity": metrics.porosity,
    "two_point_correlation": metrics.two_point_correlation,
    "local_thickness": metrics.local_thickness,
    "pore_radii": metrics.pore_radii,
    "pore_count": metrics.pore_count,
    "largest_cluster_fraction": metrics.largest_cluster_fraction,
    "euler_per_voxel": metrics.euler_per_voxel,
    "specific_surface": metrics.specific_surface,
}


def _porespy_equivalents(ps) -> dict[str, Callable]:
    """PoreSpy's function of one grid for each name of :data:`METRICS` it covers."""
    if ps is None:
        return {}
    return {
        "porosity": ps.metrics.porosity,
        "two_point_correlation": ps.metrics.two_point_correlation,
        "local_thickness": ps.filters.local_thickness,
        "specific_surface": lambda im: ps.metrics.mesh_surface_area(ps.tools.mesh_region(im)) / im.size,
    }


def _row(operation: str, size: int, ours: Callable[[], object], theirs: Callable[[], object] | None, note: str) -> dict:
    porelib_ms = best_time_ms(ours)
    porespy_ms = best_time_ms(theirs) if theirs is not None else None
    return {
        "operation": operation,
        "size": size,
        "porelib_ms": porelib_ms,
        "porespy_ms": porespy_ms,
        "speedup": porespy_ms / porelib_ms if porespy_ms is not None else None,
        "note": note,
    }


def _timed_row(name: str, grid: np.ndarray, ours: Callable, theirs: Callable | None, note: str) -> dict:
    """Row timing ``ours(grid)`` and, if given, ``theirs(grid)``."""
    return _row(name, grid.shape[0], lambda: ours(grid), None if theirs is None else lambda: theirs(grid), note)


def _simulator() -> Callable | None:
    """:func:`porelib.synth.pore_grid`, or None while it is not available."""
    try:
        from porelib.synth import pore_grid
    except ImportError:
        return None
    return pore_grid


def run(*, out_dir="docs/bench", quick: bool = False) -> list[dict]:
    """Time every metric on a small grid, S2 and local thickness on large ones, and the simulator.

    Parameters
    ----------
    out_dir : str or Path
        Where ``speed.md`` and ``speed.json`` are written.
    quick : bool
        Smaller grids and no PoreSpy (its import and numba compilation alone take
        about 10 s): a smoke test of this benchmark, not a measurement.

    Returns
    -------
    list of dict
        One row per operation and size: ``operation``, ``size`` (edge S of an S³
        grid), ``porelib_ms``, ``porespy_ms`` (None without an equivalent),
        ``speedup`` (porespy_ms / porelib_ms) and ``note``.
    """
    small, s2_sizes, thickness_size = (16, (32, 48), 32) if quick else (30, (100, 200), 100)
    equivalents = _porespy_equivalents(None if quick else _import_porespy())
    simulate = _simulator()
    if simulate is None:
        grid, grid_source = blobs(small), "blobs (porelib.synth not available)"
    else:
        grid, grid_source = simulate(0.8, size=small, seed=0), "synth.pore_grid(0.8, seed=0)"

    rows = [_timed_row(name, grid, METRICS[name], equivalents.get(name), grid_source) for name in METRICS]
    for size in s2_sizes:
        name = "two_point_correlation"
        rows.append(_timed_row(name, blobs(size), METRICS[name], equivalents.get(name), "blobs"))
    name = "local_thickness"
    rows.append(_timed_row(name, blobs(thickness_size), METRICS[name], equivalents.get(name), "blobs"))
    name = "synth.pore_grid(0.8)"
    if simulate is None:
        rows.append({"operation": name, "size": small, "note": "skipped: porelib.synth is not available"})
    else:
        rows.append(_row(name, small, lambda: simulate(0.8, size=small, seed=0), None, "seed=0"))

    notes = (
        "Best of 2–5 runs (time.perf_counter), in milliseconds. "
        f"{small}³ rows use {grid_source}; larger rows use blobs (Gaussian-filtered noise, porosity 0.3). "
        "PoreSpy equivalents: metrics.porosity, metrics.two_point_correlation (bins=100), "
        "filters.local_thickness (default method 'bf', same map as porelib), "
        "metrics.mesh_surface_area(tools.mesh_region(im)) for specific_surface (timing only: mesh_region "
        "smooths the region first, so its area is ~15 % lower than the unsmoothed marching cubes we report). "
        + ("PoreSpy not run (quick mode)." if quick else "" if equivalents else "PoreSpy is not installed.")
    )
    write_report("speed", rows, out_dir, notes=notes)
    return rows
