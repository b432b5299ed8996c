"""What the pages and the CLI call to generate pore grids.

:func:`generate` is the one entry point for every generator: the simulator
(:mod:`porelib.synth`) and the trained models, loaded once per checkpoint
folder and cached.

A trained generator is any checkpoint (:mod:`porelib.checkpoint`) whose model has
``noise_shape`` (the shape of the standard normal noise behind one grid) and
``sample(densities, noise)`` returning bool grids ``(N, S, S, S)``; the noise is drawn
here with ``np.random.default_rng(seed)``, so the same seed gives the same grids.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from porelib import registry
from porelib._validate import check_density, check_grids, check_positive_int
from porelib.synth import pore_grids

#: Folder of the shipped checkpoints, ``CHECKPOINTS_DIR / <model>``.
CHECKPOINTS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"

#: Grids decoded per forward pass (bounds memory for large ``n``).
_CHUNK = 64

#: Default edge length of the simulator.
_SIMULATOR_SIZE = 30

#: Mixed into the simulator's seed, so ``generate("simulator", seed=s)`` never replays the
#: random streams that built the dataset (``porelib.data.build_dataset(seed=s)``).
_SIMULATOR_STREAM = 0x9E3779B9


def checkpoint_dir(model: str, checkpoint=None) -> Path:
    """The checkpoint folder used for ``model``: ``checkpoint`` or ``checkpoints/<model>``."""
    return Path(checkpoint) if checkpoint is not None else CHECKPOINTS_DIR / model


def load_generator(model: str, checkpoint=None):
    """The trained generator ``model`` from its checkpoint folder, loaded once and cached.

    The cache is keyed by the resolved folder and the weights' modification time, so a
    retrained checkpoint is picked up. The returned model is shared: treat it as read-only.

    Raises
    ------
    ValueError
        If the folder holds no checkpoint, or a checkpoint of another model.
    """
    folder = checkpoint_dir(model, checkpoint).resolve()
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise ValueError(
            f"no {model} checkpoint at {folder} (model.safetensors is missing); "
            f"train one with `python -m porelib train {model} --out {folder}`"
        )
    return _load_cached(model, str(folder), weights.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _load_cached(model: str, folder: str, _mtime_ns: int):
    from porelib.checkpoint import load_checkpoint

    network, card = load_checkpoint(folder)
    if card["model"] != model:
        raise ValueError(f"the checkpoint at {folder} holds a {card['model']} model, not {model}")
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network


def generate(model: str, density, n: int = 1, seed=None, *, size: int | None = None, checkpoint=None) -> np.ndarray:
    """Generate ``n`` pore grids for a density factor.

    Parameters
    ----------
    model : str
        A generator of :mod:`porelib.registry` (``registry.names(role="generator")``).
    density : float
        Density factor in [0, 1].
    n : int
        Number of grids.
    seed : int, optional
        The same seed gives the same grids; different seeds give different grids.
    size : int, optional
        Edge length. The simulator uses it (default 30); a trained model generates
        its checkpoint's size, and a different ``size`` is an error.
    checkpoint : str or Path, optional
        Checkpoint folder of a trained model (default ``checkpoints/<model>``).

    Returns
    -------
    ndarray of bool, shape (n, S, S, S)
        For trained models the number of pore voxels of each grid is exactly
        ``round(expected_pore_voxels(density, size=S))``.

    Raises
    ------
    ValueError
        For an unknown model, a density outside [0, 1], ``n < 1``, a missing
        checkpoint or a size the checkpoint was not trained for.
    """
    registry.entry(model, role="generator")
    density = check_density(density)
    n = check_positive_int(n, "n", maximum=10_000)
    if not registry.entry(model).has_checkpoint:
        stream = None if seed is None else [_SIMULATOR_STREAM, check_positive_int(seed, "seed", minimum=0)]
        return pore_grids(np.full(n, density), size=_SIMULATOR_SIZE if size is None else size, seed=stream)
    network = load_generator(model, checkpoint)
    trained_size = int(network.config.size)
    if size is not None and size != trained_size:
        raise ValueError(f"the {model} checkpoint generates {trained_size}³ grids; got size={size}. Omit size or pass {trained_size}")
    return sample_from(network, np.full(n, density), seed=seed)


def can_reconstruct(model: str, checkpoint=None) -> bool:
    """Whether ``model`` has an encoder, so :func:`reconstruct` can copy a given grid."""
    registry.entry(model, role="generator")
    return registry.entry(model).has_checkpoint and hasattr(load_generator(model, checkpoint), "reconstruct")


def reconstruct(model: str, grids, densities, *, checkpoint=None) -> np.ndarray:
    """The model's copy of given grids: encode, decode the posterior mean, keep the top-k voxels.

    Parameters
    ----------
    model : str
        A generator with an encoder (see :func:`can_reconstruct`).
    grids : array_like of bool, shape (S, S, S) or (N, S, S, S)
        Pore grids of the checkpoint's size S (True = pore).
    densities : float or array_like, shape (N,)
        Density factor of each grid, in [0, 1].
    checkpoint : str or Path, optional
        Checkpoint folder (default ``checkpoints/<model>``).

    Returns
    -------
    ndarray of bool, shape like ``grids``
        Each reconstruction has exactly ``round(expected_pore_voxels(density, size=S))``
        pore voxels, like a generated grid.

    Raises
    ------
    ValueError
        For a model without an encoder, grids of another size, non-binary grids, or
        densities outside [0, 1] or not one per grid.
    """
    import torch

    if not can_reconstruct(model, checkpoint):
        raise ValueError(
            f"the {model} model has no encoder, so it cannot reconstruct a given grid; "
            "use a model with one, such as the cVAE ('cvae')"
        )
    network = load_generator(model, checkpoint)
    single = np.ndim(grids) == 3
    batch = check_grids(grids)
    size = int(network.config.size)
    if batch.shape[1:] != (size,) * 3:
        raise ValueError(f"the {model} checkpoint reconstructs {size}³ grids; got {batch.shape[1:]}")
    densities = np.atleast_1d(np.asarray(densities, dtype=np.float64))
    if densities.shape != (len(batch),):
        raise ValueError(f"give one density per grid: {len(batch)} grid(s), densities of shape {densities.shape}")
    densities = np.array([check_density(d) for d in densities], dtype=np.float32)
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(batch), _CHUNK):
            stop = start + _CHUNK
            out = network.reconstruct(torch.from_numpy(batch[start:stop]).float(), torch.from_numpy(densities[start:stop]))
            chunks.append(out.cpu().numpy())
    result = np.concatenate(chunks)
    return result[0] if single else result


def sample_from(network, densities, *, seed=None) -> np.ndarray:
    """Prior samples of a trained generator at ``densities`` ``(N,)``; bool ``(N, S, S, S)``.

    The standard normal noise is drawn as one ``(N, *noise_shape)`` float32 array
    from ``np.random.default_rng(seed)``.
    """
    import torch

    densities = np.asarray(densities, dtype=np.float32).reshape(-1)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((len(densities), *network.noise_shape), dtype=np.float32)
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(densities), _CHUNK):
            stop = start + _CHUNK
            grids = network.sample(torch.from_numpy(densities[start:stop]), torch.from_numpy(noise[start:stop]))
            chunks.append(grids.cpu().numpy())
    return np.concatenate(chunks)
