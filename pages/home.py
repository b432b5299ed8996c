"""Home: what Pore Studio is, and the status of its data."""

import streamlit as st

from porelib.data import load_dataset


@st.cache_resource
def _dataset():
    return load_dataset()


st.title("Pore Studio")
st.write(
    "Generate 3D pore structures for a requested density, compare them with the dataset, "
    "score your own voxel grids, and segment X-ray CT scans."
)
try:
    dataset = _dataset()
except ValueError as exc:
    st.error(str(exc))
    st.stop()
st.metric("Dataset grids", len(dataset), help=dataset.source)
st.caption(f"{dataset.size}³ voxels each, fingerprint {dataset.fingerprint}")
