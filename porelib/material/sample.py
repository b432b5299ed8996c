"""A user's material: a segmented 3-D volume or 2-D image, its pore phase, and a held-out slab.

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


@dataclass(frozen=True)
class Material:
    """A segmented sample.

    Attributes
    ----------
    pores : np.ndarray
        Bool, ``True`` = pore: ``(X, Y, Z)`` for a volume, ``(X, Y)`` for an image.
    pore_rule : {"bool", "value", "minority"}
        How the pore phase was chosen (see the module notes).
    pore_value : float or None
        The value (or, with a threshold, the side holding it) read as pore.
    threshold : float or None
        The threshold that split grey values, if one was given.
    voxel_size_um : float or None
        Edge length of a voxel (pixel) in micrometres, if known; sizes are then reported in µm.
    source : str
        Where it came from (a file name).
    """

    pores: np.ndarray
    pore_rule: str
    pore_value: float | None = None
    threshold: float | None = None
    voxel_size_um: float | None = None
    source: str = ""

    @property
    def is_image(self) -> bool:
        """Whether the sample is a 2-D image (a generator is then judged on 2-D slices)."""
        return self.pores.ndim == 2

    @property
    def porosity(self) -> float:
        return float(self.pores.mean())

    def describe(self) -> str:
        """One line: shape, porosity and how the pore phase was chosen."""
        kind = "image" if self.is_image else "volume"
        shape = "×".join(map(str, self.pores.shape))
        rule = {
            "bool": "True = pore",
            "value": f"pore value {self.pore_value:g}" + (f" (threshold {self.threshold:g})" if self.threshold is not None else ""),
            "minority": f"the minority phase (value {self.pore_value:g}) taken as pore; pass --pore-value to choose",
        }[self.pore_rule]
        size = f", voxel {self.voxel_size_um:g} µm" if self.voxel_size_um else ""
        return f"{shape} {kind} from {self.source}: porosity {self.porosity:.4f}, {rule}{size}"


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
    """Read a segmented volume or image and choose its pore phase (see the module notes).

    Parameters
    ----------
    source : str, Path, bytes, binary file-like or np.ndarray
        A file (any format of :data:`FORMATS`), an upload, or an array.
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
        a single phase, grey values without a threshold, a ``pore_value`` that is not in
        the data, a side below :data:`MIN_VOLUME_SIDE` (:data:`MIN_IMAGE_SIDE` for images)
        or above :data:`MAX_VOLUME_SIDE`.
    TypeError
        For non-numeric data.
    """
    if isinstance(source, np.ndarray):
        array, label = source, "the array"
    else:
        array, label = _read(source, shape=shape, dtype=dtype, fmt=fmt)
    array = _squeeze(np.asarray(array), label)
    check_numeric(array, label)
    check_finite(array, label)
    _check_sides(array, label)
    if threshold is not None:
        threshold = check_number(threshold, "threshold")
    if pore_value is not None:
        pore_value = check_number(pore_value, "pore_value")
    if voxel_size is not None:
        voxel_size = check_number(voxel_size, "voxel_size", minimum=1e-9)
    pores, rule, value = _pore_phase(array, label, pore_value, threshold)
    name = label.removeprefix("file ").strip("'")
    return Material(pores, rule, value, threshold, voxel_size, name)


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

    Attributes
    ----------
    train, validation, held_out : np.ndarray
        Bool sub-arrays (views) of ``pores``, in the material's axis order.
    axis : int
        The axis cut.
    bounds : dict
        ``{"train": (0, a), "validation": (a, b), "held_out": (b, n)}`` index ranges along ``axis``.
    """

    train: np.ndarray
    validation: np.ndarray
    held_out: np.ndarray
    axis: int
    bounds: dict

    def to_dict(self) -> dict:
        """JSON-ready description (no arrays), for cards."""
        return {"axis": self.axis, "bounds": {name: list(span) for name, span in self.bounds.items()}}


def split_material(material: Material, *, axis: int = 0, held_out_fraction: float = HELD_OUT_FRACTION,
                   validation_fraction: float = VALIDATION_FRACTION) -> MaterialSplit:
    """Cut ``material`` along ``axis`` into training, validation and held-out slabs (in that order).

    The held-out slab (the last ``held_out_fraction`` of the axis) is never trained on and
    never picks a checkpoint; the validation slab (the ``validation_fraction`` before it)
    picks the checkpoint. Each slab gets at least :data:`MIN_SLAB` voxels.

    Raises
    ------
    ValueError
        For an axis the material does not have, fractions outside (0, 0.5], or an axis too
        short for three slabs.
    """
    pores = material.pores
    check_choice(axis, tuple(range(pores.ndim)), "axis")
    held_out_fraction = check_number(held_out_fraction, "held_out_fraction", minimum=0.05, maximum=0.5)
    validation_fraction = check_number(validation_fraction, "validation_fraction", minimum=0.05, maximum=0.5)
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
