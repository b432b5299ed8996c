"""A user's material: a segmented 3-D volume, a 2-D image or 2–3 orthogonal sections, its pore phase, and a held-out slab.

:func:`import_material` reads a file through :func:`porelib.io.open_input` (every header
checked before anything is allocated) and turns it into a :class:`Material`: a bool array,
``True`` = pore, ``pores[ix, iy, iz]`` for a volume (the file's axis order kept) or
``pores[ix, iy]`` for an image. :func:`split_material` cuts it along one axis into a
training region, a validation slab (which picks the checkpoint) and a **held-out slab**
that nothing is trained on or selected by: every score of a generator is measured against it.

Formats
-------
Volumes: ``.npy``, ``.npz`` (one array, or a member named ``volume``, ``grid``, ``grids``
or ``image``), ``.tif``/``.tiff`` stacks (page k = ``volume[k]``), ``.vti`` (its one point
array, x fastest), and ``.raw`` (headerless, with ``shape`` and ``dtype``). Images:
``.png``, ``.jpg``, ``.tif`` (one page) and 2-D ``.npy`` arrays; colour becomes grey.
A picture's rows run down the picture: ``pores[i, j]`` is row i, column j.

Orthogonal sections (anisotropic materials)
-------------------------------------------
A single image stands for the material's sections in every orientation (the isotropic
assumption, SliceGAN's principle). For an anisotropic material give two or three images,
the **sections normal to x, y and z** of the volume ``pores[ix, iy, iz]`` the generator
makes (:data:`SECTION_AXES`). Convention (SliceGAN's, and that of
:func:`porelib.material.statistics.slice_statistics`): a section's rows and columns are the
volume's two other axes in increasing order,

=================  ==========  =============  ================
section normal to  plane       rows (axis 0)  columns (axis 1)
=================  ==========  =============  ================
x                  yz          y              z
y                  xz          x              z
z                  xy          x              y
=================  ==========  =============  ================

so ``image_x[i, j]`` is the pore phase at ``(·, y=i, z=j)``, ``image_y[i, j]`` at
``(x=i, ·, z=j)`` and ``image_z[i, j]`` at ``(x=i, y=j, ·)``. The section normal to x is
always given (``--input``); with only two, the missing orientation has no image of its own:
its slices are constrained only through the two axes it shares with the given sections
(two-point correlation along each), not by a texture target, and it is not scored. A single
image is the case "all three sections are the same image" (:attr:`Material.sections` holds it
three times). Sections need not have the same extent (the generator learns from patches),
but they must share one pixel size (the one ``voxel_size``) and one pore phase: with the
minority rule, every section must have the same minority value, else pass ``pore_value``.

Which phase is pore
-------------------
Bool arrays: ``True`` unless ``pore_value`` is 0/False. Two-valued arrays (0/1, 0/255,
any two labels): the value ``pore_value``, or without it the **minority** phase (what a
porous sample usually is; the import says which was taken). More values mean the data is
not segmented: pass ``threshold`` to split it (pores are the side holding ``pore_value``,
or the minority side), or segment it first (``python -m porelib segment`` / the Segment page).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from porelib._validate import (
    check_choice,
    check_finite,
    check_number,
    check_numeric,
    describe,
)

#: Formats :func:`import_material` reads.
FORMATS = (".npy", ".npz", ".tif", ".tiff", ".vti", ".raw", ".png", ".jpg", ".jpeg")
#: Formats of a 2-D section (:func:`import_material` with several sources).
IMAGE_FORMATS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy")
#: One sentence for a user giving sections (the CLI's and the Train page's help).
SECTIONS_HELP = (
    "For an anisotropic material give 2-D sections through it: the sample is the section normal to x (rows = y, "
    "columns = z), the others normal to y (rows = x, columns = z) and z (rows = x, columns = y), all at one pixel size. "
    "One image alone stands for every orientation (an isotropic material)."
)
#: Members of an ``.npz`` tried in this order when it holds several arrays.
NPZ_MEMBERS = ("volume", "grid", "grids", "image", "pores")
#: Smallest side of a volume, and of an image, in voxels/pixels: a training patch, a
#: validation slab and a held-out slab must fit.
MIN_VOLUME_SIDE = 32
MIN_IMAGE_SIDE = 128
#: Largest side of a volume (512³ fits this machine's memory with its statistics), and of an image.
MAX_VOLUME_SIDE = 512
MAX_IMAGE_SIDE = 8192
#: How the pore phase was chosen (:attr:`Material.pore_rule`).
PORE_RULES = ("bool", "value", "minority")
#: The volume axes the sections are normal to, in the order of :attr:`Material.sections`.
SECTION_AXES = ("x", "y", "z")
#: The plane of each section (rows, columns): the two other axes in increasing order.
SECTION_PLANES = {"x": ("y", "z"), "y": ("x", "z"), "z": ("x", "y")}


def repeated(items, index: int) -> int | None:
    """The index of an earlier item that is the very object ``items[index]`` (a repeated section), else ``None``."""
    item = items[index]
    return next((k for k in range(index) if item is not None and items[k] is item), None)


def in_plane_axes(normal: int) -> tuple[int, int]:
    """The volume axes (0 = x, 1 = y, 2 = z) along a section's rows and columns, for the section normal to ``normal``."""
    return tuple(axis for axis in range(3) if axis != normal)


