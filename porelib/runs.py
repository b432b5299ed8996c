"""Training runs started from the app: launch, list, stop, and choose the checkpoint the pages use.

A run is ``python -m porelib train MODEL ... --out DIR`` (or the same under
``python -m torch.distributed.run`` for several processes) started in its own process
group and session, so it outlives the Streamlit session and the browser tab that
started it. Everything about a run lives in its folder ``DIR`` under the runs folder
(:func:`resolve_runs_dir`: ``runs/``, or the folder named by the environment variable
``PORELIB_RUNS_DIR``), so every session, a reloaded page and a restarted server see the
same runs:

* ``launch.json`` (written here, at once): the model, the command, the launcher's PID
  and process group, host, time, processes, device, and a stop request if any;
* ``log.txt``: the launcher's stdout and stderr;
* ``status.json``, ``metrics.jsonl``, ``model.safetensors`` + ``card.json``: written by
  the engine (:mod:`porelib.training`).

The state of a run (:data:`STATES`) comes from ``status.json`` and whether its
processes are alive: a run whose status says running but whose processes are gone
*died* (or is *stopped* when a stop was requested); a launched run without a status
that is gone *failed* before training (its log says why).

Which checkpoint the pages use, per model, is recorded in ``active.json`` in the runs
folder (:func:`use_checkpoint`, :func:`active_checkpoint`); without an entry the pages
use the shipped ``checkpoints/<model>``.

Nothing here imports streamlit.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from porelib import registry, runfolder
from porelib._validate import check_positive_int
from porelib.devices import select_device
from porelib.runfolder import LAUNCH_FILE, LOG_FILE, STATUS_FILE, OptionField, read_json
from porelib.training import (
    TrainConfig,
    make_task,
    settings_fields,
    task_class,
    task_fields,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Environment variable naming the runs folder (tests point it at a temporary folder).
RUNS_DIR_ENV = "PORELIB_RUNS_DIR"
#: Runs folder when the environment variable is not set.
DEFAULT_RUNS_DIR = REPO_ROOT / "runs"
#: In the runs folder: ``{model: checkpoint folder}`` chosen with :func:`use_checkpoint`.
ACTIVE_FILE = "active.json"

#: States of a run: the engine's (running, finalizing, finished, failed, stopped), plus
#: ``starting`` (launched, no status yet) and ``died`` (status says running, processes gone).
STATES = ("starting", "running", "finalizing", "finished", "failed", "stopped", "died")
#: States in which a run's processes work.
ACTIVE_STATES = ("starting", "running", "finalizing")
#: Seconds :func:`stop` waits after SIGTERM before it sends SIGKILL.
STOP_GRACE_S = 20.0
#: Lines of ``log.txt`` shown as the error of a run that failed without a status error.
LOG_TAIL_LINES = 20


# ----------------------------------------------------------------------------- folders


def resolve_runs_dir(path=None) -> Path:
    """The runs folder: ``path``, else ``$PORELIB_RUNS_DIR``, else ``runs/`` of the repository (absolute)."""
    chosen = path if path is not None else os.environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR
    return Path(chosen).expanduser().resolve()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- devices and options


@dataclass(frozen=True)
class Device:
    """A device runs can train on.

    Attributes
    ----------
    name : {"cuda", "cpu"}
        The engine's ``--device``.
    label : str
        How the page shows it, with the GPU names or the number of CPU cores.
    max_processes : int
        Most processes of one run on this machine: one per GPU, or one per CPU core.
    """

    name: str
    label: str
    max_processes: int


def available_devices() -> tuple[Device, ...]:
    """The devices of this machine, best first: CUDA (when torch sees GPUs), then the CPU."""
    import torch

    devices = []
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
        listed = ", ".join(f"{index}: {name}" for index, name in enumerate(names))
        devices.append(Device("cuda", f"CUDA, {len(names)} GPU{'s' * (len(names) > 1)} ({listed})", len(names)))
    cores = os.cpu_count() or 1
    devices.append(Device("cpu", f"CPU, {cores} core{'s' * (cores > 1)}", cores))
    return tuple(devices)


def max_processes(device: str) -> int:
    """Most processes of one run on ``device`` (``auto``, ``cpu`` or ``cuda``): GPUs for CUDA, CPU cores otherwise.

    Raises
    ------
    ValueError
        For an unknown device, or ``cuda`` without a GPU.
    """
    resolved = select_device(device).type
    return next(d.max_processes for d in available_devices() if d.name == resolved)


def reads_dataset(model: str) -> bool:
    """Whether the task ``model`` trains on the pore-grid dataset (``--data``); the U-Net simulates its scans."""
    return bool(getattr(task_class(model), "reads_dataset", True))


def sample_formats(model: str) -> tuple[str, ...]:
    """The file formats of the sample the task ``model`` trains on (its ``--input``); empty if it takes none."""
    return tuple(getattr(task_class(model), "sample_formats", ()))


def option_fields(model: str) -> list[OptionField]:
    """The options of task ``model`` that ``python -m porelib train`` takes as flags, in declaration order.

    Help texts and choices come from the fields' metadata (:mod:`porelib.options`); the
    ``derived_options`` (set from the data) are left out. Raises ``ValueError`` for an
    unknown model.
    """
    return task_fields(model)


# ----------------------------------------------------------------------------- launching


def _check_dataset(model: str, data) -> None:
    """Raise ``ValueError`` unless ``data`` (a dataset file or folder) can be read for ``model``."""
    if data is None:
        return
    if not reads_dataset(model):
        raise ValueError(f"the {model} model simulates its training data and reads no dataset; leave the dataset empty")
    from porelib.data import load_dataset

    try:
        load_dataset(data)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the dataset at {data}: {exc}") from exc


def training_command(model: str, out, *, config: TrainConfig, option_flags=(), nproc: int = 1) -> list[str]:
    """The command line of a run: ``python -m porelib train MODEL ...``, under torchrun when ``nproc > 1``.

    Parameters
    ----------
    model : str
        A trainable model of :mod:`porelib.registry`.
    out : str or Path
        Run folder.
    config : TrainConfig
        Every setting but ``out`` becomes a flag (:func:`porelib.runfolder.option_flags`).
    option_flags : sequence of str
        The task's flags, e.g. ``["--width", "8"]``.
    nproc : int
        Processes; more than 1 runs ``python -m torch.distributed.run --standalone
        --nproc_per_node N -m porelib train ...`` (one node).
    """
    settings = {name: value for name, value in dataclasses.asdict(config).items() if name != "out"}
    engine = runfolder.option_flags(settings_fields(), {None: settings}, keep_defaults=True)
    args = ["train", model, "--out", str(out), *engine, *option_flags, "--no-progress"]
    if nproc == 1:
        return [sys.executable, "-m", "porelib", *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "porelib", *args]


#: Folder under the runs folder where samples uploaded on the Train page are kept.
UPLOADS_DIR = "uploads"


def store_upload(upload, *, formats: tuple[str, ...], runs_dir=None) -> Path:
    """Keep an uploaded file where a background run can read it: ``<runs>/uploads/<hash>-<name>``.

    The upload passes :func:`porelib.io.open_input` first (format, emptiness, the input
    limit); the same content is stored once.

    Raises
    ------
    ValueError, TypeError
        As :func:`porelib.io.open_input`.
    """
    from porelib.io import open_input

    file = open_input(upload, formats=formats, what="sample")
    name = Path(str(getattr(upload, "name", "") or f"upload{file.suffix}")).name
    return _store_bytes(file.read_bytes(), name, runs_dir)


def store_array(array, name: str, *, runs_dir=None) -> Path:
    """Keep an array made in the app (e.g. a segmented scan) where a background run can read it.

    Written as ``.npy`` to ``<runs>/uploads/<hash>-<name>.npy`` (the same content once),
    like :func:`store_upload`.

    Parameters
    ----------
    array : np.ndarray
        Any numeric or bool array (for a training sample: ``(X, Y, Z)`` bool, True = pore).
    name : str
        A name for the user to recognise, without suffix (its folders are dropped; `.npy` is added).
    """
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return _store_bytes(buffer.getvalue(), f"{Path(name).name}.npy", runs_dir)


def _store_bytes(data: bytes, name: str, runs_dir) -> Path:
    import hashlib

    from porelib.io.atomic import write_atomic

    target = resolve_runs_dir(runs_dir) / UPLOADS_DIR / f"{hashlib.sha256(data).hexdigest()[:12]}-{name}"
    if not target.is_file():
        write_atomic(target, data)
    return target


def _new_run_folder(root: Path, model: str) -> Path:
    """A fresh folder ``root/<YYYYmmdd-HHMMSS>-<model>`` (``-2``, ``-3``, ... when taken)."""
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{model}"
    for number in range(1, 1000):
        folder = root / (stem if number == 1 else f"{stem}-{number}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise RuntimeError(f"could not create a run folder {stem} under {root}")


def launch(
    model: str,
    *,
    options: dict | None = None,
    epochs: int = TrainConfig.epochs,
    batch_size: int = TrainConfig.batch_size,
    lr: float = TrainConfig.lr,
    seed: int = TrainConfig.seed,
    limit: int | None = None,
    data=None,
    device: str = TrainConfig.device,
    threads: int = TrainConfig.threads,
    minutes: float | None = None,
    nproc: int = 1,
    runs_dir=None,
) -> Path:
    """Check the settings, then start a training run in the background; return its folder.

    The run is started in a new session and process group (it survives the Streamlit
    session and the browser tab), its output goes to ``log.txt`` in its folder, and
    ``launch.json`` is written at once, so :func:`list_runs` shows it before the engine
    writes ``status.json``.

    Parameters
    ----------
    model : str
        A trainable model of :mod:`porelib.registry`.
    options : dict, optional
        ``{group: {name: value}}`` of the task's options (:func:`option_fields`);
        values equal to the defaults are left out of the command.
    epochs, batch_size, lr, seed, limit, threads, device, minutes
        As in :class:`porelib.training.TrainConfig` (``threads`` per process on the CPU;
        ``minutes``, a wall-clock budget, sets the epochs after the first one).
    data : str or Path, optional
        Dataset file or folder (default: the built-in ``data/``); only for models that
        read the dataset (:func:`reads_dataset`).
    nproc : int
        Processes (data parallel under torchrun): at most one per GPU on CUDA, one per
        CPU core on the CPU.
    runs_dir : str or Path, optional
        Where the run folder is made (default :func:`resolve_runs_dir`).

    Returns
    -------
    Path
        The run folder.

    Raises
    ------
    ValueError
        Before anything starts: for an unknown model, bad settings (e.g. 0 epochs), more
        processes than the device allows, a dataset that cannot be read, or options the
        task refuses.
    TypeError
        For settings of the wrong type.
    """
    task_class(model)
    options = {group: dict(values) for group, values in (options or {}).items()}
    root = resolve_runs_dir(runs_dir)
    data = None if data is None or str(data).strip() == "" else Path(data).expanduser().resolve()
    config = TrainConfig(out=root, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
                         threads=threads, limit=limit, data=data, minutes=minutes)
    nproc = check_positive_int(nproc, "nproc")
    allowed = max_processes(config.device)
    if nproc > allowed:
        unit = "GPU" if select_device(config.device).type == "cuda" else "CPU core"
        raise ValueError(f"nproc is {nproc}, but this machine has {allowed} {unit}{'s' * (allowed > 1)} for "
                         f"device {config.device!r}; use at most {allowed} processes")
    _check_dataset(model, data)
    make_task(model, options, data=data, limit=limit)  # the task's own checks of its options
    flags = runfolder.option_flags(task_fields(model), options)
    folder = _new_run_folder(root, model)
    command = training_command(model, folder, config=config, option_flags=flags, nproc=nproc)
    _start(folder, command, {"model": model, "nproc": nproc, "device": config.device, "resumes": 0})
    return folder


def _start(folder: Path, command: list[str], record: dict, *, append: bool = False) -> None:
    """Start ``command`` detached (new session and process group, output to ``log.txt``); write ``launch.json``.

    ``record`` holds the run's fixed values (model, processes, device, resumes); the
    process's own values (PID, group, host, time, command) are added here.
    """
    with open(folder / LOG_FILE, "ab" if append else "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    runfolder.write_json(folder / LAUNCH_FILE, {
        **record,
        "command": shlex.join(command),
        "args": command,
        "pid": process.pid,
        "pgid": process.pid,  # start_new_session: the launcher leads its own process group
        "host": socket.gethostname(),
        "launched": _now(),
        "stop_requested": None,
    })


def resume(run_dir) -> Path:
    """Continue a stopped, dead or failed run from the training state of its last epoch.

    Runs the run's own command plus ``--resume`` in the same folder (the engine checks
    that the settings match and goes on to the same final epoch); the log is appended to.

    Raises
    ------
    ValueError
        If the run is active or finished, was not launched from here, or saved no
        training state (it ended before its first epoch did).
    """
    folder = Path(run_dir)
    run = read_run(folder)
    launch = read_json(folder / LAUNCH_FILE)
    if run.active or run.state == "finished":
        raise ValueError(f"the run {run.name} is {run.state}; only a stopped, dead or failed run can be resumed")
    if launch is None or not isinstance(launch.get("args"), list):
        raise ValueError(f"the run {run.name} was not started from the app; resume it with its command plus --resume")
    if not (folder / runfolder.STATE_FILE).is_file():
        raise ValueError(f"the run {run.name} saved no training state (it ended before its first epoch did); "
                         "start a new run instead")
    command = list(launch["args"])
    if "--out" in command:  # the folder may have moved since
        command[command.index("--out") + 1] = str(folder.resolve())
    if "--resume" not in command:
        command.append("--resume")
    record = {key: launch.get(key) for key in ("model", "nproc", "device")}
    _start(folder, command, {**record, "resumes": int(launch.get("resumes") or 0) + 1}, append=True)
    return folder


# ----------------------------------------------------------------------------- processes


def _reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is a child of this process (so it is no zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, pgrp, ...), or ``None``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()


def _has_proc() -> bool:
    return Path("/proc/self/stat").exists()


def process_alive(pid) -> bool:
    """Whether process ``pid`` runs and is a porelib process (not a zombie, not a reused PID).

    Where ``/proc`` is missing, only whether a process ``pid`` exists.
    """
    if not isinstance(pid, int) or pid <= 0:
        return False
    _reap(pid)
    if not _has_proc():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    try:
        return b"porelib" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still runs (zombies do not count where ``/proc`` exists)."""
    if not _has_proc():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and len(stat) > 2 and stat[2] == str(pgid) and stat[0] not in ("Z", "X"):
                return True
    return False


