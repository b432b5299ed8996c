"""Figures, meshes and tables the app draws; no streamlit here.

3D
    :func:`mesh_scene`: the pore surface as the payload of the app's WebGL
    viewer (``porelib/app/mesh_view.js``).
Slices
    :func:`slice_view`: an orthogonal section of a grid as an RGB image;
    :func:`section_picture`: a 2-D section drawn the same way.
Numbers beside their baselines
    :func:`stat_cards` (a grid's statistics beside the dataset's mean and spread),
    :func:`verdict` (from a noise-floor ratio), :func:`fidelity_table`,
    :func:`comparison_cards` (IoU/Dice/AAD/AVAR beside the all-empty grid).
Charts (Altair)
    :func:`s2_chart`, :func:`pore_size_chart`, :func:`porosity_density_chart`
    and the table behind the last one, :func:`porosity_curve`.
Downloads
    :func:`export_file`: a grid or batch as the bytes of a file to download.

Lengths are in voxels throughout.
"""

from __future__ import annotations

import base64
import hashlib
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from porelib import io, metrics
from porelib._validate import check_choice, check_grid, check_grids, check_positive_int
from porelib.synth import expected_pore_voxels

#: Colours shared by the 3D view, the slices and the charts.
PORE_COLOUR = "#1d4ed8"
SOLID_COLOUR = "#e5e7eb"
MESH_COLOUR = "#5b8def"
DATASET_COLOUR = "#6b7280"
#: Colours of the curves drawn against the dataset band, in order.
CURVE_COLOURS = (PORE_COLOUR, "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9", "#a16207", "#db2777")
AXES = ("x", "y", "z")

#: Porosity ticks of the porosity-density chart (its axis is symmetric-log).
POROSITY_TICKS = (0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)

#: Verdicts by noise-floor ratio: at most 1.5 is within the dataset's own spread.
VERDICTS = ((1.5, "like the dataset"), (3.0, "close"), (math.inf, "off"))

# ----------------------------------------------------------------------------- 3D

#: Height in pixels of the 3D view (it is as wide as its column).
VIEW_HEIGHT = 440


def mesh_scene(grid) -> dict:
    """The pore surface of ``grid`` as the payload of the app's 3D viewer (``porelib/app/mesh_view.js``).

    Marching cubes (:func:`porelib.io.grid_to_surface`) in voxel units: voxel
    ``(ix, iy, iz)`` is centred at ``(ix, iy, iz)`` and the box drawn around the
    pores is ``[-0.5, S - 0.5]³``. Arrays travel as base64 of little-endian
    buffers: about 0.13 MB for a 30³ grid at d = 0.6 (the vtk.js page it replaces was 1.1 MB).

    Parameters
    ----------
    grid : array_like
        ``(S, S, S)`` bool or 0/1, ``True`` = pore.

    Returns
    -------
    dict
        ``id`` (a digest of the grid: the viewer redraws only when it changes),
        ``size`` (S), ``vertices`` (``(V, 3)`` float32 x, y, z), ``normals``
        (``(V, 3)`` float32 unit outward vertex normals), ``faces`` (``(F, 3)``
        uint32 vertex indices), ``triangles`` (F), and the colours.

    Raises
    ------
    ValueError
        If ``grid`` is not a cubic 0/1 grid.
    """
    grid = check_grid(grid)
    if grid.any():
        vertices, faces = io.grid_to_surface(grid)
        vertices, faces = vertices.astype("<f4"), faces.astype("<u4")
        corners = vertices[faces]
        face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        normals = np.zeros_like(vertices)
        for corner in range(3):
            np.add.at(normals, faces[:, corner], face_normals)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    else:
        vertices = normals = np.zeros((0, 3), dtype="<f4")
        faces = np.zeros((0, 3), dtype="<u4")

    def encode(array: np.ndarray) -> str:
        return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")

    return {
        "id": hashlib.blake2b(np.packbits(grid).tobytes(), digest_size=8).hexdigest() + f"-{grid.shape[0]}",
        "size": int(grid.shape[0]),
        "vertices": encode(vertices),
        "normals": encode(normals.astype("<f4")),
        "faces": encode(faces),
        "triangles": int(len(faces)),
        "colour": MESH_COLOUR,
        "box_colour": DATASET_COLOUR,
    }


# ----------------------------------------------------------------------------- slices


