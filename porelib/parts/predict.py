"""A part's voxels, mesh and points from its picture: what ``python -m porelib part ...`` and the app call.

:func:`predict_files` (or :func:`predict_pictures` for arrays) reads the pictures
(:func:`porelib.parts.render.read_part_picture`), brings them to the network's size
(:func:`porelib.parts.render.prepare_picture`), quantises them to 8 bits as a saved
picture is, adds their Canny edges and runs the shipped reconstructor
(``checkpoints/parts``, :mod:`porelib.models.parts`). The result
(:class:`PartPrediction`) holds the occupancy probabilities and the voxels; its mesh
(:func:`porelib.parts.voxels.grid_mesh`) and point cloud are made on demand and written
by :func:`export_bytes` / :func:`write_outputs`.

:func:`render_stl` renders a user's STL by the picture convention (``part render``), and
:func:`stl_voxels` voxelises it in the network's voxel space, to score a prediction
against it (:func:`scores`).
"""

from __future__ import annotations

import io as stdio
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from porelib import metrics
from porelib._validate import check_grid, check_positive_int
from porelib.parts.render import (
    PIXELS,
    canny_edges,
    network_input,
    prepare_picture,
    read_part_picture,
    render,
)
from porelib.parts.voxels import (
    POINTS,
    grid_mesh,
    save_mesh_stl,
    save_ply,
    surface_points,
    voxelise,
)

#: Name of the model (and of its checkpoint folder under ``checkpoints/``).
MODEL = "parts"
#: What :func:`export_bytes` writes, and the file extension of each.
EXPORTS = {"stl": ".stl", "npy": ".npy", "ply": ".ply"}


@dataclass(frozen=True)
class PartPrediction:
    """A reconstruction from pictures.

    Attributes
    ----------
    probability : np.ndarray
        ``(S, S, S)`` float32 occupancy probabilities, ``[ix, iy, iz]`` in the voxel space of
        :mod:`porelib.parts.voxels` (longest side spans the grid, centred, z up).
    grid : np.ndarray
        ``(S, S, S)`` bool, ``probability >= 0.5``.
    pictures : np.ndarray
        ``(V, P, P)`` uint8: the pictures the network read (after :func:`prepare_picture`).
    edges : np.ndarray
        ``(V, P, P)`` bool: their Canny edges.
    """

    probability: np.ndarray
    grid: np.ndarray
    pictures: np.ndarray
    edges: np.ndarray

    @property
    def size(self) -> int:
        return self.grid.shape[0]

    @cached_property
    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """``(vertices, faces)`` of the smoothed marching-cubes surface, voxel units (:func:`grid_mesh`).

        Raises
        ------
        ValueError
            If the prediction is empty.
        """
        return grid_mesh(self.probability)

    def points(self, n: int = POINTS, *, seed: int = 0) -> np.ndarray:
        """``(n, 3)`` points on :attr:`mesh`, voxel units (same seed, same points)."""
        return surface_points(*self.mesh, n=n, seed=seed)


def load_reconstructor(checkpoint=None):
    """The part reconstructor from ``checkpoint`` (default ``checkpoints/parts``), loaded once and cached (read-only).

    Raises
    ------
    ValueError
        If the folder holds no checkpoint of this model.
    """
    from porelib.inference import load_generator

    return load_generator(MODEL, checkpoint)


