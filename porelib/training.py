"""The one training engine of porelib: :func:`fit` trains any registered :class:`Task`.

``python -m porelib train MODEL ... --out DIR`` is a thin wrapper over
``fit(make_task(MODEL, options, data=..., limit=...), TrainConfig(...))``.

What the engine owns, for every model:

* the device (``auto`` = CUDA when present, with mixed precision there; else CPU with
  at most ``threads`` threads), seeding, the optimisers (one AdamW per parameter group of
  the task, :meth:`Task.parameter_groups`) and the learning-rate schedule (linear
  warm-up, then cosine decay, as a function of the batch count), gradient clipping;
* the finiteness checks of every step: the losses before the backward pass, the gradients
  before the optimiser step, the weights after it. A run stops with
  :class:`NonFiniteError` naming the loss, group and parameters and the epoch and step,
  and what they point to (the starting weights, the data, the backward pass, or the
  learning rate); no checkpoint or training state with a non-finite weight is written;
* the epoch loop with a progress bar (off when stderr is not a terminal);
* evaluation on the validation split only, under :func:`torch.no_grad`, after every epoch;
* the run folder ``DIR``:

  - ``metrics.jsonl``: one JSON object per epoch (``epoch``, ``lr`` (and ``lr_<group>``
    with several optimisers), ``time_s``, the training means ``train_*`` and the
    held-out metrics ``val_*``);
  - ``model.safetensors`` + ``card.json``: the best weights so far, by the task's
    ``monitor`` metric, written atomically (:mod:`porelib.checkpoint`); the card holds
    the model name and config, the exact command, the data source and fingerprint,
    start, end, duration, epochs, the held-out metrics of the best epoch, the code
    version (git commit), torch version, device and number of processes, and for a
    resumed run the epoch and command of every resume (``resumed``);
  - ``state.json`` + ``state-EEEEE.safetensors``: everything needed to resume after the
    last complete epoch (current and best weights, optimiser moments and settings, the
    best epoch so far, the settings the run must keep), written atomically after every
    epoch and removed when the run finishes; no pickle;
  - ``status.json``: ``state`` (``running``, ``finalizing``, ``finished``, ``failed``,
    ``stopped``), ``pid`` (of rank 0), ``host``, ``command``, ``args``, ``started``,
    ``ended``, ``epoch`` (done), ``epochs``, ``error`` (the traceback's tail of a failed
    run), ``resumed_from`` and ``world_size``. A run killed outright stays ``running``
    with a PID that no longer exists.

Stopping and resuming: SIGTERM makes :func:`fit` stop at the next batch (or at once
while the task finalises), mark the run ``stopped`` and raise :class:`TrainingStopped`
(the CLI exits with status 143). ``fit(..., resume=True)`` (``train ... --resume``)
continues a stopped or killed run from its last complete epoch to the same final epoch:
the data order and the random numbers of an epoch depend on the seed and the epoch only
(:func:`_train_loader`, :func:`_seed_epoch`), so the resumed run computes what the
uninterrupted one would have.

What a task owns (:class:`Task`): building its model from its config dataclass, its
train and validation data, the loss of one batch (a scalar tensor plus a dict of floats
for the log) and the held-out metrics, including the one that picks the best checkpoint.
Register a task with its model in :mod:`porelib.registry` (``task=`` of its entry).

Data parallelism: under ``torchrun`` every process runs :func:`fit` on its share of
the training data; see :func:`fit`.
"""

from __future__ import annotations

import abc
import argparse
import dataclasses
import json
import math
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from porelib import checkpoint, registry, runfolder
from porelib._validate import check_number, check_positive_int
from porelib.devices import DEVICES, select_device, warmup_cosine
from porelib.options import check_options, option, options_class

#: Lines of the traceback kept in ``status.json`` of a failed run.
ERROR_TAIL_LINES = 20
#: Seconds between two per-step rows of ``metrics.jsonl`` (the first step always writes one):
#: the Train page's curves move from the first minute without a synced write per step.
STEP_ROW_S = 2.0


# ----------------------------------------------------------------------------- configuration


