"""Training task of the part reconstructor (:mod:`porelib.models.parts`): pictures of generated parts → voxels.

``python -m porelib train parts --out checkpoints/parts ...`` trains it through
:func:`porelib.training.fit`.

Data. Nothing is read from disk: when the run starts, the parts of seeds
``SPLITS["train"][:train_parts]`` are generated (:mod:`porelib.parts.generator`), each in
``poses`` poses (pose 0 as generated, the others turned by a rotation of the cube drawn
from the seed), rendered by the picture convention from views ``0 … views-1`` and
voxelised (:func:`porelib.parts.samples.build_samples`). Validation uses the first
``val_parts`` seeds of ``SPLITS["val"]``, pose 0; the benchmark's parts
(``SPLITS["test"]``) are never seen here.

A training step darkens or lightens each picture a little (:class:`PartsStepConfig`
``jitter``: a random gain and gamma on ``1 - grey``, the background kept at 0), so the
network does not rely on the exact grey levels of the renderer, then minimises
``bce_weight`` × binary cross-entropy + ``dice_weight`` × soft Dice of the occupancy, the
forward pass under bfloat16 autocast on the CPU by default (``cpu_precision``).

Held-out metrics (validation parts, threshold 0.5): ``iou`` (mean over parts; picks the
checkpoint), ``dice``, ``loss``, and ``iou_<family>`` per part family. The card records
the extruded-silhouette baseline on the same parts (``baseline``).
"""

from __future__ import annotations

from dataclasses import asdict
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from porelib._validate import check_choice, check_number, check_positive_int
from porelib.models.parts import PartReconstructor, PartReconstructorConfig
from porelib.options import check_options, option, options_class
from porelib.parts.baselines import extruded_silhouette
from porelib.parts.generator import FAMILIES, SPLITS
from porelib.parts.render import network_input
from porelib.parts.samples import PartSamples, build_samples
from porelib.tasks.unet import CPU_PRECISIONS
from porelib.training import Progress, Task, batch_to


@options_class
class PartsDataConfig:
    """The generated parts of a run (see the module notes)."""

    train_parts: int = option(3000, "Training parts (seeds 0, 1, ... of the training range), generated when the run starts.")
    poses: int = option(1, "Poses per training part: the part as generated, plus `poses - 1` turns of it (augmentation).")
    val_parts: int = option(200, "Validation parts (they pick the checkpoint), from their own seed range.")

    def __post_init__(self):
        check_options(self)
        self.train_parts = check_positive_int(self.train_parts, "train_parts", maximum=len(SPLITS["train"]))
        self.poses = check_positive_int(self.poses, "poses", maximum=24)
        self.val_parts = check_positive_int(self.val_parts, "val_parts", maximum=len(SPLITS["val"]))


@options_class
class PartsStepConfig:
    """One training step: the loss weights and the picture jitter."""

    bce_weight: float = option(1.0, "Weight of the binary cross-entropy of the occupancy.")
    dice_weight: float = option(1.0, "Weight of the soft Dice loss of the occupancy.")
    jitter: float = option(
        0.25, "Strength of the random gain (1 ± jitter) and gamma (exp(± jitter)) applied to each training picture's "
              "darkness `1 - grey`; 0 turns it off.")
    cpu_precision: str = option(
        "bfloat16", choices=CPU_PRECISIONS,
        help="On the CPU, `\"bfloat16\"` runs the training forward pass under bfloat16 autocast (weights, gradients, "
             "the loss and validation stay float32); about twice as fast here. On CUDA the engine's mixed precision "
             "applies instead.",
    )

    def __post_init__(self):
        check_options(self)
        self.bce_weight = check_number(self.bce_weight, "bce_weight", minimum=0.0)
        self.dice_weight = check_number(self.dice_weight, "dice_weight", minimum=0.0)
        if self.bce_weight + self.dice_weight == 0:
            raise ValueError("bce_weight and dice_weight cannot both be 0")
        self.jitter = check_number(self.jitter, "jitter", minimum=0.0, maximum=0.9)
        check_choice(self.cpu_precision, CPU_PRECISIONS, "cpu_precision")


class SampleSet(Dataset):
    """Items ``(pictures, edges, grid, family)`` of :class:`PartSamples`: uint8 ``(V, P, P)``, bool ``(V, P, P)``,
    bool ``(S, S, S)`` and the family index."""

    def __init__(self, samples: PartSamples):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self.samples):
            raise IndexError(f"sample {index} out of range for {len(self.samples)} samples")
        s = self.samples
        return (torch.from_numpy(s.pictures[index]), torch.from_numpy(s.edges[index]),
                torch.from_numpy(s.grids(index)), int(s.families[index]))


