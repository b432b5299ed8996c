"""Shared fixtures and helpers of the test suite, and the isolation of every test.

Every test starts from the same global state, whatever ran before it, so that the
order of the tests does not matter (``tests/flake_hunt.py`` checks that):

* before a test and the fixtures it sets up, ``random``, numpy's global generator and
  torch's generator are seeded with :data:`TEST_SEED` (:func:`pytest_runtest_setup`);
* after it, :func:`isolated_global_state` puts back torch's thread count, default dtype,
  grad mode and deterministic-algorithms setting, the environment variables and the
  working directory as they were when the test started.

``--shuffle-seed N`` runs the tests in a random order drawn from ``N``: the test files
in a shuffled order, the tests of each file shuffled (files stay together, so module
fixtures are built once). Without it the order is pytest's own.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

#: The seed of ``random``, numpy's global generator and torch's generator at the start of every test.
TEST_SEED = 0


def pytest_addoption(parser):
    parser.addoption(
        "--shuffle-seed",
        type=int,
        default=None,
        metavar="N",
        help="run the tests in a random order drawn from N (files shuffled, then the tests of each file); "
        "tests/flake_hunt.py uses it",
    )


def pytest_report_header(config):
    seed = config.getoption("shuffle_seed")
    return None if seed is None else f"test order: shuffled with --shuffle-seed={seed}"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    seed = config.getoption("shuffle_seed")
    if seed is None:
        return
    rng = random.Random(seed)
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)
    order = list(files)
    rng.shuffle(order)
    items[:] = [item for name in order for item in rng.sample(files[name], len(files[name]))]


def pytest_runtest_setup(item):
    """Seed the global generators before the test's fixtures (of any scope) are set up."""
    random.seed(TEST_SEED)
    np.random.seed(TEST_SEED)
    torch.manual_seed(TEST_SEED)


@pytest.fixture(autouse=True)
def isolated_global_state():
    """Put back the global settings a test may change (see the module notes)."""
    threads = torch.get_num_threads()
    dtype = torch.get_default_dtype()
    grad = torch.is_grad_enabled()
    deterministic = torch.are_deterministic_algorithms_enabled()
    environ = dict(os.environ)
    cwd = os.getcwd()
    yield
    os.chdir(cwd)
    if dict(os.environ) != environ:
        os.environ.clear()
        os.environ.update(environ)
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
    torch.set_grad_enabled(grad)
    if torch.are_deterministic_algorithms_enabled() != deterministic:  # setting it imports torch._inductor
        torch.use_deterministic_algorithms(deterministic)


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
