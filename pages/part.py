"""Part from a picture: a picture of a mechanical part (or an STL, rendered by the convention) to its 3-D voxels."""

import numpy as np
import streamlit as st

from pages import _common as ui
from porelib.app import state as keys
from porelib.parts.baselines import extruded_silhouette
from porelib.parts.generator import FAMILIES, SPLITS
from porelib.parts.predict import (
    EXPORTS,
    MODEL,
    export_bytes,
    held_out_example,
    load_reconstructor,
    predict_files,
    predict_pictures,
    render_stl,
    scores,
    stl_voxels,
)
from porelib.parts.render import PICTURE_SUFFIXES

ui.route_through_app()

SOURCES = {
    "generated": "A generated test part",
    "picture": "Upload a picture (.png, .jpg)",
    "stl": "Upload an STL (rendered here)",
}
VIEW_LABELS = {"prediction": "prediction", "truth": "true part"}
EXPORT_LABELS = {"stl": "STL mesh", "npy": "NPY voxels", "ply": "PLY points"}

st.title("Part from a picture")
st.caption(
    "A network trained on generated CAD-like parts (plates, flanges, brackets, shafts, profiles, blocks, turned "
    "parts, ribbed plates, housings) reads a picture of a part and returns its 3-D voxels, a smoothed STL and a "
    "point cloud. The picture must follow the convention of `python -m porelib part render`: isometric view from "
    "+x +y +z, z up, the part centred on white with its longest side at a fixed scale, one light. Upload an STL to "
    "have it rendered that way."
)
ui.require_model(MODEL)
checkpoint = ui.checkpoint_in_use(MODEL)
ui.show_checkpoint(MODEL, checkpoint, key="part_use_shipped")
with ui.stop_on_error():
    config = load_reconstructor(checkpoint).config


@st.cache_data(show_spinner="Rendering and voxelising the part…", max_entries=32)
def example(index: int, size: int, views: int, pixels: int):
    """:func:`porelib.parts.predict.held_out_example`, cached."""
    return held_out_example(index, size=size, views=views, pixels=pixels)


@st.cache_data(show_spinner="Reconstructing the part…", max_entries=32)
def reconstruct(pictures: tuple, checkpoint: str | None):
    """:func:`porelib.parts.predict.predict_pictures`, cached per pictures."""
    return predict_pictures(list(pictures), checkpoint=checkpoint)


@st.cache_data(show_spinner="Rendering the STL…", max_entries=16)
def rendered(data: bytes, name: str, views: int, pixels: int) -> np.ndarray:
    """An uploaded STL rendered by the convention, cached per file."""
    return render_stl(ui.named_bytes(data, name), views=tuple(range(views)), pixels=pixels)


@st.cache_data(show_spinner="Voxelising the true part…", max_entries=16)
def true_voxels(data: bytes, name: str, size: int) -> np.ndarray:
    """An uploaded STL voxelised in the network's voxel space, cached per file."""
    return stl_voxels(ui.named_bytes(data, name), size=size)


st.radio("Part", tuple(SOURCES), key=keys.PART_SOURCE, persist_state="session", format_func=SOURCES.get,
         horizontal=True)
source = st.session_state[keys.PART_SOURCE]
truth, truth_note, label = None, "", ""
if source == "generated":
    last = len(SPLITS["test"]) - 1
    st.number_input(f"Test part (0–{last}; never seen in training; families cycle: {', '.join(FAMILIES)})", 0, last,
                    key=keys.PART_INDEX, persist_state="session")
    with ui.stop_on_error():
        found = example(int(st.session_state[keys.PART_INDEX]), config.size, config.views, config.pixels)
    truth, label = found.truth, f"test part {found.seed} ({found.family})"
    with ui.stop_on_error():
        prediction = reconstruct(tuple(found.pictures), checkpoint)
elif source == "picture":
    uploads = st.file_uploader(
        f"Picture(s) of the part: {config.views} per part, views 0 … {config.views - 1}" if config.views > 1
        else "Picture of the part", type=[s.lstrip(".") for s in PICTURE_SUFFIXES],
        accept_multiple_files=config.views > 1, key=keys.PART_UPLOAD)
    truth_upload = st.file_uploader("Optional: the part's true STL (for IoU and Dice)", type=["stl"],
                                    key=keys.PART_TRUTH_UPLOAD)
    if not uploads:
        st.info("Upload a picture made by `python -m porelib part render PART.stl --out IMG.png`, or pick another "
                "source above.")
        st.stop()
    uploads = uploads if isinstance(uploads, list) else [uploads]
    label = ", ".join(upload.name for upload in uploads)
    with ui.stop_on_error():
        prediction = predict_files(uploads, checkpoint=checkpoint)
    if truth_upload is not None:
        with ui.stop_on_error():
            truth = true_voxels(truth_upload.getvalue(), truth_upload.name, config.size)
