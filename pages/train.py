"""Train: start a model's training in the background, watch its curves, stop it, use its checkpoint."""

import math

import streamlit as st

from pages import _common as ui
from porelib import registry, runfolder, runs
from porelib.app import figures
from porelib.app import state as keys
from porelib.data import DATA_DIR, DATASET_FILE, EXAMPLES_DIR, display_path
from porelib.inference import checkpoint_dir
from porelib.material.examples import EXAMPLE_FILE
from porelib.material.sample import IMAGE_FORMATS, SECTION_PLANES, SECTIONS_HELP

ui.route_through_app()

#: Seconds between refreshes of the run list while a run is active.
REFRESH_S = 2.0
STATE_ICONS = {
    "starting": ":material/hourglass_top:",
    "running": ":material/play_circle:",
    "finalizing": ":material/hourglass_bottom:",
    "finished": ":material/check_circle:",
    "failed": ":material/error:",
    "stopped": ":material/stop_circle:",
    "died": ":material/cancel:",
}
EXAMPLE_SAMPLE = DATA_DIR / EXAMPLES_DIR / EXAMPLE_FILE
DATA_SOURCES = {
    "builtin": f"built-in ({display_path(DATA_DIR / DATASET_FILE)})",
    "folder": "a folder of original files distribution_{idx}_{density}.npy",
}

st.title("Train a model")
st.caption(
    "Starts `python -m porelib train MODEL …` in the background: the run goes on when this tab closes, and "
    f"every session sees the runs in `{display_path(runs.resolve_runs_dir())}`. Several processes train "
    "data-parallel under torchrun (one per GPU, or CPU processes talking through gloo)."
)


def _float_step(default: float) -> float:
    """A number input's step: a tenth of the default's order of magnitude (0.01 for 0)."""
    return 10 ** math.floor(math.log10(abs(default))) / 10 if default else 0.01


def option_widget(field: runs.OptionField, key: str) -> None:
    """The widget of one task option, by its type."""
    label, help_text = field.name.replace("_", " "), field.help or None
    if field.choices:
        st.selectbox(label, field.choices, key=key, help=help_text, persist_state="session")
    elif field.kind is int:
        st.number_input(label, step=1, key=key, help=help_text, persist_state="session")
    elif field.kind is float:
        st.number_input(label, step=_float_step(field.default), format="%g", key=key, help=help_text,
                        persist_state="session")
    else:
        st.text_input(label, key=key, help=help_text, persist_state="session")


def option_form(model: str) -> dict:
    """Widgets for every option of ``model``, one expander per group; returns ``{group: {name: value}}``."""
    options: dict = {}
    fields = runs.option_fields(model)
    for group in dict.fromkeys(field.group for field in fields):
        in_group = [field for field in fields if field.group == group]
        with st.expander(f"Options: {group} ({len(in_group)})"):
            for column, field in zip(st.columns(4) * math.ceil(len(in_group) / 4), in_group):
                key = keys.train_option_key(model, field.group, field.name)
                st.session_state.setdefault(key, field.default)
                with column:
                    option_widget(field, key)
                options.setdefault(group, {})[field.name] = st.session_state[key]
    return options


# ----------------------------------------------------------------------------- a new run

devices = runs.available_devices()
if st.session_state[keys.TRAIN_MODEL] not in registry.names(trainable=True):
    st.session_state[keys.TRAIN_MODEL] = keys.DEFAULTS[keys.TRAIN_MODEL]
if st.session_state[keys.TRAIN_DEVICE] not in [device.name for device in devices]:
    st.session_state[keys.TRAIN_DEVICE] = devices[0].name

