"""The ``.pnc`` container: one compressed volume, whichever method made it.

The container records the method, so :func:`porelib.compress.decompress` needs no
flag. Version 2 (written since SZ3 and zfp were added) holds any method; version 1
(neural fields only, written before) is still read.

Version 2 (little-endian)
-------------------------
======  ====  ===================================================================
offset  size  field
======  ====  ===================================================================
0       4     magic ``b"PNCF"``
4       1     format version (``2``)
5       1     kind: 0 = scan, 1 = binary grid
6       1     method: 0 = neural, 1 = sz3, 2 = zfp, 3 = lzma (:data:`METHODS`)
7       12    shape: three uint32 (X, Y, Z)
19      8     original dtype, ASCII numpy ``dtype.str`` padded with NUL (``<f4``, ``|b1``)
27      16    value range ``lo, hi``: two float64 (the scan's min and max; 0, 1 for grids)
43      4     payload length in bytes (uint32)
47      …     payload: the method's stream (see each codec's module notes)
end−4   4     CRC-32 (zlib) of every preceding byte
======  ====  ===================================================================

Payloads: ``neural`` — :mod:`porelib.compress.neural`; ``sz3`` — an SZ3 stream as
the ``sz3`` tool writes it (:mod:`porelib.compress.sz3`); ``zfp`` — a zfp stream with
its full header, as ``zfp -h`` writes it (:mod:`porelib.compress.zfp`); ``lzma`` —
raw LZMA2 (:mod:`porelib.compress.lossless`). The SZ3 and zfp payloads are
standard streams: :meth:`Compressed.standard_stream` gives them to other tools.

Version 1 (neural only)
-----------------------
Bytes 0-4 and 7-42 as version 2; byte 5 is the kind, byte 6 the bits per
quantised value; then the network (width uint16, residual blocks uint8, tiles
three uint8, ``w0`` and ``first_w0`` two float32), the payload length (uint32) at
offset 57, the quantised tensors from offset 61 and the CRC-32. Its network
fields and tensors are exactly a version-2 neural payload.

Decoding allocates the declared volume, so a header declaring more than
:data:`MAX_VOXELS` voxels is refused before anything is allocated.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from porelib.compress.names import CRC_FORMAT, HEADER_FORMAT, METHODS, OVERHEAD_NBYTES
from porelib.compress.volume import KINDS, MAX_VOXELS, raw_nbytes

MAGIC = b"PNCF"
FORMAT_VERSION = 2
#: Versions :func:`from_bytes` reads.
READABLE_VERSIONS = (1, 2)
SUFFIX = ".pnc"

_HEADER = struct.Struct(HEADER_FORMAT)
_V1_HEADER = struct.Struct("<4sBBB3I8s2dHB3B2fI")
_CRC = struct.Struct(CRC_FORMAT)
_KIND_CODES = {kind: code for code, kind in enumerate(KINDS)}
#: ``{method: check(compressed)}``: how :func:`from_bytes` checks a payload against its method.
#: :mod:`porelib.compress.methods` fills it when the package is imported (the container knows
#: the file layout, each method its payload; the methods build on the container, not back).
PAYLOAD_CHECKS: dict = {}
_METHOD_CODES = {method: code for code, method in enumerate(METHODS)}


@dataclass(frozen=True, eq=False)
class Compressed:
    """A compressed volume: what a ``.pnc`` file holds (see the module notes).

    Attributes
    ----------
    method : {"neural", "sz3", "zfp", "lzma"}
        The codec of :attr:`payload`.
    shape : tuple of 3 ints
        Shape of the volume, ``(X, Y, Z)``.
    kind : {"scan", "binary"}
        Float values, or a grid thresholded at decoding.
    dtype : str
        The original array's ``dtype.str`` (``"<f4"``, ``"|b1"``, ...); decoding returns it.
    value_range : tuple of 2 floats
        The scan's ``(min, max)``; decoded values are clipped to it (``(0, 1)`` for grids).
    payload : bytes
        The method's stream.
    version : int
        Container version it was read from or will be written as.
    info : dict
        How it was made (not stored in the file): the target, the error bound or
        rate found, fitting steps and time, and for ``method="auto"`` the ``reason``
        and the ``candidates`` measured.
    """

    method: str
    shape: tuple[int, int, int]
    kind: str
    dtype: str
    value_range: tuple[float, float]
    payload: bytes
    version: int = FORMAT_VERSION
    info: dict = field(default_factory=dict)

    @cached_property
    def data(self) -> bytes:
        """The file's bytes."""
        return _encode(self)

    @property
    def nbytes(self) -> int:
        """Size of the file in bytes (header, payload and checksum)."""
        return len(self.data)

    @property
    def raw_nbytes(self) -> int:
        """Raw size of the volume: voxels × 4 for a scan, ceil(voxels / 8) for a grid."""
        return raw_nbytes(self.shape, self.kind)

    @property
    def ratio(self) -> float:
        """Compression ratio, :attr:`raw_nbytes` / :attr:`nbytes`."""
        return self.raw_nbytes / self.nbytes

    @property
    def ratio_vs_dtype(self) -> float:
        """Ratio against the original array's own dtype (voxels × itemsize)."""
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize / self.nbytes

    # ------------------------------------------------------------------ neural codes

    @cached_property
    def network(self):
        """The neural code of the payload (:class:`porelib.compress.neural.NeuralCode`).

        Raises
        ------
        ValueError
            If this is not a neural code, or its payload does not match its network.
        """
        from porelib.compress import neural

        self._require_neural("network")
        return neural.parse_payload(self.payload)

    @property
    def config(self):
        """The network's :class:`~porelib.models.siren.SirenConfig` (neural codes only)."""
        return self.network.config

    @property
    def bits(self) -> int:
        """Bits per quantised weight (neural codes only)."""
        return self.network.bits

    @property
    def tensors(self) -> tuple:
        """The quantised parameter tensors (neural codes only)."""
        return self.network.tensors

    def field(self, *, device="cpu"):
        """The network with the dequantised weights, in evaluation mode (neural codes only)."""
        return self.network.field(device=device)

    def _require_neural(self, what: str) -> None:
        if self.method != "neural":
            raise ValueError(
                f"this .pnc holds a {self.method} code, which has no {what}; only method 'neural' codes are networks"
            )

    # ------------------------------------------------------------------ other tools

    def standard_stream(self) -> tuple[bytes, str] | None:
        """The payload as a file other tools open, and its suffix: ``(SZ3 stream, ".sz3")``, ``(zfp stream, ".zfp")``.

        ``None`` for methods without a standard stream (neural, lzma). The stream
        codes float32 values in C order (``Z`` varies fastest), for a grid its
        truncated signed distance (pore < 0); see :mod:`porelib.compress.sz3`
        and :mod:`porelib.compress.zfp` for the command lines that open them.
        """
        suffix = {"sz3": ".sz3", "zfp": ".zfp"}.get(self.method)
        return None if suffix is None else (self.payload, suffix)

    def summary(self) -> dict:
        """Plain values describing the file (for reports and the app)."""
        values = {
            "method": self.method,
            "version": self.version,
            "shape": list(self.shape),
            "kind": self.kind,
            "dtype": self.dtype,
            "value_range": list(self.value_range),
            "bytes": self.nbytes,
            "raw_bytes": self.raw_nbytes,
            "ratio": self.ratio,
            "ratio_vs_dtype": self.ratio_vs_dtype,
        }
        if self.method == "neural":
            values.update(self.network.summary())
        return values


