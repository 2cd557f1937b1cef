"""The noise-prediction network eps_theta(x_t, t [, label, context]): the SimpleUNet of Table 1.

Taught in ``notebooks/03_simple_unet.ipynb`` (cross-attention in ``06_conditioning_and_guidance``).

Table 1 at ``base_channels=64`` on 1x32x32 input (C x H x W after each block):

=========== ================================ ============ =============
block       operation                        in           out
=========== ================================ ============ =============
input       Conv2d 3x3                       1 x 32       64 x 32
down1       ResBlock + Downsample            64 x 32      128 x 16
down2       ResBlock + Downsample            128 x 16     256 x 8
down3       ResBlock + Downsample            256 x 8      512 x 4
bottleneck  ResBlock + SelfAttention         512 x 4      512 x 4
up1         Upsample + Concat + ResBlock     512 x 4      256 x 8
up2         Upsample + Concat + ResBlock     256 x 8      128 x 16
up3         Upsample + Concat + ResBlock     128 x 16     64 x 32
output      GroupNorm, SiLU, Conv2d 3x3      64 x 32      1 x 32
=========== ================================ ============ =============

Skip connections: each down block hands its ResBlock output (before downsampling, so at full
resolution) to the up block that works at that resolution. An up block upsamples, concatenates
that skip, and only then runs its ResBlock, whose input thus has twice the channels of Table 1's
note (1024, 512, 256). The skip at 32x32 is what lets the network predict per-pixel noise.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


class SinusoidalPositionEmbeddings(nn.Module):
    """Transformer-style embedding of the time step: PE(t, 2i) = sin(t / 10000^(2i/d)), PE(t, 2i+1) = cos(...),
    the sines in the first half of the vector, the cosines in the second. t: (B,) -> (B, dim) float32."""

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if dim < 4 or dim % 2:
            raise ValueError(f"embedding dim must be an even number >= 4, got {dim}")
        self.dim = dim
        self.base = base

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(self.base) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = t.float()[:, None] * freqs[None, :]
        return torch.cat([args.sin(), args.cos()], dim=-1)


class ResidualBlock(nn.Module):
    """Conv residual block whose second GroupNorm is modulated by the time embedding (AdaGN).

    h = Conv(SiLU(GN(x))); h = GN(h) * (1 + scale(emb)) + shift(emb); h = Conv(Dropout(SiLU(h)));
    out = h + skip(x), where skip is a 1x1 conv when channels change. x: (B, C_in, H, W),
    emb: (B, emb_dim) -> (B, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, groups: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        for c in (in_channels, out_channels):
            if c % groups:
                raise ValueError(f"GroupNorm needs channels divisible by groups: {c} channels, {groups} groups")
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, 2 * out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb_proj(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        out: torch.Tensor = h + self.skip(x)
        return out


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, C) -> (B, heads, L, C / heads)."""
    b, n, c = x.shape
    return x.reshape(b, n, heads, c // heads).transpose(1, 2)


class CrossAttention(nn.Module):
    """Multi-head attention from image positions (queries) to a context (B, L, context_dim), or to the H*W positions
    themselves when context is None: x (B, C, H, W) -> x + proj(attention). ``store_weights`` keeps the weights
    (B, heads, H*W, L) in ``last_weights``."""

    def __init__(self, channels: int, context_dim: int | None = None, heads: int = 4, groups: int = 8) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.to_q = nn.Linear(channels, channels)
        self.to_kv = nn.Linear(context_dim if context_dim is not None else channels, 2 * channels)
        self.proj = nn.Linear(channels, channels)
        self.store_weights = False
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        source = tokens if context is None else context
        q = _split_heads(self.to_q(tokens), self.heads)
        k, v = (_split_heads(z, self.heads) for z in self.to_kv(source).chunk(2, dim=-1))
        if self.store_weights:
            weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
            self.last_weights = weights.detach()
            out = weights @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        out = self.proj(out.transpose(1, 2).reshape(b, h * w, c))
        result: torch.Tensor = x + out.transpose(1, 2).reshape(b, c, h, w)
        return result


class SelfAttention(CrossAttention):
    """Multi-head self-attention over the H*W positions: every position sees every other one."""

    def __init__(self, channels: int, heads: int = 4, groups: int = 8) -> None:
        super().__init__(channels, None, heads, groups)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x, None)


class Downsample(nn.Module):
    """Halve H and W with a stride-2 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x)
        return out


