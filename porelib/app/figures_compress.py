"""Figures of the "Compress" page; no streamlit here.

:func:`section_panels`: one orthogonal section of a volume, of its
reconstruction and of their difference, drawn on the same scale so that the
pictures can be compared side by side. The numbers beside their baselines come
from :class:`porelib.compress.Comparison`. :func:`rate_distortion_frame` and
:func:`rate_distortion_chart`: quality against ratio, one line per method, from
the rows of :func:`porelib.compress.rate_distortion` (the benchmark draws the same
frame with matplotlib).

Volumes are indexed ``volume[ix, iy, iz]`` and need not be cubic; lengths are in voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from porelib import segmentation
from porelib._validate import check_choice, check_positive_int, check_same_shape
from porelib.app.figures import AXES, SOLID_COLOUR, StatCard, _hex_rgb, section_picture
from porelib.compress import KINDS

#: Colour of the voxels a reconstructed grid gets wrong.
ERROR_COLOUR = "#ef4444"
#: A scan's error map is white where the error reaches this fraction of the grey range.
ERROR_FULL_SCALE = 0.25


@dataclass(frozen=True)
class SectionPanel:
    """One picture of a section, ready to show.

    Attributes
    ----------
    title : str
        ``"original"``, ``"reconstruction"`` or ``"difference"``.
    image : ndarray, (H, W, 3) uint8
        Each voxel a square block of pixels; the horizontal axis is the first
        remaining volume axis (left to right), the vertical one the second (bottom to top).
    caption : str
        What the picture shows, with one number (pore fraction, grey range or error).
    """

    title: str
    image: np.ndarray
    caption: str


def section_panels(
    original, decoded, *, kind: str, axis: str = "z", index: int = 0, pixels: int = 360
) -> tuple[list[SectionPanel], str]:
    """The section ``axis = index`` of a volume, its reconstruction and where they differ.

    Parameters
    ----------
    original, decoded : array_like, (X, Y, Z)
        The volume and its reconstruction (same shape).
    kind : {"scan", "binary"}
        A scan is drawn in grey levels, both volumes on the original's scale (its
        0.5th to 99.5th percentile, as :func:`porelib.segmentation.normalize`); the
        difference is ``|decoded - original|``, white at :data:`ERROR_FULL_SCALE` of
        that scale. A grid is drawn as :func:`porelib.app.figures.section_picture`; the
        difference marks the voxels that disagree in :data:`ERROR_COLOUR`.
    axis : {"x", "y", "z"}
        Axis held fixed.
    index : int
        Voxel index along ``axis``.
    pixels : int
        Target width; each voxel becomes ``max(1, pixels // width)`` pixels square.

    Returns
    -------
    panels : list of SectionPanel
        Original, reconstruction, difference.
    geometry : str
        Which section it is and how its axes run.

    Raises
    ------
    ValueError
        For volumes of different shapes or not 3-D, an unknown kind or axis, or an index outside the volume.
    """
    original, decoded = np.asarray(original), np.asarray(decoded)
    check_same_shape(original, decoded, ("original", "decoded"))
    if original.ndim != 3:
        raise ValueError(f"original must be a 3-D volume (X, Y, Z); got shape {original.shape}")
    check_choice(kind, KINDS, "kind")
    check_choice(axis, AXES, "axis")
    number = AXES.index(axis)
    last = original.shape[number] - 1
    index = check_positive_int(index, "index", minimum=0, maximum=last)
    pixels = check_positive_int(pixels, "pixels")
    before, after = (np.take(volume, index, axis=number) for volume in (original, decoded))
    if kind == "binary":
        panels = _grid_panels(before.astype(bool), after.astype(bool), pixels)
    else:
        panels = _scan_panels(original, before, after, pixels)
    horizontal, vertical = (name for name in AXES if name != axis)
    geometry = f"Section {axis} = {index} of 0–{last}: {horizontal} to the right, {vertical} upwards (voxels)."
    return panels, geometry


def _grid_panels(before: np.ndarray, after: np.ndarray, pixels: int) -> list[SectionPanel]:
    wrong = before != after
    difference = np.where(wrong[..., None], _hex_rgb(ERROR_COLOUR), _hex_rgb(SOLID_COLOUR)).astype(np.uint8)
    return [
        SectionPanel("original", section_picture(before, pixels=pixels), f"pore fraction {before.mean():.3f}"),
        SectionPanel("reconstruction", section_picture(after, pixels=pixels), f"pore fraction {after.mean():.3f}"),
        SectionPanel(
            "difference",
            _enlarge(difference, pixels),
            f"voxels that differ, in red: {int(wrong.sum())} ({wrong.mean():.1%} of the section)",
        ),
    ]


def _scan_panels(original: np.ndarray, before: np.ndarray, after: np.ndarray, pixels: int) -> list[SectionPanel]:
    low, high = (float(v) for v in np.percentile(original, segmentation.NORMALIZE_PERCENTILES))
    if high <= low:
        low, high = float(original.min()), float(original.max())
    span = (high - low) or 1.0
    error = np.abs(after.astype(np.float64) - before.astype(np.float64))
    scale = f"grey from {low:.4g} to {high:.4g}"
    return [
        SectionPanel("original", _grey(np.clip((before - low) / span, 0, 1), pixels), scale),
        SectionPanel("reconstruction", _grey(np.clip((after - low) / span, 0, 1), pixels), scale),
        SectionPanel(
            "difference",
            _grey(np.clip(error / (ERROR_FULL_SCALE * span), 0, 1), pixels),
            f"|error|, white at {ERROR_FULL_SCALE:.0%} of the grey range; RMS {np.sqrt(np.mean(error**2)):.3g}",
        ),
    ]


def _grey(section: np.ndarray, pixels: int) -> np.ndarray:
    """A section ``section[h, v]`` of values in [0, 1] as a grey RGB picture (``v`` upwards)."""
    grey = np.round(np.asarray(section, dtype=np.float64) * 255).astype(np.uint8)
    return _enlarge(np.repeat(grey[..., None], 3, axis=2), pixels)


def _enlarge(rgb: np.ndarray, pixels: int) -> np.ndarray:
    """An ``(h, v, 3)`` section as picture rows (``v`` upwards, ``h`` to the right), each voxel a square block."""
    picture = rgb.transpose(1, 0, 2)[::-1]
    scale = max(1, pixels // rgb.shape[0])
    return np.kron(picture, np.ones((scale, scale, 1), dtype=np.uint8))


# ----------------------------------------------------------------------------- rate-distortion

#: Axis titles of the scores of a rate-distortion plot.
SCORE_TITLES = {"psnr": "PSNR (dB)", "ssim": "SSIM", "iou": "IoU", "dice": "Dice",
                "psnr_vs_noise_free": "PSNR vs noise-free (dB)"}
#: One colour per method, the same on every plot.
METHOD_COLOURS = {"sz3": "#2563eb", "zfp": "#f59e0b", "dct": "#6b7280", "neural": "#dc2626", "lzma": "#16a34a",
                  "auto": "#7c3aed"}


def rate_distortion_frame(rows: list[dict], *, score: str) -> pd.DataFrame:
    """The points of a rate-distortion plot: ``method``, ``target``, ``ratio`` (achieved), ``score``, ``encode_s``.

    Rows without a code or without the score (lossless lzma's PSNR is exact,
    so ``None``) are left out; they are sorted by method, then ratio.

    Raises
    ------
    ValueError
        If ``score`` is not one of :data:`SCORE_TITLES`.
    """
    check_choice(score, tuple(SCORE_TITLES), "score")
    points = [
        {"method": row["method"], "target": row.get("target"), "ratio": row["ratio"], "score": row[score],
         "encode_s": row.get("encode_s")}
        for row in rows
        if row.get("bytes") is not None and row.get(score) is not None
    ]
    frame = pd.DataFrame(points, columns=["method", "target", "ratio", "score", "encode_s"])
    return frame.sort_values(["method", "ratio"], ignore_index=True)


def rate_distortion_chart(rows: list[dict], *, score: str) -> alt.Chart:
    """Quality against ratio (log scale), one line per method, for the page."""
    frame = rate_distortion_frame(rows, score=score)
    methods = list(dict.fromkeys(frame["method"]))
    colour = alt.Color(
        "method:N",
        scale=alt.Scale(domain=methods, range=[METHOD_COLOURS.get(m, "#000000") for m in methods]),
        title="method",
    )
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("ratio:Q", scale=alt.Scale(type="log"), title="compression ratio (raw / file)"),
            y=alt.Y("score:Q", scale=alt.Scale(zero=False), title=SCORE_TITLES[score]),
            color=colour,
            tooltip=["method", alt.Tooltip("ratio:Q", format=".1f"), alt.Tooltip("score:Q", format=".4g"),
                     alt.Tooltip("encode_s:Q", format=".2f", title="encode (s)")],
        )
    )


__all__ = [
    "ERROR_COLOUR", "ERROR_FULL_SCALE", "METHOD_COLOURS", "SCORE_TITLES", "SectionPanel", "rate_distortion_chart",
    "rate_distortion_frame", "section_panels",
]

def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def comparison_cards(comparison) -> list:
    """The headline figures of a :class:`porelib.compress.compare.Comparison`, each beside its baselines.

    Ratio, size, quality and time, as :class:`porelib.app.figures.StatCard` s for the Compress page.
    """
    main, others = comparison.rows[0], [row for row in comparison.rows[1:] if row["bytes"] is not None]
    lossless = next((row for row in others if row["method"] == "lzma"), None)
    lossy = [row for row in others if row["method"] != "lzma"]
    lossless_ratio = "" if lossless is None else f"; lossless lzma {lossless['ratio']:.2f}:1"
    target = "" if comparison.target is None else f"target {comparison.target:g}:1"
    cards = [
        StatCard(
            "Compression ratio",
            f"{main['ratio']:.1f}:1",
            (target + lossless_ratio).strip("; ") or "no ratio asked",
            "Raw size / file size, header included. Raw = 4 bytes per voxel for a scan (float32), "
            "1 bit per voxel for a grid (bit-packed).",
        ),
        StatCard(
            "File size (bytes)",
            f"{main['bytes']:,}",
            f"raw {comparison.raw_bytes:,}" + ("" if lossless is None else f"; lossless lzma {lossless['bytes']:,}"),
            "The whole .pnc file: header, the method's stream and checksum.",
        ),
    ]
    scores = [("psnr", "PSNR (dB)", ".2f"), ("ssim", "SSIM", ".4f")] if comparison.kind == "scan" else [
        ("iou", "IoU", ".4f"), ("dice", "Dice", ".4f")]
    for key, label, spec in scores:
        if main[key] is None and not (key == "psnr" and main["method"] == "lzma"):
            continue
        value = "exact" if main[key] is None else format(main[key], spec)
        baseline = "; ".join(f"{row['method']} at {row['ratio']:.1f}:1: {_fmt(row[key], spec)}" for row in lossy)
        cards.append(
            StatCard(
                label, value, baseline or "no other method run",
                "Reconstruction against the original, beside the other methods at the same target ratio "
                "(lzma is lossless: exact, at its own ratio).",
            )
        )
    if main["psnr_vs_noise_free"] is not None:
        baseline = "" if lossless is None else f"the noisy input: {lossless['psnr_vs_noise_free']:.2f}"
        for row in lossy:
            baseline += f"; {row['method']}: {row['psnr_vs_noise_free']:.2f}"
        cards.append(
            StatCard(
                "PSNR vs noise-free (dB)",
                f"{main['psnr_vs_noise_free']:.2f}",
                baseline.strip("; "),
                "Against the same scan simulated without photon noise, on its range: a code that drops "
                "the noise comes closer to it than the input itcomparison.",
            )
        )
    times = "; ".join(f"{row['method']} {_fmt(row['encode_s'], '.2f')} s" for row in others)
    cards.append(
        StatCard(
            "Encode time (s)",
            _fmt(main["encode_s"], ".2f"),
            f"decoding {main['decode_s']:.2f} s" + (f"; {times}" if times else ""),
            "Wall-clock seconds on this machine (the neural field on one CPU thread unless set otherwise); "
            "a ratio's bisection is included.",
        )
    )
    return cards
