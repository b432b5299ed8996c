"""The isolation of every test and the shuffled order of tests/conftest.py, and the report of tests/flake_hunt.py."""

from __future__ import annotations

from pathlib import Path

import torch
from flake_hunt import compare, outcomes

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py").read_text()


def _order(pytester, *args) -> list[str]:
    result = pytester.runpytest("--collect-only", "-q", *args)
    return [line for line in result.outlines if "::" in line]


def test_shuffled_order_keeps_every_test_and_the_files_together(pytester):
    pytester.makeconftest(CONFTEST)
    for name in "abc":
        pytester.makepyfile(**{f"test_{name}": "\n".join(f"def test_{i}():\n    pass\n" for i in range(6))})
    default = _order(pytester)
    assert default == [f"test_{name}.py::test_{i}" for name in "abc" for i in range(6)]
    shuffled = {seed: _order(pytester, f"--shuffle-seed={seed}") for seed in (1, 2)}
    assert shuffled[1] == _order(pytester, "--shuffle-seed=1") and shuffled[1] != shuffled[2]
    for order in shuffled.values():
        assert sorted(order) == sorted(default) and order != default
        files = [test.split("::")[0] for test in order]
        assert [name for k, name in enumerate(files) if k == 0 or files[k - 1] != name] == sorted(set(files), key=files.index)


def test_a_test_does_not_see_the_global_state_an_earlier_one_left(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_state='''
        import os
        import random

        import numpy as np
        import torch

        THREADS = torch.get_num_threads()

        def draws():
            return random.random(), float(np.random.rand()), float(torch.rand(()))

        def test_leaves_everything_changed(tmp_path):
            draws()
            os.environ["FLAKE_HUNT_LEAK"] = "1"
            os.chdir(tmp_path)
            torch.set_num_threads(THREADS + 1)
            torch.set_default_dtype(torch.float64)
            torch.set_grad_enabled(False)

        def test_starts_afresh():
            fresh = (random.Random(0).random(), float(np.random.RandomState(0).rand()),
                     float(torch.rand((), generator=torch.Generator().manual_seed(0))))
            assert draws() == fresh
            assert "FLAKE_HUNT_LEAK" not in os.environ and os.getcwd() == os.environ["START_CWD"]
            assert torch.get_num_threads() == THREADS and torch.get_default_dtype() == torch.float32
            assert torch.is_grad_enabled()
    ''')
    monkeypatch.setenv("START_CWD", str(pytester.path))
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    try:
        pytester.runpytest().assert_outcomes(passed=2)
    finally:  # should the isolation fail, the rest of this suite keeps its settings
        torch.set_default_dtype(dtype)
        torch.set_num_threads(threads)
        torch.set_grad_enabled(True)


def test_outcomes_and_comparison_of_runs(tmp_path):
    report = tmp_path / "run.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_a" name="test_ok"/>'
        '<testcase classname="tests.test_a" name="test_flaky[1]"><failure message="boom"/></testcase>'
        '<testcase classname="tests.test_b" name="test_skip"><skipped message="no GPU"/></testcase>'
        '<testcase classname="tests.test_b" name="test_setup"><error message="fixture"/></testcase>'
        "</testsuite></testsuites>"
    )
    first = outcomes(report)
    assert first == {"tests.test_a::test_ok": "passed", "tests.test_a::test_flaky[1]": "failed",
                     "tests.test_b::test_skip": "skipped", "tests.test_b::test_setup": "error"}
    second = {**first, "tests.test_a::test_flaky[1]": "passed"}
    del second["tests.test_a::test_ok"]
    changed, always = compare({3: first, 4: second})
    assert changed == {"tests.test_a::test_flaky[1]": {3: "failed", 4: "passed"},
                       "tests.test_a::test_ok": {3: "passed", 4: "missing"}}
    assert always == ["tests.test_b::test_setup"]