else:
    upload = st.file_uploader("The part as an STL (binary or ASCII, any unit and pose)", type=["stl"],
                              key=keys.PART_STL_UPLOAD)
    if upload is None:
        st.info("Upload an STL: it is rendered by the picture convention and reconstructed from that picture alone; "
                "its own voxels are the truth the prediction is scored against.")
        st.stop()
    label = upload.name
    with ui.stop_on_error():
        pictures = rendered(upload.getvalue(), upload.name, config.views, config.pixels)
        prediction = reconstruct(tuple(pictures), checkpoint)
    try:
        truth = true_voxels(upload.getvalue(), upload.name, config.size)
    except ValueError as exc:
        truth_note = f"No IoU: the STL cannot be voxelised ({exc})."

st.subheader(f"What the network read: {label}")
columns = st.columns(2 * len(prediction.pictures) + 1)
for k, (picture, edges) in enumerate(zip(prediction.pictures, prediction.edges)):
    columns[2 * k].image(picture, caption=f"view {k}: {config.pixels}×{config.pixels} grey", width="stretch")
    if config.edges:
        columns[2 * k + 1].image((edges * 255).astype(np.uint8), caption="Canny edges", width="stretch")
with columns[-1]:
    st.metric("Voxels inside", f"{prediction.grid.mean():.3f}", help="Fraction of the grid the prediction fills.")
    st.caption(f"{config.size}³ voxels; the part's longest side spans the grid, centred, z up.")

if truth is not None:
    score = scores(prediction.grid, truth)
    hull = extruded_silhouette(prediction.pictures / 255.0, size=config.size)
    baseline = scores(hull, truth)
    empty = scores(np.zeros_like(truth), truth)
    st.subheader("Against the true part")
    cards = st.columns(4)
    cards[0].metric("IoU", f"{score['iou']:.3f}")
    cards[0].caption(f"extruded silhouette {baseline['iou']:.3f}; empty grid {empty['iou']:.3f}")
    cards[1].metric("Dice", f"{score['dice']:.3f}")
    cards[1].caption(f"extruded silhouette {baseline['dice']:.3f}; empty grid {empty['dice']:.3f}")
    cards[2].metric("True voxels inside", f"{score['true_occupancy']:.3f}")
    cards[3].metric("Predicted voxels inside", f"{score['occupancy']:.3f}")
    st.caption("The extruded silhouette fills every voxel whose line of sight meets the part in the picture: what "
               "the outline alone says. docs/bench/parts.md scores both over held-out parts, per family.")
elif truth_note:
    st.info(truth_note)

view, sections = st.columns([3, 2])
with view:
    st.subheader("3D view")
    shown = {"prediction": prediction.grid}
    if truth is not None:
        st.radio("Show", keys.PART_VIEWS, key=keys.PART_VIEW, persist_state="session", format_func=VIEW_LABELS.get,
                 horizontal=True)
        shown["truth"] = truth
    choice = st.session_state[keys.PART_VIEW] if truth is not None else "prediction"
    if shown[choice].any():
        ui.show_3d(shown[choice], key="part_3d",
                   caption=f"Surface of the {VIEW_LABELS[choice]} (marching cubes) in its {config.size}³-voxel box.")
    else:
        st.info("The prediction is empty: no voxel reaches probability 0.5.")
with sections:
    st.subheader("Slices")
    grids = {"prediction": prediction.grid} if truth is None else {"prediction": prediction.grid, "truth": truth}
    ui.show_slices(grids, "part", phase="part", other="outside")

st.subheader("Download")
stem = label.rsplit(".", 1)[0].replace(" ", "_").replace("(", "").replace(")", "") or "part"
for column, kind in zip(st.columns(len(EXPORTS)), EXPORTS, strict=True):
    if kind != "npy" and not prediction.grid.any():
        column.button(f"{EXPORT_LABELS[kind]}: empty prediction", disabled=True, key=f"part_{kind}_disabled")
        continue
    with ui.stop_on_error():
        data = export_bytes(prediction, kind)
    column.download_button(EXPORT_LABELS[kind], data, file_name=f"{stem}_prediction{EXPORTS[kind]}",
                           key=f"part_download_{kind}", on_click="ignore")
st.caption("NPY: bool voxels [ix, iy, iz]. STL: the smoothed marching-cubes surface in voxel units (readable back "
           "by porelib). PLY: 4096 points on that surface.")
