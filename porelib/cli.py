"""Command line: ``python -m porelib COMMAND ...``.

Every command is a thin wrapper over a library function. A user's mistake
(``ValueError``/``TypeError`` from the library, or a bad flag) prints one line
``error: ...`` on stderr and exits with status 2, never a traceback; set
``PORELIB_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from importlib import import_module
from pathlib import Path

import numpy as np

EXIT_USAGE = 2
#: Exit status of a training run stopped by SIGTERM (128 + 15, the shell's convention); it can be resumed.
EXIT_STOPPED = 143

#: ``bench NAME`` -> module under porelib.bench providing ``run(*, out_dir, quick)`` (``-`` in NAME is ``_`` there).
BENCHMARKS = ("speed", "generators", "segmentation", "segmentation-tuning", "section", "compression", "gan-losses",
              "app", "app-load", "material", "material-sections", "parts")


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


def _cmd_material_example(args) -> int:
    from porelib.data import DATA_DIR, EXAMPLES_DIR
    from porelib.material.examples import EXAMPLE, write_example
    from porelib.material.sample import import_material

    path = write_example(args.out or DATA_DIR / EXAMPLES_DIR)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB): PoreSpy's {EXAMPLE['function']} material, "
          f"{import_material(path, pore_value=255).describe()}")
    return 0


def _cmd_generate(args) -> int:
    from porelib import io
    from porelib.inference import generate

    if args.checkpoint is not None and _is_material_run(args.checkpoint):
        return _generate_material(args)
    if args.density is None:
        raise ValueError("--density is required for the density-conditioned generators (a material run takes --porosity)")
    if args.porosity is not None or args.method != "model":
        raise ValueError("--porosity and --method are for a material run (--checkpoint RUN of `train material`)")
    grids = generate(args.model, args.density, n=args.n, seed=args.seed, size=args.size, checkpoint=args.checkpoint)
    densities = np.full(len(grids), args.density)
    payload = grids[0] if len(grids) == 1 and not str(args.out).endswith(".npz") else grids
    path = io.save_grid(args.out, payload, densities=densities)
    porosity = grids.reshape(len(grids), -1).mean(axis=1)
    print(f"wrote {len(grids)} grid(s) of {grids.shape[1]}³ from {args.model} at density {args.density} to {path} "
          f"(porosity {porosity.mean():.4f})")
    return 0


def _is_material_run(folder) -> bool:
    from porelib.runfolder import read_card

    try:
        return read_card(folder)["model"] == "material"
    except ValueError:
        return False


def _generate_material(args) -> int:
    from porelib import io
    from porelib.material.generate import generate_material, porosity_warning
    from porelib.material.run import load_material_run

    if args.porosity is None:
        raise ValueError("a material run needs --porosity P (the fraction of pore voxels, e.g. 0.22)")
    if args.density is not None or args.n != 1:
        raise ValueError("--density and --n are for the density-conditioned generators; a material run makes one volume")
    run = load_material_run(args.checkpoint)
    warning = porosity_warning(run, args.porosity)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    size = args.size if args.size is not None else 128
    volume = generate_material(run, size, args.porosity, seed=args.seed, method=args.method)
    path = io.save_grid(args.out, volume, dtype=np.uint8)
    print(f"wrote a {'×'.join(map(str, volume.shape))} volume ({args.method}) of {run.material.source} to {path} "
          f"(porosity {volume.mean():.6f}, {int(volume.sum())} pore voxels)")
    return 0


def _cmd_score(args) -> int:
    from porelib import io
    from porelib.scoring import score_grid

    if args.material is not None:
        return _score_material(args)
    if args.file is None:
        raise ValueError("give the grid file to score (or --material RUN to compare a material run's methods)")
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


def _score_material(args) -> int:
    """``score [FILE] --material RUN``: one volume, or every method, against the run's held-out slab."""
    from porelib.material.run import load_material_run
    from porelib.material.sample import import_material
    from porelib.material.score import compare_methods, score_volume

    run = load_material_run(args.material)
    if args.file is not None:
        volume = import_material(args.file, pore_value=args.pore_value).pores
        scores = score_volume(run, volume)
        if args.json:
            print(json.dumps({name: score.to_dict() for name, score in scores.items()}))
            return 0
        print(f"{args.file} against the held-out part of {run.material.source}, {run.split.describe_held_out()} "
              "(ratio 1 = as close as another piece "
              "of the sample; 95 % interval; ✗ = upper bound above the limit)")
        for name, score in scores.items():
            print(f"{name:>22}  {score.ratio:6.2f}  [{score.low:.2f}, {score.high:.2f}]{'' if score.passed else '  ✗'}")
        return 0
    comparison = compare_methods(run, progress=_progress_bar("scoring methods"))
    if args.json:
        print(json.dumps(comparison.to_dict()))
        return 0
    names = list(comparison.results[0].scores)
    print(f"every method against the held-out part of {run.material.source}, {run.split.describe_held_out()}: "
          f"{len(comparison.results)} methods, "
          f"volumes {'×'.join(map(str, comparison.member_shape))} at porosity {comparison.porosity:.4f}")
    print(f"{'statistic':>22}  " + "  ".join(f"{r.method:>20}" for r in comparison.results))
    for name in names:
        cells = [f"{s.ratio:5.2f} [{s.low:.2f},{s.high:5.2f}]" for s in (r.scores[name] for r in comparison.results)]
        print(f"{name:>22}  " + "  ".join(f"{cell:>20}" for cell in cells))
    for note in comparison.notes:
        print(f"note: {note}")
    print(f"recommended: {comparison.recommended} ({comparison.reason})")
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


