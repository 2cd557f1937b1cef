"""Latent diffusion: the course's DDPM run on an autoencoder's latents instead of pixels.

Taught in ``notebooks/09_latent_diffusion.ipynb``. Rombach et al. (2022): an autoencoder compresses each image
once, z0 = f mu(x) with f the latent scale factor; the same loss, schedule, ``train`` and samplers then learn z0,
and a sample is decoded once, x = D(z0 / f). A latent UNet's checkpoint names its autoencoder's file
(``info["autoencoder"]``), which :func:`codec_for_checkpoint` finds again.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .autoencoder import (Autoencoder, AutoencoderConfig, AutoencoderTraining, encode_mean, latent_scale_factor,
                          load_autoencoder, save_autoencoder, train_autoencoder)
from .checkpoint import CheckpointError
from .config import ModelConfig, Preset, TrainConfig, get_preset, scaled_warmup
from .data import ImageDataset
from .paths import COURSE_ROOT
from .runtime import ResolvedPrecision, autocast, in_batches, resolve_precision, seeded


class LatentCodec:
    """An :class:`Autoencoder` and its scale factor f: z0 = f mu(x) and x = D(z0 / f), clamped to [-1, 1].

    ``encode`` and ``decode`` run in batches on the autoencoder's device and return CPU float32 tensors;
    ``decode`` runs under ``precision``'s autocast. latent_shape: one latent's (c, s, s).
    """

    def __init__(self, autoencoder: Autoencoder, scale_factor: float, batch_size: int = 500,
                 precision: ResolvedPrecision = "fp32") -> None:
        if not scale_factor > 0:
            raise ValueError(f"scale_factor must be positive, got {scale_factor}")
        self.autoencoder = autoencoder.eval()
        self.scale_factor = float(scale_factor)
        self.batch_size = batch_size
        self.precision = precision
        self.latent_shape: tuple[int, ...] = autoencoder.latent_shape

    def fast(self, device: str | torch.device = "cpu") -> "LatentCodec":
        """The same codec decoding in ``device``'s fast precision (bf16 on a CPU with bf16 units) in batches of 125,
        which stay in a CPU's cache: 3x the decoding rate on a 2-core EPYC (``docs/samplers.md``)."""
        return LatentCodec(self.autoencoder, self.scale_factor, batch_size=125,
                           precision=resolve_precision("auto", torch.device(device)))

    @property
    def image_channels(self) -> int:
        return self.autoencoder.config.in_channels

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) images in [-1, 1] -> (N, c, s, s) scaled latents f mu(x)."""
        return encode_mean(self.autoencoder, images, self.batch_size) * self.scale_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(N, c, s, s) scaled latents -> (N, C, S, S) images D(z / f), clamped to [-1, 1]."""
        dev = next(self.autoencoder.parameters()).device
        with autocast(dev, self.precision):
            return in_batches(lambda z: self.autoencoder.decode(z.to(dev).float() / self.scale_factor).clamp(-1, 1).cpu(),
                              latents, self.batch_size)


def reconstruction_error(codec: LatentCodec, images: torch.Tensor) -> float:
    """Mean squared error of the round trip D(E(x)) over ``images`` (N, C, S, S) in [-1, 1]: the codec's
    held-out error that ``train-autoencoder`` and the Quest report."""
    return float((codec.decode(codec.encode(images)) - images.float().cpu()).square().mean())


def latent_dataset(codec: LatentCodec, dataset: ImageDataset) -> ImageDataset:
    """``dataset`` with each image replaced by its latent f mu(x) (encoded once, deterministic), same labels."""
    return ImageDataset(codec.encode(dataset.images), dataset.labels, dataset.classes, f"{dataset.name} latents")


@dataclass(frozen=True)
class LatentRecipe:
    """A preset's latent diffusion: its autoencoder (shape and training), and ``preset``: the pixel preset's
    schedule, sampler, guidance and training recipe with the latent UNet as its model."""

    autoencoder: AutoencoderConfig
    autoencoder_training: AutoencoderTraining
    preset: Preset
    steps: int  #: the latent UNet's training steps when none are asked for (``quest``)

    @property
    def model(self) -> ModelConfig:
        """The latent UNet's config (``preset.model``)."""
        return self.preset.model

    def training(self, steps: int | None = None) -> TrainConfig:
        """``preset.train`` for a run of ``steps`` (default :attr:`steps`), warm-up the same share of the run."""
        steps = self.steps if steps is None else steps
        return replace(self.preset.train, steps=steps, warmup_steps=scaled_warmup(self.preset, steps))


