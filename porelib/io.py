"""Read and write pore grids in every file format Pore Studio accepts.

A grid is a bool array ``grid[ix, iy, iz]``, ``True`` = pore. Formats, chosen by
the file extension (or ``fmt=`` for uploads and raw bytes):

``.npy``
    A dense grid ``(S, S, S)`` or batch ``(N, S, S, S)`` of bools or 0/1 numbers,
    or the **original row format** of the seed dataset: ``(S³, 4)`` rows
    ``(x, y, z, occupancy)`` with float coordinates on an S-point grid in [0, 1]
    (value = index / (S - 1)), in any row order, occupancy 0/1. Rows are
    placed by their coordinates, never by their order. Integer-typed rows
    cannot hold such coordinates (except for S = 2), so integer coordinates
    are read as voxel indices 0 … S-1, which is the same thing for S = 2.
    Saved as rows when ``layout="rows"``, or when the file name starts with
    ``distribution_`` or ends with ``.rows.npy``.
``.npz``
    Compressed archive with ``grids`` ``(N, S, S, S)`` (or ``(S, S, S)``, or a
    single grid under ``grid``) and optional ``densities`` ``(N,)``.
``.tif`` / ``.tiff``
    A 3-D stack read with tifffile as ``array[axis0, axis1, axis2] = grid[ix, iy, iz]``:
    page k is the slice ``grid[k, :, :]``. Written as uint8 0/1 (zlib); on
    reading 0/1 or 0/255 are accepted (255 = pore).
``.vti``
    ParaView/VTK XML ImageData: dimensions ``(S, S, S)``, spacing 1, origin 0,
    uint8 point data ``"pore"``; VTK point ``(ix, iy, iz)`` holds ``grid[ix, iy, iz]``.
    On reading, a file with a single point-data array of another name is accepted too.
``.stl``
    Written as the binary STL of :func:`grid_to_surface` (vertices in voxel units,
    the grid's edge length recorded in the 80-byte header). Read, binary or ASCII,
    by :func:`load_stl`, which voxelises the closed surface (:func:`surface_to_grid`):
    a file written here comes back in its own voxel units and size (the same grid
    exactly); any other mesh is scaled into a ``STL_SIZE``³ grid (30³) with a
    one-voxel margin. :func:`load_stl` takes ``size=`` and ``units=`` to change that.

Every malformed input raises ``ValueError`` (``TypeError`` for an object that is
neither a path, an array, bytes nor a binary file) with a one-line message
naming the file, what was expected and what was found.
"""

from __future__ import annotations

import io
import numbers
import os
import re
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from porelib._validate import (
    MAX_GRID_SIZE,
    check_binary,
    check_choice,
    check_cubic,
    check_finite,
    check_grid,
    check_grids,
    check_numeric,
    check_positive_int,
    describe,
)

SUPPORTED_LOAD = (".npy", ".npz", ".tif", ".tiff", ".vti", ".stl")
SUPPORTED_SAVE = (".npy", ".npz", ".tif", ".tiff", ".vti", ".stl")
#: Formats that hold one grid, not a batch.
ONE_GRID_FORMATS = (".tif", ".tiff", ".vti", ".stl")
LAYOUTS = ("dense", "rows")
#: Name of the VTK point-data array holding the grid.
VTI_ARRAY = "pore"
#: How far (in grid steps) a row coordinate may be from its grid point.
ROW_COORD_TOLERANCE = 1e-3

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_HEAD_BYTES = 8
_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])
#: Start of the header of the STL files written here; ``, grid S`` follows.
_STL_HEADER = b"porelib binary STL, units: voxels"
_STL_GRID = re.compile(rb"^porelib binary STL, units: voxels, grid (\d+)")
_STL_ASCII_VERTEX = re.compile(rb"^\s*vertex\s+(\S+)\s+(\S+)\s+(\S+)\s*$", re.MULTILINE)
#: Edge length of the grid a foreign mesh is voxelised into by default (the dataset's).
STL_SIZE = 30
#: How mesh coordinates map to voxels; see :func:`surface_to_grid` and :func:`load_stl`.
STL_UNITS = ("auto", "voxels", "fit")
#: Rays are cast this far (in voxels) beside the voxel centres, in an irrational
#: direction, so that they never run exactly through a vertex or along an edge of a
#: mesh whose coordinates are simple fractions, as marching-cubes meshes are.
_RAY_OFFSET = np.array([np.sqrt(2.0), np.sqrt(3.0)]) * 1e-4
#: Triangle-ray pairs tested at once (bounds the memory of :func:`surface_to_grid`).
_RAY_PAIRS_PER_CHUNK = 1 << 20