@dataclass(frozen=True)
class SliceView:
    """One orthogonal section of a grid, ready to show.

    Attributes
    ----------
    image : ndarray, (H, W, 3) uint8
        Pores in :data:`PORE_COLOUR`, solid in :data:`SOLID_COLOUR`; each voxel is a
        square block of pixels. The horizontal axis is the first remaining grid
        axis (left to right), the vertical one the second (bottom to top).
    geometry : str
        Which section it is and how its axes run, e.g.
        ``"Section z = 15 of 0–29: x to the right, y upwards (voxels)."``
    pore_fraction : float
        Fraction of the section's voxels that are pore.
    """

    image: np.ndarray
    geometry: str
    pore_fraction: float


def _hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)


def slice_view(grid, axis: str, index: int, *, pixels: int = 360) -> SliceView:
    """The section ``axis = index`` of a grid as an image about ``pixels`` wide.

    Parameters
    ----------
    grid : array_like, (S, S, S) bool or 0/1
    axis : {"x", "y", "z"}
        Axis held fixed.
    index : int
        Voxel index along ``axis``, in [0, S - 1].
    pixels : int
        Target width; each voxel becomes ``max(1, pixels // S)`` pixels square.

    Raises
    ------
    ValueError
        For a malformed grid, an unknown axis or an index outside the grid.
    """
    grid = check_grid(grid)
    check_choice(axis, AXES, "axis")
    size = grid.shape[0]
    index = check_positive_int(index, "index", minimum=0, maximum=size - 1)
    number = AXES.index(axis)
    horizontal, vertical = (name for name in AXES if name != axis)
    section = np.take(grid, index, axis=number)  # section[h, v]
    geometry = f"Section {axis} = {index} of 0–{size - 1}: {horizontal} to the right, {vertical} upwards (voxels)."
    return SliceView(section_picture(section, pixels=pixels), geometry, float(section.mean()))


