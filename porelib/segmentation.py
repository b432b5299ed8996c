"""Segment the inclusion phase (spheres or pores) of a CT volume.

Every method returns a bool mask ``mask[ix, iy, iz]``, ``True`` = inclusion,
of the volume's shape ``(X, Y, Z)``:

``nlm``, ``gaussian``, ``median``
    The practitioner's pipeline: denoise (3-D non-local means with the noise
    level estimated from the scan, a Gaussian filter, a median filter), then
    Otsu's threshold (:func:`denoised_otsu`).
``watershed``
    Marker-based watershed on the Gaussian-denoised scan: voxels clearly on one
    side of Otsu's threshold seed the two phases, the gradient magnitude is
    flooded from them (:func:`watershed`).
``otsu``
    Otsu's threshold of the raw normalised intensities, optionally after 3-D
    CLAHE (as seed 001 built its masks).
``kmeans``
    Two-means clustering of the intensities; with ``features="intensity+xyz"``
    the seed's variant that standardises and clusters (intensity, x, y, z)
    together, which on noisy scans splits space into two halves rather than
    separating the phases (kept so the benchmark can show it).
``depthmap``
    Seed 001's depth map, faithfully: the cumulative sum along z of the
    absolute z-gradient, Gaussian-smoothed and thresholded at a percentile.
``unet``
    The trained 3D U-Net (:mod:`porelib.models.unet3d`) with overlapping,
    Gaussian-blended sliding windows (:func:`sliding_window_predict`).
``auto``
    The benchmark's winner: the U-Net when a checkpoint is available, non-local means +
    Otsu otherwise; the reason names the scan's estimated noise (:func:`choose_method`).

The parameters of the denoising methods (:data:`CLASSICAL_PARAMETERS`) were
chosen by a grid search on validation scans (seeds :data:`porelib.ct.VALIDATION_SEEDS`,
disjoint from the training and benchmark seeds) with
``python -m porelib bench segmentation-tuning`` (report in
``docs/bench/segmentation_tuning.md``); they were never tuned on benchmark scans.

Which phase is the inclusion. A threshold splits the voxels into a brighter
and a darker class. ``contrast="bright"`` takes the brighter class (glass in a
polymer), ``"dark"`` the darker one (pores in a solid), and ``"auto"`` the
*minority* class: inclusions are under 50 % of the volume by construction
(:data:`porelib.ct.MAX_VOLUME_FRACTION`), so the smaller class is the
inclusion phase (:func:`inclusion_contrast`). A U-Net trained on bright
inclusions (``input_contrast="bright"`` in its config, as the shipped one) sees
dark scans inverted, the contrast chosen the same way (:func:`unet_input`); one
that learnt both contrasts (``"any"``) needs no hint.

Intensities are first mapped robustly to [0, 1] by :func:`normalize`
(0.5th and 99.5th percentiles), which is also the U-Net's input.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
from scipy import ndimage

from porelib._validate import (
    check_choice,
    check_number,
    check_positive_int,
    check_progress,
    check_volume,
)

#: Methods of :func:`segment`, the one list used by the CLI, the benchmark and the Segment page.
METHODS = ("auto", "unet", "nlm", "gaussian", "median", "watershed", "otsu", "kmeans", "depthmap")

#: The strong classical baselines (denoise, then threshold or flood); their parameters are tuned.
DENOISING_METHODS = ("nlm", "gaussian", "median", "watershed")

#: Parameters of :data:`DENOISING_METHODS`, chosen on validation scans by
#: ``python -m porelib bench segmentation-tuning`` (docs/bench/segmentation_tuning.json;
#: ``tests/test_segmentation.py`` checks that the two agree). Lengths in voxels; ``h`` of
#: ``nlm`` in units of the estimated noise σ; ``margin`` of ``watershed`` in units of the
#: distance between the two phases' mean intensities.
CLASSICAL_PARAMETERS = {
    "nlm": {"h": 0.3},
    "gaussian": {"sigma": 0.5},
    "median": {"size": 3},
    "watershed": {"sigma": 0.5, "margin": 0.05},
}

#: Search grid of ``bench segmentation-tuning`` for each method's parameters.
PARAMETER_GRID = {
    "nlm": {"h": (0.2, 0.3, 0.4, 0.6, 0.8, 1.2)},
    "gaussian": {"sigma": (0.35, 0.5, 0.75, 1.0, 1.5)},
    "median": {"size": (3, 5, 7)},
    "watershed": {"sigma": (0.5, 0.75, 1.0), "margin": (0.05, 0.1, 0.2)},
}

#: Patch size and search distance (voxels) of the non-local means filter.
NLM_PATCH_SIZE = 3
NLM_PATCH_DISTANCE = 3

#: Which class is the inclusion phase; see the module notes.
CONTRASTS = ("auto", "bright", "dark")

#: Features of :func:`kmeans`.
KMEANS_FEATURES = ("intensity", "intensity+xyz")

#: Percentiles mapped to 0 and 1 by :func:`normalize`.
NORMALIZE_PERCENTILES = (0.5, 99.5)

#: Default U-Net checkpoint folder (``model.safetensors`` + ``card.json``).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "unet"

#: Sliding-window settings of the U-Net: a 256³ volume takes 2 × 2 × 2 windows.
UNET_WINDOW = 144
UNET_OVERLAP = 0.125

#: Largest ``overlap`` of :func:`sliding_window_predict`.
MAX_OVERLAP = 0.9

_KMEANS_SAMPLES = 1 << 15
_KMEANS_MAX_ITER = 100
_KMEANS_RESTARTS = 10  # scikit-learn's n_init, which the seed used


def normalize(volume) -> np.ndarray:
    """Map intensities to [0, 1]: the 0.5th percentile to 0, the 99.5th to 1, clipped.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
        Intensities (any real dtype).

    Returns
    -------
    ndarray of float32, shape (X, Y, Z)

    Raises
    ------
    ValueError
        If ``volume`` is not 3-D, has a side under 4 voxels, holds NaN/inf or is constant.
    """
    volume = check_volume(volume)
    low, high = np.percentile(volume, NORMALIZE_PERCENTILES)
    if high <= low:  # almost constant, a few outliers: fall back to the full range
        low, high = float(volume.min()), float(volume.max())
    normalized = (volume - np.float32(low)) / np.float32(high - low)
    return np.clip(normalized, 0.0, 1.0, out=normalized)


def inclusion_contrast(intensities: np.ndarray) -> str:
    """Which contrast the inclusions have: ``"bright"`` if Otsu's brighter class is the minority, else ``"dark"``.

    Parameters
    ----------
    intensities : ndarray, shape (X, Y, Z)
        Normalised intensities (:func:`normalize`).

    Returns
    -------
    {"bright", "dark"}
        The rule of ``contrast="auto"`` (module notes). On 300 training-like scans
        (64³, all doses, volume fractions up to 0.5, artefacts up to twice the defaults)
        it was never wrong.
    """
    from skimage.filters import threshold_otsu

    brighter = np.count_nonzero(intensities > threshold_otsu(intensities))
    return "bright" if brighter <= intensities.size / 2 else "dark"


def otsu(volume, *, clahe: bool = False, contrast: str = "auto") -> np.ndarray:
    """Segment by Otsu's threshold of the normalised intensities.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
    clahe : bool
        Equalise the histogram locally (3-D CLAHE, ``skimage.exposure.equalize_adapthist``)
        before thresholding, as seed 001 did.
    contrast : {"auto", "bright", "dark"}
        Which class is the inclusion phase (module notes).

    Returns
    -------
    ndarray of bool, shape (X, Y, Z)

    Raises
    ------
    ValueError
        For a bad volume (see :func:`normalize`) or contrast.
    """
    from skimage.exposure import equalize_adapthist
    from skimage.filters import threshold_otsu

    check_choice(contrast, CONTRASTS, "contrast")
    intensities = normalize(volume)
    if clahe:
        intensities = equalize_adapthist(intensities).astype(np.float32)
    return _inclusion_class(intensities > threshold_otsu(intensities), contrast)


def kmeans(volume, *, features: str = "intensity", contrast: str = "auto", seed=0) -> np.ndarray:
    """Segment by two-means clustering.

    The centroids are fitted (Lloyd iterations, best of 10 k-means++ starts,
    as scikit-learn's ``KMeans`` that the seed used) on a random sample of at
    most 32 768 voxels of the standardised features, then every
    voxel joins its nearest centroid. For two clusters "nearest" is a linear
    rule, so the full feature matrix is never built. On intensity alone this
    is the iterative midpoint threshold. With ``"intensity+xyz"`` (the seed's
    variant) cutting the volume into two halves removes three quarters of one
    standardised coordinate's variance; once noise blurs the two intensity
    peaks (low dose, few inclusions) that spatial split has the lower inertia
    and wins, and the "segmentation" is half of the volume.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
    features : {"intensity", "intensity+xyz"}
    contrast : {"auto", "bright", "dark"}
        Which cluster is the inclusion phase: the one with the brighter or
        darker centroid, or (``"auto"``) the smaller one.
    seed : int or numpy.random.Generator
        Seeds the sample and the k-means++ starts.

    Returns
    -------
    ndarray of bool, shape (X, Y, Z)

    Raises
    ------
    ValueError
        For a bad volume, features or contrast.
    """
    check_choice(features, KMEANS_FEATURES, "features")
    check_choice(contrast, CONTRASTS, "contrast")
    intensities = normalize(volume)
    rng = np.random.default_rng(seed)
    columns = [intensities]
    if features == "intensity+xyz":
        columns += [
            np.arange(n, dtype=np.float32).reshape([-1 if a == axis else 1 for a in range(3)])
            for axis, n in enumerate(intensities.shape)
        ]
    sample_index = rng.choice(intensities.size, size=min(_KMEANS_SAMPLES, intensities.size), replace=False)
    sample_coords = np.unravel_index(sample_index, intensities.shape)
    sample = np.stack([np.broadcast_to(c, intensities.shape)[sample_coords] for c in columns], axis=1)
    mean, std = sample.mean(axis=0), sample.std(axis=0)
    std[std == 0] = 1.0
    centroids = _two_means((sample - mean) / std, rng)
    bright, dark = centroids[np.argsort(-centroids[:, 0])]
    # Nearer to ``bright`` than to ``dark``  <=>  f · (bright - dark) > (|bright|² - |dark|²) / 2.
    weights = (bright - dark) / std
    offset = (bright @ bright - dark @ dark) / 2 + weights @ mean
    score = sum(np.float32(w) * c for w, c in zip(weights, columns))
    return _inclusion_class(score > offset, contrast)


def _two_means(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fit two centroids ``(2, F)`` to ``samples`` ``(n, F)``; best of several k-means++ starts."""
    fits = [_lloyd(samples, _kmeans_plus_plus(samples, rng)) for _ in range(_KMEANS_RESTARTS)]
    return min(fits, key=lambda fit: fit[1])[0]


def _kmeans_plus_plus(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two starting centroids: a random sample, then one drawn with probability ∝ squared distance."""
    first = samples[rng.integers(len(samples))]
    squared = ((samples - first) ** 2).sum(axis=1)
    second = samples[rng.choice(len(samples), p=squared / squared.sum())] if squared.sum() > 0 else first
    return np.stack([first, second]).astype(np.float64)


def _lloyd(samples: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, float]:
    """Lloyd iterations from ``centroids``; return the centroids and the inertia (sum of squared distances)."""
    assignment = None
    for _ in range(_KMEANS_MAX_ITER):
        distances = ((samples[:, None, :] - centroids[None]) ** 2).sum(axis=2)
        new_assignment = distances.argmin(axis=1)
        if assignment is not None and np.array_equal(new_assignment, assignment):
            break
        assignment = new_assignment
        for k in range(2):
            if np.any(assignment == k):
                centroids[k] = samples[assignment == k].mean(axis=0)
    return centroids, float(distances.min(axis=1).sum())


def depthmap(volume, *, sigma: float = 0.8, percentile: float = 75.0) -> np.ndarray:
    """Seed 001's depth-map segmentation, kept faithful for comparison.

    ``depth = cumsum_z |∂I/∂z|``, smoothed by a Gaussian of ``sigma`` voxels,
    ``mask = depth > percentile(depth, percentile)``. The cumulative sum grows
    monotonically along z, so the mask is mostly the top ``100 - percentile`` %
    of the slices whatever the material: it measures depth, not phase. This is
    why the method fails; it is here so the benchmark shows it.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
    sigma : float
        Gaussian smoothing, in voxels (the seed used 0.8).
    percentile : float
        Threshold percentile of the smoothed depth map (the seed used 75).

    Returns
    -------
    ndarray of bool, shape (X, Y, Z)

    Raises
    ------
    ValueError
        For a bad volume, a negative sigma or a percentile outside [0, 100].
    """
    sigma = check_number(sigma, "sigma", minimum=0.0)
    percentile = check_number(percentile, "percentile", minimum=0.0, maximum=100.0)
    intensities = normalize(volume)
    depth = np.cumsum(np.abs(np.gradient(intensities, axis=2)), axis=2)
    smoothed = ndimage.gaussian_filter(depth, sigma)
    return smoothed > np.percentile(smoothed, percentile)


def _inclusion_class(brighter: np.ndarray, contrast: str) -> np.ndarray:
    """Return the inclusion phase given the mask of the brighter class (module notes)."""
    if contrast == "bright" or (contrast == "auto" and np.count_nonzero(brighter) <= brighter.size / 2):
        return brighter
    return ~brighter


# ----------------------------------------------------------------------------- denoising baselines


def estimate_noise(volume) -> float:
    """Robust standard deviation of the noise of the normalised intensities (:func:`normalize`).

    The median absolute deviation of the differences between neighbouring voxels along
    each axis, divided by 0.6745 (MAD of a normal) and √2 (a difference of two
    independent voxels). Edges are a small fraction of the voxels, so the median
    ignores them, as the wavelet estimate of ``skimage.restoration.estimate_sigma``
    does (that one needs PyWavelets, which this project does not install).

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
        Intensities (normalised here first).

    Returns
    -------
    float
        σ in units of the normalised range [0, 1].

    Raises
    ------
    ValueError
        For a bad volume (see :func:`normalize`).
    """
    intensities = normalize(volume)
    differences = np.concatenate([np.diff(intensities, axis=axis).ravel() for axis in range(3)])
    deviation = np.median(np.abs(differences - np.median(differences)))
    return float(deviation / 0.6745 / np.sqrt(2.0))


def denoise(volume, method: str, **parameters) -> np.ndarray:
    """The normalised intensities (:func:`normalize`) after one of the denoising filters.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
    method : {"nlm", "gaussian", "median"}
        ``nlm``: ``skimage.restoration.denoise_nl_means`` (3-D, patches of
        :data:`NLM_PATCH_SIZE`, search distance :data:`NLM_PATCH_DISTANCE`) with
        ``sigma`` from :func:`estimate_noise` and cut-off ``h · sigma``;
        ``gaussian``: a Gaussian of ``sigma`` voxels; ``median``: a cubic median
        filter of ``size`` voxels.
    **parameters
        ``h`` (nlm), ``sigma`` (gaussian), ``size`` (median); default
        :data:`CLASSICAL_PARAMETERS`.

    Returns
    -------
    ndarray of float32, shape (X, Y, Z)

    Raises
    ------
    ValueError
        For a bad volume, method or parameter.
    """
    check_choice(method, ("nlm", "gaussian", "median"), "method")
    unknown = set(parameters) - set(CLASSICAL_PARAMETERS[method])
    if unknown:
        raise ValueError(
            f"{method} takes the parameters {', '.join(CLASSICAL_PARAMETERS[method])}; got {', '.join(sorted(unknown))}"
        )
    settings = {**CLASSICAL_PARAMETERS[method], **parameters}
    intensities = normalize(volume)
    if method == "gaussian":
        return ndimage.gaussian_filter(intensities, check_number(settings["sigma"], "sigma", minimum=0.0))
    if method == "median":
        return ndimage.median_filter(intensities, size=check_positive_int(settings["size"], "size"))
    from skimage.restoration import denoise_nl_means

    h = check_number(settings["h"], "h", minimum=0.0)
    sigma = max(estimate_noise(intensities), 1e-6)
    denoised = denoise_nl_means(
        intensities,
        h=h * sigma,
        sigma=sigma,
        patch_size=NLM_PATCH_SIZE,
        patch_distance=NLM_PATCH_DISTANCE,
        fast_mode=True,
        channel_axis=None,
    )
    return denoised.astype(np.float32)


def denoised_otsu(volume, method: str = "nlm", *, contrast: str = "auto", **parameters) -> np.ndarray:
    """Denoise (:func:`denoise`), then Otsu's threshold: the pipeline practitioners use.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
    method : {"nlm", "gaussian", "median"}
    contrast : {"auto", "bright", "dark"}
        Which class is the inclusion phase (module notes).
    **parameters
        The filter's parameters (:func:`denoise`); default the tuned ones.

    Returns
    -------
    ndarray of bool, shape (X, Y, Z)

    Raises
    ------
    ValueError
        For a bad volume, method, contrast or parameter.
    """
    from skimage.filters import threshold_otsu

    check_choice(contrast, CONTRASTS, "contrast")
    denoised = denoise(volume, method, **parameters)
    return _inclusion_class(denoised > threshold_otsu(denoised), contrast)


def watershed(volume, *, contrast: str = "auto", sigma=None, margin=None) -> np.ndarray:
    """Marker-based watershed of the Gaussian-denoised scan.

    The scan is smoothed by a Gaussian of ``sigma`` voxels. With ``t`` Otsu's
    threshold and ``d`` the distance between the mean intensities of the two classes
    it separates, voxels below ``t - margin · d`` seed the darker phase and voxels above
    ``t + margin · d`` the brighter one; the rest is assigned by flooding the gradient
    magnitude (Sobel) from those seeds (``skimage.segmentation.watershed``), so the
    boundary follows the edges rather than a global grey level.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
    contrast : {"auto", "bright", "dark"}
        Which class is the inclusion phase (module notes).
    sigma, margin : float, optional
        Default :data:`CLASSICAL_PARAMETERS` ``["watershed"]``.

    Returns
    -------
    ndarray of bool, shape (X, Y, Z)

    Raises
    ------
    ValueError
        For a bad volume, contrast or parameter.
    """
    from skimage.filters import sobel, threshold_otsu
    from skimage.segmentation import watershed as flood

    check_choice(contrast, CONTRASTS, "contrast")
    defaults = CLASSICAL_PARAMETERS["watershed"]
    sigma = check_number(defaults["sigma"] if sigma is None else sigma, "sigma", minimum=0.0)
    margin = check_number(defaults["margin"] if margin is None else margin, "margin", minimum=0.0, maximum=0.5)
    smoothed = denoise(volume, "gaussian", sigma=sigma)
    threshold = threshold_otsu(smoothed)
    brighter = smoothed > threshold
    if brighter.all() or not brighter.any():
        return _inclusion_class(brighter, contrast)
    spread = float(smoothed[brighter].mean() - smoothed[~brighter].mean())
    markers = np.zeros(smoothed.shape, dtype=np.int32)
    markers[smoothed < threshold - margin * spread] = 1
    markers[smoothed > threshold + margin * spread] = 2
    if not (markers == 1).any() or not (markers == 2).any():
        return _inclusion_class(brighter, contrast)
    return _inclusion_class(flood(sobel(smoothed), markers) == 2, contrast)


# ----------------------------------------------------------------------------- automatic choice


def choose_method(volume, *, unet_available: bool = True) -> tuple[str, str]:
    """The method ``auto`` uses for ``volume``, and why, in one sentence.

    The rule follows the segmentation benchmark (docs/bench/segmentation.md, 18 conditions:
    three scan families, the held-out one included, × two contrasts × three doses). There the
    shipped U-Net has the highest mean Dice on every condition, and among the classical
    methods non-local means + Otsu is the best or close to it on every one. So ``auto``
    takes the U-Net when a checkpoint is available and ``nlm`` otherwise. The estimated
    noise (:func:`estimate_noise`) is reported with the choice, so that a scan noisier than
    anything benchmarked (σ above :data:`BENCHMARKED_NOISE`) is flagged as such.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
    unet_available : bool
        Whether a U-Net checkpoint can be loaded.

    Returns
    -------
    (str, str)
        The method (one of :data:`METHODS` other than ``auto``) and the reason.

    Raises
    ------
    ValueError
        For a bad volume.
    """
    sigma = estimate_noise(volume)
    noise = f"estimated noise σ = {sigma:.3f} of the intensity range"
    if sigma > BENCHMARKED_NOISE:
        noise += f", above the {BENCHMARKED_NOISE} of the noisiest benchmarked scans: treat every method's mask with care"
    if unet_available:
        return "unet", (
            f"{noise}; the U-Net had the highest mean Dice on every condition of the segmentation benchmark, "
            "the held-out scan family included"
        )
    return "nlm", (
        f"{noise}; no U-Net checkpoint is available, and non-local means + Otsu is the best classical method "
        "of the segmentation benchmark"
    )


#: Noise σ (normalised units, :func:`estimate_noise`) beyond which a scan is noisier than the
#: segmentation benchmark's scans: on 30 low-dose scans of the randomised and held-out families
#: (48³, benchmark seeds) the estimate reached 0.155 at most; pure Gaussian noise gives about 0.19
#: (σ over the span of the 0.5th-99.5th percentiles, 5.15 σ).
BENCHMARKED_NOISE = 0.17


# ----------------------------------------------------------------------------- sliding windows


def sliding_window_predict(
    volume, predict_fn, *, window=64, overlap: float = 0.25, batch_size: int = 1, progress=None
) -> np.ndarray:
    """Apply ``predict_fn`` to overlapping windows and blend them into one volume.

    Windows cover the volume on a regular grid along each axis, neighbours
    sharing at least ``overlap`` of the window; the last window of an axis is
    flush with the far face. Predictions are blended with a separable Gaussian
    weight (σ = window / 8, as nnU-Net), so window borders, where a network
    sees the least context, count least. A volume smaller than the window
    along an axis is padded by reflection and the result cropped. Memory:
    one float32 accumulator of the volume's size plus one batch of windows.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
        Input of ``predict_fn`` (e.g. intensities from :func:`normalize`).
    predict_fn : callable
        Maps a float32 batch ``(B, wx, wy, wz)`` to an array of the same shape
        (e.g. probabilities).
    window : int or (int, int, int)
        Window size in voxels, per axis if a tuple.
    overlap : float
        Least fraction of a window shared with its neighbour, in [0, :data:`MAX_OVERLAP`].
    batch_size : int
        Windows per call of ``predict_fn``.
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch, in windows.

    Returns
    -------
    ndarray of float32, shape (X, Y, Z)

    Raises
    ------
    ValueError
        For a bad volume, window, overlap or batch size, or if ``predict_fn``
        returns another shape.
    """
    volume = check_volume(volume, min_size=1)
    window = _check_window(window)
    overlap = check_number(overlap, "overlap", minimum=0.0, maximum=MAX_OVERLAP)
    batch_size = check_positive_int(batch_size, "batch_size")
    if not callable(predict_fn):
        raise TypeError(f"predict_fn must be callable; got {type(predict_fn).__name__}")
    check_progress(progress)

    shape = volume.shape
    padding = [(0, max(0, w - s)) for w, s in zip(window, shape)]
    padded = np.pad(volume, padding, mode="reflect") if any(p for _, p in padding) else volume
    starts = [_window_starts(s, w, overlap) for s, w in zip(padded.shape, window)]
    profiles = [_gaussian_profile(w) for w in window]
    weight = profiles[0][:, None, None] * profiles[1][None, :, None] * profiles[2][None, None, :]
    blended = np.zeros(padded.shape, dtype=np.float32)
    corners = [(x, y, z) for x in starts[0] for y in starts[1] for z in starts[2]]
    for first in range(0, len(corners), batch_size):
        boxes = [
            tuple(slice(c, c + w) for c, w in zip(corner, window)) for corner in corners[first : first + batch_size]
        ]
        batch = np.stack([padded[box] for box in boxes])
        predicted = np.asarray(predict_fn(batch))
        if predicted.shape != batch.shape:
            raise ValueError(f"predict_fn must return the shape of its input {batch.shape}; got {predicted.shape}")
        for box, prediction in zip(boxes, predicted):
            blended[box] += prediction * weight
        if progress is not None:
            progress(min(first + batch_size, len(corners)), len(corners))
    # The weights are separable and the windows lie on a grid, so their sum is separable too.
    # Divided axis by axis, so no second volume-sized array is made.
    for axis, (size, axis_starts, profile) in enumerate(zip(padded.shape, starts, profiles)):
        blended /= _coverage(size, axis_starts, profile).reshape([-1 if a == axis else 1 for a in range(3)])
    return blended[: shape[0], : shape[1], : shape[2]]


def _check_window(window) -> tuple[int, int, int]:
    values = (window,) * 3 if isinstance(window, numbers.Integral) and not isinstance(window, bool) else window
    try:
        values = tuple(check_positive_int(w, "window") for w in values)
    except TypeError:
        raise TypeError(f"window must be an int or three ints; got {window!r}") from None
    if len(values) != 3:
        raise ValueError(f"window must be an int or three ints (wx, wy, wz); got {window!r}")
    return values


def _window_starts(size: int, window: int, overlap: float) -> list[int]:
    """Start of each window along an axis: fewest windows with at least ``overlap`` shared, evenly spread."""
    if size <= window:
        return [0]
    count = int(np.ceil((size - window) / (window * (1 - overlap)))) + 1
    return sorted(set(np.round(np.linspace(0, size - window, count)).astype(int).tolist()))


def _gaussian_profile(window: int) -> np.ndarray:
    """1-D blending weight of a window: a Gaussian of σ = window / 8, peak 1, floored at 1e-3."""
    centre, sigma = (window - 1) / 2, window / 8
    profile = np.exp(-0.5 * ((np.arange(window) - centre) / sigma) ** 2)
    return np.maximum(profile, 1e-3).astype(np.float32)


def _coverage(size: int, starts: list[int], profile: np.ndarray) -> np.ndarray:
    """Sum of the 1-D window weights over all windows, at each position of an axis."""
    total = np.zeros(size, dtype=np.float32)
    for start in starts:
        total[start : start + profile.size] += profile
    return total


# ----------------------------------------------------------------------------- U-Net


def load_unet(checkpoint=None):
    """Load the U-Net of a checkpoint folder, in eval mode, through :mod:`porelib.checkpoint`.

    The folder holds ``model.safetensors`` (weights) and ``card.json`` whose
    ``"config"`` is a :class:`~porelib.models.unet3d.UNet3DConfig` as a dict;
    the model is rebuilt from that config, never unpickled.

    Parameters
    ----------
    checkpoint : str or Path, optional
        Folder; default :data:`DEFAULT_CHECKPOINT` (``checkpoints/unet``).

    Returns
    -------
    porelib.models.unet3d.UNet3D

    Raises
    ------
    ValueError
        If the folder has no card (the message says how to train one), or its
        files do not describe a U-Net.
    """
    from porelib.checkpoint import CARD_FILE, load_checkpoint
    from porelib.models.unet3d import UNet3D

    folder = Path(DEFAULT_CHECKPOINT if checkpoint is None else checkpoint)
    if not (folder / CARD_FILE).is_file():
        raise ValueError(
            f"no U-Net checkpoint at {folder} (expected model.safetensors and {CARD_FILE}); "
            "train one with `python -m porelib train unet --out checkpoints/unet`"
        )
    model, card = load_checkpoint(folder)
    if not isinstance(model, UNet3D):  # a wrong folder is a bad value: one line on the CLI
        raise ValueError(  # noqa: TRY004
            f"the checkpoint at {folder} holds a {card['model']!r} model, not a U-Net"
        )
    return model


#: Arithmetic of the U-Net on the CPU: bfloat16 autocast is ~1.7x faster here and changes
#: under 0.02 % of the mask voxels (Dice equal to 4 decimals on 128³ benchmark scans).
PRECISIONS = ("bfloat16", "float32")


def unet_input(volume, *, input_contrast: str, contrast: str = "auto") -> np.ndarray:
    """The U-Net's input: :func:`normalize`, then ``1 - x`` for dark inclusions if the network expects bright ones.

    Training (:mod:`porelib.tasks.unet`) and inference both build the input here.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
    input_contrast : {"any", "bright"}
        The network's :attr:`~porelib.models.unet3d.UNet3DConfig.input_contrast`;
        ``"any"`` leaves the intensities as they are.
    contrast : {"auto", "bright", "dark"}
        The scan's contrast; ``"auto"`` decides by :func:`inclusion_contrast`.

    Returns
    -------
    ndarray of float32, shape (X, Y, Z), values in [0, 1]

    Raises
    ------
    ValueError
        For a bad volume, ``input_contrast`` or ``contrast``.
    """
    from porelib.models.unet3d import INPUT_CONTRASTS

    check_choice(input_contrast, INPUT_CONTRASTS, "input_contrast")
    check_choice(contrast, CONTRASTS, "contrast")
    intensities = normalize(volume)
    if input_contrast == "any":
        return intensities
    if contrast == "auto":
        contrast = inclusion_contrast(intensities)
    if contrast == "dark":
        np.subtract(1.0, intensities, out=intensities)
    return intensities


def unet_probability(
    volume,
    model,
    *,
    contrast: str = "auto",
    input_contrast: str | None = None,
    window=UNET_WINDOW,
    overlap: float = UNET_OVERLAP,
    precision: str = "bfloat16",
    progress=None,
) -> np.ndarray:
    """Inclusion probability of every voxel from a loaded U-Net (see :func:`load_unet`).

    The volume becomes the network's input by :func:`unet_input`, then is predicted
    window by window (:func:`sliding_window_predict`) under ``torch.inference_mode``
    with the current ``torch.get_num_threads()``. Windows are clipped to the volume's
    sides, so a small volume is one window. ``precision="bfloat16"`` runs the
    network's CPU operations under bfloat16 autocast (:data:`PRECISIONS`).

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
    model : callable
        A :class:`~porelib.models.unet3d.UNet3D`, or any callable mapping a CPU float32
        tensor ``(B, 1, wx, wy, wz)`` to logits of that shape.
    contrast : {"auto", "bright", "dark"}
        The scan's contrast, for a network with ``input_contrast="bright"`` (module notes).
    input_contrast : {"any", "bright"}, optional
        Default: ``model.config.input_contrast`` (``"any"`` if ``model`` has no config).

    Returns
    -------
    ndarray of float32, shape (X, Y, Z), values in [0, 1]
    """
    import torch

    check_choice(precision, PRECISIONS, "precision")
    if input_contrast is None:
        input_contrast = getattr(getattr(model, "config", None), "input_contrast", "any")
    intensities = unet_input(volume, input_contrast=input_contrast, contrast=contrast)
    window = tuple(min(w, s) for w, s in zip(_check_window(window), intensities.shape))

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            return torch.sigmoid(model(torch.from_numpy(batch[:, None])).float())[:, 0].numpy()

    return sliding_window_predict(intensities, predict, window=window, overlap=overlap, progress=progress)


def unet(volume, *, contrast: str = "auto", checkpoint=None, progress=None) -> np.ndarray:
    """Segment with the trained U-Net of ``checkpoint`` (probability > 0.5).

    ``contrast`` as in :func:`unet_probability` (used only by a network trained on
    bright inclusions).

    Raises
    ------
    ValueError
        For a bad volume or contrast, or when there is no checkpoint (the message says how to train one).
    """
    volume = check_volume(volume)
    check_choice(contrast, CONTRASTS, "contrast")
    return unet_probability(volume, load_unet(checkpoint), contrast=contrast, progress=progress) > 0.5


# ----------------------------------------------------------------------------- dispatcher


def segment(
    volume,
    method: str = "otsu",
    *,
    contrast: str = "auto",
    clahe: bool = False,
    checkpoint=None,
    progress=None,
) -> np.ndarray:
    """Segment the inclusion phase of a CT volume with one of :data:`METHODS`.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
        Intensities (e.g. ``porelib.ct.load_scan(path).image``).
    method : {"auto", "unet", "nlm", "gaussian", "median", "watershed", "otsu", "kmeans", "depthmap"}
        ``auto`` picks one per scan (:func:`choose_method`).
    contrast : {"auto", "bright", "dark"}
        Which class is the inclusion phase (module notes), for every method but the
        depth map, which ignores it.
    clahe : bool
        For otsu: equalise locally first.
    checkpoint : str or Path, optional
        For unet: the checkpoint folder (default ``checkpoints/unet``).
    progress : callable, optional
        ``progress(done, total)``; per window for unet, once at the end otherwise.

    Returns
    -------
    ndarray of bool, shape (X, Y, Z)
        ``True`` = inclusion (sphere or pore).

    Raises
    ------
    ValueError
        For an unknown method, a bad volume (not 3-D, NaN/inf, constant) or
        option, or a missing U-Net checkpoint.
    """
    check_choice(method, METHODS, "method")
    check_choice(contrast, CONTRASTS, "contrast")
    check_progress(progress)
    if method == "auto":
        from porelib.checkpoint import CARD_FILE

        folder = Path(DEFAULT_CHECKPOINT if checkpoint is None else checkpoint)
        method, _ = choose_method(volume, unet_available=(folder / CARD_FILE).is_file())
    if method == "unet":
        return unet(volume, contrast=contrast, checkpoint=checkpoint, progress=progress)
    if method in ("nlm", "gaussian", "median"):
        mask = denoised_otsu(volume, method, contrast=contrast)
    elif method == "watershed":
        mask = watershed(volume, contrast=contrast)
    elif method == "otsu":
        mask = otsu(volume, clahe=clahe, contrast=contrast)
    elif method == "kmeans":
        mask = kmeans(volume, contrast=contrast)
    else:
        mask = depthmap(volume)
    if progress is not None:
        progress(1, 1)
    return mask
