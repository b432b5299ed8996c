"""Voxel space of the parts, the mesh and points of a prediction, and the scores (IoU, Dice)."""

from __future__ import annotations

import io as stdio

import numpy as np
import pytest
import torch

from porelib import metrics
from porelib.io import load_stl
from porelib.parts.baselines import Retrieval, extruded_silhouette, pixel_embedding
from porelib.parts.generator import make_part
from porelib.parts.predict import scores
from porelib.parts.samples import build_samples, pose_rotation
from porelib.parts.voxels import (
    grid_mesh,
    save_mesh_stl,
    save_ply,
    surface_points,
    voxel_centres,
    voxelise,
)
from porelib.tasks.parts import grid_scores


def _box(x: float, y: float, z: float, offset=(0.0, 0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    v = np.array([[i * x, j * y, k * z] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float) + offset
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])  # fmt: skip
    return v, f


def test_a_box_fills_the_grid_along_its_longest_side_centred_z_up():
    grid = voxelise(*_box(40.0, 20.0, 10.0, offset=(7, -3, 100)), size=32)
    # 40 mm span 32 voxels: 20 mm span 16, 10 mm span 8, centred in the grid.
    expected = np.zeros((32, 32, 32), dtype=bool)
    expected[:, 8:24, 12:20] = True
    np.testing.assert_array_equal(grid, expected)


def test_voxel_centres_are_those_the_voxelisation_uses():
    centres = voxel_centres(4)
    np.testing.assert_allclose(centres[0, 0, 0], [-0.375] * 3)
    np.testing.assert_allclose(centres[3, 2, 1], [0.375, 0.125, -0.125])


def test_a_generated_part_fills_its_bounding_box_in_voxels():
    part = make_part(6)
    grid = voxelise(part.vertices, part.faces, size=32)
    spans = [np.ptp(np.nonzero(grid.any(axis=tuple(a for a in range(3) if a != k)))[0]) + 1 for k in range(3)]
    expected = part.extent / part.extent.max() * 32
    assert np.all(np.abs(np.array(spans) - expected) <= 1.0)
    assert grid.mean() == pytest.approx(part.volume / part.extent.max() ** 3, abs=0.02)


def test_an_open_mesh_is_refused():
    vertices, faces = _box(1, 1, 1)
    with pytest.raises(ValueError, match="not closed"):
        voxelise(vertices, faces[:-1], size=16)


def test_the_mesh_of_a_grid_is_closed_and_reads_back_as_the_grid():
    grid = voxelise(*_box(3, 2, 1), size=16)
    grid[2:6, 2:6, :] = False  # a hole through it
    vertices, faces = grid_mesh(grid.astype(np.float32))
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    assert np.all(np.unique(edges, axis=0, return_counts=True)[1] == 2)
    assert vertices.min() >= -0.5 and vertices.max() <= 15.5
    buffer = stdio.BytesIO()
    save_mesh_stl(buffer, vertices, faces, size=16)
    np.testing.assert_array_equal(load_stl(_named(buffer.getvalue(), "mesh.stl")), grid)


def _named(data: bytes, name: str):
    stream = stdio.BytesIO(data)
    stream.name = name
    return stream


def test_an_empty_prediction_has_no_mesh():
    with pytest.raises(ValueError, match="the prediction is empty"):
        grid_mesh(np.zeros((8, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="cubic"):
        grid_mesh(np.zeros((8, 8, 4)))


def test_surface_points_are_reproducible_and_on_the_surface():
    vertices, faces = _box(2, 1, 1)
    a = surface_points(vertices, faces, n=500, seed=3)
    np.testing.assert_array_equal(a, surface_points(vertices, faces, n=500, seed=3))
    on_a_face = np.isclose(a, 0).any(axis=1) | np.isclose(a[:, 0], 2) | np.isclose(a[:, 1:], 1).any(axis=1)
    assert a.shape == (500, 3) and on_a_face.all()
    buffer = stdio.BytesIO()
    save_ply(buffer, a)
    text = buffer.getvalue().decode()
    assert text.startswith("ply\nformat ascii 1.0") and "element vertex 500" in text
    assert len(text.strip().splitlines()) == 500 + 8


def test_scores_agree_with_porelib_metrics():
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 8, 8, 8)) > 0.6, rng.random((3, 8, 8, 8)) > 0.5
    a[2], b[2] = False, False
    iou, dice = grid_scores(torch.from_numpy(a), torch.from_numpy(b))
    np.testing.assert_allclose(iou.numpy(), [metrics.iou(x, y) for x, y in zip(a, b)])
    np.testing.assert_allclose(dice.numpy(), [metrics.dice(x, y) for x, y in zip(a, b)])
    assert iou[2] == 1 and dice[2] == 1  # both empty
    found = scores(a[0], b[0])
    assert found["iou"] == pytest.approx(metrics.iou(a[0], b[0])) and found["dice"] == pytest.approx(metrics.dice(a[0], b[0]))


def test_samples_are_deterministic_and_a_pose_turns_picture_and_grid_alike():
    first = build_samples([3, 4], poses=2, size=16, pixels=64)
    again = build_samples([3, 4], poses=2, size=16, pixels=64)
    assert len(first) == 4 and first.fingerprint() == again.fingerprint()
    assert list(first.rotations) == [0, pose_rotation(3, 1), 0, pose_rotation(4, 1)] and first.rotations[1] > 0
    grids = first.grids()
    assert grids.shape == (4, 16, 16, 16) and grids[0].sum() == grids[1].sum()  # a turn of the cube keeps the voxels
    # The grid of each pose lies inside the silhouette of its own picture.
    for k in range(4):
        hull = extruded_silhouette(first.grey(k), size=16)
        assert (grids[k] & hull).sum() >= 0.97 * grids[k].sum()


def test_retrieval_returns_the_grid_of_the_most_similar_picture():
    samples = build_samples([0, 1, 2], size=16, pixels=64)
    retrieval = Retrieval(pixel_embedding(samples.grey()), samples.packed_grids, samples.size)
    np.testing.assert_array_equal(retrieval.nearest(pixel_embedding(samples.grey()[[2, 0]])), [2, 0])
    np.testing.assert_array_equal(retrieval.grids(pixel_embedding(samples.grey()[[1]]))[0], samples.grids(1))
    with pytest.raises(ValueError, match="queries must be"):
        retrieval.nearest(np.zeros((1, 5)))
