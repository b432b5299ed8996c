"""Your material: volumes of a trained sample at any size and porosity, judged against its held-out slab."""

import pandas as pd
import streamlit as st

from pages import _common as ui
from porelib.app import figures
from porelib.app import state as keys
from porelib.data import display_path
from porelib.material.generate import METHODS, supported_porosity
from porelib.material.score import METHODS as SCORED_METHODS

ui.route_through_app()

st.title("Your material")
st.caption(
    "Train the material generator on your own segmented volume or 2-D image (Train page → Material generator), "
    "then make volumes of any size at the porosity you choose. Every method is judged against a slab of your "
    "sample that nothing was trained on."
)

folders = ui.material_runs()
if not folders:
    st.info("No material run yet. On the Train page choose **Material generator**, upload your sample and start.")
    st.page_link(ui.TRAIN, label="Train a material generator", icon=":material/model_training:")
    st.stop()
names = {str(folder): label for folder, label in folders}
if st.session_state.get(keys.MATERIAL_RUN) not in names:
    st.session_state[keys.MATERIAL_RUN] = next(iter(names))
st.selectbox("Material run", list(names), key=keys.MATERIAL_RUN, format_func=names.get)
with ui.stop_on_error():
    run = ui.material_run(st.session_state[keys.MATERIAL_RUN])
st.caption(f"{run.material.describe()}. Held out: {run.split.describe_held_out()} (`{display_path(run.folder)}`).")

low, high = supported_porosity(run)
porosity_default = round(run.split.porosity("train"), 3)
keys.reset_if_outside(st.session_state, keys.MATERIAL_POROSITY, 0.01, 0.99, porosity_default)
controls = st.columns([4, 2, 2, 1])
controls[0].slider("Porosity", 0.01, 0.99, step=0.005, key=keys.MATERIAL_POROSITY, format="%.3f",
                   help=f"the training patches span {low:.3f}–{high:.3f}; outside that the structure is extrapolated")
controls[1].selectbox("Size (voxels per side)", keys.MATERIAL_SIZES, key=keys.MATERIAL_SIZE, persist_state="session")
controls[2].selectbox("Method", METHODS, key=keys.MATERIAL_METHOD, persist_state="session",
                      help="the trained generator, or a classical reconstruction fitted to the training region")
controls[3].number_input("Seed", 0, 2**31 - 1, step=1, key=keys.MATERIAL_SEED, persist_state="session")
porosity = float(st.session_state[keys.MATERIAL_POROSITY])
if not low <= porosity <= high:
    st.warning(f"Porosity {porosity:.3f} is outside the training patches' {low:.3f}–{high:.3f}: an extrapolation.",
               icon=":material/warning:")
size, method, seed = int(st.session_state[keys.MATERIAL_SIZE]), st.session_state[keys.MATERIAL_METHOD], int(st.session_state[keys.MATERIAL_SEED])
with ui.stop_on_error(), st.spinner(f"Generating {size}³ voxels…"):
    volume = ui.material_volume(str(run.folder), size, porosity, seed, method)
st.caption(f"{method}: {size}³ voxels, porosity {volume.mean():.4f} ({int(volume.sum())} pore voxels, exactly as asked).")

left, right = st.columns(2)
with left:
    ui.show_3d(volume, key="material_3d")
with right:
    axis, index = ui.slice_controls("material", volume.shape)
    view = figures.slice_view(volume, axis, index)
    st.image(view.image, caption=f"{view.geometry} Pore fraction {view.pore_fraction:.3f}.", width="stretch")
name, data = ui.export(volume, "vti", None, f"material-{method}-{size}")
st.download_button("Download .vti (ParaView)", data, file_name=name, key="material_download_vti", on_click="ignore")

st.subheader("Against the held-out slab")
st.caption(
    f"{' · '.join(SCORED_METHODS)}: volumes at the training porosity, each statistic as a ratio to the spread "
    "between pieces of the held-out slab (1 = as close as another piece of your sample), with its 95 % bootstrap "
    "interval. 'patch' copies training patches: the yardstick, not a generator."
)
# A button's callback survives the rerun it starts; a plain click does not.
st.button("Score every method (about a minute)", key=keys.MATERIAL_SCORE, icon=":material/query_stats:",
          on_click=st.session_state.__setitem__, args=(keys.MATERIAL_SCORED, str(run.folder)))
if st.session_state.get(keys.MATERIAL_SCORED) == str(run.folder):
    with ui.stop_on_error(), st.spinner("Generating and measuring every method…"):
        comparison = ui.material_comparison(str(run.folder))
    st.success(f"Recommended for this material: **{comparison.recommended}**. {comparison.reason}.",
               icon=":material/recommend:")
    for note in comparison.notes:
        st.caption(note)
    st.altair_chart(figures.material_ratio_chart(comparison), width="stretch")
    table = pd.DataFrame({
        result.method: {name: f"{s.ratio:.2f} [{s.low:.2f}, {s.high:.2f}]{'' if s.passed else ' ✗'}"
                        for name, s in result.scores.items()}
        for result in comparison.results
    })  # fmt: skip
    st.dataframe(table, width="stretch")
    memorised = [(r.method, r.nearest_training_iou) for r in comparison.results if r.nearest_training_iou is not None]
    if memorised and comparison.held_out_training_iou is not None:
        shown = ", ".join(f"{m} {v:.3f}" for m, v in memorised)
        st.caption(f"Memorisation check, best IoU with a training patch: {shown}; held-out slab "
                   f"{comparison.held_out_training_iou:.3f} (a generator above that copies).")
