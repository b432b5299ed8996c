"""The run folder: its files, atomic writes, a full disk, and settings as flags."""

from __future__ import annotations

import argparse
import errno
import json
from pathlib import Path

import pytest
from toy_training import TOY_ENTRY, TOY_LR, ToyTask

from porelib import registry, runfolder
from porelib.io import atomic
from porelib.training import TrainConfig, fit, settings_fields, task_fields


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setattr(registry, "_ENTRIES", {**registry._ENTRIES, "toy": TOY_ENTRY})


def _fill_disk_on(monkeypatch, name: str, after: int) -> None:
    """Make the (after + 1)-th and later atomic writes of files called ``name`` fail as on a full disk."""
    real = atomic._fsync
    calls = {"n": 0}

    def fsync(path: Path) -> None:
        if path.name.startswith(f".{name}."):
            calls["n"] += 1
            if calls["n"] > after:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path)

    monkeypatch.setattr(atomic, "_fsync", fsync)


@pytest.mark.usefixtures("toy_registered")
def test_a_full_disk_keeps_the_last_good_checkpoint_says_why_and_the_run_resumes(tmp_path, monkeypatch):
    out = tmp_path / "run"
    config = TrainConfig(out=out, epochs=4, batch_size=4, lr=TOY_LR, threads=1)
    _fill_disk_on(monkeypatch, runfolder.WEIGHTS_FILE, after=1)  # the checkpoint of epoch 1 is written, later ones fail
    with pytest.raises(runfolder.DiskFull) as caught:
        fit(ToyTask(groups=1, noise=0.0), config, progress=False, command=["toy"])
    message = caught.value.strerror
    assert "the disk is full (No space left on device)" in message and "--resume" in message
    assert "the best checkpoint so far (epoch 1" in message and "training state of epoch 1" in message
    card = runfolder.read_card(out)
    assert card["best_epoch"] == 1 and card["epochs"] == 1  # the pair written together, untouched since
    status = json.loads((out / runfolder.STATUS_FILE).read_text())
    assert status["state"] == "failed" and status["error"] == message
    assert not [p for p in out.iterdir() if ".part" in p.name]  # no temporary file left behind

    monkeypatch.undo()
    monkeypatch.setattr(registry, "_ENTRIES", {**registry._ENTRIES, "toy": TOY_ENTRY})
    result = fit(ToyTask(groups=1, noise=0.0), config, progress=False, command=["toy"], resume=True)
    assert result.resumed_from == 1 and result.epochs == 4
    assert json.loads((out / runfolder.STATUS_FILE).read_text())["state"] == "finished"
    assert [row["epoch"] for row in runfolder.epoch_rows(runfolder.read_metrics(out))] == [1, 2, 3, 4]


def test_the_cli_reports_a_full_disk_in_one_line(tmp_path, monkeypatch, capsys):
    from porelib import cli

    def full(*args, **kwargs):
        raise runfolder.DiskFull(errno.ENOSPC, "the disk is full (No space left on device) while writing x")

    monkeypatch.setattr("porelib.training.fit_flags", full)
    assert cli.main(["train", "cvae", "--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err == "error: the disk is full (No space left on device) while writing x\n"


def test_metrics_rows_survive_a_torn_last_line(tmp_path):
    runfolder.write_metrics(tmp_path, [{"epoch": 1}])
    runfolder.append_metrics(tmp_path, {"step": 3, "train_loss": 0.5})
    with open(tmp_path / runfolder.METRICS_FILE, "a") as handle:
        handle.write('{"epoch": 2, "val')
    rows = runfolder.read_metrics(tmp_path)
    assert rows == [{"epoch": 1}, {"step": 3, "train_loss": 0.5}]
    assert runfolder.epoch_rows(rows) == [{"epoch": 1}]


def test_settings_go_to_flags_and_back_unchanged():
    fields = settings_fields() + task_fields("cvae")
    parser = argparse.ArgumentParser()
    runfolder.add_option_flags(parser, fields)
    settings = {"out": Path("runs/x"), "epochs": 3, "lr": 5e-4, "device": "cpu", "limit": 16}
    options = {"model": {"width": 16, "groups": 4}, "loss": {"beta": 0.5}}
    argv = runfolder.option_flags(fields, {None: settings, **options})
    flags = parser.parse_args(argv)
    assert runfolder.settings_from_namespace(flags, fields) == settings
    assert runfolder.options_from_namespace(flags, fields) == options
    assert runfolder.option_flags(fields, {"model": {"width": 32}}) == []  # the default is left out
    with pytest.raises(TypeError, match=r"option model\.width must be of type int; got 'wide'"):
        runfolder.option_flags(fields, {"model": {"width": "wide"}})
    with pytest.raises(ValueError, match=r"option model\.size cannot be set from the command line"):
        runfolder.option_flags(fields, {"model": {"size": 12}})  # derived from the data
