"""A tiny U-Net that predicts the noise eps in x_t, for 28x28 MNIST.

    eps_hat = model(x_t, t, labels)

Shapes (B = batch):
    x_t     (B, 1, 28, 28)  noisy images
    t       (B,)            integer timesteps in [0, T-1] (see schedules.py); for a flow-matching
                            model (``continuous_time``), floats in [0, 1] (see flow.py)
    labels  (B,) or None    digits 0..9, or NULL_LABEL (= num_classes) for "no label";
                            only for class-conditional models
    eps_hat (B, 1, 28, 28)

Inside, with the CPU preset (base_channels=16, channel_mults=(1, 2, 2)):
    stem          (B, 16, 28, 28)
    down level 0  (B, 16, 28, 28) -> skip, then stride-2 conv -> (B, 16, 14, 14)
    down level 1  (B, 32, 14, 14) -> skip, then stride-2 conv -> (B, 32, 7, 7)
    down level 2  (B, 32, 7, 7)   -> skip
    middle        (B, 32, 7, 7)   residual block, self-attention over the 49 positions, residual block
    up level 2    concat skip -> (B, 32, 7, 7), upsample -> (B, 32, 14, 14)
    up level 1    concat skip -> (B, 32, 14, 14), upsample -> (B, 32, 28, 28)
    up level 0    concat skip -> (B, 16, 28, 28)
    out           (B, 1, 28, 28)

The timestep enters every residual block through a sinusoidal embedding
(Vaswani et al. 2017, as used by Ho et al. 2020) and a small MLP; a class
label, when the model has them, is embedded and added to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .checkpoints import StoredConfig
from .validation import check_finite, check_labels, float_images, real_number, weights_are_finite, whole_number, whole_numbers


@dataclass(frozen=True)
class UNetConfig(StoredConfig):
    """Architecture of :class:`TinyUNet`. Every setting is named here once."""

    image_channels: int = 1
    image_size: int = 28
    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1  # residual blocks per level on the way down (and up)
    time_embedding_dim: int = 128
    num_classes: int | None = None  # None: unconditional; 10: digits, with a null label 10
    attention: bool = True  # self-attention in the middle (7x7)
    dropout: float = 0.0
    groups: int = 8  # GroupNorm groups
    continuous_time: bool = False  # False: t is a step index 0..T-1 (DDPM); True: t is a float in [0, 1] (flow matching)

    def __post_init__(self):
        for name in ("image_channels", "image_size", "base_channels", "num_res_blocks", "time_embedding_dim", "groups"):
            whole_number(getattr(self, name), f"UNetConfig.{name}", low=1)
        whole_numbers(self.channel_mults, "UNetConfig.channel_mults", example="(1, 2, 2)")
        if self.num_classes is not None:
            whole_number(self.num_classes, "UNetConfig.num_classes", low=1, why=" (or None: unconditional)")
        if self.time_embedding_dim % 2:
            raise ValueError(f"UNetConfig.time_embedding_dim must be even (sines and cosines), got {self.time_embedding_dim}")
        real_number(self.dropout, "UNetConfig.dropout", low=0, high=1)
        widths = sorted({self.base_channels * m for m in self.channel_mults})
        if any(w % self.groups for w in widths):
            raise ValueError(f"UNetConfig.groups ({self.groups}) must divide every level's channel count {widths}: "
                             "GroupNorm splits the channels into equal groups")
        if self.image_size % 2 ** (len(self.channel_mults) - 1):
            raise ValueError(f"UNetConfig.image_size ({self.image_size}) must be divisible by 2 for every downsampling "
                             f"level ({len(self.channel_mults) - 1} of them)")


# Presets: "cpu" trains at batch 128 in a fraction of a second per step on a
# 2-core laptop; "gpu" is wider for better samples where a GPU is available.
MODEL_PRESETS: dict[str, UNetConfig] = {
    "cpu": UNetConfig(),
    "gpu": UNetConfig(base_channels=64, channel_mults=(1, 2, 2), num_res_blocks=2, time_embedding_dim=256, groups=32),
}
# A continuous time t in [0, 1] is embedded as CONTINUOUS_TIME_SCALE * t, so that it spans the same range of
# angles as the step index 0..T-1 of a DDPM with T = 1000 (the frequencies of the embedding suit that range).
CONTINUOUS_TIME_SCALE = 1000.0


def sinusoidal_timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Embed integer timesteps as sines and cosines of geometrically spaced frequencies.

    ``t`` (B,) -> (B, dim). Half the features are ``sin(t * w_i)`` and half
    ``cos(t * w_i)``, with ``w_i = max_period ** (-i / (dim/2))`` for i = 0..dim/2-1
    (the Transformer's position encoding, Vaswani et al. 2017, Sec. 3.5).
    """
    if dim % 2:
        raise ValueError(f"embedding dim must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the time(+label) embedding added in between, plus a skip."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]  # (B, out_ch, 1, 1) broadcast over H, W
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class Upsample2x(nn.Module):
    """Nearest-neighbour 2x upsampling, (B, C, H, W) -> (B, C, 2H, 2W).

    Written with expand/reshape because it is several times faster on the CPU
    than ``nn.Upsample(mode="nearest")`` and gives the same result.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


class SelfAttention(nn.Module):
    """Single-head self-attention over the H*W positions of a small feature map."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)  # each (B, C, HW)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return x + self.proj(out.transpose(1, 2).reshape(b, c, h, w))