with st.container(border=True):
    st.subheader("New run")
    top = st.columns([2, 5])
    top[0].selectbox("Model", registry.names(trainable=True), key=keys.TRAIN_MODEL, persist_state="session",
                     format_func=ui.model_label)
    model = st.session_state[keys.TRAIN_MODEL]
    data = None
    with top[1]:
        if runs.reads_dataset(model):
            st.radio("Dataset", keys.TRAIN_DATA_SOURCES, key=keys.TRAIN_DATA_SOURCE, persist_state="session",
                     format_func=DATA_SOURCES.get, horizontal=True)
            if st.session_state[keys.TRAIN_DATA_SOURCE] == "folder":
                st.text_input("Dataset folder (on the machine that runs the app)", key=keys.TRAIN_DATA_FOLDER,
                              persist_state="session", placeholder="/path/to/folder")
                data = st.session_state[keys.TRAIN_DATA_FOLDER].strip() or None
                if data is None:
                    st.caption("Enter the folder that holds the files; it is checked when you start.")
        elif runs.sample_formats(model):
            formats = runs.sample_formats(model)
            upload = st.file_uploader("Your sample: a segmented volume or a 2-D image (with sections: the one normal "
                                      "to x)", key=keys.TRAIN_SAMPLE,
                                      type=[suffix.lstrip(".") for suffix in formats],
                                      help="its pore phase and split are set under Options: data")
            if upload is not None:
                with ui.stop_on_error():
                    stored = runs.store_upload(upload, formats=formats)
                st.session_state[keys.train_option_key(model, "data", "input")] = str(stored)
                st.caption(f"Stored as `{display_path(stored)}`; the run reads it from there.")
            elif st.button("Use the example sample", key=keys.TRAIN_EXAMPLE, icon=":material/science:",
                           help=f"{display_path(EXAMPLE_SAMPLE)}: a 128³ fibre mat made by PoreSpy, shipped with the "
                                "app (pore value 255)"):
                st.session_state[keys.train_option_key(model, "data", "input")] = str(EXAMPLE_SAMPLE)
                st.session_state[keys.train_option_key(model, "data", "pore_value")] = 255.0
            with st.expander("Anisotropic? Add the 2-D sections normal to y and z"):
                st.caption(SECTIONS_HELP)
                for axis, key in keys.TRAIN_SECTIONS.items():
                    rows, columns = SECTION_PLANES[axis]
                    section = st.file_uploader(f"Section normal to {axis} (rows {rows}, columns {columns})", key=key,
                                               type=[suffix.lstrip(".") for suffix in IMAGE_FORMATS])  # fmt: skip
                    if section is not None:
                        with ui.stop_on_error():
                            stored = runs.store_upload(section, formats=IMAGE_FORMATS)
                        st.session_state[keys.train_option_key(model, "data", f"input_{axis}")] = str(stored)
        else:
            st.caption(f"{ui.model_label(model)} simulates its training data: it reads no dataset.")

    settings = st.columns(6)
    settings[0].number_input("Epochs", step=1, key=keys.TRAIN_EPOCHS, persist_state="session")
    settings[5].number_input("Time budget (min)", min_value=0.1, step=1.0, key=keys.TRAIN_MINUTES, persist_state="session",
                             placeholder="none", help="wall clock: the run sets its epochs after the first one so "
                             "that it ends in time (replaces Epochs); empty = use Epochs")
    settings[1].number_input("Batch size (per process)", min_value=1, step=1, key=keys.TRAIN_BATCH_SIZE,
                             persist_state="session")
    settings[2].number_input("Peak learning rate", min_value=0.0, step=1e-4, format="%g", key=keys.TRAIN_LR,
                             persist_state="session", help="AdamW, linear warm-up then cosine decay")
    settings[3].number_input("Seed", min_value=0, step=1, key=keys.TRAIN_SEED, persist_state="session")
    settings[4].number_input("Limit (training items)", min_value=1, step=1, key=keys.TRAIN_LIMIT,
                             persist_state="session", placeholder="all", help="empty = all; a few for a quick try")
    hardware = st.columns([3, 1, 1])
    hardware[0].selectbox("Device", [device.name for device in devices], key=keys.TRAIN_DEVICE,
                          persist_state="session", format_func={d.name: d.label for d in devices}.get)
    hardware[1].number_input("Processes", min_value=1, step=1, key=keys.TRAIN_NPROC, persist_state="session",
                             help="over 1: data parallel with torchrun on this machine (one per GPU on CUDA)")
    hardware[2].number_input("CPU threads per process", min_value=1, step=1, key=keys.TRAIN_THREADS,
                             persist_state="session")
    options = option_form(model)

    # Buttons act through callbacks: a callback's effect survives a rerun of the script, a click does not.
    st.button("Start", key=keys.TRAIN_START, type="primary", icon=":material/play_arrow:",
              on_click=st.session_state.__setitem__, args=(keys.TRAIN_START_REQUESTED, True))
    if st.session_state.pop(keys.TRAIN_START_REQUESTED, False):
        limit = st.session_state[keys.TRAIN_LIMIT]
        try:
            with st.spinner("Checking the settings and starting…"):
                folder = runs.launch(
                    model,
                    options=options,
                    epochs=int(st.session_state[keys.TRAIN_EPOCHS]),
                    batch_size=int(st.session_state[keys.TRAIN_BATCH_SIZE]),
                    lr=float(st.session_state[keys.TRAIN_LR]),
                    seed=int(st.session_state[keys.TRAIN_SEED]),
                    limit=None if limit is None else int(limit),
                    data=data,
                    device=st.session_state[keys.TRAIN_DEVICE],
                    threads=int(st.session_state[keys.TRAIN_THREADS]),
                    nproc=int(st.session_state[keys.TRAIN_NPROC]),
                    minutes=None if st.session_state[keys.TRAIN_MINUTES] is None else float(st.session_state[keys.TRAIN_MINUTES]),
                )
        except Exception as exc:  # noqa: BLE001 - a refused setting, or anything else: shown, the page goes on
            ui.show_error(exc)
        else:
            st.success(f"Started {folder.name}; it is listed below.", icon=":material/rocket_launch:")


# ----------------------------------------------------------------------------- the runs


