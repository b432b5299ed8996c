"""Training task of the conditional GAN (:mod:`porelib.models.cgan`) on the pore-grid dataset.

``python -m porelib train cgan --loss {bce,bce_mse,bce_bcelogits,hinge,wgan_gp} --out DIR ...``
trains it through :func:`porelib.training.fit` with two optimisers (the engine's
parameter groups): ``critic`` and ``generator``, each AdamW with the run's ``--lr`` and
the betas of :class:`GANScheduleConfig`. The losses are :func:`porelib.losses.gan_losses`
(+ :func:`porelib.losses.gradient_penalty` for ``wgan_gp``) and, for the generator, the
S2 term :func:`porelib.losses.s2_error` against the real grid of the same density.

Every batch: real grids of the ``train`` split (each under a random one of the 48
symmetries of the cube) and as many generated grids at the same densities, shown to the
critic as exact top-k binary grids (:meth:`porelib.models.cgan.CGAN.relaxed_top_k`). The
critic steps on every batch, the generator on every ``critic_steps``-th; before each
generator step the generator's moving average (``--average-decay``, off by default) takes in
the weights of the step before (:meth:`porelib.models.cgan.CGAN.update_average`).

Held-out metrics (validation split only, fixed noise, so epochs are comparable):

* ``fidelity`` (picks the best checkpoint): the benchmark's fidelity ratios of
  :data:`FIDELITY_SAMPLES` generated grids per validation grid at its density, at matched
  densities (:class:`porelib.metrics.PairedReference`, the validation grids of each
  smoothing knot's band against their nearest-density training grids), as
  :func:`porelib.tasks.smoothing.selection_score` (``Σ log²(ratio)``, 0 = like the dataset)
  averaged over the bands; ``fidelity_worst``: the largest of those ratios;
* ``mismatch``: mean over validation grids of :func:`porelib.metrics.sample_mismatch`
  between a generated grid at the grid's density and the grid (S2, pore count, mean pore
  radius; 0 = alike; the checkpoint's choice before ``fidelity``);
* ``s2``, ``euler``, ``granulometry``: mean :func:`porelib.losses.s2_error`,
  :func:`porelib.losses.euler_error` and :func:`porelib.losses.granulometry_error` of those pairs;
* ``critic_loss``, ``generator_loss`` (adversarial parts, no gradient penalty),
  ``real_score``, ``fake_score``: the critic on validation grids and generated grids;
* ``pairwise_iou_ratio``: :func:`mean_pairwise_iou` of :data:`DIVERSITY_SAMPLES`
  generated grids at :data:`DIVERSITY_DENSITY`, divided by that of as many simulator
  grids at that density (seeds the dataset never used); ≫ 1 means mode collapse.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from porelib._validate import check_number, check_positive_int
from porelib.augment import random_cube_symmetry
from porelib.data import load_dataset
from porelib.losses import (
    GANLossConfig,
    depth_error,
    euler_error,
    gan_losses,
    granulometry_error,
    gradient_penalty,
    s2_error,
    soft_two_point_correlation,
)
from porelib.metrics import mean_pairwise_iou, sample_mismatch
from porelib.models.cgan import CGAN, CGANConfig
from porelib.options import check_options, option, options_class
from porelib.synth import pore_grids
from porelib.tasks.smoothing import STATISTICS, band_references, choose_smoothing, knot_bands, selection_score
from porelib.training import Progress, Task, batch_to

#: Density and number of generated grids of the held-out mode-collapse check.
DIVERSITY_DENSITY = 0.8
DIVERSITY_SAMPLES = 8
#: Seed of the simulator grids the diversity is compared with (the dataset used seed 0).
DIVERSITY_SEED = 40_000
#: Seed of the fixed noise of the held-out metrics.
EVAL_SEED = 1234
#: Generated grids per validation grid behind the ``fidelity`` metric, and the seed of their noise.
FIDELITY_SAMPLES = 4
FIDELITY_SEED = 2468


@options_class
class GANScheduleConfig:
    """How the two optimisers of the GAN step."""

    critic_steps: int = option(1, "Critic steps per generator step (`n_critic`; 5 in the WGAN-GP paper).")
    beta1: float = option(0.0, "Adam β1 of both optimisers (0.0 as in SNGAN and WGAN-GP).")
    beta2: float = option(0.9, "Adam β2 of both optimisers (0.9 as in SNGAN and WGAN-GP).")

    def __post_init__(self):
        check_options(self)
        self.critic_steps = check_positive_int(self.critic_steps, "GANScheduleConfig.critic_steps", maximum=100)
        for name in ("beta1", "beta2"):
            value = check_number(getattr(self, name), f"GANScheduleConfig.{name}", minimum=0.0, maximum=1.0)
            if value == 1.0:
                raise ValueError(f"GANScheduleConfig.{name} must be below 1 (e.g. 0.9); got 1.0")
            setattr(self, name, value)


def _tensors(split) -> TensorDataset:
    return TensorDataset(torch.from_numpy(split.grids.astype(np.uint8)), torch.from_numpy(split.densities.astype(np.float32)))


class CGANTask(Task):
    """The conditional GAN of :mod:`porelib.models.cgan`; see the module docstring."""

    name = "cgan"
    option_classes = {"model": CGANConfig, "loss": GANLossConfig, "gan": GANScheduleConfig}
    derived_options = {"model": ("size",)}
    monitor = "fidelity"
    monitor_mode = "min"

    def __init__(self, options: dict | None = None, *, data=None, limit: int | None = None):
        super().__init__(options, data=data, limit=limit)
        dataset = load_dataset(data)
        self.dataset = dataset
        self.train_split = dataset.split("train")
        if limit is not None:
            self.train_split = self.train_split.subset(slice(0, check_positive_int(limit, "limit")))
        self.val_split = dataset.split("val")
        if len(self.train_split) == 0 or len(self.val_split) == 0:
            raise ValueError(f"the dataset at {dataset.source} needs grids in both the train and the val split")
        self.model_config = CGANConfig(size=dataset.size, **self.options.get("model", {}))
        self.loss_config = GANLossConfig(**self.options.get("loss", {}))
        self.schedule = GANScheduleConfig(**self.options.get("gan", {}))
        # Validate the model config now (before anything is written), not in build_model.
        CGAN(self.model_config)
        self._reference_iou = None
        self._bands = None

    def resolved_options(self) -> dict:
        return {"model": self.model_config.to_dict(), "loss": asdict(self.loss_config), "gan": asdict(self.schedule)}

    def build_model(self) -> torch.nn.Module:
        return CGAN(self.model_config)

    def datasets(self) -> tuple[Dataset, Dataset]:
        return _tensors(self.train_split), _tensors(self.val_split)

    def data_card(self) -> dict:
        return self.dataset.card(train=len(self.train_split), val=len(self.val_split), limit=self.limit)

    def parameter_groups(self, model) -> dict[str, dict]:
        model = getattr(model, "module", model)
        betas = (self.schedule.beta1, self.schedule.beta2)
        return {
            "critic": {"params": list(model.critic.parameters()), "betas": betas},
            "generator": {"params": list(model.generator.parameters()), "betas": betas},
        }

    def _adversarial(self, model: CGAN, grids, fake, densities):
        """Critic outputs on ``[grids, fake]`` in one pass, and the adversarial losses."""
        scores, density_logits = model.criticize(torch.cat([grids, fake]), torch.cat([densities, densities]))
        real_score, fake_score = scores.chunk(2)
        real_density, fake_density = density_logits.chunk(2)
        critic, generator = gan_losses(
            real_score, fake_score, self.loss_config,
            real_density_logits=real_density, fake_density_logits=fake_density, densities=densities,
        )
        return critic, generator, real_score, fake_score

    def training_step(self, model, batch, progress: Progress):
        model = getattr(model, "module", model)
        grids, densities = batch
        grids = random_cube_symmetry(grids.cpu()).to(densities.device).float()
        noise = torch.randn((len(grids), *model.noise_shape), device=densities.device)
        generator_step = progress.step % self.schedule.critic_steps == 0
        if generator_step:  # the weights of the previous generator step join the average
            model.update_average(progress.step // self.schedule.critic_steps)
        with torch.set_grad_enabled(generator_step):
            fake = model.relaxed_top_k(model.generate_logits(noise, densities), densities)
        critic, generator, real_score, fake_score = self._adversarial(model, grids, fake, densities)
        parts = {"critic": critic.item(), "real_score": real_score.mean().item(), "fake_score": fake_score.mean().item()}
        if self.loss_config.loss == "wgan_gp":
            penalty = gradient_penalty(model.criticize, grids, fake, densities)
            critic = critic + self.loss_config.gp_weight * penalty
            parts["gp"] = penalty.item()
        losses = {"critic": critic}
        if generator_step:
            parts["generator"] = generator.item()
            if self.loss_config.s2_weight:
                with torch.no_grad():
                    target_s2 = soft_two_point_correlation(grids)
                structure = s2_error(fake, target_s2).mean()
                generator = generator + self.loss_config.s2_weight * structure
                parts["s2"] = structure.item()
            if self.loss_config.euler_weight:
                topology = euler_error(fake, grids).mean()
                generator = generator + self.loss_config.euler_weight * topology
                parts["euler"] = topology.item()
            if self.loss_config.granulometry_weight:
                sizes = granulometry_error(fake, grids).mean()
                generator = generator + self.loss_config.granulometry_weight * sizes
                parts["granulometry"] = sizes.item()
            if self.loss_config.depth_weight:
                placement = depth_error(fake, grids).mean()
                generator = generator + self.loss_config.depth_weight * placement
                parts["depth"] = placement.item()
            losses["generator"] = generator
        parts["loss"] = sum(loss.item() for loss in losses.values())
        return losses, parts

    def _diversity_reference(self) -> float:
        if self._reference_iou is None:
            reference = pore_grids(np.full(DIVERSITY_SAMPLES, DIVERSITY_DENSITY), size=self.dataset.size, seed=DIVERSITY_SEED)
            self._reference_iou = mean_pairwise_iou(reference)
        return self._reference_iou

    def evaluate(self, model, loader, device) -> dict[str, float]:
        generator = torch.Generator().manual_seed(EVAL_SEED)
        sums: dict[str, float] = {}
        n = 0
        for batch in loader:
            grids, densities = batch_to(batch, device)
            grids = grids.float()
            noise = torch.randn((len(grids), *model.noise_shape), generator=generator).to(device)
            logits = model.generate_logits(noise, densities)
            fake = model.relaxed_top_k(logits, densities)
            critic, adversarial, real_score, fake_score = self._adversarial(model, grids, fake, densities)
            s2 = s2_error(fake, soft_two_point_correlation(grids))
            euler = euler_error(fake, grids)
            sizes = granulometry_error(fake, grids)
            generated, real = fake.bool().cpu().numpy(), grids.bool().cpu().numpy()
            mismatch = [sample_mismatch(g, r) for g, r in zip(generated, real)]
            values = {
                "mismatch": float(np.sum(mismatch)),
                "s2": s2.sum().item(),
                "euler": euler.sum().item(),
                "granulometry": sizes.sum().item(),
                "critic_loss": critic.item() * len(grids),
                "generator_loss": adversarial.item() * len(grids),
                "real_score": real_score.sum().item(),
                "fake_score": fake_score.sum().item(),
            }
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value
            n += len(grids)
        result = {key: value / n for key, value in sums.items()}
        densities = torch.full((DIVERSITY_SAMPLES,), DIVERSITY_DENSITY, device=device)
        noise = torch.randn((DIVERSITY_SAMPLES, *model.noise_shape), generator=generator).to(device)
        samples = model.sample(densities, noise).cpu().numpy()
        result["pairwise_iou_ratio"] = mean_pairwise_iou(samples) / self._diversity_reference()
        result["fidelity"], result["fidelity_worst"] = self._fidelity(model, device)
        return result

    def _fidelity(self, model: CGAN, device) -> tuple[float, float]:
        """``fidelity`` and ``fidelity_worst`` of the module docstring (fixed noise; the model's current smoothing)."""
        if self._bands is None:  # the knots' bands; all the validation grids as one if none falls in them
            bands = [band for band in band_references(self.val_split, self.train_split, knot_bands()) if band]
            self._bands = bands or band_references(self.val_split, self.train_split, [(0.0, 1.0)])
        generator = torch.Generator().manual_seed(FIDELITY_SEED)
        scores, worst = [], 0.0
        for inside, reference in self._bands:
            densities = torch.from_numpy(np.repeat(self.val_split.densities[inside], FIDELITY_SAMPLES).astype(np.float32))
            noise = torch.randn((len(densities), *model.noise_shape), generator=generator)
            grids = model.sample(densities.to(device), noise.to(device)).cpu().numpy()
            fidelity = reference.fidelity(grids.reshape(len(inside), FIDELITY_SAMPLES, *grids.shape[1:]))
            ratios = {name: fidelity[name].ratio for name in STATISTICS}
            scores.append(selection_score(ratios))
            worst = max(worst, *ratios.values())
        return float(np.mean(scores)), float(worst)

    def finalize(self, model: CGAN, device: torch.device) -> dict:
        """Pick the generation's smoothing width at each density knot on the validation grids.

        See :func:`porelib.tasks.smoothing.choose_smoothing`; the generator's weights stay as trained.
        """
        model.eval()
        return choose_smoothing(model, lambda d, noise: model.generate_logits(noise, d), self.val_split,
                                self.train_split, device, model.noise_shape)  # fmt: skip


__all__ = ["CGANTask", "GANScheduleConfig"]