# ----------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class RunInfo:
    """What is known about one run, read from its folder.

    Attributes
    ----------
    path : Path
        Run folder.
    name : str
        Folder name (``<YYYYmmdd-HHMMSS>-<model>`` for runs launched here).
    model : str or None
        Task name.
    state : str
        One of :data:`STATES`.
    epoch : int
        Epochs done.
    epochs : int or None
        Epochs of the run, once the engine has started.
    metrics : list of dict
        The rows of ``metrics.jsonl``, one per epoch (``epoch``, ``lr``, ``time_s``,
        ``train_*``, ``val_*``).
    error : str or None
        For a failed or dead run: the engine's error tail, else the end of ``log.txt``.
    has_checkpoint : bool
        The folder holds ``model.safetensors`` and ``card.json``.
    started, ended : str or None
        ISO times (UTC).
    command : str or None
        The command line.
    nproc : int
        Processes.
    resumable : bool
        :func:`resume` can continue it: launched here, stopped, dead or failed, with the
        training state of an epoch saved.
    """

    path: Path
    name: str
    model: str | None
    state: str
    epoch: int = 0
    epochs: int | None = None
    metrics: list = dataclasses.field(default_factory=list)
    error: str | None = None
    has_checkpoint: bool = False
    started: str | None = None
    ended: str | None = None
    command: str | None = None
    nproc: int = 1
    resumable: bool = False

    @property
    def active(self) -> bool:
        """The run's processes work (:data:`ACTIVE_STATES`)."""
        return self.state in ACTIVE_STATES

    @property
    def progress(self) -> float:
        """Fraction of the epochs done, in [0, 1] (0 before the engine has started)."""
        return min(1.0, self.epoch / self.epochs) if self.epochs else 0.0


