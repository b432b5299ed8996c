"""Write the hostile-input corpus of ``tests/test_hostile.py`` into this folder.

``python tests/hostile/make_corpus.py`` rebuilds every file byte for byte (nothing is
random). Each file is small on disk and declares far more than the input limit, or is
malformed in a way a parser once did not survive; ``CASES`` in the test says what each
command must answer.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: A .vti whose header claims 100 000³ voxels (VTK aborted with std::bad_alloc on it).
HUGE_VTI = b"""<?xml version="1.0"?>
<VTKFile type="ImageData" version="0.1" byte_order="LittleEndian" header_type="UInt32" compressor="vtkZLibDataCompressor">
  <ImageData WholeExtent="0 99999 0 99999 0 99999" Origin="0 0 0" Spacing="1 1 1">
  <Piece Extent="0 99999 0 99999 0 99999">
    <PointData Scalars="pore">
      <DataArray type="UInt8" Name="pore" format="binary" RangeMin="0" RangeMax="1">
        AQAAAACAAABAAAAAEwAAAA==eF5jYMACGBkhGBcfCQAAAUQACQ==
      </DataArray>
    </PointData>
  </Piece>
  </ImageData>
</VTKFile>
"""


def huge_npy_bytes() -> bytes:
    """An .npy header claiming 10¹⁵ float32 elements, followed by 64 bytes of data."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }"
    header = header.ljust(128 - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(64)


def bomb_png(side: int = 20_000) -> bytes:
    """A grey PNG of ``side`` × ``side`` black pixels: 400 MB decoded from a few hundred kB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte 0, then the pixels
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def main() -> None:
    (HERE / "huge.vti").write_bytes(HUGE_VTI)
    (HERE / "huge.npy").write_bytes(huge_npy_bytes())
    import zipfile

    with zipfile.ZipFile(HERE / "huge.npz", "w") as archive:
        archive.writestr(zipfile.ZipInfo("image.npy", date_time=(2026, 1, 1, 0, 0, 0)), huge_npy_bytes())
    (HERE / "bomb.png").write_bytes(bomb_png())
    # A .tif whose one page declares 100 000 × 100 000 pixels (tifffile reads the header lazily).
    tif = bytearray(b"II*\x00\x08\x00\x00\x00")
    entries = [(256, 4, 1, 100_000), (257, 4, 1, 100_000), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 0), (277, 3, 1, 1), (278, 4, 1, 100_000), (279, 4, 1, 1)]  # fmt: skip
    tif += struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        tif += struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    tif += struct.pack("<I", 0)
    (HERE / "huge.tif").write_bytes(bytes(tif))
    np.save(HERE / "nan_scan.npy", np.full((8, 8, 8), np.nan, np.float32))


if __name__ == "__main__":
    main()
