"""Compress: a volume to a .pnc by SZ3, zfp, the neural field or lzma (auto by default, with its reason), beside the others."""

import io
import math
from pathlib import Path

import numpy as np
import streamlit as st

from pages import _common as ui
from porelib import compress as pnc
from porelib.app import figures_compress
from porelib.app import state as keys

ui.route_through_app()

SOURCES = {"dataset": "Dataset grid (test split)", "simulate": "Simulated CT scan", "upload": "Upload a volume"}
DOSE_LABELS = {"none": "no photon noise"}
TARGET_LABELS = {"ratio": "a ratio", "psnr": "a PSNR", "abs_error": "a largest error"}
UPLOAD_TYPES = ["npy", "npz", "tif", "tiff", "vti"]
#: Updates of the progress bar over a fit.
PROGRESS_UPDATES = 50
#: Lowest target ratio offered.
MIN_RATIO = 1.1

st.title("Compress a volume")
st.caption(
    "SZ3 and zfp (the error-bounded compressors of the field), a neural field (small networks fitted to the volume) "
    "and lossless lzma, each to the ratio or error you ask, beside the others. **auto** picks per volume and "
    "target and says why: on the benchmark's 128³ scan SZ3 wins below 50:1 in half a second, the neural field from "
    "50:1 up (+3.5 dB at 100:1) in about 7 s of CPU; for a grid lossless lzma often meets the ratio exactly."
)


