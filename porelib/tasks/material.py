"""Training task of the material generator (:mod:`porelib.models.material`) on a user's own sample.

``python -m porelib train material --input SAMPLE [--pore-value V] --out RUN [--minutes M]``
imports the sample (:func:`porelib.material.sample.import_material`), cuts it into
training, validation and held-out slabs (:func:`porelib.material.sample.split_material`)
and trains the fully convolutional generator to reproduce the training region's
statistics. The held-out slab is never used here: it is what the run is scored against
afterwards (:mod:`porelib.material.score`). The imported material is written into the run
folder (``material.npz``, bit-packed, with the split), so the run can be scored, compared
with the baselines and resumed without the original file.

The loss: a generated patch is made binary with exactly the training porosity
(straight-through top-k, :func:`porelib.models.blocks.relaxed_top_k`: the statistics are
those of the volume that generation returns), and compared with training patches on

* the two-point correlation along each axis, ``S2_a(r)``, r = 1 … ``lags`` (anisotropy kept);
* the lineal-path function along each axis, ``L_a(r)``: the probability that r + 1 consecutive
  voxels along ``a`` are all pore, r = 1 … ``lags`` — the integral of the chord-length
  distribution, which S2 does not fix (an elongated material's long chords);
* the Gram matrices of fixed random multi-scale convolution features of 2-D slices along
  each axis — texture statistics without pretrained weights (Ustyuzhaninov et al. 2017);

both as batch means against targets measured once on ``target_patches`` random training
patches. For 2-D input the generated cube is judged on its slices (SliceGAN's principle):
slices normal to axis ``a`` are compared with the section normal to ``a``
(``--input`` = normal to x, ``--input-y``, ``--input-z``; rows and columns of a section are
the volume's two other axes in increasing order, :mod:`porelib.material.sample`), and
``S2_a`` and ``L_a`` with the mean in-plane ones along ``a`` of the given sections that contain axis ``a``.
A single image stands for all three sections (the isotropic assumption). With two sections
the missing orientation has no texture target; its slices are constrained only through the
S2 and lineal path along its two axes, which the given sections both contain.

With a prior field (the default, :class:`porelib.models.material.MaterialGeneratorConfig`) each
patch also gets a crop of a Gaussian random field of the training region
(:func:`porelib.material.baselines.gaussian_field`; :data:`PRIOR_BANK` fields drawn once, and
as many others for validation), so training starts from the classical reconstruction and
learns what it misses.

Held-out metric for picking the checkpoint: the same loss of fixed-noise samples against
targets measured on the **validation** slab (``val_loss``; lower is better).
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from porelib.material.run import MATERIAL_FILE, save_material
from porelib.material.sample import FORMATS, import_material, in_plane_axes, repeated, split_material
from porelib.models.blocks import relaxed_top_k
from porelib.models.material import MaterialGenerator, MaterialGeneratorConfig
from porelib.options import check_options, option, options_class
from porelib.training import Progress, Task

#: Seeds of the random feature network, the target patches, the validation noise and the prior fields.
FEATURE_SEED, TARGET_SEED, VALIDATION_SEED, PRIOR_SEED = 11, 12, 13, 14
#: Gaussian random fields drawn for the prior patches of training (and as many for validation).
PRIOR_BANK = 6
#: Generated patches per validation; slices narrower than MIN_TEXTURE_SIDE skip the texture term
#: (the feature network's four unpadded 3 × 3 convolutions and three poolings need 38 pixels:
#: 38 → 36 → 18 → 16 → 8 → 6 → 3 → 1).
VALIDATION_SAMPLES = 8
MIN_TEXTURE_SIDE = 38


@options_class
class MaterialDataConfig:
    """The sample, how it is read and how it is split."""

    input: str = option("", "The segmented sample: a volume (.npy, .npz, .tif, .vti, .raw) or a 2-D image (.png, .jpg, .tif, "
                        ".npy); with `input_y`/`input_z`, the section normal to x (rows = y, columns = z).")
    input_y: str = option("", "For an anisotropic material: the 2-D section normal to y (rows = x, columns = z), beside "
                          "`input` normal to x, at the same pixel size. Without it and `input_z`, one image stands for "
                          "every orientation (isotropic). With two sections the third orientation is constrained only "
                          "through its two axes' S2.")
    input_z: str = option("", "For an anisotropic material: the 2-D section normal to z (rows = x, columns = y).")
    pore_value: float | None = option(None, "Value of the pore phase (default: the minority phase, or True for bool data).")
    threshold: float | None = option(None, "Split grey values at this threshold (pores: the side holding `pore_value`, else the minority).")
    voxel_size: float | None = option(None, "Voxel edge length in micrometres (sizes are then reported in µm).")
    shape: str = option("", "Shape of a .raw volume, first axis slowest, e.g. `256,256,256`.")
    dtype: str = option("", "Element type of a .raw volume, e.g. `uint8`, `<u2`, `>f4`.")
    split_axis: int = option(0, "Axis along which the validation and held-out slabs are cut.")
    held_out_fraction: float = option(0.25, "Share of the split axis held out for scoring (never trained on).")
    validation_fraction: float = option(0.15, "Share of the split axis that picks the checkpoint.")
    patch: int = option(48, "Edge of the training patches, in voxels (reduced to fit the training region).")
    steps_per_epoch: int = option(20, "Generated patch batches per epoch: patches, of which the engine's --batch-size make one optimiser step.")

    def __post_init__(self):
        check_options(self)
        if not self.input:
            raise ValueError("train material needs --input SAMPLE: a segmented volume or 2-D image (with --input-y/--input-z, "
                             "the section normal to x)")
        if not 16 <= self.patch <= 128:
            raise ValueError(f"MaterialDataConfig.patch must be in [16, 128]; got {self.patch}")
        if not 1 <= self.steps_per_epoch <= 10_000:
            raise ValueError(f"MaterialDataConfig.steps_per_epoch must be in [1, 10000]; got {self.steps_per_epoch}")

    def source(self):
        """What :func:`porelib.material.sample.import_material` reads: ``input``, or the sections ``(x, y, z)`` (``None`` for one not given)."""
        if not (self.input_y or self.input_z):
            return self.input
        return (self.input, self.input_y or None, self.input_z or None)

    def raw_shape(self) -> tuple[int, ...] | None:
        """``shape`` as integers, or ``None`` when it is not given."""
        if not self.shape:
            return None
        try:
            return tuple(int(part) for part in self.shape.replace("x", ",").replace(" ", ",").split(",") if part)
        except ValueError:
            raise ValueError(f"--shape must be integers such as 256,256,256; got {self.shape!r}") from None


@options_class
class MaterialLossConfig:
    """The statistics the generator is trained to match."""

    s2_weight: float = option(20.0, "Weight of the per-axis two-point correlation term.")
    lineal_weight: float = option(20.0, "Weight of the per-axis lineal-path term (chord lengths).")
    texture_weight: float = option(1.0, "Weight of the random-feature Gram term of slices along each axis.")
    lags: int = option(16, "Largest lag r of the S2 and lineal-path terms, in voxels.")
    slices: int = option(6, "Slices per axis and patch fed to the feature network.")
    target_patches: int = option(32, "Training patches the targets are measured on.")
    temperature: float = option(1.0, "Temperature of the straight-through top-k (in standard deviations of the logits).")

    def __post_init__(self):
        check_options(self)
        for name in ("s2_weight", "lineal_weight", "texture_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"MaterialLossConfig.{name} must be at least 0; got {getattr(self, name)}")
        if self.s2_weight + self.lineal_weight + self.texture_weight == 0:
            raise ValueError("s2_weight, lineal_weight and texture_weight cannot all be 0")
        for name, low, high in (("lags", 1, 64), ("slices", 1, 64), ("target_patches", 2, 1024)):
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"MaterialLossConfig.{name} must be in [{low}, {high}]; got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError(f"MaterialLossConfig.temperature must be positive; got {self.temperature}")


# ----------------------------------------------------------------------------- statistics


def axis_s2(volumes: torch.Tensor, lags: int) -> torch.Tensor:
    """``(N, D, lags)``: S2 along each axis at r = 1 … lags of volumes ``(N, X, Y, Z)`` (D = 3) or images ``(N, P, Q)`` (D = 2).

    Non-periodic; a lag beyond a side repeats the last lag that fits.
    """
    rows = []
    dims = tuple(range(1, volumes.ndim))
    for axis in dims:
        side = volumes.shape[axis]
        values = [
            (volumes.narrow(axis, 0, side - r) * volumes.narrow(axis, r, side - r)).mean(dim=dims)
            for r in range(1, min(lags, side - 1) + 1)
        ]
        values += [values[-1]] * (lags - len(values))
        rows.append(torch.stack(values, dim=1))
    return torch.stack(rows, dim=1)


def _lineal_path_along(x: torch.Tensor, dim: int, lags: int) -> torch.Tensor:
    """``(N, lags)``: fraction of runs of r + 1 consecutive voxels along ``dim`` of ``x`` ``(N, …)`` that are all pore."""
    run, values = x, []
    for r in range(1, min(lags, x.shape[dim] - 1) + 1):
        side = run.shape[dim]
        run = run.narrow(dim, 0, side - 1) * x.narrow(dim, r, side - 1)
        values.append(run.flatten(1).mean(1))
    values += [values[-1]] * (lags - len(values))
    return torch.stack(values, dim=1)


def axis_lineal_path(volumes: torch.Tensor, lags: int) -> torch.Tensor:
    """``(N, D, lags)``: lineal-path function along each axis at r = 1 … lags of volumes ``(N, X, Y, Z)`` (D = 3) or images ``(N, P, Q)`` (D = 2).

    ``L_a(r)`` is the fraction of runs of r + 1 consecutive voxels along axis ``a`` that are all
    pore (products of the voxel values, so it is differentiable in soft volumes); lags beyond a
    side repeat the last value, as :func:`axis_s2` does.
    """
    return torch.stack([_lineal_path_along(volumes, axis, lags) for axis in range(1, volumes.ndim)], dim=1)


class TextureFeatures(torch.nn.Module):
    """A fixed random 2-D convolution network; its Gram matrices are texture statistics of slices.

    Four 3 × 3 convolutions (16, 32, 64, 64 channels, ReLU), each after the first preceded by
    2 × 2 average pooling, with weights drawn once from ``seed`` and never trained. The Gram
    matrix of a layer, ``F Fᵀ / pixels``, summarises which local patterns occur together at
    that scale.
    """

    WIDTHS = (16, 32, 64, 64)

    def __init__(self, seed: int = FEATURE_SEED):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        previous, layers = 1, []
        for width in self.WIDTHS:
            layer = torch.nn.Conv2d(previous, width, 3)
            torch.nn.init.kaiming_normal_(layer.weight, generator=generator)
            torch.nn.init.zeros_(layer.bias)
            layer.requires_grad_(False)
            layers.append(layer)
            previous = width
        self.layers = torch.nn.ModuleList(layers)

    def grams(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Mean Gram matrix of each layer over images ``(N, H, W)`` in [0, 1]: a list of ``(C, C)``."""
        x = (images[:, None] - 0.5) * 2
        grams = []
        for level, layer in enumerate(self.layers):
            if level:
                x = F.avg_pool2d(x, 2)
            x = F.relu(layer(x))
            flat = x.flatten(2)
            grams.append(torch.einsum("nci,ndi->cd", flat, flat) / (flat.shape[0] * flat.shape[2]))
        return grams