def _model_from_args(args) -> str | None:
    """The MODEL of ``... porelib train MODEL ...``."""
    if isinstance(args, list) and "train" in args:
        index = args.index("train") + 1
        return args[index] if index < len(args) else None
    return None


def _log_tail(folder: Path, lines: int = LOG_TAIL_LINES) -> str | None:
    try:
        text = (folder / LOG_FILE).read_text(errors="replace")
    except OSError:
        return None
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(tail) or None


def _state(status: dict | None, launch: dict | None) -> str:
    """The run's state from its status, its launch record and whether its processes live."""
    here = socket.gethostname()
    host = (status or launch or {}).get("host")
    pids = [record.get("pid") for record in (status, launch) if record]
    alive = host not in (None, here) or any(process_alive(pid) for pid in pids)
    stop_requested = bool((launch or {}).get("stop_requested"))
    if status is None:
        if alive:
            return "starting"
        return "stopped" if stop_requested else "failed"
    state = status.get("state", "running")
    if state in ACTIVE_STATES and not alive:
        return "stopped" if stop_requested else "died"
    resumed = launch is not None and (launch.get("launched") or "") >= (status.get("ended") or "~")
    if state not in ACTIVE_STATES and resumed and process_alive(launch.get("pid")):
        return "starting"  # resumed; the engine has not rewritten the status yet
    return state


