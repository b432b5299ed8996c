"""Home: what Pore Studio does, where to go, and the status of its data and models."""

import numpy as np
import streamlit as st

from pages import _common as ui
from porelib import registry
from porelib.app.state import PAGES, generator_summary, model_status
from porelib.data import SPLITS

ui.route_through_app()

st.title("Pore Studio")
st.write(
    "3D porous microstructures on a voxel grid (True = pore): generate them for a requested density, "
    "compare them with the dataset using the statistics of porous media, score your own grids the same "
    "way, grow them from a 2-D section, and segment X-ray CT scans. Every number is shown beside its "
    "baseline: the dataset's value and spread at the same density, or the score of an all-empty grid."
)

GUIDED = [page for page in PAGES if page.description]
for start in range(0, len(GUIDED), 3):
    for column, page in zip(st.columns(3), GUIDED[start : start + 3], strict=False):
        with column.container(border=True):
            st.page_link(page.path, label=f"**{page.title}**", icon=page.icon)
            st.caption(page.description)

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
    for entry in registry.entries():
        status = model_status(entry.name)
        icon = ":material/check_circle:" if status.ready else ":material/cancel:"
        st.markdown(f"{icon} **{entry.label}** — {entry.summary}")
        verdict = generator_summary(entry.name) if entry.role == "generator" else None
        st.caption((verdict + " " if verdict else "") + ("" if status.ready else f"Not available: {status.detail}."))
    st.caption("Every benchmark, with its command: `docs/bench/` (generators, material, segmentation, compression, "
               "speed, app load).")
