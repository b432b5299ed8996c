"""Save and load trained models: weights in safetensors, everything else in a JSON card.

A checkpoint is a folder (``checkpoints/<name>/``) holding

* ``model.safetensors``: the model's ``state_dict`` (tensors only, nothing executable);
* ``card.json``: ``{"model": NAME, "config": {...}, ...}``, where ``NAME`` is a key of
  :data:`MODEL_CLASSES` and ``config`` the plain values of the model's config
  dataclass, plus whatever the trainer recorded (command, data, metrics, ...).

Loading rebuilds the model from plain values, nanoGPT style:
``Model(Config(**card["config"]))``, then loads the weights strictly. Nothing is
unpickled, ever. A model class qualifies if its ``__init__`` takes its config
dataclass as the one argument and stores it as ``model.config``; register it in
:data:`MODEL_CLASSES` (a string, so nothing is imported until it is loaded)::

    MODEL_CLASSES["unet"] = ModelSpec("porelib.models.unet3d:UNet3D", "porelib.models.unet3d:UNet3DConfig")

Files are written atomically (a temporary file in the same folder, then
:func:`os.replace`), so a run killed at any moment leaves the previous checkpoint intact.

A run folder also holds the state a training run resumes from
(:func:`save_training_state`): its tensors (weights, optimiser moments) in
``state-EEEEE.safetensors`` and everything else in ``state.json``, which names that
tensor file and carries the random token stored in the file's metadata. The tensors are
written first and the previous tensor file is removed only after ``state.json`` points to
the new one, so whenever the process dies, ``state.json`` refers to a complete state.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import uuid
from importlib import import_module
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "card.json"
#: The JSON half of a training state; it names the tensor half.
STATE_FILE = "state.json"
#: Name of the tensor half of the training state written after epoch ``epoch``.
STATE_TENSORS = "state-{epoch:05d}.safetensors"
_STATE_TENSORS_GLOB = "state-*.safetensors"


class ModelSpec(NamedTuple):
    """Where a registered model's class and config class live, as ``"module:Name"``."""

    model: str
    config: str


#: Registered models: card name -> classes. Add yours here.
MODEL_CLASSES: dict[str, ModelSpec] = {
    "cvae": ModelSpec("porelib.models.cvae:CVAE", "porelib.models.cvae:CVAEConfig"),
    "cgan": ModelSpec("porelib.models.cgan:CGAN", "porelib.models.cgan:CGANConfig"),
    "unet": ModelSpec("porelib.models.unet3d:UNet3D", "porelib.models.unet3d:UNet3DConfig"),
    "img2vox": ModelSpec("porelib.models.img2vox:Img2Vox", "porelib.models.img2vox:Img2VoxConfig"),
}


def _resolve(path: str):
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


def model_name(model: torch.nn.Module) -> str:
    """The :data:`MODEL_CLASSES` key of ``model``'s class.

    Raises
    ------
    ValueError
        If the class is not registered.
    """
    path = f"{type(model).__module__}:{type(model).__qualname__}"
    for name, spec in MODEL_CLASSES.items():
        if spec.model == path:
            return name
    raise ValueError(f"model class {path} is not registered in porelib.checkpoint.MODEL_CLASSES; add a ModelSpec for it")


def config_dict(config) -> dict:
    """Plain JSON-ready values of a config dataclass (its ``to_dict()`` if it has one)."""
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if dataclasses.is_dataclass(config):
        return json.loads(json.dumps(dataclasses.asdict(config)))
    raise TypeError(f"model.config must be a dataclass; got {type(config).__name__}")


def _readable_temporary(folder: Path, name: str) -> tuple[int, str]:
    """A temporary file next to ``name`` with the permissions of a normally created file.

    :func:`tempfile.mkstemp` creates files readable by the owner only; a checkpoint must be
    readable like any other file of the repository (``0o666`` minus the umask).
    """
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return fd, tmp


