"""Statistics of a user's material, the held-out reference, the baselines and the test materials."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage, stats
from skimage import measure

from porelib import metrics, morphology
from porelib.material import baselines, examples, reference, statistics


def smooth_blobs(shape, porosity=0.4, sigma=2.0, seed=0):
    """Gaussian-filtered noise cut at an exact porosity (no PoreSpy needed)."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma)
    return field > np.quantile(field, 1 - porosity)


@pytest.fixture(scope="module")
def porespy():
    ps = pytest.importorskip("porespy")
    ps.settings.tqdm["disable"] = True
    return ps


# --------------------------------------------------------------------------------------
# Statistics of known volumes
# --------------------------------------------------------------------------------------


def test_slab_of_pore():
    volume = np.zeros((30, 24, 20), dtype=bool)
    volume[10:20] = True  # a slab 10 voxels thick across x
    st = statistics.volume_statistics(volume)
    assert st.porosity == pytest.approx(10 / 30)
    r = np.arange(st.r_max + 1)
    np.testing.assert_allclose(st.s2[0], np.maximum(10 - r, 0) / (30 - r), atol=1e-6)
    np.testing.assert_allclose(st.s2[1], 10 / 30, atol=1e-6)  # constant along y and z
    np.testing.assert_allclose(st.s2[2], 10 / 30, atol=1e-6)
    assert np.flatnonzero(st.chords[0]).tolist() == [10] and st.chords[0][10] == 24 * 20
    assert st.chords[1].sum() == 0 and st.chords[2].sum() == 0  # every chord along y, z touches both faces
    np.testing.assert_array_equal(st.percolation, [0.0, 1.0, 1.0])
    assert st.pore_size.argmax() == 5 and len(st.pore_size) == 6  # the slab's half thickness
    closed_box_area = 2 * (24 * 20) + 2 * (10 * 20) + 2 * (10 * 24)
    assert st.surface * volume.size == pytest.approx(closed_box_area, rel=0.05)
    assert st.euler * volume.size == pytest.approx(1.0)


def test_single_sphere():
    grid = np.indices((32, 32, 32)) - 15.5
    volume = (grid**2).sum(axis=0) <= 8**2
    st = statistics.volume_statistics(volume)
    assert st.euler * volume.size == pytest.approx(1.0)
    np.testing.assert_array_equal(st.percolation, 0.0)
    assert st.surface * volume.size == pytest.approx(4 * math.pi * 8.5**2, rel=0.05)  # level 0.5: half a voxel out
    assert st.pore_size.argmax() == len(st.pore_size) - 1 == 7  # most voxels in the largest ball
    np.testing.assert_allclose(st.s2[0], st.s2[1], atol=1e-6)  # symmetric: the same along each axis
    np.testing.assert_allclose(st.s2[0], st.s2[2], atol=1e-6)


def test_straight_channels_percolate_along_their_axis_only():
    volume = np.zeros((24, 24, 40), dtype=bool)
    volume[2::6, 2::6] = True  # 1-voxel channels along z
    volume[3::6, 2::6] = True  # 2 voxels wide along x
    st = statistics.volume_statistics(volume)
    np.testing.assert_array_equal(st.percolation, [0.0, 0.0, 1.0])
    assert np.flatnonzero(st.chords[0]).tolist() == [2] and np.flatnonzero(st.chords[1]).tolist() == [1]
    assert st.chords[2].sum() == 0


def test_chord_lengths_of_a_bar():
    volume = np.zeros((20, 9, 11), dtype=bool)
    volume[5:12, 4, 3] = True  # a bar of 7 voxels along x
    volume[0:3, 1, 1] = True  # touches the x = 0 face: discarded along x
    st = statistics.volume_statistics(volume)
    assert st.chords[0].tolist() == [0] * 7 + [1]
    assert st.chords[1].tolist() == [0, 10]  # the bars cross the y and z lines as chords of 1
    assert st.mean_chord_length()[0] == 7.0