def section_picture(section, *, pixels: int = 360) -> np.ndarray:
    """A 2-D section ``section[h, v]`` (bool or 0/1) as an RGB picture about ``pixels`` wide.

    ``h`` runs to the right and ``v`` upwards; each voxel is a square block of
    ``max(1, pixels // width)`` pixels, pores in :data:`PORE_COLOUR`, solid in
    :data:`SOLID_COLOUR`. Returns ``(H, W, 3)`` uint8.
    """
    section = np.asarray(section).astype(bool)
    scale = max(1, pixels // section.shape[0])
    picture = np.kron(section.T[::-1].astype(np.uint8), np.ones((scale, scale), dtype=np.uint8)).astype(bool)
    return np.where(picture[..., None], _hex_rgb(PORE_COLOUR), _hex_rgb(SOLID_COLOUR)).astype(np.uint8)


# ----------------------------------------------------------------------------- numbers and baselines


def verdict(ratio: float) -> str:
    """``"like the dataset"`` (ratio ≤ 1.5), ``"close"`` (≤ 3) or ``"off"``; ``"n/a"`` for NaN.

    The ratio is a statistic's distance to the dataset divided by the dataset's
    own sample-to-sample spread (:class:`porelib.metrics.StatFidelity`).
    """
    if ratio is None or math.isnan(ratio):
        return "n/a"
    return next(label for limit, label in VERDICTS if ratio <= limit)


@dataclass(frozen=True)
class StatSpec:
    """How one statistic is shown: its fidelity name, summary key, label, unit and format."""

    name: str
    key: str
    label: str
    unit: str
    fmt: str
    help: str


#: The statistics the pages show, in order. ``name`` is a key of
#: :data:`porelib.metrics.STATISTICS`; ``key`` one of the scalar summary keys
#: (``None`` for the S2 curve, which is compared on its chart).
STAT_SPECS = (
    StatSpec("porosity", "porosity", "Porosity φ", "", ".4f", "Fraction of voxels that are pore."),
    StatSpec("s2", None, "Two-point correlation S2", "", "", "Root-mean-square difference of the S2(r) curves."),
    StatSpec("pore_count", "pore_count", "Pores", "", ".0f", "Number of 26-connected pores."),
    StatSpec(
        "pore_size",
        "mean_pore_radius",
        "Mean pore radius",
        "voxels",
        ".2f",
        "Equivalent radius (3V/4π)^(1/3) averaged over pores; distances use the whole distribution.",
    ),
    StatSpec(
        "thickness",
        "mean_local_thickness",
        "Mean local thickness",
        "voxels",
        ".2f",
        "Radius of the largest ball inside the pore space covering each pore voxel, averaged.",
    ),
    StatSpec(
        "euler_per_voxel",
        "euler_per_voxel",
        "Euler χ",
        "per 10³ voxels",
        ".3f",
        "Euler number (26-connectivity) per voxel; ~ pores − tunnels + cavities.",
    ),
    StatSpec(
        "specific_surface",
        "specific_surface",
        "Specific surface",
        "1/voxel",
        ".4f",
        "Marching-cubes pore surface area per voxel of the grid.",
    ),
)
#: Statistics shown as cards on the Generate page.
CARD_NAMES = ("porosity", "pore_count", "pore_size", "euler_per_voxel", "specific_surface")
_SPECS = {spec.name: spec for spec in STAT_SPECS}
#: Display factor per summary key (Euler is shown per 1000 voxels).
_SCALE = {"euler_per_voxel": 1000.0}


def _format(spec: StatSpec, value: float) -> str:
    return format(value * _SCALE.get(spec.key, 1.0), spec.fmt)


def _band_text(spec: StatSpec, band: dict | None) -> str:
    if band is None or spec.key not in band:
        return "no dataset baseline"
    entry = band[spec.key]
    return f"{_format(spec, entry['mean'])} ± {_format(spec, entry['std'])}"


def _band_caption(spec: StatSpec, band: dict | None) -> str:
    return f"dataset: {_band_text(spec, band)}"


@dataclass(frozen=True)
class StatCard:
    """One statistic beside its dataset baseline.

    Attributes
    ----------
    label : str
        Name and unit, e.g. ``"Mean pore radius (voxels)"``.
    value : str
        The grid's value, formatted.
    baseline : str
        The dataset's mean ± standard deviation at the density, formatted.
    help : str
        What the statistic measures.
    """

    label: str
    value: str
    baseline: str
    help: str


def _label(spec: StatSpec) -> str:
    return f"{spec.label} ({spec.unit})" if spec.unit else spec.label


def stat_cards(stats: metrics.GridStats, band: dict | None, *, names=CARD_NAMES) -> list[StatCard]:
    """Cards for ``names`` (keys of :data:`STAT_SPECS` with a scalar summary).

    Parameters
    ----------
    stats : metrics.GridStats
        The grid's statistics.
    band : dict or None
        :meth:`porelib.metrics.Reference.band` of the dataset at the grid's density.
    """
    values = stats.to_dict()
    cards = []
    for name in names:
        spec = _SPECS[check_choice(name, tuple(_SPECS), "name")]
        if spec.key is None:
            raise ValueError(f"name {name!r} has no scalar value to show on a card; choose one of {CARD_NAMES}")
        cards.append(StatCard(_label(spec), _format(spec, values[spec.key]), _band_caption(spec, band), spec.help))
    return cards


def fidelity_table(stats: metrics.GridStats, fidelity: dict, band: dict | None) -> pd.DataFrame:
    """One row per statistic: the grid's value, the dataset's, the noise-floor ratio and a verdict.

    Parameters
    ----------
    stats : metrics.GridStats
    fidelity : dict of metrics.StatFidelity
        From :meth:`porelib.metrics.Reference.fidelity` (or ``Score.fidelity``).
    band : dict or None
        From :meth:`porelib.metrics.Reference.band` (or ``Score.band``).

    Returns
    -------
    pandas.DataFrame
        Columns ``statistic``, ``this grid``, ``dataset (mean ± sd)``, ``distance``,
        ``noise floor``, ``ratio``, ``verdict``; values are formatted strings except
        ``distance``, ``noise floor`` and ``ratio``. Distances are in the unit of the
        statistic's label (e.g. Euler χ per 10³ voxels).
    """
    values = stats.to_dict()
    rows = []
    for spec in STAT_SPECS:
        if spec.name not in fidelity:
            continue
        entry = fidelity[spec.name]
        rows.append(
            {
                "statistic": _label(spec),
                "this grid": "see chart" if spec.key is None else _format(spec, values[spec.key]),
                "dataset (mean ± sd)": "see chart" if spec.key is None else _band_text(spec, band),
                "distance": entry.distance * _SCALE.get(spec.key, 1.0),
                "noise floor": entry.noise_floor * _SCALE.get(spec.key, 1.0),
                "ratio": entry.ratio,
                "verdict": verdict(entry.ratio),
            }
        )
    return pd.DataFrame(rows)


#: Voxelwise scores: (key in metrics.compare, label, baseline key or None).
COMPARISON_SPECS = (
    ("iou", "IoU", None),
    ("dice", "Dice", None),
    ("aad", "AAD (lower is better)", "aad_empty_baseline"),
    ("avar", "AVAR", "avar_empty_baseline"),
)


def comparison_cards(comparison: dict) -> list[StatCard]:
    """IoU, Dice, AAD, AVAR of :func:`porelib.metrics.compare`, each beside the all-empty grid's score.

    The all-empty grid's IoU and Dice are 0, or 1 when the reference is empty too
    (its AAD baseline, the reference's porosity, is then 0).
    """
    empty_overlap = 1.0 if comparison["aad_empty_baseline"] == 0 else 0.0
    cards = []
    for key, label, baseline_key in COMPARISON_SPECS:
        empty = empty_overlap if baseline_key is None else comparison[baseline_key]
        cards.append(
            StatCard(
                label,
                f"{comparison[key]:.4f}",
                f"all-empty grid: {empty:.4f}",
                "Voxel-by-voxel agreement with the reference; an all-empty grid is the baseline to beat.",
            )
        )
    return cards


# ----------------------------------------------------------------------------- charts


def _band_frame(r: np.ndarray, mean: np.ndarray, std: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"r": r, "mean": mean, "low": mean - std, "high": mean + std})