class Upsample(nn.Module):
    """Double H and W by nearest-neighbour upsampling (the up block's ResBlock convolves right after)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


class DownBlock(nn.Module):
    """ResBlock then Downsample: (B, c_in, H, W) -> (B, c_out, H/2, W/2) and the skip (B, c_out, H, W) before it."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.res = ResidualBlock(c_in, c_out, emb_dim, groups, dropout)
        self.down = Downsample(c_out)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.res(x, emb)
        return self.down(h), h


class UpBlock(nn.Module):
    """Upsample, concat the skip, ResBlock, optional cross-attention: (B, c_x, H, W) + skip -> (B, c_out, 2H, 2W)."""

    def __init__(self, c_x: int, c_skip: int, c_out: int, emb_dim: int, groups: int, dropout: float,
                 context_dim: int | None = None, heads: int = 4) -> None:
        super().__init__()
        self.up = Upsample()
        self.res = ResidualBlock(c_x + c_skip, c_out, emb_dim, groups, dropout)
        self.cross_attn = CrossAttention(c_out, context_dim, heads, groups) if context_dim else None

    def forward(self, x: torch.Tensor, skip: torch.Tensor, emb: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        h = self.res(torch.cat([self.up(x), skip], dim=1), emb)
        if self.cross_attn is not None and context is not None:
            h = self.cross_attn(h, context)
        out: torch.Tensor = h
        return out


class Bottleneck(nn.Module):
    """ResBlock + self-attention (+ cross-attention to the context when configured), shape-preserving."""

    def __init__(self, channels: int, emb_dim: int, groups: int, dropout: float, heads: int,
                 context_dim: int | None = None) -> None:
        super().__init__()
        self.res = ResidualBlock(channels, channels, emb_dim, groups, dropout)
        self.attn = SelfAttention(channels, heads, groups)
        self.cross_attn = CrossAttention(channels, context_dim, heads, groups) if context_dim else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        h = self.attn(self.res(x, emb))
        if self.cross_attn is not None and context is not None:
            h = self.cross_attn(h, context)
        out: torch.Tensor = h
        return out


class SimpleUNet(nn.Module):
    """eps_theta(x_t, t, label, context): x (B, C, H, W), t (B,), labels (B,) or None, context (B, L, context_dim) or
    None -> (B, C, H, W); H and W divisible by 2^(len(channel_mults) - 1). Arguments: :class:`~ddpm_lib.config.ModelConfig`.

    Widths are base_channels x channel_mults (Table 1: 64 x (1, 2, 4, 8)). With ``num_classes`` a label embedding,
    plus the null label ``num_classes`` for classifier-free guidance, is added to the time embedding.
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 64, channel_mults: tuple[int, ...] = (1, 2, 4, 8),
                 num_classes: int | None = None, context_dim: int | None = None, norm_groups: int = 8,
                 attention_heads: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        # validates every argument (types, ranges, divisibility) before any layer is built
        self.config = ModelConfig(in_channels, base_channels, tuple(channel_mults), num_classes, context_dim,
                                  norm_groups, attention_heads, dropout)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.context_dim = context_dim
        self.downscale = 2 ** (len(channel_mults) - 1)
        widths = [base_channels * m for m in channel_mults]
        emb_dim = 4 * base_channels

        self.time_embedding = nn.Sequential(
            SinusoidalPositionEmbeddings(base_channels), nn.Linear(base_channels, emb_dim), nn.SiLU(),
            nn.Linear(emb_dim, emb_dim))
        self.label_embedding = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None

        self.input_conv = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.downs = nn.ModuleList(
            DownBlock(c_in, c_out, emb_dim, norm_groups, dropout) for c_in, c_out in zip(widths[:-1], widths[1:]))
        self.bottleneck = Bottleneck(widths[-1], emb_dim, norm_groups, dropout, attention_heads, context_dim)
        rev = widths[::-1]  # up block i: from rev[i] channels, skip of rev[i] channels, out rev[i + 1]
        self.ups = nn.ModuleList(
            UpBlock(c, c, c_out, emb_dim, norm_groups, dropout, context_dim if i == 0 else None, attention_heads)
            for i, (c, c_out) in enumerate(zip(rev[:-1], rev[1:])))
        self.output_conv = nn.Sequential(nn.GroupNorm(norm_groups, widths[0]), nn.SiLU(),
                                         nn.Conv2d(widths[0], in_channels, 3, padding=1))

    FORMAT = "ddpm_lib.simple_unet.v1"  #: how checkpoints name this class (:mod:`ddpm_lib.checkpoint`)

    @classmethod
    def from_config(cls, config: ModelConfig) -> "SimpleUNet":
        return cls(**config.to_dict())

    @classmethod
    def from_config_dict(cls, config: dict[str, Any]) -> "SimpleUNet":
        """Rebuilt from a checkpoint's ``model_config`` (validated by :class:`ModelConfig`)."""
        return cls.from_config(ModelConfig.from_dict(config))

    @property
    def null_label(self) -> int:
        """Index of the "no label" embedding used for unconditional and guided sampling."""
        if self.num_classes is None:
            raise ValueError("this model is unconditional (num_classes=None): it has no null label")
        return self.num_classes

    def _check_inputs(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None,
                      context: torch.Tensor | None) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected x of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % self.downscale or w % self.downscale:
            raise ValueError(f"H and W must be divisible by {self.downscale} (one halving per down block), "
                             f"got {h}x{w}; pad or resize the images, e.g. 28x28 -> 32x32")
        if t.ndim != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"t must have shape ({x.shape[0]},), one time index per image, got {tuple(t.shape)}")
        if labels is not None:
            if self.label_embedding is None:
                raise ValueError("labels were given but the model has no label embedding; "
                                 "build it with num_classes=... or pass labels=None")
            if labels.shape != (x.shape[0],):
                raise ValueError(f"labels must have shape ({x.shape[0]},), got {tuple(labels.shape)}")
            if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
                raise ValueError(f"labels must be integer class ids (torch.long), got dtype {labels.dtype}")
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) > self.null_label):
                raise ValueError(f"labels must be class ids in 0..{self.null_label - 1} (or {self.null_label}, the null "
                                 f"label), got values from {int(labels.min())} to {int(labels.max())}")
        if context is not None:
            if self.context_dim is None:
                raise ValueError("context was given but the model has no cross-attention; build it with context_dim=...")
            if context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[2] != self.context_dim:
                raise ValueError(f"context must have shape ({x.shape[0]}, L, {self.context_dim}), got {tuple(context.shape)}")

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
                context: torch.Tensor | None = None) -> torch.Tensor:
        self._check_inputs(x, t, labels, context)
        emb = self.time_embedding(t)
        if self.label_embedding is not None:
            if labels is None:
                labels = torch.full((x.shape[0],), self.null_label, device=x.device, dtype=torch.long)
            emb = emb + self.label_embedding(labels)
        h = self.input_conv(x)
        skips = []
        for down in self.downs:
            h, skip = down(h, emb)
            skips.append(skip)
        h = self.bottleneck(h, emb, context)
        for up in self.ups:
            h = up(h, skips.pop(), emb, context)
        out: torch.Tensor = self.output_conv(h)
        return out


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


