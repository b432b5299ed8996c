"""Segment a scan: simulate or upload a CT scan, segment it with the U-Net and the classical methods, compare the masks."""

import math

import streamlit as st

from pages import _common as ui
from porelib import ct, runs, segmentation
from porelib.app import figures_ct
from porelib.app import state as keys
from porelib.app.state import model_status

ui.route_through_app()

SOURCES = {"simulate": "Simulate a scan", "upload": "Upload a scan"}
CONTRASTS = {"bright": "bright: glass in polymer", "dark": "dark: pores in a solid"}
FAMILIES = {
    "spheres": "spheres, default scanner",
    "randomised": "randomised (as the U-Net's training)",
    "held-out": "held-out: grains, streaks, bias",
}
METHOD_LABELS = figures_ct.METHOD_LABELS

st.title("Segment a scan")
st.caption(
    "Find the inclusions (glass spheres, or pores) of an X-ray CT volume with the 3D U-Net and the classical "
    "methods (denoise, then threshold or flood), side by side. A simulated scan comes with its exact label, so each "
    "mask gets a Dice score against the truth; on your own scan, compare the methods' porosities. `auto` picks a "
    "method per scan from its estimated noise and says why. The benchmark (docs/bench/segmentation.md) shows where "
    "the U-Net beats the best classical method and where it does not: on shapes and artefacts it was not trained "
    "on, a denoising filter + Otsu can be the better choice."
)

st.radio(
    "Scan", tuple(SOURCES), key=keys.SEGMENT_SOURCE, persist_state="session", format_func=SOURCES.get, horizontal=True
)

if st.session_state[keys.SEGMENT_SOURCE] == "simulate":
    columns = st.columns([2, 3, 2, 3, 1])
    columns[0].select_slider(
        "Size (voxels per side)", keys.SEGMENT_SIZES, key=keys.SEGMENT_SIZE, persist_state="session"
    )
    columns[1].slider(
        "Volume fraction of inclusions",
        0.05,
        0.45,
        step=0.01,
        key=keys.SEGMENT_FRACTION,
        persist_state="session",
        help="For the spheres family; the other families draw it from the seed",
    )
    columns[2].selectbox("Dose", tuple(ct.DOSES), key=keys.SEGMENT_DOSE, persist_state="session")
    columns[3].selectbox(
        "Material", tuple(CONTRASTS), key=keys.SEGMENT_CONTRAST, persist_state="session", format_func=CONTRASTS.get
    )
    columns[4].number_input(
        "Seed", min_value=0, max_value=2**31 - 1, step=1, key=keys.SEGMENT_SEED, persist_state="session"
    )
    st.radio(
        "Scan family",
        tuple(FAMILIES),
        key=keys.SEGMENT_FAMILY,
        persist_state="session",
        format_func=FAMILIES.get,
        horizontal=True,
        help="The randomised and held-out families draw shape, artefacts and volume fraction from the seed "
        "(porelib.ct.random_settings); the held-out one was never seen in training or tuning.",
    )
    family = st.session_state[keys.SEGMENT_FAMILY]
    settings = {
        "size": int(st.session_state[keys.SEGMENT_SIZE]),
        "volume_fraction": float(st.session_state[keys.SEGMENT_FRACTION]),
        "dose": st.session_state[keys.SEGMENT_DOSE],
        "contrast": st.session_state[keys.SEGMENT_CONTRAST],
        "seed": int(st.session_state[keys.SEGMENT_SEED]),
    }
    scan_id = ("simulate", family, *settings.values())
    name = f"simulated_{family}_{settings['size']}_{settings['contrast']}_{settings['dose']}_seed{settings['seed']}"
    st.caption(
        f"Photons per detector pixel at 128 px: {', '.join(f'{k} {v:,.0f}' for k, v in ct.DOSES.items())}. "
        "Parallel-beam projections with Poisson noise, ring artefacts and cupping, filtered back-projection."
    )
else:
    upload = st.file_uploader(
        "CT volume: .npz (key `image`, optional `label`), .npy or .tif stack",
        type=[suffix.lstrip(".") for suffix in ct.SCAN_SUFFIXES],
        key=keys.SEGMENT_UPLOAD,
    )
    if upload is None:
        st.info("Upload a scan, or simulate one above.")
        st.stop()
    scan_id, name = ("upload", upload.file_id, upload.name), upload.name.rsplit(".", 1)[0]

