"""Home: what Pore Studio does, where to go, and the status of its data and models."""

import numpy as np
import streamlit as st

from pages import _common as ui
from porelib.app_state import model_status
from porelib.data import SPLITS
from porelib.inference import MODELS

ui.route_through_app()

st.title("Pore Studio")
st.write(
    "3D porous microstructures on a voxel grid (True = pore): generate them for a requested density, "
    "compare them with the dataset using the statistics of porous media, and score your own grids "
    "the same way. Every number is shown beside its baseline: the dataset's value and spread at the "
    "same density, or the score of an all-empty grid."
)

PAGES = (
    (
        ui.GENERATE,
        "Generate",
        ":material/view_in_ar:",
        "A density slider regenerates the structure: 3D view, "
        "sections, statistics against the dataset, downloads (.npy rows, .npz, .vti, .stl).",
    ),
    (
        ui.COMPARE,
        "Compare to dataset",
        ":material/compare:",
        "A dataset grid beside the model's reconstruction "
        "(IoU, Dice, AAD, AVAR) and fresh samples at its density; porosity against density over the whole dataset.",
    ),
    (
        ui.SCORE,
        "Score your grid",
        ":material/straighten:",
        "Upload .npy (row or 3-D), .npz, .tif, .vti or .stl: "
        "statistics against the dataset with a verdict per statistic, voxel scores against an optional reference.",
    ),
    (
        ui.FROM_IMAGE,
        "From an image",
        ":material/layers:",
        "A 2-D section (from the dataset, simulated or uploaded) grown into a 3-D grid whose central section "
        "matches it; statistics against the dataset at the implied density.",
    ),
)
for column, (path, title, icon, description) in zip(st.columns(len(PAGES)), PAGES, strict=True):
    with column.container(border=True):
        st.page_link(path, label=f"**{title}**", icon=icon)
        st.caption(description)

st.header("Status")
data_column, model_column = st.columns(2)
with data_column:
    st.subheader("Dataset")
    try:
        dataset = ui.dataset()
    except ValueError as exc:
        st.error(str(exc))
    else:
        counts = " / ".join(f"{len(dataset.split(name))} {name}" for name in SPLITS)
        porosity = dataset.grids.reshape(len(dataset), -1).mean(axis=1)
        st.metric("Grids", len(dataset), help=f"Loaded from {dataset.source}")
        st.markdown(
            f"- {dataset.size}³ voxels each; split {counts} (by index)\n"
            f"- density factors {dataset.densities.min():.3f} – {dataset.densities.max():.3f}, "
            f"porosity {porosity.min():.4f} – {porosity.max():.4f} (median {np.median(porosity):.4f})\n"
            f"- fingerprint `{dataset.fingerprint}`, source `{dataset.source}`"
        )
with model_column:
    st.subheader("Models")
    for status in (model_status(name) for name in MODELS):
        icon = ":material/check_circle:" if status.ready else ":material/cancel:"
        st.markdown(
            f"{icon} **{ui.model_label(status.name)}**: {'ready' if status.ready else 'missing'} — {status.detail}"
        )
