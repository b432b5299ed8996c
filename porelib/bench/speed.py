"""Speed of porelib's metrics and simulator, beside PoreSpy's equivalents.

``python -m porelib bench speed`` calls :func:`run`. Each row is the best of a few
runs (``time.perf_counter``), so one-off costs (caches, PoreSpy's numba compilation)
are not counted. The rows of a user's material (:mod:`porelib.material.statistics`) at 256³
are one run each, after every function has run once on a 32³ volume, side by side with
PoreSpy in the same process; the peak memory of loading a 512³ volume and computing all its
statistics is measured in a fresh process (its peak resident set, ``VmHWM``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from scipy import ndimage

from porelib import metrics
from porelib.bench._report import write_report
from porelib.material import statistics

#: Runs per operation: at most this many, and at least two so the first (cold) run can be discarded.
MAX_RUNS = 5
#: Stop repeating an operation once this many seconds have been spent on it (after two runs).
TIME_BUDGET_S = 3.0


def best_time_ms(operation: Callable[[], object], *, min_runs: int = 2) -> float:
    """Best wall time of ``operation()`` in milliseconds over ``min_runs`` … :data:`MAX_RUNS` runs."""
    times = []
    started = time.perf_counter()
    while len(times) < MAX_RUNS and (len(times) < min_runs or time.perf_counter() - started < TIME_BUDGET_S):
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


def _row(
    operation: str, size: int, ours: Callable[[], object], theirs: Callable[[], object] | None, note: str, *, min_runs: int = 2
) -> dict:
    porelib_ms = best_time_ms(ours, min_runs=min_runs)
    porespy_ms = best_time_ms(theirs, min_runs=min_runs) if theirs is not None else None
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


def material_volume(size: int, *, porosity: float = 0.3, seed: int = 0) -> np.ndarray:
    """Bicontinuous test material ``(S, S, S)`` bool with features of fixed size (filter width 3 voxels).

    Unlike :func:`blobs` the features do not grow with ``S``, as in a real sample imaged at
    a larger size; float32 throughout, so that 512³ needs about 1 GB to make.
    """
    field = np.random.default_rng(seed).standard_normal((size,) * 3, dtype=np.float32)
    field = ndimage.gaussian_filter(field, sigma=3.0, output=field)
    threshold = np.partition(field.ravel(), int((1 - porosity) * field.size))[int((1 - porosity) * field.size)]
    return field > threshold


def _statistic_operations(ps) -> list[tuple[str, Callable, Callable | None, str]]:
    """(row name, ours, PoreSpy's or None, note) for every statistic of a user's material."""

    def porespy_chords(im):
        return [ps.metrics.chord_length_distribution(ps.filters.apply_chords(im, axis=a)) for a in range(3)]

    def porespy_percolation(im):
        return [ps.metrics.percolating_porosity(im, axis=a) for a in range(3)]

    def porespy_surface(im):
        return ps.metrics.mesh_surface_area(ps.tools.mesh_region(im)) / im.size

    have = ps is not None
    return [
        ("S2 along x, y, z (statistics)", statistics.axis_two_point_correlation, None,
         "PoreSpy has no per-axis S2; its radial S2 is timed in the next row"),
        ("two_point_correlation (radial)", metrics.two_point_correlation,
         ps.metrics.two_point_correlation if have else None, "both radial, r up to S/2"),
        ("local_thickness", metrics.local_thickness, ps.filters.local_thickness if have else None,
         "same map; PoreSpy default method 'bf'"),
        ("chords along x, y, z", lambda v: [statistics.chord_lengths(v, a) for a in range(3)],
         porespy_chords if have else None,
         "PoreSpy: apply_chords (every other line) + chord_length_distribution, per axis"),
        ("specific_surface", metrics.specific_surface, porespy_surface if have else None,
         "PoreSpy: mesh_surface_area(mesh_region), smoothed (timing only)"),
        ("euler_per_voxel", metrics.euler_per_voxel, None, "PoreSpy has none; skimage euler_number slab by slab"),
        ("percolating fraction x, y, z", statistics.percolating_fraction, porespy_percolation if have else None,
         "PoreSpy: percolating_porosity per axis"),
        ("volume_statistics (all of the above, per axis)", statistics.volume_statistics, None, "one call"),
    ]  # fmt: skip


def _material_rows(size: int, ps) -> list[dict]:
    """Each statistic of a user's material timed once at ``size``³ beside PoreSpy's, after a 32³ warm-up."""
    volume, warm_up = material_volume(size), material_volume(32, seed=1)
    rows = []
    for name, ours, theirs, note in _statistic_operations(ps):
        ours(warm_up)
        if theirs is not None:
            theirs(warm_up)  # numba compilation
        row = _row(name, size, partial(ours, volume), None if theirs is None else partial(theirs, volume), note, min_runs=1)
        rows.append({**row, "operation": f"material: {row['operation']}"})
    return rows


def _generation_rows(size: int) -> list[dict]:
    """Making a ``size``³ material volume: the generator with its Gaussian-field prior, and the level-cut field alone.

    The generator has the default configuration (untrained weights cost the same as trained
    ones); both are fitted to a 96³ :func:`material_volume` and timed once after a 32³ warm-up.
    """
    import torch

    from porelib.material import baselines
    from porelib.models.material import MaterialGenerator, MaterialGeneratorConfig, generate_volume

    training = material_volume(96, seed=2)
    model = MaterialGenerator(MaterialGeneratorConfig()).eval()

    def generate(side: int) -> np.ndarray:
        prior = baselines.gaussian_field(training, model.prior_shape((side,) * 3), 0.3, seed=0)
        return generate_volume(model, (side,) * 3, 0.3, seed=0, prior=prior)

    generate(32)
    threads = torch.get_num_threads()
    return [
        _row("material: generate (generator + its Gaussian-field prior)", size, partial(generate, size), None,
             f"default MaterialGeneratorConfig, {threads} torch thread(s); issue #20 asks < 10 s at 256³", min_runs=1),
        _row("material: generate (level-cut Gaussian random field)", size,
             partial(baselines.gaussian_random_field, training, size, 0.3, seed=0), None,
             "the classical reconstruction, fitted to the same 96³ training volume", min_runs=1),
    ]  # fmt: skip


#: Run in a fresh process: load a volume, compute its statistics, print the time and the peak
#: resident memory. The peak is the kernel's high-water mark of this process's own memory
#: (``VmHWM``): ``ru_maxrss`` would include the parent's resident size at the time of the
#: fork, which Linux carries across ``exec``.
_MEMORY_PROBE = """
import json, resource, sys, time
import numpy as np
from porelib.material import statistics
started = time.perf_counter()
volume = np.load(sys.argv[1], allow_pickle=False)
statistics.volume_statistics(volume)
seconds = time.perf_counter() - started
try:
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024}))
"""


def _memory_row(size: int) -> dict:
    """Peak resident memory of a fresh process that loads a ``size``³ ``.npy`` and computes all statistics."""
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "volume.npy"
        np.save(path, material_volume(size))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(
            [sys.executable, "-c", _MEMORY_PROBE, str(path)], capture_output=True, text=True, env=env, check=True
        )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "operation": "material: load .npy + volume_statistics, fresh process",
        "size": size,
        "porelib_ms": 1e3 * measured["seconds"],
        "peak_mib": measured["peak_mib"],
        "note": "peak resident memory of the whole process (Python, numpy, scipy, skimage included)",
    }


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
    material_size, memory_size = (40, 64) if quick else (256, 512)
    porespy = None if quick else _import_porespy()
    equivalents = _porespy_equivalents(porespy)
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
    rows += _material_rows(material_size, porespy)
    rows += _generation_rows(material_size)
    rows.append(_memory_row(memory_size))

    notes = (
        "Best of 2–5 runs (time.perf_counter), in milliseconds. "
        f"{small}³ rows use {grid_source}; larger rows use blobs (Gaussian-filtered noise, porosity 0.3). "
        "PoreSpy equivalents: metrics.porosity, metrics.two_point_correlation (bins=100), "
        "filters.local_thickness (default method 'bf', same map as porelib), "
        "metrics.mesh_surface_area(tools.mesh_region(im)) for specific_surface (timing only: mesh_region "
        "smooths the region first, so its area is ~15 % lower than the unsmoothed marching cubes we report). "
        f"Rows 'material: …' time the statistics of a user's material (porelib.material.statistics) once each "
        f"at {material_size}³ on material_volume (Gaussian-filtered noise, filter width 3 voxels, porosity 0.3), "
        "beside PoreSpy in the same process, after a 32³ warm-up run of each; the last row is a fresh process "
        f"loading a {memory_size}³ .npy and computing every statistic, with its peak resident memory (peak_mib). "
        + ("PoreSpy not run (quick mode)." if quick else "" if equivalents else "PoreSpy is not installed.")
    )
    write_report("speed", rows, out_dir, notes=notes)
    return rows
