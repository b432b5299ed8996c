"""Segmentation: normalisation, classical methods on known scans, sliding windows, U-Net loading."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from porelib import ct, segmentation
from porelib.checkpoint import save_checkpoint
from porelib.metrics import dice
from porelib.models.unet3d import UNet3D, UNet3DConfig

SIZE = 40


@pytest.fixture(scope="module", params=ct.CONTRASTS)
def clean_scan(request):
    return ct.simulate(SIZE, volume_fraction=0.2, radius_range=(3, 8), contrast=request.param, dose="high", seed=21)


@pytest.fixture(scope="module")
def noisy_scan():
    return ct.simulate(SIZE, volume_fraction=0.1, radius_range=(3, 8), contrast="bright", dose="low", seed=22)


def _tiny_unet(seed=0):
    torch.manual_seed(seed)
    return UNet3D(UNet3DConfig(channels=(4, 8), groups=2)).eval()


# ----------------------------------------------------------------------------- normalisation


def test_normalize_maps_robust_percentiles_to_unit_range():
    volume = np.random.default_rng(0).normal(100.0, 10.0, (20, 20, 20))
    volume[0, 0, 0] = 1e6  # one outlier must not squash the rest
    normalized = segmentation.normalize(volume)
    assert normalized.dtype == np.float32 and normalized.min() == 0.0 and normalized.max() == 1.0
    assert 0.4 < np.median(normalized) < 0.6
    assert np.mean((normalized > 0) & (normalized < 1)) > 0.98


BAD_VOLUMES = [
    (np.random.rand(16, 16), "must be a 3-D volume"),
    (np.full((8, 8, 8), np.nan), "NaN or infinite"),
    (np.full((8, 8, 8), 3.0), "constant"),
    (np.random.rand(8, 8, 2), "at least 4 voxels"),
]


@pytest.mark.parametrize("method", ["otsu", "kmeans", "depthmap", "unet", "nlm", "gaussian", "median", "watershed", "auto"])
@pytest.mark.parametrize(("volume", "match"), BAD_VOLUMES)
def test_bad_scans_raise_a_clear_error(method, volume, match):
    with pytest.raises(ValueError, match=match):
        segmentation.segment(volume, method)


# ----------------------------------------------------------------------------- classical methods


@pytest.mark.parametrize("method", ["otsu", "kmeans"])
def test_threshold_methods_segment_a_clean_scan(clean_scan, method):
    # The inclusion phase is found for either contrast by the minority rule.
    mask = segmentation.segment(clean_scan.image, method)
    assert mask.dtype == bool and mask.shape == clean_scan.label.shape
    assert dice(mask, clean_scan.label) >= 0.95


@pytest.fixture(scope="module")
def noisy_dark_scan():
    return ct.simulate(SIZE, volume_fraction=0.25, radius_range=(3, 8), contrast="dark", dose="low", seed=23)


# Measured on these fixed-seed phantoms (low dose): raw Otsu 0.78 (bright) and 0.92 (dark); the
# denoising methods 0.94-0.96. Thresholds leave ~0.01 of slack.
BASELINE_DICE = {"nlm": 0.93, "gaussian": 0.93, "median": 0.94, "watershed": 0.935}


@pytest.mark.parametrize("method", segmentation.DENOISING_METHODS)
def test_each_denoising_baseline_segments_a_low_dose_phantom(noisy_scan, noisy_dark_scan, method):
    for scan in (noisy_scan, noisy_dark_scan):
        mask = segmentation.segment(scan.image, method)
        assert mask.dtype == bool and mask.shape == scan.label.shape
        assert dice(mask, scan.label) >= BASELINE_DICE[method]
    # Denoising first is what makes them beat raw Otsu at low dose.
    assert dice(segmentation.segment(noisy_scan.image, method), noisy_scan.label) > (
        dice(segmentation.otsu(noisy_scan.image), noisy_scan.label) + 0.1
    )


def test_classical_parameters_are_the_ones_the_tuning_benchmark_chose():
    report = json.loads((Path(__file__).resolve().parent.parent / "docs/bench/segmentation_tuning.json").read_text())
    assert report["chosen"] == segmentation.CLASSICAL_PARAMETERS
    for method, parameters in segmentation.CLASSICAL_PARAMETERS.items():
        for name, value in parameters.items():
            assert value in segmentation.PARAMETER_GRID[method][name]


def test_denoise_rejects_unknown_parameters():
    volume = np.random.default_rng(0).random((8, 8, 8))
    with pytest.raises(ValueError, match="gaussian takes the parameters sigma; got h"):
        segmentation.denoise(volume, "gaussian", h=1.0)


def test_estimate_noise_recovers_white_noise():
    rng = np.random.default_rng(0)
    volume = rng.normal(0.0, 1.0, (40, 40, 40))
    volume[:, :, :20] += 6.0  # a step edge must not inflate the estimate
    span = np.subtract(*np.percentile(volume, segmentation.NORMALIZE_PERCENTILES[::-1]))
    assert segmentation.estimate_noise(volume) * span == pytest.approx(1.0, rel=0.05)


def test_auto_picks_the_benchmark_winner_and_reports_the_noise(noisy_scan):
    method, reason = segmentation.choose_method(noisy_scan.image)
    assert method == "unet" and reason.startswith("estimated noise σ = ") and "held-out" in reason
    assert "noisier" not in reason and "care" not in reason
    method, reason = segmentation.choose_method(noisy_scan.image, unet_available=False)
    assert method == "nlm" and "no U-Net checkpoint" in reason
    very_noisy = noisy_scan.image + np.random.default_rng(0).normal(0, 6 * noisy_scan.image.std(), noisy_scan.image.shape)
    assert "treat every method's mask with care" in segmentation.choose_method(very_noisy)[1]
    expected = segmentation.segment(noisy_scan.image, "nlm", checkpoint=Path("no-such-folder"))
    assert np.array_equal(segmentation.segment(noisy_scan.image, "auto", checkpoint=Path("no-such-folder")), expected)


def test_contrast_picks_the_class(clean_scan):
    bright = segmentation.otsu(clean_scan.image, contrast="bright")
    assert np.array_equal(segmentation.otsu(clean_scan.image, contrast="dark"), ~bright)
    assert np.array_equal(segmentation.otsu(clean_scan.image), bright if clean_scan.contrast == "bright" else ~bright)


def test_inclusion_contrast_is_the_minority_rule(clean_scan, noisy_scan):
    for scan in (clean_scan, noisy_scan):
        assert segmentation.inclusion_contrast(segmentation.normalize(scan.image)) == scan.contrast


def test_unet_input_shows_a_bright_input_network_bright_inclusions(clean_scan):
    intensities = segmentation.normalize(clean_scan.image)
    as_is = segmentation.unet_input(clean_scan.image, input_contrast="any")
    assert np.array_equal(as_is, intensities)
    bright = segmentation.unet_input(clean_scan.image, input_contrast="bright")
    assert bright[clean_scan.label].mean() > bright[~clean_scan.label].mean() + 0.5
    expected = intensities if clean_scan.contrast == "bright" else 1 - intensities
    np.testing.assert_allclose(bright, expected, atol=1e-6)
    # An explicit contrast wins over the minority rule.
    forced = segmentation.unet_input(clean_scan.image, input_contrast="bright", contrast="dark")
    np.testing.assert_allclose(forced, 1 - intensities, atol=1e-6)


def test_clahe_otsu_runs_and_stays_well_below_plain_otsu_at_low_dose(noisy_scan):
    # CLAHE stretches the noise of sphere-free regions; measured, not assumed to help.
    plain = dice(segmentation.otsu(noisy_scan.image), noisy_scan.label)
    equalized = dice(segmentation.otsu(noisy_scan.image, clahe=True), noisy_scan.label)
    assert 0.2 < equalized < plain - 0.1


def test_kmeans_with_coordinates_splits_space_on_a_noisy_scan(noisy_scan):
    # The seed's features (intensity, x, y, z): a spatial split beats the weak intensity split.
    by_intensity = segmentation.kmeans(noisy_scan.image)
    with_xyz = segmentation.kmeans(noisy_scan.image, features="intensity+xyz")
    assert dice(by_intensity, noisy_scan.label) > 0.7
    assert dice(with_xyz, noisy_scan.label) < 0.4
    assert 0.3 < with_xyz.mean() < 0.7  # about half of the volume, not the 10 % of spheres


def test_depthmap_selects_the_top_slices_not_the_inclusions(clean_scan):
    # Faithful to the seed: cumsum along z of |dI/dz| grows with z, so the 75th
    # percentile keeps the top quarter of the slices; Dice stays far below 0.95.
    mask = segmentation.segment(clean_scan.image, "depthmap")
    assert mask.mean() == pytest.approx(0.25, abs=0.01)
    assert mask[:, :, SIZE // 2 :].sum() > 0.85 * mask.sum()
    assert dice(mask, clean_scan.label) < 0.5


def test_classical_methods_report_progress_once(clean_scan):
    calls = []
    segmentation.segment(clean_scan.image, "otsu", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 1)]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda v: segmentation.segment(v, "random-walker"), "method must be one of auto, unet, nlm, gaussian"),
        (lambda v: segmentation.watershed(v, margin=0.7), "margin must be a finite number >= 0 and <= 0.5"),
        (lambda v: segmentation.segment(v, "otsu", contrast="grey"), "contrast must be one of auto, bright, dark"),
        (lambda v: segmentation.kmeans(v, features="xyz"), "features must be one of"),
        (lambda v: segmentation.depthmap(v, percentile=120), "percentile must be a finite number >= 0 and <= 100"),
        (lambda v: segmentation.otsu(v, contrast="both"), "contrast must be one of"),
        (lambda v: segmentation.unet_input(v, input_contrast="dark"), "input_contrast must be one of any, bright"),
        (lambda v: segmentation.unet_input(v, input_contrast="bright", contrast="x"), "contrast must be one of"),
    ],
)
def test_bad_options_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.random.default_rng(0).random((8, 8, 8)))


# ----------------------------------------------------------------------------- sliding windows


def _pointwise(batch):
    return 1.0 / (1.0 + np.exp(-3.0 * (batch - 0.5)))


@pytest.mark.parametrize(
    ("shape", "window", "overlap", "batch_size"),
    [
        ((40, 40, 40), 16, 0.25, 1),
        ((37, 50, 23), 16, 0.5, 3),
        ((37, 50, 23), (8, 24, 12), 0.0, 2),
        ((10, 7, 12), 64, 0.25, 1),  # smaller than the window: padded
    ],
)
def test_sliding_window_equals_whole_volume(shape, window, overlap, batch_size):
    volume = np.random.default_rng(1).random(shape, dtype=np.float32)
    calls = []
    blended = segmentation.sliding_window_predict(
        volume,
        _pointwise,
        window=window,
        overlap=overlap,
        batch_size=batch_size,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert blended.dtype == np.float32 and blended.shape == shape
    np.testing.assert_allclose(blended, _pointwise(volume), atol=1e-5)
    assert calls[-1][0] == calls[-1][1]


def test_sliding_window_blends_disagreeing_windows_smoothly():
    # Each window predicts its own index: the blend lies between neighbours and never jumps at a seam.
    counter = iter(range(1000))
    blended = segmentation.sliding_window_predict(
        np.random.default_rng(2).random((48, 16, 16)),
        lambda batch: np.full(batch.shape, float(next(counter)), np.float32),
        window=16,
        overlap=0.5,
    )
    profile = blended[:, 8, 8]
    assert profile.min() >= 0 and profile.max() <= 4 + 1e-5
    assert np.abs(np.diff(profile)).max() < 0.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 0}, "window must be at least 1"),
        ({"window": (8, 8)}, "window must be an int or three ints"),
        ({"overlap": 1.0}, "overlap must be a finite number >= 0 and <= 0.9"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"predict_fn": lambda b: b[:, :4]}, "predict_fn must return the shape"),
    ],
)
def test_sliding_window_rejects_bad_arguments(kwargs, match):
    arguments = {"predict_fn": _pointwise, "window": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        segmentation.sliding_window_predict(np.random.rand(16, 16, 16), **arguments)


# ----------------------------------------------------------------------------- U-Net


def test_unet_probability_of_a_small_volume_is_one_window():
    model = _tiny_unet()
    volume = np.random.default_rng(3).random((12, 20, 16)).astype(np.float32)
    probability = segmentation.unet_probability(volume, model, precision="float32")
    with torch.inference_mode():
        direct = torch.sigmoid(model(torch.from_numpy(segmentation.normalize(volume))[None, None]))[0, 0].numpy()
    np.testing.assert_allclose(probability, direct, atol=1e-5)


def test_unet_checkpoint_loads_and_segments(tmp_path):
    model = _tiny_unet()
    save_checkpoint(tmp_path / "unet", model)
    loaded = segmentation.load_unet(tmp_path / "unet")
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)
    volume = np.random.default_rng(5).random((24, 24, 24))
    calls = []
    mask = segmentation.segment(
        volume, "unet", checkpoint=tmp_path / "unet", progress=lambda d, t: calls.append((d, t))
    )
    expected = segmentation.unet_probability(volume, model) > 0.5
    assert np.array_equal(mask, expected) and calls == [(1, 1)]


def test_untrained_threshold_skip_unet_segments_a_clean_scan_of_either_contrast(clean_scan, tmp_path):
    # With its head at zero the network is a threshold of the bright-inclusion input:
    # the segment() path must find the contrast and invert dark scans for it.
    torch.manual_seed(0)
    model = UNet3D(UNet3DConfig(channels=(4, 8), groups=2, input_contrast="bright", threshold_skip=20.0))
    folder = save_checkpoint(tmp_path / "unet", model)
    mask = segmentation.segment(clean_scan.image, "unet", checkpoint=folder)
    assert dice(mask, clean_scan.label) >= 0.95
    wrong = "dark" if clean_scan.contrast == "bright" else "bright"
    inverted = segmentation.segment(clean_scan.image, "unet", contrast=wrong, checkpoint=folder)
    assert dice(inverted, clean_scan.label) < 0.5


def test_missing_or_broken_checkpoint_says_how_to_train(tmp_path):
    volume = np.random.default_rng(4).random((8, 8, 8))
    with pytest.raises(ValueError, match="no U-Net checkpoint at .*python -m porelib train unet"):
        segmentation.segment(volume, "unet", checkpoint=tmp_path / "nothing")
    folder = save_checkpoint(tmp_path / "broken", _tiny_unet())
    card = json.loads((folder / "card.json").read_text())
    card["config"]["channels"] = [4]
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="channels must be a tuple of at least two"):
        segmentation.load_unet(folder)


def test_cli_auto_prints_its_choice_and_reason(tmp_path, capsys):
    from porelib.cli import main

    scan_path = ct.save_scan(tmp_path / "scan.npz", ct.simulate(24, radius_range=(2, 5), dose="low", seed=3))
    empty = tmp_path / "no-unet"
    empty.mkdir()
    out = tmp_path / "mask.npy"
    assert main(["segment", str(scan_path), "--method", "auto", "--checkpoint", str(empty), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("auto: nlm (") and "no U-Net checkpoint" in printed
    assert np.load(out, allow_pickle=False).shape == (24, 24, 24)
