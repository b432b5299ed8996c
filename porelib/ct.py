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

Wider scans. Optional settings vary what real scanners vary: the inclusion
shapes of :func:`phantom` (:data:`SHAPES`: spheres, ellipsoids, irregular
grains, bicontinuous pores from thresholded smoothed noise), the partial-volume
width, the two attenuations, streaks (a few corrupted detector readings, as
from photon starvation or a hot pixel, smeared into lines by the
back-projection), and on the reconstruction a blur (resolution), extra noise
that is white or spatially correlated, a smooth multiplicative bias field and
an affine gain/offset (:func:`apply_image_artefacts`). :func:`random_settings`
draws all of them for a scan of a named family (:data:`FAMILIES`): the
``"randomised"`` family trains the U-Net; the ``"held-out"`` family uses a shape
(irregular grains) and artefacts (streaks, stronger bias fields) that the
training never sees.

Seeds. Everything random flows from ``seed`` through
``np.random.default_rng``, so the same seed gives the same scan. Training
data must use seeds in :data:`TRAINING_SEEDS`; the parameters of the classical
methods are chosen on scans with seeds in :data:`VALIDATION_SEEDS`; benchmarks
use seeds from :data:`BENCHMARK_SEED_START` upwards, so held-out scans are never
trained or tuned on.
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

#: Seeds of the validation scans on which the classical methods' parameters are chosen;
#: disjoint from :data:`TRAINING_SEEDS` and below :data:`BENCHMARK_SEED_START`.
VALIDATION_SEEDS = range(500_000, 600_000)

#: Inclusion shapes of :func:`phantom`.
SHAPES = ("spheres", "ellipsoids", "grains", "bicontinuous")

#: Scan families of :func:`random_settings`: ``"spheres"`` = the default scanner on
#: sphere phantoms; ``"randomised"`` = the U-Net's training distribution; ``"held-out"``
#: = grains, streaks and strong bias fields, which the training never sees.
FAMILIES = ("spheres", "randomised", "held-out")

#: Error of a corrupted reading (streaks), in line-integral units: the reading lost a factor e of its photons.
STREAK_STRENGTH = 1.0

#: Largest semi-axis ratio of :func:`phantom`'s ellipsoids and grains (long / short).
MAX_ASPECT = 2.5

#: Relative radius modulation of irregular grains (a smooth random field of unit
#: standard deviation, times this, scales each grain's radius locally).
GRAIN_ROUGHNESS = 0.35

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
    size, fraction, (r_min, r_max) = _check_phantom(size, volume_fraction, radius_range)
    rng = np.random.default_rng(seed)

    def sphere(radius):
        return _ball_in_block(rng.uniform(-0.5, size - 0.5, size=3), radius, size)

    return _place_inclusions(size, fraction, r_min, r_max, rng, sphere, "spheres")


def _check_phantom(size, volume_fraction, radius_range) -> tuple[int, float, tuple[float, float]]:
    """The checked size, volume fraction and radius range of a phantom."""
    size = check_positive_int(size, "size", minimum=_MIN_SCAN_SIZE, maximum=MAX_GRID_SIZE)
    fraction = check_density(volume_fraction, "volume_fraction")
    if not 0.0 < fraction <= MAX_VOLUME_FRACTION:
        raise ValueError(
            f"volume_fraction must be in (0, {MAX_VOLUME_FRACTION}] so that the inclusions stay the minority phase; "
            f"got {volume_fraction!r}"
        )
    return size, fraction, _check_radius_range(radius_range, size)


def _place_inclusions(size: int, fraction: float, r_min: float, r_max: float, rng: np.random.Generator, body,
                      what: str) -> np.ndarray:
    """Add inclusions one at a time until ``fraction`` of the ``(S, S, S)`` cube is filled.

    Each inclusion's radius is drawn uniformly from ``[r_min, r_max]`` (shrunk to what is
    still missing); ``body(radius)`` draws the rest (centre, shape) from ``rng`` and returns
    the slices of its bounding block and its bool mask there. One more than
    :data:`MAX_SPHERE_OVERLAP` occupied already is rejected.
    """
    grid = np.zeros((size,) * 3, dtype=bool)
    target = round(fraction * grid.size)
    filled = 0
    for _ in range(_MAX_PLACEMENT_TRIES):
        if filled >= target:
            return grid
        fitting_radius = (3.0 * (target - filled) / (4.0 * np.pi)) ** (1.0 / 3.0)
        radius = max(r_min, min(rng.uniform(r_min, r_max), fitting_radius))
        block, inside = body(radius)
        occupied = grid[block]
        voxels = np.count_nonzero(inside)
        overlap = np.count_nonzero(occupied & inside)
        if voxels == 0 or overlap > MAX_SPHERE_OVERLAP * voxels:
            continue
        occupied |= inside
        filled += voxels - overlap
    raise ValueError(
        f"could not place {what} up to volume_fraction {fraction} with radius_range {(r_min, r_max)} in a "
        f"{size}³ cube; lower volume_fraction or the smallest radius"
    )


