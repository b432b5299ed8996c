"""Neural compression of one volume: a coordinate network fitted to it, then quantised.

A volume ``volume[ix, iy, iz]`` — a float scan (CT) or a bool pore grid — is
represented by a :class:`~porelib.models.siren.SirenField` (residual sine layers,
as neurcomp) that maps voxel coordinates to values. :func:`compress` sizes the
network from the requested ratio, fits it, and quantises every weight and bias to
``bits`` bits; :func:`decompress` evaluates it on every voxel in batches.

Compression ratio convention
----------------------------
``ratio = raw size / file size``, the file being everything :func:`save_compressed`
writes (header, weights and checksum). The **raw size** is

* ``voxels × 4`` bytes for a scan (float32, whatever its dtype in memory);
* ``ceil(voxels / 8)`` bytes for a binary grid (bit-packed, 1 bit per voxel).

So a binary grid's ratio is measured against its smallest trivial encoding, not
against one byte per voxel. :attr:`Compressed.ratio_vs_dtype` gives the ratio
against the array's own dtype (e.g. 1 byte per voxel for numpy bools).

What is fitted
--------------
A scan is mapped linearly from its value range ``[lo, hi]`` to ``[-1, 1]`` and
fitted with the mean squared error; a decoded scan is clipped to ``[lo, hi]``.
A binary grid is fitted as logits with the binary cross-entropy (on 30³ dataset
grids at 3:1 it reached IoU 0.98 where the squared error on ±1 targets reached
0.95) and thresholded at 0 on decoding.
Each step draws ``batch_size`` voxels uniformly at random (spread evenly over
the tiles); Adam with a short linear warm-up and a cosine decay to zero. The
last :data:`QAT_FRACTION` of the steps run through the quantiser
(straight-through gradients), so the stored weights lose less to quantisation
(on a CT crop at 100:1: 0.3 dB at 8 bits, against 1.2 dB when quantising the
fitted weights afterwards, and 8 dB at 6 bits; on the noise-free 128³ benchmark
scan at 100:1: 34.1 dB against 34.8 dB unquantised, and the loss grows with longer
fits). Restarting the learning rate for the quantised steps (5 % or 20 % of the
peak) and quantising each tile with its own range did not help. Fitting is
deterministic for a given ``seed`` on a given machine and thread count.

Quantisation
------------
Each tensor (every weight matrix and every bias vector) is quantised linearly to
``2**bits`` levels between its own minimum and maximum: value ``k`` stands for
``lo + k · step``. A k-means codebook per tensor (neurcomp) was tried: quantising
fitted weights afterwards it lost only 0.2 dB at 8 bits, but its codebook costs
``4 · 2**bits`` bytes per tensor (a sixth of a 128³ scan's budget at 100:1),
and the straight-through steps make linear levels nearly as good.

File format (``.pnc``, version 1, little-endian)
------------------------------------------------
======  ====  ===================================================================
offset  size  field
======  ====  ===================================================================
0       4     magic ``b"PNCF"``
4       1     format version (``1``)
5       1     kind: 0 = scan, 1 = binary grid (thresholded at 0 on decoding)
6       1     bits per quantised value (2 … 16)
7       12    shape: three uint32 (X, Y, Z)
19      8     original dtype, ASCII numpy ``dtype.str`` padded with NUL (``<f4``, ``|b1``)
27      16    value range ``lo, hi``: two float64 (scans; 0, 1 for grids)
43      2     network width (uint16)
45      1     residual blocks (uint8)
46      3     tiles along x, y, z (three uint8)
49      8     ``w0`` and ``first_w0`` (two float32)
57      4     payload length in bytes (uint32)
61      …     payload: for each tensor of :meth:`SirenField.layers` (weight then
              bias of each layer, first to last): ``lo`` and ``step`` (two
              float32), then the tensor's values in C order as ``bits``-bit
              level numbers, packed most significant bit first and padded with
              zero bits to a whole byte
end−4   4     CRC-32 (zlib) of every preceding byte
======  ====  ===================================================================

Weights are stored ``(tiles, in, out)``, biases ``(tiles, 1, out)``, tiles in C
order over ``tiles``; voxel ``i`` along an axis of length ``n`` with ``t`` tiles
belongs to tile ``i // L`` (``L = ceil(n / t)``) at local coordinate
``2 (i mod L) / (L - 1) - 1``.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from io import BytesIO
from os import PathLike
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from porelib._validate import (
    check_choice,
    check_finite,
    check_number,
    check_numeric,
    check_positive_int,
    check_progress,
    check_same_shape,
    describe,
)
from porelib.devices import select_device, warmup_cosine
from porelib.models.siren import (
    MAX_TILES,
    MIN_WIDTH,
    SirenConfig,
    SirenField,
    layer_shapes,
    n_parameters,
    widest_config,
)

MAGIC = b"PNCF"
FORMAT_VERSION = 1
SUFFIX = ".pnc"
KINDS = ("scan", "binary")

#: Bits per quantised weight unless asked otherwise (6 bits with a third more
#: weights lost 3 dB against 8 bits on a CT crop at 100:1).
DEFAULT_BITS = 8
#: Optimisation steps and voxels per step of :func:`compress` unless asked otherwise.
DEFAULT_STEPS = 2000
DEFAULT_BATCH_SIZE = 8192
#: Coordinates evaluated per batch when decoding.
DECODE_BATCH_SIZE = 65536
#: Peak learning rate of Adam per kind (the sine factors ω₀ are folded into the
#: weights, so these are ω₀ = 30 times the usual SIREN rates). Scans: on the
#: noise-free 128³ benchmark scan at 100:1, 1e-2 reached 34.1 dB where 3e-2
#: reached 32.4 and 5e-3 33.2, and at 3e-2 a 4× longer fit of the noisy scan
#: diverged. Grids (binary cross-entropy): on three 30³ test grids at 3:1, 3e-2
#: reached IoU 0.97-1.0 where 1e-2 reached 0.95-0.99.
DEFAULT_LR = {"scan": 1e-2, "binary": 3e-2}
#: Fraction of the steps spent warming the learning rate up linearly.
WARMUP_FRACTION = 0.02
#: Fraction of the steps, at the end, trained through the quantiser.
QAT_FRACTION = 0.1
#: CPU threads used by fitting and decoding: by default 1, at most MAX_THREADS.
#: On a shared machine two threads can be 5-30 times slower than one (the
#: threads wait for each other at every small operation); on an idle one they
#: are up to twice as fast.
DEFAULT_THREADS = 1
MAX_THREADS = 2
#: Residual blocks of the network; one block when the budget leaves two blocks
#: narrower than MIN_BLOCK_WIDTH (on 30³ grids one block of width 20 did as
#: well as two of width 18).
DEFAULT_BLOCKS = 2
MIN_BLOCK_WIDTH = 24
#: Tiles are at least this many voxels long, and their networks at least this
#: wide (on a 128³ scan at 100:1, 2³ tiles of width 48 beat 3³ tiles of width 26
#: by 2.4 dB, and one network of width 114 by 0.3 dB at a tenth of its time).
MIN_TILE_EDGE = 16
MIN_TILED_WIDTH = 32
#: The first layer's ω₀ per voxel of a tile's longest side: the finest detail a
#: tile can hold grows with its length in voxels, while its local coordinates
#: always span [-1, 1]. (30³ grids at 3-4:1: ω₀ = 15 beat 7 and 30 by up to
#: 0.05 IoU; a 64-voxel tile of a CT scan: 30 fits well.)
FIRST_W0_PER_VOXEL = 0.5

_HEADER = struct.Struct("<4sBBB3I8s2dHB3B2fI")
_CRC = struct.Struct("<I")
_LEVELS = struct.Struct("<2f")
_KIND_CODES = {kind: code for code, kind in enumerate(KINDS)}


# ----------------------------------------------------------------------------- the compressed form


@dataclass(frozen=True, eq=False)
class QuantisedTensor:
    """One parameter tensor as ``lo + step * levels``.

    Attributes
    ----------
    shape : tuple of int
        Shape of the tensor, ``(tiles, in, out)`` or ``(tiles, 1, out)``.
    lo, step : numpy.float32
        The lowest level and the spacing of the levels.
    levels : ndarray of uint16, shape (prod(shape),)
        The tensor's values in C order, as level numbers in ``[0, 2**bits)``.
    """

    shape: tuple[int, ...]
    lo: np.float32
    step: np.float32
    levels: np.ndarray

    def values(self) -> np.ndarray:
        """The dequantised tensor, float32 of :attr:`shape`."""
        return (self.lo + self.step * self.levels.astype(np.float32)).reshape(self.shape)


@dataclass(frozen=True, eq=False)
class Compressed:
    """A compressed volume: what a ``.pnc`` file holds (see the module notes).

    Attributes
    ----------
    shape : tuple of 3 ints
        Shape of the volume, ``(X, Y, Z)``.
    kind : {"scan", "binary"}
        Float values, or a grid thresholded at decoding.
    dtype : str
        The original array's ``dtype.str`` (``"<f4"``, ``"|b1"``, ...); decoding returns it.
    value_range : tuple of 2 floats
        ``(lo, hi)`` mapped to ``[-1, 1]`` for fitting (``(0, 1)`` for grids).
    config : SirenConfig
        The network.
    bits : int
        Bits per quantised value.
    tensors : tuple of QuantisedTensor
        Every parameter tensor, in :meth:`SirenField.layers` order.
    """

    shape: tuple[int, int, int]
    kind: str
    dtype: str
    value_range: tuple[float, float]
    config: SirenConfig
    bits: int
    tensors: tuple[QuantisedTensor, ...]

    @cached_property
    def data(self) -> bytes:
        """The file's bytes."""
        return _encode(self)

    @property
    def nbytes(self) -> int:
        """Size of the file in bytes (header, payload and checksum)."""
        return len(self.data)

    @property
    def raw_nbytes(self) -> int:
        """Raw size of the volume: voxels × 4 for a scan, ceil(voxels / 8) for a grid."""
        return raw_nbytes(self.shape, self.kind)

    @property
    def ratio(self) -> float:
        """Compression ratio, :attr:`raw_nbytes` / :attr:`nbytes`."""
        return self.raw_nbytes / self.nbytes

    @property
    def ratio_vs_dtype(self) -> float:
        """Ratio against the original array's own dtype (voxels × itemsize)."""
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize / self.nbytes

    def field(self, *, device="cpu") -> SirenField:
        """The network with the dequantised weights, in evaluation mode."""
        field = SirenField(self.config)
        with torch.no_grad():
            for parameter, tensor in zip(field.layers(), self.tensors):
                parameter.copy_(torch.from_numpy(tensor.values()))
        return field.to(select_device(device)).eval()

    def summary(self) -> dict:
        """Plain values describing the file (for reports and the app)."""
        return {
            "shape": list(self.shape),
            "kind": self.kind,
            "dtype": self.dtype,
            "value_range": list(self.value_range),
            "network": self.config.to_dict(),
            "parameters": sum(t.levels.size for t in self.tensors),
            "bits": self.bits,
            "bytes": self.nbytes,
            "raw_bytes": self.raw_nbytes,
            "ratio": self.ratio,
            "ratio_vs_dtype": self.ratio_vs_dtype,
        }


