"""The convolutional autoencoder of latent diffusion: images (C, 32, 32) <-> latents (c, 8, 8).

Taught in ``notebooks/09_latent_diffusion.ipynb``. The encoder E maps x to q(z | x) = N(mu(x), diag(sigma(x)^2)),
the decoder D maps z back. Training minimises (Rombach et al. 2022, sec. 3, without the perceptual and adversarial
terms that 32x32 digits do not need)

    L = mean_pixels (D(z) - x)^2 + beta * mean_latents KL(q(z | x) || N(0, I)),   z = mu + sigma * n,  n ~ N(0, I),

with beta = 1e-3: latents stay near the origin and the decoder tolerant of small errors in z. As in Stable Diffusion
the latents are then rescaled by ``scale_factor = 1 / std(mu(x))`` (:func:`latent_scale_factor`), to the spread
the forward process's noise expects. Each encoder level is a residual block and a stride-2 convolution;
``widths=(16, 32)`` halves twice, so 1x32x32 = 1,024 numbers become 4x8x8 = 256.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_weights, safetensors_metadata, save_weights
from .config import config_from_dict, config_to_dict
from .runtime import (ResolvedPrecision, autocast, choose_device, in_batches, progress_disabled, resolve_precision,
                      seeded)
from .validate import check_number, check_whole

FORMAT = "ddpm_lib.autoencoder.v1"


@dataclass(frozen=True)
class AutoencoderConfig:
    """Constructor arguments of :class:`Autoencoder`: ``widths`` per encoder level, each halving the side."""

    in_channels: int = 1
    latent_channels: int = 4
    widths: tuple[int, ...] = (16, 32)
    image_size: int = 32
    norm_groups: int = 8

    def __post_init__(self) -> None:
        own = "AutoencoderConfig"
        check_whole(f"{own} field 'in_channels'", self.in_channels, 1)
        check_whole(f"{own} field 'latent_channels'", self.latent_channels, 1)
        check_whole(f"{own} field 'image_size'", self.image_size, 4)
        check_whole(f"{own} field 'norm_groups'", self.norm_groups, 1)
        widths = self.widths
        if not isinstance(widths, (tuple, list)) or not widths:
            raise ValueError(f"{own} field 'widths' must list one channel count per level, e.g. (32, 64), got {widths!r}")
        for w in widths:
            check_whole(f"{own} field 'widths'", w, 1)
            if w % self.norm_groups:
                raise ValueError(f"{own}: every width must divide into norm_groups={self.norm_groups} GroupNorm "
                                 f"groups, but {w} does not")
        if self.image_size % 2 ** len(widths):
            raise ValueError(f"{own}: image_size {self.image_size} does not halve {len(widths)} times evenly; use "
                             f"fewer widths or a size divisible by {2 ** len(widths)}")
        if not isinstance(widths, tuple):
            object.__setattr__(self, "widths", tuple(widths))

    @property
    def latent_side(self) -> int:
        out: int = self.image_size // 2 ** len(self.widths)
        return out

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(latent_channels, side, side) of one image's latent."""
        return (self.latent_channels, self.latent_side, self.latent_side)

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: object) -> "AutoencoderConfig":
        return config_from_dict(cls, d, "autoencoder config")


