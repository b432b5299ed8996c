"""AppTest of the "Compress" page: auto's choice and reason, a neural fit, SZ3 with its stream, the rate-distortion
plot, downloads, and bad uploads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import assert_clean, metrics, npz_bytes
from streamlit.testing.v1 import AppTest

from porelib import compress as pnc
from porelib.app import state as keys
from porelib.data import load_dataset

APP = str(Path(__file__).resolve().parent.parent / "studio.py")
TIMEOUT = 180
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


def _grid() -> np.ndarray:
    return load_dataset().split("test").grids[keys.DEFAULTS[keys.COMPRESS_INDEX]]


def test_auto_keeps_a_dataset_grid_exactly_and_says_why():
    at = _compress_page()
    assert at.selectbox(key=keys.COMPRESS_METHOD).value == "auto"  # the default
    assert any("press Compress" in info.value for info in at.info) and not at.metric
    at.button(key=keys.COMPRESS_RUN).click().run()
    assert_clean(at)
    assert not at.error
    grid = _grid()
    _, data, _ = at.session_state[keys.COMPRESS_RESULT]
    compressed = pnc.from_bytes(data)
    assert compressed.method == "lzma" and compressed.ratio >= keys.DEFAULTS[keys.COMPRESS_GRID_RATIO]
    assert np.array_equal(pnc.decompress(data), grid)
    assert at.success[0].value.startswith("**auto chose lzma**: lossless reaches")
    shown = metrics(at)
    assert shown["Compression ratio"] == f"{compressed.ratio:.1f}:1" and shown["IoU"] == "1.0000"
    table = at.dataframe[0].value
    assert list(table["method"]) == ["lzma", "sz3", "zfp", "dct"]
    assert [header.value for header in at.subheader] == ["Original and reconstruction", "3D", "Rate-distortion",
                                                         "Download"]
    assert len(at.get("bidi_component")) == 2  # the two 3D views
    labels = [button.proto.label for button in at.get("download_button")]
    assert labels[0].startswith("Compressed volume (.pnc, lzma") and labels[1].startswith("Decoded volume")

    at.radio(key=keys.slice_keys("compress")[0]).set_value("x").run()
    assert_clean(at)
    assert any(caption.value.startswith("Section x = 15 of 0–29") for caption in at.caption)
    assert at.session_state[keys.COMPRESS_RESULT][1] == data  # not compressed again

    at.number_input(key=keys.COMPRESS_GRID_RATIO).set_value(4.0).run()
    assert_clean(at)
    assert any("press Compress" in info.value for info in at.info) and not at.metric


def test_a_neural_fit_is_shown_beside_the_other_methods():
    at = _compress_page(**{keys.COMPRESS_METHOD: "neural", keys.COMPRESS_STEPS: STEPS, keys.COMPRESS_GRID_RATIO: 3.0})
    assert at.radio(key=keys.COMPRESS_TARGET).options == ["a ratio"]  # the neural field takes a ratio only
    at.button(key=keys.COMPRESS_RUN).click().run()
    assert_clean(at)
    grid = _grid()
    _, data, _ = at.session_state[keys.COMPRESS_RESULT]
    compressed = pnc.from_bytes(data)
    assert compressed.method == "neural" and compressed.ratio >= 3.0 and not at.success
    scores = pnc.quality(grid, pnc.decompress(data), kind="binary")
    shown = metrics(at)
    assert shown["File size (bytes)"] == f"{len(data):,}"
    assert shown["IoU"] == f"{scores['iou']:.4f}" and shown["Dice"] == f"{scores['dice']:.4f}"
    lossless = pnc.compress(grid, method="lzma")
    captions = " ".join(caption.value for caption in at.caption)
    assert f"lossless lzma {lossless.nbytes:,}" in captions and "raw 3,375" in captions and "sz3 at " in captions
    table = at.dataframe[0].value
    assert list(table["method"]) == ["neural", "sz3", "zfp", "lzma", "dct"]
    assert len(at.get("image")) == 3  # original, reconstruction, difference


def test_sz3_to_a_psnr_on_a_scan_offers_its_stream():
    at = _compress_page(**{keys.COMPRESS_SOURCE: "simulate", keys.COMPRESS_SCAN_SIZE: 32, keys.COMPRESS_METHOD: "sz3",
                           keys.COMPRESS_TARGET: "psnr", keys.COMPRESS_PSNR: 30.0})
    at.button(key=keys.COMPRESS_RUN).click().run()
    assert_clean(at)
    image, clean = pnc.simulated_scan(32, seed=keys.DEFAULTS[keys.COMPRESS_SCAN_SEED], dose="default")
    data = at.session_state[keys.COMPRESS_RESULT][1]
    decoded = pnc.decompress(data)
    shown = metrics(at)
    assert pnc.psnr(image, decoded) >= 30.0 and shown["PSNR (dB)"] == f"{pnc.psnr(image, decoded):.2f}"
    assert shown["PSNR vs noise-free (dB)"] == f"{pnc.psnr(clean, decoded):.2f}"
    buttons = at.get("download_button")
    assert [b.proto.label.split(" (")[0] for b in buttons] == ["Compressed volume", "The SZ3 stream alone",
                                                               "Decoded volume"]
    assert any("sz3 -f -z" in caption.value for caption in at.caption)
    assert "3D" not in [header.value for header in at.subheader]


def test_the_rate_distortion_plot_is_drawn_on_request():
    at = _compress_page(**{keys.COMPRESS_SOURCE: "simulate", keys.COMPRESS_SCAN_SIZE: 32, keys.COMPRESS_METHOD: "zfp",
                           keys.COMPRESS_SCAN_RATIO: 20.0})
    at.button(key=keys.COMPRESS_RUN).click().run()
    assert_clean(at)
    assert not at.get("vega_lite_chart")
    at.button(key=keys.COMPRESS_RD_RUN).click().run()
    assert_clean(at)
    assert len(at.get("vega_lite_chart")) == 1
    _, rows = at.session_state[keys.COMPRESS_RD_RESULT]
    assert {row["method"] for row in rows} == set(pnc.FAST_METHODS)
    assert any(caption.value.startswith("lossless lzma: ") for caption in at.caption)


@pytest.mark.parametrize(
    ("name", "payload", "fragment"),
    [
        ("broken.npy", b"\x93NUMPY garbage", "could not read file 'broken.npy' as .npy"),
        ("other.npz", npz_bytes(volume=np.ones((8, 8, 8))), "holds neither a scan ('image') nor grids"),
        ("flat.npz", npz_bytes(image=np.full((8, 8, 8), np.nan, np.float32)), "NaN or infinite"),
    ],
    ids=["corrupt npy", "npz without image or grids", "scan of NaN"],
)
def test_malformed_upload_shows_the_library_message(name, payload, fragment):
    at = _compress_page(**{keys.COMPRESS_SOURCE: "upload"})
    at.file_uploader(key=keys.COMPRESS_UPLOAD).set_value((name, payload, "application/octet-stream")).run()
    assert not at.exception
    assert len(at.error) == 1 and fragment in at.error[0].value
    assert not at.get("button") or not any(b.proto.label == "Compress" for b in at.button)
