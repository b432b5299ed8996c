"""Materials the project did not make, for tests and benchmarks: PoreSpy's generators, by seed.

Each function is ``(shape, porosity, seed) -> bool array`` (``True`` = pore), the same array for
the same arguments. PoreSpy (a test and benchmark dependency, ``requirements-dev.txt``) is
imported inside the functions only, so the library never needs it; without it they raise
``ImportError`` saying how to install it. PoreSpy seeds numpy's global generator; the functions
restore its state afterwards.

=====================  ================================================================
:func:`isotropic`      ``generators.blobs``: smooth bicontinuous blobs, features the same
                       size along every axis
:func:`anisotropic`    ``generators.blobs`` with a different feature size per axis
                       (elongated along z by default)
:func:`polydisperse_spheres`  ``generators.polydisperse_spheres``: solid overlapping spheres
                       with radii uniform in a range; the pore space is between them
:func:`fibres`         ``generators.cylinders``: solid fibres lying in the xy-plane at any
                       in-plane angle (a fibre mat), pores between them
:func:`micrograph_2d`  ``generators.overlapping_spheres`` in 2-D: a section of a granular
                       material (solid disks), as a 2-D image
=====================  ================================================================

Feature sizes are in voxels and do not depend on ``shape`` (PoreSpy's ``blobs`` scales its
features with the image; here its ``blobiness`` is set per axis to keep them fixed), so a large
sample and a small one are the same material. Porosities are PoreSpy's: exact for the blobs,
within about 0.01–0.05 for the others.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from porelib._validate import check_density, check_number, check_positive_int

__all__ = ["anisotropic", "fibres", "isotropic", "micrograph_2d", "polydisperse_spheres"]


def _porespy():
    try:
        import porespy
    except ImportError as error:  # pragma: no cover - porespy is installed with requirements-dev.txt
        raise ImportError(
            "porelib.material.examples makes its materials with PoreSpy, a test and benchmark dependency: "
            "pip install -r requirements-dev.txt"
        ) from error
    porespy.settings.tqdm["disable"] = True
    return porespy


@contextlib.contextmanager
def _keep_global_numpy_state():
    """PoreSpy calls ``np.random.seed``; put numpy's global generator back as it was."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def _shape(shape, ndim: int) -> list[int]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),) * ndim
    shape = tuple(shape)
    if len(shape) != ndim:
        raise ValueError(f"shape must have {ndim} sides (or be one int); got {shape!r}")
    return [check_positive_int(s, "shape", minimum=4, maximum=1024) for s in shape]


def _seed(seed) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**31))
    return check_positive_int(seed, "seed", minimum=0, maximum=2**32 - 1)


def _blobs(shape: list[int], porosity: float, seed, feature) -> np.ndarray:
    ps = _porespy()
    feature = np.broadcast_to(np.asarray(feature, dtype=np.float64), (len(shape),))
    for f in feature:
        check_number(float(f), "feature", minimum=0.25, maximum=100.0)
    # PoreSpy's blobs filter with sigma = mean(shape) / (40 · blobiness) along each axis.
    blobiness = np.mean(shape) / (40 * feature)
    with _keep_global_numpy_state():
        return ps.generators.blobs(shape, porosity=porosity, blobiness=list(blobiness), seed=seed, periodic=False)


def isotropic(shape, porosity: float = 0.4, seed=None, *, feature: float = 2.0) -> np.ndarray:
    """Isotropic bicontinuous blobs (PoreSpy ``blobs``).

    Parameters
    ----------
    shape : int or (int, int, int)
        Volume shape (one int: a cube), 4 … 1024 per side.
    porosity : float
        Pore fraction in (0, 1), matched exactly.
    seed : int, optional
    feature : float
        Gaussian filter width in voxels (pores are about 4 × this across).

    Returns
    -------
    ndarray of bool, ``shape``
    """
    return _blobs(_shape(shape, 3), check_density(porosity, "porosity"), _seed(seed), feature)


