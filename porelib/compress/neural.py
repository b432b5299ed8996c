"""The neural codec: a tiled coordinate network fitted to one volume, its weights quantised and entropy-coded.

A volume ``volume[ix, iy, iz]`` — a float scan (CT) or a bool pore grid — is
represented by a :class:`~porelib.models.siren.SirenField` (residual sine layers,
as neurcomp), one small network per tile of the volume, all evaluated at once.
:func:`encode` sizes the networks from the requested ratio, fits them, quantises
every weight and bias to ``bits`` bits and entropy-codes the levels; :func:`decode`
evaluates the networks on every voxel in batches.

What is fitted
--------------
A scan is mapped linearly from its value range ``[lo, hi]`` to ``[-1, 1]`` and
fitted with the mean squared error; a decoded scan is clipped to ``[lo, hi]``.
A binary grid is fitted as logits with the binary cross-entropy (on 30³ dataset
grids at 3:1 it reached IoU 0.98 where the squared error on ±1 targets reached
0.95) and thresholded at 0 on decoding.
Each step draws ``batch_size`` voxels uniformly at random (spread evenly over
the tiles); Adam with a short linear warm-up and a cosine decay to zero
(:func:`porelib.devices.warmup_cosine`). The last :data:`QAT_FRACTION` of the
steps run through the quantiser (straight-through gradients), so the stored
weights lose less to quantisation (on the noise-free 128³ benchmark scan at
100:1 with 2³ tiles of width 50: 34.1 dB against 34.8 dB unquantised; 1.2 dB lost
when quantising the fitted weights afterwards). Fitting is deterministic for a given
``seed`` on a given machine and thread count.

Speed: many small tiles
-----------------------
A step costs about as many operations per voxel as one tile's network has
parameters, so at a fixed file size more tiles fit faster. The volume is cut into
the most tiles that keep every tile at least :data:`MIN_TILE_EDGE` voxels long, its
network at least :data:`MIN_TILED_WIDTH` wide and at least
:data:`MIN_SAMPLES_PER_TILE` voxels per tile and step. On the noise-free 128³
benchmark scan at 100:1 (one thread, ``bench compression``), 4³ tiles of width 17
reached 34.4 dB in 2000 steps and 7.3 s of CPU, where neurcomp-like 2³ tiles of
width 50 took 53 s for 33.9 dB; SZ3 reaches 30.9 dB there. The learning rate falls
with the width (:data:`SCAN_LR_TIMES_WIDTH`); Adam is fused (8 % less time per step).
Tried and not kept: a multiresolution hash grid with a tiny MLP (Instant-NGP-like, 8
levels of 2¹² entries × 2 features, 8-bit, pure torch) reached 31.1 dB in 1000 steps
and 27 s of CPU at 79 % of the 100:1 budget (16 levels of 2¹¹: 30.3 dB, 55 s): its
gathers cost 7 times a tile step here. A dense feature grid of the budget's size
cannot hold the detail: 43³ values trilinearly upsampled give 24.4 dB.

Quantisation and entropy coding
-------------------------------
Each tensor (every weight matrix and every bias vector) is quantised linearly to
``2**bits`` levels between its own minimum and maximum: value ``k`` stands for
``lo + k · step``. The levels are then entropy-coded (raw LZMA2 of one byte per
level): fitted sine networks' levels carry 6.5-7.3 of their 8 bits (the 128³ benchmark
files are 81-90 % of their packed size). The network is sized for
:data:`ENTROPY_FACTOR` of the packed size, so it can be wider; if the
coded file were still over the target, the levels are quantised again with one bit
fewer until it fits (``info["bits"]`` says so). A k-means codebook per tensor
(neurcomp) was tried: it costs ``4 · 2**bits`` bytes per tensor, and the
straight-through steps make linear levels nearly as good.

Payload (inside the ``.pnc`` container, little-endian)
------------------------------------------------------
======  ====  ===================================================================
offset  size  field
======  ====  ===================================================================
0       1     bits per quantised value (2 … 16)
1       1     coding: 0 = levels packed at ``bits`` bits, most significant bit
              first, each tensor padded to a whole byte; 1 = raw LZMA2 of every
              level as one byte (two, little-endian, above 8 bits), tensors
              one after the other
2       2     network width (uint16)
4       1     residual blocks (uint8)
5       3     tiles along x, y, z (three uint8)
8       8     ``w0`` and ``first_w0`` (two float32)
16      …     for each tensor of :meth:`SirenField.layers` (weight then bias of
              each layer, first to last): ``lo`` and ``step`` (two float32); then
              the levels (coding 0: after each tensor's ``lo, step``; coding 1:
              one LZMA2 stream after the last ``lo, step``)
======  ====  ===================================================================

Weights are stored ``(tiles, in, out)``, biases ``(tiles, 1, out)``, tiles in C
order over ``tiles``; voxel ``i`` along an axis of length ``n`` with ``t`` tiles
belongs to tile ``i // L`` (``L = ceil(n / t)``) at local coordinate
``2 (i mod L) / (L - 1) - 1``. A version-1 ``.pnc`` holds exactly a coding-0 payload.
"""

