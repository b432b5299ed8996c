"""Tests of STL import: voxelisation of closed surfaces (porelib.io.load_stl, surface_to_grid)."""

from __future__ import annotations

import numpy as np
import pytest

from porelib import metrics
from porelib.io import (
    STL_SIZE,
    grid_to_surface,
    load_batch,
    load_grid,
    load_stl,
    save_grid,
    surface_to_grid,
)
from porelib.synth import pore_grid

#: The 12 triangles of the unit cube [0, 1]³ (outward winding).
CUBE_VERTICES = np.array(list(np.ndindex(2, 2, 2)), dtype=float)
CUBE_FACES = np.array(
    [[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
     [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]]
)


class Upload:
    """Stands in for a Streamlit ``UploadedFile``."""

    def __init__(self, name: str, data: bytes):
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


def ascii_stl(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    lines = ["solid test"]
    for face in faces:
        lines += ["  facet normal 0 0 0", "    outer loop"]
        lines += [f"      vertex {x:.9g} {y:.9g} {z:.9g}" for x, y, z in vertices[face]]
        lines += ["    endloop", "  endfacet"]
    return ("\n".join(lines + ["endsolid test"]) + "\n").encode()


def binary_stl(vertices: np.ndarray, faces: np.ndarray, header: bytes = b"other exporter") -> bytes:
    records = np.zeros(len(faces), dtype=[("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])
    records["vertices"] = vertices[faces]
    return header.ljust(80, b" ") + np.uint32(len(faces)).tobytes() + records.tobytes()


@pytest.mark.parametrize(
    "grid",
    [
        pytest.param(pore_grid(0.9, size=20, seed=1), id="dataset-like-dense"),
        pytest.param(pore_grid(0.5, size=20, seed=2), id="dataset-like-sparse"),
        pytest.param(np.random.default_rng(3).random((14, 14, 14)) < 0.3, id="noise-touching-faces"),
        pytest.param(np.random.default_rng(4).random((9, 9, 9)) < 0.7, id="noise-mostly-pore"),
    ],
)
def test_exported_stl_round_trips_exactly(tmp_path, grid):
    path = save_grid(tmp_path / "pores.stl", grid)
    back = load_grid(path)
    assert back.shape == grid.shape  # the size recorded in the header, not STL_SIZE
    assert metrics.iou(back, grid) >= 0.95
    np.testing.assert_array_equal(back, grid)  # in fact exact: voxel centres stay >= 0.28 voxel from the surface


def test_surface_to_grid_inverts_grid_to_surface():
    grid = pore_grid(0.7, size=16, seed=5)
    vertices, faces = grid_to_surface(grid)
    np.testing.assert_array_equal(surface_to_grid(vertices, faces, size=16, units="voxels"), grid)


def test_upload_of_an_stl_loads_as_a_batch(tmp_path):
    grid = pore_grid(0.8, size=12, seed=6)
    data = save_grid(tmp_path / "pores.stl", grid).read_bytes()
    batch = load_batch(Upload("pores.stl", data))
    assert batch.densities is None
    np.testing.assert_array_equal(batch.grids[0], grid)


def test_ascii_and_binary_give_the_same_grid(tmp_path):
    vertices = CUBE_VERTICES * [4.0, 6.0, 8.0] + 5.0
    (tmp_path / "a.stl").write_bytes(ascii_stl(vertices, CUBE_FACES))
    (tmp_path / "b.stl").write_bytes(binary_stl(vertices, CUBE_FACES, header=b"solid but binary"))
    ascii_grid, binary_grid = load_grid(tmp_path / "a.stl"), load_grid(tmp_path / "b.stl")
    np.testing.assert_array_equal(ascii_grid, binary_grid)
    # "fit": the longest side (z, 8 units) spans STL_SIZE - 2 voxels, centred; x and y keep the aspect ratio.
    extents = [np.ptp(np.flatnonzero(ascii_grid.any(axis=tuple(set(range(3)) - {axis})))) + 1 for axis in range(3)]
    assert ascii_grid.shape == (STL_SIZE,) * 3
    assert extents == [14, 21, 28]


def test_fit_fills_a_sphere_to_its_volume(tmp_path):
    import pyvista as pv

    pv.Sphere(radius=3.0, theta_resolution=48, phi_resolution=48).save(tmp_path / "sphere.stl")
    grid = load_stl(tmp_path / "sphere.stl", size=30)
    radius = (30 - 2) / 2  # the diameter spans size - 2 voxels
    assert grid.sum() == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.01)


def test_agrees_with_vtk_voxelisation_on_a_foreign_mesh():
    """Cross-check with VTK's scan-line stencil (pyvista ``voxelize_binary_mask``), an independent implementation."""
    import pyvista as pv

    mesh = pv.ParametricTorus(ringradius=7.0, crosssectionradius=3.1).triangulate().translate((12.3, 11.8, 12.1))
    mesh = mesh.clean()
    ours = surface_to_grid(mesh.points, mesh.regular_faces, size=25, units="voxels")
    reference = pv.ImageData(dimensions=(25, 25, 25), spacing=(1, 1, 1), origin=(0, 0, 0))
    mask = mesh.voxelize_binary_mask(reference_volume=reference)
    vtk = np.asarray(mask.point_data["mask"]).reshape((25,) * 3, order="F").astype(bool)
    assert ours.sum() > 500
    # Voxel centres that lie within a rounding error of the surface may go either way in either method.
    assert np.count_nonzero(ours != vtk) <= 2


def test_nested_shells_leave_a_hollow():
    outer = CUBE_VERTICES * 8.0 + 0.5  # holds the voxel centres 1 … 8
    inner = CUBE_VERTICES * 4.0 + 2.5  # holds 3 … 6
    vertices = np.concatenate([outer, inner])
    faces = np.concatenate([CUBE_FACES, CUBE_FACES + 8])
    grid = surface_to_grid(vertices, faces, size=12, units="voxels")
    assert grid[2, 2, 2] and not grid[5, 5, 5]
    assert grid.sum() == 8**3 - 4**3


def test_triangle_soup_is_welded():
    soup = CUBE_VERTICES[CUBE_FACES].reshape(-1, 3) * 3.0 + 0.5
    grid = surface_to_grid(soup, np.arange(len(soup)).reshape(-1, 3), size=6, units="voxels")
    assert grid.sum() == 3**3


def open_cube() -> bytes:
    return binary_stl(CUBE_VERTICES * 5.0, CUBE_FACES[:-1])


@pytest.mark.parametrize(
    ("data", "kwargs", "match"),
    [
        pytest.param(open_cube(), {}, r"part\.stl': the surface is not closed: 3 of its 18 edges border an odd", id="open"),
        pytest.param(binary_stl(CUBE_VERTICES, CUBE_FACES[:0]), {}, r"the surface has no triangles", id="empty-binary"),
        pytest.param(b"solid empty\nendsolid empty\n", {}, r"the surface has no triangles", id="empty-ascii"),
        pytest.param(b"", {}, r"part\.stl' is empty \(0 bytes\)", id="zero-bytes"),
        pytest.param(b"hello, not a mesh", {}, r"is not an STL file: a binary STL is 84 \+ 50", id="not-stl"),
        pytest.param(b"solid x\n vertex 0 0 0\n vertex 1 0 0\nendsolid", {}, r"2 'vertex' lines, not three per facet", id="broken-ascii"),
        pytest.param(b"solid x\n vertex 0 0 0\n vertex 1 a 0\n vertex 0 1 0\n", {}, r"could not read .* as an ASCII STL", id="bad-number"),
        pytest.param(binary_stl(np.zeros((8, 3)), CUBE_FACES), {}, r"no extent \(all its vertices coincide\)", id="point"),
        pytest.param(binary_stl(CUBE_VERTICES * 40.0, CUBE_FACES), {"units": "voxels"}, r"outside the 30³ grid.*units='fit'", id="too-big"),
        pytest.param(binary_stl(CUBE_VERTICES, CUBE_FACES), {"units": "mm"}, r"units must be one of auto, voxels, fit", id="units"),
        pytest.param(binary_stl(CUBE_VERTICES, CUBE_FACES), {"size": 1}, r"size must be at least 2", id="size"),
    ],
)
def test_bad_meshes_raise_clear_errors(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_stl(Upload("part.stl", data), **kwargs)


@pytest.mark.parametrize(
    ("vertices", "faces", "match"),
    [
        pytest.param(np.zeros((3, 2)), np.array([[0, 1, 2]]), r"vertices must be \(V, 3\)", id="2-D-vertices"),
        pytest.param(CUBE_VERTICES, CUBE_FACES.astype(float), r"faces must be \(F, 3\) integer", id="float-faces"),
        pytest.param(CUBE_VERTICES, CUBE_FACES + 1, r"faces index vertices 0 … 7; found indices 1 to 8", id="out-of-range"),
        pytest.param(CUBE_VERTICES * np.nan, CUBE_FACES, r"vertices contains 24 NaN", id="nan"),
    ],
)
def test_bad_surfaces_raise_clear_errors(vertices, faces, match):
    with pytest.raises(ValueError, match=match):
        surface_to_grid(vertices, faces)


def test_score_page_scores_an_stl_upload(tmp_path):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from porelib.app import state as keys

    grid = pore_grid(0.6, seed=7)
    data = save_grid(tmp_path / "pores.stl", grid).read_bytes()
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "studio.py"), default_timeout=120).run()
    at.switch_page("pages/score.py").run()
    at.file_uploader(key=keys.SCORE_UPLOAD).set_value(("pores.stl", data, "model/stl")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Porosity φ"] == f"{grid.mean():.4f}"
