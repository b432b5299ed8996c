"""A fully convolutional generator of a material's 3-D structure, any size, with the porosity asked for.

The network maps standard normal noise on a coarse grid, ``(N, noise_channels, m, m, m)``,
to logits of "pore" on a grid ``upsample`` times finer. Every convolution is *valid*
(no padding) and there is no normalisation over space (per-voxel pixel norm only), so
each output voxel depends on a fixed neighbourhood of the noise and on nothing else: the
structure is stationary, a volume of any size is one forward pass over a larger noise
grid, and a volume generated in chunks (:func:`generate_volume`) is the very same volume —
no statistic can change across a seam because there is none.

Layout (defaults): noise → 3³ convolutions to 24 then 12 channels → ×2 trilinear → to 12
then 6 → ×2 → to 6 → 1³ convolution to 1 logit; LeakyReLU and pixel norm after each (a
level's last convolution narrows to the next level's width before the upsampling). The output
of a noise grid of side ``m`` has side ``4 · m − margin`` (:attr:`MaterialGeneratorConfig.margin`).

**Prior field** (``prior="gaussian-field"``, the default). The finest level also takes a
continuous field at full resolution, the material's Gaussian random field
(:func:`porelib.material.baselines.gaussian_field`, drawn by the caller: this module knows
nothing of materials), as one more input channel, and the field is added to the logits. The
head starts at zero, so an untrained generator *is* the classical level-cut reconstruction
(its top-k is the thresholded field), and training learns the local corrections the
material needs beyond its two-point correlation (rounder grains, straighter fibres, pores
that connect). The prior is one draw over the whole volume (no tiles), so generation stays seamless:
:meth:`MaterialGenerator.prior_shape` says which box it must cover.

Exact porosity: :func:`top_k_mask` keeps the ``round(φ · voxels)`` voxels of highest logit
(ties to the lower flat index), so a generated volume has exactly the requested porosity.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import torch
from torch import nn

from porelib.options import check_options, option, options_class


#: Prior fields of :class:`MaterialGeneratorConfig`.
PRIORS = ("gaussian-field", "none")


@options_class
class MaterialGeneratorConfig:
    """Hyperparameters of :class:`MaterialGenerator` (plain values, so they fit in a JSON card)."""

    noise_channels: int = option(16, "Channels of the standard normal noise on the coarse grid.")
    width: int = option(24, "Channels of the coarse level; halved after each upsampling (at least 6).")
    upsamplings: int = option(2, "Times the grid is doubled (trilinear) between levels of convolutions; 1 to 3.")
    convs_per_level: int = option(2, "3³ convolutions at each resolution level but the finest, which has one.")
    prior: str = option("gaussian-field", "Field added to the logits and fed to the finest level: `gaussian-field` "
                        "(the material's level-cut Gaussian random field: an untrained generator is that "
                        "classical reconstruction) or `none` (noise only).", choices=PRIORS)

    def __post_init__(self):
        check_options(self)
        for name, low, high in (("noise_channels", 1, 256), ("width", 4, 512), ("upsamplings", 1, 3),
                                ("convs_per_level", 1, 4)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"MaterialGeneratorConfig.{name} must be in [{low}, {high}]; got {value}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def scale(self) -> int:
        """Output voxels per noise voxel along each axis."""
        return 2**self.upsamplings

    @property
    def margin(self) -> int:
        """Output side = ``scale · m − margin`` for a noise grid of side ``m``.

        Each valid 3³ convolution takes 2 voxels off a side at its level; each upsampling
        doubles what was taken and drops the 2 voxels that interpolation would extrapolate.
        """
        margin = 2 * self.convs_per_level
        for level in range(1, self.upsamplings + 1):
            margin = 2 * margin + 2 + 2 * self.convs_at(level)
        return margin

    @property
    def uses_prior(self) -> bool:
        """Whether the generator takes a prior field (:attr:`prior` is not ``"none"``)."""
        return self.prior != "none"

    def convs_at(self, level: int) -> int:
        """3³ convolutions at ``level`` (0 = coarse): ``convs_per_level``, one at the finest."""
        return 1 if level == self.upsamplings else self.convs_per_level

    def prior_side(self, side: int) -> int:
        """Side of the prior field a noise grid covering ``side`` output voxels needs (:meth:`MaterialGenerator.prior_shape`)."""
        return self.noise_side(side) * self.scale - self.margin + 2 * self.convs_at(self.upsamplings)

    def noise_side(self, side: int) -> int:
        """The noise side whose output covers ``side`` voxels (the output is then cropped)."""
        return math.ceil((side + self.margin) / self.scale)


def upsample_interior(x: torch.Tensor) -> torch.Tensor:
    """Trilinear doubling of ``(N, C, D, H, W)`` without the outermost output voxel on each side.

    Equal to ``F.interpolate(x, scale_factor=2, mode="trilinear")[..., 1:-1, 1:-1, 1:-1]``: the
    dropped voxels are the ones interpolation extrapolates at the border, so every output
    depends on interior input only (:class:`MaterialGenerator` stays seamless). Computed
    axis by axis as ``0.75 a + 0.25 b`` and ``0.25 a + 0.75 b`` of neighbours ``a, b``,
    several times faster on the CPU than the fused trilinear kernel.
    """
    for dim in (2, 3, 4):
        a, b = x.narrow(dim, 0, x.shape[dim] - 1), x.narrow(dim, 1, x.shape[dim] - 1)
        even, odd = torch.lerp(a, b, 0.25), torch.lerp(a, b, 0.75)
        x = torch.stack((even, odd), dim=dim + 1).flatten(dim, dim + 1)
    return x


class _PixelNorm(nn.Module):
    """Each voxel's feature vector scaled to unit mean square (local: no statistics over space)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MaterialGenerator(nn.Module):
    """Fully convolutional 3-D generator; see the module notes."""

    def __init__(self, config: MaterialGeneratorConfig):
        super().__init__()
        if not isinstance(config, MaterialGeneratorConfig):
            raise TypeError(f"config must be a MaterialGeneratorConfig; got {type(config).__name__}")
        self.config = config
        widths = [max(6, config.width // 2**level) for level in range(config.upsamplings + 1)]
        self.blocks = nn.ModuleList()
        previous = config.noise_channels
        for level, width in enumerate(widths):
            if level == config.upsamplings and config.uses_prior:
                previous += 1  # the prior field, one more channel of the finest level
            layers = []
            for index in range(config.convs_at(level)):
                # The last convolution of a level narrows to the next level's width before the
                # upsampling, so the finer levels carry fewer channels (half the work there).
                last = index == config.convs_at(level) - 1 and level < config.upsamplings
                out = widths[level + 1] if last else width
                layers += [nn.Conv3d(previous, out, 3), nn.LeakyReLU(0.2), _PixelNorm()]
                previous = out
            self.blocks.append(nn.Sequential(*layers))
        self.head = nn.Conv3d(previous, 1, 1)
        if config.uses_prior:  # start as the prior itself: the classical reconstruction
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def scale(self) -> int:
        """Output voxels per noise voxel along each axis."""
        return self.config.scale

    @property
    def margin(self) -> int:
        """Output side = ``scale · m − margin`` for a noise grid of side ``m``."""
        return self.config.margin

    def noise_side(self, side: int) -> int:
        """The noise side whose output covers ``side`` voxels (the output is then cropped)."""
        return self.config.noise_side(side)

    def prior_shape(self, shape) -> tuple[int, ...]:
        """Shape of the prior field for an output of ``shape``, drawn over the noise grid's whole output.

        Prior voxel ``i`` sits under output voxel ``i − c`` (``c`` 3³ convolutions at the finest
        level), so the field reaches ``c`` voxels beyond the output's first corner on each
        axis; :func:`generate_volume` and :meth:`forward` crop it to what they need.
        """
        return tuple(self.config.prior_side(int(side)) for side in shape)

    def forward(self, noise: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(N, 1, D, H, W)`` of noise ``(N, noise_channels, m1, m2, m3)``.

        ``prior`` ``(N, 1, P1, P2, P3)``, required when the config has one, must cover the
        finest level (``Pi`` at least ``Di + 2c``, see :meth:`prior_shape`); only its first
        corner is used.
        """
        if self.config.uses_prior and prior is None:
            raise ValueError(f"this generator adds a {self.config.prior} prior; pass prior=")
        x = noise
        for level, block in enumerate(self.blocks):
            if level:  # trilinear doubling; the outermost voxels, extrapolated at the border, are dropped
                x = upsample_interior(x)
            if level == self.config.upsamplings and self.config.uses_prior:
                if any(have < want for have, want in zip(prior.shape[2:], x.shape[2:])):
                    raise ValueError(f"the prior {tuple(prior.shape[2:])} does not cover the finest level {tuple(x.shape[2:])}")
                x = torch.cat([x, prior[:, :, : x.shape[2], : x.shape[3], : x.shape[4]].to(x.dtype)], dim=1)
            x = block(x)
        logits = self.head(x)
        if self.config.uses_prior:
            c = self.config.convs_at(self.config.upsamplings)
            logits = logits + prior[:, :, c : c + logits.shape[2], c : c + logits.shape[3], c : c + logits.shape[4]]
        return logits

    def logits(self, shape: tuple[int, int, int], noise: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(N, 1, *shape)`` cropped from the output of ``noise`` (which must cover ``shape``)."""
        out = self(noise, prior)
        if any(have < want for have, want in zip(out.shape[2:], shape)):
            raise ValueError(f"noise of shape {tuple(noise.shape[2:])} covers {tuple(out.shape[2:])}, not {shape}")
        return out[:, :, : shape[0], : shape[1], : shape[2]]


def top_k_mask(logits: np.ndarray, porosity: float) -> np.ndarray:
    """Bool array of ``logits``' shape with exactly ``round(porosity · size)`` voxels set: those of highest logit.

    Ties at the threshold go to the lower flat (C-order) index, so the result is deterministic.
    """
    flat = np.ascontiguousarray(logits, dtype=np.float32).reshape(-1)
    k = int(round(porosity * flat.size))
    mask = np.zeros(flat.size, dtype=bool)
    if k == 0:
        return mask.reshape(logits.shape)
    if k >= flat.size:
        mask[:] = True
        return mask.reshape(logits.shape)
    threshold = np.partition(flat, flat.size - k)[flat.size - k]
    above = flat > threshold
    mask[above] = True
    remaining = k - int(above.sum())
    mask[np.flatnonzero(flat == threshold)[:remaining]] = True
    return mask.reshape(logits.shape)


#: Output voxels along the first axis computed per pass by :func:`generate_volume` (bounds memory).
CHUNK_VOXELS = 64


@torch.inference_mode()
def generate_volume(model: MaterialGenerator, shape, porosity: float, *, seed=None,
                    chunk: int = CHUNK_VOXELS, prior: np.ndarray | None = None) -> np.ndarray:
    """A volume of ``shape`` with exactly the requested porosity, generated chunk by chunk.

    The noise of the whole volume is drawn at once (``np.random.default_rng(seed)``); the
    logits are computed in slabs of ``chunk`` output voxels along the first axis, each
    from its own window of the noise (valid convolutions: the same numbers as one pass),
    so memory grows with the slab, not the volume. The top-k of all logits then sets the porosity.

    Parameters
    ----------
    model : MaterialGenerator
    shape : tuple of int
        ``(X, Y, Z)`` in voxels.
    porosity : float
        In (0, 1); the result has exactly ``round(porosity · X·Y·Z)`` pore voxels.
    seed : int, optional
    chunk : int
        Output voxels along the first axis per pass.
    prior : np.ndarray, optional
        Float ``model.prior_shape(shape)``: the prior field, when the model takes one
        (:meth:`MaterialGenerator.prior_shape`); each slab gets its window of it.

    Returns
    -------
    np.ndarray
        Bool ``(X, Y, Z)``, ``True`` = pore.
    """
    shape = tuple(int(side) for side in shape)
    scale, margin = model.scale, model.margin
    if model.config.uses_prior:
        if prior is None or tuple(np.shape(prior)) != model.prior_shape(shape):
            raise ValueError(f"this generator needs a prior field of shape {model.prior_shape(shape)} for {shape}; "
                             f"got {None if prior is None else tuple(np.shape(prior))}")
        prior = np.asarray(prior, dtype=np.float32)
    sides = [model.noise_side(side) for side in shape]
    chunk = max(scale, chunk // scale * scale)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((model.config.noise_channels, *sides), dtype=np.float32)
    device = next(model.parameters()).device
    logits = np.empty(shape, dtype=np.float32)
    for start in range(0, shape[0], chunk):
        stop = min(start + chunk, shape[0])
        first = start // scale
        count = math.ceil((stop - start + margin) / scale)
        window = torch.from_numpy(noise[None, :, first : first + count]).to(device)
        field = None if prior is None else torch.from_numpy(prior[None, None, start:]).to(device)
        out = model(window, field)[0, 0].float().cpu().numpy()
        logits[start:stop] = out[: stop - start, : shape[1], : shape[2]]
    return top_k_mask(logits, porosity)