from __future__ import annotations

import lzma
import math
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from porelib._validate import check_choice, check_number, check_positive_int
from porelib.compress.names import OVERHEAD_NBYTES
from porelib.compress.volume import KINDS, raw_nbytes
from porelib.devices import cpu_threads, select_device, warmup_cosine
from porelib.models.siren import (
    MAX_TILES,
    MIN_WIDTH,
    SirenConfig,
    SirenField,
    layer_shapes,
    n_parameters,
    widest_config,
)

#: Bits per quantised weight unless asked otherwise (6 bits with a third more
#: weights lost 3 dB against 8 bits on a CT crop at 100:1).
DEFAULT_BITS = 8
#: Optimisation steps and voxels per step unless asked otherwise.
DEFAULT_STEPS = 2000
DEFAULT_BATCH_SIZE = 8192
#: Fewest steps worth fitting: a time limit that leaves fewer skips the fit.
MIN_STEPS = 100
#: Coordinates evaluated per batch when decoding.
DECODE_BATCH_SIZE = 65536
#: Peak learning rate of Adam for a scan, times the network's width: the rate is this / width
#: (the sine factors ω₀ are folded into the weights, so rates are ω₀ = 30 times the usual
#: SIREN rates; Adam moves every weight by about the rate, while the weights shrink as
#: √(6 / width), so wider networks need lower rates). On the noise-free 128³ benchmark
#: scan: at 100:1 (4³ tiles, width 16) 4e-2 reached 34.1 dB where 3e-2 reached 34.0, 2e-2
#: 33.7 and 1e-2 32.8; at 10:1 (5³ tiles, width 40) 4e-2 diverged (15 dB) where 1.7e-2
#: reached 38.2 dB; at 25:1 (6³ tiles, width 19) 3.6e-2 reached 36.4 dB and 4e-2 35.6.
SCAN_LR_TIMES_WIDTH = 0.68
#: Peak learning rate for a grid (binary cross-entropy): on three 30³ test grids at 3:1,
#: 3e-2 reached IoU 0.97-1.0 where 1e-2 reached 0.95-0.99.
BINARY_LR = 3e-2
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
#: Tiles are at least this many voxels long, their networks at least this wide, and each
#: step draws at least MIN_SAMPLES_PER_TILE voxels in every tile. 128³ scan at 100:1, 2000
#: steps: 4³ tiles of width 16 reached 34.1 dB in 8 s, 3³ tiles of width 26 32.9 dB (lr
#: 1e-2, 1500 steps) in 10 s, 2³ tiles of width 50 33.9 dB in 53 s (lr 1e-2). At 10:1, 8³
#: tiles (16 voxels per tile and step) reached 37.3 dB at best, 5³ tiles 38.2 dB.
MIN_TILE_EDGE = 16
MIN_TILED_WIDTH = 16
MIN_SAMPLES_PER_TILE = 64
#: The first layer's ω₀ per voxel of a tile's longest side: the finest detail a
#: tile can hold grows with its length in voxels, while its local coordinates
#: always span [-1, 1]. (30³ grids at 3-4:1: ω₀ = 15 beat 7 and 30 by up to
#: 0.05 IoU; a 64-voxel tile of a CT scan: 30 fits well.)
FIRST_W0_PER_VOXEL = 0.5
#: Bytes per level expected after entropy coding, as a fraction of the packed
#: size, when sizing the network (measured 0.81-0.90 on the 128³ benchmark files).
ENTROPY_FACTOR = 0.95
#: Steps timed to estimate a fit's duration (:func:`seconds_per_step`).
TIMING_STEPS = 4

