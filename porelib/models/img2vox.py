"""Section-conditioned VAE: a 3D pore grid from one 2D section (seed 004, done with a measure).

The task: given the central section ``section = grid[:, :, S // 2]`` (bool ``(S, S)``),
produce grids ``(S, S, S)`` whose central plane is that section and whose statistics are
the dataset's. Pores that cross the plane are partly determined by the section; the rest of
the volume is not observed at all, so the model is *generative*: a conditional VAE whose
decoder sees the section and a latent ``z`` that carries everything the section does not say.

Layout (S = 30 by default; H1 = ceil(S / 2), H2 = ceil(H1 / 2), so 15 and 8):

* **Section encoder (2D).** The section is folded into 2×2 blocks ``(N, 4, H1, H1)`` and
  passed through two 3×3 convolutions to ``width`` channels.
* **Lift to 3D.** A transposed convolution with kernel ``(1, 1, H1)`` maps the 2D features
  ``(N, width, H1, H1, 1)`` to ``(N, width, H1, H1, H1)``: every depth gets its own linear
  map of the section's features, as the seed's image-to-voxel decoder did with
  transposed convolutions. A strided convolution gives the same at H2.
* **Decoder (3D).** ``z`` ``(N, C, H2, H2, H2)`` is mapped to ``2 * width`` channels and added
  to the section features at H2, refined by residual blocks, upsampled to H1 where the
  section features are added again (a skip connection), refined, then unfolded
  (depth-to-space) to full resolution and mixed by one 3³ convolution into the logits of
  "this voxel is a pore", plus a learned logit per voxel position.
* **Posterior encoder (3D).** As in :mod:`porelib.models.cvae`: the whole grid, folded
  into 2×2×2 blocks, to the mean and log-variance of ``z``. Used for training only.
* **Density.** Every residual block is FiLM-modulated by the *density implied by the
  section* (:meth:`Img2Vox.implied_density`), the same value at training and at use.

Density implied by a section. A section's pore fraction ``φ_s`` estimates the grid's
porosity, but the central plane holds more pores than the average plane (the dataset's
pores never touch the faces: on the training split ``φ_s ≈ 1.33 φ``), and a section is a
noisy estimate (a sparse grid's central plane is often empty). The model therefore
carries a regression fitted by least squares on the training split,
``d̂ = clip(a + b · φ_s ** (1 / 3.8), 0, 1)`` (the exponent of the dataset's
voxel-count calibration, so that ``d̂`` is linear in ``φ_s`` where the calibration is),
with ``a`` = ``density_intercept`` and ``b`` = ``density_slope`` in the config. An
empty section gives ``d̂ = a``: the mean density of grids whose central plane is empty.

Sampling (:meth:`Img2Vox.sample`). Decode ``z ~ N(0, I)``, then keep the
``k = round(expected_pore_voxels(d̂))`` voxels of highest logit (:func:`keep_top_k`), so
the porosity is the dataset's at ``d̂``. With ``impose=True`` (the default) the known
section is imposed first: the central-plane logits are replaced by +inf at the section's
pores and -inf elsewhere, so the plane reproduces the section exactly and the other
``k - (section pores)`` voxels come from the network. Without imposing, the plane is
what the network predicts; that is the honest measure of how well it learned the
section (``section_iou_raw`` in the checkpoint's card).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from porelib._validate import check_number, check_positive_int
from porelib.models.blocks import (
    FiLM,
    NormAct,
    ResBlock,
    depth_to_space,
    keep_top_k,
    space_to_depth,
)
from porelib.options import check_options, option, options_class
from porelib.synth import CALIBRATION_EXPONENT, expected_pore_voxels


@options_class
class Img2VoxConfig:
    """Hyperparameters of :class:`Img2Vox` (plain values, so they fit in a JSON card)."""

    size: int = option(30, "Edge length S of the grids and sections, in voxels (at least 4).")
    width: int = option(32, "Feature channels at half resolution; `2 * width` at quarter resolution.")
    latent_channels: int = option(4, "Channels of the spatial latent `(latent_channels, H2, H2, H2)`.")
    blocks: int = option(1, "Residual blocks per resolution level, in the encoder and in the decoder.")
    film_hidden: int = option(32, "Hidden units of the MLP mapping the implied density to FiLM scales and shifts.")
    groups: int = option(8, "GroupNorm groups; must divide `width`.")
    fine_channels: int = option(4, "Channels at full resolution before the last 3³ convolution.")
    density_intercept: float = option(
        0.0,
        "The section-density regression `d̂ = clip(a + b φ_s^(1/3.8), 0, 1)`; fitted on the training data by "
        "`fit_section_density`.",
    )
    density_slope: float = option(
        1.0,
        "The section-density regression `d̂ = clip(a + b φ_s^(1/3.8), 0, 1)`; fitted on the training data by "
        "`fit_section_density`.",
    )

    def __post_init__(self):
        check_options(self)
        _check_config(self)

    def to_dict(self) -> dict:
        """The config as plain JSON-ready values."""
        return asdict(self)


def _check_config(config) -> Img2VoxConfig:
    if not isinstance(config, Img2VoxConfig):
        raise TypeError(f"config must be an Img2VoxConfig; got {type(config).__name__}")
    limits = {
        "size": (4, 512),
        "width": (4, 1024),
        "latent_channels": (1, 256),
        "blocks": (0, 16),
        "film_hidden": (1, 4096),
        "groups": (1, 1024),
        "fine_channels": (1, 64),
    }
    for name, (low, high) in limits.items():
        check_positive_int(getattr(config, name), f"Img2VoxConfig.{name}", minimum=low, maximum=high)
    if config.width % config.groups:
        raise ValueError(f"Img2VoxConfig.groups must divide width; got groups={config.groups}, width={config.width}")
    check_number(config.density_intercept, "Img2VoxConfig.density_intercept", minimum=-10.0, maximum=10.0)
    check_number(config.density_slope, "Img2VoxConfig.density_slope", minimum=-10.0, maximum=10.0)
    return config


def _half(size: int) -> int:
    return (size + 1) // 2


def section_feature(sections) -> np.ndarray:
    """``φ_s ** (1 / 3.8)`` of sections ``(N, S, S)``: the regressor of the implied density, ``(N,)``."""
    sections = np.asarray(sections, dtype=float)
    return sections.reshape(len(sections), -1).mean(axis=1) ** (1.0 / CALIBRATION_EXPONENT)


def fit_section_density(sections, densities) -> tuple[float, float]:
    """Least-squares fit of ``d = a + b φ_s^(1/3.8)`` on sections ``(N, S, S)`` and their grids' densities ``(N,)``.

    Returns
    -------
    intercept, slope : float

    Raises
    ------
    ValueError
        If fewer than two sections are given, or their pore fractions are all equal.
    """
    x = section_feature(sections)
    d = np.asarray(densities, dtype=float).reshape(-1)
    if len(x) < 2 or len(d) != len(x):
        raise ValueError(f"need at least two sections with one density each; got {len(x)} sections and {len(d)} densities")
    if np.ptp(x) == 0:
        raise ValueError("all sections have the same pore fraction; the section-density regression needs a spread")
    slope, intercept = np.polyfit(x, d, 1)
    return float(intercept), float(slope)


def _fold_2d(sections: torch.Tensor) -> torch.Tensor:
    """``(N, S, S)`` to 2×2 blocks ``(N, 4, H, H)``, ``H = ceil(S / 2)`` (odd S padded at the high end)."""
    n, size = sections.shape[:2]
    h = _half(size)
    padded = F.pad(sections, (0, 2 * h - size, 0, 2 * h - size))
    return padded.reshape(n, h, 2, h, 2).permute(0, 2, 4, 1, 3).reshape(n, 4, h, h)


class Img2Vox(nn.Module):
    """Section-conditioned VAE; see the module docstring for the layout.

    Parameters
    ----------
    config : Img2VoxConfig
        Checked here.

    Raises
    ------
    TypeError
        If ``config`` is not an :class:`Img2VoxConfig` or a field has the wrong type.
    ValueError
        If a field is out of range.
    """

    def __init__(self, config: Img2VoxConfig):
        super().__init__()
        self.config = _check_config(config)
        w, c, hidden, g, blocks = config.width, config.latent_channels, config.film_hidden, config.groups, config.blocks
        self.half_size = _half(config.size)
        self.latent_size = _half(self.half_size)
        # Section encoder (2D) and its lift to 3D.
        self.sec_in = nn.Conv2d(4, w, 3, padding=1)
        self.sec_mid = nn.Sequential(nn.GroupNorm(g, w), nn.SiLU(), nn.Conv2d(w, w, 3, padding=1))
        self.sec_lift = nn.ConvTranspose3d(w, w, kernel_size=(1, 1, self.half_size))
        self.sec_down = nn.Sequential(NormAct(w, g), nn.Conv3d(w, 2 * w, 3, stride=2, padding=1))
        # Posterior encoder (3D).
        self.enc_in = nn.Conv3d(8, w, 3, padding=1)
        self.enc_fine = nn.ModuleList(ResBlock(w, hidden, g) for _ in range(blocks))
        self.enc_down = nn.Sequential(NormAct(w, g), nn.Conv3d(w, 2 * w, 3, stride=2, padding=1))
        self.enc_coarse = nn.ModuleList(ResBlock(2 * w, hidden, g) for _ in range(blocks))
        self.enc_out = nn.Sequential(NormAct(2 * w, g), nn.Conv3d(2 * w, 2 * c, 1))
        # Decoder (3D).
        self.dec_in = nn.Conv3d(c, 2 * w, 3, padding=1)
        self.dec_film = FiLM(2 * w, hidden)
        self.dec_coarse = nn.ModuleList(ResBlock(2 * w, hidden, g) for _ in range(blocks))
        output_padding = self.half_size - (2 * self.latent_size - 1)
        self.dec_up = nn.Sequential(
            NormAct(2 * w, g), nn.ConvTranspose3d(2 * w, w, 3, stride=2, padding=1, output_padding=output_padding)
        )
        self.dec_fine = nn.ModuleList(ResBlock(w, hidden, g) for _ in range(blocks))
        self.dec_unfold = nn.Sequential(NormAct(w, g), nn.Conv3d(w, 8 * config.fine_channels, 1))
        self.dec_out = nn.Conv3d(config.fine_channels, 1, 3, padding=1)
        self.position_logit = nn.Parameter(torch.zeros(config.size, config.size, config.size))
        nn.init.zeros_(self.enc_out[-1].weight)
        nn.init.zeros_(self.enc_out[-1].bias)

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        """Shape ``(C, L, L, L)`` of one grid's latent."""
        return (self.config.latent_channels, self.latent_size, self.latent_size, self.latent_size)

    def _check_sections(self, sections: torch.Tensor) -> None:
        size = self.config.size
        if sections.ndim != 3 or tuple(sections.shape[1:]) != (size, size):
            raise ValueError(f"sections must have shape (N, {size}, {size}); got {tuple(sections.shape)}")

    def implied_density(self, sections: torch.Tensor) -> torch.Tensor:
        """The density implied by sections ``(N, S, S)`` (0/1): ``clip(a + b φ_s^(1/3.8), 0, 1)``, ``(N,)``."""
        self._check_sections(sections)
        phi = sections.flatten(1).float().mean(1)
        density = self.config.density_intercept + self.config.density_slope * phi ** (1.0 / CALIBRATION_EXPONENT)
        return density.clamp(0.0, 1.0)

    def pore_counts(self, densities: torch.Tensor) -> torch.Tensor:
        """Pore voxels kept at each density: ``round(expected_pore_voxels(d, size=S))``, ``(N,)`` int."""
        d = densities.detach().cpu().double().numpy()
        return torch.as_tensor(np.rint(expected_pore_voxels(d, size=self.config.size)), dtype=torch.long).reshape(-1)

    def section_features(self, sections: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """3D features of sections ``(N, S, S)`` at H1 ``(N, w, H1, H1, H1)`` and H2 ``(N, 2w, H2, H2, H2)``."""
        self._check_sections(sections)
        h = self.sec_in(_fold_2d(sections.to(self.sec_in.weight.dtype)))
        h = h + self.sec_mid(h)
        fine = self.sec_lift(h[..., None])
        return fine, self.sec_down(fine)

    def encode(self, grids: torch.Tensor, densities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior ``q(z | x)`` of grids ``(N, S, S, S)``; mean and log-variance ``(N, C, L, L, L)``."""
        size = self.config.size
        if grids.ndim != 4 or tuple(grids.shape[1:]) != (size, size, size):
            raise ValueError(f"grids must have shape (N, {size}, {size}, {size}); got {tuple(grids.shape)}")
        h = self.enc_in(space_to_depth(grids[:, None].to(self.enc_in.weight.dtype)))
        for block in self.enc_fine:
            h = block(h, densities)
        h = self.enc_down(h)
        for block in self.enc_coarse:
            h = block(h, densities)
        mean, logvar = self.enc_out(h).chunk(2, dim=1)
        return mean, logvar.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor, sections: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, S, S, S)`` of "pore" for latents ``(N, C, L, L, L)`` and sections ``(N, S, S)``."""
        if tuple(z.shape[1:]) != self.latent_shape or z.shape[0] != sections.shape[0]:
            raise ValueError(
                f"z must have shape (N, {', '.join(map(str, self.latent_shape))}) for N sections; "
                f"got {tuple(z.shape)} and {tuple(sections.shape)}"
            )
        densities = self.implied_density(sections).to(z.dtype)
        fine, coarse = self.section_features(sections)
        h = self.dec_film(self.dec_in(z), densities) + coarse
        for block in self.dec_coarse:
            h = block(h, densities)
        h = self.dec_up(h) + fine
        for block in self.dec_fine:
            h = block(h, densities)
        out = depth_to_space(self.dec_unfold(h), self.config.size)
        return self.dec_out(F.silu(out))[:, 0] + self.position_logit

    def forward(self, grids: torch.Tensor, prior_noise: torch.Tensor | None = None):
        """Encode, sample ``z = mean + σ ε`` (the mean in eval mode), decode with the grids' central sections.

        Parameters
        ----------
        grids : Tensor, (N, S, S, S)
            0/1 grids; their sections are ``grids[:, :, :, S // 2]``.
        prior_noise : Tensor, (N, C, L, L, L), optional
            Decoded too, in the same call: samples from the prior for the same sections.

        Returns
        -------
        logits : Tensor, (N, S, S, S)
        mean, logvar : Tensor, (N, C, L, L, L)
        prior_logits : Tensor, (N, S, S, S), or None without ``prior_noise``
        """
        sections = grids[:, :, :, self.config.size // 2]
        mean, logvar = self.encode(grids, self.implied_density(sections))
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if self.training else mean
        if prior_noise is None:
            return self.decode(z, sections), mean, logvar, None
        logits = self.decode(torch.cat([z, prior_noise.to(z.dtype)]), torch.cat([sections, sections]))
        reconstruction, prior_logits = logits.chunk(2)
        return reconstruction, mean, logvar, prior_logits

    @torch.no_grad()
    def sample(self, sections: torch.Tensor, noise: torch.Tensor, *, impose: bool = True) -> torch.Tensor:
        """Grids for sections: decode ``z = noise``, impose the section (optional), keep the top-k voxels.

        Parameters
        ----------
        sections : Tensor, (N, S, S)
            0/1 sections, placed at the central plane ``[:, :, :, S // 2]``.
        noise : Tensor, (N, C, L, L, L)
            Standard normal draws (the caller owns the randomness).
        impose : bool
            Replace the central plane's logits by the section (see the module docstring).

        Returns
        -------
        Tensor of bool, (N, S, S, S)
            ``max(k, section pores)`` pore voxels each, ``k = round(expected_pore_voxels(d̂))``.
        """
        logits = self.decode(noise, sections)
        counts = self.pore_counts(self.implied_density(sections))
        if impose:
            logits = impose_section(logits, sections)
            counts = torch.maximum(counts, sections.flatten(1).sum(1).long().cpu())
        return keep_top_k(logits, counts)


def impose_section(logits: torch.Tensor, sections: torch.Tensor) -> torch.Tensor:
    """Logits ``(N, S, S, S)`` with the central plane set to +inf at the sections' pores and -inf elsewhere."""
    plane = logits.shape[-1] // 2
    known = torch.where(sections.bool(), torch.inf, -torch.inf).to(logits.dtype)
    out = logits.clone()
    out[:, :, :, plane] = known
    return out


__all__ = ["Img2Vox", "Img2VoxConfig", "fit_section_density", "impose_section", "section_feature"]
