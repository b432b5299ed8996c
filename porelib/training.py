"""The one training engine of porelib: :func:`fit` trains any registered :class:`Task`.

``python -m porelib train MODEL ... --out DIR`` is a thin wrapper over
``fit(make_task(MODEL, options, data=..., limit=...), TrainConfig(...))``.

What the engine owns, for every model:

* the device (``auto`` = CUDA when present, with mixed precision there; else CPU with
  at most ``threads`` threads), seeding, the optimisers (one AdamW per parameter group of
  the task, :meth:`Task.parameter_groups`) and the learning-rate schedule (linear
  warm-up, then cosine decay, as a function of the batch count), gradient clipping;
* the epoch loop with a progress bar (off when stderr is not a terminal);
* evaluation on the validation split only, under :func:`torch.no_grad`, after every epoch;
* the run folder ``DIR``:

  - ``metrics.jsonl``: one JSON object per epoch (``epoch``, ``lr``, ``time_s``, the
    training means ``train_*`` and the held-out metrics ``val_*``);
  - ``model.safetensors`` + ``card.json``: the best weights so far, by the task's
    ``monitor`` metric, written atomically (:mod:`porelib.checkpoint`); the card holds
    the model name and config, the exact command, the data source and fingerprint,
    start, end, duration, epochs, the held-out metrics of the best epoch, the code
    version (git commit), torch version and device;
  - ``status.json``: ``state`` (``running``, ``finished``, ``failed``), PID, command,
    start/end, current epoch and, for a failed run, the tail of the error.

What a task owns (:class:`Task`): building its model from its config dataclass, its
train and validation data, the loss of one batch (a scalar tensor plus a dict of floats
for the log) and the held-out metrics, including the one that picks the best checkpoint.
Register a task by adding it to :data:`TASKS`.

Data parallelism: only the process of rank 0 writes files or shows progress, and the
training data goes through a sampler hook (:func:`_train_loader`) where a
``DistributedSampler`` plugs in. Running under ``torchrun`` (several processes) is not
implemented yet and is refused with a clear message.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import math
import os
import shlex
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import import_module
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import DataLoader, Dataset

from porelib import checkpoint
from porelib._validate import check_choice, check_number, check_positive_int

DEVICES = ("auto", "cpu", "cuda")
METRICS_FILE = "metrics.jsonl"
STATUS_FILE = "status.json"
#: Lines of the traceback kept in ``status.json`` of a failed run.
ERROR_TAIL_LINES = 20


# ----------------------------------------------------------------------------- configuration


@dataclass
class TrainConfig:
    """Settings of a training run that do not depend on the model.

    Attributes
    ----------
    out : str or Path
        Run folder: metrics, status, best checkpoint and card.
    epochs : int
        Number of passes over the training data (at least 1).
    batch_size : int
        Grids per optimiser step.
    lr : float
        Peak learning rate of AdamW.
    weight_decay : float
        AdamW weight decay.
    lr_warmup_epochs : float
        Epochs of linear learning-rate warm-up before the cosine decay.
    min_lr_fraction : float
        Learning rate at the end of the cosine decay, as a fraction of ``lr``.
    grad_clip : float
        Largest gradient norm (0 disables clipping).
    seed : int
        Seeds torch (weights, noise, augmentation) and the data order.
    device : {"auto", "cpu", "cuda"}
        ``auto`` is CUDA when available, else CPU.
    threads : int
        Torch threads on the CPU.
    limit : int, optional
        Train on the first ``limit`` training grids only (tiny runs).
    data : str or Path, optional
        Dataset file or folder (default: the repository's ``data/``).
    """

    out: str | Path
    epochs: int = 30
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.0
    lr_warmup_epochs: float = 1.0
    min_lr_fraction: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    threads: int = 2
    limit: int | None = None
    data: str | Path | None = None

    def __post_init__(self):
        self.epochs = check_positive_int(self.epochs, "epochs", maximum=100_000)
        self.batch_size = check_positive_int(self.batch_size, "batch_size", maximum=65_536)
        self.threads = check_positive_int(self.threads, "threads", maximum=1024)
        self.seed = check_positive_int(self.seed, "seed", minimum=0)
        if self.limit is not None:
            self.limit = check_positive_int(self.limit, "limit")
        check_choice(self.device, DEVICES, "device")
        for name in ("lr", "weight_decay", "lr_warmup_epochs", "grad_clip"):
            setattr(self, name, check_number(getattr(self, name), name, minimum=0.0))
        self.min_lr_fraction = check_number(self.min_lr_fraction, "min_lr_fraction", minimum=0.0, maximum=1.0)
        if self.lr == 0:
            raise ValueError("lr must be positive; got 0")
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
        the batches that logged them and written as ``train_<key>``.
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

    def card(self) -> dict:
        """Task-specific values recorded in the card (the resolved options by default)."""
        return {"options": self.resolved_options()}

    def resolved_options(self) -> dict:
        """All option values in use, defaults included."""
        return {}


#: Registered tasks: ``train`` name -> ``"module:Class"`` (imported when used).
TASKS: dict[str, str] = {
    "cvae": "porelib.tasks.cvae:CVAETask",
    "unet": "porelib.tasks.unet:UNetTask",
    "img2vox": "porelib.tasks.img2vox:Img2VoxTask",
}


def task_class(name: str) -> type[Task]:
    """The :class:`Task` subclass registered as ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not in :data:`TASKS`.
    """
    check_choice(name, tuple(TASKS), "model")
    module, _, cls = TASKS[name].partition(":")
    return getattr(import_module(module), cls)


def make_task(name: str, options: dict | None = None, *, data=None, limit: int | None = None) -> Task:
    """Instantiate the task registered as ``name`` (see :class:`Task` for the arguments)."""
    return task_class(name)(options, data=data, limit=limit)


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
        Wall time of the run, in seconds.
    history : list of dict
        The rows of ``metrics.jsonl``.
    """

    out: Path
    best_epoch: int
    best_metrics: dict
    epochs: int
    duration_s: float
    history: list = field(default_factory=list)


@dataclass(frozen=True)
class _Distributed:
    """Rank information; a single process is rank 0 of 1."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _distributed_context() -> _Distributed:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:
        raise ValueError(
            f"this run was started with {world_size} processes (torchrun), but data-parallel training "
            "is not implemented yet; run a single process"
        )
    return _Distributed()


def select_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error.

    Raises
    ------
    ValueError
        For an unknown name, or ``cuda`` on a machine without CUDA.
    """
    check_choice(name, DEVICES, "device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but torch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(name)


def _autocast(device: torch.device):
    """Mixed precision on CUDA (bfloat16 where supported, else float16); nothing on CPU."""
    if device.type != "cuda":
        return torch.autocast("cpu", enabled=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _lr_factor(step: int, *, warmup_steps: int, total_steps: int, min_fraction: float) -> float:
    """Linear warm-up to 1, then cosine decay to ``min_fraction`` at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_fraction + (1 - min_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


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
    """Set every group's learning rate to its peak times ``factor`` (see :func:`_lr_factor`).

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


def _optimise(
    losses: dict[str, torch.Tensor],
    optimizers: dict[str, torch.optim.Optimizer],
    scaler: torch.amp.GradScaler,
    grad_clip: float,
    *,
    separate: bool,
) -> None:
    """One optimisation step of the groups in ``losses``.

    Every loss is back-propagated first (into its own group's parameters only when
    ``separate``), then each group is clipped and stepped: stepping one group before the
    next backward pass would modify weights that the later loss's graph still needs.
    """
    for name in losses:
        optimizers[name].zero_grad(set_to_none=True)
    last = len(losses) - 1
    for index, (name, loss) in enumerate(losses.items()):
        inputs = _group_parameters(optimizers[name]) if separate else None
        scaler.scale(loss).backward(inputs=inputs, retain_graph=index < last)
    for name in losses:
        optimizer = optimizers[name]
        if grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(_group_parameters(optimizer), grad_clip)
        scaler.step(optimizer)
    scaler.update()


def _train_loader(dataset: Dataset, config: TrainConfig, dist: _Distributed) -> DataLoader:
    """The shuffled training loader; the hook where a ``DistributedSampler`` goes for torchrun."""
    generator = torch.Generator().manual_seed(config.seed)
    batch_size = min(config.batch_size, len(dataset))
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=len(dataset) >= 2 * batch_size, generator=generator)


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


class _RunFolder:
    """The files of a run; every write happens on rank 0 only."""

    def __init__(self, out: Path, dist: _Distributed, command: list[str]):
        self.out, self.dist, self.command = out, dist, command
        self.status: dict[str, Any] = {}

    def start(self) -> None:
        if not self.dist.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / METRICS_FILE).write_text("")
        self.status = {
            "state": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": shlex.join(self.command),
            "args": self.command,
            "started": _now(),
            "ended": None,
            "epoch": 0,
            "epochs": None,
            "error": None,
        }
        checkpoint.write_json(self.out / STATUS_FILE, self.status)

    def update(self, **values) -> None:
        if not self.dist.is_main:
            return
        self.status.update(values)
        checkpoint.write_json(self.out / STATUS_FILE, self.status)

    def log(self, row: dict) -> None:
        if not self.dist.is_main:
            return
        with open(self.out / METRICS_FILE, "a") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()


def _default_command() -> list[str]:
    return [Path(sys.executable).name, *sys.argv] if sys.argv and sys.argv[0] else ["python"]


def fit(task: Task | str, config: TrainConfig, *, progress: bool = True, command: list[str] | None = None) -> FitResult:
    """Train ``task`` with ``config``; write metrics, status and the best checkpoint into ``config.out``.

    Parameters
    ----------
    task : Task or str
        A task, or the name of a registered one (built with default options).
    config : TrainConfig
    progress : bool
        Show a progress bar (only when stderr is a terminal).
    command : list of str, optional
        The command line recorded in the card and status (default: this process's).

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        For a bad configuration or data (before anything is written).
    """
    if isinstance(task, str):
        task = make_task(task, data=config.data, limit=config.limit)
    if not isinstance(task, Task):
        raise TypeError(f"task must be a Task or a registered name; got {type(task).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig; got {type(config).__name__}")
    dist = _distributed_context()
    device = select_device(config.device)
    if device.type == "cpu":
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    command = list(command) if command is not None else _default_command()
    run = _RunFolder(Path(config.out), dist, command)
    train_set, val_set = task.datasets()
    model = task.build_model().to(device)
    train_loader = _train_loader(train_set, config, dist)
    val_loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False)
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = max(1, round(config.lr_warmup_epochs * steps_per_epoch))
    optimizers = _build_optimizers(task, _unwrap(model), config)
    group_names = tuple(optimizers)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and not torch.cuda.is_bf16_supported())
    started, clock = _now(), time.perf_counter()
    base_card = {
        "task": task.name,
        "command": shlex.join(command),
        "code": code_version(),
        "data": task.data_card(),
        "training": config.to_dict(),
        **task.card(),
        "started": started,
        "torch": torch.__version__,
        "device": str(device),
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "world_size": dist.world_size,
        "monitor": {"metric": f"val_{task.monitor}", "mode": task.monitor_mode},
    }
    run.start()
    run.update(epochs=config.epochs)
    history: list[dict] = []
    best_value, best_epoch, best_metrics, best_state = None, 0, {}, {}
    show = progress and dist.is_main and sys.stderr.isatty()
    try:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, disable=not show, desc=task.name, unit="step", dynamic_ncols=True)
        for epoch in range(config.epochs):
            model.train()
            epoch_start = time.perf_counter()
            sums: dict[str, float] = {}
            counts: dict[str, int] = {}
            for step, batch in enumerate(train_loader):
                global_step = epoch * steps_per_epoch + step
                _set_learning_rates(optimizers, _lr_factor(
                    global_step, warmup_steps=warmup_steps, total_steps=total_steps, min_fraction=config.min_lr_fraction,
                ))
                batch = batch_to(batch, device)
                with _autocast(device):
                    returned, parts = task.training_step(
                        model, batch, Progress(epoch, config.epochs, epoch + step / steps_per_epoch, global_step)
                    )
                losses = _step_losses(returned, group_names, task)
                for name, loss in losses.items():
                    if not torch.isfinite(loss):
                        which = f" of group {name!r}" if len(group_names) > 1 else ""
                        raise FloatingPointError(
                            f"the loss{which} became {loss.item()} at epoch {epoch + 1}, step {step + 1}; lower --lr"
                        )
                _optimise(losses, optimizers, scaler, config.grad_clip, separate=len(group_names) > 1)
                for key, value in parts.items():
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
                bar.update(1)
                shown = parts.get("loss", next(iter(losses.values())).item())
                bar.set_postfix(epoch=f"{epoch + 1}/{config.epochs}", loss=f"{shown:.4g}")
            model.eval()
            with torch.no_grad(), _autocast(device):
                held_out = task.evaluate(_unwrap(model), val_loader, device)
            if task.monitor not in held_out:
                raise KeyError(f"{type(task).__name__}.evaluate did not return its monitor metric {task.monitor!r}")
            row = {
                "epoch": epoch + 1,
                **_learning_rates(optimizers),
                "time_s": round(time.perf_counter() - epoch_start, 3),
                **{f"train_{key}": value / counts[key] for key, value in sums.items()},
                **{f"val_{key}": value for key, value in held_out.items()},
            }
            history.append(row)
            run.log(row)
            if _is_better(held_out[task.monitor], best_value, task.monitor_mode):
                best_value, best_epoch, best_metrics = held_out[task.monitor], epoch + 1, held_out
                best_state = {key: value.detach().clone() for key, value in _unwrap(model).state_dict().items()}
                if dist.is_main:
                    checkpoint.save_checkpoint(
                        config.out, _unwrap(model),
                        card={**base_card, "best_epoch": best_epoch, "epochs": epoch + 1, "metrics": best_metrics},
                    )
            run.update(epoch=epoch + 1)
        bar.close()
        if dist.is_main and best_epoch:
            final = _unwrap(model)
            final.load_state_dict(best_state)
            final.eval()
            run.update(state="finalizing")
            extra = task.finalize(final, device)
            card = checkpoint.read_card(config.out)
            duration = time.perf_counter() - clock
            card.update(finished=_now(), duration_s=round(duration, 1), epochs=config.epochs)
            if extra is not None:
                card["finalize"] = extra
                checkpoint.save_checkpoint(config.out, final, card=card)
            else:
                checkpoint.write_json(Path(config.out) / checkpoint.CARD_FILE, card)
        duration = time.perf_counter() - clock
        run.update(state="finished", ended=_now())
    except BaseException as exc:
        tail = traceback.format_exc().strip().splitlines()[-ERROR_TAIL_LINES:]
        run.update(state="failed", ended=_now(), error="\n".join(tail) or repr(exc))
        raise
    return FitResult(Path(config.out), best_epoch, best_metrics, config.epochs, duration, history)


__all__ = [
    "DEVICES",
    "FitResult",
    "Progress",
    "TASKS",
    "Task",
    "TrainConfig",
    "fit",
    "make_task",
    "select_device",
    "task_class",
]