def _cmd_train(args) -> int:
    from porelib.training import TrainingStopped, fit_flags, train_parser

    try:
        flags = train_parser(args.model, _Parser).parse_args(args.train_args)
    except SystemExit as exc:  # --help, or a bad flag already reported on one line
        return exc.code
    try:
        result = fit_flags(args.model, flags, command=["python", "-m", "porelib", *args.argv])
    except TrainingStopped as stopped:
        if _is_rank_zero():
            print(f"{stopped} (in {flags.out})", file=sys.stderr)
        return EXIT_STOPPED
    if _is_rank_zero():
        resumed = f" (resumed after epoch {result.resumed_from})" if result.resumed_from is not None else ""
        shown = ", ".join(f"{key} {value:.4g}" for key, value in result.best_metrics.items() if isinstance(value, float))
        print(f"trained {args.model} for {result.epochs} epoch(s){resumed} in {result.duration_s / 60:.1f} min; "
              f"best epoch {result.best_epoch} ({shown}); wrote {flags.out}")
    return 0


def _is_rank_zero() -> bool:
    """Whether this process reports for the run: always, except the ranks above 0 under ``torchrun``."""
    return os.environ.get("RANK", "0") == "0"


def _progress_bar(description: str):
    """A ``progress(done, total)`` callback drawing a tqdm bar on a terminal (silent otherwise)."""
    from tqdm import tqdm

    bar = tqdm(desc=description, disable=not sys.stderr.isatty(), leave=False)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return progress


