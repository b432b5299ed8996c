"""Training runs from the app (porelib.runs): a real tiny run in the background, stopping, listing, checks, checkpoints in use."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from porelib import runfolder, runs
from porelib.checkpoint import STATE_FILE, save_checkpoint
from porelib.inference import generate
from porelib.training import TrainConfig

#: A cVAE small enough to train an epoch on 8 grids in seconds (as TINY_FLAGS in test_training).
TINY_CVAE = {"model": {"width": 8, "latent_channels": 2, "film_hidden": 8}}
TINY_SETTINGS = dict(options=TINY_CVAE, epochs=1, limit=8, threads=1, device="cpu")
RUN_TIMEOUT_S = 240  # training a few seconds, then finalize scores 90 prior settings on the 51 validation grids


def _stop_all(root: Path) -> None:
    for run in runs.list_runs(root):
        if run.active:
            runs.stop(run.path, grace_s=1)


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    """An empty runs folder named by the environment variable; active runs are killed afterwards."""
    root = tmp_path / "runs"
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(root))
    yield root
    _stop_all(root)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny real cVAE run launched into a runs folder of its own (it trains while other tests run)."""
    root = tmp_path_factory.mktemp("tiny")
    yield runs.launch("cvae", **TINY_SETTINGS, runs_dir=root)
    _stop_all(root)


def _wait(folder: Path, done, timeout: float = RUN_TIMEOUT_S) -> runs.RunInfo:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = runs.read_run(folder)
        if done(run):
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {folder} still {run.state} after {timeout} s; log:\n{runs._log_tail(folder)}")


