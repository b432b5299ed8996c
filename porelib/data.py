"""The dataset: built by the simulator, or the original seed-000 files dropped in.

Two sources give the same :class:`Dataset`:

* the compact file ``data/dataset.npz`` written by ``python -m porelib data build``
  (grids bit-packed with :func:`numpy.packbits`, keys ``packed`` (N, ceil(S³/8))
  uint8, ``size``, ``densities`` (N,), ``indices`` (N,), ``seed``);
* a folder of original files ``distribution_{idx}_{density}.npy``, each a
  ``(S³, 4)`` array of rows (x, y, z, occupancy).

Split, fixed by the grid's index (the ``idx`` of the file name, or the
position in the built dataset): ``idx % 10 == 8`` is validation,
``idx % 10 == 9`` is test, everything else is training (80 / 10 / 10).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from porelib import io
from porelib._validate import check_choice, check_density, check_positive_int
from porelib.io.arrays import read_npz
from porelib.io.atomic import atomic_path
from porelib.io.inputs import open_input
from porelib.synth import pore_grids

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
DATASET_FILE = "dataset.npz"
EXAMPLES_DIR = "examples"
SPLITS = ("train", "val", "test")
ORIGINAL_NAME = re.compile(r"^distribution_(\d+)_([-+0-9.eE]+)\.npy$")


def split_of(index) -> np.ndarray:
    """Return the split name (``'train'``, ``'val'`` or ``'test'``) of each grid index."""
    remainder = np.asarray(index) % 10
    return np.where(remainder == 8, "val", np.where(remainder == 9, "test", "train"))


@dataclass(frozen=True, eq=False)
class Dataset:
    """Pore grids with their density factors.

    Attributes
    ----------
    grids : ndarray of bool, shape (N, S, S, S)
    densities : ndarray of float, shape (N,)
        Density factors in [0, 1].
    indices : ndarray of int, shape (N,)
        The grids' indices, which fix the split (see the module docstring).
    source : str
        Where the grids came from (a file or folder path).
    """

    grids: np.ndarray
    densities: np.ndarray
    indices: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.grids)

    @property
    def size(self) -> int:
        """Edge length S of the grids, in voxels."""
        return int(self.grids.shape[1])

    @cached_property
    def fingerprint(self) -> str:
        """First 16 hex digits of a SHA-256 over the grids, densities and indices."""
        digest = hashlib.sha256()
        digest.update(np.packbits(self.grids.reshape(len(self), -1), axis=1).tobytes())
        digest.update(self.densities.astype("<f8").tobytes())
        digest.update(self.indices.astype("<i8").tobytes())
        return digest.hexdigest()[:16]

    def subset(self, selection) -> "Dataset":
        """A new dataset holding the grids picked by a boolean mask or index array."""
        return Dataset(self.grids[selection], self.densities[selection], self.indices[selection], self.source)

    def split(self, name: str) -> "Dataset":
        """The ``'train'``, ``'val'`` or ``'test'`` part of the dataset."""
        check_choice(name, SPLITS, "split")
        return self.subset(split_of(self.indices) == name)

    def nearest(self, density, k: int = 16) -> np.ndarray:
        """Positions of the ``k`` grids whose density is closest to ``density``, closest first."""
        density = check_density(density)
        k = check_positive_int(k, "k", maximum=len(self))
        return np.argsort(np.abs(self.densities - density), kind="stable")[:k]

    def ensemble(self, density, k: int = 16) -> np.ndarray:
        """The ``k`` grids closest in density, ``(k, S, S, S)`` bool: "the dataset at this density"."""
        return self.grids[self.nearest(density, k)]

    def card(self, *, train: int, val: int, limit: int | None = None) -> dict:
        """JSON-ready description for a checkpoint's card.

        Parameters
        ----------
        train, val : int
            Number of training and validation grids used.
        limit : int, optional
            The ``--limit`` of the run, if any.

        Returns
        -------
        dict
            ``source`` (relative to the repository when inside it), ``fingerprint``,
            ``grids``, ``size``, ``train``, ``val`` and ``limit``.
        """
        return {
            "source": display_path(self.source),
            "fingerprint": self.fingerprint,
            "grids": len(self),
            "size": self.size,
            "train": train,
            "val": val,
            "limit": limit,
        }


def display_path(path) -> str:
    """``path`` relative to the repository when inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def build_dataset(n: int = 512, *, size: int = 30, seed: int = 0, out_dir=DATA_DIR, n_examples: int = 3) -> Path:
    """Simulate the dataset and write it compactly into ``out_dir``.

    Densities are drawn uniformly on [0, 1]; grid i is simulated from its own
    child of ``seed``. Writes ``out_dir/dataset.npz`` and ``n_examples`` grids
    in the original row format as ``out_dir/examples/distribution_{idx}_{density}.npy``
    (the examples are spread over the density range). Returns the dataset path.
    """
    n = check_positive_int(n, "n", maximum=100_000)
    size = check_positive_int(size, "size", minimum=5, maximum=512)
    rng = np.random.default_rng(seed)
    densities = rng.uniform(0.0, 1.0, size=n)
    grids = pore_grids(densities, size=size, seed=rng)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DATASET_FILE
    with atomic_path(path) as target:
        np.savez_compressed(
            target,
            packed=np.packbits(grids.reshape(n, -1), axis=1),
            size=np.int64(size),
            densities=densities,
            indices=np.arange(n),
            seed=np.int64(seed),
        )
    examples = out_dir / EXAMPLES_DIR
    examples.mkdir(exist_ok=True)
    for old in examples.glob("distribution_*.npy"):
        old.unlink()
    for idx in np.argsort(densities)[np.linspace(n // 2, n - 1, min(n_examples, n)).astype(int)]:
        io.save_grid(examples / f"distribution_{idx}_{densities[idx]:.4f}.npy", grids[idx], layout="rows")
    return path


def _read_compact(path: Path) -> Dataset:
    try:
        archive = read_npz(open_input(path, formats=(".npz",), what="dataset"))
        packed, size = archive["packed"], int(archive["size"])
        densities, indices = archive["densities"].astype(float), archive["indices"].astype(np.int64)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"could not read the dataset file {path}: {exc}; rebuild it with `python -m porelib data build`") from exc
    grids = np.unpackbits(packed, axis=1, count=size**3).astype(bool).reshape(-1, size, size, size)
    return Dataset(grids, densities, indices, str(path))


def _read_original_folder(folder: Path) -> Dataset:
    entries = []
    for file in folder.iterdir():
        match = ORIGINAL_NAME.match(file.name)
        if match:
            entries.append((int(match.group(1)), float(match.group(2)), file))
    if not entries:
        raise ValueError(
            f"{folder} holds neither {DATASET_FILE} nor original files named distribution_{{idx}}_{{density}}.npy"
        )
    entries.sort()
    grids = np.stack([io.load_grid(file) for _, _, file in entries])
    densities = np.array([density for _, density, _ in entries])
    indices = np.array([idx for idx, _, _ in entries], dtype=np.int64)
    return Dataset(grids, densities, indices, str(folder))


def load_dataset(path=None) -> Dataset:
    """Load the dataset from the compact file or a folder of original files.

    Parameters
    ----------
    path : str or Path, optional
        ``dataset.npz``, a folder holding it, or a folder of original
        ``distribution_{idx}_{density}.npy`` files. Default: the repository's ``data/``.

    Raises
    ------
    ValueError
        If the path does not exist or holds no dataset.
    """
    path = Path(DATA_DIR if path is None else path)
    if not path.exists():
        raise ValueError(f"no dataset at {path}; build one with `python -m porelib data build`")
    if path.is_dir():
        compact = path / DATASET_FILE
        return _read_compact(compact) if compact.exists() else _read_original_folder(path)
    return _read_compact(path)
