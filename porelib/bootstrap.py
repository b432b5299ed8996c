"""Ratios to a noise floor, with bootstrap intervals: how a benchmark tells a good model from a lucky one.

A generator is judged by the mean distance from its samples to an ensemble of real ones
(members), divided by the members' own spread (the mean distance between two different
members): ratio 1 is "as close as another real sample". Both sides are finite samples, so
:func:`bootstrap_ratio` resamples candidates *and* members with replacement and reports a
percentile interval; a benchmark passes a statistic only when the interval's upper bound
is within its limit. Used by the held-out scores of a user's material
(:mod:`porelib.material.reference`) and by ``bench generators``.
"""

from __future__ import annotations

import numpy as np

from porelib._validate import check_number, check_positive_int

#: Bootstrap resamples by default.
DEFAULT_RESAMPLES = 2000


#: Distances and noise floors below this are rounding noise: exact zeros.
ZERO = 1e-12


def noise_floor_ratio(distance, noise_floor, resolution=None):
    """``distance / noise_floor`` elementwise, with a stated treatment of zero floors.

    Values below :data:`ZERO` count as zero, so an ensemble whose members all agree (the
    simulator at density 0.1 places a single pore voxel) has a zero floor, not a rounding one.
    A zero floor has no spread to measure against: where ``resolution`` (broadcast against
    the floor) is given and positive, the distance is divided by it instead, the smallest
    difference the statistic can resolve (``bench generators`` uses the change one pore voxel
    makes, :func:`porelib.bench.generators.one_voxel_resolution`); otherwise a zero floor
    gives 1 for a zero distance and inf for any other.
    """
    distance, noise_floor = np.asarray(distance, dtype=np.float64), np.asarray(noise_floor, dtype=np.float64)
    distance = np.where(np.abs(distance) < ZERO, 0.0, distance)
    noise_floor = np.where(np.abs(noise_floor) < ZERO, 0.0, noise_floor)
    if resolution is not None:
        resolution = np.broadcast_to(np.asarray(resolution, dtype=np.float64), noise_floor.shape)
        noise_floor = np.where(noise_floor == 0, resolution, noise_floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = distance / noise_floor
    return np.where(noise_floor == 0, np.where(distance == 0, 1.0, np.inf), ratio)


def _resample_counts(rng: np.random.Generator, resamples: int, n: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each of ``resamples`` draws of ``n`` with replacement."""
    draws = rng.integers(0, n, size=(resamples, n))
    rows = np.repeat(np.arange(resamples), n)
    return np.bincount(rows * n + draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def bootstrap_ratio(
    candidate_distances,
    member_distances,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed=0,
    confidence: float = 0.95,
    resolution=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratio of the mean candidate–member distance to the members' noise floor, with a bootstrap interval.

    Each resample draws ``C`` candidates and ``M`` members with replacement and recomputes

    .. code-block:: text

        distance    = mean over drawn candidates i and drawn members j of D[i, j]
        noise_floor = mean over pairs of drawn members that are different members of E[j, k]

    as weighted sums of the matrices (all resamples at once), so it costs no statistics.

    Parameters
    ----------
    candidate_distances : array_like, (..., C, M)
        ``D[i, j]``: distance from candidate ``i`` to member ``j``. Leading axes (e.g. one
        per statistic) are scored independently with the same resamples.
    member_distances : array_like, (..., M, M)
        ``E[j, k]``: distance between members ``j`` and ``k`` (the diagonal is ignored).
    resamples : int
        Bootstrap resamples (at least 100).
    seed : int or numpy.random.Generator
    confidence : float
        Coverage of the percentile interval, in (0, 1).
    resolution : array_like, shape (...), optional
        Per leading index, the distance a zero noise floor is replaced by
        (:func:`noise_floor_ratio`); default: a zero floor gives 1 or inf.

    Returns
    -------
    ratio, low, high : ndarray, shape (...)
        The ratio on all the data and the interval's bounds (``low`` the lower
        ``(1 − confidence)/2`` percentile, ``high`` the upper, without interpolation).
        Resamples that drew a single member (no pair to measure a noise floor) are left out.

    Raises
    ------
    ValueError
        If the shapes do not match, there are fewer than 2 members, or an argument is out of range.
    """
    d = np.asarray(candidate_distances, dtype=np.float64)
    e = np.asarray(member_distances, dtype=np.float64)
    if d.ndim < 2 or e.ndim != d.ndim or e.shape[-1] != e.shape[-2] or e.shape[-1] != d.shape[-1] or e.shape[:-2] != d.shape[:-2]:
        raise ValueError(
            "candidate_distances must be (..., C, M) and member_distances (..., M, M) with the same leading "
            f"axes; got {d.shape} and {e.shape}"
        )
    candidates, members = d.shape[-2:]
    if members < 2 or candidates < 1:
        raise ValueError(f"bootstrap_ratio needs at least 1 candidate and 2 members; got {candidates} and {members}")
    resamples = check_positive_int(resamples, "resamples", minimum=100)
    confidence = check_number(confidence, "confidence", minimum=0.5, maximum=0.999)
    e = e * (1 - np.eye(members))  # a member is never paired with itself
    floor = e.sum(axis=(-2, -1)) / (members * (members - 1))
    ratio = noise_floor_ratio(d.mean(axis=(-2, -1)), floor, resolution)

    rng = np.random.default_rng(seed)
    wc = _resample_counts(rng, resamples, candidates)
    wm = _resample_counts(rng, resamples, members)
    distance = np.einsum("bi,...ib->...b", wc, d @ wm.T) / (candidates * members)
    pairs = members**2 - (wm**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        noise = np.einsum("bj,...jb->...b", wm, e @ wm.T) / pairs
    per_resample = None if resolution is None else np.asarray(resolution, dtype=np.float64)[..., None]
    resampled = np.where(pairs > 0, noise_floor_ratio(distance, noise, per_resample), np.nan)
    tail = 100 * (1 - confidence) / 2
    low = np.nanpercentile(resampled, tail, axis=-1, method="lower")
    high = np.nanpercentile(resampled, 100 - tail, axis=-1, method="higher")
    return ratio, low, high


def bootstrap_median(values, *, resamples: int = DEFAULT_RESAMPLES, seed=0, confidence: float = 0.95):
    """The median of ``values`` with a percentile bootstrap interval (e.g. repeated timings).

    Parameters
    ----------
    values : array_like
        ``(n,)`` finite numbers, ``n >= 1``, in any unit (the result has the same unit).
    resamples, seed, confidence
        Bootstrap draws of ``n`` values with replacement, the generator's seed, and the
        interval's coverage in (0, 1).

    Returns
    -------
    tuple of float
        ``(median, low, high)``.

    Raises
    ------
    ValueError
        If ``values`` is empty or not finite, or ``confidence`` is not in (0, 1).
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"bootstrap_median needs at least one finite value, got {values.tolist()[:10]}")
    check_positive_int(resamples, "resamples")
    if not 0 < check_number(confidence, "confidence") < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    draws = np.random.default_rng(seed).integers(0, values.size, size=(resamples, values.size))
    medians = np.median(values[draws], axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(np.median(values)), float(low), float(high)


def bootstrap_mean(values, *, resamples: int = DEFAULT_RESAMPLES, seed=0, confidence: float = 0.95):
    """Mean of ``values`` with a percentile bootstrap interval (items resampled with replacement).

    For a paired comparison pass the per-item differences (e.g. one method's Dice minus
    another's on the same scans).

    Parameters
    ----------
    values : array_like, (n,)
        One value per independent item (e.g. per scan), n >= 2.
    resamples : int
        Bootstrap resamples (at least 100).
    seed : int or numpy.random.Generator
    confidence : float
        Coverage of the percentile interval, in [0.5, 0.999].

    Returns
    -------
    mean, low, high : float
        The mean of all values and the interval's bounds (percentiles without interpolation).

    Raises
    ------
    ValueError
        For fewer than 2 values, non-finite values, or an argument out of range.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"bootstrap_mean needs at least 2 finite values; got {values.size} values")
    resamples = check_positive_int(resamples, "resamples", minimum=100)
    confidence = check_number(confidence, "confidence", minimum=0.5, maximum=0.999)
    counts = _resample_counts(np.random.default_rng(seed), resamples, values.size)
    means = counts @ values / values.size
    tail = 100 * (1 - confidence) / 2
    low = np.percentile(means, tail, method="lower")
    high = np.percentile(means, 100 - tail, method="higher")
    return float(values.mean()), float(low), float(high)