def anisotropic(shape, porosity: float = 0.4, seed=None, *, feature=(1.5, 1.5, 6.0)) -> np.ndarray:
    """Blobs with a different feature size per axis (elongated along z by default).

    Parameters
    ----------
    shape : int or (int, int, int)
    porosity : float
    seed : int, optional
    feature : (float, float, float)
        Gaussian filter width along x, y and z, in voxels.

    Returns
    -------
    ndarray of bool, ``shape``
    """
    return _blobs(_shape(shape, 3), check_density(porosity, "porosity"), _seed(seed), feature)


def polydisperse_spheres(shape, porosity: float = 0.5, seed=None, *, radii=(3, 8)) -> np.ndarray:
    """Solid overlapping spheres with radii uniform in ``radii`` (PoreSpy ``polydisperse_spheres``).

    Parameters
    ----------
    shape : int or (int, int, int)
    porosity : float
        Pore fraction (the space between the spheres).
    seed : int, optional
    radii : (int, int)
        Smallest and largest sphere radius in voxels.

    Returns
    -------
    ndarray of bool, ``shape``
    """
    from scipy import stats

    ps = _porespy()
    low, high = (check_positive_int(r, "radii", minimum=1) for r in radii)
    if high < low:
        raise ValueError(f"radii must be (smallest, largest); got {radii!r}")
    with _keep_global_numpy_state():
        return ps.generators.polydisperse_spheres(
            _shape(shape, 3),
            porosity=check_density(porosity, "porosity"),
            dist=stats.uniform(loc=low, scale=high - low),
            r_min=low,
            seed=_seed(seed),
        )


def fibres(shape, porosity: float = 0.7, seed=None, *, radius: int = 2) -> np.ndarray:
    """Solid fibres in the xy-plane at any in-plane angle, a fibre mat (PoreSpy ``cylinders``).

    Slow: 2–10 s for 48³ (PoreSpy's own cost, mostly its search for the porosity).

    Parameters
    ----------
    shape : int or (int, int, int)
    porosity : float
        Pore fraction (the space between the fibres).
    seed : int, optional
    radius : int
        Fibre radius in voxels.

    Returns
    -------
    ndarray of bool, ``shape``
    """
    ps = _porespy()
    with _keep_global_numpy_state():
        image = ps.generators.cylinders(
            _shape(shape, 3),
            r=check_positive_int(radius, "radius"),
            porosity=check_density(porosity, "porosity"),
            phi_max=0,
            theta_max=90,
            maxiter=10,  # PoreSpy's default 3 can end 0.2 off the porosity
            seed=_seed(seed),
        )
    return np.asarray(image, dtype=bool)


def micrograph_2d(shape, porosity: float = 0.5, seed=None, *, radius: int = 5) -> np.ndarray:
    """A 2-D image of a granular material: overlapping solid disks (PoreSpy ``overlapping_spheres``).

    Parameters
    ----------
    shape : int or (int, int)
        Image shape (one int: a square).
    porosity : float
        Pore fraction (the space between the disks).
    seed : int, optional
    radius : int
        Disk radius in pixels.

    Returns
    -------
    ndarray of bool, ``shape``
    """
    ps = _porespy()
    with _keep_global_numpy_state():
        image = ps.generators.overlapping_spheres(
            _shape(shape, 2), r=check_positive_int(radius, "radius"), porosity=check_density(porosity, "porosity"), seed=_seed(seed)
        )
    return np.asarray(image, dtype=bool)


#: The example sample shipped with the app (``data/examples/``), and how it is made.
EXAMPLE_FILE = "material-sample.tif"
EXAMPLE = {"function": "fibres", "shape": (128, 128, 128), "porosity": 0.7, "seed": 2026}


def write_example(folder) -> Path:
    """Write the shipped example sample: a uint8 TIFF stack (255 = pore), zlib-compressed; return its path.

    ``python -m porelib data material-example`` runs this; the file is committed, so users and
    the app need no PoreSpy. The training run of ``checkpoints/material`` reads it.
    """
    import tifffile

    from porelib.io.atomic import atomic_path

    spec = EXAMPLE
    volume = globals()[spec["function"]](spec["shape"], spec["porosity"], spec["seed"])
    path = Path(folder) / EXAMPLE_FILE
    with atomic_path(path) as target:
        tifffile.imwrite(target, (volume * 255).astype(np.uint8), photometric="minisblack", compression="zlib")
    return path
