"""Training task of the conditional VAE (:mod:`porelib.models.cvae`) on the pore-grid dataset.

``python -m porelib train cvae --out checkpoints/cvae ...`` trains it through
:func:`porelib.training.fit`; the loss is :func:`porelib.losses.cvae_loss`.

Data: the dataset's ``train`` split, each grid under a random one of the 48 symmetries
of the cube at every step (valid here: the pores are balls and the faces are alike), and
its ``val`` split for the held-out metrics. After training, :meth:`CVAETask.finalize`
fits the generation prior of the best model to its aggregate posterior on the training
grids (:meth:`porelib.models.cvae.CVAE.fit_prior`) and picks the prior's temperature on
the validation grids.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from porelib import metrics
from porelib._validate import check_positive_int
from porelib.augment import cube_symmetries, random_cube_symmetry
from porelib.data import load_dataset
from porelib.losses import (
    CVAELossConfig,
    GANLossConfig,
    cvae_loss,
    gan_losses,
    soft_two_point_correlation,
)
from porelib.models.blocks import keep_top_k, relaxed_top_k, smooth
from porelib.models.cvae import CVAE, TEMPERATURE_KNOTS, CVAEConfig
from porelib.tasks.smoothing import band_references, selection_score
from porelib.training import Progress, Task, batch_to

#: Float budget of the posterior samples used to fit the prior (160 MB as float32).
PRIOR_SAMPLE_BUDGET = 40_000_000
#: Candidate temperatures of the fitted prior, chosen on the validation split.
TEMPERATURES = (0.8, 1.0, 1.25, 1.5, 1.625, 1.75, 2.0, 2.5, 3.0)
#: Density band of the validation grids that choose the temperature and the smoothing at each knot of
#: :data:`porelib.models.cvae.TEMPERATURE_KNOTS` (below 0.1 a grid holds one or two pore voxels).
TEMPERATURE_BANDS = ((0.1, 0.3), (0.3, 0.6), (0.6, 0.85), (0.85, 0.95), (0.95, 1.0))
#: Candidate smoothing widths (voxels) of the decoded logits, chosen with the temperature (see :meth:`CVAE.smoothing_at`).
WIDTHS = (0.0, 0.5, 0.85, 1.2, 1.6)
#: Prior samples per validation grid when choosing the temperature.
SELECTION_SAMPLES = 4
#: Statistics whose density-matched fidelity ratios choose the temperature: the benchmark's.
SELECTION_STATISTICS = metrics.MATRIX_STATISTICS
#: Training grids nearest in density to a validation grid that set its noise floor in the selection.
SELECTION_NEIGHBOURS = 4

class CVAETask(Task):
    """The conditional VAE of :mod:`porelib.models.cvae` with the loss of :mod:`porelib.losses`.

    Data: the dataset's ``train`` split (augmented by the 48 cube symmetries) and its
    ``val`` split. Held-out metrics (all on the validation split):

    * ``loss``: the loss with the final KL weight, with the posterior mean and a fixed
      prior sample (deterministic); picks the best checkpoint;
    * ``bce``, ``kl`` (nats per grid);
    * ``iou``, ``dice`` of the reconstructions (posterior mean, top-k voxels) and the
      same per density band, ``iou_0.3-0.6``, ``iou_0.6-1.0``, ...;
    * ``active_units``: latent dimensions whose posterior mean varies across the
      validation grids with variance above 0.01, and ``active_fraction``;
    * ``prior_s2``: RMS over r of ``(S2_gen − S2_grid) / φ`` between one prior sample at each
      validation grid's density and that grid, averaged (lower is better; a quick proxy of
      the full fidelity benchmark).
    """

    name = "cvae"
    option_classes = {"model": CVAEConfig, "loss": CVAELossConfig}
    derived_options = {"model": ("size",)}
    monitor = "loss"
    monitor_mode = "min"
    #: Density bands of the reconstruction metrics, ``[low, high)`` (the last one closed).
    BANDS = ((0.3, 0.6), (0.6, 1.0))
    #: Posterior-mean variance above which a latent dimension counts as active.
    ACTIVE_VARIANCE = 0.01

    def __init__(self, options: dict | None = None, *, data=None, limit: int | None = None):
        super().__init__(options, data=data, limit=limit)
        dataset = load_dataset(data)
        self.dataset = dataset
        self.train_split = dataset.split("train")
        if limit is not None:
            self.train_split = self.train_split.subset(slice(0, check_positive_int(limit, "limit")))
        self.val_split = dataset.split("val")
        self._references = None
        if len(self.train_split) == 0 or len(self.val_split) == 0:
            raise ValueError(f"the dataset at {dataset.source} needs grids in both the train and the val split")
        self.model_config = CVAEConfig(size=dataset.size, **self.options.get("model", {}))
        self.loss_config = CVAELossConfig(**self.options.get("loss", {}))
        if bool(self.model_config.critic_width) != bool(self.loss_config.adversarial_weight):
            raise ValueError(
                "a critic needs an adversarial weight and vice versa: give both --critic-width (e.g. 16) and "
                f"--adversarial-weight (e.g. 0.05), or neither; got critic_width={self.model_config.critic_width}, "
                f"adversarial_weight={self.loss_config.adversarial_weight}"
            )

    def resolved_options(self) -> dict:
        return {"model": self.model_config.to_dict(), "loss": asdict(self.loss_config)}

    def build_model(self) -> torch.nn.Module:
        return CVAE(self.model_config)

    @staticmethod
    def _tensors(split) -> TensorDataset:
        return TensorDataset(torch.from_numpy(split.grids.astype(np.uint8)), torch.from_numpy(split.densities.astype(np.float32)))

    def datasets(self) -> tuple[Dataset, Dataset]:
        return self._tensors(self.train_split), self._tensors(self.val_split)

    def data_card(self) -> dict:
        return self.dataset.card(train=len(self.train_split), val=len(self.val_split), limit=self.limit)

    def parameter_groups(self, model) -> dict[str, dict]:
        """One group, or with a critic two: ``critic`` (Adam betas 0, 0.9, as the cGAN's) and ``model``."""
        network = getattr(model, "module", model)
        if network.critic is None:
            return super().parameter_groups(model)
        critic = list(network.critic.parameters())
        owned = {id(parameter) for parameter in critic}
        return {
            "critic": {"params": critic, "betas": (0.0, 0.9)},
            "model": {"params": [parameter for parameter in network.parameters() if id(parameter) not in owned]},
        }

    def _prior_noise(self, model, n: int, device, generator=None) -> torch.Tensor | None:
        if not (self.loss_config.prior_weight or self.loss_config.adversarial_weight):
            return None
        return torch.randn((n, *getattr(model, "module", model).latent_shape), generator=generator).to(device)

    def training_step(self, model, batch, progress: Progress):
        grids, densities = batch
        grids = random_cube_symmetry(grids.cpu()).to(densities.device).float()
        noise = self._prior_noise(model, len(grids), densities.device)
        logits, mean, logvar, prior_logits = model(grids, densities, noise)
        warmup = self.loss_config.warmup(progress.fraction)
        network = getattr(model, "module", model)
        prior_grids = self._prior_grids(network, prior_logits, densities)
        loss, parts = cvae_loss(logits, grids, mean, logvar, self.loss_config, warmup=warmup, prior_logits=prior_logits,
                                prior_grids=prior_grids)  # fmt: skip
        if network.critic is None:
            return loss, parts
        critic_loss, adversarial = self._adversarial(network, grids, prior_grids, densities)
        loss = loss + warmup * self.loss_config.adversarial_weight * adversarial
        parts.update(critic=critic_loss.item(), adversarial=adversarial.item(), loss=loss.item())
        return {"critic": critic_loss, "model": loss}, parts

    def _prior_grids(self, model: CVAE, prior_logits, densities) -> torch.Tensor | None:
        """The prior samples as generation ships them (straight-through top-k), when a loss term needs them."""
        if prior_logits is None or not (self.loss_config.euler_weight or model.critic is not None):
            return None
        return relaxed_top_k(prior_logits, model.pore_counts(densities), self.loss_config.relax_temperature)

    def _adversarial(self, model: CVAE, grids, fake, densities) -> tuple[torch.Tensor, torch.Tensor]:
        """Hinge losses of the critic and of the decoder on ``[grids, fake]`` (the top-k prior samples), in one pass.

        The engine back-propagates each into its own parameter group only.
        """
        real_score, fake_score = model.criticize(torch.cat([grids, fake]), torch.cat([densities, densities])).chunk(2)
        return gan_losses(real_score, fake_score, GANLossConfig(loss="hinge"))

    def evaluate(self, model, loader, device) -> dict[str, float]:
        generator = torch.Generator().manual_seed(1234)
        sums: dict[str, float] = {}
        means, all_densities, ious, dices, s2_errors = [], [], [], [], []
        for batch in loader:
            grids, densities = batch_to(batch, device)
            grids = grids.float()
            noise = self._prior_noise(model, len(grids), device, generator)
            logits, mean, logvar, prior_logits = model(grids, densities, noise)
            _, parts = cvae_loss(logits, grids, mean, logvar, self.loss_config, prior_logits=prior_logits,
                                 prior_grids=self._prior_grids(model, prior_logits, densities))  # fmt: skip
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value * len(grids)
            counts = model.pore_counts(densities)
            recon = keep_top_k(logits, counts).cpu().numpy()
            truth = grids.bool().cpu().numpy()
            ious += [metrics.iou(r, t) for r, t in zip(recon, truth)]
            dices += [metrics.dice(r, t) for r, t in zip(recon, truth)]
            if noise is None:
                noise = torch.randn((len(grids), *model.latent_shape), generator=generator).to(device)
                prior_logits = model.decode(noise, densities)
            s2_errors.append(_s2_error(keep_top_k(prior_logits, counts).float().cpu(), grids.cpu()) * len(grids))
            means.append(mean.flatten(1).float().cpu())
            all_densities.append(densities.cpu())
        n = sum(len(m) for m in means)
        result = {key: value / n for key, value in sums.items()}
        densities = torch.cat(all_densities).numpy()
        ious, dices = np.array(ious), np.array(dices)
        result["iou"], result["dice"] = float(ious.mean()), float(dices.mean())
        for low, high in self.BANDS:
            inside = (densities >= low) & ((densities < high) if high < 1 else (densities <= high))
            if inside.any():
                result[f"iou_{low:.1f}-{high:.1f}"] = float(ious[inside].mean())
                result[f"dice_{low:.1f}-{high:.1f}"] = float(dices[inside].mean())
        variance = torch.cat(means).var(dim=0) if n > 1 else torch.zeros(1)
        result["active_units"] = int((variance > self.ACTIVE_VARIANCE).sum())
        result["active_fraction"] = result["active_units"] / variance.numel()
        result["prior_s2"] = float(np.sum(s2_errors) / n)
        return result

    def finalize(self, model: CVAE, device: torch.device) -> dict:
        """Fit the generation prior to the training grids, then pick it, its temperature and the smoothing on validation grids.

        1. Score the standard normal prior ``z = τ e`` at every temperature of
           :data:`TEMPERATURES` and smoothing width of :data:`WIDTHS` on the validation grids
           (:meth:`_validation_ratios`).
        2. :meth:`CVAE.fit_prior` on posterior draws ``z = mean + σ ε`` (seeded) of every
           training grid under as many of the 48 cube symmetries as
           :data:`PRIOR_SAMPLE_BUDGET` allows, and score it the same way.
        3. For each band of :data:`TEMPERATURE_BANDS` and each prior, the (temperature, width)
           pair whose :data:`SELECTION_SAMPLES` samples per validation grid (at its density)
           score lowest (:func:`porelib.tasks.smoothing.selection_score`: ``Σ log²(ratio)`` over the fidelity ratios of
           :data:`SELECTION_STATISTICS`) becomes the prior's temperature and the smoothing at the
           band's knot (:meth:`CVAE.temperature`, :meth:`CVAE.smoothing_at`): the two interact (a
           hotter prior makes rougher pores that a wider Gaussian rounds), so they are chosen
           together. The ratios are those
           of the benchmark, at matched densities (:class:`porelib.metrics.PairedReference`:
           each validation grid's noise floor is its distance to the
           :data:`SELECTION_NEIGHBOURS` training grids nearest in density). The prior whose
           chosen temperatures give the lower summed score is kept (a decoder
           trained against a critic on standard normal samples may do best with them).

        Returns the fit's summary, the prior kept with its temperatures and smoothing widths, the
        ratios per prior, setting ``"τ/σ"`` and band, and the validation ``prior_s2`` under N(0, I)
        and under the kept prior.
        """
        before = self._prior_s2(model, device)
        standard = self._ratios_by_setting(model, device)
        dims = int(np.prod(model.latent_shape))
        per_grid = max(1, min(48, PRIOR_SAMPLE_BUDGET // (dims * len(self.train_split))))
        generator = torch.Generator().manual_seed(0)
        grids = torch.from_numpy(self.train_split.grids)
        densities = torch.from_numpy(self.train_split.densities.astype(np.float32))
        latents, conditions = [], []
        with torch.no_grad():
            for index, symmetric in enumerate(cube_symmetries(grids)):
                if index == per_grid:
                    break
                for start in range(0, len(grids), 64):
                    x = symmetric[start : start + 64].float().to(device)
                    d = densities[start : start + 64].to(device)
                    mean, logvar = model.encode(x, d)
                    noise = torch.randn(mean.shape, generator=generator).to(device)
                    latents.append((mean + torch.exp(0.5 * logvar) * noise).cpu())
                    conditions.append(d.cpu())
        fit = model.fit_prior(torch.cat(latents), torch.cat(conditions))
        fitted = self._ratios_by_setting(model, device)
        tables = {"standard_normal": standard, "fitted": fitted}
        choices = {name: _best_settings(table) for name, table in tables.items()}
        totals = {
            name: sum(selection_score(table[setting][band]) for band, setting in enumerate(choices[name]))
            for name, table in tables.items()
        }
        kind = min(totals, key=totals.get)
        if kind == "standard_normal":
            model.reset_prior()
        temperatures, widths = zip(*choices[kind])
        model.prior_temperature.copy_(torch.tensor(temperatures))
        model.smoothing.copy_(torch.tensor(widths))
        bands = [f"{low}-{high}" for low, high in TEMPERATURE_BANDS]
        knots = list(map(str, TEMPERATURE_KNOTS))
        return {
            "prior": {**fit, "symmetries": per_grid, "rank": model.config.prior_rank, "kind": kind,
                      "temperature": dict(zip(knots, temperatures)), "smoothing": dict(zip(knots, widths))},
            "val_selection_score": {name: round(total, 4) for name, total in totals.items()},
            "val_ratios_by_setting": {
                name: {
                    f"{t}/{w}": {band: {k: round(v, 3) for k, v in ratios.items()} for band, ratios in zip(bands, values)}
                    for (t, w), values in table.items()
                }
                for name, table in tables.items()
            },
            "val_prior_s2_standard_normal": before,
            f"val_prior_s2_{kind}": self._prior_s2(model, device),
        }

    def _ratios_by_setting(self, model: CVAE, device) -> dict[tuple[float, float], list[dict[str, float]]]:
        """:meth:`_validation_ratios` of the model's current prior at each temperature of :data:`TEMPERATURES`
        and width of :data:`WIDTHS`: ``{(τ, σ): [ratios per band]}``."""
        table = {}
        for temperature in TEMPERATURES:
            model.prior_temperature.fill_(temperature)
            for width, ratios in self._validation_ratios(model, device).items():
                table[temperature, width] = ratios
        return table

    def _selection_references(self) -> list:
        """Per band of :data:`TEMPERATURE_BANDS`: (indices, :class:`porelib.metrics.PairedReference`) of its
        validation grids (:func:`porelib.tasks.smoothing.band_references`), or None."""
        if self._references is None:
            self._references = band_references(self.val_split, self.train_split, TEMPERATURE_BANDS,
                                               neighbours=SELECTION_NEIGHBOURS, statistics=SELECTION_STATISTICS)  # fmt: skip
        return self._references

    def _validation_ratios(self, model: CVAE, device) -> dict[float, list[dict[str, float]]]:
        """Per smoothing width of :data:`WIDTHS` and band of :data:`TEMPERATURE_BANDS`, the fidelity ratios of prior
        samples at the validation densities (fixed noise, the model's current temperature)."""
        generator = torch.Generator().manual_seed(2468)
        result = {width: [] for width in WIDTHS}
        for band in self._selection_references():
            if band is None:
                for ratios in result.values():
                    ratios.append({name: 0.0 for name in SELECTION_STATISTICS})
                continue
            inside, reference = band
            densities = torch.from_numpy(np.repeat(self.val_split.densities[inside], SELECTION_SAMPLES).astype(np.float32))
            noise = torch.randn((len(densities), *model.noise_shape), generator=generator)
            with torch.no_grad():
                logits = model.prior_logits(densities.to(device), noise.to(device))
            counts = model.pore_counts(densities)
            for width, ratios in result.items():
                sampled = keep_top_k(smooth(logits, torch.full((len(logits),), width)), counts).cpu().numpy()
                fidelity = reference.fidelity(sampled.reshape(-1, SELECTION_SAMPLES, *sampled.shape[1:]))
                ratios.append({name: fidelity[name].ratio for name in SELECTION_STATISTICS})
        return result

    def _prior_s2(self, model: CVAE, device) -> float:
        """Validation ``prior_s2`` of the model's current generation prior (fixed noise)."""
        generator = torch.Generator().manual_seed(4321)
        grids = torch.from_numpy(self.val_split.grids).float()
        densities = torch.from_numpy(self.val_split.densities.astype(np.float32))
        noise = torch.randn((len(grids), *model.noise_shape), generator=generator)
        with torch.no_grad():
            sampled = model.sample(densities.to(device), noise.to(device)).float().cpu()
        return _s2_error(sampled, grids)



def _best_settings(table: dict[tuple[float, float], list[dict[str, float]]]) -> list[tuple[float, float]]:
    """Per band of :data:`TEMPERATURE_BANDS`, the setting ``(τ, σ)`` of ``table`` (``{(τ, σ): [ratios per band]}``)
    that scores lowest (ties: the first, i.e. the coolest and narrowest)."""
    return [min(table, key=lambda setting: selection_score(table[setting][band])) for band in range(len(TEMPERATURE_BANDS))]


def _s2_error(generated: torch.Tensor, grids: torch.Tensor) -> float:
    """Mean over grids of the RMS over r of ``(S2_generated − S2_grid) / max(φ, 0.001)``."""
    s2_gen, s2_true = soft_two_point_correlation(generated), soft_two_point_correlation(grids)
    scale = s2_true[:, :1].clamp(min=1e-3)
    return float((((s2_gen - s2_true) / scale) ** 2).mean(1).sqrt().mean())
