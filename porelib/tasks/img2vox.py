"""Training task of the section-to-volume model (:mod:`porelib.models.img2vox`).

``python -m porelib train img2vox --out checkpoints/img2vox ...`` trains it through
:func:`porelib.training.fit`.

Data: (section, grid) pairs from the dataset. A training grid is turned by one of the
cube symmetries that keep a central plane central
(:func:`porelib.augment.random_cube_symmetry` with ``keep_central_plane=True``: any
order of the three axes, so the central x-, y- or z-plane becomes the section, and flips
of the two in-plane axes; the flip across the plane too when S is odd, where it maps the
plane onto itself), and its section is ``grid[:, :, S // 2]``. That is 24 pairs per grid
for S = 30 (48 for odd S). The dataset's pores are placed isotropically, so each is as
valid a training pair as the original.

Loss: the cVAE loss of :func:`porelib.losses.cvae_loss` (BCE, soft Dice, pore volume and
S2, KL with warm-up, and the structural terms on samples from the prior), plus
``section_weight`` times the mean BCE of the central plane against the section, for the
reconstruction and for the prior sample (:func:`section_bce`): the plane is the one part
of the output that is known, and prior samples must reproduce it too.

The section-density regression of the model (``density_intercept``, ``density_slope``)
is fitted on the central x-, y- and z-sections of the training grids before training
(:func:`porelib.models.img2vox.fit_section_density`).

Held-out metrics, on the validation split's central z-sections, with the same prior
noise every epoch (seeded), as a user gets them:

* ``section_iou_raw``: IoU of the central plane of the network's own output (top-k,
  section *not* imposed) with the input section, averaged over grids (two empty planes
  count as 1); ``section_iou_raw_nonempty``: the same over non-empty sections only;
* ``section_iou``: the same after imposing the section (1.0 by construction; checked);
* ``density_error``: mean ``|d̂ - d|`` of the implied density against the grid's own;
* ``fidelity_<statistic>``: the noise-floor ratio of each statistic of
  :data:`porelib.metrics.STATISTICS` for the imposed output against the 16 *training*
  grids nearest the implied density (never the held-out grid itself), averaged over the
  validation grids; ratio 1 = as close as another dataset grid;
* ``fidelity``: their geometric mean (lower is better);
* the loss terms (``loss``, ``bce``, ``dice``, ``kl``, ``section``, ...) with the full KL
  weight; ``loss``, the training objective on held-out grids, picks the checkpoint.

The card's ``baseline`` holds the same figures for a grid that ignores the section:
a simulator grid (:func:`porelib.synth.pore_grid`) at the implied density.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from porelib import metrics
from porelib._validate import check_positive_int
from porelib.augment import random_cube_symmetry
from porelib.data import load_dataset
from porelib.losses import CVAELossConfig, cvae_loss
from porelib.models.img2vox import Img2Vox, Img2VoxConfig, fit_section_density
from porelib.options import option, options_class
from porelib.scoring import ENSEMBLE_SIZE
from porelib.synth import pore_grid
from porelib.training import Progress, Task, batch_to

#: Seed of the prior noise and of the baseline grids of the held-out metrics.
EVAL_SEED = 1234
#: Implied densities are rounded to this many decimals to share reference ensembles.
DENSITY_DECIMALS = 2


@options_class
class Img2VoxLossConfig(CVAELossConfig):
    """:class:`porelib.losses.CVAELossConfig` plus the weight of the section term."""

    section_weight: float = option(
        1.0,
        "Weight of the central-plane BCE (`section_bce`) of reconstructions and prior samples.",
    )


def section_bce(logits: torch.Tensor, sections: torch.Tensor) -> torch.Tensor:
    """Mean BCE of the central plane of logits ``(N, S, S, S)`` against sections ``(N, S, S)``, per grid ``(N,)``."""
    plane = logits[:, :, :, logits.shape[-1] // 2]
    return F.binary_cross_entropy_with_logits(plane, sections.to(plane.dtype), reduction="none").flatten(1).mean(1)


def central_sections(grids: np.ndarray) -> np.ndarray:
    """The central x-, y- and z-sections of grids ``(N, S, S, S)``, as ``(3 N, S, S)``."""
    plane = grids.shape[-1] // 2
    return np.concatenate([grids[:, plane], grids[:, :, plane], grids[:, :, :, plane]])


class Img2VoxTask(Task):
    """Section-to-volume training; see the module notes for the data, the loss and the metrics."""

    name = "img2vox"
    option_classes = {"model": Img2VoxConfig, "loss": Img2VoxLossConfig}
    derived_options = {"model": ("size", "density_intercept", "density_slope")}
    monitor = "loss"
    monitor_mode = "min"

    def __init__(self, options: dict | None = None, *, data=None, limit: int | None = None):
        super().__init__(options, data=data, limit=limit)
        self.dataset = load_dataset(data)
        self.train_split = self.dataset.split("train")
        if limit is not None:
            self.train_split = self.train_split.subset(slice(0, check_positive_int(limit, "limit")))
        self.val_split = self.dataset.split("val")
        if len(self.train_split) < 2 or len(self.val_split) == 0:
            raise ValueError(
                f"the dataset at {self.dataset.source} needs at least 2 training grids and 1 validation grid"
            )
        intercept, slope = fit_section_density(
            central_sections(self.train_split.grids), np.tile(self.train_split.densities, 3)
        )
        self.model_config = Img2VoxConfig(
            size=self.dataset.size, density_intercept=intercept, density_slope=slope, **self.options.get("model", {})
        )
        self.loss_config = Img2VoxLossConfig(**self.options.get("loss", {}))
        #: Reference ensembles of training grids, keyed by rounded density, filled on demand.
        self._references: dict[float, metrics.Reference] = {}

    def resolved_options(self) -> dict:
        return {"model": self.model_config.to_dict(), "loss": asdict(self.loss_config)}

    def build_model(self) -> torch.nn.Module:
        return Img2Vox(self.model_config)

    def datasets(self) -> tuple[Dataset, Dataset]:
        def tensors(split):
            return TensorDataset(torch.from_numpy(split.grids.astype(np.uint8)), torch.arange(len(split)))

        return tensors(self.train_split), tensors(self.val_split)

    def data_card(self) -> dict:
        return {
            **self.dataset.card(train=len(self.train_split), val=len(self.val_split), limit=self.limit),
            "section": "grid[:, :, S // 2] under random_cube_symmetry(keep_central_plane=True) "
            "(24 symmetries for even S, 48 for odd)",
        }

    def card(self) -> dict:
        return {"options": self.resolved_options(), "baseline": self.baseline_metrics}

    def _prior_noise(self, model, n: int, device, generator=None) -> torch.Tensor:
        return torch.randn((n, *model.latent_shape), generator=generator).to(device)

    def _loss(self, model, grids, progress_fraction, noise):
        logits, mean, logvar, prior_logits = model(grids, noise)
        config = self.loss_config
        warmup = config.warmup(progress_fraction)
        loss, parts = cvae_loss(logits, grids, mean, logvar, config, warmup=warmup, prior_logits=prior_logits)
        sections = grids[:, :, :, grids.shape[-1] // 2]
        section = (section_bce(logits, sections) + section_bce(prior_logits, sections)).mean()
        loss = loss + config.section_weight * section
        parts.update(loss=loss.item(), section=section.item())
        return loss, parts, prior_logits

    def training_step(self, model, batch, progress: Progress):
        grids, _ = batch
        grids = random_cube_symmetry(grids.cpu(), keep_central_plane=True).to(grids.device).float()
        noise = self._prior_noise(model, len(grids), grids.device)
        loss, parts, _ = self._loss(model, grids, progress.fraction, noise)
        return loss, parts

    # ------------------------------------------------------------------------- held-out metrics

    def reference(self, density: float) -> metrics.Reference:
        """The :class:`porelib.metrics.Reference` of the training grids nearest ``density`` (cached)."""
        key = round(float(density), DENSITY_DECIMALS)
        if key not in self._references:
            k = min(ENSEMBLE_SIZE, len(self.train_split))
            self._references[key] = metrics.Reference(self.train_split.ensemble(key, k))
        return self._references[key]

    def output_metrics(self, outputs, raw, sections, densities, implied) -> dict[str, float]:
        """Section IoU, density error and fidelity of outputs; every array is over the validation grids."""
        result = {
            "section_iou_raw": _mean_section_iou(raw, sections),
            "section_iou_raw_nonempty": _mean_section_iou(raw, sections, nonempty=True),
            "section_iou": _mean_section_iou(outputs, sections),
            "density_error": float(np.mean(np.abs(implied - densities))),
        }
        ratios: dict[str, list[float]] = {name: [] for name in metrics.STATISTICS}
        for grid, density in zip(outputs, implied):
            for name, value in self.reference(density).fidelity(grid).items():
                ratios[name].append(value.ratio)
        for name, values in ratios.items():
            result[f"fidelity_{name}"] = float(np.mean(values))
        finite = [value for name in metrics.STATISTICS if np.isfinite(value := result[f"fidelity_{name}"])]
        result["fidelity"] = float(np.exp(np.mean(np.log(np.maximum(finite, 1e-6))))) if finite else float("inf")
        return result

    @cached_property
    def baseline_metrics(self) -> dict[str, float]:
        """:meth:`output_metrics` of simulator grids at the implied density, which ignore the section."""
        model = Img2Vox(self.model_config)
        grids = self.val_split.grids
        sections = grids[:, :, :, grids.shape[-1] // 2]
        implied = model.implied_density(torch.from_numpy(sections)).double().numpy()
        rng = np.random.default_rng(EVAL_SEED)
        outputs = np.stack([pore_grid(d, size=grids.shape[-1], seed=rng) for d in implied])
        return self.output_metrics(outputs, outputs, sections, self.val_split.densities, implied)

    def evaluate(self, model, loader, device) -> dict[str, float]:
        generator = torch.Generator().manual_seed(EVAL_SEED)
        sums: dict[str, float] = {}
        outputs, raws, all_sections, all_implied = [], [], [], []
        for batch in loader:
            grids, _ = batch_to(batch, device)
            grids = grids.float()
            noise = self._prior_noise(model, len(grids), device, generator)
            _, parts, _ = self._loss(model, grids, 1.0, noise)
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value * len(grids)
            sections = grids[:, :, :, grids.shape[-1] // 2]
            raws.append(model.sample(sections, noise, impose=False).cpu().numpy())
            outputs.append(model.sample(sections, noise, impose=True).cpu().numpy())
            all_sections.append(sections.bool().cpu().numpy())
            all_implied.append(model.implied_density(sections).double().cpu().numpy())
        n = sum(len(o) for o in outputs)
        result = {key: value / n for key, value in sums.items()}
        result.update(
            self.output_metrics(
                np.concatenate(outputs), np.concatenate(raws), np.concatenate(all_sections),
                self.val_split.densities, np.concatenate(all_implied),
            )
        )
        return result


def _mean_section_iou(grids: np.ndarray, sections: np.ndarray, *, nonempty: bool = False) -> float:
    """Mean IoU of the central planes of grids ``(N, S, S, S)`` with sections ``(N, S, S)``."""
    planes = grids[:, :, :, grids.shape[-1] // 2]
    keep = sections.reshape(len(sections), -1).any(1) if nonempty else np.ones(len(sections), bool)
    values = [metrics.iou(p, s) for p, s, k in zip(planes, sections, keep) if k]
    return float(np.mean(values)) if values else float("nan")


__all__ = ["Img2VoxLossConfig", "Img2VoxTask", "central_sections", "section_bce"]
