"""Conditional GAN of pore grids, conditioned on the density factor.

Layout (S = 30 by default; any S ≥ 4 works), with ``H1 = ceil(S / 2)`` and
``H2 = ceil(H1 / 2)`` (15 and 8 for S = 30); the building blocks are those of the cVAE
(:mod:`porelib.models.blocks`: FiLM residual blocks, space-to-depth folding), so no
convolution runs at full resolution except the last one:

* **Generator** ``G(z, d)``: spatial standard normal noise ``z`` of shape
  ``(noise_channels, H2, H2, H2)`` (a grid of nearly independent pores wants local
  randomness), a 3³ convolution to ``2 * width`` channels modulated by the density
  (FiLM), residual blocks at ``H2``, a transposed convolution to ``width`` channels at
  ``H1``, residual blocks there (every block FiLM-modulated by the density), a 1³
  convolution to ``8 * fine_channels`` features unfolded to full resolution and one 3³
  convolution to the ``S³`` logits of "this voxel is a pore". No per-position term: a
  logit shared by all samples would let every sample put its pores in the same places.
  With ``noise_level = 1`` the noise is ``(noise_channels, H1, H1, H1)`` instead: a 3³
  convolution to ``width`` channels at ``H1`` and FiLM, a strided convolution to
  ``2 * width`` at ``H2``, and those ``H1`` features are added back after the transposed
  convolution.
  Returns logits ``(N, S, S, S)``.
* **Discriminator** ``D(x, d)`` (the critic, :class:`porelib.models.blocks.Critic`): the grid folded into 2×2×2 blocks, four
  3³ convolutions with LeakyReLU: ``critic_width`` channels at ``H1``, strided to
  ``2 * critic_width`` at ``H2``, again at ``H2``, strided to ``4 * critic_width`` at
  ``ceil(H2 / 2)``; summed over space into features ``h``.
  The density enters by projection (Miyato & Koyama 2018):
  ``D(x, d) = w·h + e(d)·h`` with ``e`` a small MLP of the density; a second head
  ``a(x) = v·h`` is the logit of the density itself (used by the ``bce_bcelogits`` loss,
  :func:`porelib.losses.gan_losses`). Every convolution and linear map of the critic is
  spectrally normalised (one power iteration per forward pass in training mode).

With ``average_decay > 0`` the model also keeps :attr:`CGAN.average`, an exponential moving
average of the generator's weights (:meth:`CGAN.update_average`, after every generator step);
in eval mode (validation, the checkpoint's choice, generation) it generates instead of the
last weights, which follow the critic's moves.

Training (:mod:`porelib.tasks.cgan`) shows the critic the generator's output through
:meth:`CGAN.relaxed_top_k`: the exact top-k binary grid in the forward pass (so the
critic sees what generation ships, binary grids with the dataset's pore count), with
the gradient of a sigmoid centred on the top-k threshold in the backward pass.

Generation (:meth:`CGAN.sample`) smooths the logits with a Gaussian whose width depends
on the density (:meth:`CGAN.smoothing_at`, :func:`porelib.models.blocks.smooth`; picked by
the trainer on validation grids, 0 until then) and keeps the
``k = round(expected_pore_voxels(density))`` voxels of highest logit
(:func:`porelib.models.blocks.keep_top_k`), so the porosity of every generated grid is
exactly the dataset's at that density, as for the cVAE.
"""

from __future__ import annotations

import copy
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from porelib._validate import check_number, check_positive_int
from porelib.models.blocks import (
    Conv3d,
    SMOOTHING_KNOTS,
    Critic,
    FiLM,
    NormAct,
    ResBlock,
    depth_to_space,
    half_size,
    keep_top_k,
    relaxed_top_k,
    smooth,
    smoothing_widths,
)
from porelib.options import check_options, option, options_class
from porelib.synth import expected_pore_voxels


@options_class
class CGANConfig:
    """Hyperparameters of :class:`CGAN` (plain values, so they fit in a JSON card)."""

    size: int = option(30, "Edge length S of the grids, in voxels (at least 4).")
    noise_channels: int = option(8, "Channels of the generator's spatial noise.")
    noise_level: int = option(
        2,
        "Resolution of the noise: 2 = quarter (`ceil(ceil(S / 2) / 2)`, 8³ for S = 30), 1 = half (`ceil(S / 2)`, "
        "15³), taken down to quarter resolution by a strided convolution and added back at half resolution (local "
        "randomness for small pores).",
    )
    width: int = option(16, "Generator channels at half resolution; `2 * width` at quarter resolution.")
    generator_blocks: int = option(1, "FiLM residual blocks of the generator per resolution level.")
    film_hidden: int = option(
        32,
        "Hidden units of the MLPs that map the density to FiLM parameters and to the critic's projection.",
    )
    groups: int = option(8, "GroupNorm groups in the generator; must divide `width`.")
    fine_channels: int = option(4, "Generator channels at full resolution before the last 3³ convolution.")
    critic_width: int = option(16, "Critic channels at half resolution (`2×` and `4×` at the coarser levels).")
    relax_temperature: float = option(
        1.0,
        "Temperature T, in standard deviations of a grid's logits, of the sigmoid around the top-k threshold whose "
        "gradient `CGAN.relaxed_top_k` passes back.",
    )
    average_decay: float = option(
        0.0,
        "Decay of an exponential moving average of the generator's weights, updated at every generator step "
        "(Yazıcı et al. 2019; 0.999 in BigGAN). When positive, validation, the checkpoint's choice and generation "
        "use the average instead of the last weights. 0: no average.",
    )

    def __post_init__(self):
        check_options(self)
        _check_config(self)

    def to_dict(self) -> dict:
        """The config as plain JSON-ready values."""
        return asdict(self)


