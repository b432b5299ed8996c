"""The baselines a reconstruction from a picture must beat.

:func:`extruded_silhouette`
    The part's silhouette extruded along the line of sight through the whole grid: a voxel
    is inside when its centre projects (:func:`porelib.parts.render.project`) onto a part
    pixel of every picture given — a one-view visual hull, and with several views their
    intersection (the visual hull of those views). It knows the camera exactly, as the model does.
:class:`Retrieval`
    The nearest training sample by image embedding (cosine similarity), its voxel grid
    returned as the answer: what a lookup in the training set achieves.
:func:`pixel_embedding`
    A model-free embedding for retrieval: the pictures averaged down to 32 × 32 pixels,
    centred and scaled to unit length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from porelib._validate import MAX_GRID_SIZE, check_positive_int, describe
from porelib.parts.render import project, silhouette
from porelib.parts.voxels import voxel_centres

#: Side of the pictures behind :func:`pixel_embedding`.
EMBEDDING_PIXELS = 32


def extruded_silhouette(grey, *, size: int = 32, views=None) -> np.ndarray:
    """The silhouettes of pictures extruded through the grid (a visual hull).

    Parameters
    ----------
    grey : array_like
        ``(V, P, P)`` grey pictures in [0, 1] by the convention (or ``(P, P)`` for one).
    size : int
        Edge length of the grid.
    views : sequence of int, optional
        The view of each picture (default ``0 … V-1``).

    Returns
    -------
    np.ndarray
        ``(S, S, S)`` bool.

    Raises
    ------
    ValueError
        If the pictures are not square ``(V, P, P)`` or the views do not match them.
    """
    grey = np.asarray(grey, dtype=np.float32)
    if grey.ndim == 2:
        grey = grey[None]
    if grey.ndim != 3 or grey.shape[1] != grey.shape[2]:
        raise ValueError(f"grey must be square pictures (V, P, P); got {describe(grey)}")
    size = check_positive_int(size, "size", minimum=2, maximum=MAX_GRID_SIZE)
    views = tuple(range(len(grey))) if views is None else tuple(views)
    if len(views) != len(grey):
        raise ValueError(f"views must name one view per picture ({len(grey)}); got {views}")
    pixels = grey.shape[-1]
    centres = voxel_centres(size)
    inside = np.ones((size, size, size), dtype=bool)
    for picture, view in zip(grey, views):
        uv = project(centres, view)
        cols = np.floor((uv[..., 0] + 1) / 2 * pixels).astype(np.int64)
        rows = np.floor((uv[..., 1] + 1) / 2 * pixels).astype(np.int64)
        seen = (cols >= 0) & (cols < pixels) & (rows >= 0) & (rows < pixels)
        mask = silhouette(picture)
        hit = np.zeros_like(inside)
        hit[seen] = mask[rows[seen], cols[seen]]
        inside &= hit
    return inside


def pixel_embedding(grey) -> np.ndarray:
    """``(N, V · 32 · 32)`` float32 unit vectors of pictures ``(N, V, P, P)`` averaged down (P a multiple of 32)."""
    grey = np.asarray(grey, dtype=np.float32)
    if grey.ndim != 4 or grey.shape[-1] != grey.shape[-2] or grey.shape[-1] % EMBEDDING_PIXELS:
        raise ValueError(f"grey must be (N, V, P, P) pictures with P a multiple of {EMBEDDING_PIXELS}; "
                         f"got {describe(grey)}")
    n, v, p, _ = grey.shape
    k = p // EMBEDDING_PIXELS
    small = (1.0 - grey).reshape(n, v, EMBEDDING_PIXELS, k, EMBEDDING_PIXELS, k).mean(axis=(3, 5)).reshape(n, -1)
    small -= small.mean(axis=1, keepdims=True)
    return small / np.maximum(np.linalg.norm(small, axis=1, keepdims=True), 1e-8)


@dataclass(frozen=True)
class Retrieval:
    """Nearest-neighbour retrieval: the grid of the most similar training sample.

    Attributes
    ----------
    embeddings : np.ndarray
        ``(M, D)`` float32 embeddings of the training samples.
    packed_grids : np.ndarray
        ``(M, S, S, S // 8)`` uint8 their bit-packed grids (as :class:`porelib.parts.samples.PartSamples`).
    size : int
        Edge length of the grids.
    """

    embeddings: np.ndarray
    packed_grids: np.ndarray
    size: int

    def __post_init__(self):
        if self.embeddings.ndim != 2 or len(self.embeddings) != len(self.packed_grids) or not len(self.embeddings):
            raise ValueError(f"embeddings must be (M, D) with one row per grid ({len(self.packed_grids)}); "
                             f"got {describe(self.embeddings)}")

    def nearest(self, queries) -> np.ndarray:
        """``(N,)`` int64 index of the most similar training sample (cosine similarity) of each query ``(N, D)``."""
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.embeddings.shape[1]:
            raise ValueError(f"queries must be (N, {self.embeddings.shape[1]}); got {describe(queries)}")
        train = self.embeddings / np.maximum(np.linalg.norm(self.embeddings, axis=1, keepdims=True), 1e-8)
        query = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-8)
        return np.argmax(query @ train.T, axis=1)

    def grids(self, queries) -> np.ndarray:
        """``(N, S, S, S)`` bool: the grid of the nearest training sample of each query."""
        return np.unpackbits(self.packed_grids[self.nearest(queries)], axis=-1, count=self.size).astype(bool)


__all__ = ["EMBEDDING_PIXELS", "Retrieval", "extruded_silhouette", "pixel_embedding"]
