"""Streamlit helpers shared by the pages: cached loaders and the widgets every page draws.

Not a page itself (``studio.py`` does not list it). Computation lives in
:mod:`porelib`; this module only caches it and draws the results.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import streamlit as st

from porelib import inference, io, metrics, registry, runs
from porelib.app import figures, state
from porelib.data import Dataset, display_path, load_dataset
from porelib.devices import cpu_threads
from porelib.inference import generate
from porelib.scoring import ENSEMBLE_SIZE

LOGGER = logging.getLogger("porelib.app")

HOME = "pages/home.py"
TRAIN = "pages/train.py"
GENERATE = "pages/generate.py"
COMPARE = "pages/compare.py"
SCORE = "pages/score.py"
FROM_IMAGE = "pages/from_image.py"

#: Densities are rounded to this many decimals before the dataset ensemble is looked up,
#: so the slider's 101 positions share at most 101 cached references.
DENSITY_DECIMALS = 2
#: Largest grid drawn in 3D; bigger uploads are shown as slices only.
MAX_3D_SIZE = 160

# ----------------------------------------------------------------------------- routing


def route_through_app() -> None:
    """Make sure the page runs under ``studio.py``'s ``st.navigation``; call first on every page.

    Streamlit decides once per server whether the app uses the legacy ``pages/``
    folder: if the first visitor opens ``/generate`` directly, it runs
    ``pages/generate.py`` without ``studio.py`` (no state defaults, the folder listed as
    navigation) until ``st.navigation`` is called. Clearing that flag and rerunning
    sends the run through ``studio.py``, which then shows the same page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# ----------------------------------------------------------------------------- cached loaders


@st.cache_resource(show_spinner="Loading the dataset…")
def dataset() -> Dataset:
    """The dataset, loaded once per server (read-only)."""
    return load_dataset()


def require_dataset() -> Dataset:
    """The dataset, or an explanation with a link to Home and ``st.stop()``."""
    try:
        return dataset()
    except ValueError as exc:
        st.info(f"This page needs the dataset. {exc}")
        st.page_link(HOME, label="Home: status of data and models", icon=":material/home:")
        st.stop()


@st.cache_resource(show_spinner="Measuring the dataset at this density…", max_entries=128)
def reference_at(fingerprint: str, density: float) -> metrics.Reference:
    """Statistics of the dataset grids nearest ``density`` (shared across sessions, read-only).

    ``fingerprint`` keys the cache to the dataset's contents.
    """
    return metrics.Reference(dataset().ensemble(density, ENSEMBLE_SIZE))


def dataset_reference(density: float) -> metrics.Reference:
    """The cached :func:`reference_at` of the loaded dataset, density rounded to the slider's step."""
    return reference_at(dataset().fingerprint, round(float(density), DENSITY_DECIMALS))


#: torch threads for the app's generation: a few 30³ grids are too small to share out, and on a
#: busy machine more threads wait on each other (one cVAE grid at load 7 on 2 cores: 0.09 s
#: on one thread, 0.5-0.7 s on two).
GENERATION_THREADS = 1


@st.cache_data(show_spinner="Generating…", max_entries=64)
def generated(model: str, density: float, n: int, seed: int, checkpoint: str | None = None) -> np.ndarray:
    """``porelib.generate`` with its result cached per (model, density, n, seed, checkpoint folder)."""
    with cpu_threads(GENERATION_THREADS):
        return generate(model, density, n=n, seed=seed, checkpoint=checkpoint)


@st.cache_data(show_spinner="Comparing the samples with the dataset…", max_entries=64)
def fresh_fidelity(model: str, density: float, n: int, seed: int) -> dict:
    """Fidelity of :func:`generated` samples to the dataset at ``density`` (``Reference.fidelity``)."""
    return dataset_reference(density).fidelity(generated(model, density, n, seed))


#: Samples per density, and densities, of a model's porosity curve.
CURVE_SAMPLES = 2
CURVE_DENSITIES = np.linspace(0.0, 1.0, 11)


@st.cache_data(show_spinner="Tracing the model's porosity curve…", max_entries=8)
def porosity_curve(model: str):
    """:func:`porelib.app.figures.porosity_curve` of ``model``, cached."""
    return figures.porosity_curve(model, CURVE_DENSITIES, n=CURVE_SAMPLES, size=dataset().size)


@st.cache_data(show_spinner="Reconstructing the grid…", max_entries=64)
def reconstruction(model: str, grid: np.ndarray, density: float) -> np.ndarray | None:
    """The model's reconstruction of a dataset grid (:func:`porelib.inference.reconstruct`), or ``None`` if the model cannot encode one."""
    if not inference.can_reconstruct(model):
        return None
    return inference.reconstruct(model, grid, density)


@st.cache_resource
def first_reconstructor() -> str:
    """The first generator of the registry that can reconstruct a given grid, else the first generator."""
    generators = registry.names(role="generator")
    return next((name for name in generators if inference.can_reconstruct(name)), generators[0])


