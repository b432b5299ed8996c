"""The one list of Pore Studio's models: every other list is derived from it.

An entry (:class:`ModelEntry`) names a model once: its label for people, its role, where
its class, config class and training task live (as ``"module:Name"`` strings, so this
module imports neither torch nor the models), the app pages that use its checkpoints,
and what it is good for. The CLI (``train`` and ``generate`` choices), the Train page's
model list, checkpoint saving and loading (:mod:`porelib.checkpoint`), inference
(:mod:`porelib.inference`), the benchmarks and Home all read it. Adding a model is one
model file, one task file and one :func:`register` call (below, for the shipped ones).

A generator's model class has ``config.size``, ``noise_shape`` and
``sample(densities, noise)`` (see :mod:`porelib.inference`); a checkpointed model's
``__init__`` takes its config dataclass and stores it as ``model.config``
(see :mod:`porelib.checkpoint`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import import_module

#: What a model does; the pages and commands that use a model pick it by role.
ROLES = ("generator", "material-generator", "segmenter", "reconstructor", "compressor")


@dataclass(frozen=True)
class ModelEntry:
    """One model of Pore Studio.

    Attributes
    ----------
    name : str
        Its key: the ``train`` and ``--model`` argument and the card's ``model``.
    label : str
        How the app names it.
    role : {"generator", "material-generator", "segmenter", "reconstructor", "compressor"}
        ``generator``: pore grids for a density factor (:func:`porelib.generate`);
        ``material-generator``: any size at a chosen porosity, trained on a user's sample.
    summary : str
        What it is for, in one sentence a user can act on (Home shows it).
    model : str or None
        ``"module:Class"`` of the network; ``None`` for a model without weights (the simulator).
    config : str or None
        ``"module:Class"`` of its config dataclass.
    task : str or None
        ``"module:Class"`` of its :class:`porelib.training.Task`; ``None`` if it is not trained.
    pages : tuple of str
        Titles of the app pages (:data:`porelib.app.state.PAGES`) that use the checkpoint
        chosen on the Train page ("Use this checkpoint"); empty if none does.
    """

    name: str
    label: str
    role: str
    summary: str
    model: str | None = None
    config: str | None = None
    task: str | None = None
    pages: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"a model name must be an identifier (e.g. 'cvae'); got {self.name!r}")
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}; got {self.role!r}")
        if (self.model is None) != (self.config is None) or (self.task is not None and self.model is None):
            raise ValueError(f"model {self.name!r}: give model and config together, and both for a trained task")

    @property
    def trainable(self) -> bool:
        """Whether ``python -m porelib train NAME`` trains it."""
        return self.task is not None

    @property
    def has_checkpoint(self) -> bool:
        """Whether it has weights saved in a checkpoint folder."""
        return self.model is not None


_ENTRIES: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Add a model (or replace the entry of the same name); return it.

    Raises
    ------
    TypeError
        If ``entry`` is not a :class:`ModelEntry`.
    """
    if not isinstance(entry, ModelEntry):
        raise TypeError(f"entry must be a ModelEntry; got {type(entry).__name__}")
    _ENTRIES[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a model registered with :func:`register` (tests register toys and remove them)."""
    _ENTRIES.pop(name, None)


def entries(*, role: str | None = None, trainable: bool | None = None, has_checkpoint: bool | None = None) -> tuple[ModelEntry, ...]:
    """The registered models in registration order, optionally only of one role or kind."""
    return tuple(
        e for e in _ENTRIES.values()
        if (role is None or e.role == role)
        and (trainable is None or e.trainable == trainable)
        and (has_checkpoint is None or e.has_checkpoint == has_checkpoint)
    )  # fmt: skip


def names(**filters) -> tuple[str, ...]:
    """The names of :func:`entries` with the same filters."""
    return tuple(e.name for e in entries(**filters))


def entry(name: str, *, arg_name: str = "model", **filters) -> ModelEntry:
    """The entry of ``name``, which must match ``filters`` (see :func:`entries`).

    Raises
    ------
    ValueError
        Naming the choices and the closest one, if ``name`` is unknown or of another kind.
    """
    choices = names(**filters)
    if name not in choices:
        close = difflib.get_close_matches(str(name), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{arg_name} must be one of {', '.join(choices)}; got {name!r}{hint}")
    return _ENTRIES[name]


def resolve(path: str):
    """The object named by ``"module:Name"`` (imported now)."""
    module, _, attribute = path.partition(":")
    return getattr(import_module(module), attribute)


def label(name: str) -> str:
    """How the app names model ``name`` (the name itself if it is not registered)."""
    found = _ENTRIES.get(name)
    return found.label if found is not None else name


# ----------------------------------------------------------------------------- the shipped models

register(ModelEntry(
    "simulator", "Simulator (calibrated spheres)", "generator",
    "The dataset's own generator: spherical pores placed to the calibrated count; the reference the others are judged against.",
))
register(ModelEntry(
    "cvae", "cVAE", "generator",
    "Density-conditioned VAE: exact porosity, reconstructs a given grid (Compare page), fast batches.",
    model="porelib.models.cvae:CVAE", config="porelib.models.cvae:CVAEConfig", task="porelib.tasks.cvae:CVAETask",
    pages=("Generate",),
))
register(ModelEntry(
    "cgan", "cGAN", "generator",
    "Density-conditioned GAN with the seed's hybrid losses, done numerically right: exact porosity, sharp samples.",
    model="porelib.models.cgan:CGAN", config="porelib.models.cgan:CGANConfig", task="porelib.tasks.cgan:CGANTask",
    pages=("Generate",),
))
register(ModelEntry(
    "material", "Material generator", "material-generator",
    "Trained on your own segmented volume or image: volumes of any size at the porosity you choose, "
    "scored against a held-out slab of your sample.",
    model="porelib.models.material:MaterialGenerator", config="porelib.models.material:MaterialGeneratorConfig",
    task="porelib.tasks.material:MaterialTask",
))
register(ModelEntry(
    "unet", "3D U-Net (segmentation)", "segmenter",
    "Segments CT scans of inclusions or pores; trained on simulated scans with exact labels.",
    model="porelib.models.unet3d:UNet3D", config="porelib.models.unet3d:UNet3DConfig", task="porelib.tasks.unet:UNetTask",
    pages=("Segment a scan",),
))
register(ModelEntry(
    "img2vox", "Section → volume VAE", "reconstructor",
    "Grows a 3-D pore grid from one 2-D section, keeping the section as the central plane.",
    model="porelib.models.img2vox:Img2Vox", config="porelib.models.img2vox:Img2VoxConfig",
    task="porelib.tasks.img2vox:Img2VoxTask",
))
register(ModelEntry(
    "parts", "Part from a picture", "reconstructor",
    "A picture of a mechanical part (rendered by the convention of `part render`) to its 3-D voxels, STL and points; "
    "trained on generated CAD-like parts.",
    model="porelib.models.parts:PartReconstructor", config="porelib.models.parts:PartReconstructorConfig",
    task="porelib.tasks.parts:PartsTask", pages=("Part from a picture",),
))