@options_class
class TrainConfig:
    """Settings of a training run that do not depend on the model."""

    out: str | Path = option(help="Run folder: metrics, status, best checkpoint and card.")
    epochs: int = option(30, "Number of passes over the training data (at least 1).")
    batch_size: int = option(16, "Grids per optimiser step.")
    lr: float = option(2e-3, "Peak learning rate of AdamW.")
    weight_decay: float = option(0.0, "AdamW weight decay.")
    lr_warmup_epochs: float = option(1.0, "Epochs of linear learning-rate warm-up before the cosine decay.")
    min_lr_fraction: float = option(0.05, "Learning rate at the end of the cosine decay, as a fraction of `lr`.")
    grad_clip: float = option(1.0, "Largest gradient norm (0 disables clipping).")
    seed: int = option(0, "Seeds torch (weights, noise, augmentation) and the data order.")
    device: str = option("auto", "`auto` is CUDA when available, else CPU.", choices=DEVICES)
    threads: int = option(2, "Torch threads on the CPU.")
    limit: int | None = option(None, "Train on the first `limit` training grids only (tiny runs).")
    minutes: float | None = option(
        None,
        "Wall-clock budget in minutes: after the first epoch the run sets its number of epochs so that it ends "
        "within the budget (this replaces `epochs`).",
    )
    data: str | Path | None = option(None, "Dataset file or folder (default: the repository's `data/`).")

    def __post_init__(self):
        check_options(self)
        self.epochs = check_positive_int(self.epochs, "epochs", maximum=100_000)
        self.batch_size = check_positive_int(self.batch_size, "batch_size", maximum=65_536)
        self.threads = check_positive_int(self.threads, "threads", maximum=1024)
        self.seed = check_positive_int(self.seed, "seed", minimum=0)
        if self.limit is not None:
            self.limit = check_positive_int(self.limit, "limit")
        for name in ("lr", "weight_decay", "lr_warmup_epochs", "grad_clip"):
            setattr(self, name, check_number(getattr(self, name), name, minimum=0.0))
        self.min_lr_fraction = check_number(self.min_lr_fraction, "min_lr_fraction", minimum=0.0, maximum=1.0)
        if self.lr == 0:
            raise ValueError("lr must be positive; got 0")
        if self.minutes is not None:
            self.minutes = check_number(self.minutes, "minutes", minimum=0.01, maximum=10_000)
        if not str(self.out):
            raise ValueError("out must name a run folder, e.g. runs/cvae")

    def to_dict(self) -> dict:
        """JSON-ready values (paths as strings)."""
        return {key: (str(value) if isinstance(value, Path) else value) for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Progress:
    """Where training is.

    Attributes
    ----------
    epoch : int
        Current epoch, counted from 0.
    epochs : int
        Epochs of the run.
    fraction : float
        Fractional epoch (``epoch`` plus the share of its batches done).
    step : int
        Batches done since the start of the run, counted from 0 (the same on every
        process and after a resume; e.g. ``step % n_critic`` picks generator steps).
    """

    epoch: int
    epochs: int
    fraction: float
    step: int = 0


# ----------------------------------------------------------------------------- tasks


class Task(abc.ABC):
    """One trainable model: its data, loss and held-out metrics.

    Subclasses set :attr:`name`, :attr:`option_classes` (config dataclasses whose
    fields become command-line flags, grouped by key), :attr:`derived_options` (fields
    set from the data, not by the user), :attr:`monitor` and :attr:`monitor_mode`.

    Several optimisers (e.g. a GAN's generator and critic): :meth:`parameter_groups`
    names the groups, each with its parameters and optional AdamW overrides; the engine
    builds one AdamW per group, in dict order, all following the run's warm-up and cosine
    schedule. :meth:`training_step` then returns ``({group: loss, ...}, parts)``: for the
    groups in that dict (and only those) the engine zeroes the gradients, back-propagates
    each loss into its own group's parameters only (``backward(inputs=...)``), clips each
    group's gradient norm and steps each optimiser. All backward passes run before any
    optimiser step, so a loss may go through another group's weights (the generator's
    loss through the critic) without an in-place modification error. A group missing
    from the dict is not stepped on that batch, which is how a WGAN critic takes
    ``n_critic`` steps per generator step::

        class GANTask(Task):
            n_critic = 5

            def parameter_groups(self, model):
                return {
                    "critic": {"params": list(model.critic.parameters()), "betas": (0.0, 0.9)},
                    "generator": {"params": list(model.generator.parameters()), "betas": (0.0, 0.9)},
                }

            def training_step(self, model, batch, progress):
                grids, densities = batch
                fake = model.generator(torch.randn(len(grids), 64, device=grids.device), densities)
                critic = model.critic(fake.detach(), densities).mean() - model.critic(grids, densities).mean()
                losses = {"critic": critic}
                if progress.step % self.n_critic == 0:
                    losses["generator"] = -model.critic(fake, densities).mean()
                return losses, {"critic": critic.item()}

    Parameters
    ----------
    options : dict, optional
        ``{group: {field: value}}`` for the groups of :attr:`option_classes`;
        missing fields keep their defaults.
    data : str or Path, optional
        Dataset file or folder.
    limit : int, optional
        Use only the first ``limit`` training items.
    """

    name: ClassVar[str]
    option_classes: ClassVar[dict[str, type]] = {}
    derived_options: ClassVar[dict[str, tuple[str, ...]]] = {}
    monitor: ClassVar[str] = "loss"
    monitor_mode: ClassVar[str] = "min"
    #: Under ``torchrun`` with one parameter group, tell DistributedDataParallel that some
    #: parameters may get no gradient on a step (slower; set it only when that happens).
    find_unused_parameters: ClassVar[bool] = False

    def __init__(self, options: dict | None = None, *, data=None, limit: int | None = None):
        options = dict(options or {})
        unknown = set(options) - set(self.option_classes)
        if unknown:
            raise ValueError(f"unknown option group(s) {sorted(unknown)} for {self.name}; expected {list(self.option_classes)}")
        for group, values in options.items():
            known = {f.name for f in dataclasses.fields(self.option_classes[group])}
            known -= set(self.derived_options.get(group, ()))
            bad = set(values) - known
            if bad:
                raise ValueError(f"unknown {group} option(s) {sorted(bad)} for {self.name}; expected some of {sorted(known)}")
        self.options = options
        self.data = data
        self.limit = limit

    @abc.abstractmethod
    def build_model(self) -> torch.nn.Module:
        """A fresh model with a registered class (:data:`porelib.checkpoint.MODEL_CLASSES`)."""

    @abc.abstractmethod
    def datasets(self) -> tuple[Dataset, Dataset]:
        """The training and validation datasets (map-style torch datasets)."""

    @abc.abstractmethod
    def data_card(self) -> dict:
        """JSON-ready description of the data: at least ``source`` and ``fingerprint``."""

    def parameter_groups(self, model: torch.nn.Module) -> dict[str, dict]:
        """The optimiser groups: ``{name: {"params": [...], "lr": ..., "betas": ..., "weight_decay": ...}}``.

        One AdamW per entry, built in dict order; ``lr``, ``betas`` and ``weight_decay``
        are optional and default to the :class:`TrainConfig` values (``lr`` is the peak
        of the schedule). A parameter may belong to one group only. The default is one
        group, ``"model"``, holding every parameter.
        """
        return {"model": {"params": list(model.parameters())}}

    @abc.abstractmethod
    def training_step(
        self, model: torch.nn.Module, batch, progress: Progress
    ) -> tuple[torch.Tensor | dict[str, torch.Tensor], dict]:
        """Loss of one (already device-placed) batch and a dict of floats to log.

        Return ``(loss, parts)`` for a task with one parameter group, or
        ``({group: loss, ...}, parts)`` to step only the named groups of
        :meth:`parameter_groups` (see the class docstring). ``parts`` are averaged over
        the batches that logged them (and over the processes) and written as ``train_<key>``.

        Under ``torchrun`` with one parameter group, ``model`` is wrapped in
        DistributedDataParallel: run the forward pass through it (``model(...)``) so that
        the gradients are averaged, and reach the module's own attributes through
        ``getattr(model, "module", model)``. With several groups ``model`` is the plain
        module and the engine averages each group's gradients after the backward passes.
        """

    @abc.abstractmethod
    def evaluate(self, model: torch.nn.Module, loader, device: torch.device) -> dict[str, float]:
        """Held-out metrics over the validation loader; must contain :attr:`monitor`."""

    def finalize(self, model: torch.nn.Module, device: torch.device) -> dict | None:
        """Called once after training, on the best weights, before the final checkpoint.

        A task may complete the model here (the cVAE fits its generation prior) and
        return JSON-ready values for the card (key ``finalize``); ``None`` (the default)
        leaves the checkpoint as it is.
        """
        return None

    def write_run_files(self, out: Path) -> None:
        """Write files the run folder keeps beside the engine's (called once per run start, on rank 0).

        The default writes nothing; the material task saves the imported sample here.
        """

    def card(self) -> dict:
        """Task-specific values recorded in the card (the resolved options by default)."""
        return {"options": self.resolved_options()}

    def resolved_options(self) -> dict:
        """All option values in use, defaults included."""
        return {}


def task_class(name: str) -> type[Task]:
    """The :class:`Task` subclass of the trainable model ``name`` (:mod:`porelib.registry`).

    Raises
    ------
    ValueError
        If ``name`` is not a registered trainable model.
    """
    return registry.resolve(registry.entry(name, trainable=True).task)


def make_task(name: str, options: dict | None = None, *, data=None, limit: int | None = None) -> Task:
    """Instantiate the task registered as ``name`` (see :class:`Task` for the arguments)."""
    return task_class(name)(options, data=data, limit=limit)


def settings_fields() -> list[runfolder.OptionField]:
    """The engine's settings (:class:`TrainConfig`) as flags: ``--out``, ``--epochs``, ``--lr``, ..."""
    return runfolder.option_fields({None: TrainConfig})


def task_fields(name: str) -> list[runfolder.OptionField]:
    """The options of the task ``name`` as flags, without those derived from the data."""
    task = task_class(name)
    return runfolder.option_fields(task.option_classes, task.derived_options)


def train_parser(name: str, parser_class=argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags of ``python -m porelib train NAME``: the engine's settings, then the task's options by group.

    Every flag comes from a field of :class:`TrainConfig` or of the task's options classes
    (help and choices from the field's metadata, :mod:`porelib.options`), plus
    ``--no-progress`` and ``--resume``. Unset task flags stay ``None`` (the option's default applies).
    """
    entry = registry.entry(name, trainable=True)
    task = task_class(name)
    parser = parser_class(prog=f"porelib train {name}", description=f"Train the {entry.label} ({entry.summary})")
    runfolder.add_option_flags(parser, settings_fields(), title="run")
    run = parser.add_argument_group("progress")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --out from its last complete epoch (same flags as the run)")
    for group, cls in task.option_classes.items():
        fields = runfolder.option_fields({group: cls}, task.derived_options)
        runfolder.add_option_flags(parser, fields, title=f"{group} options")
    return parser


def fit_flags(name: str, flags: argparse.Namespace, *, command: list[str] | None = None) -> FitResult:
    """Train the task ``name`` with flags parsed by :func:`train_parser` (what ``python -m porelib train`` runs).

    Raises
    ------
    ValueError, TypeError
        For a bad setting or option, before anything is written.
    TrainingStopped
        As :func:`fit`.
    """
    config = TrainConfig(**runfolder.settings_from_namespace(flags, settings_fields()))
    task = make_task(name, runfolder.options_from_namespace(flags, task_fields(name)), data=config.data,
                     limit=config.limit)
    return fit(task, config, progress=not flags.no_progress, resume=flags.resume, command=command)


def batch_to(batch, device: torch.device):
    """Move a tensor, or a tuple/list of tensors, to ``device``."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(batch_to(item, device) for item in batch)
    return batch.to(device, non_blocking=True) if isinstance(batch, torch.Tensor) else batch


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


# ----------------------------------------------------------------------------- the engine


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    out : Path
        Run folder.
    best_epoch : int
        1-based epoch whose weights were kept.
    best_metrics : dict
        Held-out metrics of that epoch.
    epochs : int
        Epochs run.
    duration_s : float
        Wall time of the run, in seconds (over every session of a resumed run, counting
        the epochs kept).
    history : list of dict
        The rows of ``metrics.jsonl`` (on rank 0; the other processes hold this session's rows).
    resumed_from : int or None
        Epochs done before this session, for a resumed run.
    """

    out: Path
    best_epoch: int
    best_metrics: dict
    epochs: int
    duration_s: float
    history: list = field(default_factory=list)
    resumed_from: int | None = None


@dataclass
class _Distributed:
    """This process's place among the processes of a run, and the few collectives the engine uses.

    A single process is rank 0 of 1, and every collective is then the identity. Under
    ``torchrun`` the values come from its environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``); ``device`` is where the collectives' tensors live (the GPU for NCCL).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over the ranks (every rank passes the same number of values)."""
        if not self.active or not values:
            return list(values)
        total = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(total)
        return total.tolist()

    def any(self, *flags: bool) -> list[bool]:
        """For each flag, whether it is set on any rank."""
        return [value > 0 for value in self.sum([float(bool(flag)) for flag in flags])]

    def mean(self, values: dict) -> dict:
        """``values`` with its numbers averaged over the ranks (the same keys on every rank; ints stay ints)."""
        keys = sorted(key for key, value in values.items() if isinstance(value, (int, float)) and not isinstance(value, bool))
        means = [total / self.world_size for total in self.sum([float(values[key]) for key in keys])]
        return {**values, **{key: (round(m) if isinstance(values[key], int) else m) for key, m in zip(keys, means)}}

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def broadcast_bytes(self, data: bytes | None) -> bytes:
        """``data`` of rank 0, on every rank."""
        if not self.active:
            return data
        size = torch.tensor([len(data) if self.is_main else 0], dtype=torch.int64, device=self.device)
        torch.distributed.broadcast(size, 0)
        buffer = (torch.frombuffer(bytearray(data), dtype=torch.uint8).to(self.device) if self.is_main
                  else torch.empty(int(size.item()), dtype=torch.uint8, device=self.device))
        torch.distributed.broadcast(buffer, 0)
        return bytes(buffer.cpu().numpy())

    def broadcast_tensors(self, tensors: dict[str, torch.Tensor] | None, layout: list) -> dict[str, torch.Tensor]:
        """Rank 0's ``tensors`` (CPU) on every rank; ``layout`` lists ``[key, dtype, shape]`` in order."""
        if not self.active:
            return tensors
        received = {}
        for key, dtype, shape in layout:
            tensor = (tensors[key].to(self.device) if self.is_main
                      else torch.empty(shape, dtype=getattr(torch, dtype), device=self.device))
            torch.distributed.broadcast(tensor, 0)
            received[key] = tensor.cpu()
        return received

    def average_gradients(self, params: list[torch.Tensor]) -> None:
        """Replace the gradients of ``params`` by their mean over the ranks (one flat all-reduce)."""
        if not self.active:
            return
        grads = [param.grad for param in params if param.grad is not None]
        if not grads:
            return
        flat = torch.cat([grad.reshape(-1) for grad in grads])
        torch.distributed.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def close(self) -> None:
        """Destroy the process group if this run created it."""
        if self.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _distributed_context(device_name: str) -> tuple[_Distributed, torch.device]:
    """The rank context and the device of this process; joins the process group under ``torchrun``.

    One process per device: under ``torchrun`` on CUDA, rank ``LOCAL_RANK`` of a node uses
    ``cuda:LOCAL_RANK`` and NCCL; on the CPU the processes talk through gloo.

    Raises
    ------
    ValueError
        For a bad device, or more processes on a node than it has GPUs.
    """
    device = select_device(device_name)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return _Distributed(device=device), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"torchrun started more processes on this node than it has GPUs ({torch.cuda.device_count()}); "
                f"use --nproc-per-node {torch.cuda.device_count()} or --device cpu"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns_group = not torch.distributed.is_initialized()
    if owns_group:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    context = _Distributed(rank, world_size, local_rank, device if device.type == "cuda" else torch.device("cpu"), owns_group)
    return context, device


def _autocast(device: torch.device):
    """Mixed precision on CUDA (bfloat16 where supported, else float16); nothing on CPU."""
    if device.type != "cuda":
        return torch.autocast("cpu", enabled=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


#: AdamW settings a parameter group of :meth:`Task.parameter_groups` may override.
GROUP_OVERRIDES = ("lr", "betas", "weight_decay")


def _build_optimizers(task: Task, model: torch.nn.Module, config: TrainConfig) -> dict[str, torch.optim.AdamW]:
    """One AdamW per group of ``task.parameter_groups(model)``, in its order.

    Each optimiser's param group keeps its peak learning rate under ``peak_lr``
    (see :func:`_set_learning_rates`).

    Raises
    ------
    TypeError, ValueError
        If the groups are not a non-empty dict of ``{"params": [...], ...}``, a group is
        empty, holds an unknown setting, or shares a parameter with another group.
    """
    owner = type(task).__name__
    groups = task.parameter_groups(model)
    if not isinstance(groups, dict) or not groups:
        raise TypeError(f"{owner}.parameter_groups must return a non-empty dict {{name: {{'params': [...]}}}}; got {groups!r}")
    seen: dict[int, str] = {}
    optimizers = {}
    for name, spec in groups.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"parameter group names of {owner} must be identifiers (e.g. 'generator'); got {name!r}")
        if not isinstance(spec, dict) or "params" not in spec:
            raise TypeError(f"{owner}.parameter_groups()[{name!r}] must be a dict with a 'params' list")
        unknown = set(spec) - {"params", *GROUP_OVERRIDES}
        if unknown:
            raise ValueError(f"parameter group {name!r} of {owner} has unknown setting(s) {sorted(unknown)}; "
                             f"expected some of {list(GROUP_OVERRIDES)}")
        params = list(spec["params"])
        if not params:
            raise ValueError(f"parameter group {name!r} of {owner} holds no parameters")
        for param in params:
            if id(param) in seen:
                raise ValueError(f"a parameter of {owner} is in both groups {seen[id(param)]!r} and {name!r}; "
                                 "each parameter may belong to one group only")
            seen[id(param)] = name
        settings = {"lr": config.lr, "weight_decay": config.weight_decay}
        settings.update({key: spec[key] for key in GROUP_OVERRIDES if key in spec})
        optimizer = torch.optim.AdamW(params, **settings)
        for group in optimizer.param_groups:
            group["peak_lr"] = group["lr"]
        optimizers[name] = optimizer
    return optimizers


def _set_learning_rates(optimizers: dict[str, torch.optim.Optimizer], factor: float) -> None:
    """Set every group's learning rate to its peak times ``factor`` (see :func:`porelib.devices.warmup_cosine`).

    The schedule is a function of the batch count, not of how often a group stepped,
    so a group skipped on some batches follows the same warm-up and decay as the others.
    """
    for optimizer in optimizers.values():
        for group in optimizer.param_groups:
            group["lr"] = group["peak_lr"] * factor


def _step_losses(returned, groups: tuple[str, ...], task: Task) -> dict[str, torch.Tensor]:
    """The losses of one :meth:`Task.training_step` as ``{group: loss}``, in the order returned.

    Raises
    ------
    TypeError, ValueError
        For a single loss when the task has several groups, an empty dict, or an unknown group.
    """
    owner = type(task).__name__
    if isinstance(returned, torch.Tensor):
        if len(groups) > 1:
            raise TypeError(f"{owner}.training_step returned one loss, but the task has the parameter groups "
                            f"{list(groups)}; return ({{group: loss, ...}}, parts)")
        return {groups[0]: returned}
    if not isinstance(returned, dict) or not returned:
        raise TypeError(f"{owner}.training_step must return a loss tensor or a non-empty dict {{group: loss}}; got {returned!r}")
    unknown = [name for name in returned if name not in groups]
    if unknown:
        raise ValueError(f"{owner}.training_step returned losses for unknown group(s) {unknown}; its groups are {list(groups)}")
    return dict(returned)


def _learning_rates(optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
    """``{"lr": ...}`` of the first group, plus ``lr_<group>`` of every group when there are several."""
    rates = {name: float(optimizer.param_groups[0]["lr"]) for name, optimizer in optimizers.items()}
    first = next(iter(rates.values()))
    return {"lr": first, **({f"lr_{name}": rate for name, rate in rates.items()} if len(rates) > 1 else {})}


def _group_parameters(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [param for group in optimizer.param_groups for param in group["params"]]


#: Tensors named in a message about non-finite values; the rest are counted.
NONFINITE_SHOWN = 5


class NonFiniteError(FloatingPointError):
    """Raised by :func:`fit` when a loss, a gradient or a weight stops being finite.

    The message names what became non-finite (the loss, the gradients or the weights of
    which parameters, of which group), at which epoch and step, and what that points to.
    """


def nonfinite_tensors(named) -> list[str]:
    """Describe the tensors of ``named`` that hold a NaN or an infinity.

    Parameters
    ----------
    named : iterable of (str, Tensor or None)
        Names and tensors of any shape and device; ``None`` (a parameter without a
        gradient) is skipped. All tensors are checked with one synchronisation.

    Returns
    -------
    list of str
        ``"NAME (k of n values: nan/inf)"`` for every tensor with a non-finite value, in
        the given order; empty when all are finite.
    """
    named = [(name, tensor.detach()) for name, tensor in named if tensor is not None]
    if not named:
        return []
    finite = torch.stack([torch.isfinite(tensor).all().to(named[0][1].device) for _, tensor in named]).tolist()
    described = []
    for (name, tensor), ok in zip(named, finite):
        if not ok:
            kinds = [kind for kind, test in (("nan", torch.isnan), ("inf", torch.isinf)) if bool(test(tensor).any())]
            count = int((~torch.isfinite(tensor)).sum())
            described.append(f"{name} ({count} of {tensor.numel()} values: {'/'.join(kinds)})")
    return described


def format_nonfinite(described: list[str]) -> str:
    """The first :data:`NONFINITE_SHOWN` entries of :func:`nonfinite_tensors` and how many more, as one phrase."""
    more = len(described) - NONFINITE_SHOWN
    return ", ".join(described[:NONFINITE_SHOWN]) + (f" and {more} more" if more > 0 else "")


def _of_group(group: str, separate: bool) -> str:
    return f" of group {group!r}" if separate else ""


def _check_finite_state(state: dict[str, torch.Tensor], what: str) -> None:
    """Refuse to write ``what`` (a checkpoint, a training state) when a tensor of ``state`` is not finite.

    Raises
    ------
    NonFiniteError
        Naming the tensors.
    """
    bad = nonfinite_tensors(state.items())
    if bad:
        raise NonFiniteError(f"refusing to write {what}: non-finite values in {format_nonfinite(bad)}")


def _optimise(
    losses: dict[str, torch.Tensor],
    optimizers: dict[str, torch.optim.Optimizer],
    scaler: torch.amp.GradScaler,
    grad_clip: float,
    *,
    separate: bool,
    dist: _Distributed,
    names: dict[int, str] | None = None,
    where: str = "this step",
) -> None:
    """One optimisation step of the groups in ``losses``.

    Every loss is back-propagated first (into its own group's parameters only when
    ``separate``), then each group is clipped and stepped: stepping one group before the
    next backward pass would modify weights that the later loss's graph still needs.
    With several groups and several processes, each group's gradients are averaged over
    the processes here (with one group, DistributedDataParallel has done it in backward).

    Non-finite values never reach the weights unnoticed: before any group steps, every
    gradient of the stepped groups must be finite (a NaN or infinite gradient would turn
    every weight into NaN through the clipping and AdamW), and after the step every weight
    of those groups must be finite. Under a float16 :class:`~torch.amp.GradScaler` an
    infinite gradient is expected now and then (the scaler skips that step), so only
    the weights are checked there. The averaged gradients and the weights are the same
    on every process, so every process raises together.

    Parameters
    ----------
    names : dict, optional
        ``id(parameter) -> name`` for the messages (default: the position in its group).
    where : str
        Where training is (``"epoch 2, step 5"``), for the messages.

    Raises
    ------
    NonFiniteError
        Naming the group, the parameters and the step, when a gradient or a weight is not finite.
    """
    names = names or {}
    values = {name: loss.item() for name, loss in losses.items()}  # as computed, before any weight changes
    for name in losses:
        optimizers[name].zero_grad(set_to_none=True)
    last = len(losses) - 1
    for index, (name, loss) in enumerate(losses.items()):
        inputs = _group_parameters(optimizers[name]) if separate else None
        scaler.scale(loss).backward(inputs=inputs, retain_graph=index < last)
    if separate:
        for name in losses:
            dist.average_gradients(_group_parameters(optimizers[name]))

    def named(group: str, value) -> list[tuple[str, torch.Tensor | None]]:
        params = _group_parameters(optimizers[group])
        return [(names.get(id(param), f"{group}[{index}]"), value(param)) for index, param in enumerate(params)]

    if not scaler.is_enabled():
        for group in losses:
            bad = nonfinite_tensors(named(group, lambda param: param.grad))
            if bad:
                weights = nonfinite_tensors(named(group, lambda param: param.detach()))
                cause = (
                    f"the weights were already non-finite before the step: {format_nonfinite(weights)}" if weights else
                    "the weights were finite, so the backward pass of this batch produced them, not the learning "
                    "rate (look for an overflow or a division by zero in the loss or the model, e.g. under "
                    "reduced precision)"
                )
                raise NonFiniteError(
                    f"the gradient{_of_group(group, separate)} became non-finite at {where} although the loss was "
                    f"finite ({values[group]:.6g}): {format_nonfinite(bad)}. No weight was changed; {cause}"
                )
    norms = {}
    for name in losses:
        optimizer = optimizers[name]
        if grad_clip:
            scaler.unscale_(optimizer)
            norms[name] = float(torch.nn.utils.clip_grad_norm_(_group_parameters(optimizer), grad_clip))
        scaler.step(optimizer)
    scaler.update()
    for group in losses:
        bad = nonfinite_tensors(named(group, lambda param: param.detach()))
        if bad:
            lr = optimizers[group].param_groups[0]["lr"]
            norm = f", gradient norm {norms[group]:.6g}" if group in norms else ""
            raise NonFiniteError(
                f"the weights{_of_group(group, separate)} became non-finite in the optimiser step at {where} "
                f"(finite loss {values[group]:.6g}{norm}): {format_nonfinite(bad)}. The step was too large for them: "
                f"lower --lr (the learning rate of this step was {lr:.3g})"
            )


def _train_loader(dataset: Dataset, config: TrainConfig, dist: _Distributed) -> DataLoader:
    """The shuffled training loader of this process.

    A :class:`~torch.utils.data.DistributedSampler` (seeded with ``config.seed``; the
    engine calls ``set_epoch``) gives each of the ``world_size`` processes its share of a
    permutation that depends on the seed and the epoch only, so a resumed run sees the
    batches of an uninterrupted one. The batch of each process is ``config.batch_size``
    grids: the global batch is ``batch_size × world_size``.
    """
    sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=config.seed)
    share = len(sampler)
    batch_size = min(config.batch_size, share)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=share >= 2 * batch_size)


def _seed_epoch(seed: int, epoch: int, rank: int) -> None:
    """Seed torch's generators (CPU and CUDA) from ``(seed, epoch, rank)`` at the start of an epoch.

    The random augmentation and noise of an epoch then depend on these three numbers
    only: a resumed run draws what an uninterrupted one draws (no generator state needs
    saving), and the processes of a run draw differently.
    """
    torch.manual_seed(int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1, dtype=np.uint64)[0]))


def _wrap_for_processes(model: torch.nn.Module, task: Task, dist: _Distributed, device: torch.device,
                        *, separate: bool) -> torch.nn.Module:
    """The model as :meth:`Task.training_step` receives it when several processes train.

    One parameter group: DistributedDataParallel (its backward pass averages the
    gradients; ``find_unused_parameters`` when the task sets it). Several groups (a loss
    per group, backward passes into parts of the model): the plain model, with rank 0's
    weights copied to every process, and :func:`_optimise` averages each group's gradients.
    """
    if not dist.active:
        return model
    if separate:
        for tensor in model.state_dict().values():
            torch.distributed.broadcast(tensor, 0)
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=task.find_unused_parameters,
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def code_version() -> dict:
    """The git commit of the repository and the files under porelib/ that differ from it (``None`` outside git)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "porelib"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "modified": None}
    if commit.returncode != 0:
        return {"commit": None, "modified": None}
    return {"commit": commit.stdout.strip(), "modified": [line[3:] for line in status.stdout.splitlines()]}


def _is_better(value: float, best: float | None, mode: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return best is None or (value < best if mode == "min" else value > best)


# ----------------------------------------------------------------------------- stopping and resuming


class TrainingStopped(Exception):
    """Raised by :func:`fit` when it was asked to stop (SIGTERM); the run can be resumed.

    Attributes
    ----------
    epoch : int
        Epochs done and saved in the run folder's training state.
    epochs : int
        Epochs of the run.
    """

    def __init__(self, epoch: int, epochs: int):
        super().__init__(f"stopped after epoch {epoch} of {epochs}; continue with the same command plus --resume")
        self.epoch, self.epochs = epoch, epochs


class _StopRequest:
    """What a SIGTERM does while :func:`fit` runs (see :func:`_stop_on_sigterm`).

    During the epochs it only sets :attr:`requested`; the loop stops at the next batch on
    every process at once. Once :attr:`immediate` (after the last epoch, while the task
    finalises), it raises :class:`TrainingStopped` where the process is.
    """

    def __init__(self, epochs: int):
        self.epochs = epochs
        self.requested = False
        self.immediate = False

    def handle(self, signum, frame) -> None:
        self.requested = True
        if self.immediate:
            raise TrainingStopped(self.epochs, self.epochs)


@contextmanager
def _stop_on_sigterm(request: _StopRequest):
    """Route SIGTERM to ``request`` (main thread only: elsewhere signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, request.handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


#: Settings a resumed run must share with the run it continues (schedule and data order depend on them).
RESUME_SETTINGS = ("epochs", "minutes", "batch_size", "lr", "weight_decay", "lr_warmup_epochs", "min_lr_fraction",
                   "grad_clip", "seed", "limit")


def _run_identity(task: Task, config: TrainConfig, data_card: dict, dist: _Distributed) -> dict:
    """The JSON values that a resumed run must share with its state: task, options, data, settings, processes."""
    return json.loads(json.dumps({
        "task": task.name,
        "options": task.resolved_options(),
        "data_fingerprint": data_card.get("fingerprint"),
        "training": {key: getattr(config, key) for key in RESUME_SETTINGS},
        "world_size": dist.world_size,
    }))


def _differences(saved, current, prefix: str = "") -> list[str]:
    """``"key was A, now B"`` for every leaf where two JSON values differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        return [line for key in {**saved, **current}
                for line in _differences(saved.get(key), current.get(key), f"{prefix}{key}.")]
    return [] if saved == current else [f"{prefix.rstrip('.')} was {saved!r}, now {current!r}"]


def _check_resumable(out: Path, info: dict, identity: dict) -> None:
    """Raise ``ValueError`` naming every difference between a saved state and this run."""
    differences = _differences({key: info.get(key) for key in identity}, identity)
    if differences:
        raise ValueError(
            f"cannot resume {out}: " + "; ".join(differences)
            + ". Resume with the run's own settings (its status.json lists them) or start a new run without --resume"
        )


def _read_status(out: Path) -> dict:
    try:
        return json.loads((out / runfolder.STATUS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _resume_state(out: Path, identity: dict, dist: _Distributed) -> tuple[dict[str, torch.Tensor], dict]:
    """The saved training state of ``out`` on every process (read by rank 0, then broadcast).

    Raises
    ------
    ValueError
        On every process, when there is nothing to resume or the state belongs to another
        configuration (see :func:`_check_resumable`).
    """
    tensors, header = None, None
    if dist.is_main:
        try:
            if _read_status(out).get("state") == "finished":
                raise ValueError(f"the run in {out} already finished all its epochs; nothing to resume "
                                 "(start a new run without --resume)")
            tensors, info = checkpoint.load_training_state(out)
            _check_resumable(out, info, identity)
            layout = [[key, str(value.dtype).removeprefix("torch."), list(value.shape)] for key, value in tensors.items()]
            header = {"info": info, "layout": layout}
        except ValueError as exc:
            header = {"error": str(exc)}
    header = json.loads(dist.broadcast_bytes(json.dumps(header).encode() if dist.is_main else None))
    if "error" in header:
        raise ValueError(header["error"])
    return dist.broadcast_tensors(tensors, header["layout"]), header["info"]


def _optimizer_state(optimizers: dict[str, torch.optim.Optimizer]) -> tuple[dict[str, torch.Tensor], dict]:
    """The optimisers' states split into tensors (``optimizer/<group>/<index>/<name>``) and JSON values."""
    tensors, info = {}, {}
    for name, optimizer in optimizers.items():
        state_dict = optimizer.state_dict()
        other: dict[str, dict] = {}
        for index, values in state_dict["state"].items():
            for key, value in values.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer/{name}/{index}/{key}"] = value
                else:
                    other.setdefault(str(index), {})[key] = value
        info[name] = {"param_groups": state_dict["param_groups"], "state": other}
    return tensors, info


def _restore_optimizers(optimizers: dict[str, torch.optim.Optimizer], info: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Load what :func:`_optimizer_state` saved into ``optimizers``."""
    if list(info) != list(optimizers):
        raise ValueError(f"the saved state has the optimiser groups {list(info)}, this task {list(optimizers)}; "
                         "start a new run without --resume")
    for name, optimizer in optimizers.items():
        state = {int(index): dict(values) for index, values in info[name]["state"].items()}
        prefix = f"optimizer/{name}/"
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, _, field_name = key[len(prefix):].partition("/")
                state.setdefault(int(index), {})[field_name] = value
        optimizer.load_state_dict({"state": state, "param_groups": info[name]["param_groups"]})


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str, device: torch.device) -> dict[str, torch.Tensor]:
    return {key[len(prefix):]: value.to(device) for key, value in tensors.items() if key.startswith(prefix)}


@dataclass
class _Best:
    """The best epoch so far by the task's monitor metric (``state``: its weights, on rank 0)."""

    value: float | None = None
    epoch: int = 0
    metrics: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- the run folder


class _RunFolder:
    """The files of a run; every write happens on rank 0 only."""

    def __init__(self, out: Path, dist: _Distributed, command: list[str]):
        self.out, self.dist, self.command = out, dist, command
        self.status: dict[str, Any] = {}

    def start(self, *, started: str, epochs: int, resumed_from: int | None) -> list[dict]:
        """Open the run: a fresh ``metrics.jsonl`` (no old training state), or for a resumed run
        the epoch rows up to ``resumed_from`` (rows of epochs done after the state was saved
        are dropped); then ``status.json``. Returns the kept rows."""
        if not self.dist.is_main:
            return []
        self.out.mkdir(parents=True, exist_ok=True)
        rows = []
        if resumed_from is None:
            checkpoint.remove_training_state(self.out)
        else:
            rows = [row for row in runfolder.epoch_rows(runfolder.read_metrics(self.out)) if row["epoch"] <= resumed_from]
        runfolder.write_metrics(self.out, rows)
        self.status = {
            "state": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": shlex.join(self.command),
            "args": self.command,
            "started": started,
            "ended": None,
            "epoch": resumed_from or 0,
            "epochs": epochs,
            "error": None,
            "resumed_from": resumed_from,
            "world_size": self.dist.world_size,
        }
        runfolder.write_json(self.out / runfolder.STATUS_FILE, self.status)
        return rows

    def update(self, **values) -> None:
        if not self.dist.is_main:
            return
        self.status.update(values)
        runfolder.write_json(self.out / runfolder.STATUS_FILE, self.status)

    def log(self, row: dict) -> None:
        if self.dist.is_main:
            runfolder.append_metrics(self.out, row)


def _default_command() -> list[str]:
    return [Path(sys.executable).name, *sys.argv] if sys.argv and sys.argv[0] else ["python"]


# ----------------------------------------------------------------------------- the loop


@dataclass
class _Loop:
    """The pieces of one run that every epoch uses."""

    task: Task
    config: TrainConfig
    model: torch.nn.Module
    optimizers: dict[str, torch.optim.Optimizer]
    scaler: torch.amp.GradScaler
    loader: DataLoader
    dist: _Distributed
    device: torch.device
    stop: _StopRequest
    bar: Any
    #: Receives a per-step row (``step``, ``epoch_progress``, ``train_*`` of that one step) at most every
    #: :data:`STEP_ROW_S` seconds (the run folder's ``metrics.jsonl``, between the epoch rows).
    log_step: Any = None
    #: ``id(parameter) -> name`` of the model's parameters (for the messages about non-finite values).
    names: dict[int, str] = field(init=False)
    #: Optimiser steps taken in this session (0: the weights are those the run started from).
    steps_done: int = field(init=False, default=0)
    #: ``time.monotonic()`` of the last per-step row.
    last_step_row: float = field(init=False, default=-math.inf)

    def __post_init__(self):
        self.names = {id(param): name for name, param in _unwrap(self.model).named_parameters()}

    @property
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def learning_rate_factor(self, step: int) -> float:
        warmup = max(1, round(self.config.lr_warmup_epochs * self.steps_per_epoch))
        return warmup_cosine(step, warmup_steps=warmup, total_steps=self.steps_per_epoch * self.config.epochs,
                          min_fraction=self.config.min_lr_fraction)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over this process's share of the training data; the parts' means over all processes.

        Raises
        ------
        TrainingStopped
            When a process received SIGTERM (checked on every batch, on every process at once).
        NonFiniteError
            When a loss is not finite on any process, or a gradient or a weight of a stepped
            group is not finite (:func:`_optimise`); the message says which and at which step.
        """
        task, config, dist = self.task, self.config, self.dist
        _seed_epoch(config.seed, epoch, dist.rank)
        self.loader.sampler.set_epoch(epoch)
        self.model.train()
        separate = len(self.optimizers) > 1
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for step, batch in enumerate(self.loader):
            global_step = epoch * self.steps_per_epoch + step
            _set_learning_rates(self.optimizers, self.learning_rate_factor(global_step))
            batch = batch_to(batch, self.device)
            with _autocast(self.device):
                returned, parts = task.training_step(
                    self.model, batch, Progress(epoch, config.epochs, epoch + step / self.steps_per_epoch, global_step)
                )
            losses = _step_losses(returned, tuple(self.optimizers), task)
            bad = {name: loss.item() for name, loss in losses.items() if not torch.isfinite(loss)}
            stop, not_finite = dist.any(self.stop.requested, bool(bad))
            if stop:
                raise TrainingStopped(epoch, config.epochs)
            where = f"epoch {epoch + 1}, step {step + 1}"
            if not_finite:
                raise NonFiniteError(self._nonfinite_loss_message(bad, batch, where, separate=separate))
            _optimise(losses, self.optimizers, self.scaler, config.grad_clip, separate=separate, dist=dist,
                      names=self.names, where=where)
            self.steps_done += 1
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + 1
            self.bar.update(1)
            if self.log_step is not None and time.monotonic() - self.last_step_row >= STEP_ROW_S:
                self.last_step_row = time.monotonic()
                self.log_step({"step": global_step + 1, "epoch_progress": round(epoch + (step + 1) / self.steps_per_epoch, 4),
                               **{f"train_{key}": value for key, value in parts.items()}})  # fmt: skip
            shown = parts.get("loss", next(iter(losses.values())).item())
            self.bar.set_postfix(epoch=f"{epoch + 1}/{config.epochs}", loss=f"{shown:.4g}")
        keys = sorted(sums)
        totals = dist.sum([sums[key] for key in keys] + [float(counts[key]) for key in keys])
        return {key: totals[index] / totals[len(keys) + index] for index, key in enumerate(keys)}

    def evaluate(self, loader: DataLoader) -> dict:
        """The task's held-out metrics, averaged over the processes (each evaluates the whole split)."""
        self.model.eval()
        with torch.no_grad(), _autocast(self.device):
            held_out = self.task.evaluate(_unwrap(self.model), loader, self.device)
        if self.task.monitor not in held_out:
            raise KeyError(f"{type(self.task).__name__}.evaluate did not return its monitor metric {self.task.monitor!r}")
        return self.dist.mean(held_out)


    def _nonfinite_loss_message(self, bad: dict[str, float], batch, where: str, *, separate: bool) -> str:
        """Why the loss of this step is not finite, as far as the weights and the batch tell.

        Weights already non-finite (named) point to where the run got them; a batch
        with non-finite values to the data; a first step with finite weights and data to
        the loss of that batch; only after optimiser steps with finite weights and data
        is the learning rate a likely cause.
        """
        if not bad:
            return f"the loss became non-finite in another process at {where}"
        name, value = next(iter(bad.items()))
        what = f"the loss{_of_group(name, separate)} became {value} at {where}"
        weights = nonfinite_tensors(_unwrap(self.model).named_parameters())
        if weights:
            origin = ("they came with the model the run started from (--init-from's checkpoint or the resumed state)"
                      if self.steps_done == 0 else "they passed the checks of the previous step, so look at the task")
            return f"{what} because the weights were already non-finite: {format_nonfinite(weights)}; {origin}"
        tensors = batch if isinstance(batch, (tuple, list)) else [batch]
        data = nonfinite_tensors((f"batch[{index}]", tensor) for index, tensor in enumerate(tensors)
                                 if isinstance(tensor, torch.Tensor) and tensor.is_floating_point())
        if data:
            return f"{what}: the batch holds non-finite values ({format_nonfinite(data)}); check the data, not the learning rate"
        if self.steps_done == 0:
            return (f"{what}, before any optimiser step of this run, with finite weights and data: the loss is not "
                    "finite for this batch, so the learning rate is not the cause")
        return f"{what} with finite weights and data, after {self.steps_done} optimiser step(s) of this run; lower --lr"


#: Most epochs a ``--minutes`` budget may give a run.
MAX_BUDGET_EPOCHS = 100_000


#: Epochs after which a ``--minutes`` run sets its number of epochs: the first gives an
#: estimate at once, the second a steadier one (the first also pays for warming up).
BUDGET_DECISIONS = (1, 2)


def _epochs_in_budget(config: TrainConfig, elapsed_s: float, epoch_s: float, done: int,
                      dist: _Distributed) -> TrainConfig:
    """``config`` with the epochs that fit ``config.minutes``: ``done`` plus what the time left allows at ``epoch_s``.

    Rank 0 decides and every rank follows, so all processes run the same epochs.
    """
    remaining = config.minutes * 60 - elapsed_s
    epochs = max(done, min(MAX_BUDGET_EPOCHS, done + math.floor(remaining / max(epoch_s, 1e-6))))
    decided = dist.broadcast_bytes(str(epochs).encode() if dist.is_main else None)
    return dataclasses.replace(config, epochs=int(decided.decode()))


def _save_state(out: Path, loop: _Loop, best: _Best, info: dict, *, epoch: int) -> None:
    """The training state after ``epoch`` epochs (rank 0): current and best weights, optimisers, scaler, ``info``.

    Raises
    ------
    NonFiniteError
        When a weight is not finite (nothing is written then).
    """
    model_state = _unwrap(loop.model).state_dict()
    tensors = {f"model/{key}": value for key, value in model_state.items()}
    tensors.update({f"best/{key}": value for key, value in best.state.items()})
    _check_finite_state(tensors, f"the training state of epoch {epoch}")
    optimizer_tensors, optimizer_info = _optimizer_state(loop.optimizers)
    tensors.update(optimizer_tensors)
    checkpoint.save_training_state(out, tensors, {
        **info,
        "optimizers": optimizer_info,
        "scaler": loop.scaler.state_dict(),
        "best": {"epoch": best.epoch, "value": best.value, "metrics": best.metrics},
    }, epoch=epoch)


def _disk_full_message(exc: OSError, out: Path, *, done: int) -> str:
    """What a user reads when a run stopped on a full disk: what is intact on disk and how to go on."""
    try:
        best_epoch = runfolder.read_card(out).get("best_epoch")
    except ValueError:
        best_epoch = None
    kept = (f"the best checkpoint so far (epoch {best_epoch}, {runfolder.WEIGHTS_FILE} + {runfolder.CARD_FILE})"
            if best_epoch else "no checkpoint had been written yet")
    state = f"the training state of epoch {done}" if done else "no training state"
    return (f"the disk is full ({exc.strerror or 'no space left'}) while writing {exc.filename or 'the run folder'}; "
            f"training stopped after epoch {done}. In {out}, {kept} and {state} are intact: free some space and run "
            "the same command with --resume")


def _record_failure(run: _RunFolder, error: str) -> None:
    """Mark the run failed with ``error``; on a full disk, where even that cannot be written, print it."""
    try:
        run.update(state="failed", ended=_now(), error=error)
    except OSError as exc:
        print(f"could not record the failure in {runfolder.STATUS_FILE} ({exc.strerror}): {error}", file=sys.stderr)


def fit(task: Task | str, config: TrainConfig, *, progress: bool = True, command: list[str] | None = None,
        resume: bool = False) -> FitResult:
    """Train ``task`` with ``config``; write metrics, status, the best checkpoint and the training state into ``config.out``.

    On the CPU the run uses ``config.threads`` torch threads; the previous count is restored
    when :func:`fit` returns or raises.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls :func:`fit`: it joins the
    process group (NCCL with ``cuda:LOCAL_RANK`` on CUDA, gloo on the CPU) unless it is
    already initialised, and leaves it at the end, also after an error. Each process
    trains on its share of every epoch with batches of ``config.batch_size`` (the global
    batch is ``batch_size × world_size``); the gradients are averaged (one parameter
    group: DistributedDataParallel, with ``find_unused_parameters`` when the task sets
    it); every process evaluates the whole validation split and the training means and
    held-out metrics are averaged over the processes, so all of them keep the same best
    epoch. Only rank 0 writes files, shows progress and finalises (after a barrier);
    ``status.json`` holds its PID. SIGTERM and resuming work as for one process (a resumed
    run needs the same number of processes; rank 0 reads the state and sends it to the others).

    Parameters
    ----------
    task : Task or str
        A task, or the name of a registered one (built with default options).
    config : TrainConfig
    progress : bool
        Show a progress bar (only when stderr is a terminal).
    command : list of str, optional
        The command line recorded in the card and status (default: this process's).
    resume : bool
        Continue the run in ``config.out`` from its training state (the end of its last
        complete epoch) to ``config.epochs``. The task, its options, the data and the
        :data:`RESUME_SETTINGS` must be those of the run.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        For a bad configuration or data, or a run that cannot be resumed (before anything is written).
    TrainingStopped
        When the process received SIGTERM; ``status.json`` then says ``stopped``.
    NonFiniteError
        (a :class:`FloatingPointError`) when a loss, a gradient or a weight stops being
        finite; ``status.json`` then says ``failed``. No checkpoint or training state with
        a non-finite weight is ever written: the run folder keeps those of the last good epoch.
    """
    if isinstance(task, str):
        task = make_task(task, data=config.data, limit=config.limit)
    if not isinstance(task, Task):
        raise TypeError(f"task must be a Task or a registered name; got {type(task).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig; got {type(config).__name__}")
    dist, device = _distributed_context(config.device)
    threads = torch.get_num_threads()
    try:
        command = list(command) if command is not None else _default_command()
        return _fit(task, config, dist, device, progress=progress, command=command, resume=resume)
    finally:
        dist.close()
        torch.set_num_threads(threads)  # the run's --threads do not outlive it


def _fit(task: Task, config: TrainConfig, dist: _Distributed, device: torch.device, *, progress: bool,
         command: list[str], resume: bool) -> FitResult:
    if device.type == "cpu":
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    out = Path(config.out)
    clock = time.perf_counter()
    train_set, val_set = task.datasets()
    model = task.build_model().to(device)
    optimizers = _build_optimizers(task, model, config)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and not torch.cuda.is_bf16_supported())
    data_card = task.data_card()
    identity = _run_identity(task, config, data_card, dist)
    best, start_epoch, elapsed_before, resumes = _Best(), 0, 0.0, []
    if resume:
        tensors, saved = _resume_state(out, identity, dist)
        start_epoch, elapsed_before, card = saved["epoch"], saved["elapsed_s"], saved["card"]
        model.load_state_dict(_prefixed(tensors, "model/", device))
        _restore_optimizers(optimizers, saved["optimizers"], tensors)
        if saved["scaler"] and scaler.is_enabled():
            scaler.load_state_dict(saved["scaler"])
        best = _Best(saved["best"]["value"], saved["best"]["epoch"], saved["best"]["metrics"],
                     _prefixed(tensors, "best/", device) if dist.is_main else {})
        resumes = [*saved["resumes"], {"from_epoch": start_epoch, "at": _now(), "command": shlex.join(command),
                                       "code": code_version(), "device": str(device)}]
        config = dataclasses.replace(config, epochs=saved.get("total_epochs", config.epochs))  # a --minutes run's count
        del tensors
    else:
        card = {
            "task": task.name,
            "command": shlex.join(command),
            "code": code_version(),
            "data": data_card,
            "training": config.to_dict(),
            **task.card(),
            "started": _now(),
            "torch": torch.__version__,
            "device": str(device),
            "threads": torch.get_num_threads() if device.type == "cpu" else None,
            "world_size": dist.world_size,
            "monitor": {"metric": f"val_{task.monitor}", "mode": task.monitor_mode},
        }
    resumed = {"resumed": resumes} if resumes else {}
    model = _wrap_for_processes(model, task, dist, device, separate=len(optimizers) > 1)
    loader = _train_loader(train_set, config, dist)
    val_loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False)
    run = _RunFolder(out, dist, command)
    history = run.start(started=card["started"], epochs=config.epochs, resumed_from=start_epoch if resume else None)
    if dist.is_main:
        task.write_run_files(out)
    stop = _StopRequest(config.epochs)
    show = progress and dist.is_main and sys.stderr.isatty()
    try:
        from tqdm.auto import tqdm

        with _stop_on_sigterm(stop):
            bar = tqdm(total=len(loader) * config.epochs, initial=len(loader) * start_epoch, disable=not show,
                       desc=task.name, unit="step", dynamic_ncols=True)
            loop = _Loop(task, config, model, optimizers, scaler, loader, dist, device, stop, bar, log_step=run.log)
            epoch = start_epoch
            while epoch < config.epochs:
                epoch_start = time.perf_counter()
                train_parts = loop.train_epoch(epoch)
                held_out = loop.evaluate(val_loader)
                row = {
                    "epoch": epoch + 1,
                    **_learning_rates(optimizers),
                    "time_s": round(time.perf_counter() - epoch_start, 3),
                    **{f"train_{key}": value for key, value in train_parts.items()},
                    **{f"val_{key}": value for key, value in held_out.items()},
                }
                history.append(row)
                run.log(row)
                if _is_better(held_out[task.monitor], best.value, task.monitor_mode):
                    best = _Best(held_out[task.monitor], epoch + 1, held_out, {})
                    if dist.is_main:
                        best.state = {key: value.detach().clone() for key, value in _unwrap(model).state_dict().items()}
                        _check_finite_state(best.state, f"the checkpoint of epoch {epoch + 1}")
                        checkpoint.save_checkpoint(out, _unwrap(model), card={
                            **card, **resumed, "best_epoch": best.epoch, "epochs": epoch + 1, "metrics": best.metrics,
                        })
                if config.minutes is not None and epoch + 1 in BUDGET_DECISIONS:
                    now = time.perf_counter()
                    config = _epochs_in_budget(config, elapsed_before + now - clock, now - epoch_start, epoch + 1, dist)
                    loop.config, stop.epochs = config, config.epochs
                    bar.total = len(loader) * config.epochs
                    run.update(epochs=config.epochs)
                if dist.is_main:
                    elapsed = elapsed_before + time.perf_counter() - clock
                    _save_state(out, loop, best, {**identity, "elapsed_s": round(elapsed, 3), "card": card,
                                                  "resumes": resumes, "total_epochs": config.epochs}, epoch=epoch + 1)
                run.update(epoch=epoch + 1)
                epoch += 1
            bar.close()
            if dist.any(stop.requested)[0]:
                raise TrainingStopped(config.epochs, config.epochs)
            stop.immediate = True
            dist.barrier()
            duration = elapsed_before + time.perf_counter() - clock
            if dist.is_main and best.epoch:
                run.update(state="finalizing")
                final = _unwrap(model)
                final.load_state_dict(best.state)
                final.eval()
                extra = task.finalize(final, device)
                duration = elapsed_before + time.perf_counter() - clock
                final_card = runfolder.read_card(out)
                final_card.update(resumed, finished=_now(), duration_s=round(duration, 1), epochs=config.epochs)
                if config.minutes is not None:
                    final_card["budget"] = {"minutes": config.minutes, "epochs": config.epochs}
                if extra is not None:
                    final_card["finalize"] = extra
                    _check_finite_state(final.state_dict(), f"the checkpoint finalised by {type(task).__name__}")
                    checkpoint.save_checkpoint(out, final, card=final_card)
                else:
                    runfolder.write_json(out / runfolder.CARD_FILE, final_card)
            run.update(state="finished", ended=_now())
            if dist.is_main:
                checkpoint.remove_training_state(out)
    except (TrainingStopped, KeyboardInterrupt):
        run.update(state="stopped", ended=_now())
        raise
    except BaseException as exc:
        if runfolder.is_disk_full(exc):
            message = _disk_full_message(exc, out, done=int(run.status.get("epoch") or 0))
            _record_failure(run, message)
            raise runfolder.DiskFull(exc.errno, message) from exc
        tail = traceback.format_exc().strip().splitlines()[-ERROR_TAIL_LINES:]
        _record_failure(run, "\n".join(tail) or repr(exc))
        raise
    return FitResult(out, best.epoch, best.metrics, config.epochs, duration, history,
                     resumed_from=start_epoch if resume else None)


__all__ = [
    "DEVICES",
    "FitResult",
    "NonFiniteError",
    "Progress",
    "RESUME_SETTINGS",
    "Task",
    "TrainConfig",
    "TrainingStopped",
    "fit",
    "format_nonfinite",
    "make_task",
    "nonfinite_tensors",
    "select_device",
    "task_class",
]
