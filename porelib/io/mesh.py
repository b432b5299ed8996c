"""Pore surfaces as triangle meshes (STL): marching cubes out, ray-parity voxelisation in.

:func:`grid_to_surface` triangulates a grid's pore surface; :func:`write_stl` writes it as
a binary STL whose vertices are voxel coordinates, the grid's edge length recorded in the
80-byte header. :func:`load_stl` reads a binary or ASCII STL and voxelises its closed
surface with :func:`surface_to_grid`: a file written here comes back in its own voxel
units and size (the same grid exactly); any other mesh is scaled into a ``STL_SIZE``³
grid (30³) with a one-voxel margin. A binary STL declares its triangle count in its
header, which is checked against the file's length and :data:`MAX_STL_TRIANGLES` before
anything is read.
"""

from __future__ import annotations

import numbers
import re

import numpy as np

from porelib._validate import (
    MAX_GRID_SIZE,
    check_choice,
    check_finite,
    check_grid,
    check_numeric,
    check_positive_int,
    describe,
)
from porelib.io.arrays import parsing
from porelib.io.inputs import InputError, InputFile, open_input

_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])
#: Start of the header of the STL files written here; ``, grid S`` follows.
_STL_HEADER = b"porelib binary STL, units: voxels"
_STL_GRID = re.compile(rb"^porelib binary STL, units: voxels, grid (\d+)")
_STL_ASCII_VERTEX = re.compile(rb"^\s*vertex\s+(\S+)\s+(\S+)\s+(\S+)\s*$", re.MULTILINE)
#: Edge length of the grid a foreign mesh is voxelised into by default (the dataset's).
STL_SIZE = 30
#: How mesh coordinates map to voxels; see :func:`surface_to_grid` and :func:`load_stl`.
STL_UNITS = ("auto", "voxels", "fit")
#: Meshes with more triangles are refused (voxelising them would take minutes and GiBs).
MAX_STL_TRIANGLES = 4_000_000
#: Rays are cast this far (in voxels) beside the voxel centres, in an irrational
#: direction, so that they never run exactly through a vertex or along an edge of a
#: mesh whose coordinates are simple fractions, as marching-cubes meshes are.
_RAY_OFFSET = np.array([np.sqrt(2.0), np.sqrt(3.0)]) * 1e-4
#: Triangle-ray pairs tested at once (bounds the memory of :func:`surface_to_grid`).
_RAY_PAIRS_PER_CHUNK = 1 << 20