_PAYLOAD_HEADER = struct.Struct("<BBHB3B2f")
_LEVELS = struct.Struct("<2f")
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
CODINGS = ("packed", "lzma")


# ----------------------------------------------------------------------------- the code


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
class NeuralCode:
    """The network of a neural ``.pnc``: its config and quantised tensors.

    Attributes
    ----------
    config : SirenConfig
        The network.
    bits : int
        Bits per quantised value.
    tensors : tuple of QuantisedTensor
        Every parameter tensor, in :meth:`SirenField.layers` order.
    coding : {"packed", "lzma"}
        How the levels are stored (see the module notes).
    """

    config: SirenConfig
    bits: int
    tensors: tuple[QuantisedTensor, ...]
    coding: str = "lzma"

    def field(self, *, device="cpu") -> SirenField:
        """The network with the dequantised weights, in evaluation mode."""
        field = SirenField(self.config)
        with torch.no_grad():
            for parameter, tensor in zip(field.layers(), self.tensors):
                parameter.copy_(torch.from_numpy(tensor.values()))
        return field.to(select_device(device)).eval()

    def to_payload(self) -> bytes:
        """The payload bytes (see the module notes)."""
        config = self.config
        header = _PAYLOAD_HEADER.pack(
            self.bits, CODINGS.index(self.coding), config.width, config.n_blocks, *config.tiles, config.w0,
            config.first_w0,
        )
        if self.coding == "packed":
            return header + b"".join(
                _LEVELS.pack(t.lo, t.step) + _pack_levels(t.levels, self.bits) for t in self.tensors
            )
        table = b"".join(_LEVELS.pack(t.lo, t.step) for t in self.tensors)
        dtype = "<u1" if self.bits <= 8 else "<u2"
        levels = np.concatenate([t.levels for t in self.tensors]).astype(dtype)
        return header + table + _lzma_compress(levels.tobytes())

    def summary(self) -> dict:
        """Plain values describing the network."""
        return {
            "network": self.config.to_dict(),
            "parameters": sum(t.levels.size for t in self.tensors),
            "bits": self.bits,
            "coding": self.coding,
        }