def slices(volumes: torch.Tensor, axis: int, count: int) -> torch.Tensor:
    """``count`` evenly spaced 2-D slices perpendicular to ``axis`` (1, 2 or 3) of ``(N, X, Y, Z)``: ``(N·count, ·, ·)``."""
    side = volumes.shape[axis]
    index = torch.linspace(0, side - 1, min(count, side)).round().long().to(volumes.device)
    picked = volumes.index_select(axis, index).movedim(axis, 1)
    return picked.reshape(-1, *picked.shape[2:])


def _gram_distance(generated: list[torch.Tensor], target: list[torch.Tensor]) -> torch.Tensor:
    return sum(((g - t) ** 2).sum() / (t**2).sum().clamp(min=1e-12) for g, t in zip(generated, target)) / len(target)


# ----------------------------------------------------------------------------- the task


class MaterialTask(Task):
    """The material generator on a user's sample; data, loss and metric in the module notes."""

    name = "material"
    #: No ``--data``: the sample comes with ``--input``, in one of these formats (the Train page's uploader).
    reads_dataset = False
    sample_formats = FORMATS
    option_classes = {"model": MaterialGeneratorConfig, "data": MaterialDataConfig, "loss": MaterialLossConfig}
    monitor = "loss"
    monitor_mode = "min"

    def __init__(self, options: dict | None = None, *, data=None, limit: int | None = None):
        super().__init__(options, data=data, limit=limit)
        if data is not None:
            raise ValueError("the material task reads its sample from --input, not --data")
        self.model_config = MaterialGeneratorConfig(**self.options.get("model", {}))
        self.data_config = MaterialDataConfig(**self.options.get("data", {}))
        self.loss_config = MaterialLossConfig(**self.options.get("loss", {}))
        self.material = import_material(
            self.data_config.source(), pore_value=self.data_config.pore_value, threshold=self.data_config.threshold,
            voxel_size=self.data_config.voxel_size, shape=self.data_config.raw_shape(), dtype=self.data_config.dtype or None,
        )  # fmt: skip
        self.split = split_material(self.material, axis=self.data_config.split_axis,
                                    held_out_fraction=self.data_config.held_out_fraction,
                                    validation_fraction=self.data_config.validation_fraction)  # fmt: skip
        self.patch = min(self.data_config.patch, *(min(part.shape) for part in self.split.parts("train")))
        self.features = TextureFeatures()
        self._banks: dict = {}

    def resolved_options(self) -> dict:
        from dataclasses import asdict

        return {"model": self.model_config.to_dict(), "data": asdict(self.data_config), "loss": asdict(self.loss_config)}

    def build_model(self) -> torch.nn.Module:
        return MaterialGenerator(self.model_config)

    # ------------------------------------------------------------------------- data

    def datasets(self):
        steps = self.data_config.steps_per_epoch
        return TensorDataset(torch.arange(steps)), TensorDataset(torch.arange(1))

    def data_card(self) -> dict:
        digest = hashlib.sha256()
        for pores in self.material.distinct_sections:
            digest.update(np.packbits(pores).tobytes())
            digest.update(str(pores.shape).encode())
        card = {
            "source": self.material.source,
            "fingerprint": digest.hexdigest()[:16],
            "material": self.material.describe(),
            "shape": list(self.material.pores.shape),
            "porosity": self.material.porosity,
            "split": self.split.to_dict(),
            "patch": self.patch,
        }
        if len(self.material.distinct_sections) > 1:
            card["sections"] = {axis: None if image is None else list(image.shape)
                                for axis, image in zip("xyz", self.material.sections)}  # fmt: skip
        return card

    def write_run_files(self, out: Path) -> None:
        """Save the imported material and its split into the run folder (:data:`MATERIAL_FILE`)."""
        save_material(out / MATERIAL_FILE, self.material, self.split)

    def _box(self, region: np.ndarray) -> tuple[int, ...]:
        """The patch shape cut from ``region``: the training patch edge, or the region's side where it is thinner."""
        return tuple(min(self.patch, extent) for extent in region.shape)

    def _patches(self, region: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, tuple[int, ...]]:
        """``target_patches`` random patches of ``region`` (float32, ``(N, *box)``) and their box."""
        box = self._box(region)
        crops = []
        for _ in range(self.loss_config.target_patches):
            corner = [int(rng.integers(0, extent - side + 1)) for extent, side in zip(region.shape, box)]
            crops.append(region[tuple(slice(c, c + side) for c, side in zip(corner, box))])
        return torch.from_numpy(np.stack(crops).astype(np.float32)), box

    def _targets(self, part: str, seed: int) -> dict:
        """Statistics of ``target_patches`` random patches of the split's ``part`` (module notes)."""
        rng = np.random.default_rng(seed)
        if self.material.is_image:
            return self._section_targets(part, rng)
        region = getattr(self.split, part)
        patches, box = self._patches(region, rng)
        lags = max(1, min(self.loss_config.lags, min(box) - 2))
        with torch.no_grad():
            s2 = axis_s2(patches, lags).mean(0)
            lineal = axis_lineal_path(patches, lags).mean(0)
            grams = []
            for axis in (1, 2, 3):
                plane = [side for index, side in enumerate(box, start=1) if index != axis]
                fits = min(plane) >= MIN_TEXTURE_SIDE
                grams.append(self.features.grams(slices(patches, axis, self.loss_config.slices)) if fits else None)
        return {"box": box, "s2": s2, "lineal": lineal, "grams": grams, "lags": lags, "porosity": float(region.mean())}

    def _section_targets(self, part: str, rng: np.random.Generator) -> dict:
        """Targets of a cube judged on its slices: slices normal to axis ``a`` against the section normal to ``a``.

        ``s2[a]`` is the mean in-plane S2 along ``a`` of the given sections containing axis ``a``;
        ``grams[a]`` the section's texture (``None`` for a section not given). A repeated image
        (a single image stands for all three) is measured once.
        """
        splits = self.split.sections
        owner = [None if split is None else (repeated(splits, a) if repeated(splits, a) is not None else a)
                 for a, split in enumerate(splits)]  # fmt: skip
        measured = {a: self._patches(getattr(splits[a], part), rng) for a in sorted(set(owner) - {None})}
        side = min(min(box) for _, box in measured.values())
        lags = max(1, min(self.loss_config.lags, side - 2))
        with torch.no_grad():
            in_plane = {a: axis_s2(patches, lags).mean(0) for a, (patches, _) in measured.items()}  # (2, lags) each
            in_plane_lineal = {a: axis_lineal_path(patches, lags).mean(0) for a, (patches, _) in measured.items()}
            textures = {a: self.features.grams(patches) if min(box) >= MIN_TEXTURE_SIDE else None
                        for a, (patches, box) in measured.items()}  # fmt: skip
        def along(statistic: dict, axis: int) -> torch.Tensor:  # mean over the given sections that contain ``axis``
            return torch.stack([statistic[owner[normal]][in_plane_axes(normal).index(axis)]
                                for normal in range(3) if normal != axis and owner[normal] is not None]).mean(0)

        s2 = [along(in_plane, axis) for axis in range(3)]
        lineal = [along(in_plane_lineal, axis) for axis in range(3)]
        grams = [None if owner[a] is None else textures[owner[a]] for a in range(3)]
        return {"box": (side,) * 3, "s2": torch.stack(s2), "lineal": torch.stack(lineal), "grams": grams, "lags": lags,
                "porosity": self.split.porosity(part)}  # fmt: skip

    @cached_property
    def training_targets(self) -> dict:
        return self._targets("train", TARGET_SEED)

    @cached_property
    def validation_targets(self) -> dict:
        return self._targets("validation", TARGET_SEED + 1)

    # ------------------------------------------------------------------------- loss

    def _prior_bank(self, box, seed: int) -> torch.Tensor | None:
        """``(PRIOR_BANK, ·, ·, ·)``: Gaussian random fields of the training region, twice the prior a patch of ``box`` needs.

        Drawn once per box (numpy, seeded), at the training porosity; patches crop them at random.
        ``None`` for a generator without a prior.
        """
        if not self.model_config.uses_prior:
            return None
        key = (tuple(box), seed)
        if key not in self._banks:
            from porelib.material.baselines import gaussian_field

            need = tuple(2 * self.model_config.prior_side(side) for side in box)
            porosity = self.split.porosity("train")
            fields = [gaussian_field(self.split.field_training(), need, porosity, seed=seed + k) for k in range(PRIOR_BANK)]
            self._banks[key] = torch.from_numpy(np.stack(fields))
        return self._banks[key]

    def _inputs(self, count: int, box, device: torch.device, *, bank_seed: int,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Noise ``(count, noise_channels, ·, ·, ·)`` and, with a prior, prior patches ``(count, 1, ·, ·, ·)`` for ``box``."""
        sides = [self.model_config.noise_side(side) for side in box]
        noise = torch.randn((count, self.model_config.noise_channels, *sides), generator=generator).to(device)
        bank = self._prior_bank(box, bank_seed)
        if bank is None:
            return noise, None
        need = [self.model_config.prior_side(side) for side in box]
        crops = []
        for _ in range(count):
            member = int(torch.randint(len(bank), (1,), generator=generator))
            corner = [int(torch.randint(have - want + 1, (1,), generator=generator)) for have, want in zip(bank.shape[1:], need)]
            crops.append(bank[member, corner[0] : corner[0] + need[0], corner[1] : corner[1] + need[1],
                              corner[2] : corner[2] + need[2]])  # fmt: skip
        return noise, torch.stack(crops)[:, None].to(device)

    def statistics_loss(self, model, inputs, targets: dict) -> tuple[torch.Tensor, dict]:
        """The loss of patches generated from ``inputs`` (noise, prior) against ``targets`` and its parts (floats)."""
        box = targets["box"]
        logits = model(*inputs)[:, 0, : box[0], : box[1], : box[2]]  # through a DDP wrapper when there is one
        count = torch.full((len(logits),), round(targets["porosity"] * logits[0].numel()))
        volumes = relaxed_top_k(logits, count, temperature=self.loss_config.temperature)
        scale = max(targets["porosity"], 1e-3) ** 2
        s2 = ((axis_s2(volumes, targets["lags"]).mean(0) - targets["s2"]) ** 2).mean() / scale
        lineal = ((axis_lineal_path(volumes, targets["lags"]).mean(0) - targets["lineal"]) ** 2).mean() / scale
        features = self.features.to(volumes.device)
        compared = [(axis, target) for axis, target in zip((1, 2, 3), targets["grams"]) if target is not None]
        texture = sum(
            _gram_distance(features.grams(slices(volumes, axis, self.loss_config.slices)), target)
            for axis, target in compared
        ) / max(1, len(compared))
        loss = (self.loss_config.s2_weight * s2 + self.loss_config.lineal_weight * lineal
                + self.loss_config.texture_weight * texture)  # fmt: skip
        return loss, {"s2": float(s2.detach()), "lineal": float(lineal.detach()), "texture": float(texture.detach()) if torch.is_tensor(texture) else float(texture)}

    def training_step(self, model, batch, progress: Progress):
        (indices,) = batch
        inputs = self._inputs(len(indices), self.training_targets["box"], indices.device, bank_seed=PRIOR_SEED)
        loss, parts = self.statistics_loss(model, inputs, self.training_targets)
        return loss, {"loss": loss.item(), **parts}

    def evaluate(self, model, loader, device) -> dict[str, float]:
        generator = torch.Generator().manual_seed(VALIDATION_SEED)
        inputs = self._inputs(VALIDATION_SAMPLES, self.validation_targets["box"], device,
                              bank_seed=PRIOR_SEED + PRIOR_BANK, generator=generator)  # fmt: skip
        loss, parts = self.statistics_loss(model, inputs, self.validation_targets)
        return {"loss": float(loss), **parts}

    def card(self) -> dict:
        return {**super().card(), "material_file": MATERIAL_FILE}
