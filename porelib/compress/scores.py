"""How close a decoded volume is to its original: PSNR and SSIM for scans, IoU and Dice for grids."""

from __future__ import annotations

import math

import numpy as np

from porelib._validate import check_choice, check_number, check_same_shape
from porelib.compress.volume import KINDS


def psnr(original, decoded, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(range² / MSE)``.

    ``data_range`` defaults to ``original.max() - original.min()``; identical
    volumes give ``inf``.

    Raises
    ------
    ValueError
        If the shapes differ, or the range is not positive.
    """
    original = np.asarray(original, dtype=np.float64)
    decoded = np.asarray(decoded, dtype=np.float64)
    check_same_shape(original, decoded, ("original", "decoded"))
    if data_range is None:
        data_range = float(original.max() - original.min())
    data_range = check_number(data_range, "data_range", minimum=0.0)
    if data_range == 0:
        raise ValueError("data_range must be positive; the original is constant, pass data_range explicitly")
    mse = float(np.mean((original - decoded) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def ssim(original, decoded) -> float:
    """Structural similarity (:func:`skimage.metrics.structural_similarity`, 7³ windows) on the original's range.

    Volumes are ``(X, Y, Z)``, each side at least 7 voxels; 1.0 means identical.
    About 1 s for a 128³ volume.

    Raises
    ------
    ValueError
        If the shapes differ, a side is shorter than 7 voxels, or the original is constant.
    """
    from skimage.metrics import structural_similarity

    original = np.asarray(original, dtype=np.float64)
    decoded = np.asarray(decoded, dtype=np.float64)
    check_same_shape(original, decoded, ("original", "decoded"))
    if min(original.shape) < 7:
        raise ValueError(f"ssim needs at least 7 voxels along each axis (its window); got shape {original.shape}")
    data_range = float(original.max() - original.min())
    if data_range == 0:
        raise ValueError("ssim is undefined for a constant original")
    return float(structural_similarity(original, decoded, data_range=data_range))


def quality(original, decoded, *, kind: str, with_ssim: bool = False) -> dict[str, float]:
    """How close a decoded volume is: ``{"psnr": dB}`` for a scan, ``{"iou": ..., "dice": ...}`` for a grid.

    PSNR is on the original's value range (:func:`psnr`; a constant original on a
    range of 1), with ``with_ssim`` also :func:`ssim` (scans of at least 7³, not
    constant); IoU and Dice of the pore voxels are
    :func:`porelib.metrics.iou` and :func:`porelib.metrics.dice` (both empty = 1).

    Raises
    ------
    ValueError
        If the shapes differ or ``kind`` is unknown.
    """
    from porelib.metrics import dice, iou

    if check_choice(kind, KINDS, "kind") == "binary":
        return {"iou": iou(original, decoded), "dice": dice(original, decoded)}
    original = np.asarray(original)
    constant = bool(original.size) and float(original.max()) == float(original.min())
    scores = {"psnr": psnr(original, decoded, data_range=1.0 if constant else None)}
    if with_ssim and min(original.shape) >= 7 and not constant:
        scores["ssim"] = ssim(original, decoded)
    return scores
