"""Home: what Pore Studio does, where to go, and the status of its data and models."""

import numpy as np
import streamlit as st

from pages import _common as ui
from porelib import registry
from porelib.app.state import PAGES, REPO_ROOT, model_status
from porelib.app.verdicts import model_verdict
from porelib.data import SPLITS

ui.route_through_app()

st.title("Pore Studio")
st.write(
    "3D porous microstructures on a voxel grid (True = pore). Bring **your own sample** (a segmented micro-CT "
    "volume or a 2-D micrograph): train a generator on it (Train), then make statistically equivalent volumes of "
    "any size at the porosity you choose, judged against a part of the sample it never saw, beside the classical "
    "reconstructions (Your material). Or generate pores for a density with the shipped models, compare them with "
    "the dataset by the statistics of porous media, score your own grids the same way, segment X-ray CT scans, "
    "turn a picture of a part into voxels, and compress volumes. Every number is shown beside its baseline and, "
    "where it is an estimate, its interval."
)


@st.cache_data(max_entries=16)
def bench_markdown(source: str) -> str:
    """A benchmark's Markdown report (its title line dropped), for the expander under a model."""
    lines = (REPO_ROOT / source).read_text().splitlines()
    return "\n".join(lines[1:] if lines and lines[0].startswith("# ") else lines)


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
    st.caption("What each model is for, and what its published benchmark found (read from `docs/bench/`).")
    for entry in registry.entries():
        status = model_status(entry.name)
        icon = ":material/check_circle:" if status.ready else ":material/cancel:"
        with st.container(border=True):
            st.markdown(f"{icon} **{entry.label}** — {entry.summary}")
            verdict = model_verdict(entry.name)
            if verdict is not None:
                mark = ":material/verified:" if verdict.good else ":material/warning:"
                st.markdown(f"{mark} {verdict.text}")
                with st.expander(f"The numbers: `{verdict.source}`"):
                    st.markdown(bench_markdown(verdict.source))
            if not status.ready:
                st.caption(f"Not available: {status.detail}.")
    st.caption("Every benchmark, with the command that made it: `docs/bench/` (`python -m porelib bench NAME`).")
