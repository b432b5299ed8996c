"""porelib.app.figures (figures, meshes, cards, exports) and porelib.app.state (session keys, model status)."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest

from porelib import io, metrics, registry
from porelib.app import figures as viz
from porelib.app import state as app_state
from porelib.synth import pore_grid

SIZE = 12


def _ball_grid(size: int = SIZE, radius: float = 3.0) -> np.ndarray:
    axis = np.arange(size) - (size - 1) / 2
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    return x**2 + y**2 + z**2 <= radius**2


@pytest.fixture(scope="module")
def reference():
    return metrics.Reference(np.stack([pore_grid(0.6, seed=seed) for seed in range(4)]))


# ----------------------------------------------------------------------------- verdicts

VERDICT_CASES = [
    (0.0, "like the dataset"),
    (1.0, "like the dataset"),
    (1.5, "like the dataset"),
    (1.51, "close"),
    (3.0, "close"),
    (3.01, "off"),
    (math.inf, "off"),
    (math.nan, "n/a"),
]


@pytest.mark.parametrize(("ratio", "expected"), VERDICT_CASES)
def test_verdict_follows_the_noise_floor_ratio(ratio, expected):
    assert viz.verdict(ratio) == expected


# ----------------------------------------------------------------------------- slices


def test_slice_view_places_a_voxel_by_its_coordinates():
    grid = np.zeros((SIZE,) * 3, dtype=bool)
    grid[3, 5, 7] = True
    view = viz.slice_view(grid, "z", 7, pixels=SIZE)  # one pixel per voxel
    pore = np.all(view.image == viz._hex_rgb(viz.PORE_COLOUR), axis=2)
    assert view.image.shape == (SIZE, SIZE, 3)
    assert np.argwhere(pore).tolist() == [[SIZE - 1 - 5, 3]]  # x to the right, y upwards
    assert view.pore_fraction == pytest.approx(1 / SIZE**2)
    assert view.geometry.startswith(f"Section z = 7 of 0–{SIZE - 1}: x to the right, y upwards")


def test_slice_view_scales_voxels_to_blocks():
    view = viz.slice_view(_ball_grid(), "x", SIZE // 2, pixels=10 * SIZE)
    assert view.image.shape == (10 * SIZE, 10 * SIZE, 3)


@pytest.mark.parametrize(
    ("grid", "axis", "index", "error", "match"),
    [
        (np.zeros((SIZE, SIZE)), "z", 0, ValueError, "3-D grid"),
        (np.zeros((SIZE,) * 3), "w", 0, ValueError, "axis must be one of x, y, z"),
        (np.zeros((SIZE,) * 3), "x", SIZE, ValueError, f"index must be at least 0 and at most {SIZE - 1}"),
        (np.zeros((SIZE,) * 3), "x", 1.5, TypeError, "index must be an integer"),
    ],
)
def test_slice_view_rejects_bad_input(grid, axis, index, error, match):
    with pytest.raises(error, match=match):
        viz.slice_view(grid, axis, index)


# ----------------------------------------------------------------------------- cards and tables


def test_stat_cards_show_each_value_beside_the_dataset_band(reference):
    grid = pore_grid(0.6, seed=10)
    stats = metrics.summary(grid)
    cards = viz.stat_cards(stats, reference.band())
    assert [card.label for card in cards] == [
        "Porosity φ",
        "Pores",
        "Mean pore radius (voxels)",
        "Euler χ (per 10³ voxels)",
        "Specific surface (1/voxel)",
    ]
    assert cards[0].value == f"{stats.porosity:.4f}"
    band = reference.band()["porosity"]
    assert cards[0].baseline == f"dataset: {band['mean']:.4f} ± {band['std']:.4f}"
    assert cards[3].value == f"{stats.euler_per_voxel * 1000:.3f}"
    assert all(card.baseline == "dataset: no dataset baseline" for card in viz.stat_cards(stats, None))


@pytest.mark.parametrize(("name", "match"), [("s2", "no scalar value"), ("volume", "name must be one of")])
def test_stat_cards_reject_unknown_or_curve_statistics(name, match):
    with pytest.raises(ValueError, match=match):
        viz.stat_cards(metrics.summary(_ball_grid()), None, names=(name,))


def test_fidelity_table_has_every_statistic_with_a_verdict(reference):
    grid = pore_grid(0.6, seed=11)
    fidelity = reference.fidelity(grid)
    table = viz.fidelity_table(metrics.summary(grid), fidelity, reference.band())
    assert len(table) == len(metrics.STATISTICS)
    assert set(table["verdict"]) <= {"like the dataset", "close", "off"}
    euler = table[table["statistic"].str.startswith("Euler")].iloc[0]
    assert euler["distance"] == pytest.approx(1000 * fidelity["euler_per_voxel"].distance)
    assert euler["ratio"] == pytest.approx(fidelity["euler_per_voxel"].ratio)


def test_comparison_cards_put_the_empty_grid_beside_each_score():
    reference_grid = _ball_grid()
    cards = viz.comparison_cards(metrics.compare(reference_grid, reference_grid))
    assert [card.value for card in cards] == ["1.0000", "1.0000", "0.0000", "1.0000"]
    porosity = reference_grid.mean()
    assert [card.baseline for card in cards] == [
        "all-empty grid: 0.0000",
        "all-empty grid: 0.0000",
        f"all-empty grid: {porosity:.4f}",
        f"all-empty grid: {1 - porosity:.4f}",
    ]
    empty = np.zeros_like(reference_grid)
    assert viz.comparison_cards(metrics.compare(empty, empty))[0].baseline == "all-empty grid: 1.0000"


# ----------------------------------------------------------------------------- charts


def test_charts_are_valid_vega_lite_with_labelled_axes(reference):
    stats = metrics.summary(pore_grid(0.6, seed=12))
    charts = [
        viz.s2_chart(reference.band()["s2"], {"sample": stats.s2}),
        viz.pore_size_chart([s.pore_radii for s in reference.stats], {"sample": stats.pore_radii}),
        viz.porosity_density_chart([0.2, 0.6], [0.001, 0.05], highlight=(0.6, 0.05)),
    ]
    for chart in charts:
        spec = json.dumps(chart.to_dict())  # validates against the Vega-Lite schema
        assert '"title"' in spec


def test_pore_size_chart_copes_with_grids_without_pores():
    empty = np.array([])
    chart = viz.pore_size_chart([empty, empty], {"empty": empty})
    assert chart.to_dict()


def test_porosity_curve_of_the_simulator_follows_the_calibration():
    curve = viz.porosity_curve("simulator", [0.5, 1.0], n=1, size=SIZE)
    assert list(curve.columns) == ["density", "porosity", "spread"]
    assert curve["porosity"].is_monotonic_increasing


# ----------------------------------------------------------------------------- 3D


def _decoded(scene: dict, name: str, dtype: str, width: int = 3) -> np.ndarray:
    return np.frombuffer(base64.b64decode(scene[name]), dtype=dtype).reshape(-1, width)


def test_mesh_scene_of_a_ball_is_one_closed_surface_with_outward_normals():
    grid = _ball_grid()
    scene = viz.mesh_scene(grid)
    vertices, normals = _decoded(scene, "vertices", "<f4"), _decoded(scene, "normals", "<f4")
    faces = _decoded(scene, "faces", "<u4")
    assert scene["size"] == SIZE and scene["triangles"] == len(faces) > 0
    assert len(vertices) == len(normals) and faces.max() < len(vertices)
    # Closed: every edge is shared by exactly two triangles.
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    assert np.all(np.unique(edges, axis=0, return_counts=True)[1] == 2)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    centre = vertices.mean(axis=0)
    assert np.mean(np.sum((vertices - centre) * normals, axis=1) > 0) > 0.95  # outward
    assert vertices.min() >= -0.5 and vertices.max() <= SIZE - 0.5
    # The id follows the grid: equal grids share it, another grid does not.
    assert viz.mesh_scene(grid.copy())["id"] == scene["id"] != viz.mesh_scene(np.roll(grid, 1, axis=0))["id"]


def test_mesh_scene_of_an_empty_grid_has_no_triangles():
    scene = viz.mesh_scene(np.zeros((SIZE,) * 3, dtype=bool))
    assert scene["triangles"] == 0 and scene["faces"] == ""


# ----------------------------------------------------------------------------- downloads


@pytest.mark.parametrize("kind", ["rows", "npz", "vti"])
def test_export_file_round_trips(tmp_path, kind):
    grids = np.stack([_ball_grid(), np.roll(_ball_grid(), 2, axis=0)])
    name, data = viz.export_file(grids, kind, density=0.5, stem="sample")
    path = tmp_path / name
    path.write_bytes(data)
    batch = io.load_batch(path)
    expected = grids if kind == "npz" else grids[:1]
    np.testing.assert_array_equal(batch.grids, expected)
    if kind == "rows":
        assert name == "distribution_0_0.5000.npy"
        assert np.load(path, allow_pickle=False).shape == (SIZE**3, 4)
    if kind == "npz":
        np.testing.assert_allclose(batch.densities, [0.5, 0.5])


def test_export_file_stl_holds_triangles():
    name, data = viz.export_file(_ball_grid(), "stl", stem="ball")
    triangles = int.from_bytes(data[80:84], "little")
    assert name == "ball.stl" and triangles > 0 and len(data) == 84 + 50 * triangles


@pytest.mark.parametrize(
    ("grids", "kind", "match"),
    [(np.zeros((SIZE,) * 3), "obj", "kind must be one of"), (np.zeros((SIZE, SIZE)), "npz", "grid")],
)
def test_export_file_rejects_bad_input(grids, kind, match):
    with pytest.raises(ValueError, match=match):
        viz.export_file(grids, kind)


# ----------------------------------------------------------------------------- app_state


def test_init_state_fills_only_missing_keys():
    state = {app_state.DENSITY: 0.25, "unrelated": 1}
    app_state.init_state(state)
    assert state[app_state.DENSITY] == 0.25 and state["unrelated"] == 1
    assert {key: state[key] for key in app_state.DEFAULTS if key != app_state.DENSITY} == {
        key: value for key, value in app_state.DEFAULTS.items() if key != app_state.DENSITY
    }


def test_init_state_drops_a_model_no_longer_offered():
    state = {app_state.MODEL: "retired-model"}
    app_state.init_state(state)
    assert state[app_state.MODEL] == registry.names(role="generator")[0]


@pytest.mark.parametrize(("value", "upper", "expected"), [(5, 3, 3), (-2, 3, 0), (2, 3, 2)])
def test_clamp_index(value, upper, expected):
    state = {"k": value}
    app_state.clamp_index(state, "k", upper)
    assert state["k"] == expected


def test_slice_keys_differ_per_page():
    keys = [key for page in app_state.SLICE_PAGES for key in app_state.slice_keys(page)]
    assert len(set(keys)) == len(keys) and set(keys) <= set(app_state.DEFAULTS)


def test_model_status(tmp_path):
    assert app_state.model_status("simulator").ready
    missing = app_state.model_status("cvae", checkpoint=tmp_path / "nothing")
    assert not missing.ready and "python -m porelib train cvae" in missing.detail
    folder = tmp_path / "cvae"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "card.json").write_text(json.dumps({"model": "cvae", "config": {}, "metrics": {"val_iou": 0.31}}))
    ready = app_state.model_status("cvae", checkpoint=folder)
    assert ready.ready and "val_iou 0.31" in ready.detail


# ----------------------------------------------------------------------------- training curves


def test_loss_chart_draws_steps_epoch_means_and_held_out_and_names_spikes():
    steps = [{"step": i + 1, "epoch_progress": (i + 1) / 10, "train_loss": 1.0} for i in range(10)]
    steps[4]["train_loss"] = 82.0  # one bad batch
    rows = [*steps, {"epoch": 1, "train_loss": 1.2, "val_loss": 1.1}]
    frame = viz.loss_frame(rows)
    assert set(frame["series"]) == set(viz.LOSS_SERIES)
    chart, note = viz.loss_chart(rows)
    spec = chart.to_dict()
    assert spec["encoding"]["y"]["scale"]["type"] == "log"  # 1 to 82 spans decades
    assert "Log scale" in note and "1 step(s)" in note and "82" in note and "epoch 0.50" in note


def test_loss_chart_of_epoch_rows_only_is_linear_and_says_so():
    rows = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e} for e in (1, 2, 3)]
    chart, note = viz.loss_chart(rows)
    assert chart.to_dict()["encoding"]["y"]["scale"].get("type") != "log"
    assert "One point per epoch" in note
