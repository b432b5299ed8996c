"""A toy task for the training engine's tests (single process and torchrun alike).

Two linear layers on 16 random 3-vectors whose target is their sum. With ``groups=2``
the layers are separate optimiser groups: ``a`` steps on every batch, ``b`` (half the
learning rate) on even batches only.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.utils.data import TensorDataset

from porelib import registry
from porelib.training import Task, TrainConfig, fit

TOY_LR = 0.01


@dataclass
class ToyConfig:
    features: int = 3


class ToyModel(torch.nn.Module):
    """Two linear layers, ``a`` then ``b``."""

    def __init__(self, config: ToyConfig):
        super().__init__()
        self.config = config
        self.a = torch.nn.Linear(config.features, config.features)
        self.b = torch.nn.Linear(config.features, 1)

    def forward(self, x):
        return self.b(self.a(x))


#: The registry entry that lets porelib.checkpoint save and load :class:`ToyModel` (registered by the tests that need it).
TOY_ENTRY = registry.ModelEntry(
    "toy", "Toy", "reconstructor", "A test model.",
    model=f"{ToyModel.__module__}:{ToyModel.__qualname__}", config=f"{ToyConfig.__module__}:{ToyConfig.__qualname__}",
)


class ToyTask(Task):
    """The toy task.

    Parameters
    ----------
    groups : {1, 2}
        One optimiser group, or ``a`` and ``b`` (see the module docstring).
    noise : float
        Standard deviation of the Gaussian noise added to the inputs at every step.
    stop_at : int, optional
        Send SIGTERM to this process during that batch (``Progress.step``).
    stop_in_finalize : bool
        Send SIGTERM to this process in :meth:`finalize`.

    ``snapshots`` holds ``(step, parameters)`` at the start of every training step,
    ``final`` the weights seen by the last evaluation and ``finalized`` whether
    :meth:`finalize` completed.
    """

    name = "toy"

    def __init__(self, options=None, *, data=None, limit=None, groups=2, noise=0.1, stop_at=None,
                 stop_in_finalize=False):
        super().__init__(options, data=data, limit=limit)
        self.groups, self.noise, self.stop_at, self.stop_in_finalize = groups, noise, stop_at, stop_in_finalize
        self.snapshots = []
        self.final = {}
        self.finalized = False

    def build_model(self):
        return ToyModel(ToyConfig())

    def datasets(self):
        x = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
        return TensorDataset(x, x.sum(1, keepdim=True)), TensorDataset(x[:4], x[:4].sum(1, keepdim=True))

    def data_card(self):
        return {"source": "toy", "fingerprint": "toy"}

    def parameter_groups(self, model):
        if self.groups == 1:
            return super().parameter_groups(model)
        return {"a": {"params": list(model.a.parameters())},
                "b": {"params": list(model.b.parameters()), "lr": 0.5 * TOY_LR}}

    def training_step(self, model, batch, progress):
        self.snapshots.append((progress.step, [p.detach().clone() for p in model.parameters()]))
        if progress.step == self.stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        x, y = batch
        loss = torch.nn.functional.mse_loss(model(x + self.noise * torch.randn_like(x)), y)
        if self.groups == 1:
            return loss, {"loss": loss.item()}
        losses = {"a": loss, "b": 2 * loss} if progress.step % 2 == 0 else {"a": loss}
        return losses, {"loss": loss.item()}

    def evaluate(self, model, loader, device):
        self.final = {key: value.clone() for key, value in model.state_dict().items()}
        return {"loss": float(sum(torch.nn.functional.mse_loss(model(x), y) for x, y in loader))}

    def finalize(self, model, device):
        if self.stop_in_finalize:
            os.kill(os.getpid(), signal.SIGTERM)
        self.finalized = True
        return {"finalized": True}


def distributed_worker(rank: int, world_size: int, port: int, out: str, batch_size: int) -> None:
    """One process of a gloo run of the toy task (for :func:`torch.multiprocessing.spawn`).

    Joins the process group itself (so :func:`fit` finds it initialised and leaves it
    open), then trains 2 epochs without noise, with one and with two optimiser groups,
    into ``out/groups1`` and ``out/groups2``; the final weights of each rank go to
    ``final-rank{rank}.safetensors`` there.
    """
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    registry.register(TOY_ENTRY)
    torch.distributed.init_process_group("gloo")
    try:
        for groups in (1, 2):
            task = ToyTask(groups=groups, noise=0.0)
            folder = os.path.join(out, f"groups{groups}")
            fit(task, TrainConfig(out=folder, epochs=2, batch_size=batch_size, lr=TOY_LR, threads=1, device="cpu"),
                progress=False, command=["toy"])
            save_file(task.final, os.path.join(folder, f"final-rank{rank}.safetensors"))
    finally:
        torch.distributed.destroy_process_group()


#: A cVAE small enough to train an epoch on 8 grids in seconds (``python -m porelib train cvae ...``).
TINY_CVAE_FLAGS = ["--width", "8", "--latent-channels", "2", "--film-hidden", "8", "--threads", "1", "--no-progress"]


def tiny_dataset(folder) -> Path:
    """A simulated dataset of 20 grids (16 train, 2 val, 2 test) in ``folder``, for fast end-to-end runs."""
    from porelib.data import build_dataset

    return build_dataset(20, seed=0, out_dir=folder, n_examples=0).parent