def _lines_with_band(band: pd.DataFrame, lines: pd.DataFrame, *, x_title: str, y_title: str) -> alt.Chart:
    """Dataset mean ± sd as a grey band around a dashed grey line; other curves as coloured lines."""
    dataset_label = "dataset mean ± sd"
    names = [dataset_label, *dict.fromkeys(lines["grid"])]
    colour = alt.Color(
        "grid:N",
        scale=alt.Scale(domain=names, range=[DATASET_COLOUR, *CURVE_COLOURS][: len(names)]),
        title=None,
        legend=alt.Legend(orient="top", columns=2, labelLimit=280),  # two columns: four entries fit a half-width chart
    )
    x = alt.X("r:Q", title=x_title)
    area = (
        alt.Chart(band)
        .mark_area(opacity=0.22, color=DATASET_COLOUR)
        .encode(x=x, y=alt.Y("low:Q", title=y_title), y2="high:Q")
    )
    centre = (
        alt.Chart(band.assign(grid=dataset_label))
        .mark_line(strokeDash=[5, 3])
        .encode(
            x=x,
            y="mean:Q",
            color=colour,
            tooltip=[alt.Tooltip("r:Q"), alt.Tooltip("mean:Q", title="dataset mean", format=".4f")],
        )
    )
    curves = (
        alt.Chart(lines)
        .mark_line(point=alt.OverlayMarkDef(size=24))
        .encode(
            x=x, y="value:Q", color=colour, tooltip=["grid:N", alt.Tooltip("r:Q"), alt.Tooltip("value:Q", format=".4f")]
        )
    )
    return (area + centre + curves).properties(height=320)  # room for a two-row legend above the plot


def s2_chart(band: dict, curves: dict) -> alt.Chart:
    """S2(r) of some grids against the dataset's band.

    Parameters
    ----------
    band : dict
        ``{"r": [...], "mean": [...], "std": [...]}``, the ``"s2"`` entry of
        :meth:`porelib.metrics.Reference.band`.
    curves : dict of str to array_like
        Legend label -> S2 values at r = 0, 1, … (same length as ``band["r"]``).
    """
    r = np.asarray(band["r"], dtype=float)
    frame = _band_frame(r, np.asarray(band["mean"]), np.asarray(band["std"]))
    lines = pd.concat(
        [
            pd.DataFrame({"r": r, "value": np.asarray(values, dtype=float)[: len(r)], "grid": label})
            for label, values in curves.items()
        ]
    )
    return _lines_with_band(frame, lines, x_title="distance r (voxels)", y_title="S2(r)")


def _radius_bins(radii: list[np.ndarray], width: float) -> np.ndarray:
    largest = max((float(r.max()) for r in radii if r.size), default=1.0)
    return np.arange(0.0, largest + width, width) if largest > 0 else np.array([0.0, width])


