"""Generation-time smoothing of the logits: the Gaussian, its density knots, its width chosen on validation grids."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from porelib.models.blocks import SMOOTHING_KNOTS, keep_top_k, piecewise_linear, smooth
from porelib.models.cgan import CGAN, CGANConfig
from porelib.models.cvae import CVAE, CVAEConfig
from porelib.synth import pore_grids
from porelib.tasks.smoothing import WIDTHS, choose_smoothing

pytestmark = pytest.mark.usefixtures("single_thread")


def test_width_zero_leaves_a_grid_exactly_as_it_is_and_each_grid_gets_its_own_width():
    scores = torch.randn(3, 9, 9, 9, generator=torch.Generator().manual_seed(0))
    out = smooth(scores, torch.tensor([0.0, 1.0, 0.5]))
    assert torch.equal(out[0], scores[0])
    assert torch.allclose(out[1], smooth(scores[1:2], torch.tensor([1.0]))[0], atol=1e-6)
    assert out[1].std() < out[2].std() < scores[2].std()
    assert torch.equal(smooth(scores, torch.zeros(3)), scores)


def test_a_point_spreads_into_a_normalised_symmetric_gaussian():
    grid = torch.zeros(1, 11, 11, 11)
    grid[0, 5, 5, 5] = 1.0
    out = smooth(grid, torch.tensor([1.0]))[0]
    assert out.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert out[5, 5, 4].item() == pytest.approx(out[5, 5, 6].item()) == pytest.approx(out[4, 5, 5].item())
    # separable Gaussian of σ = 1: one step along an axis costs a factor exp(-1/2)
    assert (out[5, 5, 6] / out[5, 5, 5]).item() == pytest.approx(np.exp(-0.5), rel=1e-4)


def test_smooth_refuses_bad_widths():
    with pytest.raises(ValueError, match="sigmas must have shape"):
        smooth(torch.zeros(2, 4, 4, 4), torch.zeros(3))
    with pytest.raises(ValueError, match="smoothing widths"):
        smooth(torch.zeros(1, 4, 4, 4), torch.tensor([-1.0]))


def test_piecewise_linear_interpolates_between_knots_and_is_constant_outside():
    values = torch.tensor([0.0, 1.0, 3.0])
    d = torch.tensor([0.0, 0.2, 0.3, 0.4, 0.5, 0.9])
    out = piecewise_linear(values, (0.2, 0.4, 0.6), d)
    assert torch.allclose(out, torch.tensor([0.0, 0.0, 0.5, 1.0, 2.0, 3.0]))


#: Tiny generators of both kinds, and their logits before smoothing: ``logits(model, densities, noise)``.
GENERATORS = {
    "cgan": (lambda: CGAN(CGANConfig(size=12, noise_channels=2, width=8, film_hidden=8, critic_width=4, fine_channels=2)),
             lambda model, densities, noise: model.generate_logits(noise, densities)),
    "cvae": (lambda: CVAE(CVAEConfig(size=12, latent_channels=2, width=8, film_hidden=8, prior_rank=4)),
             lambda model, densities, noise: model.prior_logits(densities, noise)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_samples_are_the_top_k_of_the_smoothed_logits_and_keep_the_exact_pore_count(name):
    build, logits = GENERATORS[name]
    torch.manual_seed(0)
    model = build().eval()
    densities = torch.tensor([0.5, 0.9])
    noise = torch.randn(2, *model.noise_shape, generator=torch.Generator().manual_seed(1))
    plain = model.sample(densities, noise)
    model.smoothing.fill_(1.0)
    smoothed = model.sample(densities, noise)
    counts = model.pore_counts(densities)
    assert torch.equal(smoothed.flatten(1).sum(1), counts) and torch.equal(plain.flatten(1).sum(1), counts)
    assert torch.equal(smoothed, keep_top_k(smooth(logits(model, densities, noise), torch.ones(2)), counts))
    assert not torch.equal(plain, smoothed)
    assert torch.allclose(model.smoothing_at(torch.tensor([0.0, 0.5, 1.0])), torch.ones(3))


def test_white_noise_logits_are_smoothed_at_every_knot_with_validation_grids():
    """Top-k of white noise scatters single voxels; a Gaussian makes blobs, closer to the dataset's pores."""
    size = 12
    val_d = np.array(SMOOTHING_KNOTS[2:5])  # no validation grid near the first two knots and the last
    train_d = np.repeat(val_d, 2)
    val = SimpleNamespace(grids=pore_grids(val_d, size=size, seed=0), densities=val_d)
    train = SimpleNamespace(grids=pore_grids(train_d, size=size, seed=1), densities=train_d)
    model = CGAN(CGANConfig(size=size, noise_channels=2, width=8, film_hidden=8, critic_width=4, fine_channels=2))

    def logits(densities, noise):
        return noise.reshape(len(noise), size, size, size)

    result = choose_smoothing(model, logits, val, train, torch.device("cpu"), (size**3,))
    widths = model.smoothing.tolist()
    assert widths[:2] + widths[5:] == [0.0] * (len(widths) - 3) and result["val_grids"][str(SMOOTHING_KNOTS[0])] == 0
    chosen = list(result["smoothing"].values())
    assert all(width in WIDTHS and width > 0 for width in chosen[2:5]), result
    assert np.allclose(chosen, widths)
    for knot in SMOOTHING_KNOTS[2:5]:
        scores = result["val_worst_ratio_by_width"][str(knot)]
        assert min(scores.values()) == scores[str(result["smoothing"][str(knot)])] < scores["0.0"]
    grids = keep_top_k(smooth(torch.randn(1, size, size, size), torch.tensor([widths[-1]])), torch.tensor([20]))
    assert int(grids.sum()) == 20
