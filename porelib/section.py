"""3D pore grids from one 2D section: what ``python -m porelib from-image`` and the app call.

A section is a bool image ``section[ix, iy]`` (``True`` = pore), the central plane
``grid[:, :, S // 2]`` of the grid to be made. :func:`grid_from_section` reads it
(:func:`read_section`), binarises and resizes it to the model's S × S
(:func:`binarize_section`), and samples a grid from the trained section-to-volume model
(:mod:`porelib.models.img2vox`, checkpoint ``checkpoints/img2vox``) with the section
imposed at the central plane.

Inputs
    ``.png`` (any PIL mode: bilevel, grey, palette, RGB(A), 16-bit; colours become grey
    levels, transparent pixels count as white) is a *picture*: x runs to the right and y
    upwards, as the app draws sections, so ``section = picture[::-1].T``. ``.npy`` (or an array) is indexed like the grid,
    ``array[ix, iy]``, and may be bool, 0/1 or grey levels.

Which phase is pore (``contrast``)
    0/1 data (bool, or only the values 0 and 1) follow the project's convention, 1 = pore,
    unless ``contrast="dark"``. Anything else is split at Otsu's threshold into a brighter
    and a darker phase: ``"bright"`` takes the brighter as pore, ``"dark"`` the darker, and
    ``"auto"`` (default) the *minority* phase: pores are under half of every section of
    the dataset. A uniform image has no pores.

Size
    A non-square image is cropped to its central square (stretching would turn round
    pores into ellipses), then resized to S × S by area averaging (anti-aliased) and
    thresholded at 0.5, so the pore fraction is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from porelib._validate import (
    check_choice,
    check_finite,
    check_numeric,
    check_positive_int,
    describe,
)

#: File formats of :func:`read_section`.
SECTION_FORMATS = (".png", ".npy")
#: Which phase of a grey image is pore; see the module notes.
CONTRASTS = ("auto", "bright", "dark")
#: Name of the model (and of its checkpoint folder under ``checkpoints/``).
MODEL = "img2vox"
#: Largest side, in pixels, of an image accepted by :func:`read_section`.
MAX_IMAGE_SIDE = 8192


@dataclass(frozen=True)
class SectionVolume:
    """A grid made from a section, with what it was made from.

    Attributes
    ----------
    grid : np.ndarray
        ``(S, S, S)`` bool, ``True`` = pore; ``grid[:, :, S // 2]`` equals ``section``.
    section : np.ndarray
        ``(S, S)`` bool: the binarised, resized input.
    density : float
        The density factor implied by the section (the model's regression), at which the
        grid's pore-voxel count was set and at which to compare it with the dataset.
    raw_section : np.ndarray
        ``(S, S)`` bool: the central plane the network produced *before* the section was
        imposed (same noise, same pore-voxel count).
    section_iou_raw : float
        IoU of ``raw_section`` with ``section`` (1.0 if both are empty): how well the
        network itself followed the section.
    """

    grid: np.ndarray
    section: np.ndarray
    density: float
    raw_section: np.ndarray
    section_iou_raw: float


def read_section(source, *, fmt: str | None = None) -> np.ndarray:
    """Read a section image as a float64 array ``image[ix, iy]``.

    Parameters
    ----------
    source : str, Path, np.ndarray, bytes or binary file-like
        A ``.png`` or ``.npy`` file, its bytes (with ``fmt``) or an upload (with a
        ``name``), or a 2-D array (returned as float64 after checks). A ``(H, W, 3|4)``
        array is read as RGB(A) and averaged to grey.
    fmt : str, optional
        ``".png"`` or ``".npy"``; by default the extension of the path or name.

    Returns
    -------
    np.ndarray
        ``(X, Y)`` float64, ``image[ix, iy]``; a picture's rows are flipped and
        transposed (see the module notes).

    Raises
    ------
    TypeError
        If ``source`` is of none of the accepted kinds or holds no numbers.
    ValueError
        If the format is unsupported, the file unreadable, or the image not 2-D,
        smaller than 2 × 2, larger than ``MAX_IMAGE_SIDE``, or holding NaN/inf.
    """
    from porelib.io import arrays, open_input

    if isinstance(source, np.ndarray):
        return _check_image(source, "section")
    file = open_input(source, formats=SECTION_FORMATS, fmt=fmt, what="section image", arg_name="image")
    if file.suffix == ".npy":
        return _check_image(arrays.read_npy(file), file.label)
    picture = arrays.read_picture(file, max_side=MAX_IMAGE_SIDE)
    return _check_image(picture, file.label)[::-1].T.copy()


def binarize_section(image, *, size: int, contrast: str = "auto") -> np.ndarray:
    """Threshold, crop to a square and resize a section image to ``(size, size)`` bool.

    Parameters
    ----------
    image : array_like, (X, Y)
        Bool, 0/1 or grey levels, ``image[ix, iy]`` (see :func:`read_section`).
    size : int
        Edge length S of the result.
    contrast : {"auto", "bright", "dark"}
        Which phase is pore; see the module notes.

    Returns
    -------
    np.ndarray
        ``(S, S)`` bool, ``True`` = pore.

    Raises
    ------
    ValueError
        For a malformed image, size or contrast.
    """
    image = _check_image(np.asarray(image), "section")
    size = check_positive_int(size, "size", minimum=2, maximum=MAX_IMAGE_SIDE)
    check_choice(contrast, CONTRASTS, "contrast")
    pores = _pore_phase(image, contrast)
    side = min(pores.shape)
    x0, y0 = (pores.shape[0] - side) // 2, (pores.shape[1] - side) // 2
    square = pores[x0 : x0 + side, y0 : y0 + side]
    if side == size:
        return square.copy()
    from skimage.transform import resize

    return resize(square.astype(np.float64), (size, size), order=1, anti_aliasing=side > size) > 0.5


def section_to_volume(
    image, *, checkpoint=None, seed=None, contrast: str = "auto", fmt: str | None = None
) -> SectionVolume:
    """Sample a grid whose central section is ``image``; see :func:`grid_from_section`.

    Returns
    -------
    SectionVolume
        The grid, the binarised section, the implied density and the network's own
        central plane before imposing, with its IoU.
    """
    import torch

    from porelib.inference import load_generator
    from porelib.metrics import iou

    check_choice(contrast, CONTRASTS, "contrast")
    model = load_generator(MODEL, checkpoint)
    size = int(model.config.size)
    section = binarize_section(read_section(image, fmt=fmt), size=size, contrast=contrast)
    noise = np.random.default_rng(seed).standard_normal((1, *model.latent_shape), dtype=np.float32)
    sections, noise = torch.from_numpy(section[None].astype(np.float32)), torch.from_numpy(noise)
    with torch.inference_mode():
        grid = model.sample(sections, noise, impose=True)[0].numpy()
        raw_plane = model.sample(sections, noise, impose=False)[0, :, :, size // 2].numpy()
        density = float(model.implied_density(sections)[0])
    return SectionVolume(grid, section, round(density, 4), raw_plane, iou(raw_plane, section))


def grid_from_section(image, *, checkpoint=None, seed=None, contrast: str = "auto") -> np.ndarray:
    """A 3D pore grid whose central section ``grid[:, :, S // 2]`` is the given section.

    The section is read (:func:`read_section`), binarised and resized to the model's
    S × S (:func:`binarize_section`), and a grid is sampled from the section-to-volume
    model: the network fills the volume from the section and a random latent, the
    section is imposed at the central plane, and the grid keeps the dataset's
    pore-voxel count at the density the section implies (:mod:`porelib.models.img2vox`).

    Parameters
    ----------
    image : str, Path, np.ndarray, bytes or binary file-like
        A ``.png`` or ``.npy`` section (any size; see the module notes), or a 2-D array.
    checkpoint : str or Path, optional
        Checkpoint folder of an ``img2vox`` model (default ``checkpoints/img2vox``).
    seed : int, optional
        The same seed gives the same grid; other seeds give other volumes around the
        same section.
    contrast : {"auto", "bright", "dark"}
        Which phase of a grey image is pore; see the module notes.

    Returns
    -------
    np.ndarray
        ``(S, S, S)`` bool, ``True`` = pore, S = the checkpoint's grid size.

    Raises
    ------
    ValueError
        For an unreadable or malformed image, a bad ``contrast``, or a missing checkpoint.
    """
    return section_to_volume(image, checkpoint=checkpoint, seed=seed, contrast=contrast).grid


# ----------------------------------------------------------------------------- helpers


def _check_image(array: np.ndarray, label: str) -> np.ndarray:
    """A 2-D float64 image; RGB(A) ``(H, W, 3|4)`` arrays are averaged to grey (alpha dropped)."""
    check_numeric(array, label)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = array[:, :, :3].mean(axis=2)
    if array.ndim != 2:
        raise ValueError(f"{label} must be a 2-D section image (X, Y); got {array.ndim}-D {describe(array)}")
    if min(array.shape) < 2 or max(array.shape) > MAX_IMAGE_SIDE:
        raise ValueError(
            f"{label} must be between 2 and {MAX_IMAGE_SIDE} pixels along each axis; got {describe(array)}"
        )
    check_finite(array, label)
    return array.astype(np.float64)


def _pore_phase(image: np.ndarray, contrast: str) -> np.ndarray:
    """The pore pixels of an image, by the rule of the module notes."""
    values = np.unique(image)
    if np.isin(values, (0.0, 1.0)).all():
        return image == (0.0 if contrast == "dark" else 1.0)
    if len(values) == 1:
        return np.zeros(image.shape, dtype=bool)
    from skimage.filters import threshold_otsu

    brighter = image > threshold_otsu(image)
    if contrast == "bright" or (contrast == "auto" and np.count_nonzero(brighter) <= brighter.size / 2):
        return brighter
    return ~brighter


__all__ = [
    "CONTRASTS",
    "SECTION_FORMATS",
    "SectionVolume",
    "binarize_section",
    "grid_from_section",
    "read_section",
    "section_to_volume",
]
