r"""Loss functions for sparse pore grids, and the loss of the conditional VAE.

The cVAE loss (:func:`cvae_loss`) for a batch of grids :math:`x` (``(N, S, S, S)``,
0/1) at densities :math:`d`, decoder probabilities :math:`p = \sigma(\text{logits})`
of the reconstruction, posterior :math:`q(z \mid x, d) = \mathcal N(\mu, \sigma^2)`
with :math:`J` latent dimensions, and :math:`V = S^3` voxels, averaged over the batch:

.. math::

    L = \underbrace{\tfrac1V \textstyle\sum_v \mathrm{BCE}(p_v, x_v)}_{\text{likelihood}}
      + \lambda_D \bigl(1 - \mathrm{Dice}(p, x)\bigr)
      + \lambda_\phi\, E_\phi(p, x) + \lambda_{S2}\, E_{S2}(p, x)
      + w(t) \Bigl[\beta\, \tfrac1V \textstyle\sum_j \max\bigl(\mathrm{KL}_j, \tau\bigr)
      + \lambda_{\text{prior}} \bigl(\lambda_\phi E_\phi(\hat p, x) + \lambda_{S2} E_{S2}(\hat p, x)\bigr)\Bigr]

* :math:`\mathrm{Dice}(p, x) = (2 \sum p x + 1) / (\sum p + \sum x + 1)`, the soft
  Dice coefficient, which does not fade when a grid is 0.01 % pores.
* :math:`E_\phi(p, x) = \bigl(\log(1 + \sum p) - \log(1 + \sum x)\bigr)^2`: the pore
  volume, compared on a log scale so that 10 and 10,000 voxels weigh alike.
* :math:`E_{S2}(p, x) = \operatorname{mean}_r \Bigl(\dfrac{S_2^p(r) - S_2^x(r)}{S_2^p(0) + S_2^x(0) + \epsilon}\Bigr)^2`
  over r = 0 … S/2, with :math:`S_2` the non-periodic two-point correlation of
  :func:`porelib.metrics.two_point_correlation` computed differentiably on the
  probabilities (:func:`soft_two_point_correlation`) and :math:`\epsilon = 10^{-6}`.
  Dividing by the porosities makes it scale-free (a grid of 0.1 % pores weighs like one
  of 30 %) and bounded by about 1 (nearly empty grids cannot dominate), and it weighs
  the short range, where pore sizes show, above the noisy tail.
  On soft outputs :math:`S_2^p(0) = \overline{p^2}` equals the porosity only if
  :math:`p` is 0/1, so this term also asks for sharp probabilities.
* :math:`\mathrm{KL}_j = \tfrac12(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2)`, with
  free bits :math:`\tau` (0 by default); :math:`\beta = 1` is the evidence lower bound.
* :math:`w(t) = \min(1, t / t_\text{warm-up})` grows linearly over the first epochs:
  the network first learns to reconstruct, then the KL term and the prior term pull the
  posterior towards the prior and make the decoder work from prior samples.
* :math:`\hat p = \sigma(\text{decoder}(\hat z, d))` with :math:`\hat z \sim \mathcal N(0, I)`:
  a sample *from the prior* at the same densities, held to the porosity and S2 of the
  real grids. This is what makes prior samples, not only reconstructions, look
  like the dataset.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from porelib._validate import check_number

#: ε of the S2 term: S2 values far below it (nearly empty grids) count as 0.
S2_EPSILON = 1e-6


@dataclass
class CVAELossConfig:
    """Weights of :func:`cvae_loss` (see the module docstring for the formula).

    Attributes
    ----------
    beta : float
        Final weight of the KL term (1.0 = evidence lower bound).
    warmup_epochs : float
        Epochs over which the KL weight grows linearly from 0 to ``beta``.
    free_bits : float
        Nats per latent dimension below which the KL term is not penalised.
    dice_weight, porosity_weight, s2_weight : float
        λ_D, λ_φ, λ_S2.
    prior_weight : float
        λ_prior: weight of the structural terms on samples from the prior (0 disables them).
    """

    beta: float = 1.0
    warmup_epochs: float = 5.0
    free_bits: float = 0.0
    dice_weight: float = 0.1
    porosity_weight: float = 0.01
    s2_weight: float = 1.0
    prior_weight: float = 1.0

    def __post_init__(self):
        for name, value in asdict(self).items():
            setattr(self, name, check_number(value, f"CVAELossConfig.{name}", minimum=0.0))

    def warmup(self, epoch: float) -> float:
        """The warm-up factor w(t) in [0, 1] at (fractional) epoch ``epoch``."""
        return 1.0 if self.warmup_epochs == 0 else min(1.0, epoch / self.warmup_epochs)


def soft_dice(probabilities: torch.Tensor, targets: torch.Tensor, *, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice coefficient per grid, ``(2 Σ p x + smooth) / (Σ p + Σ x + smooth)``; ``(N,)``."""
    p = probabilities.reshape(probabilities.shape[0], -1)
    x = targets.reshape(targets.shape[0], -1).to(p.dtype)
    return (2 * (p * x).sum(1) + smooth) / (p.sum(1) + x.sum(1) + smooth)


