import numpy as np
import pytest
import torch

from porelib.augment import cube_symmetries, random_cube_symmetry


def test_random_cube_symmetry_draws_all_48_symmetries():
    grid = torch.arange(27).reshape(1, 3, 3, 3)
    generator = torch.Generator().manual_seed(0)
    seen = {tuple(random_cube_symmetry(grid, generator).reshape(-1).tolist()) for _ in range(1000)}
    assert len(seen) == 48
    assert all(sorted(values) == list(range(27)) for values in seen)
    enumerated = {tuple(grid.reshape(-1).tolist()) for grid in cube_symmetries(grid)}
    assert enumerated == seen


def _dihedral(plane: np.ndarray) -> list[np.ndarray]:
    return [np.rot90(p, k) for p in (plane, plane.T) for k in range(4)]


@pytest.mark.parametrize(("size", "count"), [(8, 24), (9, 48)])
def test_keep_central_plane_keeps_a_central_plane_central(size, count):
    grid = np.random.default_rng(size).random((size,) * 3) < 0.3
    mid = size // 2
    planes = [grid[mid], grid[:, mid], grid[:, :, mid]]
    allowed = [variant for plane in planes for variant in _dihedral(plane)]
    turned = random_cube_symmetry(
        torch.from_numpy(grid)[None].repeat(400, 1, 1, 1), torch.Generator().manual_seed(0), keep_central_plane=True
    )
    seen_planes, seen_grids = set(), {out.tobytes() for out in turned.numpy()}
    for out in turned.numpy():
        assert out.sum() == grid.sum()
        matches = [i for i, variant in enumerate(allowed) if np.array_equal(out[:, :, mid], variant)]
        assert matches
        seen_planes.add(matches[0] // 8)
    assert seen_planes == {0, 1, 2}  # the x-, y- and z-sections all become the section
    assert len(seen_grids) == count