result = st.session_state.get(keys.SEGMENT_RESULT)
if result is None or result[0] != scan_id:
    with ui.stop_on_error():
        if scan_id[0] == "simulate":
            bar = st.progress(0.0, text="Simulating the scan…")

            def report(done, total):
                bar.progress(done / total, text=f"Reconstructing slice {done} of {total}")

            if family == "spheres":
                scan = ct.simulate(**settings, progress=report)
            else:
                scan = ct.random_scan(
                    family,
                    settings["size"],
                    settings["seed"],
                    contrast=settings["contrast"],
                    dose=settings["dose"],
                    progress=report,
                )
            bar.empty()
        else:
            scan = ct.load_scan(upload)
    result = (scan_id, scan, {})
    st.session_state[keys.SEGMENT_RESULT] = result
_, scan, masks = result
image, label = scan.image, scan.label

unet_checkpoint = ui.checkpoint_in_use("unet")
if "unet" in masks and st.session_state.get(keys.SEGMENT_UNET_CHECKPOINT) != unet_checkpoint:
    del masks["unet"]  # made with another checkpoint
if "auto" in masks and st.session_state.get(keys.SEGMENT_UNET_CHECKPOINT) != unet_checkpoint:
    del masks["auto"]  # may have picked the U-Net of another checkpoint
unet_status = model_status("unet", checkpoint=unet_checkpoint)
available = [method for method in segmentation.METHODS if method != "unet" or unet_status.ready]
st.session_state[keys.SEGMENT_METHODS] = [m for m in st.session_state[keys.SEGMENT_METHODS] if m in available]
st.multiselect("Methods", available, key=keys.SEGMENT_METHODS, persist_state="session", format_func=METHOD_LABELS.get)
if not unet_status.ready:
    st.caption(f"U-Net not available: {unet_status.detail}.")
chosen = list(st.session_state[keys.SEGMENT_METHODS])
if "unet" in chosen:
    ui.show_checkpoint("unet", unet_checkpoint, key="segment_use_shipped")
if not chosen:
    st.info("Choose at least one method.")
    st.stop()

if "auto" in chosen:
    auto = st.session_state.get(keys.SEGMENT_AUTO)
    if auto is None or auto[:2] != (scan_id, unet_checkpoint):
        with ui.stop_on_error():
            auto = (scan_id, unet_checkpoint, *figures_ct.auto_choice(image, unet_checkpoint))
        st.session_state[keys.SEGMENT_AUTO] = auto
    st.info(f"**auto** uses **{METHOD_LABELS[auto[2]]}** for this scan: {auto[3]}.")

todo = [method for method in chosen if method not in masks]
if todo:
    bar = st.progress(0.0, text="Segmenting…")
    with ui.stop_on_error():
        masks.update(
            figures_ct.segment_methods(
                image,
                todo,
                checkpoint=unet_checkpoint,
                progress=lambda fraction, message: bar.progress(fraction, text=message),
            )
        )
    if "unet" in todo or "auto" in todo:
        st.session_state[keys.SEGMENT_UNET_CHECKPOINT] = unet_checkpoint
    bar.empty()
masks = {method: masks[method] for method in chosen}

shape = "×".join(map(str, image.shape))
top = st.columns(4)
top[0].metric("Volume (voxels)", shape)
top[1].metric("True inclusion fraction", "unknown" if label is None else f"{label.mean():.3f}")
porosities = figures_ct.porosity_table(masks, label)
if label is not None:
    scores = figures_ct.score_masks(masks, label)
    best = scores.loc[scores["dice"].idxmax()]
    top[2].metric("Best Dice", f"{best['dice']:.4f}", help=f"Best of the chosen methods: {METHOD_LABELS[best['method']]}")
    classical = figures_ct.best_classical(scores)
    if classical is not None:
        top[3].metric(
            "Best classical Dice",
            f"{classical['dice']:.4f}",
            help=f"The baseline to beat: {METHOD_LABELS[classical['method']]}, the best of the chosen classical methods",
        )
warning = figures_ct.disagreement(porosities)
if warning:
    st.warning(warning)

st.subheader("Slices")
axis_key, index_key = keys.slice_keys("segment")
axis = st.session_state[axis_key]
keys.clamp_index(st.session_state, index_key, image.shape[keys.AXES.index(axis)] - 1)
left, right = st.columns([2, 3])
left.radio("Section axis", keys.AXES, key=axis_key, persist_state="session", horizontal=True)
right.slider(
    "Section index (voxels)", 0, image.shape[keys.AXES.index(axis)] - 1, key=index_key, persist_state="session"
)
index = st.session_state[index_key]
panels = {"scan": figures_ct.overlay_view(image, axis=axis, index=index)}
if label is not None:
    panels["truth"] = figures_ct.overlay_view(image, label, axis=axis, index=index)