@st.cache_data(show_spinner="Simulating the scan…", max_entries=16)
def simulated_scan(size: int, seed: int, dose: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`porelib.compress.simulated_scan` (the scan and its noise-free twin), cached."""
    return pnc.simulated_scan(size, seed=seed, dose=dose)


@st.cache_data(show_spinner="Reading the file…", max_entries=8)
def uploaded_volume(file_id: str, _upload) -> np.ndarray:
    """:func:`porelib.compress.read_volume` of an upload, cached per upload."""
    return pnc.read_volume(_upload)


@st.cache_data(show_spinner="Running the other methods at the same ratio…", max_entries=8)
def comparison(data: bytes, info: dict, volume: np.ndarray, noise_free: np.ndarray | None) -> pnc.Comparison:
    """:func:`porelib.compress.compare_methods` of a ``.pnc`` file's bytes beside SZ3, zfp, lzma and the DCT, cached."""
    compressed = pnc.from_bytes(data)
    compressed.info.update(info)
    return pnc.compare_methods(volume, compressed, noise_free=noise_free)


@st.cache_data(show_spinner=False, max_entries=8)
def rate_distortion(volume: np.ndarray, kind: str, methods: tuple[str, ...], steps: int, _progress) -> list[dict]:
    """:func:`porelib.compress.rate_distortion` of the volume, cached per volume and methods."""
    return pnc.rate_distortion(volume, kind=kind, methods=methods, options={"steps": steps, "seed": 0},
                               progress=_progress)


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
        pnc.check_volume(volume)
    except (ValueError, TypeError) as exc:
        ui.show_error(exc)
        st.stop()
    name, volume_id = Path(upload.name).stem, ("upload", upload.file_id)

kind = pnc.volume_kind(volume)
shape_text = "×".join(map(str, volume.shape))

# ----------------------------------------------------------------------------- method and target

columns = st.columns([2, 2, 2])
columns[0].selectbox("Method", pnc.CHOICES, key=keys.COMPRESS_METHOD, persist_state="session",
                     help="auto chooses per volume and target and says why. " + " ".join(
                         f"{method}: {codec.summary}." for method, codec in pnc.METHOD_CODECS.items()))
method = st.session_state[keys.COMPRESS_METHOD]
if kind == "binary":
    st.caption("A grid in each method: " + "; ".join(
        f"**{name}** {codec.grids}" for name, codec in pnc.METHOD_CODECS.items()) + ".")
targets = tuple(t for t in keys.COMPRESS_TARGETS if t == "ratio" or (kind == "scan" and method != "neural"))
if st.session_state[keys.COMPRESS_TARGET] not in targets:
    st.session_state[keys.COMPRESS_TARGET] = targets[0]
columns[1].radio("Aim at", targets, key=keys.COMPRESS_TARGET, persist_state="session", format_func=TARGET_LABELS.get,
                 horizontal=True, disabled=method == "lzma",
                 help="The neural field is sized by a ratio; SZ3 and zfp also take an error bound or a PSNR.")
aim = st.session_state[keys.COMPRESS_TARGET]
ratio_key = keys.COMPRESS_GRID_RATIO if kind == "binary" else keys.COMPRESS_SCAN_RATIO
highest = math.floor(pnc.highest_ratio(volume.shape, kind) * 100) / 100
if method == "lzma":
    columns[2].caption("lzma is lossless: its ratio is what the volume allows.")
    target = {}
elif aim == "ratio":
    st.session_state[ratio_key] = min(max(float(st.session_state[ratio_key]), MIN_RATIO), highest)
    columns[2].number_input(
        f"Target ratio ({MIN_RATIO:g} to {highest:g})", min_value=MIN_RATIO, max_value=highest,
        step=0.5 if kind == "binary" else 10.0, format="%.2f", key=ratio_key, persist_state="session",
        help="Raw size / file size. Raw = 1 bit per voxel for a grid (bit-packed), 4 bytes per voxel for a scan.",
    )
    target = {"ratio": float(st.session_state[ratio_key])}
elif aim == "psnr":
    columns[2].number_input("Least PSNR (dB)", 5.0, 200.0, step=1.0, key=keys.COMPRESS_PSNR, persist_state="session")
    target = {"psnr": float(st.session_state[keys.COMPRESS_PSNR])}
else:
    spread = float(volume.max() - volume.min())
    columns[2].number_input(f"Largest error (the scan spans {spread:.4g})", min_value=1e-9, format="%.4g",
                            key=keys.COMPRESS_ABS_ERROR, persist_state="session")
    target = {"abs_error": float(st.session_state[keys.COMPRESS_ABS_ERROR])}

neural_used = method in ("auto", "neural")
if neural_used:
    columns = st.columns([3, 2, 1])
    columns[0].select_slider("Neural field: optimisation steps", keys.COMPRESS_STEP_CHOICES, key=keys.COMPRESS_STEPS,
                             persist_state="session", help="Fitting time grows linearly with the steps.")
    columns[1].number_input("Time limit (s)", 1.0, 3600.0, step=10.0, key=keys.COMPRESS_MAX_SECONDS,
                            persist_state="session",
                            help="auto stops by it; a neural fit is shortened to it (or skipped if it cannot fit).")
    columns[2].number_input("Seed", 0, 2**31 - 1, key=keys.COMPRESS_SEED, persist_state="session")
steps, seed = int(st.session_state[keys.COMPRESS_STEPS]), int(st.session_state[keys.COMPRESS_SEED])
max_seconds = float(st.session_state[keys.COMPRESS_MAX_SECONDS]) if neural_used else None
job = (volume_id, method, tuple(sorted(target.items())), steps if neural_used else None, seed if neural_used else None,
       max_seconds)


def request(requested_job: tuple) -> None:
    """The button's callback: remember the job (a callback's state survives the page's routing rerun)."""
    st.session_state[keys.COMPRESS_PENDING] = requested_job


def request_plot(requested_job: tuple) -> None:
    """The Plot button's callback, as :func:`request`."""
    st.session_state[keys.COMPRESS_RD_PENDING] = requested_job


st.button("Compress", type="primary", key=keys.COMPRESS_RUN, icon=":material/compress:", on_click=request, args=(job,))
if st.session_state.pop(keys.COMPRESS_PENDING, None) == job:
    bar = st.progress(0.0, text="Compressing…")
    every = max(1, steps // PROGRESS_UPDATES)

    def report(done: int, total: int) -> None:
        if done % every == 0 or done == total:
            bar.progress(done / total, text=f"Fitting the neural field: step {done} of {total}")

    try:
        compressed = pnc.compress(volume, method=method, kind=kind, steps=steps, seed=seed, max_seconds=max_seconds,
                                  progress=report, **target)
    except (ValueError, TypeError) as exc:
        bar.empty()
        ui.show_error(exc)
        st.stop()
    info = {key: compressed.info[key] for key in ("target", "target_ratio", "encode_s", "encode_cpu_s", "reason")
            if key in compressed.info}
    st.session_state[keys.COMPRESS_RESULT] = (job, compressed.data, info)
    bar.empty()

result = st.session_state.get(keys.COMPRESS_RESULT)
if result is None or result[0] != job:
    st.info(f"Choose the method and target and press Compress ({kind} volume, {shape_text} voxels).")
    st.subheader("The volume")  # the first view: what will be compressed
    axis, index = ui.slice_controls("compress", volume.shape)
    panels, geometry = figures_compress.section_panels(volume, volume, kind=kind, axis=axis, index=index)
    st.columns([1, 2])[0].image(panels[0].image, caption=f"{panels[0].title}: {panels[0].caption}", width="stretch")
    st.caption(geometry + (" Blue = pore, grey = solid." if kind == "binary" else ""))
    st.stop()
_, data, info = result
try:
    result = comparison(data, info, volume, noise_free)
except (ValueError, TypeError) as exc:
    ui.show_error(exc)
    st.stop()

if result.reason:
    st.success(f"**auto chose {result.method}**: {result.reason}", icon=":material/rule:")
ui.show_cards(figures_compress.comparison_cards(result))
st.dataframe(
    result.table(),
    hide_index=True,
    column_config={
        "ratio": st.column_config.NumberColumn("ratio", format="%.2f"),
        "psnr": st.column_config.NumberColumn("PSNR (dB)", format="%.2f"),
        "ssim": st.column_config.NumberColumn("SSIM", format="%.4f"),
        "psnr_vs_noise_free": st.column_config.NumberColumn("PSNR vs noise-free (dB)", format="%.2f"),
        "iou": st.column_config.NumberColumn("IoU", format="%.4f"),
        "dice": st.column_config.NumberColumn("Dice", format="%.4f"),
        "encode_s": st.column_config.NumberColumn("encode (s)", format="%.2f"),
        "decode_s": st.column_config.NumberColumn("decode (s)", format="%.2f"),
    },
)
st.caption(
    f"The other methods get the same budget (raw size / {result.target:.4g}); lzma is exact at its own ratio; the "
    "DCT (JPEG-like, 8³ blocks) is a classical baseline. `python -m porelib bench compression` measures all five "
    "on 128³ scans and grids at 10 to 500:1 (docs/bench/compression.md)."
)

st.subheader("Original and reconstruction")
axis, index = ui.slice_controls("compress", volume.shape)
panels, geometry = figures_compress.section_panels(volume, result.decoded, kind=kind, axis=axis, index=index)
for column, panel in zip(st.columns(len(panels)), panels, strict=True):
    column.image(panel.image, caption=f"{panel.title}: {panel.caption}", width="stretch")
st.caption(geometry + (" Blue = pore, grey = solid." if kind == "binary" else ""))

if kind == "binary" and len(set(volume.shape)) == 1:
    st.subheader("3D")
    for column, (title, grid) in zip(st.columns(2), {"original": volume, "reconstruction": result.decoded}.items()):
        with column:
            st.markdown(f"**{title.capitalize()}**")
            ui.show_3d(grid.astype(bool), key=f"compress_3d_{title}")

st.subheader("Rate-distortion")
ratios = pnc.curve_ratios(volume.shape, kind)
st.caption(
    f"Quality against ratio on this volume, at {', '.join(f'{r:g}' for r in ratios)}:1, one line per method. "
    "SZ3, zfp, the DCT and lzma take seconds; the neural field a fit per ratio."
)
columns = st.columns([3, 1])
columns[0].checkbox("Include the neural field (one fit per ratio, with the steps above)", key=keys.COMPRESS_RD_NEURAL,
                    persist_state="session")
with_neural = bool(st.session_state[keys.COMPRESS_RD_NEURAL])
rd_job = (volume_id, with_neural, steps if with_neural else None)
columns[1].button("Plot", key=keys.COMPRESS_RD_RUN, icon=":material/show_chart:", on_click=request_plot,
                  args=(rd_job,))
if st.session_state.pop(keys.COMPRESS_RD_PENDING, None) == rd_job:
    methods = tuple(pnc.FAST_METHODS) + (("neural",) if with_neural else ())
    bar = st.progress(0.0, text="Compressing at every ratio…")
    rows = rate_distortion(volume, kind, methods, steps,
                           lambda done, total: bar.progress(done / total, text=f"{done} of {total} codes"))
    bar.empty()
    st.session_state[keys.COMPRESS_RD_RESULT] = (rd_job, rows)
rd = st.session_state.get(keys.COMPRESS_RD_RESULT)
if rd is not None and rd[0] == rd_job:
    score = "psnr" if kind == "scan" else "iou"
    st.altair_chart(figures_compress.rate_distortion_chart(rd[1], score=score), width="stretch")
    unreachable = [f"{m} at {t:g}:1" for m, t in sorted({(row["method"], row["target"]) for row in rd[1]
                                                         if row["bytes"] is None})]
    lossless = next(row for row in rd[1] if row["method"] == "lzma")
    st.caption(
        f"lossless lzma: {lossless['ratio']:.2f}:1, exact"
        + (" (shown at IoU 1)" if kind == "binary" else " (no PSNR: no error)")
        + (f". Out of reach (the smallest code is larger than the budget): {', '.join(unreachable)}." if unreachable
           else ".")
    )

st.subheader("Download")
compressed = pnc.from_bytes(data)
st.download_button(
    f"Compressed volume (.pnc, {compressed.method}, {len(data):,} bytes)",
    data,
    file_name=f"{name}.pnc",
    mime="application/octet-stream",
    key="compress_download",
    on_click="ignore",
    icon=":material/download:",
)
stream = compressed.standard_stream()
if stream is not None:
    dims = " ".join(map(str, volume.shape[::-1]))
    st.download_button(
        f"The {compressed.method.upper()} stream alone ({stream[1]}, {len(stream[0]):,} bytes)",
        stream[0],
        file_name=f"{name}{stream[1]}",
        mime="application/octet-stream",
        key="compress_download_stream",
        on_click="ignore",
        icon=":material/download:",
    )
    tool = (f"`sz3 -f -z {name}.sz3 -o {name}.f32 -3 {dims}`" if compressed.method == "sz3"
            else f"`zfp -h -z {name}.zfp -o {name}.f32`")
    st.caption(f"The stream opens in {compressed.method.upper()}'s own tools: {tool} gives float32 values in C order "
               f"(Z fastest)" + ("; a grid is its signed distance in voxels, pores below 0." if kind == "binary" else "."))
decoded_file = io.BytesIO()
np.save(decoded_file, result.decoded, allow_pickle=False)
st.download_button(
    f"Decoded volume (.npy, {result.decoded.dtype})",
    decoded_file.getvalue(),
    file_name=f"{name}_decoded.npy",
    mime="application/octet-stream",
    key="compress_download_decoded",
    on_click="ignore",
    icon=":material/download:",
)
st.caption(
    f"Decode the .pnc with `python -m porelib decompress {name}.pnc --out {name}.npy`, or in Python with "
    "`porelib.compress.decompress(data)`; the format is documented in porelib/compress/container.py."
)
