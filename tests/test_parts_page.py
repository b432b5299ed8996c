"""AppTest of the Part-from-a-picture page, on a tiny untrained checkpoint (so it runs anywhere, fast)."""

from __future__ import annotations

import io as stdio
from pathlib import Path

import numpy as np
import pytest
import torch
from apptest_helpers import assert_clean, metrics
from PIL import Image
from streamlit.testing.v1 import AppTest

from porelib.app import state as keys
from porelib.models.parts import PartReconstructor, PartReconstructorConfig
from porelib.parts.generator import make_part, save_part
from porelib.parts.predict import held_out_example, render_stl
from porelib.parts.voxels import voxelise

APP = str(Path(__file__).resolve().parent.parent / "studio.py")
TIMEOUT = 120
HOSTILE = Path(__file__).resolve().parent / "hostile"
CONFIG = PartReconstructorConfig(size=16, pixels=64, width=4, latent=8, groups=2)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """An untrained 16³ parts checkpoint, its output biased to 'inside', in place of ``checkpoints/parts``."""
    from porelib import inference
    from porelib.checkpoint import save_checkpoint

    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    model = PartReconstructor(CONFIG)
    with torch.no_grad():
        model.head[-1].bias.fill_(3.0)
    save_checkpoint(folder / "parts", model)
    patch = pytest.MonkeyPatch()
    patch.setattr(inference, "CHECKPOINTS_DIR", folder)
    yield folder
    patch.undo()


def _page(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/part.py")
    at.run()
    assert_clean(at)
    return at


def _png(grey: np.ndarray) -> bytes:
    buffer = stdio.BytesIO()
    Image.fromarray(np.round(grey * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_generated_test_part_is_scored_against_its_truth_and_the_silhouette(tiny_checkpoint):
    at = _page(**{keys.PART_SOURCE: "generated", keys.PART_INDEX: 2})
    shown = metrics(at)
    assert {"IoU", "Dice", "Voxels inside"} <= set(shown)
    example = held_out_example(2, size=16, pixels=64)
    assert shown["True voxels inside"] == f"{example.truth.mean():.3f}"
    assert any("extruded silhouette" in caption.value for caption in at.caption)
    assert len(at.get("download_button")) == 3
    at.radio(key=keys.PART_VIEW).set_value("truth").run()
    at.slider(key=keys.slice_keys("part")[1]).set_value(8).run()
    assert_clean(at)
    assert any("Blue = part" in caption.value for caption in at.caption)


def test_an_uploaded_picture_with_its_true_stl(tiny_checkpoint, tmp_path):
    part = make_part(33)
    stl, _ = save_part(part, tmp_path / "part.stl")
    picture = render_stl(stl, pixels=64)[0]
    at = _page(**{keys.PART_SOURCE: "picture"})
    assert any("Upload a picture" in info.value for info in at.info)
    at.file_uploader(key=keys.PART_UPLOAD).set_value(("mine.png", _png(picture), "image/png")).run()
    assert_clean(at)
    assert "Voxels inside" in metrics(at) and "IoU" not in metrics(at)
    at.file_uploader(key=keys.PART_TRUTH_UPLOAD).set_value(("part.stl", stl.read_bytes(), "model/stl")).run()
    assert_clean(at)
    truth = voxelise(part.vertices, part.faces, size=16)
    assert metrics(at)["True voxels inside"] == f"{truth.mean():.3f}"


def test_an_uploaded_stl_is_rendered_and_scored(tiny_checkpoint, tmp_path):
    stl, _ = save_part(make_part(40), tmp_path / "part.stl")
    at = _page(**{keys.PART_SOURCE: "stl"})
    at.file_uploader(key=keys.PART_STL_UPLOAD).set_value(("part.stl", stl.read_bytes(), "model/stl")).run()
    assert_clean(at)
    assert "IoU" in metrics(at)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.png", b"this is not a picture", "could not read file 'notes.png'"),
        ("blank.png", None, "the picture is uniform"),
        ("dot.png", "dot", "no part found"),
        ("bomb.png", HOSTILE / "bomb.png", "decompression bomb"),
    ],
)
def test_bad_pictures_are_one_clear_error(tiny_checkpoint, name, data, message):
    if data is None:
        data = _png(np.ones((64, 64)))
    elif data == "dot":
        data = _png(np.pad(np.full((1, 1), 0.3), 40, constant_values=1.0))
    elif isinstance(data, Path):
        data = data.read_bytes()
    at = _page(**{keys.PART_SOURCE: "picture"})
    at.file_uploader(key=keys.PART_UPLOAD).set_value((name, data, "image/png")).run()
    assert_clean(at)
    assert len(at.error) == 1 and message in at.error[0].value