@dataclass(frozen=True)
class Material:
    """A segmented sample.

    Attributes
    ----------
    pores : np.ndarray
        Bool, ``True`` = pore: ``(X, Y, Z)`` for a volume, ``(P, Q)`` for an image (with
        several sections, the section normal to x).
    pore_rule : {"bool", "value", "minority"}
        How the pore phase was chosen (see the module notes).
    pore_value : float or None
        The value (or, with a threshold, the side holding it) read as pore.
    threshold : float or None
        The threshold that split grey values, if one was given.
    voxel_size_um : float or None
        Edge length of a voxel (pixel) in micrometres, if known; sizes are then reported in µm.
    source : str
        Where it came from (a file name; with several sections, their names joined by ", ").
    sections : tuple
        For an image material, the sections normal to x, y and z (the module notes): 2-D bool
        arrays, ``None`` for one not given; a single image is held three times (the same
        object). Filled in from ``pores`` when not given; ``()`` for a volume.
    """

    pores: np.ndarray
    pore_rule: str
    pore_value: float | None = None
    threshold: float | None = None
    voxel_size_um: float | None = None
    source: str = ""
    sections: tuple = ()

    def __post_init__(self):
        if self.pores.ndim == 2 and not self.sections:
            object.__setattr__(self, "sections", (self.pores,) * 3)
        if self.sections and (len(self.sections) != 3 or self.sections[0] is not self.pores):
            raise ValueError("Material.sections must be (normal to x, normal to y, normal to z) with pores as the first")

    @property
    def is_image(self) -> bool:
        """Whether the sample is 2-D: one image or orthogonal sections (a generator is then judged on 2-D slices)."""
        return self.pores.ndim == 2

    @property
    def given_sections(self) -> tuple[int, ...]:
        """Axes (0, 1, 2 = x, y, z) normal to which a section is given: all three for a single image, ``()`` for a volume."""
        return tuple(axis for axis, image in enumerate(self.sections) if image is not None)

    @property
    def distinct_sections(self) -> list[np.ndarray]:
        """The different images among :attr:`sections` (one for a single image), or ``[pores]`` for a volume."""
        items = self.sections or (self.pores,)
        return [image for k, image in enumerate(items) if image is not None and repeated(items, k) is None]

    @property
    def porosity(self) -> float:
        """Pore fraction of the volume, or of all pixels of the distinct sections."""
        arrays = self.distinct_sections
        return float(sum(a.sum() for a in arrays) / sum(a.size for a in arrays))

    def describe(self) -> str:
        """One line: shape, porosity and how the pore phase was chosen."""
        kind = "image" if self.is_image else "volume"
        shape = "×".join(map(str, self.pores.shape))
        if len(self.distinct_sections) > 1:
            shape = f"{len(self.distinct_sections)} sections (normal to " + ", ".join(
                f"{SECTION_AXES[a]} {'×'.join(map(str, self.sections[a].shape))}" for a in self.given_sections) + ")"
            kind = ""
        if self.pore_rule == "bool":  # (pore_value is None then: nothing else may be formatted)
            rule = "True = pore"
        elif self.pore_rule == "value":
            rule = f"pore value {self.pore_value:g}" + (f" (threshold {self.threshold:g})" if self.threshold is not None else "")
        else:
            rule = f"the minority phase (value {self.pore_value:g}) taken as pore; pass --pore-value to choose"
        size = f", voxel {self.voxel_size_um:g} µm" if self.voxel_size_um else ""
        return f"{shape}{' ' * bool(kind)}{kind} from {self.source}: porosity {self.porosity:.4f}, {rule}{size}"


