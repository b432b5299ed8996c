"""Simulated X-ray CT scans whose labels are exact.

A label grid ``label[ix, iy, iz]`` (``True`` = inclusion: a glass sphere or a
pore) becomes a reconstructed scan, slice by slice along z:

1. **Attenuation phantom with partial-volume edges.** The label is blurred by a
   Gaussian of :data:`PARTIAL_VOLUME_SIGMA` voxels, giving the fraction of each
   voxel filled by inclusion, and mapped linearly between the matrix and the
   inclusion attenuation of :data:`ATTENUATION` (``"bright"``: glass spheres in
   polypropylene; ``"dark"``: pores in a solid).
2. **Parallel-beam projections** over 180° with a pixel-driven, linearly
   interpolating projector stored as one sparse matrix shared by all slices
   (:func:`system_matrix`); all slices of a chunk are projected by one sparse
   matrix product. The detector spans the slice's diagonal, so the corners of
   the square slice are measured like its centre: the sample is the whole
   cube, and every voxel of the label is reconstructed.
3. **Cupping (beam hardening):** each line integral ``p`` becomes
   ``p / (1 + cupping * p)`` (≈ ``p - cupping * p²`` for thin samples, and
   still monotone for thick ones), so long paths look less attenuating and
   the centre of the reconstruction sags.
4. **Poisson noise** for the dose: counts ``~ Poisson(I0 * g * exp(-p))``
   with ``I0`` photons per detector pixel and projection, then ``-log(counts / I0)``.
5. **Ring artefacts:** ``g`` is a per-detector gain error ``1 + ring_strength * N(0, 1)``,
   fixed across angles and slices (an uncorrected flat field).
6. **Filtered back-projection:** ramp filter with a Shepp–Logan window,
   applied in Fourier space, and the transposed projector.

Units and scaling. Attenuation is given per slice width (the sample is one
unit wide whatever its size in voxels), so the image intensities, the
transmission and the cupping do not depend on the size. The dose is quoted
for a slice :data:`REFERENCE_WIDTH` voxels wide; the photon count per detector
pixel is scaled in proportion to the width so that a named dose gives the same
signal-to-noise ratio at every size (the number of projections, ⌈π/2 · width⌉,
grows with the width as well).

Seeds. Everything random flows from ``seed`` through
``np.random.default_rng``, so the same seed gives the same scan. Training
data must use seeds in :data:`TRAINING_SEEDS`; benchmarks use seeds from
:data:`BENCHMARK_SEED_START` upwards, so held-out scans are never trained on.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse
from scipy import fft, ndimage

from porelib._validate import (
    MAX_GRID_SIZE,
    check_binary,
    check_choice,
    check_density,
    check_grid,
    check_number,
    check_positive_int,
    check_progress,
    check_same_shape,
    check_volume,
    describe,
)

#: Contrasts: ``"bright"`` = glass spheres in a polymer, ``"dark"`` = pores in a solid.
CONTRASTS = ("bright", "dark")

#: Linear attenuation (per slice width) of (matrix, inclusion) for each contrast.
ATTENUATION = {"bright": (1.0, 2.5), "dark": (2.0, 0.0)}

#: Named doses: photons per detector pixel and projection for a slice of
#: :data:`REFERENCE_WIDTH` voxels. At "high" Otsu's threshold is nearly exact,
#: at "low" it clearly struggles while the structure is still visible.
DOSES = {"high": 20_000.0, "default": 3_000.0, "low": 1_000.0}

#: Slice width (voxels) at which the photon counts of :data:`DOSES` apply.
REFERENCE_WIDTH = 128

#: Gaussian blur (voxels) of the label that sets the partial-volume edges.
PARTIAL_VOLUME_SIGMA = 0.6

#: Default standard deviation of the per-detector gain errors (ring artefacts).
DEFAULT_RING_STRENGTH = 0.004

#: Default beam-hardening strength (cupping).
DEFAULT_CUPPING = 0.1

#: Largest volume fraction of :func:`sphere_phantom`: inclusions stay the minority phase.
MAX_VOLUME_FRACTION = 0.5

#: Largest fraction of a new sphere's voxels that may already belong to other spheres.
MAX_SPHERE_OVERLAP = 0.1

#: Seeds reserved for training data; benchmarks start at :data:`BENCHMARK_SEED_START`.
TRAINING_SEEDS = range(10_000)
BENCHMARK_SEED_START = 1_000_000

SCAN_SUFFIXES = (".npz", ".npy", ".tif", ".tiff")

_SLICES_PER_CHUNK = 32
_MIN_SCAN_SIZE = 8
_MAX_PLACEMENT_TRIES = 200_000


@dataclass
class Scan:
    """A CT scan and, when known, its exact label.

    Attributes
    ----------
    image : ndarray of float32, shape (X, Y, Z)
        Reconstructed linear attenuation, per slice width.
    label : ndarray of bool, shape (X, Y, Z), or None
        ``True`` = inclusion (sphere or pore); ``None`` for a user's scan.
    contrast, dose, ring_strength, cupping, n_angles, seed
        The simulation settings (``None`` when unknown); ``dose`` in photons
        per detector pixel and projection at :data:`REFERENCE_WIDTH`.
    """

    image: np.ndarray
    label: np.ndarray | None = None
    contrast: str | None = None
    dose: float | None = None
    ring_strength: float | None = None
    cupping: float | None = None
    n_angles: int | None = None
    seed: int | None = None


# ----------------------------------------------------------------------------- phantom


def sphere_phantom(size: int, *, volume_fraction: float = 0.2, radius_range=(3, 10), seed=None) -> np.ndarray:
    """Return a cube of randomly placed spheres of varied radius.

    Spheres (radius uniform in ``radius_range``, centres uniform in the cube,
    cut by its faces like a sample cut from a larger piece) are added one at a
    time; a sphere may touch others, but one whose voxels are already more than
    :data:`MAX_SPHERE_OVERLAP` occupied is rejected. When fewer voxels are
    missing than a sphere would add, the sphere is shrunk to fit, so the
    volume fraction reached lies in ``[volume_fraction, volume_fraction + v / size³]``
    with ``v`` the voxel count of a sphere of the smallest radius.

    Parameters
    ----------
    size : int
        Edge length S of the cube, in voxels (8 … 512).
    volume_fraction : float
        Fraction of voxels inside spheres, in (0, :data:`MAX_VOLUME_FRACTION`].
    radius_range : (float, float)
        Smallest and largest sphere radius, in voxels.
    seed : int or numpy.random.Generator, optional
        The same seed gives the same phantom.

    Returns
    -------
    ndarray of bool, shape (S, S, S)
        ``True`` inside a sphere.

    Raises
    ------
    ValueError
        For a size, volume fraction or radius range out of range.
    """
    size = check_positive_int(size, "size", minimum=_MIN_SCAN_SIZE, maximum=MAX_GRID_SIZE)
    fraction = check_density(volume_fraction, "volume_fraction")
    if not 0.0 < fraction <= MAX_VOLUME_FRACTION:
        raise ValueError(
            f"volume_fraction must be in (0, {MAX_VOLUME_FRACTION}] so that the spheres stay the minority phase; "
            f"got {volume_fraction!r}"
        )
    r_min, r_max = _check_radius_range(radius_range, size)
    rng = np.random.default_rng(seed)
    grid = np.zeros((size,) * 3, dtype=bool)
    target = round(fraction * grid.size)
    filled = 0
    for _ in range(_MAX_PLACEMENT_TRIES):
        if filled >= target:
            return grid
        fitting_radius = (3.0 * (target - filled) / (4.0 * np.pi)) ** (1.0 / 3.0)
        radius = max(r_min, min(rng.uniform(r_min, r_max), fitting_radius))
        centre = rng.uniform(-0.5, size - 0.5, size=3)
        block, ball = _ball_in_block(centre, radius, size)
        occupied = grid[block]
        ball_voxels = np.count_nonzero(ball)
        overlap = np.count_nonzero(occupied & ball)
        if overlap > MAX_SPHERE_OVERLAP * ball_voxels:
            continue
        occupied |= ball
        filled += ball_voxels - overlap
    raise ValueError(
        f"could not place spheres up to volume_fraction {fraction} with radius_range {radius_range} in a "
        f"{size}³ cube; lower volume_fraction or the smallest radius"
    )


def _check_radius_range(radius_range, size: int) -> tuple[float, float]:
    """Return ``(r_min, r_max)`` with 1 <= r_min <= r_max < size / 2."""
    if not isinstance(radius_range, (tuple, list)) or len(radius_range) != 2:
        raise ValueError(f"radius_range must be two numbers (r_min, r_max), in voxels; got {radius_range!r}")
    r_min, r_max = (check_number(r, "radius_range", minimum=1.0) for r in radius_range)
    if not r_min <= r_max < size / 2:
        raise ValueError(
            f"radius_range must satisfy 1 <= r_min <= r_max < size / 2 = {size / 2:g} voxels; got {radius_range!r}"
        )
    return r_min, r_max


def _ball_in_block(centre: np.ndarray, radius: float, size: int) -> tuple[tuple[slice, ...], np.ndarray]:
    """Return the slices of the ball's bounding block (clipped to the cube) and the ball inside it."""
    lo = np.maximum(np.floor(centre - radius).astype(int), 0)
    hi = np.minimum(np.floor(centre + radius).astype(int) + 1, size)
    axes = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
    squared = sum((axis - c) ** 2 for axis, c in zip(axes, centre))
    return tuple(slice(a, b) for a, b in zip(lo, hi)), squared <= radius**2


