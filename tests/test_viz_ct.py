"""Figures and tables of the Segment page: overlays, scores, the Dice chart, running several methods, downloads."""

from __future__ import annotations

import io as stdio

import numpy as np
import pytest

from porelib import ct
from porelib.app import figures_ct
from porelib.app.figures import _hex_rgb


@pytest.fixture(scope="module")
def scan():
    return ct.simulate(24, volume_fraction=0.2, contrast="bright", dose="high", seed=7)


def test_overlay_draws_the_mask_filled_and_outlined_in_its_colour():
    volume = np.zeros((6, 5, 4), dtype=np.float32)
    volume[0, 0, 0] = 1.0  # not constant
    mask = np.zeros(volume.shape, dtype=bool)
    mask[1:4, 1:4, 2] = True  # a 3 × 3 square in the section z = 2
    view = figures_ct.overlay_view(volume, mask, axis="z", index=2, colour="#ff0000", pixels=6)
    assert view.image.shape == (5, 6, 3) and view.image.dtype == np.uint8  # y rows, x columns, 1 px per voxel
    assert view.fraction == pytest.approx(9 / 30)
    red = _hex_rgb("#ff0000")
    # Picture row r holds y = 4 - r (y upwards); the outline is opaque, the centre only tinted.
    assert np.array_equal(view.image[4 - 1, 1], red) and np.array_equal(view.image[4 - 3, 3], red)
    centre = view.image[4 - 2, 2]
    assert not np.array_equal(centre, red) and centre[0] > centre[1] == centre[2]
    assert np.array_equal(view.image[0, 0], [0, 0, 0])  # outside the mask: the grey scan
    assert view.geometry.startswith("Section z = 2 of 0–3: x to the right, y upwards")


def test_overlay_without_a_mask_is_the_grey_scan(scan):
    view = figures_ct.overlay_view(scan.image, axis="x", index=5, pixels=48)
    assert view.image.shape == (48, 48, 3) and np.isnan(view.fraction)
    assert np.array_equal(view.image[..., 0], view.image[..., 1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"axis": "w"}, "axis must be one of x, y, z"),
        ({"index": 24}, "index must be at least 0 and at most 23"),
        ({"mask": np.zeros((24, 24, 23), dtype=bool)}, "volume and mask must have the same shape"),
        ({"mask": np.full((24, 24, 24), 0.5)}, "mask must hold only 0/1"),
    ],
)
def test_overlay_rejects_bad_arguments(scan, kwargs, match):
    with pytest.raises(ValueError, match=match):
        figures_ct.overlay_view(scan.image, **kwargs)


def test_scores_and_chart(scan):
    masks = {"otsu": scan.label, "depthmap": np.zeros_like(scan.label)}
    scores = figures_ct.score_masks(masks, scan.label)
    assert list(scores["method"]) == ["otsu", "depthmap"]
    assert scores["dice"].tolist() == [1.0, 0.0] and scores["iou"].tolist() == [1.0, 0.0]
    assert scores["fraction_error"].iloc[1] == pytest.approx(-scan.label.mean())
    spec = figures_ct.dice_chart(scores).to_dict()
    assert len(spec["layer"]) == 3  # bars, their values, the best classical method's rule
    # Display names on the bars; the axis starts at or below every value.
    assert set(spec["datasets"][next(iter(spec["datasets"]))][0]) >= {"method", "dice"}
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"][0] <= 0.0
    with pytest.raises(ValueError, match="at least one"):
        figures_ct.score_masks({}, scan.label)
    with pytest.raises(ValueError, match="mask of otsu and label must have the same shape"):
        figures_ct.score_masks({"otsu": scan.label[:-1]}, scan.label)


def test_segment_methods_reports_progress_over_all_methods(scan):
    reports = []
    masks = figures_ct.segment_methods(
        scan.image, ["otsu", "kmeans"], progress=lambda fraction, message: reports.append((fraction, message))
    )
    assert list(masks) == ["otsu", "kmeans"] and all(m.shape == scan.image.shape for m in masks.values())
    assert reports == [(0.0, "otsu: running"), (0.5, "otsu: done"), (0.5, "kmeans: running"), (1.0, "kmeans: done")]
    with pytest.raises(ValueError, match="methods must be one of"):
        figures_ct.segment_methods(scan.image, ["threshold"])
    with pytest.raises(ValueError, match="at least one"):
        figures_ct.segment_methods(scan.image, [])


def test_mask_npy_round_trips(scan):
    loaded = np.load(stdio.BytesIO(figures_ct.mask_npy(scan.label)), allow_pickle=False)
    assert loaded.dtype == bool and np.array_equal(loaded, scan.label)
    with pytest.raises(ValueError, match="mask must be a 3-D array"):
        figures_ct.mask_npy(np.zeros((4, 4), dtype=bool))


def test_porosity_table_chart_and_disagreement(scan):
    half = np.zeros_like(scan.label)
    half[: scan.label.shape[0] // 2] = True
    table = figures_ct.porosity_table({"otsu": scan.label, "median": scan.label, "depthmap": half}, scan.label)
    assert list(table["method"]) == ["Otsu (raw)", "median + Otsu", "depth map (seed 001)"]
    assert table["error"].iloc[0] == 0.0
    assert figures_ct.disagreement(table) is None  # the depth map is not compared
    table = figures_ct.porosity_table({"otsu": scan.label, "kmeans": half})
    message = figures_ct.disagreement(table)
    assert "disagree" in message and "k-means" in message and "error" not in table
    spec = figures_ct.porosity_chart(table, truth=float(scan.label.mean())).to_dict()
    assert len(spec["layer"]) == 3  # bars, values, the true fraction
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"][1] >= table["fraction"].max()


def test_auto_reuses_the_picked_method(scan, tmp_path):
    masks = figures_ct.segment_methods(scan.image, ["auto", "otsu"], checkpoint=tmp_path)
    picked, reason = figures_ct.auto_choice(scan.image, tmp_path)
    assert picked == "nlm" and reason  # no checkpoint in tmp_path: never the U-Net
    assert list(masks) == ["auto", "otsu"]
    assert np.array_equal(masks["auto"], figures_ct.segment_methods(scan.image, ["nlm"])["nlm"])