def import_material(
    source,
    *,
    pore_value=None,
    threshold=None,
    voxel_size=None,
    shape=None,
    dtype=None,
    fmt: str | None = None,
) -> Material:
    """Read a segmented volume, image or 2–3 orthogonal sections and choose the pore phase (see the module notes).

    Parameters
    ----------
    source : str, Path, bytes, binary file-like or np.ndarray, or a list or tuple of them
        A file (any format of :data:`FORMATS`), an upload, or an array. A list or tuple
        ``(x, y)`` or ``(x, y, z)`` gives the 2-D sections normal to x, y and z (``None``
        for a missing one after x; see the module notes for which image axis is which
        volume axis); the same ``pore_value``, ``threshold`` and ``voxel_size`` apply to each.
    pore_value : float, optional
        The value of the pore phase (or, with ``threshold``, a value on the pore side).
    threshold : float, optional
        Split grey values: the two phases are ``<= threshold`` and ``> threshold``.
    voxel_size : float, optional
        Voxel edge length in micrometres.
    shape : sequence of int, optional
        Shape of a ``.raw`` volume, first axis slowest (C order).
    dtype : str, optional
        Element type of a ``.raw`` volume, e.g. ``uint8``, ``<u2``, ``>f4``.
    fmt : str, optional
        The format of bytes or an upload without an extension.

    Returns
    -------
    Material

    Raises
    ------
    ValueError
        For a file that cannot be read, an array that is not 2-D or 3-D, NaN/inf values,
        sections that are not 2-D images, fewer than 2 or more than 3 sections, sections whose
        minority phases differ,
        a single phase, grey values without a threshold, a ``pore_value`` that is not in
        the data, a side below :data:`MIN_VOLUME_SIDE` (:data:`MIN_IMAGE_SIDE` for images)
        or above :data:`MAX_VOLUME_SIDE`.
    TypeError
        For non-numeric data.
    """
    if threshold is not None:
        threshold = check_number(threshold, "threshold")
    if pore_value is not None:
        pore_value = check_number(pore_value, "pore_value")
    if voxel_size is not None:
        voxel_size = check_number(voxel_size, "voxel_size", minimum=1e-9)
    if isinstance(source, (list, tuple)):
        return _import_sections(source, pore_value, threshold, voxel_size, shape, dtype, fmt)
    pores, rule, value, name = _import_one(source, pore_value, threshold, shape, dtype, fmt)
    return Material(pores, rule, value, threshold, voxel_size, name)


def _import_one(source, pore_value, threshold, shape, dtype, fmt, *, role: str = ""):
    """The pore mask of one source, the rule and value that chose it, and its name."""
    if isinstance(source, np.ndarray):
        array, label = source, "the array"
    else:
        array, label = _read(source, shape=shape, dtype=dtype, fmt=fmt)
    name = label.removeprefix("file ").strip("'")
    label = f"{label}{role}"
    array = _squeeze(np.asarray(array), label)
    check_numeric(array, label)
    check_finite(array, label)
    _check_sides(array, label)
    pores, rule, value = _pore_phase(array, label, pore_value, threshold)
    return pores, rule, value, name


