"""SZ3, zfp, lzma, the DCT and the neural field on the same volumes, at the same ratios.

``python -m porelib bench compression`` calls :func:`run`; :data:`NOTES` (written
above the table) says what is measured and how. Every method and code lives in
:mod:`porelib.compress`; this module only picks the volumes, runs
:func:`porelib.compress.method_row` over them, and writes the report and the
rate-distortion plot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from porelib import compress as pnc
from porelib import ct
from porelib.app.figures_compress import (
    METHOD_COLOURS,
    SCORE_TITLES,
    rate_distortion_frame,
)
from porelib.bench._report import write_report
from porelib.compress import DCT, best_by_ratio, pareto_front
from porelib.data import load_dataset

SCAN_SIZE = 128
#: Target ratios of the 128³ volumes (scans and the grid of their glass spheres).
RATIOS = (10, 25, 50, 100, 200, 500)
#: Target ratios of the 30³ dataset grids: 1 bit per voxel raw (3375 bytes), so 10:1 is 337 bytes;
#: beyond that no lossy method has room (the neural field's smallest file is ~500 bytes, SZ3's ~170).
SMALL_GRID_RATIOS = (2, 3, 4, 6, 10)
#: The methods, in the order of the table and the plot's legend.
METHODS = ("sz3", "zfp", DCT, "neural")
#: ``auto`` is run on these volumes too (its choice and reason in the table).
AUTO_ON = ("CT 128³ no photon noise", "grid 128³ spheres")
#: Quick run: a smaller scan, one small grid, two ratios and few steps (a smoke test).
QUICK_SCAN_SIZE = 32
QUICK_RATIOS = (25, 100)
QUICK_SMALL_GRID_RATIOS = (3,)
QUICK_STEPS = 100

NOTES = """\
Volumes: a held-out simulated CT scan (`porelib.ct.simulate`, default dose, seed
`ct.BENCHMARK_SEED_START` = 1 000 000; training uses seeds < 10 000), its twin without photon noise
(`porelib.compress.simulated_scan`: the same phantom, detector gains (rings) and cupping at 1e12 photons),
the grid of that phantom's glass spheres (128³ bool, the scan's exact label), and three held-out 30³ grids
of the dataset (test split; low, middle and highest porosity).

Ratio = raw size / compressed size, every byte of the file included (the .pnc container: 51 bytes);
raw = voxels × 4 bytes for scans (float32) and voxels / 8 bytes for grids (bit-packed). `ratio_vs_dtype`
is against the array in memory (float32 scans: the same; bool grids: 1 byte per voxel, 8 times more).
Each method gets the budget raw / target and must stay within it; a method that cannot (its smallest
code is larger) has a row without bytes and the reason in `note`.

Methods (all in `porelib.compress`):
- `sz3`: SZ3 via `pysz` (default algorithm: interpolation + Lorenzo), its absolute error bound bisected
  for the finest code within the budget (`setting`). Grids: their truncated signed distance, threshold 0.
- `zfp`: zfp via `zfpy`, fixed-rate mode at the largest rate within the budget. Grids: as SZ3.
- `dct`: a JPEG-like 3-D baseline: 8³ blocks, orthonormal DCT, one uniform quantisation step bisected
  for the budget, levels through LZMA2, 33-byte header. Grids: 0/1, threshold 0.5.
- `neural`: `porelib.compress.compress(method="neural")` with its defaults ({steps} steps of 8192 voxels,
  tiles of small residual-sine networks sized from the ratio, 8-bit weights entropy-coded, one CPU
  thread), seed 0. `setting` = width × residual blocks, tiles, steps.
- `lzma`: lossless (bit-packed grids, float32 scans), once per volume at its own ratio.
- `auto`: `compress(method="auto")` (default 60 s limit); `setting` is the method it chose, `note` why.

