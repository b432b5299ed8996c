"""Header-first readers of the array formats porelib accepts.

Each reader takes an :class:`~porelib.io.inputs.InputFile` (see :func:`~porelib.io.inputs.open_input`),
reads the format's header, refuses a declared size above the input limit
(:func:`~porelib.io.inputs.check_declared`) and only then decodes the data. Any failure of
a parser on a malformed file becomes one ``ValueError`` naming the file (:func:`parsing`).
Arrays come back as the file stores them (dtype and axis order); what they mean (a grid,
a scan, a section) is for the caller to check.

========  ======================================================================
format    what is read
========  ======================================================================
``.npy``  one array; object arrays (pickles) are refused
``.npz``  every ``.npy`` member (at most :data:`MAX_NPZ_MEMBERS`), by name
``.tif``  the first series of a TIFF stack (tifffile), page k = ``array[k]``
``.vti``  VTK XML ImageData: extents and data arrays are checked from the XML header,
          then VTK parses the file in a child process with a memory limit
          (:mod:`porelib.io.isolated`), so a VTK abort ends that process only
``.raw``  headerless bytes with a shape and dtype given by the user
``.png``  a picture (also ``.jpg``, ``.jpeg``, ``.tif``; Pillow); width × height is
          checked from the header before the pixels are decoded
========  ======================================================================
"""

from __future__ import annotations

import math
import re
import warnings
import zipfile
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import numpy.lib.format as npy_format

from porelib.io.inputs import (
    InputError,
    InputFile,
    check_declared,
    one_line,
    open_input,
)

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
#: An ``.npz`` with more members than this is refused (each member is checked and read).
MAX_NPZ_MEMBERS = 64
#: Picture formats :func:`read_picture` reads, and Pillow's name of each.
PICTURE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}