def _pore_shares(radii: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(radii, bins=edges)
    return counts / max(len(radii), 1)


def pore_size_chart(dataset_radii: list, curves: dict, *, bin_width: float = 0.5) -> alt.Chart:
    """Pore-radius distributions of some grids against the dataset's band.

    Parameters
    ----------
    dataset_radii : list of array_like
        Equivalent pore radii (voxels) of each dataset grid at the density
        (``[s.pore_radii for s in reference.stats]``); the band is the mean ± sd
        over these grids of the share of pores in each bin.
    curves : dict of str to array_like
        Legend label -> equivalent pore radii (voxels) of that grid.
    bin_width : float
        Bin width in voxels.
    """
    members = [np.asarray(r, dtype=float) for r in dataset_radii]
    grids = {label: np.asarray(r, dtype=float) for label, r in curves.items()}
    edges = _radius_bins(members + list(grids.values()), bin_width)
    centres = (edges[:-1] + edges[1:]) / 2
    shares = np.stack([_pore_shares(r, edges) for r in members]) if members else np.zeros((1, len(centres)))
    std = shares.std(axis=0, ddof=1) if len(shares) > 1 else np.zeros(len(centres))
    frame = _band_frame(centres, shares.mean(axis=0), std)
    lines = pd.concat(
        [pd.DataFrame({"r": centres, "value": _pore_shares(r, edges), "grid": label}) for label, r in grids.items()]
    )
    return _lines_with_band(frame, lines, x_title="equivalent pore radius (voxels)", y_title="share of pores")


def porosity_curve(model: str, densities, *, n: int = 2, seed: int = 0, size: int = 30) -> pd.DataFrame:
    """Mean porosity of ``n`` grids from ``model`` at each density: the model's curve for the chart.

    Returns
    -------
    pandas.DataFrame
        Columns ``density``, ``porosity`` (mean over the n grids) and ``spread`` (sd).
    """
    from porelib.inference import generate

    rows = []
    for density in np.asarray(densities, dtype=float):
        porosity = generate(model, float(density), n=n, seed=seed, size=size).reshape(n, -1).mean(axis=1)
        rows.append({"density": float(density), "porosity": float(porosity.mean()), "spread": float(porosity.std())})
    return pd.DataFrame(rows)


def porosity_density_chart(
    densities,
    porosities,
    model_curve: pd.DataFrame | None = None,
    *,
    model: str = "model",
    highlight=None,
    size: int = 30,
) -> alt.Chart:
    """Porosity against density factor: every dataset grid, the calibration, and a model's curve.

    Parameters
    ----------
    densities, porosities : array_like, (N,)
        The dataset's density factors and porosities.
    model_curve : pandas.DataFrame, optional
        From :func:`porosity_curve`.
    model : str
        The model's name for the legend.
    highlight : (float, float), optional
        One (density, porosity) point to mark, e.g. the grid picked on the page.
    size : int
        Edge length of the grids, for the calibration curve.
    """
    points = pd.DataFrame({"density": np.asarray(densities, float), "porosity": np.asarray(porosities, float)})
    grid_d = np.linspace(0.0, 1.0, 101)
    layers_data = [
        points.assign(series="dataset grids"),
        pd.DataFrame({"density": grid_d, "porosity": expected_pore_voxels(grid_d, size=size) / size**3}).assign(
            series="calibration"
        ),
    ]
    if model_curve is not None:
        layers_data.append(model_curve[["density", "porosity"]].assign(series=f"{model} samples"))
    names = [frame["series"].iloc[0] for frame in layers_data]
    colour = alt.Color(
        "series:N",
        scale=alt.Scale(domain=names, range=[DATASET_COLOUR, "#111827", PORE_COLOUR][: len(names)]),
        title=None,
        legend=alt.Legend(orient="top", labelLimit=280),
    )
    x = alt.X("density:Q", title="density factor d")
    y = alt.Y(
        "porosity:Q",
        title="porosity φ (symmetric log scale)",
        scale=alt.Scale(type="symlog", constant=0.001),
        axis=alt.Axis(values=list(POROSITY_TICKS), format="~g"),
    )
    tooltip = [alt.Tooltip("density:Q", format=".3f"), alt.Tooltip("porosity:Q", format=".4f"), "series:N"]
    chart = alt.Chart(layers_data[1]).mark_line(strokeDash=[4, 3]).encode(x=x, y=y, color=colour)
    if model_curve is not None:
        chart += (
            alt.Chart(layers_data[2])
            .mark_line(point=True, strokeWidth=1.5)
            .encode(x=x, y=y, color=colour, tooltip=tooltip)
        )
    chart += alt.Chart(layers_data[0]).mark_circle(size=22, opacity=0.6).encode(x=x, y=y, color=colour, tooltip=tooltip)
    if highlight is not None:
        mark = pd.DataFrame({"density": [float(highlight[0])], "porosity": [float(highlight[1])]})
        chart += (
            alt.Chart(mark)
            .mark_point(size=160, shape="diamond", filled=True, color="#ef4444")
            .encode(x=x, y=y, tooltip=tooltip[:2])
        )
    return chart.properties(height=380)


# ----------------------------------------------------------------------------- downloads

#: Download formats: kind -> (file-name suffix, description). ``rows`` is the seed dataset's row format.
EXPORTS = {
    "rows": (".npy", "original row format (S³, 4) .npy"),
    "npz": (".npz", "all samples .npz (grids, densities)"),
    "vti": (".vti", "ParaView image .vti"),
    "stl": (".stl", "pore surface .stl"),
}


def export_file(grids, kind: str, *, density: float | None = None, stem: str = "pores") -> tuple[str, bytes]:
    """A grid or batch as a downloadable file: ``(file name, bytes)``.

    Parameters
    ----------
    grids : array_like, (S, S, S) or (N, S, S, S)
        ``npz`` stores the whole batch; the other kinds store the first grid.
    kind : str
        A key of :data:`EXPORTS`.
    density : float, optional
        Density factor, stored in ``npz`` and used in the row-format file name
        ``distribution_0_{density:.4f}.npy`` (the dataset's naming).
    stem : str
        File name without extension for the other kinds.

    Raises
    ------
    ValueError
        For an unknown kind or malformed grids (messages of :func:`porelib.io.save_grid`).
    """
    check_choice(kind, tuple(EXPORTS), "kind")
    batch = check_grids(grids)
    suffix = EXPORTS[kind][0]
    if kind == "rows" and density is not None:
        name = f"distribution_0_{density:.4f}{suffix}"
    else:
        name = f"{stem}{suffix}"
    payload = batch if kind == "npz" else batch[0]
    densities = np.full(len(batch), density) if (kind == "npz" and density is not None) else None
    with tempfile.TemporaryDirectory() as folder:
        path = io.save_grid(
            Path(folder) / name, payload, densities=densities, layout="rows" if kind == "rows" else None
        )
        return name, path.read_bytes()


# ----------------------------------------------------------------------------- a user's material


def material_ratio_chart(comparison) -> alt.Chart:
    """Each method's ratio to the held-out noise floor per statistic, with its 95 % interval.

    Parameters
    ----------
    comparison : porelib.material.score.MaterialComparison

    Returns
    -------
    alt.Chart
        Points (ratio) with error bars (interval) per statistic, one colour per method, a
        log x axis (ratios span decades when a method misses), and rules at 1 (as close as
        another piece of the sample) and at the pass limit.
    """
    rows = [
        {"method": result.method, "statistic": name, "ratio": score.ratio, "low": score.low, "high": score.high,
         "limit": score.limit}
        for result in comparison.results
        for name, score in result.scores.items()
        if np.isfinite(score.high)
    ]  # fmt: skip
    data = pd.DataFrame(rows)
    names = list(dict.fromkeys(data["statistic"]))
    y = alt.Y("statistic:N", sort=names, title=None)
    x_scale = alt.Scale(type="log", domain=[max(0.2, float(data["low"].min()) * 0.8), float(data["high"].max()) * 1.2])
    colour = alt.Color("method:N", title="method", legend=alt.Legend(orient="bottom"))
    offset = alt.YOffset("method:N")
    bars = alt.Chart(data).mark_rule().encode(x=alt.X("low:Q", scale=x_scale, title="ratio to the held-out noise floor (log)"),
                                               x2="high:Q", y=y, yOffset=offset, color=colour)  # fmt: skip
    points = alt.Chart(data).mark_point(filled=True).encode(
        x="ratio:Q", y=y, yOffset=offset, color=colour,
        tooltip=["method", "statistic", alt.Tooltip("ratio:Q", format=".2f"), alt.Tooltip("low:Q", format=".2f"),
                 alt.Tooltip("high:Q", format=".2f")],
    )  # fmt: skip
    limit = float(data["limit"].iloc[0])
    rules = alt.Chart(pd.DataFrame({"x": [1.0, limit], "what": ["1: like the sample itself", f"{limit:g}: pass limit"]}))
    guides = rules.mark_rule(strokeDash=[4, 3], color="grey").encode(x="x:Q", tooltip=["what"])
    return (bars + points + guides).properties(height=max(240, 22 * len(names) * max(1, len(comparison.results)) // 2))


# ----------------------------------------------------------------------------- training curves

#: Series of :func:`loss_chart`, in legend order, with their colours.
LOSS_SERIES = {
    "training, per step": "#93c5fd",
    "training, epoch mean": PORE_COLOUR,
    "held-out, per epoch": "#f59e0b",
}
#: A loss drawn on a log scale when its largest value is this many times its smallest.
LOG_SCALE_SPAN = 10.0
#: A per-step value this many times the median of all per-step values is a spike.
SPIKE_FACTOR = 10.0


def loss_frame(rows: list[dict], *, loss: str = "loss") -> pd.DataFrame:
    """The rows of a run's ``metrics.jsonl`` as one long table: ``epoch`` (fractional), ``value``, ``series``.

    Per-step rows (``step``, ``epoch_progress``, ``train_<loss>``) give "training, per
    step"; epoch rows give "training, epoch mean" (``train_<loss>``) and "held-out, per
    epoch" (``val_<loss>``) at the end of their epoch. Non-finite values are left out.
    """
    parts = []
    steps = [row for row in rows if "step" in row and f"train_{loss}" in row]
    if steps:
        parts.append(pd.DataFrame({"epoch": [row["epoch_progress"] for row in steps],
                                   "value": [row[f"train_{loss}"] for row in steps], "series": "training, per step"}))  # fmt: skip
    epochs = [row for row in rows if "epoch" in row]
    for key, series in ((f"train_{loss}", "training, epoch mean"), (f"val_{loss}", "held-out, per epoch")):
        kept = [row for row in epochs if key in row]
        if kept:
            parts.append(pd.DataFrame({"epoch": [float(row["epoch"]) for row in kept],
                                       "value": [row[key] for row in kept], "series": series}))  # fmt: skip
    if not parts:
        return pd.DataFrame({"epoch": [], "value": [], "series": []})
    frame = pd.concat(parts, ignore_index=True)
    return frame[np.isfinite(frame["value"].astype(float))]


def loss_chart(rows: list[dict], *, loss: str = "loss") -> tuple[alt.Chart, str]:
    """The loss of a run against epochs: per step, epoch mean and held-out; and a caption for it.

    The y axis is logarithmic when every value is positive and the largest is
    :data:`LOG_SCALE_SPAN` times the smallest or more. The caption says which scale and
    names the spikes (per-step values :data:`SPIKE_FACTOR` × the median or more).
    """
    frame = loss_frame(rows, loss=loss)
    values = frame["value"].astype(float)
    log = bool(len(values)) and bool((values > 0).all()) and values.max() >= LOG_SCALE_SPAN * values.min()
    names = [name for name in LOSS_SERIES if name in set(frame["series"])]
    colour = alt.Color("series:N", title=None, legend=alt.Legend(orient="top", columns=2, labelLimit=200),
                       scale=alt.Scale(domain=names, range=[LOSS_SERIES[name] for name in names]))  # fmt: skip
    y = alt.Y("value:Q", title=loss, scale=alt.Scale(type="log", nice=False) if log else alt.Scale(zero=False))
    chart = (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(size=20))
        .encode(x=alt.X("epoch:Q", title="epoch"), y=y, color=colour,
                tooltip=["series:N", alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".4g")])  # fmt: skip
        .properties(height=300)
    )
    notes = []
    if log:
        notes.append(f"Log scale: the values span {values.max() / values.min():.0f}×.")
    steps = frame[frame["series"] == "training, per step"]
    if len(steps) >= 3:
        median = float(steps["value"].median())
        spikes = steps[steps["value"] >= SPIKE_FACTOR * median]
        if len(spikes) and median > 0:
            worst = spikes.loc[spikes["value"].idxmax()]
            notes.append(f"{len(spikes)} step(s) at {SPIKE_FACTOR:g}× the median or more (largest {worst['value']:.3g} "
                         f"at epoch {worst['epoch']:.2f}): one batch's loss, not the trend; the epoch mean and the "
                         "held-out loss are what the checkpoint is chosen by.")
    if "training, per step" not in names:
        notes.append("One point per epoch (this run wrote no per-step rows).")
    return chart, " ".join(notes)
