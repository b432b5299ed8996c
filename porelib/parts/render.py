"""The one picture convention of "Part from a picture": how a part is rendered, and how pictures are read.

The convention (every picture the model sees, and every picture ``part render`` writes):

* **Part space.** The part's bounding box is centred at the origin and scaled so that its
  longest side is 1 (:func:`normalise`); z is up. The voxel grid spans the same cube
  ``[-0.5, 0.5]³`` (:mod:`porelib.parts.voxels`).
* **Camera.** Orthographic (parallel projection), looking at the origin from the direction
  :data:`VIEW_DIRECTIONS` ``[view]``; view 0, the one a single picture is taken from, is the
  isometric view from +x +y +z. The screen's up is the projection of +z. The picture spans
  :data:`FRAME` part units across and down (1.7), so any part whose bounding box is a cube
  just fits (the cube's isometric outline has a circumradius of 0.816), and a part's
  longest side always appears at the same scale.
* **Light.** One light fixed to the camera, from the viewer's upper left
  (:data:`LIGHT_POSITION` in camera coordinates), plus an ambient term: in view 0 the top
  (+z) faces are the brightest, the +x faces mid-grey and the +y faces the darkest.
  Flat faces are flat-shaded, curved ones smooth (normals split at 30°).
* **Picture.** Grey levels in [0, 1], plain white background (1.0), the part at most
  :data:`BRIGHTEST_PART` bright; :data:`PIXELS` square (rendered at twice the size and
  averaged down, which anti-aliases the outline), row 0 at the top.
* **Edges.** The seed's Canny edges (:func:`canny_edges`) of the grey picture, quantised to
  8 bits as it is saved, are the model's second channel (:func:`network_input`).

:func:`project` maps part-space points to the picture's coordinates; the model and the
extruded-silhouette baseline use it to look up, for every voxel, the pixel it falls on.

Pictures from users come in through :func:`read_part_picture`
(:func:`porelib.io.open_input` + :func:`porelib.io.arrays.read_picture`, which refuses
decompression bombs), and are brought to the model's size by :func:`prepare_picture`.
"""

from __future__ import annotations

import threading

import numpy as np

from porelib._validate import check_choice, check_positive_int, describe

#: Camera directions (from the origin towards the camera), one per view; view 0 is the convention.
VIEW_DIRECTIONS = ((1.0, 1.0, 1.0), (-1.0, -1.0, 1.0), (-1.0, 1.0, -1.0), (1.0, -1.0, -1.0))
#: The world direction that appears upwards on the screen (projected).
VIEW_UP = (0.0, 0.0, 1.0)
#: Width and height of the picture in part units (the part's longest side is 1).
FRAME = 1.7
#: Side of the pictures the model reads, in pixels.
PIXELS = 128
#: Rendering is done at this multiple of the size and averaged down (anti-aliasing).
SUPERSAMPLE = 2
#: Grey level of the background.
BACKGROUND = 1.0
#: Light position in camera coordinates (x right, y up, z towards the viewer).
LIGHT_POSITION = (-0.3, 0.5, 1.0)
#: Ambient and diffuse coefficients of the part's material (white).
AMBIENT, DIFFUSE = 0.25, 0.6
#: The brightest a part's pixel can be (ambient + diffuse), below the background.
BRIGHTEST_PART = AMBIENT + DIFFUSE
#: A pixel darker than this belongs to the part (the silhouette).
SILHOUETTE_LEVEL = 0.5 * (BRIGHTEST_PART + BACKGROUND)
#: Parts darker than this over fewer pixels than this count as "no object".
MIN_OBJECT_PIXELS = 16
#: Canny's Gaussian sigma (pixels) and hysteresis thresholds on the gradient of grey levels in [0, 1].
CANNY_SIGMA, CANNY_LOW, CANNY_HIGH = 1.0, 0.04, 0.1
#: Largest picture side accepted from a user, in pixels (beyond: downscale it first).
MAX_PICTURE_SIDE = 8192
#: Picture formats a user may give.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")