class ConvBlock(nn.Module):
    """Residual block without time: x + conv(SiLU(GN(conv(SiLU(GN(x)))))), a 1x1 skip when widths differ."""

    def __init__(self, c_in: int, c_out: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(math.gcd(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        out: torch.Tensor = self.skip(x) + h
        return out


class Posterior(NamedTuple):
    """q(z | x) = N(mean, diag(exp(logvar))), each (B, c, h, w)."""

    mean: torch.Tensor
    logvar: torch.Tensor

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + exp(logvar / 2) * n, n ~ N(0, I) drawn from ``generator`` (the reparameterisation)."""
        n = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + (0.5 * self.logvar).exp() * n

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per element: 1/2 (mean^2 + exp(logvar) - 1 - logvar), shape (B, c, h, w)."""
        return 0.5 * (self.mean.square() + self.logvar.exp() - 1.0 - self.logvar)


class Autoencoder(nn.Module):
    """E: (B, C, S, S) -> :class:`Posterior` over (B, c, S/2^L, S/2^L); D: latents -> (B, C, S, S), not clamped."""

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()) -> None:
        super().__init__()
        self.config = config
        g, widths = config.norm_groups, config.widths
        enc: list[nn.Module] = [nn.Conv2d(config.in_channels, widths[0], 3, padding=1)]
        c = widths[0]
        for w in widths:
            enc += [ConvBlock(c, w, g), nn.Conv2d(w, w, 3, stride=2, padding=1)]
            c = w
        enc += [ConvBlock(c, c, g), nn.GroupNorm(g, c), nn.SiLU(), nn.Conv2d(c, 2 * config.latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv2d(config.latent_channels, c, 3, padding=1), ConvBlock(c, c, g)]
        for w in reversed(widths):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, w, 3, padding=1), ConvBlock(w, w, g)]
            c = w
        dec += [nn.GroupNorm(g, c), nn.SiLU(), nn.Conv2d(c, config.in_channels, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return self.config.latent_shape

    def encode(self, x: torch.Tensor) -> Posterior:
        """(B, C, S, S) images in [-1, 1] -> q(z | x); logvar is clamped to [-30, 20] as in Stable Diffusion."""
        expected = (self.config.in_channels, self.config.image_size, self.config.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"the autoencoder encodes images of shape (B, {', '.join(map(str, expected))}), got "
                             f"{tuple(x.shape)}")
        mean, logvar = self.encoder(x).float().chunk(2, dim=1)
        return Posterior(mean, logvar.clamp(-30.0, 20.0))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, c, s, s) latents (unscaled) -> (B, C, S, S) images, not clamped."""
        if z.ndim != 4 or tuple(z.shape[1:]) != self.latent_shape:
            raise ValueError(f"the autoencoder decodes latents of shape (B, {', '.join(map(str, self.latent_shape))}), "
                             f"got {tuple(z.shape)}")
        out: torch.Tensor = self.decoder(z).float()
        return out

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, Posterior]:
        """(reconstruction D(z) with z sampled from q(z | x), the posterior)."""
        posterior = self.encode(x)
        return self.decode(posterior.sample(generator)), posterior


def autoencoder_loss(autoencoder: Autoencoder, x: torch.Tensor, *, kl_weight: float,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """L = mean (D(z) - x)^2 + kl_weight * mean KL (module docstring); returns (L, its two parts as floats)."""
    recon, posterior = autoencoder(x, generator)
    mse = (recon - x.float()).square().mean()
    kl = posterior.kl().mean()
    return mse + kl_weight * kl, {"mse": float(mse.detach()), "kl": float(kl.detach())}


@dataclass(frozen=True)
class AutoencoderTraining:
    """How :func:`train_autoencoder` trains: AdamW with a cosine decay, batches drawn with ``seed``."""

    steps: int = 1000
    batch_size: int = 128
    lr: float = 2e-3
    kl_weight: float = 1e-3
    precision: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        own = "AutoencoderTraining"
        check_whole(f"{own} field 'steps'", self.steps, 1)
        check_whole(f"{own} field 'batch_size'", self.batch_size, 1)
        check_number(f"{own} field 'lr'", self.lr, 0.0, 10.0, low_open=True)
        check_number(f"{own} field 'kl_weight'", self.kl_weight, 0.0)
        check_whole(f"{own} field 'seed'", self.seed, 0)


class AutoencoderResult(NamedTuple):
    autoencoder: Autoencoder
    history: list[tuple[int, float, float]]  #: (step, mse, kl) after every step
    seconds: float
    images_per_second: float


def autoencoder_step(autoencoder: Autoencoder, optimizer: torch.optim.Optimizer, x: torch.Tensor, *, kl_weight: float,
                     precision: ResolvedPrecision, generator: torch.Generator | None = None) -> tuple[float, dict[str, float]]:
    """One update on the batch x (B, C, S, S): :func:`autoencoder_loss` under ``precision``'s autocast, backward,
    optimizer step. Returns (L, its parts). A non-finite L leaves the weights untouched."""
    with autocast(x.device, precision):
        loss, parts = autoencoder_loss(autoencoder, x, kl_weight=kl_weight, generator=generator)
    value = float(loss.detach())
    if math.isfinite(value):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return value, parts


def train_autoencoder(autoencoder: Autoencoder, images: torch.Tensor, recipe: AutoencoderTraining = AutoencoderTraining(),
                      *, device: str | torch.device | None = None, progress: bool = True,
                      callback: Callable[[int, float], None] | None = None) -> AutoencoderResult:
    """Fit ``autoencoder`` to ``images`` (N, C, S, S) with :func:`autoencoder_loss`, batches and noise drawn from
    ``recipe.seed``; ``callback(step, mse)`` after each step. Returns the model in eval mode."""
    if len(images) < recipe.batch_size:
        raise ValueError(f"batch_size {recipe.batch_size} is larger than the {len(images)} training images; use at "
                         f"most {len(images)}")
    dev = choose_device(device)
    precision = resolve_precision(recipe.precision, dev)
    autoencoder.to(dev).train()
    optimizer = torch.optim.AdamW(autoencoder.parameters(), lr=recipe.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, recipe.steps)
    order = torch.Generator().manual_seed(recipe.seed)
    noise = torch.Generator(device=dev).manual_seed(recipe.seed + 1)
    history: list[tuple[int, float, float]] = []
    t0 = time.perf_counter()
    for step in tqdm(range(recipe.steps), desc="autoencoder", disable=progress_disabled(progress)):
        x = images[torch.randint(len(images), (recipe.batch_size,), generator=order)].to(dev)
        loss, parts = autoencoder_step(autoencoder, optimizer, x, kl_weight=recipe.kl_weight, precision=precision,
                                       generator=noise)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the autoencoder's loss became {loss} at step {step}; lower the learning "
                                     f"rate (lr={recipe.lr:g}) or use precision='fp32'")
        schedule.step()
        history.append((step, parts["mse"], parts["kl"]))
        if callback is not None:
            callback(step, parts["mse"])
    seconds = time.perf_counter() - t0
    return AutoencoderResult(autoencoder.eval(), history, seconds, recipe.steps * recipe.batch_size / max(seconds, 1e-9))


def encode_mean(autoencoder: Autoencoder, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """mu(x) for every image, in batches: (N, C, S, S) -> (N, c, s, s) float32 on the CPU."""
    dev = next(autoencoder.parameters()).device
    return in_batches(lambda x: autoencoder.encode(x.to(dev)).mean.cpu(), images, batch_size)


def latent_scale_factor(latents: torch.Tensor) -> float:
    """1 / std of every latent number (Stable Diffusion's choice; its 0.18215 was computed the same way)."""
    std = float(latents.float().std())
    if not math.isfinite(std) or std <= 0:
        raise ValueError(f"the latents' standard deviation is {std}; the autoencoder is untrained or broken")
    return 1.0 / std


def save_autoencoder(autoencoder: Autoencoder, path: str | Path, scale_factor: float, /, **info: Any) -> Path:
    """Weights to ``path`` (.safetensors, atomically) with the config, ``scale_factor`` and ``info`` as metadata."""
    check_number("scale_factor", scale_factor, 0.0, low_open=True)
    return save_weights(path, autoencoder.state_dict(), {
        "format": FORMAT, "config": json.dumps(autoencoder.config.to_dict()), "scale_factor": repr(float(scale_factor)),
        "info": json.dumps(info, default=str)})


def load_autoencoder(path: str | Path, device: str | torch.device = "cpu") -> tuple[Autoencoder, float, dict[str, Any]]:
    """(autoencoder in eval mode, scale factor, info) from a file written by :func:`save_autoencoder`."""
    path = Path(path)
    meta = safetensors_metadata(path, "autoencoder", f"train one with `python -m ddpm_lib train-autoencoder --out "
                                                     f"{path}` (or `make pretrained-latent`)",
                                "ddpm_lib.autoencoder.save_autoencoder")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an autoencoder checkpoint (format {meta.get('format')!r}, expected "
                              f"{FORMAT!r}); give the file that `python -m ddpm_lib train-autoencoder` writes, e.g. "
                              f"ddpm_lib/weights/autoencoder.safetensors")
    try:
        config = AutoencoderConfig.from_dict(json.loads(meta["config"]))
        scale = float(meta["scale_factor"])
        info = json.loads(meta.get("info", "{}"))
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path} has unreadable autoencoder metadata ({err}); retrain it") from None
    with seeded(0):
        autoencoder = Autoencoder(config)
    load_weights(autoencoder, path)
    return autoencoder.to(device).eval(), scale, info if isinstance(info, dict) else {}