for position, (method, mask) in enumerate(masks.items()):
    panels[METHOD_LABELS[method]] = figures_ct.overlay_view(
        image, mask, axis=axis, index=index, colour=figures_ct.method_colour(method, position)
    )
per_row = 3
items = list(panels.items())
for start in range(0, len(items), per_row):
    for column, (title, view) in zip(st.columns(per_row), items[start : start + per_row]):
        caption = title if math.isnan(view.fraction) else f"{title}: inclusions {view.fraction:.3f} of the section"
        column.image(view.image, caption=caption, width="stretch")
st.caption(f"{panels['scan'].geometry} Grey: the scan; colour: each mask, filled and outlined.")

st.subheader("Porosity by method")
chart_column, table_column = st.columns([3, 2])
chart_column.altair_chart(
    figures_ct.porosity_chart(porosities, None if label is None else float(label.mean())), width="stretch"
)
table_column.dataframe(
    porosities.drop(columns="key"),
    hide_index=True,
    column_config={
        "method": st.column_config.TextColumn("method"),
        "fraction": st.column_config.NumberColumn("fraction", format="%.4f", help="Inclusion fraction of the volume"),
        "error": st.column_config.NumberColumn(
            "error", format="%+.4f", help="Segmented minus the true inclusion fraction"
        ),
    },
)
st.caption(
    "Inclusion fraction (porosity, for pores) of each mask"
    + ("; dashed line: the true fraction." if label is not None else ".")
    + f" A spread above {figures_ct.DISAGREEMENT:.2f} between methods is flagged above."
)

if label is not None:
    st.subheader("Dice against the exact label")
    chart_column, table_column = st.columns([3, 2])
    chart_column.altair_chart(figures_ct.dice_chart(scores), width="stretch")
    table_column.dataframe(
        scores.assign(method=scores["method"].map(METHOD_LABELS))[["method", "dice", "iou"]],
        hide_index=True,
        column_config={
            "dice": st.column_config.NumberColumn("Dice", format="%.4f", help="2|A∩B| / (|A| + |B|)"),
            "iou": st.column_config.NumberColumn("IoU", format="%.4f", help="|A∩B| / |A∪B|"),
        },
    )
    st.caption("Dashed line: the best classical method's Dice, the baseline to beat. Dice = 2|A∩B| / (|A| + |B|).")
else:
    st.caption("This scan has no label, so the masks cannot be scored; upload an .npz with a `label` to score them.")

st.subheader("Download")
per_row = 3
for position, method in enumerate(masks):
    if position % per_row == 0:
        columns = st.columns(per_row)
    columns[position % per_row].download_button(
        f"{METHOD_LABELS[method]} mask (.npy)",
        figures_ct.mask_npy(masks[method]),
        file_name=f"{name}_{method}.npy",
        key=f"segment_download_{method}",
        on_click="ignore",
    )
st.caption("A bool array of the scan's shape, True = inclusion; load it with numpy.load(path).")

st.subheader("Train a generator on this material")
if st.session_state.get(keys.SEGMENT_TRAIN_MASK) not in masks:
    st.session_state[keys.SEGMENT_TRAIN_MASK] = "auto" if "auto" in masks else next(iter(masks))
left, right = st.columns([2, 3], vertical_alignment="bottom")
left.selectbox("Mask", list(masks), key=keys.SEGMENT_TRAIN_MASK, format_func=METHOD_LABELS.get)
right.button("Train the material generator on it", key="segment_train", icon=":material/model_training:",
             on_click=st.session_state.__setitem__, args=(keys.SEGMENT_TRAIN_REQUESTED, True))
st.caption(
    "Opens the Train page with this mask as the sample of the material generator (its inclusions are the pore "
    "phase): train it, then make volumes of any size and porosity on Your material. A bigger scan gives the "
    "generator more to learn from and a larger held-out slab to be judged against (at least 64 voxels a side)."
)
if st.session_state.pop(keys.SEGMENT_TRAIN_REQUESTED, False):
    method = st.session_state[keys.SEGMENT_TRAIN_MASK]
    with ui.stop_on_error():
        sample = runs.store_array(masks[method], f"{name}_{method}")
    keys.train_on_sample(st.session_state, sample)
    st.switch_page("pages/train.py")