def view_basis(view: int) -> np.ndarray:
    """``(3, 3)`` rows: the screen's right, up and towards-the-viewer unit vectors of ``view``, in part space."""
    check_choice(view, tuple(range(len(VIEW_DIRECTIONS))), "view")
    towards = np.asarray(VIEW_DIRECTIONS[view], dtype=np.float64)
    towards /= np.linalg.norm(towards)
    right = np.cross(-towards, VIEW_UP)
    right /= np.linalg.norm(right)
    up = np.cross(right, -towards)
    return np.stack([right, up, towards])


def project(points, view: int = 0) -> np.ndarray:
    """Picture coordinates of part-space points.

    Parameters
    ----------
    points : array_like
        ``(..., 3)`` positions in part space (longest side 1, centred; see :func:`normalise`).
    view : int
        Index into :data:`VIEW_DIRECTIONS`.

    Returns
    -------
    np.ndarray
        ``(..., 2)`` float64 ``(u, v)`` in [-1, 1] across the picture: ``u`` from the left edge
        (-1) to the right (+1), ``v`` from the top edge (-1) to the bottom (+1) — the convention
        of ``torch.nn.functional.grid_sample`` with ``align_corners=False``. Pixel
        ``(row, col)`` of a ``P``-pixel picture covers ``u`` in ``[2 col / P - 1, 2 (col + 1) / P - 1]``.
    """
    basis = view_basis(view)
    points = np.asarray(points, dtype=np.float64)
    screen = points @ basis[:2].T / (FRAME / 2)
    return np.stack([screen[..., 0], -screen[..., 1]], axis=-1)


def normalise(vertices) -> np.ndarray:
    """``(V, 3)`` vertices in part space: bounding box centred at the origin, longest side 1.

    Raises
    ------
    ValueError
        If the vertices are not ``(V, 3)`` finite numbers or have no extent.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) == 0:
        raise ValueError(f"vertices must be (V, 3) positions x, y, z; got {describe(vertices)}")
    if not np.all(np.isfinite(vertices)):
        raise ValueError("vertices contain NaN or infinite coordinates")
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    longest = float((high - low).max())
    if longest <= 0:
        raise ValueError("the mesh has no extent (all its vertices coincide); there is nothing to render")
    return (vertices - (low + high) / 2) / longest


class _Renderer:
    """One off-screen pyvista plotter, reused for every render of one size (VTK set-up costs ~0.1 s).

    It is made and used only in the render thread (:func:`_render_thread`): an OpenGL context
    belongs to one thread, and a plotter driven from several threads renders blank pictures.
    """

    def __init__(self, pixels: int):
        from porelib.offscreen import use_offscreen_rendering

        use_offscreen_rendering()
        import pyvista as pv

        self.pv = pv
        self.pixels = pixels
        side = pixels * SUPERSAMPLE
        self.plotter = pv.Plotter(off_screen=True, window_size=(side, side), lighting="none")
        self.plotter.set_background([BACKGROUND] * 3)
        self.plotter.add_light(pv.Light(position=LIGHT_POSITION, focal_point=(0, 0, 0), light_type="camera light",
                                        intensity=1.0))

    def render(self, vertices: np.ndarray, faces: np.ndarray, views) -> np.ndarray:
        pv = self.pv
        cells = np.column_stack([np.full(len(faces), 3, dtype=np.int64), faces]).ravel()
        mesh = pv.PolyData(vertices, cells).compute_normals(
            cell_normals=False, point_normals=True, split_vertices=True, feature_angle=30.0,
            auto_orient_normals=False, consistent_normals=False)
        out = np.empty((len(views), self.pixels, self.pixels), dtype=np.float32)
        plotter = self.plotter
        plotter.clear_actors()
        plotter.add_mesh(mesh, color="white", ambient=AMBIENT, diffuse=DIFFUSE, specular=0.0, smooth_shading=True,
                         lighting=True)
        camera = plotter.camera
        camera.parallel_projection = True
        try:
            for index, view in enumerate(views):
                basis = view_basis(view)
                camera.focal_point = (0.0, 0.0, 0.0)
                camera.position = tuple(basis[2] * 4.0)
                camera.up = tuple(basis[1])
                camera.parallel_scale = FRAME / 2
                camera.clipping_range = (1.0, 7.0)
                plotter.render()
                rgb = plotter.screenshot(return_img=True)
                grey = rgb[..., :3].astype(np.float32).mean(axis=-1) / 255.0
                side = self.pixels
                out[index] = grey.reshape(side, SUPERSAMPLE, side, SUPERSAMPLE).mean(axis=(1, 3))
        finally:
            plotter.clear_actors()
        return out


_RENDERERS: dict[int, _Renderer] = {}
_EXECUTOR = None
_EXECUTOR_LOCK = threading.Lock()


def _render_thread():
    """The one thread that runs VTK for :func:`render` (started on first use, kept for the process)."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            from concurrent.futures import ThreadPoolExecutor

            _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="porelib-render")
        return _EXECUTOR


