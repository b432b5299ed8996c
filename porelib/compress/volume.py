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


#: File formats :func:`read_volume` reads.
VOLUME_FORMATS = (".npy", ".npz", ".tif", ".tiff", ".vti", ".stl")


def read_volume(source, *, fmt: str | None = None) -> np.ndarray:
    """Read a scan or a grid to compress, keeping its dtype (through :func:`porelib.io.open_input`).

    ``.npz`` holding ``image`` is a scan (:func:`porelib.ct.load_scan`); a 3-D ``.npy``
    array and a ``.tif``/``.tiff`` stack are read as they are (so a 0/1 stack is a grid for
    ``kind="auto"``); every other grid file (``.npz`` grids, ``.vti``, ``.stl``, the row
    format ``.npy``) goes through :func:`porelib.io.load_grid`. Every header is checked
    before the data is read.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
        A path, bytes (with ``fmt``), or an upload whose ``name`` tells the format.
    fmt : str, optional
        The format of bytes or an upload without an extension.

    Returns
    -------
    ndarray, shape (X, Y, Z)
        The volume, ``volume[ix, iy, iz]``, in the file's dtype.

    Raises
    ------
    ValueError
        If the file cannot be read, declares more than the input limit, or holds no 3-D volume.
    TypeError
        If ``source`` is neither a path, bytes nor a binary file-like object.
    """
    from porelib import ct, io
    from porelib.io import arrays, open_input

    file = open_input(source, formats=VOLUME_FORMATS, fmt=fmt, what="volume")
    if file.suffix == ".npz":
        content = arrays.read_npz(file)
        if "image" not in content and not {"grids", "grid"} & set(content):
            raise ValueError(
                f"{file.label} holds neither a scan ('image') nor grids ('grids'); found keys: "
                f"{', '.join(content) or 'none'}"
            )
        if "image" in content:
            volume = ct.scan_from_arrays(content, file.label).image
        else:
            batch = io.grids.batch_from_arrays(content, file.label)
            if len(batch.grids) != 1:
                raise ValueError(f"{file.label} holds {len(batch.grids)} grids; save the one to compress alone")
            volume = batch.grids[0]
    elif file.suffix in (".tif", ".tiff"):
        volume = arrays.read_tif(file)
    elif file.suffix == ".npy":
        volume = arrays.read_npy(file)
        if volume.ndim != 3:  # the row format (S³, 4)
            volume = io.load_grid(file.path if file.path is not None else file.data, fmt=None if file.path else ".npy")
    else:
        volume = io.load_grid(file.path if file.path is not None else file.data, fmt=None if file.path else file.suffix)
    if volume.ndim != 3:
        raise ValueError(f"{file.label} holds a {volume.ndim}-D array {describe(volume)}; expected a 3-D volume (X, Y, Z)")
    return volume


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