class TinyUNet(nn.Module):
    """eps-prediction U-Net; see the module docstring for shapes."""

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or UNetConfig()
        emb_dim = cfg.time_embedding_dim * 4
        self.time_mlp = nn.Sequential(
            nn.Linear(cfg.time_embedding_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        # Label embedding: row num_classes is the null label used for classifier-free guidance.
        self.label_embedding = nn.Embedding(cfg.num_classes + 1, emb_dim) if cfg.num_classes else None

        chans = [cfg.base_channels * m for m in cfg.channel_mults]
        block = lambda i, o: ResBlock(i, o, emb_dim, cfg.groups, cfg.dropout)  # noqa: E731
        self.stem = nn.Conv2d(cfg.image_channels, chans[0], 3, padding=1)

        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        ch = chans[0]
        for level, out_ch in enumerate(chans):
            blocks = []
            for _ in range(cfg.num_res_blocks):
                blocks.append(block(ch, out_ch))
                ch = out_ch
            self.down.append(nn.ModuleList(blocks))
            last = level == len(chans) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1))

        self.mid1 = block(ch, ch)
        self.mid_attn = SelfAttention(ch, cfg.groups) if cfg.attention else nn.Identity()
        self.mid2 = block(ch, ch)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(len(chans))):
            out_ch = chans[level]
            blocks = [block(ch + chans[level], out_ch)]
            blocks += [block(out_ch, out_ch) for _ in range(cfg.num_res_blocks - 1)]
            ch = out_ch
            self.up.append(nn.ModuleList(blocks))
            first = level == 0
            self.upsample.append(
                nn.Identity()
                if first
                else nn.Sequential(Upsample2x(), nn.Conv2d(ch, ch, 3, padding=1))
            )

        self.out_norm = nn.GroupNorm(cfg.groups, ch)
        self.out_conv = nn.Conv2d(ch, cfg.image_channels, 3, padding=1)

    @property
    def null_label(self) -> int | None:
        """The label index meaning "no label" (= num_classes), or None for unconditional models."""
        return self.config.num_classes

    @property
    def is_conditional(self) -> bool:
        return self.label_embedding is not None

    def _check_times(self, t, x: torch.Tensor) -> torch.Tensor:
        """``t`` as a (B,) tensor on x's device: step indices 0 … T-1, or flow times in [0, 1] (``continuous_time``)."""
        if not isinstance(t, (torch.Tensor, int, float)) or isinstance(t, bool):
            raise ValueError(f"t must be a tensor of shape (B,) or one number, got {type(t).__name__}")
        t = torch.as_tensor(t, device=x.device)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must have shape ({x.shape[0]},), one time per image, or be one number, got {tuple(t.shape)}")
        if not bool(torch.isfinite(t.float()).all()):
            raise ValueError("t contains NaN or infinity")
        if not self.config.continuous_time and t.is_floating_point() and bool((t != t.round()).any()):
            raise ValueError("t must hold whole step indices 0 … T-1 for this model (a DDPM), got fractions; flow "
                             "times in [0, 1] are for a model with continuous_time=True")
        return t

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        x = float_images(x, "the images x_t", dtype=self.stem.weight.dtype, dims=None)  # float64, half, ...: converted
        if x.dim() != 4 or x.shape[1:] != (cfg.image_channels, cfg.image_size, cfg.image_size):
            raise ValueError(
                f"expected images of shape (B, {cfg.image_channels}, {cfg.image_size}, {cfg.image_size}), "
                f"got {tuple(x.shape)}"
            )
        if not bool(torch.isfinite(x).all()):
            weights_are_finite(self, "the model")  # NaN weights make NaN images: name the weights first
            check_finite(x, "the images x_t", "check the noise or inputs they were made from")
        t = self._check_times(t, x)
        if cfg.continuous_time:
            t = t.float() * CONTINUOUS_TIME_SCALE
        emb = self.time_mlp(sinusoidal_timestep_embedding(t, cfg.time_embedding_dim))  # (B, 4*D)
        if self.label_embedding is not None:
            if labels is None:  # no label given: the null label, i.e. the unconditional model
                labels = torch.full((x.shape[0],), cfg.num_classes, device=x.device, dtype=torch.long)
            if isinstance(labels, int) or (isinstance(labels, torch.Tensor) and labels.dim() == 0):
                labels = torch.as_tensor(labels).expand(x.shape[0])  # one label for the whole batch
            emb = emb + self.label_embedding(check_labels(labels, x.shape[0], cfg.num_classes, null_label=True,
                                                          device=x.device))
        elif labels is not None:
            raise ValueError("this model is unconditional: call it without labels, or load a class-conditional one")

        h = self.stem(x)
        skips = []
        for blocks, down in zip(self.down, self.downsample):
            for blk in blocks:
                h = blk(h, emb)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for blocks, up in zip(self.up, self.upsample):
            h = torch.cat([h, skips.pop()], dim=1)
            for blk in blocks:
                h = blk(h, emb)
            h = up(h)
        return self.out_conv(F.silu(self.out_norm(h)))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
