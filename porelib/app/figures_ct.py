"""Figures and tables of the "Segment a scan" page; no streamlit here.

Slices
    :func:`overlay_view`: an orthogonal section of a CT scan in grey levels, with a
    mask (the truth or a method's segmentation) drawn over it in colour.
Running
    :func:`segment_methods`: one mask per method, with one progress report over all of them;
    :func:`auto_choice`: which method ``auto`` uses for a scan, and why.
Scores
    :func:`score_masks` (Dice, IoU and inclusion fraction of each method's mask
    against the truth) and :func:`dice_chart` (those Dice values as labelled bars beside
    the best classical method's).
Agreement
    :func:`porosity_table`, :func:`porosity_chart` and :func:`disagreement`: each
    method's inclusion fraction, and a warning when they differ by more than
    :data:`DISAGREEMENT` (works without a label, on a user's scan).
Downloads
    :func:`mask_npy`: a mask as the bytes of a ``.npy`` file.

Volumes are indexed ``volume[ix, iy, iz]`` and need not be cubic; lengths are in voxels.
"""

from __future__ import annotations

import io as stdio
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from porelib import metrics, segmentation
from porelib._validate import (
    check_binary,
    check_choice,
    check_positive_int,
    check_same_shape,
    describe,
)
from porelib.app.figures import AXES, CURVE_COLOURS, _hex_rgb

#: Colour of the true label's overlay; methods take :data:`METHOD_COLOURS` in turn.
TRUTH_COLOUR = "#10b981"
METHOD_COLOURS = {
    "auto": "#111827",
    "unet": "#ef4444",
    "nlm": "#0891b2",
    "gaussian": "#65a30d",
    "median": "#db2777",
    "watershed": "#92400e",
    "otsu": "#1d4ed8",
    "kmeans": "#f59e0b",
    "depthmap": "#8b5cf6",
}

#: Short display names of :data:`porelib.segmentation.METHODS` (bars, captions, buttons).
METHOD_LABELS = {
    "auto": "auto",
    "unet": "U-Net",
    "nlm": "NLM + Otsu",
    "gaussian": "Gaussian + Otsu",
    "median": "median + Otsu",
    "watershed": "watershed",
    "otsu": "Otsu (raw)",
    "kmeans": "k-means",
    "depthmap": "depth map (seed 001)",
}

#: Methods whose porosity is not a segmentation worth comparing (seed 001's depth map
#: selects a quarter of the slices whatever the scan): left out of :func:`disagreement`.
NOT_COMPARED = ("depthmap",)

#: Largest spread of the methods' inclusion fractions (absolute, of the volume) before
#: :func:`disagreement` warns: a few percent of porosity.
DISAGREEMENT = 0.02
#: Opacity of a mask's fill; its outline is drawn opaque.
FILL_OPACITY = 0.35


@dataclass(frozen=True)
class OverlayView:
    """One orthogonal section of a scan with a mask over it, ready to show.

    Attributes
    ----------
    image : ndarray, (H, W, 3) uint8
        The normalised intensities in grey (:func:`porelib.segmentation.normalize`),
        the mask filled in its colour at :data:`FILL_OPACITY` with an opaque outline;
        each voxel is a square block of pixels. The horizontal axis is the first
        remaining volume axis (left to right), the vertical one the second (bottom to top).
    geometry : str
        Which section it is and how its axes run.
    fraction : float
        Fraction of the section's voxels inside the mask (NaN without a mask).
    """

    image: np.ndarray
    geometry: str
    fraction: float