@dataclass(frozen=True)
class GridBatch:
    """Grids read from one file.

    Attributes
    ----------
    grids : np.ndarray
        ``(N, S, S, S)`` bool, ``grids[n, ix, iy, iz]``, ``True`` = pore.
    densities : np.ndarray or None
        ``(N,)`` float density factors in [0, 1], or ``None`` when the file has none.
    """

    grids: np.ndarray
    densities: np.ndarray | None = None


# ----------------------------------------------------------------------------- public API


def load_batch(source, *, fmt: str | None = None) -> GridBatch:
    """Load one grid or a batch of grids from a file, an upload or an array.

    Parameters
    ----------
    source : str, Path, np.ndarray, bytes or binary file-like
        A file path; a dense ``(S, S, S)`` / ``(N, S, S, S)`` array or
        ``(S³, 4)`` rows; raw bytes; or an object with ``getvalue()`` or
        ``read()`` returning bytes (e.g. a Streamlit ``UploadedFile``).
    fmt : str, optional
        Format extension such as ``".npy"``; by default the extension of the
        path or of the object's ``name``. Ignored for arrays.

    Returns
    -------
    GridBatch
        ``grids`` ``(N, S, S, S)`` bool and ``densities`` ``(N,)`` or ``None``.

    Raises
    ------
    TypeError
        If ``source`` is none of the accepted kinds.
    ValueError
        If the file is missing, unreadable or of an unsupported format, or holds
        anything other than cubic 0/1 grids of at most ``MAX_GRID_SIZE``³.
    """
    return _load(source, fmt)[0]


def load_grid(source, *, fmt: str | None = None) -> np.ndarray:
    """Load exactly one grid ``(S, S, S)`` bool; see :func:`load_batch` for ``source``.

    Raises
    ------
    ValueError
        As :func:`load_batch`, and if the source holds more than one grid.
    """
    batch, label = _load(source, fmt)
    if len(batch.grids) != 1:
        raise ValueError(
            f"{label} holds {len(batch.grids)} grids but one was expected; "
            "use porelib.io.load_batch to read them all, or save a single grid"
        )
    return batch.grids[0]


def save_grid(path, grids, *, densities=None, layout: str | None = None) -> Path:
    """Write one grid or a batch atomically, in the format given by the extension.

    Parameters
    ----------
    path : str or Path
        Target file; its extension is one of ``SUPPORTED_SAVE``. Missing parent
        folders are created. The file is written next to its target and then
        renamed, so a reader never sees half a file.
    grids : array_like
        One grid ``(S, S, S)`` or a batch ``(N, S, S, S)`` of bools or 0/1.
        ``.tif``, ``.vti``, ``.stl`` and the row layout hold one grid only.
    densities : array_like, optional
        ``(N,)`` density factors in [0, 1]. Only ``.npz`` has room for them;
        other formats ignore them (after checking them).
    layout : {"dense", "rows"}, optional
        For ``.npy``: dense array or the original ``(S³, 4)`` rows. By default
        rows when the name starts with ``distribution_`` or ends with ``.rows.npy``.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    TypeError
        If ``path`` is not a str or Path.
    ValueError
        If the extension is unsupported, the grids or densities are malformed,
        a batch is sent to a one-grid format, or the file cannot be written.
    """
    path = _save_path(path)
    suffix = path.suffix.lower()
    given = np.asarray(grids)
    batch = check_grids(given, "grids")
    if densities is not None:
        densities = _check_densities(densities, len(batch), "densities")
    layout = _resolve_layout(path, layout)
    if len(batch) > 1 and (suffix in ONE_GRID_FORMATS or layout == "rows"):
        kind = "the row layout" if layout == "rows" else suffix
        raise ValueError(
            f"grids holds {len(batch)} grids but {kind} stores one grid ({path}); "
            "save one grid (grids[i]) or use .npz/.npy for a batch"
        )
    with _atomic_target(path) as target:
        if suffix == ".npz":
            _write_npz(target, batch, densities)
        elif suffix == ".npy":
            np.save(target, grid_to_rows(batch[0]) if layout == "rows" else batch.reshape(given.shape))
        elif suffix == ".vti":
            _write_vti(target, batch[0])
        elif suffix == ".stl":
            _write_stl(target, batch[0])
        else:
            _write_tif(target, batch[0])
    return path