@contextmanager
def parsing(file: InputFile, fmt: str | None = None) -> Iterator[None]:
    """Turn any failure of a third-party parser into one ``ValueError`` naming the file.

    porelib's own refusals (:class:`~porelib.io.inputs.InputError`) pass unchanged.
    A corrupt file makes parsers fail in many ways besides ``OSError``, ``EOFError``,
    ``zipfile.BadZipFile`` and ``ValueError`` (found by fuzzing: ``zlib.error``,
    tokenizer errors in the .npy header, ``ZeroDivisionError``, ``RuntimeError``,
    ``struct.error``, ``MemoryError``, Pillow's ``DecompressionBombError``), so every
    ``Exception`` is caught here.
    """
    try:
        yield
    except InputError:
        raise
    except ValueError as exc:
        if "Object arrays cannot be loaded" in str(exc) or "pickle" in str(exc).lower():
            raise ValueError(
                f"{file.label} holds Python objects (pickled data), which are refused for safety; "
                "save plain numeric arrays"
            ) from exc
        raise ValueError(f"could not read {file.label} as {fmt or file.suffix}: {one_line(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise ValueError(f"could not read {file.label} as {fmt or file.suffix}: {one_line(exc)}") from exc


# ----------------------------------------------------------------------------- .npy / .npz


def _npy_header(stream, label: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype from the header of a ``.npy`` stream, checked."""
    version = npy_format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = npy_format.read_array_header_1_0(stream)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = npy_format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"unknown .npy format version {version}")
    if dtype.hasobject:
        raise InputError(
            f"{label} holds Python objects (pickled data), which are refused for safety; save plain numeric arrays"
        )
    check_declared(shape, dtype.itemsize, label)
    return shape, fortran, dtype


def _read_npy_stream(stream, label: str) -> np.ndarray:
    """The array of a ``.npy`` stream after its header passed :func:`_npy_header`."""
    start = stream.tell()
    _npy_header(stream, label)
    stream.seek(start)
    return npy_format.read_array(stream, allow_pickle=False)


def read_npy(file: InputFile) -> np.ndarray:
    """The array of an ``.npy`` file, its declared size checked first.

    Raises
    ------
    ValueError
        If the file is not an ``.npy`` file, declares too large an array, holds
        objects, or is truncated or corrupt.
    """
    head = file.head(len(NPY_MAGIC))
    if not head.startswith(NPY_MAGIC):
        raise ValueError(f"{file.label} is not a NumPy .npy file: it starts with {file.head(8)!r} instead of {NPY_MAGIC!r}")
    with parsing(file, ".npy"), file.open() as stream:
        return _read_npy_stream(stream, file.label)


def read_npz(file: InputFile) -> dict[str, np.ndarray]:
    """The ``.npy`` members of an ``.npz`` archive by name (``"grids"`` for ``grids.npy``).

    Every member's header is read and checked before any member's data; the declared
    sizes of all members together must stay under the input limit.

    Raises
    ------
    ValueError
        If the file is not a zip archive, has more than :data:`MAX_NPZ_MEMBERS` members,
        declares too much data, holds objects, or is corrupt.
    """
    if not file.head(len(ZIP_MAGIC)).startswith(ZIP_MAGIC):
        raise ValueError(f"{file.label} is not a .npz (zip) archive: it starts with {file.head(8)!r}")
    with parsing(file, ".npz"), file.open() as stream, zipfile.ZipFile(stream) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > MAX_NPZ_MEMBERS:
            raise InputError(f"{file.label} has {len(members)} members; at most {MAX_NPZ_MEMBERS} are read")
        declared = 0
        for info in members:
            with archive.open(info) as member:
                shape, _, dtype = _npy_header(member, f"{file.label} member '{info.filename}'")
            declared += math.prod(shape) * dtype.itemsize
            check_declared((declared,), 1, file.label, "arrays")
        arrays = {}
        for info in members:
            with archive.open(info) as member:
                arrays[info.filename.removesuffix(".npy")] = npy_format.read_array(member, allow_pickle=False)
        return arrays


# ----------------------------------------------------------------------------- .tif


def read_tif(file: InputFile) -> np.ndarray:
    """The first series of a TIFF file (a 3-D stack: page k is ``array[k]``), its shape checked first.

    Raises
    ------
    ValueError
        If the file is not a TIFF, declares too large an image, or is corrupt.
    """
    import tifffile

    with parsing(file, file.suffix), file.open() as stream, tifffile.TiffFile(stream) as tif:
        if not tif.series:
            raise ValueError("it holds no image")
        series = tif.series[0]
        check_declared(series.shape, np.dtype(series.dtype).itemsize, file.label, "an image")
        return series.asarray()


# ----------------------------------------------------------------------------- .vti

#: VTK's data array types and their numpy dtypes.
VTK_TYPES = {
    "Int8": "i1", "UInt8": "u1", "Int16": "<i2", "UInt16": "<u2", "Int32": "<i4", "UInt32": "<u4",
    "Int64": "<i8", "UInt64": "<u8", "Float32": "<f4", "Float64": "<f8", "Bit": "u1",
}  # fmt: skip
#: How much of a ``.vti`` file is searched for its XML header (before the data).
VTI_HEADER_BYTES = 1 << 20
_ATTRIBUTE = re.compile(rb'([A-Za-z_]+)\s*=\s*"([^"]*)"')
_TAG = re.compile(rb"<(VTKFile|ImageData|Piece|DataArray)\b([^>]*)>")


def _attributes(text: bytes) -> dict[str, str]:
    return {key.decode(): value.decode("utf-8", "replace") for key, value in _ATTRIBUTE.findall(text)}


def _extent_shape(value: str | None, label: str, name: str) -> tuple[int, int, int]:
    """Points along x, y, z of a VTK extent ``"x0 x1 y0 y1 z0 z1"``."""
    try:
        bounds = [int(v) for v in (value or "").split()]
    except ValueError:
        bounds = []
    if len(bounds) != 6 or any(hi < lo for lo, hi in zip(bounds[::2], bounds[1::2])):
        raise InputError(f"{label} has a malformed {name} {value!r}; expected six integers x0 x1 y0 y1 z0 z1 with x0 <= x1 ...")
    return tuple(hi - lo + 1 for lo, hi in zip(bounds[::2], bounds[1::2]))


def vti_header(file: InputFile) -> tuple[tuple[int, int, int], list[dict[str, str]]]:
    """Dimensions (points along x, y, z) and data-array attributes declared by a ``.vti`` header.

    Nothing but the XML tags before the data is parsed; the declared size of every data
    array is checked against the input limit.

    Raises
    ------
    ValueError
        If the file is not VTK XML ImageData, an extent is malformed, an array type is
        unknown, or a declared size is above the input limit.
    """
    head = file.head(VTI_HEADER_BYTES)
    head = head.split(b"<AppendedData", 1)[0]
    tags = [(name.decode(), _attributes(text)) for name, text in _TAG.findall(head)]
    kinds = [attributes.get("type") for name, attributes in tags if name == "VTKFile"]
    if kinds != ["ImageData"]:
        found = f"a VTKFile of type {kinds[0]!r}" if kinds else f"no <VTKFile type=\"ImageData\"> tag (it starts with {file.head(16)!r})"
        raise InputError(f"{file.label} is not a VTK ImageData (.vti) file: found {found}")
    whole = [attributes for name, attributes in tags if name == "ImageData"]
    if not whole:
        raise InputError(f"{file.label} has no <ImageData> element; it is not a VTK ImageData file")
    dimensions = _extent_shape(whole[0].get("WholeExtent"), file.label, "WholeExtent")
    check_declared(dimensions, 1, file.label, "a volume")
    arrays = []
    for name, attributes in tags:
        if name == "Piece":
            check_declared(_extent_shape(attributes.get("Extent"), file.label, "Piece Extent"), 1, file.label, "a volume")
        if name != "DataArray":
            continue
        kind = attributes.get("type")
        if kind not in VTK_TYPES:
            raise InputError(f"{file.label} has a DataArray of unknown type {kind!r}; expected one of {', '.join(VTK_TYPES)}")
        try:
            components = int(attributes.get("NumberOfComponents", "1"))
            tuples = int(attributes.get("NumberOfTuples", str(np.prod(dimensions))))
        except ValueError:
            raise InputError(f"{file.label} has a DataArray with a malformed NumberOfComponents or NumberOfTuples") from None
        if components < 1:
            raise InputError(f"{file.label} has a DataArray with NumberOfComponents {components}; expected at least 1")
        check_declared((tuples, components), np.dtype(VTK_TYPES[kind]).itemsize, file.label, "a data array")
        arrays.append(attributes)
    return dimensions, arrays


def read_vti(file: InputFile) -> tuple[tuple[int, int, int], dict[str, np.ndarray]]:
    """Dimensions and point-data arrays of a VTK XML ImageData file.

    The header is checked first (:func:`vti_header`); VTK then parses the file in a child
    process whose memory is limited to a few times the declared size
    (:func:`porelib.io.isolated.run_isolated`), so a malformed file that makes VTK abort
    ends the child only.

    Returns
    -------
    dimensions : tuple of int
        Points along x, y, z.
    arrays : dict of str to np.ndarray
        Each point-data array, flat in VTK's order (x fastest), components last.

    Raises
    ------
    ValueError
        As :func:`vti_header`, or if VTK cannot read the file.
    """
    from porelib.io.isolated import run_isolated

    dimensions, declared = vti_header(file)
    budget = sum(
        int(np.prod(dimensions)) * int(a.get("NumberOfComponents", "1")) * np.dtype(VTK_TYPES[a["type"]]).itemsize
        for a in declared
    ) + file.nbytes
    result = run_isolated("porelib.io._vtk:read_image_data", file, memory_bytes=budget, what=".vti")
    arrays = read_npz(open_input(result, formats=(".npz",), fmt=".npz", what="VTK result"))
    shape = tuple(int(d) for d in arrays.pop("__dimensions__"))
    return shape, arrays


# ----------------------------------------------------------------------------- .raw


def read_raw(file: InputFile, shape, dtype) -> np.ndarray:
    """A headerless volume of ``shape`` (C order, first axis slowest) and ``dtype``.

    Parameters
    ----------
    shape : sequence of int
        The array's shape, e.g. ``(Z, Y, X)`` as the scanner wrote it.
    dtype : str or np.dtype
        Element type with byte order, e.g. ``"uint8"``, ``"<u2"``, ``">f4"``.

    Raises
    ------
    TypeError
        If ``dtype`` is not a numeric type.
    ValueError
        If the shape is malformed or above the input limit, or the file's size is not
        exactly ``prod(shape) × itemsize``.
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be a numeric type such as uint8, <u2 or float32; got {dtype!r}") from exc
    if dtype.kind not in "biuf":
        raise TypeError(f"dtype must be a numeric type such as uint8, <u2 or float32; got {dtype}")
    shape = tuple(int(d) for d in shape)
    if not shape or any(d < 1 for d in shape):
        raise InputError(f"shape must be positive integers, e.g. 256 256 256; got {shape}")
    expected = check_declared(shape, dtype.itemsize, file.label, "a volume")
    if file.nbytes != expected:
        raise InputError(
            f"{file.label} is {file.nbytes} bytes, but a {'×'.join(map(str, shape))} volume of {dtype} is {expected} "
            "bytes; check --shape and --dtype (and that the file has no header)"
        )
    return np.frombuffer(file.read_bytes(), dtype=dtype).reshape(shape)


# ----------------------------------------------------------------------------- pictures


def read_picture(file: InputFile, *, max_side: int | None = None) -> np.ndarray:
    """A picture as grey levels ``(rows, columns)`` float64, as Pillow decodes it.

    Transparent pixels are composited on white; colour is converted to grey
    (Pillow's ``"F"`` mode). The size is checked from the header before decoding.

    Parameters
    ----------
    max_side : int, optional
        Refuse pictures wider or taller than this many pixels (in addition to the input
        limit on the decoded size).

    Returns
    -------
    np.ndarray
        ``(H, W)`` float64, row 0 at the top of the picture.

    Raises
    ------
    ValueError
        If the file is not a picture of the expected format, declares more pixels than
        allowed (a decompression bomb), or is corrupt.
    """
    from PIL import Image

    expected = PICTURE_FORMATS.get(file.suffix)
    with parsing(file, f"a {expected or 'picture'} image"), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with file.open() as stream, Image.open(stream) as picture:
            width, height = picture.size
            bands = len(picture.getbands())
            if expected and picture.format != expected:
                raise InputError(f"{file.label} is a {picture.format} image, not a {expected}; save it as {file.suffix}")
            if max_side is not None and max(width, height) > max_side:
                raise InputError(
                    f"{file.label} is {width} × {height} pixels; at most {max_side} pixels along each side are "
                    "accepted, so downscale or crop it first"
                )
            check_declared((height, width, bands), 4, file.label, "an image")
            if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
                white = Image.new("RGBA", picture.size, "white")
                picture = Image.alpha_composite(white, picture.convert("RGBA"))
            return np.asarray(picture.convert("F"), dtype=np.float64)