def show_curves(name: str, model: str | None, rows: list[dict]) -> None:
    """The loss curves (per step, epoch mean, held-out) and one chosen held-out metric of a run's ``rows``.

    ``name`` keys the metric's select box; ``rows`` are those of the run's ``metrics.jsonl``.
    """
    table = runs.metrics_table(runfolder.epoch_rows(rows))
    others = [column for column in table if column.startswith("val_") and column != "val_loss"]
    left, right = st.columns(2)
    chart, note = figures.loss_chart(rows)
    left.markdown("**Loss**: training (per step and epoch mean) and held-out")
    left.altair_chart(chart, width="stretch")
    if note:
        left.caption(note)
    if others and len(table) >= 1:
        monitor = runs.monitor_column(model)
        metric = right.selectbox("Held-out metric", others, index=others.index(monitor) if monitor in others else 0,
                                 key=keys.train_run_key("metric", name))
        right.line_chart(table[[metric]], x_label="epoch", y_label=metric, height=300)


def run_action(action, folder) -> None:
    """Button callback: ``action(folder)``; a ``ValueError`` is kept to be shown once."""
    try:
        action(folder)
    except ValueError as exc:
        st.session_state[keys.TRAIN_ACTION_ERROR] = str(exc)


def show_checkpoint_choice(run: runs.RunInfo) -> None:
    """Whether a run's checkpoint is in use, or the button that makes it so."""
    pages = registry.entry(run.model).pages if run.model in registry.names() else ()
    page = " and ".join(pages)
    if not pages:
        st.caption(f"No page uses {ui.model_label(run.model or '?')} checkpoints yet; pass the folder "
                   f"`{display_path(run.path)}` to the command line (`--checkpoint`).")
    elif runs.active_checkpoint(run.model) == run.path.resolve():
        st.success(f"In use on the {page} page{'s' * (len(pages) > 1)}.", icon=":material/check:")
    else:
        st.button("Use this checkpoint", key=keys.train_run_key("use", run.name), icon=":material/input:",
                  help=f"the {page} page{'s' * (len(pages) > 1)} then use{'s' * (len(pages) == 1)} it instead of the shipped one",
                  on_click=run_action, args=(runs.use_checkpoint, run.path))


def show_run(run: runs.RunInfo, *, expanded: bool) -> None:
    """One run: state, progress, curves (folded unless ``expanded``), error, and its buttons."""
    with st.container(border=True):
        head, buttons = st.columns([4, 2], vertical_alignment="center")
        head.markdown(f"{STATE_ICONS.get(run.state, '')} **{run.name}** · {ui.model_label(run.model or '?')} · "
                      f"**{run.state}**" + (f" · {run.nproc} processes" if run.nproc > 1 else ""))
        head.caption(f"started {run.started or '?'}" + (f", ended {run.ended}" if run.ended else ""))
        with buttons:
            if run.active:
                st.button("Stop", key=keys.train_run_key("stop", run.name), icon=":material/stop:",
                          on_click=run_action, args=(runs.stop, run.path))
            if run.resumable:
                st.button("Resume", key=keys.train_run_key("resume", run.name), icon=":material/resume:",
                          help="continue from its last finished epoch to the same final epoch",
                          on_click=run_action, args=(runs.resume, run.path))
            if run.has_checkpoint and not run.active:
                show_checkpoint_choice(run)
        if run.epochs:
            st.progress(run.progress, text=f"epoch {run.epoch} of {run.epochs}")
        if run.metrics:
            with st.expander("Curves", expanded=expanded):
                show_curves(run.name, run.model, runfolder.read_metrics(run.path))
        if run.error:
            st.error(f"The run {run.state}. The end of its error:", icon=":material/error:")
            st.code(run.error, language=None)
        if run.command:
            with st.expander("Command"):
                st.code(run.command, language="bash")


def show_shipped_curves() -> None:
    """How the shipped checkpoint of the chosen model trained (its metrics.jsonl), as an example of the curves."""
    model = st.session_state[keys.TRAIN_MODEL]
    folder = checkpoint_dir(model)
    rows = runfolder.read_metrics(folder)
    if not rows:
        return
    st.markdown(f"**How the shipped {ui.model_label(model)} trained** (`{display_path(folder)}/metrics.jsonl`); "
                "a run of yours is drawn the same way, from its first steps.")
    show_curves(f"shipped-{model}", model, rows)


polling = any(run.active for run in runs.list_runs())


@st.fragment(run_every=REFRESH_S if polling else None)
def show_runs() -> None:
    """Every run, newest first; refreshes itself while one is active."""
    current = runs.list_runs()
    if polling and not any(run.active for run in current):
        st.rerun()  # the last active run ended: redraw the page once, without the timer
    if message := st.session_state.pop(keys.TRAIN_ACTION_ERROR, None):
        st.error(message, icon=":material/error:")
    if not current:
        st.info("No runs yet. Start one above.")
        show_shipped_curves()
    for number, run in enumerate(current):
        show_run(run, expanded=run.active or number == 0)


st.subheader("Runs")
show_runs()