def _dose_arg(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _cmd_ct_simulate(args) -> int:
    from porelib import ct, io

    if args.grid is not None:
        scan = ct.simulate_scan(io.load_grid(args.grid), contrast=args.contrast, dose=args.dose, seed=args.seed,
                                progress=_progress_bar("simulating"))
    else:
        scan = ct.simulate(args.size, volume_fraction=args.volume_fraction, contrast=args.contrast, dose=args.dose,
                           seed=args.seed, progress=_progress_bar("simulating"))
    path = ct.save_scan(args.out, scan)
    print(f"wrote a {'×'.join(map(str, scan.image.shape))} scan to {path} "
          f"(inclusions {scan.label.mean():.3f} of the volume, {args.contrast} contrast, dose {args.dose})")
    return 0


def _cmd_segment(args) -> int:
    from porelib import ct, metrics
    from porelib.checkpoint import CARD_FILE
    from porelib.segmentation import DEFAULT_CHECKPOINT, choose_method, segment

    if args.out.suffix != ".npy":
        raise ValueError(f"--out must be a .npy file; got {args.out}")
    scan = ct.load_scan(args.scan)
    if args.method == "auto":
        folder = args.checkpoint or DEFAULT_CHECKPOINT
        args.method, reason = choose_method(scan.image, unet_available=(folder / CARD_FILE).is_file())
        print(f"auto: {args.method} ({reason})")
    mask = segment(scan.image, args.method, contrast=args.contrast, clahe=args.clahe, checkpoint=args.checkpoint,
                   progress=_progress_bar(f"segmenting ({args.method})"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, mask)
    line = f"wrote the {args.method} mask to {args.out} (inclusions {mask.mean():.4f} of the volume"
    if scan.label is not None:
        line += f"; against the scan's label: Dice {metrics.dice(mask, scan.label):.4f}, IoU {metrics.iou(mask, scan.label):.4f}"
    print(line + ")")
    return 0


def _cmd_from_image(args) -> int:
    from porelib import io
    from porelib.section import section_to_volume

    result = section_to_volume(args.image, checkpoint=args.checkpoint, seed=args.seed, contrast=args.contrast)
    path = io.save_grid(args.out, result.grid)
    size = result.grid.shape[0]
    print(f"wrote a {size}³ grid to {path} from the {size}×{size} section of {args.image} "
          f"(section pore fraction {result.section.mean():.4f} -> implied density {result.density:.3f}; "
          f"grid porosity {result.grid.mean():.4f}; the network's own central plane matched the section "
          f"with IoU {result.section_iou_raw:.3f} before the section was imposed)")
    return 0


def _cmd_part_generate(args) -> int:
    from porelib.parts.generator import make_part, save_part

    part = make_part(args.seed, family=args.family)
    stl, info = save_part(part, args.out)
    extent = " × ".join(f"{e:.1f}" for e in part.extent)
    print(f"wrote a {part.family} part (seed {part.seed}, {extent} mm, {len(part.faces)} triangles, watertight) to "
          f"{stl} and its parameters to {info}")
    return 0


def _cmd_part_render(args) -> int:
    from porelib.parts.predict import render_stl, save_picture

    grey = render_stl(args.stl, views=(args.view,), pixels=args.pixels)[0]
    path = save_picture(args.out, grey)
    print(f"wrote {path}: {args.pixels}×{args.pixels} view {args.view} of {args.stl} by the picture convention "
          "(what `part predict` reads)")
    return 0


def _cmd_part_predict(args) -> int:
    from porelib.parts.predict import (
        check_outputs,
        predict_files,
        scores,
        stl_voxels,
        write_outputs,
    )

    check_outputs(npy=args.out, stl=args.stl, ply=args.points)
    prediction = predict_files(args.images, checkpoint=args.checkpoint)
    written = write_outputs(prediction, npy=args.out, stl=args.stl, ply=args.points)
    size = prediction.size
    line = (f"wrote {', '.join(map(str, written))}: a {size}³ voxel part from {len(args.images)} picture(s) "
            f"({prediction.grid.mean():.3f} of the voxels inside)")
    if args.truth is not None:
        score = scores(prediction.grid, stl_voxels(args.truth, size=size))
        line += f"; against {args.truth}: IoU {score['iou']:.3f}, Dice {score['dice']:.3f}"
    print(line)
    return 0


def _cmd_compress(args) -> int:
    from porelib.compress import (
        compress,
        decompress,
        quality,
        read_volume,
        save_compressed,
        save_standard_stream,
    )

    if args.stream is not None and args.method not in ("auto", "sz3", "zfp"):
        raise ValueError(f"--stream writes the SZ3 or zfp stream; method '{args.method}' has none (use sz3 or zfp)")
    volume = read_volume(args.input)
    neural = {name: getattr(args, name) for name in ("steps", "bits", "threads") if getattr(args, name) is not None}
    compressed = compress(volume, method=args.method, ratio=args.ratio, abs_error=args.abs_error, psnr=args.psnr,
                          kind=args.kind, max_seconds=args.max_seconds, seed=args.seed, device=args.device,
                          progress=_progress_bar("fitting"), **neural)
    if "reason" in compressed.info:
        print(f"auto chose {compressed.method}: {compressed.info['reason']}")
    stream = None
    if args.stream is not None and compressed.standard_stream() is not None:
        stream = save_standard_stream(args.stream, compressed)
    elif args.stream is not None:
        print(f"no stream written to {args.stream}: auto chose {compressed.method}, which has no standard stream")
    path = save_compressed(args.out, compressed)
    decoded = decompress(compressed, device=args.device, **{k: v for k, v in neural.items() if k == "threads"})
    scores = quality(volume, decoded, kind=compressed.kind)
    print(f"wrote {path} ({compressed.method}): {compressed.nbytes} bytes, ratio {compressed.ratio:.1f}:1 against the raw "
          f"{'float32' if compressed.kind == 'scan' else 'bit-packed'} size ({compressed.raw_nbytes} bytes), "
          f"{compressed.ratio_vs_dtype:.1f}:1 against {volume.dtype}; "
          + ", ".join(f"{name} {value:.4g}" for name, value in scores.items())
          + f"; encoded in {compressed.info['encode_s']:.2f} s")
    if stream is not None:
        print(f"wrote the {compressed.method} stream to {stream} (float32, C order: Z fastest)")
    return 0


def _cmd_decompress(args) -> int:
    from porelib.compress import decompress, load_compressed, write_volume

    compressed = load_compressed(args.file)
    threads = {"threads": args.threads} if args.threads is not None else {}
    volume = decompress(compressed, device=args.device, **threads)
    path = write_volume(args.out, volume)
    print(f"wrote the {'×'.join(map(str, volume.shape))} {compressed.kind} ({volume.dtype}, {compressed.method} "
          f"code) to {path}")
    return 0


def _density_list(text: str) -> tuple[float, ...]:
    """``"0.3,0.6"`` -> ``(0.3, 0.6)``: comma-separated density factors in [0, 1]."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated densities such as 0.3,0.6; got {text!r}") from None
    if not values or any(not 0.0 <= value <= 1.0 for value in values):
        raise argparse.ArgumentTypeError(f"densities must be in [0, 1], e.g. 0.3,0.6; got {text!r}")
    return values


def _checkpoint_pair(text: str) -> tuple[str, Path]:
    """``"cgan=runs/x"`` -> ``("cgan", Path("runs/x"))``: a generator's name and a checkpoint folder."""
    name, separator, folder = text.partition("=")
    if not separator or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=FOLDER, e.g. cgan=runs/cgan-ema; got {text!r}")
    return name, Path(folder)


def _name_list(text: str) -> tuple[str, ...]:
    """``"a,b"`` -> ``("a", "b")``: comma-separated names, blanks dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


#: ``run`` parameter of a benchmark module -> (its command-line flag, which benchmarks take it).
_BENCH_FLAGS = {
    "seconds": ("seconds", "run for a time (app-load)"),
    "minutes": ("minutes", "train (material, material-sections)"),
    "densities": ("densities", "sweep densities (generators)"),
    "generators": ("generators", "compare generators (generators)"),
    "checkpoints": ("checkpoint", "load checkpoints (generators)"),
    "selection": ("selection", "have selection ensembles (generators)"),
}


def _cmd_bench(args) -> int:
    name = args.name.replace("-", "_")
    module = import_module(f"porelib.bench.{name}")
    from porelib.bench._report import markdown_table

    given = {"seconds": args.seconds, "minutes": args.minutes, "densities": args.densities,
             "generators": args.generators, "checkpoints": dict(args.checkpoint) if args.checkpoint else None,
             "selection": args.selection or None}  # fmt: skip
    options = {}
    for option, value in given.items():
        if value is None:
            continue
        if option not in inspect.signature(module.run).parameters:
            raise ValueError(f"--{_BENCH_FLAGS[option][0]} applies to benchmarks that {_BENCH_FLAGS[option][1]}, "
                             f"not {args.name}")
        options[option] = value
    rows = module.run(out_dir=args.out, quick=args.quick, **options)
    print(markdown_table(rows))
    stem = module.report_name(True) if args.selection else name
    print(f"wrote {Path(args.out) / (stem + '.md')} and .json")
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m porelib``."""
    from porelib import registry
    from porelib.material.generate import METHODS as MATERIAL_METHODS
    from porelib.segmentation import METHODS

    reads = _Parser(add_help=False)
    reads.add_argument(
        "--max-input-size", type=str, default=argparse.SUPPRESS, metavar="SIZE",
        help="refuse input files, or arrays they declare, above this size (default 1GiB; e.g. 4GiB, 500MB); "
             "also set by the environment variable PORELIB_MAX_INPUT_BYTES",
    )
    parser = _Parser(prog="porelib", description="Pore Studio: 3D porous microstructures.", parents=[reads])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = commands.add_parser("data", help="build the simulated dataset")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    build = data_commands.add_parser("build", help="simulate the dataset into data/")
    build.add_argument("--n", type=int, default=512, help="number of grids (default 512)")
    build.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    build.add_argument("--size", type=int, default=30, help="edge length in voxels (default 30)")
    build.add_argument("--out", type=Path, default=None, help="output folder (default: the repository's data/)")
    build.set_defaults(func=_cmd_data_build)
    example = data_commands.add_parser("material-example",
                                       help="write the example sample of the material flow into data/examples/ (needs PoreSpy)")
    example.add_argument("--out", type=Path, default=None, help="output folder (default: the repository's data/examples/)")
    example.set_defaults(func=_cmd_material_example)

    gen = commands.add_parser("generate", help="generate pore grids for a density")
    gen.add_argument("--model", choices=registry.names(role="generator"), default="simulator")
    gen.add_argument("--density", type=float, default=None, help="density factor in [0, 1] (the dataset's generators)")
    gen.add_argument("--porosity", type=float, default=None,
                     help="fraction of pore voxels of a material run's volume (exact to the voxel)")
    gen.add_argument("--method", default="model", choices=MATERIAL_METHODS,
                     help="for a material run: its trained generator, or a classical baseline fitted to its sample")
    gen.add_argument("--n", type=int, default=1, help="number of grids (default 1)")
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--size", type=int, default=None,
                     help="edge length (default 30 for the simulator, the checkpoint's for a trained model, 128 for a "
                          "material run, which makes any size)")
    gen.add_argument("--checkpoint", type=Path, default=None,
                     help="checkpoint folder of a trained model, or the run folder of `train material`")
    gen.add_argument("--out", type=Path, required=True,
                     help="output file: .npz (grids, densities), .npy, .rows.npy (original row format), .tif, .vti, .stl")
    gen.set_defaults(func=_cmd_generate)

    score = commands.add_parser("score", help="statistics of a grid, against a reference and the dataset", parents=[reads])
    score.add_argument("file", type=Path, nargs="?", default=None, help=".npy (rows or 3-D), .npz, .tif or .vti")
    score.add_argument("--material", type=Path, default=None,
                       help="a material run: score FILE against its held-out slab, or without FILE every method")
    score.add_argument("--pore-value", type=float, default=1.0, help="with --material: the value of the pore phase in FILE")
    score.add_argument("--reference", type=Path, default=None, help="grid to compare voxel by voxel")
    score.add_argument("--density", type=_density_arg, default=None,
                       help="compare against the dataset at this density factor, or 'auto' to estimate it")
    score.add_argument("--data", type=Path, default=None, help="dataset file or folder (default data/)")
    score.add_argument("--index", type=int, default=0, help="which grid of a batch file (default 0)")
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.set_defaults(func=_cmd_score)

    trainable = registry.names(trainable=True)
    train = commands.add_parser("train", help="train a model; `python -m porelib train MODEL --help` lists its flags")
    train.add_argument("model", metavar="MODEL",
                       help="the model to train: " + ", ".join(f"{n} ({registry.label(n)})" for n in trainable))
    train.add_argument("train_args", nargs=argparse.REMAINDER, help="--out DIR [--epochs E] ... (see MODEL --help)")
    train.set_defaults(func=_cmd_train)

    ct = commands.add_parser("ct", help="simulate X-ray CT scans with exact labels")
    ct_commands = ct.add_subparsers(dest="ct_command", required=True, parser_class=_Parser)
    simulate = ct_commands.add_parser("simulate", help="simulate a scan of glass spheres, or of a given grid", parents=[reads])
    simulate.add_argument("--size", type=int, default=128, help="edge length of a new sphere phantom (default 128)")
    simulate.add_argument("--volume-fraction", type=float, default=0.2, help="of the spheres (default 0.2)")
    simulate.add_argument("--grid", type=Path, default=None, help="scan this grid (pores) instead of a sphere phantom")
    simulate.add_argument("--contrast", choices=("bright", "dark"), default="bright",
                          help="bright: glass in polymer; dark: pores in a solid")
    simulate.add_argument("--dose", type=_dose_arg, default="default",
                          help="high, default, low, or photons per detector pixel")
    simulate.add_argument("--seed", type=int, default=None)
    simulate.add_argument("--out", type=Path, required=True, help="output .npz (image float32, label bool)")
    simulate.set_defaults(func=_cmd_ct_simulate)

    seg = commands.add_parser("segment", help="segment the inclusions (spheres or pores) of a CT scan", parents=[reads])
    seg.add_argument("scan", type=Path, help=".npz (image[, label]), .npy or .tif")
    seg.add_argument("--method", choices=METHODS, default="otsu",
                     help="auto: chosen per scan from its estimated noise (the reason is printed); nlm, gaussian, "
                          "median: that denoising filter then Otsu; watershed: marker watershed on the smoothed scan")
    seg.add_argument("--contrast", choices=("auto", "bright", "dark"), default="auto",
                     help="which phase is the inclusion (otsu, kmeans, unet; auto: the minority phase)")
    seg.add_argument("--clahe", action="store_true", help="otsu after local histogram equalisation (as seed 001)")
    seg.add_argument("--checkpoint", type=Path, default=None, help="U-Net checkpoint folder (default checkpoints/unet)")
    seg.add_argument("--out", type=Path, required=True, help="output mask .npy (bool)")
    seg.set_defaults(func=_cmd_segment)

    image = commands.add_parser("from-image", help="a 3D pore grid whose central section is a 2D image", parents=[reads])
    image.add_argument("image", type=Path, help=".png picture (x to the right, y upwards) or .npy array [ix, iy]")
    image.add_argument("--out", type=Path, required=True, help="output grid: .npy, .npz, .tif, .vti or .stl")
    image.add_argument("--checkpoint", type=Path, default=None, help="img2vox checkpoint folder (default checkpoints/img2vox)")
    image.add_argument("--seed", type=int, default=None, help="same seed, same grid")
    image.add_argument("--contrast", choices=("auto", "bright", "dark"), default="auto",
                       help="which phase of a grey image is pore (auto: the minority phase; 0/1 data: 1 = pore)")
    image.set_defaults(func=_cmd_from_image)

    part = commands.add_parser("part", help="a mechanical part from a picture: generate, render, predict")
    part_commands = part.add_subparsers(dest="part_command", required=True, parser_class=_Parser)
    from porelib.parts.generator import FAMILIES

    make = part_commands.add_parser("generate", help="write a generated CAD-like part as a watertight STL (mm) + JSON")
    make.add_argument("--seed", type=int, default=0, help="same seed, same part (default 0)")
    make.add_argument("--family", choices=FAMILIES, default=None, help="force a family (default: by the seed)")
    make.add_argument("--out", type=Path, required=True, help="output .stl (its parameters go to the same name .json)")
    make.set_defaults(func=_cmd_part_generate)
    draw = part_commands.add_parser("render", help="render an STL by the picture convention (what predict reads)",
                                    parents=[reads])
    draw.add_argument("stl", type=Path, help="a part as a binary or ASCII STL, any unit and pose")
    draw.add_argument("--out", type=Path, required=True, help="output picture (.png)")
    draw.add_argument("--view", type=int, default=0,
                      help="camera direction: 0 = isometric from +x +y +z (the convention; default), 1-3 the others "
                           "of a multi-view checkpoint")
    draw.add_argument("--pixels", type=int, default=128, help="picture side in pixels (default 128)")
    draw.set_defaults(func=_cmd_part_render)
    guess = part_commands.add_parser("predict", help="the 3-D part of a picture: voxels, STL, point cloud",
                                     parents=[reads])
    guess.add_argument("images", type=Path, nargs="+",
                       help="picture(s) of the part (.png, .jpg) by the convention of `part render`: one per view "
                            "the checkpoint reads (one for the shipped model)")
    guess.add_argument("--out", type=Path, required=True, help="output voxels .npy (bool, S³, [ix, iy, iz], z up)")
    guess.add_argument("--stl", type=Path, default=None, help="also write the smoothed mesh (voxel units) as .stl")
    guess.add_argument("--points", type=Path, default=None, help="also write a point cloud on the mesh as .ply")
    guess.add_argument("--truth", type=Path, default=None, help="the part's true STL: print IoU and Dice against it")
    guess.add_argument("--checkpoint", type=Path, default=None, help="parts checkpoint folder (default checkpoints/parts)")
    guess.set_defaults(func=_cmd_part_predict)


    from porelib.compress.names import CHOICES, DEFAULT_MAX_SECONDS

    pack = commands.add_parser("compress", help="compress a scan or grid (SZ3, zfp, neural field, lzma) into a .pnc",
                               parents=[reads])
    pack.add_argument("input", type=Path, help="scan (.npz with image, .npy, .tif) or grid (.npy, .npz, .tif, .vti)")
    pack.add_argument("--method", choices=CHOICES, default="auto",
                      help="auto (default): chooses per volume and target and says why; sz3 and zfp: error-bounded; "
                           "neural: a fitted network (slow, best at high ratios); lzma: lossless")
    pack.add_argument("--ratio", type=float, default=None,
                      help="target ratio: raw size (float32, or 1 bit per voxel for a grid) / file size")
    pack.add_argument("--abs-error", type=float, default=None,
                      help="largest error of any voxel, in the scan's units (sz3, zfp, auto); a grid: voxels its "
                           "surface may move")
    pack.add_argument("--psnr", type=float, default=None,
                      help="least PSNR in dB (sz3, zfp, auto; with --ratio, auto keeps it at that ratio if it can)")
    pack.add_argument("--max-seconds", type=float, default=None,
                      help=f"time limit: auto stops by it (default {DEFAULT_MAX_SECONDS:g}), a neural fit is shortened to it")
    pack.add_argument("--out", type=Path, required=True, help="output file (.pnc)")
    pack.add_argument("--stream", type=Path, default=None,
                      help="also write the SZ3 (.sz3) or zfp (.zfp) stream, which their own tools open")
    pack.add_argument("--kind", choices=("auto", "scan", "binary"), default="auto",
                      help="auto: bool or 0/1 integer arrays are grids (thresholded on decoding), others scans")
    pack.add_argument("--steps", type=int, default=None, help="neural: optimisation steps (default 2000)")
    pack.add_argument("--bits", type=int, default=None, help="neural: bits per quantised weight (default 8)")
    pack.add_argument("--seed", type=int, default=None, help="neural: same seed, same file")
    pack.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    pack.add_argument("--threads", type=int, default=None,
                      help="neural: CPU threads, 1 or 2 (default 1: faster on a busy machine)")
    pack.set_defaults(func=_cmd_compress)

    unpack = commands.add_parser("decompress", help="rebuild the volume of a .pnc file (any method)")
    unpack.add_argument("file", type=Path, help="a .pnc file written by `compress` (the file records its method)")
    unpack.add_argument("--out", type=Path, required=True, help="output .npy (grids also .npz, .tif, .vti, .stl)")
    unpack.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    unpack.add_argument("--threads", type=int, default=None, help="CPU threads, 1 or 2 (default 1)")
    unpack.set_defaults(func=_cmd_decompress)

    bench = commands.add_parser("bench", help="run a benchmark; prints a table, writes Markdown and JSON")
    bench.add_argument("name", choices=BENCHMARKS)
    bench.add_argument("--out", type=Path, default=Path("docs/bench"), help="output folder (default docs/bench)")
    bench.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    bench.add_argument("--seconds", type=float, default=None,
                       help="app-load: seconds of load (default 60, or 15 with --quick)")
    bench.add_argument("--minutes", type=float, default=None,
                       help="material: training budget per material (default 5)")
    bench.add_argument("--densities", type=_density_list, default=None, metavar="D,D,...",
                       help="generators: only these densities, e.g. 0.3,0.6 (for iterating; the docs' tables use all)")
    bench.add_argument("--generators", type=_name_list, default=None, metavar="NAME,...",
                       help="generators: only these rows, e.g. cgan,simulator")
    bench.add_argument("--checkpoint", type=_checkpoint_pair, action="append", default=None, metavar="NAME=FOLDER",
                       help="generators: score this checkpoint folder as NAME (repeatable), e.g. a candidate run")
    bench.add_argument("--selection", action="store_true",
                       help="generators: score on the selection ensembles (other seeds; writes generators-selection.md), "
                            "to choose among candidates without looking at the benchmark's grids")
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a bad flag already reported on one line
        return exc.code
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if hasattr(args, "max_input_size"):
            from porelib.io import MAX_INPUT_ENV, parse_size

            os.environ[MAX_INPUT_ENV] = str(parse_size(args.max_input_size, "--max-input-size"))
        return args.func(args)
    except (ValueError, TypeError) as exc:
        if os.environ.get("PORELIB_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        from porelib.runfolder import DiskFull

        if os.environ.get("PORELIB_DEBUG") or not isinstance(exc, DiskFull):
            raise
        print(f"error: {exc.strerror}", file=sys.stderr)
        return 1
    except MemoryError:
        if os.environ.get("PORELIB_DEBUG"):
            raise
        print("error: out of memory; try a smaller input (or fewer samples), or a machine with more memory",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
