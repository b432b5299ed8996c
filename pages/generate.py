"""Generate: pore grids for a density, in 3D and in sections, beside the dataset at that density."""

import time

import streamlit as st

from pages import _common as ui
from porelib import registry
from porelib.app import figures
from porelib.app import state as keys

ui.route_through_app()

dataset = ui.require_dataset()

st.title("Generate pore structures")
st.caption(
    "Choose a generator and a density factor d ∈ [0, 1] (not the porosity: the dataset's pore-voxel "
    "count follows N ≈ (d / 0.0882)^3.8). Moving the slider regenerates the structure."
)

controls = st.columns([3, 4, 1, 1])  # the model names fit their box
controls[0].selectbox("Model", registry.names(role="generator"), key=keys.MODEL, persist_state="session", format_func=ui.model_label)
controls[1].slider("Density factor d", 0.0, 1.0, step=0.01, key=keys.DENSITY, persist_state="session")
controls[2].number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=keys.SEED, persist_state="session")
controls[3].number_input(
    "Samples", min_value=1, max_value=keys.MAX_SAMPLES, step=1, key=keys.N_SAMPLES, persist_state="session"
)

model, density = st.session_state[keys.MODEL], st.session_state[keys.DENSITY]
checkpoint = ui.checkpoint_in_use(model)
ui.show_checkpoint(model, checkpoint, key="generate_use_shipped")
ui.require_model(model, checkpoint)
ui.show_verdict(model, density, checkpoint)
n_samples, seed = int(st.session_state[keys.N_SAMPLES]), int(st.session_state[keys.SEED])
# The busy state: this line is the run's first change on screen and its last.
busy = st.empty()
busy.caption(f":material/progress_activity: Generating d = {density:.2f} with {ui.model_label(model)}…")
started = time.perf_counter()
with ui.stop_on_error():
    grids = ui.generated(model, density, n_samples, seed, checkpoint)
st.session_state[keys.LAST_GENERATED] = (grids, density, model)

keys.clamp_index(st.session_state, keys.VIEW_SAMPLE, n_samples - 1)
if n_samples > 1:
    st.radio(
        "Sample shown",
        range(n_samples),
        key=keys.VIEW_SAMPLE,
        persist_state="session",
        horizontal=True,
        format_func=lambda i: f"#{i + 1}",
    )
grid = grids[st.session_state[keys.VIEW_SAMPLE]]

# The 3D view comes first: Streamlit sends it to the browser before the statistics are computed.
view, sections = st.columns([3, 2])
with view:
    st.subheader("3D view")
    ui.show_3d(grid, key="generate_3d")
with sections:
    st.subheader("Sections")
    ui.show_slices({"sample": grid}, "generate")
busy.caption(f":material/check: d = {density:.2f}, {ui.model_label(model)}, seed {seed}: shown "
             f"{time.perf_counter() - started:.2f} s after the change (server side).")

st.subheader("Statistics")
reference = ui.dataset_reference(density)
band = reference.band()
stats = ui.summary(grid)
ui.show_cards(figures.stat_cards(stats, band))
st.caption(
    f"Sample #{st.session_state[keys.VIEW_SAMPLE] + 1}; below each value the dataset's mean ± sd over the "
    f"{len(reference.stats)} dataset grids nearest d = {density:.2f}."
)

sample_stats = {f"sample #{i + 1}": ui.summary(g) for i, g in enumerate(grids)}
s2_column, size_column = st.columns(2)
with s2_column:
    st.markdown("**Two-point correlation S2(r)**")
    st.altair_chart(figures.s2_chart(band["s2"], {label: s.s2 for label, s in sample_stats.items()}), width="stretch")
    st.caption(
        "Grey: the dataset's mean ± sd at this density. S2(0) is the porosity; S2 falls to φ² "
        "over about one pore diameter."
    )
with size_column:
    st.markdown("**Pore sizes**")
    chart = figures.pore_size_chart(
        [s.pore_radii for s in reference.stats], {label: s.pore_radii for label, s in sample_stats.items()}
    )
    st.altair_chart(chart, width="stretch")
    st.caption("Share of pores per 0.5-voxel bin of equivalent radius (3V/4π)^(1/3); grey: dataset mean ± sd.")

st.subheader("Download")
st.caption(
    f"Sample #{st.session_state[keys.VIEW_SAMPLE] + 1}; the .npz holds "
    f"{'all ' + str(n_samples) + ' samples' if n_samples > 1 else 'the sample'} with the density factor."
)
stem = f"{model}_d{density:.2f}_seed{seed}"
for column, kind in zip(st.columns(len(figures.EXPORTS)), figures.EXPORTS, strict=True):
    payload = grids if kind == "npz" else grid
    if kind == "stl" and not grid.any():
        column.button("STL: no pores", disabled=True, key="download_stl_disabled")
        continue
    name, data = ui.export(payload, kind, density, stem)
    column.download_button(figures.EXPORTS[kind][1], data, file_name=name, key=f"download_{kind}", on_click="ignore")
