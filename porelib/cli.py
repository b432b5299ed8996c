"""Command line: ``python -m porelib COMMAND ...``.

Every command is a thin wrapper over a library function. A user's mistake
(``ValueError``/``TypeError`` from the library, or a bad flag) prints one line
``error: ...`` on stderr and exits with status 2, never a traceback; set
``PORELIB_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import import_module
from pathlib import Path

import numpy as np

EXIT_USAGE = 2

#: ``bench NAME`` -> module under porelib.bench providing ``run(*, out_dir, quick)``.
BENCHMARKS = ("speed", "generators", "segmentation")


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"error: {message} (see `python -m porelib {self.prog.split()[-1]} --help`)\n")


def _density_arg(text: str):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"density must be a number in [0, 1] or 'auto'; got {text!r}") from None


# ----------------------------------------------------------------------------- commands


def _cmd_data_build(args) -> int:
    from porelib.data import DATA_DIR, build_dataset, load_dataset

    path = build_dataset(args.n, size=args.size, seed=args.seed, out_dir=args.out or DATA_DIR)
    dataset = load_dataset(path)
    counts = {name: len(dataset.split(name)) for name in ("train", "val", "test")}
    print(f"wrote {len(dataset)} grids of {dataset.size}³ to {path} ({path.stat().st_size / 1e6:.2f} MB, "
          f"fingerprint {dataset.fingerprint}; split {counts})")
    return 0


def _cmd_generate(args) -> int:
    from porelib import io
    from porelib.inference import generate

    grids = generate(args.model, args.density, n=args.n, seed=args.seed, size=args.size, checkpoint=args.checkpoint)
    densities = np.full(len(grids), args.density)
    payload = grids[0] if len(grids) == 1 and not str(args.out).endswith(".npz") else grids
    path = io.save_grid(args.out, payload, densities=densities)
    porosity = grids.reshape(len(grids), -1).mean(axis=1)
    print(f"wrote {len(grids)} grid(s) of {grids.shape[1]}³ from {args.model} at density {args.density} to {path} "
          f"(porosity {porosity.mean():.4f})")
    return 0


def _cmd_score(args) -> int:
    from porelib import io
    from porelib.scoring import score_grid

    batch = io.load_batch(args.file)
    if not 0 <= args.index < len(batch.grids):
        raise ValueError(f"--index must be in [0, {len(batch.grids) - 1}] for {args.file}; got {args.index}")
    reference = io.load_grid(args.reference) if args.reference else None
    dataset = None
    if args.density is not None and args.data:
        from porelib.data import load_dataset

        dataset = load_dataset(args.data)
    score = score_grid(batch.grids[args.index], reference=reference, density=args.density, dataset=dataset)
    result = score.to_dict()
    if args.json:
        print(json.dumps(result))
        return 0
    print(_format_score(result))
    return 0


def _format_score(result: dict) -> str:
    skip = {"s2", "pore_radii", "fidelity"}
    lines = [f"{key:>26}  {value:.6g}" if isinstance(value, float) else f"{key:>26}  {value}"
             for key, value in result.items() if key not in skip]
    lines.append(f"{'s2 (r = 0, 1, 2, ...)':>26}  " + " ".join(f"{v:.4f}" for v in result["s2"][:8]) + " ...")
    if "fidelity" in result:
        lines.append(f"\nagainst the dataset at density {result['density']} (ratio 1 = as close as another dataset grid)")
        for name, f in result["fidelity"].items():
            lines.append(f"{name:>26}  ratio {f['ratio']:.3g}  (distance {f['distance']:.4g}, noise floor {f['noise_floor']:.4g})")
    return "\n".join(lines)


def _cmd_bench(args) -> int:
    module = import_module(f"porelib.bench.{args.name}")
    from porelib.bench._report import markdown_table

    rows = module.run(out_dir=args.out, quick=args.quick)
    print(markdown_table(rows))
    print(f"wrote {Path(args.out) / (args.name + '.md')} and .json")
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m porelib``."""
    from porelib.inference import MODELS

    parser = _Parser(prog="porelib", description="Pore Studio: 3D porous microstructures.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = commands.add_parser("data", help="build the simulated dataset")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    build = data_commands.add_parser("build", help="simulate the dataset into data/")
    build.add_argument("--n", type=int, default=512, help="number of grids (default 512)")
    build.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    build.add_argument("--size", type=int, default=30, help="edge length in voxels (default 30)")
    build.add_argument("--out", type=Path, default=None, help="output folder (default: the repository's data/)")
    build.set_defaults(func=_cmd_data_build)

    gen = commands.add_parser("generate", help="generate pore grids for a density")
    gen.add_argument("--model", choices=MODELS, default="simulator")
    gen.add_argument("--density", type=float, required=True, help="density factor in [0, 1]")
    gen.add_argument("--n", type=int, default=1, help="number of grids (default 1)")
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--size", type=int, default=30, help="edge length for the simulator (default 30)")
    gen.add_argument("--checkpoint", type=Path, default=None, help="checkpoint folder of a trained model")
    gen.add_argument("--out", type=Path, required=True,
                     help="output file: .npz (grids, densities), .npy, .rows.npy (original row format), .tif, .vti, .stl")
    gen.set_defaults(func=_cmd_generate)

    score = commands.add_parser("score", help="statistics of a grid, against a reference and the dataset")
    score.add_argument("file", type=Path, help=".npy (rows or 3-D), .npz, .tif or .vti")
    score.add_argument("--reference", type=Path, default=None, help="grid to compare voxel by voxel")
    score.add_argument("--density", type=_density_arg, default=None,
                       help="compare against the dataset at this density factor, or 'auto' to estimate it")
    score.add_argument("--data", type=Path, default=None, help="dataset file or folder (default data/)")
    score.add_argument("--index", type=int, default=0, help="which grid of a batch file (default 0)")
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.set_defaults(func=_cmd_score)

    bench = commands.add_parser("bench", help="run a benchmark; prints a table, writes Markdown and JSON")
    bench.add_argument("name", choices=BENCHMARKS)
    bench.add_argument("--out", type=Path, default=Path("docs/bench"), help="output folder (default docs/bench)")
    bench.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a bad flag already reported on one line
        return exc.code
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        if os.environ.get("PORELIB_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