def occupancy_loss(logits: torch.Tensor, grids: torch.Tensor, *, bce_weight: float = 1.0,
                   dice_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """``bce_weight`` × BCE + ``dice_weight`` × (1 − soft Dice) of logits against 0/1 grids ``(N, S, S, S)``."""
    target = grids.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    probability = torch.sigmoid(logits).flatten(1)
    target = target.flatten(1)
    soft_dice = (2 * (probability * target).sum(1) + 1) / (probability.sum(1) + target.sum(1) + 1)
    dice_loss = (1 - soft_dice).mean()
    loss = bce_weight * bce + dice_weight * dice_loss
    return loss, {"loss": loss.item(), "bce": bce.item(), "dice_loss": dice_loss.item()}


def grid_scores(predicted: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-grid IoU and Dice ``(N,)`` of bool grids ``(N, S, S, S)`` (both empty: 1), as :func:`porelib.metrics.iou`."""
    predicted, truth = predicted.flatten(1), truth.flatten(1)
    intersection = (predicted & truth).sum(1).double()
    union = (predicted | truth).sum(1).double()
    total = predicted.sum(1).double() + truth.sum(1).double()
    iou = torch.where(union > 0, intersection / union.clamp_min(1), torch.ones_like(union))
    dice = torch.where(total > 0, 2 * intersection / total.clamp_min(1), torch.ones_like(total))
    return iou, dice


class PartsTask(Task):
    """Part reconstruction from pictures; see the module notes for the data, the loss and the metrics."""

    name = "parts"
    #: No ``--data``: the parts are generated (read by :func:`porelib.runs.reads_dataset`).
    reads_dataset = False
    option_classes = {"model": PartReconstructorConfig, "data": PartsDataConfig, "step": PartsStepConfig}
    monitor = "iou"
    monitor_mode = "max"

    def __init__(self, options: dict | None = None, *, data=None, limit: int | None = None):
        super().__init__(options, data=data, limit=limit)
        if data is not None:
            raise ValueError("the parts task generates its parts and reads no dataset; drop --data")
        self.model_config = PartReconstructorConfig(**self.options.get("model", {}))
        self.data_config = PartsDataConfig(**self.options.get("data", {}))
        if limit is not None:
            self.data_config.train_parts = min(self.data_config.train_parts, check_positive_int(limit, "limit"))
        self.step_config = PartsStepConfig(**self.options.get("step", {}))

    def resolved_options(self) -> dict:
        return {"model": self.model_config.to_dict(), "data": asdict(self.data_config), "step": asdict(self.step_config)}

    def build_model(self) -> torch.nn.Module:
        return PartReconstructor(self.model_config)

    def _build(self, seeds, poses: int) -> PartSamples:
        config = self.model_config
        return build_samples(seeds, poses=poses, size=config.size, views=config.views, pixels=config.pixels)

    @cached_property
    def train_samples(self) -> PartSamples:
        """The training samples (built once per run)."""
        return self._build(SPLITS["train"][: self.data_config.train_parts], self.data_config.poses)

    @cached_property
    def val_samples(self) -> PartSamples:
        """The validation samples (built once per run)."""
        return self._build(SPLITS["val"][: self.data_config.val_parts], 1)

    def datasets(self) -> tuple[Dataset, Dataset]:
        return SampleSet(self.train_samples), SampleSet(self.val_samples)

    def data_card(self) -> dict:
        data = self.data_config
        return {
            "source": "generated: porelib.parts.generator (no files)",
            "families": list(FAMILIES),
            "train": {"seeds": f"{SPLITS['train'].start} … {SPLITS['train'].start + data.train_parts - 1}",
                      "parts": data.train_parts, "poses": data.poses, "samples": len(self.train_samples)},
            "val": {"seeds": f"{SPLITS['val'].start} … {SPLITS['val'].start + data.val_parts - 1}",
                    "parts": data.val_parts},
            "fingerprint": self.train_samples.fingerprint() + self.val_samples.fingerprint(),
        }

    def card(self) -> dict:
        return {"options": self.resolved_options(), "baseline": self.baseline_metrics}

    @cached_property
    def baseline_metrics(self) -> dict[str, float]:
        """IoU and Dice of the extruded silhouettes of the validation parts (means)."""
        samples = self.val_samples
        grey = samples.grey()
        predicted = torch.from_numpy(np.stack([extruded_silhouette(g, size=samples.size) for g in grey]))
        iou, dice = grid_scores(predicted, torch.from_numpy(samples.grids()))
        return {"method": "extruded silhouette", "iou": float(iou.mean()), "dice": float(dice.mean())}

    def training_step(self, model, batch, progress: Progress):
        pictures, edges, grids, _ = batch
        inputs = network_input(pictures, edges, with_edges=self.model_config.edges,
                               jitter=self.step_config.jitter)
        bfloat16 = inputs.device.type == "cpu" and self.step_config.cpu_precision == "bfloat16"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            logits = model(inputs)
        return occupancy_loss(logits.float(), grids, bce_weight=self.step_config.bce_weight,
                              dice_weight=self.step_config.dice_weight)

    def evaluate(self, model, loader, device) -> dict[str, float]:
        losses, ious, dices, families = [], [], [], []
        for batch in loader:
            pictures, edges, grids, family = batch_to(batch, device)
            logits = model(network_input(pictures, edges, with_edges=self.model_config.edges)).float()
            loss, _ = occupancy_loss(logits, grids, bce_weight=self.step_config.bce_weight,
                                     dice_weight=self.step_config.dice_weight)
            losses.append(loss.item() * len(grids))
            iou, dice = grid_scores(logits > 0, grids.bool())
            ious.append(iou.cpu())
            dices.append(dice.cpu())
            families.append(torch.as_tensor(family).cpu())
        iou, dice, family = torch.cat(ious), torch.cat(dices), torch.cat(families)
        result = {"iou": float(iou.mean()), "dice": float(dice.mean()), "loss": sum(losses) / len(iou)}
        for index, name in enumerate(FAMILIES):
            chosen = family == index
            if chosen.any():
                result[f"iou_{name}"] = float(iou[chosen].mean())
        return result


__all__ = ["PartsDataConfig", "PartsStepConfig", "PartsTask", "grid_scores", "occupancy_loss"]
