"""Parts as voxels, and predicted voxels back to a mesh and a point cloud.

Voxel space (the same cube as the picture convention's part space, :mod:`porelib.parts.render`):
the part's bounding box is centred and scaled so that its **longest side spans the grid**;
z is up. Voxel ``grid[ix, iy, iz]`` of an ``S``³ grid is centred at part-space position
``((ix + 0.5) / S - 0.5, (iy + 0.5) / S - 0.5, (iz + 0.5) / S - 0.5)`` and is ``True`` when
its centre lies inside the part (:func:`voxelise`, by ray parity:
:func:`porelib.io.mesh.surface_to_grid`). :func:`voxel_centres` gives those positions.

Out (``part predict``):

* :func:`grid_mesh`: a watertight triangle mesh of an occupancy probability grid by
  marching cubes at 0.5 on the zero-padded grid, lightly Taubin-smoothed (no shrinking),
  in voxel units (voxel ``(ix, iy, iz)`` centred at ``(ix, iy, iz)``, as
  :func:`porelib.io.grid_to_surface`); :func:`save_mesh_stl` writes it with the porelib
  header, so :func:`porelib.io.load_stl` reads it back into the same voxel grid;
* :func:`surface_points` samples points uniformly on that surface; :func:`save_ply` writes
  them as an ASCII PLY point cloud.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from porelib._validate import MAX_GRID_SIZE, check_finite, check_positive_int, describe

#: Taubin smoothing iterations of :func:`grid_mesh` (0 = the raw marching-cubes surface).
SMOOTHING_ITERATIONS = 10
#: Points of a predicted point cloud by default.
POINTS = 4096


def voxel_centres(size: int) -> np.ndarray:
    """``(S, S, S, 3)`` float64 part-space positions of the voxel centres of an ``S``³ grid."""
    size = check_positive_int(size, "size", minimum=2, maximum=MAX_GRID_SIZE)
    axis = (np.arange(size) + 0.5) / size - 0.5
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)


def voxelise(vertices, faces, *, size: int = 32) -> np.ndarray:
    """The voxels of a closed triangle mesh in voxel space (module notes).

    Parameters
    ----------
    vertices : array_like
        ``(V, 3)`` positions in any unit and place.
    faces : array_like of int
        ``(F, 3)`` vertex indices of the triangles of a closed surface.
    size : int
        Edge length ``S`` of the grid.

    Returns
    -------
    np.ndarray
        ``(S, S, S)`` bool, ``grid[ix, iy, iz]``, ``True`` = inside the part.

    Raises
    ------
    ValueError
        If the mesh is malformed, has no extent, or is not closed.
    """
    from porelib.io.mesh import surface_to_grid
    from porelib.parts.render import normalise

    size = check_positive_int(size, "size", minimum=2, maximum=MAX_GRID_SIZE)
    unit = normalise(vertices)
    # Part space [-0.5, 0.5] to voxel units [-0.5, S - 0.5]; a hair inside so rounding never leaves the grid.
    in_voxels = unit * (size * (1 - 1e-9)) + (size - 1) / 2
    return surface_to_grid(in_voxels, np.asarray(faces), size=size, units="voxels")


def voxel_to_part_space(vertices, size: int) -> np.ndarray:
    """Positions in voxel units of an ``S``³ grid (voxel ``i`` centred at ``i``) as part-space positions."""
    return (np.asarray(vertices, dtype=np.float64) + 0.5) / size - 0.5


def _check_probabilities(probability) -> np.ndarray:
    probability = np.asarray(probability)
    if probability.ndim != 3 or len(set(probability.shape)) != 1 or probability.shape[0] < 2:
        raise ValueError(f"probability must be a cubic (S, S, S) grid; got {describe(probability)}")
    if probability.dtype.kind not in "biuf":
        raise TypeError(f"probability must hold numbers in [0, 1]; got dtype {probability.dtype}")
    probability = probability.astype(np.float32)
    check_finite(probability, "probability")
    return probability


def grid_mesh(probability, *, smoothing: int = SMOOTHING_ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """A watertight mesh of ``probability >= 0.5`` (marching cubes, Taubin-smoothed), in voxel units.

    Parameters
    ----------
    probability : array_like
        ``(S, S, S)`` occupancy probabilities in [0, 1] (or a bool grid).
    smoothing : int
        Taubin iterations (lambda 0.5, mu -0.53): smooths the voxel steps without shrinking.

    Returns
    -------
    vertices : np.ndarray
        ``(V, 3)`` float64 in voxel units (voxel ``(ix, iy, iz)`` centred at ``(ix, iy, iz)``).
    faces : np.ndarray
        ``(F, 3)`` int64, counter-clockwise seen from outside.

    Raises
    ------
    ValueError
        If the grid is not cubic, or nothing reaches 0.5 (an empty prediction has no surface).
    """
    from skimage.measure import marching_cubes

    probability = _check_probabilities(probability)
    smoothing = check_positive_int(smoothing, "smoothing", minimum=0, maximum=1000)
    if not (probability >= 0.5).any():
        raise ValueError("the prediction is empty (no voxel reaches probability 0.5); there is no surface to export")
    padded = np.pad(probability, 1)
    vertices, faces, _, _ = marching_cubes(padded, level=0.5, gradient_direction="ascent", allow_degenerate=False)
    vertices = vertices.astype(np.float64) - 1.0
    faces = faces.astype(np.int64)
    if smoothing:
        import trimesh
        from trimesh.smoothing import filter_taubin

        mesh = trimesh.Trimesh(vertices, faces, process=False)
        filter_taubin(mesh, lamb=0.5, nu=0.53, iterations=smoothing)
        # smoothing may push the surface of a voxel on the grid's face past it: keep it inside the grid
        vertices = np.clip(np.asarray(mesh.vertices, dtype=np.float64), -0.5, probability.shape[0] - 0.5)
    return vertices, faces


def save_mesh_stl(target, vertices, faces, *, size: int) -> None:
    """Write a mesh in voxel units (to a path or a binary file-like) as a binary STL with the
    porelib header (``grid S``), so :func:`porelib.io.load_stl` voxelises it back in its own units."""
    from porelib.io.mesh import write_stl_triangles

    vertices, faces = np.asarray(vertices, dtype=np.float64), np.asarray(faces)
    write_stl_triangles(target, vertices[faces], grid_size=size)


def surface_points(vertices, faces, *, n: int = POINTS, seed=None) -> np.ndarray:
    """``(n, 3)`` float64 points drawn uniformly (by area) on a triangle surface.

    Raises
    ------
    ValueError
        If the surface has no area or ``n`` is not positive.
    """
    n = check_positive_int(n, "n", maximum=10_000_000)
    vertices, faces = np.asarray(vertices, dtype=np.float64), np.asarray(faces)
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    areas = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    if not areas.sum() > 0:
        raise ValueError("the surface has no area; there are no points to sample")
    rng = np.random.default_rng(seed)
    which = rng.choice(len(faces), size=n, p=areas / areas.sum())
    r1, r2 = rng.random(n), rng.random(n)
    root = np.sqrt(r1)
    return (1 - root)[:, None] * a[which] + (root * (1 - r2))[:, None] * b[which] + (root * r2)[:, None] * c[which]


def save_ply(target, points) -> None:
    """Write ``(N, 3)`` points as an ASCII PLY point cloud (``x y z`` per line) to a path or a binary file-like."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (N, 3) positions; got {describe(points)}")
    header = (f"ply\nformat ascii 1.0\ncomment porelib part point cloud, units: voxels\nelement vertex {len(points)}\n"
              "property float x\nproperty float y\nproperty float z\nend_header\n")
    body = "".join(f"{x:.5f} {y:.5f} {z:.5f}\n" for x, y, z in points)
    data = (header + body).encode("ascii")
    if hasattr(target, "write"):
        target.write(data)
    else:
        Path(target).write_bytes(data)


__all__ = [
    "POINTS",
    "grid_mesh",
    "save_mesh_stl",
    "save_ply",
    "surface_points",
    "voxel_centres",
    "voxel_to_part_space",
    "voxelise",
]