def test_layers_give_different_s2_per_axis():
    volume = np.zeros((32, 32, 32), dtype=bool)
    volume[:, :, (np.arange(32) // 3) % 2 == 0] = True  # layers normal to z, period 6
    st = statistics.volume_statistics(volume)
    np.testing.assert_allclose(st.s2[0], st.porosity, atol=1e-6)
    np.testing.assert_allclose(st.s2[1], st.porosity, atol=1e-6)
    assert st.s2[2][3] < 0.1 and st.s2[2][6] > 0.4  # anti-correlated at half a period, back at one
    assert statistics.distances(st, statistics.volume_statistics(volume.transpose(2, 1, 0)))["s2_z"] > 0.1


def test_distance_transform_and_local_thickness_edge_cases():
    volume = smooth_blobs((17, 26, 11), porosity=0.7, seed=8)
    np.testing.assert_array_equal(morphology.squared_distance(volume), np.rint(ndimage.distance_transform_edt(volume) ** 2))
    assert (morphology.local_thickness(np.ones((10, 14, 12), dtype=bool)) == 5).all()  # no wall: half the smallest side
    assert not morphology.local_thickness(np.zeros((6, 7, 8), dtype=bool)).any()
    stack = np.zeros((3, 12, 10), dtype=bool)
    stack[0] = True  # an image without solid
    stack[2, 3:9, 2:8] = True  # a 6 × 6 square
    thickness = morphology.local_thickness(stack, planar=True)
    assert (thickness[0] == 5).all() and not thickness[1].any() and thickness[2].max() == 3
    assert (morphology.squared_distance(stack, planar=True)[0] == morphology.NO_SOLID).all()


def test_per_axis_s2_matches_direct_counting_on_a_box():
    volume = smooth_blobs((22, 35, 17), seed=3)
    st = statistics.volume_statistics(volume, r_max=8)
    for axis in range(3):
        lines = np.moveaxis(volume, axis, 0)
        direct = [np.mean(lines[r:] & lines[: len(lines) - r]) for r in range(9)]
        np.testing.assert_allclose(st.s2[axis], direct, atol=1e-6)
    np.testing.assert_array_equal(statistics.axis_two_point_correlation(volume, r_max=8), st.s2)
    for axis in range(3):
        np.testing.assert_array_equal(statistics.chord_lengths(volume, axis), st.chords[axis])
    image = volume[:, :, 4]
    image_st = statistics.image_statistics(image)
    np.testing.assert_array_equal(statistics.axis_two_point_correlation(image), image_st.s2)
    np.testing.assert_array_equal(statistics.chord_lengths(image, 1), image_st.chords[1])
    np.testing.assert_array_equal(statistics.percolating_fraction(image), image_st.percolation)


def test_agrees_with_porespy(porespy):
    volume = porespy.generators.blobs([40, 30, 24], porosity=0.45, blobiness=2, seed=2)
    np.testing.assert_array_equal(morphology.local_thickness(volume), porespy.filters.local_thickness(volume))
    np.testing.assert_array_equal(metrics.local_thickness(volume), porespy.filters.local_thickness(volume))
    st = statistics.volume_statistics(volume)
    expected = np.bincount(porespy.filters.local_thickness(volume)[volume].astype(int))
    np.testing.assert_array_equal(st.pore_size, expected)
    # Chords: PoreSpy draws them on every other line and drops those touching any border of that
    # sampled image; ours keep side lines, so compare on the interior of PoreSpy's sample.
    chords = porespy.filters.apply_chords(volume, axis=0, spacing=1, trim_edges=True, label=True)
    theirs = np.bincount(np.bincount(chords.ravel())[1:])
    theirs[0] = 0
    sampled = volume[:, ::2, ::2][:, 1:-1, 1:-1]
    ours = statistics.volume_statistics(sampled).chords[0]
    np.testing.assert_array_equal(ours, theirs[: len(ours)])
    assert theirs[len(ours) :].sum() == 0
    # Percolation: PoreSpy's fraction of the volume, ours of the pore space.
    theirs = [porespy.metrics.percolating_porosity(volume, axis=a) / volume.mean() for a in range(3)]
    np.testing.assert_allclose(st.percolation, theirs)
    np.testing.assert_allclose(statistics.percolating_fraction(volume), theirs)
    # S2: PoreSpy's radial S2 equals the per-axis ones where the material is isotropic (r = 1).
    radial = porespy.metrics.two_point_correlation(volume).probability_scaled
    assert np.mean(st.s2[:, 1]) == pytest.approx(radial[1], abs=0.02)


def test_image_statistics_match_skimage_and_porespy(porespy):
    image = smooth_blobs((60, 45), porosity=0.45, seed=4)
    st = statistics.image_statistics(image)
    assert st.euler * image.size == measure.euler_number(image, connectivity=2)
    contours = measure.find_contours(np.pad(image, 1).astype(float), 0.5)
    length = sum(np.linalg.norm(np.diff(c, axis=0), axis=1).sum() for c in contours)
    assert st.surface * image.size == pytest.approx(length)
    expected = np.bincount(porespy.filters.local_thickness(image)[image].astype(int))
    np.testing.assert_array_equal(st.pore_size, expected)
    assert statistic_names_of(st) == ("porosity", "s2_u", "s2_v", "pore_size", "chords_u", "chords_v",
                                      "perimeter", "euler_per_pixel", "percolation_u", "percolation_v")  # fmt: skip


def statistic_names_of(st):
    return statistics.statistic_names(st.ndim)


def test_slices_are_the_images_of_the_volume():
    volume = smooth_blobs((20, 24, 28), seed=5)
    slices = statistics.slice_statistics(volume, r_max=6)
    assert len(slices) == 20 + 24 + 28
    assert [s.shape for s in slices[:1] + slices[20:21] + slices[44:45]] == [(24, 28), (20, 28), (20, 24)]
    for index, image in ((3, volume[3]), (20 + 5, volume[:, 5]), (44 + 7, volume[:, :, 7])):
        expected = statistics.image_statistics(image, r_max=6)
        assert statistics.distances(slices[index], expected) == {name: 0.0 for name in expected.names}
    tiles = statistics.slice_statistics(volume, tile=(10, 12), axes=(2,), step=7)
    assert len(tiles) == 4 * 2 * 2 and {t.shape for t in tiles} == {(10, 12)}


def test_distances():
    a = statistics.volume_statistics(smooth_blobs((24, 24, 24), seed=6))
    b = statistics.volume_statistics(smooth_blobs((24, 24, 24), sigma=1.0, seed=7))
    assert set(statistics.distances(a, a).values()) == {0.0}
    d = statistics.distances(a, b)
    assert tuple(d) == statistics.statistic_names(3)
    samples = [np.repeat(np.arange(len(h)), h) for h in (a.pore_size, b.pore_size)]
    assert d["pore_size"] == pytest.approx(metrics.wasserstein(*samples))
    assert d["s2_y"] == pytest.approx(np.sqrt(np.mean((a.s2[1] - b.s2[1]) ** 2)))
    with pytest.raises(ValueError, match="same r_max"):
        statistics.distances(a, statistics.volume_statistics(smooth_blobs((24, 24, 24)), r_max=5))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: statistics.volume_statistics(np.zeros((6, 6), dtype=bool)), "3-D"),
        (lambda: statistics.volume_statistics(np.full((6, 6, 6), 2)), "0/1"),
        (lambda: statistics.volume_statistics(np.zeros((6, 6, 6), dtype=bool), r_max=6), "r_max"),
        (lambda: statistics.image_statistics(np.zeros((6, 6, 6), dtype=bool)), "2-D"),
        (lambda: statistics.slice_statistics(np.zeros((6, 6, 6), dtype=bool), tile=(7, 2)), "tile"),
        (lambda: statistics.statistic_names(4), "ndim"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------------
# Held-out reference, noise floor and bootstrap
# --------------------------------------------------------------------------------------


def test_bootstrap_on_known_input():
    members = np.ones((8, 8)) - np.eye(8)
    ratio, low, high = reference.bootstrap_ratio(np.full((5, 8), 2.0), members, resamples=500)
    assert (ratio, low, high) == (2.0, 2.0, 2.0)
    rng = np.random.default_rng(0)
    d = rng.uniform(0.5, 1.5, (2, 20, 12))
    e = rng.uniform(0.5, 1.5, (2, 12, 12))
    e = (e + e.transpose(0, 2, 1)) / 2
    ratio, low, high = reference.bootstrap_ratio(d, e, resamples=1000, seed=1)
    np.testing.assert_allclose(ratio, d.mean(axis=(1, 2)) / (e.sum(axis=(1, 2)) - np.trace(e, axis1=1, axis2=2)) * 132)
    assert np.all(low < ratio) and np.all(ratio < high) and np.all(high - low < 0.5)
    again = reference.bootstrap_ratio(d, e, resamples=1000, seed=1)
    np.testing.assert_array_equal(again[1], low)
    # A zero noise floor: 0/0 is 1, anything else over 0 is inf.
    zero = np.zeros((4, 4))
    assert reference.bootstrap_ratio(np.zeros((3, 4)), zero, resamples=100)[0] == 1.0
    assert reference.bootstrap_ratio(np.ones((3, 4)), zero, resamples=100)[2] == np.inf


@pytest.fixture(scope="module")
def sample():
    """One isotropic sample: the held-out half and the other half cut into candidate volumes."""
    volume = smooth_blobs((96, 96, 64), porosity=0.4, sigma=2.0, seed=11)
    held_out, rest = volume[:, :, :32], volume[:, :, 32:]
    same = [rest[i : i + 32, j : j + 32] for i in range(0, 96, 32) for j in range(0, 96, 32)]
    return held_out, same


def test_same_material_scores_about_one(sample):
    held_out, same = sample
    ref = reference.HeldOutReference(held_out, 32, members=9, seed=0)
    assert ref.member_shape == (32, 32, 32) and not ref.overlapping and ref.notes == ()
    scores = ref.score(same, resamples=1000)
    assert tuple(scores) == statistics.statistic_names(3)
    ratios = [s.ratio for s in scores.values()]
    assert 0.6 < np.median(ratios) < 1.5
    covered = [s.low <= 1.0 <= s.high for s in scores.values()]
    assert np.mean(covered) >= 0.75, {k: (round(s.low, 2), round(s.high, 2)) for k, s in scores.items()}
    assert all(s.low <= s.ratio <= s.high for s in scores.values())
    assert all(s.passed == (s.high <= s.limit) for s in scores.values())


def test_different_material_scores_far_above_one(sample):
    held_out, _ = sample
    ref = reference.HeldOutReference(held_out, 32, members=9, seed=0)
    finer = [smooth_blobs((32, 32, 32), porosity=0.4, sigma=1.0, seed=s) for s in range(4)]
    scores = ref.score(finer, resamples=500)
    for name in ("pore_size", "chords_x", "specific_surface", "euler_per_voxel"):
        assert scores[name].ratio > 3 and scores[name].low > 2 and not scores[name].passed, name
    # Bigger candidates are cut into member-sized tiles.
    assert len(ref.tiles(np.zeros((64, 40, 32), dtype=bool))) == 2


def test_held_out_slab_thinner_than_the_size_and_overlapping_members():
    slab = smooth_blobs((64, 64, 12), seed=1)
    ref = reference.HeldOutReference(slab, 32, members=4, seed=0)
    assert ref.member_shape == (32, 32, 12) and "thinner" in ref.notes[0] and len(ref.stats) == 4
    small = reference.HeldOutReference(smooth_blobs((40, 36, 32), seed=2), 32, members=5)
    assert small.overlapping and "overlap" in small.notes[-1] and len(small.stats) == 5
    assert len(set(small.positions)) == 5
    with pytest.raises(ValueError, match="only one member"):
        reference.HeldOutReference(np.zeros((32, 32, 32), dtype=bool), 32)
    with pytest.raises(ValueError, match="smaller than a member"):
        ref.score(np.zeros((16, 32, 12), dtype=bool))


def test_image_reference_scores_volumes_through_slices():
    image = smooth_blobs((160, 64), porosity=0.4, sigma=2.0, seed=3)
    held_out, rest = image[:, :32], image[:, 32:]
    ref = reference.HeldOutReference(held_out, 32, members=5)
    assert ref.ndim == 2 and ref.names[1] == "s2_u"
    same = ref.score([rest[i : i + 32] for i in range(0, 160, 32)], resamples=300)
    assert 0.5 < np.median([s.ratio for s in same.values()]) < 1.6
    volume_like = smooth_blobs((32, 32, 32), porosity=0.4, sigma=2.0, seed=4)
    layered = np.zeros((32, 32, 32), dtype=bool)
    layered[:, :, ::3] = True
    alike = ref.score(volume_like, resamples=300, slice_step=4)
    unlike = ref.score(layered, resamples=300, slice_step=4)
    assert np.median([s.ratio for s in unlike.values()]) > 2 * np.median([s.ratio for s in alike.values()])


# --------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------


def test_keep_top_is_exact_and_breaks_ties_by_order():
    score = np.array([[3.0, 1.0, 1.0], [1.0, 2.0, 0.0]])
    np.testing.assert_array_equal(baselines.keep_top(score, 3), [[True, True, False], [False, True, False]])
    assert baselines.keep_top(score, 0).sum() == 0 and baselines.keep_top(score, 6).all()


def test_level_cut_relation_matches_the_bivariate_normal():
    h = stats.norm.ppf(0.3)
    for rho in (-0.6, 0.0, 0.4, 0.95):
        both = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf([h, h])
        assert baselines.level_cut_correlation(both, 0.3) == pytest.approx(rho, abs=1e-6)


@pytest.fixture(scope="module")
def anisotropic_training():
    return smooth_blobs((64, 64, 64), porosity=0.35, sigma=(1.5, 1.5, 4.0), seed=0)


@pytest.mark.parametrize("porosity", [0.2, 0.35])
def test_baselines_have_exact_porosity_and_are_deterministic(anisotropic_training, porosity):
    shape = (40, 36, 32)
    for make in (baselines.gaussian_random_field, baselines.sphere_pack, baselines.grain_pack):
        volume = make(anisotropic_training, shape, porosity, seed=3)
        assert volume.dtype == bool and volume.shape == shape
        assert volume.sum() == round(porosity * math.prod(shape))
        np.testing.assert_array_equal(volume, make(anisotropic_training, shape, porosity, seed=3))
        assert not np.array_equal(volume, make(anisotropic_training, shape, porosity, seed=4))


def test_gaussian_random_field_matches_the_training_s2(anisotropic_training):
    target = statistics.volume_statistics(anisotropic_training)
    field = statistics.volume_statistics(baselines.gaussian_random_field(anisotropic_training, 64, 0.35, seed=1))
    assert np.sqrt(np.mean((field.s2 - target.s2) ** 2)) < 0.015
    assert field.s2[2, 4] > field.s2[0, 4] + 0.05  # elongated along z, as the training volume


def test_gaussian_random_field_of_a_level_cut_field_keeps_its_chords_and_surface(anisotropic_training):
    # The training volume *is* a level-cut Gaussian field, so the reconstruction should match more than S2:
    # with the old fixed radius and no spectral denoising the chords along z were 40 % short.
    target = statistics.volume_statistics(anisotropic_training)
    field = statistics.volume_statistics(baselines.gaussian_random_field(anisotropic_training, 64, 0.35, seed=1))
    np.testing.assert_allclose(field.mean_chord_length(), target.mean_chord_length(), rtol=0.1)
    assert field.to_dict()["specific_surface"] == pytest.approx(target.to_dict()["specific_surface"], rel=0.1)
    assert baselines._axis_radii(anisotropic_training) == (10, 10, 26)  # the long axis gets the long radius


def test_sphere_pack_fits_the_pore_sizes(anisotropic_training):
    target = statistics.volume_statistics(anisotropic_training)
    packed = baselines.sphere_pack(target, 48, 0.35, seed=0)  # from the statistics alone
    assert statistics.volume_statistics(packed).mean_pore_size() == pytest.approx(target.mean_pore_size(), rel=0.4)


def test_grain_pack_keeps_the_space_between_grains_connected():
    # Pores between overlapping solid spheres span the box; a sphere pack of the pores does not.
    training = examples.polydisperse_spheres((64, 64, 64), 0.3, seed=5)
    grains = baselines.grain_pack(training, 40, 0.3, seed=0)
    pores = baselines.sphere_pack(training, 40, 0.3, seed=0)
    assert grains.sum() == pores.sum() == round(0.3 * 40**3)
    assert statistics.percolating_fraction(grains).min() > 0.9 > statistics.percolating_fraction(pores).max()


def test_baselines_from_an_image():
    image = smooth_blobs((96, 96), porosity=0.4, seed=2)
    for make in (baselines.gaussian_random_field, baselines.sphere_pack, baselines.grain_pack):
        assert make(image, 24, 0.4, seed=0).sum() == round(0.4 * 24**3)


def test_patch_bootstrap_and_nearest_patch_iou(anisotropic_training):
    patches = baselines.patch_bootstrap(anisotropic_training, (20, 24, 16), 3, seed=0)
    assert patches.shape == (3, 20, 24, 16)
    fresh = smooth_blobs((2, 20, 24, 16), porosity=0.35, sigma=(0, 1.5, 1.5, 4.0), seed=9)
    iou = baselines.nearest_patch_iou(np.concatenate([patches, fresh]), anisotropic_training)
    np.testing.assert_allclose(iou[:3], 1.0)
    assert np.all(iou[3:] < 0.6)
    # Against the brute-force search on a small case.
    training = smooth_blobs((12, 10, 9), seed=1)
    candidate = smooth_blobs((5, 4, 6), seed=2)
    brute = max(
        metrics.iou(candidate, training[i : i + 5, j : j + 4, k : k + 6])
        for i in range(8) for j in range(7) for k in range(4)
    )  # fmt: skip
    assert baselines.nearest_patch_iou(candidate, training)[0] == pytest.approx(brute)


# --------------------------------------------------------------------------------------
# Test materials
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (examples.isotropic, (30, 34, 28)),
        (examples.anisotropic, 32),
        (examples.polydisperse_spheres, 32),
        (examples.micrograph_2d, (64, 80)),
    ],
)
def test_examples_are_deterministic_by_seed(porespy, make, shape):
    volume = make(shape, 0.45, seed=1)
    expected = (shape,) * 3 if isinstance(shape, int) else shape
    assert volume.dtype == bool and volume.shape == expected
    assert abs(volume.mean() - 0.45) < 0.1  # PoreSpy's generators only approach the porosity
    np.testing.assert_array_equal(volume, make(shape, 0.45, seed=1))
    assert not np.array_equal(volume, make(shape, 0.45, seed=2))


