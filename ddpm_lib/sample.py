"""The reverse process as plain functions: DDPM (Algorithm 2), DDIM, classifier-free guidance.

Taught in ``notebooks/05_sampling.ipynb`` (DDPM), ``06_conditioning_and_guidance`` (guidance) and
``07_fast_sampling`` (DDIM). Both samplers share one loop (:func:`reverse_process`) and differ only
in the update x_t -> x_{t_prev}; the model is any callable ``model(x, t, labels)`` returning the
predicted noise, so the linear denoiser of notebook 01 runs through the same code as the UNet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Protocol, Sequence

import torch
from tqdm.auto import tqdm

from .config import autocast, progress_disabled, resolve_precision
from .schedule import NoiseSchedule, extract

VarianceKind = Literal["beta", "posterior"]
VARIANCE_KINDS: tuple[str, ...] = ("beta", "posterior")
SAMPLERS: tuple[str, ...] = ("ddpm", "ddim")


class NoisePredictor(Protocol):
    """eps_theta(x_t, t, labels): anything that predicts the noise; ``null_label`` marks "no label"."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor: ...


@dataclass
class Trajectory:
    """What the sampler saw at each step (kept on the CPU, float32).

    timesteps: (S,) the t of each step, descending; xt: (S, B, ...) the sample after each step
    (x_{t_prev}); x0: (S, B, ...) the model's estimate of x_0 at each step.
    """

    timesteps: torch.Tensor
    xt: torch.Tensor
    x0: torch.Tensor


def model_device(model: object, device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else the device of the model's first parameter, else CPU."""
    if device is not None:
        return torch.device(device)
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


def guided_eps(model: NoisePredictor, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
               guidance_scale: float = 1.0) -> torch.Tensor:
    """Noise prediction with classifier-free guidance (Ho & Salimans 2022).

    eps = eps(x, t, null) + w (eps(x, t, label) - eps(x, t, null)). w = 1 is plain conditional,
    w = 0 unconditional, w > 1 pushes samples towards their label. Both predictions come from one
    forward pass over a doubled batch. ``labels=None`` samples unconditionally.
    """
    if labels is None:
        return model(x, t).float()
    if guidance_scale == 1.0:
        return model(x, t, labels).float()
    null = torch.full_like(labels, model.null_label)  # type: ignore[attr-defined]
    if guidance_scale == 0.0:
        return model(x, t, null).float()
    eps = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null])).float()
    eps_cond, eps_uncond = eps.chunk(2)
    return eps_uncond + guidance_scale * (eps_cond - eps_uncond)


def ddim_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """``steps`` time indices evenly spread over 0..T-1, descending, always including T-1 and 0."""
    if not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps must be between 1 and {num_timesteps} (the schedule's T), got {steps}")
    if steps == 1:
        return [num_timesteps - 1]
    ts = torch.linspace(0, num_timesteps - 1, steps, dtype=torch.float64).round().long().unique()
    return ts.flip(0).tolist()


def ddim_sigma(schedule: NoiseSchedule, t: torch.Tensor, t_prev: torch.Tensor, eta: float) -> torch.Tensor:
    """sigma_t(eta) of DDIM (Song et al. 2021, eq. 16) for a jump t -> t_prev (t_prev = -1: to x_0).

    sigma = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev), with a = alpha_bar and
    alpha_bar_{-1} = 1. For eta = 1 and t_prev = t - 1 this is the DDPM posterior std.
    """
    a_t = schedule.alphas_cumprod.to(t.device)[t]
    a_prev = _alpha_bar_prev(schedule, t_prev)
    return eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).clamp(min=0).sqrt()


def _alpha_bar_prev(schedule: NoiseSchedule, t_prev: torch.Tensor) -> torch.Tensor:
    ac = schedule.alphas_cumprod.to(t_prev.device)
    return torch.where(t_prev >= 0, ac[t_prev.clamp(min=0)], torch.ones_like(ac[0]))


