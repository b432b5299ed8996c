"""A coordinate network for one volume: residual sine layers (SIREN), as neurcomp.

The network maps a coordinate ``(x, y, z)`` in ``[-1, 1]³`` to one value. As in
neurcomp (Lu et al. 2021) it is a sine layer, ``n_blocks`` residual blocks of two
sine layers each, and a linear output layer::

    h = sin(first_w0 · (W₀ x + b₀))
    h = a_out · (h + sin(w0 · (W₂ sin(w0 · (W₁ (a_in · h) + b₁)) + b₂)))   # each block
    y = W_out h + b_out

with ``a_in = 0.5`` for every block but the first and ``a_out = 0.5`` for the last
block only (neurcomp's averaging), and SIREN's initialisation: first layer
``U(-1/3, 1/3)``, the others ``U(-√(6/width)/w0, √(6/width)/w0)``.

The factors ω₀ are folded into the parameters: each layer computes
``sin(W x + b)`` with ``W`` and ``b`` initialised ω₀ times larger. The function
class is the same, and a training step skips two multiplications per layer
(a quarter of its CPU time); an optimiser's learning rate is then ω₀ times
larger than in the unfolded form.

Tiles. Unlike neurcomp, the volume may be split into ``tiles[0] × tiles[1] ×
tiles[2]`` equal boxes, each with its own network of the same shape; all tiles are
evaluated at once with batched matrix products. At a fixed parameter budget a
sample then costs ``1 / n_tiles`` of the arithmetic, which is what makes fitting
a 128³ volume on a CPU take minutes rather than an hour (neurcomp's weakness).
Each tile sees its own local coordinates in ``[-1, 1]³``; values are not forced to
match across tile faces.

Layout. Inputs are ``(T, B, 3)`` — ``T`` tiles in C order over ``tiles``, ``B``
coordinates per tile — and outputs ``(T, B)``. Every layer's weight is stored as
``(T, in, out)`` and its bias as ``(T, 1, out)``; :meth:`SirenField.layers` lists
them in the order used by the compressed file format.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from porelib._validate import check_number, check_positive_int

#: Default frequency factor of the sine layers (SIREN's ω₀).
DEFAULT_W0 = 30.0
#: Narrowest width accepted; below it a sine network cannot fit anything useful.
MIN_WIDTH = 4
#: Widest width accepted (stored as 16 bits in the compressed file format).
MAX_WIDTH = 4096
#: Most residual blocks, and most tiles along one axis (both stored as 8 bits).
MAX_BLOCKS = 64
MAX_TILES = 64


@dataclass(frozen=True)
class SirenConfig:
    """Hyperparameters of :class:`SirenField` (plain values, validated on creation).

    Attributes
    ----------
    width : int
        Features of every hidden layer, in [:data:`MIN_WIDTH`, :data:`MAX_WIDTH`].
    n_blocks : int
        Residual blocks (two sine layers each), in [1, :data:`MAX_BLOCKS`].
    tiles : tuple of 3 ints
        Boxes along x, y, z, each with its own network (see the module notes).
    w0 : float
        Frequency factor of the hidden sine layers.
    first_w0 : float
        Frequency factor of the first sine layer; higher fits finer detail.

    Raises
    ------
    ValueError, TypeError
        If a value is out of range or of the wrong type.
    """

    width: int
    n_blocks: int = 3
    tiles: tuple[int, int, int] = (1, 1, 1)
    w0: float = DEFAULT_W0
    first_w0: float = DEFAULT_W0

    def __post_init__(self):
        set_field = object.__setattr__  # frozen dataclass: normalise values once, here
        set_field(self, "width", check_positive_int(self.width, "width", minimum=MIN_WIDTH, maximum=MAX_WIDTH))
        set_field(self, "n_blocks", check_positive_int(self.n_blocks, "n_blocks", maximum=MAX_BLOCKS))
        set_field(self, "tiles", _check_tiles(self.tiles))
        set_field(self, "w0", check_number(self.w0, "w0", minimum=1e-3, maximum=1e4))
        set_field(self, "first_w0", check_number(self.first_w0, "first_w0", minimum=1e-3, maximum=1e4))

    @property
    def n_tiles(self) -> int:
        """Number of tiles, ``tiles[0] * tiles[1] * tiles[2]``."""
        return math.prod(self.tiles)

    def to_dict(self) -> dict:
        """The config as plain JSON-ready values."""
        values = asdict(self)
        values["tiles"] = list(self.tiles)
        return values


def _check_tiles(tiles) -> tuple[int, int, int]:
    if isinstance(tiles, (str, bytes)) or not hasattr(tiles, "__len__") or len(tiles) != 3:
        raise ValueError(f"tiles must be three positive integers (along x, y, z); got {tiles!r}")
    return tuple(check_positive_int(t, "tiles", maximum=MAX_TILES) for t in tiles)


def layer_shapes(config: SirenConfig) -> list[tuple[int, int]]:
    """Return ``(in_features, out_features)`` of every linear layer, first to last."""
    hidden = [(config.width, config.width)] * (2 * config.n_blocks)
    return [(3, config.width), *hidden, (config.width, 1)]


def n_parameters(config: SirenConfig) -> int:
    """Return the number of weights and biases of a :class:`SirenField` with ``config``."""
    return config.n_tiles * sum((fan_in + 1) * fan_out for fan_in, fan_out in layer_shapes(config))


def widest_config(n_params: int, *, n_blocks: int = 3, tiles=(1, 1, 1), **options) -> SirenConfig | None:
    """Return the widest config with at most ``n_params`` parameters, or ``None`` if none fits.

    ``options`` are the other :class:`SirenConfig` fields (``w0``, ``first_w0``).
    """
    n_params = check_positive_int(n_params, "n_params")
    tiles = _check_tiles(tiles)
    # Parameters per tile: 2·n_blocks·(w² + w) + 4w + w + 1, a quadratic in the width w.
    a, b, c = 2 * n_blocks, 2 * n_blocks + 5, 1 - n_params / math.prod(tiles)
    width = int((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)) if b * b - 4 * a * c >= 0 else 0
    while width >= MIN_WIDTH and n_parameters(SirenConfig(min(width, MAX_WIDTH), n_blocks, tiles)) > n_params:
        width -= 1  # guard against rounding of the square root
    if width < MIN_WIDTH:
        return None
    return SirenConfig(min(width, MAX_WIDTH), n_blocks, tiles, **options)


class TiledLinear(nn.Module):
    """``T`` independent linear layers: ``(T, B, in) -> (T, B, out)``.

    Weights start uniform in ``±weight_bound``, biases in ``±scale / √in``
    (``torch.nn.Linear``'s default times ``scale``).
    """

    def __init__(self, n_tiles: int, in_features: int, out_features: int, *, weight_bound: float, scale: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(
            torch.empty(n_tiles, in_features, out_features).uniform_(-weight_bound, weight_bound)
        )
        bias_bound = scale / math.sqrt(in_features)
        self.bias = nn.Parameter(torch.empty(n_tiles, 1, out_features).uniform_(-bias_bound, bias_bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class SirenField(nn.Module):
    """Residual sine network over tiles; see the module notes.

    Parameters
    ----------
    config : SirenConfig
        Its hyperparameters (already validated by the dataclass).

    Raises
    ------
    TypeError
        If ``config`` is not a :class:`SirenConfig`.
    """

    def __init__(self, config: SirenConfig):
        super().__init__()
        if not isinstance(config, SirenConfig):
            raise TypeError(f"config must be a SirenConfig; got {type(config).__name__}")
        self.config = config
        (first_in, _), *hidden_shapes, (last_in, _) = layer_shapes(config)
        hidden_bound = math.sqrt(6.0 / config.width)  # SIREN's √(6/width)/ω₀, times the folded ω₀
        n_tiles = config.n_tiles
        self.linears = nn.ModuleList(
            [
                TiledLinear(
                    n_tiles, first_in, config.width, weight_bound=config.first_w0 / first_in, scale=config.first_w0
                ),
                *(TiledLinear(n_tiles, *shape, weight_bound=hidden_bound, scale=config.w0) for shape in hidden_shapes),
                TiledLinear(n_tiles, last_in, 1, weight_bound=hidden_bound / config.w0),
            ]
        )

    def layers(self) -> list[torch.Tensor]:
        """Every parameter tensor in file order: weight then bias of each layer, first to last."""
        return [tensor for linear in self.linears for tensor in (linear.weight, linear.bias)]

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map ``(T, B, 3)`` local coordinates in ``[-1, 1]`` to ``(T, B)`` values."""
        first, *hidden, last = self.linears
        h = torch.sin(first(coords))
        n_blocks = self.config.n_blocks
        for k in range(n_blocks):
            inner = torch.sin(hidden[2 * k](h if k == 0 else 0.5 * h))
            h = h + torch.sin(hidden[2 * k + 1](inner))
            if k == n_blocks - 1:
                h = 0.5 * h
        return last(h).squeeze(-1)
