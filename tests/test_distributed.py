"""Data-parallel training (gloo on the CPU): torchrun end to end, and that several processes
compute what one process computes with the global batch."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from toy_training import (
    TINY_CVAE_FLAGS,
    TOY_ENTRY,
    TOY_LR,
    ToyTask,
    distributed_worker,
    tiny_dataset,
)

from porelib import registry
from porelib.checkpoint import load_checkpoint
from porelib.training import TrainConfig, fit

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("single_thread")


def _rows(out):
    """The per-epoch rows of the run's metrics.jsonl (per-step rows lie between them)."""
    from porelib.runfolder import epoch_rows, read_metrics

    return epoch_rows(read_metrics(out))


def test_torchrun_with_two_processes_writes_one_checkpoint(tmp_path):
    out, data = tmp_path / "run", tiny_dataset(tmp_path / "data")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "porelib", "train", "cvae", "--data", str(data), "--limit", "8", "--epochs", "1",
               "--out", str(out), *TINY_CVAE_FLAGS]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained cvae for 1 epoch") == 1  # rank 0 reports, rank 1 stays quiet
    assert sorted(path.name for path in out.iterdir()) == ["card.json", "metrics.jsonl", "model.safetensors", "status.json"]
    model, card = load_checkpoint(out)
    assert model.config.width == 8
    assert card["world_size"] == 2 and card["best_epoch"] == 1 and card["epochs"] == 1 and "finalize" in card
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "finished" and status["world_size"] == 2 and status["epoch"] == 1
    rows = _rows(out)
    assert len(rows) == 1 and rows[0]["epoch"] == 1 and rows[0]["val_loss"] == card["metrics"]["loss"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_train_like_one_with_the_global_batch(tmp_path, monkeypatch):
    """2 processes × batch 4 and 1 process × batch 8 see the same 8 grids per step (the sampler
    interleaves one permutation), so averaged gradients give the same weights: through
    DistributedDataParallel (one optimiser group) and through the engine's own averaging (two)."""
    torch.multiprocessing.spawn(distributed_worker, args=(2, _free_port(), str(tmp_path), 4), nprocs=2)
    monkeypatch.setattr(registry, "_ENTRIES", {**registry._ENTRIES, "toy": TOY_ENTRY})
    for groups in (1, 2):
        folder = tmp_path / f"groups{groups}"
        ranks = [load_file(folder / f"final-rank{rank}.safetensors") for rank in (0, 1)]
        reference = ToyTask(groups=groups, noise=0.0)
        config = TrainConfig(out=tmp_path / f"single{groups}", epochs=2, batch_size=8, lr=TOY_LR, threads=1)
        fit(reference, config, progress=False, command=["toy"])
        for key, value in reference.final.items():
            assert torch.equal(ranks[0][key], ranks[1][key]), f"ranks disagree on {key} ({groups} group(s))"
            torch.testing.assert_close(ranks[0][key], value, rtol=1e-5, atol=1e-6)
        for two, one in zip(_rows(folder), _rows(config.out), strict=True):
            assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-5)
            assert two["val_loss"] == pytest.approx(one["val_loss"], rel=1e-5)
        assert json.loads((folder / "card.json").read_text())["world_size"] == 2
