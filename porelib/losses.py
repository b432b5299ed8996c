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
      + \lambda_{\text{prior}} \bigl(\lambda_\phi E_\phi(\hat p, x) + \lambda_{S2} E_{S2}(\hat p, x)
      + \lambda_\chi E_\chi(\hat x, x)\bigr)\Bigr]

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
* :math:`E_\chi(\hat x, x)`: :func:`euler_error`, the Euler characteristic (the pore
  count, less tunnels) of :math:`\hat x`, the top-k of the prior sample as generation ships
  it (straight-through, :func:`porelib.models.blocks.relaxed_top_k`), against the real grid's.
"""

from __future__ import annotations

import functools
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F

from porelib._validate import check_number
from porelib.metrics import face_depth_map
from porelib.options import check_options, option, options_class

#: ε of the S2 term: S2 values far below it (nearly empty grids) count as 0.
S2_EPSILON = 1e-6


@options_class
class CVAELossConfig:
    """Weights of :func:`cvae_loss` (see the module docstring for the formula)."""

    beta: float = option(1.0, "Final weight of the KL term (1.0 = evidence lower bound).")
    warmup_epochs: float = option(5.0, "Epochs over which the KL weight grows linearly from 0 to `beta`.")
    free_bits: float = option(0.0, "Nats per latent dimension below which the KL term is not penalised.")
    dice_weight: float = option(0.1, "λ_D: weight of the soft-Dice term of the reconstruction.")
    porosity_weight: float = option(0.01, "λ_φ: weight of the log pore-volume error E_φ.")
    s2_weight: float = option(1.0, "λ_S2: weight of the two-point-correlation error E_S2.")
    prior_weight: float = option(
        1.0,
        "λ_prior: weight of the structural terms on samples from the prior (0 disables them).",
    )
    euler_weight: float = option(
        0.0,
        "λ_χ: weight of the Euler-characteristic error `euler_error` of the prior samples, seen as generation ships"
        " them (the exact top-k, `porelib.models.blocks.relaxed_top_k`); inside the prior term (0 disables it).",
    )
    adversarial_weight: float = option(
        0.0,
        "λ_adv: weight of the hinge loss `−critic(top-k(p̂), d)` of the prior samples (needs a model with a critic,"
        " `CVAEConfig.critic_width > 0`; 0 disables it). The critic learns `max(0, 1 − critic(x)) + max(0, 1 + "
        "critic(top-k(p̂)))`.",
    )
    relax_temperature: float = option(
        1.0,
        "Temperature of the straight-through top-k (`porelib.models.blocks.relaxed_top_k`) through which the critic"
        " and the Euler term see the prior samples.",
    )

    def __post_init__(self):
        check_options(self)
        for name, value in asdict(self).items():
            setattr(self, name, check_number(value, f"CVAELossConfig.{name}", minimum=0.0))
        if self.relax_temperature == 0:
            raise ValueError("CVAELossConfig.relax_temperature must be positive (e.g. 1.0); got 0")

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


def depth_profile(grids: torch.Tensor) -> torch.Tensor:
    """Share of each grid's pore volume at each depth below the nearest face, ``(N, ceil(S / 2))``.

    ``grids`` is ``(N, S, S, S)``, 0/1 or probabilities; depth ``k`` holds the voxels ``k``
    voxels in from the nearest face (:func:`porelib.metrics.face_depth_map`). Each row sums to
    1 (0 for an empty grid). Differentiable.
    """
    size = grids.shape[-1]
    depth = torch.tensor(face_depth_map((size, size, size)), dtype=torch.long, device=grids.device)
    bins = F.one_hot(depth.reshape(-1), num_classes=(size + 1) // 2).to(grids.dtype)
    mass = grids.reshape(len(grids), -1) @ bins
    return mass / (mass.sum(1, keepdim=True) + 1e-6)


def depth_error(probabilities: torch.Tensor, grids: torch.Tensor) -> torch.Tensor:
    """1-D Wasserstein distance, in voxels, between the pore voxels' depths below the faces, per grid ``(N,)``.

    ``Σ_k |P_p(k) − P_x(k)|`` with ``P`` the cumulative :func:`depth_profile`: on 0/1 grids it
    equals the ``face_depth`` distance of :mod:`porelib.metrics` (the Wasserstein of
    :func:`porelib.metrics.face_depths`). It asks the pores of ``probabilities`` to sit as deep
    in the volume as those of ``grids``, which the S2 term cannot see.
    """
    return (depth_profile(probabilities).cumsum(1) - depth_profile(grids).cumsum(1)).abs().sum(1)


def _pair_product(values: torch.Tensor, axis: int) -> torch.Tensor:
    """Products of neighbours along ``axis``: ``values[..., i, ...] * values[..., i + 1, ...]``."""
    length = values.shape[axis]
    return values.narrow(axis, 0, length - 1) * values.narrow(axis, 1, length - 1)


def soft_euler_characteristic(grids: torch.Tensor) -> torch.Tensor:
    r"""Differentiable Euler characteristic of the pore phase (26-connectivity), per grid.

    The pore voxels are closed unit cubes; their union is a cubical complex with
    :math:`\chi = V - E + F - C` (vertices, edges, faces and cubes of the union). A vertex
    belongs to it when one of its 8 voxels is a pore: :math:`1 - \prod_{i \in 8} (1 - x_i)`;
    an edge when one of its 4 voxels is, a face when one of its 2 is, a cube when its
    voxel is. On 0/1 grids this is exactly
    :func:`porelib.metrics.euler_per_voxel` × S³ (pores − tunnels + cavities; the
    number of pores for a grid of separate balls). On probabilities it is the expected
    χ of independent Bernoulli voxels, and since it is linear in each voxel its gradient
    with respect to ``x_i`` is exactly the change of χ when voxel ``i`` turns to pore:
    the signal that splits merged pores or joins stray voxels to one.

    Parameters
    ----------
    grids : Tensor, (N, S, S, S)
        0/1 grids or probabilities (any edge lengths).

    Returns
    -------
    Tensor, (N,)
    """
    pores = F.pad(grids.float(), (1, 1, 1, 1, 1, 1))
    empty = 1 - pores
    faces = [_pair_product(empty, axis) for axis in (1, 2, 3)]
    edges = [_pair_product(faces[0], 2), _pair_product(faces[0], 3), _pair_product(faces[1], 3)]
    vertices = _pair_product(edges[0], 3)

    def present(products):
        return sum((1 - p).flatten(1).sum(1) for p in products)

    return present([vertices]) - present(edges) + present(faces) - pores.flatten(1).sum(1)


def euler_error(grids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pseudo-Huber error ``2 (√(1 + z²) − 1)`` of ``z = (χ_g − χ_x) / (1 + √(Σx) / 10)``, per grid, ``(N,)``.

    ``grids`` (generated: 0/1 through a straight-through top-k, or probabilities) and
    ``targets`` (0/1 dataset grids at the same densities) are ``(N, S, S, S)``; χ is
    :func:`soft_euler_characteristic`. For grids of separate pores χ is the pore count,
    which the S2 term alone leaves free (a few merged pores have nearly the S2 of many);
    where pores touch it also counts the tunnels between them. The scale
    ``1 + √(pore voxels) / 10`` follows the simulator's own grid-to-grid spread of χ (about
    1 at 25 pore voxels, 6 at 7,000), so no density dominates the batch. The error is ``z²``
    for small ``z`` and grows like ``2 |z|`` for large ones: an untrained generator's
    thousands of stray voxels (``z`` in the hundreds) do not swamp the other terms.
    """
    with torch.no_grad():
        target = soft_euler_characteristic(targets)
        scale = 1 + targets.flatten(1).float().sum(1).sqrt() / 10
    z = (soft_euler_characteristic(grids) - target) / scale
    return 2 * (torch.sqrt(1 + z**2) - 1)


