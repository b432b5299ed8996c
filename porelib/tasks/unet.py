"""Training task of the 3D U-Net (:mod:`porelib.models.unet3d`): simulated CT scans with exact labels.

``python -m porelib train unet --out checkpoints/unet ...`` trains it through
:func:`porelib.training.fit`.

Data. Every scan is simulated by :func:`porelib.ct.simulate` from its seed, so a run
reads no files and the same options give the same scans (:func:`training_scan`,
:func:`validation_scan`):

* with ``--family randomised`` every scan is :func:`porelib.ct.random_scan` of the
  ``"randomised"`` family from its seed (contrast and, for validation, the named dose
  fixed as below), so the held-out family of the benchmark is never trained on;
* otherwise training scan ``i`` has seed ``TRAIN_SEEDS[i]`` (0 upwards), contrast
  ``ct.CONTRASTS[i % 2]`` and the named dose ``list(ct.DOSES)[(i // 2) % 3]`` scaled by
  a factor in ``[exp(-DOSE_JITTER), exp(DOSE_JITTER)]``; from its seed it draws a volume
  fraction in ``[min_fraction, max_fraction]``, a sphere-radius range inside
  ``[min_radius, max_radius]``, and ring strength and cupping between 0 and twice the
  simulator's defaults;
* validation scan ``k`` has seed ``VAL_SEEDS[k]`` (9 000 upwards): ``val_scans`` scans
  per contrast × named dose, at exactly that dose and the default artefacts.

Both seed ranges lie inside :data:`porelib.ct.TRAINING_SEEDS` (below 10 000) and do not
overlap; the benchmark's scans start at :data:`porelib.ct.BENCHMARK_SEED_START`
(1 000 000), so no validation or benchmark scan is ever trained on.

Training samples are random cubic crops of ``crop`` voxels of the scans turned into the
network's input as a whole by :func:`porelib.segmentation.unet_input` (as at inference:
normalised, and for a network with ``input_contrast="bright"`` dark scans inverted, here
by their known contrast), each under one of the 48 symmetries of the cube (the same one
for image and label). The loss is
:func:`porelib.models.unet3d.dice_bce_loss`, the forward pass on the CPU under bfloat16
autocast by default (:class:`UNetStepConfig`).

Validation runs the inference path itself, :func:`porelib.segmentation.unet_probability`
(normalisation, the contrast found by ``contrast="auto"``, windows of
:data:`porelib.segmentation.UNET_WINDOW` voxels, Gaussian blending, threshold 0.5). A
network trained on crops is thus checked with the GroupNorm statistics of the windows it
meets in use, not of its training crops. Held-out metrics:
``dice`` and ``iou`` (means over the validation scans; ``dice`` picks the checkpoint),
``dice_<dose>`` and ``iou_<dose>`` per named dose, and ``dice_worst``. The card
records Otsu's threshold on the same scans as the baseline (``baseline``).

Fine-tuning: ``--init-from DIR`` starts from the weights (and model config) of the U-Net
checkpoint in ``DIR``; its card is kept whole in the new card under ``init``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from porelib import ct, segmentation
from porelib._validate import check_choice, check_number, check_positive_int
from porelib.augment import random_cube_symmetry
from porelib.checkpoint import load_checkpoint, read_card
from porelib.metrics import dice, iou
from porelib.models.unet3d import UNet3D, UNet3DConfig, dice_bce_loss
from porelib.options import check_options, option, options_class
from porelib.training import Progress, Task, format_nonfinite, nonfinite_tensors

#: Seeds of the training scans and of the validation scans; both inside ``ct.TRAINING_SEEDS``.
TRAIN_SEEDS = range(9_000)
VAL_SEEDS = range(9_000, 10_000)

#: Named doses of the training scans are scaled by a factor in [exp(-DOSE_JITTER), exp(DOSE_JITTER)].
DOSE_JITTER = 0.3

#: Ring strength and cupping of the training scans reach this multiple of the simulator's defaults.
ARTEFACT_RANGE = 2.0

#: Scan families a U-Net may be trained on (``porelib.ct.FAMILIES`` minus the held-out one).
TRAINING_FAMILIES = ("spheres", "randomised")


@options_class
class UNetDataConfig:
    """The simulated scans of a U-Net run (see the module notes)."""

    scan_size: int = option(96, "Edge length of the training scans, in voxels.")
    train_scans: int = option(48, "Number of training scans (simulated once per run and kept in memory).")
    crop: int = option(48, "Edge length of the training crops, in voxels (at most `scan_size`).")
    crops_per_epoch: int = option(256, "Training crops per epoch.")
    val_size: int = option(96, "Edge length of the validation scans, in voxels.")
    val_scans: int = option(1, "Validation scans per contrast × named dose.")
    min_fraction: float = option(0.05, "Smallest volume fraction of the inclusions in a training scan, in (0, 0.5].")
    max_fraction: float = option(0.45, "Largest volume fraction of the inclusions in a training scan, in (0, 0.5].")
    min_radius: float = option(2.0, "Smallest sphere radius of the phantoms, in voxels (at least 1).")
    max_radius: float = option(12.0, "Largest sphere radius of the phantoms, in voxels; below half of both scan sizes.")
    family: str = option(
        "spheres",
        choices=TRAINING_FAMILIES,
        help="Which scans: `spheres` (sphere phantoms, the default scanner with jittered dose and artefacts) or "
        "`randomised` (porelib.ct.random_settings: shapes, noise spectrum, blur, contrast, rings, cupping, bias "
        "fields and partial volume all drawn per scan; the volume fraction and radius options do not apply).",
    )

    def __post_init__(self):
        check_options(self)
        self.scan_size = check_positive_int(self.scan_size, "scan_size", minimum=8, maximum=512)
        self.val_size = check_positive_int(self.val_size, "val_size", minimum=8, maximum=512)
        self.train_scans = check_positive_int(self.train_scans, "train_scans", maximum=len(TRAIN_SEEDS))
        self.crop = check_positive_int(self.crop, "crop", minimum=8, maximum=self.scan_size)
        self.crops_per_epoch = check_positive_int(self.crops_per_epoch, "crops_per_epoch")
        n_settings = len(ct.CONTRASTS) * len(ct.DOSES)
        self.val_scans = check_positive_int(self.val_scans, "val_scans", maximum=len(VAL_SEEDS) // n_settings)
        self.min_fraction = check_number(
            self.min_fraction, "min_fraction", minimum=1e-3, maximum=ct.MAX_VOLUME_FRACTION
        )
        self.max_fraction = check_number(
            self.max_fraction, "max_fraction", minimum=self.min_fraction, maximum=ct.MAX_VOLUME_FRACTION
        )
        self.min_radius = check_number(self.min_radius, "min_radius", minimum=1.0)
        largest = min(self.scan_size, self.val_size) / 2
        if not self.min_radius <= self.max_radius < largest:
            raise ValueError(
                f"max_radius must be at least min_radius ({self.min_radius:g}) and below half the smaller scan "
                f"size ({largest:g} voxels); got {self.max_radius!r}"
            )


#: Precisions of the forward pass on the CPU (see :class:`UNetStepConfig`).
CPU_PRECISIONS = ("bfloat16", "float32")
#: Coarsest level's side (voxels) below which a CPU step runs in float32 whatever ``cpu_precision``
#: says: oneDNN's bfloat16 convolutions returned NaN gradients in about 2 % of the steps whose
#: coarsest level was 1–2 voxels across (crops of 8–16 voxels; 8 of 390 steps in 5 processes,
#: never the same ones twice), and none in float32 (0 of 210) or without oneDNN (0 of 330).
#: This was the flaky NaN of the test suite (issue 27). Crops of 32 and more keep bfloat16.
#: Rerun the count with ``python tests/onednn_nan_hunt.py`` (one process a run).
BFLOAT16_MIN_COARSE_SIDE = 4


@options_class
class UNetStepConfig:
    """One training step: the weights of :func:`porelib.models.unet3d.dice_bce_loss` and the CPU precision."""

    dice_weight: float = option(1.0, "Weight of the soft-Dice term of the loss.")
    bce_weight: float = option(1.0, "Weight of the binary cross-entropy term of the loss.")
    cpu_precision: str = option(
        "bfloat16",
        choices=CPU_PRECISIONS,
        help="On the CPU, `\"bfloat16\"` runs the forward pass under bfloat16 autocast (weights, gradients and the loss "
        "stay float32); about 1.5 times faster here. Crops whose coarsest level would be under 4 voxels across run in "
        "float32 (oneDNN's bfloat16 gradients are unreliable there). On CUDA the engine's mixed precision applies instead.",
    )

    def __post_init__(self):
        check_options(self)
        self.dice_weight = check_number(self.dice_weight, "dice_weight", minimum=0.0)
        self.bce_weight = check_number(self.bce_weight, "bce_weight", minimum=0.0)
        if self.dice_weight + self.bce_weight == 0:
            raise ValueError("dice_weight and bce_weight cannot both be 0")
        check_choice(self.cpu_precision, CPU_PRECISIONS, "cpu_precision")


@options_class
class UNetInitConfig:
    """Where the weights start."""

    init_from: str = option(
        "",
        "A U-Net checkpoint folder to continue from (fine-tuning): the model is rebuilt from its card and its "
        "weights are loaded, and its card is kept in the new card under `init` so the whole history stays on "
        "record. Its weights must all be finite (checked when the task is made). Empty: random "
        "weights.",
    )

    def __post_init__(self):
        check_options(self)


# ----------------------------------------------------------------------------- scans


def training_scan(index: int, config: UNetDataConfig) -> ct.Scan:
    """Training scan number ``index`` (seed ``TRAIN_SEEDS[index]``); see the module notes.

    Returns
    -------
    porelib.ct.Scan
        ``image`` float32 and ``label`` bool, both ``(scan_size,) * 3``.
    """
    contrast, dose = _setting(index)
    if config.family == "randomised":
        return ct.random_scan("randomised", config.scan_size, TRAIN_SEEDS[index], contrast=contrast)
    rng = np.random.default_rng(TRAIN_SEEDS[index])
    return ct.simulate(
        config.scan_size,
        **_phantom_settings(rng, config),
        contrast=contrast,
        dose=ct.DOSES[dose] * float(np.exp(rng.uniform(-DOSE_JITTER, DOSE_JITTER))),
        ring_strength=rng.uniform(0, ARTEFACT_RANGE * ct.DEFAULT_RING_STRENGTH),
        cupping=rng.uniform(0, ARTEFACT_RANGE * ct.DEFAULT_CUPPING),
        seed=rng,
    )


def validation_scan(index: int, config: UNetDataConfig) -> tuple[ct.Scan, str]:
    """Validation scan number ``index`` (seed ``VAL_SEEDS[index]``) and its named dose.

    Scans cycle through contrast × dose like the training scans, at exactly the named
    dose; with ``family="spheres"`` at the simulator's default artefacts, volume fraction
    and radii drawn from the seed as for training; with ``"randomised"`` everything else
    drawn by :func:`porelib.ct.random_settings`.
    """
    contrast, dose = _setting(index)
    if config.family == "randomised":
        return ct.random_scan("randomised", config.val_size, VAL_SEEDS[index], contrast=contrast, dose=dose), dose
    rng = np.random.default_rng(VAL_SEEDS[index])
    scan = ct.simulate(config.val_size, **_phantom_settings(rng, config), contrast=contrast, dose=dose, seed=rng)
    return scan, dose


def _phantom_settings(rng: np.random.Generator, config: UNetDataConfig) -> dict:
    """Volume fraction and sphere-radius range of a scan, drawn from ``rng`` within the config's ranges."""
    low, high = config.min_radius, config.max_radius
    r_min = rng.uniform(low, (low + high) / 2)
    return {
        "volume_fraction": rng.uniform(config.min_fraction, config.max_fraction),
        "radius_range": (r_min, rng.uniform(r_min, high)),
    }