def write_atomic(path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and :func:`os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _readable_temporary(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON, atomically."""
    return write_atomic(path, json.dumps(payload, indent=2, allow_nan=True) + "\n")


def save_checkpoint(out_dir, model: torch.nn.Module, *, card: dict | None = None) -> Path:
    """Write ``out_dir/model.safetensors`` and ``out_dir/card.json`` atomically.

    Parameters
    ----------
    out_dir : str or Path
        Checkpoint folder (created if missing).
    model : torch.nn.Module
        A registered model (see :data:`MODEL_CLASSES`) with a ``config`` dataclass.
    card : dict, optional
        Extra JSON-ready metadata (command, data, metrics, ...). Its ``model`` and
        ``config`` keys are set from the model.

    Returns
    -------
    Path
        The checkpoint folder.

    Raises
    ------
    ValueError
        If the model's class is not registered.
    """
    out_dir = Path(out_dir)
    full_card = {**(card or {}), "model": model_name(model), "config": config_dict(model.config)}
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    write_atomic(out_dir / WEIGHTS_FILE, save(state, metadata={"model": full_card["model"]}))
    write_json(out_dir / CARD_FILE, full_card)
    return out_dir


def save_training_state(out_dir, tensors: dict[str, torch.Tensor], info: dict, *, epoch: int) -> Path:
    """Write a resumable training state into ``out_dir``, atomically as a whole.

    Parameters
    ----------
    out_dir : str or Path
        Run folder (created if missing).
    tensors : dict of str to torch.Tensor
        Every tensor of the state (any device; saved from the CPU, nothing pickled).
    info : dict
        Everything else, JSON-ready; saved with ``epoch``, ``tensors`` (the tensor file's
        name) and ``token`` added.
    epoch : int
        Epochs done; names the tensor file (:data:`STATE_TENSORS`).

    Returns
    -------
    Path
        The written ``state.json``.
    """
    out_dir = Path(out_dir)
    name = STATE_TENSORS.format(epoch=epoch)
    token = uuid.uuid4().hex
    payload = save({key: value.detach().cpu().contiguous() for key, value in tensors.items()}, metadata={"token": token})
    write_atomic(out_dir / name, payload)
    path = write_json(out_dir / STATE_FILE, {**info, "epoch": epoch, "tensors": name, "token": token})
    for stale in out_dir.glob(_STATE_TENSORS_GLOB):
        if stale.name != name:
            stale.unlink(missing_ok=True)
    return path


def load_training_state(out_dir) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors (on the CPU) and the info of the state saved by :func:`save_training_state`.

    Raises
    ------
    ValueError
        If ``out_dir`` holds no state, or its two halves are unreadable or do not belong together.
    """
    out_dir = Path(out_dir)
    path = out_dir / STATE_FILE
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"nothing to resume in {out_dir}: there is no {STATE_FILE} (a run writes it at the end of every epoch); "
            "start the run without --resume"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"could not read {path}: {exc}") from exc
    if not isinstance(info, dict) or not {"tensors", "token", "epoch"} <= set(info):
        raise ValueError(f"{path} is not a training state: it needs the keys 'epoch', 'tensors' and 'token'")
    tensor_path = out_dir / Path(info["tensors"]).name
    try:
        with safe_open(tensor_path, framework="pt") as handle:
            token = (handle.metadata() or {}).get("token")
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except FileNotFoundError:
        raise ValueError(f"the training state in {out_dir} is incomplete: {tensor_path.name} is missing") from None
    except (OSError, SafetensorError) as exc:
        raise ValueError(f"could not read {tensor_path}: {exc}") from exc
    if token != info["token"]:
        raise ValueError(f"{tensor_path.name} does not belong to {path} (different token); the training state in "
                         f"{out_dir} cannot be resumed")
    return tensors, info


def remove_training_state(out_dir) -> None:
    """Delete the training state of ``out_dir`` (``state.json`` first, then its tensors), if any."""
    out_dir = Path(out_dir)
    (out_dir / STATE_FILE).unlink(missing_ok=True)
    for stale in out_dir.glob(_STATE_TENSORS_GLOB):
        stale.unlink(missing_ok=True)


def read_card(path) -> dict:
    """The card of a checkpoint folder (or of the folder holding ``path``).

    Raises
    ------
    ValueError
        If there is no readable ``card.json``.
    """
    folder = Path(path)
    folder = folder if folder.is_dir() else folder.parent
    card_path = folder / CARD_FILE
    try:
        card = json.loads(card_path.read_text())
    except FileNotFoundError:
        raise ValueError(f"no checkpoint at {folder}: {CARD_FILE} is missing; train one with `python -m porelib train`") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"could not read {card_path}: {exc}") from exc
    if not isinstance(card, dict) or "model" not in card or "config" not in card:
        raise ValueError(f"{card_path} is not a checkpoint card: it needs the keys 'model' and 'config'")
    return card


def load_checkpoint(path, *, device="cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild a model from its card and load its weights.

    Parameters
    ----------
    path : str or Path
        Checkpoint folder (or its ``card.json`` / ``model.safetensors``).
    device : str or torch.device
        Where to put the weights.

    Returns
    -------
    model : torch.nn.Module
        In eval mode.
    card : dict
        The card.

    Raises
    ------
    ValueError
        If the folder holds no card or weights, the model name is unknown, the
        config does not fit the model, or the weights do not match it.
    """
    card = read_card(path)
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    name = card["model"]
    if name not in MODEL_CLASSES:
        raise ValueError(f"{folder / CARD_FILE} names model {name!r}; known models: {', '.join(MODEL_CLASSES)}")
    spec = MODEL_CLASSES[name]
    config_class, model_class = _resolve(spec.config), _resolve(spec.model)
    try:
        model = model_class(config_class(**card["config"]))
    except TypeError as exc:
        raise ValueError(f"the config in {folder / CARD_FILE} does not fit {spec.config}: {exc}") from exc
    try:
        state = load_file(folder / WEIGHTS_FILE, device=str(device))
    except FileNotFoundError:
        raise ValueError(f"no weights at {folder / WEIGHTS_FILE}") from None
    except (OSError, SafetensorError) as exc:
        raise ValueError(f"could not read {folder / WEIGHTS_FILE}: {exc}") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"the weights in {folder} do not match the {name} model of its card: {exc}") from exc
    return model.to(device).eval(), card


__all__ = [
    "CARD_FILE",
    "MODEL_CLASSES",
    "ModelSpec",
    "STATE_FILE",
    "STATE_TENSORS",
    "WEIGHTS_FILE",
    "config_dict",
    "load_checkpoint",
    "load_training_state",
    "model_name",
    "read_card",
    "remove_training_state",
    "save_checkpoint",
    "save_training_state",
    "write_atomic",
    "write_json",
]