def _import_sections(sources, pore_value, threshold, voxel_size, shape, dtype, fmt) -> Material:
    """:func:`import_material` of 2–3 orthogonal sections (the module notes)."""
    sources = list(sources)
    if len(sources) > 3:
        raise ValueError(f"at most 3 sections (normal to x, y and z) make a material; got {len(sources)}")
    sources += [None] * (3 - len(sources))
    if sources[0] is None:
        raise ValueError("the section normal to x is needed (--input); name the axes so that x is one you have")
    if sum(source is not None for source in sources) < 2:
        raise ValueError("give 2 or 3 sections (normal to x, y, z), or one image alone for an isotropic material")
    imported = {}
    for axis, source in enumerate(sources):
        if source is not None:
            role = f" (the section normal to {SECTION_AXES[axis]})"
            imported[axis] = _import_one(source, pore_value, threshold, shape, dtype, fmt, role=role)
            if imported[axis][0].ndim != 2:
                raise ValueError(
                    f"{imported[axis][3]}{role} is a 3-D volume; sections must be 2-D images (give a volume alone "
                    "with --input, or pass its slices)"
                )
    values = {axis: value for axis, (_, rule, value, _) in imported.items() if rule == "minority"}
    if len(set(values.values())) > 1:
        listed = ", ".join(f"{v:g} normal to {SECTION_AXES[a]}" for a, v in values.items())
        raise ValueError(f"the sections' minority phases differ ({listed}); pass --pore-value to say which value is pore")
    _, rule, value, _ = imported[0]
    sections = tuple(imported[axis][0] if axis in imported else None for axis in range(3))
    name = ", ".join(imported[axis][3] for axis in sorted(imported))
    return Material(sections[0], rule, value, threshold, voxel_size, name, sections)


def _read(source, *, shape, dtype, fmt) -> tuple[np.ndarray, str]:
    """The array in a file and the label naming it."""
    from porelib.io import arrays, open_input

    file = open_input(source, formats=FORMATS, fmt=fmt, what="material")
    if file.suffix == ".raw":
        if shape is None or dtype is None:
            raise ValueError(f"{file.label} is headerless: give its --shape (e.g. 256 256 256) and --dtype (e.g. uint8)")
        return arrays.read_raw(file, shape, dtype), file.label
    if shape is not None or dtype is not None:
        raise ValueError(f"--shape and --dtype are for .raw files; {file.label} records its own")
    if file.suffix == ".npy":
        return arrays.read_npy(file), file.label
    if file.suffix == ".npz":
        return _npz_member(arrays.read_npz(file), file.label), file.label
    if file.suffix == ".vti":
        dimensions, point_data = arrays.read_vti(file)
        if len(point_data) != 1:
            raise ValueError(f"{file.label} must hold one point-data array; found {', '.join(point_data) or 'none'}")
        values = next(iter(point_data.values()))
        if values.shape != (int(np.prod(dimensions)),):
            raise ValueError(f"{file.label} must hold one value per point; got {describe(values)} for {dimensions}")
        return values.reshape(dimensions, order="F"), file.label
    if file.suffix in (".tif", ".tiff"):
        stack = arrays.read_tif(file)
        if stack.ndim == 3 and stack.shape[-1] in (3, 4) and min(stack.shape[:2]) > 4:
            stack = stack[..., :3].mean(axis=-1)  # an RGB(A) picture, not a 3-page stack
        return stack, file.label
    return arrays.read_picture(file, max_side=MAX_IMAGE_SIDE), file.label


def _npz_member(content: dict, label: str) -> np.ndarray:
    if len(content) == 1:
        return next(iter(content.values()))
    for name in NPZ_MEMBERS:
        if name in content:
            return content[name]
    raise ValueError(f"{label} holds several arrays ({', '.join(content)}); name the material's one "
                     f"{' or '.join(NPZ_MEMBERS[:3])}, or save it alone")


def _squeeze(array: np.ndarray, label: str) -> np.ndarray:
    """Drop axes of length 1 (a one-page stack is an image); refuse anything that is not 2-D or 3-D."""
    squeezed = array.reshape([side for side in array.shape if side != 1]) if array.size else array
    if squeezed.ndim not in (2, 3):
        raise ValueError(
            f"{label} holds a {array.ndim}-D array ({describe(array)}); expected a 3-D volume (X, Y, Z) or a "
            "2-D image (X, Y). For a time series or several samples, save one of them"
        )
    return squeezed


def _check_sides(array: np.ndarray, label: str) -> None:
    smallest, largest = (MIN_IMAGE_SIDE, MAX_IMAGE_SIDE) if array.ndim == 2 else (MIN_VOLUME_SIDE, MAX_VOLUME_SIDE)
    kind = "an image" if array.ndim == 2 else "a volume"
    if min(array.shape) < smallest:
        raise ValueError(
            f"{label} is {kind} of {'×'.join(map(str, array.shape))}; at least {smallest} along every axis is needed "
            "for a training patch, a validation slab and a held-out slab"
        )
    if max(array.shape) > largest:
        raise ValueError(
            f"{label} is {kind} of {'×'.join(map(str, array.shape))}; at most {largest} along each axis is accepted "
            "here: crop or downsample it"
        )


