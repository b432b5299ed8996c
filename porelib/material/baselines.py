"""Classical baselines for a user's material, and a memorisation check.

A generator trained on a sample is only worth its cost if it beats what a user could do
without it. Each baseline is a generator ``(training, shape, porosity, seed) -> volume`` with
exactly the requested porosity: ``round(porosity × voxels)`` pore voxels, the voxels of
highest score kept, ties broken by C order (:func:`keep_top`).

:func:`gaussian_random_field`
    The classical reconstruction from the two-point correlation (Quiblier 1984; Adler,
    Jacquin & Quiblier 1990): a Gaussian random field thresholded ("level-cut") so that its
    indicator has the training material's S2 at every lag up to a radius, anisotropy kept.
:func:`sphere_pack`
    Overlapping spheres whose radii are drawn so that their local thickness matches the
    training material's pore-size distribution, placed at random until the porosity is
    reached (a polydisperse version of the project's sphere simulator, :mod:`porelib.synth`).
:func:`grain_pack`
    The same for a granular material: overlapping *solid* spheres fitted to the training
    solid's sizes, the pores being the space between them (a polydisperse Boolean model of
    grains; beads, sand, sintered powders).
:func:`patch_bootstrap`
    Random sub-volumes of the training volume itself: the "copy" baseline a generator must
    not be (its statistics are the training part's, and it scores well against a held-out
    slab of a homogeneous material).
:func:`nearest_patch_iou`
    For each candidate, the best IoU with any training sub-volume of its shape, at every
    position (stride 1): values near 1 mean the candidate copies the training part.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft, special

from porelib import metrics, morphology
from porelib._validate import check_box, check_density, check_positive_int
from porelib.material.statistics import VolumeStatistics

__all__ = [
    "gaussian_field",
    "gaussian_random_field",
    "grain_pack",
    "keep_top",
    "level_cut_correlation",
    "nearest_patch_iou",
    "patch_bootstrap",
    "sphere_pack",
]

#: Bisection steps solving for the Gaussian correlation of each lag (interval 2 / 2^48).
_BISECTION_STEPS = 48

#: Batches of spheres :func:`sphere_pack` adds before giving up (each covers about half the missing voxels).
_MAX_SPHERE_BATCHES = 500

#: Voxels of training volume correlated at once by :func:`nearest_patch_iou`.
_IOU_SLAB_VOXELS = 1 << 24


def _check_shape(shape, arg_name: str = "shape") -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),) * 3
    shape = tuple(shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"{arg_name} must be (X, Y, Z) or (P, Q), or one int for a cube; got {shape!r}")
    shape = tuple(check_positive_int(s, arg_name, minimum=2) for s in shape)
    if math.prod(shape) > 512**3:
        raise ValueError(f"{arg_name} {shape} has more than 512³ voxels; generate a smaller volume")
    return shape


def keep_top(score, count: int) -> np.ndarray:
    """Bool array of the same shape with ``True`` at the ``count`` highest scores.

    Ties at the threshold value are broken by C order (the first voxels win), so the
    result is deterministic and has exactly ``count`` ``True`` voxels.

    Parameters
    ----------
    score : array_like of float
    count : int
        ``0 ≤ count ≤ score.size``.

    Raises
    ------
    ValueError
        If ``count`` is out of range.
    """
    score = np.asarray(score)
    count = check_positive_int(count, "count", minimum=0, maximum=score.size)
    if count == 0:
        return np.zeros(score.shape, dtype=bool)
    flat = score.reshape(-1)
    threshold = np.partition(flat, flat.size - count)[flat.size - count]
    keep = score > threshold
    missing = count - int(np.count_nonzero(keep))
    keep.reshape(-1)[np.flatnonzero(flat == threshold)[:missing]] = True
    return keep


def _pore_count(porosity, shape) -> int:
    return round(check_density(porosity, "porosity") * math.prod(shape))


# --------------------------------------------------------------------------------------
# Gaussian random field
# --------------------------------------------------------------------------------------


def level_cut_correlation(s2, porosity: float) -> np.ndarray:
    """Correlation ρ of a standard Gaussian field whose level cut at ``porosity`` has two-point correlation ``s2``.

    The pore phase is ``{Y > c}`` with ``P(Y > c) = φ``, ``c = Φ⁻¹(1 − φ)``. Two points with
    correlation ρ are both pore with probability ``Φ₂(h, h; ρ) = Φ(h) − 2 T(h, √((1 − ρ)/(1 + ρ)))``,
    ``h = Φ⁻¹(φ)``, T Owen's function; it increases with ρ from ``max(0, 2φ − 1)`` (ρ = −1)
    through ``φ²`` (ρ = 0) to ``φ`` (ρ = 1). Solved for ρ by bisection, every value at once;
    values outside that range give ρ = ±1.

    Parameters
    ----------
    s2 : array_like of float
        Two-point correlation values (probabilities).
    porosity : float
        φ in (0, 1).

    Returns
    -------
    ndarray of float64, the shape of ``s2``
    """
    phi = check_density(porosity, "porosity")
    if not 0.0 < phi < 1.0:
        raise ValueError(f"porosity must be strictly between 0 and 1 for a level cut; got {porosity!r}")
    target = np.asarray(s2, dtype=np.float64)
    h = special.ndtri(phi)
    low, high = np.full(target.shape, -1.0), np.full(target.shape, 1.0)
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        below = _both_pore(h, middle) < target
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return (low + high) / 2


def _both_pore(h: float, rho: np.ndarray) -> np.ndarray:
    """``Φ₂(h, h; ρ)``: probability that two standard normals with correlation ρ are both below h."""
    rho = np.clip(rho, -1 + 1e-12, 1 - 1e-12)
    return special.ndtr(h) - 2 * special.owens_t(h, np.sqrt((1 - rho) / (1 + rho)))


#: The per-axis radius is RADIUS_FACTOR × the first lag at which the indicator correlation
#: along that axis falls below RADIUS_CUTOFF (capped at half the training's side).
RADIUS_CUTOFF, RADIUS_FACTOR = 0.05, 2.0
#: Estimated spectral density below this many root-mean-square negative values is taken as noise.
SPECTRAL_NOISE_LEVELS = 3.0


def _indicator_correlation(s2, phi: float) -> np.ndarray:
    return (np.asarray(s2) - phi * phi) / (phi - phi * phi)


def _axis_profile(training: np.ndarray, axis: int) -> np.ndarray:
    """S2 along ``axis`` at lags 0 … side − 1 (non-periodic), by FFT, a slab of the other axes at a time."""
    side = training.shape[axis]
    moved = np.moveaxis(training, axis, -1).reshape(-1, side)
    total = np.zeros(side)
    for start in range(0, len(moved), 1 << 14):
        spectrum = fft.rfft(moved[start : start + (1 << 14)].astype(np.float32), n=2 * side, axis=-1, workers=-1)
        total += fft.irfft(np.abs(spectrum) ** 2, n=2 * side, axis=-1, workers=-1)[:, :side].sum(axis=0)
    return total / (len(moved) * (side - np.arange(side)))


def _axis_radii(training: np.ndarray) -> tuple[int, int, int]:
    """Per-axis radius of the matched lags (:data:`RADIUS_CUTOFF`, :data:`RADIUS_FACTOR`); an image gives one for all three."""
    phi = float(training.mean())
    radii = []
    for axis, side in enumerate(training.shape):
        top = max(1, side // 2)
        radii.append(_radius(_indicator_correlation(_axis_profile(training, axis), phi), top))
    return (max(radii),) * 3 if training.ndim == 2 else tuple(radii)


def _radius(rho_indicator: np.ndarray, top: int) -> int:
    """:data:`RADIUS_FACTOR` × the first lag ≥ 1 where ``rho_indicator`` (lags 0, 1, …) is below :data:`RADIUS_CUTOFF`, in [2, top]."""
    below = np.flatnonzero(rho_indicator[1 : top + 1] < RADIUS_CUTOFF)
    first = int(below[0]) + 1 if below.size else top
    return int(min(top, max(2, math.ceil(RADIUS_FACTOR * first))))


def _section_gaussian_correlation(sections: tuple, phi: float, radius) -> tuple[np.ndarray, tuple]:
    """Gaussian correlation ``ρ_Y`` on the lag grid of distinct sections (``gaussian_field``), and its radii.

    Per axis, the S2 profile along it is averaged over the sections containing it, made a
    normalised indicator correlation at the sections' porosity, turned into the Gaussian
    correlation of a level cut at ``phi`` and multiplied with the other axes' profiles.
    """
    from porelib.material.sample import in_plane_axes

    given = [s for s in sections if s is not None]
    porosity = float(sum(s.sum() for s in given) / sum(s.size for s in given))
    if not 0.0 < porosity < 1.0:
        raise ValueError(f"the sections must hold both pore and solid pixels; their porosity is {porosity!r}")
    profiles, radii = [], []
    for axis in range(3):
        holding = [(s, in_plane_axes(normal).index(axis)) for normal, s in enumerate(sections)
                   if s is not None and normal != axis]  # fmt: skip
        side = min(s.shape[k] for s, k in holding)
        s2 = np.mean([_axis_profile(s, k)[:side] for s, k in holding], axis=0)
        rho_indicator = _indicator_correlation(s2, porosity)
        radii.append(_radius(rho_indicator, max(1, side // 2)) if radius is None else radius[axis])
        lags = np.abs(np.arange(-radii[-1], radii[-1] + 1))
        measured = np.where(lags < side, rho_indicator[np.minimum(lags, side - 1)], 0.0)
        profiles.append(level_cut_correlation(phi * phi + measured * (phi - phi * phi), phi))
    rho = profiles[0][:, None, None] * profiles[1][None, :, None] * profiles[2][None, None, :]
    return rho, tuple(radii)


def _training_correlation(training: np.ndarray, radii: tuple[int, int, int]) -> tuple[np.ndarray, float]:
    """Normalised indicator correlation ``(S2(d) − φ²)/(φ − φ²)`` at lags ``|d_i| ≤ radii[i]`` (3-D, centred).

    A 2-D image is taken as a section of an isotropic material: its S2 averaged over
    circles of radius |d| is used at every 3-D lag of the same length.
    """
    phi = float(training.mean())
    if not 0.0 < phi < 1.0:
        raise ValueError(f"training must hold both pore and solid voxels; its porosity is {phi!r}")
    if training.ndim == 3:
        measured = tuple(min(r, length - 1) for r, length in zip(radii, training.shape))
        s2 = metrics.two_point_map(training, radius=measured)
        pad = [(r - m, r - m) for r, m in zip(radii, measured)]  # lags the box is too thin to measure count as uncorrelated
        s2 = np.pad(s2, pad, constant_values=phi * phi)
    else:
        plane_radii = tuple(min(radii[0], length - 1) for length in training.shape)
        plane = metrics.two_point_map(training[None], radius=(0, *plane_radii))[0]
        dy, dz = np.meshgrid(np.arange(-plane_radii[0], plane_radii[0] + 1), np.arange(-plane_radii[1], plane_radii[1] + 1),
                             indexing="ij")  # fmt: skip
        shell = np.rint(np.hypot(dy, dz)).astype(int).ravel()
        profile = np.bincount(shell, weights=plane.ravel()) / np.maximum(np.bincount(shell), 1)
        lags = [np.arange(-r, r + 1) for r in radii]
        length = np.sqrt(lags[0][:, None, None] ** 2 + lags[1][None, :, None] ** 2 + lags[2][None, None, :] ** 2)
        s2 = np.where(length <= min(plane_radii), np.interp(length, np.arange(len(profile)), profile), phi * phi)
    return _indicator_correlation(s2, phi), phi


def _denoised_spectral_density(kernel: np.ndarray) -> np.ndarray:
    """Spectral density of a sampled correlation, its estimation noise shrunk away (``gaussian_random_field`` step 4)."""
    density = fft.rfftn(kernel, workers=-1).real
    negative = density[density < 0]
    noise = float(np.sqrt(np.mean(negative.astype(np.float64) ** 2))) if negative.size else 0.0
    return np.maximum(density - SPECTRAL_NOISE_LEVELS * noise, 0.0).astype(np.float32)


def gaussian_random_field(training, shape, porosity: float, seed=None, *, radius=None) -> np.ndarray:
    """A thresholded Gaussian random field with the training material's two-point correlation.

    1. The training pore phase's S2 at every lag ``d`` with ``|d_i| ≤ radius_i``
       (:func:`porelib.metrics.two_point_map`, anisotropy kept), as the normalised indicator
       correlation ``ρ_I(d) = (S2(d) − φ_t²)/(φ_t − φ_t²)``. At the requested porosity φ the
       target is ``S2*(d) = φ² + ρ_I(d) (φ − φ²)``. By default each axis has its own radius,
       :data:`RADIUS_FACTOR` × the lag at which ``ρ_I`` along it first falls below
       :data:`RADIUS_CUTOFF` (at most half the side): the whole correlation of an elongated
       material along its long axis, and no more lags than needed along the short ones.
    2. Each lag's Gaussian correlation ``ρ_Y(d)`` solves the level-cut relation
       (:func:`level_cut_correlation`).
    3. ``ρ_Y`` is tapered by a cosine of the ellipsoidal lag ``s = |d / radius|``, from 1 at
       s = 1/2 to 0 at s = 1 (a hard cut would add high-frequency power), and placed on a
       periodic grid at least ``shape + radius``.
    4. Its FFT is the spectral density. Sampling noise in the estimated ``ρ_Y`` spreads over
       every frequency, with either sign, and a smooth material's true density is nearly 0
       at high frequencies, so clipping the negative values alone leaves a floor of positive
       noise that roughens the field (shorter chords, more surface). The root-mean-square
       of the negative values measures that noise; the density minus
       :data:`SPECTRAL_NOISE_LEVELS` times it, clipped at 0, is used (soft thresholding).
    5. White noise filtered by the square root of that density is the field; the grid is
       cropped to ``shape`` (no lag wraps around) and the ``round(φ × voxels)`` highest values
       are pore (:func:`keep_top`).

    Limits: it reproduces S2 (up to the radius and the denoising), not the shapes that S2
    does not fix. Pores are as connected as a level cut makes them, which for low porosity
    means isolated blobs where the real material may percolate, and its pore-size and
    chord distributions, surface and Euler number follow from the Gaussian model rather
    than from the material. That is the point of the baseline: a generator should do better
    on exactly those statistics. (A material that *is* a level-cut Gaussian field, such as
    PoreSpy's ``blobs``, is reproduced nearly as well as copying it.)

    Parameters
    ----------
    training : array_like, (X, Y, Z) or (P, Q) bool or 0/1, or three sections
        Training volume; a 2-D image is taken as a section of an isotropic material;
        sections normal to x, y, z as for :func:`gaussian_field`.
    shape : int or (int, int, int)
        Output shape (one int: a cube).
    porosity : float
        Pore fraction of the output, strictly between 0 and 1.
    seed : int or numpy.random.Generator, optional
    radius : int or (int, int, int), optional
        Largest lag matched along each axis, in voxels (one int: every axis); default per
        axis from the training's correlation (step 1). Lags the training is too thin to
        measure are taken as uncorrelated.

    Returns
    -------
    ndarray of bool, ``shape``
        Exactly ``round(porosity × voxels)`` pore voxels.

    Raises
    ------
    ValueError
        If an argument is out of range or the training holds a single phase.
    """
    training = _check_training(training)
    shape = _check_shape(shape)
    if len(shape) != 3:
        raise ValueError(f"shape must be a volume (X, Y, Z) or one int; got {shape!r}")
    count = _pore_count(porosity, shape)
    if count in (0, math.prod(shape)):
        return np.full(shape, bool(count))
    return keep_top(gaussian_field(training, shape, count / math.prod(shape), seed, radius=radius), count)


def gaussian_field(training, shape, porosity: float, seed=None, *, radius=None) -> np.ndarray:
    """The continuous Gaussian field behind :func:`gaussian_random_field` (steps 1–5, before the level cut).

    Its ``round(porosity × voxels)`` highest values are the pore phase of
    :func:`gaussian_random_field`; the material generator uses it as its prior
    (:class:`porelib.models.material.MaterialGenerator`). The field is one draw over the
    whole box (no tiles, no seams), scaled to unit variance by its spectral density (the
    same scale for every seed and shape).

    Parameters
    ----------
    training : array_like, (X, Y, Z) or (P, Q) bool or 0/1, or a sequence of three sections
        A volume, an image (a section of an isotropic material), or the sections normal to
        x, y and z (``None`` where one is not given; rows and columns the two other axes in
        increasing order, :func:`porelib.material.sample.in_plane_axes`). Distinct sections
        give an anisotropic field whose Gaussian correlation is the product of one profile per
        axis, ``ρ_Y(d) = ρ_x(d_x) ρ_y(d_y) ρ_z(d_z)`` (exact for Gaussian-shaped correlations,
        positive definite always), each from the sections containing that axis (two distinct
        sections contain every axis); one image, given alone or three times, is an isotropic
        material's section.
    shape : int or (int, int, int)
    porosity : float
        The porosity the field is cut at, strictly between 0 and 1 (the level-cut relation
        depends on it).
    seed : int or numpy.random.Generator, optional
    radius : int or (int, int, int), optional
        As for :func:`gaussian_random_field`.

    Returns
    -------
    ndarray of float32, ``shape``
        Zero mean, unit variance.
    """
    training = _check_training(training)
    shape = _check_shape(shape)
    if len(shape) != 3:
        raise ValueError(f"shape must be a volume (X, Y, Z) or one int; got {shape!r}")
    phi = check_density(porosity, "porosity")
    if not 0.0 < phi < 1.0:
        raise ValueError(f"porosity must be strictly between 0 and 1 for a level cut; got {porosity!r}")
    if radius is not None:
        radius = tuple(check_positive_int(r, "radius") for r in np.broadcast_to(np.asarray(radius), (3,)).tolist())
    if isinstance(training, tuple):
        rho, radii = _section_gaussian_correlation(training, phi, radius)
    else:
        radii = _axis_radii(training) if radius is None else radius
        rho_indicator, _ = _training_correlation(training, radii)
        rho = level_cut_correlation(phi * phi + rho_indicator * (phi - phi * phi), phi)
    lags = [np.arange(-r, r + 1) for r in radii]
    scaled = np.sqrt(sum((lag.reshape([-1 if i == a else 1 for i in range(3)]) / r) ** 2
                         for a, (lag, r) in enumerate(zip(lags, radii))))  # fmt: skip
    rho = rho * (0.5 - 0.5 * np.cos(np.pi * np.clip(2 * (1 - scaled), 0.0, 1.0)))
    grid = [fft.next_fast_len(max(n + r, 2 * r + 1), real=True) for n, r in zip(shape, radii)]
    kernel = np.zeros(grid, dtype=np.float32)
    kernel[np.ix_(*(lag % g for lag, g in zip(lags, grid)))] = rho
    density = _denoised_spectral_density(kernel)
    del kernel
    # Variance of white noise filtered by sqrt(density): the mean of the density over the full
    # (two-sided) spectrum; the half spectrum of rfftn counts its interior planes twice.
    weights = np.full(density.shape[-1], 2.0)
    weights[0] = 1.0
    if grid[-1] % 2 == 0:
        weights[-1] = 1.0
    variance = float((density * weights).sum()) / math.prod(grid)
    rng = np.random.default_rng(seed)
    noise = fft.rfftn(rng.standard_normal(grid, dtype=np.float32), workers=-1)
    noise *= np.sqrt(density)
    del density
    field = fft.irfftn(noise, s=grid, workers=-1)[: shape[0], : shape[1], : shape[2]]
    return (field / np.sqrt(max(variance, 1e-30))).astype(np.float32)


def _check_region(training, function: str) -> np.ndarray:
    """:func:`_check_training` for the methods that fit one volume or image, not sections."""
    training = _check_training(training)
    if isinstance(training, tuple):
        raise ValueError(f"{function} fits one volume or image, not several sections: pass the section normal to x")
    return training


def _check_training(training):
    """A checked volume or image, or for sections a tuple of three checked images (``None`` where missing);
    the same image three times becomes that image."""
    if isinstance(training, (list, tuple)):
        if len(training) != 3 or all(section is None for section in training):
            raise ValueError("sections must be three images (normal to x, y, z), None where one is not given")
        given = [section for section in training if section is not None]
        if all(section is given[0] for section in given):
            return _check_training(given[0])
        return tuple(None if section is None else check_box(section, "section", ndim=2) for section in training)
    ndim = np.ndim(training)
    if ndim not in (2, 3):
        raise ValueError(f"training must be a volume (X, Y, Z) or an image (P, Q); got {ndim}-D shape {np.shape(training)}")
    return check_box(training, "training", ndim=ndim)


# --------------------------------------------------------------------------------------
# Overlapping spheres fitted to the pore sizes
# --------------------------------------------------------------------------------------


def sphere_pack(training, shape, porosity: float, seed=None) -> np.ndarray:
    """Overlapping spheres fitted to the training material's pore sizes, at an exact porosity.

    The training pore-size distribution ``h(r)`` (local thickness, one count per pore
    voxel) is turned into a distribution of sphere radii ``n(r) ∝ h(r) / r³`` (a sphere of
    radius r holds about r³ voxels of thickness r); radii are drawn from it with a uniform
    jitter of ±½ voxel. Spheres ``|x − c| ≤ ρ`` with centres uniform in the box are added
    until they cover the requested pore count; each voxel's score is ``max_i (ρ_i − |x − c_i|)``
    and the ``round(φ × voxels)`` highest are pore, i.e. all spheres shrink by the same
    fraction of a voxel until the count is exact.

    Overlaps merge spheres into larger pores, so the result's pore sizes run somewhat larger
    than the training's; the spheres are isolated or touching according to chance, not the
    material's connectivity.

    Parameters
    ----------
    training : array_like (X, Y, Z) or (P, Q) bool, or VolumeStatistics
        The training volume or image, or its statistics (only the pore-size histogram is
        used; an image's disks are taken as the spheres' sections, an approximation).
    shape : int or (int, int, int)
    porosity : float
        In [0, 1].
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    ndarray of bool, ``shape``
        Exactly ``round(porosity × voxels)`` pore voxels.

    Raises
    ------
    ValueError
        If an argument is out of range or the training has no pores.
    """
    if isinstance(training, VolumeStatistics):
        histogram = np.asarray(training.pore_size, dtype=np.float64)
    else:
        training = _check_region(training, "sphere_pack")
        thickness = morphology.local_thickness(training if training.ndim == 3 else training[None], planar=training.ndim == 2)
        histogram = np.bincount(thickness[thickness > 0]).astype(np.float64)
    shape = _check_shape(shape)
    if len(shape) != 3:
        raise ValueError(f"shape must be a volume (X, Y, Z) or one int; got {shape!r}")
    count = _pore_count(porosity, shape)
    if histogram[1:].sum() == 0:
        raise ValueError("training has no pore voxels; there are no pore sizes to fit")
    radii = np.arange(len(histogram), dtype=np.float64)
    weights = np.zeros_like(histogram)
    weights[1:] = histogram[1:] / radii[1:] ** 3
    weights /= weights.sum()
    rng = np.random.default_rng(seed)
    score = np.full(shape, -np.inf, dtype=np.float32)
    covered = 0
    mean_volume = float(weights @ (4 / 3 * np.pi * radii**3)) or 1.0
    for _ in range(_MAX_SPHERE_BATCHES):
        if covered >= count:
            break
        # Enough spheres for about half the missing voxels (overlaps waste some), at least 8.
        batch = max(8, int(0.5 * (count - covered) / mean_volume))
        sizes = rng.choice(radii, size=batch, p=weights) + rng.uniform(-0.5, 0.5, size=batch)
        sizes = np.maximum(sizes, 0.5)
        centres = (rng.random((batch, 3)) * shape).astype(np.int64)
        _stamp_spheres(score, centres, sizes)
        covered = int(np.count_nonzero(score >= 0))
    else:
        raise ValueError(f"sphere_pack could not reach porosity {porosity!r} in {_MAX_SPHERE_BATCHES} batches of spheres")
    return keep_top(score, count)


def grain_pack(training, shape, porosity: float, seed=None) -> np.ndarray:
    """Overlapping solid spheres (grains) fitted to the training solid's sizes; pores between them, exact porosity.

    :func:`sphere_pack` of the solid phase: the spheres' radii follow the local thickness of
    the training solid, they are placed until they cover the requested solid fraction, and
    the pore phase is what they leave, ``round(porosity × voxels)`` voxels exactly. For a
    granular material (beads, sand, sintered powder) this is the classical Boolean grain
    model; its pore space is as connected as the space between overlapping grains is,
    which a level-cut Gaussian field is not.

    Parameters
    ----------
    training : array_like (X, Y, Z) or (P, Q) bool
        The training volume or image (``True`` = pore); an image's disks are taken as the
        grains' sections, an approximation.
    shape : int or (int, int, int)
    porosity : float
        In [0, 1].
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    ndarray of bool, ``shape``
        Exactly ``round(porosity × voxels)`` pore voxels.

    Raises
    ------
    ValueError
        If an argument is out of range or the training has no solid.
    """
    training = _check_region(training, "grain_pack")
    shape = _check_shape(shape)
    voxels = math.prod(shape)
    solid = voxels - _pore_count(porosity, shape)
    return ~sphere_pack(~training, shape, solid / voxels, seed=seed)


def _stamp_spheres(score: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> None:
    """``score = max(score, ρ − |x − c|)`` within one voxel outside each sphere ``(c, ρ)``."""
    flat = score.reshape(-1)
    strides = np.array([score.shape[1] * score.shape[2], score.shape[2], 1])
    reach = np.ceil(radii + 1).astype(int)
    for r in np.unique(reach):
        span = np.arange(-r, r + 1)
        offsets = np.stack(np.meshgrid(span, span, span, indexing="ij"), axis=-1).reshape(-1, 3)
        length = np.sqrt((offsets**2).sum(axis=1))
        near = length <= r
        offsets, length = offsets[near], length[near].astype(np.float32)
        group = np.flatnonzero(reach == r)
        chunk = max(1, (1 << 22) // len(offsets))
        for start in range(0, len(group), chunk):
            members = group[start : start + chunk]
            voxels = centres[members, None, :] + offsets[None, :, :]
            inside = np.all((voxels >= 0) & (voxels < np.array(score.shape)), axis=2)
            values = radii[members, None].astype(np.float32) - length[None, :]
            np.maximum.at(flat, (voxels @ strides)[inside], values[inside])


# --------------------------------------------------------------------------------------
# Copies of the training volume
# --------------------------------------------------------------------------------------


def patch_bootstrap(training, shape, n: int, seed=None) -> np.ndarray:
    """``n`` sub-volumes of the training volume at random positions (the "copy" baseline).

    Parameters
    ----------
    training : array_like, (X, Y, Z) or (P, Q) bool or 0/1
    shape : int or tuple of int
        Shape of each patch (one int: a cube or a square), at most the training's.
    n : int
        Number of patches.
    seed : int or numpy.random.Generator, optional
        Corners are uniform over every position where the patch fits.

    Returns
    -------
    ndarray of bool, (n, *shape)

    Raises
    ------
    ValueError
        If a patch does not fit the training volume.
    """
    training = _check_training(training)
    shape = _patch_shape(shape, training)
    n = check_positive_int(n, "n")
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, [t - s + 1 for t, s in zip(training.shape, shape)], size=(n, training.ndim))
    return np.stack([training[tuple(slice(c, c + s) for c, s in zip(corner, shape))] for corner in corners])


def _patch_shape(shape, training: np.ndarray) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),) * training.ndim
    shape = tuple(shape)
    if len(shape) != training.ndim or any(s < 1 or s > t for s, t in zip(shape, training.shape)):
        raise ValueError(f"shape must have {training.ndim} sides each at most the training's {training.shape}; got {shape!r}")
    return tuple(int(s) for s in shape)


def nearest_patch_iou(candidates, training) -> np.ndarray:
    """For each candidate, the best IoU with a training sub-volume of its shape, over every position.

    ``IoU(p) = |c ∧ T_p| / |c ∨ T_p|`` for the training window ``T_p`` at corner ``p``, at every
    ``p`` (stride 1). The intersections at all positions come from one FFT cross-correlation,
    the window pore counts from a second (both in float64 and rounded, so the counts are
    exact); the training volume is processed in slabs along its first axis to bound memory.
    Two empty patches count as IoU 1.

    To read the number, compare it with the same check for held-out sub-volumes of the
    material (what an independent piece of it scores against the training part): a
    generator copying its training data is well above that; 1.0 is an exact copy.

    Parameters
    ----------
    candidates : array_like, (N, X, Y, Z) or (N, P, Q) bool, or one volume or image
        All of one shape, at most the training's along each axis.
    training : array_like, (X', Y', Z') or (P', Q') bool

    Returns
    -------
    ndarray, (N,) float64

    Raises
    ------
    ValueError
        If the dimensions do not match or a candidate is larger than the training volume.
    """
    training = _check_training(training)
    candidates = np.asarray(candidates)
    if candidates.ndim == training.ndim:
        candidates = candidates[None]
    if candidates.ndim != training.ndim + 1 or len(candidates) == 0:
        raise ValueError(
            f"candidates must be a batch (N, ...) of {training.ndim}-D patches for a {training.ndim}-D training "
            f"volume; got shape {candidates.shape}"
        )
    candidates = np.stack([check_box(c, "candidates", ndim=training.ndim) for c in candidates])
    _patch_shape(candidates.shape[1:], training)  # each side at most the training's
    # As 3-D arrays: an image is a volume one voxel thick.
    train3 = training if training.ndim == 3 else training[None]
    cand3 = candidates if training.ndim == 3 else candidates[:, None]
    patch = cand3.shape[1:]
    best = np.zeros(len(candidates))
    positions = train3.shape[0] - patch[0] + 1
    plane = train3.shape[1] * train3.shape[2]
    step = max(1, _IOU_SLAB_VOXELS // plane - patch[0] + 1)
    sizes = cand3.reshape(len(cand3), -1).sum(axis=1)
    for start in range(0, positions, step):
        slab = train3[start : min(train3.shape[0], start + step + patch[0] - 1)].astype(np.float64)
        grid = slab.shape
        slab_spectrum = fft.rfftn(slab, s=grid, workers=-1)
        valid = tuple(slice(0, g - p + 1) for g, p in zip(grid, patch))
        box = np.zeros(grid)
        box[: patch[0], : patch[1], : patch[2]] = 1.0
        window = np.rint(fft.irfftn(np.conj(fft.rfftn(box, workers=-1)) * slab_spectrum, s=grid, workers=-1)[valid])
        for i, candidate in enumerate(cand3):
            kernel = np.zeros(grid)
            kernel[: patch[0], : patch[1], : patch[2]] = candidate
            both = np.rint(fft.irfftn(np.conj(fft.rfftn(kernel, workers=-1)) * slab_spectrum, s=grid, workers=-1)[valid])
            union = sizes[i] + window - both
            iou = np.where(union > 0, both / np.maximum(union, 1), 1.0)
            best[i] = max(best[i], float(iou.max()))
    return best