def read_run(folder) -> RunInfo:
    """The :class:`RunInfo` of a run folder.

    Raises
    ------
    ValueError
        If the folder holds neither ``launch.json`` nor ``status.json``.
    """
    folder = Path(folder)
    launch, status = read_json(folder / LAUNCH_FILE), read_json(folder / STATUS_FILE)
    if launch is None and status is None:
        raise ValueError(f"{folder} is not a training run: it holds neither {LAUNCH_FILE} nor {STATUS_FILE}")
    state = _state(status, launch)
    status = status or {}
    error = None
    if state in ("failed", "died"):
        error = status.get("error") or _log_tail(folder)
    return RunInfo(
        path=folder,
        name=folder.name,
        model=(launch or {}).get("model") or _model_from_args(status.get("args")),
        state=state,
        epoch=int(status.get("epoch") or 0),
        epochs=status.get("epochs"),
        metrics=runfolder.epoch_rows(runfolder.read_metrics(folder)),
        error=error,
        has_checkpoint=(folder / runfolder.WEIGHTS_FILE).is_file() and (folder / runfolder.CARD_FILE).is_file(),
        started=status.get("started") or (launch or {}).get("launched"),
        ended=status.get("ended"),
        command=(launch or {}).get("command") or status.get("command"),
        nproc=int((launch or {}).get("nproc") or status.get("world_size") or 1),
        resumable=(state not in (*ACTIVE_STATES, "finished") and isinstance((launch or {}).get("args"), list)
                   and (folder / runfolder.STATE_FILE).is_file()),
    )