def picture_arrays(grey_pictures, *, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Pictures as the network reads them: ``(V, P, P)`` uint8 and their Canny edges, bool ``(V, P, P)``.

    Each picture ``(H, W)`` in [0, 1] goes through :func:`prepare_picture` (pad, resize,
    checks), is quantised to 8 bits, and its edges are found on the quantised picture (as for
    the training pictures).
    """
    prepared = [prepare_picture(g, pixels=pixels) for g in grey_pictures]
    quantised = np.stack([np.round(p * 255).astype(np.uint8) for p in prepared])
    edges = np.stack([canny_edges(q / 255.0) for q in quantised])
    return quantised, edges


def predict_pictures(grey_pictures, *, checkpoint=None) -> PartPrediction:
    """Reconstruct a part from its pictures.

    Parameters
    ----------
    grey_pictures : sequence of array_like
        One ``(H, W)`` grey picture in [0, 1] per view the checkpoint reads (views ``0 …
        V-1`` of :data:`porelib.parts.render.VIEW_DIRECTIONS`; one for the shipped model).
    checkpoint : str or Path, optional
        A ``parts`` checkpoint folder (default ``checkpoints/parts``).

    Returns
    -------
    PartPrediction

    Raises
    ------
    ValueError
        If the number of pictures is not the checkpoint's, or a picture is empty, uniform,
        shows no part, or has a dark background (:func:`prepare_picture`).
    """
    import torch

    model = load_reconstructor(checkpoint)
    config = model.config
    if isinstance(grey_pictures, np.ndarray) and grey_pictures.ndim == 2:
        grey_pictures = [grey_pictures]  # one picture
    grey_pictures = list(grey_pictures)
    if len(grey_pictures) != config.views:
        raise ValueError(f"this checkpoint reads {config.views} picture(s) per part (views 0 … {config.views - 1}); "
                         f"got {len(grey_pictures)}")
    pictures, edges = picture_arrays(grey_pictures, pixels=config.pixels)
    with torch.no_grad():
        inputs = network_input(torch.from_numpy(pictures)[None], torch.from_numpy(edges)[None],
                               with_edges=config.edges)
        probability = torch.sigmoid(model(inputs.to(next(model.parameters()).device)).float())[0].cpu().numpy()
    return PartPrediction(probability, probability >= 0.5, pictures, edges)


def predict_files(sources, *, checkpoint=None) -> PartPrediction:
    """:func:`predict_pictures` of picture files (paths, bytes or uploads; PNG or JPEG), one per view."""
    if isinstance(sources, (str, Path, bytes)) or hasattr(sources, "read"):
        sources = [sources]
    return predict_pictures([read_part_picture(source) for source in sources], checkpoint=checkpoint)


@dataclass(frozen=True)
class Example:
    """A generated test part (never trained on) ready to reconstruct.

    Attributes
    ----------
    seed : int
        Its seed (in ``SPLITS["test"]``).
    family : str
        Its family.
    pictures : np.ndarray
        ``(V, P, P)`` float32 grey renders by the convention.
    truth : np.ndarray
        ``(S, S, S)`` bool voxels.
    """

    seed: int
    family: str
    pictures: np.ndarray
    truth: np.ndarray


def held_out_example(index: int, *, size: int = 32, views: int = 1, pixels: int = PIXELS) -> Example:
    """Test part number ``index`` (seed ``SPLITS["test"][index]``), rendered and voxelised.

    Raises
    ------
    ValueError
        If ``index`` is outside the test range.
    """
    from porelib.parts.generator import SPLITS
    from porelib.parts.samples import make_sample

    index = check_positive_int(index, "index", minimum=0, maximum=len(SPLITS["test"]) - 1)
    part, pictures, truth = make_sample(SPLITS["test"][index], size=size, views=views, pixels=pixels)
    return Example(part.seed, part.family, pictures, truth)


def render_stl(source, *, views=(0,), pixels: int = PIXELS) -> np.ndarray:
    """Render an STL file by the picture convention: ``(V, pixels, pixels)`` float32 grey in [0, 1].

    Raises
    ------
    ValueError
        If the file is not a readable STL (:func:`porelib.io.mesh.read_stl_surface`).
    """
    from porelib.io.mesh import read_stl_surface

    vertices, faces = read_stl_surface(source)
    return render(vertices, faces, views=views, pixels=pixels)


def stl_voxels(source, *, size: int) -> np.ndarray:
    """An STL part voxelised in the network's voxel space, ``(S, S, S)`` bool (longest side spans the grid).

    Raises
    ------
    ValueError
        If the file is not a readable STL or its surface is not closed.
    """
    from porelib.io.mesh import read_stl_surface

    vertices, faces = read_stl_surface(source)
    return voxelise(vertices, faces, size=check_positive_int(size, "size", minimum=2))


def scores(predicted, truth) -> dict[str, float]:
    """IoU and Dice of a predicted grid against the true one (:mod:`porelib.metrics`), and the empty grid's IoU."""
    predicted, truth = check_grid(predicted, "predicted"), check_grid(truth, "truth")
    return {"iou": metrics.iou(predicted, truth), "dice": metrics.dice(predicted, truth),
            "occupancy": float(predicted.mean()), "true_occupancy": float(truth.mean())}


def save_picture(path, grey) -> Path:
    """Write a grey picture ``(H, W)`` in [0, 1] as an 8-bit PNG."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"the picture is written as PNG: give a .png path; got {path}")
    grey = np.asarray(grey, dtype=np.float64)
    if grey.ndim != 2:
        raise ValueError(f"grey must be one (H, W) picture; got shape {grey.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(np.clip(grey, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


def export_bytes(prediction: PartPrediction, kind: str) -> bytes:
    """The bytes of a prediction as a file: ``"npy"`` (the voxels, bool), ``"stl"`` (the mesh, voxel
    units, porelib header) or ``"ply"`` (points on the mesh).

    Raises
    ------
    ValueError
        For an unknown kind, or a mesh or points of an empty prediction.
    """
    if kind not in EXPORTS:
        raise ValueError(f"kind must be one of {', '.join(EXPORTS)}; got {kind!r}")
    buffer = stdio.BytesIO()
    if kind == "npy":
        np.save(buffer, prediction.grid, allow_pickle=False)
    elif kind == "stl":
        save_mesh_stl(buffer, *prediction.mesh, size=prediction.size)
    else:
        save_ply(buffer, prediction.points())
    return buffer.getvalue()


def check_outputs(*, npy=None, stl=None, ply=None) -> dict[str, Path]:
    """The output paths by kind, each checked for its extension (call it before the work).

    Raises
    ------
    ValueError
        If a path does not end in ``.npy``, ``.stl`` or ``.ply`` as its kind needs.
    """
    paths = {}
    for kind, path in (("npy", npy), ("stl", stl), ("ply", ply)):
        if path is None:
            continue
        path = Path(path)
        if path.suffix.lower() != EXPORTS[kind]:
            raise ValueError(f"the {kind.upper()} output must end in {EXPORTS[kind]}; got {path}")
        paths[kind] = path
    return paths


def write_outputs(prediction: PartPrediction, *, npy=None, stl=None, ply=None) -> list[Path]:
    """Write the voxels (``.npy``), the mesh (``.stl``) and the points (``.ply``) where paths are given.

    Raises
    ------
    ValueError
        If a path has the wrong extension (:func:`check_outputs`), or a mesh is asked of an
        empty prediction.
    """
    written = []
    for kind, path in check_outputs(npy=npy, stl=stl, ply=ply).items():
        data = export_bytes(prediction, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


__all__ = [
    "EXPORTS",
    "Example",
    "MODEL",
    "check_outputs",
    "PartPrediction",
    "export_bytes",
    "load_reconstructor",
    "picture_arrays",
    "predict_files",
    "predict_pictures",
    "render_stl",
    "save_picture",
    "scores",
    "stl_voxels",
    "held_out_example",
    "write_outputs",
]
