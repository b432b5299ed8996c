"""The names of the compression methods, ``auto``'s time limit and the container's overhead: a leaf module.

The CLI builds its ``--method`` choices from here; :mod:`porelib.compress.methods`
registers one codec per name, in this order, and the ``.pnc`` container stores a
method as its index in :data:`METHODS`.
"""

import struct

#: Methods a ``.pnc`` may hold, by their code in the file.
METHODS = ("neural", "sz3", "zfp", "lzma")
#: What ``method=`` accepts.
CHOICES = ("auto", *METHODS)
#: Seconds ``auto`` takes at most unless told otherwise.
DEFAULT_MAX_SECONDS = 60.0
#: Layout of a ``.pnc`` header (:mod:`porelib.compress.container`) and of its closing checksum.
HEADER_FORMAT = "<4sBBB3I8s2dI"
CRC_FORMAT = "<I"
#: Bytes of a container besides its payload (every codec plans its size with it).
OVERHEAD_NBYTES = struct.calcsize(HEADER_FORMAT) + struct.calcsize(CRC_FORMAT)
