"""AppTest of the Train page: bad settings refused, a tiny real run started, listed, finished, and its checkpoint used."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from apptest_helpers import assert_clean
from streamlit.testing.v1 import AppTest

from porelib import runfolder, runs
from porelib.app import state as keys
from porelib.checkpoint import save_checkpoint
from porelib.data import display_path

APP = str(Path(__file__).resolve().parent.parent / "studio.py")
TIMEOUT = 120
RUN_TIMEOUT_S = 240  # training a few seconds, then finalize scores 90 prior settings on the 51 validation grids
#: The tiny cVAE of test_runs, set through the page's option widgets.
TINY_OPTIONS = {("model", "width"): 8, ("model", "latent_channels"): 2, ("model", "film_hidden"): 8}


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(root))
    yield root
    for run in runs.list_runs(root):
        if run.active:
            runs.stop(run.path, grace_s=1)


def _page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(f"pages/{name}.py")
    at.run()
    assert_clean(at)
    return at


def _start(at: AppTest) -> AppTest:
    at.button(key=keys.TRAIN_START).click().run()
    assert_clean(at)
    return at


def _wait_until_done(folder: Path) -> runs.RunInfo:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while (run := runs.read_run(folder)).active:
        assert time.monotonic() < deadline, f"{folder.name} still {run.state}; log:\n{(folder / runs.LOG_FILE).read_text()}"
        time.sleep(0.5)
    return run


def test_a_tiny_run_from_the_page_finishes_and_generate_uses_its_checkpoint(runs_root):
    at = _page("train")
    assert any("No runs yet" in info.value for info in at.info)
    at.selectbox(key=keys.TRAIN_MODEL).set_value("cvae")
    at.number_input(key=keys.TRAIN_EPOCHS).set_value(0)
    assert "epochs must be at least 1" in _start(at).error[0].value
    at.number_input(key=keys.TRAIN_EPOCHS).set_value(1)
    at.number_input(key=keys.TRAIN_NPROC).set_value((os.cpu_count() or 1) + 1)
    assert "use at most" in _start(at).error[0].value
    at.number_input(key=keys.TRAIN_NPROC).set_value(1)
    at.radio(key=keys.TRAIN_DATA_SOURCE).set_value("folder").run()
    at.text_input(key=keys.TRAIN_DATA_FOLDER).input(str(runs_root.parent / "nothing-here"))
    assert "cannot read the dataset" in _start(at).error[0].value
    assert runs.list_runs() == []  # nothing started

    at.radio(key=keys.TRAIN_DATA_SOURCE).set_value("builtin")
    at.number_input(key=keys.TRAIN_LIMIT).set_value(8)
    at.number_input(key=keys.TRAIN_THREADS).set_value(1)
    for (group, name), value in TINY_OPTIONS.items():
        at.number_input(key=keys.train_option_key("cvae", group, name)).set_value(value)
    _start(at)
    assert not at.error and at.success[0].value.startswith("Started")
    (run,) = runs.list_runs()
    assert run.model == "cvae" and "--latent-channels 2 --width 8 --film-hidden 8" in run.command
    assert any(f"**{run.name}**" in text.value for text in at.markdown)

    # While it trains: Generate names the shipped cVAE checkpoint (and warms its caches for later).
    at.switch_page("pages/generate.py").run()
    at.selectbox(key=keys.MODEL).set_value("cvae").run()
    assert_clean(at)
    assert any("the shipped checkpoint" in caption.value for caption in at.caption) and not at.info

    run = _wait_until_done(run.path)
    assert run.state == "finished", run.error
    at.switch_page("pages/train.py").run()
    assert_clean(at)
    assert any(f"**{run.name}** · cVAE · **finished**" in text.value for text in at.markdown)
    # One epoch already draws curves: the per-step rows of the engine, the epoch mean and the held-out loss.
    rows = runfolder.read_metrics(run.path)
    assert any("step" in row for row in rows) and [row["epoch"] for row in runfolder.epoch_rows(rows)] == [1]
    assert any("held-out" in text.value for text in at.markdown) and at.get("vega_lite_chart")
    at.button(key=keys.train_run_key("use", run.name)).click().run()
    assert_clean(at)
    assert runs.active_checkpoint("cvae") == run.path.resolve()
    assert any("In use on the Generate page" in message.value for message in at.success)

    at.switch_page("pages/generate.py").run()
    assert_clean(at)
    assert any(display_path(run.path) in info.value for info in at.info)
    assert len(at.metric) == 5  # generated from the run's checkpoint, with its statistics
    at.button(key="generate_use_shipped").click().run()
    assert_clean(at)
    assert runs.active_checkpoint("cvae") is None
    assert any("the shipped checkpoint" in caption.value for caption in at.caption)


def test_segment_page_uses_the_chosen_unet_checkpoint(runs_root, tmp_path):
    from porelib.models.unet3d import UNet3D, UNet3DConfig

    folder = save_checkpoint(tmp_path / "unet", UNet3D(UNet3DConfig(channels=(4, 8), groups=4)))
    runs.use_checkpoint(folder)
    at = _page("segment")
    at.select_slider(key=keys.SEGMENT_SIZE).set_value(32).run()
    assert_clean(at)
    assert any(display_path(folder) in info.value for info in at.info)
    assert "unet" in at.session_state[keys.SEGMENT_RESULT][2]
    assert at.session_state[keys.SEGMENT_UNET_CHECKPOINT] == str(folder.resolve())
    at.button(key="segment_use_shipped").click().run()
    assert_clean(at)
    assert runs.active_checkpoint("unet") is None
    assert at.session_state[keys.SEGMENT_UNET_CHECKPOINT] is None  # the mask was made again, with the shipped one


def test_runs_are_listed_from_their_folders_with_curves_and_errors(runs_root):
    host = socket.gethostname()
    finished, failed = runs_root / "20250101-000000-unet", runs_root / "20250102-000000-cvae"
    for folder, status in (
        (finished, {"state": "finished", "epoch": 3, "epochs": 3, "started": "2025-01-01T00:00:00+00:00",
                    "args": ["python", "-m", "porelib", "train", "unet"]}),
        (failed, {"state": "failed", "epoch": 0, "epochs": 5, "started": "2025-01-02T00:00:00+00:00",
                  "args": ["python", "-m", "porelib", "train", "cvae"], "error": "FloatingPointError: lower --lr"}),
    ):
        folder.mkdir(parents=True)
        (folder / runs.STATUS_FILE).write_text(json.dumps({**status, "host": host, "pid": None}))
    rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "val_dice": 0.5 + e / 10} for e in (1, 2, 3)]
    (finished / runfolder.METRICS_FILE).write_text("".join(json.dumps(row) + "\n" for row in rows))

    at = _page("train")
    texts = [text.value for text in at.markdown]
    assert any("**20250102-000000-cvae** · cVAE · **failed**" in text for text in texts)
    assert any("**20250101-000000-unet** · 3D U-Net (segmentation) · **finished**" in text for text in texts)
    assert "lower --lr" in at.code[0].value  # the failed run's error tail
    assert len(at.get("vega_lite_chart")) == 2  # loss curves and the chosen held-out metric
    assert at.selectbox(key=keys.train_run_key("metric", finished.name)).value == "val_dice"  # the U-Net's monitor
    assert [button.key for button in at.button] == [keys.TRAIN_START]  # no live process, state or checkpoint
