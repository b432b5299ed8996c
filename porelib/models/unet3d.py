"""A small 3D U-Net that segments CT volumes, and its Dice + BCE loss.

The network maps a normalised intensity volume ``(N, 1, D, H, W)`` to logits
``(N, out_channels, D, H, W)`` of the inclusion phase (apply a sigmoid for
probabilities). Each level holds two 3×3×3 convolutions with normalisation
and ReLU; the encoder halves the resolution with max-pooling, the decoder
doubles it (1×1×1 convolution, then nearest-neighbour upsampling: on CPU a
transposed convolution is several times slower) and concatenates the skip
features.
Inputs whose sides are not multiples of ``2 ** (levels - 1)`` are padded
(replicate) inside :meth:`UNet3D.forward` and the output is cropped back, so any
size works. The default ``channels=(8, 16, 32, 64)`` has about 330 000
parameters; four levels give a receptive field of about 90 voxels, and keeping the
full-resolution level narrow makes CPU inference about twice as fast as
``(16, 32, 64)`` with the same parameter count (a 256³ volume: ~36 CPU-seconds
against ~64 on this machine's cores).

Input convention and threshold skip (both off by default, as in the first checkpoints).
``input_contrast="bright"`` declares that the network was trained on inputs whose
inclusions are brighter than the matrix; :func:`porelib.segmentation.unet_input`
then inverts dark scans (``1 - x``) before the network sees them, so one network does
not have to decide locally whether a dark region is a pore or a dim matrix corner.
``threshold_skip=g`` (> 0) adds a learnable threshold of the input to the logits,

    ``logits = head(features) + gain * (x - offset)``,  ``gain = g``, ``offset = 0.5`` at the start,

with ``x`` the input's first channel, and starts the head at zero: the untrained
network is a threshold of the normalised intensity at mid-range (nearly Otsu's on a
clean scan) and the convolutions learn only the correction (noise, artefacts,
partial-volume edges). The skip bypasses the normalisation layers, whose statistics
depend on the window's content, so the boundary of a sphere does not move with the
volume fraction around it.

The checkpoint of a trained model is its :class:`UNet3DConfig` (as a dict, in
the card) plus the weights (safetensors): ``UNet3D(UNet3DConfig(**card["config"]))``
rebuilds it; a card written before a field existed gets that field's default, the
behaviour it was trained with.
"""

from __future__ import annotations

import itertools
import numbers
from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import nn

from porelib._validate import check_number
from porelib.losses import soft_dice
from porelib.options import check_options, option, options_class

NORMS = ("group", "instance")
MAX_DROPOUT = 0.9

#: Input conventions of :attr:`UNet3DConfig.input_contrast`.
INPUT_CONTRASTS = ("any", "bright")

#: Initial offset of the threshold skip: mid-range of the normalised intensities.
SKIP_OFFSET = 0.5


@options_class
class UNet3DConfig:
    """Hyperparameters of :class:`UNet3D` (plain values, so they fit in a JSON card)."""

    in_channels: int = option(1, "Channels of the input volume.")
    out_channels: int = option(1, "Channels of the output logits.")
    channels: tuple[int, ...] = option(
        (8, 16, 32, 64),
        "Feature channels per level, finest first; `len(channels)` levels.",
    )
    norm: str = option("group", "GroupNorm (`groups` groups) or InstanceNorm (affine).", choices=NORMS)
    groups: int = option(4, "Groups of GroupNorm; must divide every entry of `channels`.")
    dropout: float = option(0.0, "Dropout probability after each block, in [0, `MAX_DROPOUT`].")
    input_contrast: str = option(
        "any",
        choices=INPUT_CONTRASTS,
        help="What the input looks like (module notes): `\"any\"`, scans of either contrast as they are; `\"bright\"`, "
        "inclusions brighter than the matrix (callers invert dark scans).",
    )
    threshold_skip: float = option(
        0.0,
        "Initial gain of the threshold skip, in logits per unit of normalised intensity (module notes); 0 = no "
        "skip. Needs `input_contrast=\"bright\"`: one threshold cannot serve both contrasts.",
    )

    def __post_init__(self):
        if isinstance(self.channels, list):  # a config read back from JSON
            self.channels = tuple(self.channels)
        check_options(self)
        _check_config(self)

    def to_dict(self) -> dict:
        """The config as plain JSON-ready values."""
        values = asdict(self)
        values["channels"] = list(self.channels)
        return values