def metrics_table(rows: list[dict]):
    """The rows of ``metrics.jsonl`` as a ``pandas.DataFrame`` indexed by ``epoch``, numeric columns only."""
    import pandas as pd

    table = pd.DataFrame(rows)
    if table.empty or "epoch" not in table:
        return pd.DataFrame()
    return table.set_index("epoch").select_dtypes("number")


def monitor_column(model: str | None) -> str | None:
    """The ``metrics.jsonl`` column that picks the checkpoint of ``model`` (e.g. ``val_dice``), if known."""
    try:
        return f"val_{task_class(model).monitor}"
    except (ValueError, TypeError, ImportError, AttributeError):
        return None


def list_runs(runs_dir=None) -> list[RunInfo]:
    """Every run in the runs folder, newest first (other files and folders there are ignored)."""
    root = resolve_runs_dir(runs_dir)
    if not root.is_dir():
        return []
    runs = []
    for folder in root.iterdir():
        if folder.is_dir() and ((folder / LAUNCH_FILE).is_file() or (folder / STATUS_FILE).is_file()):
            try:
                runs.append(read_run(folder))
            except ValueError:  # both files vanished in between
                continue
    return sorted(runs, key=lambda run: (run.started or "", run.name), reverse=True)


# ----------------------------------------------------------------------------- stopping


