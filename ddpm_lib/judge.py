"""The judge: a small CNN classifier of 32x32 digits, its training recipe and its weights.

Taught in ``notebooks/05_sampling.ipynb`` and used from notebook 01 on. FID's Inception network
cannot be downloaded offline and knows little about 32x32 digits, so the course trains its own
judge (``python -m ddpm_lib train-judge``); :mod:`ddpm_lib.metrics` scores samples on its terms.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_weights, safetensors_metadata, save_weights
from .paths import JUDGE_PATH
from .runtime import in_batches, progress_disabled, seeded
from .validate import check_whole

JUDGE_FORMAT = "ddpm_lib.judge.v1"


class JudgeNet(nn.Module):
    """CNN for 1x32x32 digits in [-1, 1]: three conv stages with BatchNorm, then a linear head.

    ``features(x)``: (B, 128) penultimate activations (for Frechet distance);
    ``forward(x)``: (B, num_classes) logits.
    """

    feature_dim = 128

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()

        def conv(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *conv(in_channels, 32), *conv(32, 32), nn.MaxPool2d(2),  # 16x16
            *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2),  # 8x8
            *conv(64, 128), *conv(128, 128), nn.MaxPool2d(2),  # 4x4
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.feature_dim, num_classes))
        self.in_channels = in_channels
        self.num_classes = num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(x))
        return out


def check_images(images: torch.Tensor, channels: int = 1, what: str = "images") -> torch.Tensor:
    """Validate a batch for the judge: (N, C, 32, 32), N > 0, finite, values in [-1, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1:] != (channels, 32, 32):
        raise ValueError(f"{what} must have shape (N, {channels}, 32, 32), got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError(f"{what} is empty: need at least one image")
    if not torch.isfinite(images).all():
        raise ValueError(f"{what} contain NaN or inf values")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1.01 or hi > 1.01:
        raise ValueError(f"{what} must lie in [-1, 1] (the model range), got [{lo:.3g}, {hi:.3g}]; "
                         f"map [0, 1] pixels with 2 x - 1")
    return images


def random_affine(x: torch.Tensor, generator: torch.Generator, max_degrees: float = 10.0,
                  max_shift: float = 0.1, scale: tuple[float, float] = (0.9, 1.1)) -> torch.Tensor:
    """Light augmentation: a random rotation, scale and shift per image (background stays -1)."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(max_degrees)
    s = torch.empty(b).uniform_(*scale, generator=generator)
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * max_shift * 2
    cos, sin = angle.cos() / s, angle.sin() / s
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


def add_pixel_noise(x: torch.Tensor, generator: torch.Generator, max_std: float, share: float = 0.5) -> torch.Tensor:
    """Add N(0, s^2) noise, s ~ U(0, max_std), to a random ``share`` of the images (clamped to [-1, 1]).

    Generated digits often keep faint background speckle; a judge that never saw any reads them
    poorly although a person reads them at once. This makes the judge score shapes, not grain.
    """
    b = x.shape[0]
    s = torch.rand(b, generator=generator) * max_std * (torch.rand(b, generator=generator) < share)
    return (x + s.reshape(b, 1, 1, 1) * torch.randn(x.shape, generator=generator)).clamp(-1, 1)


@dataclass
class JudgeTraining:
    """Recipe of :func:`train_classifier` (recorded beside the shipped weights)."""

    epochs: int = 30
    batch_size: int = 128
    max_lr: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    augment: bool = True
    noise_std: float = 0.3  # half of each batch gets N(0, s^2) pixel noise, s ~ U(0, noise_std)
    seed: int = 0


def train_classifier(images: torch.Tensor, labels: torch.Tensor, recipe: JudgeTraining = JudgeTraining(), *,
                     num_classes: int = 10, device: str | torch.device = "cpu", progress: bool = False) -> JudgeNet:
    """Train a fresh :class:`JudgeNet` on (images, labels): AdamW, one-cycle LR, label smoothing, affine augmentation."""
    check_images(images, images.shape[1] if images.ndim == 4 else 1, what="training images")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
    device = torch.device(device)
    check_whole("JudgeTraining field 'epochs'", recipe.epochs, 1)
    check_whole("JudgeTraining field 'batch_size'", recipe.batch_size, 1)
    g = torch.Generator().manual_seed(recipe.seed)
    with seeded(recipe.seed):  # weight initialisation and dropout have no generator argument
        return _fit_classifier(images, labels, recipe, num_classes, device, g, progress)


def _fit_classifier(images: torch.Tensor, labels: torch.Tensor, recipe: JudgeTraining, num_classes: int,
                    device: torch.device, g: torch.Generator, progress: bool) -> JudgeNet:
    net = JudgeNet(images.shape[1], num_classes).to(device)
    steps_per_epoch = max(1, images.shape[0] // recipe.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.max_lr, total_steps=recipe.epochs * steps_per_epoch)
    net.train()
    for _ in tqdm(range(recipe.epochs), desc="judge epochs", disable=progress_disabled(progress), leave=False):
        perm = torch.randperm(images.shape[0], generator=g)
        for i in range(steps_per_epoch):
            idx = perm[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            x = images[idx]
            if recipe.augment:
                x = random_affine(x, g)
                if recipe.noise_std > 0:
                    x = add_pixel_noise(x, g, recipe.noise_std)
            loss = F.cross_entropy(net(x.to(device)), labels[idx].to(device), label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


def judge_logits(judge: JudgeNet, images: torch.Tensor) -> torch.Tensor:
    """(N, num_classes) logits of ``judge`` (in eval mode) for images in [-1, 1]."""
    check_images(images, judge.in_channels)
    device = next(judge.parameters()).device
    judge.eval()
    return in_batches(lambda b: judge(b.to(device)).float().cpu(), images)


def judge_features(judge: JudgeNet, images: torch.Tensor) -> torch.Tensor:
    """(N, 128) penultimate features of ``judge`` for images in [-1, 1]."""
    check_images(images, judge.in_channels)
    device = next(judge.parameters()).device
    judge.eval()
    return in_batches(lambda b: judge.features(b.to(device)).double().cpu(), images)


def save_judge(judge: JudgeNet, path: str | Path, **info: Any) -> Path:
    """Write the judge's weights and recipe/accuracy (JSON metadata) atomically as safetensors."""
    return save_weights(path, judge.state_dict(), {
        "format": JUDGE_FORMAT, "in_channels": str(judge.in_channels), "num_classes": str(judge.num_classes),
        "info": json.dumps(info, default=str)})


def load_judge(path: str | Path | None = None, device: str | torch.device = "cpu") -> tuple[JudgeNet, dict[str, Any]]:
    """Load the shipped judge (``ddpm_lib/weights/judge.safetensors`` by default): (judge in eval mode, info)."""
    path = Path(path) if path is not None else JUDGE_PATH
    if not path.is_file():
        raise FileNotFoundError(f"no judge weights at {path}; train them with `python -m ddpm_lib train-judge`")
    meta = safetensors_metadata(path, "judge weights", "train them with `python -m ddpm_lib train-judge`",
                                "`python -m ddpm_lib train-judge`")
    if meta.get("format") != JUDGE_FORMAT:
        raise CheckpointError(f"{path} is not judge weights (format {meta.get('format')!r}, expected {JUDGE_FORMAT!r})")
    with seeded(0):  # the random initialisation is overwritten; the caller's random state is kept
        judge = JudgeNet(int(meta["in_channels"]), int(meta["num_classes"]))
    load_weights(judge, path)
    return judge.to(device).eval(), json.loads(meta.get("info", "{}"))
