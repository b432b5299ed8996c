"""Where torch runs and how its learning rate moves: shared by training and compression.

:func:`select_device` turns ``"auto"``, ``"cpu"`` or ``"cuda"`` into a
:class:`torch.device`; :func:`warmup_cosine` is the learning-rate schedule of every
optimiser in porelib (a linear warm-up, then a cosine decay), as a factor of the peak.
:func:`cpu_threads` limits torch's CPU threads inside a block.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from porelib._validate import check_choice

DEVICES = ("auto", "cpu", "cuda")


@contextmanager
def cpu_threads(threads: int) -> Iterator[None]:
    """Use ``threads`` CPU threads for torch inside the block, then the previous number again.

    The setting is per process: another thread's torch work meanwhile uses it too.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def select_device(name="auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error.

    Parameters
    ----------
    name : {"auto", "cpu", "cuda"} or torch.device
        A :class:`torch.device` is returned as it is.

    Raises
    ------
    ValueError
        For an unknown name, or ``cuda`` on a machine without CUDA.
    """
    if isinstance(name, torch.device):
        return name
    check_choice(name, DEVICES, "device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but torch sees no CUDA GPU; use device 'cpu' or 'auto'")
    return torch.device(name)


def warmup_cosine(step: int, *, warmup_steps: int, total_steps: int, min_fraction: float = 0.0) -> float:
    """Learning-rate factor at ``step`` (0-based): linear warm-up to 1, then cosine decay.

    The factor rises as ``(step + 1) / warmup_steps`` over the first ``warmup_steps``
    steps, then falls along a half cosine from 1 to ``min_fraction`` at ``total_steps``
    and stays there.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_fraction + (1 - min_fraction) * 0.5 * (1 + math.cos(math.pi * progress))