# ----------------------------------------------------------------------------- scanner


def simulate_scan(
    label,
    *,
    contrast: str = "bright",
    dose="default",
    ring_strength: float = DEFAULT_RING_STRENGTH,
    cupping: float = DEFAULT_CUPPING,
    n_angles: int | None = None,
    seed=None,
    progress=None,
) -> Scan:
    """Simulate a CT scan of a label grid (any porelib grid, or :func:`sphere_phantom`).

    Parameters
    ----------
    label : array_like of bool, shape (S, S, S)
        ``label[ix, iy, iz]``, ``True`` = inclusion (sphere or pore). Slices
        are taken along z.
    contrast : {"bright", "dark"}
        ``"bright"``: inclusions attenuate more than the matrix (glass in
        polymer); ``"dark"``: inclusions are empty (pores in a solid).
    dose : str or float
        A name from :data:`DOSES` or photons per detector pixel and projection
        at :data:`REFERENCE_WIDTH` (scaled with the width, see the module notes).
    ring_strength : float
        Standard deviation of the detector gain errors (0 = no rings).
    cupping : float
        Beam-hardening strength, >= 0 (0 = none).
    n_angles : int, optional
        Number of projections over 180°; default ⌈π/2 · S⌉.
    seed : int or numpy.random.Generator, optional
        The same seed gives the same scan.
    progress : callable, optional
        Called as ``progress(done, total)`` with slices reconstructed so far.

    Returns
    -------
    Scan
        ``image`` float32 (S, S, S) and ``label`` bool (S, S, S), the input label.

    Raises
    ------
    ValueError
        For a label that is not a cubic 3-D 0/1 grid of at least 8³, or
        settings out of range.
    """
    label = check_grid(label, "label")
    size = label.shape[0]
    if size < _MIN_SCAN_SIZE:
        raise ValueError(f"label must be at least {_MIN_SCAN_SIZE} voxels along each axis; got {describe(label)}")
    check_choice(contrast, CONTRASTS, "contrast")
    photons = dose_photons(dose)
    ring_strength = check_number(ring_strength, "ring_strength", minimum=0.0)
    cupping = check_number(cupping, "cupping", minimum=0.0)
    n_angles = default_n_angles(size) if n_angles is None else check_positive_int(n_angles, "n_angles", minimum=8)
    check_progress(progress)
    rng = np.random.default_rng(seed)

    back_projector, n_det = system_matrix(size, n_angles)
    ramp = _ramp_filter(n_det)
    photons_at_size = photons * size / REFERENCE_WIDTH
    gains = np.clip(1.0 + ring_strength * rng.standard_normal(n_det), 0.05, None)
    # Attenuation per voxel (per-width values over the width in voxels); rows = pixels of a slice, columns = z.
    attenuation = (_attenuation_phantom(label, contrast) / np.float32(size)).reshape(size * size, size)
    image = np.empty((size, size, size), dtype=np.float32)
    for z0 in range(0, size, _SLICES_PER_CHUNK):
        z1 = min(z0 + _SLICES_PER_CHUNK, size)
        line_integrals = back_projector.T @ np.ascontiguousarray(attenuation[:, z0:z1])
        measured = _detect(line_integrals.reshape(n_angles, n_det, -1), photons_at_size, gains, cupping, rng)
        image[:, :, z0:z1] = _filtered_back_projection(measured, back_projector, ramp).reshape(size, size, -1) * size
        if progress is not None:
            progress(z1, size)
    return Scan(
        image=image,
        label=label,
        contrast=contrast,
        dose=photons,
        ring_strength=ring_strength,
        cupping=cupping,
        n_angles=n_angles,
        seed=seed if isinstance(seed, numbers.Integral) else None,
    )


