"""Compare to dataset: a dataset grid beside the model's reconstruction of it and fresh samples at its density."""

import streamlit as st

from pages import _common as ui
from porelib import metrics, registry
from porelib.app import figures
from porelib.app import state as keys
from porelib.data import split_of

ui.route_through_app()

PICKS = {"index": "by index", "density": "by density"}
VIEWS = {"dataset": "dataset grid", "reconstruction": "reconstruction", "fresh": "fresh sample #1"}

dataset = ui.require_dataset()

st.title("Compare to the dataset")
st.caption(
    "A reconstruction is the model's copy of one dataset grid (encode, then decode): it can be scored voxel by "
    "voxel. Fresh samples are new structures at the grid's density: they should look like the dataset "
    "statistically, not coincide with this grid, so they are compared by statistics."
)

if st.session_state[keys.COMPARE_MODEL] not in registry.names(role="generator"):
    st.session_state[keys.COMPARE_MODEL] = ui.first_reconstructor()
controls = st.columns([2, 2, 3])
controls[0].selectbox("Model", registry.names(role="generator"), key=keys.COMPARE_MODEL, persist_state="session",
                      format_func=ui.model_label)
controls[1].radio(
    "Pick a dataset grid",
    tuple(PICKS),
    key=keys.COMPARE_PICK,
    persist_state="session",
    format_func=PICKS.get,
    horizontal=True,
)
positions = {int(index): position for position, index in enumerate(dataset.indices)}
if st.session_state[keys.COMPARE_PICK] == "index":
    if st.session_state[keys.COMPARE_INDEX] not in positions:
        st.session_state[keys.COMPARE_INDEX] = int(dataset.indices[0])
    controls[2].selectbox(
        "Dataset grid",
        sorted(positions),
        key=keys.COMPARE_INDEX,
        persist_state="session",
        format_func=lambda i: f"#{i}: d = {dataset.densities[positions[i]]:.3f} ({split_of(i)})",
    )
    position = positions[st.session_state[keys.COMPARE_INDEX]]
else:
    controls[2].slider(
        "Density factor d (nearest grid)", 0.0, 1.0, step=0.01, key=keys.COMPARE_DENSITY, persist_state="session"
    )
    position = int(dataset.nearest(st.session_state[keys.COMPARE_DENSITY], 1)[0])

model = st.session_state[keys.COMPARE_MODEL]
grid, density, index = dataset.grids[position], float(dataset.densities[position]), int(dataset.indices[position])
split = str(split_of(index))
st.markdown(
    f"**Dataset grid #{index}**: density factor d = {density:.4f}, porosity φ = {grid.mean():.4f}, {split} split."
)
if split == "train":
    st.warning(
        "This grid is in the training split: a trained model has seen it, so its reconstruction score "
        "is optimistic. Pick a val or test grid (index ending in 8 or 9) for an honest one."
    )

ui.require_model(model)
reconstruction = ui.reconstruction(model, grid, density)

# ----------------------------------------------------------------------------- reconstruction
st.header("Reconstruction")
if reconstruction is None:
    st.info(
        f"{ui.model_label(model)} has no encoder or no checkpoint, so it cannot reconstruct a given grid. "
        "Choose a trained model such as the cVAE when one is available; fresh samples are compared below."
    )
else:
    ui.show_cards(figures.comparison_cards(metrics.compare(reconstruction, grid)))
    st.caption(
        "Scores of the reconstruction against the dataset grid. An all-empty grid scores AAD = φ and "
        "AVAR = 1 − φ, which is why these two are never read alone."
    )

# ----------------------------------------------------------------------------- fresh samples
st.header("Fresh samples at this density")
ui.show_verdict(model, density)
fresh_controls = st.columns([1, 1, 4])
fresh_controls[0].number_input("Fresh samples", 1, keys.MAX_SAMPLES, key=keys.COMPARE_N_FRESH, persist_state="session")
fresh_controls[1].number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=keys.SEED, persist_state="session")
with ui.stop_on_error():
    fresh = ui.generated(model, density, int(st.session_state[keys.COMPARE_N_FRESH]), int(st.session_state[keys.SEED]))
