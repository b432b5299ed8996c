"""The dataset: build, compact file, original-format folder, split."""

import numpy as np
import pytest

from porelib import io
from porelib.data import SPLITS, build_dataset, load_dataset, split_of
from porelib.synth import expected_pore_voxels


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    build_dataset(40, seed=5, out_dir=out, n_examples=3)
    return out


def test_build_is_compact_and_deterministic(built, tmp_path):
    dataset = load_dataset(built)
    assert dataset.grids.shape == (40, 30, 30, 30) and dataset.grids.dtype == bool
    assert (built / "dataset.npz").stat().st_size < 40 * 27000 / 8  # bit-packed, then compressed
    again = load_dataset(build_dataset(40, seed=5, out_dir=tmp_path, n_examples=0))
    assert again.fingerprint == dataset.fingerprint
    assert np.array_equal(again.grids, dataset.grids)


def test_grids_follow_their_densities(built):
    dataset = load_dataset(built)
    counts = dataset.grids.reshape(len(dataset), -1).sum(axis=1)
    assert np.all(np.abs(counts - np.round(expected_pore_voxels(dataset.densities))) <= 2)
    assert 0 <= dataset.densities.min() and dataset.densities.max() <= 1


def test_examples_are_in_the_original_row_format(built):
    dataset = load_dataset(built)
    examples = sorted((built / "examples").glob("distribution_*.npy"))
    assert len(examples) == 3
    for path in examples:
        rows = np.load(path, allow_pickle=False)
        assert rows.shape == (27000, 4)
        idx = int(path.name.split("_")[1])
        assert np.array_equal(io.load_grid(path), dataset.grids[idx])


def test_a_folder_of_original_files_loads_like_the_dataset(built, tmp_path):
    dataset = load_dataset(built)
    rng = np.random.default_rng(0)
    for i in (3, 8, 19):
        rows = io.grid_to_rows(dataset.grids[i])[rng.permutation(27000)]  # any row order
        np.save(tmp_path / f"distribution_{i}_{dataset.densities[i]}.npy", rows)
    original = load_dataset(tmp_path)
    assert list(original.indices) == [3, 8, 19]
    assert np.allclose(original.densities, dataset.densities[[3, 8, 19]])
    assert np.array_equal(original.grids, dataset.grids[[3, 8, 19]])
    assert [str(s) for s in split_of(original.indices)] == ["train", "val", "test"]


def test_split_is_fixed_by_index(built):
    dataset = load_dataset(built)
    parts = {name: dataset.split(name) for name in SPLITS}
    assert sum(len(p) for p in parts.values()) == len(dataset)
    assert set(parts["val"].indices % 10) == {8}
    assert set(parts["test"].indices % 10) == {9}
    assert len(parts["train"]) == 32


def test_ensemble_is_the_nearest_in_density(built):
    dataset = load_dataset(built)
    picked = dataset.nearest(0.5, k=5)
    distances = np.abs(dataset.densities[picked] - 0.5)
    assert np.all(np.diff(distances) >= 0)
    assert np.all(distances <= np.sort(np.abs(dataset.densities - 0.5))[4])
    assert dataset.ensemble(0.5, k=5).shape == (5, 30, 30, 30)


def test_the_shipped_dataset_loads():
    dataset = load_dataset()
    assert len(dataset) == 512 and dataset.size == 30


def _write(path, content):
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing", "no dataset at"),
        (lambda p: p, "holds neither dataset.npz nor original files"),
        (lambda p: _write(p / "dataset.npz", b"not a zip"), "could not read the dataset file"),
    ],
    ids=["missing", "empty-folder", "corrupt-file"],
)
def test_bad_dataset_paths(tmp_path, make, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(make(tmp_path))


def test_bad_split_and_density(built):
    dataset = load_dataset(built)
    with pytest.raises(ValueError, match="split must be one of"):
        dataset.split("holdout")
    with pytest.raises(ValueError, match=r"density must be in \[0, 1\]"):
        dataset.nearest(2.0)
