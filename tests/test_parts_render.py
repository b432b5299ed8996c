"""The picture convention: where a part lands in the picture, how it is lit, and how pictures are read."""

from __future__ import annotations

import io as stdio
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from porelib.parts.baselines import extruded_silhouette
from porelib.parts.generator import make_part
from porelib.parts.render import (
    BACKGROUND,
    FRAME,
    MIN_OBJECT_PIXELS,
    PIXELS,
    VIEW_DIRECTIONS,
    normalise,
    prepare_picture,
    project,
    read_part_picture,
    render,
    silhouette,
    view_basis,
)
from porelib.parts.voxels import voxelise

HOSTILE = Path(__file__).resolve().parent / "hostile"


def _box(x: float, y: float, z: float) -> tuple[np.ndarray, np.ndarray]:
    """A closed box [0, x] × [0, y] × [0, z], triangles counter-clockwise from outside."""
    v = np.array([[i * x, j * y, k * z] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])  # fmt: skip
    return v, f


def _pixel(point, view: int = 0, pixels: int = PIXELS) -> tuple[int, int]:
    u, v = project(np.asarray(point, dtype=float), view)
    return int((v + 1) / 2 * pixels), int((u + 1) / 2 * pixels)


def test_the_camera_basis_is_orthonormal_with_z_up_on_screen():
    for view in range(len(VIEW_DIRECTIONS)):
        basis = view_basis(view)
        np.testing.assert_allclose(basis @ basis.T, np.eye(3), atol=1e-12)
        assert basis[1] @ np.array([0, 0, 1.0]) > 0  # +z points up the screen
    np.testing.assert_allclose(view_basis(0)[2], np.ones(3) / np.sqrt(3))


@pytest.mark.parametrize("view", range(len(VIEW_DIRECTIONS)))
def test_a_part_lands_where_the_projection_says(view):
    part = make_part(12)
    picture = render(part.vertices, part.faces, views=(view,))[0]
    uv = project(normalise(part.vertices), view)
    cols, rows = (uv[:, 0] + 1) / 2 * PIXELS, (uv[:, 1] + 1) / 2 * PIXELS
    found_rows, found_cols = np.nonzero(silhouette(picture))
    # The silhouette spans the projected vertices to within a pixel (anti-aliased outline).
    assert abs(found_cols.min() - cols.min()) <= 1 and abs(found_cols.max() + 1 - cols.max()) <= 1
    assert abs(found_rows.min() - rows.min()) <= 1 and abs(found_rows.max() + 1 - rows.max()) <= 1


def test_a_unit_cube_fits_the_frame_and_its_faces_are_lit_top_x_y():
    vertices, faces = _box(1, 1, 1)
    picture = render(vertices, faces)[0]
    assert picture.shape == (PIXELS, PIXELS) and picture.dtype == np.float32
    assert picture[0].min() == pytest.approx(BACKGROUND) and picture[-1].min() == pytest.approx(BACKGROUND)
    centred = normalise(vertices)
    top, plus_x, plus_y = (picture[_pixel(centred[mask].mean(axis=0))]
                           for mask in (centred[:, 2] > 0, centred[:, 0] > 0, centred[:, 1] > 0))
    assert BACKGROUND > top > plus_x > plus_y > 0.2
    # The cube's outline (a hexagon of circumradius sqrt(2/3)) fills FRAME / 2 of the half-width.
    cols = np.nonzero(silhouette(picture).any(axis=0))[0]
    assert (cols.max() + 1 - cols.min()) / PIXELS == pytest.approx(np.sqrt(2) / FRAME, abs=2 / PIXELS)


def test_the_picture_does_not_depend_on_the_unit_or_the_place():
    part = make_part(3)
    a = render(part.vertices, part.faces)[0]
    b = render(part.vertices * 25.4 + [100, -3, 7], part.faces)[0]
    np.testing.assert_allclose(a, b, atol=1e-2)


def test_renders_from_other_threads_are_the_same_picture():
    part = make_part(4)
    expected = render(part.vertices, part.faces)[0]
    found = []
    threads = [threading.Thread(target=lambda: found.append(render(part.vertices, part.faces)[0])) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 3 and all(np.array_equal(f, expected) for f in found)


@pytest.mark.parametrize("seed", [0, 2, 4, 6])
def test_the_true_voxels_lie_inside_the_extruded_silhouette(seed):
    part = make_part(seed)
    picture = render(part.vertices, part.faces)
    truth = voxelise(part.vertices, part.faces, size=32)
    hull = extruded_silhouette(picture, size=32)
    assert (truth & hull).sum() >= 0.98 * truth.sum()
    assert hull.sum() > truth.sum()


def _png(array: np.ndarray) -> bytes:
    buffer = stdio.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_saved_render_reads_back_as_the_same_picture():
    part = make_part(9)
    picture = render(part.vertices, part.faces, pixels=256)[0]
    read = read_part_picture(_png(np.round(picture * 255).astype(np.uint8)), fmt=".png")
    assert read.shape == (256, 256) and read.max() <= 1.0
    difference = np.abs(prepare_picture(read) - render(part.vertices, part.faces)[0])
    # A picture rendered at 256 pixels and resized is the 128-pixel render but for a few outline pixels.
    assert difference.mean() < 0.005 and difference.max() < 0.25


def test_a_rectangular_picture_is_padded_with_background():
    part = make_part(9)
    picture = render(part.vertices, part.faces)[0]
    wide = np.hstack([np.full((PIXELS, 32), BACKGROUND), picture, np.full((PIXELS, 32), BACKGROUND)])
    assert prepare_picture(wide).shape == (PIXELS, PIXELS)


@pytest.mark.parametrize(
    ("picture", "match"),
    [
        (np.full((50, 50), 0.8), "the picture is uniform"),
        (np.zeros((64, 64)) + np.eye(64) * 0.5, "border is dark"),
        (np.pad(np.full((1, 1), 0.3), 32, constant_values=1.0), "no part found"),
        (np.ones((4, 4, 3)), "must be a 2-D grey image"),
    ],
)
def test_pictures_without_a_part_are_refused(picture, match):
    with pytest.raises(ValueError, match=match):
        prepare_picture(picture)


def test_files_that_are_not_pictures_are_refused(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    with pytest.raises(ValueError, match="could not read file"):
        read_part_picture(text)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        read_part_picture(empty)
    with pytest.raises(ValueError, match="use one of .png, .jpg, .jpeg"):
        read_part_picture(tmp_path / "part.gif")
    assert MIN_OBJECT_PIXELS > 0


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    with pytest.raises(ValueError, match="pixels along each side|above the input limit|decompression"):
        read_part_picture(HOSTILE / "bomb.png")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"views": (4,)}, "view must be one of"), ({"views": ()}, "views must name at least one view"),
     ({"pixels": 8}, "pixels must be at least 16")],
)
def test_bad_render_arguments_are_refused(kwargs, match):
    vertices, faces = _box(1, 2, 3)
    with pytest.raises(ValueError, match=match):
        render(vertices, faces, **kwargs)


def test_a_mesh_without_extent_is_refused():
    with pytest.raises(ValueError, match="no extent"):
        normalise(np.zeros((3, 3)))
