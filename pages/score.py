"""Score your grid: its statistics against the dataset at its density, and voxel scores against a reference."""

import numpy as np
import streamlit as st

from pages import _common as ui
from porelib import io
from porelib.app import figures
from porelib.app import state as keys
from porelib.data import DATA_DIR, EXAMPLES_DIR
from porelib.scoring import estimate_density, score_grid

ui.route_through_app()

UPLOAD_TYPES = [suffix.lstrip(".") for suffix in io.SUPPORTED_LOAD]
SOURCES = {"upload": "Upload a file", "example": "Example file from data/examples", "generated": "Last generated grid"}

dataset = ui.require_dataset()

st.title("Score your grid")
st.caption(
    "A pore grid (True/1 = pore) as .npy (the original (S³, 4) rows of x, y, z, occupancy, or a dense "
    "(S, S, S) array), .npz (key `grids`), .tif stack, ParaView .vti, or a closed .stl surface (voxelised into "
    "a 30³ grid, or back into its own grid if Pore Studio exported it). Its statistics are compared with "
    "the dataset grids at the same density factor; a reference grid adds voxel-by-voxel scores."
)

st.radio(
    "Grid to score",
    tuple(SOURCES),
    key=keys.SCORE_SOURCE,
    persist_state="session",
    format_func=SOURCES.get,
    horizontal=True,
)
source = st.session_state[keys.SCORE_SOURCE]
batch, name = None, ""
examples = sorted(path.name for path in (DATA_DIR / EXAMPLES_DIR).glob("*.npy"))
if st.session_state[keys.SCORE_EXAMPLE] not in examples and examples:
    st.session_state[keys.SCORE_EXAMPLE] = examples[0]
if source == "upload":
    upload = st.file_uploader("Grid file", type=UPLOAD_TYPES, key=keys.SCORE_UPLOAD)
    if upload is None and not examples:
        st.info("Upload a grid file to score it.")
        st.stop()
    if upload is None:  # the first view: an example is scored until a file is uploaded
        name = st.session_state[keys.SCORE_EXAMPLE]
        st.info(f"Upload a grid file to score it. Until then, the example file `{name}` is scored below.",
                icon=":material/info:")
        batch = ui.load_uploaded(DATA_DIR / EXAMPLES_DIR / name)
    else:
        batch, name = ui.load_uploaded(upload), upload.name
elif source == "example":
    if not examples:
        st.info("There are no example files in data/examples; build them with `python -m porelib data build`.")
        st.stop()
    st.selectbox("Example file (original row format)", examples, key=keys.SCORE_EXAMPLE, persist_state="session")
    name = st.session_state[keys.SCORE_EXAMPLE]
    batch = ui.load_uploaded(DATA_DIR / EXAMPLES_DIR / name)
else:
    last = st.session_state.get(keys.LAST_GENERATED)
    if last is None:
        st.info("No grid has been generated in this session yet.")
        st.page_link(ui.GENERATE, label="Generate one", icon=":material/view_in_ar:")
        st.stop()
    grids, generated_density, generated_model = last
    batch, name = (
        io.GridBatch(grids, np.full(len(grids), generated_density)),
        f"{generated_model} at d = {generated_density:.2f}",
    )
if batch is None:
    st.stop()  # the file's problem is shown above

grid = batch.grids[0]
if len(batch.grids) > 1:
    keys.clamp_index(st.session_state, keys.SCORE_GRID_INDEX, len(batch.grids) - 1)
    st.number_input(
        f"Grid in the file (0–{len(batch.grids) - 1})",
        0,
        len(batch.grids) - 1,
        key=keys.SCORE_GRID_INDEX,
        persist_state="session",
    )
    grid = batch.grids[st.session_state[keys.SCORE_GRID_INDEX]]

with st.expander("Optional: a reference grid for IoU, Dice, AAD and AVAR", expanded=False):
    reference_upload = st.file_uploader("Reference grid file", type=UPLOAD_TYPES, key=keys.SCORE_REFERENCE_UPLOAD)
reference = None
if reference_upload is not None:
    reference_batch = ui.load_uploaded(reference_upload)
    if reference_batch is not None and len(reference_batch.grids) != 1:
        st.error(f"{reference_upload.name} holds {len(reference_batch.grids)} grids; upload a single reference grid.")
    elif reference_batch is not None and reference_batch.grids[0].shape != grid.shape:
        st.error(
            f"The reference {reference_upload.name} is {reference_batch.grids[0].shape} but the grid is "
            f"{grid.shape}; upload a reference of the same shape."
        )
    elif reference_batch is not None:
        reference = reference_batch.grids[0]