def _pore_phase(array: np.ndarray, label: str, pore_value, threshold) -> tuple[np.ndarray, str, float | None]:
    """The pore mask, the rule that chose it and the pore value."""
    if threshold is not None:
        above = array > threshold
        if above.all() or not above.any():
            raise ValueError(f"{label} lies entirely on one side of threshold {threshold:g} (values "
                             f"{array.min():g} to {array.max():g}); choose a threshold between them")
        if pore_value is not None:
            return (above if pore_value > threshold else ~above), "value", pore_value
        minority = above if above.mean() <= 0.5 else ~above
        return minority, "minority", float(array[minority].flat[0])
    values = np.unique(array) if array.dtype != bool else np.array([False, True])
    if array.dtype != bool and len(values) > 2:
        shown = ", ".join(f"{v:g}" for v in values[:4])
        raise ValueError(
            f"{label} holds {len(values)} distinct values ({shown}, ...): it is not segmented. Segment it first "
            "(python -m porelib segment, or the Segment page), or pass --threshold T to split it at T"
        )
    if array.dtype == bool:
        if pore_value is not None and pore_value not in (0, 1):
            raise ValueError(f"pore_value must be 0 or 1 for the bool data of {label}; got {pore_value:g}")
        pores = array if pore_value in (None, 1) else ~array
        rule, value = ("bool", None) if pore_value is None else ("value", pore_value)
    elif pore_value is not None:
        if pore_value not in values:
            raise ValueError(f"pore_value {pore_value:g} is not in {label}, whose values are "
                             f"{', '.join(f'{v:g}' for v in values)}")
        pores, rule, value = array == pore_value, "value", pore_value
    else:
        counts = [(array == v).sum() for v in values]
        value = float(values[int(np.argmin(counts))]) if len(values) == 2 else float(values[0])
        pores, rule = array == value, "minority"
    if pores.all() or not pores.any():
        raise ValueError(f"{label} has a single phase (porosity {pores.mean():.3g}); a material needs pores and solid")
    return pores, rule, value


# ----------------------------------------------------------------------------- the held-out slab


#: Fractions of the split axis that go to the held-out and validation slabs by default.
HELD_OUT_FRACTION = 0.25
VALIDATION_FRACTION = 0.15
#: Fewest voxels of the split axis in each slab.
MIN_SLAB = 8


@dataclass(frozen=True)
class MaterialSplit:
    """A material cut along one axis into ``[train | validation | held-out]``.

    For an image material every section is cut the same way along its own ``axis`` (its
    rows for 0, its columns for 1): each section has its own held-out strip.

    Attributes
    ----------
    train, validation, held_out : np.ndarray
        Bool sub-arrays (views) of ``pores``, in the material's axis order (with several
        sections, those of the section normal to x).
    axis : int
        The axis cut.
    bounds : dict
        ``{"train": (0, a), "validation": (a, b), "held_out": (b, n)}`` index ranges along ``axis``.
    sections : tuple
        For an image material, the split of each section normal to x, y, z (``None`` where
        no section is given; the same object where the image is the same); ``()`` for a volume.
    """

    train: np.ndarray
    validation: np.ndarray
    held_out: np.ndarray
    axis: int
    bounds: dict
    sections: tuple = ()

    def parts(self, name: str) -> list[np.ndarray]:
        """Part ``name`` (``"train"``, ``"validation"`` or ``"held_out"``) of each distinct section, or of the volume."""
        check_choice(name, ("train", "validation", "held_out"), "name")
        items = self.sections or (self,)
        return [getattr(split, name) for k, split in enumerate(items) if split is not None and repeated(items, k) is None]

    def field_training(self):
        """What a Gaussian random field is fitted to: the training region, or the training strip of each
        section normal to x, y, z (``None`` where one is not given; :func:`porelib.material.baselines.gaussian_field`)."""
        if not self.sections:
            return self.train
        return tuple(None if split is None else split.train for split in self.sections)

    def porosity(self, name: str = "train") -> float:
        """Pore fraction of part ``name`` over all distinct sections (or the volume)."""
        arrays = self.parts(name)
        return float(sum(a.sum() for a in arrays) / sum(a.size for a in arrays))

    def describe_held_out(self) -> str:
        """Where the held-out part is, in words: e.g. ``voxels 30–40 along axis 0``, per section for several."""
        if len(self.parts("held_out")) == 1:
            start, stop = self.bounds["held_out"]
            return f"voxels {start}–{stop} along axis {self.axis}"
        where = ", ".join(f"{SECTION_AXES[a]} {split.bounds['held_out'][0]}–{split.bounds['held_out'][1]}"
                          for a, split in enumerate(self.sections) if split is not None)  # fmt: skip
        return f"a strip of each section along its axis {self.axis} (normal to {where})"

    def to_dict(self) -> dict:
        """JSON-ready description (no arrays), for cards; with several sections, the bounds of each."""
        info = {"axis": self.axis, "bounds": _spans(self.bounds)}
        if len(self.parts("train")) > 1:
            info["sections"] = {SECTION_AXES[a]: _spans(split.bounds) for a, split in enumerate(self.sections)
                                if split is not None}  # fmt: skip
        return info


