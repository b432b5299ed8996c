"""A material run folder: the imported sample beside the engine's files, and its generators.

``python -m porelib train material ... --out RUN`` writes ``RUN/material.npz`` (the
imported sample, bit-packed, with how its pore phase was chosen and its split) next to
the engine's files (:mod:`porelib.runfolder`). :func:`load_material_run` reads both back:
the generator, the material and the split, so a run can generate, be scored against its
held-out slab and be compared with the classical baselines without the original file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from porelib.material.sample import Material, MaterialSplit

#: File of the imported material in a run folder.
MATERIAL_FILE = "material.npz"


def save_material(path, material: Material, split: MaterialSplit) -> Path:
    """Write ``material`` (bit-packed pores) and ``split`` to an ``.npz`` atomically."""
    from porelib.io.atomic import atomic_path

    meta = {
        "shape": list(material.pores.shape), "pore_rule": material.pore_rule, "pore_value": material.pore_value,
        "threshold": material.threshold, "voxel_size_um": material.voxel_size_um, "source": material.source,
        "split": split.to_dict(),
    }  # fmt: skip
    with atomic_path(path) as target:
        np.savez_compressed(target, packed=np.packbits(material.pores.reshape(-1)), meta=np.array(json.dumps(meta)))
    return Path(path)


def load_material(path) -> tuple[Material, MaterialSplit]:
    """The material and split saved by :func:`save_material`.

    Raises
    ------
    ValueError
        If the file is missing, unreadable or not a saved material.
    """
    from porelib.io import arrays, open_input

    content = arrays.read_npz(open_input(path, formats=(".npz",), what="saved material"))
    try:
        meta = json.loads(str(content["meta"]))
        shape = tuple(meta["shape"])
        pores = np.unpackbits(content["packed"], count=int(np.prod(shape))).astype(bool).reshape(shape)
        split_info = meta["split"]
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a saved material ({exc}); train the run again") from None
    material = Material(pores, meta["pore_rule"], meta["pore_value"], meta["threshold"], meta["voxel_size_um"], meta["source"])
    split = _split_at(material, split_info["axis"], split_info["bounds"])
    return material, split


def _split_at(material: Material, axis: int, bounds: dict) -> MaterialSplit:
    def cut(span) -> np.ndarray:
        box = [slice(None)] * material.pores.ndim
        box[axis] = slice(*span)
        return material.pores[tuple(box)]

    spans = {name: tuple(span) for name, span in bounds.items()}
    return MaterialSplit(cut(spans["train"]), cut(spans["validation"]), cut(spans["held_out"]), axis, spans)


#: The shipped example run (trained by ``python -m porelib train material`` on the example sample).
EXAMPLE_RUN = Path(__file__).resolve().parents[2] / "checkpoints" / "material"


def material_runs(runs_dir=None) -> list[tuple[Path, str]]:
    """Finished material runs with a checkpoint, newest first, then the shipped example: ``(folder, label)``."""
    from porelib import runs

    found = [(run.path, f"{run.name} ({run.state})") for run in runs.list_runs(runs_dir)
             if run.model == "material" and run.has_checkpoint]  # fmt: skip
    if (EXAMPLE_RUN / "card.json").is_file():
        found.append((EXAMPLE_RUN, "example: the shipped sample (checkpoints/material)"))
    return found


@dataclass(frozen=True)
class MaterialRun:
    """A trained material run: its generator, card, material and split."""

    folder: Path
    model: object
    card: dict
    material: Material
    split: MaterialSplit


def load_material_run(folder) -> MaterialRun:
    """The generator (from the checkpoint), card, material and split of a material run folder.

    Raises
    ------
    ValueError
        If the folder holds no material checkpoint or no saved material.
    """
    from porelib.checkpoint import load_checkpoint

    folder = Path(folder)
    model, card = load_checkpoint(folder)
    if card["model"] != "material":
        raise ValueError(f"{folder} holds a {card['model']} checkpoint, not a material run; "
                         "train one with `python -m porelib train material --input SAMPLE --out RUN`")
    material, split = load_material(folder / MATERIAL_FILE)
    return MaterialRun(folder, model, card, material, split)