def rows_to_grid(rows: np.ndarray, *, arg_name: str = "rows") -> np.ndarray:
    """Place ``(S³, 4)`` rows ``(x, y, z, occupancy)`` into an ``(S, S, S)`` bool grid.

    Float coordinates lie on an S-point grid in [0, 1] (value = index / (S - 1),
    within ``ROW_COORD_TOLERANCE`` of a grid step); integer coordinates are
    voxel indices 0 … S-1. Each grid point appears in exactly one row, in any
    order; occupancy is 0/1.

    Raises
    ------
    TypeError
        If ``rows`` does not hold numbers.
    ValueError
        If the shape is not ``(S³, 4)``, any value is NaN/inf, coordinates are
        outside [0, 1] or off the grid, a grid point is duplicated or missing,
        or an occupancy is not 0/1.
    """
    array = np.asarray(rows)
    check_numeric(array, arg_name)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{arg_name} must be (S³, 4) rows of x, y, z, occupancy; got {describe(array)}")
    check_finite(array, arg_name)
    size = _cube_root(len(array), arg_name)
    check_cubic((size,) * 3, arg_name)
    indices = _row_indices(array[:, :3], size, arg_name)
    flat = np.ravel_multi_index(indices.T, (size,) * 3)
    _check_each_point_once(flat, size, arg_name)
    grid = np.zeros(size**3, dtype=bool)
    grid[flat] = check_binary(array[:, 3], f"{arg_name} occupancy (column 4)")
    return grid.reshape(size, size, size)


def grid_to_rows(grid: np.ndarray) -> np.ndarray:
    """Return the ``(S³, 4)`` float64 rows ``(x, y, z, occupancy)`` of a grid.

    Coordinates are ``index / (S - 1)`` in [0, 1]; rows run in C order
    (``x`` slowest, ``z`` fastest); occupancy is 0.0 or 1.0.
    """
    grid = check_grid(grid, "grid")
    size = grid.shape[0]
    coords = np.indices(grid.shape).reshape(3, -1).T / (size - 1)
    return np.column_stack([coords, grid.reshape(-1)]).astype(np.float64, copy=False)


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
    return _stl_grid(_resolve_source(source, ".stl"), size, units)


def _stl_grid(file: _Source, size: int | None, units: str) -> np.ndarray:
    """:func:`load_stl` of a resolved source."""
    triangles, recorded = _read_stl_triangles(file)
    size = size if size is not None else recorded or STL_SIZE
    units = units if units != "auto" else ("voxels" if recorded else "fit")
    vertices = triangles.reshape(-1, 3)
    try:
        return surface_to_grid(vertices, np.arange(len(vertices)).reshape(-1, 3), size=size, units=units)
    except ValueError as exc:
        raise ValueError(f"cannot voxelise {file.label}: {exc}") from exc


# ----------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Source:
    """A file to read: either a path on disk or bytes in memory."""

    label: str
    suffix: str
    head: bytes
    path: Path | None = None
    data: bytes | None = None

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        if self.path is None:
            yield io.BytesIO(self.data)
        else:
            with open(self.path, "rb") as stream:
                yield stream


