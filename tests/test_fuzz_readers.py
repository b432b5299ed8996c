"""Property-based fuzzing of every reader: mutated files give an array or one clear error.

Valid files of every format the readers take are mutated (truncated, bytes flipped,
numbers in the header replaced by huge ones, dtypes swapped, bytes inserted); each reader
must return a result or raise ``ValueError``/``TypeError`` — never another exception,
never a crash of this process — and must not allocate more than a few times the input
limit, which is set to :data:`LIMIT` here. The number of examples per reader is
``PORELIB_FUZZ_EXAMPLES`` (default 25, a few seconds each); a longer hunt::

    PORELIB_FUZZ_EXAMPLES=2000 python -m pytest -q tests/test_fuzz_readers.py
"""

from __future__ import annotations

import io
import os
import re
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from porelib import ct
from porelib.io import (
    MAX_INPUT_ENV,
    arrays,
    load_batch,
    load_stl,
    open_input,
    save_grid,
)
from porelib.section import read_section
from porelib.synth import pore_grid

#: The input limit while fuzzing; a reader may allocate at most ALLOCATION_FACTOR times it.
LIMIT = 8 << 20
ALLOCATION_FACTOR = 4
EXAMPLES = int(os.environ.get("PORELIB_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize="PORELIB_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip
DTYPES = ["<f8", "|O", "<U10", ">c16", "|V8", "<i8", "|b1", "<f2", ">u4"]


class Upload:
    """Stands in for a Streamlit ``UploadedFile``."""

    def __init__(self, name: str, data: bytes):
        self.name, self._data, self.size = name, data, len(data)

    def getvalue(self) -> bytes:
        return self._data


@pytest.fixture(autouse=True, scope="module")
def small_input_limit():
    previous = os.environ.get(MAX_INPUT_ENV)
    os.environ[MAX_INPUT_ENV] = str(LIMIT)
    yield
    if previous is None:
        del os.environ[MAX_INPUT_ENV]
    else:
        os.environ[MAX_INPUT_ENV] = previous


def _valid_files(folder) -> dict[str, bytes]:
    grid = pore_grid(0.9, size=10, seed=1)
    files = {name: save_grid(folder / name, grid).read_bytes() for name in ("g.npy", "g.npz", "g.tif", "g.vti", "g.stl")}
    files["distribution_1_0.5.npy"] = save_grid(folder / "distribution_1_0.5.npy", grid).read_bytes()
    scan = ct.simulate(12, radius_range=(2, 3), seed=2)
    files["scan.npz"] = ct.save_scan(folder / "scan.npz", scan).read_bytes()
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((grid[:, :, 5] * 255).astype(np.uint8)).save(buffer, format="PNG")
    files["section.png"] = buffer.getvalue()
    return files


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    return _valid_files(tmp_path_factory.mktemp("valid"))


@st.composite
def mutations(draw, data: bytes) -> bytes:
    """One or more mutations of ``data``."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "header-number", "dtype", "insert"]))
        if kind == "truncate" and len(data) > 1:
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif kind == "flip" and data:
            for position in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
                data[position] ^= draw(st.integers(1, 255))
        elif kind == "header-number":
            numbers = list(re.finditer(rb"\d+", bytes(data[:512])))
            if numbers:
                match = draw(st.sampled_from(numbers))
                huge = str(draw(st.sampled_from([0, 1, 2**31 - 1, 2**32, 10**12, 99999, 3]))).encode()
                data[match.start() : match.end()] = huge
        elif kind == "dtype":
            for old in (b"'|b1'", b"'<f4'", b"'<f8'", b"'|u1'", b'"UInt8"', b'"Float32"'):
                if old in data:
                    new = draw(st.sampled_from(DTYPES)).encode()
                    quote = old[:1]
                    data = bytearray(bytes(data).replace(old, quote + new + quote, 1))
                    break
        elif kind == "insert":
            position = draw(st.integers(0, len(data)))
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


def _assert_clean(read, name: str, data: bytes) -> None:
    """``read(upload)`` returns, or raises ValueError/TypeError, within the allocation bound."""
    tracemalloc.start()
    try:
        read(Upload(name, data))
    except (ValueError, TypeError):
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak <= ALLOCATION_FACTOR * LIMIT + (4 << 20), f"{name}: peak allocation {peak / 2**20:.1f} MiB"


READERS = {
    "g.npy": load_batch,
    "distribution_1_0.5.npy": load_batch,
    "g.npz": load_batch,
    "g.tif": load_batch,
    "g.stl": load_stl,
    "scan.npz": ct.load_scan,
    "section.png": read_section,
}


@pytest.mark.parametrize("name", list(READERS))
def test_mutated_files_give_an_array_or_one_clear_error(valid_files, name):
    @FUZZ
    @given(data=mutations(valid_files[name]))
    def check(data):
        _assert_clean(READERS[name], name, data)

    check()


def test_mutated_vti_files_give_a_grid_or_one_clear_error(valid_files):
    # VTK parses in a child process (about half a second each), so fewer examples here.
    @settings(FUZZ, max_examples=max(4, EXAMPLES // 4))
    @given(data=mutations(valid_files["g.vti"]))
    def check(data):
        _assert_clean(load_batch, "g.vti", data)

    check()


@FUZZ
@given(
    shape=st.lists(st.integers(-2, 2**40), min_size=0, max_size=4),
    dtype=st.sampled_from(["uint8", "<u2", ">f4", "float64", "object", "U3", "bool", "complex64", "nonsense"]),
    size=st.integers(1, 4096),
)
def test_raw_reader_checks_shape_dtype_and_size(shape, dtype, size):
    file = open_input(b"\x01" * size, formats=(".raw",), fmt=".raw")
    try:
        volume = arrays.read_raw(file, shape, dtype)
    except (ValueError, TypeError):
        return
    assert volume.nbytes == size and volume.shape == tuple(shape)
