"""The hostile-input corpus (tests/hostile/, rebuilt by make_corpus.py): one clear error everywhere.

Each file is small and declares far more than the input limit, or is malformed in a way
that once crashed a command: a .vti claiming 100 000³ voxels aborted VTK (and with it
the Streamlit server, or the CLI with exit 134); an .npy/.npz header claiming 10¹⁵
elements and a 20 000 × 20 000 PNG ended in tracebacks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from porelib import ct
from porelib.cli import main
from porelib.io import InputError, arrays, isolated, load_batch, open_input
from porelib.section import read_section

CORPUS = Path(__file__).resolve().parent / "hostile"
ROOT = CORPUS.parents[1]

#: (corpus file, command line after ``python -m porelib``, words the one error line holds).
CASES = [
    ("huge.vti", ["score"], "declares a volume of 100000×100000×100000"),
    ("huge.vti", ["compress", "--ratio", "10", "--out", "{tmp}/x.pnc"], "declares a volume of 100000×100000×100000"),
    ("huge.npy", ["score"], "declares an array of 100000×100000×100000"),
    ("huge.npy", ["segment", "--method", "otsu", "--out", "{tmp}/m.npy"], "declares an array of 100000×100000×100000"),
    ("huge.npy", ["compress", "--ratio", "10", "--out", "{tmp}/x.pnc"], "100000"),
    ("huge.npz", ["segment", "--method", "otsu", "--out", "{tmp}/m.npy"], "member 'image.npy' declares an array"),
    ("huge.npz", ["compress", "--ratio", "10", "--out", "{tmp}/x.pnc"], "member 'image.npy' declares an array"),
    ("huge.tif", ["score"], "declares an image of 100000×100000"),
    ("huge.tif", ["segment", "--method", "otsu", "--out", "{tmp}/m.npy"], "declares an image of 100000×100000"),
    ("bomb.png", ["from-image", "--out", "{tmp}/g.npy"], "could not read file"),
    ("nan_scan.npy", ["segment", "--method", "otsu", "--out", "{tmp}/m.npy"], "NaN or infinite"),
]


@pytest.mark.parametrize(("name", "command", "words"), CASES, ids=[f"{n}-{c[0]}" for n, c, _ in CASES])
def test_every_command_answers_a_hostile_file_with_one_error_line(tmp_path, capsys, name, command, words):
    command = [part.format(tmp=tmp_path) for part in command]
    assert main([command[0], str(CORPUS / name), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert words in err


def test_the_huge_vti_no_longer_kills_the_process_that_reads_it(tmp_path):
    # The original crash: VTK's std::bad_alloc aborted `score` with exit status 134.
    done = subprocess.run([sys.executable, "-m", "porelib", "score", str(CORPUS / "huge.vti")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "above the input limit of 1 GiB" in done.stderr


def test_the_input_limit_is_a_setting_and_its_message_says_how_to_raise_it(tmp_path, monkeypatch):
    np.save(tmp_path / "grid.npy", np.zeros((40, 40, 40), bool))  # 64 000 bytes
    monkeypatch.setenv("PORELIB_MAX_INPUT_BYTES", "10kB")
    with pytest.raises(InputError, match=r"above the input limit of 9\.77 KiB.*--max-input-size.*PORELIB_MAX_INPUT_BYTES"):
        load_batch(tmp_path / "grid.npy")
    assert main(["score", str(tmp_path / "grid.npy"), "--max-input-size", "1MB"]) == 0
    monkeypatch.setenv("PORELIB_MAX_INPUT_BYTES", "lots")
    with pytest.raises(ValueError, match=r"PORELIB_MAX_INPUT_BYTES must be a size such as 4GiB"):
        load_batch(tmp_path / "grid.npy")


def test_an_upload_declaring_a_size_above_the_limit_is_refused_before_it_is_read():
    class Huge:
        name, size = "big.npy", 5 << 30

        def getvalue(self):
            raise AssertionError("read although its size was above the limit")

    with pytest.raises(InputError, match=r"file 'big\.npy' is 5 GiB, above the input limit of 1 GiB"):
        open_input(Huge(), formats=(".npy",))


def test_library_readers_refuse_the_corpus_with_value_errors():
    for reader, name in [(load_batch, "huge.vti"), (load_batch, "huge.npz"), (ct.load_scan, "huge.npz"),
                         (ct.load_scan, "huge.tif"), (read_section, "bomb.png")]:  # fmt: skip
        with pytest.raises(ValueError):
            reader(CORPUS / name)


def test_a_child_that_aborts_or_raises_is_one_value_error(tmp_path):
    file = open_input(CORPUS / "huge.npy", formats=(".npy",))
    with pytest.raises(ValueError, match=r"the reader stopped on it \(SIGABRT\)"):
        isolated.run_isolated("tests.hostile_helpers:abort", file, memory_bytes=0, what=".npy")
    with pytest.raises(ValueError, match=r"could not read file .*huge\.npy' as \.npy: module 'porelib\.io\._vtk' has no attribute"):
        isolated.run_isolated("porelib.io._vtk:no_such_function", file, memory_bytes=0, what=".npy")


def test_the_child_memory_limit_ends_a_reader_that_allocates_beyond_it(tmp_path):
    file = open_input(CORPUS / "huge.npy", formats=(".npy",))
    with pytest.raises(ValueError, match="could not read file .*huge.npy' as .npy"):
        isolated.run_isolated("tests.hostile_helpers:allocate_8_gib", file, memory_bytes=0, what=".npy")


def test_raw_volumes_need_the_exact_size(tmp_path):
    path = tmp_path / "v.raw"
    path.write_bytes(bytes(1000))
    file = open_input(path, formats=(".raw",))
    assert arrays.read_raw(file, (10, 10, 10), "uint8").shape == (10, 10, 10)
    with pytest.raises(ValueError, match=r"v\.raw' is 1000 bytes, but a 10×10×10 volume of uint16 is 2000 bytes; check --shape and --dtype"):
        arrays.read_raw(file, (10, 10, 10), "<u2")
    with pytest.raises(TypeError, match="dtype must be a numeric type"):
        arrays.read_raw(file, (10, 10, 10), "object")
