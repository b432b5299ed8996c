"""The conditional GAN: shapes, configs, losses, training through the engine, generation, and the shipped model's quality."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from porelib import metrics
from porelib.bench import gan_losses as gan_losses_bench
from porelib.bench.generators import SAMPLE_SEED, held_out_ensemble
from porelib.checkpoint import load_checkpoint, save_checkpoint
from porelib.cli import main
from porelib.data import build_dataset
from porelib.inference import CHECKPOINTS_DIR, can_reconstruct, generate, reconstruct
from porelib.losses import (
    GAN_LOSSES,
    GANLossConfig,
    density_kl,
    depth_error,
    depth_profile,
    euler_error,
    gan_losses,
    gradient_penalty,
    granulometry_error,
    soft_euler_characteristic,
    soft_granulometry,
)
from porelib.metrics import mean_pairwise_iou
from porelib.models.blocks import keep_top_k
from porelib.models.cgan import CGAN, CGANConfig
from porelib.synth import expected_pore_voxels
from porelib.tasks.cgan import GANScheduleConfig
from porelib.training import TrainConfig, fit, make_task

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = dict(noise_channels=2, width=8, film_hidden=8, critic_width=4, fine_channels=2)


# ----------------------------------------------------------------------------- model shapes and configs

SHAPES = [
    # config, noise edge L (quarter resolution, or half with noise_level=1)
    (dict(size=30, **TINY), 8),
    (dict(size=30, noise_level=1, **TINY), 15),
    (dict(size=17, noise_level=1, **TINY), 9),
    (dict(size=17, **TINY), 5),
    (dict(size=8, noise_channels=1, width=4, groups=2, generator_blocks=0, film_hidden=4, critic_width=2,
          fine_channels=1), 2),
]


@pytest.mark.parametrize("options, edge", SHAPES)
def test_shapes(options, edge):
    torch.manual_seed(0)
    config = CGANConfig(**options)
    model = CGAN(config).eval()
    size = config.size
    assert model.noise_shape == (config.noise_channels, edge, edge, edge)
    densities = torch.tensor([0.3, 0.7, 1.0])
    noise = torch.randn(3, *model.noise_shape)
    logits = model.generate_logits(noise, densities)
    assert logits.shape == (3, size, size, size)
    scores, density_logits = model.criticize(torch.rand(3, size, size, size).round(), densities)
    assert scores.shape == density_logits.shape == (3,)
    sampled = model.sample(densities, noise)
    assert sampled.dtype == torch.bool and sampled.shape == (3, size, size, size)
    assert torch.equal(sampled.sum((1, 2, 3)), model.pore_counts(densities))


INVALID_CONFIGS = [
    (dict(size=3), ValueError, "size"),
    (dict(noise_channels=0), ValueError, "noise_channels"),
    (dict(noise_level=3), ValueError, "noise_level"),
    (dict(width=2), ValueError, "width"),
    (dict(generator_blocks=-1), ValueError, "generator_blocks"),
    (dict(critic_width=0), ValueError, "critic_width"),
    (dict(width=12, groups=8), ValueError, "groups must divide width"),
    (dict(fine_channels=0), ValueError, "fine_channels"),
    (dict(width=8.5), TypeError, "width"),
    (dict(generator_blocks=True), TypeError, "generator_blocks"),
    (dict(relax_temperature=0.0), ValueError, "relax_temperature must be positive"),
    (dict(relax_temperature=-1.0), ValueError, "relax_temperature"),
    (dict(average_decay=1.0), ValueError, "average_decay must be below 1"),
    (dict(average_decay=-0.1), ValueError, "average_decay"),
]


@pytest.mark.parametrize("options, error, match", INVALID_CONFIGS)
def test_invalid_configs(options, error, match):
    with pytest.raises(error, match=match):
        CGAN(CGANConfig(**options))


def test_the_generator_average_follows_the_weights_with_a_warm_up_and_generates_in_eval_mode():
    torch.manual_seed(0)
    model = CGAN(CGANConfig(size=8, average_decay=0.9, **{**TINY, "width": 4, "groups": 4}))
    assert not any(p.requires_grad for p in model.average.parameters())
    start = [p.clone() for p in model.average.parameters()]
    with torch.no_grad():
        for p in model.generator.parameters():
            p.add_(1.0)
    model.update_average(step=0)  # warm-up: β = min(0.9, 1/10) = 0.1, so 90 % of the way
    for average, before in zip(model.average.parameters(), start):
        torch.testing.assert_close(average, before + 0.9)
    model.update_average(step=1000)  # β = 0.9 once warm
    for average, before in zip(model.average.parameters(), start):
        torch.testing.assert_close(average, before + 0.9 + 0.1 * 0.1)
    noise, densities = torch.randn(2, *model.noise_shape), torch.tensor([0.4, 0.8])
    torch.testing.assert_close(model.eval().generate_logits(noise, densities), model.average(noise, densities))
    torch.testing.assert_close(model.train().generate_logits(noise, densities), model.generator(noise, densities))
    torch.manual_seed(0)
    plain = CGAN(CGANConfig(size=8, **{**TINY, "width": 4, "groups": 4}))
    torch.manual_seed(0)
    averaged = CGAN(CGANConfig(size=8, average_decay=0.9, **{**TINY, "width": 4, "groups": 4}))
    # the average is a copy: the same seed gives the same generator and critic as without one
    assert all(torch.equal(value, averaged.state_dict()[key]) for key, value in plain.state_dict().items())
    assert plain.average is None
    plain.update_average(step=5)  # no average: nothing to do
    assert not any(key.startswith("average.") for key in plain.state_dict())


def test_model_refuses_bad_inputs():
    model = CGAN(CGANConfig(size=8, **{**TINY, "width": 4, "groups": 4}))
    with pytest.raises(ValueError, match="noise must have shape"):
        model.generate_logits(torch.randn(2, 3, 2, 2, 2), torch.rand(2))
    with pytest.raises(ValueError, match="noise must have shape"):
        model.sample(torch.rand(3), torch.randn(2, *model.noise_shape))
    with pytest.raises(ValueError, match=r"grids must have shape \(N, 8, 8, 8\)"):
        model.criticize(torch.zeros(2, 9, 9, 9), torch.rand(2))


def test_relaxed_top_k_is_the_exact_top_k_forward_and_passes_gradients_backward():
    model = CGAN(CGANConfig(size=12, **TINY))
    logits = torch.randn(4, 12, 12, 12, requires_grad=True)
    densities = torch.tensor([0.0, 0.5, 0.8, 1.0])
    relaxed = model.relaxed_top_k(logits, densities)
    counts = model.pore_counts(densities)
    assert torch.equal(relaxed.detach().bool(), keep_top_k(logits, counts))
    assert torch.equal(relaxed.detach().sum((1, 2, 3)).long(), counts)
    (relaxed * torch.randn_like(relaxed)).sum().backward()
    assert torch.isfinite(logits.grad).all() and (logits.grad[1:].abs().sum((1, 2, 3)) > 0).all()


# ----------------------------------------------------------------------------- losses


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(loss="lsgan"), "loss must be one of"),
        (dict(mse_weight=1.5), "mse_weight"),
        (dict(density_weight=-0.1), "density_weight"),
        (dict(gp_weight=-1.0), "gp_weight"),
        (dict(s2_weight=float("nan")), "s2_weight"),
        (dict(depth_weight=-0.5), "depth_weight"),
    ],
)
def test_invalid_loss_configs(options, match):
    with pytest.raises(ValueError, match=match):
        GANLossConfig(**options)


@pytest.mark.parametrize(
    "options, match",
    [(dict(critic_steps=0), "critic_steps"), (dict(beta1=1.0), "beta1 must be below 1"), (dict(beta2=-0.1), "beta2")],
)
def test_invalid_schedule_configs(options, match):
    with pytest.raises(ValueError, match=match):
        GANScheduleConfig(**options)


def test_bce_takes_logits_and_stays_exact_where_bce_on_probabilities_saturates():
    real, fake = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([-0.5, 0.8, 1.5])
    critic, generator = gan_losses(real, fake, GANLossConfig(loss="bce"))
    on_probabilities = F.binary_cross_entropy(torch.sigmoid(real), torch.ones(3)) + F.binary_cross_entropy(
        torch.sigmoid(fake), torch.zeros(3)
    )
    assert critic.item() == pytest.approx(on_probabilities.item(), rel=1e-5)
    assert generator.item() == pytest.approx(F.binary_cross_entropy(torch.sigmoid(fake), torch.ones(3)).item(), rel=1e-5)
    # A confident critic (logit 50 on a generated grid): σ(50) rounds to 1 in float32, so BCE on the
    # probability is clamped at 100 with no gradient; from the logit it is softplus(50) = 50, gradient 1.
    fake = torch.tensor([50.0], requires_grad=True)
    critic, _ = gan_losses(torch.tensor([50.0]), fake, GANLossConfig(loss="bce"))
    critic.backward()
    assert critic.item() == pytest.approx(50.0, abs=1e-4) and fake.grad.item() == pytest.approx(1.0)


def test_soft_euler_characteristic_is_exact_on_binary_grids_and_its_gradient_is_the_change():
    rng = np.random.default_rng(3)
    grids = rng.random((4, 9, 10, 11)) < 0.35
    expected = [metrics.euler_per_voxel(grid) * grid.size for grid in grids]
    assert soft_euler_characteristic(torch.from_numpy(grids)).tolist() == pytest.approx(expected, abs=1e-3)
    one = torch.zeros(1, 5, 5, 5)
    one[0, 2, 2, 2] = 1
    two_apart, ring = one.clone(), torch.zeros(1, 5, 5, 5)
    two_apart[0, 2, 2, 4] = 1
    ring[0, 1:4, 1:4, 2] = 1
    ring[0, 2, 2, 2] = 0
    assert soft_euler_characteristic(torch.cat([one, two_apart, ring])).tolist() == pytest.approx([1, 2, 0])
    # Linear in each voxel: the gradient is χ with the voxel minus χ without it.
    probabilities = torch.rand(1, 5, 5, 5, requires_grad=True)
    soft_euler_characteristic(probabilities).sum().backward()
    with_voxel, without = probabilities.detach().clone(), probabilities.detach().clone()
    with_voxel[0, 1, 2, 3], without[0, 1, 2, 3] = 1.0, 0.0
    change = soft_euler_characteristic(with_voxel) - soft_euler_characteristic(without)
    assert probabilities.grad[0, 1, 2, 3].item() == pytest.approx(change.item(), abs=1e-5)


def test_euler_error_is_zero_for_equal_topology_scaled_by_the_pore_volume_and_robust():
    one, two = torch.zeros(1, 6, 6, 6), torch.zeros(1, 6, 6, 6)
    one[0, 1:3, 1:3, 1:3] = 1
    two[0, 1, 1, 1] = two[0, 4, 4, 4] = 1
    assert euler_error(two, two).item() == 0
    # χ 2 against 1, scale 1 + √8 / 10: z² for small z, about 2 |z| for large.
    z = 1 / (1 + 8**0.5 / 10)
    assert euler_error(two, one).item() == pytest.approx(2 * ((1 + z**2) ** 0.5 - 1))
    specks = torch.zeros(1, 30, 30, 30)
    specks[0, 1::2, 1::2, 1::2] = 1  # 3375 separate voxels: χ 3375 against 1
    z = 3374 / (1 + 8**0.5 / 10)
    assert euler_error(specks, one).item() == pytest.approx(2 * ((1 + z**2) ** 0.5 - 1), rel=1e-5)


def test_depth_error_is_the_face_depth_distance_and_pulls_pores_to_the_right_depth():
    rng = np.random.default_rng(0)
    grids = rng.random((3, 10, 10, 10)) < 0.05
    x = torch.from_numpy(grids).float()
    profile = depth_profile(x)
    assert profile.shape == (3, 5)
    torch.testing.assert_close(profile.sum(1), torch.ones(3), atol=1e-5, rtol=0)
    assert depth_profile(torch.zeros(1, 10, 10, 10)).sum() == 0  # an empty grid has no profile
    stats = [metrics.summary(grid) for grid in grids]
    for (i, j) in [(0, 1), (1, 2)]:
        expected = metrics.distance_matrices([stats[i]], [stats[j]], levels=4096)["face_depth"][0, 0]
        assert depth_error(x[i : i + 1], x[j : j + 1]).item() == pytest.approx(expected, abs=2e-3)
    centre = torch.zeros(1, 10, 10, 10, requires_grad=True)
    target = torch.zeros(1, 10, 10, 10)
    target[0, 1, 4:6, 4:6] = 1.0  # pores one voxel below a face
    with torch.no_grad():
        centre[0, 4:6, 4:6, 4:6] = 1.0  # pores in the middle
    depth_error(centre, target).sum().backward()
    # descending the gradient adds pore mass near the faces and takes it from the centre
    assert centre.grad[0, 1, 4, 4] < 0 < centre.grad[0, 4, 4, 4]


def test_soft_granulometry_is_the_opening_by_a_cross_and_by_cubes():
    from scipy import ndimage

    rng = np.random.default_rng(5)
    grids = rng.random((3, 11, 12, 13)) < 0.6
    elements = [ndimage.generate_binary_structure(3, 1), np.ones((3, 3, 3)), np.ones((5, 5, 5)), np.ones((7, 7, 7))]
    expected = [
        [ndimage.binary_dilation(ndimage.binary_erosion(grid, element, border_value=1), element).sum() / grid.sum()
         for element in elements]
        for grid in grids
    ]  # fmt: skip
    assert soft_granulometry(torch.from_numpy(grids)).numpy() == pytest.approx(np.array(expected), abs=1e-6)
    ball = torch.from_numpy(np.linalg.norm(np.indices((9, 9, 9)) - 4, axis=0) <= 2.5)[None]
    speck = torch.zeros(1, 9, 9, 9)
    speck[0, 4, 4, 4] = 1
    assert soft_granulometry(ball).flatten().tolist()[:2] == [1.0, 1.0]
    assert soft_granulometry(speck).flatten().tolist() == [0.0] * 4
    assert granulometry_error(ball, ball).item() == 0
    assert granulometry_error(speck, ball).item() == pytest.approx(np.mean(soft_granulometry(ball)[0].numpy() ** 2))


def test_hinge_and_wgan_values():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    critic, generator = gan_losses(real, fake, GANLossConfig(loss="hinge"))
    assert critic.item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2) and generator.item() == pytest.approx(1.0)
    critic, generator = gan_losses(real, fake, GANLossConfig(loss="wgan_gp", drift_weight=0.0))
    assert critic.item() == pytest.approx(-1.0 - 1.25) and generator.item() == pytest.approx(1.0)


def test_hybrids_mix_bce_with_their_second_term():
    real, fake = torch.tensor([1.0, -0.3]), torch.tensor([0.2, -2.0])
    bce_critic, bce_generator = gan_losses(real, fake, GANLossConfig(loss="bce"))
    critic, generator = gan_losses(real, fake, GANLossConfig(loss="bce_mse", mse_weight=0.4))
    mse_critic = ((1 - torch.sigmoid(real)) ** 2).mean() + (torch.sigmoid(fake) ** 2).mean()
    assert critic.item() == pytest.approx(0.6 * bce_critic.item() + 0.4 * mse_critic.item(), rel=1e-6)
    assert generator.item() == pytest.approx(
        0.6 * bce_generator.item() + 0.4 * ((1 - torch.sigmoid(fake)) ** 2).mean().item(), rel=1e-6
    )
    densities = torch.tensor([0.2, 0.9])
    logit = torch.logit(densities)
    config = GANLossConfig(loss="bce_bcelogits", density_weight=0.3)
    critic, generator = gan_losses(real, fake, config, real_density_logits=logit, fake_density_logits=logit + 3,
                                   densities=densities)
    assert critic.item() == pytest.approx(0.7 * bce_critic.item(), abs=1e-5)  # the density head is exact on reals
    assert generator.item() > 0.7 * bce_generator.item()
    with pytest.raises(ValueError, match="needs real_density_logits"):
        gan_losses(real, fake, config)


def test_density_kl_is_zero_at_the_density_and_positive_elsewhere():
    densities = torch.tensor([0.0, 0.3, 1.0])
    assert density_kl(torch.tensor([-40.0, float(torch.logit(torch.tensor(0.3))), 40.0]), densities).abs().max() < 1e-5
    assert (density_kl(torch.zeros(3), densities) > 0.05).all()


def test_gradient_penalty_of_linear_critics():
    real, fake = torch.rand(4, 3, 3, 3), torch.rand(4, 3, 3, 3)
    direction = torch.randn(3, 3, 3)
    for norm, expected in [(1.0, 0.0), (2.0, 1.0)]:
        weight = (norm * direction / direction.norm()).requires_grad_(True)
        penalty = gradient_penalty(lambda x, d: (x * weight).flatten(1).sum(1), real, fake, torch.rand(4))
        assert penalty.item() == pytest.approx(expected, abs=1e-5)
        penalty.backward()  # differentiable with respect to the critic's parameters
        assert weight.grad is not None


def test_mean_pairwise_iou():
    a = np.zeros((3, 4, 4, 4), dtype=bool)
    a[0, :2], a[1, :2], a[2, 2:] = True, True, True
    assert mean_pairwise_iou(a) == pytest.approx((1 + 0 + 0) / 3)
    with pytest.raises(ValueError, match="at least 2 grids"):
        mean_pairwise_iou(a[:1])


# ----------------------------------------------------------------------------- training through the engine


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """24 simulated 12³ grids (20 train, 2 val, 2 test)."""
    return build_dataset(24, size=12, seed=0, out_dir=tmp_path_factory.mktemp("data"), n_examples=0)


def _tiny_fit(folder, data, loss: str, *, seed: int = 0):
    options = {"model": TINY, "loss": {"loss": loss}, "gan": {"critic_steps": 2}}
    task = make_task("cgan", options, data=data)
    config = TrainConfig(out=folder, epochs=1, batch_size=5, lr=1e-3, seed=seed, threads=1, data=data)
    return fit(task, config, progress=False)


@pytest.mark.parametrize("loss", GAN_LOSSES)
def test_every_loss_gives_finite_losses(tmp_path, tiny_data, loss):
    result = _tiny_fit(tmp_path, tiny_data, loss)
    (row,) = result.history
    for key in ("train_critic", "train_generator", "train_s2", "val_mismatch", "val_fidelity", "val_fidelity_worst",
                "val_critic_loss", "val_generator_loss"):
        assert np.isfinite(row[key]), key
    assert ("train_gp" in row) == (loss == "wgan_gp")
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["model"] == "cgan" and card["options"]["loss"]["loss"] == loss and card["data"]["size"] == 12


def test_a_run_with_a_generator_average_and_the_depth_term_keeps_the_average_in_the_checkpoint(tmp_path, tiny_data):
    options = {"loss": {"loss": "hinge", "depth_weight": 0.1}, "model": {**TINY, "average_decay": 0.5}}
    result = fit(make_task("cgan", options, data=tiny_data),
                 TrainConfig(out=tmp_path, epochs=1, batch_size=5, lr=1e-3, seed=0, threads=1, data=tiny_data),
                 progress=False)  # fmt: skip
    assert np.isfinite(result.history[0]["train_depth"])
    model, _ = load_checkpoint(tmp_path)
    assert model.average is not None and model.config.average_decay == 0.5
    averaged = dict(model.average.named_parameters())
    assert any(not torch.equal(averaged[name], p) for name, p in model.generator.named_parameters())


def test_training_is_deterministic_per_seed(tmp_path, tiny_data):
    runs = {name: _tiny_fit(tmp_path / name, tiny_data, "hinge", seed=seed) for name, seed in [("a", 3), ("b", 3), ("c", 4)]}
    weights = {name: load_checkpoint(run.out)[0].state_dict() for name, run in runs.items()}
    assert all(torch.equal(weights["a"][key], weights["b"][key]) for key in weights["a"])
    assert not all(torch.equal(weights["a"][key], weights["c"][key]) for key in weights["a"])
    assert runs["a"].history[0]["val_mismatch"] == runs["b"].history[0]["val_mismatch"]


def test_train_cli_refuses_an_unknown_loss(tmp_path, capsys):
    assert main(["train", "cgan", "--out", str(tmp_path / "run"), "--loss", "lsgan"]) == 2
    assert "loss must be one of bce, bce_mse, bce_bcelogits, hinge, wgan_gp" in capsys.readouterr().err


def test_gan_losses_benchmark_quick(tmp_path, tiny_data):
    rows = gan_losses_bench.run(out_dir=tmp_path, quick=True, runs=("hinge", "bce_bcelogits"), runs_dir=tmp_path / "runs",
                                data=tiny_data)
    by_run = {row["run"]: row for row in rows}
    assert set(by_run) == {"hinge", "bce_bcelogits", "simulator (baseline)", "bernoulli (baseline)"}
    for name in ("hinge", "bce_bcelogits"):
        row = by_run[name]
        assert row["status"] == "finished" and row["epochs"] == 1 and np.isfinite(row["val_mismatch_best"])
        assert row["worst_porosity_error"] < 1e-3 and row["worst_at"] in gan_losses_bench.QUICK_DENSITIES
        assert row["verdict"] in ("meets target", "meets floor", "misses floor", "mode collapse")
        assert row["mean_aad"] > 0 and row["mean_aad_empty"] > 0
        card = json.loads((tmp_path / "runs" / name / "card.json").read_text())
        assert card["command"].startswith("python -m porelib train cgan --loss")
    # The simulator is the ceiling: its held-out ratios are about 1, Bernoulli grids' are far above.
    assert by_run["bernoulli (baseline)"]["worst_s2_ratio"] > by_run["simulator (baseline)"]["worst_s2_ratio"]
    for name in ("gan_losses.md", "gan_losses.json", "gan_losses.png", "gan_losses_samples.png"):
        assert (tmp_path / name).stat().st_size > 0
    report = json.loads((tmp_path / "gan_losses.json").read_text())
    assert set(report["by_density"]["hinge"]) == {str(d) for d in gan_losses_bench.QUICK_DENSITIES}
    # Judging the same run folders again without training gives the same rows.
    again = gan_losses_bench.run(out_dir=tmp_path / "again", quick=True, runs=("hinge", "bce_bcelogits"),
                                 runs_dir=tmp_path / "runs", data=tiny_data, train=False)
    assert again == json.loads(json.dumps(rows))
    with pytest.raises(ValueError, match="runs must be among"):
        gan_losses_bench.run(out_dir=tmp_path, quick=True, runs=("lsgan",), data=tiny_data)


# ----------------------------------------------------------------------------- checkpoint and generation


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(1)
    model = CGAN(CGANConfig(size=30, **TINY)).eval()
    folder = tmp_path_factory.mktemp("cgan")
    save_checkpoint(folder, model, card={"note": "untrained"})
    return folder, model


def test_checkpoint_round_trip_gives_identical_outputs(tiny_checkpoint):
    folder, model = tiny_checkpoint
    loaded, card = load_checkpoint(folder)
    assert card["model"] == "cgan" and card["config"]["critic_width"] == TINY["critic_width"]
    noise, densities = torch.randn(2, *model.noise_shape), torch.tensor([0.4, 0.8])
    grids = torch.rand(2, 30, 30, 30).round()
    with torch.no_grad():
        assert torch.equal(model.generate_logits(noise, densities), loaded.generate_logits(noise, densities))
        assert torch.equal(model.criticize(grids, densities)[0], loaded.criticize(grids, densities)[0])


def test_generate_is_deterministic_and_its_porosity_exact(tiny_checkpoint):
    folder, _ = tiny_checkpoint
    first = generate("cgan", 0.7, n=3, seed=5, checkpoint=folder)
    assert first.shape == (3, 30, 30, 30) and first.dtype == bool
    assert np.array_equal(first, generate("cgan", 0.7, n=3, seed=5, checkpoint=folder))
    assert not np.array_equal(first, generate("cgan", 0.7, n=3, seed=6, checkpoint=folder))
    for density in (0.05, 0.5, 1.0):
        grids = generate("cgan", density, n=2, seed=0, checkpoint=folder)
        assert (grids.reshape(2, -1).sum(1) == round(expected_pore_voxels(density))).all()


def test_generate_refuses_bad_requests(tiny_checkpoint):
    folder, _ = tiny_checkpoint
    with pytest.raises(ValueError, match="generates 30³ grids; got size=20"):
        generate("cgan", 0.5, size=20, checkpoint=folder)
    with pytest.raises(ValueError, match="density must be in"):
        generate("cgan", 1.5, checkpoint=folder)
    assert not can_reconstruct("cgan", folder)
    with pytest.raises(ValueError, match="no encoder"):
        reconstruct("cgan", np.zeros((30, 30, 30), bool), 0.5, checkpoint=folder)


# ----------------------------------------------------------------------------- the shipped checkpoint

#: Densities of the quality gate (the issue's targets hold at 0.5–1.0).
#: Grids a side in the quick gates of the shipped checkpoint (the benchmark uses 64 a side, with intervals).
SAMPLES = ENSEMBLE_SIZE = 16
GATE_DENSITIES = (0.5, 0.7, 0.9, 1.0)
#: The issue's floor for the fidelity ratios of the shipped model ("≤ 2.5 to resolve").
RATIO_FLOOR = 2.5


@pytest.fixture(scope="module")
def shipped():
    """The generators benchmark's procedure on checkpoints/cgan: 16 samples per density against 16 held-out grids."""
    assert (Path(CHECKPOINTS_DIR) / "cgan" / "model.safetensors").is_file(), "checkpoints/cgan is missing"
    result = {}
    for density in GATE_DENSITIES:
        grids = generate("cgan", density, n=SAMPLES, seed=SAMPLE_SEED + round(100 * density))
        ensemble = held_out_ensemble(density, ENSEMBLE_SIZE)
        error = np.abs(grids.reshape(len(grids), -1).mean(1) - expected_pore_voxels(density) / 30**3).max()
        result[density] = (error, metrics.Reference(ensemble).fidelity(grids), grids, ensemble)
    return result


@pytest.mark.parametrize("density", GATE_DENSITIES)
def test_shipped_checkpoint_meets_the_floor(shipped, density):
    """Samples of checkpoints/cgan: porosity within 0.002, S2 and pore-size ratios ≤ 2.5, no mode collapse."""
    porosity_error, fidelity, grids, ensemble = shipped[density]
    assert porosity_error <= 0.002
    assert fidelity["s2"].ratio <= RATIO_FLOOR, fidelity["s2"]
    assert fidelity["pore_size"].ratio <= RATIO_FLOOR, fidelity["pore_size"]
    assert mean_pairwise_iou(grids) <= 1.5 * mean_pairwise_iou(ensemble)