def simulate(
    size: int = 128,
    *,
    volume_fraction: float = 0.2,
    contrast: str = "bright",
    dose="default",
    radius_range=(3, 10),
    ring_strength: float = DEFAULT_RING_STRENGTH,
    cupping: float = DEFAULT_CUPPING,
    seed=None,
    progress=None,
) -> Scan:
    """Simulate a scan of a fresh :func:`sphere_phantom`; see :func:`simulate_scan`.

    One generator seeded by ``seed`` draws the phantom, then the scan.

    Returns
    -------
    Scan
        ``image`` float32 (S, S, S), ``label`` bool (S, S, S) = the phantom.
    """
    rng = np.random.default_rng(seed)
    label = sphere_phantom(size, volume_fraction=volume_fraction, radius_range=radius_range, seed=rng)
    scan = simulate_scan(
        label,
        contrast=contrast,
        dose=dose,
        ring_strength=ring_strength,
        cupping=cupping,
        seed=rng,
        progress=progress,
    )
    scan.seed = seed if isinstance(seed, numbers.Integral) else None
    return scan


def dose_photons(dose) -> float:
    """Return the photon count of a named dose (:data:`DOSES`) or of a positive number."""
    if isinstance(dose, str):
        return DOSES[check_choice(dose, tuple(DOSES), "dose")]
    if isinstance(dose, bool) or not isinstance(dose, numbers.Real) or not np.isfinite(dose) or dose <= 0:
        raise ValueError(f"dose must be one of {', '.join(DOSES)} or a positive photon count; got {dose!r}")
    return float(dose)


