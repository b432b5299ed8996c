"""From an image: a 3D pore grid whose central section is a 2D section, beside the dataset at its density."""

import numpy as np
import streamlit as st

from pages import _common as ui
from porelib.app import figures
from porelib.app import state as keys
from porelib.scoring import score_grid
from porelib.section import (
    CONTRASTS,
    MODEL,
    SECTION_FORMATS,
    read_section,
    section_to_volume,
)
from porelib.synth import pore_grid

ui.route_through_app()

SOURCES = {
    "dataset": "Section of a held-out dataset grid",
    "simulate": "Section of a new simulated grid",
    "upload": "Upload a section (.png or .npy)",
    "draw": "Draw one",
}
#: Side of the drawing canvas, in pixels.
CANVAS_PIXELS = 300
CONTRAST_LABELS = {"auto": "auto (minority phase)", "bright": "bright", "dark": "dark"}

dataset = ui.require_dataset()

st.title("3D from a 2D section")
st.caption(
    "A trained section-conditioned VAE fills a volume around a 2D section: the section becomes the central "
    "plane grid[:, :, S // 2], the network draws the rest from a random latent, and the grid keeps the "
    "dataset's pore-voxel count at the density the section implies. The section is imposed on the output; "
    "the network's own central plane is shown beside it, so you can see how well it followed the section."
)
ui.require_model(MODEL)


@st.cache_data(show_spinner="Filling the volume…", max_entries=32)
def volume(image: np.ndarray, contrast: str, seed: int):
    """:func:`porelib.section.section_to_volume` cached per section image, contrast and seed."""
    return section_to_volume(image, seed=seed, contrast=contrast)


@st.cache_data(show_spinner="Simulating a grid…", max_entries=32)
def simulated(density: float, seed: int) -> np.ndarray:
    """A simulator grid, cached."""
    return pore_grid(density, size=dataset.size, seed=seed)


st.radio("Section", tuple(SOURCES), key=keys.FROM_IMAGE_SOURCE, persist_state="session", format_func=SOURCES.get,
         horizontal=True)
source = st.session_state[keys.FROM_IMAGE_SOURCE]
original, contrast = None, "auto"
if source == "dataset":
    test = dataset.split("test")
    keys.clamp_index(st.session_state, keys.FROM_IMAGE_INDEX, len(test) - 1)
    st.number_input(f"Test-split grid (0–{len(test) - 1}; never seen in training)", 0, len(test) - 1,
                    key=keys.FROM_IMAGE_INDEX, persist_state="session")
    index = int(st.session_state[keys.FROM_IMAGE_INDEX])
    original, label = test.grids[index], f"dataset grid {test.indices[index]} (d = {test.densities[index]:.2f})"
elif source == "simulate":
    left, right = st.columns([3, 1])
    left.slider("Density factor d of the simulated grid", 0.0, 1.0, step=0.01, key=keys.FROM_IMAGE_DENSITY,
                persist_state="session")
    right.number_input("Grid seed", 0, 2**31 - 1, key=keys.FROM_IMAGE_GRID_SEED, persist_state="session")
    density, grid_seed = st.session_state[keys.FROM_IMAGE_DENSITY], int(st.session_state[keys.FROM_IMAGE_GRID_SEED])
    original, label = simulated(density, grid_seed), f"simulated grid (d = {density:.2f}, seed {grid_seed})"
elif source == "upload":
    upload = st.file_uploader("Section image", type=[suffix.lstrip(".") for suffix in SECTION_FORMATS],
                              key=keys.FROM_IMAGE_UPLOAD)
    st.radio("Pore phase of a grey image", CONTRASTS, key=keys.FROM_IMAGE_CONTRAST, persist_state="session",
             format_func=CONTRAST_LABELS.get, horizontal=True)
    st.caption(
        "A .png is a picture: x to the right, y upwards. A .npy is indexed like a grid, array[ix, iy]. 0/1 data: "
        "1 = pore. Grey images are split at Otsu's threshold. Non-square images are cropped to their central "
        "square, then resized to the model's grid."
    )
    if upload is None:
        st.info("Upload a section image, or pick a dataset or simulated section above.")
        st.stop()
    contrast, label = st.session_state[keys.FROM_IMAGE_CONTRAST], upload.name