def _check_config(config) -> CGANConfig:
    if not isinstance(config, CGANConfig):
        raise TypeError(f"config must be a CGANConfig; got {type(config).__name__}")
    limits = {
        "size": (4, 512),
        "noise_channels": (1, 256),
        "noise_level": (1, 2),
        "width": (4, 1024),
        "generator_blocks": (0, 16),
        "film_hidden": (1, 4096),
        "groups": (1, 1024),
        "fine_channels": (1, 64),
        "critic_width": (1, 1024),
    }
    for name, (low, high) in limits.items():
        check_positive_int(getattr(config, name), f"CGANConfig.{name}", minimum=low, maximum=high)
    if config.width % config.groups:
        raise ValueError(f"CGANConfig.groups must divide width; got groups={config.groups}, width={config.width}")
    config.relax_temperature = check_number(config.relax_temperature, "CGANConfig.relax_temperature", minimum=0.0)
    if config.relax_temperature == 0:
        raise ValueError("CGANConfig.relax_temperature must be positive (e.g. 1.0); got 0")
    config.average_decay = check_number(config.average_decay, "CGANConfig.average_decay", minimum=0.0, maximum=1.0)
    if config.average_decay == 1:
        raise ValueError("CGANConfig.average_decay must be below 1 (e.g. 0.99), or 0 for no average; got 1")
    return config


class Generator(nn.Module):
    """Spatial noise and a density to pore logits; see the module docstring."""

    def __init__(self, config: CGANConfig):
        super().__init__()
        w, hidden, g = config.width, config.film_hidden, config.groups
        self.size = config.size
        half, quarter = half_size(config.size), half_size(half_size(config.size))
        if config.noise_level == 1:  # noise at half resolution, down to quarter, back up with a skip
            self.input = Conv3d(config.noise_channels, w, 3, padding=1)
            self.input_film = FiLM(w, hidden)
            self.down = nn.Sequential(NormAct(w, g), Conv3d(w, 2 * w, 3, stride=2, padding=1))
        else:
            self.input = Conv3d(config.noise_channels, 2 * w, 3, padding=1)
            self.input_film = FiLM(2 * w, hidden)
            self.down = None
        self.coarse = nn.ModuleList(ResBlock(2 * w, hidden, g) for _ in range(config.generator_blocks))
        self.up = nn.Sequential(
            NormAct(2 * w, g),
            nn.ConvTranspose3d(2 * w, w, 3, stride=2, padding=1, output_padding=half - (2 * quarter - 1)),
        )
        self.fine = nn.ModuleList(ResBlock(w, hidden, g) for _ in range(config.generator_blocks))
        self.unfold = nn.Sequential(NormAct(w, g), Conv3d(w, 8 * config.fine_channels, 1))
        self.output = Conv3d(config.fine_channels, 1, 3, padding=1)

    def forward(self, noise: torch.Tensor, densities: torch.Tensor) -> torch.Tensor:
        density = densities.to(self.input.weight.dtype)
        h = self.input_film(self.input(noise.to(density.dtype)), density)
        skip = None
        if self.down is not None:
            skip, h = h, self.down(h)
        for block in self.coarse:
            h = block(h, density)
        h = self.up(h) if skip is None else skip + self.up(h)
        for block in self.fine:
            h = block(h, density)
        fine = depth_to_space(self.unfold(h), self.size)
        return self.output(F.silu(fine))[:, 0]