def _dead_pid() -> int:
    """The PID of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.usefixtures("tiny_run")  # started first: it trains while this test starts and stops another run
def test_stop_ends_the_process_group_and_shows_the_run_stopped(runs_root):
    folder = runs.launch("cvae", **{**TINY_SETTINGS, "epochs": 500})
    assert folder.parent == runs_root.resolve() and folder.name.endswith("-cvae")
    pgid = json.loads((folder / runs.LAUNCH_FILE).read_text())["pgid"]
    _wait(folder, lambda run: (folder / STATE_FILE).is_file())  # an epoch is done and saved
    run = runs.stop(folder, grace_s=30)
    assert run.state == "stopped" and not run.active
    assert not runs.group_alive(pgid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert runs.stop(folder).state == "stopped"  # stopping a stopped run does nothing
    assert json.loads((folder / runs.LAUNCH_FILE).read_text())["stop_requested"]
    assert run.resumable and run.epoch >= 1

    runs.resume(folder)  # the same command plus --resume, in the same folder
    launched = json.loads((folder / runs.LAUNCH_FILE).read_text())
    assert launched["args"][-1] == "--resume" and launched["resumes"] == 1 and not launched["stop_requested"]
    assert runs.read_run(folder).state == "starting"  # until the engine rewrites the status
    run = runs.stop(folder, grace_s=30)  # before the engine's SIGTERM handler is in place: killed outright
    assert run.state == "stopped" and not runs.group_alive(launched["pgid"])


def test_a_launched_run_finishes_and_its_checkpoint_can_be_used(tiny_run, runs_root):
    folder = tiny_run
    launched = json.loads((folder / runs.LAUNCH_FILE).read_text())
    assert launched["pgid"] == launched["pid"] and launched["nproc"] == 1
    assert launched["args"][1:5] == ["-m", "porelib", "train", "cvae"]
    assert "--width 8" in launched["command"] and "--limit 8" in launched["command"]
    assert "--groups" not in launched["command"]  # options at their defaults stay out of the command
    listed = runs.list_runs(folder.parent)
    assert [run.path for run in listed] == [folder] and listed[0].model == "cvae"

    run = _wait(folder, lambda run: not run.active)
    assert run.state == "finished", run.error
    assert run.has_checkpoint and run.epoch == run.epochs == 1 and run.progress == 1.0
    assert [row["epoch"] for row in run.metrics] == [1] and {"train_loss", "val_loss"} <= set(run.metrics[0])
    assert run.error is None and (folder / runs.LOG_FILE).is_file() and not run.resumable
    with pytest.raises(ValueError, match="only a stopped, dead or failed run can be resumed"):
        runs.resume(folder)

    assert runs.active_checkpoint("cvae") is None
    assert runs.use_checkpoint(folder) == "cvae"
    assert runs.active_checkpoint("cvae") == folder.resolve()
    assert runs.active_checkpoint("unet") is None
    assert generate("cvae", 0.7, n=1, seed=0, checkpoint=runs.active_checkpoint("cvae")).shape == (1, 30, 30, 30)
    runs.use_shipped("cvae")
    assert runs.active_checkpoint("cvae") is None


@pytest.mark.parametrize(
    "settings, match",
    [
        (dict(epochs=0), "epochs must be at least 1"),
        (dict(nproc=0), "nproc must be at least 1"),
        (dict(nproc=(os.cpu_count() or 1) + 1), "use at most"),
        (dict(device="tpu"), "device must be one of"),
        (dict(options={"model": {"depth": 3}}), "unknown model option"),
        (dict(options={"model": {"width": 8.5}}), r"CVAEConfig\.width must be an integer; got 8\.5"),
    ],
)
def test_bad_settings_are_refused_before_anything_starts(runs_root, settings, match):
    with pytest.raises((ValueError, TypeError), match=match):
        runs.launch("cvae", **{**TINY_SETTINGS, **settings})
    assert runs.list_runs() == [] and not any(runs_root.glob("*"))


def test_a_dataset_that_cannot_be_read_is_refused(runs_root, tmp_path):
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    (garbled / "distribution_1_0.5.npy").write_bytes(b"not a numpy file")
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (tmp_path / "missing", empty, garbled):
        with pytest.raises(ValueError, match=f"cannot read the dataset at {folder}"):
            runs.launch("cvae", **TINY_SETTINGS, data=folder)
    with pytest.raises(ValueError, match="reads no dataset"):
        runs.launch("unet", epochs=1, data=empty)
    with pytest.raises(ValueError, match="model must be one of"):
        runs.launch("nope")
    assert not any(runs_root.glob("*"))


def _fake_run(root: Path, name: str, *, status: dict | None = None, launch: dict | None = None, log: str = "") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for file, payload in ((runs.STATUS_FILE, status), (runs.LAUNCH_FILE, launch)):
        if payload is not None:
            (folder / file).write_text(json.dumps(payload))
    (folder / runs.LOG_FILE).write_text(log)
    return folder


def test_runs_whose_processes_are_gone_are_reported_died_or_failed(runs_root):
    host, dead = socket.gethostname(), _dead_pid()
    _fake_run(runs_root, "20250101-000000-cvae", status={
        "state": "running", "pid": dead, "host": host, "args": ["python", "-m", "porelib", "train", "cvae"],
        "started": "2025-01-01T00:00:00+00:00", "epoch": 3, "epochs": 10,
    }, log="epoch 3\nKilled\n")
    (runs_root / "20250101-000000-cvae" / runfolder.METRICS_FILE).write_text('{"epoch": 1}\n{"epoch": 2}\n{"epo')
    _fake_run(runs_root, "20250102-000000-unet", launch={
        "model": "unet", "pid": dead, "pgid": dead, "host": host, "launched": "2025-01-02T00:00:00+00:00",
        "command": "python -m porelib train unet", "nproc": 1, "stop_requested": None,
        "args": ["python", "-m", "porelib", "train", "unet"],
    }, log="error: something the engine refused\n")
    _fake_run(runs_root, "20250103-000000-cvae", status={
        "state": "failed", "pid": dead, "host": host, "started": "2025-01-03T00:00:00+00:00",
        "error": "Traceback ...\nFloatingPointError: lower --lr", "epoch": 0, "epochs": 5,
    })
    (runs_root / "not-a-run").mkdir()
    (runs_root / "notes.txt").write_text("other files are ignored")

    failed, not_started, died = runs.list_runs()  # newest first
    assert (died.state, died.model, died.epoch, died.progress) == ("died", "cvae", 3, 0.3)
    assert died.error.endswith("Killed") and [row["epoch"] for row in died.metrics] == [1, 2]
    assert (not_started.state, not_started.model) == ("failed", "unet")
    assert not_started.error == "error: something the engine refused"
    assert failed.state == "failed" and failed.error.endswith("lower --lr")
    assert not any(run.active or run.has_checkpoint for run in (failed, not_started, died))
    with pytest.raises(ValueError, match="is not a training run"):
        runs.read_run(runs_root / "not-a-run")
    with pytest.raises(ValueError, match="was not started from the app"):
        runs.resume(died.path)
    with pytest.raises(ValueError, match="saved no training state"):
        runs.resume(not_started.path)


def test_use_checkpoint_checks_the_folder(runs_root, tmp_path):
    from porelib.models.cvae import CVAE, CVAEConfig

    with pytest.raises(ValueError, match="card.json is missing"):
        runs.use_checkpoint(tmp_path)
    folder = save_checkpoint(tmp_path / "mine", CVAE(CVAEConfig(width=8, groups=4, latent_channels=1)))
    assert runs.use_checkpoint(folder) == "cvae" and runs.active_checkpoint("cvae") == folder.resolve()
    (folder / "model.safetensors").unlink()  # a chosen folder that lost its weights is no longer used
    assert runs.active_checkpoint("cvae") is None
    with pytest.raises(ValueError, match="model.safetensors is missing"):
        runs.use_checkpoint(folder)
    launcher = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "porelib"])  # plays a live run
    try:
        busy = _fake_run(runs_root, "busy", launch={"model": "cvae", "pid": launcher.pid, "pgid": launcher.pid,
                                                    "host": socket.gethostname(), "nproc": 1})
        save_checkpoint(busy, CVAE(CVAEConfig(width=8, groups=4, latent_channels=1)))
        with pytest.raises(ValueError, match="still starting"):
            runs.use_checkpoint(busy)
    finally:
        launcher.kill()
        launcher.wait()


def test_option_fields_devices_and_command():
    fields = {(f.group, f.name): f for f in runs.option_fields("cvae")}
    assert ("model", "size") not in fields  # derived from the data
    width = fields["model", "width"]
    assert (width.kind, width.flag, width.default) == (int, "--width", 32) and "channels" in width.help
    assert fields["loss", "beta"].kind is float
    assert not runs.reads_dataset("unet") and runs.reads_dataset("cvae")
    cpu = runs.available_devices()[-1]
    assert cpu.name == "cpu" and cpu.max_processes == (os.cpu_count() or 1) == runs.max_processes("cpu")
    config = TrainConfig(out="x", epochs=2, limit=4)
    command = runs.training_command("cvae", "out", config=config, option_flags=["--width", "8"], nproc=2)
    assert command[:6] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m"]
    assert command[6:12] == ["porelib", "train", "cvae", "--out", "out", "--epochs"]
    assert command[-3:] == ["--width", "8", "--no-progress"] and "--limit" in command