def default_n_angles(size: int) -> int:
    """Number of projections over 180° for a slice ``size`` voxels wide: ⌈π/2 · size⌉."""
    return int(np.ceil(np.pi / 2 * size))


@lru_cache(maxsize=2)
def system_matrix(size: int, n_angles: int) -> tuple[scipy.sparse.csr_array, int]:
    """Return the back-projector of a ``size`` × ``size`` slice and the detector width.

    Pixel ``(ix, iy)`` sits at ``(ix, iy) - (size - 1) / 2``; projection ``a``
    looks along angle ``π a / n_angles`` and its detector of ``n_det`` unit
    bins (enough to cover the slice's diagonal) is centred on the rotation
    axis. Each pixel is spread over the two nearest bins by linear
    interpolation.

    Returns
    -------
    back_projector : scipy.sparse.csr_array, shape (size², n_angles · n_det), float32
        Row ``ix * size + iy``; column ``a * n_det + k``. Its transpose is the
        projector: ``back_projector.T @ slices`` maps pixel values
        ``(size², n_slices)`` to line integrals ``(n_angles · n_det, n_slices)``.
    n_det : int
        Detector bins per projection.
    """
    n_det = int(np.ceil(size * np.sqrt(2.0))) + 2
    centred = np.arange(size, dtype=np.float32) - np.float32((size - 1) / 2)
    angles = np.pi * np.arange(n_angles) / n_angles
    cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    position = centred[:, None, None] * cos + centred[None, :, None] * sin + np.float32((n_det - 1) / 2)
    position = position.reshape(size * size, n_angles)
    first = np.floor(position)
    weight = (position - first).astype(np.float32)
    first = first.astype(np.int32) + np.arange(n_angles, dtype=np.int32) * n_det
    indices = np.stack([first, first + 1], axis=-1).reshape(-1)
    data = np.stack([1.0 - weight, weight], axis=-1).reshape(-1)
    indptr = np.arange(size * size + 1, dtype=np.int32) * (2 * n_angles)
    matrix = scipy.sparse.csr_array((data, indices, indptr), shape=(size * size, n_angles * n_det))
    return matrix, n_det


