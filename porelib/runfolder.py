"""The files of a training run's folder, and a run's settings as command-line flags, without torch.

A run folder (``python -m porelib train MODEL --out DIR``) holds

==========================  =========================================================
file                        written by, holding
==========================  =========================================================
``status.json``             the engine: ``state`` (:data:`STATES`), PID, host, command,
                            times, epochs done, the error tail of a failed run
``metrics.jsonl``           the engine: one JSON object per epoch (``epoch``, ``lr``,
                            ``time_s``, ``train_*``, ``val_*``) and, between epochs,
                            per-step rows (``step``, ``train_loss``)
``model.safetensors``,      :mod:`porelib.checkpoint`: the best weights and their card
``card.json``
``state.json``,             :mod:`porelib.checkpoint`: the training state a run resumes from
``state-EEEEE.safetensors``
``launch.json``, ``log.txt``  :mod:`porelib.runs`: how the app started it, and its output
==========================  =========================================================

Every file here is written atomically and synced (:mod:`porelib.io.atomic`): a run killed
at any moment, or a disk that fills up, leaves the previous version of each file intact.
A failed write raises :class:`DiskFull` when the disk is full (``ENOSPC``, ``EDQUOT``).

The second half of the module turns a run's settings into flags and back, in one place:
:func:`option_fields` lists the fields of options classes (:mod:`porelib.options`),
:func:`add_option_flags` makes them ``argparse`` flags, :func:`options_from_namespace`
reads them back, and :func:`option_flags` writes the flags of given values. The engine's
own settings (:class:`porelib.training.TrainConfig`) go through the same functions.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
from dataclasses import MISSING, dataclass
from pathlib import Path

from porelib.io.atomic import write_atomic

STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "card.json"
#: The JSON half of a training state; it names the tensor half.
STATE_FILE = "state.json"
#: Name of the tensor half of the training state written after epoch ``epoch``.
STATE_TENSORS = "state-{epoch:05d}.safetensors"
STATE_TENSORS_GLOB = "state-*.safetensors"
LAUNCH_FILE = "launch.json"
LOG_FILE = "log.txt"

#: States the engine writes into ``status.json``.
STATES = ("running", "finalizing", "finished", "failed", "stopped")
#: ``errno`` values of a full disk or an exhausted quota.
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class DiskFull(OSError):
    """A run-folder file could not be written because the disk (or the quota) is full."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` of a full disk or quota."""
    return isinstance(exc, OSError) and exc.errno in _FULL


# ----------------------------------------------------------------------------- files