def overlay_view(
    volume, mask=None, *, axis: str = "z", index: int = 0, colour: str = TRUTH_COLOUR, pixels: int = 360
) -> OverlayView:
    """The section ``axis = index`` of ``volume`` with ``mask`` drawn over it.

    Parameters
    ----------
    volume : array_like, (X, Y, Z)
        Intensities; shown after :func:`porelib.segmentation.normalize`.
    mask : array_like of bool, (X, Y, Z), optional
        Drawn over the scan; ``None`` shows the scan alone.
    axis : {"x", "y", "z"}
        Axis held fixed.
    index : int
        Voxel index along ``axis``.
    colour : str
        ``"#rrggbb"`` colour of the mask.
    pixels : int
        Target width; each voxel becomes ``max(1, pixels // width)`` pixels square.

    Raises
    ------
    ValueError
        For a bad volume or mask, a mask of another shape, an unknown axis or an index outside the volume.
    """
    intensities = segmentation.normalize(volume)
    check_choice(axis, AXES, "axis")
    number = AXES.index(axis)
    index = check_positive_int(index, "index", minimum=0, maximum=intensities.shape[number] - 1)
    pixels = check_positive_int(pixels, "pixels")
    horizontal, vertical = (name for name in AXES if name != axis)
    section = _picture(np.take(intensities, index, axis=number))  # rows top to bottom
    rgb = np.repeat((section * 255).astype(np.float32)[..., None], 3, axis=2)
    fraction = float("nan")
    if mask is not None:
        mask = check_binary(np.asarray(mask), "mask")
        check_same_shape(intensities, mask, ("volume", "mask"))
        inside = _picture(np.take(mask, index, axis=number))
        fraction = float(inside.mean())
        outline = inside & ~_eroded(inside)
        tint = _hex_rgb(colour).astype(np.float32)
        rgb[inside] = (1 - FILL_OPACITY) * rgb[inside] + FILL_OPACITY * tint
        rgb[outline] = tint
    scale = max(1, pixels // section.shape[1])
    image = np.kron(rgb.round().astype(np.uint8), np.ones((scale, scale, 1), dtype=np.uint8))
    last = intensities.shape[number] - 1
    geometry = f"Section {axis} = {index} of 0–{last}: {horizontal} to the right, {vertical} upwards (voxels)."
    return OverlayView(image, geometry, fraction)


def _picture(section: np.ndarray) -> np.ndarray:
    """A section ``section[h, v]`` as picture rows: ``v`` upwards, ``h`` to the right."""
    return section.T[::-1]


def _eroded(inside: np.ndarray) -> np.ndarray:
    """``inside`` shrunk by one pixel (4-neighbourhood; pixels at the border count as outside)."""
    padded = np.pad(inside, 1)
    return padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]


def segment_methods(volume, methods, *, checkpoint=None, progress=None) -> dict[str, np.ndarray]:
    """Segment ``volume`` with each of ``methods`` in turn (:func:`porelib.segmentation.segment`).

    Parameters
    ----------
    volume : array_like, (X, Y, Z)
        Intensities.
    methods : sequence of str
        Names from :data:`porelib.segmentation.METHODS`.
    checkpoint : str or Path, optional
        U-Net checkpoint folder (default ``checkpoints/unet``).
    progress : callable, optional
        Called as ``progress(fraction, message)`` with the fraction of the whole job
        done, in [0, 1], and what is running (e.g. ``"unet: window 3 of 8"``).

    Returns
    -------
    dict of str to ndarray of bool, (X, Y, Z)
        Method -> mask, in the order of ``methods``.

    Raises
    ------
    ValueError
        For no or unknown methods, a bad volume, or a missing U-Net checkpoint.
    """
    methods = [check_choice(method, segmentation.METHODS, "methods") for method in methods]
    if not methods:
        raise ValueError(f"methods must name at least one of {', '.join(segmentation.METHODS)}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable as progress(fraction, message); got {type(progress).__name__}")
    masks = {}
    for position, method in enumerate(methods):
        if method == "auto":  # the picked method's mask, made once
            picked, _ = auto_choice(volume, checkpoint)
            if picked not in masks:
                masks[picked] = segmentation.segment(volume, picked, checkpoint=checkpoint)
            masks["auto"] = masks[picked]
            continue
        if method in masks:
            continue

        def report(done: int, total: int, position=position, method=method) -> None:
            if progress is not None:
                step = f"window {done} of {total}" if method == "unet" else "done"
                progress((position + done / total) / len(methods), f"{method}: {step}")

        if progress is not None:
            progress(position / len(methods), f"{method}: running")
        masks[method] = segmentation.segment(volume, method, checkpoint=checkpoint, progress=report)
    return {method: masks[method] for method in methods}


