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

Files come in through :func:`porelib.io.inputs.open_input` and the header-first
readers of :mod:`porelib.io.arrays` (a declared size above the input limit is refused
before anything is allocated). Every malformed input raises ``ValueError``
(``TypeError`` for an object that is neither a path, an array, bytes nor a binary
file) with a one-line message naming the file, what was expected and what was found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from porelib._validate import (
    check_binary,
    check_choice,
    check_cubic,
    check_finite,
    check_grid,
    check_grids,
    check_numeric,
    describe,
)
from porelib.io import arrays
from porelib.io.atomic import atomic_path
from porelib.io.inputs import one_line, open_input
from porelib.io.mesh import format_point, stl_grid, write_stl

SUPPORTED_LOAD = (".npy", ".npz", ".tif", ".tiff", ".vti", ".stl")
SUPPORTED_SAVE = (".npy", ".npz", ".tif", ".tiff", ".vti", ".stl")
#: Formats that hold one grid, not a batch.
ONE_GRID_FORMATS = (".tif", ".tiff", ".vti", ".stl")
LAYOUTS = ("dense", "rows")
#: Name of the VTK point-data array holding the grid.
VTI_ARRAY = "pore"
#: How far (in grid steps) a row coordinate may be from its grid point.
ROW_COORD_TOLERANCE = 1e-3


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


def save_grid(path, grids, *, densities=None, layout: str | None = None, dtype=bool) -> Path:
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
    dtype : {bool, numpy.uint8}
        Element type of a dense ``.npy`` (``uint8``: 0/1, for tools that read no bools).

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
    try:
        with atomic_path(path) as target:
            if suffix == ".npz":
                _write_npz(target, batch, densities)
            elif suffix == ".npy":
                dense = batch.reshape(given.shape).astype(check_choice(np.dtype(dtype), (np.dtype(bool), np.dtype(np.uint8)), "dtype"))
                np.save(target, grid_to_rows(batch[0]) if layout == "rows" else dense)
            elif suffix == ".vti":
                _write_vti(target, batch[0])
            elif suffix == ".stl":
                write_stl(target, batch[0])
            else:
                _write_tif(target, batch[0])
    except OSError as exc:
        raise ValueError(f"could not write '{path}': {one_line(exc)}") from exc
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


# ----------------------------------------------------------------------------- readers


def _load(source, fmt: str | None) -> tuple[GridBatch, str]:
    """Return the batch in ``source`` and the label that names it in messages."""
    if isinstance(source, np.ndarray):
        return _batch_from_array(source, "source"), "source"
    file = open_input(source, formats=SUPPORTED_LOAD, fmt=fmt, what="grid")
    return _READERS[file.suffix](file), file.label


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


def _read_npy(file) -> GridBatch:
    return _batch_from_array(arrays.read_npy(file), file.label)


def _read_npz(file) -> GridBatch:
    return batch_from_arrays(arrays.read_npz(file), file.label)


def batch_from_arrays(content: dict, label: str) -> GridBatch:
    """The :class:`GridBatch` of the arrays of an ``.npz`` (``grids`` or ``grid``, optional ``densities``)."""
    grids = content.get("grids", content.get("grid"))
    if grids is None:
        raise ValueError(
            f"{label} has no 'grids' (or 'grid') array; found keys: {', '.join(content) or 'none'}. "
            "Save it with numpy.savez_compressed(path, grids=..., densities=...)"
        )
    return _batch_from_array(grids, label, content.get("densities"))


def _read_tif(file) -> GridBatch:
    array = arrays.read_tif(file)
    if array.size and np.isin(array, (0, 255)).all() and (array == 255).any():
        array = array == 255
    return GridBatch(check_grid(array, file.label)[None])


def _read_vti(file) -> GridBatch:
    shape, point_data = arrays.read_vti(file)
    names = list(point_data)
    if VTI_ARRAY not in names and len(names) != 1:
        raise ValueError(
            f"{file.label} must hold a point-data array named '{VTI_ARRAY}' (uint8, 1 = pore); "
            f"found point arrays: {', '.join(names) or 'none'}"
        )
    values = point_data[VTI_ARRAY if VTI_ARRAY in names else names[0]]
    check_cubic(shape, file.label)
    if values.shape != (int(np.prod(shape)),):
        raise ValueError(
            f"{file.label} must hold one value per point ({np.prod(shape)} for dimensions {shape}); "
            f"got {describe(values)}"
        )
    grid = values.reshape(shape, order="F")  # VTK stores x fastest
    return GridBatch(check_grid(grid, file.label)[None])


def _read_stl(file) -> GridBatch:
    return GridBatch(stl_grid(file, None, "auto")[None])


_READERS = {
    ".npy": _read_npy,
    ".npz": _read_npz,
    ".tif": _read_tif,
    ".tiff": _read_tif,
    ".vti": _read_vti,
    ".stl": _read_stl,
}


# ----------------------------------------------------------------------------- writers


def _save_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or Path; got {type(path).__name__}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SAVE:
        found = f"extension '{suffix}' is not supported" if suffix else "the name has no extension"
        raise ValueError(f"cannot save to '{path}': {found}; use one of {', '.join(SUPPORTED_SAVE)}")
    return path


def _resolve_layout(path: Path, layout: str | None) -> str:
    name = path.name.lower()
    if layout is None:
        return "rows" if name.startswith("distribution_") or name.endswith(".rows.npy") else "dense"
    layout = check_choice(layout, LAYOUTS, "layout")
    if layout == "rows" and path.suffix.lower() != ".npy":
        raise ValueError(f"layout='rows' is only for .npy files; got '{path}'")
    return layout


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
    with np.errstate(over="ignore", invalid="ignore"):  # huge values fail the range check below
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
            f"(coordinates must be multiples of 1/{size - 1}), e.g. x, y, z = {format_point(first)}"
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
        f"duplicated (e.g. x, y, z = {format_point(example_dup)}) and {len(missing)} point(s) are missing "
        f"(e.g. x, y, z = {format_point(example_missing)})"
    )


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
