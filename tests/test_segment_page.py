"""AppTest of the "Segment a scan" page: simulate, segment, see Dice; uploads; errors as st.error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import assert_clean, metrics, npz_bytes
from streamlit.testing.v1 import AppTest

from porelib import ct, segmentation
from porelib.app import figures_ct
from porelib.app import state as keys
from porelib.app.state import model_status

APP = str(Path(__file__).resolve().parent.parent / "studio.py")
TIMEOUT = 120
UNET_READY = model_status("unet").ready


def _segment_page(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("pages/segment.py")
    at.run()
    assert_clean(at)
    return at


def test_simulated_scan_is_segmented_and_scored():
    methods = ["otsu", "unet"] if UNET_READY else ["otsu"]
    at = _segment_page(**{keys.SEGMENT_SIZE: 32, keys.SEGMENT_METHODS: methods})
    scan = ct.simulate(32, volume_fraction=0.2, contrast="bright", dose="default", seed=1)
    shown = metrics(at)
    assert shown["Volume (voxels)"] == "32×32×32"
    assert shown["True inclusion fraction"] == f"{scan.label.mean():.3f}"
    assert 0.8 < float(shown["Best classical Dice"]) <= 1.0
    assert len(at.get("vega_lite_chart")) == 2  # porosity by method, Dice
    # scan, truth and one overlay per method
    assert len(at.get("image")) == 2 + len(methods)
    assert [button.proto.label for button in at.get("download_button")] == [
        f"{label} mask (.npy)" for label in (["Otsu (raw)", "U-Net"] if UNET_READY else ["Otsu (raw)"])
    ]
    at.radio(key=keys.slice_keys("segment")[0]).set_value("x").run()
    assert not at.exception
    assert any(caption.value.startswith("Section x = 15 of 0–31") for caption in at.caption)


def test_adding_a_method_keeps_the_scan_and_adds_its_mask():
    at = _segment_page(**{keys.SEGMENT_SIZE: 32, keys.SEGMENT_METHODS: ["otsu"]})
    at.multiselect(key=keys.SEGMENT_METHODS).select("kmeans").run()
    assert not at.exception
    scan_id, _, masks = at.session_state[keys.SEGMENT_RESULT]
    assert scan_id[0] == "simulate" and set(masks) == {"otsu", "kmeans"}
    assert len(at.get("download_button")) == 2


def test_uploaded_scan_without_label_is_segmented_without_scores():
    scan = ct.simulate(24, volume_fraction=0.25, contrast="dark", dose="high", seed=4)
    at = _segment_page(**{keys.SEGMENT_SOURCE: "upload", keys.SEGMENT_METHODS: ["otsu"]})
    at.file_uploader(key=keys.SEGMENT_UPLOAD).set_value(
        ("mine.npz", npz_bytes(image=scan.image), "application/octet-stream")
    ).run()
    assert not at.exception and not at.error
    assert metrics(at)["True inclusion fraction"] == "unknown"
    assert len(at.get("vega_lite_chart")) == 1  # porosity by method only: no label, no Dice
    assert len(at.get("download_button")) == 1


def test_auto_states_its_choice_and_methods_are_compared_side_by_side():
    methods = ["auto", "median", "otsu"]
    at = _segment_page(**{keys.SEGMENT_SIZE: 32, keys.SEGMENT_DOSE: "low", keys.SEGMENT_METHODS: methods})
    scan = ct.simulate(32, volume_fraction=0.2, contrast="bright", dose="low", seed=1)
    picked, reason = segmentation.choose_method(scan.image, unet_available=UNET_READY)
    assert any(f"uses **{figures_ct.METHOD_LABELS[picked]}**" in box.value and reason in box.value for box in at.info)
    assert len(at.get("image")) == 2 + len(methods)
    _, _, masks = at.session_state[keys.SEGMENT_RESULT]
    assert set(masks) >= set(methods)
    # Low dose: raw Otsu's porosity is far from the denoised methods', and the page says so.
    spread = abs(masks["otsu"].mean() - masks["median"].mean())
    assert (spread > 0.02) == any("disagree" in box.value for box in at.warning)


def test_held_out_family_is_simulated_and_scored():
    at = _segment_page(**{keys.SEGMENT_SIZE: 32, keys.SEGMENT_FAMILY: "held-out", keys.SEGMENT_METHODS: ["nlm", "otsu"]})
    scan = ct.random_scan("held-out", 32, 1, contrast="bright", dose="default")
    assert metrics(at)["True inclusion fraction"] == f"{scan.label.mean():.3f}"
    scan_id, shown, _ = at.session_state[keys.SEGMENT_RESULT]
    assert scan_id[:2] == ("simulate", "held-out") and np.array_equal(shown.image, scan.image)
    assert 0.5 < float(metrics(at)["Best classical Dice"]) <= 1.0


@pytest.mark.parametrize(
    ("name", "payload", "fragment"),
    [
        ("flat.npz", npz_bytes(image=np.random.default_rng(0).random((8, 8))), "must be a 3-D volume"),
        ("other.npz", npz_bytes(volume=np.ones((8, 8, 8))), "has no 'image' array"),
    ],
    ids=["2-D image", "no image array"],
)
def test_malformed_upload_shows_the_library_message(name, payload, fragment):
    at = _segment_page(**{keys.SEGMENT_SOURCE: "upload", keys.SEGMENT_METHODS: ["otsu"]})
    at.file_uploader(key=keys.SEGMENT_UPLOAD).set_value((name, payload, "application/octet-stream")).run()
    assert not at.exception
    assert len(at.error) == 1 and fragment in at.error[0].value


def test_a_mask_goes_to_the_train_page_as_the_material_generator_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("PORELIB_RUNS_DIR", str(tmp_path))
    at = _segment_page(**{keys.SEGMENT_SIZE: 32, keys.SEGMENT_METHODS: ["otsu", "median"]})
    assert at.session_state[keys.SEGMENT_TRAIN_MASK] == "otsu"  # the first method when auto is not chosen
    at.selectbox(key=keys.SEGMENT_TRAIN_MASK).set_value("median").run()
    at.button(key="segment_train").click().run()
    assert not at.exception and not at.error
    assert at.session_state[keys.TRAIN_MODEL] == keys.SAMPLE_MODEL
    sample = at.session_state[keys.train_option_key(keys.SAMPLE_MODEL, "data", "input")]
    _, _, masks = at.session_state[keys.SEGMENT_RESULT]
    assert sample.startswith(str(tmp_path)) and sample.endswith("_median.npy")
    np.testing.assert_array_equal(np.load(sample), masks["median"])
    assert at.session_state[keys.train_option_key(keys.SAMPLE_MODEL, "data", "pore_value")] is None
    assert any("Your sample" in uploader.label for uploader in at.get("file_uploader"))  # the Train page, on the material generator