def stop(run_dir, *, grace_s: float = STOP_GRACE_S) -> RunInfo:
    """Stop a run: SIGTERM to its process group, SIGKILL after ``grace_s`` seconds if it still runs.

    The engine answers SIGTERM by ending cleanly with state ``stopped``; a run killed
    before it could is shown as stopped too (the request is recorded in ``launch.json``).
    A run that is not active is left alone. A run started outside the app (no
    ``launch.json``) gets the signals at its own PID only.

    Returns
    -------
    RunInfo
        The run after stopping.
    """
    folder = Path(run_dir)
    run = read_run(folder)
    if not run.active:
        return run
    launch = read_json(folder / LAUNCH_FILE)
    if launch is not None:
        runfolder.write_json(folder / LAUNCH_FILE, {**launch, "stop_requested": _now()})
        pid, pgid = launch["pid"], launch["pgid"]
        send, alive = (lambda sig: os.killpg(pgid, sig)), (lambda: group_alive(pgid))
    else:
        pid = (read_json(folder / STATUS_FILE) or {}).get("pid")
        send, alive = (lambda sig: os.kill(pid, sig)), (lambda: process_alive(pid))
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            send(sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pid)
            if not alive():
                return read_run(folder)
            time.sleep(0.1)
    return read_run(folder)


# ----------------------------------------------------------------------------- checkpoints in use


def checkpoint_model(folder) -> str:
    """The model name of the checkpoint in ``folder`` (its card's ``model``).

    Raises
    ------
    ValueError
        If the folder holds no weights or no readable card of a registered model.
    """
    folder = Path(folder)
    card = runfolder.read_card(folder)
    if not (folder / runfolder.WEIGHTS_FILE).is_file():
        raise ValueError(f"no checkpoint at {folder}: {runfolder.WEIGHTS_FILE} is missing")
    if card["model"] not in registry.names(has_checkpoint=True):
        raise ValueError(f"the checkpoint at {folder} holds an unknown model {card['model']!r}; "
                         f"expected one of {', '.join(registry.names(has_checkpoint=True))}")
    return card["model"]


def _active_path(runs_dir) -> Path:
    return resolve_runs_dir(runs_dir) / ACTIVE_FILE


def use_checkpoint(folder, *, runs_dir=None) -> str:
    """Make the pages use the checkpoint in ``folder`` for its model; return the model's name.

    Raises
    ------
    ValueError
        If ``folder`` holds no loadable checkpoint, or is a run that is still training
        (its best checkpoint still changes; wait for it to end or stop it).
    """
    folder = Path(folder).expanduser().resolve()
    model = checkpoint_model(folder)
    if (folder / LAUNCH_FILE).is_file() or (folder / STATUS_FILE).is_file():
        run = read_run(folder)
        if run.active:
            raise ValueError(f"the run {run.name} is still {run.state}: its checkpoint changes until it ends; "
                             "wait for it to finish or stop it")
    chosen = read_json(_active_path(runs_dir)) or {}
    runfolder.write_json(_active_path(runs_dir), {**chosen, model: str(folder)})
    return model


def use_shipped(model: str, *, runs_dir=None) -> None:
    """Make the pages use the shipped checkpoint ``checkpoints/<model>`` again."""
    chosen = read_json(_active_path(runs_dir)) or {}
    if model in chosen:
        del chosen[model]
        runfolder.write_json(_active_path(runs_dir), chosen)


def active_checkpoint(model: str, *, runs_dir=None) -> Path | None:
    """The checkpoint folder chosen for ``model`` with :func:`use_checkpoint`, or ``None`` (use the shipped one).

    A chosen folder that no longer holds a checkpoint of ``model`` counts as no choice.
    """
    chosen = (read_json(_active_path(runs_dir)) or {}).get(model)
    if not isinstance(chosen, str):
        return None
    try:
        return Path(chosen) if checkpoint_model(chosen) == model else None
    except ValueError:
        return None


__all__ = [
    "ACTIVE_STATES",
    "Device",
    "OptionField",
    "RunInfo",
    "STATES",
    "active_checkpoint",
    "available_devices",
    "checkpoint_model",
    "launch",
    "list_runs",
    "max_processes",
    "metrics_table",
    "monitor_column",
    "option_fields",
    "read_run",
    "resume",
    "reads_dataset",
    "resolve_runs_dir",
    "sample_formats",
    "stop",
    "store_upload",
    "training_command",
    "use_checkpoint",
    "use_shipped",
]