def test_anisotropic_and_fibre_materials_are_anisotropic(porespy):
    blobs = statistics.volume_statistics(examples.anisotropic(40, 0.4, seed=0))
    assert blobs.mean_chord_length()[2] > 2 * blobs.mean_chord_length()[0]
    fibres = examples.fibres(32, 0.7, seed=0)  # slow: PoreSpy's cylinders
    assert abs(fibres.mean() - 0.7) < 0.05
    chords = statistics.volume_statistics(fibres).mean_chord_length()
    assert chords[2] < 0.9 * min(chords[0], chords[1])  # fibres lie in the xy-plane: shorter pores along z


def test_gaussian_random_field_from_orthogonal_sections_keeps_the_anisotropy():
    volume = smooth_blobs((96, 96, 96), porosity=0.4, sigma=(1.5, 1.5, 5.0), seed=4)
    sections = (volume[48], volume[:, 48], volume[:, :, 48])  # normal to x, y, z
    field = statistics.volume_statistics(baselines.gaussian_random_field(sections, 64, 0.4, seed=0))
    target = statistics.volume_statistics(volume)
    np.testing.assert_allclose(field.mean_chord_length(), target.mean_chord_length(), rtol=0.2)
    assert field.mean_chord_length()[2] > 2 * field.mean_chord_length()[0]
    # One image, given once or three times, is the isotropic reconstruction from that image.
    one = baselines.gaussian_random_field(sections[0], 32, 0.4, seed=1)
    for given in ((sections[0],) * 3, (sections[0], None, None)):
        np.testing.assert_array_equal(baselines.gaussian_random_field(given, 32, 0.4, seed=1), one)
    with pytest.raises(ValueError, match="three images"):
        baselines.gaussian_random_field((sections[0], sections[1]), 32, 0.4, seed=1)
    for make in (baselines.sphere_pack, baselines.grain_pack):  # they fit one region, not sections
        with pytest.raises(ValueError, match="not several sections"):
            make(sections, 32, 0.4, seed=1)
