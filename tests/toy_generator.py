"""A toy generator registered by tests/test_registry.py: one model file, one task, one registry entry.

A linear map from a noise vector and the density to the logits of an S³ grid; a grid
keeps the dataset's expected number of pore voxels (top-k), like the shipped generators.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from porelib import registry
from porelib.data import load_dataset
from porelib.models.blocks import keep_top_k
from porelib.options import check_options, option, options_class
from porelib.synth import expected_pore_voxels
from porelib.training import Task


@options_class
class ToyGeneratorConfig:
    """Hyperparameters of :class:`ToyGenerator`."""

    size: int = option(30, "Edge length of the grids, in voxels.")
    noise: int = option(4, "Length of the noise vector.")

    def __post_init__(self):
        check_options(self)
        if self.noise < 1:
            raise ValueError(f"ToyGeneratorConfig.noise must be at least 1; got {self.noise}")


class ToyGenerator(torch.nn.Module):
    """Logits ``(N, S, S, S)`` = a linear map of ``[noise, density]``."""

    def __init__(self, config: ToyGeneratorConfig):
        super().__init__()
        self.config = config
        self.linear = torch.nn.Linear(config.noise + 1, config.size**3)

    @property
    def noise_shape(self) -> tuple[int]:
        return (self.config.noise,)

    def forward(self, densities: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        size = self.config.size
        return self.linear(torch.cat([noise, densities[:, None]], dim=1)).reshape(-1, size, size, size)

    def sample(self, densities: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        counts = torch.tensor([round(expected_pore_voxels(float(d), size=self.config.size)) for d in densities])
        return keep_top_k(self(densities, noise), counts)


class ToyGeneratorTask(Task):
    """Binary cross-entropy of the toy generator's logits against dataset grids."""

    name = "toygen"
    option_classes = {"model": ToyGeneratorConfig}
    derived_options = {"model": ("size",)}

    def __init__(self, options=None, *, data=None, limit=None):
        super().__init__(options, data=data, limit=limit)
        self.dataset = load_dataset(data)
        self.config = ToyGeneratorConfig(**{**self.options.get("model", {}), "size": self.dataset.size})

    def build_model(self):
        return ToyGenerator(self.config)

    def _split(self, name: str) -> TensorDataset:
        split = self.dataset.split(name)
        grids = split.grids[: self.limit] if self.limit else split.grids
        return TensorDataset(torch.from_numpy(grids.astype(np.float32)), torch.from_numpy(split.densities[: len(grids)].astype(np.float32)))

    def datasets(self):
        return self._split("train"), self._split("val")

    def data_card(self):
        return {"source": self.dataset.source, "fingerprint": self.dataset.fingerprint}

    def _loss(self, model, batch):
        grids, densities = batch
        noise = torch.randn(len(grids), self.config.noise)
        return torch.nn.functional.binary_cross_entropy_with_logits(model(densities, noise), grids)

    def training_step(self, model, batch, progress):
        loss = self._loss(model, batch)
        return loss, {"loss": loss.item()}

    def evaluate(self, model, loader, device):
        return {"loss": float(np.mean([self._loss(model, batch).item() for batch in loader]))}


ENTRY = registry.ModelEntry(
    "toygen", "Toy generator", "generator", "A linear toy, registered by a test.",
    model=f"{__name__}:ToyGenerator", config=f"{__name__}:ToyGeneratorConfig", task=f"{__name__}:ToyGeneratorTask",
    pages=("Generate",),
)
