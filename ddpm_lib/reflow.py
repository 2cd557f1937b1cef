"""Reflow: a diffusion model's own noise-to-digit map, straightened so one or two Euler steps follow it.

Taught in ``notebooks/11_reflow.ipynb``. Reflow (Liu, Gong & Liu 2022): a trained model's deterministic sampler
maps eps -> x0 = ODE(eps); a velocity model trained on the straight line between the ends of each pair,

    x_s = (1 - s) x0 + s eps,    L = E || v_theta(x_s, s) - (eps - x0) ||^2,

is flow matching (:mod:`ddpm_lib.flow`) with each image's noise fixed. Those lines cross far less than independent
draws', so one Euler step, x0 = eps - v_theta(eps, 1), lands near where the teacher's 15 guided steps went. The
teacher's guidance is baked into the pairs: the student samples at w = 1.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from .checkpoint import CheckpointError, load_model, save_weights
from .config import TrainConfig
from .data import ImageDataset
from .flow import FlowPath
from .latent import autoencoder_file, load_codec
from .runtime import choose_device, make_generator
from .sample import NoisePredictor, sample_dpm_solver, sample_flow
from .schedule import NoiseSchedule
from .train import TrainResult, train
from .validate import check_guidance, check_whole

#: The shipped reflow model's recipe: 10,000 pairs from DPM-Solver++-15 at guidance 1.5, then this.
REFLOW_TRAINING = TrainConfig(steps=1500, batch_size=128, lr=2e-4, warmup_steps=50, p_uncond=0.0, min_snr_gamma=0.0,
                              checkpoint_every=250)
TEACHER_STEPS = 15
PAIRS_FILE = "pairs.safetensors"


class PairedDataset(ImageDataset):
    """Images with the noise each one is paired with: ``train`` noises image i with ``noise[i]``, not fresh noise.

    images, noise: (N, C, H, W); labels: (N,) int64.
    """

    def __init__(self, images: torch.Tensor, noise: torch.Tensor, labels: torch.Tensor, name: str) -> None:
        if noise.shape != images.shape:
            raise ValueError(f"noise must have the images' shape {tuple(images.shape)}, got {tuple(noise.shape)}")
        super().__init__(images, labels, tuple(str(d) for d in range(10)), name)
        self.noise = noise


@torch.no_grad()
def reflow_pairs(teacher: NoisePredictor, schedule: NoiseSchedule, shape: tuple[int, ...], num_pairs: int, *,
                 guidance_scale: float, generator: torch.Generator, steps: int = TEACHER_STEPS,
                 clip_denoised: bool = True, batch_size: int = 500) -> PairedDataset:
    """``num_pairs`` pairs (eps ~ N(0, I) of ``shape``, x0 = the teacher's guided DPM-Solver++ sample from it), labels
    0-9 in turn (``clip_denoised=False`` for a latent model)."""
    check_whole("num_pairs", num_pairs, 10)
    guidance_scale = check_guidance(guidance_scale)
    z = torch.randn((num_pairs, *shape), generator=generator, device=generator.device).cpu()
    labels = torch.arange(num_pairs) % 10
    x0 = torch.cat([sample_dpm_solver(teacher, schedule, (len(zb), *shape), steps=steps, labels=yb,
                                      guidance_scale=guidance_scale, x_T=zb, clip_denoised=clip_denoised).cpu()
                    for zb, yb in zip(z.split(batch_size), labels.split(batch_size))])
    return PairedDataset(x0, z, labels, f"reflow pairs (DPM++-{steps}, w={guidance_scale:g})")


def save_pairs(pairs: PairedDataset, path: Path) -> Path:
    return save_weights(path, {"images": pairs.images, "noise": pairs.noise, "labels": pairs.labels.float()},
                        {"name": pairs.name})


def load_pairs(path: Path, num_pairs: int) -> PairedDataset:
    """Pairs written by :func:`save_pairs` (a resumed run trains on the same pairs)."""
    t = load_file(str(path))
    if set(t) != {"images", "noise", "labels"} or len(t["images"]) != num_pairs:
        raise CheckpointError(f"{path} does not hold the {num_pairs} pairs of this run; delete it, or drop --resume")
    return PairedDataset(t["images"], t["noise"], t["labels"].long(), f"reflow pairs from {path.name}")


def train_reflow(teacher_path: str | Path, checkpoint_dir: Path, *, num_pairs: int = 10_000,
                 guidance_scale: float = 1.5, config: TrainConfig = REFLOW_TRAINING, seed: int = 0,
                 device: str | torch.device | None = None, resume: bool = False,
                 progress: bool = True) -> tuple[TrainResult, FlowPath, dict[str, Any]]:
    """``python -m ddpm_lib reflow``: the DDPM at ``teacher_path`` reflowed into a straight-path velocity model that
    starts from its weights; the pairs are kept in ``checkpoint_dir``. Returns (result, path, the recorded info)."""
    dev = choose_device(device)
    teacher, schedule, info = load_model(teacher_path, dev)
    if not isinstance(schedule, NoiseSchedule) or getattr(teacher, "num_classes", None) is None:
        raise ValueError(f"{teacher_path} is not a class-conditional DDPM; reflow needs one as its teacher "
                         f"(e.g. ddpm_lib/weights/pretrained_latent.safetensors)")
    found = autoencoder_file(teacher_path, info)  # recorded as found, so the student's decoder is found from anywhere
    codec = load_codec(found, dev)[0] if found is not None else None
    shape = tuple(codec.latent_shape) if codec is not None else (teacher.in_channels, 32, 32)
    pairs_path = Path(checkpoint_dir) / PAIRS_FILE
    if resume and pairs_path.is_file():
        pairs = load_pairs(pairs_path, num_pairs)
    else:
        pairs = reflow_pairs(teacher, schedule, shape, num_pairs, guidance_scale=guidance_scale,
                             generator=make_generator(seed, dev), clip_denoised=codec is None)
        save_pairs(pairs, pairs_path)
    path = FlowPath(schedule.num_timesteps)
    student = copy.deepcopy(teacher)
    record = {"teacher": str(teacher_path), "teacher_guidance": guidance_scale, "teacher_sampler":
              f"DPM++-{TEACHER_STEPS}", "pairs": num_pairs, **({"autoencoder": os.path.relpath(found)} if found else {})}
    result = train(student, path, pairs, config, device=dev, checkpoint_dir=checkpoint_dir, resume=resume,
                   progress=progress, info=record)
    return result, path, record


@torch.no_grad()
def straightness(model: NoisePredictor, path: FlowPath, eps: torch.Tensor, *, steps: int = 100,
                 labels: torch.Tensor | None = None) -> float:
    """Liu et al.'s straightness S = int_0^1 E || (eps - x0) - v(x_s, s) ||^2 ds of the ODE paths from eps (B, ...),
    over the ``steps`` velocities of Euler's method (fp32, unclamped): 0 exactly when one Euler step is exact."""
    velocities: list[torch.Tensor] = []
    x0 = sample_flow(model, path, eps.shape, steps=steps, method="euler", labels=labels, x_T=eps, clip_denoised=False,
                     device=eps.device, precision="fp32", callback=lambda st: velocities.append(st.eps - st.x0_hat))
    chord = eps - x0
    return float(torch.stack([(chord - v).square().mean() for v in velocities]).mean())