def _load(source, fmt: str | None) -> tuple[GridBatch, str]:
    """Return the batch in ``source`` and the label that names it in messages."""
    if isinstance(source, np.ndarray):
        return _batch_from_array(source, "source"), "source"
    file = _resolve_source(source, fmt)
    return _READERS[file.suffix](file), file.label


def _resolve_source(source, fmt: str | None) -> _Source:
    """Check the kind, format, existence and emptiness of a file source."""
    fmt = _normalise_fmt(fmt) if fmt is not None else None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label, suffix = f"file '{path}'", fmt or path.suffix.lower()
        _check_load_suffix(suffix, label)
        if not path.exists():
            raise ValueError(f"no such file: '{path}'")
        if not path.is_file():
            raise ValueError(f"'{path}' is a folder, not a file; pass one of its files")
        try:
            with open(path, "rb") as stream:
                file = _Source(label, suffix, stream.read(_HEAD_BYTES), path=path)
        except OSError as exc:
            raise ValueError(f"could not read {label}: {_one_line(exc)}") from exc
    else:
        data, name = _read_bytes(source)
        if fmt is None and not name:
            raise ValueError(
                f"cannot tell the format of bytes without a name; pass fmt= one of {', '.join(SUPPORTED_LOAD)}"
            )
        label, suffix = (f"file '{name}'" if name else "the given bytes"), fmt or Path(name).suffix.lower()
        _check_load_suffix(suffix, label)
        file = _Source(label, suffix, data[:_HEAD_BYTES], data=data)
    if not file.head:
        raise ValueError(f"{file.label} is empty (0 bytes); expected a {file.suffix} file holding a grid")
    return file