def auto_choice(volume, checkpoint=None) -> tuple[str, str]:
    """The method ``auto`` uses for ``volume`` and the reason (:func:`porelib.segmentation.choose_method`).

    The U-Net counts as available when ``checkpoint`` (default ``checkpoints/unet``) holds a card.
    """
    from pathlib import Path

    from porelib.checkpoint import CARD_FILE

    folder = Path(segmentation.DEFAULT_CHECKPOINT if checkpoint is None else checkpoint)
    return segmentation.choose_method(volume, unet_available=(folder / CARD_FILE).is_file())


def porosity_table(masks: dict, label=None) -> pd.DataFrame:
    """Each method's inclusion fraction, and its difference to the truth when a label is given.

    Parameters
    ----------
    masks : dict of str to array_like of bool, (X, Y, Z)
    label : array_like of bool, (X, Y, Z), optional

    Returns
    -------
    pandas.DataFrame
        ``method`` (the display name of :data:`METHOD_LABELS`), ``key`` (the method),
        ``fraction``, and with a label ``error`` (fraction minus the true one).
    """
    rows = []
    truth = None if label is None else float(check_binary(np.asarray(label), "label").mean())
    for method, mask in masks.items():
        fraction = float(check_binary(np.asarray(mask), f"mask of {method}").mean())
        row = {"method": METHOD_LABELS.get(method, method), "key": method, "fraction": fraction}
        if truth is not None:
            row["error"] = fraction - truth
        rows.append(row)
    return pd.DataFrame(rows)


def disagreement(table: pd.DataFrame, tolerance: float = DISAGREEMENT) -> str | None:
    """A warning when the methods' inclusion fractions (of :func:`porosity_table`) spread over ``tolerance``.

    :data:`NOT_COMPARED` methods are left out. Returns None when they agree (or fewer than two compared).
    """
    compared = table[~table["key"].isin(NOT_COMPARED)]
    if len(compared) < 2:
        return None
    low, high = compared.loc[compared["fraction"].idxmin()], compared.loc[compared["fraction"].idxmax()]
    spread = float(high["fraction"] - low["fraction"])
    if spread <= tolerance:
        return None
    return (
        f"The methods disagree: inclusion fraction {low['fraction']:.3f} ({low['method']}) to "
        f"{high['fraction']:.3f} ({high['method']}), a spread of {spread:.3f} (more than {tolerance:.2f} of the "
        "volume). Check the slices before trusting one porosity."
    )


def porosity_chart(table: pd.DataFrame, truth: float | None = None) -> alt.Chart:
    """Inclusion fraction per method as labelled horizontal bars, the true fraction as a dashed rule if known."""
    names = list(table["method"])
    colours = [method_colour(key, i) for i, key in enumerate(table["key"])]
    high = float(max(table["fraction"].max(), truth or 0.0))
    bars = (
        alt.Chart(table)
        .mark_bar()
        .encode(
            y=alt.Y("method:N", sort=names, title=None, axis=alt.Axis(labelLimit=220)),
            x=alt.X("fraction:Q", title="Inclusion fraction of the volume", scale=alt.Scale(domain=[0.0, min(1.0, high * 1.15 + 0.01)])),
            color=alt.Color("method:N", scale=alt.Scale(domain=names, range=colours), legend=None),
            tooltip=["method:N", alt.Tooltip("fraction:Q", title="inclusion fraction", format=".4f")],
        )
    )
    chart = bars + bars.mark_text(align="left", dx=4, color="#111827").encode(text=alt.Text("fraction:Q", format=".3f"))
    if truth is not None:
        chart += alt.Chart(pd.DataFrame({"fraction": [truth]})).mark_rule(strokeDash=[5, 3], color=TRUTH_COLOUR).encode(
            x="fraction:Q"
        )
    return chart.properties(height=32 * len(names) + 40)


def method_colour(method: str, position: int = 0) -> str:
    """The overlay and bar colour of ``method`` (a fixed one for known methods)."""
    return METHOD_COLOURS.get(method, CURVE_COLOURS[position % len(CURVE_COLOURS)])


