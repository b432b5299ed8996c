"""Building blocks shared by the grid models (:mod:`~porelib.models.cvae`, :mod:`~porelib.models.cgan`,
:mod:`~porelib.models.img2vox`).

* :class:`FiLM`, :class:`NormAct`, :class:`ResBlock`: density-modulated residual blocks.
* :func:`space_to_depth`, :func:`depth_to_space`: folding ``(N, C, S, S, S)`` grids into
  2×2×2 blocks and back, so that convolutions run at half resolution.
* :func:`keep_top_k`: the exact porosity control of generation (the ``k`` highest voxels);
  :func:`relaxed_top_k`: the same in a forward pass, with a soft threshold's gradient.
* :class:`Critic`: the spectrally normalised projection critic of adversarial training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

#: Negative slope of the critic's LeakyReLU.
LEAKY_SLOPE = 0.2


def half_size(size: int) -> int:
    """``ceil(size / 2)``: the edge length after :func:`space_to_depth`."""
    return (size + 1) // 2


class Conv3d(nn.Conv3d):
    """:class:`torch.nn.Conv3d` that runs on oneDNN for inference on the CPU, whatever the batch size.

    PyTorch sends a float32 CPU convolution to oneDNN only for batches of more than one or
    large inputs; one 15³ grid of 32 channels falls back to ``slow_conv3d``, about 5× slower
    (5.3 against 1.1 ms for a 32→32 3³ convolution on one thread, timed ad hoc). Generating one grid at a
    time is what the Generate page and ``generate --n 1`` do, so without gradients (and only
    then: training keeps PyTorch's path) this calls ``torch.mkldnn_convolution`` directly.
    The weights and the state-dict keys are those of :class:`torch.nn.Conv3d`; results agree
    to float32 rounding.
    """

    def _conv_forward(self, input, weight, bias):
        if (
            torch.is_grad_enabled()
            or input.device.type != "cpu"
            or input.dtype != torch.float32
            or self.padding_mode != "zeros"
            or isinstance(self.padding, str)
            or not torch.backends.mkldnn.is_available()
            or not torch.backends.mkldnn.enabled
        ):
            return super()._conv_forward(input, weight, bias)
        return torch.mkldnn_convolution(input.contiguous(), weight.contiguous(), bias, self.padding, self.stride,
                                        self.dilation, self.groups)  # fmt: skip


class FiLM(nn.Module):
    """Per-channel affine modulation ``h * (1 + scale(d)) + shift(d)`` by the density."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, 2 * channels))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, h: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
        scale, shift = self.mlp(density[:, None]).chunk(2, dim=1)
        return h * (1 + scale[:, :, None, None, None]) + shift[:, :, None, None, None]


class NormAct(nn.Sequential):
    """GroupNorm then SiLU: what precedes every convolution after the first."""

    def __init__(self, channels: int, groups: int):
        super().__init__(nn.GroupNorm(groups, channels), nn.SiLU())


class ResBlock(nn.Module):
    """``h + conv(act(FiLM(conv(act(norm(h))))))``; the last convolution starts at zero."""

    def __init__(self, channels: int, film_hidden: int, groups: int):
        super().__init__()
        self.pre = NormAct(channels, groups)
        self.conv1 = Conv3d(channels, channels, 3, padding=1)
        self.film = FiLM(channels, film_hidden)
        self.conv2 = Conv3d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, h: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
        inner = self.film(self.conv1(self.pre(h)), density)
        return h + self.conv2(F.silu(inner))


def space_to_depth(volumes: torch.Tensor) -> torch.Tensor:
    """Fold ``(N, C, S, S, S)`` into 2×2×2 blocks ``(N, 8 C, H, H, H)``, ``H = ceil(S / 2)``.

    An odd S is padded with one empty voxel at the high end of each axis.
    """
    n, c, size = volumes.shape[:3]
    pad = 2 * half_size(size) - size
    if pad:
        volumes = F.pad(volumes, (0, pad, 0, pad, 0, pad))
    h = half_size(size)
    blocks = volumes.reshape(n, c, h, 2, h, 2, h, 2).permute(0, 1, 3, 5, 7, 2, 4, 6)
    return blocks.reshape(n, 8 * c, h, h, h)


def depth_to_space(blocks: torch.Tensor, size: int) -> torch.Tensor:
    """Inverse of :func:`space_to_depth`: ``(N, 8 C, H, H, H)`` to ``(N, C, S, S, S)`` (cropped to S)."""
    n, c8, h = blocks.shape[:3]
    c = c8 // 8
    volumes = blocks.reshape(n, c, 2, 2, 2, h, h, h).permute(0, 1, 5, 2, 6, 3, 7, 4).reshape(n, c, 2 * h, 2 * h, 2 * h)
    return volumes[:, :, :size, :size, :size]


def keep_top_k(scores: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Keep the ``counts[i]`` highest-scoring voxels of each grid.

    Ties are broken deterministically in favour of the lower flat (C-order) index.

    Parameters
    ----------
    scores : Tensor, (N, S, S, S)
    counts : Tensor of int, (N,)
        Voxels to keep per grid, clipped to [0, S³].

    Returns
    -------
    Tensor of bool, (N, S, S, S)
    """
    flat = scores.detach().reshape(scores.shape[0], -1).float()
    counts = counts.reshape(-1).clamp(0, flat.shape[1]).to(flat.device)
    if not bool(torch.isfinite(flat).all()):  # the full stable sort: NaN last, as before
        order = torch.argsort(-flat, dim=1, stable=True)
        ranks = torch.empty_like(order)
        ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
        return (ranks < counts[:, None]).reshape(scores.shape)
    # The k-th largest value as a threshold (linear time): every voxel above it, then the
    # lowest-index voxels equal to it until k are kept. The same set as the stable sort, 20x faster.
    kept = torch.zeros_like(flat, dtype=torch.bool)
    voxels = flat.shape[1]
    for row, (values, k) in enumerate(zip(flat, counts.tolist())):
        if k >= voxels:
            kept[row] = True
        elif k > 0:
            threshold = torch.kthvalue(values, voxels - k + 1).values
            above, tied = values > threshold, values == threshold
            kept[row] = above | (tied & (torch.cumsum(tied, 0) <= k - int(above.sum())))
    return kept.reshape(scores.shape)


def piecewise_linear(values: torch.Tensor, knots, densities: torch.Tensor) -> torch.Tensor:
    """``(N,)``: ``values`` (one per knot) linear in the density between the ``knots``, constant outside.

    Parameters
    ----------
    values : Tensor, (K,)
    knots : sequence of float, (K,), increasing, K ≥ 2
    densities : Tensor, (N,)
    """
    knots = torch.as_tensor(knots, dtype=densities.dtype, device=densities.device)
    values = values.to(densities.dtype)
    d = densities.clamp(knots[0], knots[-1])
    right = torch.searchsorted(knots, d).clamp(1, len(knots) - 1)
    left = right - 1
    weight = (d - knots[left]) / (knots[right] - knots[left])
    return values[left] + weight * (values[right] - values[left])


#: Densities at which a generator's smoothing width is set (linear in between, constant outside).
SMOOTHING_KNOTS = (0.2, 0.35, 0.5, 0.65, 0.8, 0.95)
#: Largest smoothing width :func:`smooth` accepts, in voxels.
MAX_SMOOTHING = 4.0


def smoothing_widths(smoothing: torch.Tensor, densities: torch.Tensor, knots=SMOOTHING_KNOTS) -> torch.Tensor:
    """σ(d), ``(N,)`` voxels: a generator's ``smoothing`` ``(K,)`` at ``knots`` (default :data:`SMOOTHING_KNOTS`),
    linear in between, constant outside, never negative."""
    return piecewise_linear(smoothing, knots, densities.float()).clamp(min=0.0)


def smooth(scores: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Gaussian smoothing of each grid with its own width: rounder top-k shapes.

    Separable 3-D Gaussian of standard deviation ``sigmas[i]`` voxels on grid ``i``
    (truncated at 3σ, edges replicated); a width of 0 leaves the grid exactly as it is.
    Generators smooth their logits before :func:`keep_top_k`, so the pore count stays exact.

    Parameters
    ----------
    scores : Tensor, (N, S, S, S)
    sigmas : Tensor, (N,)
        Widths in voxels, in [0, :data:`MAX_SMOOTHING`].

    Returns
    -------
    Tensor, (N, S, S, S)
    """
    if sigmas.shape != (scores.shape[0],):
        raise ValueError(f"sigmas must have shape ({scores.shape[0]},); got {tuple(sigmas.shape)}")
    sigmas = sigmas.to(device=scores.device, dtype=torch.float32)
    if not bool(((sigmas >= 0) & (sigmas <= MAX_SMOOTHING)).all()):
        raise ValueError(f"smoothing widths must be in [0, {MAX_SMOOTHING}] voxels; got {sigmas.tolist()}")
    if not bool((sigmas > 0).any()):
        return scores
    radius = int(torch.ceil(3 * sigmas.max()))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=scores.device)
    width = sigmas.clamp(min=1e-6)[:, None]
    kernels = torch.exp(-0.5 * (offsets[None, :] / width) ** 2)
    kernels = torch.where(sigmas[:, None] > 0, kernels, (offsets[None, :] == 0).float())
    kernels = kernels / kernels.sum(dim=1, keepdim=True)
    n = scores.shape[0]
    h = scores.float()[None]  # (1, N, S, S, S): one channel per grid, each with its own kernel
    for axis in range(3):
        shape = [n, 1, 1, 1, 1]
        shape[2 + axis] = 2 * radius + 1
        padding = [0] * 6
        padding[2 * (2 - axis)] = padding[2 * (2 - axis) + 1] = radius
        h = F.conv3d(F.pad(h, padding, mode="replicate"), kernels.reshape(shape), groups=n)
    return h[0].to(scores.dtype)


def relaxed_top_k(logits: torch.Tensor, counts: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Straight-through top-k: exact binary grids forward, a soft threshold's gradient backward.

    Forward: the voxels whose logit exceeds ``t``, the midpoint between the k-th and the
    (k+1)-th largest logit of each grid: the top k voxels, as :func:`keep_top_k` keeps
    them, unless those two logits tie. Backward: the gradient of
    ``σ((logits − t) / (T σ_l))`` (``t`` and the grid's standard deviation of logits
    ``σ_l`` detached, ``T = temperature``), so the gradient reaches the voxels within a
    few σ_l of the threshold whatever the scale of the logits.

    Parameters
    ----------
    logits : Tensor, (N, S, S, S)
    counts : Tensor of int, (N,)
        Voxels to keep per grid.
    temperature : float
        T, in standard deviations of a grid's logits (positive).

    Returns
    -------
    Tensor, (N, S, S, S), float, values 0/1
    """
    counts = counts.reshape(-1).to(logits.device)
    flat = logits.reshape(len(logits), -1)
    ordered = torch.sort(flat.detach(), dim=1, descending=True).values
    index = counts.clamp(1, flat.shape[1] - 1)[:, None]
    threshold = 0.5 * (ordered.gather(1, index - 1) + ordered.gather(1, index))
    scale = temperature * flat.detach().std(dim=1, keepdim=True).clamp(min=1e-6)
    soft = torch.sigmoid((flat - threshold) / scale)
    hard = ((flat > threshold) & (counts[:, None] > 0)) | (counts[:, None] >= flat.shape[1])
    hard = hard.to(soft.dtype)
    return (hard + soft - soft.detach()).reshape(logits.shape)


class Critic(nn.Module):
    """Spectrally normalised projection critic; returns ``(logit, density_logit)``, each ``(N,)``."""

    def __init__(self, width: int, film_hidden: int):
        super().__init__()
        c = width

        def conv(cin: int, cout: int, stride: int = 1) -> nn.Module:
            return spectral_norm(Conv3d(cin, cout, 3, stride=stride, padding=1))

        self.features = nn.Sequential(
            conv(8, c), nn.LeakyReLU(LEAKY_SLOPE),
            conv(c, 2 * c, stride=2), nn.LeakyReLU(LEAKY_SLOPE),
            conv(2 * c, 2 * c), nn.LeakyReLU(LEAKY_SLOPE),
            conv(2 * c, 4 * c, stride=2), nn.LeakyReLU(LEAKY_SLOPE),
        )
        self.head = spectral_norm(nn.Linear(4 * c, 1))
        self.density_head = spectral_norm(nn.Linear(4 * c, 1))
        self.embed = nn.Sequential(
            nn.Linear(1, film_hidden), nn.SiLU(), spectral_norm(nn.Linear(film_hidden, 4 * c))
        )

    def forward(self, grids: torch.Tensor, densities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(space_to_depth(grids[:, None].to(self.head.bias.dtype))).sum(dim=(2, 3, 4))
        projection = (self.embed(densities.to(h.dtype)[:, None]) * h).sum(1)
        return self.head(h)[:, 0] + projection, self.density_head(h)[:, 0]


__all__ = [
    "Critic", "FiLM", "NormAct", "ResBlock", "depth_to_space", "half_size", "keep_top_k", "relaxed_top_k",
    "space_to_depth",
]
