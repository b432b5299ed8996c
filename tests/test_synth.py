"""The pore simulator: calibration, faces, determinism, bad input."""

import numpy as np
import pytest

from porelib.synth import (
    COUNT_TOLERANCE,
    density_from_porosity,
    expected_pore_voxels,
    pore_grid,
    pore_grids,
)


@pytest.mark.parametrize(("density", "voxels"), [(0.3, 105), (0.5, 730), (1.0, 10168)])
def test_calibration_matches_the_seed_dataset(density, voxels):
    # N = (d / 0.0882) ** 3.8, as measured on the original files (DESIGN.md).
    assert expected_pore_voxels(density) == pytest.approx(voxels, abs=1)


def test_calibration_keeps_porosity_across_sizes():
    assert expected_pore_voxels(0.7, size=60) / 60**3 == pytest.approx(expected_pore_voxels(0.7) / 30**3)


@pytest.mark.parametrize("density", np.round(np.linspace(0.0, 1.0, 21), 2))
def test_hits_the_calibration_and_never_touches_the_faces(density):
    target = round(expected_pore_voxels(density))
    for seed in range(15):
        grid = pore_grid(density, seed=seed)
        assert grid.shape == (30, 30, 30) and grid.dtype == bool
        assert abs(int(grid.sum()) - target) <= COUNT_TOLERANCE
        faces = [grid[0], grid[-1], grid[:, 0], grid[:, -1], grid[:, :, 0], grid[:, :, -1]]
        assert not any(face.any() for face in faces)


def test_other_sizes():
    grid = pore_grid(0.8, size=48, seed=3)
    assert grid.shape == (48, 48, 48)
    assert abs(int(grid.sum()) - round(expected_pore_voxels(0.8, size=48))) <= COUNT_TOLERANCE


def test_pores_are_balls_of_several_sizes():
    from scipy import ndimage

    grid = pore_grid(0.7, seed=1)
    labels, count = ndimage.label(grid, structure=np.ones((3, 3, 3)))
    sizes = np.bincount(labels.ravel())[1:]
    assert count >= 5
    assert sizes.max() > 4 * sizes.min()


def test_same_seed_same_grid_and_different_seed_different_grid():
    assert np.array_equal(pore_grid(0.6, seed=7), pore_grid(0.6, seed=7))
    assert not np.array_equal(pore_grid(0.6, seed=7), pore_grid(0.6, seed=8))


def test_pore_grids_are_independent_of_batch_length():
    two = pore_grids([0.5, 0.9], seed=4)
    three = pore_grids([0.5, 0.9, 0.2], seed=4)
    assert np.array_equal(two, three[:2])


def test_density_from_porosity_inverts_the_calibration():
    for density in (0.3, 0.55, 0.9):
        assert density_from_porosity(expected_pore_voxels(density) / 27000) == pytest.approx(density)
    assert density_from_porosity(0.9) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"density": 1.5}, ValueError, r"density must be in \[0, 1\]"),
        ({"density": -0.1}, ValueError, r"density must be in \[0, 1\]"),
        ({"density": float("nan")}, ValueError, r"density must be in \[0, 1\]"),
        ({"density": "0.5"}, TypeError, "density must be a number"),
        ({"density": 0.5, "size": 3}, ValueError, "size must be at least 5"),
        ({"density": 0.5, "size": 30.0}, TypeError, "size must be an integer"),
    ],
)
def test_bad_input(kwargs, error, match):
    density = kwargs.pop("density")
    with pytest.raises(error, match=match):
        pore_grid(density, **kwargs)