def _render_job(vertices: np.ndarray, faces: np.ndarray, views: tuple, pixels: int) -> np.ndarray:
    if pixels not in _RENDERERS:
        _RENDERERS[pixels] = _Renderer(pixels)
    return _RENDERERS[pixels].render(vertices, faces, views)


def render(vertices, faces, *, views=(0,), pixels: int = PIXELS, fit: bool = True) -> np.ndarray:
    """Render a triangle mesh by the convention (module notes).

    Parameters
    ----------
    vertices : array_like
        ``(V, 3)`` positions in any unit and place (normalised here by :func:`normalise`).
    faces : array_like of int
        ``(F, 3)`` vertex indices of the triangles.
    views : sequence of int
        Indices into :data:`VIEW_DIRECTIONS`; ``(0,)`` is the single-picture convention.
    pixels : int
        Side of the pictures.
    fit : bool
        Normalise the mesh into part space (:func:`normalise`; the convention). ``False``
        takes the vertices as part-space positions already (e.g. a predicted mesh placed in
        its voxel grid's cube, drawn at the same scale as the true part).

    Returns
    -------
    np.ndarray
        ``(len(views), pixels, pixels)`` float32 grey levels in [0, 1], row 0 at the top,
        background :data:`BACKGROUND`.

    Raises
    ------
    ValueError
        If the mesh is malformed, a view is unknown or ``pixels`` is out of range.
    """
    pixels = check_positive_int(pixels, "pixels", minimum=16, maximum=2048)
    views = tuple(views)
    if not views:
        raise ValueError("views must name at least one view, e.g. (0,)")
    for view in views:
        check_choice(view, tuple(range(len(VIEW_DIRECTIONS))), "view")
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu" or len(faces) == 0:
        raise ValueError(f"faces must be (F, 3) integer vertex indices, at least one; got {describe(faces)}")
    vertices = normalise(vertices) if fit else np.asarray(vertices, dtype=np.float64)
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError(f"faces index vertices 0 … {len(vertices) - 1}; found {faces.min()} to {faces.max()}")
    return _render_thread().submit(_render_job, vertices, faces.astype(np.int64), views, pixels).result()


def canny_edges(grey) -> np.ndarray:
    """The seed's Canny edges of a grey picture ``(H, W)`` in [0, 1], as bool ``(H, W)``."""
    from skimage.feature import canny

    return canny(np.asarray(grey, dtype=np.float64), sigma=CANNY_SIGMA, low_threshold=CANNY_LOW,
                 high_threshold=CANNY_HIGH)


def silhouette(grey) -> np.ndarray:
    """Bool ``(..., H, W)``: the pixels of the part (darker than :data:`SILHOUETTE_LEVEL`)."""
    return np.asarray(grey) < SILHOUETTE_LEVEL


def network_input(pictures, edges, *, with_edges: bool, jitter: float = 0.0):
    """The reconstructor's input ``(N, V, C, P, P)`` float32 tensor of pictures and their edges.

    Parameters
    ----------
    pictures : torch.Tensor
        ``(N, V, P, P)`` uint8 grey levels by the convention (255 = background).
    edges : torch.Tensor
        ``(N, V, P, P)`` bool Canny edges (:func:`canny_edges` of ``pictures / 255``).
    with_edges : bool
        Add the edges as channel 1 (``PartReconstructorConfig.edges``).
    jitter : float
        Training only: a random gain ``1 ± jitter`` and gamma ``exp(± jitter)`` per picture
        on the darkness ``1 - grey`` (the background stays 0).

    Returns
    -------
    torch.Tensor
        Channel 0 the darkness ``1 - grey`` (background 0); channel 1 the edges as 0/1.
    """
    import torch

    dark = 1.0 - pictures.float() / 255.0
    if jitter:
        shape = (*dark.shape[:2], 1, 1)
        gain = 1.0 + jitter * (2 * torch.rand(shape, device=dark.device) - 1)
        gamma = torch.exp(jitter * (2 * torch.rand(shape, device=dark.device) - 1))
        dark = (gain * dark.clamp_min(0) ** gamma).clamp(0.0, 1.0)
    channels = [dark, edges.float()] if with_edges else [dark]
    return torch.stack(channels, dim=2)