def write_json(path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON, atomically (see :func:`porelib.io.atomic.write_atomic`)."""
    return write_atomic(path, json.dumps(payload, indent=2, allow_nan=True) + "\n")


def read_json(path) -> dict | None:
    """The JSON object in ``path``, or ``None`` if it is missing, unreadable or not an object."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_metrics(folder) -> list[dict]:
    """The complete rows of ``folder/metrics.jsonl`` (a line cut short by a killed process is skipped)."""
    try:
        text = (Path(folder) / METRICS_FILE).read_text()
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def epoch_rows(rows: list[dict]) -> list[dict]:
    """The per-epoch rows of :func:`read_metrics` (those with an ``epoch``)."""
    return [row for row in rows if "epoch" in row]


def write_metrics(folder, rows: list[dict]) -> Path:
    """Replace ``folder/metrics.jsonl`` by ``rows``, atomically."""
    return write_atomic(Path(folder) / METRICS_FILE, "".join(json.dumps(row) + "\n" for row in rows))


def append_metrics(folder, row: dict) -> None:
    """Append one row to ``folder/metrics.jsonl`` and flush it to disk.

    A row is one ``write`` of one line; if the disk fills half-way, the torn line is
    skipped by :func:`read_metrics`.
    """
    import os

    with open(Path(folder) / METRICS_FILE, "a") as handle:
        handle.write(json.dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_card(path) -> dict:
    """The card of a checkpoint folder (or of the folder holding ``path``).

    Raises
    ------
    ValueError
        If there is no readable ``card.json`` with the keys ``model`` and ``config``.
    """
    folder = Path(path)
    folder = folder if folder.is_dir() else folder.parent
    card_path = folder / CARD_FILE
    try:
        card = json.loads(card_path.read_text())
    except FileNotFoundError:
        raise ValueError(f"no checkpoint at {folder}: {CARD_FILE} is missing; train one with `python -m porelib train`") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"could not read {card_path}: {exc}") from exc
    if not isinstance(card, dict) or "model" not in card or "config" not in card:
        raise ValueError(f"{card_path} is not a checkpoint card: it needs the keys 'model' and 'config'")
    return card


# ----------------------------------------------------------------------------- settings <-> flags


@dataclass(frozen=True)
class OptionField:
    """One field of an options class as a command-line flag and a form field.

    Attributes
    ----------
    group : str or None
        ``options[group][name]`` for a task's options; ``None`` for the engine's settings.
    name : str
        The field; its flag is ``--name`` with ``-`` for ``_``.
    kind : type
        ``int``, ``float``, ``str`` or ``Path`` (what argparse converts to).
    default : object
        The default (``None`` for an optional setting, :data:`dataclasses.MISSING` for a required one).
    help : str
        Its help text (Markdown inline code allowed).
    choices : tuple or None
        The values allowed, where there is a fixed set.
    """

    group: str | None
    name: str
    kind: type
    default: object
    help: str = ""
    choices: tuple | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return self.name if self.group is None else f"{self.group}.{self.name}"

    @property
    def required(self) -> bool:
        return self.default is MISSING


def _kind(item: dataclasses.Field) -> type | None:
    """What a field's flag converts to: the type of its default, else read from its annotation."""
    if item.default is not MISSING and item.default is not None:
        return type(item.default) if type(item.default) in (int, float, str) else None
    annotation = str(item.type)
    for name, kind in (("Path", Path), ("int", int), ("float", float), ("str", str)):
        if name in annotation:
            return kind
    return None


def option_fields(classes: dict, derived: dict | None = None) -> list[OptionField]:
    """The flag-able fields of options classes, in declaration order.

    Parameters
    ----------
    classes : dict
        ``{group: options class}`` (a task's ``option_classes``), or ``{None: cls}`` for
        the engine's settings.
    derived : dict, optional
        ``{group: (field, ...)}`` set from the data, not by the user (left out).
    """
    derived = derived or {}
    fields = []
    for group, cls in classes.items():
        skip = set(derived.get(group, ()))
        for item in dataclasses.fields(cls):
            kind = _kind(item)
            if item.name in skip or kind is None or not item.metadata.get("flag", True):
                continue
            choices = item.metadata.get("choices")
            fields.append(OptionField(group, item.name, kind, item.default, item.metadata.get("help", ""),
                                      tuple(choices) if choices else None))
    return fields


def add_option_flags(parser: argparse.ArgumentParser, fields: list[OptionField], *, title: str | None = None) -> None:
    """Add a flag for each field (destination :attr:`OptionField.dest`; unset flags stay ``None``).

    Choices are shown in the flag's help, not checked by argparse: the options class checks
    them when it is made (:func:`porelib.options.check_options`), with a "did you mean".
    """
    target = parser.add_argument_group(title) if title else parser
    for field in fields:
        default = "" if field.required or field.default is None else f" (default {field.default})"
        metavar = "{" + ",".join(map(str, field.choices)) + "}" if field.choices else field.kind.__name__.upper()
        target.add_argument(
            field.flag, dest=field.dest, type=field.kind, default=None, required=field.required, metavar=metavar,
            help=(field.help.replace("%", "%%") + default).strip(),
        )  # fmt: skip


def options_from_namespace(namespace: argparse.Namespace, fields: list[OptionField]) -> dict:
    """``{group: {name: value}}`` of the task flags given on the command line (unset ones left out)."""
    options: dict = {}
    for field in fields:
        value = getattr(namespace, field.dest, None)
        if field.group is not None and value is not None:
            options.setdefault(field.group, {})[field.name] = value
    return options


def settings_from_namespace(namespace: argparse.Namespace, fields: list[OptionField]) -> dict:
    """``{name: value}`` of the engine's flags given on the command line (unset ones left out)."""
    return {field.name: getattr(namespace, field.dest) for field in fields
            if field.group is None and getattr(namespace, field.dest, None) is not None}  # fmt: skip


def option_flags(fields: list[OptionField], options: dict, *, keep_defaults: bool = False) -> list[str]:
    """The flags that give ``options`` (``{group: {name: value}}``, or ``{None: {name: value}}``).

    Values equal to the default are left out unless ``keep_defaults``; ``None`` values
    are always left out.

    Raises
    ------
    TypeError
        For a value whose type is not the field's (an int is accepted for a float).
    ValueError
        For a value no flag takes.
    """
    known = {(field.group, field.name): field for field in fields}
    for group, values in options.items():
        for name in values:
            if (group, name) not in known:
                where = name if group is None else f"{group}.{name}"
                raise ValueError(f"option {where} cannot be set from the command line")
    flags = []
    for field in fields:
        if field.name not in options.get(field.group, {}):
            continue
        value = options[field.group][field.name]
        if value is None or (value == field.default and not keep_defaults):
            continue
        numeric = field.kind is float and isinstance(value, int)
        path_like = field.kind is Path and isinstance(value, (str, Path))
        if isinstance(value, bool) or not (isinstance(value, field.kind) or numeric or path_like):
            raise TypeError(f"option {field.dest} must be of type {field.kind.__name__}; got {value!r}")
        flags += [field.flag, repr(value) if field.kind is float else str(value)]
    return flags