@st.cache_data(max_entries=256)
def summary(grid: np.ndarray) -> metrics.GridStats:
    """``porelib.metrics.summary`` cached per grid."""
    return metrics.summary(grid)


@st.cache_data(max_entries=32)
def export(grids: np.ndarray, kind: str, density: float | None, stem: str) -> tuple[str, bytes]:
    """``porelib.app.figures.export_file`` cached per grid batch and format."""
    return figures.export_file(grids, kind, density=density, stem=stem)


# ----------------------------------------------------------------------------- a user's material


def material_runs() -> list:
    """:func:`porelib.material.run.material_runs` (listed anew on each rerun: runs finish)."""
    from porelib.material.run import material_runs

    return material_runs()


def _mtime(folder: str) -> int:
    from pathlib import Path

    weights = Path(folder) / "model.safetensors"
    return weights.stat().st_mtime_ns if weights.is_file() else 0


@st.cache_resource(show_spinner="Loading the material run…", max_entries=8)
def _material_run(folder: str, _mtime_ns: int):
    from porelib.material.run import load_material_run

    return load_material_run(folder)


def material_run(folder: str):
    """The run in ``folder`` (cached per folder and checkpoint time; read-only)."""
    return _material_run(folder, _mtime(folder))


@st.cache_data(show_spinner=False, max_entries=16)
def _material_volume(folder: str, _mtime_ns: int, size: int, porosity: float, seed: int, method: str) -> np.ndarray:
    from porelib.material.generate import generate_material

    return generate_material(material_run(folder), size, porosity, seed=seed, method=method)


def material_volume(folder: str, size: int, porosity: float, seed: int, method: str) -> np.ndarray:
    """:func:`porelib.material.generate.generate_material`, cached per run, size, porosity, seed and method."""
    return _material_volume(folder, _mtime(folder), size, round(porosity, 4), seed, method)


@st.cache_resource(show_spinner=False, max_entries=8)
def _material_comparison(folder: str, _mtime_ns: int):
    from porelib.material.score import compare_methods

    return compare_methods(material_run(folder))


def material_comparison(folder: str):
    """:func:`porelib.material.score.compare_methods` of a run, computed once per checkpoint (shared, read-only)."""
    return _material_comparison(folder, _mtime(folder))


# ----------------------------------------------------------------------------- drawing


def require_model(name: str, checkpoint: str | None = None) -> None:
    """Stop the page with an explanation and a link to Home if model ``name`` (from ``checkpoint``) cannot be used yet."""
    status = state.model_status(name, checkpoint=checkpoint)
    if not status.ready:
        st.info(f"{model_label(name)} is not available yet: {status.detail}.")
        st.page_link(HOME, label="Home: status of data and models", icon=":material/home:")
        st.stop()


def show_verdict(model: str, density: float, checkpoint: str | None = None) -> None:
    """The generators benchmark's verdict for the shipped ``model`` near ``density`` (nothing for another checkpoint)."""
    if checkpoint is not None:
        st.caption("This checkpoint was trained on the Train page; the published benchmark is about the shipped one.")
        return
    verdict = state.generator_verdict(model, density)
    if verdict is None:
        return
    show = st.success if verdict.holds else st.warning
    show(f"{verdict.text} Details: `docs/bench/generators.md`.",
         icon=":material/verified:" if verdict.holds else ":material/warning:")


def model_label(name: str) -> str:
    """How a model is named in select boxes (:func:`porelib.registry.label`)."""
    return registry.label(name)


def checkpoint_in_use(model: str) -> str | None:
    """The checkpoint folder chosen for ``model`` on the Train page, or ``None`` for the shipped one."""
    folder = runs.active_checkpoint(model)
    return None if folder is None else str(folder)


def show_checkpoint(model: str, checkpoint: str | None, *, key: str) -> None:
    """Say which checkpoint of ``model`` the page uses; a chosen one gets a button back to the shipped one.

    ``key`` is the button's widget key. Models without weights (the simulator) show nothing.
    """
    if not registry.entry(model).has_checkpoint:
        return
    if checkpoint is None:
        st.caption(f"{model_label(model)}: the shipped checkpoint `checkpoints/{model}`. Train your own on the Train page.")
        return
    text, button = st.columns([5, 2], vertical_alignment="center")
    text.info(f"{model_label(model)}: the checkpoint chosen on the Train page, `{display_path(checkpoint)}`.",
              icon=":material/model_training:")
    button.button("Use the shipped checkpoint", key=key, on_click=runs.use_shipped, args=(model,))


@st.cache_resource
def _mesh_view():
    """The 3D viewer element (``porelib/app/mesh_view.js``, a components-v2 element), declared once per server."""
    from pathlib import Path

    import porelib.app

    script = (Path(porelib.app.__file__).parent / "mesh_view.js").read_text()
    return st.components.v2.component(
        "pore_studio.mesh_view",
        html='<canvas class="pore-view" style="width: 100%; display: block; touch-action: none; cursor: grab">'
        "</canvas>",
        js=script,
    )