#: Structuring elements of :func:`soft_granulometry`: 0 = the 7-voxel cross (a ball of radius 1), r ≥ 1 = the cube
#: ``(2r + 1)³``.
GRANULOMETRY_RADII = (0, 1, 2, 3)


def _cross_erosion(x: torch.Tensor) -> torch.Tensor:
    """Minimum over each voxel and its 6 face neighbours of ``(N, 1, S, S, S)`` (outside counts as pore)."""
    padded = F.pad(x, (1, 1, 1, 1, 1, 1), value=1.0)
    size = x.shape[-3:]
    eroded = x
    for axis in range(3):
        for start in (0, 2):
            index = [slice(1, 1 + n) for n in size]
            index[axis] = slice(start, start + size[axis])
            eroded = torch.minimum(eroded, padded[(..., *index)])
    return eroded


def soft_granulometry(grids: torch.Tensor, radii=GRANULOMETRY_RADII) -> torch.Tensor:
    """Share of the pore voxels that survive a morphological opening, per grid and structuring element.

    The opening (erosion then dilation, by min- and max-pooling) keeps the pore voxels
    that lie in some copy of the structuring element inside the pore space: the 7-voxel
    cross for ``r = 0`` (a ball of radius 1), the cube of side ``2r + 1`` for ``r ≥ 1`` (for
    balls: the pores of radius above about ``r √3``). The curve over ``r`` is the
    volume-weighted pore-size distribution (Matheron's granulometry); specks and thin necks
    vanish at ``r = 0``. On 0/1 grids (e.g. a straight-through top-k) it is exact; its
    gradient, through the pooling's selected voxels, is a subgradient.

    Parameters
    ----------
    grids : Tensor, (N, S, S, S)
        0/1 grids or probabilities.
    radii : sequence of int
        Structuring elements, as in :data:`GRANULOMETRY_RADII`.

    Returns
    -------
    Tensor, (N, len(radii))
        In [0, 1] (0 for an empty grid).
    """
    x = grids.float()[:, None]
    volume = x.flatten(1).sum(1)
    shares = []
    for r in radii:
        if r == 0:
            opened = -_cross_erosion(-_cross_erosion(x))
        else:
            eroded = -F.max_pool3d(-x, 2 * r + 1, stride=1, padding=r)
            opened = F.max_pool3d(eroded, 2 * r + 1, stride=1, padding=r)
        shares.append((opened * x).flatten(1).sum(1) / volume.clamp(min=1.0))
    return torch.stack(shares, dim=1)