def _read_bytes(source) -> tuple[bytes, str | None]:
    """Return the bytes and the name of raw bytes or a binary file-like object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if hasattr(source, "getvalue") or hasattr(source, "read"):
        data = source.getvalue() if hasattr(source, "getvalue") else source.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"source must give bytes; its read()/getvalue() returned {type(data).__name__} "
                "(open files in binary mode, 'rb')"
            )
        name = getattr(source, "name", None)
        return bytes(data), str(name) if name else None
    raise TypeError(
        "source must be a path, a numpy array, bytes or a binary file-like object; "
        f"got {type(source).__name__}"
    )


def _normalise_fmt(fmt) -> str:
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a file extension such as '.npy'; got {type(fmt).__name__}")
    fmt = fmt.strip().lower()
    return fmt if fmt.startswith(".") else f".{fmt}"


def _check_load_suffix(suffix: str, label: str) -> None:
    if suffix not in SUPPORTED_LOAD:
        raise ValueError(f"cannot load {label}: {_unsupported(suffix)}; use one of {', '.join(SUPPORTED_LOAD)}")


def _unsupported(suffix: str) -> str:
    return f"extension '{suffix}' is not supported" if suffix else "the name has no extension"


# ----------------------------------------------------------------------------- readers


def _batch_from_array(array: np.ndarray, label: str, densities: np.ndarray | None = None) -> GridBatch:
    """Interpret a dense grid, a batch or ``(S³, 4)`` rows as a batch."""
    check_numeric(array, label)
    if array.ndim == 2 and array.shape[1] == 4:
        return GridBatch(rows_to_grid(array, arg_name=label)[None], densities)
    if array.ndim not in (3, 4):
        raise ValueError(
            f"{label} must be a grid (S, S, S), a batch (N, S, S, S) or (S³, 4) rows of x, y, z, occupancy; "
            f"got {array.ndim}-D {describe(array)}"
        )
    grids = check_grids(array, label)
    if densities is not None:
        densities = _check_densities(densities, len(grids), f"{label} densities")
    return GridBatch(grids, densities)


def _read_npy(file: _Source) -> GridBatch:
    if not file.head.startswith(_NPY_MAGIC):
        raise ValueError(
            f"{file.label} is not a NumPy .npy file: it starts with {file.head!r} instead of {_NPY_MAGIC!r}"
        )
    with _reading(file), file.open() as stream:
        array = np.load(stream, allow_pickle=False)
    return _batch_from_array(array, file.label)


def _read_npz(file: _Source) -> GridBatch:
    if not file.head.startswith(_ZIP_MAGIC):
        raise ValueError(f"{file.label} is not a .npz (zip) archive: it starts with {file.head!r}")
    with _reading(file), file.open() as stream, np.load(stream, allow_pickle=False) as archive:
        keys = list(archive.keys())
        arrays = {key: archive[key] for key in ("grids", "grid", "densities") if key in keys}
    grids = arrays.get("grids", arrays.get("grid"))
    if grids is None:
        raise ValueError(
            f"{file.label} has no 'grids' (or 'grid') array; found keys: {', '.join(keys) or 'none'}. "
            "Save it with numpy.savez_compressed(path, grids=..., densities=...)"
        )
    return _batch_from_array(grids, file.label, arrays.get("densities"))


def _read_tif(file: _Source) -> GridBatch:
    import tifffile

    with _reading(file), file.open() as stream:
        array = tifffile.imread(stream)
    if array.size and np.isin(array, (0, 255)).all() and (array == 255).any():
        array = array == 255
    return GridBatch(check_grid(array, file.label)[None])


def _read_vti(file: _Source) -> GridBatch:
    import pyvista as pv
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader

    reader = vtkXMLImageDataReader()
    if file.path is None:
        reader.ReadFromInputStringOn()
        reader.SetInputString(file.data)
    else:
        reader.SetFileName(str(file.path))
    try:
        with pv.vtk_verbosity("off"), pv.VtkErrorCatcher(raise_errors=True, send_to_logging=False):
            reader.Update()
    except RuntimeError as exc:
        raise ValueError(f"could not read {file.label} as .vti: {_vtk_reason(exc)}") from exc
    image = pv.wrap(reader.GetOutput())
    names = list(image.point_data.keys())
    if VTI_ARRAY not in names and len(names) != 1:
        raise ValueError(
            f"{file.label} must hold a point-data array named '{VTI_ARRAY}' (uint8, 1 = pore); "
            f"found point arrays: {', '.join(names) or 'none'}"
        )
    values = np.asarray(image.point_data[VTI_ARRAY if VTI_ARRAY in names else names[0]])
    shape = tuple(int(d) for d in image.dimensions)
    check_cubic(shape, file.label)
    if values.shape != (int(np.prod(shape)),):
        raise ValueError(
            f"{file.label} must hold one value per point ({np.prod(shape)} for dimensions {shape}); "
            f"got {describe(values)}"
        )
    grid = values.reshape(shape, order="F")  # VTK stores x fastest
    return GridBatch(check_grid(grid, file.label)[None])


def _read_stl(file: _Source) -> GridBatch:
    return GridBatch(_stl_grid(file, None, "auto")[None])


_READERS = {
    ".npy": _read_npy,
    ".npz": _read_npz,
    ".tif": _read_tif,
    ".tiff": _read_tif,
    ".vti": _read_vti,
    ".stl": _read_stl,
}


@contextmanager
def _reading(file: _Source) -> Iterator[None]:
    """Turn any failure of a parser into one ``ValueError`` naming the file.

    Only the parsing of the file runs inside this block, never our own checks.
    A corrupt file makes parsers fail in many ways besides ``OSError``,
    ``EOFError``, ``zipfile.BadZipFile`` and ``ValueError`` (found by flipping
    bytes: ``zlib.error``, tokenizer errors in the .npy header, ``ZeroDivisionError``
    and ``RuntimeError`` in tifffile), so every ``Exception`` is caught here.
    """
    try:
        yield
    except ValueError as exc:
        if "Object arrays cannot be loaded" in str(exc):
            raise ValueError(
                f"{file.label} holds Python objects (pickled data), which are refused for safety; "
                "save plain numeric arrays"
            ) from exc
        raise ValueError(f"could not read {file.label} as {file.suffix}: {_one_line(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise ValueError(f"could not read {file.label} as {file.suffix}: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _vtk_reason(exc: BaseException) -> str:
    """The first VTK error message, without source lines and object addresses."""
    lines = [line for line in str(exc).splitlines() if line.strip() and not line.startswith("ERROR: In ")]
    reason = re.sub(r"^\w+ \(0x[0-9a-fA-F]+\): ", "", lines[0]) if lines else str(exc)
    return _one_line(reason)


# ----------------------------------------------------------------------------- meshes


def _read_stl_triangles(file: _Source) -> tuple[np.ndarray, int | None]:
    """The ``(F, 3, 3)`` float64 triangles of a binary or ASCII STL, and the grid size its header records.

    A file is binary when its length is exactly 84 + 50 × (the count in bytes 80–84);
    otherwise it must be ASCII (``solid`` ... ``vertex x y z`` ... ``endsolid``).
    """
    with _reading(file), file.open() as stream:
        data = stream.read()
    if len(data) >= 84 and len(data) == 84 + 50 * int(np.frombuffer(data, "<u4", 1, 80)[0]):
        records = np.frombuffer(data, _STL_RECORD, offset=84)
        triangles = records["vertices"].astype(np.float64)
        recorded = _STL_GRID.match(data[:80])
        return triangles, int(recorded.group(1)) if recorded else None
    if not data.lstrip().startswith(b"solid"):
        raise ValueError(
            f"{file.label} is not an STL file: a binary STL is 84 + 50 × (triangle count) bytes long and an "
            f"ASCII STL starts with 'solid'; it is {len(data)} bytes and starts with {data[:8]!r}"
        )
    try:
        coordinates = np.array(_STL_ASCII_VERTEX.findall(data), dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"could not read {file.label} as an ASCII STL: {_one_line(exc)}") from exc
    if len(coordinates) % 3:
        raise ValueError(
            f"{file.label} is a broken ASCII STL: it has {len(coordinates)} 'vertex' lines, not three per facet"
        )
    return coordinates.reshape(-1, 3, 3), None


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
                f"the surface spans {_point(low)} to {_point(high)} in voxel units, outside the {size}³ grid "
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


# ----------------------------------------------------------------------------- writers


def _save_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or Path; got {type(path).__name__}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SAVE:
        raise ValueError(f"cannot save to '{path}': {_unsupported(suffix)}; use one of {', '.join(SUPPORTED_SAVE)}")
    return path


def _resolve_layout(path: Path, layout: str | None) -> str:
    name = path.name.lower()
    if layout is None:
        return "rows" if name.startswith("distribution_") or name.endswith(".rows.npy") else "dense"
    layout = check_choice(layout, LAYOUTS, "layout")
    if layout == "rows" and path.suffix.lower() != ".npy":
        raise ValueError(f"layout='rows' is only for .npy files; got '{path}'")
    return layout


@contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success."""
    target = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield target
        os.replace(target, path)
    except OSError as exc:
        raise ValueError(f"could not write '{path}': {_one_line(exc)}") from exc
    finally:
        if target.exists():  # the write failed half-way
            target.unlink()