@st.cache_data(max_entries=64, show_spinner=False)
def mesh_scene(grid: np.ndarray) -> dict:
    """:func:`porelib.app.figures.mesh_scene` of ``grid``, cached per grid."""
    return figures.mesh_scene(grid)


def show_3d(grid: np.ndarray, key: str, *, caption: str | None = None) -> None:
    """Draw the pores of ``grid`` in 3D in the browser (WebGL, :func:`porelib.app.figures.mesh_scene`).

    A new grid under the same ``key`` replaces the surface in place: the camera stays.
    ``caption`` replaces the first sentence of the caption (what the surfaces are).
    """
    if grid.shape[0] > MAX_3D_SIZE:
        st.info(f"The grid is {grid.shape[0]}³ voxels; 3D is drawn up to {MAX_3D_SIZE}³. Use the slices.")
        return
    _mesh_view()(key=key, data={"scene": mesh_scene(grid), "height": figures.VIEW_HEIGHT, "key": key})
    note = "" if grid.any() or caption else " This grid has no pores."
    what = caption or f"Pore surfaces (marching cubes) inside the {grid.shape[0]}³-voxel box."
    st.caption(f"{what} Drag to orbit, scroll to zoom, shift-drag to pan.{note}")


def show_slices(grids: dict, page: str, *, phase: str = "pore", other: str = "solid") -> None:
    """An orthogonal slice viewer: axis and index widgets, one image per grid in ``grids``.

    ``grids`` maps a title to an (S, S, S) grid; all have the same S. ``phase`` names the
    ``True`` voxels (drawn blue) and ``other`` the rest, in the captions.
    """
    axis_key, index_key = state.slice_keys(page)
    size = next(iter(grids.values())).shape[0]
    state.clamp_index(st.session_state, index_key, size - 1)
    left, right = st.columns([2, 3])
    left.radio("Section axis", state.AXES, key=axis_key, persist_state="session", horizontal=True)
    right.slider("Section index (voxels)", 0, size - 1, key=index_key, persist_state="session")
    views = {
        title: figures.slice_view(grid, st.session_state[axis_key], st.session_state[index_key])
        for title, grid in grids.items()
    }
    for column, (title, view) in zip(st.columns(len(views)), views.items(), strict=True):
        column.image(view.image, caption=f"{title}: {phase} fraction {view.pore_fraction:.3f}", width="stretch")
    st.caption(f"{next(iter(views.values())).geometry} Blue = {phase}, grey = {other}.")


def slice_controls(page: str, shape) -> tuple[str, int]:
    """The section axis and index widgets of ``page`` for a volume of ``shape`` (any box); returns ``(axis, index)``."""
    axis_key, index_key = state.slice_keys(page)
    length = shape[state.AXES.index(st.session_state[axis_key])]
    state.clamp_index(st.session_state, index_key, length - 1)
    left, right = st.columns([2, 3])
    left.radio("Section axis", state.AXES, key=axis_key, persist_state="session", horizontal=True)
    right.slider("Section index (voxels)", 0, length - 1, key=index_key, persist_state="session")
    return st.session_state[axis_key], int(st.session_state[index_key])


def show_cards(cards: list) -> None:
    """Draw :class:`porelib.app.figures.StatCard` s in a row, each with its baseline below."""
    for column, card in zip(st.columns(len(cards)), cards, strict=True):
        column.metric(card.label, card.value, help=card.help)
        column.caption(card.baseline)


def show_error(exc: Exception) -> None:
    """Show a failure with ``st.error``: a user's mistake as the library worded it, anything else as unexpected.

    ``ValueError``/``TypeError`` are the library's answers to a bad input or setting. Any
    other exception (a parser's bug on a file no one foresaw, ``MemoryError``) is logged
    with its traceback on the server and shown as one line; the session and the server go on.
    """
    if isinstance(exc, (ValueError, TypeError)):
        st.error(str(exc), icon=":material/error:")
        return
    LOGGER.error("unexpected failure on a page", exc_info=exc)
    reason = " ".join(str(exc).split())[:300] or "no message"
    st.error(
        f"Unexpected {type(exc).__name__}: {reason}. The app is still running; if a file caused this, "
        "please report it with the file.",
        icon=":material/error:",
    )


@contextmanager
def stop_on_error() -> Iterator[None]:
    """Around a parse or a model run: any failure is shown by :func:`show_error` and the page stops there."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - st.stop/st.rerun are BaseExceptions and pass
        show_error(exc)
        st.stop()


def named_bytes(data: bytes, name: str):
    """``data`` as a binary file-like object named ``name`` (what :func:`porelib.io.open_input` reads),
    so that a cached function can take an upload's bytes and name instead of the upload."""
    from io import BytesIO

    stream = BytesIO(data)
    stream.name = name
    return stream


def load_uploaded(upload):
    """The grids of an uploaded file as a :class:`porelib.io.GridBatch`, or ``None`` after ``st.error``."""
    try:
        return io.load_batch(upload)
    except Exception as exc:  # noqa: BLE001 - shown by show_error, the page goes on
        show_error(exc)
        return None