def granulometry_error(grids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``mean_r (G_g(r) − G_x(r))²`` per grid, ``(N,)``, of :func:`soft_granulometry` against the target grids."""
    with torch.no_grad():
        target = soft_granulometry(targets)
    return (soft_granulometry(grids) - target).pow(2).mean(1)


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
    prior_grids: torch.Tensor | None = None,
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
    prior_grids : Tensor, (N, S, S, S), optional
        The same prior samples as generation ships them (0/1 through the straight-through
        top-k); needed for the Euler term when ``config.euler_weight > 0``.

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
        if config.euler_weight:
            if prior_grids is None:
                raise ValueError("the Euler term (euler_weight > 0) needs prior_grids, the top-k of the prior samples")
            prior = prior + config.euler_weight * euler_error(prior_grids, targets)
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


# ----------------------------------------------------------------------------- the conditional GAN

#: Adversarial losses of :func:`gan_losses` (``python -m porelib train cgan --loss NAME``).
GAN_LOSSES = ("bce", "bce_mse", "bce_bcelogits", "hinge", "wgan_gp")


@options_class
class GANLossConfig:
    r"""The adversarial loss of the conditional GAN and the weights of its terms.

    With critic outputs :math:`s` (logits, never passed through a sigmoid first),
    :math:`\ell(s, y) = \mathrm{BCEWithLogits}(s, y)` (``softplus(−s)`` for y = 1,
    ``softplus(s)`` for y = 0), real grids :math:`x`, generated grids :math:`\tilde x`
    and means over the batch (see :func:`gan_losses`):

    ``bce`` (Goodfellow et al. 2014, non-saturating generator)
        :math:`L_D = \ell(s_x, 1) + \ell(s_{\tilde x}, 0)`, :math:`L_G = \ell(s_{\tilde x}, 1)`.
    ``bce_mse`` (the seed's BCE + MSE)
        :math:`(1 - w)\,` bce :math:`+ w\,` the squared error of the probability
        :math:`\sigma(s)` against the same labels, :math:`w` = ``mse_weight``.
    ``bce_bcelogits`` (the seed's BCE + BCE-with-logits)
        :math:`(1 - w)\,` bce :math:`+ w\,` a BCE-with-logits term of the critic's
        *density* head :math:`a` against the density :math:`d` (a soft label in [0, 1],
        minus its entropy so that a perfect match scores 0): on real grids for the
        critic, on generated grids for the generator (an auxiliary-classifier GAN);
        :math:`w` = ``density_weight``.
    ``hinge`` (Lim & Ye 2017; Miyato et al. 2018)
        :math:`L_D = \max(0, 1 - s_x) + \max(0, 1 + s_{\tilde x})`, :math:`L_G = -s_{\tilde x}`.
    ``wgan_gp`` (Gulrajani et al. 2017)
        :math:`L_D = s_{\tilde x} - s_x + \lambda_{GP} (\lVert\nabla_{\hat x} s_{\hat x}\rVert - 1)^2
        + \epsilon_{drift} s_x^2` on random interpolates :math:`\hat x`,
        :math:`L_G = -s_{\tilde x}`.

    The generator's loss adds ``s2_weight`` × :func:`s2_error` between each generated
    grid and the real grid of the same density (the structural term of the cVAE), and
    ``euler_weight`` × :func:`euler_error` (the pore count and tunnels) and ``granulometry_weight`` ×
    :func:`granulometry_error` (the volume-weighted pore sizes) between the same pairs.
    """

    loss: str = option("hinge", "The adversarial loss (see the class notes).", choices=GAN_LOSSES)
    mse_weight: float = option(0.4, "w of `bce_mse`, in [0, 1] (the seed used 0.4 and 0.6).")
    density_weight: float = option(0.3, "w of `bce_bcelogits`, in [0, 1] (the seed's second term weighed 0.3).")
    gp_weight: float = option(10.0, "λ_GP of `wgan_gp`.")
    drift_weight: float = option(1e-3, "ε_drift of `wgan_gp`: keeps the critic's scores near 0 (Karras et al. 2018).")
    s2_weight: float = option(10.0, "Weight of the S2 term in the generator's loss (0 disables it).")
    euler_weight: float = option(
        0.0, "Weight of the Euler-characteristic term `porelib.losses.euler_error` in the generator's loss (0 disables it)."
    )
    granulometry_weight: float = option(
        0.0,
        "Weight of the pore-size term `porelib.losses.granulometry_error` in the generator's loss (0 disables it).",
    )
    depth_weight: float = option(
        0.0,
        "Weight of the term `porelib.losses.depth_error` (where the pores sit below the faces) in the generator's "
        "loss (0 disables it).",
    )

    def __post_init__(self):
        check_options(self)
        if self.loss not in GAN_LOSSES:
            raise ValueError(f"GANLossConfig.loss must be one of {', '.join(GAN_LOSSES)}; got {self.loss!r}")
        for name in ("mse_weight", "density_weight"):
            setattr(self, name, check_number(getattr(self, name), f"GANLossConfig.{name}", minimum=0.0, maximum=1.0))
        for name in ("gp_weight", "drift_weight", "s2_weight", "euler_weight", "granulometry_weight", "depth_weight"):
            setattr(self, name, check_number(getattr(self, name), f"GANLossConfig.{name}", minimum=0.0))


def _binary_entropy(p: torch.Tensor) -> torch.Tensor:
    """``−p log p − (1 − p) log(1 − p)`` elementwise (0 at p = 0 and 1)."""
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))


def density_kl(density_logits: torch.Tensor, densities: torch.Tensor) -> torch.Tensor:
    """``BCEWithLogits(a, d) − H(d)`` per grid, ``(N,)``: the KL between Bernoulli(d) and Bernoulli(σ(a)), ≥ 0."""
    d = densities.to(density_logits.dtype)
    return F.binary_cross_entropy_with_logits(density_logits, d, reduction="none") - _binary_entropy(d)


def gan_losses(
    real: torch.Tensor,
    fake: torch.Tensor,
    config: GANLossConfig,
    *,
    real_density_logits: torch.Tensor | None = None,
    fake_density_logits: torch.Tensor | None = None,
    densities: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The critic's and the generator's adversarial losses of :class:`GANLossConfig`.

    The gradient penalty of ``wgan_gp`` is not included (it needs the critic itself;
    see :func:`gradient_penalty`), nor is the generator's S2 term.

    Parameters
    ----------
    real, fake : Tensor, (N,)
        Critic logits (scores) of real and of generated grids. For the generator's loss
        ``fake`` must carry the gradient to the generator; the critic's loss may be
        back-propagated into the critic's parameters only (``backward(inputs=...)``).
    config : GANLossConfig
    real_density_logits, fake_density_logits, densities : Tensor, (N,), optional
        The critic's density head on real and generated grids and the true densities;
        required by ``bce_bcelogits``.

    Returns
    -------
    critic_loss, generator_loss : Tensor, scalar

    Raises
    ------
    ValueError
        If ``bce_bcelogits`` is asked for without the density logits and densities.
    """
    kind = config.loss
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean(), -fake.mean()
    if kind == "wgan_gp":
        critic = fake.mean() - real.mean() + config.drift_weight * (real**2).mean()
        return critic, -fake.mean()
    critic = F.softplus(-real).mean() + F.softplus(fake).mean()
    generator = F.softplus(-fake).mean()
    if kind == "bce_mse":
        w = config.mse_weight
        p_real, p_fake = torch.sigmoid(real), torch.sigmoid(fake)
        critic = (1 - w) * critic + w * (((1 - p_real) ** 2).mean() + (p_fake**2).mean())
        generator = (1 - w) * generator + w * ((1 - p_fake) ** 2).mean()
    elif kind == "bce_bcelogits":
        if real_density_logits is None or fake_density_logits is None or densities is None:
            raise ValueError("the bce_bcelogits loss needs real_density_logits, fake_density_logits and densities")
        w = config.density_weight
        critic = (1 - w) * critic + w * density_kl(real_density_logits, densities).mean()
        generator = (1 - w) * generator + w * density_kl(fake_density_logits, densities).mean()
    return critic, generator


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, densities: torch.Tensor, *, generator=None) -> torch.Tensor:
    """WGAN-GP's ``mean((‖∇ critic(x̂, d)‖₂ − 1)²)`` on interpolates ``x̂ = ε x + (1 − ε) x̃``.

    Parameters
    ----------
    critic : callable
        ``critic(grids, densities) -> (scores, ...)`` or ``-> scores``, scores ``(N,)``.
    real, fake : Tensor, (N, S, S, S)
        Real and generated grids (``fake`` is detached here).
    densities : Tensor, (N,)
    generator : torch.Generator, optional
        For ε ~ U(0, 1), one per grid.

    Returns
    -------
    Tensor, scalar
        Differentiable with respect to the critic's parameters (``create_graph=True``).
    """
    eps = torch.rand((len(real),) + (1,) * (real.ndim - 1), generator=generator).to(real.device, real.dtype)
    mixed = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(mixed, densities)
    scores = scores[0] if isinstance(scores, tuple) else scores
    (gradient,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((gradient.flatten(1).norm(dim=1) - 1) ** 2).mean()


__all__ = [
    "CVAELossConfig",
    "GANLossConfig",
    "GAN_LOSSES",
    "cvae_loss",
    "density_kl",
    "depth_error",
    "depth_profile",
    "gan_losses",
    "gradient_penalty",
    "kl_per_dimension",
    "log_volume_error",
    "s2_error",
    "soft_dice",
    "soft_two_point_correlation",
    "structure_error",
]
