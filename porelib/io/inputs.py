"""The one way into porelib for a file: a path, raw bytes or an upload, checked once.

Every reader of porelib (grids, scans, section images, volumes to compress, meshes)
starts with :func:`open_input`, which accepts

* a path (``str`` or :class:`os.PathLike`);
* raw bytes (``bytes``, ``bytearray``, ``memoryview``), with ``fmt=`` naming the format;
* a binary file-like object with ``getvalue()`` or ``read()`` and a ``name`` (a
  Streamlit ``UploadedFile``, an open file in ``"rb"`` mode, a named ``BytesIO``),

checks the format against what the caller reads, that the file exists, is not empty and
is not larger than the **input limit**, and returns an :class:`InputFile`. The format
readers (:mod:`porelib.io.arrays`, :mod:`porelib.io.mesh`) then read each file's header
first and refuse a *declared* size above the same limit (:func:`check_declared`) before
anything is allocated, so a 400-byte file claiming 100 000³ voxels is one clear error,
not an out-of-memory abort.

The input limit
---------------
:data:`DEFAULT_MAX_INPUT_BYTES` (1 GiB) bounds both a file's size and the decoded size
of any array it declares, which fits this project's largest volumes (512³ float32 is
512 MiB) on a machine with a few GiB of memory. Raise or lower it with the environment
variable ``PORELIB_MAX_INPUT_BYTES`` (``"4GiB"``, ``"500MB"``, ``"1048576"``), which the
command line sets from its ``--max-input-size`` option and the app reads at start.
Uploads to the app are capped before porelib sees them by ``server.maxUploadSize``
in ``.streamlit/config.toml``.
"""

from __future__ import annotations

import io
import math
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

#: Default of the input limit, in bytes (see the module notes).
DEFAULT_MAX_INPUT_BYTES = 1 << 30
#: Environment variable that overrides :data:`DEFAULT_MAX_INPUT_BYTES`.
MAX_INPUT_ENV = "PORELIB_MAX_INPUT_BYTES"

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([a-zA-Z]*)\s*$")


class InputError(ValueError):
    """A file refused by porelib's own checks; its message names the file and the fix.

    A ``ValueError``, so callers catch it with every other input mistake; the format
    readers pass it on unchanged where they wrap a parser's failures
    (:func:`porelib.io.arrays.parsing`).
    """


def parse_size(text, arg_name: str = "size") -> int:
    """Bytes of ``"4GiB"``, ``"500 MB"``, ``"1048576"`` or an int.

    Raises
    ------
    ValueError
        If the text is not a positive number with an optional unit (B, kB, MB, GB,
        TB, KiB, MiB, GiB, TiB; case-insensitive).
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE.match(str(text))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise ValueError(
                f"{arg_name} must be a size such as 4GiB, 500MB or 1048576 (bytes); got {text!r}"
            )
        value = int(float(match.group(1)) * _UNITS[unit])
    if value < 1:
        raise ValueError(f"{arg_name} must be at least 1 byte; got {text!r}")
    return value


def max_input_bytes() -> int:
    """The input limit in bytes: ``$PORELIB_MAX_INPUT_BYTES`` or :data:`DEFAULT_MAX_INPUT_BYTES`.

    Raises
    ------
    ValueError
        If the environment variable is set to something that is not a size.
    """
    value = os.environ.get(MAX_INPUT_ENV)
    return DEFAULT_MAX_INPUT_BYTES if not value else parse_size(value, MAX_INPUT_ENV)


def format_bytes(nbytes: float) -> str:
    """``"1.5 GiB"``: a byte count for messages."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def _raise_hint() -> str:
    return (f"if you meant it, raise the limit with --max-input-size on the command line or the environment "
            f"variable {MAX_INPUT_ENV} (e.g. {MAX_INPUT_ENV}=4GiB)")


def check_declared(shape, itemsize: int, label: str, what: str = "an array") -> int:
    """Refuse a declared array larger than the input limit, before it is allocated.

    Parameters
    ----------
    shape : sequence of int
        The shape the file declares.
    itemsize : int
        Bytes per element.
    label : str
        Names the file in the message, e.g. ``"file 'scan.npy'"``.
    what : str
        What the array is, for the message (``"a volume"``, ``"an image"``).

    Returns
    -------
    int
        The declared size in bytes.

    Raises
    ------
    ValueError
        If a dimension is negative, or the size is above :func:`max_input_bytes`.
    """
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise InputError(f"{label} declares {what} of shape {tuple(dims)}, with a negative dimension; the file is corrupt")
    nbytes = math.prod(dims) * int(itemsize)
    limit = max_input_bytes()
    if nbytes > limit:
        shown = "×".join(map(str, dims))
        raise InputError(
            f"{label} declares {what} of {shown} elements ({format_bytes(nbytes)}), above the input limit of "
            f"{format_bytes(limit)}; crop or downsample it, or {_raise_hint()}"
        )
    return nbytes