reference = ui.dataset_reference(density)
neighbour = dataset.grids[dataset.nearest(density, 2)[1]]
st.caption(
    f"Why not IoU here: a fresh sample overlaps this grid by IoU {metrics.iou(fresh[0], grid):.3f}, and so "
    f"does the nearest other dataset grid ({metrics.iou(neighbour, grid):.3f}); two equally good structures "
    "share few voxels. Each statistic's distance to the dataset grids is divided by the dataset's own "
    'spread (noise floor): a ratio near 1 means "like the dataset".'
)
fidelity = ui.fresh_fidelity(model, density, len(fresh), int(st.session_state[keys.SEED]))
sample_stats = ui.summary(fresh[0])
table = figures.fidelity_table(sample_stats, fidelity, reference.band())
st.dataframe(
    table.rename(columns={"this grid": "fresh sample #1"}),
    hide_index=True,
    width="stretch",
    column_config={
        "ratio": st.column_config.NumberColumn(format="%.2f"),
        "distance": st.column_config.NumberColumn(format="%.4g"),
        "noise floor": st.column_config.NumberColumn(format="%.4g"),
    },
)
st.caption(
    f"The column \"fresh sample #1\" is the first sample's value; distance, noise floor and ratio average all "
    f"{len(fresh)} fresh samples against the {len(reference.stats)} dataset grids nearest d = {density:.2f}."
)

curves = {f"dataset grid #{index}": ui.summary(grid), "fresh sample #1": sample_stats}
if reconstruction is not None:
    curves["reconstruction"] = ui.summary(reconstruction)
band = reference.band()
s2_column, size_column = st.columns(2)
with s2_column:
    st.markdown("**Two-point correlation S2(r)**")
    st.altair_chart(figures.s2_chart(band["s2"], {k: s.s2 for k, s in curves.items()}), width="stretch")
with size_column:
    st.markdown("**Pore sizes**")
    radii = [member.pore_radii for member in reference.stats]
    st.altair_chart(figures.pore_size_chart(radii, {k: s.pore_radii for k, s in curves.items()}), width="stretch")
st.caption("Grey: the dataset's mean ± sd over the grids nearest this density.")

# ----------------------------------------------------------------------------- pictures
st.header("Side by side")
shown = {"dataset": grid, "fresh": fresh[0]}
if reconstruction is not None:
    shown["reconstruction"] = reconstruction
if st.session_state[keys.COMPARE_VIEW] not in shown:
    st.session_state[keys.COMPARE_VIEW] = "dataset"
view, sections = st.columns([3, 2])
with view:
    st.radio(
        "3D view of",
        [k for k in VIEWS if k in shown],
        key=keys.COMPARE_VIEW,
        persist_state="session",
        format_func=VIEWS.get,
        horizontal=True,
    )
    ui.show_3d(shown[st.session_state[keys.COMPARE_VIEW]], key="compare_3d")
with sections:
    ui.show_slices({VIEWS[k]: shown[k] for k in VIEWS if k in shown}, "compare")

# ----------------------------------------------------------------------------- porosity against density
st.header("Porosity against density, whole dataset")
porosities = dataset.grids.reshape(len(dataset), -1).mean(axis=1)
curve = ui.porosity_curve(model)
st.altair_chart(
    figures.porosity_density_chart(
        dataset.densities,
        porosities,
        curve,
        model=ui.model_label(model),
        highlight=(density, grid.mean()),
        size=dataset.size,
    ),
    width="stretch",
)
st.caption(
    f"Each grey point is one of the {len(dataset)} dataset grids; the red diamond is grid #{index}. "
    f"The model's curve is the mean porosity of {ui.CURVE_SAMPLES} samples at each of {len(curve)} densities."
)
