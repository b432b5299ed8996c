"""A user's own material: import, split, the generator, a tiny training run and generation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from porelib.cli import main
from porelib.material.generate import (
    generate_material,
    porosity_warning,
    supported_porosity,
)
from porelib.material.run import load_material_run
from porelib.material.sample import import_material, split_material
from porelib.models.material import (
    MaterialGenerator,
    MaterialGeneratorConfig,
    generate_volume,
    top_k_mask,
)

HOSTILE = Path(__file__).resolve().parent / "hostile"
RNG = np.random.default_rng(0)
VOLUME = RNG.random((40, 36, 34)) < 0.3
TINY_MODEL = ["--width", "8", "--noise-channels", "4", "--convs-per-level", "1"]
TINY_RUN = ["--epochs", "1", "--steps-per-epoch", "2", "--patch", "16", "--batch-size", "2", "--target-patches", "4",
            "--threads", "1", "--no-progress", *TINY_MODEL]  # fmt: skip


def _save(path: Path, array) -> Path:
    np.save(path, array)
    return path


# ----------------------------------------------------------------------------- import


def test_import_chooses_the_pore_phase_and_says_how(tmp_path):
    labels = np.where(VOLUME, 255, 0).astype(np.uint8)
    minority = import_material(_save(tmp_path / "a.npy", labels))
    assert minority.pore_rule == "minority" and minority.pore_value == 255 and np.array_equal(minority.pores, VOLUME)
    assert "minority phase (value 255) taken as pore; pass --pore-value" in minority.describe()
    chosen = import_material(tmp_path / "a.npy", pore_value=0)
    assert chosen.pore_rule == "value" and np.array_equal(chosen.pores, ~VOLUME)
    assert np.array_equal(import_material(VOLUME).pores, VOLUME) and import_material(VOLUME).pore_rule == "bool"
    grey = np.where(VOLUME, 200.0, 40.0) + RNG.normal(0, 5, VOLUME.shape)
    split = import_material(grey, threshold=120, pore_value=200)
    assert np.array_equal(split.pores, VOLUME) and split.threshold == 120


def test_import_reads_raw_volumes_and_2d_images(tmp_path):
    (tmp_path / "v.raw").write_bytes(VOLUME.astype(np.uint8).tobytes())
    raw = import_material(tmp_path / "v.raw", shape=(40, 36, 34), dtype="uint8", pore_value=1, voxel_size=2.5)
    assert np.array_equal(raw.pores, VOLUME) and raw.voxel_size_um == 2.5
    picture = (RNG.random((130, 140)) < 0.25).astype(np.uint8) * 255
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    (tmp_path / "m.png").write_bytes(buffer.getvalue())
    image = import_material(tmp_path / "m.png")
    assert image.is_image and image.pores.shape == (130, 140) and np.array_equal(image.pores, picture == 255)


@pytest.mark.parametrize(
    ("array", "kwargs", "match"),
    [
        (RNG.random((40, 40, 40)), {}, r"holds 64000 distinct values .*not segmented.*--threshold T"),
        (np.zeros((40, 40, 40), np.uint8), {}, r"a single phase"),
        (np.where(VOLUME, 1, 0)[:20], {}, r"at least 32 along every axis"),
        (np.zeros((2, 40, 40, 40), bool), {}, r"4-D array .*expected a 3-D volume .* or a 2-D image"),
        (np.full((40, 40, 40), np.nan), {}, r"NaN or infinite"),
        (np.where(VOLUME, 255, 0), {"pore_value": 7}, r"pore_value 7 is not in the array, whose values are 0, 255"),
        (np.where(VOLUME, 255, 0), {"threshold": 300}, r"entirely on one side of threshold 300"),
    ],
    ids=["grey-without-threshold", "single-phase", "too-small", "4-d", "nan", "absent-value", "threshold-outside"],
)
def test_bad_materials_get_one_clear_error(array, kwargs, match):
    with pytest.raises(ValueError, match=match):
        import_material(array, **kwargs)


def test_a_header_claiming_a_huge_volume_is_refused_and_no_run_folder_is_written(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "material", "--input", str(HOSTILE / "huge.npy"), "--out", str(out), *TINY_RUN]) == 2
    assert "declares an array of 100000×100000×100000" in capsys.readouterr().err
    assert not out.exists()
    assert main(["train", "material", "--out", str(out), *TINY_RUN]) == 2
    assert "train material needs --input SAMPLE" in capsys.readouterr().err and not out.exists()


def test_the_split_keeps_the_held_out_slab_apart():
    material = import_material(VOLUME)
    split = split_material(material, axis=0)
    assert split.bounds == {"train": (0, 22), "validation": (22, 30), "held_out": (30, 40)}
    sizes = [split.train.shape[0], split.validation.shape[0], split.held_out.shape[0]]
    assert sum(sizes) == 40 and min(sizes) >= 8
    assert np.array_equal(np.concatenate([split.train, split.validation, split.held_out]), VOLUME)
    with pytest.raises(ValueError, match="axis must be one of 0, 1, 2"):
        split_material(material, axis=3)


# ----------------------------------------------------------------------------- the generator


@pytest.mark.parametrize("prior", ["none", "gaussian-field"])
def test_generation_is_seamless_exact_and_deterministic(prior):
    model = MaterialGenerator(MaterialGeneratorConfig(width=8, noise_channels=4, prior=prior)).eval()
    shape = (50, 20, 18)
    field = None
    if prior != "none":
        torch.nn.init.normal_(model.head.weight, std=0.5)  # a trained generator's head is not zero
        field = np.random.default_rng(0).standard_normal(model.prior_shape(shape)).astype(np.float32)
    whole = generate_volume(model, shape, 0.3, seed=4, chunk=512, prior=field)
    for chunk in (4, 8, 20):  # any slab size gives the same volume: there is no seam
        assert np.array_equal(generate_volume(model, shape, 0.3, seed=4, chunk=chunk, prior=field), whole)
    assert whole.sum() == round(0.3 * whole.size)
    assert not np.array_equal(generate_volume(model, shape, 0.3, seed=5, prior=field), whole)


def test_an_untrained_generator_with_a_prior_is_the_level_cut_prior():
    model = MaterialGenerator(MaterialGeneratorConfig(width=8, noise_channels=4)).eval()
    shape = (24, 20, 18)
    field = np.random.default_rng(1).standard_normal(model.prior_shape(shape)).astype(np.float32)
    c = model.config.convs_at(model.config.upsamplings)
    expected = top_k_mask(field[c : c + 24, c : c + 20, c : c + 18], 0.35)
    assert np.array_equal(generate_volume(model, shape, 0.35, seed=0, prior=field), expected)
    with pytest.raises(ValueError, match="needs a prior field of shape"):
        generate_volume(model, shape, 0.35, seed=0)


def test_top_k_breaks_ties_by_index():
    mask = top_k_mask(np.zeros((2, 3)), 0.5)
    assert mask.tolist() == [[True, True, True], [False, False, False]]


def test_the_lineal_path_counts_all_pore_runs_and_tells_long_chords_from_short():
    import torch

    from porelib.tasks.material import axis_lineal_path, axis_s2

    rng = np.random.default_rng(0)
    volumes = rng.random((2, 9, 10, 11)) < 0.6
    lineal = axis_lineal_path(torch.from_numpy(volumes).float(), 5).numpy()
    for axis in range(3):
        for r in (1, 3, 5):
            side = volumes.shape[axis + 1]
            runs = np.stack([np.take(volumes, range(k, side - r + k), axis=axis + 1) for k in range(r + 1)]).all(0)
            np.testing.assert_allclose(lineal[:, axis, r - 1], runs.mean(axis=(1, 2, 3)), rtol=1e-6)
    # Rods along z and the same rods cut into 3-voxel pieces: the same porosity and nearly the same
    # S2 at lag 1, but runs of 4 pore voxels along z only in the long rods.
    rods = np.zeros((1, 12, 12, 12), dtype=np.float32)
    rods[:, ::3, ::3, :] = 1
    pieces = rods.copy()
    pieces[..., 3::4] = 0
    long_runs, short_runs = (axis_lineal_path(torch.from_numpy(v), 4)[0, 2, 3].item() for v in (rods, pieces))
    assert long_runs > 0.05 and short_runs == 0.0
    assert axis_s2(torch.from_numpy(pieces), 1)[0, 2, 0] > 0.5 * axis_s2(torch.from_numpy(rods), 1)[0, 2, 0]
    images = torch.from_numpy(volumes[:, :, :, 0]).float()  # an image: its two axes
    np.testing.assert_allclose(axis_lineal_path(images, 3).numpy(),
                               axis_lineal_path(images[..., None].expand(-1, -1, -1, 5), 3)[:, :2].numpy())


# ----------------------------------------------------------------------------- a run


def test_a_tiny_run_trains_saves_its_sample_and_generates_at_a_chosen_porosity(tmp_path, capsys):
    sample = _save(tmp_path / "sample.npy", np.where(VOLUME, 1, 0).astype(np.uint8))
    out = tmp_path / "run"
    assert main(["train", "material", "--input", str(sample), "--pore-value", "1", "--out", str(out), *TINY_RUN]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["model"] == "material" and card["data"]["split"]["axis"] == 0 and (out / "material.npz").is_file()
    run = load_material_run(out)
    assert np.array_equal(run.material.pores, VOLUME) and run.split.held_out.shape[0] >= 8
    low, high = supported_porosity(run)
    assert low <= VOLUME.mean() <= high and porosity_warning(run, 0.3) is None
    assert "outside what the training patches" in porosity_warning(run, 0.9)
    volume = generate_material(run, 40, 0.22, seed=1)
    assert volume.shape == (40, 40, 40) and volume.sum() == round(0.22 * 40**3)
    capsys.readouterr()
    assert main(["generate", "--checkpoint", str(out), "--size", "36", "--porosity", "0.9", "--seed", "2",
                 "--out", str(tmp_path / "g.npy")]) == 0  # fmt: skip
    streams = capsys.readouterr()
    assert "warning: porosity 0.9 is outside" in streams.err and f"{round(0.9 * 36**3)} pore voxels" in streams.out
    written = np.load(tmp_path / "g.npy")
    assert written.dtype == np.uint8 and written.shape == (36, 36, 36) and written.sum() == round(0.9 * 36**3)
    assert main(["generate", "--checkpoint", str(out), "--density", "0.5", "--porosity", "0.3",
                 "--out", str(tmp_path / "x.npy")]) == 2  # fmt: skip


def test_the_train_page_takes_an_uploaded_sample_and_refuses_a_bad_one(tmp_path, monkeypatch):
    from apptest_helpers import app_page, npy_bytes

    from porelib import runs
    from porelib.app import state as keys

    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(tmp_path / "runs"))
    at = app_page("train")
    at.selectbox(key=keys.TRAIN_MODEL).set_value("material").run()
    assert not at.exception
    # A sample that is not segmented: stored, then refused with the library's message when started.
    stored = runs.store_upload(_Upload("grey.npy", npy_bytes(RNG.random((40, 40, 40)))), formats=(".npy",))
    assert stored.parent == tmp_path / "runs" / "uploads" and stored.name.endswith("-grey.npy")
    at.text_input(key=keys.train_option_key("material", "data", "input")).set_value(str(stored)).run()
    at.button(key=keys.TRAIN_START).click().run()
    assert any("not segmented" in error.value for error in at.error) and not at.exception
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name != "uploads"]  # no run folder


class _Upload:
    def __init__(self, name: str, data: bytes):
        self.name, self._data, self.size = name, data, len(data)

    def getvalue(self) -> bytes:
        return self._data


def test_the_your_material_page_opens_on_the_shipped_example_and_scores_it():
    from apptest_helpers import app_page

    from porelib.app import state as keys

    at = app_page("material")
    assert not at.exception and at.selectbox(key=keys.MATERIAL_RUN).value.endswith("checkpoints/material")
    caption = " ".join(c.value for c in at.caption)
    assert "pore voxels, exactly as asked" in caption and "Held out" in caption
    at.slider(key=keys.MATERIAL_POROSITY).set_value(0.6).run()
    assert not at.exception and "porosity 0.6000" in " ".join(c.value for c in at.caption)
    at.selectbox(key=keys.MATERIAL_METHOD).set_value("gaussian-field").run()
    at.button(key=keys.MATERIAL_SCORE).click().run(timeout=600)
    assert not at.exception
    assert any("Recommended for this material" in s.value for s in at.success)
    assert len(at.dataframe) == 1 and len(at.get("vega_lite_chart")) >= 1
