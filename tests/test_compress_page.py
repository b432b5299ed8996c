"""AppTest of the "Compress" page: a dataset grid compressed with few steps, its figures and download; bad uploads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import assert_clean, metrics, npz_bytes
from streamlit.testing.v1 import AppTest

from porelib import app_state as keys
from porelib import compress as pnc
from porelib.bench import compression as bench
from porelib.data import load_dataset

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120
#: Few steps: the figures are checked against the library, not for quality.
STEPS = 100


def _compress_page(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("pages/compress.py")
    at.run()
    assert_clean(at)
    return at


def test_dataset_grid_is_compressed_with_its_figures_and_download():
    at = _compress_page(**{keys.COMPRESS_STEPS: STEPS, keys.COMPRESS_GRID_RATIO: 3.0})
    assert any("press Compress" in info.value for info in at.info) and not at.metric
    at.button(key=keys.COMPRESS_RUN).click().run()
    assert_clean(at)
    assert not at.error

    test = load_dataset().split("test")
    grid = test.grids[keys.DEFAULTS[keys.COMPRESS_INDEX]]
    _, data, _ = at.session_state[keys.COMPRESS_RESULT]
    compressed = pnc.from_bytes(data)
    assert compressed.kind == "binary" and compressed.shape == grid.shape and compressed.ratio >= 3.0
    decoded = pnc.decompress(data)
    scores = pnc.quality(grid, decoded, kind="binary")
    lossless = bench.lzma_encode(grid, "binary")

    shown = metrics(at)
    assert shown["Compression ratio"] == f"{compressed.ratio:.1f}:1"
    assert shown["File size (bytes)"] == f"{len(data):,}"
    assert shown["IoU"] == f"{scores['iou']:.4f}" and shown["Dice"] == f"{scores['dice']:.4f}"
    assert "Fit time (s)" in shown
    captions = " ".join(caption.value for caption in at.caption)
    assert f"lossless lzma {len(lossless):,}" in captions and "raw 3,375" in captions
    assert "DCT at " in captions
    table = at.dataframe[0].value
    assert list(table["method"]) == [bench.NEURAL, bench.LOSSLESS, bench.DCT]
    assert list(table["bytes"][:2]) == [len(data), len(lossless)]

    assert len(at.get("image")) == 3  # original, reconstruction, difference
    assert [header.value for header in at.subheader] == ["Original and reconstruction", "3D", "Download"]
    assert len(at.get("bidi_component")) == 2  # the two stpyvista views
    assert any(caption.value.startswith("Section z = 15 of 0–29") for caption in at.caption)
    buttons = at.get("download_button")
    assert len(buttons) == 1 and buttons[0].proto.label.startswith("Compressed volume (.pnc")

    at.radio(key=keys.slice_keys("compress")[0]).set_value("x").run()
    assert_clean(at)
    assert any(caption.value.startswith("Section x = 15 of 0–29") for caption in at.caption)
    assert at.session_state[keys.COMPRESS_RESULT][1] == data  # not fitted again

    at.number_input(key=keys.COMPRESS_GRID_RATIO).set_value(4.0).run()
    assert_clean(at)
    assert any("press Compress" in info.value for info in at.info) and not at.metric


def test_simulated_scan_is_scored_against_its_noise_free_twin():
    at = _compress_page(**{keys.COMPRESS_SOURCE: "simulate", keys.COMPRESS_SCAN_SIZE: 32, keys.COMPRESS_STEPS: STEPS,
                           keys.COMPRESS_SCAN_RATIO: 50.0})
    at.button(key=keys.COMPRESS_RUN).click().run()
    assert_clean(at)
    image, clean = bench.simulated_scan(32, seed=keys.DEFAULTS[keys.COMPRESS_SCAN_SEED], dose="default")
    decoded = pnc.decompress(at.session_state[keys.COMPRESS_RESULT][1])
    shown = metrics(at)
    assert shown["PSNR (dB)"] == f"{pnc.psnr(image, decoded):.2f}"
    assert shown["PSNR vs noise-free (dB)"] == f"{pnc.psnr(clean, decoded):.2f}"
    captions = " ".join(caption.value for caption in at.caption)
    assert f"the noisy input: {pnc.psnr(clean, image):.2f}" in captions and "raw 131,072" in captions
    assert len(at.get("image")) == 3  # sections, and no 3D for scans
    assert [header.value for header in at.subheader] == ["Original and reconstruction", "Download"]


@pytest.mark.parametrize(
    ("name", "payload", "fragment"),
    [
        ("broken.npy", b"\x93NUMPY garbage", "could not read 'broken.npy' as .npy"),
        ("other.npz", npz_bytes(volume=np.ones((8, 8, 8))), "holds neither a scan ('image') nor grids"),
    ],
    ids=["corrupt npy", "npz without image or grids"],
)
def test_malformed_upload_shows_the_library_message(name, payload, fragment):
    at = _compress_page(**{keys.COMPRESS_SOURCE: "upload"})
    at.file_uploader(key=keys.COMPRESS_UPLOAD).set_value((name, payload, "application/octet-stream")).run()
    assert not at.exception
    assert len(at.error) == 1 and fragment in at.error[0].value
    assert not at.get("button") or not any(b.proto.label == "Compress" for b in at.button)
