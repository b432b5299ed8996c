"""Compress: fit a neural field to a volume at a chosen ratio; the reconstruction beside the original and baselines."""

import math
import time
from pathlib import Path

import numpy as np
import streamlit as st

from pages import _common as ui
from porelib import app_state as keys
from porelib import compress as pnc
from porelib import viz_compress
from porelib.bench import compression as bench

ui.route_through_app()

SOURCES = {"dataset": "Dataset grid (test split)", "simulate": "Simulated CT scan", "upload": "Upload a volume"}
DOSE_LABELS = {"none": "no photon noise"}
UPLOAD_TYPES = ["npy", "npz", "tif", "tiff", "vti"]
#: Updates of the progress bar over a fit.
PROGRESS_UPDATES = 50
#: Lowest target ratio offered.
MIN_RATIO = 1.1

st.title("Compress a volume")
st.caption(
    "A small coordinate network (residual sine layers, as neurcomp) is fitted to one volume and its weights are "
    "quantised to 8 bits: the network is the file. Its size is chosen from the target ratio; decoding evaluates it "
    "on every voxel. Scans are scored by PSNR, grids (thresholded at decoding) by IoU and Dice, each beside lossless "
    "lzma and a JPEG-like DCT code of the same size."
)


@st.cache_data(show_spinner="Simulating the scan…", max_entries=16)
def simulated_scan(size: int, seed: int, dose: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`porelib.bench.compression.simulated_scan` (the scan and its noise-free twin), cached."""
    return bench.simulated_scan(size, seed=seed, dose=dose)


@st.cache_data(show_spinner="Reading the file…", max_entries=8)
def uploaded_volume(file_id: str, _upload) -> np.ndarray:
    """:func:`porelib.compress.read_volume` of an upload, cached per upload."""
    return pnc.read_volume(_upload)


@st.cache_data(show_spinner="Running the lossless and DCT baselines…", max_entries=16)
def baselines(volume: np.ndarray, kind: str, target: float, noise_free: np.ndarray | None) -> list[dict]:
    """:func:`porelib.bench.compression.baseline_rows`, cached per volume and target."""
    return bench.baseline_rows(volume, kind=kind, target=target, noise_free=noise_free)


@st.cache_data(show_spinner="Decoding…", max_entries=8)
def comparison(
    data: bytes, volume: np.ndarray, target: float, fit_s: float, noise_free: np.ndarray | None
) -> bench.Comparison:
    """:func:`porelib.bench.compression.compare_methods` of a ``.pnc`` file's bytes, cached."""
    rows = baselines(volume, pnc.volume_kind(volume), target, noise_free)
    return bench.compare_methods(volume, data, target=target, fit_s=fit_s, baselines=rows, noise_free=noise_free)


st.radio("Volume", tuple(SOURCES), key=keys.COMPRESS_SOURCE, persist_state="session", format_func=SOURCES.get,
         horizontal=True)
source = st.session_state[keys.COMPRESS_SOURCE]
noise_free = None
if source == "dataset":
    dataset = ui.require_dataset()
    test = dataset.split("test")
    keys.clamp_index(st.session_state, keys.COMPRESS_INDEX, len(test) - 1)
    st.number_input(f"Test-split grid (0–{len(test) - 1})", 0, len(test) - 1, key=keys.COMPRESS_INDEX,
                    persist_state="session")
    index = int(st.session_state[keys.COMPRESS_INDEX])
    volume, name = test.grids[index], f"grid_{test.indices[index]}"
    volume_id = ("dataset", dataset.fingerprint, index)
    st.caption(
        f"Dataset grid {test.indices[index]}: density factor {test.densities[index]:.2f}, porosity "
        f"{volume.mean():.4f}, {'×'.join(map(str, volume.shape))} voxels."
    )
elif source == "simulate":
    columns = st.columns([3, 2, 2])
    columns[0].select_slider("Size (voxels per side)", keys.COMPRESS_SCAN_SIZES, key=keys.COMPRESS_SCAN_SIZE,
                             persist_state="session")
    columns[1].selectbox("Dose", keys.COMPRESS_SCAN_DOSES, key=keys.COMPRESS_SCAN_DOSE, persist_state="session",
                         format_func=lambda dose: DOSE_LABELS.get(dose, dose))
    columns[2].number_input("Scan seed", 0, 2**31 - 1, key=keys.COMPRESS_SCAN_SEED, persist_state="session")
    size, scan_seed = int(st.session_state[keys.COMPRESS_SCAN_SIZE]), int(st.session_state[keys.COMPRESS_SCAN_SEED])
    dose = st.session_state[keys.COMPRESS_SCAN_DOSE]
    image, clean = simulated_scan(size, scan_seed, "default" if dose == "none" else dose)
    volume, noise_free = (clean, None) if dose == "none" else (image, clean)
    name, volume_id = f"ct_{size}_{dose}_seed{scan_seed}", ("simulate", size, dose, scan_seed)
    st.caption(
        "Glass spheres in a polymer (porelib.ct.simulate): ring artefacts and cupping after filtered back-projection, "
        "and photon noise for a dose. The noise is part of the volume, so it costs bits too and caps the PSNR against "
        "the input; against the same scan without photon noise, a code that drops the noise can beat the input itself."
    )
else:
    upload = st.file_uploader(
        "Volume: .npy (3-D array or the row format), .npz (a scan's `image` or `grids`), .tif stack or .vti",
        type=UPLOAD_TYPES,
        key=keys.COMPRESS_UPLOAD,
    )
    if upload is None:
        st.info("Upload a volume, or pick a dataset grid or a simulated scan above.")
        st.stop()
    try:
        volume = uploaded_volume(upload.file_id, upload)
        pnc.volume_kind(volume)
    except (ValueError, TypeError) as exc:
        ui.show_error(exc)
        st.stop()
    name, volume_id = Path(upload.name).stem, ("upload", upload.file_id)

kind = pnc.volume_kind(volume)
highest = math.floor(pnc.max_ratio(volume.shape, kind=kind) * 100) / 100
if highest < MIN_RATIO:
    ui.show_error(ValueError(
        f"this {'×'.join(map(str, volume.shape))} volume is too small to compress: even the smallest network is "
        f"larger than its raw size ({pnc.raw_nbytes(volume.shape, kind):,} bytes)"
    ))
    st.stop()
ratio_key = keys.COMPRESS_GRID_RATIO if kind == "binary" else keys.COMPRESS_SCAN_RATIO
st.session_state[ratio_key] = min(max(float(st.session_state[ratio_key]), MIN_RATIO), highest)
columns = st.columns([2, 3, 1])
columns[0].number_input(
    f"Target ratio ({MIN_RATIO:g} to {highest:g})",
    min_value=MIN_RATIO,
    max_value=highest,
    step=0.5 if kind == "binary" else 10.0,
    format="%.2f",
    key=ratio_key,
    persist_state="session",
    help="Raw size / file size. Raw = 1 bit per voxel for a grid (bit-packed), 4 bytes per voxel for a scan.",
)
columns[1].select_slider("Optimisation steps", keys.COMPRESS_STEP_CHOICES, key=keys.COMPRESS_STEPS,
                         persist_state="session", help="Fitting time grows linearly with the steps.")
columns[2].number_input("Seed", 0, 2**31 - 1, key=keys.COMPRESS_SEED, persist_state="session")
target = float(st.session_state[ratio_key])
steps, seed = int(st.session_state[keys.COMPRESS_STEPS]), int(st.session_state[keys.COMPRESS_SEED])
job = (volume_id, target, steps, seed)


def request(requested_job: tuple) -> None:
    """The button's callback: remember the job (a callback's state survives the page's routing rerun)."""
    st.session_state[keys.COMPRESS_PENDING] = requested_job


st.button("Compress", type="primary", key=keys.COMPRESS_RUN, icon=":material/compress:", on_click=request, args=(job,))
if st.session_state.pop(keys.COMPRESS_PENDING, None) == job:
    bar = st.progress(0.0, text="Fitting the network…")
    every = max(1, steps // PROGRESS_UPDATES)

    def report(done: int, total: int) -> None:
        if done % every == 0 or done == total:
            bar.progress(done / total, text=f"Fitting the network: step {done} of {total}")

    start = time.perf_counter()
    try:
        compressed = pnc.compress(volume, ratio=target, kind=kind, steps=steps, seed=seed, progress=report)
    except (ValueError, TypeError) as exc:
        ui.show_error(exc)
        st.stop()
    st.session_state[keys.COMPRESS_RESULT] = (job, compressed.data, time.perf_counter() - start)
    bar.empty()

result = st.session_state.get(keys.COMPRESS_RESULT)
if result is None or result[0] != job:
    st.info(f"Choose the target ratio and press Compress ({kind} volume, {'×'.join(map(str, volume.shape))} voxels).")
    st.stop()
_, data, fit_s = result
try:
    figures = comparison(data, volume, target, fit_s, noise_free)
except (ValueError, TypeError) as exc:
    ui.show_error(exc)
    st.stop()

ui.show_cards(figures.cards())
st.dataframe(
    figures.table(),
    hide_index=True,
    column_config={
        "ratio": st.column_config.NumberColumn("ratio", format="%.2f"),
        "psnr": st.column_config.NumberColumn("PSNR (dB)", format="%.2f"),
        "psnr_vs_noise_free": st.column_config.NumberColumn("PSNR vs noise-free (dB)", format="%.2f"),
        "iou": st.column_config.NumberColumn("IoU", format="%.4f"),
        "dice": st.column_config.NumberColumn("Dice", format="%.4f"),
        "encode_s": st.column_config.NumberColumn("encode (s)", format="%.2f"),
        "decode_s": st.column_config.NumberColumn("decode (s)", format="%.2f"),
    },
)
st.caption(
    "lzma is exact; the DCT keeps the largest 8³-block cosine coefficients that fit in raw size / target. "
    "`python -m porelib bench compression` measures all three on 128³ scans and 30³ grids at several ratios."
)

st.subheader("Original and reconstruction")
axis, index = ui.slice_controls("compress", volume.shape)
panels, geometry = viz_compress.section_panels(volume, figures.decoded, kind=kind, axis=axis, index=index)
for column, panel in zip(st.columns(len(panels)), panels, strict=True):
    column.image(panel.image, caption=f"{panel.title}: {panel.caption}", width="stretch")
st.caption(geometry + (" Blue = pore, grey = solid." if kind == "binary" else ""))

if kind == "binary" and len(set(volume.shape)) == 1:
    st.subheader("3D")
    for column, (title, grid) in zip(st.columns(2), {"original": volume, "reconstruction": figures.decoded}.items()):
        with column:
            st.markdown(f"**{title.capitalize()}**")
            ui.show_3d(grid.astype(bool), key=f"compress_3d_{title}")

st.subheader("Download")
st.download_button(
    f"Compressed volume (.pnc, {len(data):,} bytes)",
    data,
    file_name=f"{name}.pnc",
    mime="application/octet-stream",
    key="compress_download",
    on_click="ignore",
    icon=":material/download:",
)
st.caption(
    f"Decode it with `python -m porelib decompress {name}.pnc --out {name}.npy`, or in Python with "
    "`porelib.compress.decompress(data)`; the format is documented in porelib/compress.py."
)