class CGAN(nn.Module):
    """Density-conditioned GAN of pore grids: :attr:`generator` and :attr:`critic`.

    Parameters
    ----------
    config : CGANConfig
        Checked here.

    Raises
    ------
    TypeError
        If ``config`` is not a :class:`CGANConfig` or a field has the wrong type.
    ValueError
        If a field is out of range or the fields do not fit together.
    """

    def __init__(self, config: CGANConfig):
        super().__init__()
        self.config = _check_config(config)
        self.generator = Generator(config)
        #: The moving average of the generator's weights (``average_decay > 0``; :meth:`update_average`),
        #: which eval mode generates with; None without it.
        self.average = None
        if config.average_decay:  # a copy: building a fresh one would draw from the RNG and change the critic's init
            self.average = copy.deepcopy(self.generator).requires_grad_(False)
        self.critic = Critic(config.critic_width, config.film_hidden)
        #: Smoothing width (voxels) of the logits before the top-k, at :data:`SMOOTHING_KNOTS`;
        #: 0 (none) until the trainer picks it on validation grids (``CGANTask.finalize``).
        self.register_buffer("smoothing", torch.zeros(len(SMOOTHING_KNOTS)))

    @property
    def noise_shape(self) -> tuple[int, int, int, int]:
        """Shape ``(C, L, L, L)`` of the standard normal noise behind one grid (L: half or quarter resolution,
        ``noise_level``)."""
        edge = half_size(self.config.size)
        if self.config.noise_level == 2:
            edge = half_size(edge)
        return (self.config.noise_channels, edge, edge, edge)

    def _check_noise(self, noise: torch.Tensor, densities: torch.Tensor) -> None:
        if tuple(noise.shape[1:]) != self.noise_shape or densities.shape != (noise.shape[0],):
            raise ValueError(
                f"noise must have shape (N, {', '.join(map(str, self.noise_shape))}) and densities (N,); "
                f"got {tuple(noise.shape)} and {tuple(densities.shape)}"
            )

    def generate_logits(self, noise: torch.Tensor, densities: torch.Tensor) -> torch.Tensor:
        """Generator logits ``(N, S, S, S)`` of "pore" for noise :attr:`noise_shape` at densities ``(N,)``.

        In training mode the trained :attr:`generator` answers; in eval mode its moving
        average :attr:`average` does, where the model keeps one (``average_decay > 0``).
        """
        self._check_noise(noise, densities)
        generator = self.generator if self.training or self.average is None else self.average
        return generator(noise, densities)

    @torch.no_grad()
    def update_average(self, step: int) -> None:
        """Move :attr:`average` towards the generator's current weights: ``a ← a + (1 − β)(w − a)``.

        ``β = min(average_decay, (1 + step) / (10 + step))``, so the first steps, whose
        weights are far from trained, fade quickly (the warm-up of TensorFlow's
        ExponentialMovingAverage). Does nothing without an average.

        Parameters
        ----------
        step : int
            Number of generator updates so far (0 for the first).
        """
        if self.average is None:
            return
        decay = min(self.config.average_decay, (1 + step) / (10 + step))
        for average, current in zip(self.average.parameters(), self.generator.parameters()):
            average.lerp_(current, 1.0 - decay)

    def criticize(self, grids: torch.Tensor, densities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Critic outputs for grids ``(N, S, S, S)`` (0/1, or relaxed) at densities ``(N,)``.

        Returns
        -------
        logit : Tensor, (N,)
            "Real" score (a logit for the BCE losses, a score for hinge and WGAN-GP).
        density_logit : Tensor, (N,)
            Logit of the density the critic reads off the grid.
        """
        size = self.config.size
        if grids.ndim != 4 or tuple(grids.shape[1:]) != (size, size, size) or densities.shape != (grids.shape[0],):
            raise ValueError(
                f"grids must have shape (N, {size}, {size}, {size}) and densities (N,); "
                f"got {tuple(grids.shape)} and {tuple(densities.shape)}"
            )
        return self.critic(grids, densities)

    def pore_counts(self, densities) -> torch.Tensor:
        """Number of pore voxels kept at each density: ``round(expected_pore_voxels(d, size=S))``."""
        d = np.asarray(torch.as_tensor(densities).detach().cpu(), dtype=float)
        return torch.as_tensor(np.rint(expected_pore_voxels(d, size=self.config.size)), dtype=torch.long).reshape(-1)

    def relaxed_top_k(self, logits: torch.Tensor, densities: torch.Tensor) -> torch.Tensor:
        """Straight-through top-k of :func:`porelib.models.blocks.relaxed_top_k` with this model's
        pore counts (:meth:`pore_counts`) and ``relax_temperature``; ``(N, S, S, S)`` float 0/1."""
        return relaxed_top_k(logits, self.pore_counts(densities), self.config.relax_temperature)

    def smoothing_at(self, densities: torch.Tensor) -> torch.Tensor:
        """σ(d), ``(N,)`` voxels: :attr:`smoothing` at :data:`SMOOTHING_KNOTS`, linear in between, constant outside."""
        return smoothing_widths(self.smoothing, densities)

    @torch.no_grad()
    def sample(self, densities: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Generated grids: the top-k voxels of the generator's logits, smoothed by :meth:`smoothing_at`.

        Parameters
        ----------
        densities : Tensor, (N,)
            Density factors in [0, 1].
        noise : Tensor, (N, C, L, L, L)
            Standard normal draws of :attr:`noise_shape` (the caller owns the randomness).

        Returns
        -------
        Tensor of bool, (N, S, S, S)
            Each with exactly ``round(expected_pore_voxels(d, size=S))`` pore voxels.
        """
        logits = smooth(self.generate_logits(noise, densities), self.smoothing_at(densities))
        return keep_top_k(logits, self.pore_counts(densities))


__all__ = ["CGAN", "CGANConfig", "Generator"]
