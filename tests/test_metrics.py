"""Tests of porelib.metrics: known geometries, brute force, PoreSpy and scikit-image."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from skimage import measure

from porelib import metrics

SIZE = 30


# --------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------


def squared_distance(size: int, centre) -> np.ndarray:
    """Squared distance of every voxel of a (size,)*3 grid from ``centre``."""
    axes = np.arange(size)
    x, y, z = (axes - c for c in centre)
    return x[:, None, None] ** 2 + y[None, :, None] ** 2 + z[None, None, :] ** 2


def ball(size: int, radius: float, centre=None) -> np.ndarray:
    """Voxels within ``radius`` (inclusive) of ``centre`` (default: the middle voxel)."""
    centre = (size // 2,) * 3 if centre is None else centre
    return squared_distance(size, centre) <= radius**2


def random_balls(rng: np.random.Generator, size: int = 24, count: int = 20) -> np.ndarray:
    """A small stand-in for the dataset: ``count`` balls of radius 2.5–4, inside the cube."""
    grid = np.zeros((size,) * 3, dtype=bool)
    for _ in range(count):
        radius = rng.uniform(2.5, 4.0)
        centre = rng.uniform(radius, size - 1 - radius, size=3)
        grid |= squared_distance(size, centre) <= radius**2
    return grid


def brute_force_s2(grid: np.ndarray, r_max: int) -> np.ndarray:
    """S2(r) by direct counting: for each lag d, mean of g(x) g(x + d) over the pairs inside."""
    size = grid.shape[0]
    sums = np.zeros(r_max + 1)
    counts = np.zeros(r_max + 1)
    for lag in itertools.product(range(-r_max, r_max + 1), repeat=3):
        shell = round(math.sqrt(sum(d * d for d in lag)))
        if shell <= r_max:
            first = grid[tuple(slice(max(0, -d), size - max(0, d)) for d in lag)]
            second = grid[tuple(slice(max(0, d), size + min(0, d)) for d in lag)]  # first[x] shifted by lag
            sums[shell] += np.mean(first & second)
            counts[shell] += 1
    return sums / counts


# --------------------------------------------------------------------------------------
# Known geometries
# --------------------------------------------------------------------------------------


def test_single_ball():
    radius = 8
    grid = ball(SIZE, radius)
    stats = metrics.summary(grid)
    # A voxelised ball holds 4/3 π r³ voxels to within a few percent (2109 vs 2145 for r = 8).
    assert grid.sum() == pytest.approx(4 / 3 * math.pi * radius**3, rel=0.03)
    assert stats.porosity == grid.mean()
    assert stats.s2[0] == pytest.approx(stats.porosity, abs=1e-12)
    assert stats.pore_count == 1
    assert stats.largest_cluster_fraction == 1.0
    assert stats.euler_per_voxel * grid.size == pytest.approx(1)
    assert stats.pore_radii == pytest.approx([radius], rel=0.03)
    # Marching cubes on a voxelised sphere is within a few percent of 4πr²; allow 10 %.
    assert stats.specific_surface == pytest.approx(4 * math.pi * radius**2 / grid.size, rel=0.10)
    # The largest ball that fits is the pore itself: radius r at the centre.
    thickness = metrics.local_thickness(grid)
    assert thickness[SIZE // 2, SIZE // 2, SIZE // 2] == radius
    assert thickness.max() == radius
    assert np.all((thickness > 0) == grid)


def test_hollow_ball_has_euler_two():
    # A pore shell enclosing a solid core: one object, no tunnel, one cavity -> χ = 1 + 1 = 2.
    grid = ball(SIZE, 10) & ~ball(SIZE, 6)
    assert metrics.euler_per_voxel(grid) * grid.size == pytest.approx(2)
    assert metrics.pore_count(grid) == 1


def test_lattice_of_separated_spheres():
    centres = [(x, y, z) for x in (7, 22) for y in (7, 22) for z in (7, 22)]
    grid = np.zeros((SIZE,) * 3, dtype=bool)
    for centre in centres:
        grid |= ball(SIZE, 4, centre)
    stats = metrics.summary(grid)
    assert stats.pore_count == len(centres)
    assert stats.euler_per_voxel * grid.size == pytest.approx(len(centres))
    assert stats.largest_cluster_fraction == pytest.approx(1 / len(centres))
    assert np.allclose(stats.pore_radii, stats.pore_radii[0])
    assert stats.mean_pore_radius == pytest.approx(4, rel=0.05)


def test_empty_grid():
    grid = np.zeros((SIZE,) * 3, dtype=bool)
    stats = metrics.summary(grid)
    assert stats.porosity == 0.0
    assert np.all(stats.s2 == 0.0)
    assert (stats.pore_count, stats.mean_pore_radius, stats.largest_cluster_fraction) == (0, 0.0, 0.0)
    assert stats.pore_radii.size == 0 and stats.thickness.size == 0
    assert (stats.euler_per_voxel, stats.specific_surface) == (0.0, 0.0)
    assert not metrics.local_thickness(grid).any()
    assert metrics.iou(grid, grid) == 1.0 and metrics.dice(grid, grid) == 1.0
    assert metrics.iou(grid, grid, empty_score=0.0) == 0.0
    assert metrics.dice(grid, grid, empty_score=0.0) == 0.0


def test_full_grid():
    grid = np.ones((SIZE,) * 3, dtype=bool)
    stats = metrics.summary(grid)
    assert np.allclose(stats.s2, 1.0)  # S2 is flat at φ = 1
    assert (stats.pore_count, stats.largest_cluster_fraction) == (1, 1.0)
    assert stats.euler_per_voxel * grid.size == pytest.approx(1)
    # Zero padding closes the surface at the faces: the cube's area 6 S², a little less
    # because marching cubes cuts the 12 edges and 8 corners (about 2 % at S = 30).
    assert stats.specific_surface == pytest.approx(6 / SIZE, rel=0.03)
    assert stats.specific_surface < 6 / SIZE
    # No solid voxel bounds the balls: the documented convention is S // 2 everywhere.
    assert np.all(metrics.local_thickness(grid) == SIZE // 2)


# --------------------------------------------------------------------------------------
# Two-point correlation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("porosity", [0.1, 0.5])
def test_s2_matches_brute_force(porosity):
    grid = np.random.default_rng(3).random((10, 10, 10)) < porosity
    s2 = metrics.two_point_correlation(grid, r_max=5)
    assert s2.shape == (6,)
    assert s2[0] == pytest.approx(grid.mean(), abs=1e-12)
    assert s2 == pytest.approx(brute_force_s2(grid, 5), abs=1e-12)


def test_s2_is_not_periodic():
    # Pores on the two opposite faces x = 0 and x = S - 1. A periodic S2 would pair them
    # across the boundary; the non-periodic one sees pairs only within each face.
    # Shell 1 holds the 18 lags with |d| = 1 or √2; the 8 lying in the faces' plane
    # give 2/S each, the 10 with an x component give 0.
    size = 12
    grid = np.zeros((size,) * 3, dtype=bool)
    grid[[0, -1]] = True
    s2 = metrics.two_point_correlation(grid, r_max=1)
    assert s2 == pytest.approx([2 / size, 8 * (2 / size) / 18], abs=1e-12)


def test_s2_default_length_and_r_max():
    grid = random_balls(np.random.default_rng(0), size=SIZE)
    s2 = metrics.two_point_correlation(grid)
    assert s2.shape == (SIZE // 2 + 1,)
    assert metrics.two_point_correlation(grid, r_max=7) == pytest.approx(s2[:8], abs=1e-12)


# --------------------------------------------------------------------------------------
# Cross-checks against PoreSpy and scikit-image
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def porespy():
    ps = pytest.importorskip("porespy")
    ps.settings.tqdm["disable"] = True
    return ps


@pytest.fixture(scope="module")
def porespy_images(porespy):
    shape = [40, 40, 40]
    return {
        "blobs": porespy.generators.blobs(shape=shape, porosity=0.3, seed=1),
        "overlapping_spheres": porespy.generators.overlapping_spheres(shape=shape, r=5, porosity=0.6, seed=1),
    }


def mean_lag_length(size: int, lower, upper) -> np.ndarray:
    """Mean |d| of the lags with lower[k] <= |d| < upper[k], for each bin k."""
    lengths = np.sqrt(squared_distance(2 * size + 1, (size,) * 3))
    return np.array([lengths[(lengths >= lo) & (lengths < hi)].mean() for lo, hi in zip(lower, upper)])


@pytest.mark.parametrize("name", ["blobs", "overlapping_spheres"])
def test_matches_porespy(porespy, porespy_images, name):
    im = porespy_images[name]
    assert metrics.porosity(im) == porespy.metrics.porosity(im)

    # S2: same unbiased estimator, different bins. PoreSpy averages lags with
    # k <= |d| < k + 1 (bin 0 holds only the zero lag); ours, round(|d|) = k. Compare at
    # matching distances: interpolate our shells, placed at their mean lag length, at the
    # mean lag length of each PoreSpy bin. The residual is the curvature of S2 between
    # neighbouring shells (< 0.002 on these images), so 0.005 is a safe tolerance.
    s2 = metrics.two_point_correlation(im)
    theirs = porespy.metrics.two_point_correlation(im).probability_scaled
    r_max = len(s2) - 1
    assert len(theirs) == r_max
    assert theirs[0] == pytest.approx(s2[0], abs=1e-12)
    ours_at = mean_lag_length(r_max + 1, np.arange(r_max + 1) - 0.5, np.arange(r_max + 1) + 0.5)
    theirs_at = mean_lag_length(r_max + 1, np.arange(1, r_max), np.arange(2, r_max + 1))
    assert np.interp(theirs_at, ours_at, s2) == pytest.approx(theirs[1:], abs=0.005)

    # Local thickness: same definition (integer radii, open balls, smooth=True), so the
    # maps are identical; PoreSpy's default 'bf' and its 'dt' method agree with each other.
    ours = metrics.local_thickness(im)
    np.testing.assert_array_equal(ours, porespy.filters.local_thickness(im))
    np.testing.assert_array_equal(ours, porespy.filters.local_thickness(im, method="dt"))

    assert metrics.euler_per_voxel(im) * im.size == measure.euler_number(im, connectivity=3)
    assert metrics.specific_surface(im) == pytest.approx(skimage_specific_surface(im), rel=1e-6)


def skimage_specific_surface(grid: np.ndarray) -> float:
    """The definition of specific_surface, spelled out with scikit-image (float32 mesh)."""
    vertices, faces, _, _ = measure.marching_cubes(np.pad(grid, 1).astype(np.float32), level=0.5)
    return measure.mesh_surface_area(vertices, faces) / grid.size


@pytest.mark.parametrize("porosity", [0.05, 0.3, 0.7, 0.95])
def test_specific_surface_matches_skimage_marching_cubes(porosity):
    # Bernoulli noise holds every corner pattern, the ambiguous ones included. The
    # tolerance is float32 rounding of skimage's vertices.
    grid = np.random.default_rng(11).random((20, 20, 20)) < porosity
    assert metrics.specific_surface(grid) == pytest.approx(skimage_specific_surface(grid), rel=1e-6)


# --------------------------------------------------------------------------------------
# Voxelwise comparison
# --------------------------------------------------------------------------------------

A = np.array([1, 1, 0, 0], dtype=bool)
B = np.array([1, 0, 1, 0], dtype=bool)
PROBABILITIES = np.array([0.9, 0.4, 0.6, 0.5])


@pytest.mark.parametrize(
    ("function", "a", "b", "expected"),
    [
        (metrics.iou, A, B, 1 / 3),
        (metrics.dice, A, B, 0.5),
        (metrics.iou, A, A, 1.0),
        (metrics.dice, A.astype(int), B.astype(float), 0.5),
        (metrics.aad, A, B, 0.5),
        (metrics.avar, A, B, 0.5),
        (metrics.aad, PROBABILITIES, B, (0.1 + 0.4 + 0.4 + 0.5) / 4),
        # PROBABILITIES > 0.5 is [1, 0, 1, 0] = B: 0.5 itself is not a pore.
        (metrics.avar, PROBABILITIES, B, 1.0),
        (metrics.avar, PROBABILITIES, A, 0.5),
    ],
)
def test_voxelwise_scores(function, a, b, expected):
    assert function(a, b) == pytest.approx(expected, abs=1e-15)


def test_avar_threshold():
    assert metrics.avar(PROBABILITIES, np.ones(4), threshold=0.45) == 0.75  # 0.4 is not a pore


def test_compare_with_empty_baseline():
    reference = np.zeros((10, 10, 10), dtype=bool)
    reference[2:4, 3:8, 5] = True  # 10 pore voxels, φ = 0.01
    grid = reference.copy()
    grid[0, 0, 0] = True
    result = metrics.compare(grid, reference)
    assert result == pytest.approx(
        {
            "iou": 10 / 11,
            "dice": 20 / 21,
            "aad": 0.001,
            "avar": 0.999,
            "aad_empty_baseline": 0.01,
            "avar_empty_baseline": 0.99,
        },
        abs=1e-15,
    )
    assert result["aad_empty_baseline"] == metrics.porosity(reference)
    assert all(type(value) is float for value in result.values())


def test_compare_accepts_probabilities():
    reference = ball(12, 3)
    probabilities = np.where(reference, 0.8, 0.1)
    result = metrics.compare(probabilities, reference)
    assert result["iou"] == result["dice"] == result["avar"] == 1.0
    assert result["aad"] == pytest.approx(0.2 * reference.mean() + 0.1 * (1 - reference.mean()))


# --------------------------------------------------------------------------------------
# Distributions, summary
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("u", "v", "expected"),
    [
        ([], [], 0.0),
        ([], [1.0, 3.0], 2.0),  # an empty sample counts as the single value 0
        ([2.0], [], 2.0),
        ([0.0, 1.0], [1.0, 0.0], 0.0),
        ([0.0], [2.0], 2.0),
    ],
)
def test_wasserstein(u, v, expected):
    assert metrics.wasserstein(np.array(u), np.array(v)) == pytest.approx(expected)


def test_summary_agrees_with_the_single_metrics_and_serialises():
    grid = random_balls(np.random.default_rng(1), size=SIZE)
    stats = metrics.summary(grid)
    assert stats.porosity == metrics.porosity(grid)
    np.testing.assert_array_equal(stats.s2, metrics.two_point_correlation(grid))
    np.testing.assert_array_equal(stats.pore_radii, metrics.pore_radii(grid))
    np.testing.assert_array_equal(stats.thickness, metrics.local_thickness(grid)[grid])
    assert stats.pore_count == metrics.pore_count(grid)
    assert stats.euler_per_voxel == metrics.euler_per_voxel(grid)
    assert stats.specific_surface == metrics.specific_surface(grid)
    assert stats.largest_cluster_fraction == metrics.largest_cluster_fraction(grid)
    np.testing.assert_array_equal(stats.face_depths, metrics.face_depths(grid))
    assert not stats.s2.flags.writeable and not stats.face_depths.flags.writeable

    as_dict = json.loads(json.dumps(stats.to_dict()))
    assert set(as_dict) == {
        "porosity", "s2", "pore_count", "mean_pore_radius", "euler_per_voxel",
        "specific_surface", "largest_cluster_fraction", "pore_radii", "mean_local_thickness", "mean_face_depth",
    }  # fmt: skip
    assert as_dict["mean_local_thickness"] == pytest.approx(stats.thickness.mean())
    assert len(as_dict["s2"]) == SIZE // 2 + 1


def test_face_depths_count_voxels_to_the_nearest_face():
    grid = np.zeros((5, 5, 5), bool)
    grid[2, 2, 2] = grid[0, 3, 3] = grid[1, 2, 4] = grid[3, 1, 2] = True  # centre, on a face, on a face, one in
    np.testing.assert_array_equal(metrics.face_depths(grid), [0, 0, 2, 1])  # C order: (0,3,3), (1,2,4), (2,2,2), (3,1,2)
    assert metrics.face_depths(np.zeros((4, 4, 4), bool)).size == 0
    centred, spread = np.zeros((12, 12, 12), bool), np.zeros((12, 12, 12), bool)
    centred[5:7, 5:7, 5:7] = True
    spread[1:3, 1:3, 1:3] = True
    far = metrics.distance_matrices([metrics.summary(centred)], [metrics.summary(spread)])["face_depth"][0, 0]
    assert far == pytest.approx((7 * 4 + 1 * 3) / 8)  # all at depth 5 against 7 voxels at depth 1 and one at 2


# --------------------------------------------------------------------------------------
# Fidelity to an ensemble
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(7)
    return metrics.Reference(np.stack([random_balls(rng) for _ in range(16)]))


def test_same_generator_scores_near_one(reference):
    fresh = np.stack([random_balls(np.random.default_rng(100 + i)) for i in range(16)])
    result = reference.fidelity(fresh)
    assert tuple(result) == metrics.STATISTICS
    for name, fidelity in result.items():
        assert 0.3 < fidelity.ratio < 2.5, name
        assert fidelity.noise_floor == reference.noise_floor(name)


def test_bernoulli_noise_scores_far(reference):
    porosity = np.mean([stats.porosity for stats in reference.stats])
    noise = np.random.default_rng(5).random((reference.size,) * 3) < porosity
    result = reference.fidelity(noise)
    for name in ("pore_count", "euler_per_voxel", "s2"):
        assert result[name].ratio > 3, name
    assert result["porosity"].ratio < 2.5  # same porosity by construction


def test_band(reference):
    band = reference.band()
    porosities = [stats.porosity for stats in reference.stats]
    assert band["porosity"]["mean"] == pytest.approx(np.mean(porosities))
    assert band["porosity"]["std"] == pytest.approx(np.std(porosities, ddof=1))
    assert {"pore_count", "euler_per_voxel", "specific_surface", "mean_local_thickness"} <= set(band)
    assert len(band["s2"]["mean"]) == len(band["s2"]["std"]) == len(band["s2"]["r"]) == reference.size // 2 + 1
    json.dumps(band)


def test_zero_noise_floor_rule():
    grid = ball(12, 3)
    identical = metrics.Reference(np.stack([grid, grid, grid]))
    assert all(identical.noise_floor(name) == 0.0 for name in metrics.STATISTICS)
    assert all(f.ratio == 1.0 for f in identical.fidelity(grid).values())
    other = metrics.fidelity(ball(12, 4), np.stack([grid, grid]))
    assert other["porosity"].ratio == math.inf
    assert other["pore_count"].ratio == 1.0  # still one pore: distance 0


def test_paired_reference_scores_like_grids_near_one_and_noise_far():
    rng = np.random.default_rng(11)
    references = np.stack([random_balls(rng) for _ in range(6)])
    neighbours = np.stack([np.stack([random_balls(rng) for _ in range(3)]) for _ in range(6)])
    paired = metrics.PairedReference(references, neighbours, statistics=("s2", "pore_count"))
    fresh = paired.fidelity(np.stack([np.stack([random_balls(rng) for _ in range(2)]) for _ in range(6)]))
    assert tuple(fresh) == ("s2", "pore_count")
    assert all(0.3 < f.ratio < 2.5 for f in fresh.values())
    noise = np.stack([rng.random(r.shape) < r.mean() for r in references])  # one candidate per reference
    assert paired.fidelity(noise)["pore_count"].ratio > 3
    assert paired.fidelity(references)["s2"].ratio == 0.0  # the references themselves


def test_paired_reference_scores_every_statistic_of_the_benchmark():
    rng = np.random.default_rng(12)
    references = np.stack([random_balls(rng) for _ in range(3)])
    neighbours = np.stack([np.stack([random_balls(rng) for _ in range(2)]) for _ in range(3)])
    paired = metrics.PairedReference(references, neighbours, statistics=metrics.MATRIX_STATISTICS)
    merged = np.zeros_like(references)
    merged[:, 2:10, 2:10, 2:10] = True  # one big pore: largest-cluster fraction 1
    fidelity = paired.fidelity(merged)
    assert tuple(fidelity) == metrics.MATRIX_STATISTICS
    expected = np.mean([abs(1 - metrics.largest_cluster_fraction(r)) for r in references])
    assert fidelity["largest_cluster_fraction"].distance == pytest.approx(expected)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------

GRID = np.zeros((6, 6, 6), dtype=bool)
FLAT = np.zeros((6, 6), dtype=bool)
TWOS = np.full((6, 6, 6), 2)

BAD_CALLS = [
    (lambda: metrics.porosity(FLAT), "3-D"),
    (lambda: metrics.porosity(TWOS), "0/1"),
    (lambda: metrics.summary(FLAT), "3-D"),
    (lambda: metrics.two_point_correlation(TWOS), "0/1"),
    (lambda: metrics.two_point_correlation(GRID, r_max=6), "r_max"),
    (lambda: metrics.pore_radii(np.zeros((6, 6, 5))), "cubic"),
    (lambda: metrics.pore_count(FLAT), "3-D"),
    (lambda: metrics.largest_cluster_fraction(TWOS), "0/1"),
    (lambda: metrics.local_thickness(FLAT), "3-D"),
    (lambda: metrics.euler_per_voxel(TWOS), "0/1"),
    (lambda: metrics.specific_surface(FLAT), "3-D"),
    (lambda: metrics.iou(GRID, np.zeros((5, 5, 5))), "same shape"),
    (lambda: metrics.iou(GRID, TWOS), "0/1"),
    (lambda: metrics.dice(GRID, np.zeros((5, 5, 5))), "same shape"),
    (lambda: metrics.aad(GRID, TWOS), r"\[0, 1\]"),
    (lambda: metrics.aad(np.array([]), np.array([])), "empty"),
    (lambda: metrics.avar(GRID, GRID, threshold=1.5), "threshold"),
    (lambda: metrics.compare(GRID, np.zeros((5, 5, 5))), "same shape"),
    (lambda: metrics.compare(GRID, np.full((6, 6, 6), 0.5)), "0/1"),
    (lambda: metrics.wasserstein(np.zeros((2, 2)), [1.0]), "1-D"),
    (lambda: metrics.wasserstein([np.nan], [1.0]), "NaN"),
    (lambda: metrics.Reference(GRID[None]), "at least 2"),
    (lambda: metrics.Reference(GRID), "at least 2"),
    (lambda: metrics.fidelity(GRID, GRID[None]), "at least 2"),
    (lambda: metrics.fidelity(np.zeros((5, 5, 5)), np.stack([GRID, GRID])), "size"),
    (lambda: metrics.Reference(np.stack([GRID, GRID])).noise_floor("volume"), "name"),
    (lambda: metrics.PairedReference(GRID[None], GRID[None]), r"\(M, K, S, S, S\)"),
    (lambda: metrics.PairedReference(GRID[None], GRID[None, None], statistics=("volume",)), "statistics"),
    (lambda: metrics.PairedReference(GRID[None], GRID[None, None]).fidelity(np.stack([GRID, GRID])), "G candidates"),
]


@pytest.mark.parametrize(("call", "match"), BAD_CALLS)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
