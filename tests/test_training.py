"""The training engine: configuration checks, the cVAE task, several optimisers, stopping and resuming, non-finite values."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from toy_training import (
    TINY_CVAE_FLAGS,
    TOY_ENTRY,
    TOY_LR,
    ToyModel,
    ToyTask,
    tiny_dataset,
)

from porelib import registry
from porelib.checkpoint import load_checkpoint
from porelib.cli import main
from porelib.data import load_dataset
from porelib.devices import warmup_cosine
from porelib.models.cvae import TEMPERATURE_KNOTS
from porelib.synth import expected_pore_voxels
from porelib.tasks.cvae import SELECTION_STATISTICS, CVAETask
from porelib.tasks.cvae import WIDTHS as CVAE_WIDTHS  # the cVAE's smoothing candidates
from porelib.training import (
    NonFiniteError,
    TrainConfig,
    TrainingStopped,
    fit,
    format_nonfinite,
    make_task,
    nonfinite_tensors,
    select_device,
)

TINY_FLAGS = TINY_CVAE_FLAGS


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(epochs=0), "epochs must be at least 1"),
        (dict(batch_size=0), "batch_size"),
        (dict(device="tpu"), "device must be one of"),
        (dict(lr=0.0), "lr must be positive"),
        (dict(grad_clip=-1.0), "grad_clip"),
        (dict(limit=0), "limit"),
        (dict(min_lr_fraction=2.0), "min_lr_fraction"),
    ],
)
def test_invalid_train_configs(tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(out=tmp_path, **options)


def test_unknown_tasks_and_options_are_refused():
    assert "cvae" in registry.names(trainable=True)
    with pytest.raises(ValueError, match="model must be one of"):
        make_task("nope")
    with pytest.raises(ValueError, match="unknown model option"):
        make_task("cvae", {"model": {"depth": 3}})
    with pytest.raises(ValueError, match="unknown model option"):  # the size comes from the data
        make_task("cvae", {"model": {"size": 20}})
    with pytest.raises(ValueError, match="unknown option group"):
        make_task("cvae", {"optimizer": {}})


def test_select_device():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            select_device("cuda")


def test_learning_rate_warms_up_then_decays():
    factors = [warmup_cosine(step, warmup_steps=4, total_steps=20, min_fraction=0.1) for step in range(21)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(factors[3:], factors[4:]))
    assert factors[-1] == pytest.approx(0.1)


def test_cvae_task_data_and_limit():
    task = make_task("cvae", {"model": {"width": 8}}, limit=8)
    train, val = task.datasets()
    grids, densities = train[0]
    assert len(train) == 8 and len(val) == len(load_dataset().split("val"))
    assert grids.shape == (30, 30, 30) and densities.dtype == torch.float32
    assert task.data_card()["fingerprint"] == load_dataset().fingerprint
    assert task.resolved_options()["model"]["width"] == 8


@pytest.mark.parametrize(
    "argv, match",
    [
        (["train", "cvae", "--epochs", "0"], "epochs must be at least 1"),
        (["train", "gan9000"], "model must be one of"),
        (["train", "cvae", "--data", "/nonexistent/data"], "no dataset at"),
        (["train", "cvae", "--beta", "-1"], "beta"),
    ],
)
def test_train_cli_errors_are_one_line(tmp_path, capsys, argv, match):
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and match in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run" / "model.safetensors").exists()


class _FailingTask(CVAETask):
    def training_step(self, model, batch, progress):
        raise RuntimeError("boom")


def test_a_failed_run_records_its_error(tmp_path):
    task = _FailingTask({"model": {"width": 8, "latent_channels": 2}}, limit=4)
    with pytest.raises(RuntimeError, match="boom"):
        fit(task, TrainConfig(out=tmp_path, epochs=1, threads=1), progress=False, command=["test"])
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "failed" and "RuntimeError: boom" in status["error"] and status["ended"]


# ----------------------------------------------------------------------------- several optimisers


@pytest.fixture
def toy_model_registered(monkeypatch):
    monkeypatch.setattr(registry, "_ENTRIES", {**registry._ENTRIES, "toy": TOY_ENTRY})


@pytest.mark.usefixtures("toy_model_registered")
def test_groups_absent_from_a_step_are_not_stepped(tmp_path):
    task = ToyTask()
    result = fit(task, TrainConfig(out=tmp_path, epochs=2, batch_size=4, lr=TOY_LR, threads=1), progress=False, command=["t"])
    steps = [step for step, _ in task.snapshots]
    assert steps == list(range(8))  # 16 items, batches of 4, 2 epochs
    for (step, before), (_, after) in zip(task.snapshots, task.snapshots[1:]):
        a_changed = any(not torch.equal(x, y) for x, y in zip(before[:2], after[:2]))
        b_changed = any(not torch.equal(x, y) for x, y in zip(before[2:], after[2:]))
        assert a_changed, f"group a was not stepped at step {step}"
        assert b_changed == (step % 2 == 0), f"group b stepped={b_changed} at step {step}"
    row = result.history[-1]
    assert row["lr_b"] == pytest.approx(0.5 * row["lr_a"]) and row["lr"] == row["lr_a"]
    model, card = load_checkpoint(tmp_path)
    assert isinstance(model, ToyModel) and card["task"] == "toy"


class _BadGroupsTask(ToyTask):
    def __init__(self, groups, returned):
        super().__init__()
        self.groups, self.returned = groups, returned

    def parameter_groups(self, model):
        return self.groups(model)

    def training_step(self, model, batch, progress):
        x, y = batch
        loss = torch.nn.functional.mse_loss(model(x), y)
        return self.returned(loss), {}


@pytest.mark.usefixtures("toy_model_registered")
@pytest.mark.parametrize(
    "groups, returned, error, match",
    [
        (lambda m: {}, lambda loss: loss, TypeError, "non-empty dict"),
        (lambda m: {"a": {"params": []}}, lambda loss: loss, ValueError, "holds no parameters"),
        (lambda m: {"a": {"params": list(m.parameters()), "momentum": 0.9}}, lambda loss: loss, ValueError, "unknown setting"),
        (lambda m: {"a": {"params": list(m.parameters())}, "b": {"params": list(m.b.parameters())}},
         lambda loss: loss, ValueError, "in both groups 'a' and 'b'"),
        (lambda m: {"a": {"params": list(m.a.parameters())}, "b": {"params": list(m.b.parameters())}},
         lambda loss: loss, TypeError, "returned one loss"),
        (lambda m: {"a": {"params": list(m.parameters())}}, lambda loss: {"c": loss}, ValueError, "unknown group"),
    ],
)
def test_bad_parameter_groups_and_losses_are_refused(tmp_path, groups, returned, error, match):
    with pytest.raises(error, match=match):
        fit(_BadGroupsTask(groups, returned), TrainConfig(out=tmp_path, epochs=1, threads=1), progress=False, command=["t"])


# ----------------------------------------------------------------------------- stopping and resuming


def _rows(out):
    """The per-epoch rows of the run's metrics.jsonl (per-step rows lie between them)."""
    from porelib.runfolder import epoch_rows, read_metrics

    return epoch_rows(read_metrics(out))