def _detect(line_integrals: np.ndarray, photons: float, gains: np.ndarray, cupping: float, rng) -> np.ndarray:
    """Measured line integrals ``(n_angles, n_det, n_slices)``: cupping, detector gains, Poisson noise.

    The flat field is taken as the nominal ``photons``, so the gain errors
    survive as ring artefacts; zero counts are read as half a photon.
    """
    hardened = line_integrals / (1.0 + cupping * line_integrals)
    counts = rng.poisson(photons * gains[None, :, None] * np.exp(-hardened))
    return -np.log(np.maximum(counts, 0.5) / photons).astype(np.float32)


def _filtered_back_projection(sinograms: np.ndarray, back_projector, ramp: np.ndarray) -> np.ndarray:
    """Reconstruct ``(size², n_slices)`` from sinograms ``(n_angles, n_det, n_slices)`` of unit-spaced bins."""
    n_angles, n_det, n_slices = sinograms.shape
    filtered = fft.irfft(fft.rfft(sinograms, n=2 * (ramp.size - 1), axis=1) * ramp[:, None], axis=1)[:, :n_det]
    filtered = np.ascontiguousarray(filtered, dtype=np.float32).reshape(n_angles * n_det, n_slices)
    return (back_projector @ filtered) * np.float32(np.pi / (2 * n_angles))


