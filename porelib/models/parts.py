"""Part from a picture (seed 004): a 2-D encoder and a 3-D transposed-convolution decoder to occupancy.

Input: ``views`` pictures of a part rendered by the convention of :mod:`porelib.parts.render`
(view ``k`` from ``VIEW_DIRECTIONS[k]``), as ``(N, V, C, P, P)`` float32 from
:func:`porelib.parts.render.network_input`: channel 0 is ``1 - grey`` (background 0),
channel 1 (``channels="grey+edges"``) the Canny edges. Output: logits ``(N, S, S, S)`` of "this voxel is
inside the part", in the voxel space of :mod:`porelib.parts.voxels` (longest side spans the
grid, centred, z up).

Layout (``w`` = ``width``; P = 128, S = 32 by default):

* **Encoder (2-D, shared by the views).** A stride-2 stem, then stages of a stride-2 3×3
  convolution and a residual block, channels ``w, 2w, 4w, 4w, ...`` down to a 4×4 map,
  trained from scratch (no pretrained weights can be downloaded here: the seed's ResNet50 is
  not available). The 4×4 maps of all views are flattened, concatenated and mapped to a
  global code of ``latent`` numbers.
* **Decoder (3-D).** The code is mapped to ``2w`` channels at 4³ (``2w`` up to 16³, ``w`` above) and doubled in resolution by
  transposed convolutions (kernel 4, stride 2) up to S³, as in the seed. At each
  resolution ``r`` the decoder also receives the encoder's features **along the lines of
  sight**: every voxel centre is projected into each picture with the convention's camera
  (:func:`porelib.parts.render.project`, a fixed orthographic map) and the encoder map of
  about ``2 r`` pixels is sampled there (bilinear ``grid_sample``), averaged over the views,
  joined with the voxel's coordinates and added through a 1×1×1 convolution. The network thus
  knows which pixels each voxel is seen through; what it learns is the depth.
  Residual 3×3×3 blocks refine each level below S³; the last level is mixed per voxel.

The sampling grids are buffers computed from the config (not stored in the checkpoint), so
a checkpoint is the config plus the weights (:mod:`porelib.checkpoint`).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from porelib._validate import check_positive_int
from porelib.options import check_options, option, options_class

#: What the network may see of a picture (:attr:`PartReconstructorConfig.channels`).
CHANNELS = ("grey+edges", "grey")


@options_class
class PartReconstructorConfig:
    """Hyperparameters of :class:`PartReconstructor` (plain values, so they fit in a JSON card)."""

    size: int = option(32, "Edge length S of the occupancy grid, in voxels: 16, 32, 64 or 128.")
    pixels: int = option(128, "Side of the input pictures, in pixels: 64, 128 or 256.")
    views: int = option(1, "Pictures per part, from views 0 … views-1 of the convention's camera directions (1: one picture).")
    channels: str = option(
        "grey+edges", choices=CHANNELS,
        help="What the network sees of each picture: `grey+edges` adds the Canny edges as a second channel (the "
             "seed's preprocessing); `grey` is the picture alone.",
    )
    width: int = option(16, "Channels of the first encoder stage; the stages double them up to `4 * width`.")
    latent: int = option(128, "Length of the global code between the encoder and the decoder.")
    groups: int = option(8, "GroupNorm groups; must divide `width`.")

    def __post_init__(self):
        check_options(self)
        if self.size not in (16, 32, 64, 128):
            raise ValueError(f"PartReconstructorConfig.size must be 16, 32, 64 or 128; got {self.size}")
        if self.pixels not in (64, 128, 256):
            raise ValueError(f"PartReconstructorConfig.pixels must be 64, 128 or 256; got {self.pixels}")
        from porelib.parts.render import VIEW_DIRECTIONS

        check_positive_int(self.views, "PartReconstructorConfig.views", maximum=len(VIEW_DIRECTIONS))
        check_positive_int(self.width, "PartReconstructorConfig.width", minimum=4, maximum=256)
        check_positive_int(self.latent, "PartReconstructorConfig.latent", minimum=8, maximum=4096)
        check_positive_int(self.groups, "PartReconstructorConfig.groups", maximum=256)
        if self.width % self.groups:
            raise ValueError(f"PartReconstructorConfig.groups must divide width; got groups={self.groups}, "
                             f"width={self.width}")

    @property
    def edges(self) -> bool:
        """Whether the Canny edges are the second input channel."""
        return self.channels == "grey+edges"

    @property
    def in_channels(self) -> int:
        """Input channels per picture: grey, and the edges if :attr:`edges`."""
        return 2 if self.edges else 1

    def to_dict(self) -> dict:
        """The config as plain JSON-ready values."""
        return asdict(self)


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(groups, channels), channels)


class _Res2d(nn.Module):
    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), _norm(channels, groups), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), _norm(channels, groups),
        )

    def forward(self, x):
        return F.relu(x + self.body(x))


class _Res3d(nn.Module):
    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(channels, channels, 3, padding=1, bias=False), _norm(channels, groups), nn.ReLU(inplace=True),
            nn.Conv3d(channels, channels, 3, padding=1, bias=False), _norm(channels, groups),
        )

    def forward(self, x):
        return F.relu(x + self.body(x))


def _down(cin: int, cout: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), _norm(cout, groups),
                         nn.ReLU(inplace=True), _Res2d(cout, groups))


def _up(cin: int, cout: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose3d(cin, cout, 4, stride=2, padding=1, bias=False), _norm(cout, groups),
                         nn.ReLU(inplace=True))


def sight_grid(resolution: int, view: int) -> torch.Tensor:
    """Where each voxel centre of a ``resolution``³ grid falls in a picture of ``view``.

    Returns ``(1, r, r * r, 2)`` float32 picture coordinates for ``grid_sample``
    (``align_corners=False``), voxels in ``grid[ix, iy, iz]`` order (row = ix, column = iy·r + iz).
    """
    from porelib.parts.render import project
    from porelib.parts.voxels import voxel_centres

    uv = project(voxel_centres(resolution), view)
    return torch.from_numpy(uv.reshape(1, resolution, resolution * resolution, 2).astype(np.float32))


class PartReconstructor(nn.Module):
    """Pictures of a part by the convention → occupancy logits; see the module notes.

    Parameters
    ----------
    config : PartReconstructorConfig

    Raises
    ------
    TypeError
        If ``config`` is not a :class:`PartReconstructorConfig`.
    """

    def __init__(self, config: PartReconstructorConfig):
        super().__init__()
        if not isinstance(config, PartReconstructorConfig):
            raise TypeError(f"config must be a PartReconstructorConfig; got {type(config).__name__}")
        self.config = config
        w, g = config.width, config.groups
        # Encoder: P -> P/2 (stem) -> P/4 -> ... -> 4
        self.stem = nn.Sequential(nn.Conv2d(config.in_channels, w, 3, stride=2, padding=1, bias=False), _norm(w, g),
                                  nn.ReLU(inplace=True))
        self.encoder_channels = [w]
        stages, side = [], config.pixels // 2
        while side > 4:
            cin = self.encoder_channels[-1]
            cout = min(4 * w, 2 * cin)
            stages.append(_down(cin, cout, g))
            self.encoder_channels.append(cout)
            side //= 2
        self.stages = nn.ModuleList(stages)
        top = self.encoder_channels[-1]
        self.to_code = nn.Sequential(nn.Linear(config.views * top * 16, config.latent), nn.ReLU(inplace=True))
        # Decoder: 4^3 -> ... -> S^3
        self.levels = [4 * 2**k for k in range(int(np.log2(config.size // 4)) + 1)]
        self.decoder_channels = [2 * w if r <= 16 else w for r in self.levels]
        self.from_code = nn.Linear(config.latent, self.decoder_channels[0] * 64)
        self.ups = nn.ModuleList(_up(cin, cout, g) for cin, cout in zip(self.decoder_channels, self.decoder_channels[1:]))
        self.fuse = nn.ModuleList(
            nn.Conv3d(self._encoder_channels_at(r) + 3, c, 1) for r, c in zip(self.levels, self.decoder_channels)
        )
        self.refine = nn.ModuleList(_Res3d(c, g) for c in self.decoder_channels[:-1])
        last = self.decoder_channels[-1]
        self.head = nn.Sequential(nn.Conv3d(last, last, 1), nn.ReLU(inplace=True), nn.Conv3d(last, 1, 1))
        for r in self.levels:
            grids = torch.cat([sight_grid(r, view) for view in range(config.views)])
            self.register_buffer(f"sight_{r}", grids, persistent=False)
            axis = (torch.arange(r, dtype=torch.float32) + 0.5) / r - 0.5
            coords = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"))[None]
            self.register_buffer(f"coords_{r}", coords, persistent=False)

    def _encoder_index_at(self, resolution: int) -> int:
        """The encoder map sampled at decoder resolution ``r``: the one of about ``2 r`` pixels (index into maps)."""
        sides = [self.config.pixels // 2 ** (k + 1) for k in range(len(self.encoder_channels))]
        target = 2 * resolution
        return int(np.argmin([abs(np.log2(side / target)) for side in sides]))

    def _encoder_channels_at(self, resolution: int) -> int:
        return self.encoder_channels[self._encoder_index_at(resolution)]

    def encode(self, pictures: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The global code ``(N, latent)`` and the encoder maps ``[(N, V, C_k, H_k, W_k)]`` of pictures ``(N, V, C, P, P)``.

        Raises
        ------
        ValueError
            If the pictures do not have the config's views, channels and size.
        """
        config = self.config
        expected = (config.views, config.in_channels, config.pixels, config.pixels)
        if pictures.ndim != 5 or tuple(pictures.shape[1:]) != expected:
            raise ValueError(f"pictures must be (N, {', '.join(map(str, expected))}) (N, views, channels, pixels, "
                             f"pixels); got {tuple(pictures.shape)}")
        n = pictures.shape[0]
        x = self.stem(pictures.flatten(0, 1))
        maps = [x]
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        code = self.to_code(x.reshape(n, -1))
        return code, [m.unflatten(0, (n, config.views)) for m in maps]

    def _sight_features(self, maps: list[torch.Tensor], resolution: int) -> torch.Tensor:
        """Encoder features along each voxel's lines of sight, averaged over the views: ``(N, C + 3, r, r, r)``."""
        feature = maps[self._encoder_index_at(resolution)]
        n, views = feature.shape[:2]
        grid = getattr(self, f"sight_{resolution}").to(feature.dtype)  # (V, r, r*r, 2)
        sampled = F.grid_sample(feature.flatten(0, 1), grid.repeat(n, 1, 1, 1), mode="bilinear",
                                padding_mode="zeros", align_corners=False)  # (N*V, C, r, r*r)
        sampled = sampled.unflatten(0, (n, views)).mean(1).unflatten(-1, (resolution, resolution))
        coords = getattr(self, f"coords_{resolution}").to(feature.dtype).expand(n, -1, -1, -1, -1)
        return torch.cat([sampled, coords], dim=1)

    def forward(self, pictures: torch.Tensor) -> torch.Tensor:
        """Occupancy logits ``(N, S, S, S)`` of pictures ``(N, V, C, P, P)``."""
        code, maps = self.encode(pictures)
        x = self.from_code(code).view(len(code), self.decoder_channels[0], 4, 4, 4)
        for k, resolution in enumerate(self.levels):
            if k:
                x = self.ups[k - 1](x)
            x = x + self.fuse[k](self._sight_features(maps, resolution))
            if k < len(self.refine):
                x = self.refine[k](x)
        return self.head(x)[:, 0]

    @torch.no_grad()
    def embed(self, pictures: torch.Tensor) -> torch.Tensor:
        """The global code ``(N, latent)`` of pictures ``(N, V, C, P, P)`` (the retrieval baseline's embedding)."""
        return self.encode(pictures)[0]


__all__ = ["CHANNELS", "PartReconstructor", "PartReconstructorConfig", "sight_grid"]
