"""Generators at every density against the noise floor, with enough samples to know: ``python -m porelib bench generators``.

For every density 0.1, 0.2, … 0.9 and every generator of :data:`GENERATORS`:

* :data:`GENERATED` generated grids are compared with :data:`REFERENCE` *independent*
  simulator grids at that density (seeds ``10_000 + 1000·k + round(100 d)`` that the dataset,
  built with seed 0, never used): for each statistic of
  :data:`porelib.metrics.MATRIX_STATISTICS` (S2, pore-size distribution, pore count, Euler
  characteristic per voxel, specific surface, largest-cluster fraction, and the face depth:
  where in the volume the pores sit), the mean distance to
  the reference grids divided by the reference's own noise floor (mean distance between two
  different reference grids), with a bootstrap 95 % interval that resamples both sides
  (:func:`porelib.bootstrap.bootstrap_ratio`). About 1 means "as close as another simulator
  grid". A density **holds** for a generator when every ratio is at most :data:`TARGET` and
  every upper bound at most :data:`FLOOR`: a lucky draw cannot pass, since the bound covers
  the resampling spread of both ensembles;
* a statistic on which all the reference grids agree has a zero noise floor (at density 0.1
  the simulator places a single pore voxel in every grid): a ratio to it would be 0/0 or
  infinite whatever the generator does, so it is judged against the change one pore voxel
  makes instead (:func:`one_voxel_resolution`), and the row's ``zero_floors`` names it;
* the porosity error ``|φ − φ(d)|`` against the calibrated porosity;
* memorisation: the mean IoU of each generated grid with its nearest *training* grid,
  beside the same for the reference grids (a generator above that copies);
* distinctness (:func:`distinctness`): how alike the generated grids are among themselves,
  over how alike the reference grids are (reported beside the verdict, not part of it).

Rows: the trained generators (registry), the ``simulator`` against itself with other seeds
(the floor: its ratios must come out ≈ 1, which checks the procedure) and ``bernoulli`` (the
calibrated number of pore voxels at random positions, a straw man for scale). A summary row
per generator gives its worst ratio, worst upper bound, the densities that hold, and the
milliseconds for one grid (best of :data:`THROUGHPUT_REPEATS`). Rows ``test a-b``: the
reconstruction of the *test* split by generators with an encoder (IoU, Dice, AAD and AVAR
beside the all-empty grid's).
"""

from __future__ import annotations

import time

import numpy as np

from porelib import metrics, registry
from porelib.bench._report import write_report
from porelib.bootstrap import ZERO, bootstrap_ratio
from porelib.data import load_dataset
from porelib.synth import expected_pore_voxels, pore_grids

#: Generators that need a checkpoint (loaded from ``checkpoints/<name>``): every registered one.
TRAINED = registry.names(role="generator", has_checkpoint=True)
#: Rows of the table: the trained generators, then the floor and the straw man.
GENERATORS = (*TRAINED, "simulator", "bernoulli")
DENSITIES = tuple(round(0.1 * k, 1) for k in range(1, 10))
#: Grids per density: generated, and independent reference grids.
GENERATED = 64
REFERENCE = 64
#: A density holds when every ratio is at most TARGET and every 95 % upper bound at most FLOOR.
TARGET = 1.5
FLOOR = 2.0
RESAMPLES = 2000
#: Density bands of the reconstruction rows, ``[low, high)`` (the last closed).
BANDS = ((0.3, 0.6), (0.6, 1.0))
THROUGHPUT_REPEATS = 20

REFERENCE_SEED = 10_000
SAMPLE_SEED = 20_000
SIMULATOR_SEED = 30_000
#: ``--selection`` shifts all three seeds by this much (reference 50 000, samples 60 000, simulator
#: 70 000): ensembles on which to *choose* among checkpoints or settings, apart from the benchmark's.
SELECTION_OFFSET = 40_000


def _seed(base: int, density: float) -> int:
    return base + int(round(100 * density))


