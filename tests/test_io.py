"""Tests of porelib.io: round trips through every format, and malformed inputs."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile

from porelib.io import (
    SUPPORTED_LOAD,
    SUPPORTED_SAVE,
    GridBatch,
    grid_to_rows,
    grid_to_surface,
    load_batch,
    load_grid,
    rows_to_grid,
    save_grid,
)

SIZE = 12
GRID = np.random.default_rng(0).random((SIZE,) * 3) < 0.3
BATCH = np.random.default_rng(1).random((3, SIZE, SIZE, SIZE)) < 0.3
ROWS = grid_to_rows(GRID)
STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])


class Upload:
    """Stands in for a Streamlit ``UploadedFile``: a name and ``getvalue()``."""

    def __init__(self, name: str, data: bytes):
        self.name = name
        self._data = data

    def getvalue(self) -> bytes:
        return self._data


def single_voxel(size: int, at: tuple[int, int, int]) -> np.ndarray:
    grid = np.zeros((size,) * 3, dtype=bool)
    grid[at] = True
    return grid


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def saved_bytes(tmp_path, name: str, grid=GRID) -> bytes:
    return save_grid(tmp_path / "ok" / name, grid).read_bytes()


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "name",
    ["grid.npy", "grid.npz", "grid.tif", "grid.tiff", "GRID.TIF", "grid.vti", "distribution_7_0.5000.npy", "g.rows.npy"],
)
def test_one_grid_round_trips_exactly(tmp_path, name):
    path = save_grid(tmp_path / name, GRID)
    assert path == tmp_path / name
    loaded = load_grid(path)
    assert loaded.dtype == bool
    np.testing.assert_array_equal(loaded, GRID)


@pytest.mark.parametrize(
    ("name", "layout", "shape", "dtype"),
    [
        ("grid.npy", None, (SIZE,) * 3, bool),
        ("distribution_7_0.5000.npy", None, (SIZE**3, 4), np.float64),
        ("grid.rows.npy", None, (SIZE**3, 4), np.float64),
        ("plain.npy", "rows", (SIZE**3, 4), np.float64),
        ("distribution_7_0.5000.npy", "dense", (SIZE,) * 3, bool),
    ],
    ids=["dense", "distribution-name", "rows-suffix", "layout-rows", "layout-dense-wins"],
)
def test_npy_layout_on_disk(tmp_path, name, layout, shape, dtype):
    path = save_grid(tmp_path / name, GRID, layout=layout)
    on_disk = np.load(path, allow_pickle=False)
    assert on_disk.shape == shape
    assert on_disk.dtype == dtype


@pytest.mark.parametrize("name", ["batch.npy", "batch.npz"])
def test_batch_round_trips(tmp_path, name):
    densities = np.array([0.1, 0.5, 0.9])
    batch = load_batch(save_grid(tmp_path / name, BATCH, densities=densities))
    np.testing.assert_array_equal(batch.grids, BATCH)
    if name.endswith(".npz"):
        np.testing.assert_allclose(batch.densities, densities)
    else:  # .npy has no room for densities
        assert batch.densities is None


def test_npz_holds_grids_and_densities_compressed(tmp_path):
    path = save_grid(tmp_path / "one.npz", GRID, densities=[0.25])
    with np.load(path, allow_pickle=False) as archive:
        assert archive["grids"].shape == (1, SIZE, SIZE, SIZE)
        np.testing.assert_allclose(archive["densities"], [0.25])
    assert path.stat().st_size < GRID.size // 2  # compressed: under 4 bits per voxel of a 30 % random grid


def test_npz_accepts_single_grid_key(tmp_path):
    np.savez_compressed(tmp_path / "single.npz", grid=GRID.astype(np.uint8))
    batch = load_batch(tmp_path / "single.npz")
    assert batch.densities is None
    np.testing.assert_array_equal(batch.grids, GRID[None])


def test_rows_are_placed_by_coordinates_not_order(tmp_path):
    shuffled = ROWS[np.random.default_rng(2).permutation(len(ROWS))]
    np.testing.assert_array_equal(rows_to_grid(shuffled), GRID)
    np.save(tmp_path / "distribution_0_0.3.npy", shuffled)
    np.testing.assert_array_equal(load_grid(tmp_path / "distribution_0_0.3.npy"), GRID)


def test_rows_with_integer_dtype_are_voxel_indices():
    indices = np.indices(GRID.shape).reshape(3, -1).T
    rows = np.column_stack([indices, GRID.reshape(-1)]).astype(np.int32)
    np.testing.assert_array_equal(rows_to_grid(rows[::-1]), GRID)


def test_rows_coordinates_are_index_over_size_minus_one():
    rows = grid_to_rows(single_voxel(4, (1, 2, 3)))
    assert rows.shape == (64, 4) and rows.dtype == np.float64
    np.testing.assert_allclose(rows[rows[:, 3] == 1, :3], [[1 / 3, 2 / 3, 1.0]])
    assert rows[:, :3].min() == 0.0 and rows[:, :3].max() == 1.0


def test_rows_tolerate_float32_rounding():
    rows = ROWS.astype(np.float32)  # 1/11 is not exact in float32
    np.testing.assert_array_equal(rows_to_grid(rows), GRID)


def test_tif_axes_follow_the_grid_and_255_means_pore(tmp_path):
    path = save_grid(tmp_path / "grid.tif", GRID)
    stack = tifffile.imread(path)
    assert stack.dtype == np.uint8 and stack.max() == 1
    np.testing.assert_array_equal(stack, GRID)  # stack[axis0, axis1, axis2] = grid[ix, iy, iz]
    tifffile.imwrite(tmp_path / "255.tif", GRID.astype(np.uint8) * 255, photometric="minisblack")
    np.testing.assert_array_equal(load_grid(tmp_path / "255.tif"), GRID)


def test_vti_point_ix_iy_iz_holds_grid_ix_iy_iz(tmp_path):
    pv = pytest.importorskip("pyvista")
    grid = single_voxel(5, (1, 2, 3))  # asymmetric, so any axis swap shows
    image = pv.read(save_grid(tmp_path / "one.vti", grid))
    assert tuple(image.dimensions) == (5, 5, 5)
    assert tuple(image.spacing) == (1.0, 1.0, 1.0)
    values = np.asarray(image.point_data["pore"])
    assert values.dtype == np.uint8
    (pore_point,) = np.flatnonzero(values)
    np.testing.assert_allclose(image.points[pore_point], (1, 2, 3))


def test_stl_is_a_valid_binary_stl_within_the_grid(tmp_path):
    data = save_grid(tmp_path / "pores.stl", GRID).read_bytes()
    (count,) = np.frombuffer(data[80:84], dtype="<u4")
    assert not data[:80].startswith(b"solid")  # would read as ASCII STL
    assert len(data) == 84 + 50 * count
    records = np.frombuffer(data[84:], dtype=STL_RECORD)
    assert count == len(grid_to_surface(GRID)[1]) > 0
    assert records["vertices"].min() >= -0.5 and records["vertices"].max() <= SIZE - 0.5
    np.testing.assert_allclose(np.linalg.norm(records["normal"], axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("at", "low", "high"),
    [((2, 2, 2), (1.5, 1.5, 1.5), (2.5, 2.5, 2.5)), ((0, 3, 5), (-0.5, 2.5, 4.5), (0.5, 3.5, 5.5))],
    ids=["inside", "touching-faces"],
)
def test_surface_of_one_voxel_is_closed_and_in_voxel_units(at, low, high):
    vertices, faces = grid_to_surface(single_voxel(6, at))
    assert vertices.dtype == np.float32 and vertices.shape[1] == 3 and faces.shape[1] == 3
    np.testing.assert_allclose(vertices.min(axis=0), low)
    np.testing.assert_allclose(vertices.max(axis=0), high)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, uses = np.unique(edges, axis=0, return_counts=True)
    assert np.all(uses == 2)  # every edge shared by two triangles: a closed surface


def test_surface_normals_point_out_of_the_pores():
    grid = np.zeros((6,) * 3, dtype=bool)
    grid[2:4, 2:4, 2:4] = True  # a 2³ cube centred at 2.5
    vertices, faces = grid_to_surface(grid)
    triangles = vertices[faces]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    outward = triangles.mean(axis=1) - 2.5
    assert np.all(np.einsum("ij,ij->i", normals, outward) > 0)


def test_surface_spacing_scales_vertices():
    grid = single_voxel(6, (2, 2, 2))
    np.testing.assert_allclose(grid_to_surface(grid, spacing=0.5)[0], grid_to_surface(grid)[0] * 0.5)


@pytest.mark.parametrize("name", ["grid.npy", "grid.npz", "grid.tif", "grid.vti", "distribution_1_0.2.npy"])
def test_load_from_upload_bytes_and_file_object(tmp_path, name):
    data = saved_bytes(tmp_path, name)
    suffix = "." + name.rsplit(".", 1)[1]
    np.testing.assert_array_equal(load_grid(Upload(name, data)), GRID)
    np.testing.assert_array_equal(load_grid(io.BytesIO(data), fmt=suffix), GRID)
    np.testing.assert_array_equal(load_grid(data, fmt=suffix.lstrip(".").upper()), GRID)
    with open(tmp_path / "ok" / name, "rb") as stream:
        np.testing.assert_array_equal(load_grid(stream), GRID)


@pytest.mark.parametrize(
    ("array", "count"),
    [(GRID, 1), (GRID.astype(np.float32), 1), (BATCH, 3), (ROWS, 1)],
    ids=["dense-bool", "dense-float", "batch", "rows"],
)
def test_load_batch_from_arrays(array, count):
    batch = load_batch(array)
    assert isinstance(batch, GridBatch) and batch.densities is None
    assert batch.grids.shape == (count, SIZE, SIZE, SIZE) and batch.grids.dtype == bool


def test_load_grid_accepts_a_batch_of_one(tmp_path):
    np.testing.assert_array_equal(load_grid(save_grid(tmp_path / "b.npy", GRID[None])), GRID)


def test_save_creates_folders_replaces_files_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a" / "b" / "grids.npz"
    save_grid(path, BATCH)
    save_grid(path, GRID)
    assert load_batch(path).grids.shape == (1, SIZE, SIZE, SIZE)
    assert [p.name for p in path.parent.iterdir()] == ["grids.npz"]


def test_supported_formats_are_listed():
    assert SUPPORTED_LOAD == (".npy", ".npz", ".tif", ".tiff", ".vti", ".stl")
    assert set(SUPPORTED_SAVE) == set(SUPPORTED_LOAD) | {".stl"}


# ----------------------------------------------------------------------------- malformed input


def given(source):
    return lambda tmp_path: source


def npy_file(array, name="bad.npy"):
    return raw_file(npy_bytes(array), name)


def raw_file(data: bytes, name: str):
    def build(tmp_path):
        (tmp_path / name).write_bytes(data)
        return tmp_path / name

    return build


def folder(name: str):
    def build(tmp_path):
        (tmp_path / name).mkdir()
        return tmp_path / name

    return build


def npz_file(name="bad.npz", **arrays):
    def build(tmp_path):
        np.savez(tmp_path / name, **arrays)
        return tmp_path / name

    return build


def tif_file(array, name="bad.tif"):
    def build(tmp_path):
        tifffile.imwrite(tmp_path / name, array, photometric="minisblack")
        return tmp_path / name

    return build


def vti_file(dimensions, arrays, name="bad.vti"):
    def build(tmp_path):
        import pyvista as pv

        image = pv.ImageData(dimensions=dimensions)
        for key in arrays:
            image.point_data[key] = np.zeros(int(np.prod(dimensions)), dtype=np.uint8)
        image.save(tmp_path / name)
        return tmp_path / name

    return build


def truncated(name):
    def build(tmp_path):
        data = saved_bytes(tmp_path, name)
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        return tmp_path / name

    return build


def rows_with(change):
    rows = ROWS.copy()
    change(rows)
    return rows


def _set(index, value):
    def change(rows):
        rows[index] = value

    return change


def _scale_coords(rows):
    rows[:, :3] *= SIZE - 1


def _copy_row_coords(rows):
    rows[5, :3] = rows[6, :3]


with_nan = GRID.astype(np.float64)
with_nan[1, 2, 3] = np.nan
batch_with_inf = BATCH.astype(np.float32)
batch_with_inf[2, 0, 0, 0] = np.inf
int_rows_out_of_range = np.column_stack([np.indices(GRID.shape).reshape(3, -1).T, GRID.reshape(-1)])
int_rows_out_of_range[0, 0] = -1

MALFORMED_LOADS = [
    pytest.param(npy_file(np.zeros((30, 30))), r"must be a grid \(S, S, S\).*got 2-D shape \(30, 30\)", id="2-D"),
    pytest.param(npy_file(np.zeros((30, 30, 20))), r"cubic 3-D grid.*got shape \(30, 30, 20\)", id="not-cubic"),
    pytest.param(npy_file(np.zeros((2, 3, 3, 3, 3))), r"got 5-D shape", id="5-D"),
    pytest.param(given(np.broadcast_to(False, (513,) * 3)), r"513³ voxels; the largest grid accepted is 512³", id="too-large"),
    pytest.param(npy_file(GRID * 0.3), r"bad\.npy' must hold only 0/1.*0\.3", id="fraction"),
    pytest.param(npy_file(GRID.astype(np.int8) * 2), r"must hold only 0/1.*such as 2", id="value-2"),
    pytest.param(npy_file(with_nan), r"1 NaN or infinite value", id="nan"),
    pytest.param(npy_file(batch_with_inf), r"1 NaN or infinite value", id="inf-in-batch"),
    pytest.param(npy_file(np.zeros((2, 0, 0, 0))), r"at least 2 voxels", id="empty-grids"),
    pytest.param(npy_file(ROWS[:1001]), r"S³ rows.*got 1001 rows, which is not a cube \(10³ = 1000, 11³ = 1331\)", id="rows-not-cube"),
    pytest.param(npy_file(ROWS[:5]), r"got 5 rows, fewer than the 2³ = 8", id="rows-too-few"),
    pytest.param(npy_file(rows_with(_scale_coords)), r"must lie in \[0, 1\]; found values from 0 to 11.*divided by 11", id="rows-outside-0-1"),
    pytest.param(npy_file(rows_with(_set((5, 0), 0.03))), r"1 row\(s\) off the 12-point grid.*multiples of 1/11", id="rows-off-grid"),
    pytest.param(npy_file(rows_with(_copy_row_coords)), r"exactly once; 1 point\(s\) are duplicated .* 1 point\(s\) are missing", id="rows-duplicated"),
    pytest.param(npy_file(rows_with(_set((9, 1), np.nan))), r"1 NaN or infinite value", id="rows-nan"),
    pytest.param(npy_file(rows_with(_set((9, 3), 2))), r"occupancy \(column 4\) must hold only 0/1", id="rows-occupancy-2"),
    pytest.param(npy_file(int_rows_out_of_range), r"voxel indices, from -1 to 11; expected 0 to 11", id="rows-int-negative"),
    pytest.param(npy_file(np.array([1, {"a": 1}], dtype=object)), r"bad\.npy' holds Python objects \(pickled data\), which are refused for safety", id="object-npy"),
    pytest.param(npz_file(grids=np.array([None], dtype=object)), r"holds Python objects \(pickled data\)", id="object-npz"),
    pytest.param(truncated("bad.npy"), r"could not read file '.*bad\.npy' as \.npy: Failed to read all data", id="truncated-npy"),
    pytest.param(raw_file(b"", "bad.npy"), r"bad\.npy' is empty \(0 bytes\)", id="empty-file"),
    pytest.param(raw_file(b"x,y,z,occupancy\n0,0,0,1\n", "bad.npy"), r"is not a NumPy \.npy file: it starts with b'x,y,z,oc'", id="text-as-npy"),
    pytest.param(raw_file(b"not a zip archive", "bad.npz"), r"is not a \.npz \(zip\) archive", id="text-as-npz"),
    pytest.param(truncated("bad.npz"), r"could not read file '.*bad\.npz' as \.npz", id="truncated-npz"),
    pytest.param(npz_file(arr_0=GRID), r"no 'grids' \(or 'grid'\) array; found keys: arr_0", id="npz-missing-key"),
    pytest.param(npz_file(grids=BATCH, densities=[0.5]), r"densities must have shape \(3,\), one per grid", id="npz-densities-length"),
    pytest.param(npz_file(grids=GRID, densities=[1.5]), r"densities must lie in \[0, 1\]", id="npz-densities-range"),
    pytest.param(raw_file(b"1,2,3", "grid.csv"), r"extension '\.csv' is not supported; use one of \.npy, \.npz, \.tif, \.tiff, \.vti", id="csv"),
    pytest.param(raw_file(b"\x89HDF", "grid.h5"), r"extension '\.h5' is not supported; use one of \.npy", id="h5"),
    pytest.param(raw_file(b"data", "grid"), r"the name has no extension; use one of", id="no-extension"),
    pytest.param(raw_file(b"solid x", "part.stl"), r"cannot voxelise file '.*part\.stl': the surface has no triangles", id="stl-no-facets"),
    pytest.param(given("does/not/exist.npy"), r"no such file: 'does/not/exist\.npy'", id="missing-file"),
    pytest.param(folder("grids.npy"), r"grids\.npy' is a folder, not a file", id="folder"),
    pytest.param(given(b"\x93NUMPY"), r"cannot tell the format of bytes without a name; pass fmt=", id="bytes-without-name"),
    pytest.param(given(Upload("scan.npy", b"")), r"file 'scan\.npy' is empty \(0 bytes\)", id="upload-empty"),
    pytest.param(given(Upload("scan.npy", npy_bytes(GRID)[:100])), r"could not read file 'scan\.npy' as \.npy", id="upload-truncated"),
    pytest.param(tif_file((GRID * 7).astype(np.uint8)), r"bad\.tif' must hold only 0/1.*such as 7", id="tif-values"),
    pytest.param(tif_file(np.zeros((SIZE, SIZE), np.uint8)), r"must be a 3-D grid \(S, S, S\); got 2-D", id="tif-2-D"),
    pytest.param(raw_file(b"hello, not a tiff", "bad.tif"), r"could not read file '.*bad\.tif' as \.tif: not a TIFF file", id="text-as-tif"),
    pytest.param(raw_file(b"<VTKFile type=", "bad.vti"), r"file '.*bad\.vti' is not a VTK ImageData \(\.vti\) file: found no <VTKFile type=\"ImageData\"> tag", id="broken-vti"),
    pytest.param(truncated("bad.vti"), r"could not read file '.*bad\.vti' as \.vti", id="truncated-vti"),
    pytest.param(vti_file((4, 4, 4), ["a", "b"]), r"point-data array named 'pore'.*found point arrays: a, b", id="vti-no-pore-array"),
    pytest.param(vti_file((4, 4, 5), ["pore"]), r"cubic 3-D grid.*\(4, 4, 5\)", id="vti-not-cubic"),
]


@pytest.mark.parametrize(("build", "match"), MALFORMED_LOADS)
def test_malformed_input_raises_one_line_value_error(tmp_path, build, match):
    source = build(tmp_path)
    with pytest.raises(ValueError, match=match) as caught:
        load_batch(source)
    assert "\n" not in str(caught.value)


def test_parser_errors_keep_their_cause(tmp_path):
    with pytest.raises(ValueError, match="could not read") as caught:
        load_batch(truncated("bad.npy")(tmp_path))
    assert isinstance(caught.value.__cause__, ValueError)


def test_load_grid_refuses_a_batch_and_points_to_load_batch(tmp_path):
    with pytest.raises(ValueError, match=r"holds 3 grids but one was expected; use porelib\.io\.load_batch"):
        load_grid(save_grid(tmp_path / "three.npz", BATCH))


@pytest.mark.parametrize(
    ("source", "match"),
    [
        (42, r"source must be a path, bytes or a binary file-like object \(e\.g\. an upload\); got int"),
        (io.StringIO("text"), r"returned str \(open files in binary mode"),
        (np.array([[1, None]] * 3, dtype=object), r"must hold numbers or booleans; got dtype object"),
    ],
    ids=["int", "text-stream", "object-array"],
)
def test_load_refuses_other_objects_with_type_error(source, match):
    with pytest.raises(TypeError, match=match):
        load_batch(source)


MALFORMED_SAVES = [
    pytest.param({"path": "grid.csv"}, r"cannot save to '.*grid\.csv': extension '\.csv' is not supported; use one of .*\.stl", id="csv"),
    pytest.param({"path": "grid"}, r"the name has no extension; use one of", id="no-extension"),
    pytest.param({"path": "two.vti", "grids": BATCH}, r"grids holds 3 grids but \.vti stores one grid.*use \.npz/\.npy", id="batch-vti"),
    pytest.param({"path": "two.stl", "grids": BATCH}, r"\.stl stores one grid", id="batch-stl"),
    pytest.param({"path": "two.tif", "grids": BATCH}, r"\.tif stores one grid", id="batch-tif"),
    pytest.param({"path": "distribution_1_0.5.npy", "grids": BATCH}, r"the row layout stores one grid", id="batch-rows"),
    pytest.param({"path": "grid.npz", "layout": "rows"}, r"layout='rows' is only for \.npy files", id="rows-npz"),
    pytest.param({"path": "grid.npy", "layout": "columns"}, r"layout must be one of dense, rows; got 'columns'", id="bad-layout"),
    pytest.param({"path": "grid.npz", "grids": BATCH, "densities": [0.5]}, r"densities must have shape \(3,\)", id="densities-length"),
    pytest.param({"path": "grid.npz", "densities": [-0.1]}, r"densities must lie in \[0, 1\]", id="densities-range"),
    pytest.param({"path": "grid.npz", "densities": [np.nan]}, r"densities contains 1 NaN", id="densities-nan"),
    pytest.param({"path": "grid.npy", "grids": GRID * 0.5}, r"grids must hold only 0/1", id="fraction"),
    pytest.param({"path": "grid.npy", "grids": np.zeros((30, 30))}, r"grids must be a grid \(S, S, S\) or a batch", id="2-D"),
    pytest.param({"path": "empty.stl", "grids": np.zeros((SIZE,) * 3, bool)}, r"grid has no pores; there is no surface to export", id="empty-stl"),
    pytest.param({"path": "taken.npy/grid.npy"}, r"could not write '.*grid\.npy'", id="parent-is-a-file"),
]


@pytest.mark.parametrize(("kwargs", "match"), MALFORMED_SAVES)
def test_save_grid_refuses_malformed_requests_and_writes_nothing(tmp_path, kwargs, match):
    (tmp_path / "taken.npy").write_bytes(b"x")
    kwargs = {"grids": GRID, **kwargs, "path": tmp_path / kwargs["path"]}
    path = kwargs.pop("path")
    with pytest.raises(ValueError, match=match) as caught:
        save_grid(path, **kwargs)
    assert "\n" not in str(caught.value)
    assert [p.name for p in tmp_path.iterdir()] == ["taken.npy"]


def test_save_grid_refuses_a_non_path():
    with pytest.raises(TypeError, match="path must be a str or Path; got int"):
        save_grid(3, GRID)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: grid_to_surface(np.zeros((6,) * 3, bool)), r"grid has no pores"),
        (lambda: grid_to_surface(GRID, spacing=0.0), r"spacing must be a positive finite number; got 0\.0"),
        (lambda: grid_to_surface(GRID, spacing=float("nan")), r"spacing must be a positive finite number"),
        (lambda: grid_to_surface(np.ones((6, 6))), r"grid must be a 3-D grid"),
        (lambda: grid_to_rows(np.ones((6, 6, 5))), r"grid must be a cubic 3-D grid"),
        (lambda: rows_to_grid(ROWS[:, :3]), r"rows must be \(S³, 4\) rows of x, y, z, occupancy; got shape \(1728, 3\)"),
        (lambda: rows_to_grid(ROWS[:5], arg_name="my rows"), r"my rows must have S³ rows"),
    ],
    ids=["surface-empty", "spacing-zero", "spacing-nan", "surface-2-D", "rows-of-non-cubic", "rows-3-columns", "arg-name"],
)
def test_array_helpers_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
