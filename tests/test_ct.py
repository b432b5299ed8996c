"""The CT simulator: phantom, physics (noise, partial volume, rings, cupping), files, bad input."""

import io

import numpy as np
import pytest
from scipy import ndimage

from porelib import ct
from porelib.synth import pore_grid

SIZE = 32


@pytest.fixture(scope="module")
def phantom():
    return ct.sphere_phantom(SIZE, volume_fraction=0.2, radius_range=(3, 7), seed=1)


def _interior(mask, depth=2):
    """Voxels at least ``depth`` voxels inside ``mask`` and away from the cube's faces."""
    inner = ndimage.binary_erosion(mask, iterations=depth)
    inner[:depth] = inner[-depth:] = inner[:, :depth] = inner[:, -depth:] = False
    return inner


# ----------------------------------------------------------------------------- phantom


@pytest.mark.parametrize(("size", "fraction"), [(32, 0.05), (48, 0.2), (64, 0.45)])
def test_phantom_reaches_the_volume_fraction(size, fraction):
    radius_range = (3, 10)
    grid = ct.sphere_phantom(size, volume_fraction=fraction, radius_range=radius_range, seed=0)
    smallest_ball = 4 / 3 * np.pi * (radius_range[0] + 1) ** 3
    assert grid.shape == (size,) * 3 and grid.dtype == bool
    assert fraction <= grid.mean() <= fraction + smallest_ball / size**3


def test_phantom_holds_spheres_of_several_sizes():
    grid = ct.sphere_phantom(64, volume_fraction=0.1, radius_range=(3, 10), seed=2)
    labels, count = ndimage.label(grid)
    volumes = np.bincount(labels.ravel())[1:]
    assert count >= 10
    assert volumes.max() > 8 * np.median(volumes)  # radii 3 … 10 give volumes 113 … 4189


def test_phantom_is_deterministic_per_seed():
    first, again = (ct.sphere_phantom(SIZE, seed=7) for _ in range(2))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, ct.sphere_phantom(SIZE, seed=8))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 4}, "size must be at least 8"),
        ({"size": 32, "volume_fraction": 0.6}, "minority phase"),
        ({"size": 32, "volume_fraction": 0.0}, "volume_fraction must be in"),
        ({"size": 32, "radius_range": (5, 3)}, "r_min <= r_max"),
        ({"size": 32, "radius_range": (3, 16)}, "size / 2"),
        ({"size": 32, "radius_range": (0.5, 3)}, "radius_range must be a finite number >= 1"),
        ({"size": 32, "radius_range": 3}, "two numbers"),
    ],
)
def test_phantom_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ct.sphere_phantom(**kwargs)


# ----------------------------------------------------------------------------- physics


def test_scan_label_is_the_phantom_and_image_is_float32(phantom):
    scan = ct.simulate_scan(phantom, seed=0)
    assert np.array_equal(scan.label, phantom)
    assert scan.image.dtype == np.float32 and scan.image.shape == phantom.shape
    assert (scan.contrast, scan.dose, scan.seed) == ("bright", ct.DOSES["default"], 0)


@pytest.mark.parametrize("contrast", ct.CONTRASTS)
def test_noiseless_scan_reconstructs_the_attenuation(phantom, contrast):
    # Known geometry first: without noise, rings and cupping, FBP returns the phantom's values.
    scan = ct.simulate_scan(phantom, contrast=contrast, dose=1e12, ring_strength=0, cupping=0, seed=0)
    matrix, inclusion = ct.ATTENUATION[contrast]
    assert np.median(scan.image[_interior(phantom)]) == pytest.approx(inclusion, abs=0.05)
    assert np.median(scan.image[_interior(~phantom)]) == pytest.approx(matrix, abs=0.05)


def test_higher_dose_gives_less_noise(phantom):
    matrix = _interior(~phantom)
    spread = [ct.simulate_scan(phantom, dose=dose, seed=3).image[matrix].std() for dose in ("low", "default", "high")]
    assert spread[0] > 1.3 * spread[1] > 1.3**2 * spread[2]


def test_edges_have_partial_volume_values(phantom):
    scan = ct.simulate_scan(phantom, dose=1e12, ring_strength=0, cupping=0, seed=0)
    matrix, inclusion = ct.ATTENUATION["bright"]
    low, high = matrix + 0.2 * (inclusion - matrix), inclusion - 0.2 * (inclusion - matrix)
    boundary = phantom & ~ndimage.binary_erosion(phantom)
    intermediate = (scan.image > low) & (scan.image < high)
    assert intermediate[boundary].mean() > 0.3
    assert intermediate[_interior(phantom) | _interior(~phantom)].mean() < 0.01