@dataclass(frozen=True)
class InputFile:
    """A file that passed :func:`open_input`: on disk (``path``) or in memory (``data``).

    Attributes
    ----------
    label : str
        Names the file in messages: ``"file 'grid.npy'"`` or ``"the given bytes"``.
    suffix : str
        Its format, a lower-case extension such as ``".npy"``.
    nbytes : int
        Its size in bytes (at least 1, at most the input limit).
    path : Path or None
        The file on disk, or ``None`` for bytes in memory.
    data : bytes or None
        The bytes in memory, or ``None`` for a file on disk.
    """

    label: str
    suffix: str
    nbytes: int
    path: Path | None = None
    data: bytes | None = None

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """A binary stream over the file's bytes, closed at the end of the block."""
        if self.path is None:
            yield io.BytesIO(self.data)
        else:
            with open(self.path, "rb") as stream:
                yield stream

    def read_bytes(self) -> bytes:
        """All of the file's bytes (at most the input limit)."""
        if self.data is not None:
            return self.data
        with self.open() as stream:
            return stream.read()

    def head(self, count: int) -> bytes:
        """The first ``count`` bytes (fewer for a shorter file)."""
        if self.data is not None:
            return self.data[:count]
        with self.open() as stream:
            return stream.read(count)


def open_input(
    source, *, formats: tuple[str, ...], fmt: str | None = None, what: str = "file", arg_name: str = "source"
) -> InputFile:
    """Check a path, raw bytes or an upload once, and return it as an :class:`InputFile`.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
        See the module notes. A file-like object's ``size`` attribute, when it has one
        (Streamlit uploads do), is checked before its bytes are read.
    formats : tuple of str
        The extensions the caller reads, lower case with the dot (``(".npy", ".npz")``).
    fmt : str, optional
        The format (``".npy"`` or ``"npy"``); by default the extension of the path or of
        the object's ``name``. Needed for raw bytes.
    what : str
        What the caller expects, for messages (``"grid"``, ``"scan"``, ``"section image"``).
    arg_name : str
        The caller's name of ``source``, for messages.

    Returns
    -------
    InputFile

    Raises
    ------
    TypeError
        If ``source`` is none of the accepted kinds, or a file-like object gives text.
    ValueError
        If the format is unknown or not among ``formats``, the file is missing, a
        folder, empty, unreadable, or larger than the input limit.
    """
    fmt = _normalise_fmt(fmt) if fmt is not None else None
    limit = max_input_bytes()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = f"file '{path}'"
        suffix = _check_suffix(fmt or path.suffix.lower(), formats, label, what)
        if not path.exists():
            raise InputError(f"no such file: '{path}'")
        if not path.is_file():
            raise InputError(f"'{path}' is a folder, not a file; pass one of its files")
        try:
            nbytes = path.stat().st_size
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise InputError(f"could not read {label}: {one_line(exc)}") from exc
        file = InputFile(label, suffix, nbytes, path=path)
    else:
        name = _name_of(source, arg_name)
        label = f"file '{name}'" if name else "the given bytes"
        declared = getattr(source, "size", None)
        if isinstance(declared, int) and declared > limit:
            _too_large(label, declared, limit)
        data = _read_all(source, arg_name)
        if fmt is None and not name:
            raise InputError(
                f"cannot tell the format of bytes without a name; pass fmt= one of {', '.join(formats)}"
            )
        suffix = _check_suffix(fmt or Path(name).suffix.lower(), formats, label, what)
        file = InputFile(label, suffix, len(data), data=data)
    if file.nbytes == 0:
        raise InputError(f"{file.label} is empty (0 bytes); expected a {file.suffix} {what}")
    if file.nbytes > limit:
        _too_large(file.label, file.nbytes, limit)
    return file


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line of at most 300 characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _too_large(label: str, nbytes: int, limit: int) -> None:
    raise InputError(
        f"{label} is {format_bytes(nbytes)}, above the input limit of {format_bytes(limit)}; {_raise_hint()}"
    )


def _name_of(source, arg_name: str) -> str | None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return None
    if not (hasattr(source, "getvalue") or hasattr(source, "read")):
        raise TypeError(
            f"{arg_name} must be a path, bytes or a binary file-like object (e.g. an upload); "
            f"got {type(source).__name__}"
        )
    name = getattr(source, "name", None)
    return str(name) if name else None


def _read_all(source, arg_name: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if hasattr(source, "seek"):
        try:
            source.seek(0)
        except (OSError, ValueError):
            pass  # an unseekable stream is read from where it stands
    data = source.getvalue() if hasattr(source, "getvalue") else source.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"{arg_name} must give bytes; its read()/getvalue() returned {type(data).__name__} "
            "(open files in binary mode, 'rb')"
        )
    return bytes(data)


def _normalise_fmt(fmt) -> str:
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a file extension such as '.npy'; got {type(fmt).__name__}")
    fmt = fmt.strip().lower()
    return fmt if fmt.startswith(".") else f".{fmt}"


def _check_suffix(suffix: str, formats: tuple[str, ...], label: str, what: str) -> str:
    if suffix not in formats:
        found = f"extension '{suffix}' is not supported" if suffix else "the name has no extension"
        raise InputError(f"cannot read {label} as a {what}: {found}; use one of {', '.join(formats)}")
    return suffix