def held_out_ensemble(density: float, k: int = REFERENCE, *, size: int = 30, selection: bool = False) -> np.ndarray:
    """``k`` simulator grids at ``density`` from seeds the dataset never used; bool ``(k, S, S, S)``.

    ``selection=True`` draws the selection ensemble instead (seeds shifted by :data:`SELECTION_OFFSET`).
    """
    base = REFERENCE_SEED + (SELECTION_OFFSET if selection else 0)
    return pore_grids(np.full(k, density), size=size, seed=_seed(base, density))


def bernoulli_grids(density: float, n: int, *, size: int = 30, seed=None) -> np.ndarray:
    """``n`` grids with the calibrated number of pore voxels at uniformly random positions."""
    rng = np.random.default_rng(seed)
    count = int(round(expected_pore_voxels(density, size=size)))
    grids = np.zeros((n, size**3), dtype=bool)
    for grid in grids:
        grid[rng.choice(size**3, size=count, replace=False)] = True
    return grids.reshape(n, size, size, size)


def nearest_iou(grids: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """For each grid ``(N, S, S, S)``, the IoU with its most similar grid of ``reference`` ``(M, S, S, S)``."""
    a = grids.reshape(len(grids), -1).astype(np.float32)
    b = reference.reshape(len(reference), -1).astype(np.float32)
    intersection = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - intersection
    iou = np.where(union > 0, intersection / np.maximum(union, 1), 1.0)
    return iou.max(axis=1)


def one_voxel_resolution(size: int = 30) -> dict[str, float]:
    """The change one pore voxel makes to each statistic: what a zero noise floor is replaced by.

    Where every reference grid has the same value of a statistic (the simulator at density
    0.1 places a single pore voxel), the noise floor is zero and a ratio to it is 0/0 or
    infinite. Such a statistic is judged instead against the grid's resolution: the larger
    distance between a grid of one pore voxel and the same grid with a second voxel, either
    next to it (the pore grows) or apart from it (a second pore). A generator whose grids
    differ from the reference by at most one voxel then scores at most 1.

    Parameters
    ----------
    size : int
        Edge length S of the grids (at least 5).

    Returns
    -------
    dict
        ``{name: distance}`` for every name of :data:`porelib.metrics.MATRIX_STATISTICS`, all > 0.
    """
    centre = size // 2
    single = np.zeros((size, size, size), dtype=bool)
    single[centre, centre, centre] = True
    grown, apart = single.copy(), single.copy()
    grown[centre, centre, centre + 1] = True
    apart[centre, centre, centre + 2] = True
    d = metrics.distance_matrices([metrics.summary(single)], [metrics.summary(grown), metrics.summary(apart)])
    return {name: float(d[name].max()) for name in metrics.MATRIX_STATISTICS}


def fidelity(candidates: np.ndarray, reference: list, *, resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """Ratio to the reference's noise floor, with a bootstrap 95 % interval, for every matrix statistic.

    A statistic on which the reference grids all agree (zero floor) is judged against
    :func:`one_voxel_resolution` instead.

    Parameters
    ----------
    candidates : ndarray, (N, S, S, S) bool
    reference : list of porelib.metrics.GridStats
        Summaries of the reference grids (at least 2).

    Returns
    -------
    dict
        ``{name: (ratio, low, high)}`` for every name of :data:`porelib.metrics.MATRIX_STATISTICS`.
    """
    stats = [metrics.summary(grid) for grid in candidates]
    d = metrics.distance_matrices(stats, reference)
    e = metrics.distance_matrices(reference, reference)
    names = metrics.MATRIX_STATISTICS
    resolution = one_voxel_resolution(candidates.shape[-1])
    ratio, low, high = bootstrap_ratio(np.stack([d[n] for n in names]), np.stack([e[n] for n in names]),
                                       resamples=resamples, seed=seed,
                                       resolution=[resolution[n] for n in names])  # fmt: skip
    return {name: (float(ratio[k]), float(low[k]), float(high[k])) for k, name in enumerate(names)}


def zero_floors(reference: list) -> list[str]:
    """Statistics of :data:`porelib.metrics.MATRIX_STATISTICS` on which all the reference grids agree (zero floor).

    Those are judged against :func:`one_voxel_resolution` by :func:`fidelity`.
    """
    e = metrics.distance_matrices(reference, reference)
    return [name for name in metrics.MATRIX_STATISTICS if float(e[name].max()) < ZERO]


def holds(row: dict) -> bool:
    """Whether a row's ratios are all at most :data:`TARGET` and their upper bounds at most :data:`FLOOR`."""
    names = metrics.MATRIX_STATISTICS
    return all(row[f"{n}_ratio"] <= TARGET and row[f"{n}_high"] <= FLOOR for n in names)


class _Generator:
    """One row source: samples at a density, and reconstructions if it has an encoder."""

    def __init__(self, name: str, size: int, checkpoint=None):
        self.name, self.size, self.network = name, size, None
        if name in TRAINED:
            from porelib.inference import load_generator

            self.network = load_generator(name, checkpoint)
            self.size = int(self.network.config.size)

    def sample(self, density: float, n: int, seed: int) -> np.ndarray:
        if self.name == "bernoulli":
            return bernoulli_grids(density, n, size=self.size, seed=seed)
        if self.name == "simulator":
            return pore_grids(np.full(n, density), size=self.size, seed=seed)
        from porelib.inference import sample_from

        return sample_from(self.network, np.full(n, density), seed=seed)

    @property
    def reconstructs(self) -> bool:
        return self.network is not None and hasattr(self.network, "reconstruct")

    def reconstruct(self, grids: np.ndarray, densities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-k reconstructions (bool) and the decoder's probabilities, ``(N, S, S, S)`` each."""
        import torch

        x, d = torch.from_numpy(grids.astype(np.float32)), torch.from_numpy(densities.astype(np.float32))
        with torch.inference_mode():
            mean, _ = self.network.encode(x, d)
            probabilities = torch.sigmoid(self.network.decode(mean, d))
            binary = self.network.reconstruct(x, d)
        return binary.numpy(), probabilities.numpy()

    def milliseconds_per_grid(self, density: float = 0.7) -> tuple[float, float]:
        """Milliseconds to generate one grid, best of :data:`THROUGHPUT_REPEATS`: wall clock, and CPU time on one thread.

        The wall clock uses torch's default threads and grows with the machine's load; the CPU
        time of this process, measured with one torch thread, counts the work of generating a
        grid whatever else the machine runs.
        """
        import torch

        self.sample(density, 1, 0)
        wall = []
        for repeat in range(THROUGHPUT_REPEATS):
            start = time.perf_counter()
            self.sample(density, 1, 2 + repeat)
            wall.append(time.perf_counter() - start)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            cpu = []
            for repeat in range(THROUGHPUT_REPEATS):
                start = time.process_time()
                self.sample(density, 1, 2 + repeat)
                cpu.append(time.process_time() - start)
        finally:
            torch.set_num_threads(threads)
        return 1e3 * min(wall), 1e3 * min(cpu)


def _reconstruction_scores(generator: _Generator, grids: np.ndarray, densities: np.ndarray) -> dict:
    if not generator.reconstructs or len(grids) == 0:
        return {}
    binary, probabilities = generator.reconstruct(grids, densities)
    scores = {"iou": [], "dice": [], "aad": [], "avar": [], "aad_empty": [], "avar_empty": []}
    for b, p, truth in zip(binary, probabilities, grids):
        scores["iou"].append(metrics.iou(b, truth))
        scores["dice"].append(metrics.dice(b, truth))
        compared = metrics.compare(p, truth)
        scores["aad"].append(compared["aad"])
        scores["avar"].append(compared["avar"])
        scores["aad_empty"].append(compared["aad_empty_baseline"])
        scores["avar_empty"].append(compared["avar_empty_baseline"])
    return {key: float(np.mean(values)) for key, values in scores.items()} | {"n": len(grids)}


class _Reference:
    """The reference grids at one density and what every row compares with: their summaries, their own nearest
    training-grid IoU and their own mean pairwise IoU (computed once per density, not once per row)."""

    def __init__(self, grids: np.ndarray, train_grids: np.ndarray):
        self.grids = grids
        self.stats = [metrics.summary(grid) for grid in grids]
        self.nearest_train_iou = float(nearest_iou(grids, train_grids).mean())
        self.pairwise_iou = metrics.mean_pairwise_iou(grids)


def _row(source: _Generator, density: float, reference: _Reference, train_grids, samples: int, resamples: int,
         offset: int = 0) -> dict:
    """One (density, generator) row: ratios with intervals, porosity error, memorisation, distinctness."""
    seed = _seed((SIMULATOR_SEED if source.name == "simulator" else SAMPLE_SEED) + offset, density)
    grids = source.sample(density, samples, seed)
    target = expected_pore_voxels(density, size=source.size) / source.size**3
    row = {"density": density, "generator": source.name,
           "porosity_error": float(np.abs(grids.reshape(len(grids), -1).mean(axis=1) - target).max())}  # fmt: skip
    for name, (ratio, low, high) in fidelity(grids, reference.stats, resamples=resamples).items():
        row |= {f"{name}_ratio": ratio, f"{name}_low": low, f"{name}_high": high}
    row["holds"] = holds(row)
    row["zero_floors"] = ", ".join(zero_floors(reference.stats)) or "–"
    row["nearest_train_iou"] = float(nearest_iou(grids, train_grids).mean())
    row["reference_nearest_train_iou"] = reference.nearest_train_iou
    row["pairwise_iou_ratio"] = distinctness(grids, reference.grids, reference_iou=reference.pairwise_iou)
    return row


def distinctness(grids: np.ndarray, reference: np.ndarray, *, reference_iou: float | None = None) -> float | None:
    """How alike a generator's grids are among themselves, against the reference grids' own likeness.

    ``mean_pairwise_iou(grids) / mean_pairwise_iou(reference)``, both ``(N, S, S, S)`` bool:
    about 1 for grids as varied as the simulator's, well above 1 when a generator puts its
    pores in the same places every time (mode collapse, or a preferred position), which the
    statistics of :data:`porelib.metrics.MATRIX_STATISTICS` compare one grid at a time and
    cannot see. None where the reference grids never overlap (at density 0.1).
    ``reference_iou``, when given, is ``mean_pairwise_iou(reference)`` already computed.
    """
    own = metrics.mean_pairwise_iou(reference) if reference_iou is None else reference_iou
    return float(metrics.mean_pairwise_iou(grids) / own) if own > ZERO else None


def _summary_row(source: _Generator, own: list[dict], quick: bool) -> dict:
    names = metrics.MATRIX_STATISTICS
    worst = max(own, key=lambda row: max(row[f"{n}_high"] for n in names))
    statistic = max(names, key=lambda n: worst[f"{n}_high"])
    return {
        "density": "summary", "generator": source.name,
        "worst_ratio": max(row[f"{n}_ratio"] for row in own for n in names),
        "worst_high": worst[f"{statistic}_high"], "worst_at": f"{statistic} at d = {worst['density']}",
        "holds_at": ", ".join(f"{row['density']:g}" for row in own if row["holds"]) or "none",
        "porosity_error": max(row["porosity_error"] for row in own),
    } | dict(zip(("ms_per_grid", "cpu_ms_per_grid"),
                 (None, None) if quick else source.milliseconds_per_grid()))  # fmt: skip


def report_name(selection: bool = False) -> str:
    """File stem of the report: ``generators``, or ``generators-selection`` for the selection ensembles."""
    return "generators-selection" if selection else "generators"


def run(*, out_dir="docs/bench", quick: bool = False, generators=GENERATORS, checkpoints: dict | None = None,
        data=None, densities=None, selection: bool = False) -> list[dict]:
    """Run the benchmark and write ``out_dir/generators.{md,json}`` (``generators-selection`` with ``selection``).

    Parameters
    ----------
    out_dir : str or Path
    quick : bool
        Three densities, 8 grids a side, 200 resamples, no throughput: a smoke test of seconds.
    generators : sequence of str
        Row sources, a subset of :data:`GENERATORS`.
    checkpoints : dict, optional
        ``{name: folder}`` for trained generators (default ``checkpoints/<name>``).
    data : str or Path, optional
        Dataset (default ``data/``): its training split for memorisation, its test split for reconstruction.
    densities : sequence of float, optional
        Default :data:`DENSITIES` (``(0.3, 0.6, 0.9)`` when ``quick``).
    selection : bool
        Score on the selection ensembles (every seed shifted by :data:`SELECTION_OFFSET`), to choose
        among candidate checkpoints (``checkpoints``) without looking at the benchmark's own grids.

    Returns
    -------
    list of dict
        One row per (density, generator), one summary row per generator, and reconstruction
        rows per test-split band of :data:`BANDS` for generators with an encoder.
    """
    checkpoints = checkpoints or {}
    unknown = set(generators) - set(GENERATORS)
    if unknown:
        raise ValueError(f"generators must be among {', '.join(GENERATORS)}; got {sorted(unknown)}")
    dataset = load_dataset(data)
    train, test = dataset.split("train"), dataset.split("test")
    densities = densities or ((0.3, 0.6, 0.9) if quick else DENSITIES)
    samples, reference_size, resamples = (8, 8, 200) if quick else (GENERATED, REFERENCE, RESAMPLES)
    sources, skipped = [], []
    for name in generators:
        try:
            sources.append(_Generator(name, dataset.size, checkpoints.get(name)))
        except ValueError as exc:
            skipped.append(f"{name} ({exc})")
    offset = SELECTION_OFFSET if selection else 0
    rows = []
    for density in densities:
        reference = _Reference(held_out_ensemble(density, reference_size, size=dataset.size, selection=selection),
                               train.grids)  # fmt: skip
        for source in sources:
            rows.append(_row(source, density, reference, train.grids, samples, resamples, offset))
    for source in sources:
        rows.append(_summary_row(source, [row for row in rows if row["generator"] == source.name], quick))
        for band_low, band_high in BANDS:
            inside = (test.densities >= band_low) & ((test.densities < band_high) if band_high < 1 else True)
            recon = _reconstruction_scores(source, test.grids[inside], test.densities[inside])
            if recon:
                rows.append({"density": f"test {band_low}-{band_high}", "generator": source.name}
                            | {f"recon_{key}": value for key, value in recon.items()})
    notes = (
        (f"Selection ensembles (every seed + {SELECTION_OFFSET}), for choosing among checkpoints: "
         f"{', '.join(f'{name} = {path}' for name, path in checkpoints.items()) or 'the shipped checkpoints'}. "
         if selection else "")
        + f"{samples} generated grids per density against {reference_size} independent simulator grids (seeds "
        f"{REFERENCE_SEED + offset} + 100·d, never in the dataset). `<stat>_ratio`: mean distance to the reference grids / "
        "their own noise floor (≈ 1 = as close as another simulator grid); `<stat>_low`, `<stat>_high`: bootstrap "
        f"95 % interval ({resamples} resamples of both ensembles). A density **holds** when every ratio ≤ {TARGET} "
        f"and every upper bound ≤ {FLOOR}. `simulator` is the simulator against itself with other seeds (the floor, "
        "≈ 1); `bernoulli` puts the calibrated pore voxels at random. zero_floors: statistics on which all the "
        "reference grids agree (at d = 0.1 the simulator places a single pore voxel), judged against the change one "
        "pore voxel makes instead of the zero spread (`one_voxel_resolution`). porosity_error: the largest |φ − φ(d)|. "
        "nearest_train_iou: mean IoU of a generated grid with its nearest training grid, beside the reference "
        "grids' own (reference_nearest_train_iou): above it would mean copying. pairwise_iou_ratio: how alike the "
        "generated grids are among themselves over how alike the reference grids are (≈ 1; well above 1: pores in "
        "the same places every time; reported, not part of holds). Summary rows: worst ratio, worst "
        "upper bound and where, the densities that hold, ms for one grid (ms_per_grid: wall clock with torch's "
        "default threads, which grows with the machine's load; cpu_ms_per_grid: CPU time on one thread). "
        "`test a-b`: reconstruction of the test split (IoU, Dice; AAD/AVAR of the decoder's probabilities beside "
        "the all-empty grid's)."
        + (f" Skipped: {'; '.join(skipped)}." if skipped else "")
    )
    extra = {"data": dataset.fingerprint, "quick": quick, "target": TARGET, "floor": FLOOR, "selection": selection,
             "checkpoints": {name: str(path) for name, path in checkpoints.items()}}
    write_report(report_name(selection), rows, out_dir, notes=notes, extra=extra)
    return rows