def raw_nbytes(shape, kind: str) -> int:
    """Raw size of a volume for the ratio: voxels × 4 (scan) or ceil(voxels / 8) (binary)."""
    voxels = math.prod(shape)
    return voxels * 4 if check_choice(kind, KINDS, "kind") == "scan" else -(-voxels // 8)


# ----------------------------------------------------------------------------- public API


def compress(
    volume,
    *,
    ratio: float,
    kind: str = "auto",
    steps: int = DEFAULT_STEPS,
    bits: int = DEFAULT_BITS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float | None = None,
    seed=None,
    device="auto",
    threads: int = DEFAULT_THREADS,
    progress: Callable[[int, int], None] | None = None,
) -> Compressed:
    """Fit a coordinate network to ``volume`` and quantise it to about ``1 / ratio`` of its raw size.

    Parameters
    ----------
    volume : array_like, shape (X, Y, Z)
        ``volume[ix, iy, iz]``: a scan (finite numbers) or a grid (``True`` = pore).
        Each side at least 2 voxels.
    ratio : float
        Target compression ratio > 1, raw size / file size (see the module notes
        for the raw size); the achieved :attr:`Compressed.ratio` is at least this.
    kind : {"auto", "scan", "binary"}
        ``"auto"``: bool arrays, and integer arrays holding only 0 and 1, are
        binary grids; anything else is a scan.
    steps : int
        Optimisation steps; fitting time grows linearly with it.
    bits : int
        Bits per quantised weight, 2 … 16.
    batch_size : int
        Voxels drawn per step.
    lr : float, optional
        Peak learning rate; default :data:`DEFAULT_LR` of the kind.
    seed : int, optional
        The same seed gives the same file (on the same machine and thread count).
    device : {"auto", "cpu", "cuda"}
        Where to fit; ``"auto"`` = CUDA when available.
    threads : int
        CPU threads, 1 or 2 (see :data:`DEFAULT_THREADS`).
    progress : callable, optional
        Called as ``progress(done, total)`` after each optimisation step.

    Returns
    -------
    Compressed
        Its ``data`` are the file's bytes; :func:`decompress` rebuilds the volume.

    Raises
    ------
    ValueError
        If the volume is not 3-D, has NaN/inf, is not 0/1 for ``kind="binary"``,
        or if ``ratio`` is at most 1 or too high for even the smallest network.
    """
    values, kind, dtype, value_range = _prepare_volume(volume, kind)
    ratio = _check_ratio(ratio)
    steps = check_positive_int(steps, "steps")
    bits = check_positive_int(bits, "bits", minimum=2, maximum=16)
    batch_size = check_positive_int(batch_size, "batch_size")
    lr = DEFAULT_LR[kind] if lr is None else check_number(lr, "lr", minimum=1e-8, maximum=10.0)
    threads = check_positive_int(threads, "threads", maximum=MAX_THREADS)
    check_progress(progress)
    config = plan_network(values.shape, kind=kind, ratio=ratio, bits=bits)
    torch_seed = int(np.random.default_rng(seed).integers(2**62))
    with _cpu_threads(threads):
        field = fit_field(
            values,
            config,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            bits=bits,
            binary=kind == "binary",
            seed=torch_seed,
            device=device,
            progress=progress,
        )
    tensors = tuple(quantise(p.detach().cpu().numpy(), bits) for p in field.layers())
    return Compressed(values.shape, kind, dtype, value_range, config, bits, tensors)


def decompress(
    data, *, device="auto", batch_size: int = DECODE_BATCH_SIZE, threads: int = DEFAULT_THREADS
) -> np.ndarray:
    """Rebuild the volume from a :class:`Compressed` or a file's bytes.

    The network is evaluated on every voxel, ``batch_size`` coordinates at a
    time, so memory stays bounded by the output plus one batch of activations.

    Returns
    -------
    ndarray, shape (X, Y, Z)
        In the original dtype: bool for a grid (network output > 0); for a scan
        the values clipped to the stored range (rounded for integer dtypes).

    Raises
    ------
    ValueError
        If ``data`` is not a valid compressed volume (wrong magic, other
        version, truncated or corrupt).
    """
    compressed = data if isinstance(data, Compressed) else from_bytes(data)
    batch_size = check_positive_int(batch_size, "batch_size")
    threads = check_positive_int(threads, "threads", maximum=MAX_THREADS)
    with _cpu_threads(threads):
        normalised = render_field(compressed.field(device=device), compressed.shape, batch_size=batch_size)
    return _restore_values(normalised, compressed)


def save_compressed(path, compressed: Compressed) -> Path:
    """Write ``compressed`` to ``path`` (``.pnc`` recommended); return the path.

    Raises
    ------
    TypeError
        If ``compressed`` is not a :class:`Compressed`.
    ValueError
        If the file cannot be written.
    """
    if not isinstance(compressed, Compressed):
        raise TypeError(
            f"compressed must be a Compressed (from porelib.compress.compress); got {type(compressed).__name__}"
        )
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(compressed.data)
    except OSError as exc:
        raise ValueError(f"could not write '{path}': {exc.strerror or exc}") from exc
    return path


def load_compressed(path) -> Compressed:
    """Read a file written by :func:`save_compressed`.

    Raises
    ------
    ValueError
        If the file is missing, unreadable, or not a valid compressed volume.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"could not read '{path}': {exc.strerror or exc}") from exc
    try:
        return from_bytes(data)
    except ValueError as exc:
        raise ValueError(f"'{path}': {exc}") from None


def psnr(original, decoded, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(range² / MSE)``.

    ``data_range`` defaults to ``original.max() - original.min()``; identical
    volumes give ``inf``.

    Raises
    ------
    ValueError
        If the shapes differ, or the range is not positive.
    """
    original = np.asarray(original, dtype=np.float64)
    decoded = np.asarray(decoded, dtype=np.float64)
    check_same_shape(original, decoded, ("original", "decoded"))
    if data_range is None:
        data_range = float(original.max() - original.min())
    data_range = check_number(data_range, "data_range", minimum=0.0)
    if data_range == 0:
        raise ValueError("data_range must be positive; the original is constant, pass data_range explicitly")
    mse = float(np.mean((original - decoded) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def quality(original, decoded, *, kind: str) -> dict[str, float]:
    """How close a decoded volume is: ``{"psnr": dB}`` for a scan, ``{"iou": ..., "dice": ...}`` for a grid.

    PSNR is on the original's value range (:func:`psnr`); IoU and Dice of the
    pore voxels are :func:`porelib.metrics.iou` and :func:`porelib.metrics.dice`
    (both empty = 1).

    Raises
    ------
    ValueError
        If the shapes differ or ``kind`` is unknown.
    """
    from porelib.metrics import dice, iou

    if check_choice(kind, KINDS, "kind") == "binary":
        return {"iou": iou(original, decoded), "dice": dice(original, decoded)}
    return {"psnr": psnr(original, decoded)}


# ----------------------------------------------------------------------------- sizing


def plan_network(shape, *, kind: str, ratio: float, bits: int = DEFAULT_BITS) -> SirenConfig:
    """Choose the network whose file is as large as possible but at most raw size / ``ratio``.

    The parameter budget is what is left of the target size after the header,
    the checksum and the levels of each tensor, at ``bits`` bits per
    parameter. Large volumes are split into as many tiles as keep every tile's
    network at least :data:`MIN_TILED_WIDTH` wide (tiles at least
    :data:`MIN_TILE_EDGE` voxels long): at the same size, a tiled network costs
    fewer operations per voxel. One residual block is used when two would be
    narrower than :data:`MIN_BLOCK_WIDTH`. The first layer's ω₀ is
    :data:`FIRST_W0_PER_VOXEL` times the tiles' longest side in voxels.

    Raises
    ------
    ValueError
        If even the smallest network does not fit.
    """
    target_bytes = raw_nbytes(shape, kind) / _check_ratio(ratio)
    for n_blocks in (DEFAULT_BLOCKS, 1):
        n_params = int((target_bytes - _overhead_nbytes(n_blocks)) * 8 // bits)
        if n_params < 1:
            continue
        for tiles in _tilings(shape):
            first_w0 = FIRST_W0_PER_VOXEL * max(TileGrid(tuple(shape), tiles).length)
            config = widest_config(n_params, n_blocks=n_blocks, tiles=tiles, first_w0=first_w0)
            min_width = MIN_TILED_WIDTH if max(tiles) > 1 else MIN_BLOCK_WIDTH if n_blocks > 1 else MIN_WIDTH
            if config is not None and config.width >= min_width:
                return config
    highest = max_ratio(shape, kind=kind, bits=bits)
    raise ValueError(
        f"ratio {ratio:g} is too high for a volume of shape {tuple(shape)}: the smallest network needs "
        f"{math.ceil(raw_nbytes(shape, kind) / highest)} bytes, so the ratio can be at most "
        f"{math.floor(highest * 100) / 100:g}"
    )


def _overhead_nbytes(n_blocks: int) -> int:
    """Bytes of a file besides its levels: header, checksum, each tensor's lo and step and (at most) a padding byte."""
    n_tensors = 2 * len(layer_shapes(SirenConfig(MIN_WIDTH, n_blocks)))
    return _HEADER.size + _CRC.size + n_tensors * (_LEVELS.size + 1)


def max_ratio(shape, *, kind: str, bits: int = DEFAULT_BITS) -> float:
    """The highest ratio :func:`compress` reaches on a volume of ``shape``: raw size / smallest file.

    The smallest network is untiled, :data:`MIN_WIDTH` wide with one residual
    block; :func:`plan_network` budgets a padding byte for each of its tensors.

    Raises
    ------
    ValueError
        If ``kind`` is unknown or ``bits`` is not in 2 … 16.
    """
    bits = check_positive_int(bits, "bits", minimum=2, maximum=16)
    smallest = _overhead_nbytes(1) + n_parameters(SirenConfig(MIN_WIDTH, 1)) * bits / 8
    return raw_nbytes(shape, kind) / smallest


def _tilings(shape) -> Iterator[tuple[int, int, int]]:
    """Candidate tilings, most tiles first: ``t`` per axis (fewer along short axes), down to one tile."""
    longest = max(1, min(MAX_TILES, max(shape) // MIN_TILE_EDGE))
    for per_axis in range(longest, 0, -1):
        yield tuple(max(1, min(per_axis, n // MIN_TILE_EDGE)) for n in shape)


def _tensor_sizes(config: SirenConfig) -> list[int]:
    """Number of values of every tensor of :meth:`SirenField.layers`, in order."""
    return [config.n_tiles * n for fan_in, fan_out in layer_shapes(config) for n in (fan_in * fan_out, fan_out)]


def _file_nbytes(config: SirenConfig, bits: int) -> int:
    payload = sum(_LEVELS.size + -(-size * bits // 8) for size in _tensor_sizes(config))
    return _HEADER.size + payload + _CRC.size


# ----------------------------------------------------------------------------- fitting and rendering


@dataclass(frozen=True)
class TileGrid:
    """How a volume of ``shape`` is cut into ``tiles`` boxes of ``length`` voxels (the last ones cropped)."""

    shape: tuple[int, int, int]
    tiles: tuple[int, int, int]

    @property
    def length(self) -> tuple[int, int, int]:
        """Voxels per tile along each axis, ``ceil(shape / tiles)``."""
        return tuple(-(-n // t) for n, t in zip(self.shape, self.tiles))

    def origins(self) -> np.ndarray:
        """First voxel of every tile, ``(T, 3)``, tiles in C order."""
        ranges = [np.arange(t) * length for t, length in zip(self.tiles, self.length)]
        return np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)

    def extents(self) -> np.ndarray:
        """Voxels of the volume inside every tile along each axis, ``(T, 3)``."""
        return np.minimum(self.length, np.asarray(self.shape) - self.origins())

    def local_coordinates(self, local_index: torch.Tensor) -> torch.Tensor:
        """Map integer local indices ``(..., 3)`` to coordinates in ``[-1, 1]``."""
        span = torch.tensor([max(length - 1, 1) for length in self.length], device=local_index.device)
        return local_index.float() * (2.0 / span) - 1.0

    def flat_index(self, local_index: torch.Tensor, origins: torch.Tensor) -> torch.Tensor:
        """Flat C-order voxel index of local indices ``(T, B, 3)`` in tiles with ``origins`` ``(T, 3)``."""
        ix, iy, iz = (local_index + origins[:, None, :]).unbind(-1)
        return (ix * self.shape[1] + iy) * self.shape[2] + iz


def fit_field(
    values: np.ndarray,
    config: SirenConfig,
    *,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float | None = None,
    bits: int | None = DEFAULT_BITS,
    binary: bool = False,
    seed: int = 0,
    device="auto",
    progress: Callable[[int, int], None] | None = None,
) -> SirenField:
    """Fit a :class:`SirenField` to ``values``, float32 ``(X, Y, Z)``.

    A scan's ``values`` are in ``[-1, 1]`` and fitted with the mean squared
    error; with ``binary`` they are 0/1 and the network's outputs are fitted as
    logits with the binary cross-entropy. ``lr`` defaults to :data:`DEFAULT_LR`
    of the kind. Each step draws ``batch_size // T`` voxels uniformly in each of the ``T``
    tiles and takes one Adam step; the learning rate
    rises linearly over the first :data:`WARMUP_FRACTION` of the steps, then
    decays to zero along a cosine. With ``bits``, the last :data:`QAT_FRACTION`
    of the steps see the weights through the ``bits``-bit quantiser
    (straight-through gradients). ``seed`` fixes the initial weights and the samples.
    """
    device = select_device(device)
    if lr is None:
        lr = DEFAULT_LR["binary" if binary else "scan"]
    grid = TileGrid(values.shape, config.tiles)
    origins = torch.as_tensor(grid.origins(), device=device)
    extents = torch.as_tensor(grid.extents(), device=device, dtype=torch.float32)
    target = torch.as_tensor(values, device=device).reshape(-1)
    per_tile = max(1, batch_size // config.n_tiles)
    loss_function = F.binary_cross_entropy_with_logits if binary else F.mse_loss
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        field = SirenField(config).to(device)
    sampler = torch.Generator(device=device).manual_seed(seed + 1)
    optimiser = torch.optim.Adam(field.parameters(), lr=lr)
    warmup = max(1, round(WARMUP_FRACTION * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: warmup_cosine(step, warmup_steps=warmup, total_steps=steps)
    )
    quantise_from = steps - round(QAT_FRACTION * steps) if bits is not None else steps
    field.train()
    for step in range(steps):
        if step == quantise_from:
            _set_fake_quantisation(field, bits)
        uniform = torch.rand((config.n_tiles, per_tile, 3), generator=sampler, device=device)
        local_index = (uniform * extents[:, None, :]).long()
        prediction = field(grid.local_coordinates(local_index))
        loss = loss_function(prediction, target[grid.flat_index(local_index, origins)])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress is not None:
            progress(step + 1, steps)
    if quantise_from < steps:
        _set_fake_quantisation(field, None)
    return field.eval()


class _FakeQuantise(nn.Module):
    """:func:`quantise` in the forward pass, the identity in the backward pass."""

    def __init__(self, bits: int):
        super().__init__()
        self.top_level = 2**bits - 1

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        lo, hi = weight.detach().min(), weight.detach().max()
        step = torch.clamp((hi - lo) / self.top_level, min=torch.finfo(weight.dtype).tiny)
        quantised = torch.round((weight - lo) / step) * step + lo
        return weight + (quantised - weight).detach()


def _set_fake_quantisation(field: SirenField, bits: int | None) -> None:
    """Route every parameter of ``field`` through a ``bits``-bit quantiser, or remove it (``None``)."""
    for linear in field.linears:
        for name in ("weight", "bias"):
            if bits is None:
                parametrize.remove_parametrizations(linear, name, leave_parametrized=False)
            else:
                parametrize.register_parametrization(linear, name, _FakeQuantise(bits))


def render_field(field: SirenField, shape, *, batch_size: int = DECODE_BATCH_SIZE) -> np.ndarray:
    """Evaluate ``field`` on every voxel of a volume of ``shape``; return float32 ``(X, Y, Z)``.

    All tiles share the same local coordinates, so each batch evaluates
    ``batch_size // T`` local points in every tile at once.
    """
    config = field.config
    grid = TileGrid(tuple(shape), config.tiles)
    device = next(field.parameters()).device
    per_tile = max(1, batch_size // config.n_tiles)
    n_local = math.prod(grid.length)
    out = torch.empty((config.n_tiles, n_local), dtype=torch.float32)
    strides = torch.tensor([grid.length[1] * grid.length[2], grid.length[2], 1], device=device)
    lengths = torch.tensor(grid.length, device=device)
    with torch.inference_mode():
        for start in range(0, n_local, per_tile):
            flat = torch.arange(start, min(start + per_tile, n_local), device=device)
            local_index = (flat[:, None] // strides) % lengths
            coords = grid.local_coordinates(local_index).expand(config.n_tiles, -1, -1)
            out[:, start : start + len(flat)] = field(coords).float().cpu()
    padded = out.reshape(*config.tiles, *grid.length).permute(0, 3, 1, 4, 2, 5)
    padded = padded.reshape(*(t * length for t, length in zip(config.tiles, grid.length)))
    return padded[: shape[0], : shape[1], : shape[2]].numpy().copy()


@contextmanager
def _cpu_threads(threads: int) -> Iterator[None]:
    """Use ``threads`` CPU threads for torch inside the block."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# ----------------------------------------------------------------------------- values in and out


def _prepare_volume(volume, kind: str) -> tuple[np.ndarray, str, str, tuple[float, float]]:
    """Return (values to fit: 0/1 or [-1, 1] float32, kind, dtype string, value range)."""
    array = np.asarray(volume)
    check_numeric(array, "volume")
    if array.ndim != 3:
        raise ValueError(f"volume must be 3-D (X, Y, Z); got {array.ndim}-D {describe(array)}")
    if min(array.shape) < 2:
        raise ValueError(f"volume must be at least 2 voxels along each axis; got shape {array.shape}")
    check_finite(array, "volume")
    check_choice(kind, ("auto", *KINDS), "kind")
    detected = volume_kind(array)
    if kind == "auto":
        kind = detected
    if kind == "binary":
        if detected != "binary":
            raise ValueError(
                f"volume must hold only 0/1 (or True/False) for kind='binary'; got {describe(array)} with values "
                f"in [{array.min()!r}, {array.max()!r}]. Threshold it first, or use kind='scan'"
            )
        return array.astype(np.float32), kind, array.dtype.str, (0.0, 1.0)
    lo, hi = float(array.min()), float(array.max())
    scale = 2.0 / (hi - lo) if hi > lo else 0.0
    values = ((array.astype(np.float64) - lo) * scale - 1.0).astype(np.float32)
    return values, kind, array.dtype.str, (lo, hi)


def volume_kind(volume) -> str:
    """What ``kind="auto"`` makes of ``volume``: ``"binary"`` (bool, or integers all 0 or 1) or ``"scan"``.

    Raises
    ------
    TypeError
        If ``volume`` does not hold numbers.
    """
    array = np.asarray(volume)
    check_numeric(array, "volume")
    zeros_and_ones = array.dtype == bool or (array.dtype.kind in "iu" and np.all((array == 0) | (array == 1)))
    return "binary" if zeros_and_ones else "scan"


def _restore_values(normalised: np.ndarray, compressed: Compressed) -> np.ndarray:
    """Map the network's output back to the original kind, range and dtype."""
    dtype = np.dtype(compressed.dtype)
    if compressed.kind == "binary":
        return (normalised > 0).astype(dtype)
    lo, hi = compressed.value_range
    values = (np.clip(normalised, -1.0, 1.0).astype(np.float64) + 1.0) * ((hi - lo) / 2.0) + lo
    if dtype.kind in "iub":
        values = np.rint(values)
    return values.astype(dtype)


def _check_ratio(ratio) -> float:
    ratio = check_number(ratio, "ratio", minimum=0.0)
    if ratio <= 1.0:
        raise ValueError(f"ratio must be greater than 1 (raw size / compressed size); got {ratio:g}")
    return ratio


# ----------------------------------------------------------------------------- quantisation


def quantise(values: np.ndarray, bits: int) -> QuantisedTensor:
    """Quantise to ``2**bits`` evenly spaced levels between the tensor's min and max."""
    flat = np.asarray(values, dtype=np.float32).ravel()
    lo, hi = np.float32(flat.min()), np.float32(flat.max())
    step = np.float32((hi - lo) / np.float32(2**bits - 1))
    if step > 0:
        levels = np.clip(np.rint((flat - lo) / step), 0, 2**bits - 1).astype(np.uint16)
    else:
        levels = np.zeros(flat.size, dtype=np.uint16)
    return QuantisedTensor(tuple(np.shape(values)), lo, step, levels)


# ----------------------------------------------------------------------------- file format


def _pack_levels(levels: np.ndarray, bits: int) -> bytes:
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint16)
    return np.packbits(((levels[:, None] >> shifts) & 1).astype(np.uint8)).tobytes()


def _unpack_levels(data: bytes, count: int, bits: int) -> np.ndarray:
    bit_array = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * bits].reshape(count, bits)
    return (bit_array.astype(np.uint16) << np.arange(bits - 1, -1, -1, dtype=np.uint16)).sum(axis=1, dtype=np.uint16)


def _encode(compressed: Compressed) -> bytes:
    config = compressed.config
    payload = b"".join(
        _LEVELS.pack(tensor.lo, tensor.step) + _pack_levels(tensor.levels, compressed.bits)
        for tensor in compressed.tensors
    )
    header = _HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        _KIND_CODES[compressed.kind],
        compressed.bits,
        *compressed.shape,
        compressed.dtype.encode("ascii"),
        *compressed.value_range,
        config.width,
        config.n_blocks,
        *config.tiles,
        config.w0,
        config.first_w0,
        len(payload),
    )
    body = header + payload
    return body + _CRC.pack(zlib.crc32(body))


def from_bytes(data) -> Compressed:
    """Parse a ``.pnc`` file's bytes (see the module notes for the layout).

    Raises
    ------
    TypeError
        If ``data`` is not bytes-like.
    ValueError
        With the reason: not a compressed volume (wrong magic), an unsupported
        version, truncated, corrupt (checksum mismatch) or inconsistent header.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes (a .pnc file's content) or a Compressed; got {type(data).__name__}")
    data = bytes(data)
    if data[:4] != MAGIC:
        raise ValueError(f"not a compressed volume: expected the magic bytes {MAGIC!r}, found {data[:4]!r}")
    if len(data) < _HEADER.size + _CRC.size:
        raise ValueError(f"truncated compressed volume: {len(data)} bytes, shorter than the {_HEADER.size}-byte header")
    _, version, kind_code, bits, *shape_and_rest = _HEADER.unpack_from(data)
    if version != FORMAT_VERSION:
        raise ValueError(
            f"unsupported compressed-volume version {version}; this porelib reads version {FORMAT_VERSION}"
        )
    expected = _HEADER.size + shape_and_rest[-1] + _CRC.size
    if len(data) != expected:
        raise ValueError(f"truncated or padded compressed volume: {len(data)} bytes, the header announces {expected}")
    (stored_crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(data[: -_CRC.size]) != stored_crc:
        raise ValueError("corrupt compressed volume: the checksum does not match its content")
    return _decode_valid(data, kind_code, bits, shape_and_rest)


def _decode_valid(data: bytes, kind_code: int, bits: int, fields: list) -> Compressed:
    """Build a :class:`Compressed` from bytes whose checksum matched; inconsistencies raise ValueError."""
    shape, dtype_bytes, value_range = tuple(fields[0:3]), fields[3], tuple(fields[4:6])
    width, n_blocks, tiles, (w0, first_w0) = fields[6], fields[7], tuple(fields[8:11]), fields[11:13]
    if kind_code >= len(KINDS) or not 2 <= bits <= 16 or min(shape) < 2:
        raise ValueError(f"invalid compressed-volume header: kind {kind_code}, bits {bits}, shape {shape}")
    try:
        dtype = np.dtype(dtype_bytes.rstrip(b"\0").decode("ascii"))
        config = SirenConfig(width, n_blocks, tiles, w0, first_w0)
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid compressed-volume header: {exc}") from None
    if dtype.kind not in "biuf":
        raise ValueError(f"invalid compressed-volume header: dtype {dtype} is not a number or bool type")
    if _file_nbytes(config, bits) != len(data):
        raise ValueError("invalid compressed volume: its length does not match the network in its header")
    shapes = [
        (config.n_tiles, *shape_)
        for fan_in, fan_out in layer_shapes(config)
        for shape_ in ((fan_in, fan_out), (1, fan_out))
    ]
    tensors, offset = [], _HEADER.size
    for tensor_shape in shapes:
        lo, step = (np.float32(v) for v in _LEVELS.unpack_from(data, offset))
        count = math.prod(tensor_shape)
        start, stop = offset + _LEVELS.size, offset + _LEVELS.size + -(-count * bits // 8)
        tensors.append(QuantisedTensor(tensor_shape, lo, step, _unpack_levels(data[start:stop], count, bits)))
        offset = stop
    return Compressed(shape, KINDS[kind_code], dtype.str, value_range, config, bits, tuple(tensors))


# ----------------------------------------------------------------------------- volume files


def read_volume(source) -> np.ndarray:
    """Read a scan or a grid to compress, keeping its dtype.

    ``.npz`` holding ``image`` is a scan (:func:`porelib.ct.load_scan`); a 3-D
    ``.npy`` array and a ``.tif``/``.tiff`` stack are read as they are (so a
    0/1 stack is a grid for ``kind="auto"``); every other grid file (``.npz``
    grids, ``.vti``, the row format ``.npy``) goes through :func:`porelib.io.load_grid`.

    Parameters
    ----------
    source : str, Path or binary file-like
        A path, or an object with ``read()``/``getvalue()`` and a ``name`` whose
        extension tells the format (e.g. a Streamlit upload).

    Returns
    -------
    ndarray, shape (X, Y, Z)
        The volume, ``volume[ix, iy, iz]``, in the file's dtype.

    Raises
    ------
    ValueError
        If the file cannot be read or holds no 3-D volume.
    TypeError
        If ``source`` is neither a path nor a binary file-like object.
    """
    from porelib import ct, io

    if isinstance(source, (str, PathLike)):
        name = str(source)
    else:
        source, name = _named_stream(source)
    suffix = Path(name).suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            volume = tifffile.imread(source)
        elif suffix == ".npy":
            volume = np.load(source, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(source, allow_pickle=False) as content:
                names = content.files
        else:
            volume = None
    except Exception as exc:  # noqa: BLE001 - a corrupt file fails parsers in many ways (see porelib.io._reading)
        raise ValueError(f"could not read '{name}' as {suffix}: {exc}") from None
    if hasattr(source, "seek"):
        source.seek(0)
    if suffix == ".npz":
        if "image" not in names and not {"grids", "grid"} & set(names):
            raise ValueError(
                f"'{name}' holds neither a scan ('image') nor grids ('grids'); found keys: {', '.join(names) or 'none'}"
            )
        volume = ct.load_scan(source).image if "image" in names else io.load_grid(source)
    elif volume is None or (suffix == ".npy" and volume.ndim != 3):
        volume = io.load_grid(source)  # the other grid formats, and the row format (S³, 4)
    if volume.ndim != 3:
        raise ValueError(f"'{name}' holds a {volume.ndim}-D array {describe(volume)}; expected a 3-D volume (X, Y, Z)")
    return volume


def _named_stream(source) -> tuple[BytesIO, str]:
    """The bytes of a binary file-like ``source`` as a named, seekable stream, and its name."""
    if not (hasattr(source, "getvalue") or hasattr(source, "read")):
        raise TypeError(f"source must be a path or a binary file-like object with a name; got {type(source).__name__}")
    data = source.getvalue() if hasattr(source, "getvalue") else source.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"source must give bytes (open files in binary mode, 'rb'); got {type(data).__name__}")
    name = str(getattr(source, "name", "") or "")
    if not Path(name).suffix:
        raise ValueError(
            f"cannot tell the format of '{name or 'the upload'}': name it with its extension, e.g. volume.npy"
        )
    stream = BytesIO(bytes(data))
    stream.name = name
    return stream, name


def write_volume(path, volume: np.ndarray) -> Path:
    """Write a decompressed volume: ``.npy`` for anything, a grid also as any :func:`porelib.io.save_grid` format.

    Raises
    ------
    ValueError
        For another extension, or if the file cannot be written.
    """
    from porelib import io

    path = Path(path)
    if path.suffix.lower() != ".npy":
        if volume.dtype != bool:
            raise ValueError(f"a decompressed scan is written as .npy; got '{path}'")
        return io.save_grid(path, volume)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, volume, allow_pickle=False)
    except OSError as exc:
        raise ValueError(f"could not write '{path}': {exc.strerror or exc}") from exc
    return path