def test_rings_are_fixed_across_slices_and_cupping_darkens_the_centre():
    homogeneous = np.zeros((SIZE,) * 3, dtype=bool)
    rings = ct.simulate_scan(homogeneous, dose=1e12, ring_strength=0.02, cupping=0, seed=0).image
    assert rings[:, :, 5].std() > 0.01
    assert np.abs(rings - rings[:, :, :1]).max() < 1e-3
    cupped = ct.simulate_scan(homogeneous, dose=1e12, ring_strength=0, cupping=0.3, seed=0).image
    centre, edge = cupped[12:20, 12:20].mean(), cupped[2:6, 12:20].mean()
    assert centre < edge - 0.02


def test_scan_is_deterministic_per_seed(phantom):
    first, again = (ct.simulate_scan(phantom, seed=11).image for _ in range(2))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, ct.simulate_scan(phantom, seed=12).image)


def test_simulate_builds_phantom_and_scan_from_one_seed():
    scan = ct.simulate(SIZE, volume_fraction=0.3, contrast="dark", dose="high", seed=5)
    assert np.array_equal(
        scan.image, ct.simulate(SIZE, volume_fraction=0.3, contrast="dark", dose="high", seed=5).image
    )
    assert scan.label.mean() == pytest.approx(0.3, abs=0.01)
    assert (scan.contrast, scan.dose, scan.seed) == ("dark", ct.DOSES["high"], 5)


def test_any_pore_grid_can_be_scanned_and_progress_is_reported():
    grid = pore_grid(0.9, size=30, seed=0)
    calls = []
    scan = ct.simulate_scan(grid, contrast="dark", seed=0, progress=lambda done, total: calls.append((done, total)))
    assert np.array_equal(scan.label, grid)
    assert calls[-1] == (30, 30) and [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.parametrize(
    ("label", "kwargs", "match"),
    [
        (np.zeros((16, 16), bool), {}, "label must be a 3-D grid"),
        (np.zeros((16, 16, 8), bool), {}, "cubic"),
        (np.zeros((4, 4, 4), bool), {}, "at least 8"),
        (np.full((16,) * 3, 0.5), {}, "only 0/1"),
        (np.zeros((16,) * 3, bool), {"contrast": "grey"}, "contrast must be one of bright, dark"),
        (np.zeros((16,) * 3, bool), {"dose": "medium"}, "dose must be one of high, default, low"),
        (np.zeros((16,) * 3, bool), {"dose": -5.0}, "positive photon count"),
        (np.zeros((16,) * 3, bool), {"cupping": -0.1}, "cupping must be a finite number >= 0"),
        (np.zeros((16,) * 3, bool), {"ring_strength": float("nan")}, "ring_strength must be a finite number"),
        (np.zeros((16,) * 3, bool), {"n_angles": 2}, "n_angles must be at least 8"),
    ],
)
def test_scan_rejects_bad_input(label, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ct.simulate_scan(label, **kwargs)


# ----------------------------------------------------------------------------- files


def test_scan_round_trips_through_npz(tmp_path, phantom):
    scan = ct.simulate_scan(phantom, contrast="dark", dose=500.0, seed=4)
    path = ct.save_scan(tmp_path / "scan.npz", scan)
    loaded = ct.load_scan(path)
    assert np.array_equal(loaded.image, scan.image) and np.array_equal(loaded.label, scan.label)
    assert (loaded.contrast, loaded.dose, loaded.n_angles, loaded.seed) == ("dark", 500.0, scan.n_angles, 4)
    with np.load(path, allow_pickle=False) as archive:
        assert archive["image"].dtype == np.float32 and archive["label"].dtype == bool


def test_user_images_load_without_label(tmp_path):
    import tifffile

    image = np.random.default_rng(0).random((8, 9, 10)).astype(np.float32)
    np.save(tmp_path / "scan.npy", image)
    tifffile.imwrite(tmp_path / "scan.tif", image)
    upload = io.BytesIO((tmp_path / "scan.npy").read_bytes())
    upload.name = "upload.npy"
    for source in (tmp_path / "scan.npy", tmp_path / "scan.tif", upload):
        scan = ct.load_scan(source)
        assert scan.label is None and np.array_equal(scan.image, image)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("scan.png", None, "not supported"),
        ("scan.npy", np.zeros((16, 16), np.float32), "must be a 3-D volume"),
        ("scan.npy", np.full((8, 8, 8), np.nan, np.float32), "NaN or infinite"),
        ("scan.npy", np.ones((8, 8, 8), np.float32), "constant"),
        ("scan.npy", np.array([{"a": 1}], dtype=object), "pickled"),
        ("scan.npz", {"volume": np.random.rand(8, 8, 8)}, "no 'image' array"),
        ("scan.npz", {"image": np.random.rand(8, 8, 8), "label": np.zeros((8, 8, 4), bool)}, "same shape"),
        ("scan.npz", b"not a zip", r"scan\.npz' is not a \.npz \(zip\) archive"),
        ("scan.tif", b"not a tif", r"could not read file '.*scan\.tif' as \.tif: not a TIFF"),
    ],
)
def test_load_scan_rejects_bad_files(tmp_path, name, content, match):
    path = tmp_path / name
    if isinstance(content, bytes) or content is None:
        path.write_bytes(content or b"\x89PNG")
    elif isinstance(content, dict):
        np.savez(path, **content)
    else:
        np.save(path, content, allow_pickle=True)
    with pytest.raises(ValueError, match=match):
        ct.load_scan(path)


