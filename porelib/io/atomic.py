"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file porelib writes for later (grids, checkpoints, cards, run states, metrics)
goes through :func:`atomic_path` or :func:`write_atomic`: the data is written to a
temporary file in the same folder, flushed to disk (``fsync``), renamed onto the target
(:func:`os.replace`, atomic on POSIX and Windows), and the folder entry is flushed too.
A process killed at any moment, or a disk that fills up, leaves the previous file intact;
the failed write raises ``OSError`` (``ENOSPC`` for a full disk) and leaves no temporary file.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _temporary(path: Path) -> Path:
    """A fresh name next to ``path`` keeping its extension (some writers choose the format by it)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.part{path.suffix}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a folder; the rename is still atomic
        if path.is_file():
            raise
    finally:
        os.close(fd)


@contextmanager
def atomic_paths(*paths) -> Iterator[list[Path]]:
    """Yield temporary paths to write; on success they replace ``paths``, all or none.

    Every temporary file is synced before the first one is renamed, so a full disk or a
    failed write leaves every target as it was (only a crash between two renames, which
    need no space, could separate them). Missing parent folders are created. If the block
    raises, the temporary files are removed and the targets are left as they were.

    Raises
    ------
    OSError
        If a folder cannot be created, or a file cannot be synced or renamed
        (e.g. ``ENOSPC`` when the disk is full).
    """
    paths = [Path(path) for path in paths]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    targets = [_temporary(path) for path in paths]
    try:
        yield targets
        for target in targets:
            _fsync(target)
        for target, path in zip(targets, paths):
            os.replace(target, path)
    finally:
        for target in targets:
            target.unlink(missing_ok=True)
    if os.name == "posix":
        for folder in dict.fromkeys(path.parent for path in paths):
            _fsync(folder)


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` (see :func:`atomic_paths`)."""
    with atomic_paths(path) as (target,):
        yield target


def write_atomic(path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically; return the path.

    Raises
    ------
    OSError
        As :func:`atomic_path`.
    """
    path = Path(path)
    with atomic_path(path) as target:
        target.write_bytes(data.encode() if isinstance(data, str) else data)
    return path