def read_part_picture(source, *, fmt: str | None = None) -> np.ndarray:
    """A picture file as grey levels in [0, 1], ``(H, W)`` float64, row 0 at the top.

    Through :func:`porelib.io.open_input` (format, size and the input limit) and
    :func:`porelib.io.arrays.read_picture` (pixel count checked from the header, so a
    decompression bomb is refused before it is decoded; sides above
    :data:`MAX_PICTURE_SIDE` are refused). Transparent pixels count as white background.

    Raises
    ------
    ValueError
        If the file is not a PNG or JPEG picture, is empty, too large or corrupt.
    """
    from porelib.io.arrays import read_picture
    from porelib.io.inputs import open_input

    file = open_input(source, formats=PICTURE_SUFFIXES, fmt=fmt, what="picture of a part")
    return read_picture(file, max_side=MAX_PICTURE_SIDE) / 255.0


def prepare_picture(grey, *, pixels: int = PIXELS) -> np.ndarray:
    """A grey picture brought to the model's ``pixels`` × ``pixels``: padded to a square with background, resized.

    A picture written by :func:`render` (or ``python -m porelib part render``) at any size
    keeps the convention; other pictures are only as good as their likeness to it.

    Parameters
    ----------
    grey : array_like
        ``(H, W)`` grey levels in [0, 1] (as :func:`read_part_picture` returns).

    Returns
    -------
    np.ndarray
        ``(pixels, pixels)`` float32 in [0, 1].

    Raises
    ------
    ValueError
        If the picture is not 2-D, is uniform (an empty picture), or shows no part: fewer
        than :data:`MIN_OBJECT_PIXELS` pixels darker than :data:`SILHOUETTE_LEVEL` on a
        light background, or a dark background.
    """
    from skimage.transform import resize

    grey = np.asarray(grey, dtype=np.float64)
    if grey.ndim != 2 or min(grey.shape) < 2:
        raise ValueError(f"the picture must be a 2-D grey image of at least 2 × 2 pixels; got {describe(grey)}")
    if not np.all(np.isfinite(grey)):
        raise ValueError("the picture holds NaN or infinite values")
    if float(grey.max() - grey.min()) < 1e-3:
        raise ValueError(f"the picture is uniform (every pixel {grey.flat[0]:.3g}): it shows nothing; "
                         "render a part with `python -m porelib part render PART.stl --out IMG.png`")
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) < SILHOUETTE_LEVEL:
        raise ValueError(
            f"the picture's border is dark (median grey {np.median(border):.2f}): the convention is a part on a "
            "plain white background; render the part with `python -m porelib part render PART.stl --out IMG.png`")
    rows, cols = grey.shape
    side = max(rows, cols)
    square = np.full((side, side), BACKGROUND)
    top, left = (side - rows) // 2, (side - cols) // 2
    square[top:top + rows, left:left + cols] = grey
    small = resize(square, (pixels, pixels), order=1, anti_aliasing=side > pixels, mode="edge").astype(np.float32)
    if np.count_nonzero(silhouette(small)) < MIN_OBJECT_PIXELS:
        raise ValueError(
            "no part found in the picture: fewer than "
            f"{MIN_OBJECT_PIXELS} of its {pixels}×{pixels} pixels are darker than the background; the convention is "
            "a grey part filling the frame on white (see `python -m porelib part render`)")
    return np.clip(small, 0.0, 1.0)


__all__ = [
    "BACKGROUND",
    "FRAME",
    "PICTURE_SUFFIXES",
    "PIXELS",
    "VIEW_DIRECTIONS",
    "VIEW_UP",
    "canny_edges",
    "network_input",
    "normalise",
    "prepare_picture",
    "project",
    "read_part_picture",
    "render",
    "silhouette",
    "view_basis",
]