def parse_payload(payload: bytes) -> NeuralCode:
    """The :class:`NeuralCode` of a payload (see the module notes).

    Raises
    ------
    ValueError
        If the header is invalid or the payload's length or levels do not match its network.
    """
    if len(payload) < _PAYLOAD_HEADER.size:
        raise ValueError("invalid compressed volume: its neural payload is shorter than the network header")
    bits, coding, width, n_blocks, *rest = _PAYLOAD_HEADER.unpack_from(payload)
    tiles, (w0, first_w0) = tuple(rest[:3]), rest[3:5]
    if not 2 <= bits <= 16 or coding >= len(CODINGS):
        raise ValueError(f"invalid compressed-volume header: bits {bits}, coding {coding}")
    try:
        config = SirenConfig(width, n_blocks, tiles, w0, first_w0)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid compressed-volume header: {exc}") from None
    shapes = [
        (config.n_tiles, *shape_)
        for fan_in, fan_out in layer_shapes(config)
        for shape_ in ((fan_in, fan_out), (1, fan_out))
    ]
    counts = [math.prod(shape) for shape in shapes]
    offset = _PAYLOAD_HEADER.size
    if CODINGS[coding] == "packed":
        if len(payload) != _PAYLOAD_HEADER.size + sum(_LEVELS.size + -(-n * bits // 8) for n in counts):
            raise ValueError("invalid compressed volume: its length does not match the network in its header")
        tensors = []
        for shape, count in zip(shapes, counts):
            lo, step = (np.float32(v) for v in _LEVELS.unpack_from(payload, offset))
            start, stop = offset + _LEVELS.size, offset + _LEVELS.size + -(-count * bits // 8)
            tensors.append(QuantisedTensor(shape, lo, step, _unpack_levels(payload[start:stop], count, bits)))
            offset = stop
        return NeuralCode(config, bits, tuple(tensors), "packed")
    table_end = offset + _LEVELS.size * len(shapes)
    if len(payload) < table_end:
        raise ValueError("invalid compressed volume: its length does not match the network in its header")
    dtype = np.dtype("<u1" if bits <= 8 else "<u2")
    expected = sum(counts) * dtype.itemsize
    levels = np.frombuffer(_lzma_decompress(payload[table_end:], expected), dtype=dtype).astype(np.uint16)
    if levels.size * dtype.itemsize != expected or levels.size and int(levels.max()) >= 2**bits:
        raise ValueError("invalid compressed volume: its levels do not match the network in its header")
    tensors, start = [], 0
    for index, (shape, count) in enumerate(zip(shapes, counts)):
        lo, step = (np.float32(v) for v in _LEVELS.unpack_from(payload, offset + index * _LEVELS.size))
        tensors.append(QuantisedTensor(shape, lo, step, levels[start : start + count]))
        start += count
    return NeuralCode(config, bits, tuple(tensors), "lzma")


def payload_from_v1(bits: int, network_fields, tensor_bytes: bytes) -> bytes:
    """The version-2 payload of a version-1 file: its bits and network fields, then its tensors as they are."""
    width, n_blocks, t0, t1, t2, w0, first_w0 = network_fields
    if not 2 <= bits <= 16:
        raise ValueError(f"invalid compressed-volume header: bits {bits}")
    return _PAYLOAD_HEADER.pack(bits, 0, width, n_blocks, t0, t1, t2, w0, first_w0) + tensor_bytes


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


def _pack_levels(levels: np.ndarray, bits: int) -> bytes:
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint16)
    return np.packbits(((levels[:, None] >> shifts) & 1).astype(np.uint8)).tobytes()


def _unpack_levels(data: bytes, count: int, bits: int) -> np.ndarray:
    bit_array = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * bits].reshape(count, bits)
    return (bit_array.astype(np.uint16) << np.arange(bits - 1, -1, -1, dtype=np.uint16)).sum(axis=1, dtype=np.uint16)


def _lzma_compress(data: bytes) -> bytes:
    filters = [{**_LZMA_FILTERS[0], "dict_size": min(max(4096, len(data)), 64 << 20)}]
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)


def _lzma_decompress(data: bytes, expected: int) -> bytes:
    """Inflate at most ``expected + 1`` bytes (a longer stream is refused, not allocated)."""
    try:
        decoder = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
        return decoder.decompress(data, max_length=expected + 1)
    except lzma.LZMAError as exc:
        raise ValueError(f"invalid compressed volume: its neural levels do not decode ({exc})") from None


# ----------------------------------------------------------------------------- encode and decode


