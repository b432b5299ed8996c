"""The part reconstructor, its task and the `part` commands, on tiny configurations (seconds on one thread)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from porelib.checkpoint import load_checkpoint
from porelib.cli import main
from porelib.io import load_stl
from porelib.models.parts import PartReconstructor, PartReconstructorConfig, sight_grid
from porelib.parts.predict import (
    predict_files,
    predict_pictures,
    render_stl,
    stl_voxels,
)
from porelib.parts.render import network_input, project
from porelib.parts.voxels import voxel_centres
from porelib.tasks.parts import PartsTask
from porelib.training import TrainConfig, fit

TINY = {"size": 16, "pixels": 64, "width": 4, "latent": 8, "groups": 2}

SHAPES = [
    (TINY, (2, 1, 2, 64, 64), (2, 16, 16, 16)),
    ({**TINY, "channels": "grey"}, (1, 1, 1, 64, 64), (1, 16, 16, 16)),
    ({**TINY, "views": 3}, (2, 3, 2, 64, 64), (2, 16, 16, 16)),
    ({**TINY, "size": 32, "pixels": 128}, (1, 1, 2, 128, 128), (1, 32, 32, 32)),
]

INVALID = [
    ({"size": 24}, ValueError, "size must be 16, 32, 64 or 128"),
    ({"pixels": 100}, ValueError, "pixels must be 64, 128 or 256"),
    ({"views": 5}, ValueError, "views must be at least 1 and at most 4"),
    ({"channels": "edges"}, ValueError, "channels must be one of grey\\+edges, grey"),
    ({"width": 12, "groups": 8}, ValueError, "groups must divide width"),
    ({"width": 8.0}, TypeError, "width must be an integer"),
]


@pytest.mark.parametrize(("options", "input_shape", "output_shape"), SHAPES)
def test_output_shapes(options, input_shape, output_shape, single_thread):
    model = PartReconstructor(PartReconstructorConfig(**options))
    with torch.no_grad():
        assert model(torch.rand(input_shape)).shape == output_shape


@pytest.mark.parametrize(("options", "error", "match"), INVALID)
def test_invalid_hyperparameters_are_refused(options, error, match):
    with pytest.raises(error, match=match):
        PartReconstructorConfig(**options)


def test_pictures_of_the_wrong_shape_are_refused():
    model = PartReconstructor(PartReconstructorConfig(**TINY))
    with pytest.raises(ValueError, match=r"pictures must be \(N, 1, 2, 64, 64\)"):
        model(torch.rand(1, 1, 1, 64, 64))


def test_every_voxel_looks_up_the_pixel_it_projects_onto():
    grid = sight_grid(8, 0)
    assert grid.shape == (1, 8, 64, 2)
    np.testing.assert_allclose(grid[0].reshape(8, 8, 8, 2).numpy(), project(voxel_centres(8), 0), atol=1e-6)


def test_network_input_channels_and_jitter_keep_the_background_dark():
    pictures = torch.full((2, 1, 64, 64), 255, dtype=torch.uint8)
    pictures[:, :, 20:40, 20:40] = 100
    edges = torch.zeros((2, 1, 64, 64), dtype=torch.bool)
    torch.manual_seed(0)
    x = network_input(pictures, edges, with_edges=True, jitter=0.3)
    assert x.shape == (2, 1, 2, 64, 64)
    assert x[:, :, 0, 0, 0].eq(0).all() and (x[:, :, 0, 30, 30] > 0).all()
    plain = network_input(pictures, edges, with_edges=False)
    assert plain.shape == (2, 1, 1, 64, 64) and plain[0, 0, 0, 30, 30] == pytest.approx(1 - 100 / 255)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A parts checkpoint trained by the engine for one epoch on 6 parts (16³, 64-pixel pictures)."""
    out = tmp_path_factory.mktemp("runs") / "parts"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    options = {"model": TINY, "data": {"train_parts": 6, "val_parts": 4}}
    try:
        result = fit(PartsTask(options), TrainConfig(out=out, epochs=1, batch_size=3, threads=1), progress=False)
    finally:
        torch.set_num_threads(threads)
    return out, result


def test_the_engine_trains_the_task_and_the_card_says_how(tiny_run):
    out, result = tiny_run
    model, card = load_checkpoint(out)
    assert isinstance(model, PartReconstructor) and card["model"] == "parts"
    assert card["data"]["train"]["samples"] == 6 and card["baseline"]["method"] == "extruded silhouette"
    assert 0 <= card["metrics"]["iou"] <= 1 and "iou_plate" in card["metrics"]
    assert result.best_epoch == 1


