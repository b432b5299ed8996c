"""Save and load trained models: weights in safetensors, everything else in a JSON card.

A checkpoint is a folder (``checkpoints/<name>/``) holding

* ``model.safetensors``: the model's ``state_dict`` (tensors only, nothing executable);
* ``card.json``: ``{"model": NAME, "config": {...}, ...}``, where ``NAME`` is a model of
  :mod:`porelib.registry` and ``config`` the plain values of the model's config
  dataclass, plus whatever the trainer recorded (command, data, metrics, ...).

Loading rebuilds the model from plain values, nanoGPT style:
``Model(Config(**card["config"]))``, then loads the weights strictly. Nothing is
unpickled, ever. A model class qualifies if its ``__init__`` takes its config
dataclass as the one argument and stores it as ``model.config``, and it is registered
in :mod:`porelib.registry` (``model=`` and ``config=`` of its entry).

Files are written atomically and synced (:mod:`porelib.io.atomic`; the file names are
those of :mod:`porelib.runfolder`), so a run killed at any moment leaves the previous
checkpoint intact.

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
import uuid
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from porelib import registry
from porelib.io.atomic import atomic_paths, write_atomic
from porelib.runfolder import (
    CARD_FILE,
    STATE_FILE,
    STATE_TENSORS,
    STATE_TENSORS_GLOB,
    WEIGHTS_FILE,
    read_card,
    write_json,
)


def model_name(model: torch.nn.Module) -> str:
    """The registered name (:mod:`porelib.registry`) of ``model``'s class.

    Raises
    ------
    ValueError
        If the class is not registered.
    """
    path = f"{type(model).__module__}:{type(model).__qualname__}"
    for entry in registry.entries(has_checkpoint=True):
        if entry.model == path:
            return entry.name
    raise ValueError(f"model class {path} is not registered; add a porelib.registry.ModelEntry for it")


def config_dict(config) -> dict:
    """Plain JSON-ready values of a config dataclass (its ``to_dict()`` if it has one)."""
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if dataclasses.is_dataclass(config):
        return json.loads(json.dumps(dataclasses.asdict(config)))
    raise TypeError(f"model.config must be a dataclass; got {type(config).__name__}")


def save_checkpoint(out_dir, model: torch.nn.Module, *, card: dict | None = None) -> Path:
    """Write ``out_dir/model.safetensors`` and ``out_dir/card.json`` atomically.

    Parameters
    ----------
    out_dir : str or Path
        Checkpoint folder (created if missing).
    model : torch.nn.Module
        A registered model (:mod:`porelib.registry`) with a ``config`` dataclass.
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
    # Both files are written and synced before either replaces the old one: a full disk or a
    # killed process leaves the old pair, never new weights beside an old card.
    with atomic_paths(out_dir / WEIGHTS_FILE, out_dir / CARD_FILE) as (weights, card_file):
        weights.write_bytes(save(state, metadata={"model": full_card["model"]}))
        card_file.write_text(json.dumps(full_card, indent=2, allow_nan=True) + "\n")
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
    for stale in out_dir.glob(STATE_TENSORS_GLOB):
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
    for stale in out_dir.glob(STATE_TENSORS_GLOB):
        stale.unlink(missing_ok=True)


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
    try:
        entry = registry.entry(name, has_checkpoint=True)
    except ValueError as exc:
        raise ValueError(f"{folder / CARD_FILE} names an unknown model: {exc}") from None
    config_class, model_class = registry.resolve(entry.config), registry.resolve(entry.model)
    try:
        model = model_class(config_class(**card["config"]))
    except TypeError as exc:
        raise ValueError(f"the config in {folder / CARD_FILE} does not fit {entry.config}: {exc}") from exc
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
