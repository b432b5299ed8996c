"""porelib: generate, score, segment and compress 3D porous microstructures.

A grid is a numpy bool array, ``True`` = pore, indexed ``grid[ix, iy, iz]``.
The main entry points are re-exported here and imported lazily, so that
``import porelib`` stays fast and does not load torch:

- :func:`porelib.generate` (``porelib.inference``): pore grids for a density.
- :func:`porelib.reconstruct` (``porelib.inference``): a model's copy of given grids.
- :func:`porelib.segment` (``porelib.segmentation``): a mask of a CT scan.
- :mod:`porelib.io`, :mod:`porelib.synth`, :mod:`porelib.data`, :mod:`porelib.metrics`.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {"generate": "porelib.inference", "reconstruct": "porelib.inference", "segment": "porelib.segmentation"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'porelib' has no attribute {name!r}")


__all__ = ["generate", "reconstruct", "segment", "__version__"]
