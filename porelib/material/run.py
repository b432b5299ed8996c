"""A material run folder: the imported sample beside the engine's files, and its generators.

``python -m porelib train material ... --out RUN`` writes ``RUN/material.npz`` (the
imported sample, bit-packed, with how its pore phase was chosen and its split; for
orthogonal sections each distinct section, ``packed`` for the one normal to x and
``packed_y``/``packed_z`` for the others, with their shapes and bounds in ``meta``) next to
the engine's files (:mod:`porelib.runfolder`). :func:`load_material_run` reads both back:
the generator, the material and the split, so a run can generate, be scored against its
held-out slab and be compared with the classical baselines without the original file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from porelib.material.sample import SECTION_AXES, Material, MaterialSplit, repeated, with_sections

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
    arrays = {"packed": np.packbits(material.pores.reshape(-1))}
    if len(material.distinct_sections) > 1:
        # each section normal to y or z: its own array, or the name of the earlier one it repeats ("" if not given)
        meta["sections"] = {}
        for axis in (1, 2):
            image = material.sections[axis]
            same = repeated(material.sections, axis)
            if image is None or same is not None:
                meta["sections"][SECTION_AXES[axis]] = "" if same is None else SECTION_AXES[same]
                continue
            meta["sections"][SECTION_AXES[axis]] = list(image.shape)
            arrays[f"packed_{SECTION_AXES[axis]}"] = np.packbits(image.reshape(-1))
    with atomic_path(path) as target:
        np.savez_compressed(target, **arrays, meta=np.array(json.dumps(meta)))
    return Path(path)


def _unpack(packed: np.ndarray, shape) -> np.ndarray:
    shape = tuple(shape)
    return np.unpackbits(packed, count=int(np.prod(shape))).astype(bool).reshape(shape)


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
        pores = _unpack(content["packed"], meta["shape"])
        split_info = meta["split"]
        sections = ()
        if "sections" in meta:
            sections = [pores]
            for name in SECTION_AXES[1:]:
                kept = meta["sections"][name]
                sections.append(_unpack(content[f"packed_{name}"], kept) if isinstance(kept, list) else
                                sections[SECTION_AXES.index(kept)] if kept else None)  # fmt: skip
            sections = tuple(sections)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a saved material ({exc}); train the run again") from None
    material = Material(pores, meta["pore_rule"], meta["pore_value"], meta["threshold"], meta["voxel_size_um"],
                        meta["source"], sections)  # fmt: skip
    axis = split_info["axis"]
    if not material.is_image:
        return material, _split_at(pores, axis, split_info["bounds"])
    bounds = split_info.get("sections", {})
    splits: list = []
    for index, image in enumerate(material.sections):
        same = repeated(material.sections, index)
        splits.append(None if image is None else splits[same] if same is not None else
                      _split_at(image, axis, bounds.get(SECTION_AXES[index], split_info["bounds"])))  # fmt: skip
    return material, with_sections(splits)


def _split_at(pores: np.ndarray, axis: int, bounds: dict) -> MaterialSplit:
    def cut(span) -> np.ndarray:
        box = [slice(None)] * pores.ndim
        box[axis] = slice(*span)
        return pores[tuple(box)]

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
