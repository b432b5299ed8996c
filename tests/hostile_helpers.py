"""Functions that :mod:`porelib.io.isolated` runs in a child process in tests/test_hostile.py."""

import numpy as np


def allocate_8_gib(path: str) -> dict:
    """Touch 8 GiB: far beyond the child's memory limit for a file that declares nothing."""
    block = np.ones(8 << 30, dtype=np.uint8)
    return {"sum": np.array(block.sum())}


def abort(path: str) -> dict:
    """End the process as VTK did on a huge header (std::bad_alloc, then abort)."""
    import os

    os.abort()
