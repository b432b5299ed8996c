"""Hunt for tests whose outcome depends on the order of the tests or on chance.

Runs the suite several times, each run in another random order (``--shuffle-seed``,
see ``tests/conftest.py``), one run after the other, then reports every test whose
outcome changed between the runs and every test that failed in all of them::

    python tests/flake_hunt.py --runs 5                  # the whole suite, 5 orders
    python tests/flake_hunt.py --runs 2 --seed 7 -- tests/test_training.py -k resume

Arguments after ``--`` go to pytest (default: the whole suite). The first run's seed
is ``--seed`` (default: drawn at random and printed), the next ones count up from it;
``python -m pytest -q --shuffle-seed=N`` repeats run N's order. Exit status 0 when
every test passed (or was skipped) in every run, 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent


def outcomes(report: Path) -> dict[str, str]:
    """``{test id: "passed" | "failed" | "error" | "skipped"}`` from a pytest JUnit XML report."""
    results = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        kinds = {child.tag for child in case}
        outcome = next((kind for kind in ("failure", "error", "skipped") if kind in kinds), "passed")
        results[name] = {"failure": "failed"}.get(outcome, outcome)
    return results


def run_suite(seed: int, pytest_args: list[str], folder: Path) -> tuple[dict[str, str], int, float]:
    """One pytest run in the order drawn from ``seed``: outcomes, exit status, seconds."""
    report = folder / f"run-{seed}.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--shuffle-seed={seed}",
               f"--junitxml={report}", *pytest_args]
    start = time.perf_counter()
    status = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode
    elapsed = time.perf_counter() - start
    return (outcomes(report) if report.exists() else {}), status, elapsed


def compare(runs: dict[int, dict[str, str]]) -> tuple[dict[str, dict[int, str]], list[str]]:
    """Tests whose outcome differs between runs (``{test: {seed: outcome}}``; "missing" where a run lacks
    the test), and the tests that failed or errored in every run."""
    tests = sorted({test for results in runs.values() for test in results})
    changed, always = {}, []
    for test in tests:
        seen = {seed: results.get(test, "missing") for seed, results in runs.items()}
        if len(set(seen.values())) > 1:
            changed[test] = seen
        elif next(iter(seen.values())) in ("failed", "error"):
            always.append(test)
    return changed, always


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="number of shuffled runs (default 3)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first run's order (default: random)")
    args = parser.parse_args(own)
    if args.runs < 2:
        parser.error("--runs must be at least 2 to compare runs")
    first = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    runs: dict[int, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="flake-hunt-") as folder:
        for seed in range(first, first + args.runs):
            results, status, elapsed = run_suite(seed, pytest_args, Path(folder))
            counts = {kind: list(results.values()).count(kind) for kind in ("passed", "failed", "error", "skipped")}
            summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "no report"
            print(f"--shuffle-seed={seed}: {summary} (exit {status}, {elapsed / 60:.1f} min)", flush=True)
            runs[seed] = results
    changed, always = compare(runs)
    if changed:
        print(f"\n{len(changed)} test(s) whose outcome changed between runs:")
        for test, seen in changed.items():
            print(f"  {test}: " + ", ".join(f"{outcome} (seed {seed})" for seed, outcome in seen.items()))
    if always:
        print(f"\n{len(always)} test(s) failed in every run:")
        for test in always:
            print(f"  {test}")
    missing = [seed for seed, results in runs.items() if not results]
    if missing:
        print(f"\nno report from the run(s) with seed {', '.join(map(str, missing))} (pytest crashed or found nothing)")
    if changed or always or missing:
        print(f"\nrepeat a run: python -m pytest -q --shuffle-seed=SEED {' '.join(pytest_args)}".rstrip())
        return 1
    print(f"\nno test changed its outcome over {args.runs} orders; all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