def _recipes() -> dict[str, tuple[AutoencoderConfig, AutoencoderTraining, dict[str, Any], int | None]]:
    # the latent UNet: the same SimpleUNet with 4 input channels and three levels (8x8, 4x4, attention at 2x2);
    # the last entry is its default steps (None: the pixel preset's). Why these sizes: docs/latent.md.
    return {
        "smoke": (AutoencoderConfig(widths=(8, 8), norm_groups=4), AutoencoderTraining(steps=20, batch_size=32),
                  dict(base_channels=8, channel_mults=(1, 2), norm_groups=4, attention_heads=2), None),
        "cpu": (AutoencoderConfig(), AutoencoderTraining(),
                dict(base_channels=32, channel_mults=(1, 2, 4)), 2000),
        "gpu": (AutoencoderConfig(widths=(64, 128)), AutoencoderTraining(steps=4000),
                dict(base_channels=128, channel_mults=(1, 2, 2)), None),
    }


def latent_recipe(preset: Preset | str) -> LatentRecipe:
    """The latent diffusion recipe of ``preset`` (a :class:`Preset` or its name): the preset's training and
    schedule, its autoencoder, and a latent UNet reading the autoencoder's ``latent_channels``."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    recipes = _recipes()
    if preset.name not in recipes:
        raise ValueError(f"no latent recipe for preset {preset.name!r}; valid presets are {', '.join(recipes)}")
    ae, training, unet, steps = recipes[preset.name]
    return LatentRecipe(ae, training, replace(preset, model=replace(preset.model, in_channels=ae.latent_channels, **unet)),
                        preset.train.steps if steps is None else steps)


def train_codec(recipe: LatentRecipe, images: torch.Tensor, *, device: str | torch.device | None = None,
                progress: bool = True, seed: int = 0) -> tuple[LatentCodec, dict[str, Any]]:
    """Train ``recipe``'s autoencoder on ``images`` and fix its scale factor on them: (codec, summary)."""
    with seeded(seed):
        autoencoder = Autoencoder(recipe.autoencoder)
    result = train_autoencoder(autoencoder, images, replace(recipe.autoencoder_training, seed=seed), device=device,
                               progress=progress)
    codec = LatentCodec(result.autoencoder, 1.0)
    scale = latent_scale_factor(codec.encode(images))
    _, mse, kl = result.history[-1]
    summary = {"steps": len(result.history), "seconds": round(result.seconds, 2),
               "images_per_second": round(result.images_per_second, 1), "final_mse": mse, "final_kl": kl,
               "scale_factor": scale}
    return LatentCodec(result.autoencoder, scale), summary


def save_codec(codec: LatentCodec, path: str | Path, /, **info: Any) -> Path:
    """The codec's autoencoder and scale factor to ``path`` (.safetensors, atomically)."""
    return save_autoencoder(codec.autoencoder, path, codec.scale_factor, **info)


def load_codec(path: str | Path, device: str | torch.device = "cpu") -> tuple[LatentCodec, dict[str, Any]]:
    """(codec, info) from a file written by :func:`save_codec`."""
    autoencoder, scale, info = load_autoencoder(path, device)
    return LatentCodec(autoencoder, scale), info


def autoencoder_file(checkpoint: str | Path, info: dict[str, Any]) -> Path | None:
    """The autoencoder of the latent UNet at ``checkpoint`` (None for a pixel model): ``info["autoencoder"]`` as given,
    else under the course folder, else beside ``checkpoint``."""
    recorded = info.get("autoencoder")
    if recorded is None:
        return None
    stored = Path(str(recorded))
    candidates = list(dict.fromkeys(p.resolve() for p in (stored, COURSE_ROOT / stored,
                                                             Path(checkpoint).parent / stored.name)))
    for c in candidates:
        if c.is_file():
            return c
    where = str(candidates[0]) if len(candidates) == 1 else "any of " + ", ".join(str(c) for c in candidates)
    raise CheckpointError(f"{checkpoint} is a latent diffusion model, but its autoencoder {stored.name} is not at "
                          f"{where}; put that file back, or retrain both with `make pretrained-latent`")


def codec_for_checkpoint(checkpoint: str | Path, info: dict[str, Any],
                         device: str | torch.device = "cpu") -> LatentCodec | None:
    """The codec a checkpoint's samples must be decoded with (None for a pixel-space model)."""
    path = autoencoder_file(checkpoint, info)
    if path is None:
        return None
    codec, _ = load_codec(path, device)
    return codec
