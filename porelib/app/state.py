"""What the app remembers between reruns, and what it reports about itself.

The Streamlit pages share one session-state mapping. Its keys are the
constants below (every widget a test touches uses one of them as its
``key=``); :func:`init_state` fills in the defaults of the missing ones.
:func:`model_status` tells the Home page which generators are ready.

Nothing here imports streamlit: the functions take any mutable mapping, so
they are tested with a plain ``dict``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from porelib import registry
from porelib.data import REPO_ROOT
from porelib.training import TrainConfig

#: The app's favicon (64×64 PNG), served by the app itself.
ICON = Path(__file__).resolve().parent / "icon.png"

# Generate page.
MODEL = "model"
DENSITY = "density"
SEED = "seed"
N_SAMPLES = "n_samples"
VIEW_SAMPLE = "view_sample"
# Slice viewer (one per page, keys prefixed by the page's name).
SLICE_AXIS = "slice_axis"
SLICE_INDEX = "slice_index"
# Compare page.
COMPARE_MODEL = "compare_model"
COMPARE_PICK = "compare_pick"
COMPARE_INDEX = "compare_index"
COMPARE_DENSITY = "compare_density"
COMPARE_N_FRESH = "compare_n_fresh"
COMPARE_VIEW = "compare_view"
# Score page.
SCORE_SOURCE = "score_source"
SCORE_UPLOAD = "score_upload"
SCORE_REFERENCE_UPLOAD = "score_reference_upload"
SCORE_EXAMPLE = "score_example"
SCORE_GRID_INDEX = "score_grid_index"
SCORE_DENSITY_MODE = "score_density_mode"
SCORE_DENSITY = "score_density"
#: Not a widget: the grids last made on the Generate page, ``(grids, density, model)``.
LAST_GENERATED = "last_generated"
# From an image page.
FROM_IMAGE_SOURCE = "from_image_source"
FROM_IMAGE_UPLOAD = "from_image_upload"
FROM_IMAGE_CONTRAST = "from_image_contrast"
FROM_IMAGE_INDEX = "from_image_index"
FROM_IMAGE_DENSITY = "from_image_density"
FROM_IMAGE_GRID_SEED = "from_image_grid_seed"
FROM_IMAGE_SEED = "from_image_seed"
FROM_IMAGE_TOOL = "from_image_tool"
FROM_IMAGE_STROKE = "from_image_stroke"
# Part from a picture page.
PART_SOURCE = "part_source"
PART_INDEX = "part_index"
PART_UPLOAD = "part_upload"
PART_STL_UPLOAD = "part_stl_upload"
PART_TRUTH_UPLOAD = "part_truth_upload"
PART_VIEW = "part_view"
# Segment page.
SEGMENT_SOURCE = "segment_source"
SEGMENT_UPLOAD = "segment_upload"
SEGMENT_SIZE = "segment_size"
SEGMENT_FRACTION = "segment_fraction"
SEGMENT_DOSE = "segment_dose"
SEGMENT_CONTRAST = "segment_contrast"
SEGMENT_SEED = "segment_seed"
SEGMENT_FAMILY = "segment_family"
SEGMENT_METHODS = "segment_methods"
#: Not a widget: the Segment page's scan and its masks, ``(scan_id, scan, {method: mask})``.
SEGMENT_RESULT = "segment_result"
#: Not a widget: the ``auto`` choice for the stored scan, ``(scan_id, checkpoint, method, reason)``.
SEGMENT_AUTO = "segment_auto"
#: Not a widget: the U-Net checkpoint folder behind the stored ``unet`` mask (``None`` = the shipped one).
SEGMENT_UNET_CHECKPOINT = "segment_unet_checkpoint"
#: The mask the Segment page hands to the Train page, and the request to go there.
SEGMENT_TRAIN_MASK = "segment_train_mask"
SEGMENT_TRAIN_REQUESTED = "segment_train_requested"
# Train page; a task's options use train_option_key(model, group, name).
TRAIN_MODEL = "train_model"
TRAIN_DATA_SOURCE = "train_data_source"
TRAIN_DATA_FOLDER = "train_data_folder"
TRAIN_EPOCHS = "train_epochs"
TRAIN_BATCH_SIZE = "train_batch_size"
TRAIN_LR = "train_lr"
TRAIN_SEED = "train_seed"
TRAIN_LIMIT = "train_limit"
TRAIN_THREADS = "train_threads"
TRAIN_DEVICE = "train_device"
TRAIN_NPROC = "train_nproc"
TRAIN_MINUTES = "train_minutes"
TRAIN_SAMPLE = "train_sample"
#: Uploaders of the material's sections normal to y and z (the sample is then the one normal to x).
TRAIN_SECTIONS = {"y": "train_section_y", "z": "train_section_z"}
TRAIN_EXAMPLE = "train_example"
TRAIN_START = "train_start"
#: Not a widget: set by the Start button's callback; the page then checks the settings and launches.
TRAIN_START_REQUESTED = "train_start_requested"
#: Not a widget: the error of the last run button's callback (Stop, Use, Resume), shown once.
TRAIN_ACTION_ERROR = "train_action_error"

# Your-material page.
MATERIAL_RUN = "material_run"
MATERIAL_POROSITY = "material_porosity"
MATERIAL_SIZE = "material_size"
MATERIAL_METHOD = "material_method"
MATERIAL_SEED = "material_seed"
MATERIAL_SCORE = "material_score"
#: Not a widget: the run folder whose methods the user asked to score.
MATERIAL_SCORED = "material_scored"
#: Edge lengths the Your-material page generates.
MATERIAL_SIZES = (64, 96, 128, 192, 256)

# Compress page.
COMPRESS_SOURCE = "compress_source"
COMPRESS_INDEX = "compress_index"
COMPRESS_SCAN_SIZE = "compress_scan_size"
COMPRESS_SCAN_SEED = "compress_scan_seed"
COMPRESS_SCAN_DOSE = "compress_scan_dose"
COMPRESS_UPLOAD = "compress_upload"
COMPRESS_GRID_RATIO = "compress_grid_ratio"
COMPRESS_SCAN_RATIO = "compress_scan_ratio"
COMPRESS_STEPS = "compress_steps"
COMPRESS_SEED = "compress_seed"
COMPRESS_METHOD = "compress_method"
COMPRESS_TARGET = "compress_target"
COMPRESS_PSNR = "compress_psnr"
COMPRESS_ABS_ERROR = "compress_abs_error"
COMPRESS_MAX_SECONDS = "compress_max_seconds"
COMPRESS_RUN = "compress_run"
COMPRESS_RD_NEURAL = "compress_rd_neural"
COMPRESS_RD_RUN = "compress_rd_run"
#: Not a widget: the rate-distortion rows of the Compress page, ``(job, rows)``.
COMPRESS_RD_RESULT = "compress_rd_result"
#: Not a widget: the rate-distortion job the Plot button asked for (set by its callback).
COMPRESS_RD_PENDING = "compress_rd_pending"
#: Not a widget: the Compress page's last code, ``(job, .pnc bytes, info)``; ``job`` names the volume and
#: settings it was made from, ``info`` is the code's ``Compressed.info`` (times, auto's reason).
COMPRESS_RESULT = "compress_result"
#: Not a widget: the job the Compress button asked for (set by its callback, which survives a rerun).
COMPRESS_PENDING = "compress_pending"


@dataclass(frozen=True)
class PageInfo:
    """One page of the app: ``studio.py`` routes to it and Home describes it.

    Attributes
    ----------
    path : str
        Script path relative to the repository, e.g. ``"pages/generate.py"``.
    title, icon : str
        Navigation title and Material icon (``":material/name:"``).
    description : str
        One or two sentences for Home; empty for Home itself.
    """

    path: str
    title: str
    icon: str
    description: str = ""


#: Every page, in navigation order; the first is the default (Home).
PAGES = (
    PageInfo("pages/home.py", "Home", ":material/home:"),
    PageInfo(
        "pages/generate.py",
        "Generate",
        ":material/view_in_ar:",
        "A density slider regenerates the structure: 3D view, sections, statistics against the dataset, "
        "downloads (.npy rows, .npz, .vti, .stl).",
    ),
    PageInfo(
        "pages/compare.py",
        "Compare to dataset",
        ":material/compare:",
        "A dataset grid beside the model's reconstruction (IoU, Dice, AAD, AVAR) and fresh samples at its "
        "density; porosity against density over the whole dataset.",
    ),
    PageInfo(
        "pages/score.py",
        "Score your grid",
        ":material/straighten:",
        "Upload .npy (row or 3-D), .npz, .tif, .vti or .stl: statistics against the dataset with a verdict per "
        "statistic, voxel scores against an optional reference.",
    ),
    PageInfo(
        "pages/from_image.py",
        "From an image",
        ":material/layers:",
        "A 2-D section (from the dataset, simulated or uploaded) grown into a 3-D grid whose central section "
        "matches it; statistics against the dataset at the implied density.",
    ),
    PageInfo(
        "pages/part.py",
        "Part from a picture",
        ":material/precision_manufacturing:",
        "A picture of a mechanical part (or an STL, rendered by the convention) to its 3-D voxels: 3D view, "
        "slices, IoU and Dice against the true part beside the extruded silhouette, STL/NPY/PLY downloads.",
    ),
    PageInfo(
        "pages/segment.py",
        "Segment a scan",
        ":material/blur_on:",
        "Simulate or upload a CT scan; the 3D U-Net beside Otsu, k-means and the depth map, with overlays and "
        "Dice against the exact label.",
    ),
    PageInfo(
        "pages/train.py",
        "Train",
        ":material/model_training:",
        "Train any model in the background (on the GPUs when there are some, several processes with torchrun): "
        "live loss curves, stop, and use the new checkpoint on the Generate and Segment pages.",
    ),
    PageInfo(
        "pages/material.py",
        "Your material",
        ":material/landscape:",
        "Volumes of your own sample at any size and the porosity you choose, from the generator trained on it "
        "or a classical reconstruction, each judged against a slab of the sample it never saw.",
    ),
    PageInfo(
        "pages/compress.py",
        "Compress",
        ":material/compress:",
        "Fit a neural field to a dataset grid, a simulated CT scan or your upload at a chosen ratio: original "
        "beside reconstruction, PSNR or IoU beside lossless lzma and a DCT baseline, the .pnc file to download.",
    ),
)


#: How the Compare page picks a dataset grid.
PICK_BY = ("index", "density")
#: Where the Score page takes its grid from.
SCORE_SOURCES = ("upload", "example", "generated")
#: How the Score page chooses the density to compare at.
DENSITY_MODES = ("estimate", "enter")
#: Where the Segment page takes its scan from, and the edge lengths it simulates.
SEGMENT_SOURCES = ("simulate", "upload")
SEGMENT_SIZES = (32, 48, 64, 96, 128, 192, 256)
#: Where the Compress page takes its volume from, the scan sizes it simulates and its fitting steps.
COMPRESS_SOURCES = ("dataset", "simulate", "upload")
COMPRESS_SCAN_SIZES = (32, 48, 64)
#: Doses of the Compress page's simulated scan: names of porelib.ct.DOSES, or "none" (no photon noise).
COMPRESS_SCAN_DOSES = ("default", "high", "low", "none")
COMPRESS_STEP_CHOICES = (100, 250, 500, 1000, 2000)
#: What the Compress page aims at: a ratio, a PSNR (dB) or a largest absolute error (scans only for the last two).
COMPRESS_TARGETS = ("ratio", "psnr", "abs_error")
#: Where the From-an-image page takes its section from.
FROM_IMAGE_SOURCES = ("dataset", "simulate", "upload", "draw")
#: Drawing tools of the From-an-image page's canvas.
FROM_IMAGE_TOOLS = ("circle", "freedraw")
#: Where the Part page takes its part from: a generated test part, a picture, or an STL to render.
PART_SOURCES = ("generated", "picture", "stl")
#: Which grid the Part page shows in 3D.
PART_VIEWS = ("prediction", "truth")
#: Which grid the Compare page shows in 3D.
COMPARE_VIEWS = ("dataset", "reconstruction", "fresh")
AXES = ("x", "y", "z")
MAX_SAMPLES = 16
#: Pages with a slice viewer, each with its own pair of keys (see :func:`slice_keys`).
SLICE_PAGES = ("generate", "compare", "score", "segment", "from_image", "compress", "part", "material")


def slice_keys(page: str) -> tuple[str, str]:
    """The (axis, index) widget keys of the slice viewer on ``page``."""
    return f"{page}_{SLICE_AXIS}", f"{page}_{SLICE_INDEX}"


#: Where the Train page takes the dataset from: the built-in one, or a folder of original files.
TRAIN_DATA_SOURCES = ("builtin", "folder")


def train_option_key(model: str, group: str, name: str) -> str:
    """Widget key of option ``options[group][name]`` of task ``model`` on the Train page."""
    return f"train_option_{model}_{group}_{name}"


#: The model the Train page opens on when a page hands it a sample (:func:`train_on_sample`).
SAMPLE_MODEL = "material"


def train_on_sample(state, sample, *, pore_value: float | None = None) -> None:
    """Set the Train page up to train the material generator on ``sample`` (a stored file's path).

    Parameters
    ----------
    state : MutableMapping
        ``st.session_state`` (or any mapping, in tests).
    sample : str or Path
        A segmented volume or image the run can read (e.g. from :func:`porelib.runs.store_array`).
    pore_value : float, optional
        Which value is pore; ``None``: True for a bool mask, else the minority phase.
    """
    state[TRAIN_MODEL] = SAMPLE_MODEL
    state[train_option_key(SAMPLE_MODEL, "data", "input")] = str(sample)
    state[train_option_key(SAMPLE_MODEL, "data", "pore_value")] = pore_value


def train_run_key(action: str, run_name: str) -> str:
    """Widget key of a run's ``action`` button (``stop``, ``use``, ``resume``) or metric picker on the Train page."""
    return f"train_{action}_{run_name}"


#: Default of every widget key; file uploaders and buttons have none (Streamlit owns them).
DEFAULTS = {
    MODEL: "simulator",
    DENSITY: 0.6,
    # Not 0: `python -m porelib data build` uses seed 0, and the simulator at seed 0 and a
    # dataset grid's density repeats that grid exactly (same spawned generator).
    SEED: 1,
    N_SAMPLES: 1,
    VIEW_SAMPLE: 0,
    COMPARE_PICK: PICK_BY[0],
    COMPARE_MODEL: None,  # the page opens on the first generator that can reconstruct a grid (the cVAE)
    COMPARE_INDEX: 9,  # the first grid of the test split (index % 10 == 9)
    COMPARE_DENSITY: 0.6,
    COMPARE_N_FRESH: 4,
    COMPARE_VIEW: COMPARE_VIEWS[0],
    SCORE_SOURCE: SCORE_SOURCES[0],
    SCORE_EXAMPLE: "distribution_464_0.7888.npy",  # a mid-density example (porosity 0.15), scored before any upload
    SCORE_GRID_INDEX: 0,
    SCORE_DENSITY_MODE: DENSITY_MODES[0],
    SCORE_DENSITY: 0.6,
    FROM_IMAGE_SOURCE: FROM_IMAGE_SOURCES[0],
    FROM_IMAGE_CONTRAST: "auto",
    FROM_IMAGE_INDEX: 2,  # test grid 29, d = 0.65: porosity 0.074, its central section 11 % pore (grid 5 is d = 0.05, empty)
    FROM_IMAGE_DENSITY: 0.7,
    FROM_IMAGE_GRID_SEED: 1,
    FROM_IMAGE_SEED: 0,
    FROM_IMAGE_TOOL: FROM_IMAGE_TOOLS[0],
    FROM_IMAGE_STROKE: 10,
    PART_SOURCE: PART_SOURCES[0],
    PART_INDEX: 0,
    PART_VIEW: PART_VIEWS[0],
    SEGMENT_SOURCE: SEGMENT_SOURCES[0],
    SEGMENT_SIZE: 64,
    SEGMENT_FRACTION: 0.2,
    SEGMENT_DOSE: "default",
    SEGMENT_CONTRAST: "bright",
    SEGMENT_SEED: 1,
    SEGMENT_FAMILY: "spheres",
    MATERIAL_SIZE: 64,
    MATERIAL_METHOD: "model",
    MATERIAL_SEED: 1,
    SEGMENT_METHODS: ["auto", "unet", "nlm", "median", "otsu"],
    TRAIN_MODEL: "cvae",
    TRAIN_DATA_SOURCE: TRAIN_DATA_SOURCES[0],
    TRAIN_DATA_FOLDER: "",
    TRAIN_EPOCHS: TrainConfig.epochs,
    TRAIN_BATCH_SIZE: TrainConfig.batch_size,
    TRAIN_LR: TrainConfig.lr,
    TRAIN_SEED: TrainConfig.seed,
    TRAIN_LIMIT: TrainConfig.limit,
    TRAIN_THREADS: TrainConfig.threads,
    TRAIN_DEVICE: None,  # the page picks the best device it finds (porelib.runs.available_devices)
    TRAIN_NPROC: 1,
    TRAIN_MINUTES: None,
    COMPRESS_SOURCE: COMPRESS_SOURCES[0],
    COMPRESS_INDEX: 43,  # a test-split grid of porosity 0.095 (density 0.70)
    COMPRESS_SCAN_SIZE: 48,
    COMPRESS_SCAN_SEED: 1,
    COMPRESS_SCAN_DOSE: "default",
    COMPRESS_GRID_RATIO: 3.0,
    COMPRESS_SCAN_RATIO: 100.0,
    COMPRESS_STEPS: 500,
    COMPRESS_SEED: 0,
    COMPRESS_METHOD: "auto",
    COMPRESS_TARGET: COMPRESS_TARGETS[0],
    COMPRESS_PSNR: 40.0,
    COMPRESS_ABS_ERROR: 0.01,
    COMPRESS_MAX_SECONDS: 60.0,
    COMPRESS_RD_NEURAL: False,
    **{slice_keys(page)[0]: AXES[2] for page in SLICE_PAGES},
    **{slice_keys(page)[1]: 15 for page in SLICE_PAGES},
}


def init_state(state: MutableMapping) -> None:
    """Fill every key of :data:`DEFAULTS` that ``state`` does not hold yet; keep the others.

    A model chosen earlier that is no longer offered falls back to the default.
    """
    for key, value in DEFAULTS.items():
        state.setdefault(key, value)
    if state[MODEL] not in registry.names(role="generator"):
        state[MODEL] = DEFAULTS[MODEL]


def reset_if_outside(state: MutableMapping, key: str, low: float, high: float, default: float) -> None:
    """Set ``state[key]`` to ``default`` when it is missing or outside ``[low, high]``."""
    value = state.get(key)
    if value is None or not low <= value <= high:
        state[key] = default


def clamp_index(state: MutableMapping, key: str, upper: int) -> None:
    """Clip the integer at ``state[key]`` into ``[0, upper]`` (a slider's range may shrink)."""
    state[key] = min(max(int(state.get(key, 0)), 0), upper)


@dataclass(frozen=True)
class ModelStatus:
    """Whether a generator can be used, for the Home page.

    Attributes
    ----------
    name : str
        A generator of :mod:`porelib.registry`.
    ready : bool
        True if :func:`porelib.generate` can use it now.
    detail : str
        One line: what it is, or what is missing and how to get it.
    """

    name: str
    ready: bool
    detail: str


#: How many of a checkpoint card's metrics :func:`model_status` quotes.
QUOTED_METRICS = 3


def _relative(path: Path) -> Path:
    """``path`` relative to the repository when it lies inside it (shorter to read)."""
    try:
        return path.resolve().relative_to(REPO_ROOT)
    except ValueError:
        return path


def model_status(name: str, *, checkpoint=None) -> ModelStatus:
    """Report whether ``name`` is ready: the simulator always is, a trained model needs its checkpoint.

    A trained model is ready when its checkpoint folder (``checkpoint``, default
    ``checkpoints/<name>``) holds a card and weights; the first
    :data:`QUOTED_METRICS` scalar ``metrics`` of the card, if any, are quoted in ``detail``.
    """
    if name == "simulator":
        return ModelStatus(name, True, "calibrated sphere-packing simulator of the dataset (no weights)")
    from porelib.checkpoint import WEIGHTS_FILE, read_card
    from porelib.inference import checkpoint_dir

    folder = checkpoint_dir(name, checkpoint)
    shown = _relative(folder)
    train = f"train one with `python -m porelib train {name} --out {shown}`"
    if not (folder / WEIGHTS_FILE).is_file():
        return ModelStatus(name, False, f"no weights at {shown}/{WEIGHTS_FILE}; {train}")
    try:
        card = read_card(folder)
    except ValueError as exc:
        return ModelStatus(name, False, f"{exc}; {train}")
    metrics = card.get("metrics") if isinstance(card.get("metrics"), dict) else {}
    scalars = [(key, value) for key, value in metrics.items() if isinstance(value, (int, float))]
    quoted = ", ".join(f"{key} {value:.3g}" for key, value in scalars[:QUOTED_METRICS])
    return ModelStatus(name, True, f"checkpoint {shown}/" + (f": {quoted}" if quoted else ""))


#: The published benchmark of the density-conditioned generators (``python -m porelib bench generators``).
GENERATORS_BENCH = REPO_ROOT / "docs" / "bench" / "generators.json"


@dataclass(frozen=True)
class Verdict:
    """What the generators benchmark says about one model near one density.

    Attributes
    ----------
    holds : bool
        Every ratio ≤ the target and every 95 % upper bound ≤ the floor at that density.
    density : float
        The benchmarked density nearest the one asked for.
    text : str
        One sentence for the page, with the worst statistic's ratio and interval.
    """

    holds: bool
    density: float
    text: str


def generator_verdict(model: str, density: float, *, path=GENERATORS_BENCH) -> Verdict | None:
    """The benchmark's verdict for ``model`` at the benchmarked density nearest ``density``.

    ``None`` when the benchmark file is missing or has no row for the model (e.g. a
    checkpoint trained on the Train page: the published verdict is about the shipped one).
    """
    import json

    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    rows = [row for row in document.get("rows", []) if row.get("generator") == model
            and isinstance(row.get("density"), float) and "holds" in row]  # fmt: skip
    if not rows:
        return None
    row = min(rows, key=lambda r: abs(r["density"] - density))
    names = [key.removesuffix("_high") for key in row if key.endswith("_high")]
    worst = max(names, key=lambda name: row[f"{name}_high"])
    target, floor = document.get("target", 1.5), document.get("floor", 2.0)
    measured = (f"{worst.replace('_', ' ')} {row[f'{worst}_ratio']:.2f}× the simulator's own spread "
                f"(95 % interval {row[f'{worst}_low']:.2f}–{row[f'{worst}_high']:.2f})")
    if worst in str(row.get("zero_floors", "")).split(", "):
        measured = (f"{worst.replace('_', ' ')} {row[f'{worst}_ratio']:.2f}× the change one pore voxel makes "
                    f"(the simulator's grids all agree here; 95 % interval "
                    f"{row[f'{worst}_low']:.2f}–{row[f'{worst}_high']:.2f})")
    if row["holds"]:
        text = (f"Benchmark at d = {row['density']:g}: holds — every statistic within {target:g}× the simulator's "
                f"spread, upper bounds ≤ {floor:g}; the farthest is {measured}.")
    else:
        text = (f"Benchmark at d = {row['density']:g}: not held — the farthest statistic is {measured}; "
                f"the target is ≤ {target:g} with upper bound ≤ {floor:g}. {_holding_here(document, model, row['density'])}")
    return Verdict(bool(row["holds"]), float(row["density"]), text)


def _holding_here(document: dict, model: str, density: float) -> str:
    """One sentence naming the other trained generators that hold at ``density`` (else: the simulator does)."""
    trained = registry.names(role="generator", has_checkpoint=True)
    others = [registry.label(row["generator"]) for row in document.get("rows", [])
              if row.get("density") == density and row.get("holds") and row.get("generator") in trained
              and row.get("generator") != model]  # fmt: skip
    if others:
        return f"At this density the {' and the '.join(others)} {'holds' if len(others) == 1 else 'hold'}."
    return "No trained generator holds at this density; the simulator does."
