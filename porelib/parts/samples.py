"""Pairs of pictures and voxel grids of generated parts: what the model trains and is scored on.

A sample is one part (:func:`porelib.parts.generator.make_part`) in one pose: turned by
one of the 24 rotations of the cube (:data:`porelib.parts.generator.ROTATIONS`; 0 = as
generated), rendered by the convention (:func:`porelib.parts.render.render`, views
``0 … views-1``) and voxelised (:func:`porelib.parts.voxels.voxelise`). Pose 0 of a seed is
the part as generated; poses 1, 2, ... are further turns drawn from
``np.random.default_rng([seed, pose])``: the seed's proposal of renders "from several
sides" as augmentation, with the target turned alike. Nothing is stored on disk: the same
seeds give the same samples.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from porelib._validate import check_positive_int
from porelib.parts.generator import FAMILIES, ROTATIONS, make_part
from porelib.parts.render import PIXELS, canny_edges, render
from porelib.parts.voxels import voxelise


@dataclass(frozen=True)
class PartSamples:
    """Rendered pictures and voxel grids of ``N`` part poses.

    Attributes
    ----------
    seeds : np.ndarray
        ``(N,)`` int64 part seeds.
    families : np.ndarray
        ``(N,)`` int64 indices into :data:`porelib.parts.generator.FAMILIES`.
    rotations : np.ndarray
        ``(N,)`` int64 turn applied to the part as generated (index into ``ROTATIONS``).
    pictures : np.ndarray
        ``(N, V, P, P)`` uint8 grey levels (255 = white background), row 0 at the top.
    edges : np.ndarray
        ``(N, V, P, P)`` bool Canny edges of the pictures.
    packed_grids : np.ndarray
        ``(N, S, S, S // 8)`` uint8: the bool grids bit-packed along z (:meth:`grids`).
    size : int
        Edge length ``S`` of the grids.
    """

    seeds: np.ndarray
    families: np.ndarray
    rotations: np.ndarray
    pictures: np.ndarray
    edges: np.ndarray
    packed_grids: np.ndarray
    size: int

    def __len__(self) -> int:
        return len(self.seeds)

    def grids(self, index=slice(None)) -> np.ndarray:
        """The bool grids ``(n, S, S, S)`` of samples ``index`` (an int gives ``(S, S, S)``)."""
        packed = self.packed_grids[index]
        return np.unpackbits(packed, axis=-1, count=self.size).astype(bool)

    def grey(self, index=slice(None)) -> np.ndarray:
        """Grey levels in [0, 1], float32 ``(n, V, P, P)``, of samples ``index``."""
        return self.pictures[index].astype(np.float32) / 255.0

    def family_names(self) -> list[str]:
        """The family of every sample."""
        return [FAMILIES[k] for k in self.families]

    def fingerprint(self) -> str:
        """16 hex digits of SHA-256 over the seeds, turns, pictures and grids."""
        digest = hashlib.sha256()
        for array in (self.seeds, self.rotations, self.pictures, self.packed_grids):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]


def pose_rotation(seed: int, pose: int) -> int:
    """The turn (index into ``ROTATIONS``) of ``pose`` of the part of ``seed``: 0 for pose 0, else drawn from the seed."""
    if pose == 0:
        return 0
    return int(np.random.default_rng([int(seed), int(pose)]).integers(1, len(ROTATIONS)))


def make_sample(seed: int, *, rotation: int = 0, size: int = 32, views: int = 1, pixels: int = PIXELS):
    """One part turned by ``rotation``: ``(part, pictures, grid)``.

    ``part`` is the :class:`~porelib.parts.generator.Part` as generated, ``pictures`` its
    ``(V, P, P)`` float32 renders from views ``0 … V-1`` and ``grid`` its ``(S, S, S)`` bool
    voxels, both of the turned part.
    """
    part = make_part(seed)
    vertices = part.vertices @ ROTATIONS[rotation].T.astype(np.float64)
    pictures = render(vertices, part.faces, views=tuple(range(views)), pixels=pixels)
    return part, pictures, voxelise(vertices, part.faces, size=size)


def build_samples(seeds, *, poses: int = 1, size: int = 32, views: int = 1, pixels: int = PIXELS,
                  progress=None) -> PartSamples:
    """Render and voxelise the parts of ``seeds``, ``poses`` poses each (module notes).

    Parameters
    ----------
    seeds : sequence of int
        Part seeds (see :data:`porelib.parts.generator.SPLITS`).
    poses : int
        Poses per part (1 = each part as generated).
    size, views, pixels : int
        Grid edge, pictures per sample (views ``0 … views-1``) and picture side.
    progress : callable, optional
        ``progress(done, total)`` after every part.

    Returns
    -------
    PartSamples
        Samples in the order seed by seed, pose by pose.
    """
    seeds = [int(s) for s in seeds]
    poses = check_positive_int(poses, "poses", maximum=len(ROTATIONS))
    size = check_positive_int(size, "size", minimum=8)
    if size % 8:
        raise ValueError(f"size must be a multiple of 8 (grids are bit-packed along z); got {size}")
    n = len(seeds) * poses
    pictures = np.empty((n, views, pixels, pixels), dtype=np.uint8)
    edges = np.empty((n, views, pixels, pixels), dtype=bool)
    packed = np.empty((n, size, size, size // 8), dtype=np.uint8)
    families, rotations, all_seeds = (np.empty(n, dtype=np.int64) for _ in range(3))
    row = 0
    for done, seed in enumerate(seeds, 1):
        for pose in range(poses):
            rotation = pose_rotation(seed, pose)
            part, grey, grid = make_sample(seed, rotation=rotation, size=size, views=views, pixels=pixels)
            pictures[row] = np.round(grey * 255).astype(np.uint8)
            edges[row] = np.stack([canny_edges(g) for g in pictures[row] / 255.0])
            packed[row] = np.packbits(grid, axis=-1)
            families[row], rotations[row], all_seeds[row] = FAMILIES.index(part.family), rotation, seed
            row += 1
        if progress is not None:
            progress(done, len(seeds))
    return PartSamples(all_seeds, families, rotations, pictures, edges, packed, size)


__all__ = ["PartSamples", "build_samples", "make_sample", "pose_rotation"]