def grid_to_surface(grid, *, spacing: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate the pore surface of a grid with marching cubes.

    The grid is padded by one empty voxel on every side so that pores touching
    a face get a closed surface; voxel ``(ix, iy, iz)`` is centred at
    ``(ix, iy, iz) * spacing``, so vertices lie in ``[-0.5, S - 0.5] * spacing``.
    Triangles wind counter-clockwise seen from outside the pores, so that
    right-hand-rule normals point out of them (the STL convention).

    Parameters
    ----------
    grid : array_like
        ``(S, S, S)`` bool or 0/1, ``True`` = pore.
    spacing : float
        Voxel edge length, in the unit wanted for the vertices (default: voxels).

    Returns
    -------
    vertices : np.ndarray
        ``(V, 3)`` float32 positions ``(x, y, z)``.
    faces : np.ndarray
        ``(F, 3)`` int vertex indices of the triangles.

    Raises
    ------
    TypeError
        If ``spacing`` is not a number.
    ValueError
        If the grid is malformed or has no pores, or ``spacing`` is not positive.
    """
    from skimage.measure import marching_cubes

    grid = check_grid(grid, "grid")
    if isinstance(spacing, bool) or not isinstance(spacing, numbers.Real):
        raise TypeError(f"spacing must be a positive number; got {type(spacing).__name__}")
    if not (np.isfinite(spacing) and spacing > 0):
        raise ValueError(f"spacing must be a positive finite number; got {spacing!r}")
    if not grid.any():
        raise ValueError("grid has no pores; there is no surface to export")
    padded = np.pad(grid, 1).astype(np.float32)
    vertices, faces, _, _ = marching_cubes(
        padded, level=0.5, spacing=(float(spacing),) * 3, gradient_direction="ascent", allow_degenerate=False
    )
    vertices -= np.float32(spacing)
    return vertices.astype(np.float32), faces


def surface_to_grid(vertices, faces, *, size: int = STL_SIZE, units: str = "fit") -> np.ndarray:
    """Voxelise a closed triangle surface: the inverse of :func:`grid_to_surface`.

    A voxel is pore when its centre lies inside the surface, by the parity of the
    number of times a ray along +z from the centre crosses the surface (so nested
    shells give hollow pores and the triangles' orientation does not matter). Rays
    run 1e-4 voxel beside the centres, in an irrational direction, so none passes
    exactly through a vertex or along an edge of a mesh with simple-fraction
    coordinates; only a centre closer than that to the surface could be classified
    either way (marching-cubes surfaces of a grid stay at least 0.28 voxel away, so
    :func:`grid_to_surface` followed by this function gives the grid back exactly).

    Parameters
    ----------
    vertices : array_like, (V, 3)
        Vertex positions ``(x, y, z)``; duplicated positions are merged, so a
        triangle soup (three vertices per triangle, as in STL) is accepted.
    faces : array_like of int, (F, 3)
        Vertex indices of the triangles.
    size : int
        Edge length S of the grid, in voxels.
    units : {"fit", "voxels"}
        ``"fit"``: the bounding box is scaled isotropically so that its longest side
        spans ``size - 2`` voxels, centred in the grid (a one-voxel margin on every
        side of the longest axis). ``"voxels"``: coordinates are voxel units,
        voxel ``(ix, iy, iz)`` centred at ``(ix, iy, iz)`` (as :func:`grid_to_surface`
        writes them); the surface must lie within ``[-0.5, size - 0.5]³``.

    Returns
    -------
    np.ndarray
        ``(S, S, S)`` bool, ``grid[ix, iy, iz]``, ``True`` = inside the surface.

    Raises
    ------
    TypeError
        If the arrays do not hold numbers.
    ValueError
        If the arrays are malformed, the surface has no triangles or no extent, is
        not closed (some edge borders an odd number of triangles), or does not fit
        the grid in voxel units.
    """
    size = check_positive_int(size, "size", minimum=2, maximum=MAX_GRID_SIZE)
    check_choice(units, STL_UNITS[1:], "units")
    vertices, faces = _check_surface(vertices, faces)
    _check_closed(faces)
    triangles = _to_voxel_units(vertices, size, units)[faces]
    return _inside_by_ray_parity(triangles, size)


def load_stl(source, *, size: int | None = None, units: str = "auto") -> np.ndarray:
    """Read an STL surface (binary or ASCII) and voxelise it with :func:`surface_to_grid`.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
        As :func:`load_batch`.
    size : int, optional
        Edge length of the grid. Default: the size recorded in the header of a file
        written by :func:`save_grid`, else ``STL_SIZE`` (30, the dataset's).
    units : {"auto", "voxels", "fit"}
        ``"auto"``: ``"voxels"`` for a file written by :func:`save_grid` (its vertices
        are voxel coordinates, so the grid comes back exactly), ``"fit"`` for any
        other mesh (its bounding box scaled into the grid with a one-voxel margin).

    Returns
    -------
    np.ndarray
        ``(S, S, S)`` bool, ``True`` = inside the surface.

    Raises
    ------
    ValueError
        If the file is missing, is neither a binary nor an ASCII STL, holds no
        triangles, or the surface is not closed or does not fit (see :func:`surface_to_grid`).
    """
    check_choice(units, STL_UNITS, "units")
    if size is not None:
        size = check_positive_int(size, "size", minimum=2, maximum=MAX_GRID_SIZE)
    return stl_grid(open_input(source, formats=(".stl",), what="mesh"), size, units)


def stl_grid(file: InputFile, size: int | None, units: str) -> np.ndarray:
    """:func:`load_stl` of a resolved source."""
    triangles, recorded = _read_stl_triangles(file)
    size = size if size is not None else recorded or STL_SIZE
    units = units if units != "auto" else ("voxels" if recorded else "fit")
    vertices = triangles.reshape(-1, 3)
    try:
        return surface_to_grid(vertices, np.arange(len(vertices)).reshape(-1, 3), size=size, units=units)
    except ValueError as exc:
        raise ValueError(f"cannot voxelise {file.label}: {exc}") from exc


def _read_stl_triangles(file: InputFile) -> tuple[np.ndarray, int | None]:
    """The ``(F, 3, 3)`` float64 triangles of a binary or ASCII STL, and the grid size its header records.

    A file is binary when its length is exactly 84 + 50 × (the count in bytes 80–84);
    otherwise it must be ASCII (``solid`` ... ``vertex x y z`` ... ``endsolid``).
    """
    head = file.head(84)
    if len(head) == 84 and file.nbytes == 84 + 50 * int(np.frombuffer(head, "<u4", 1, 80)[0]):
        _check_triangle_count((file.nbytes - 84) // 50, file.label)
        records = np.frombuffer(file.read_bytes(), _STL_RECORD, offset=84)
        triangles = records["vertices"].astype(np.float64)
        recorded = _STL_GRID.match(head[:80])
        return triangles, int(recorded.group(1)) if recorded else None
    data = file.read_bytes()
    if not data.lstrip().startswith(b"solid"):
        raise ValueError(
            f"{file.label} is not an STL file: a binary STL is 84 + 50 × (triangle count) bytes long and an "
            f"ASCII STL starts with 'solid'; it is {len(data)} bytes and starts with {data[:8]!r}"
        )
    vertices = _STL_ASCII_VERTEX.findall(data)
    _check_triangle_count(len(vertices) // 3, file.label)
    with parsing(file, "an ASCII STL"):
        coordinates = np.array(vertices, dtype=np.float64)
    if len(coordinates) % 3:
        raise ValueError(
            f"{file.label} is a broken ASCII STL: it has {len(coordinates)} 'vertex' lines, not three per facet"
        )
    return coordinates.reshape(-1, 3, 3), None


def _check_triangle_count(count: int, label: str) -> None:
    if count > MAX_STL_TRIANGLES:
        raise InputError(
            f"{label} holds {count} triangles, more than the {MAX_STL_TRIANGLES} porelib voxelises; "
            "decimate the mesh first (e.g. pyvista's decimate or MeshLab's quadric edge collapse)"
        )


def _check_surface(vertices, faces) -> tuple[np.ndarray, np.ndarray]:
    """Return float64 vertices ``(V, 3)`` with duplicates merged and int faces ``(F, 3)`` indexing them."""
    vertices, faces = np.asarray(vertices), np.asarray(faces)
    check_numeric(vertices, "vertices")
    check_numeric(faces, "faces")
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be (V, 3) positions x, y, z; got {describe(vertices)}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu":
        raise ValueError(f"faces must be (F, 3) integer vertex indices; got {describe(faces)}")
    if len(faces) == 0:
        raise ValueError("the surface has no triangles; there is nothing to voxelise")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError(f"faces index vertices 0 … {len(vertices) - 1}; found indices {faces.min()} to {faces.max()}")
    check_finite(vertices, "vertices")
    unique, inverse = np.unique(vertices.astype(np.float64), axis=0, return_inverse=True)
    return unique, inverse.reshape(-1)[faces]


def _check_closed(faces: np.ndarray) -> None:
    """Raise ``ValueError`` unless every edge borders an even number of triangles (a closed surface)."""
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    edges = edges[edges[:, 0] != edges[:, 1]]  # edges of degenerate triangles collapse to a point
    _, counts = np.unique(edges, axis=0, return_counts=True)
    open_edges = int(np.count_nonzero(counts % 2))
    if open_edges:
        raise ValueError(
            f"the surface is not closed: {open_edges} of its {len(counts)} edges border an odd number of "
            "triangles (a hole or a loose sheet), so its inside is undefined; close the holes (e.g. with "
            "MeshLab's or pyvista's fill_holes) and export it again"
        )


def _to_voxel_units(vertices: np.ndarray, size: int, units: str) -> np.ndarray:
    """Vertices in voxel coordinates (voxel ``(ix, iy, iz)`` centred at ``(ix, iy, iz)``)."""
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    if units == "voxels":
        if low.min() < -0.5 or high.max() > size - 0.5:
            raise ValueError(
                f"the surface spans {format_point(low)} to {format_point(high)} in voxel units, outside the {size}³ grid "
                f"[-0.5, {size - 0.5}]³; pass a larger size, or units='fit' to scale it into the grid"
            )
        return vertices
    extent = float((high - low).max())
    if extent == 0.0:
        raise ValueError("the surface has no extent (all its vertices coincide); there is nothing to voxelise")
    return (vertices - (low + high) / 2) * ((size - 2) / extent) + (size - 1) / 2


def _inside_by_ray_parity(triangles: np.ndarray, size: int) -> np.ndarray:
    """``(S, S, S)`` bool: voxel centres with an odd number of surface crossings above them along z.

    ``triangles`` ``(F, 3, 3)`` are in voxel units. For every triangle, the rays whose
    (offset) ``(x, y)`` fall strictly inside its projection onto the xy-plane are found
    from its bounding box; each crossing at height ``z`` flips the parity of the voxels
    ``iz > z`` of that ray, which a cumulative sum along z turns into inside/outside.
    """
    xy = triangles[:, :, :2] - _RAY_OFFSET
    low = np.clip(np.ceil(xy.min(axis=1)), 0, size).astype(np.int64)
    high = np.clip(np.floor(xy.max(axis=1)), -1, size - 1).astype(np.int64)
    spans = np.maximum(high - low + 1, 0)
    rays_per_triangle = spans[:, 0] * spans[:, 1]
    crossings = np.zeros((size, size, size + 1), dtype=np.int64)
    ends = np.cumsum(rays_per_triangle)
    start = 0
    while start < len(triangles):
        stop = max(start + 1, int(np.searchsorted(ends, ends[start] - rays_per_triangle[start] + _RAY_PAIRS_PER_CHUNK)))
        _add_crossings(crossings, xy[start:stop], triangles[start:stop, :, 2], low[start:stop],
                       spans[start:stop], rays_per_triangle[start:stop])
        start = stop
    return (np.cumsum(crossings, axis=2)[:, :, :size] % 2).astype(bool)


def _add_crossings(crossings, xy, z, low, spans, counts) -> None:
    """Count the crossings of a chunk of triangles with the rays in their bounding boxes."""
    which = np.repeat(np.arange(len(xy)), counts)
    if which.size == 0:
        return
    local = np.arange(which.size) - np.repeat(np.cumsum(counts) - counts, counts)
    ix = low[which, 0] + local // spans[which, 1]
    iy = low[which, 1] + local % spans[which, 1]
    a, b, c = xy[which, 0], xy[which, 1], xy[which, 2]
    point = np.stack([ix, iy], axis=1).astype(np.float64)
    area = _cross(b - a, c - a)
    weights = np.stack([_cross(c - b, point - b), _cross(a - c, point - c), _cross(b - a, point - a)], axis=1)
    inside = (area != 0) & np.all(weights * np.sign(area)[:, None] > 0, axis=1)
    height = np.einsum("nk,nk->n", weights[inside], z[which[inside]]) / area[inside]
    level = np.clip(np.floor(height).astype(np.int64) + 1, 0, crossings.shape[2] - 1)
    np.add.at(crossings, (ix[inside], iy[inside], level), 1)


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """z-component of the cross product of 2-D vectors ``(N, 2)``."""
    return u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]



def write_stl(target, grid: np.ndarray) -> None:
    """Binary STL of a grid's pore surface, in voxel units, its edge length in the header (see :func:`load_stl`)."""
    vertices, faces = grid_to_surface(grid)
    write_stl_triangles(target, vertices[faces], grid_size=grid.shape[0])


def write_stl_triangles(target, triangles, *, header: bytes = b"", grid_size: int | None = None) -> None:
    """Write triangles as a binary STL: 80-byte header, uint32 triangle count, 50-byte records.

    Parameters
    ----------
    target : str, Path or binary file-like
        Where to write.
    triangles : array_like
        ``(F, 3, 3)`` vertex positions of each triangle, counter-clockwise seen from outside
        (the normals written are the right-hand-rule ones).
    header : bytes
        At most 80 bytes of free text (padded with spaces).
    grid_size : int, optional
        The vertices are voxel coordinates of a ``grid_size``³ grid: the header says so
        (replacing ``header``), and :func:`load_stl` reads the file back in those units.

    Raises
    ------
    ValueError
        If ``triangles`` is not ``(F, 3, 3)`` finite numbers or ``header`` is longer than 80 bytes.
    """
    triangles = np.asarray(triangles, dtype=np.float64)
    if triangles.ndim != 3 or triangles.shape[1:] != (3, 3):
        raise ValueError(f"triangles must be (F, 3, 3) vertex positions; got {describe(triangles)}")
    check_finite(triangles, "triangles")
    if grid_size is not None:
        header = _STL_HEADER + f", grid {check_positive_int(grid_size, 'grid_size')}".encode()
    if len(header) > 80:
        raise ValueError(f"header must be at most 80 bytes; got {len(header)}")
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    records = np.zeros(len(triangles), dtype=_STL_RECORD)
    records["normal"] = normals / np.where(lengths > 0, lengths, 1.0)
    records["vertices"] = triangles
    stream = open(target, "wb") if not hasattr(target, "write") else None
    out = stream or target
    try:
        out.write(header.ljust(80, b" "))
        out.write(np.uint32(len(records)).tobytes())
        out.write(records.tobytes())
    finally:
        if stream is not None:
            stream.close()


def read_stl_surface(source) -> tuple[np.ndarray, np.ndarray]:
    """The surface of an STL file (binary or ASCII) as merged vertices and faces, in the file's units.

    The file goes in through :func:`~porelib.io.inputs.open_input`; a binary STL's declared
    triangle count is checked against its length and :data:`MAX_STL_TRIANGLES` first.
    The surface need not be closed (see :func:`surface_to_grid` for that).

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
        As :func:`load_stl`.

    Returns
    -------
    vertices : np.ndarray
        ``(V, 3)`` float64 positions ``(x, y, z)``, duplicates merged.
    faces : np.ndarray
        ``(F, 3)`` int vertex indices of the triangles.

    Raises
    ------
    ValueError
        If the file is missing, not an STL, has too many triangles, none, or non-finite coordinates.
    """
    file = open_input(source, formats=(".stl",), what="mesh")
    triangles, _ = _read_stl_triangles(file)
    vertices = triangles.reshape(-1, 3)
    try:
        return _check_surface(vertices, np.arange(len(vertices)).reshape(-1, 3))
    except ValueError as exc:
        raise ValueError(f"cannot read the surface of {file.label}: {exc}") from exc


def format_point(coords) -> str:
    """``"(0.5, 1, 2)"``: a point for messages."""
    return "(" + ", ".join(f"{float(c):.4g}" for c in coords) + ")"