def _ramp_filter(n_det: int) -> np.ndarray:
    """Ramp filter with a Shepp–Logan window, as the rfft half of a padded length.

    Built from the band-limited spatial ramp kernel (as ``skimage.transform.iradon``),
    which avoids the DC offset of a sampled ``|ω|``.
    """
    length = max(64, int(2 ** np.ceil(np.log2(2 * n_det))))
    k = np.concatenate([np.arange(1, length // 2 + 1, 2), np.arange(length // 2 - 1, 0, -2)])
    kernel = np.zeros(length)
    kernel[0] = 0.25
    kernel[1::2] = -1.0 / (np.pi * k) ** 2
    ramp = 2.0 * np.real(np.fft.fft(kernel))
    omega = np.pi * np.fft.fftfreq(length)[1:]
    ramp[1:] *= np.sin(omega) / omega
    return ramp[: length // 2 + 1].astype(np.float32)


def _attenuation_phantom(label: np.ndarray, contrast: str) -> np.ndarray:
    """Linear attenuation per slice width, with blurred (partial-volume) edges; float32 (S, S, S)."""
    matrix, inclusion = ATTENUATION[contrast]
    fraction = ndimage.gaussian_filter(label.astype(np.float32), PARTIAL_VOLUME_SIGMA, mode="nearest")
    return np.float32(matrix) + np.float32(inclusion - matrix) * fraction


# ----------------------------------------------------------------------------- files


def save_scan(path, scan: Scan) -> Path:
    """Write ``scan`` to a compressed ``.npz``: ``image`` float32, ``label`` bool, and the settings.

    Settings that are ``None`` are left out. Returns the path written.

    Raises
    ------
    ValueError
        If the path does not end in ``.npz``, or the label's shape differs from the image's.
    """
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise ValueError(f"path must end in .npz (a scan holds an image and a label); got '{path}'")
    image = check_volume(scan.image, "scan.image")
    arrays = {"image": image}
    if scan.label is not None:
        label = check_binary(np.asarray(scan.label), "scan.label")
        check_same_shape(image, label, ("scan.image", "scan.label"))
        arrays["label"] = label
    for name in ("contrast", "dose", "ring_strength", "cupping", "n_angles", "seed"):
        value = getattr(scan, name)
        if value is not None:
            arrays[name] = np.asarray(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_scan(source, *, fmt: str | None = None) -> Scan:
    """Read a scan from a path, bytes or an upload (through :func:`porelib.io.open_input`).

    ``.npz`` needs ``image`` and may hold ``label`` and the settings written by
    :func:`save_scan`; ``.npy`` and ``.tif``/``.tiff`` hold an image only
    (``label=None``). A tif stack is read as ``image[axis0, axis1, axis2]``,
    page k being ``image[k, :, :]``, as :mod:`porelib.io` does for grids. Every
    header is checked before the data is read (:mod:`porelib.io.arrays`).

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
        The scan; bytes need ``fmt``.
    fmt : str, optional
        ``".npz"``, ``".npy"``, ``".tif"`` or ``".tiff"``; by default the extension.

    Returns
    -------
    Scan
        ``image`` float32 (X, Y, Z); ``label`` bool or None.

    Raises
    ------
    ValueError
        For an unsupported extension, an unreadable file, a declared size above the
        input limit, a missing ``image``, an image that is not 3-D, holds NaN/inf or is
        constant, or a label of another shape.
    """
    from porelib.io import arrays, open_input

    file = open_input(source, formats=SCAN_SUFFIXES, fmt=fmt, what="scan")
    if file.suffix == ".npz":
        return scan_from_arrays(arrays.read_npz(file), file.label)
    image = arrays.read_npy(file) if file.suffix == ".npy" else arrays.read_tif(file)
    return Scan(image=check_volume(image, f"image of {file.label}"))


def scan_from_arrays(arrays: dict, label: str) -> Scan:
    """Build a :class:`Scan` from the arrays of an ``.npz`` (``image``, optional ``label`` and settings).

    ``label`` names the file in messages. Raises ``ValueError`` as :func:`load_scan`.
    """
    if "image" not in arrays:
        raise ValueError(
            f"{label} has no 'image' array; found keys: {', '.join(arrays) or 'none'}. "
            "Save with numpy.savez(path, image=..., label=...)"
        )
    image = check_volume(arrays["image"], f"image of {label}")
    label_array = None
    if "label" in arrays:
        label_array = check_binary(arrays["label"], f"label of {label}")
        check_same_shape(image, label_array, (f"image of {label}", "its label"))
    settings = {}
    for key, kind in (("contrast", str), ("dose", float), ("ring_strength", float), ("cupping", float)):
        if key in arrays:
            settings[key] = kind(arrays[key])
    for key in ("n_angles", "seed"):
        if key in arrays:
            settings[key] = int(arrays[key])
    return Scan(image=image, label=label_array, **settings)
