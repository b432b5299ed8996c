"""Conditional variational autoencoder of pore grids, conditioned on the density factor.

Layout (S = 30 by default; any S ≥ 4 works):

* The grid ``(N, 1, S, S, S)`` is folded into its 2×2×2 blocks (space-to-depth,
  padding an odd S by one empty voxel): ``(N, 8, H1, H1, H1)`` with ``H1 = ceil(S / 2)``.
  Every convolution then runs at ``H1`` or at ``H2 = ceil(H1 / 2)`` (15³ and 8³ for
  S = 30), never at full resolution: 3D convolutions of few channels are slow on a CPU.
* Encoder: a 3³ convolution to ``width`` channels and a residual block at ``H1``, a
  strided convolution to ``2 * width`` channels at ``H2`` and a residual block (and, for
  a latent at ``H1``, a transposed convolution back up, added to the ``H1`` features),
  then a 1³ convolution to the posterior mean and log-variance of a *spatial* latent
  ``z`` of shape ``(latent_channels, L, L, L)``, ``L = H1`` (``latent_level=1``) or
  ``H2`` (``latent_level=2``). A spatial latent suits a grid of nearly independent
  pores: each latent cell describes the pores around it.
* Decoder: the mirror image (from an ``H1`` latent it goes down to ``H2`` for context
  and back up, with a skip connection), ending in a 1³ convolution to
  ``8 * fine_channels`` features per block that are unfolded (depth-to-space) to full
  resolution and mixed by one 3³ convolution into the ``S³`` logits of "this voxel is a
  pore", plus a learned logit per voxel position (the dataset's pores never touch the
  faces).
* Every convolution after the first is preceded by GroupNorm and SiLU.
* The density conditions *both* halves: every residual block is modulated by FiLM
  (a per-channel scale and shift computed from the density by a small MLP).

Generation (:meth:`CVAE.sample`) draws ``z`` from the generation prior
(:meth:`CVAE.prior_latents`: N(0, I) until :meth:`CVAE.fit_prior` replaces it by a
Gaussian fitted to the aggregate posterior of the training grids), decodes it, smooths the
logits with a Gaussian whose width depends on the density (:meth:`CVAE.smoothing_at`, picked
by the trainer on validation grids together with the prior's temperature) and keeps
the ``k = round(expected_pore_voxels(density))`` voxels of highest logit
(:func:`keep_top_k`), so the porosity of every generated grid is exactly the dataset's
at that density. The checkpoint is the config (:class:`CVAEConfig`, plain values in the
card) plus a safetensors file of the weights and prior buffers; see :mod:`porelib.checkpoint`.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from porelib._validate import check_positive_int
from porelib.models.blocks import (
    Conv3d,
    Critic,
    FiLM,
    NormAct,
    ResBlock,
    depth_to_space,
    half_size,
    keep_top_k,
    piecewise_linear,
    smooth,
    smoothing_widths,
    space_to_depth,
)
from porelib.options import check_options, option, options_class
from porelib.synth import expected_pore_voxels


@options_class
class CVAEConfig:
    """Hyperparameters of :class:`CVAE` (plain values, so they fit in a JSON card)."""

    size: int = option(30, "Edge length S of the grids, in voxels (at least 4).")
    latent_channels: int = option(4, "Channels of the spatial latent.")
    latent_level: int = option(
        1,
        "Resolution of the latent: 1 = half (`ceil(S / 2)`, 15³ for S = 30), 2 = quarter (`ceil(ceil(S / 2) / 2)`, "
        "8³).",
    )
    width: int = option(32, "Feature channels at half resolution; `2 * width` at quarter resolution.")
    encoder_blocks: int = option(1, "Residual blocks per resolution level in the encoder.")
    decoder_blocks: int = option(1, "Residual blocks per resolution level in the decoder.")
    film_hidden: int = option(32, "Hidden units of the MLP that maps the density to the FiLM scales and shifts.")
    groups: int = option(8, "Groups of the GroupNorm before every convolution; must divide `width`.")
    fine_channels: int = option(
        4,
        "Channels at full resolution, unfolded from the last half-resolution features and mixed by one 3³ "
        "convolution into the logits (removes 2×2×2 block artefacts).",
    )
    prior_rank: int = option(128, "Rank of the low-rank factor of the fitted latent prior (see `CVAE.fit_prior`).")
    prior_degree: int = option(3, "Degree of the polynomial in the density of the fitted prior's mean.")
    critic_width: int = option(
        0,
        "Channels of a `porelib.models.blocks.Critic` trained beside the VAE to tell decoded prior samples from "
        "dataset grids (0: no critic; see `porelib.losses.CVAELossConfig.adversarial_weight`). Generation does not "
        "use it.",
    )

    def __post_init__(self):
        check_options(self)
        _check_config(self)

    def to_dict(self) -> dict:
        """The config as plain JSON-ready values."""
        return asdict(self)


def _check_config(config) -> CVAEConfig:
    if not isinstance(config, CVAEConfig):
        raise TypeError(f"config must be a CVAEConfig; got {type(config).__name__}")
    limits = {
        "size": (4, 512),
        "latent_channels": (1, 256),
        "latent_level": (1, 2),
        "width": (4, 1024),
        "encoder_blocks": (0, 16),
        "decoder_blocks": (0, 16),
        "film_hidden": (1, 4096),
        "groups": (1, 1024),
        "fine_channels": (1, 64),
        "prior_rank": (0, 4096),
        "prior_degree": (0, 8),
        "critic_width": (0, 1024),
    }
    for name, (low, high) in limits.items():
        check_positive_int(getattr(config, name), f"CVAEConfig.{name}", minimum=low, maximum=high)
    if config.width % config.groups:
        raise ValueError(f"CVAEConfig.groups must divide width; got groups={config.groups}, width={config.width}")
    if config.prior_rank > latent_numel(config):
        raise ValueError(
            f"CVAEConfig.prior_rank must not exceed the {latent_numel(config)} latent dimensions; got {config.prior_rank}"
        )
    return config


#: Densities at which the generation prior's temperature is set (see :meth:`CVAE.temperature`).
TEMPERATURE_KNOTS = (0.2, 0.45, 0.725, 0.9, 0.975)

#: Up to this many latent dimensions, fit_prior diagonalises the full covariance.
_EXACT_PCA_DIMS = 4096


def _powers(densities: torch.Tensor, degree: int) -> torch.Tensor:
    """``(N, degree + 1)`` matrix of ``d**0 … d**degree``."""
    return densities[:, None] ** torch.arange(degree + 1, dtype=densities.dtype, device=densities.device)


class CVAE(nn.Module):
    """Density-conditioned VAE of pore grids; see the module docstring for the layout.

    Parameters
    ----------
    config : CVAEConfig
        Checked here.

    Raises
    ------
    TypeError
        If ``config`` is not a :class:`CVAEConfig` or a field is not an integer.
    ValueError
        If a field is out of range.
    """

    def __init__(self, config: CVAEConfig):
        super().__init__()
        self.config = _check_config(config)
        w, c, hidden, g = config.width, config.latent_channels, config.film_hidden, config.groups
        self.half_size = half_size(config.size)
        self.quarter_size = half_size(self.half_size)
        self.latent_size = self.half_size if config.latent_level == 1 else self.quarter_size
        latent_width = w if config.latent_level == 1 else 2 * w
        output_padding = self.half_size - (2 * self.quarter_size - 1)

        def blocks(channels: int, count: int) -> nn.ModuleList:
            return nn.ModuleList(ResBlock(channels, hidden, g) for _ in range(count))

        def down() -> nn.Module:
            return nn.Sequential(NormAct(w, g), Conv3d(w, 2 * w, 3, stride=2, padding=1))

        def up() -> nn.Module:
            return nn.Sequential(
                NormAct(2 * w, g), nn.ConvTranspose3d(2 * w, w, 3, stride=2, padding=1, output_padding=output_padding)
            )

        # Encoder: half resolution, quarter resolution, and back up to half for a level-1 latent.
        self.enc_in = Conv3d(8, w, 3, padding=1)
        self.enc_fine = blocks(w, config.encoder_blocks)
        self.enc_down = down()
        self.enc_coarse = blocks(2 * w, config.encoder_blocks)
        self.enc_up = up() if config.latent_level == 1 else None
        self.enc_out = nn.Sequential(NormAct(latent_width, g), Conv3d(latent_width, 2 * c, 1))
        nn.init.zeros_(self.enc_out[-1].weight)
        nn.init.zeros_(self.enc_out[-1].bias)
        # Decoder: from the latent's level, through quarter resolution (context), to half.
        self.dec_in = Conv3d(c, latent_width, 3, padding=1)
        self.dec_film = FiLM(latent_width, hidden)
        self.dec_down = down() if config.latent_level == 1 else None
        self.dec_coarse = blocks(2 * w, config.decoder_blocks)
        self.dec_up = up()
        self.dec_fine = blocks(w, config.decoder_blocks)
        self.dec_unfold = nn.Sequential(NormAct(w, g), Conv3d(w, 8 * config.fine_channels, 1))
        self.dec_out = Conv3d(config.fine_channels, 1, 3, padding=1)
        #: A learned logit per voxel position (e.g. "pores never touch the faces").
        self.position_logit = nn.Parameter(torch.zeros(config.size, config.size, config.size))
        # The latent prior used for generation, z = m(d) + W u + s ⊙ e with m a polynomial in
        # the density (fitted by fit_prior); N(0, I) until fitted. Buffers: the checkpoint holds them.
        dims = latent_numel(config)
        self.register_buffer("prior_mean", torch.zeros(config.prior_degree + 1, dims))
        self.register_buffer("prior_factor", torch.zeros(dims, config.prior_rank, dtype=torch.float16))  # compact
        self.register_buffer("prior_scale", torch.ones(dims))
        self.register_buffer("prior_temperature", torch.ones(len(TEMPERATURE_KNOTS)))
        #: Smoothing width (voxels) of the decoded logits before the top-k, at :data:`TEMPERATURE_KNOTS`;
        #: 0 (none) until the trainer picks it with the temperature on validation grids (``CVAETask.finalize``).
        self.register_buffer("smoothing", torch.zeros(len(TEMPERATURE_KNOTS)))
        #: Training only: tells decoded prior samples from dataset grids (None without ``critic_width``).
        self.critic = Critic(config.critic_width, config.film_hidden) if config.critic_width else None

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        """Shape ``(C, L, L, L)`` of one grid's latent."""
        return (self.config.latent_channels, self.latent_size, self.latent_size, self.latent_size)

    def _check_input(self, grids: torch.Tensor, densities: torch.Tensor) -> None:
        size = self.config.size
        if grids.ndim != 4 or tuple(grids.shape[1:]) != (size, size, size):
            raise ValueError(f"grids must have shape (N, {size}, {size}, {size}); got {tuple(grids.shape)}")
        if densities.shape != (grids.shape[0],):
            raise ValueError(f"densities must have shape ({grids.shape[0]},); got {tuple(densities.shape)}")

    def encode(self, grids: torch.Tensor, densities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior ``q(z | x, d)`` of grids ``(N, S, S, S)`` (0/1 or probabilities) at densities ``(N,)``.

        Returns
        -------
        mean, logvar : Tensor, (N, C, L, L, L)
        """
        self._check_input(grids, densities)
        density = densities.to(self.enc_in.weight.dtype)
        fine = self.enc_in(space_to_depth(grids[:, None].to(density.dtype)))
        for block in self.enc_fine:
            fine = block(fine, density)
        h = self.enc_down(fine)
        for block in self.enc_coarse:
            h = block(h, density)
        if self.enc_up is not None:
            h = fine + self.enc_up(h)
        mean, logvar = self.enc_out(h).chunk(2, dim=1)
        return mean, logvar.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor, densities: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, S, S, S)`` of "pore" for latents ``(N, C, L, L, L)`` at densities ``(N,)``."""
        if tuple(z.shape[1:]) != self.latent_shape or densities.shape != (z.shape[0],):
            raise ValueError(
                f"z must have shape (N, {', '.join(map(str, self.latent_shape))}) and densities (N,); "
                f"got {tuple(z.shape)} and {tuple(densities.shape)}"
            )
        density = densities.to(z.dtype)
        h = self.dec_film(self.dec_in(z), density)
        skip = None
        if self.dec_down is not None:
            skip, h = h, self.dec_down(h)
        for block in self.dec_coarse:
            h = block(h, density)
        h = self.dec_up(h) if skip is None else skip + self.dec_up(h)
        for block in self.dec_fine:
            h = block(h, density)
        fine = depth_to_space(self.dec_unfold(h), self.config.size)
        return self.dec_out(F.silu(fine))[:, 0] + self.position_logit

    def forward(self, grids: torch.Tensor, densities: torch.Tensor, prior_noise: torch.Tensor | None = None):
        """Encode, sample ``z = mean + σ ε`` (the mean in eval mode), decode.

        Parameters
        ----------
        grids : Tensor, (N, S, S, S)
        densities : Tensor, (N,)
        prior_noise : Tensor, (N, C, L, L, L), optional
            If given, it is decoded too (a sample from the prior at the same densities),
            in the same call, so that data-parallel training sees one forward pass.

        Returns
        -------
        logits : Tensor, (N, S, S, S)
        mean, logvar : Tensor, (N, C, L, L, L)
        prior_logits : Tensor, (N, S, S, S), or None without ``prior_noise``
        """
        mean, logvar = self.encode(grids, densities)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if self.training else mean
        if prior_noise is None:
            return self.decode(z, densities), mean, logvar, None
        logits = self.decode(torch.cat([z, prior_noise.to(z.dtype)]), torch.cat([densities, densities]))
        reconstruction, prior_logits = logits.chunk(2)
        return reconstruction, mean, logvar, prior_logits

    def criticize(self, grids: torch.Tensor, densities: torch.Tensor) -> torch.Tensor:
        """The critic's "real" score ``(N,)`` of grids ``(N, S, S, S)`` (0/1, or relaxed) at densities ``(N,)``.

        Raises
        ------
        ValueError
            If the model has no critic (``critic_width = 0``) or the shapes do not fit.
        """
        if self.critic is None:
            raise ValueError("this cVAE has no critic; build it with CVAEConfig(critic_width=16) to train against one")
        self._check_input(grids, densities)
        return self.critic(grids, densities)[0]

    def pore_counts(self, densities) -> torch.Tensor:
        """Number of pore voxels kept at each density: ``round(expected_pore_voxels(d, size=S))``."""
        d = np.asarray(torch.as_tensor(densities).detach().cpu(), dtype=float)
        return torch.as_tensor(np.rint(expected_pore_voxels(d, size=self.config.size)), dtype=torch.long).reshape(-1)

    @property
    def noise_shape(self) -> tuple[int]:
        """Shape ``(R + J,)`` of the standard normal noise behind one prior sample (see :meth:`prior_latents`)."""
        return (self.config.prior_rank + self.prior_scale.numel(),)

    def temperature(self, densities: torch.Tensor) -> torch.Tensor:
        """τ(d), ``(N,)``: :attr:`prior_temperature` at :data:`TEMPERATURE_KNOTS`, linear in between, constant outside."""
        return piecewise_linear(self.prior_temperature, TEMPERATURE_KNOTS, densities)

    def prior_latents(self, densities: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Latents from the prior: ``z = m(d) + τ(d) (W u + s ⊙ e)`` with ``noise = [u, e]``.

        Parameters
        ----------
        densities : Tensor, (N,)
        noise : Tensor, (N, R + J)
            Standard normal draws (:attr:`noise_shape`).

        Returns
        -------
        Tensor, (N, C, L, L, L)
            Before :meth:`fit_prior` (m = 0, W = 0, s = 1, τ = 1) this is ``e`` itself, N(0, I).
            The temperature τ(d) is :meth:`temperature` (set by the trainer on validation data).
        """
        if tuple(noise.shape[1:]) != self.noise_shape or densities.shape != (noise.shape[0],):
            raise ValueError(
                f"noise must have shape (N, {self.noise_shape[0]}) and densities (N,); "
                f"got {tuple(noise.shape)} and {tuple(densities.shape)}"
            )
        noise = noise.to(self.prior_scale.dtype)
        rank = self.config.prior_rank
        correlated = noise[:, :rank] @ self.prior_factor.to(noise.dtype).T
        mean = _powers(densities.to(noise.dtype), self.config.prior_degree) @ self.prior_mean
        spread = correlated + self.prior_scale * noise[:, rank:]
        z = mean + self.temperature(densities.to(noise.dtype))[:, None] * spread
        return z.reshape(len(noise), *self.latent_shape)

    @torch.no_grad()
    def fit_prior(self, latents: torch.Tensor, densities: torch.Tensor) -> dict:
        """Fit the generation prior to samples of the aggregate posterior.

        A Gaussian whose mean ``m(d)`` is a polynomial of degree ``prior_degree`` in the
        density (least squares), and whose covariance
        is ``W Wᵀ + diag(s²)``: ``W`` holds the leading ``prior_rank`` principal components
        of the residuals (stored in float16) and ``s²`` the variance they leave per
        dimension. With ``prior_rank = 0`` only the mean and per-dimension variance are
        fitted. This is a Gaussian approximation of the aggregate posterior, the
        distribution the decoder was trained on, instead of the N(0, I) it only
        approaches.

        Parameters
        ----------
        latents : Tensor, (M, C, L, L, L)
            Posterior samples ``z ~ q(z | x, d)`` of training grids (M > prior_degree + 1).
        densities : Tensor, (M,)

        Returns
        -------
        dict
            ``explained_variance`` (share of the residual variance in W) and ``samples``.
        """
        z = latents.reshape(len(latents), -1).double()
        design = _powers(densities.double(), self.config.prior_degree)
        coefficients = torch.linalg.lstsq(design, z).solution
        residuals = z - design @ coefficients
        dof = len(z) - design.shape[1]
        variance = residuals.pow(2).sum(0) / dof
        rank = self.config.prior_rank
        explained = 0.0
        factor = torch.zeros(z.shape[1], rank, dtype=torch.float64)
        if rank:
            scaled = residuals / math.sqrt(dof)
            if z.shape[1] <= _EXACT_PCA_DIMS:  # eigen-decomposition of the J × J covariance
                eigenvalues, vectors = torch.linalg.eigh(scaled.T @ scaled)
                eigenvalues, vectors = eigenvalues.flip(0)[:rank].clamp(min=0), vectors.flip(1)[:, :rank]
            else:  # randomised SVD for large latents
                _, singular, vectors = torch.svd_lowrank(scaled, q=min(rank + 16, *scaled.shape), niter=4)
                eigenvalues, vectors = singular[:rank] ** 2, vectors[:, :rank]
            factor = vectors * eigenvalues.sqrt()
            explained = float(eigenvalues.sum() / variance.sum())
        scale = (variance - factor.pow(2).sum(1)).clamp(min=1e-4).sqrt()
        self.prior_mean.copy_(coefficients)
        self.prior_factor.copy_(factor)
        self.prior_scale.copy_(scale)
        return {"explained_variance": explained, "samples": len(z)}

    @torch.no_grad()
    def reset_prior(self) -> None:
        """Make the generation prior N(0, I) again (m = 0, W = 0, s = 1, τ = 1), as before :meth:`fit_prior`."""
        self.prior_mean.zero_()
        self.prior_factor.zero_()
        self.prior_scale.fill_(1.0)
        self.prior_temperature.fill_(1.0)

    def smoothing_at(self, densities: torch.Tensor) -> torch.Tensor:
        """σ(d), ``(N,)`` voxels: :attr:`smoothing` at :data:`TEMPERATURE_KNOTS`, linear in between, constant outside."""
        return smoothing_widths(self.smoothing, densities, TEMPERATURE_KNOTS)

    def prior_logits(self, densities: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Decoded logits ``(N, S, S, S)`` of :meth:`prior_latents`, before smoothing and top-k."""
        return self.decode(self.prior_latents(densities, noise), densities)

    @torch.no_grad()
    def sample(self, densities: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Grids from the prior: decode :meth:`prior_latents`, smooth by :meth:`smoothing_at`, keep the top-k voxels.

        Parameters
        ----------
        densities : Tensor, (N,)
            Density factors in [0, 1].
        noise : Tensor, (N, R + J)
            Standard normal draws, :attr:`noise_shape` (the caller owns the randomness).

        Returns
        -------
        Tensor of bool, (N, S, S, S)
        """
        logits = smooth(self.prior_logits(densities, noise), self.smoothing_at(densities))
        return keep_top_k(logits, self.pore_counts(densities))

    @torch.no_grad()
    def reconstruct(self, grids: torch.Tensor, densities: torch.Tensor) -> torch.Tensor:
        """Bool grids ``(N, S, S, S)``: decode the posterior mean and keep the top-k voxels."""
        mean, _ = self.encode(grids, densities)
        return keep_top_k(self.decode(mean, densities), self.pore_counts(densities))


def latent_numel(config: CVAEConfig) -> int:
    """Number of latent dimensions of one grid for ``config``."""
    edge = half_size(config.size) if config.latent_level == 1 else half_size(half_size(config.size))
    return config.latent_channels * edge**3


__all__ = ["CVAE", "CVAEConfig", "latent_numel"]