TABLE1_BLOCKS = ("input_conv", "downs.0", "downs.1", "downs.2", "bottleneck", "ups.0", "ups.1", "ups.2", "output_conv")


def describe_blocks(model: SimpleUNet, x: torch.Tensor, t: torch.Tensor,
                    blocks: tuple[str, ...] = TABLE1_BLOCKS) -> list[dict[str, Any]]:
    """Run ``model(x, t)`` once and report, per block of Table 1, its input and output shape (C, H, W)
    and parameter count. Up blocks report the channels after concatenating their skip input."""
    modules = dict(model.named_modules())
    rows: dict[str, dict[str, object]] = {}
    hooks = []
    for name in blocks:
        def hook(mod: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor, name: str = name) -> None:
            if name.startswith("ups"):  # Upsample(x) concatenated with the skip: the ResBlock's real input
                x_in, skip = args[0], args[1]
                shape_in = (x_in.shape[1] + skip.shape[1], *skip.shape[2:])
            else:
                shape_in = tuple(args[0].shape[1:])
            out = out[0] if isinstance(out, tuple) else out  # down blocks also return their skip
            rows[name] = {"block": name, "in": shape_in, "out": tuple(out.shape[1:]),
                          "parameters": count_parameters(mod)}
        hooks.append(modules[name].register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x, t)
    finally:
        for h in hooks:
            h.remove()
    return [rows[name] for name in blocks]
