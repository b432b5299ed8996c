"""A material given as 2 or 3 orthogonal 2-D sections (anisotropic): import, split, targets, a run, scoring, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from porelib.cli import main
from porelib.material.reference import SectionReference
from porelib.material.run import load_material, load_material_run, save_material
from porelib.material.sample import import_material, split_material
from porelib.tasks.material import MaterialTask

TINY_RUN = ["--epochs", "1", "--steps-per-epoch", "2", "--patch", "40", "--batch-size", "2", "--target-patches", "4",
            "--threads", "1", "--no-progress", "--width", "8", "--noise-channels", "4", "--convs-per-level", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def sections() -> dict[str, np.ndarray]:
    """Central sections of an anisotropic blob volume (features 1.5, 1.5, 6 voxels: elongated along z),
    by the convention: normal to x = (y, z), normal to y = (x, z), normal to z = (x, y)."""
    from porelib.material.examples import anisotropic

    volume = anisotropic((128, 128, 128), 0.4, seed=0)
    return {"x": volume[64], "y": volume[:, 64], "z": volume[:, :, 64]}


@pytest.fixture(scope="module")
def section_files(sections, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sections")
    files = {}
    for name, image in sections.items():
        files[name] = folder / f"{name}.npy"
        np.save(files[name], image.astype(np.uint8))
    return files


def test_two_and_three_sections_import_as_one_material_and_a_single_image_is_all_three(sections):
    three = import_material([sections["x"], sections["y"], sections["z"]])
    assert three.is_image and three.given_sections == (0, 1, 2) and len(three.distinct_sections) == 3
    assert three.pores is three.sections[0] and np.array_equal(three.sections[2], sections["z"])
    assert three.describe().startswith("3 sections (normal to x 128×128, y 128×128, z 128×128) from")
    two = import_material((sections["x"], None, sections["z"]))
    assert two.given_sections == (0, 2) and two.sections[1] is None
    one = import_material(sections["z"])
    assert one.sections == (one.pores,) * 3 and len(one.distinct_sections) == 1 and one.given_sections == (0, 1, 2)
    pooled = np.concatenate([sections[name].ravel() for name in "xyz"]).mean()
    assert three.porosity == pytest.approx(pooled)


def test_each_section_gets_its_own_held_out_strip_and_the_run_file_keeps_them(sections, tmp_path):
    material = import_material([sections["x"], sections["y"], sections["z"]])
    split = split_material(material)
    assert [part.shape for part in split.parts("held_out")] == [(32, 128)] * 3
    for axis, name in enumerate("xyz"):
        part = split.sections[axis]
        assert np.array_equal(np.concatenate([part.train, part.validation, part.held_out]), sections[name])
    assert set(split.to_dict()["sections"]) == {"x", "y", "z"}
    assert len(split_material(import_material(sections["x"])).parts("held_out")) == 1  # one image: one strip
    save_material(tmp_path / "m.npz", material, split)
    loaded, loaded_split = load_material(tmp_path / "m.npz")
    assert all(np.array_equal(a, b) for a, b in zip(loaded.sections, material.sections))
    assert loaded_split.to_dict() == split.to_dict() and loaded.describe() == material.describe()
    two = import_material([sections["x"], None, sections["z"]])
    save_material(tmp_path / "two.npz", two, split_material(two))
    assert load_material(tmp_path / "two.npz")[0].sections[1] is None


def test_per_axis_targets_keep_the_anisotropy_only_with_sections(section_files):
    def s2(**inputs) -> np.ndarray:
        task = MaterialTask({"data": {name: str(path) for name, path in inputs.items()}, "loss": {"target_patches": 16}})
        targets = task.training_targets
        assert targets["box"] == (48, 48, 48)
        return targets["s2"].numpy(), targets["grams"]

    three, grams = s2(input=section_files["x"], input_y=section_files["y"], input_z=section_files["z"])
    lag = 7  # r = 8 voxels: beyond the x, y feature size, within the z one
    assert three[2, lag] - three[0, lag] > 0.05 and three[2, lag] - three[1, lag] > 0.05
    assert all(g is not None for g in grams)
    two, grams = s2(input=section_files["x"], input_y=section_files["y"])  # both contain z
    assert two[2, lag] - two[0, lag] > 0.05 and grams[2] is None
    alone, _ = s2(input=section_files["z"])  # the xy-plane: the z elongation is not in it
    assert abs(alone[2, lag] - alone[0, lag]) < 0.02
    torch.testing.assert_close(torch.from_numpy(alone[1]), torch.from_numpy((alone[0] + alone[2]) / 2))


def test_statistics_of_each_section_are_named_by_the_volume_axes():
    assert SectionReference.statistic_name(0, "s2_u") == "x:s2_y"
    assert SectionReference.statistic_name(1, "chords_v") == "y:chords_z"
    assert SectionReference.statistic_name(2, "percolation_v") == "z:percolation_y"
    assert SectionReference.statistic_name(2, "euler_per_pixel") == "z:euler_per_pixel"


@pytest.fixture(scope="module")
def runs_dir(section_files, tmp_path_factory) -> Path:
    """A runs folder holding one tiny run on the sections normal to x and z."""
    folder = tmp_path_factory.mktemp("runs")
    flags = ["--input", str(section_files["x"]), "--input-z", str(section_files["z"]), "--pore-value", "1"]
    assert main(["train", "material", *flags, "--out", str(folder / "xz"), *TINY_RUN]) == 0
    return folder


def test_a_tiny_run_on_two_sections_is_scored_section_by_section_from_its_folder(section_files, runs_dir, capsys):
    out = runs_dir / "xz"
    card = json.loads((out / "card.json").read_text())
    assert card["data"]["sections"] == {"x": [128, 128], "y": None, "z": [128, 128]}
    run = load_material_run(out)
    assert run.material.given_sections == (0, 2) and np.load(section_files["z"]).astype(bool).tolist() == \
        run.material.sections[2].tolist()  # fmt: skip
    capsys.readouterr()
    assert main(["score", "--material", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    names = list(result["results"][0]["scores"])
    assert {name.split(":")[0] for name in names} == {"x", "z"} and "x:s2_y" in names and "z:chords_x" in names
    assert [r["method"] for r in result["results"]] == ["model", "gaussian-field", "spheres", "grains", "patch"]
    assert all(":porosity" not in r["worst"] for r in result["results"])


@pytest.mark.parametrize(
    ("pick", "match"),
    [
        (lambda s: [s["x"], s["y"], s["z"], s["x"]], r"at most 3 sections"),
        (lambda s: [s["x"]], r"give 2 or 3 sections"),
        (lambda s: [None, s["y"], s["z"]], r"the section normal to x is needed"),
        (lambda s: [s["x"], np.zeros((40, 40, 40), bool) | (np.arange(40) < 10)], r"normal to y\) is a 3-D volume"),
        (lambda s: [s["x"], np.random.default_rng(0).random((128, 128))], r"normal to y\) holds .* not segmented"),
        (lambda s: [s["x"], s["y"][:100]], r"normal to y\) is an image of 100×128; at least 128"),
        (lambda s: [s["x"].astype(np.uint8) * 255, np.where(s["y"], 0, 255).astype(np.uint8)], r"minority phases differ"),
    ],
    ids=["four", "one", "no-x", "volume", "grey", "small", "minority"],
)
def test_sections_that_cannot_make_a_material_get_one_clear_error(sections, pick, match):
    with pytest.raises(ValueError, match=match):
        import_material(pick(sections))


def test_the_cli_refuses_a_volume_among_sections_on_one_line(section_files, tmp_path, capsys):
    volume = tmp_path / "volume.npy"
    np.save(volume, np.zeros((40, 40, 40), np.uint8) | (np.arange(40) < 10))
    out = tmp_path / "run"
    assert main(["train", "material", "--input", str(section_files["x"]), "--input-y", str(volume), "--out", str(out),
                 *TINY_RUN]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "sections must be 2-D images" in err and "Traceback" not in err and not out.exists()


def test_the_train_page_offers_the_section_uploaders_and_reports_a_bad_section(section_files, tmp_path, monkeypatch):
    from apptest_helpers import app_page

    from porelib import runs
    from porelib.app import state as keys

    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(tmp_path / "runs"))
    at = app_page("train")
    at.selectbox(key=keys.TRAIN_MODEL).set_value("material").run()
    labels = [uploader.label for uploader in at.get("file_uploader")]
    assert any("Section normal to y (rows x, columns z)" in label for label in labels)
    assert any("Section normal to z (rows x, columns y)" in label for label in labels)
    at.text_input(key=keys.train_option_key("material", "data", "input")).set_value(str(section_files["x"])).run()
    grey = tmp_path / "grey.npy"
    np.save(grey, np.random.default_rng(0).random((128, 128)))
    at.text_input(key=keys.train_option_key("material", "data", "input_y")).set_value(str(grey)).run()
    at.button(key=keys.TRAIN_START).click().run()
    assert any("(the section normal to y) holds" in error.value for error in at.error) and not at.exception


def test_the_your_material_page_scores_a_sections_run(runs_dir, monkeypatch):
    from apptest_helpers import app_page

    from porelib import runs
    from porelib.app import state as keys

    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(runs_dir))
    at = app_page("material")
    assert at.selectbox(key=keys.MATERIAL_RUN).value == str(runs_dir / "xz")
    caption = " ".join(c.value for c in at.caption)
    assert "2 sections (normal to x 128×128, z 128×128)" in caption and "a strip of each section" in caption
    at.button(key=keys.MATERIAL_SCORE).click().run(timeout=300)
    assert not at.exception and any("Recommended for this material" in s.value for s in at.success)


def test_the_sections_benchmark_quick(tmp_path):
    from porelib.bench import material_sections

    rows = material_sections.run(out_dir=tmp_path, quick=True)
    assert [row["volumes"] for row in rows] == ["truth (unseen realisation)", "3 sections", "z-section only",
                                                "x-section only", "gaussian-field (3 sections)"]  # fmt: skip
    assert all("x:chords_z" in row and "z:s2_y" in row and "y:perimeter" in row for row in rows)
    assert (tmp_path / "material_sections.md").is_file()