else:
    from streamlit_drawable_canvas import st_canvas

    tool, stroke = st.columns(2)
    tool.radio("Tool", keys.FROM_IMAGE_TOOLS, key=keys.FROM_IMAGE_TOOL, persist_state="session", horizontal=True)
    stroke.slider("Pen width (pixels)", 2, 60, key=keys.FROM_IMAGE_STROKE, persist_state="session")
    drawing = st_canvas(
        fill_color="#000000", stroke_width=st.session_state[keys.FROM_IMAGE_STROKE], stroke_color="#000000",
        background_color="#ffffff", height=CANVAS_PIXELS, width=CANVAS_PIXELS,
        drawing_mode=st.session_state[keys.FROM_IMAGE_TOOL], key="from_image_canvas", return_image_data=True,
    )
    st.caption(
        f"Black = pore. The {CANVAS_PIXELS}-pixel canvas becomes the model's {dataset.size}×{dataset.size} section "
        f"({CANVAS_PIXELS // dataset.size} pixels per voxel); the dataset's pores are balls of radius 1 to 6 voxels."
    )
    if drawing is None or drawing.image_bytes is None or not (drawing.json_data or {}).get("objects"):
        st.info("Draw pores on the canvas (circles or free strokes), or pick another source above.")
        st.stop()
    upload, label, contrast = drawing.image_bytes, "your drawing", "dark"
with ui.stop_on_error():
    if original is not None:
        image = original[:, :, original.shape[-1] // 2]
    else:
        image = read_section(upload, fmt=".png" if source == "draw" else None)

st.number_input("Seed of the volume (same seed, same grid)", 0, 2**31 - 1, key=keys.FROM_IMAGE_SEED,
                persist_state="session")
seed = int(st.session_state[keys.FROM_IMAGE_SEED])
with ui.stop_on_error():
    result = volume(np.asarray(image), contrast, seed)
grid, size = result.grid, result.grid.shape[0]

st.subheader(f"Section of {label}")
pictures = st.columns(3)
pictures[0].image(figures.section_picture(result.section), caption=f"the section, {size}×{size} (imposed on the grid)",
                  width="stretch")
pictures[1].image(figures.section_picture(result.raw_section),
                  caption=f"the network's own central plane: IoU {result.section_iou_raw:.3f} with the section",
                  width="stretch")
with pictures[2]:
    top = st.columns(2)
    top[0].metric("Section pores", f"{result.section.mean():.4f}", help="Pore fraction of the 2-D section.")
    top[1].metric("Density d̂", f"{result.density:.2f}", help="The density factor the section implies.")
    bottom = st.columns(2)
    bottom[0].metric("Grid φ", f"{grid.mean():.4f}", help="Porosity of the 3-D grid (pore fraction).")
    bottom[1].metric("Raw IoU", f"{result.section_iou_raw:.3f}",
                     help="IoU of the network's own central plane with the section, before the section is imposed.")
    st.caption(
        "d̂ comes from a regression of the density on the section's pore fraction fitted on the training grids "
        "(a central plane holds about 1.33 × the grid's porosity). Pictures: x to the right, y upwards."
    )

view, sections = st.columns([3, 2])
with view:
    st.subheader("3D view")
    ui.show_3d(grid, key="from_image_3d")
with sections:
    st.subheader("Sections")
    shown = {"from the section": grid} if original is None else {"from the section": grid, "original": original}
    ui.show_slices(shown, "from_image")

st.subheader(f"Statistics against the dataset at d̂ = {result.density:.2f}")
reference = ui.dataset_reference(result.density)
score = score_grid(grid, density=round(result.density, ui.DENSITY_DECIMALS), ensemble=reference)
ui.show_cards(figures.stat_cards(score.stats, score.band))
table = figures.fidelity_table(score.stats, score.fidelity, score.band)
like = int((table["verdict"] == "like the dataset").sum())
st.markdown(f"**{like} of {len(table)} statistics are like the dataset** ({len(reference.stats)} nearest dataset grids).")
st.dataframe(table, hide_index=True, width="stretch")
curves = {"from the section": score.stats}
if original is not None:
    curves["original"] = ui.summary(original)
s2_column, size_column = st.columns(2)
with s2_column:
    st.markdown("**Two-point correlation S2(r)**")
    st.altair_chart(figures.s2_chart(score.band["s2"], {name: s.s2 for name, s in curves.items()}), width="stretch")
with size_column:
    st.markdown("**Pore sizes**")
    chart = figures.pore_size_chart([m.pore_radii for m in reference.stats], {n: s.pore_radii for n, s in curves.items()})
    st.altair_chart(chart, width="stretch")
st.caption("Grey: the dataset's mean ± sd at d̂. ratio = distance to the dataset grids ÷ their own spread (≈ 1 for a "
           "dataset grid).")

st.subheader("Download")
stem = f"from_section_seed{seed}"
for column, kind in zip(st.columns(len(figures.EXPORTS)), figures.EXPORTS, strict=True):
    if kind == "stl" and not grid.any():
        column.button("STL: no pores", disabled=True, key="from_image_stl_disabled")
        continue
    name, data = ui.export(grid, kind, result.density, stem)
    column.download_button(figures.EXPORTS[kind][1], data, file_name=name, key=f"from_image_download_{kind}",
                           on_click="ignore")