def test_the_task_refuses_a_dataset_and_bad_options():
    with pytest.raises(ValueError, match="reads no dataset"):
        PartsTask(data="data/")
    with pytest.raises(ValueError, match="poses must be at least 1 and at most 24"):
        PartsTask({"data": {"poses": 30}})
    with pytest.raises(ValueError, match="cannot both be 0"):
        PartsTask({"step": {"bce_weight": 0.0, "dice_weight": 0.0}})


def test_predict_from_pictures_and_from_an_stl(tiny_run, tmp_path):
    out, _ = tiny_run
    assert main(["part", "generate", "--seed", "21", "--out", str(tmp_path / "part.stl")]) == 0
    pictures = render_stl(tmp_path / "part.stl", pixels=64)
    prediction = predict_pictures(list(pictures), checkpoint=out)
    assert prediction.probability.shape == (16, 16, 16) and prediction.grid.dtype == bool
    assert prediction.pictures.shape == (1, 64, 64) and prediction.pictures.dtype == np.uint8
    np.testing.assert_array_equal(prediction.grid, prediction.probability >= 0.5)
    assert stl_voxels(tmp_path / "part.stl", size=16).any()
    with pytest.raises(ValueError, match=r"reads 1 picture\(s\) per part"):
        predict_pictures([pictures[0], pictures[0]], checkpoint=out)


def test_cli_render_then_predict_writes_voxels_mesh_and_points(tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    stl, picture = tmp_path / "part.stl", tmp_path / "part.png"
    assert main(["part", "generate", "--seed", "4", "--out", str(stl)]) == 0
    assert json.loads(stl.with_suffix(".json").read_text())["family"] == "shaft"
    assert main(["part", "render", str(stl), "--out", str(picture), "--pixels", "64"]) == 0
    capsys.readouterr()
    # An untrained network may predict nothing: make its output bias positive so there is a surface.
    model, card = load_checkpoint(out)
    with torch.no_grad():
        model.head[-1].bias.fill_(5.0)
    from porelib.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "full", model, card=card)
    code = main(["part", "predict", str(picture), "--out", str(tmp_path / "p.npy"), "--stl", str(tmp_path / "p.stl"),
                 "--points", str(tmp_path / "p.ply"), "--truth", str(stl), "--checkpoint", str(tmp_path / "full")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "IoU" in printed and "Dice" in printed
    voxels = np.load(tmp_path / "p.npy", allow_pickle=False)
    assert voxels.shape == (16, 16, 16) and voxels.dtype == bool and voxels.all()
    np.testing.assert_array_equal(load_stl(tmp_path / "p.stl"), voxels)
    assert (tmp_path / "p.ply").read_text().startswith("ply\n")
    assert predict_files(picture, checkpoint=tmp_path / "full").grid.all()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["part", "render", "missing.stl", "--out", "x.png"], "no such file"),
        (["part", "render", "{stl}", "--out", "{tmp}/x.jpg"], "give a .png path"),
        (["part", "render", "{stl}", "--out", "{tmp}/x.png", "--view", "7"], "view must be one of"),
        (["part", "predict", "{stl}", "--out", "{tmp}/p.npy"], "cannot read file"),
        (["part", "predict", "{blank}", "--out", "{tmp}/p.npy", "--checkpoint", "{run}"], "the picture is uniform"),
        (["part", "generate", "--seed", "-3", "--out", "{tmp}/p.stl"], "seed must be at least 0"),
        (["part", "predict", "{bomb}", "--out", "{tmp}/p.npy", "--checkpoint", "{run}"], "decompression bomb"),
        (["part", "render", "{blank}", "--out", "{tmp}/x.png"], "use one of .stl"),
        (["part", "predict", "{blank}", "--out", "{tmp}/p.txt", "--checkpoint", "{run}"], "must end in .npy"),
        (["part", "predict", "{blank}", "--out", "{tmp}/p.npy", "--stl", "{tmp}/p.obj"], "must end in .stl"),
    ],
)
def test_cli_mistakes_are_one_error_line_and_status_2(tiny_run, tmp_path, capsys, argv, message):
    from PIL import Image

    stl = tmp_path / "part.stl"
    assert main(["part", "generate", "--seed", "1", "--out", str(stl)]) == 0
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(tmp_path / "blank.png")
    capsys.readouterr()
    bomb = Path(__file__).resolve().parent / "hostile" / "bomb.png"
    filled = [a.format(stl=stl, tmp=tmp_path, blank=tmp_path / "blank.png", run=tiny_run[0], bomb=bomb) for a in argv]
    assert main(filled) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
