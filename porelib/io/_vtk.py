"""VTK's reader of ``.vti`` files, run only inside :mod:`porelib.io.isolated`'s child process."""

from __future__ import annotations

import re

import numpy as np


def read_image_data(path: str) -> dict[str, np.ndarray]:
    """Point-data arrays of a VTK XML ImageData file, plus ``__dimensions__`` (points along x, y, z).

    Raises
    ------
    ValueError
        With VTK's first error message if it reported one.
    """
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkCommonCore import vtkOutputWindow, vtkStringOutputWindow
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader

    window = vtkStringOutputWindow()
    vtkOutputWindow.SetInstance(window)
    reader = vtkXMLImageDataReader()
    reader.SetFileName(path)
    reader.Update()
    errors = [line for line in window.GetOutput().splitlines() if line.strip()]
    if any("ERROR" in line for line in errors):
        raise ValueError(_reason(errors))
    image = reader.GetOutput()
    point_data = image.GetPointData()
    arrays = {"__dimensions__": np.array(image.GetDimensions(), dtype=np.int64)}
    for index in range(point_data.GetNumberOfArrays()):
        array = point_data.GetArray(index)
        if array is None:  # not a numeric array (strings, bits)
            continue
        arrays[point_data.GetArrayName(index) or f"array{index}"] = vtk_to_numpy(array).copy()
    return arrays


def _reason(lines: list[str]) -> str:
    """The first VTK error message, without source lines and object addresses."""
    messages = [line for line in lines if not line.startswith("ERROR: In ") and "ERROR" not in line[:8]]
    text = messages[0] if messages else lines[0]
    return re.sub(r"^\w+ \(0x[0-9a-fA-F]+\): ", "", text.strip())