def _spans(bounds: dict) -> dict:
    return {name: list(span) for name, span in bounds.items()}


def split_material(material: Material, *, axis: int = 0, held_out_fraction: float = HELD_OUT_FRACTION,
                   validation_fraction: float = VALIDATION_FRACTION) -> MaterialSplit:
    """Cut ``material`` along ``axis`` into training, validation and held-out slabs (in that order).

    The held-out slab (the last ``held_out_fraction`` of the axis) is never trained on and
    never picks a checkpoint; the validation slab (the ``validation_fraction`` before it)
    picks the checkpoint. Each slab gets at least :data:`MIN_SLAB` voxels. Each section of
    an image material is cut along its own ``axis`` (:attr:`MaterialSplit.sections`).

    Raises
    ------
    ValueError
        For an axis the material does not have, fractions outside (0, 0.5], or an axis too
        short for three slabs.
    """
    check_choice(axis, tuple(range(material.pores.ndim)), "axis")
    held_out_fraction = check_number(held_out_fraction, "held_out_fraction", minimum=0.05, maximum=0.5)
    validation_fraction = check_number(validation_fraction, "validation_fraction", minimum=0.05, maximum=0.5)
    if not material.is_image:
        return _split_array(material.pores, axis, held_out_fraction, validation_fraction)
    splits: list[MaterialSplit] = []
    for index, image in enumerate(material.sections):
        same = repeated(material.sections, index)
        if image is None or same is not None:
            splits.append(None if image is None else splits[same])
            continue
        try:
            splits.append(_split_array(image, axis, held_out_fraction, validation_fraction))
        except ValueError as error:
            raise ValueError(f"the section normal to {SECTION_AXES[index]}: {error}") from None
    return with_sections(splits)


def with_sections(splits) -> MaterialSplit:
    """The split of an image material from the splits of its sections normal to x, y, z (x's parts first)."""
    first = splits[0]
    return MaterialSplit(first.train, first.validation, first.held_out, first.axis, first.bounds, tuple(splits))


def _split_array(pores: np.ndarray, axis: int, held_out_fraction: float, validation_fraction: float) -> MaterialSplit:
    n = pores.shape[axis]
    held = max(MIN_SLAB, round(held_out_fraction * n))
    validation = max(MIN_SLAB, round(validation_fraction * n))
    if n - held - validation < MIN_SLAB:
        raise ValueError(f"axis {axis} has {n} voxels; too few for training, validation and held-out slabs of at "
                         f"least {MIN_SLAB} each; split along a longer axis")
    a, b = n - held - validation, n - held

    def cut(start: int, stop: int) -> np.ndarray:
        box = [slice(None)] * pores.ndim
        box[axis] = slice(start, stop)
        return pores[tuple(box)]

    bounds = {"train": (0, a), "validation": (a, b), "held_out": (b, n)}
    return MaterialSplit(cut(0, a), cut(a, b), cut(b, n), axis, bounds)
