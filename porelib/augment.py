"""Data augmentation by the symmetries of the cube.

The dataset's pores are placed isotropically, so a grid turned by any of the 48
symmetries of the cube (6 orders of the axes × 8 combinations of flips) is as valid a
sample as the original. Training tasks draw one per grid (:func:`random_cube_symmetry`);
evaluation can average over all of them (:func:`cube_symmetries`).
"""

from __future__ import annotations

import itertools

import torch

#: The 6 orders of the three axes; with the 8 combinations of flips, the 48 symmetries of the cube.
AXIS_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def random_cube_symmetry(
    grids: torch.Tensor, generator: torch.Generator | None = None, *, keep_central_plane: bool = False
) -> torch.Tensor:
    """Apply one of the symmetries of the cube, drawn independently per grid.

    Parameters
    ----------
    grids : Tensor, (N, S, S, S)
    generator : torch.Generator, optional
    keep_central_plane : bool
        Draw only symmetries that map the central plane ``[:, :, :, S // 2]`` onto a
        central plane of the input (any of the three), i.e. never flip the last axis
        when S is even, where the flip would move the plane by one voxel: 24 symmetries
        for even S, all 48 for odd S.

    Returns
    -------
    Tensor, (N, S, S, S)
        Each grid with its axes permuted (6 ways) and flipped (up to 8 ways).
    """
    picks = torch.randint(0, len(AXIS_ORDERS), (grids.shape[0],), generator=generator)
    flips = torch.randint(0, 2, (grids.shape[0], 3), generator=generator).bool()
    if keep_central_plane and grids.shape[-1] % 2 == 0:
        flips[:, 2] = False
    out = []
    for grid, pick, flip in zip(grids, picks, flips):
        grid = grid.permute(*AXIS_ORDERS[pick])
        dims = [axis for axis in range(3) if flip[axis]]
        out.append(grid.flip(dims) if dims else grid)
    return torch.stack(out)


def cube_symmetries(grids: torch.Tensor):
    """Yield the grids ``(N, S, S, S)`` under each of the 48 symmetries of the cube, identity first."""
    for order in AXIS_ORDERS:
        for flips in itertools.product((False, True), repeat=3):
            moved = grids.permute(0, *(axis + 1 for axis in order))
            dims = [axis + 1 for axis in range(3) if flips[axis]]
            yield moved.flip(dims) if dims else moved


__all__ = ["AXIS_ORDERS", "cube_symmetries", "random_cube_symmetry"]