def _status(out):
    return json.loads((out / "status.json").read_text())


def _toy_config(out, **changes):
    return TrainConfig(out=out, **{"epochs": 4, "batch_size": 4, "lr": TOY_LR, "threads": 1, **changes})


@pytest.mark.usefixtures("toy_model_registered")
def test_per_step_rows_lie_between_the_epoch_rows(tmp_path):
    from porelib.runfolder import read_metrics

    fit(ToyTask(), _toy_config(tmp_path, epochs=2), progress=False, command=["t"])
    rows = read_metrics(tmp_path)
    steps = [row for row in rows if "step" in row]
    assert steps[0]["step"] == 1 and 0 < steps[0]["epoch_progress"] <= 1  # the first step writes at once
    assert all("train_loss" in row and "epoch" not in row for row in steps)
    assert [row["step"] for row in steps] == sorted(row["step"] for row in steps)
    assert [row["epoch"] for row in _rows(tmp_path)] == [1, 2]


@pytest.mark.usefixtures("toy_model_registered")
def test_a_stopped_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    reference = ToyTask()
    fit(reference, _toy_config(straight), progress=False, command=["t"])
    with pytest.raises(TrainingStopped, match="stopped after epoch 2 of 4") as stopped:
        fit(ToyTask(stop_at=9), _toy_config(resumed), progress=False, command=["t"])  # epoch 3, batch 2
    assert stopped.value.epoch == 2
    status = _status(resumed)
    assert status["state"] == "stopped" and status["epoch"] == 2 and status["pid"] == os.getpid()
    assert [row["epoch"] for row in _rows(resumed)] == [1, 2]
    assert json.loads((resumed / "state.json").read_text())["epoch"] == 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone after fit

    task = ToyTask()
    result = fit(task, _toy_config(resumed), progress=False, command=["t", "--resume"], resume=True)
    assert result.resumed_from == 2 and [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    assert task.snapshots[0][0] == 8  # it continued at the first batch of epoch 3
    for key, value in reference.final.items():
        assert torch.equal(value, task.final[key]), key
    without_time = [{k: v for k, v in row.items() if k != "time_s"} for row in _rows(resumed)]
    assert without_time == [{k: v for k, v in row.items() if k != "time_s"} for row in _rows(straight)]
    card = json.loads((resumed / "card.json").read_text())
    assert card["resumed"][0]["from_epoch"] == 2 and card["resumed"][0]["command"] == "t --resume"
    assert card["command"] == "t" and card["epochs"] == 4 and card["duration_s"] >= 0
    assert _status(resumed)["state"] == "finished" and _status(resumed)["resumed_from"] == 2
    assert not list(resumed.glob("state*"))  # a finished run keeps no training state
    with pytest.raises(ValueError, match="already finished"):
        fit(ToyTask(), _toy_config(resumed), progress=False, command=["t"], resume=True)


@pytest.mark.usefixtures("toy_model_registered")
def test_sigterm_while_finalizing_stops_at_once_and_resume_only_finalizes(tmp_path):
    task = ToyTask(stop_in_finalize=True)
    with pytest.raises(TrainingStopped, match="after epoch 2 of 2"):
        fit(task, _toy_config(tmp_path, epochs=2), progress=False, command=["t"])
    assert not task.finalized and _status(tmp_path)["state"] == "stopped"
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 2
    task = ToyTask()
    result = fit(task, _toy_config(tmp_path, epochs=2), progress=False, command=["t"], resume=True)
    assert task.finalized and not task.snapshots and result.resumed_from == 2 and result.best_epoch >= 1
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["finalize"] == {"finalized": True} and card["resumed"][0]["from_epoch"] == 2
    assert _status(tmp_path)["state"] == "finished" and len(_rows(tmp_path)) == 2


@pytest.mark.usefixtures("toy_model_registered")
def test_resume_refuses_other_settings_and_missing_states(tmp_path):
    with pytest.raises(ValueError, match="nothing to resume in .*start the run without --resume"):
        fit(ToyTask(), _toy_config(tmp_path), progress=False, command=["t"], resume=True)
    assert not (tmp_path / "status.json").exists()
    with pytest.raises(TrainingStopped):
        fit(ToyTask(stop_at=5), _toy_config(tmp_path), progress=False, command=["t"])
    before = (tmp_path / "status.json").read_text()
    with pytest.raises(ValueError, match=r"training.epochs was 4, now 5; training.lr was 0.01, now 0.02"):
        fit(ToyTask(), _toy_config(tmp_path, epochs=5, lr=0.02), progress=False, command=["t"], resume=True)
    assert (tmp_path / "status.json").read_text() == before  # nothing written
    state = json.loads((tmp_path / "state.json").read_text())
    (tmp_path / state["tensors"]).unlink()
    with pytest.raises(ValueError, match="incomplete"):
        fit(ToyTask(), _toy_config(tmp_path), progress=False, command=["t"], resume=True)


REPO = Path(__file__).resolve().parent.parent


def _wait_for(predicate, process, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _finished_epochs(out):
    try:
        return _status(out)["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def test_a_run_killed_by_sigkill_keeps_its_checkpoint_and_resumes_through_the_cli(tmp_path, capsys):
    out, data = tmp_path / "run", tiny_dataset(tmp_path / "data")
    argv = ["train", "cvae", "--data", str(data), "--epochs", "4", "--limit", "8", "--out", str(out), *TINY_FLAGS]
    process = subprocess.Popen([sys.executable, "-m", "porelib", *argv], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: _finished_epochs(out) >= 1, process, timeout=120)
    finally:
        process.kill()
        process.wait()
    status = _status(out)
    assert status["state"] == "running" and status["pid"] == process.pid  # stale: the process is gone
    done = json.loads((out / "state.json").read_text())["epoch"]
    assert 1 <= done < 4
    model, card = load_checkpoint(out)
    assert model.config.width == 8 and 1 <= card["best_epoch"] <= done

    assert main([*argv, "--resume"]) == 0
    assert f"trained cvae for 4 epoch(s) (resumed after epoch {done})" in capsys.readouterr().out
    rows = _rows(out)
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    assert {"train_loss", "val_loss", "val_iou", "val_active_units", "val_prior_s2"} <= set(rows[0])
    card = json.loads((out / "card.json").read_text())
    assert card["command"] == "python -m porelib train cvae " + " ".join(argv[2:])
    assert card["resumed"][0]["from_epoch"] == done and card["resumed"][0]["command"].endswith(" --resume")
    assert card["data"]["fingerprint"] == load_dataset(data).fingerprint and card["data"]["train"] == 8
    assert card["epochs"] == 4 and card["duration_s"] > 0 and "val_loss" not in card["metrics"]
    assert card["metrics"]["loss"] == rows[card["best_epoch"] - 1]["val_loss"] == min(row["val_loss"] for row in rows)
    assert set(card["finalize"]["prior"]["temperature"]) == {str(knot) for knot in TEMPERATURE_KNOTS}
    status = _status(out)
    assert status["state"] == "finished" and status["epoch"] == 4 and status["error"] is None
    assert status["resumed_from"] == done and status["pid"] == os.getpid()
    assert not list(out.glob("state*"))
    model, _ = load_checkpoint(out)
    assert model.config.width == 8
    grids = tmp_path / "grids.npz"
    assert main(["generate", "--model", "cvae", "--checkpoint", str(out), "--density", "0.8", "--n", "2",
                 "--seed", "1", "--out", str(grids)]) == 0
    with np.load(grids, allow_pickle=False) as archive:
        assert archive["grids"].shape == (2, 30, 30, 30)


@pytest.mark.parametrize(
    "options",
    [{"model": {"critic_width": 4}}, {"loss": {"adversarial_weight": 0.1}}],
    ids=["critic-without-weight", "weight-without-critic"],
)
def test_cvae_task_wants_a_critic_and_its_weight_together(options):
    with pytest.raises(ValueError, match="a critic needs an adversarial weight and vice versa"):
        make_task("cvae", options, limit=4)


def test_a_cvae_trained_against_a_critic_steps_both_groups_and_generates(tmp_path, capsys):
    out, data = tmp_path / "run", tiny_dataset(tmp_path / "data")
    argv = ["train", "cvae", "--data", str(data), "--epochs", "1", "--limit", "8", "--out", str(out),
            "--critic-width", "4", "--adversarial-weight", "0.1", "--warmup-epochs", "0", *TINY_FLAGS]
    task = make_task("cvae", {"model": {"width": 8, "latent_channels": 2, "film_hidden": 8, "critic_width": 4},
                              "loss": {"adversarial_weight": 0.1}}, data=data)
    assert list(task.parameter_groups(task.build_model())) == ["critic", "model"]
    torch.manual_seed(0)
    untrained = task.build_model()
    assert main(argv) == 0
    row = _rows(out)[0]
    assert np.isfinite(row["train_critic"]) and np.isfinite(row["train_adversarial"])
    assert {"lr_critic", "lr_model"} <= set(row)
    model, card = load_checkpoint(out)
    assert model.critic is not None and card["config"]["critic_width"] == 4
    assert card["options"]["loss"]["adversarial_weight"] == 0.1
    assert not torch.equal(model.critic.head.parametrizations.weight.original, untrained.critic.head.parametrizations.weight.original)
    prior = card["finalize"]["prior"]
    assert prior["kind"] in {"standard_normal", "fitted"}
    ratios = card["finalize"]["val_ratios_by_setting"]
    assert set(ratios) == set(card["finalize"]["val_selection_score"]) == {"standard_normal", "fitted"}
    assert set(prior["temperature"]) == set(prior["smoothing"]) == {str(knot) for knot in TEMPERATURE_KNOTS}
    assert all(width in CVAE_WIDTHS for width in prior["smoothing"].values())
    assert model.smoothing.tolist() == pytest.approx(list(prior["smoothing"].values()))
    assert all(set(band) == set(SELECTION_STATISTICS) for table in ratios.values()
               for bands in table.values() for band in bands.values())
    grids = tmp_path / "grids.npz"
    assert main(["generate", "--model", "cvae", "--checkpoint", str(out), "--density", "0.8", "--n", "2",
                 "--seed", "1", "--out", str(grids)]) == 0
    with np.load(grids, allow_pickle=False) as archive:
        assert archive["grids"].shape == (2, 30, 30, 30)
        assert (archive["grids"].reshape(2, -1).sum(1) == round(float(expected_pore_voxels(0.8)))).all()


# ----------------------------------------------------------------------------- non-finite values


class _NonFiniteTask(ToyTask):
    """The toy task, made non-finite on purpose at ``at`` (``Progress.step``) in one of these ways.

    ``"gradient"``: a finite loss whose gradient into ``b.weight`` is NaN (``√(0·w)``);
    ``"loss"``: the loss times NaN; ``"weights"``: the model starts with a NaN in ``b.bias``;
    ``"batch"``: the training inputs hold one NaN; ``"overflow"``: at every step the loss
    ``a.weight[0, 0]`` (gradient 1), so that a huge learning rate pushes it past the float range;
    ``"finalize"``: :meth:`finalize` leaves a NaN in the weights it returns.
    """

    def __init__(self, how, *, at=0, groups=2):
        super().__init__(groups=groups)
        self.how, self.at = how, at

    def build_model(self):
        model = super().build_model()
        if self.how == "weights":
            with torch.no_grad():
                model.b.bias.fill_(float("nan"))
        return model

    def datasets(self):
        train, val = super().datasets()
        if self.how == "batch":
            x, y = train.tensors
            x = x.clone()
            x[5, 1] = float("nan")
            train = torch.utils.data.TensorDataset(x, y)
        return train, val

    def training_step(self, model, batch, progress):
        if self.how == "overflow":
            loss = model.a.weight[0, 0]
            return loss, {"loss": loss.item()}
        returned, parts = super().training_step(model, batch, progress)
        if progress.step != self.at or self.how not in ("gradient", "loss"):
            return returned, parts
        if self.how == "gradient":
            extra = torch.sqrt(0.0 * model.b.weight.sum())  # 0, with an infinite derivative times 0: NaN
        else:
            extra = torch.tensor(float("nan"))
        return {name: loss + extra for name, loss in returned.items()}, parts

    def finalize(self, model, device):
        if self.how == "finalize":
            with torch.no_grad():
                model.a.weight[0, 0] = float("inf")
        return {"finalized": True}


@pytest.mark.usefixtures("toy_model_registered")
def test_a_non_finite_gradient_stops_the_run_naming_the_parameter_and_keeps_the_last_good_checkpoint(tmp_path):
    # Step 4 = epoch 2, step 1 (4 batches per epoch); both groups step there, b's gradient is NaN.
    task = _NonFiniteTask("gradient", at=4)
    with pytest.raises(NonFiniteError) as raised:
        fit(task, TrainConfig(out=tmp_path, epochs=3, batch_size=4, lr=TOY_LR, threads=1), progress=False, command=["t"])
    message = str(raised.value)
    assert isinstance(raised.value, FloatingPointError)
    assert message.startswith("the gradient of group 'b' became non-finite at epoch 2, step 1 although the loss was finite")
    assert "b.weight (3 of 3 values: nan)" in message and "No weight was changed" in message
    assert "not the learning rate" in message and "lower --lr" not in message
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "failed" and status["epoch"] == 1 and "b.weight" in status["error"]
    model, card = load_checkpoint(tmp_path)  # epoch 1's, finite
    assert card["best_epoch"] == 1 and all(torch.isfinite(p).all() for p in model.state_dict().values())
    before = task.snapshots[-1][1]  # the weights at the start of the failed step, untouched by it
    assert all(torch.isfinite(p).all() for p in before)


@pytest.mark.usefixtures("toy_model_registered")
def test_weights_pushed_past_the_float_range_name_the_step_and_the_learning_rate(tmp_path):
    # AdamW moves a.weight[0, 0] by the learning rate per step: past 3.4e38 at the 12th step.
    config = TrainConfig(out=tmp_path, epochs=1, batch_size=1, lr=3e37, lr_warmup_epochs=0, min_lr_fraction=1.0,
                         threads=1)
    with pytest.raises(NonFiniteError, match=r"^the weights became non-finite in the optimiser step at epoch 1, "
                                             r"step 12 \(finite loss -3.3e\+38, gradient norm 1\): a.weight \(1 of 9 "
                                             r"values: inf\)\. .* lower --lr \(the learning rate of this step was 3e\+37\)$"):
        fit(_NonFiniteTask("overflow", groups=1), config, progress=False, command=["t"])
    assert not (tmp_path / "model.safetensors").exists() and not list(tmp_path.glob("state*"))


@pytest.mark.usefixtures("toy_model_registered")
@pytest.mark.parametrize(
    ("how", "at", "match"),
    [
        ("weights", 0, (r"the loss of group 'a' became nan at epoch 1, step 1 because the weights were already "
                        r"non-finite: b.bias \(1 of 1 values: nan\); they came with the model the run started from")),
        ("batch", None, (r"the loss of group 'a' became nan at epoch 1, step \d: the batch holds non-finite values "
                         r"\(batch\[0\] \(1 of 12 values: nan\)\); check the data, not the learning rate")),
        ("loss", 0, (r"the loss of group 'a' became nan at epoch 1, step 1, before any optimiser step of this run, "
                     r"with finite weights and data: .* the learning rate is not the cause")),
        ("loss", 2, (r"the loss of group 'a' became nan at epoch 1, step 3 with finite weights and data, after 2 "
                     r"optimiser step\(s\) of this run; lower --lr")),
    ],
)
def test_a_non_finite_loss_says_what_it_points_to(tmp_path, how, at, match):
    with pytest.raises(NonFiniteError, match=match) as raised:
        fit(_NonFiniteTask(how, at=at), TrainConfig(out=tmp_path, epochs=1, batch_size=4, lr=TOY_LR, threads=1),
            progress=False, command=["t"])
    if how != "loss" or at == 0:
        assert "lower --lr" not in str(raised.value)


@pytest.mark.usefixtures("toy_model_registered")
def test_a_non_finite_checkpoint_is_never_written(tmp_path):
    task = _NonFiniteTask("finalize", at=None)
    with pytest.raises(NonFiniteError, match=r"refusing to write the checkpoint finalised by _NonFiniteTask: "
                                             r"non-finite values in a.weight \(1 of 9 values: inf\)"):
        fit(task, TrainConfig(out=tmp_path, epochs=1, batch_size=4, lr=TOY_LR, threads=1), progress=False, command=["t"])
    model, card = load_checkpoint(tmp_path)  # the best epoch's weights, as evaluated
    assert "finalize" not in card and all(torch.isfinite(p).all() for p in model.state_dict().values())


def test_nonfinite_tensors_names_each_bad_tensor_once():
    tensors = [("a", torch.tensor([1.0, float("nan"), float("inf")])), ("b", torch.ones(3)), ("c", None),
               ("d", torch.arange(3)), ("e", torch.full((2, 2), -float("inf")))]
    assert nonfinite_tensors(tensors) == ["a (2 of 3 values: nan/inf)", "e (4 of 4 values: inf)"]
    assert nonfinite_tensors(tensors[1:2]) == [] and nonfinite_tensors([]) == []
    assert format_nonfinite([f"p{i}" for i in range(7)]) == "p0, p1, p2, p3, p4 and 2 more"


def test_fit_restores_the_thread_count(tmp_path, toy_model_registered):
    torch.set_num_threads(2)
    fit(ToyTask(), TrainConfig(out=tmp_path, epochs=1, batch_size=8, lr=TOY_LR, threads=1), progress=False, command=["t"])
    assert torch.get_num_threads() == 2


@pytest.mark.usefixtures("toy_model_registered")
def test_a_minutes_budget_sets_the_epochs_after_the_first_ones(tmp_path):
    with pytest.raises(ValueError, match="minutes must be a finite number >= 0.01"):
        TrainConfig(out=tmp_path, minutes=0)
    task = ToyTask(groups=1)
    config = TrainConfig(out=tmp_path, epochs=5, batch_size=4, lr=TOY_LR, threads=1, minutes=0.01)  # 0.6 s
    result = fit(task, config, progress=False, command=["t"])
    assert result.epochs == len(result.history) >= 2 and task.finalized  # decided after epochs 1 and 2, not 5
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["epochs"] == result.epochs and card["budget"] == {"minutes": 0.01, "epochs": result.epochs}
    assert card["training"]["minutes"] == 0.01 and not (tmp_path / "state.json").exists()
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "finished" and status["epochs"] == result.epochs


def test_cpu_threads_is_restored_after_the_block():
    import torch

    from porelib.devices import cpu_threads

    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