class UNet3D(nn.Module):
    """3D U-Net returning logits; see the module notes for the layout.

    Parameters
    ----------
    config : UNet3DConfig
        Its values are checked together here.

    Raises
    ------
    TypeError
        If ``config`` is not a :class:`UNet3DConfig`.
    ValueError
        If the hyperparameters do not fit together (fewer than two levels,
        non-positive channels, groups not dividing the channels, ...).
    """

    def __init__(self, config: UNet3DConfig):
        super().__init__()
        _check_config(config)
        self.config = config
        channels = config.channels
        self.encoders = nn.ModuleList()
        previous = config.in_channels
        for width in channels:
            self.encoders.append(_ConvBlock(previous, width, config))
            previous = width
        self.upsamplers = nn.ModuleList(
            nn.Conv3d(coarse, fine, kernel_size=1) for fine, coarse in itertools.pairwise(channels)
        )
        self.decoders = nn.ModuleList(_ConvBlock(2 * width, width, config) for width in channels[:-1])
        self.head = nn.Conv3d(channels[0], config.out_channels, kernel_size=1)
        if config.threshold_skip > 0:
            self.skip_gain = nn.Parameter(torch.tensor(float(config.threshold_skip)))
            self.skip_offset = nn.Parameter(torch.tensor(SKIP_OFFSET))
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def multiple(self) -> int:
        """Input sides are padded internally to a multiple of this (``2 ** (levels - 1)``)."""
        return 2 ** (len(self.config.channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, in_channels, D, H, W)`` to logits ``(N, out_channels, D, H, W)``."""
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"input must have shape (N, {self.config.in_channels}, D, H, W); got {tuple(x.shape)}")
        sides = x.shape[2:]
        padding = [p for side in reversed(sides) for p in (0, -side % self.multiple)]
        if any(padding):
            x = F.pad(x, padding, mode="replicate")
        intensity = x[:, :1]
        skips = []
        for level, encoder in enumerate(self.encoders):
            x = encoder(x if level == 0 else F.max_pool3d(x, 2))
            skips.append(x)
        for level in reversed(range(len(self.decoders))):
            upsampled = F.interpolate(self.upsamplers[level](x), scale_factor=2, mode="nearest")
            x = self.decoders[level](torch.cat([skips[level], upsampled], dim=1))
        logits = self.head(x)
        if self.config.threshold_skip > 0:  # in the input's precision (float32), not autocast's
            logits = logits + self.skip_gain * (intensity.float() - self.skip_offset)
        return logits[..., : sides[0], : sides[1], : sides[2]]


class _ConvBlock(nn.Sequential):
    """Two (3×3×3 convolution, normalisation, ReLU), then optional dropout."""

    def __init__(self, in_channels: int, out_channels: int, config: UNet3DConfig):
        layers = []
        for source in (in_channels, out_channels):
            layers += [
                nn.Conv3d(source, out_channels, kernel_size=3, padding=1, bias=False),
                _norm(out_channels, config),
                nn.ReLU(inplace=True),
            ]
        if config.dropout > 0:
            layers.append(nn.Dropout3d(config.dropout))
        super().__init__(*layers)


def _norm(channels: int, config: UNet3DConfig) -> nn.Module:
    if config.norm == "group":
        return nn.GroupNorm(config.groups, channels)
    return nn.InstanceNorm3d(channels, affine=True)


def _check_config(config) -> None:
    """Raise if the hyperparameters of ``config`` do not fit together."""
    if not isinstance(config, UNet3DConfig):
        raise TypeError(f"config must be a UNet3DConfig; got {type(config).__name__}")
    for name in ("in_channels", "out_channels", "groups"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    channels = config.channels
    if (
        not isinstance(channels, tuple)
        or len(channels) < 2
        or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) and c >= 1 for c in channels)
    ):
        raise ValueError(
            f"channels must be a tuple of at least two positive integers (one per level); got {channels!r}"
        )
    if config.norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {config.norm!r}")
    if config.norm == "group" and any(c % config.groups for c in channels):
        raise ValueError(f"groups ({config.groups}) must divide every entry of channels {channels}")
    check_number(config.dropout, "dropout", minimum=0.0, maximum=MAX_DROPOUT)
    if config.input_contrast not in INPUT_CONTRASTS:
        raise ValueError(f"input_contrast must be one of {', '.join(INPUT_CONTRASTS)}; got {config.input_contrast!r}")
    check_number(config.threshold_skip, "threshold_skip", minimum=0.0)
    if config.threshold_skip > 0 and config.input_contrast != "bright":
        raise ValueError(
            "threshold_skip needs input_contrast='bright' (one threshold cannot serve both contrasts); "
            f"got input_contrast={config.input_contrast!r}"
        )


def dice_bce_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    dice_weight: float = 1.0,
    bce_weight: float = 1.0,
    smooth: float = 1.0,
) -> torch.Tensor:
    """Binary cross-entropy on logits plus soft Dice loss, as one scalar.

    ``bce_weight * BCE(logits, target) + dice_weight * (1 - soft Dice)``, the
    soft Dice ``(2 Σ p t + smooth) / (Σ p + Σ t + smooth)``
    (:func:`porelib.losses.soft_dice`) with ``p = sigmoid(logits)`` computed
    per sample and averaged over the batch. BCE gives every voxel a
    well-scaled gradient; Dice keeps the minority inclusion phase from being
    outweighed by the matrix.

    Parameters
    ----------
    logits : Tensor, shape (N, C, D, H, W)
        Raw network outputs (no sigmoid applied).
    target : Tensor, same shape
        0/1 labels (float or bool).

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    if logits.shape != target.shape:
        raise ValueError(
            f"logits and target must have the same shape; got {tuple(logits.shape)} and {tuple(target.shape)}"
        )
    target = target.to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, target)
    dice = soft_dice(torch.sigmoid(logits), target, smooth=smooth)
    return bce_weight * bce + dice_weight * (1 - dice).mean()
