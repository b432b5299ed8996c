"""AppTest of every page: the widgets a user touches, the numbers beside their baselines, errors as st.error.

Densities stay at or below 0.7 so that the dataset's statistics at each density
(computed once, then cached for the whole process) take well under a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from apptest_helpers import assert_clean, metrics, npy_bytes
from streamlit.testing.v1 import AppTest

from pages._common import generated, model_label
from porelib import data, inference, registry
from porelib.app import state as keys
from porelib.app.state import model_status
from porelib.data import load_dataset
from porelib.synth import COUNT_TOLERANCE, expected_pore_voxels, pore_grid

APP = str(Path(__file__).resolve().parent.parent / "studio.py")
TIMEOUT = 120
#: URL path of the Home page, the default page.
HOME_URL = ""


def _page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(f"pages/{name}.py")
    at.run()
    assert_clean(at)
    return at


def _links(at: AppTest) -> list[str]:
    """URL names of the pages the ``st.page_link`` s on the page point to."""
    return [link.proto.page for link in at.page_link]


def _assert_calibrated_porosity(at: AppTest, density: float) -> None:
    """The shown porosity (4 decimals) is the simulator's calibrated pore-voxel count at ``density``."""
    voxels = float(metrics(at)["Porosity φ"]) * 30**3
    assert abs(voxels - round(expected_pore_voxels(density))) <= COUNT_TOLERANCE + 30**3 * 5e-5


@pytest.fixture(scope="module")
def dataset():
    return load_dataset()


# ----------------------------------------------------------------------------- Home


def test_home_reports_dataset_and_models(dataset):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert metrics(at)["Grids"] == str(len(dataset))
    text = " ".join(m.value for m in at.markdown)
    assert dataset.fingerprint in text
    for name in registry.names():
        assert f"**{model_label(name)}**" in text
    assert _links(at) == [Path(page.path).stem for page in keys.PAGES[1:]]


def test_missing_dataset_says_so_and_links_home(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "DATA_DIR", tmp_path / "nothing-here")
    st.cache_resource.clear()
    try:
        at = _page("generate")
        assert any("needs the dataset" in info.value for info in at.info)
        assert _links(at) == [HOME_URL]
        assert not at.metric  # the page stopped
    finally:
        st.cache_resource.clear()


# ----------------------------------------------------------------------------- Generate