def _setting(index: int) -> tuple[str, str]:
    """Contrast and named dose of scan ``index``: all 6 combinations in turn."""
    doses = list(ct.DOSES)
    return ct.CONTRASTS[index % len(ct.CONTRASTS)], doses[(index // len(ct.CONTRASTS)) % len(doses)]


class RandomCrops(Dataset):
    """Random cubic crops of a stack of volumes, ``crops_per_epoch`` of them per pass.

    Each item is a crop of a random volume at a random corner, both drawn from torch's
    generator (seeded by :func:`porelib.training.fit`): ``(image, label)``, both
    ``(1, c, c, c)`` float32.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, crop: int, length: int):
        self.images, self.labels, self.crop, self.length = images, labels, crop, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        if not 0 <= index < self.length:  # ends plain iteration, which stops at IndexError
            raise IndexError(f"crop index {index} out of range for {self.length} crops per epoch")
        volume = int(torch.randint(0, len(self.images), ()))
        corner = [int(torch.randint(0, side - self.crop + 1, ())) for side in self.images.shape[1:]]
        box = (volume, *(slice(c, c + self.crop) for c in corner))
        image = torch.from_numpy(np.ascontiguousarray(self.images[box]))
        label = torch.from_numpy(self.labels[box].astype(np.float32))
        return image[None], label[None]


# ----------------------------------------------------------------------------- the task


class UNetTask(Task):
    """The 3D U-Net segmenting simulated CT scans; data, loss and metrics in the module notes."""

    name = "unet"
    #: No ``--data``: the scans are simulated (read by :func:`porelib.runs.reads_dataset`).
    reads_dataset = False
    option_classes = {"model": UNet3DConfig, "data": UNetDataConfig, "step": UNetStepConfig, "init": UNetInitConfig}
    derived_options = {"model": ("in_channels", "out_channels")}
    monitor = "dice"
    monitor_mode = "max"

    def __init__(self, options: dict | None = None, *, data=None, limit: int | None = None):
        super().__init__(options, data=data, limit=limit)
        if data is not None:
            raise ValueError("the unet task simulates its scans and reads no dataset; drop --data")
        self.init_config = UNetInitConfig(**self.options.get("init", {}))
        self.init_card = None
        if self.init_config.init_from:
            if self.options.get("model"):
                raise ValueError("init_from takes the model options from its checkpoint; drop the model options")
            if not Path(self.init_config.init_from).is_dir():
                raise ValueError(f"init_from must be a U-Net checkpoint folder; got '{self.init_config.init_from}'")
            self.init_card = read_card(self.init_config.init_from)
            if self.init_card["model"] != "unet":
                raise ValueError(
                    f"init_from must be a U-Net checkpoint; {self.init_config.init_from} holds a {self.init_card['model']!r} model"
                )
            self.model_config = UNet3DConfig(**self.init_card["config"])
            start, _ = load_checkpoint(self.init_config.init_from)
            bad = nonfinite_tensors(start.state_dict().items())
            if bad:
                raise ValueError(
                    f"init_from must hold finite weights; {self.init_config.init_from} has non-finite values in "
                    f"{format_nonfinite(bad)} (the run that wrote it diverged): fine-tune from another checkpoint"
                )
        else:
            self.model_config = UNet3DConfig(**self.options.get("model", {}))
        UNet3D(self.model_config)  # check the hyperparameters before simulating anything
        self.data_config = UNetDataConfig(**self.options.get("data", {}))
        if limit is not None:
            self.data_config.train_scans = min(self.data_config.train_scans, check_positive_int(limit, "limit"))
        self.step_config = UNetStepConfig(**self.options.get("step", {}))

    def resolved_options(self) -> dict:
        return {
            "model": self.model_config.to_dict(),
            "data": asdict(self.data_config),
            "step": asdict(self.step_config),
            "init": asdict(self.init_config),
        }

    def build_model(self) -> torch.nn.Module:
        if self.init_card is None:
            return UNet3D(self.model_config)
        model, _ = load_checkpoint(self.init_config.init_from)
        return model

    @cached_property
    def _train_volumes(self) -> tuple[np.ndarray, np.ndarray]:
        scans = [training_scan(i, self.data_config) for i in range(self.data_config.train_scans)]
        input_contrast = self.model_config.input_contrast
        images = np.stack(
            [segmentation.unet_input(scan.image, input_contrast=input_contrast, contrast=scan.contrast) for scan in scans]
        )
        return images, np.stack([scan.label for scan in scans])

    @cached_property
    def _val_scans(self) -> list[tuple[ct.Scan, str]]:
        n = self.data_config.val_scans * len(ct.CONTRASTS) * len(ct.DOSES)
        return [validation_scan(k, self.data_config) for k in range(n)]

    def datasets(self) -> tuple[Dataset, Dataset]:
        images, labels = self._train_volumes
        train = RandomCrops(images, labels, crop=self.data_config.crop, length=self.data_config.crops_per_epoch)
        doses = list(ct.DOSES)
        val = TensorDataset(
            torch.from_numpy(np.stack([scan.image for scan, _ in self._val_scans])),
            torch.from_numpy(np.stack([scan.label for scan, _ in self._val_scans])),
            torch.tensor([doses.index(dose) for _, dose in self._val_scans]),
        )
        return train, val

    def data_card(self) -> dict:
        images, labels = self._train_volumes
        digest = hashlib.sha256(json.dumps(asdict(self.data_config), sort_keys=True).encode())
        for array in (images, np.packbits(labels), *(scan.image for scan, _ in self._val_scans)):
            digest.update(np.ascontiguousarray(array).tobytes())
        n_val = len(self._val_scans)
        return {
            "source": f"porelib.ct ({self.data_config.family} family; see porelib.tasks.unet)",
            "fingerprint": digest.hexdigest()[:16],
            "train_seeds": [TRAIN_SEEDS[0], TRAIN_SEEDS[len(images) - 1]],
            "val_seeds": [VAL_SEEDS[0], VAL_SEEDS[n_val - 1]],
            "train_scans": len(images),
            "val_scans": n_val,
            "limit": self.limit,
        }

    def card(self) -> dict:
        card = {**super().card(), "baseline": {"otsu": self.otsu_baseline()}}
        if self.init_card is not None:
            card["init"] = {"checkpoint": self.init_config.init_from, "card": self.init_card}
        return card

    def otsu_baseline(self) -> dict[str, float]:
        """The held-out metrics of Otsu's threshold on the validation scans (same keys as :meth:`evaluate`)."""
        return _segmentation_metrics(
            [(segmentation.otsu(scan.image), scan.label, dose) for scan, dose in self._val_scans]
        )

    def training_step(self, model, batch, progress: Progress):
        images, labels = batch
        seed = int(torch.randint(0, 2**62, ()))
        images = random_cube_symmetry(images[:, 0].cpu(), torch.Generator().manual_seed(seed))
        labels = random_cube_symmetry(labels[:, 0].cpu(), torch.Generator().manual_seed(seed))
        device = batch[0].device
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._bfloat16_step(images, device)):
            logits = model(images[:, None].to(device))
        loss = dice_bce_loss(
            logits.float(),
            labels[:, None].to(device),
            dice_weight=self.step_config.dice_weight,
            bce_weight=self.step_config.bce_weight,
        )
        return loss, {"loss": loss.item()}

    def _bfloat16_step(self, images: torch.Tensor, device: torch.device) -> bool:
        """Whether a step on ``images`` ``(N, X, Y, Z)`` runs under bfloat16 autocast (see :data:`BFLOAT16_MIN_COARSE_SIDE`)."""
        if device.type != "cpu" or self.step_config.cpu_precision != "bfloat16":
            return False
        coarse_levels = len(self.model_config.channels) - 1  # the model this task builds: halved that often
        return min(images.shape[-3:]) >> coarse_levels >= BFLOAT16_MIN_COARSE_SIDE

    def evaluate(self, model, loader, device) -> dict[str, float]:
        def forward(windows: torch.Tensor) -> torch.Tensor:
            return model(windows.to(device)).float().cpu()

        doses = list(ct.DOSES)
        input_contrast = self.model_config.input_contrast
        results = []
        for images, labels, dose_indices in loader:
            for image, label, dose_index in zip(images.numpy(), labels.numpy(), dose_indices.tolist()):
                mask = segmentation.unet_probability(image, forward, input_contrast=input_contrast) > 0.5
                results.append((mask, label, doses[dose_index]))
        return _segmentation_metrics(results)


def _segmentation_metrics(results: list[tuple[np.ndarray, np.ndarray, str]]) -> dict[str, float]:
    """``dice``, ``iou``, ``dice_worst`` and per named dose ``dice_<dose>``, ``iou_<dose>`` of (mask, label, dose) triples."""
    dices = np.array([dice(mask, label) for mask, label, _ in results])
    ious = np.array([iou(mask, label) for mask, label, _ in results])
    doses = np.array([dose for _, _, dose in results])
    metrics = {"dice": float(dices.mean()), "iou": float(ious.mean()), "dice_worst": float(dices.min())}
    for dose in ct.DOSES:
        if np.any(doses == dose):
            metrics[f"dice_{dose}"] = float(dices[doses == dose].mean())
            metrics[f"iou_{dose}"] = float(ious[doses == dose].mean())
    return metrics


__all__ = [
    "CPU_PRECISIONS",
    "DOSE_JITTER",
    "TRAIN_SEEDS",
    "VAL_SEEDS",
    "RandomCrops",
    "UNetDataConfig",
    "UNetInitConfig",
    "UNetStepConfig",
    "UNetTask",
    "training_scan",
    "validation_scan",
]