def log_volume_error(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``(log(1 + Σ p) − log(1 + Σ x))²`` per grid, ``(N,)``: pore volume on a log scale."""
    p = probabilities.reshape(probabilities.shape[0], -1).sum(1)
    x = targets.reshape(targets.shape[0], -1).to(p.dtype).sum(1)
    return (torch.log1p(p) - torch.log1p(x)) ** 2


@functools.lru_cache(maxsize=8)
def _shell_matrix(r_max: int, device: str) -> torch.Tensor:
    """``(L, r_max + 1)`` averaging matrix from the lags of ``[-r_max, r_max]³`` (FFT order) to shells."""
    lags = np.r_[0 : r_max + 1, -r_max:0].astype(np.int64) ** 2
    squared = lags[:, None, None] + lags[None, :, None] + lags[None, None, :]
    shells = np.rint(np.sqrt(squared)).astype(np.int64).ravel()
    inside = np.flatnonzero(shells <= r_max)
    counts = np.bincount(shells[inside], minlength=r_max + 1).astype(np.float32)
    matrix = torch.zeros(shells.size, r_max + 1)
    matrix[torch.from_numpy(inside), torch.from_numpy(shells[inside])] = torch.from_numpy(1.0 / counts[shells[inside]])
    return matrix.to_sparse().to(device)


def soft_two_point_correlation(grids: torch.Tensor, *, r_max: int | None = None) -> torch.Tensor:
    """Differentiable two-point correlation S2(r) of grids or probabilities.

    The definition of :func:`porelib.metrics.two_point_correlation`: non-periodic
    (zero-padded FFT autocorrelation divided by the number of voxel pairs of each lag),
    averaged over the shells ``round(|lag|) = r``. On 0/1 grids the values agree with
    it to float32 precision.

    Parameters
    ----------
    grids : Tensor, (N, S, S, S)
        0/1 grids or probabilities.
    r_max : int, optional
        Largest distance in voxels (default ``S // 2``).

    Returns
    -------
    Tensor, (N, r_max + 1)
    """
    n, size = grids.shape[0], grids.shape[-1]
    r_max = size // 2 if r_max is None else r_max
    padded = size + r_max
    x = grids.float()
    spectrum = torch.fft.rfftn(x, s=(padded,) * 3, dim=(1, 2, 3))
    autocorrelation = torch.fft.irfftn(spectrum.real**2 + spectrum.imag**2, s=(padded,) * 3, dim=(1, 2, 3))
    lags = torch.as_tensor(np.r_[0 : r_max + 1, -r_max:0] % padded, device=x.device)
    block = autocorrelation[:, lags][:, :, lags][:, :, :, lags]
    pairs = (size - torch.as_tensor(np.abs(np.r_[0 : r_max + 1, -r_max:0]), dtype=x.dtype, device=x.device))
    block = block / (pairs[:, None, None] * pairs[None, :, None] * pairs[None, None, :])
    matrix = _shell_matrix(r_max, str(x.device))
    return torch.sparse.mm(matrix.t(), block.reshape(n, -1).t()).t()


def s2_error(probabilities: torch.Tensor, target_s2: torch.Tensor) -> torch.Tensor:
    """``mean_r ((S2_p(r) − S2_x(r)) / (S2_p(0) + S2_x(0) + ε))²`` per grid, ``(N,)``; about [0, 1].

    ``target_s2`` is :func:`soft_two_point_correlation` of the target grids, ``(N, S // 2 + 1)``;
    see the module docstring.
    """
    s2_p = soft_two_point_correlation(probabilities).clamp(min=0)
    s2_x = target_s2.clamp(min=0)
    scale = s2_p[:, :1] + s2_x[:, :1] + S2_EPSILON
    return (((s2_p - s2_x) / scale) ** 2).mean(1)


def kl_per_dimension(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) ‖ N(0, 1)) of every latent dimension, same shape as ``mean``."""
    return 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar)


def structure_error(
    probabilities: torch.Tensor, targets: torch.Tensor, target_s2: torch.Tensor | None, config: CVAELossConfig
) -> torch.Tensor:
    """``λ_φ E_φ + λ_S2 E_S2`` per grid, ``(N,)``; ``target_s2`` may be ``None`` when ``λ_S2 = 0``."""
    error = config.porosity_weight * log_volume_error(probabilities, targets)
    if config.s2_weight:
        error = error + config.s2_weight * s2_error(probabilities, target_s2)
    return error


def cvae_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mean: torch.Tensor,
    logvar: torch.Tensor,
    config: CVAELossConfig,
    *,
    warmup: float = 1.0,
    prior_logits: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The cVAE loss of the module docstring, averaged over the batch.

    Parameters
    ----------
    logits : Tensor, (N, S, S, S)
        Decoder logits of the reconstruction.
    targets : Tensor, (N, S, S, S)
        The input grids, 0/1.
    mean, logvar : Tensor, (N, C, L, L, L)
        Posterior parameters.
    config : CVAELossConfig
    warmup : float
        w(t) for this step (:meth:`CVAELossConfig.warmup`); 1 gives the full loss.
    prior_logits : Tensor, (N, S, S, S), optional
        Decoder logits of prior samples at the same densities; the prior term is
        skipped when ``None`` or ``config.prior_weight == 0``.

    Returns
    -------
    loss : Tensor, scalar
    parts : dict of float
        ``bce``, ``dice``, ``s2``, ``porosity``, ``kl`` (nats per grid), ``prior``, ``loss``.
    """
    targets = targets.to(logits.dtype)
    voxels = targets[0].numel()
    probabilities = torch.sigmoid(logits)
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten(1).mean(1)
    dice = soft_dice(probabilities, targets)
    kl = kl_per_dimension(mean.float(), logvar.float()).flatten(1)
    kl_penalised = kl.clamp(min=config.free_bits) if config.free_bits else kl
    with torch.no_grad():
        target_s2 = soft_two_point_correlation(targets) if config.s2_weight else None
    structure = structure_error(probabilities, targets, target_s2, config)
    loss = bce + config.dice_weight * (1 - dice) + structure + warmup * config.beta * kl_penalised.sum(1) / voxels
    prior = torch.zeros_like(bce)
    if prior_logits is not None and config.prior_weight:
        prior = structure_error(torch.sigmoid(prior_logits), targets, target_s2, config)
        loss = loss + warmup * config.prior_weight * prior
    loss = loss.mean()
    parts = {
        "loss": loss.item(),
        "bce": bce.mean().item(),
        "dice": dice.mean().item(),
        "structure": structure.mean().item(),
        "kl": kl.sum(1).mean().item(),
        "prior": prior.mean().item(),
    }
    return loss, parts


__all__ = [
    "CVAELossConfig",
    "cvae_loss",
    "kl_per_dimension",
    "log_volume_error",
    "s2_error",
    "soft_dice",
    "soft_two_point_correlation",
    "structure_error",
]