def predict_start(model: NoisePredictor, schedule: NoiseSchedule, x: torch.Tensor, t: torch.Tensor,
                  labels: torch.Tensor | None, guidance_scale: float, clip_denoised: bool,
                  precision: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's view of x_t: (x0_hat, eps), with x0_hat = predict_x0(x_t, t, eps) clamped to [-1, 1] if asked.

    ``precision`` is a resolved one ("fp32", "bf16", "fp16"); a non-finite prediction raises.
    """
    with autocast(x.device, precision):  # type: ignore[arg-type]
        eps = guided_eps(model, x, t, labels, guidance_scale)
    if not torch.isfinite(eps).all():
        raise FloatingPointError(f"the model predicted non-finite noise at t={int(t[0])}; "
                                 f"the checkpoint is probably broken (diverged training)")
    x0 = schedule.predict_x0(x, t, eps)
    return (x0.clamp(-1, 1) if clip_denoised else x0), eps


def ddim_step(schedule: NoiseSchedule, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor,
              eta: float, z: torch.Tensor | None) -> torch.Tensor:
    """DDIM eq. 12: x_{t'} = sqrt(a_t') x0 + sqrt(1 - a_t' - sigma^2) eps + sigma z (x0 itself when z is None)."""
    if z is None:
        return x0
    view = (-1, *([1] * (x0.ndim - 1)))
    a_prev = _alpha_bar_prev(schedule, t_prev).reshape(view)
    sigma = ddim_sigma(schedule, t, t_prev, eta).reshape(view)
    return a_prev.sqrt() * x0 + (1 - a_prev - sigma ** 2).clamp(min=0).sqrt() * eps + sigma * z


Update = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def reverse_process(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], timesteps: Sequence[int],
                    update: Update, *, labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                    clip_denoised: bool = True, generator: torch.Generator | None = None,
                    x_T: torch.Tensor | None = None, device: str | torch.device | None = None,
                    precision: str = "auto", return_trajectory: bool = False, progress: bool = False,
                    desc: str = "sampling") -> torch.Tensor | tuple[torch.Tensor, Trajectory]:
    """The loop shared by every sampler: start from x_T ~ N(0, I), walk ``timesteps`` down.

    At each step: eps = guided_eps(...); x0_hat = predict_x0(x_t, t, eps) (clamped to [-1, 1] when
    ``clip_denoised``); x_{t_prev} = update(x_t, x0_hat, eps, t, t_prev, z) with fresh noise z
    (None at the last step). Returns x_0, clamped to [-1, 1] when ``clip_denoised`` (pass False for
    data that does not live in [-1, 1], such as PCA latents), and the :class:`Trajectory` if asked.
    """
    device = model_device(model, device)
    shape = tuple(shape)
    if labels is not None:
        labels = labels.to(device)
        if labels.ndim not in (1, 2) or labels.shape[0] != shape[0]:
            raise ValueError(f"labels must have shape ({shape[0]},) (one class per sample) or ({shape[0]}, L) "
                             f"(prompt tokens), got {tuple(labels.shape)}")
    prec = resolve_precision(precision, device)
    x = torch.randn(shape, generator=generator, device=device) if x_T is None else x_T.to(device).float()
    if x.shape != shape:
        raise ValueError(f"x_T must have shape {shape}, got {tuple(x.shape)}")
    ts, xts, x0s = [], [], []
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            for i, t_int in enumerate(tqdm(timesteps, desc=desc, disable=progress_disabled(progress), leave=False)):
                t_prev_int = timesteps[i + 1] if i + 1 < len(timesteps) else -1
                t = torch.full((shape[0],), t_int, device=device, dtype=torch.long)
                t_prev = torch.full((shape[0],), t_prev_int, device=device, dtype=torch.long)
                x0, eps = predict_start(model, schedule, x, t, labels, guidance_scale, clip_denoised, prec)
                z = torch.randn(shape, generator=generator, device=device) if t_prev_int >= 0 else None
                x = update(x, x0, eps, t, t_prev, z)
                if return_trajectory:
                    ts.append(t_int)
                    xts.append(x.detach().float().cpu())
                    x0s.append(x0.detach().float().cpu())
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    if clip_denoised:
        x = x.clamp(-1, 1)
    if return_trajectory:
        return x, Trajectory(torch.tensor(ts), torch.stack(xts), torch.stack(x0s))
    return x


def sample_ddpm(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], *,
                labels: torch.Tensor | None = None, guidance_scale: float = 1.0, variance: VarianceKind = "beta",
                clip_denoised: bool = True, generator: torch.Generator | None = None,
                x_T: torch.Tensor | None = None, device: str | torch.device | None = None, precision: str = "auto",
                return_trajectory: bool = False, progress: bool = False) -> torch.Tensor | tuple[torch.Tensor, Trajectory]:
    """DDPM ancestral sampling, Algorithm 2 of Ho et al. (2020), over all T steps.

    x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) + sigma_t z,
    z ~ N(0, I) except at the last step. It is computed in the equivalent posterior form
    mu = coef1_t x0_hat + coef2_t x_t, which also allows clamping x0_hat to [-1, 1]
    (``clip_denoised=False`` gives Algorithm 2 to the letter). ``variance``: sigma_t^2 = beta_t
    ("beta", the paper's choice for x_0 ~ N(0, I)) or the posterior beta~_t ("posterior").
    Returns (B, ...) in [-1, 1].
    """
    if variance not in VARIANCE_KINDS:
        raise ValueError(f"unknown variance {variance!r}; valid choices are {', '.join(VARIANCE_KINDS)}")
    var_table = schedule.betas if variance == "beta" else schedule.posterior_variance

    def update(xt, x0, eps, t, t_prev, z):
        mean, _ = schedule.q_posterior(x0, xt, t)
        if z is None:
            return mean
        return mean + extract(var_table, t, xt.shape).sqrt() * z

    return reverse_process(model, schedule, shape, list(range(schedule.num_timesteps - 1, -1, -1)), update,
                           labels=labels, guidance_scale=guidance_scale, clip_denoised=clip_denoised,
                           generator=generator, x_T=x_T, device=device, precision=precision,
                           return_trajectory=return_trajectory, progress=progress, desc="DDPM")