def test_save_scan_needs_npz(tmp_path, phantom):
    with pytest.raises(ValueError, match="must end in .npz"):
        ct.save_scan(tmp_path / "scan.npy", ct.Scan(image=np.random.rand(8, 8, 8).astype(np.float32)))


# ----------------------------------------------------------------------------- wider simulator


@pytest.mark.parametrize("shape", ct.SHAPES)
def test_every_shape_reaches_the_volume_fraction(shape):
    grid = ct.phantom(40, shape=shape, volume_fraction=0.2, radius_range=(3, 6), seed=3)
    assert grid.dtype == bool and grid.shape == (40, 40, 40)
    assert 0.2 <= grid.mean() < 0.21
    assert np.array_equal(grid, ct.phantom(40, shape=shape, volume_fraction=0.2, radius_range=(3, 6), seed=3))


def test_shapes_differ_from_spheres():
    from skimage.measure import label as components

    spheres = ct.phantom(48, shape="spheres", volume_fraction=0.2, radius_range=(4, 6), seed=1)
    bicontinuous = ct.phantom(48, shape="bicontinuous", volume_fraction=0.3, radius_range=(4, 6), seed=1)
    # Bicontinuous pores percolate: one component holds most of the pore space.
    sizes = np.bincount(components(bicontinuous).ravel())[1:]
    assert sizes.max() > 0.5 * bicontinuous.sum()
    assert np.bincount(components(spheres).ravel())[1:].max() < 0.4 * spheres.sum()


def test_image_artefacts_blur_noise_and_bias():
    image = np.zeros((32, 32, 32), dtype=np.float32)
    image[:16] = 1.0
    assert ct.apply_image_artefacts(image) is image
    noisy = ct.apply_image_artefacts(image, noise=0.2, seed=0)
    assert np.std(noisy[:16] - 1.0) == pytest.approx(0.2, rel=0.05)
    correlated = ct.apply_image_artefacts(image, noise=0.2, noise_correlation=1.5, seed=0)
    lag = np.corrcoef(correlated[:16, :, :-1].ravel(), correlated[:16, :, 1:].ravel())[0, 1]
    assert lag > 0.5 and np.corrcoef(noisy[:16, :, :-1].ravel(), noisy[:16, :, 1:].ravel())[0, 1] < 0.05
    blurred = ct.apply_image_artefacts(image, blur=1.0)
    assert 0.1 < blurred[15, 0, 0] < 0.9
    biased = ct.apply_image_artefacts(image, bias=0.2, seed=0)
    assert 0.0 < np.ptp(biased[:16]) <= 0.4 + 1e-6


def test_random_families_are_deterministic_and_keep_the_held_out_family_apart():
    for family in ct.FAMILIES:
        a = ct.random_settings(family, 7, contrast="dark", dose="low")
        assert a == ct.random_settings(family, 7, contrast="dark", dose="low")
        assert a["contrast"] == "dark" and a["dose"] == "low"
    shapes = {ct.random_settings("randomised", seed)["shape"] for seed in range(40)}
    assert shapes == {"spheres", "ellipsoids", "bicontinuous"}
    assert all(ct.random_settings("randomised", seed).get("streaks", 0) == 0 for seed in range(40))
    held_out = [ct.random_settings("held-out", seed) for seed in range(40)]
    assert {s["shape"] for s in held_out} == {"grains"} and min(s["streaks"] for s in held_out) >= 2
    scan = ct.random_scan("held-out", 24, 11, contrast="bright", dose="high")
    assert scan.image.shape == scan.label.shape == (24, 24, 24) and scan.seed == 11


def test_seed_ranges_are_disjoint():
    training, validation = set(ct.TRAINING_SEEDS), set(ct.VALIDATION_SEEDS)
    assert not training & validation
    assert max(validation) < ct.BENCHMARK_SEED_START and max(training) < ct.BENCHMARK_SEED_START


def test_attenuation_must_agree_with_the_contrast():
    label = np.zeros((16, 16, 16), dtype=bool)
    label[4:8] = True
    with pytest.raises(ValueError, match="brighter than the matrix"):
        ct.simulate_scan(label, contrast="bright", attenuation=(2.0, 1.0))
