"""Drawing samples on request: a sampler by name, many samples in batches, latents decoded to images, every request
checked once before the first network evaluation (the samplers are in :mod:`ddpm_lib.sample`).
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import torch
from tqdm.auto import tqdm

from .flow import FlowPath
from .runtime import progress_disabled
from .sample import NoisePredictor, sample_ddim, sample_ddpm, sample_dpm_solver, sample_flow
from .schedule import DiffusionPath, NoiseSchedule
from .validate import SamplerName, check_labels, check_path, check_request, check_sampler, check_whole


class LatentDecoder(Protocol):
    """What turns a latent diffusion model's samples into images (:class:`ddpm_lib.latent.LatentCodec`)."""

    latent_shape: tuple[int, ...]

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...


def default_sampler(schedule: DiffusionPath) -> SamplerName:
    """The command line's sampler when none is named: heun for a flow-matching model, ddim for a DDPM."""
    return "heun" if isinstance(schedule, FlowPath) else "ddim"


def run_sampler(model: NoisePredictor, schedule: DiffusionPath, shape: Sequence[int], *,
                sampler: SamplerName = "ddim", steps: int = 50, eta: float = 0.0, **kwargs: Any) -> torch.Tensor:
    """The sampler named ``sampler`` (:data:`~ddpm_lib.validate.SAMPLERS`, checked against the model's path), given
    ``kwargs`` (labels, guidance_scale, generator, x_T, callback, ...); ddpm ignores ``steps``."""
    check_sampler(sampler, steps, schedule.num_timesteps, eta)
    check_path(sampler, schedule)
    if isinstance(schedule, FlowPath):
        return sample_flow(model, schedule, shape, steps=steps, method="euler" if sampler == "euler" else "heun",
                           **kwargs)
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule or a FlowPath, got {type(schedule).__name__}")
    if sampler == "ddpm":
        return sample_ddpm(model, schedule, shape, **kwargs)
    if sampler == "dpm++":
        return sample_dpm_solver(model, schedule, shape, steps=steps, **kwargs)
    return sample_ddim(model, schedule, shape, steps=steps, eta=eta, **kwargs)


def network_calls(sampler: SamplerName, steps: int, num_timesteps: int, guidance_scale: float = 1.0) -> int:
    """Network evaluations per image: T for ddpm, 2 steps - 1 for heun, else ``steps``; twice that when
    ``guidance_scale`` needs both the conditional and the unconditional prediction (any w but 0 and 1)."""
    calls = num_timesteps if sampler == "ddpm" else 2 * steps - 1 if sampler == "heun" else steps
    return calls if guidance_scale in (0.0, 1.0) else 2 * calls


def sampler_name(sampler: SamplerName, steps: int, num_timesteps: int) -> str:
    """How tables name a sampler run: "DDPM-1000", "DDIM-50", "DPM++-15", "HEUN-15" (the count is network calls per image)."""
    return f"{sampler.upper()}-{network_calls(sampler, steps, num_timesteps)}"


def generate(model: NoisePredictor, schedule: DiffusionPath, labels: torch.Tensor | None, *,
             num_samples: int | None = None, image_shape: Sequence[int] | None = None,
             sampler: SamplerName = "ddim", steps: int = 50, eta: float = 0.0, guidance_scale: float = 1.0,
             batch_size: int = 250, generator: torch.Generator | None = None,
             device: str | torch.device | None = None, precision: str = "auto", progress: bool = False,
             decoder: LatentDecoder | None = None) -> torch.Tensor:
    """One sample per entry of ``labels`` (or ``num_samples`` unconditional ones) in batches: (N, *image_shape) in
    [-1, 1] on the CPU. With a ``decoder`` the model samples unclamped latents, and each batch is decoded."""
    eta = check_request(sampler, steps, schedule, eta, guidance_scale)
    if labels is not None and num_samples is not None and num_samples != len(labels):
        raise ValueError(f"num_samples={num_samples} but {len(labels)} labels were given: one sample is drawn per "
                         f"label; drop num_samples or pass {num_samples} labels")
    n = len(labels) if labels is not None else num_samples
    n = check_whole("num_samples", n, 1, why=" (nothing to generate: give labels, or num_samples for unconditional "
                                          "samples)")
    check_whole("batch_size", batch_size, 1)
    if image_shape is None:
        image_shape = decoder.latent_shape if decoder is not None else (int(getattr(model, "in_channels", 1)), 32, 32)
    if labels is not None:
        check_labels(model, labels, n, torch.device("cpu"))
    out = []
    bar = tqdm(total=n, desc=f"generating ({sampler})", disable=progress_disabled(progress), leave=False)
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        lab = labels[start:start + b] if labels is not None else None
        x = run_sampler(model, schedule, (b, *image_shape), sampler=sampler, steps=steps, eta=eta, labels=lab,
                        guidance_scale=guidance_scale, generator=generator, device=device, precision=precision,
                        clip_denoised=decoder is None)
        if decoder is not None:
            x = decoder.decode(x)
        out.append(x.clamp(-1, 1).float().cpu())
        bar.update(b)
    bar.close()
    return torch.cat(out)