def encode(
    array: np.ndarray,
    kind: str,
    *,
    ratio: float,
    steps: int = DEFAULT_STEPS,
    bits: int = DEFAULT_BITS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float | None = None,
    seed=None,
    device="auto",
    threads: int = DEFAULT_THREADS,
    max_seconds: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[bytes, dict]:
    """Fit the networks to a checked volume (:func:`porelib.compress.volume.check_volume`); return the payload and info.

    ``max_seconds`` caps the fit: after a few timed steps the schedule is
    shortened to the steps that fit in the time (at least :data:`MIN_STEPS`).
    The info holds ``steps`` (done), ``fit_s``, ``bits`` (after any re-quantisation)
    and ``network``.

    Raises
    ------
    ValueError
        If ``ratio`` is too high for even the smallest network, or an option is out of range.
    """
    steps = check_positive_int(steps, "steps")
    bits = check_positive_int(bits, "bits", minimum=2, maximum=16)
    batch_size = check_positive_int(batch_size, "batch_size")
    threads = check_positive_int(threads, "threads", maximum=MAX_THREADS)
    config = plan_network(array.shape, kind=kind, ratio=ratio, bits=bits, batch_size=batch_size)
    lr = default_lr(kind, config) if lr is None else check_number(lr, "lr", minimum=1e-8, maximum=10.0)
    values = normalise(array, kind)
    torch_seed = int(np.random.default_rng(seed).integers(2**62))
    start = time.perf_counter()
    with cpu_threads(threads):
        field, done = fit_field(
            values, config, steps=steps, batch_size=batch_size, lr=lr, bits=bits, binary=kind == "binary",
            seed=torch_seed, device=device, progress=progress, max_seconds=max_seconds, return_steps=True,
        )
    fit_s = time.perf_counter() - start
    budget = raw_nbytes(array.shape, kind) / ratio - OVERHEAD_NBYTES
    parameters = [p.detach().cpu().numpy() for p in field.layers()]
    for stored_bits in range(bits, 1, -1):  # one bit fewer until the coded file fits (rarely needed)
        code = _smallest_code(config, stored_bits, tuple(quantise(p, stored_bits) for p in parameters))
        payload = code.to_payload()
        if len(payload) <= budget:
            break
    info = {"steps": done, "fit_s": fit_s, "bits": code.bits, "coding": code.coding, "network": describe(config)}
    return payload, info


def _smallest_code(config: SirenConfig, bits: int, tensors: tuple) -> NeuralCode:
    codes = [NeuralCode(config, bits, tensors, coding) for coding in CODINGS]
    return min(codes, key=lambda code: len(code.to_payload()))


def decode(code: NeuralCode, shape, kind: str, value_range, *, device="auto", batch_size: int = DECODE_BATCH_SIZE,
           threads: int = DEFAULT_THREADS) -> np.ndarray:
    """Evaluate the networks on every voxel: bool for a grid (output > 0), float64 in ``value_range`` for a scan."""
    batch_size = check_positive_int(batch_size, "batch_size")
    threads = check_positive_int(threads, "threads", maximum=MAX_THREADS)
    with cpu_threads(threads):
        normalised = render_field(code.field(device=device), shape, batch_size=batch_size)
    if kind == "binary":
        return normalised > 0
    lo, hi = value_range
    return (np.clip(normalised, -1.0, 1.0).astype(np.float64) + 1.0) * ((hi - lo) / 2.0) + lo


def normalise(array: np.ndarray, kind: str) -> np.ndarray:
    """The values fitted: 0/1 for a grid, a scan mapped from its ``[min, max]`` to ``[-1, 1]``; float32."""
    if kind == "binary":
        return array.astype(np.float32)
    lo, hi = float(array.min()), float(array.max())
    scale = 2.0 / (hi - lo) if hi > lo else 0.0
    return ((array.astype(np.float64) - lo) * scale - 1.0).astype(np.float32)


def describe(config: SirenConfig) -> str:
    """``"w16×2b, tiles 4×4×4"``: width × residual blocks, tiles."""
    return f"w{config.width}×{config.n_blocks}b, tiles {'×'.join(map(str, config.tiles))}"


# ----------------------------------------------------------------------------- sizing


def default_lr(kind: str, config: SirenConfig) -> float:
    """Peak learning rate of a fit: :data:`SCAN_LR_TIMES_WIDTH` / width for a scan, :data:`BINARY_LR` for a grid."""
    return SCAN_LR_TIMES_WIDTH / config.width if kind == "scan" else BINARY_LR


def plan_network(shape, *, kind: str, ratio: float, bits: int = DEFAULT_BITS,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> SirenConfig:
    """Choose the network whose file is as large as possible but at most raw size / ``ratio``.

    The parameter budget is what is left of the target size after the container,
    the payload header and each tensor's ``lo, step``, at ``bits`` ×
    :data:`ENTROPY_FACTOR` bits per parameter. The volume is split into the most
    tiles that keep every tile's network at least :data:`MIN_TILED_WIDTH` wide
    (tiles at least :data:`MIN_TILE_EDGE` voxels long, and at most
    ``batch_size / MIN_SAMPLES_PER_TILE`` of them): at the same size, more tiles
    cost fewer operations per voxel. One residual block is used when two
    would be narrower than :data:`MIN_BLOCK_WIDTH` (untiled) or
    :data:`MIN_TILED_WIDTH` (tiled). The first layer's ω₀ is
    :data:`FIRST_W0_PER_VOXEL` times the tiles' longest side in voxels.

    Raises
    ------
    ValueError
        If even the smallest network does not fit.
    """
    check_choice(kind, KINDS, "kind")
    target_bytes = raw_nbytes(shape, kind) / check_ratio(ratio)
    for n_blocks in (DEFAULT_BLOCKS, 1):
        n_params = int((target_bytes - _overhead_nbytes(n_blocks)) * 8 // (bits * ENTROPY_FACTOR))
        if n_params < 1:
            continue
        for tiles in _tilings(shape, max_tiles=max(1, batch_size // MIN_SAMPLES_PER_TILE)):
            first_w0 = FIRST_W0_PER_VOXEL * max(TileGrid(tuple(shape), tiles).length)
            config = widest_config(n_params, n_blocks=n_blocks, tiles=tiles, first_w0=first_w0)
            min_width = MIN_TILED_WIDTH if max(tiles) > 1 else MIN_BLOCK_WIDTH if n_blocks > 1 else MIN_WIDTH
            if config is not None and config.width >= min_width:
                return config
    highest = max_ratio(shape, kind=kind, bits=bits)
    raise ValueError(
        f"ratio {ratio:g} is too high for the neural field on a volume of shape {tuple(shape)}: the smallest network "
        f"needs {math.ceil(raw_nbytes(shape, kind) / highest)} bytes, so the ratio can be at most "
        f"{math.floor(highest * 100) / 100:g}"
    )


def check_ratio(ratio) -> float:
    """Return ``ratio`` as a float > 1 (raw size / file size)."""
    ratio = check_number(ratio, "ratio", minimum=0.0)
    if ratio <= 1.0:
        raise ValueError(f"ratio must be greater than 1 (raw size / compressed size); got {ratio:g}")
    return ratio


def _overhead_nbytes(n_blocks: int) -> int:
    """Bytes of a file besides its levels: container, payload header, each tensor's lo and step and a padding byte."""
    n_tensors = 2 * len(layer_shapes(SirenConfig(MIN_WIDTH, n_blocks)))
    return OVERHEAD_NBYTES + _PAYLOAD_HEADER.size + n_tensors * (_LEVELS.size + 1)


def max_ratio(shape, *, kind: str, bits: int = DEFAULT_BITS) -> float:
    """The highest ratio the neural field reaches on a volume of ``shape``: raw size / smallest file.

    The smallest network is untiled, :data:`MIN_WIDTH` wide with one residual
    block; its levels are counted at ``bits`` × :data:`ENTROPY_FACTOR` bits.

    Raises
    ------
    ValueError
        If ``kind`` is unknown or ``bits`` is not in 2 … 16.
    """
    bits = check_positive_int(bits, "bits", minimum=2, maximum=16)
    smallest = _overhead_nbytes(1) + n_parameters(SirenConfig(MIN_WIDTH, 1)) * bits * ENTROPY_FACTOR / 8
    return raw_nbytes(shape, kind) / smallest


def _tilings(shape, *, max_tiles: int) -> Iterator[tuple[int, int, int]]:
    """Candidate tilings, most tiles first: ``t`` per axis (fewer along short axes), down to one tile."""
    longest = max(1, min(MAX_TILES, max(shape) // MIN_TILE_EDGE))
    for per_axis in range(longest, 0, -1):
        tiles = tuple(max(1, min(per_axis, n // MIN_TILE_EDGE)) for n in shape)
        if math.prod(tiles) <= max_tiles or per_axis == 1:
            yield tiles


def packed_nbytes(config: SirenConfig, bits: int) -> int:
    """Size of a file holding ``config`` with packed levels (coding 0), container included."""
    sizes = [config.n_tiles * n for fan_in, fan_out in layer_shapes(config) for n in (fan_in * fan_out, fan_out)]
    return OVERHEAD_NBYTES + _PAYLOAD_HEADER.size + sum(_LEVELS.size + -(-size * bits // 8) for size in sizes)


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
    max_seconds: float | None = None,
    return_steps: bool = False,
):
    """Fit a :class:`SirenField` to ``values``, float32 ``(X, Y, Z)``.

    A scan's ``values`` are in ``[-1, 1]`` and fitted with the mean squared
    error; with ``binary`` they are 0/1 and the network's outputs are fitted as
    logits with the binary cross-entropy. ``lr`` defaults to :func:`default_lr`. Each step draws ``batch_size // T`` voxels uniformly in each of the ``T``
    tiles and takes one Adam step; the learning rate
    rises linearly over the first :data:`WARMUP_FRACTION` of the steps, then
    decays to zero along a cosine. With ``bits``, the last :data:`QAT_FRACTION`
    of the steps see the weights through the ``bits``-bit quantiser
    (straight-through gradients). ``seed`` fixes the initial weights and the samples.

    With ``max_seconds``, the first :data:`TIMING_STEPS` steps are timed and the
    schedule (decay and quantised steps) is shortened to the steps that fit in
    the time, never below :data:`MIN_STEPS`. ``progress(done, total)`` is called
    after each step. Returns the field, and with ``return_steps`` also the steps done.
    """
    device = select_device(device)
    if lr is None:
        lr = default_lr("binary" if binary else "scan", config)
    start = time.perf_counter()
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
    optimiser = torch.optim.Adam(field.parameters(), lr=lr, fused=True)  # fused: 8 % less time per step on a CPU
    plan = {"total": steps}
    warmup = max(1, round(WARMUP_FRACTION * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: warmup_cosine(step, warmup_steps=warmup, total_steps=plan["total"])
    )
    field.train()
    quantised = False
    step = 0
    while step < plan["total"]:
        if bits is not None and not quantised and step >= plan["total"] - round(QAT_FRACTION * plan["total"]):
            _set_fake_quantisation(field, bits)
            quantised = True
        uniform = torch.rand((config.n_tiles, per_tile, 3), generator=sampler, device=device)
        local_index = (uniform * extents[:, None, :]).long()
        prediction = field(grid.local_coordinates(local_index))
        loss = loss_function(prediction, target[grid.flat_index(local_index, origins)])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        step += 1
        if max_seconds is not None and step == TIMING_STEPS and not quantised:
            elapsed = time.perf_counter() - start
            affordable = int(step + (max_seconds - elapsed) / (elapsed / step) * 0.95)
            plan["total"] = max(min(plan["total"], affordable), min(MIN_STEPS, plan["total"]))
        if progress is not None:
            progress(step, plan["total"])
    if quantised:
        _set_fake_quantisation(field, None)
    field.eval()
    return (field, step) if return_steps else field


def seconds_per_step(config: SirenConfig, *, batch_size: int = DEFAULT_BATCH_SIZE, device="auto",
                     threads: int = DEFAULT_THREADS) -> float:
    """Wall-clock seconds of one fitting step of ``config`` here (the median of :data:`TIMING_STEPS` steps)."""
    device = select_device(device)
    per_tile = max(1, batch_size // config.n_tiles)
    with cpu_threads(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        field = SirenField(config).to(device)
        optimiser = torch.optim.Adam(field.parameters(), lr=1e-3)
        coords = torch.rand((config.n_tiles, per_tile, 3), device=device) * 2 - 1
        target = torch.zeros((config.n_tiles, per_tile), device=device)
        times = []
        for _ in range(TIMING_STEPS):
            start = time.perf_counter()
            loss = F.mse_loss(field(coords), target)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            times.append(time.perf_counter() - start)
    return float(np.median(times))


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
