"""AppTest of the From-an-image page, on a small untrained img2vox checkpoint (so it runs anywhere, fast)."""

from __future__ import annotations

import io as stdio
from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import assert_clean, metrics
from PIL import Image
from streamlit.testing.v1 import AppTest

from porelib.app import state as keys
from porelib.data import load_dataset
from porelib.models.img2vox import Img2Vox, Img2VoxConfig
from porelib.synth import pore_grid

APP = str(Path(__file__).resolve().parent.parent / "studio.py")
TIMEOUT = 120


@pytest.fixture(scope="module")
def untrained_img2vox(tmp_path_factory):
    """An untrained img2vox checkpoint of the dataset's size in place of ``checkpoints/img2vox``."""
    from porelib import inference
    from porelib.checkpoint import save_checkpoint

    folder = tmp_path_factory.mktemp("checkpoints")
    size = load_dataset().size
    config = Img2VoxConfig(size=size, width=8, groups=4, density_intercept=0.15, density_slope=0.95)
    save_checkpoint(folder / "img2vox", Img2Vox(config))
    patch = pytest.MonkeyPatch()
    patch.setattr(inference, "CHECKPOINTS_DIR", folder)
    yield folder
    patch.undo()


def _page(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/from_image.py")
    at.run()
    assert_clean(at)
    return at


def _png_bytes(section: np.ndarray) -> bytes:
    """A picture of a section as the app draws it: x to the right, y upwards, pores dark."""
    buffer = stdio.BytesIO()
    Image.fromarray(np.where(section.T[::-1], 40, 220).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_dataset_section_gives_a_grid_that_keeps_it(untrained_img2vox):
    at = _page(**{keys.FROM_IMAGE_SOURCE: "dataset", keys.FROM_IMAGE_INDEX: 3})
    section = load_dataset().split("test").grids[3][:, :, 15]
    shown = metrics(at)
    assert shown["Section pores"] == f"{section.mean():.4f}"
    assert float(shown["Grid φ"]) > 0
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 7  # fidelity table
    at.number_input(key=keys.FROM_IMAGE_SEED).set_value(5).run()
    assert_clean(at)
    assert any("Section z = " in caption.value for caption in at.caption)


def test_simulated_section_follows_the_density_slider(untrained_img2vox):
    at = _page(**{keys.FROM_IMAGE_SOURCE: "simulate"})
    at.slider(key=keys.FROM_IMAGE_DENSITY).set_value(0.55).run()
    assert_clean(at)
    section = pore_grid(0.55, seed=keys.DEFAULTS[keys.FROM_IMAGE_GRID_SEED])[:, :, 15]
    assert metrics(at)["Section pores"] == f"{section.mean():.4f}"


def test_uploaded_png_and_bad_upload(untrained_img2vox):
    section = pore_grid(0.8, seed=11)[:, :, 15]
    at = _page(**{keys.FROM_IMAGE_SOURCE: "upload"})
    assert any("Upload a section image" in info.value for info in at.info)
    at.file_uploader(key=keys.FROM_IMAGE_UPLOAD).set_value(("mine.png", _png_bytes(section), "image/png")).run()
    assert_clean(at)
    assert metrics(at)["Section pores"] == f"{section.mean():.4f}"  # dark = the minority = pore
    at.file_uploader(key=keys.FROM_IMAGE_UPLOAD).set_value(("bad.png", b"not a png", "image/png")).run()
    assert_clean(at)
    assert len(at.error) == 1 and "could not read file 'bad.png' as a PNG image" in at.error[0].value


def test_draw_asks_for_a_drawing_first(untrained_img2vox):
    at = _page(**{keys.FROM_IMAGE_SOURCE: "draw"})
    assert any("Draw pores on the canvas" in info.value for info in at.info)
    at.radio(key=keys.FROM_IMAGE_TOOL).set_value("freedraw").run()
    at.slider(key=keys.FROM_IMAGE_STROKE).set_value(20).run()
    assert_clean(at)
    assert not at.metric  # nothing drawn yet: the page waits
