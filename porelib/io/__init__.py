"""Files in and out of porelib: one checked way in for every reader, and the grid formats.

* :mod:`porelib.io.inputs`: :func:`open_input`, the one function every reader starts with
  (a path, bytes or an upload; format, size and the input limit checked once).
* :mod:`porelib.io.arrays`: header-first readers of ``.npy``, ``.npz``, ``.tif``, ``.vti``,
  ``.raw`` and pictures; a declared size above the input limit is refused before
  anything is allocated, and VTK parses in a child process (:mod:`porelib.io.isolated`).
* :mod:`porelib.io.grids`: pore grids in every format (:func:`load_grid`, :func:`load_batch`,
  :func:`save_grid`, the seed's row format).
* :mod:`porelib.io.mesh`: STL surfaces of grids and their voxelisation.
* :mod:`porelib.io.atomic`: atomic, synced file writes.

A grid is a bool array ``grid[ix, iy, iz]``, ``True`` = pore; see :mod:`porelib.io.grids`
for the layout of each format.
"""

from porelib.io.grids import (
    LAYOUTS,
    ONE_GRID_FORMATS,
    ROW_COORD_TOLERANCE,
    SUPPORTED_LOAD,
    SUPPORTED_SAVE,
    VTI_ARRAY,
    GridBatch,
    grid_to_rows,
    load_batch,
    load_grid,
    rows_to_grid,
    save_grid,
)
from porelib.io.inputs import (
    DEFAULT_MAX_INPUT_BYTES,
    MAX_INPUT_ENV,
    InputError,
    InputFile,
    max_input_bytes,
    open_input,
    parse_size,
)
from porelib.io.mesh import (
    MAX_STL_TRIANGLES,
    STL_SIZE,
    STL_UNITS,
    grid_to_surface,
    load_stl,
    surface_to_grid,
)

__all__ = [
    "DEFAULT_MAX_INPUT_BYTES",
    "GridBatch",
    "InputError",
    "InputFile",
    "LAYOUTS",
    "MAX_INPUT_ENV",
    "MAX_STL_TRIANGLES",
    "ONE_GRID_FORMATS",
    "ROW_COORD_TOLERANCE",
    "STL_SIZE",
    "STL_UNITS",
    "SUPPORTED_LOAD",
    "SUPPORTED_SAVE",
    "VTI_ARRAY",
    "grid_to_rows",
    "grid_to_surface",
    "load_batch",
    "load_grid",
    "load_stl",
    "max_input_bytes",
    "open_input",
    "parse_size",
    "rows_to_grid",
    "save_grid",
    "surface_to_grid",
]