def highest_ratio(shape, kind: str) -> float:
    """The highest ratio any ``.pnc`` of a volume of ``shape`` can have: raw size / (container + 1 byte)."""
    return raw_nbytes(shape, kind) / (OVERHEAD_NBYTES + 1)


# ----------------------------------------------------------------------------- bytes


def _encode(compressed: Compressed) -> bytes:
    if compressed.version != FORMAT_VERSION:
        raise ValueError(f"only version {FORMAT_VERSION} containers are written; this one is version {compressed.version}")
    header = _HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        _KIND_CODES[compressed.kind],
        _METHOD_CODES[compressed.method],
        *compressed.shape,
        compressed.dtype.encode("ascii"),
        *compressed.value_range,
        len(compressed.payload),
    )
    body = header + compressed.payload
    return body + _CRC.pack(zlib.crc32(body))


def from_bytes(data) -> Compressed:
    """Parse a ``.pnc`` file's bytes, version 1 or 2 (see the module notes for the layout).

    Raises
    ------
    TypeError
        If ``data`` is not bytes-like.
    ValueError
        With the reason: not a compressed volume (wrong magic), an unsupported
        version, truncated, corrupt (checksum mismatch), an inconsistent header,
        an unknown method, or a payload that is not a stream of its method.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes (a .pnc file's content) or a Compressed; got {type(data).__name__}")
    data = bytes(data)
    if data[:4] != MAGIC:
        raise ValueError(f"not a compressed volume: expected the magic bytes {MAGIC!r}, found {data[:4]!r}")
    version = data[4] if len(data) > 4 else None
    if version not in READABLE_VERSIONS:
        readable = " and ".join(map(str, READABLE_VERSIONS))
        raise ValueError(
            f"unsupported compressed-volume version {version}; this porelib reads versions {readable} "
            "(a newer porelib may have written it)"
        )
    header = _V1_HEADER if version == 1 else _HEADER
    if len(data) < header.size + _CRC.size:
        raise ValueError(f"truncated compressed volume: {len(data)} bytes, shorter than the {header.size}-byte header")
    fields = header.unpack_from(data)
    expected = header.size + fields[-1] + _CRC.size
    if len(data) != expected:
        raise ValueError(f"truncated or padded compressed volume: {len(data)} bytes, the header announces {expected}")
    (stored_crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(data[: -_CRC.size]) != stored_crc:
        raise ValueError("corrupt compressed volume: the checksum does not match its content")
    kind_code, shape, dtype_bytes, value_range = fields[2], tuple(fields[4:7]), fields[7], tuple(fields[8:10])
    if version == 1:
        from porelib.compress import neural

        method = "neural"
        payload = neural.payload_from_v1(fields[3], fields[10:17], data[header.size : -_CRC.size])
    else:
        if fields[3] >= len(METHODS):
            raise ValueError(
                f"unknown compression method code {fields[3]} in the header; this porelib knows "
                f"{', '.join(f'{code} = {name}' for code, name in enumerate(METHODS))} (a newer porelib may have written it)"
            )
        method, payload = METHODS[fields[3]], data[header.size : -_CRC.size]
    compressed = Compressed(
        method, shape, _check_kind(kind_code), _check_header(shape, dtype_bytes, value_range), value_range, payload, version
    )
    PAYLOAD_CHECKS[method](compressed)
    compressed.__dict__["data"] = data  # the bytes it was read from (a version-1 file stays version 1)
    return compressed


def _check_kind(kind_code: int) -> str:
    if kind_code >= len(KINDS):
        raise ValueError(f"invalid compressed-volume header: kind {kind_code} (0 = scan, 1 = binary)")
    return KINDS[kind_code]


def _check_header(shape, dtype_bytes: bytes, value_range) -> str:
    """The dtype string of a header whose checksum matched; inconsistencies raise ValueError."""
    if min(shape) < 2:
        raise ValueError(f"invalid compressed-volume header: shape {shape} (each side must be at least 2)")
    if math.prod(shape) > MAX_VOXELS:
        raise ValueError(
            f"the compressed volume declares {'×'.join(map(str, shape))} voxels, more than the {MAX_VOXELS:,} "
            "this porelib decodes (it would allocate that much memory)"
        )
    try:
        dtype = np.dtype(dtype_bytes.rstrip(b"\0").decode("ascii"))
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid compressed-volume header: {exc}") from None
    if dtype.kind not in "biuf":
        raise ValueError(f"invalid compressed-volume header: dtype {dtype} is not a number or bool type")
    if not all(np.isfinite(value_range)) or value_range[0] > value_range[1]:
        raise ValueError(f"invalid compressed-volume header: value range {value_range}")
    return dtype.str


# ----------------------------------------------------------------------------- files


def save_compressed(path, compressed: Compressed) -> Path:
    """Write ``compressed`` to ``path`` (``.pnc`` recommended); return the path.

    Raises
    ------
    TypeError
        If ``compressed`` is not a :class:`Compressed`.
    ValueError
        If the file cannot be written.
    """
    if not isinstance(compressed, Compressed):
        raise TypeError(
            f"compressed must be a Compressed (from porelib.compress.compress); got {type(compressed).__name__}"
        )
    return _write(path, compressed.data)


def save_standard_stream(path, compressed: Compressed) -> Path:
    """Write the SZ3 or zfp stream of ``compressed`` (:meth:`Compressed.standard_stream`) to ``path``.

    Raises
    ------
    ValueError
        If the method has no standard stream, or the file cannot be written.
    """
    stream = compressed.standard_stream()
    if stream is None:
        raise ValueError(f"a {compressed.method} code has no stream other tools open; only sz3 and zfp codes do")
    return _write(path, stream[0])


def _write(path, data: bytes) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise ValueError(f"could not write '{path}': {exc.strerror or exc}") from exc
    return path


def load_compressed(path) -> Compressed:
    """Read a file written by :func:`save_compressed`.

    Raises
    ------
    ValueError
        If the file is missing, unreadable, or not a valid compressed volume.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"could not read '{path}': {exc.strerror or exc}") from exc
    try:
        return from_bytes(data)
    except ValueError as exc:
        raise ValueError(f"'{path}': {exc}") from None