def phantom(
    size: int, *, shape: str = "spheres", volume_fraction: float = 0.2, radius_range=(3, 10), seed=None
) -> np.ndarray:
    """Return a cube of inclusions of one of :data:`SHAPES`.

    ``"spheres"`` is :func:`sphere_phantom`. ``"ellipsoids"`` are placed the same way
    (overlap rule, cut by the faces), each with semi-axes ``r · (a, b, c)``, the ratios
    drawn so that long / short ≤ :data:`MAX_ASPECT` and the volume equals that of the
    sphere of radius ``r``, under a random rotation. ``"grains"`` are such ellipsoids
    with a rough surface: the radius is scaled locally by ``1 + GRAIN_ROUGHNESS · n``,
    ``n`` a smooth random field. ``"bicontinuous"`` is a Gaussian-smoothed white noise
    (σ = mean radius / 2) thresholded at the quantile that gives ``volume_fraction``
    exactly: interconnected pores with no particle shape.

    Parameters
    ----------
    size : int
        Edge length S of the cube, in voxels (8 … 512).
    shape : {"spheres", "ellipsoids", "grains", "bicontinuous"}
    volume_fraction : float
        Fraction of voxels inside inclusions, in (0, :data:`MAX_VOLUME_FRACTION`];
        reached as by :func:`sphere_phantom` (within one small inclusion above).
    radius_range : (float, float)
        Smallest and largest equivalent radius, in voxels.
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    ndarray of bool, shape (S, S, S)
        ``True`` inside an inclusion.

    Raises
    ------
    ValueError
        For an unknown shape, or a size, volume fraction or radius range out of range.
    """
    check_choice(shape, SHAPES, "shape")
    if shape == "spheres":
        return sphere_phantom(size, volume_fraction=volume_fraction, radius_range=radius_range, seed=seed)
    size, fraction, (r_min, r_max) = _check_phantom(size, volume_fraction, radius_range)
    rng = np.random.default_rng(seed)
    if shape == "bicontinuous":
        field = ndimage.gaussian_filter(rng.standard_normal((size,) * 3).astype(np.float32), (r_min + r_max) / 4, mode="wrap")
        return field > np.quantile(field, 1.0 - fraction)
    roughness = None
    if shape == "grains":
        noise = ndimage.gaussian_filter(rng.standard_normal((size,) * 3).astype(np.float32), max(1.0, r_min / 2), mode="wrap")
        roughness = 1.0 + GRAIN_ROUGHNESS * noise / max(float(noise.std()), 1e-6)

    def ellipsoid(radius):
        ratios = np.exp(rng.uniform(-0.5, 0.5, size=3) * np.log(MAX_ASPECT))
        ratios /= np.cbrt(ratios.prod())
        rotation = _random_rotation(rng)
        centre = rng.uniform(-0.5, size - 0.5, size=3)
        return _ellipsoid_in_block(centre, radius * ratios, rotation, size, roughness)

    return _place_inclusions(size, fraction, r_min, r_max, rng, ellipsoid, shape)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _ellipsoid_in_block(centre, semi_axes, rotation, size: int, roughness):
    """Slices of an ellipsoid's bounding block (clipped to the cube) and the ellipsoid inside it.

    ``roughness`` (S, S, S) or None scales the radius locally (irregular grains).
    """
    reach = float(np.max(semi_axes)) * (1.0 + 3 * GRAIN_ROUGHNESS if roughness is not None else 1.0)
    lo = np.maximum(np.floor(centre - reach).astype(int), 0)
    hi = np.minimum(np.floor(centre + reach).astype(int) + 1, size)
    block = tuple(slice(a, b) for a, b in zip(lo, hi))
    axes = np.meshgrid(*(np.arange(a, b, dtype=np.float32) - c for a, b, c in zip(lo, hi, centre)), indexing="ij")
    offsets = np.stack(axes, axis=-1) @ rotation.astype(np.float32)
    squared = np.sum((offsets / semi_axes.astype(np.float32)) ** 2, axis=-1)
    if roughness is None:
        return block, squared <= 1.0
    return block, squared <= roughness[block] ** 2


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
    partial_volume: float = PARTIAL_VOLUME_SIGMA,
    attenuation=None,
    streaks: int = 0,
    blur: float = 0.0,
    noise: float = 0.0,
    noise_correlation: float = 0.0,
    bias: float = 0.0,
    gain: float = 1.0,
    offset: float = 0.0,
) -> Scan:
    """Simulate a CT scan of a label grid (any porelib grid, or :func:`phantom`).

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
    partial_volume : float
        Gaussian blur (voxels) of the label that sets the partial-volume edges.
    attenuation : (float, float), optional
        Linear attenuation per slice width of (matrix, inclusion), both >= 0 and
        different; default :data:`ATTENUATION` ``[contrast]``. Sets the contrast: which
        phase is brighter must agree with ``contrast``.
    streaks : int
        Number of corrupted detector readings (one angle, one bin, all slices), each
        :data:`STREAK_STRENGTH` too attenuating: streaks through the reconstruction.
    blur, noise, noise_correlation, bias, gain, offset : float
        Image-domain artefacts of :func:`apply_image_artefacts` (defaults: none).

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
    partial_volume = check_number(partial_volume, "partial_volume", minimum=0.0)
    attenuation = _check_attenuation(attenuation, contrast)
    streaks = check_positive_int(streaks, "streaks", minimum=0)
    rng = np.random.default_rng(seed)

    back_projector, n_det = system_matrix(size, n_angles)
    ramp = _ramp_filter(n_det)
    photons_at_size = photons * size / REFERENCE_WIDTH
    gains = np.clip(1.0 + ring_strength * rng.standard_normal(n_det), 0.05, None)
    # Attenuation per voxel (per-width values over the width in voxels); rows = pixels of a slice, columns = z.
    streak_bins = (rng.integers(0, n_angles, streaks), rng.integers(0, n_det, streaks))
    phantom_values = _attenuation_phantom(label, attenuation, partial_volume) / np.float32(size)
    phantom_values = phantom_values.reshape(size * size, size)
    image = np.empty((size, size, size), dtype=np.float32)
    for z0 in range(0, size, _SLICES_PER_CHUNK):
        z1 = min(z0 + _SLICES_PER_CHUNK, size)
        line_integrals = back_projector.T @ np.ascontiguousarray(phantom_values[:, z0:z1])
        measured = _detect(line_integrals.reshape(n_angles, n_det, -1), photons_at_size, gains, cupping, rng)
        measured[streak_bins] += np.float32(STREAK_STRENGTH)  # readings that lost a factor e of their photons
        image[:, :, z0:z1] = _filtered_back_projection(measured, back_projector, ramp).reshape(size, size, -1) * size
        if progress is not None:
            progress(z1, size)
    image = apply_image_artefacts(
        image,
        contrast=abs(attenuation[1] - attenuation[0]),
        blur=blur,
        noise=noise,
        noise_correlation=noise_correlation,
        bias=bias,
        gain=gain,
        offset=offset,
        seed=rng,
    )
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
    shape: str = "spheres",
    **artefacts,
) -> Scan:
    """Simulate a scan of a fresh :func:`phantom`; see :func:`simulate_scan`.

    One generator seeded by ``seed`` draws the phantom, then the scan. ``shape`` is
    the phantom's (:data:`SHAPES`); ``artefacts`` are the further keyword settings of
    :func:`simulate_scan` (``partial_volume``, ``attenuation``, ``streaks``, ``blur``,
    ``noise``, ``noise_correlation``, ``bias``, ``gain``, ``offset``). With the
    defaults it is the sphere scan of earlier versions, seed for seed.

    Returns
    -------
    Scan
        ``image`` float32 (S, S, S), ``label`` bool (S, S, S) = the phantom.
    """
    rng = np.random.default_rng(seed)
    label = phantom(size, shape=shape, volume_fraction=volume_fraction, radius_range=radius_range, seed=rng)
    scan = simulate_scan(
        label,
        contrast=contrast,
        dose=dose,
        ring_strength=ring_strength,
        cupping=cupping,
        seed=rng,
        progress=progress,
        **artefacts,
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


def _attenuation_phantom(label: np.ndarray, attenuation: tuple[float, float], partial_volume: float) -> np.ndarray:
    """Linear attenuation per slice width, with blurred (partial-volume) edges; float32 (S, S, S)."""
    matrix, inclusion = attenuation
    fraction = ndimage.gaussian_filter(label.astype(np.float32), partial_volume, mode="nearest")
    return np.float32(matrix) + np.float32(inclusion - matrix) * fraction


def _check_attenuation(attenuation, contrast: str) -> tuple[float, float]:
    """(matrix, inclusion) attenuation, checked against ``contrast``; default :data:`ATTENUATION`."""
    if attenuation is None:
        return ATTENUATION[contrast]
    if not isinstance(attenuation, (tuple, list)) or len(attenuation) != 2:
        raise ValueError(f"attenuation must be two numbers (matrix, inclusion); got {attenuation!r}")
    matrix, inclusion = (check_number(a, "attenuation", minimum=0.0) for a in attenuation)
    if (inclusion > matrix) != (contrast == "bright") or inclusion == matrix:
        raise ValueError(
            f"attenuation (matrix {matrix:g}, inclusion {inclusion:g}) must make the inclusions "
            f"{'brighter' if contrast == 'bright' else 'darker'} than the matrix for contrast={contrast!r}"
        )
    return matrix, inclusion


def apply_image_artefacts(
    image,
    *,
    contrast: float = 1.0,
    blur: float = 0.0,
    noise: float = 0.0,
    noise_correlation: float = 0.0,
    bias: float = 0.0,
    gain: float = 1.0,
    offset: float = 0.0,
    seed=None,
) -> np.ndarray:
    """Artefacts of the reconstructed image: resolution, extra noise, bias field, gain and offset.

    In this order: a Gaussian blur of ``blur`` voxels; additive Gaussian noise of
    standard deviation ``noise · contrast``, white, or correlated when smoothed by a
    Gaussian of ``noise_correlation`` voxels (rescaled to the same standard deviation);
    a smooth multiplicative bias field ``1 + bias · f`` with ``f`` a random field of
    unit peak (white noise smoothed over a quarter of the volume); then
    ``gain · image + offset · contrast``.

    Parameters
    ----------
    image : ndarray of float32, shape (X, Y, Z)
    contrast : float
        Difference of the two phases' attenuation; the unit of ``noise`` and ``offset``.
    blur, noise, noise_correlation, bias : float
        All >= 0; 0 = none.
    gain : float
        > 0.
    offset : float
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    ndarray of float32, shape (X, Y, Z)
        A new array (``image`` itself when every setting is neutral).

    Raises
    ------
    ValueError
        For a negative setting or a gain that is not positive.
    """
    blur = check_number(blur, "blur", minimum=0.0)
    noise = check_number(noise, "noise", minimum=0.0)
    noise_correlation = check_number(noise_correlation, "noise_correlation", minimum=0.0)
    bias = check_number(bias, "bias", minimum=0.0)
    gain = check_number(gain, "gain", minimum=1e-6)
    offset = check_number(offset, "offset")
    contrast = check_number(contrast, "contrast", minimum=0.0)
    if blur == noise == bias == offset == 0.0 and gain == 1.0:
        return image
    rng = np.random.default_rng(seed)
    image = np.asarray(image, dtype=np.float32)
    if blur > 0:
        image = ndimage.gaussian_filter(image, blur, mode="nearest")
    if noise > 0:
        extra = rng.standard_normal(image.shape).astype(np.float32)
        if noise_correlation > 0:
            extra = ndimage.gaussian_filter(extra, noise_correlation, mode="wrap")
            extra /= max(float(extra.std()), 1e-12)
        image = image + np.float32(noise * contrast) * extra
    if bias > 0:
        field = ndimage.gaussian_filter(
            rng.standard_normal(image.shape).astype(np.float32), max(image.shape) / 4, mode="wrap"
        )
        field /= max(float(np.abs(field).max()), 1e-12)
        image = image * (1.0 + np.float32(bias) * field)
    return (np.float32(gain) * image + np.float32(offset * contrast)).astype(np.float32)


def random_settings(family: str, rng, *, contrast=None, dose=None) -> dict:
    """Draw the keyword settings of :func:`simulate` for a scan of ``family`` (:data:`FAMILIES`).

    Every family draws a volume fraction in [0.05, 0.35] and a radius range inside
    [2, 10] voxels. ``"spheres"`` keeps the default scanner. ``"randomised"`` (the
    U-Net's training distribution) draws the shape among spheres, ellipsoids and
    bicontinuous pores; the dose log-uniformly between half the low and the high dose;
    rings and cupping up to twice the defaults; attenuations ±30 %; partial volume
    0.3–1.0 voxel; blur up to 1 voxel; extra noise up to 0.15 of the contrast, white or
    correlated (σ up to 1.5 voxels); a bias field up to 0.1. ``"held-out"`` uses irregular
    grains, 2–8 streaks and a bias field of 0.1–0.2 (none of which the training
    sees), with the other artefacts drawn as for ``"randomised"``.

    Parameters
    ----------
    family : {"spheres", "randomised", "held-out"}
    rng : numpy.random.Generator or int
    contrast : {"bright", "dark"}, optional
        Fixed contrast; drawn when None.
    dose : str or float, optional
        Fixed dose (see :func:`dose_photons`); drawn when None.

    Returns
    -------
    dict
        Keyword arguments of :func:`simulate` (not ``size`` or ``seed``).

    Raises
    ------
    ValueError
        For an unknown family, contrast or dose.
    """
    check_choice(family, FAMILIES, "family")
    rng = np.random.default_rng(rng)
    contrast = CONTRASTS[int(rng.integers(len(CONTRASTS)))] if contrast is None else check_choice(
        contrast, CONTRASTS, "contrast"
    )
    r_min = rng.uniform(2.0, 5.0)
    settings = {
        "contrast": contrast,
        "volume_fraction": float(rng.uniform(0.05, 0.35)),
        "radius_range": (float(r_min), float(rng.uniform(r_min, 10.0))),
    }
    if family == "spheres":
        settings["dose"] = "default" if dose is None else dose
        return settings
    low, high = np.log(DOSES["low"] / 2), np.log(DOSES["high"])
    matrix, inclusion = ATTENUATION[contrast]
    jitter = np.exp(rng.uniform(-0.3, 0.3, size=2))
    settings.update(
        dose=float(np.exp(rng.uniform(low, high))) if dose is None else dose,
        ring_strength=float(rng.uniform(0, 2 * DEFAULT_RING_STRENGTH)),
        cupping=float(rng.uniform(0, 2 * DEFAULT_CUPPING)),
        attenuation=(float(matrix * jitter[0]), float(inclusion * jitter[1])),
        partial_volume=float(rng.uniform(0.3, 1.0)),
        blur=float(rng.uniform(0, 1.0)),
        noise=float(rng.uniform(0, 0.15)),
        noise_correlation=float(rng.choice([0.0, rng.uniform(0.5, 1.5)])),
        gain=float(np.exp(rng.uniform(-0.5, 0.5))),
        offset=float(rng.uniform(-0.5, 0.5)),
    )
    if family == "randomised":
        settings["shape"] = ("spheres", "ellipsoids", "bicontinuous")[int(rng.integers(3))]
        settings["bias"] = float(rng.uniform(0, 0.1))
    else:
        settings["shape"] = "grains"
        settings["streaks"] = int(rng.integers(2, 9))
        settings["bias"] = float(rng.uniform(0.1, 0.2))
    return settings


def random_scan(family: str, size: int, seed, *, contrast=None, dose=None, progress=None) -> Scan:
    """A scan of ``family`` (:func:`random_settings` then :func:`simulate`), all drawn from ``seed``.

    Returns
    -------
    Scan
        ``image`` float32 (S, S, S), ``label`` bool (S, S, S).
    """
    rng = np.random.default_rng(seed)
    settings = random_settings(family, rng, contrast=contrast, dose=dose)
    scan = simulate(size, seed=rng, progress=progress, **settings)
    scan.seed = seed if isinstance(seed, numbers.Integral) else None
    return scan


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