Quality: `psnr` in dB on the original's value range (scans; lossless = exact, shown as –), `ssim`
(scikit-image, 7³ windows), `iou` and `dice` of the pore voxels (grids). For the noisy scan,
`psnr_vs_noise_free` compares the decoded volume with the noise-free scan. `encode_s` is wall-clock
(bisections and fitting included), `encode_cpu_s` the CPU time of the process: this machine has 2 cores
shared with other jobs (load average {load}), so wall-clock times are inflated by the load and
`encode_cpu_s` is closer to what an idle core takes.
"""


@dataclass
class BenchVolume:
    """One benchmark volume: its name, the array, its kind, ratios and (noisy scan only) the noise-free truth."""

    name: str
    volume: np.ndarray
    kind: str
    ratios: tuple[float, ...] = ()
    noise_free: np.ndarray | None = None


def run(*, out_dir="docs/bench", quick: bool = False) -> list[dict]:
    """Compress every benchmark volume with every method; write ``compression.md``, ``.json`` and ``.png``."""
    steps = QUICK_STEPS if quick else pnc.DEFAULT_STEPS
    options = {"steps": steps, "seed": 0, "threads": 1}
    load_before = os.getloadavg()[0]
    volumes = benchmark_volumes(quick=quick)
    rows = []
    for item in volumes:
        rows.append(pnc.lossless_row(item.volume, kind=item.kind, name=item.name, noise_free=item.noise_free))
        for ratio in item.ratios:
            for method in METHODS:
                row, _ = pnc.method_row(method, item.volume, kind=item.kind, ratio=ratio, name=item.name,
                                        noise_free=item.noise_free, with_ssim=item.kind == "scan", options=options)
                rows.append(row)
            if item.name in AUTO_ON or quick:
                rows.append(_auto_row(item, ratio, options))
    load = f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    notes = NOTES.format(steps=steps, load=load) + "\n" + verdict(rows, volumes)
    out_dir = Path(out_dir)
    plot = write_plot(rows, volumes, out_dir / "compression.png")
    notes += f"\n![rate-distortion: quality against ratio, one line per method]({plot.name})\n"
    write_report("compression", rows, out_dir, notes=notes,
                 extra={"quick": quick, "neural_steps": steps, "load_average": load})
    return rows


def benchmark_volumes(*, quick: bool = False) -> list[BenchVolume]:
    """The CT scans (noise-free and noisy), the grid of their spheres and the dataset grids of the benchmark."""
    size = QUICK_SCAN_SIZE if quick else SCAN_SIZE
    ratios = QUICK_RATIOS if quick else RATIOS
    image, clean = pnc.simulated_scan(size, seed=ct.BENCHMARK_SEED_START)
    label = ct.sphere_phantom(size, seed=np.random.default_rng(ct.BENCHMARK_SEED_START)).astype(bool)
    volumes = [
        BenchVolume(f"CT {size}³ no photon noise", clean, "scan", ratios),
        BenchVolume(f"CT {size}³ default dose", image, "scan", ratios, noise_free=clean),
        BenchVolume(f"grid {size}³ spheres", label, "binary", ratios),
    ]
    test = load_dataset().split("test")
    order = np.argsort(test.grids.reshape(len(test), -1).mean(axis=1))
    picks = order[[len(order) // 2]] if quick else order[[len(order) // 4, len(order) // 2, -1]]
    for index in picks:
        grid = test.grids[index]
        name = f"grid {grid.shape[0]}³ #{test.indices[index]} φ={grid.mean():.3f}"
        volumes.append(BenchVolume(name, grid, "binary", QUICK_SMALL_GRID_RATIOS if quick else SMALL_GRID_RATIOS))
    return volumes


def _auto_row(item: BenchVolume, ratio: float, options: dict) -> dict:
    """The row of ``compress(method="auto")``: the chosen method in ``setting``, the reason in ``note``."""
    try:
        compressed = pnc.compress(item.volume, method="auto", ratio=ratio, kind=item.kind, **options)
    except ValueError as exc:
        row = dict.fromkeys(pnc.compare.ROW_KEYS)
        row.update(volume=item.name, method="auto", target=ratio, note=str(exc))
        return row
    row, _ = pnc.compressed_row(item.volume, compressed, name=item.name, noise_free=item.noise_free,
                                with_ssim=item.kind == "scan")
    row.update(method="auto", setting=f"chose {compressed.method}", note=compressed.info["reason"])
    return row


# ----------------------------------------------------------------------------- verdict, Pareto front, plot


def _score(kind: str) -> str:
    return "psnr" if kind == "scan" else "iou"


def verdict(rows: list[dict], volumes: list[BenchVolume]) -> str:
    """Per volume, in words: the best method at each ratio, and the quality/time Pareto front."""
    lines = ["Best quality at each target ratio (scans: PSNR in dB; grids: IoU), and lossless lzma:", ""]
    for item in volumes:
        score = _score(item.kind)
        mine = [row for row in rows if row["volume"] == item.name and row["method"] in (*METHODS, "lzma")]
        lossless = next(row for row in mine if row["method"] == "lzma")
        best = best_by_ratio(mine, score=score)
        spec = ".1f" if score == "psnr" else ".3f"
        parts = [f"{target:g}:1 {row['method']} {row[score]:{spec}}" for target, row in best.items()]
        lines.append(f"- {item.name}: lossless {lossless['ratio']:.2f}:1; " + "; ".join(parts))
    lines += ["", "Pareto front, quality against CPU seconds to encode (methods no other method beats in both):", ""]
    for item in volumes:
        score = _score(item.kind)
        mine = [row for row in rows if row["volume"] == item.name and row["method"] in METHODS]
        front = pareto_front(mine, score=score)
        by_ratio: dict[float, list[str]] = {}
        for row in front:
            value = f"{row[score]:.1f} dB" if score == "psnr" else f"IoU {row[score]:.3f}"
            by_ratio.setdefault(row["target"], []).append(f"{row['method']} ({value}, {row['encode_cpu_s']:.2g} s)")
        parts = [f"{target:g}:1 {', '.join(names)}" for target, names in sorted(by_ratio.items())]
        lines.append(f"- {item.name}: " + "; ".join(parts))
    return "\n".join(lines) + "\n"


def write_plot(rows: list[dict], volumes: list[BenchVolume], path) -> Path:
    """Quality against ratio (log scale), one line per method and one panel per volume, as a PNG.

    lzma is one square at its own ratio (exact: IoU 1 on grids; on scans it has no PSNR and is left out).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    columns = min(3, len(volumes))
    lines = -(-len(volumes) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4.4 * columns, 3.5 * lines), squeeze=False)
    for axis, item in zip(axes.flat, volumes):
        score = _score(item.kind)
        frame = rate_distortion_frame([row for row in rows if row["volume"] == item.name], score=score)
        for method in (*METHODS, "lzma"):
            points = frame[frame["method"] == method]
            if len(points):
                axis.plot(points["ratio"], points["score"], marker="o" if len(points) > 1 else "s",
                          color=METHOD_COLOURS[method], label=method + (" (exact)" if method == "lzma" else ""))
        axis.set_xscale("log")
        ticks = sorted(item.ratios)
        axis.xaxis.set_major_locator(FixedLocator(ticks))
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xticklabels([f"{tick:g}" for tick in ticks], fontsize=7)
        axis.set_xlabel("ratio (raw / file)")
        axis.set_ylabel(SCORE_TITLES[score])
        axis.set_title(item.name, fontsize=9)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(volumes):]:
        axis.set_visible(False)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


__all__ = ["AUTO_ON", "METHODS", "RATIOS", "SMALL_GRID_RATIOS", "BenchVolume", "benchmark_volumes", "run",
           "verdict", "write_plot"]