def score_masks(masks: dict, label) -> pd.DataFrame:
    """Dice, IoU and inclusion fraction of each mask against the true label.

    Parameters
    ----------
    masks : dict of str to array_like of bool
        Method name -> mask ``(X, Y, Z)``.
    label : array_like of bool, (X, Y, Z)
        The exact inclusion label.

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method``, ``dice``, ``iou``, ``fraction`` (of the volume
        segmented as inclusion) and ``fraction_error`` (minus the true fraction).

    Raises
    ------
    ValueError
        For an empty ``masks``, or a mask that is not 0/1 or not of the label's shape.
    """
    if not masks:
        raise ValueError("masks must hold at least one method's mask")
    label = check_binary(np.asarray(label), "label")
    rows = []
    for method, mask in masks.items():
        mask = check_binary(np.asarray(mask), f"mask of {method}")
        check_same_shape(mask, label, (f"mask of {method}", "label"))
        rows.append(
            {
                "method": method,
                "dice": metrics.dice(mask, label),
                "iou": metrics.iou(mask, label),
                "fraction": float(mask.mean()),
                "fraction_error": float(mask.mean() - label.mean()),
            }
        )
    return pd.DataFrame(rows)


def best_classical(scores: pd.DataFrame) -> pd.Series | None:
    """The row of :func:`score_masks` of the classical method with the highest Dice (None if none was run)."""
    classical = scores[~scores["method"].isin(("auto", "unet"))]
    return None if classical.empty else classical.loc[classical["dice"].idxmax()]


def dice_chart(scores: pd.DataFrame) -> alt.Chart:
    """Dice per method as labelled horizontal bars, the best classical method's as a dashed rule.

    Parameters
    ----------
    scores : pandas.DataFrame
        The table of :func:`score_masks`.
    """
    keys = list(scores["method"])
    scores = scores.assign(method=[METHOD_LABELS.get(key, key) for key in keys])
    methods = list(scores["method"])
    colours = [method_colour(key, i) for i, key in enumerate(keys)]
    low = float(np.floor(min(0.5, scores["dice"].min()) * 10) / 10)
    bars = (
        alt.Chart(scores)
        .mark_bar(clip=True)  # the bars start at the axis' lower end, not over the method names
        .encode(
            y=alt.Y("method:N", sort=methods, title=None, axis=alt.Axis(labelLimit=220)),
            x=alt.X("dice:Q", title="Dice against the exact label", scale=alt.Scale(domain=[low, 1.0])),
            color=alt.Color("method:N", scale=alt.Scale(domain=methods, range=colours), legend=None),
            tooltip=[
                "method:N",
                alt.Tooltip("dice:Q", format=".4f"),
                alt.Tooltip("iou:Q", title="IoU", format=".4f"),
                alt.Tooltip("fraction:Q", title="inclusion fraction", format=".4f"),
            ],
        )
    )
    values = bars.mark_text(align="right", dx=-4, color="white").encode(text=alt.Text("dice:Q", format=".3f"))
    chart = bars + values
    best = best_classical(scores.assign(method=keys))
    if best is not None:
        chart += alt.Chart(pd.DataFrame({"dice": [best["dice"]]})).mark_rule(strokeDash=[5, 3], color="#374151").encode(
            x="dice:Q"
        )
    return chart.properties(height=36 * len(methods) + 40)


def mask_npy(mask) -> bytes:
    """The bytes of a ``.npy`` file holding ``mask`` as bool ``(X, Y, Z)``.

    Raises
    ------
    ValueError
        If ``mask`` is not a 3-D 0/1 array.
    """
    mask = check_binary(np.asarray(mask), "mask")
    if mask.ndim != 3:
        raise ValueError(f"mask must be a 3-D array (X, Y, Z); got {mask.ndim}-D {describe(mask)}")
    buffer = stdio.BytesIO()
    np.save(buffer, mask, allow_pickle=False)
    return buffer.getvalue()


__all__ = [
    "DISAGREEMENT",
    "FILL_OPACITY",
    "METHOD_COLOURS",
    "METHOD_LABELS",
    "TRUTH_COLOUR",
    "OverlayView",
    "auto_choice",
    "best_classical",
    "dice_chart",
    "disagreement",
    "porosity_chart",
    "porosity_table",
    "mask_npy",
    "method_colour",
    "overlay_view",
    "score_masks",
    "segment_methods",
]