def test_generate_slider_regenerates_with_dataset_baselines():
    at = _page("generate")
    _assert_calibrated_porosity(at, keys.DEFAULTS[keys.DENSITY])
    at.slider(key=keys.DENSITY).set_value(0.45).run()
    assert_clean(at)
    _assert_calibrated_porosity(at, 0.45)
    baselines = [c.value for c in at.caption if c.value.startswith("dataset: ")]
    assert len(baselines) == 5 and all("±" in b for b in baselines)
    assert any("nearest d = 0.45" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 2


@pytest.mark.parametrize("model", registry.names(role="generator"))
def test_generate_every_model(model):
    at = _page("generate")
    at.selectbox(key=keys.MODEL).set_value(model).run()
    assert_clean(at)
    assert model_status(model).ready, f"{model}: its shipped checkpoint is missing"
    assert len(at.metric) == 5


def test_generate_says_so_when_a_checkpoint_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(inference, "CHECKPOINTS_DIR", tmp_path)  # no checkpoints there
    at = _page("generate")
    at.selectbox(key=keys.MODEL).set_value("cvae").run()
    assert_clean(at)
    assert any("not available yet" in info.value for info in at.info)
    assert _links(at) == [HOME_URL] and not at.metric


def test_generate_samples_sections_and_downloads():
    at = _page("generate")
    at.number_input(key=keys.N_SAMPLES).set_value(3).run()
    at.radio(key=keys.VIEW_SAMPLE).set_value(2).run()
    axis_key, index_key = keys.slice_keys("generate")
    at.radio(key=axis_key).set_value("x").run()
    at.slider(key=index_key).set_value(29).run()
    assert_clean(at)
    assert any("Section x = 29 of 0–29" in c.value for c in at.caption)
    assert sorted(button.key for button in at.download_button) == [f"download_{kind}" for kind in ("npz", "rows", "stl", "vti")]


@pytest.fixture
def untrained_cvae(monkeypatch, tmp_path):
    """A tiny untrained cVAE checkpoint in place of ``checkpoints/cvae``: the trained-model path runs anywhere."""
    from porelib.checkpoint import save_checkpoint
    from porelib.models.cvae import CVAE, CVAEConfig

    save_checkpoint(tmp_path / "cvae", CVAE(CVAEConfig(width=8, groups=4, latent_channels=1)))
    monkeypatch.setattr(inference, "CHECKPOINTS_DIR", tmp_path)
    generated.clear()
    yield
    generated.clear()


def test_generate_with_a_trained_model(untrained_cvae):
    at = _page("generate")
    at.selectbox(key=keys.MODEL).set_value("cvae").run()
    assert_clean(at)
    assert len(at.metric) == 5
    _assert_calibrated_porosity(at, keys.DEFAULTS[keys.DENSITY])  # top-k keeps the calibrated count


# ----------------------------------------------------------------------------- Compare


def test_compare_by_index_shows_grid_and_fresh_sample_statistics(dataset):
    at = _page("compare")
    test_index = int(next(i for i in dataset.indices if i % 10 == 9 and 0.3 < dataset.densities[i] < 0.7))
    at.selectbox(key=keys.COMPARE_INDEX).set_value(test_index).run()
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert f"Dataset grid #{test_index}" in text and "test split" in text
    assert not [w for w in at.warning if "training split" in w.value]  # a held-out grid: no training-split warning
    table = at.dataframe[0].value
    assert list(table["verdict"].unique()) and set(table["verdict"]) <= {"like the dataset", "close", "off"}
    assert any("Why not IoU" in c.value for c in at.caption)


def test_compare_by_density_picks_the_nearest_grid(dataset):
    at = _page("compare")
    at.radio(key=keys.COMPARE_PICK).set_value("density").run()
    at.slider(key=keys.COMPARE_DENSITY).set_value(0.5).run()
    assert_clean(at)
    nearest = int(dataset.indices[dataset.nearest(0.5, 1)[0]])
    assert f"Dataset grid #{nearest}" in " ".join(m.value for m in at.markdown)


def test_compare_shows_the_cvae_reconstruction_beside_the_empty_grid(dataset):
    at = _page("compare")
    at.selectbox(key=keys.COMPARE_MODEL).set_value("cvae").run()
    test_index = int(next(i for i in dataset.indices if i % 10 == 9 and 0.6 < dataset.densities[i] < 0.9))
    at.selectbox(key=keys.COMPARE_INDEX).set_value(test_index).run()
    assert_clean(at)
    scores = metrics(at)
    assert float(scores["IoU"]) > 0.6  # a held-out grid; the all-empty grid scores 0
    assert any(c.value == "all-empty grid: 0.0000" for c in at.caption)
    assert "reconstruction" in at.radio(key=keys.COMPARE_VIEW).options


def test_compare_opens_on_a_model_that_reconstructs():
    at = _page("compare")
    assert_clean(at)
    assert at.selectbox(key=keys.COMPARE_MODEL).value == "cvae"
    assert float(metrics(at)["IoU"]) > 0.5 and not any("cannot reconstruct" in i.value for i in at.info)


def test_from_image_opens_on_a_section_with_pores():
    at = _page("from_image")
    assert_clean(at)
    assert float(metrics(at)["Section pores"]) > 0.05


def test_compare_without_encoder_explains_missing_reconstruction():
    at = _page("compare")
    at.selectbox(key=keys.COMPARE_MODEL).set_value("simulator").run()
    assert_clean(at)
    assert any("cannot reconstruct" in info.value for info in at.info)


# ----------------------------------------------------------------------------- Score


def test_score_uploaded_grid_with_reference():
    grid = pore_grid(0.55, seed=3)
    reference = pore_grid(0.55, seed=4)
    at = _page("score")
    at.file_uploader(key=keys.SCORE_UPLOAD).set_value(("mine.npy", npy_bytes(grid), "application/octet-stream")).run()
    assert_clean(at)
    assert metrics(at)["Porosity φ"] == f"{grid.mean():.4f}"
    table = at.dataframe[0].value
    assert len(table) == 7 and set(table["verdict"]) <= {"like the dataset", "close", "off"}
    at.file_uploader(key=keys.SCORE_REFERENCE_UPLOAD).set_value(
        ("ref.npy", npy_bytes(reference), "application/octet-stream")
    )
    at.run()
    assert_clean(at)
    scores = metrics(at)
    assert {"IoU", "Dice", "AAD (lower is better)", "AVAR"} <= set(scores)
    assert any(c.value == f"all-empty grid: {reference.mean():.4f}" for c in at.caption)  # the AAD baseline


def test_score_entered_density():
    at = _page("score")
    grid = pore_grid(0.5, seed=5)
    at.file_uploader(key=keys.SCORE_UPLOAD).set_value(("g.npy", npy_bytes(grid), "application/octet-stream")).run()
    at.radio(key=keys.SCORE_DENSITY_MODE).set_value("enter").run()
    at.number_input(key=keys.SCORE_DENSITY).set_value(0.3).run()
    assert_clean(at)
    assert metrics(at)["Compared at density d"] == "0.30"


MALFORMED = [
    ("garbage.npy", b"this is not a numpy file", "garbage.npy"),
    ("flat.npy", npy_bytes(np.zeros((30, 30))), "(30, 30)"),
    ("fuzzy.npy", npy_bytes(np.full((8, 8, 8), 0.5)), "0/1"),
    ("empty.npz", b"PK\x03\x04 broken zip", "empty.npz"),
]


@pytest.mark.parametrize(("name", "payload", "fragment"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_score_malformed_upload_shows_the_library_message(name, payload, fragment):
    at = _page("score")
    at.file_uploader(key=keys.SCORE_UPLOAD).set_value((name, payload, "application/octet-stream")).run()
    assert_clean(at)
    assert len(at.error) == 1 and fragment in at.error[0].value
    assert not at.metric


def test_score_generated_grid_needs_a_visit_to_generate():
    at = _page("score")
    at.radio(key=keys.SCORE_SOURCE).set_value("generated").run()
    assert_clean(at)
    assert any("No grid has been generated" in info.value for info in at.info)
    assert _links(at) == ["generate"]
    at.switch_page("pages/generate.py").run()
    at.switch_page("pages/score.py").run()
    assert_clean(at)
    assert "Porosity φ" in metrics(at)


def test_score_example_file():
    at = _page("score")
    at.radio(key=keys.SCORE_SOURCE).set_value("example").run()
    examples = at.selectbox(key=keys.SCORE_EXAMPLE).options
    lowest_density = min(examples, key=lambda name: float(Path(name).stem.split("_")[-1]))
    at.selectbox(key=keys.SCORE_EXAMPLE).set_value(lowest_density).run()
    assert_clean(at)
    assert "Porosity φ" in metrics(at) and any(lowest_density in h.value for h in at.subheader)


def test_choices_survive_a_page_switch():
    at = _page("generate")
    at.slider(key=keys.DENSITY).set_value(0.35).run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/generate.py").run()
    assert at.slider(key=keys.DENSITY).value == pytest.approx(0.35)