def sample_ddim(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], *, steps: int = 50,
                eta: float = 0.0, labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                clip_denoised: bool = True, generator: torch.Generator | None = None,
                x_T: torch.Tensor | None = None, device: str | torch.device | None = None, precision: str = "auto",
                return_trajectory: bool = False, progress: bool = False) -> torch.Tensor | tuple[torch.Tensor, Trajectory]:
    """DDIM (Song et al. 2021, eq. 12) over ``steps`` strided time indices of the same model.

    x_{t'} = sqrt(a_t') x0_hat + sqrt(1 - a_t' - sigma^2) eps + sigma z, with a = alpha_bar,
    sigma = :func:`ddim_sigma` (eta = 0: deterministic; eta = 1 with all T steps: DDPM with the
    posterior variance). When x0_hat is clamped, eps is re-derived from it so both stay consistent.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0 (0: deterministic DDIM, 1: DDPM-like), got {eta}")

    def update(xt, x0, eps, t, t_prev, z):
        if clip_denoised:
            eps = schedule.predict_eps(xt, t, x0)
        return ddim_step(schedule, x0, eps, t, t_prev, eta, z)

    return reverse_process(model, schedule, shape, ddim_timesteps(schedule.num_timesteps, steps), update,
                           labels=labels, guidance_scale=guidance_scale, clip_denoised=clip_denoised,
                           generator=generator, x_T=x_T, device=device, precision=precision,
                           return_trajectory=return_trajectory, progress=progress, desc=f"DDIM-{steps}")


def ddim_invert(model: NoisePredictor, schedule: NoiseSchedule, x0: torch.Tensor, *, steps: int = 50,
                labels: torch.Tensor | None = None, device: str | torch.device | None = None,
                precision: str = "fp32") -> torch.Tensor:
    """Run deterministic DDIM backwards: x_0 -> x_T, the noise that DDIM (eta=0) maps back to ~x0.

    x_{t} = sqrt(a_t) x0_hat(x_{t'}) + sqrt(1 - a_t) eps(x_{t'}, t'), walking t' -> t upwards.
    """
    device = model_device(model, device)
    prec = resolve_precision(precision, device)
    ts = ddim_timesteps(schedule.num_timesteps, steps)[::-1]
    x = x0.to(device).float()
    b = x.shape[0]
    with torch.no_grad():
        prev = -1
        for t_int in ts:
            # the model is queried at the level we are leaving (t_prev >= 0), or at the first step
            t_query = torch.full((b,), max(prev, 0), device=device, dtype=torch.long)
            with autocast(device, prec):
                eps = guided_eps(model, x, t_query, labels)
            a_prev = _alpha_bar_prev(schedule, torch.full((b,), prev, device=device, dtype=torch.long))
            a_prev = a_prev.reshape(-1, *([1] * (x.ndim - 1)))
            x0_hat = (x - (1 - a_prev).sqrt() * eps) / a_prev.sqrt()
            a_t = extract(schedule.alphas_cumprod, torch.full((b,), t_int, device=device, dtype=torch.long), x.shape)
            x = a_t.sqrt() * x0_hat + (1 - a_t).sqrt() * eps
            prev = t_int
    return x


def slerp(a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
    """Spherical interpolation between two noise tensors (per sample): stays on the shell where
    Gaussian noise lives, unlike the straight line whose midpoint is too short.

    theta = arccos(<a, b> / (|a| |b|)); slerp = (sin((1 - w) theta) a + sin(w theta) b) / sin(theta).
    """
    af, bf = a.flatten(1), b.flatten(1)
    cos = (af * bf).sum(1) / (af.norm(dim=1) * bf.norm(dim=1))
    theta = cos.clamp(-1, 1).acos().reshape(-1, *([1] * (a.ndim - 1)))
    return (torch.sin((1 - w) * theta) * a + torch.sin(w * theta) * b) / torch.sin(theta)


def sample_inpaint(model: NoisePredictor, schedule: NoiseSchedule, known: torch.Tensor, mask: torch.Tensor, *,
                   steps: int = 100, resample: int = 5, labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                   generator: torch.Generator | None = None, device: str | torch.device | None = None,
                   precision: str = "auto", progress: bool = False) -> torch.Tensor:
    """Fill in the pixels where ``mask == 0`` so they fit the known ones (RePaint, Lugmayr et al. 2022).

    At every step t -> t': the known region is noised to level t' from ``known`` (q_sample), the
    unknown region takes a stochastic DDIM step (eta = 1) from x_t, and the two are merged:
    x_{t'} = mask * known_{t'} + (1 - mask) * generated_{t'}. Each step is repeated ``resample``
    times, re-noising x_{t'} back to level t in between, which lets the generated part agree with
    the known part. known, mask: (B, C, H, W), mask 1 = keep. Returns (B, C, H, W) in [-1, 1].
    """
    if known.shape != mask.shape:
        raise ValueError(f"known {tuple(known.shape)} and mask {tuple(mask.shape)} must have the same shape")
    if resample < 1:
        raise ValueError(f"resample must be >= 1, got {resample}")
    device = model_device(model, device)
    prec = resolve_precision(precision, device)
    known, mask = known.to(device).float(), mask.to(device).float()
    b = known.shape[0]
    timesteps = ddim_timesteps(schedule.num_timesteps, steps)
    ac = schedule.alphas_cumprod.to(device)
    x = torch.randn(known.shape, generator=generator, device=device)
    with torch.no_grad():
        for i, t_int in enumerate(tqdm(timesteps, desc="inpainting", disable=progress_disabled(progress), leave=False)):
            t_prev_int = timesteps[i + 1] if i + 1 < len(timesteps) else -1
            t = torch.full((b,), t_int, device=device, dtype=torch.long)
            t_prev = torch.full((b,), t_prev_int, device=device, dtype=torch.long)
            for r in range(resample):
                x0, eps = predict_start(model, schedule, x, t, labels, guidance_scale, True, prec)
                eps = schedule.predict_eps(x, t, x0)
                last = t_prev_int < 0
                z = None if last else torch.randn(known.shape, generator=generator, device=device)
                generated = ddim_step(schedule, x0, eps, t, t_prev, 1.0, z)
                known_prev = known if last else schedule.q_sample(
                    known, t_prev, torch.randn(known.shape, generator=generator, device=device))
                x_prev = mask * known_prev + (1 - mask) * generated
                if r + 1 < resample and not last:  # jump back up: q(x_t | x_t') with alpha = a_t / a_t'
                    ratio = ac[t_int] / ac[t_prev_int]
                    x = ratio.sqrt() * x_prev + (1 - ratio).sqrt() * torch.randn(known.shape, generator=generator,
                                                                                 device=device)
                else:
                    x = x_prev
                    break
    return x.clamp(-1, 1)


def generate(model: NoisePredictor, schedule: NoiseSchedule, labels: torch.Tensor | None, *, num_samples: int | None = None,
             image_shape: Sequence[int] = (1, 32, 32), sampler: Literal["ddpm", "ddim"] = "ddim", steps: int = 50,
             eta: float = 0.0, guidance_scale: float = 1.0, batch_size: int = 250,
             generator: torch.Generator | None = None, device: str | torch.device | None = None,
             precision: str = "auto", progress: bool = False) -> torch.Tensor:
    """Many samples in batches: one per entry of ``labels`` (or ``num_samples`` unconditional ones).

    Returns (N, *image_shape) in [-1, 1] on the CPU.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid samplers are {', '.join(SAMPLERS)}")
    n = len(labels) if labels is not None else num_samples
    if not n:
        raise ValueError("nothing to generate: give labels or num_samples > 0")
    out = []
    bar = tqdm(total=n, desc=f"generating ({sampler})", disable=progress_disabled(progress), leave=False)
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        lab = labels[start:start + b] if labels is not None else None
        kw = dict(labels=lab, guidance_scale=guidance_scale, generator=generator, device=device, precision=precision)
        if sampler == "ddpm":
            x = sample_ddpm(model, schedule, (b, *image_shape), **kw)
        else:
            x = sample_ddim(model, schedule, (b, *image_shape), steps=steps, eta=eta, **kw)
        out.append(x.float().cpu())
        bar.update(b)
    bar.close()
    return torch.cat(out)
