"""Volumes in and out of the compressors: reading and writing files, what kind a volume is, its raw size.

A volume is ``volume[ix, iy, iz]``: a scan (finite numbers, any numeric dtype) or a
binary grid (bool, or integers holding only 0 and 1; ``True`` = pore).

Raw size
--------
Every compression ratio in :mod:`porelib.compress` is ``raw size / file size``, the
file being every byte of the ``.pnc`` container. The **raw size** is

* ``voxels × 4`` bytes for a scan (float32, whatever its dtype in memory);
* ``ceil(voxels / 8)`` bytes for a binary grid (bit-packed, 1 bit per voxel).

So a grid's ratio is measured against its smallest trivial encoding, not against
one byte per voxel.
"""

from __future__ import annotations

import math
from io import BytesIO
from os import PathLike
from pathlib import Path

import numpy as np

from porelib._validate import check_choice, check_finite, check_numeric, describe

#: What a volume is: float values, or a pore grid (thresholded on decoding).
KINDS = ("scan", "binary")
#: Largest volume compressed or decoded (512³; 512 MiB as float32): decoding allocates it.
MAX_VOXELS = 512**3


def raw_nbytes(shape, kind: str) -> int:
    """Raw size of a volume for the ratio: voxels × 4 (scan) or ceil(voxels / 8) (binary)."""
    voxels = math.prod(shape)
    return voxels * 4 if check_choice(kind, KINDS, "kind") == "scan" else -(-voxels // 8)


def volume_kind(volume) -> str:
    """What ``kind="auto"`` makes of ``volume``: ``"binary"`` (bool, or integers all 0 or 1) or ``"scan"``.

    Raises
    ------
    TypeError
        If ``volume`` does not hold numbers.
    """
    array = np.asarray(volume)
    check_numeric(array, "volume")
    zeros_and_ones = array.dtype == bool or (array.dtype.kind in "iu" and np.all((array == 0) | (array == 1)))
    return "binary" if zeros_and_ones else "scan"


def check_volume(volume, kind: str = "auto") -> tuple[np.ndarray, str]:
    """Validate a volume to compress; return it as an array and its kind.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
        Finite numbers, each side at least 2 voxels.
    kind : {"auto", "scan", "binary"}
        ``"auto"``: :func:`volume_kind`.

    Raises
    ------
    TypeError
        If ``volume`` does not hold numbers.
    ValueError
        If it is not 3-D, is smaller than 2 voxels along an axis (or empty), larger
        than :data:`MAX_VOXELS`, holds NaN/inf, or is not 0/1 for ``kind="binary"``.
    """
    array = np.asarray(volume)
    check_numeric(array, "volume")
    if array.ndim != 3:
        raise ValueError(f"volume must be 3-D (X, Y, Z); got {array.ndim}-D {describe(array)}")
    if min(array.shape) < 2:
        raise ValueError(f"volume must be at least 2 voxels along each axis; got shape {array.shape}")
    if array.size > MAX_VOXELS:
        raise ValueError(
            f"volume has {array.size:,} voxels, more than the {MAX_VOXELS:,} (512³) compressed here; crop it or "
            "compress it in blocks"
        )
    check_finite(array, "volume")
    check_choice(kind, ("auto", *KINDS), "kind")
    detected = volume_kind(array)
    if kind == "auto":
        kind = detected
    if kind == "binary" and detected != "binary":
        raise ValueError(
            f"volume must hold only 0/1 (or True/False) for kind='binary'; got {describe(array)} with values "
            f"in [{array.min()!r}, {array.max()!r}]. Threshold it first, or use kind='scan'"
        )
    return array, kind


def restore_dtype(values: np.ndarray, dtype) -> np.ndarray:
    """Decoded float values of a scan in the original ``dtype`` (rounded and clipped to its range for integers)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        info = np.iinfo(dtype) if dtype.kind in "iu" else None
        values = np.rint(values)
        if info is not None:
            values = np.clip(values, info.min, info.max)
    return values.astype(dtype)


# ----------------------------------------------------------------------------- volume files


def read_volume(source) -> np.ndarray:
    """Read a scan or a grid to compress, keeping its dtype.

    ``.npz`` holding ``image`` is a scan (:func:`porelib.ct.load_scan`); a 3-D
    ``.npy`` array and a ``.tif``/``.tiff`` stack are read as they are (so a
    0/1 stack is a grid for ``kind="auto"``); every other grid file (``.npz``
    grids, ``.vti``, the row format ``.npy``) goes through :func:`porelib.io.load_grid`.

    Parameters
    ----------
    source : str, Path or binary file-like
        A path, or an object with ``read()``/``getvalue()`` and a ``name`` whose
        extension tells the format (e.g. a Streamlit upload).

    Returns
    -------
    ndarray, shape (X, Y, Z)
        The volume, ``volume[ix, iy, iz]``, in the file's dtype.

    Raises
    ------
    ValueError
        If the file cannot be read or holds no 3-D volume.
    TypeError
        If ``source`` is neither a path nor a binary file-like object.
    """
    from porelib import ct, io

    if isinstance(source, (str, PathLike)):
        name = str(source)
    else:
        source, name = _named_stream(source)
    suffix = Path(name).suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            volume = tifffile.imread(source)
        elif suffix == ".npy":
            volume = np.load(source, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(source, allow_pickle=False) as content:
                names = content.files
        else:
            volume = None
    except Exception as exc:  # noqa: BLE001 - a corrupt file fails parsers in many ways (see porelib.io._reading)
        raise ValueError(f"could not read '{name}' as {suffix}: {exc}") from None
    if hasattr(source, "seek"):
        source.seek(0)
    if suffix == ".npz":
        if "image" not in names and not {"grids", "grid"} & set(names):
            raise ValueError(
                f"'{name}' holds neither a scan ('image') nor grids ('grids'); found keys: {', '.join(names) or 'none'}"
            )
        volume = ct.load_scan(source).image if "image" in names else io.load_grid(source)
    elif volume is None or (suffix == ".npy" and volume.ndim != 3):
        volume = io.load_grid(source)  # the other grid formats, and the row format (S³, 4)
    if volume.ndim != 3:
        raise ValueError(f"'{name}' holds a {volume.ndim}-D array {describe(volume)}; expected a 3-D volume (X, Y, Z)")
    return volume


def _named_stream(source) -> tuple[BytesIO, str]:
    """The bytes of a binary file-like ``source`` as a named, seekable stream, and its name."""
    if not (hasattr(source, "getvalue") or hasattr(source, "read")):
        raise TypeError(f"source must be a path or a binary file-like object with a name; got {type(source).__name__}")
    data = source.getvalue() if hasattr(source, "getvalue") else source.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"source must give bytes (open files in binary mode, 'rb'); got {type(data).__name__}")
    name = str(getattr(source, "name", "") or "")
    if not Path(name).suffix:
        raise ValueError(
            f"cannot tell the format of '{name or 'the upload'}': name it with its extension, e.g. volume.npy"
        )
    stream = BytesIO(bytes(data))
    stream.name = name
    return stream, name


def write_volume(path, volume: np.ndarray) -> Path:
    """Write a decompressed volume: ``.npy`` for anything, a grid also as any :func:`porelib.io.save_grid` format.

    Raises
    ------
    ValueError
        For another extension, or if the file cannot be written.
    """
    from porelib import io

    path = Path(path)
    if path.suffix.lower() != ".npy":
        if volume.dtype != bool:
            raise ValueError(f"a decompressed scan is written as .npy; got '{path}'")
        return io.save_grid(path, volume)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, volume, allow_pickle=False)
    except OSError as exc:
        raise ValueError(f"could not write '{path}': {exc.strerror or exc}") from exc
    return path