def _write_npz(target: Path, grids: np.ndarray, densities: np.ndarray | None) -> None:
    arrays = {"grids": grids} if densities is None else {"grids": grids, "densities": densities}
    np.savez_compressed(target, **arrays)


def _write_tif(target: Path, grid: np.ndarray) -> None:
    import tifffile

    tifffile.imwrite(target, grid.astype(np.uint8), photometric="minisblack", compression="zlib")


def _write_vti(target: Path, grid: np.ndarray) -> None:
    import pyvista as pv

    image = pv.ImageData(dimensions=grid.shape, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    image.point_data[VTI_ARRAY] = grid.astype(np.uint8).ravel(order="F")  # VTK stores x fastest
    image.save(target)


def _write_stl(target: Path, grid: np.ndarray) -> None:
    """Binary STL: 80-byte header, uint32 triangle count, 50-byte records."""
    vertices, faces = grid_to_surface(grid)
    triangles = vertices[faces]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    records = np.zeros(len(faces), dtype=_STL_RECORD)
    records["normal"] = normals / np.where(lengths > 0, lengths, 1.0)
    records["vertices"] = triangles
    with open(target, "wb") as stream:
        stream.write(_STL_HEADER + f", grid {grid.shape[0]}".encode().ljust(80 - len(_STL_HEADER), b" "))
        stream.write(np.uint32(len(records)).tobytes())
        stream.write(records.tobytes())


# ----------------------------------------------------------------------------- helpers


def _cube_root(count: int, arg_name: str) -> int:
    """Return S with S³ = count (S ≥ 2), else raise ``ValueError``."""
    size = int(round(count ** (1 / 3)))
    if size**3 == count and size >= 2:
        return size
    expected = f"{arg_name} must have S³ rows, one per point of an S-point grid (e.g. 27000 = 30³)"
    if count < 8:
        raise ValueError(f"{expected}; got {count} rows, fewer than the 2³ = 8 of the smallest grid")
    below = size if size**3 < count else size - 1
    raise ValueError(
        f"{expected}; got {count} rows, which is not a cube ({below}³ = {below**3}, {below + 1}³ = {(below + 1) ** 3})"
    )


def _row_indices(coords: np.ndarray, size: int, arg_name: str) -> np.ndarray:
    """Return the ``(M, 3)`` int voxel indices of row coordinates, checking they are on the grid."""
    if coords.dtype.kind in "biu":
        indices = coords.astype(np.int64)
        if indices.min() < 0 or indices.max() > size - 1:
            raise ValueError(
                f"{arg_name} has integer coordinates, read as voxel indices, from {indices.min()} to "
                f"{indices.max()}; expected 0 to {size - 1} for {size}³ rows"
            )
        return indices
    positions = coords.astype(np.float64) * (size - 1)
    slack = ROW_COORD_TOLERANCE
    if positions.min() < -slack or positions.max() > size - 1 + slack:
        raise ValueError(
            f"{arg_name} coordinates must lie in [0, 1]; found values from {coords.min():g} to {coords.max():g}. "
            f"Voxel indices 0 … {size - 1} must be divided by {size - 1}"
        )
    indices = np.rint(positions)
    off = np.abs(positions - indices) > slack
    if off.any():
        first = coords[np.flatnonzero(off.any(axis=1))[0]]
        raise ValueError(
            f"{arg_name} has {int(off.any(axis=1).sum())} row(s) off the {size}-point grid in [0, 1] "
            f"(coordinates must be multiples of 1/{size - 1}), e.g. x, y, z = {_point(first)}"
        )
    return indices.astype(np.int64)


def _check_each_point_once(flat: np.ndarray, size: int, arg_name: str) -> None:
    counts = np.bincount(flat, minlength=size**3)
    if np.all(counts == 1):
        return
    duplicated = np.flatnonzero(counts > 1)
    missing = np.flatnonzero(counts == 0)
    example_dup = np.array(np.unravel_index(duplicated[0], (size,) * 3)) / (size - 1)
    example_missing = np.array(np.unravel_index(missing[0], (size,) * 3)) / (size - 1)
    raise ValueError(
        f"{arg_name} must hold each of the {size}³ grid points exactly once; {len(duplicated)} point(s) are "
        f"duplicated (e.g. x, y, z = {_point(example_dup)}) and {len(missing)} point(s) are missing "
        f"(e.g. x, y, z = {_point(example_missing)})"
    )


def _point(coords) -> str:
    return "(" + ", ".join(f"{float(c):.4g}" for c in coords) + ")"


def _check_densities(densities, count: int, arg_name: str) -> np.ndarray:
    """Return ``(count,)`` float64 densities in [0, 1]."""
    array = np.asarray(densities)
    check_numeric(array, arg_name)
    if array.shape != (count,):
        raise ValueError(f"{arg_name} must have shape ({count},), one per grid; got {describe(array)}")
    check_finite(array, arg_name)
    array = array.astype(np.float64)
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(f"{arg_name} must lie in [0, 1]; found values from {array.min():g} to {array.max():g}")
    return array
