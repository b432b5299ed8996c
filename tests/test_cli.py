"""The command line: happy paths, and one clear line with exit status 2 for every user mistake."""

import json
import subprocess
import sys

import numpy as np
import pytest

from porelib import io
from porelib.cli import main
from porelib.synth import pore_grid


@pytest.fixture
def grid_file(tmp_path):
    path = tmp_path / "grid.npy"
    np.save(path, pore_grid(0.7, seed=0))
    return path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_generate_simulator_npz(tmp_path, capsys):
    out_file = tmp_path / "grids.npz"
    status, out, _ = run(capsys, "generate", "--model", "simulator", "--density", 0.7, "--n", 3, "--seed", 1, "--out", out_file)
    assert status == 0 and "wrote 3 grid(s)" in out
    batch = io.load_batch(out_file)
    assert batch.grids.shape == (3, 30, 30, 30)
    assert np.allclose(batch.densities, 0.7)


def test_generate_is_deterministic_and_writes_rows(tmp_path, capsys):
    for name in ("a.rows.npy", "b.rows.npy"):
        assert run(capsys, "generate", "--density", 0.6, "--seed", 5, "--out", tmp_path / name)[0] == 0
    rows = np.load(tmp_path / "a.rows.npy")
    assert rows.shape == (27000, 4)
    assert np.array_equal(rows, np.load(tmp_path / "b.rows.npy"))


def test_score_json_has_the_documented_keys(grid_file, tmp_path, capsys):
    reference = tmp_path / "ref.npy"
    np.save(reference, pore_grid(0.7, seed=1))
    status, out, _ = run(capsys, "score", grid_file, "--reference", reference, "--density", 0.7, "--json")
    assert status == 0
    result = json.loads(out)
    for key in ("porosity", "s2", "pore_count", "mean_pore_radius", "euler_per_voxel", "specific_surface",
                "largest_cluster_fraction", "iou", "dice", "aad", "avar", "aad_empty_baseline", "fidelity"):
        assert key in result, key
    assert len(result["s2"]) == 16  # r = 0 ... 15
    assert result["s2"][0] == pytest.approx(result["porosity"])
    assert result["aad_empty_baseline"] == pytest.approx(np.load(reference).mean())
    assert set(result["fidelity"]) >= {"porosity", "s2", "pore_size"}
    assert all(f["ratio"] >= 0 for f in result["fidelity"].values())


def test_score_text_output(grid_file, capsys):
    status, out, _ = run(capsys, "score", grid_file, "--density", "auto")
    assert status == 0 and "porosity" in out and "ratio" in out


def _save(path, array):
    np.save(path, array)
    return path


BAD_FILES = [
    ("2d.npy", lambda p: _save(p, np.zeros((30, 30))), "got 2-D"),
    ("values.npy", lambda p: _save(p, np.full((10, 10, 10), 0.3)), "0/1"),
    ("nan.npy", lambda p: _save(p, np.full((10, 10, 10), np.nan)), "NaN"),
    ("pickle.npy", lambda p: _save(p, np.array([{"a": 1}], dtype=object)), "pickle"),
    ("empty.npy", lambda p: p.write_bytes(b"") or p, "empty"),
    ("text.npy", lambda p: p.write_text("hello") or p, ""),
    ("grid.csv", lambda p: p.write_text("1,0") or p, "extension"),
]


@pytest.mark.parametrize(("name", "make", "match"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, name, make, match):
    path = make(tmp_path / name)
    status, out, err = run(capsys, "score", path)
    assert status == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert match.lower() in err.lower()


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["generate", "--density", "1.5", "--out", "x.npz"], r"density must be in [0, 1]"),
        (["generate", "--density", "0.5", "--n", "0", "--out", "x.npz"], "n must be at least 1"),
        (["generate", "--density", "0.5", "--model", "nope", "--out", "x.npz"], "invalid choice"),
        (["score", "missing.npy"], "missing.npy"),
        (["score", "GRID", "--density", "high"], "density must be a number"),
        (["score", "GRID", "--index", "3"], "--index must be in [0, 0]"),
        (["bench", "nothing"], "invalid choice"),
        (["bench", "speed", "--seconds", "5"], "--seconds applies to benchmarks that run for a time (app-load)"),
        (["bench", "generators", "--densities", "0.3,1.5"], "densities must be in [0, 1]"),
        (["bench", "speed", "--densities", "0.3"], "--densities applies to benchmarks that sweep densities"),
        (["bench", "speed", "--selection"], "--selection applies to benchmarks that have selection ensembles"),
        (["bench", "speed", "--checkpoint", "cgan=x"], "--checkpoint applies to benchmarks that load checkpoints"),
        (["bench", "generators", "--checkpoint", "cgan"], "expected NAME=FOLDER"),
        (["bench", "generators", "--generators", "nope"], "generators must be among"),
    ],
)
def test_bad_arguments_exit_2(grid_file, tmp_path, capsys, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    argv = [str(grid_file) if a == "GRID" else a for a in argv]
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert match in err


def test_a_real_process_prints_no_traceback(tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 5)))
    result = subprocess.run([sys.executable, "-m", "porelib", "score", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")


def test_bench_generators_scores_a_candidate_checkpoint_on_the_selection_ensembles(tmp_path, capsys):
    argv = ["bench", "generators", "--quick", "--densities", "0.5", "--generators", "cgan,simulator", "--selection",
            "--checkpoint", "cgan=checkpoints/cgan", "--out", str(tmp_path)]  # fmt: skip
    status, out, _ = run(capsys, *argv)
    assert status == 0 and "generators-selection.md" in out
    assert not (tmp_path / "generators.json").exists()
    report = json.loads((tmp_path / "generators-selection.json").read_text())
    assert report["selection"] and report["checkpoints"] == {"cgan": "checkpoints/cgan"}
    assert {row["generator"] for row in report["rows"]} == {"cgan", "simulator"}
    # other seeds than the benchmark's: the simulator's own row differs
    status, _, _ = run(capsys, *[a for a in argv if a != "--selection"])
    benchmark = json.loads((tmp_path / "generators.json").read_text())["rows"]
    assert benchmark[1]["s2_ratio"] != report["rows"][1]["s2_ratio"]


def test_bench_generators_takes_a_subset_of_densities(tmp_path, capsys):
    status, out, _ = run(capsys, "bench", "generators", "--quick", "--densities", "0.5", "--out", str(tmp_path))
    assert status == 0
    rows = json.loads((tmp_path / "generators.json").read_text())["rows"]
    assert {row["density"] for row in rows if isinstance(row["density"], float)} == {0.5}
