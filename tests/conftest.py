"""Shared fixtures and helpers of the test suite."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def single_thread():
    """Torch on one thread: tiny 3D convolutions only slow down on more (the cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def seeded_single_thread(single_thread):
    """:func:`single_thread` with torch's global generator seeded to 0."""
    torch.manual_seed(0)
    yield
