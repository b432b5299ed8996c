"""The conditional VAE: shapes, configs, loss, checkpoints, generation, and the shipped model's quality."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from porelib import metrics
from porelib.bench import generators as generators_bench
from porelib.bench.generators import SAMPLE_SEED, held_out_ensemble
from porelib.checkpoint import CARD_FILE, load_checkpoint, save_checkpoint
from porelib.inference import CHECKPOINTS_DIR, can_reconstruct, generate, reconstruct
from porelib.losses import (
    CVAELossConfig,
    cvae_loss,
    euler_error,
    s2_error,
    soft_two_point_correlation,
)
from porelib.models.blocks import depth_to_space, keep_top_k, space_to_depth
from porelib.models.cvae import CVAE, CVAEConfig, latent_numel
from porelib.synth import expected_pore_voxels, pore_grids

TINY = dict(width=8, latent_channels=2, film_hidden=8, prior_rank=4)


pytestmark = pytest.mark.usefixtures("seeded_single_thread")


# ----------------------------------------------------------------------------- model shapes and configs

SHAPES = [
    # config, latent edge L
    (dict(size=30, **TINY), 15),
    (dict(size=30, latent_level=2, **TINY), 8),
    (dict(size=17, **TINY), 9),
    (dict(size=17, latent_level=2, **TINY), 5),
    (dict(size=8, latent_channels=3, latent_level=2, width=4, groups=2, encoder_blocks=0, decoder_blocks=2,
          film_hidden=4, fine_channels=2, prior_rank=0), 2),
]


@pytest.mark.parametrize("options, latent", SHAPES)
def test_shapes(options, latent):
    config = CVAEConfig(**options)
    model = CVAE(config).eval()
    size, channels = config.size, config.latent_channels
    grids = torch.rand(3, size, size, size).round()
    densities = torch.tensor([0.2, 0.5, 0.9])
    mean, logvar = model.encode(grids, densities)
    assert mean.shape == logvar.shape == (3, channels, latent, latent, latent) == (3, *model.latent_shape)
    assert latent_numel(config) == channels * latent**3
    logits, _, _, prior = model(grids, densities, torch.randn(3, *model.latent_shape))
    assert logits.shape == prior.shape == (3, size, size, size)
    sampled = model.sample(densities, torch.randn(3, *model.noise_shape))
    assert sampled.dtype == torch.bool and sampled.shape == (3, size, size, size)
    assert model.reconstruct(grids, densities).shape == (3, size, size, size)


@pytest.mark.parametrize("size, channels", [(6, 1), (7, 3), (30, 2)])
def test_space_to_depth_round_trip(size, channels):
    volumes = torch.rand(2, channels, size, size, size)
    blocks = space_to_depth(volumes)
    assert blocks.shape == (2, 8 * channels, (size + 1) // 2, (size + 1) // 2, (size + 1) // 2)
    assert torch.equal(depth_to_space(blocks, size), volumes)


INVALID_CONFIGS = [
    (dict(size=3), ValueError, "size"),
    (dict(latent_channels=0), ValueError, "latent_channels"),
    (dict(width=2), ValueError, "width"),
    (dict(encoder_blocks=-1), ValueError, "encoder_blocks"),
    (dict(width=8.5), TypeError, "width"),
    (dict(decoder_blocks=True), TypeError, "decoder_blocks"),
    (dict(width=12, groups=8), ValueError, "groups must divide width"),
    (dict(fine_channels=0), ValueError, "fine_channels"),
    (dict(latent_level=3), ValueError, "latent_level"),
    (dict(size=8, latent_channels=1, latent_level=2, prior_rank=9), ValueError, "prior_rank must not exceed"),
    (dict(critic_width=-1), ValueError, "critic_width"),
]


@pytest.mark.parametrize("options, error, match", INVALID_CONFIGS)
def test_invalid_configs(options, error, match):
    with pytest.raises(error, match=match):
        CVAE(CVAEConfig(**options))


def test_model_refuses_bad_inputs():
    model = CVAE(CVAEConfig(size=8, **TINY))
    with pytest.raises(TypeError, match="CVAEConfig"):
        CVAE({"size": 8})
    with pytest.raises(ValueError, match="grids must have shape"):
        model.encode(torch.zeros(2, 9, 9, 9), torch.zeros(2))
    with pytest.raises(ValueError, match="densities must have shape"):
        model.encode(torch.zeros(2, 8, 8, 8), torch.zeros(3))
    with pytest.raises(ValueError, match="z must have shape"):
        model.decode(torch.zeros(2, 5, 2, 2, 2), torch.zeros(2))


def test_keep_top_k_is_exact_and_breaks_ties_by_index():
    scores = torch.zeros(2, 4, 4, 4)
    scores[1, 3, 3, 3] = 1.0
    kept = keep_top_k(scores, torch.tensor([5, 3]))
    assert kept.reshape(2, -1).sum(1).tolist() == [5, 3]
    assert kept[0].reshape(-1)[:5].all()  # all tied: the first five flat indices
    assert kept[1, 3, 3, 3] and kept[1].reshape(-1)[:2].all()


def test_pore_counts_follow_the_calibration():
    model = CVAE(CVAEConfig(size=30, **TINY))
    densities = [0.3, 0.5, 1.0]
    assert model.pore_counts(torch.tensor(densities)).tolist() == np.rint(expected_pore_voxels(densities)).tolist()


def test_prior_is_standard_normal_until_fitted_then_follows_the_latents():
    config = CVAEConfig(size=8, latent_channels=2, latent_level=2, width=4, groups=2, film_hidden=4,
                        fine_channels=2, prior_rank=2, prior_degree=1)
    model = CVAE(config)
    dims = latent_numel(config)
    noise, densities = torch.randn(5, *model.noise_shape), torch.rand(5)
    assert model.noise_shape == (2 + dims,)
    assert torch.equal(model.prior_latents(densities, noise).reshape(5, -1), noise[:, 2:])
    generator = torch.Generator().manual_seed(0)
    m = 4000
    d = torch.rand(m, generator=generator)
    factor = torch.randn(dims, 2, generator=generator)
    z = 1 + 2 * d[:, None] + torch.randn(m, 2, generator=generator) @ factor.T + 0.1 * torch.randn(m, dims, generator=generator)
    fit = model.fit_prior(z.reshape(m, *model.latent_shape), d)
    assert fit["explained_variance"] > 0.95 and fit["samples"] == m
    torch.testing.assert_close(model.prior_mean, torch.stack([torch.ones(dims), 2 * torch.ones(dims)]), atol=0.2, rtol=0)
    drawn = model.prior_latents(torch.full((m,), 0.5), torch.randn(m, *model.noise_shape, generator=generator))
    expected = factor @ factor.T + 0.01 * torch.eye(dims)
    torch.testing.assert_close(torch.cov(drawn.reshape(m, -1).T), expected, atol=0.5, rtol=0.1)
    with pytest.raises(ValueError, match="noise must have shape"):
        model.prior_latents(densities, torch.randn(5, dims))


def test_reset_prior_gives_the_standard_normal_back():
    model = CVAE(CVAEConfig(size=8, latent_channels=2, latent_level=2, width=4, groups=2, film_hidden=4,
                            fine_channels=2, prior_rank=2, prior_degree=1))
    z = torch.randn(50, *model.latent_shape) * 3 + 1
    model.fit_prior(z, torch.rand(50))
    model.prior_temperature.fill_(2.0)
    noise, densities = torch.randn(4, *model.noise_shape), torch.rand(4)
    assert not torch.equal(model.prior_latents(densities, noise).reshape(4, -1), noise[:, 2:])
    model.reset_prior()
    assert torch.equal(model.prior_latents(densities, noise).reshape(4, -1), noise[:, 2:])


def test_the_critic_is_optional_and_scores_grids():
    plain = CVAE(CVAEConfig(size=8, **TINY))
    assert plain.critic is None
    with pytest.raises(ValueError, match="has no critic"):
        plain.criticize(torch.zeros(2, 8, 8, 8), torch.zeros(2))
    model = CVAE(CVAEConfig(size=8, critic_width=4, **TINY))
    scores = model.criticize(torch.rand(3, 8, 8, 8).round(), torch.tensor([0.2, 0.5, 0.9]))
    assert scores.shape == (3,) and torch.isfinite(scores).all()
    with pytest.raises(ValueError, match="grids must have shape"):
        model.criticize(torch.zeros(2, 9, 9, 9), torch.zeros(2))


# ----------------------------------------------------------------------------- losses


def test_soft_two_point_correlation_matches_metrics():
    grids = pore_grids([0.5, 0.9], size=20, seed=3)
    soft = soft_two_point_correlation(torch.from_numpy(grids).float()).numpy()
    for grid, values in zip(grids, soft):
        np.testing.assert_allclose(values, metrics.two_point_correlation(grid), atol=1e-6)


def test_s2_error_is_zero_for_equal_grids_and_bounded():
    grids = torch.from_numpy(pore_grids([0.7, 0.9], size=16, seed=1)).float()
    target = soft_two_point_correlation(grids)
    assert torch.allclose(s2_error(grids, target), torch.zeros(2), atol=1e-8)
    error = s2_error(torch.rand(2, 16, 16, 16), soft_two_point_correlation(torch.zeros(2, 16, 16, 16)))
    assert torch.all((error > 0.5) & (error <= 1.0))


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(beta=-1.0), ValueError, "beta"),
        (dict(s2_weight=float("nan")), ValueError, "s2_weight"),
        (dict(warmup_epochs="5"), TypeError, "warmup_epochs"),
        (dict(adversarial_weight=-0.1), ValueError, "adversarial_weight"),
        (dict(relax_temperature=0.0), ValueError, "relax_temperature must be positive"),
    ],
)
def test_invalid_loss_configs(options, error, match):
    with pytest.raises(error, match=match):
        CVAELossConfig(**options)


def test_warmup_grows_linearly():
    config = CVAELossConfig(warmup_epochs=4)
    assert [config.warmup(t) for t in (0, 2, 4, 10)] == [0.0, 0.5, 1.0, 1.0]
    assert CVAELossConfig(warmup_epochs=0).warmup(0) == 1.0


def test_loss_is_finite_and_decreases_on_a_tiny_batch():
    model = CVAE(CVAEConfig(size=12, **TINY))
    grids = torch.from_numpy(pore_grids([0.6, 0.8, 0.9, 1.0], size=12, seed=2)).float()
    densities = torch.tensor([0.6, 0.8, 0.9, 1.0])
    config = CVAELossConfig()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    noise = torch.randn(4, *model.latent_shape)
    losses = []
    for _ in range(20):
        logits, mean, logvar, prior = model(grids, densities, noise)
        loss, parts = cvae_loss(logits, grids, mean, logvar, config, prior_logits=prior)
        assert torch.isfinite(loss) and all(np.isfinite(v) for v in parts.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_the_euler_term_needs_the_top_k_prior_samples_and_counts_their_pores():
    grids = torch.from_numpy(pore_grids([0.6, 0.8], size=12, seed=2)).float()
    densities = torch.tensor([0.6, 0.8])
    model = CVAE(CVAEConfig(size=12, **TINY))
    noise = torch.randn(2, *model.latent_shape, generator=torch.Generator().manual_seed(0))
    logits, mean, logvar, prior = model(grids, densities, noise)
    config = CVAELossConfig(euler_weight=0.5)
    with pytest.raises(ValueError, match="needs prior_grids"):
        cvae_loss(logits, grids, mean, logvar, config, prior_logits=prior)
    plain, _ = cvae_loss(logits, grids, mean, logvar, CVAELossConfig(), prior_logits=prior)
    # The real grids as "prior samples": no Euler error, the loss of the plain config.
    same, _ = cvae_loss(logits, grids, mean, logvar, config, prior_logits=prior, prior_grids=grids)
    assert same.item() == pytest.approx(plain.item())
    one_pore = torch.zeros_like(grids)
    one_pore[:, 3:9, 3:9, 3:9] = 1
    worse, _ = cvae_loss(logits, grids, mean, logvar, config, prior_logits=prior, prior_grids=one_pore)
    expected = 0.5 * euler_error(one_pore, grids).mean().item()
    assert worse.item() - plain.item() == pytest.approx(expected, rel=1e-4)


# ----------------------------------------------------------------------------- checkpoint and generation


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(1)
    model = CVAE(CVAEConfig(size=30, **TINY)).eval()
    folder = tmp_path_factory.mktemp("cvae")
    save_checkpoint(folder, model, card={"note": "untrained"})
    return folder, model


def test_checkpoint_round_trip_gives_identical_outputs(tiny_checkpoint):
    folder, model = tiny_checkpoint
    loaded, card = load_checkpoint(folder)
    assert card["model"] == "cvae" and card["note"] == "untrained" and card["config"]["width"] == TINY["width"]
    grids, densities = torch.rand(2, 30, 30, 30).round(), torch.tensor([0.4, 0.8])
    with torch.no_grad():
        assert torch.equal(model(grids, densities)[0], loaded(grids, densities)[0])


def test_load_checkpoint_refuses_bad_folders(tmp_path, tiny_checkpoint):
    with pytest.raises(ValueError, match="card.json is missing"):
        load_checkpoint(tmp_path)
    folder, _ = tiny_checkpoint
    card = json.loads((folder / CARD_FILE).read_text())
    for name, change in [("unknown", {"model": "nope"}), ("mismatch", {"config": {**card["config"], "width": 16}})]:
        bad = tmp_path / name
        bad.mkdir()
        (bad / CARD_FILE).write_text(json.dumps({**card, **change}))
        (bad / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
        with pytest.raises(ValueError, match="names an unknown model: model must be one of|do not match"):
            load_checkpoint(bad)


def test_generate_is_deterministic_and_exact(tiny_checkpoint):
    folder, _ = tiny_checkpoint
    a = generate("cvae", 0.7, n=3, seed=5, checkpoint=folder)
    b = generate("cvae", 0.7, n=3, seed=5, checkpoint=folder)
    c = generate("cvae", 0.7, n=3, seed=6, checkpoint=folder)
    assert a.shape == (3, 30, 30, 30) and a.dtype == bool
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])
    assert np.all(a.reshape(3, -1).sum(1) == round(expected_pore_voxels(0.7)))


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(size=20), "generates 30³ grids"), (dict(density=1.5), "density"), (dict(n=0), "n must be")],
)
def test_generate_refuses_bad_requests(tiny_checkpoint, kwargs, match):
    folder, _ = tiny_checkpoint
    arguments = {"density": 0.5, "n": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        generate("cvae", arguments.pop("density"), checkpoint=folder, **arguments)


def test_reconstruct_is_exact_in_count_and_keeps_the_batch_layout(tiny_checkpoint):
    folder, _ = tiny_checkpoint
    grids = pore_grids([0.5, 0.9], size=30, seed=3)
    batch = reconstruct("cvae", grids, [0.5, 0.9], checkpoint=folder)
    one = reconstruct("cvae", grids[1], 0.9, checkpoint=folder)
    assert batch.shape == grids.shape and batch.dtype == bool and np.array_equal(one, batch[1])
    assert batch.reshape(2, -1).sum(1).tolist() == [round(expected_pore_voxels(d)) for d in (0.5, 0.9)]
    assert can_reconstruct("cvae", folder) and not can_reconstruct("simulator")


@pytest.mark.parametrize(
    "grids, densities, match",
    [
        (np.zeros((20, 20, 20), bool), 0.5, "reconstructs 30³ grids"),
        (np.zeros((2, 30, 30, 30), bool), [0.5], "one density per grid"),
        (np.full((30, 30, 30), 0.5), 0.5, "0/1"),
        (np.zeros((30, 30, 30), bool), 1.5, "density"),
    ],
)
def test_reconstruct_refuses_bad_requests(tiny_checkpoint, grids, densities, match):
    folder, _ = tiny_checkpoint
    with pytest.raises(ValueError, match=match):
        reconstruct("cvae", grids, densities, checkpoint=folder)
    with pytest.raises(ValueError, match="no encoder"):
        reconstruct("simulator", np.zeros((30, 30, 30), bool), 0.5)


def test_generate_without_a_checkpoint_says_how_to_train(tmp_path):
    with pytest.raises(ValueError, match="porelib train cvae"):
        generate("cvae", 0.5, checkpoint=tmp_path)


def test_generators_benchmark_quick(tmp_path):
    rows = generators_bench.run(out_dir=tmp_path, quick=True)
    assert {row["generator"] for row in rows} == set(generators_bench.GENERATORS)
    cvae = [row for row in rows if row["generator"] == "cvae" and isinstance(row["density"], float)]
    assert all(row["porosity_error"] < 1e-3 and 0 <= row["nearest_train_iou"] <= 1 for row in cvae)
    for row in cvae:
        for name in metrics.MATRIX_STATISTICS:
            assert row[f"{name}_low"] <= row[f"{name}_ratio"] <= row[f"{name}_high"]
    summary = {row["generator"]: row for row in rows if row["density"] == "summary"}
    assert summary["bernoulli"]["worst_ratio"] > 10 > summary["simulator"]["worst_ratio"]  # straw man vs the floor
    bands = {row["density"]: row for row in rows if row["generator"] == "cvae" and "recon_iou" in row}
    # The reconstruction targets on the held-out test split, and AAD below the empty grid's.
    assert bands["test 0.3-0.6"]["recon_iou"] >= 0.6 and bands["test 0.6-1.0"]["recon_iou"] >= 0.8
    assert all(row["recon_aad"] < row["recon_aad_empty"] for row in bands.values())
    assert json.loads((tmp_path / "generators.json").read_text())["rows"] == json.loads(json.dumps(rows))
    assert (tmp_path / "generators.md").read_text().startswith("# Benchmark: generators")
    with pytest.raises(ValueError, match="generators must be among"):
        generators_bench.run(out_dir=tmp_path, quick=True, generators=("gan",))


# ----------------------------------------------------------------------------- the shipped checkpoint

#: Grids a side in the quick gates of the shipped checkpoint (the benchmark uses 64 a side, with intervals).
SAMPLES = ENSEMBLE_SIZE = 16
GATE_DENSITIES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@pytest.fixture(scope="module")
def shipped_fidelity():
    """The benchmark's procedure on checkpoints/cvae: 16 prior samples per density against 16 held-out grids."""
    assert (Path(CHECKPOINTS_DIR) / "cvae" / "model.safetensors").is_file(), "checkpoints/cvae is missing"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    result = {}
    for density in GATE_DENSITIES:
        grids = generate("cvae", density, n=SAMPLES, seed=SAMPLE_SEED + round(100 * density))
        error = np.abs(grids.reshape(len(grids), -1).mean(1) - expected_pore_voxels(density) / 30**3).max()
        result[density] = (error, metrics.Reference(held_out_ensemble(density, ENSEMBLE_SIZE)).fidelity(grids))
    torch.set_num_threads(threads)
    return result


@pytest.mark.parametrize("density", GATE_DENSITIES)
def test_shipped_checkpoint_meets_the_porosity_and_pore_size_floor(shipped_fidelity, density):
    """Prior samples of checkpoints/cvae: porosity within 0.002, pore-size ratio ≤ 2 (the issue's floor)."""
    porosity_error, fidelity = shipped_fidelity[density]
    assert porosity_error <= 0.002
    assert fidelity["pore_size"].ratio <= 2.0, fidelity["pore_size"]


@pytest.mark.parametrize("density", GATE_DENSITIES)
def test_shipped_checkpoint_meets_the_s2_floor(shipped_fidelity, density):
    """S2 ratio ≤ 2 (the issue's floor)."""
    _, fidelity = shipped_fidelity[density]
    assert fidelity["s2"].ratio <= 2.0, fidelity["s2"]