st.subheader("Density to compare at")
estimated = estimate_density(grid)
mode_column, value_column = st.columns([2, 1])
mode_column.radio(
    "Density factor",
    keys.DENSITY_MODES,
    key=keys.SCORE_DENSITY_MODE,
    persist_state="session",
    horizontal=True,
    format_func={"estimate": f"estimate from the porosity ({estimated:.3f})", "enter": "enter it"}.get,
)
if st.session_state[keys.SCORE_DENSITY_MODE] == "enter":
    value_column.number_input("d", 0.0, 1.0, step=0.01, format="%.2f", key=keys.SCORE_DENSITY, persist_state="session")
    density = round(float(st.session_state[keys.SCORE_DENSITY]), ui.DENSITY_DECIMALS)
else:
    density = round(estimated, ui.DENSITY_DECIMALS)
    value_column.caption(
        f"φ = {grid.mean():.4f} → d = {estimated:.3f} through the calibration N = (d / 0.0882)^3.8 voxels per 30³."
    )
if batch.densities is not None and source != "generated":
    st.caption(f"The file records density factor(s) {', '.join(f'{d:.3f}' for d in batch.densities[:4])}.")

size_matches = grid.shape[0] == dataset.size
if not size_matches:
    st.warning(
        f"The grid is {grid.shape[0]}³ but the dataset's grids are {dataset.size}³: its statistics are shown "
        "without the dataset comparison."
    )
ensemble = ui.dataset_reference(density) if size_matches else None
with ui.stop_on_error():
    score = score_grid(grid, reference=reference, density=density if size_matches else None, ensemble=ensemble)

st.subheader(f"Statistics of {name}")
top = st.columns(4)
top[0].metric("Grid", f"{grid.shape[0]}³ voxels")
top[1].metric("Porosity φ", f"{score.stats.porosity:.4f}")
top[2].metric("Pores", score.stats.pore_count)
top[3].metric("Compared at density d", "—" if score.density is None else f"{score.density:.2f}")
if score.fidelity is not None:
    table = figures.fidelity_table(score.stats, score.fidelity, score.band)
    like = int((table["verdict"] == "like the dataset").sum())
    st.markdown(
        f"**{like} of {len(table)} statistics are like the dataset** at d = {score.density:.2f} "
        f"({len(ensemble.stats)} nearest dataset grids)."
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "distance": st.column_config.NumberColumn(format="%.4g"),
            "noise floor": st.column_config.NumberColumn(format="%.4g", help="Mean distance between two dataset grids"),
            "ratio": st.column_config.NumberColumn(
                format="%.2f", help="distance / noise floor; about 1 for a dataset grid"
            ),
        },
    )
    st.caption(
        "ratio = mean distance from this grid to the dataset grids ÷ mean distance between two dataset grids. "
        "A grid drawn like the dataset has a ratio near 1. Verdict: ≤ 1.5 like the dataset, ≤ 3 close, else off."
    )
    s2_column, size_column = st.columns(2)
    with s2_column:
        st.markdown("**Two-point correlation S2(r)**")
        st.altair_chart(figures.s2_chart(score.band["s2"], {"your grid": score.stats.s2}), width="stretch")
    with size_column:
        st.markdown("**Pore sizes**")
        radii = [member.pore_radii for member in ensemble.stats]
        st.altair_chart(figures.pore_size_chart(radii, {"your grid": score.stats.pore_radii}), width="stretch")
    st.caption("Grey: the dataset's mean ± sd at this density.")

if score.comparison is not None:
    st.subheader("Against the reference grid, voxel by voxel")
    ui.show_cards(figures.comparison_cards(score.comparison))
    st.caption(
        "An all-empty grid already scores AAD = the reference's porosity and AVAR = 1 − porosity: on sparse "
        "grids these two are hard to beat, so read them beside IoU and Dice."
    )

st.subheader("Look at it")
view, sections = st.columns([3, 2])
with view:
    ui.show_3d(grid, key="score_3d")
with sections:
    ui.show_slices({"grid": grid}, "score")
