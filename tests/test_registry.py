"""One registry of models: a model registered once appears everywhere without other edits."""

from __future__ import annotations

import pytest
import toy_generator
from apptest_helpers import app_page
from toy_training import tiny_dataset

from porelib import generate, registry
from porelib.app import state as keys
from porelib.checkpoint import load_checkpoint, save_checkpoint
from porelib.cli import main


@pytest.fixture
def toy_registered():
    registry.register(toy_generator.ENTRY)
    yield toy_generator.ENTRY
    registry.unregister(toy_generator.ENTRY.name)


def test_the_shipped_models_and_their_roles():
    assert registry.names(role="generator") == ("simulator", "cvae", "cgan")
    assert registry.names(trainable=True) == ("cvae", "cgan", "material", "unet", "img2vox", "parts")
    assert registry.entry("unet").role == "segmenter" and registry.label("cvae") == "cVAE"
    with pytest.raises(ValueError, match=r"model must be one of .*; got 'cgam'; did you mean 'cgan'\?"):
        registry.entry("cgam")
    with pytest.raises(ValueError, match="role must be one of"):
        registry.ModelEntry("x", "X", "painter", "")


@pytest.mark.usefixtures("toy_registered")
def test_a_registered_toy_model_appears_in_the_cli_checkpoints_inference_and_the_train_page(tmp_path, capsys):
    assert main(["train", "--help"]) == 0
    assert "toygen (Toy generator)" in " ".join(capsys.readouterr().out.split())
    assert main(["train", "toygen", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--noise INT" in help_text and "Length of the noise vector" in help_text

    data = tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    assert main(["train", "toygen", "--out", str(run), "--data", str(data), "--epochs", "1", "--batch-size", "8",
                 "--noise", "3", "--threads", "1", "--no-progress"]) == 0  # fmt: skip
    model, card = load_checkpoint(run)
    assert isinstance(model, toy_generator.ToyGenerator) and card["model"] == "toygen" and card["config"]["noise"] == 3
    save_checkpoint(tmp_path / "copy", model)
    assert load_checkpoint(tmp_path / "copy")[1]["config"] == card["config"]

    grids = generate("toygen", 0.6, n=2, seed=1, checkpoint=run)
    assert grids.shape == (2, 30, 30, 30) and grids.dtype == bool
    assert main(["generate", "--model", "toygen", "--checkpoint", str(run), "--density", "0.6",
                 "--out", str(tmp_path / "g.npy")]) == 0  # fmt: skip

    assert "Toy generator" in app_page("train").selectbox(key=keys.TRAIN_MODEL).options  # shown by label
    assert "Toy generator" in app_page("generate").selectbox(key=keys.MODEL).options


def test_a_bad_option_is_refused_on_the_train_page_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("PORELIB_RUNS_DIR", str(tmp_path / "runs"))
    at = app_page("train")
    at.selectbox(key=keys.TRAIN_MODEL).set_value("cvae").run()
    at.number_input(key=keys.train_option_key("cvae", "model", "width")).set_value(12).run()  # groups 8 must divide it
    at.button(key=keys.TRAIN_START).click().run()
    assert any("CVAEConfig.groups must divide width" in error.value for error in at.error)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert not at.exception
