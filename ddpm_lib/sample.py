"""The reverse process, shaped like k-diffusion's ``sampling.py``: pure step functions numbered against their
papers, the model's view of x_t (:func:`guided_eps`, :class:`Denoiser`), and each sampler one loop with a
``callback(StepInfo)``. Taught in notebooks 05 (DDPM), 06 (guidance), 07 (DDIM, DPM-Solver++, inversion),
08 (inpainting) and 10 (Euler, Heun).

The model is any callable ``model(x, t, labels)``: notebook 01's linear denoiser runs through the same code as
the UNet, and a flow-matching model's velocity is read as (x0_hat, eps_hat) by its path's ``split_prediction``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol, Sequence

import torch
from tqdm.auto import tqdm

from .flow import FlowPath, flow_timesteps
from .runtime import autocast, model_device, progress_disabled, resolve_precision
from .schedule import (DiffusionPath, NoiseSchedule, ddim_timesteps, descending_pairs, extract, log_snr,  # noqa: F401
                       log_snr_timesteps)
from .validate import FLOW_SAMPLERS, check_eta, check_guidance, check_labels, check_whole

VarianceKind = Literal["beta", "posterior"]
VARIANCE_KINDS: tuple[str, ...] = ("beta", "posterior")
FlowMethod = Literal["euler", "heun"]


class NoisePredictor(Protocol):
    """eps_theta(x_t, t, labels): anything that predicts the noise; ``null_label`` marks "no label"."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor: ...


# -- step functions: one update each, numbered as in the papers --------------------------------------
def ddpm_step(schedule: NoiseSchedule, x_t: torch.Tensor, x0_hat: torch.Tensor, t: torch.Tensor,
              z: torch.Tensor | None, *, variance: VarianceKind = "beta") -> torch.Tensor:
    """One step of DDPM's Algorithm 2, x_t -> x_{t-1}, written in its posterior form (Ho et al. 2020).

    x_t, x0_hat, z: (B, ...); t: (B,) in 0..T-1. Returns x_{t-1}, (B, ...).
    """
    # (1) eq. 7: posterior mean mu~_t = beta_t sqrt(a_{t-1}) / (1 - a_t) x0_hat + (1 - a_{t-1}) sqrt(alpha_t) / (1 - a_t) x_t
    #     (with x0_hat from eq. 4 this equals Algorithm 2's 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - a_t) eps))
    mean = (extract(schedule.posterior_mean_coef1, t, x_t.shape) * x0_hat
            + extract(schedule.posterior_mean_coef2, t, x_t.shape) * x_t)
    # (2) Algorithm 2, line 3: z = 0 at the last step (t = 0 here, the paper's t = 1)
    if z is None:
        return mean
    # (3) section 3.2: sigma_t^2 = beta_t (optimal for x_0 ~ N(0, I)) or beta~_t (eq. 7, for a single x_0)
    table = schedule.betas if variance == "beta" else schedule.posterior_variance
    sigma = extract(table, t, x_t.shape).sqrt()
    # (4) Algorithm 2, line 4: x_{t-1} = mu + sigma_t z
    return mean + sigma * z


def ddim_sigma(schedule: NoiseSchedule, t: torch.Tensor, t_prev: torch.Tensor, eta: float,
               shape: torch.Size | tuple[int, ...] | None = None) -> torch.Tensor:
    """sigma_t(eta) of DDIM eq. 16 for a jump t -> t_prev (t_prev = -1: to the clean image).

    sigma = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev), a = alpha_bar, a_{-1} = 1.
    For eta = 1 and t_prev = t - 1 this is the DDPM posterior std sqrt(beta~_t). Shape (B,), or
    broadcastable to ``shape`` when given.
    """
    shape = (t.shape[0],) if shape is None else shape
    a_t = schedule.alpha_bar(t, shape)
    a_prev = schedule.alpha_bar(t_prev, shape)
    return eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).clamp(min=0).sqrt()


def ddim_step(schedule: NoiseSchedule, x0_hat: torch.Tensor, eps: torch.Tensor, t: torch.Tensor,
              t_prev: torch.Tensor, *, eta: float = 0.0, z: torch.Tensor | None = None) -> torch.Tensor:
    """One DDIM step x_t -> x_{t_prev} (Song et al. 2021), any t_prev < t, t_prev = -1 for the last.

    x0_hat, eps, z: (B, ...); t, t_prev: (B,). eta = 0 is deterministic; z = None means z = 0.
    Returns x_{t_prev}, (B, ...).
    """
    shape = x0_hat.shape
    # (1) alpha_bar at the target level (1 at t_prev = -1: the last step returns x0_hat)
    a_prev = schedule.alpha_bar(t_prev, shape)
    # (2) eq. 16: the noise level sigma_t(eta)
    sigma = ddim_sigma(schedule, t, t_prev, eta, shape)
    # (3) eq. 12, "direction pointing to x_t": sqrt(1 - a_prev - sigma^2) eps_theta(x_t)
    direction = (1 - a_prev - sigma ** 2).clamp(min=0).sqrt() * eps
    # (4) eq. 12: x_{t_prev} = sqrt(a_prev) x0_hat + direction + sigma z
    x_prev = a_prev.sqrt() * x0_hat + direction
    return x_prev if z is None else x_prev + sigma * z


def ddim_inverse_step(schedule: NoiseSchedule, x0_hat: torch.Tensor, eps: torch.Tensor,
                      t_next: torch.Tensor) -> torch.Tensor:
    """DDIM eq. 12 with sigma = 0, run towards more noise: x_{t_next} = sqrt(a_next) x0_hat + sqrt(1 - a_next) eps.

    x0_hat and eps are taken at the lower level (the ODE's Euler step backwards). x0_hat, eps:
    (B, ...); t_next: (B,) in 0..T-1. Returns (B, ...).
    """
    a_next = schedule.alpha_bar(t_next, x0_hat.shape)
    return a_next.sqrt() * x0_hat + (1 - a_next).sqrt() * eps


def dpm_solver_step(schedule: NoiseSchedule, x_t: torch.Tensor, x0_hat: torch.Tensor, t: torch.Tensor,
                    t_prev: torch.Tensor, x0_last: torch.Tensor | None = None,
                    t_last: torch.Tensor | None = None) -> torch.Tensor:
    """One step of DPM-Solver++(2M) x_t -> x_{t_prev} (Lu et al. 2022, Algorithm 2), t_prev = -1 for the last.

    With alpha = sqrt(a), sigma = sqrt(1 - a), lambda = log(alpha / sigma) and h = lambda_{t_prev} - lambda_t:

        x_{t_prev} = (sigma_{t_prev} / sigma_t) x_t - alpha_{t_prev} (e^{-h} - 1) D,

    the exact solution of the probability-flow ODE when the model's x0_hat is held fixed over the
    step. First order, D = x0_hat, this is DDIM (eta = 0). Second order, D extrapolates linearly
    in lambda from the previous step's estimate ``x0_last`` at the higher level ``t_last``:
    D = (1 + 1/(2r)) x0_hat - 1/(2r) x0_last with r = (lambda_t - lambda_{t_last}) / h. The step
    to the clean image (t_prev = -1, h = inf) is first order: it returns x0_hat.
    x_t, x0_hat, x0_last: (B, ...); t, t_prev, t_last: (B,). Returns x_{t_prev}, (B, ...).
    """
    shape = x_t.shape
    a_t, a_prev = schedule.alpha_bar(t, shape), schedule.alpha_bar(t_prev, shape)
    # (1) the first-order step: sigma_prev / sigma_t x_t + (alpha_prev - alpha_t sigma_prev / sigma_t) D,
    #     where alpha_t sigma_prev / sigma_t = alpha_prev e^{-h}
    ratio = ((1 - a_prev) / (1 - a_t)).sqrt()
    d = x0_hat
    # (2) second order (Algorithm 2, line 6): r = h_last / h, D = (1 + 1/(2r)) x0_hat - 1/(2r) x0_last
    if x0_last is not None and t_last is not None and int(t_prev.min()) >= 0:
        lam_t = log_snr(schedule, t, shape)
        r = (lam_t - log_snr(schedule, t_last, shape)) / (log_snr(schedule, t_prev, shape) - lam_t)
        d = (1 + 1 / (2 * r)) * x0_hat - 1 / (2 * r) * x0_last
    return ratio * x_t + (a_prev.sqrt() - a_t.sqrt() * ratio) * d


def flow_euler_step(path: FlowPath, x_t: torch.Tensor, x0_hat: torch.Tensor, eps: torch.Tensor, t: torch.Tensor,
                    t_prev: torch.Tensor) -> torch.Tensor:
    """One Euler step of the flow ODE dx/ds = v(x, s), from level t down to t_prev (t_prev = -1: s = 0).

    x_t, x0_hat, eps: (B, ...); t, t_prev: (B,). Returns x at t_prev, (B, ...). With v held fixed
    the step lands on (1 - s') x0_hat + s' eps_hat: Euler on the straight path is DDIM's update.
    """
    shape = x_t.shape
    # (1) the velocity of the straight path through the model's (x0_hat, eps_hat): v = eps_hat - x0_hat
    v = eps - x0_hat
    # (2) Euler: x_{s'} = x_s + (s' - s) v, with s' < s
    return x_t + (path.level(t_prev, shape) - path.level(t, shape)) * v


def flow_heun_step(path: FlowPath, x_start: torch.Tensor, v_start: torch.Tensor, v_end: torch.Tensor,
                   t: torch.Tensor, t_prev: torch.Tensor) -> torch.Tensor:
    """Heun's step (the trapezoidal rule) of dx/ds = v from level t to t_prev, second order in s' - s.

    x_start: x at t; v_start: v there; v_end: v at t_prev, evaluated at Euler's prediction
    x_start + (s' - s) v_start. All (B, ...); t, t_prev: (B,). Returns x at t_prev.
    """
    shape = x_start.shape
    # (1) the step in s (negative: towards the data)
    ds = path.level(t_prev, shape) - path.level(t, shape)
    # (2) trapezoid: x_{s'} = x_s + (s' - s) (v(x_s, s) + v(x_euler, s')) / 2
    return x_start + ds * 0.5 * (v_start + v_end)


# -- the levels a sampler visits (spacings in :mod:`ddpm_lib.schedule`) -----------------------------
def at(t: int, x: torch.Tensor) -> torch.Tensor:
    """Level t for every sample of x: a (B,) long tensor on x's device, as the step functions take it."""
    return torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)


# -- the model's view of x_t ------------------------------------------------------------------------
def guided_eps(model: NoisePredictor, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
               guidance_scale: float = 1.0) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022): eps = eps(x, t, null) + w (eps(x, t, label) - eps(x, t, null)).

    w = 1 is conditional, w = 0 unconditional (the paper's w is this w - 1); both predictions come from one
    pass over a doubled batch. Linear in the output, so it guides a velocity the same way. float32, x's shape.
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


@dataclass
class StepInfo:
    """What a sampler hands its ``callback`` after each network evaluation: x_t at level t, the model's (x0_hat, eps)
    there, and x_prev at t_prev (-1: the clean image; t_prev = t for Heun's corrector at Euler's prediction)."""

    t: int
    t_prev: int
    x_t: torch.Tensor
    x0_hat: torch.Tensor
    eps: torch.Tensor
    x_prev: torch.Tensor


Callback = Callable[[StepInfo], None]


class Denoiser:
    """The model as every sampler sees it: ``denoise(x_t, t)`` -> (x0_hat, eps), both (B, ...).

    ``with Denoiser(model, path, ...) as denoise:`` checks the labels, resolves the precision and holds the model
    in eval mode. Each call runs :func:`guided_eps` under autocast and reads the output with the path's
    ``split_prediction`` (DDPM: x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t), DDIM eq. 9). ``clip_denoised``
    clamps x0_hat to [-1, 1] and re-derives eps from it. At t = -1 (a clean image) x0_hat is x_t itself.
    """

    def __init__(self, model: NoisePredictor, path: DiffusionPath, *, labels: torch.Tensor | None = None,
                 guidance_scale: float = 1.0, clip_denoised: bool = True, batch: int,
                 device: str | torch.device | None = None, precision: str = "auto", progress: bool = False) -> None:
        self.model, self.path, self.clip_denoised, self.progress = model, path, clip_denoised, progress
        self.guidance_scale = check_guidance(guidance_scale)
        self.device = model_device(model, device)
        self.labels = check_labels(model, labels, batch, self.device)
        self.precision = resolve_precision(precision, self.device)
        self.was_training = bool(getattr(model, "training", False))

    def __enter__(self) -> "Denoiser":
        if hasattr(self.model, "eval"):
            self.model.eval()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.was_training and hasattr(self.model, "train"):
            self.model.train()

    def noise(self, shape: Sequence[int], generator: torch.Generator | None,
              x_T: torch.Tensor | None = None) -> torch.Tensor:
        """x_T ~ N(0, I) of ``shape`` from ``generator`` on the model's device, or the given ``x_T`` (checked, float32)."""
        shape = tuple(int(s) for s in shape)
        if x_T is None:
            return torch.randn(shape, generator=generator, device=self.device)
        if x_T.shape != shape:
            raise ValueError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
        x = x_T.to(self.device).float()
        if not torch.isfinite(x).all():
            raise ValueError("x_T contains NaN or inf values")
        return x

    def pairs(self, pairs: Sequence[tuple[int, int]], desc: str) -> Any:
        """The (t, t_prev) pairs a loop visits, behind a progress bar when asked for one."""
        return tqdm(pairs, desc=desc, disable=progress_disabled(self.progress), leave=False)

    def __call__(self, x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        level = at(max(t, 0), x_t)
        with autocast(x_t.device, self.precision):
            out = guided_eps(self.model, x_t, level, self.labels, self.guidance_scale)
        if not torch.isfinite(out).all():
            raise FloatingPointError(f"the model predicted non-finite noise at t={t} although its inputs were "
                                     f"finite; the weights are probably broken (diverged training): retrain or load "
                                     f"another checkpoint")
        if t < 0:
            return x_t, out
        x0, eps = self.path.split_prediction(x_t, level, out)
        if self.clip_denoised:
            x0 = x0.clamp(-1, 1)
            eps = self.path.predict_eps(x_t, level, x0)
        return x0, eps


def report(callback: Callback | None, t: int, t_prev: int, x_t: torch.Tensor, x0_hat: torch.Tensor,
           eps: torch.Tensor, x_prev: torch.Tensor) -> torch.Tensor:
    """Hand one step to ``callback`` (when there is one) and return x_prev, where the loop goes on from."""
    if callback is not None:
        callback(StepInfo(t, t_prev, x_t, x0_hat, eps, x_prev))
    return x_prev


# -- samplers: one loop each --------------------------------------------------------------------------
@torch.no_grad()
def sample_ddpm(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], *,
                labels: torch.Tensor | None = None, guidance_scale: float = 1.0, variance: VarianceKind = "beta",
                clip_denoised: bool = True, generator: torch.Generator | None = None,
                x_T: torch.Tensor | None = None, device: str | torch.device | None = None, precision: str = "auto",
                progress: bool = False, callback: Callback | None = None) -> torch.Tensor:
    """DDPM ancestral sampling, Algorithm 2 of Ho et al. (2020), over all T steps.

    x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) + sigma_t z, in
    :func:`ddpm_step`'s posterior form (``clip_denoised=False``: Algorithm 2 to the letter). ``variance``:
    sigma_t^2 = beta_t ("beta") or beta~_t ("posterior"). Returns (B, ...).
    """
    if variance not in VARIANCE_KINDS:
        raise ValueError(f"unknown variance {variance!r}; valid choices are {', '.join(VARIANCE_KINDS)}")
    with Denoiser(model, schedule, labels=labels, guidance_scale=guidance_scale, clip_denoised=clip_denoised,
                  batch=shape[0], device=device, precision=precision, progress=progress) as denoise:
        x = denoise.noise(shape, generator, x_T)  # line 1: x_T ~ N(0, I)
        for t, t_prev in denoise.pairs(descending_pairs(range(schedule.num_timesteps - 1, -1, -1)), "DDPM"):  # line 2
            x0_hat, eps = denoise(x, t)
            z = torch.randn(x.shape, generator=generator, device=x.device) if t > 0 else None  # line 3
            x_prev = ddpm_step(schedule, x, x0_hat, at(t, x), z, variance=variance)  # line 4
            x = report(callback, t, t_prev, x, x0_hat, eps, x_prev)
    return x.clamp(-1, 1) if clip_denoised else x


@torch.no_grad()
def sample_ddim(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], *, steps: int = 50,
                eta: float = 0.0, labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                clip_denoised: bool = True, generator: torch.Generator | None = None,
                x_T: torch.Tensor | None = None, device: str | torch.device | None = None, precision: str = "auto",
                progress: bool = False, callback: Callback | None = None) -> torch.Tensor:
    """DDIM (Song et al. 2021, eq. 12) over ``steps`` strided levels: :func:`ddim_step`, eta = 0 deterministic.

    z is drawn at every step but the last whatever eta is, so later draws do not depend on eta. Returns (B, ...).
    """
    eta = check_eta(eta)
    with Denoiser(model, schedule, labels=labels, guidance_scale=guidance_scale, clip_denoised=clip_denoised,
                  batch=shape[0], device=device, precision=precision, progress=progress) as denoise:
        x = denoise.noise(shape, generator, x_T)
        for t, t_prev in denoise.pairs(descending_pairs(ddim_timesteps(schedule.num_timesteps, steps)), f"DDIM-{steps}"):
            x0_hat, eps = denoise(x, t)
            z = torch.randn(x.shape, generator=generator, device=x.device) if t_prev >= 0 else None
            x_prev = ddim_step(schedule, x0_hat, eps, at(t, x), at(t_prev, x), eta=eta, z=z)
            x = report(callback, t, t_prev, x, x0_hat, eps, x_prev)
    return x.clamp(-1, 1) if clip_denoised else x


@torch.no_grad()
def sample_dpm_solver(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], *, steps: int = 15,
                      timesteps: Sequence[int] | None = None, labels: torch.Tensor | None = None,
                      guidance_scale: float = 1.0, clip_denoised: bool = True,
                      generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
                      device: str | torch.device | None = None, precision: str = "auto",
                      progress: bool = False, callback: Callback | None = None) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022): DDIM's ODE, second order from the last two x0_hat (:func:`dpm_solver_step`).

    Levels evenly spaced in log-SNR (:func:`log_snr_timesteps`) unless ``timesteps`` are given. ``generator``
    draws only x_T. Returns (B, ...).
    """
    if timesteps is None:
        levels = log_snr_timesteps(schedule, steps)
    else:
        levels = [int(t) for t in timesteps]
        if not levels or min(levels) < 0 or max(levels) >= schedule.num_timesteps:
            raise ValueError(f"timesteps must be levels from 0 to {schedule.num_timesteps - 1} (the schedule's T - 1), "
                             f"got {levels[:8]}{' ...' if len(levels) > 8 else ''}")
    pairs = descending_pairs(levels)
    with Denoiser(model, schedule, labels=labels, guidance_scale=guidance_scale, clip_denoised=clip_denoised,
                  batch=shape[0], device=device, precision=precision, progress=progress) as denoise:
        x = denoise.noise(shape, generator, x_T)
        x0_last: torch.Tensor | None = None  # the multistep memory: x0_hat and level of the step before
        t_last: torch.Tensor | None = None
        for t, t_prev in denoise.pairs(pairs, f"DPM-Solver++(2M)-{len(pairs)}"):
            x0_hat, eps = denoise(x, t)
            x_prev = dpm_solver_step(schedule, x, x0_hat, at(t, x), at(t_prev, x), x0_last, t_last)
            x0_last, t_last = x0_hat, at(t, x)
            x = report(callback, t, t_prev, x, x0_hat, eps, x_prev)
    return x.clamp(-1, 1) if clip_denoised else x


@torch.no_grad()
def sample_flow(model: NoisePredictor, path: FlowPath, shape: Sequence[int], *, steps: int = 15,
                method: FlowMethod = "heun", labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                clip_denoised: bool = True, generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
                device: str | torch.device | None = None, precision: str = "auto", progress: bool = False,
                callback: Callback | None = None) -> torch.Tensor:
    """Integrate a flow-matching model's ODE dx/ds = v_theta(x, s) from noise (s = 1) to data (s = 0).

    ``steps`` equal intervals in s (:func:`~ddpm_lib.flow.flow_timesteps`), by Euler or Heun (:func:`flow_heun_step`;
    its last interval stays an Euler step, as in Karras et al. 2022: 2 steps - 1 calls). Returns (B, ...).
    """
    if method not in FLOW_SAMPLERS:
        raise ValueError(f"unknown flow method {method!r}; valid methods are {', '.join(FLOW_SAMPLERS)}")
    with Denoiser(model, path, labels=labels, guidance_scale=guidance_scale, clip_denoised=clip_denoised,
                  batch=shape[0], device=device, precision=precision, progress=progress) as denoise:
        x = denoise.noise(shape, generator, x_T)
        for t, t_prev in denoise.pairs(descending_pairs(flow_timesteps(path.num_timesteps, steps)), f"{method}-{steps}"):
            x0_hat, eps = denoise(x, t)
            x_euler = flow_euler_step(path, x, x0_hat, eps, at(t, x), at(t_prev, x))
            if method == "euler" or t_prev < 0:
                x = report(callback, t, t_prev, x, x0_hat, eps, x_euler)
                continue
            report(callback, t, t_prev, x, x0_hat, eps, x_euler)
            x0_end, eps_end = denoise(x_euler, t_prev)  # the corrector: v at Euler's prediction
            x_heun = flow_heun_step(path, x, eps - x0_hat, eps_end - x0_end, at(t, x), at(t_prev, x))
            x = report(callback, t_prev, t_prev, x_euler, x0_end, eps_end, x_heun)
    return x.clamp(-1, 1) if clip_denoised else x


@torch.no_grad()
def ddim_invert(model: NoisePredictor, schedule: NoiseSchedule, x0: torch.Tensor, *, steps: int = 50,
                labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                device: str | torch.device | None = None, precision: str = "fp32",
                progress: bool = False) -> torch.Tensor:
    """Deterministic DDIM run backwards, -1 -> t_1 -> ... -> T-1 by :func:`ddim_inverse_step`: x0 (B, ...) -> x_T, the
    noise DDIM (eta = 0) maps back to about x0."""
    ts = ddim_timesteps(schedule.num_timesteps, steps)[::-1]
    with Denoiser(model, schedule, labels=labels, guidance_scale=guidance_scale, clip_denoised=False,
                  batch=x0.shape[0], device=device, precision=precision, progress=progress) as denoise:
        x = denoise.noise(x0.shape, None, x0)
        for t, t_next in denoise.pairs(list(zip([-1, *ts[:-1]], ts)), "DDIM inversion"):
            x0_hat, eps = denoise(x, t)
            x = ddim_inverse_step(schedule, x0_hat, eps, at(t_next, x))
    return x


@torch.no_grad()
def sample_inpaint(model: NoisePredictor, schedule: NoiseSchedule, known: torch.Tensor, mask: torch.Tensor, *,
                   steps: int = 100, resample: int = 5, labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                   generator: torch.Generator | None = None, device: str | torch.device | None = None,
                   precision: str = "auto", progress: bool = False) -> torch.Tensor:
    """Fill in the pixels where ``mask == 0`` so they fit the known ones (RePaint, Lugmayr et al. 2022).

    Each step t -> t': x_{t'} = mask * q_sample(known, t') + (1 - mask) * DDIM_{eta=1}(x_t), repeated ``resample``
    times with x_{t'} re-noised to level t in between. known, mask: (B, C, H, W), mask 1 = keep. Returns (B, C, H, W).
    """
    if known.shape != mask.shape:
        raise ValueError(f"known {tuple(known.shape)} and mask {tuple(mask.shape)} must have the same shape")
    check_whole("resample", resample, 1)
    with Denoiser(model, schedule, labels=labels, guidance_scale=guidance_scale, batch=known.shape[0],
                  device=device, precision=precision, progress=progress) as denoise:
        known, mask = known.to(denoise.device).float(), mask.to(denoise.device).float()
        x = denoise.noise(known.shape, generator)
        for t, t_prev in denoise.pairs(descending_pairs(ddim_timesteps(schedule.num_timesteps, steps)), "inpainting"):
            repeats = 1 if t_prev < 0 else resample
            for r in range(repeats):
                x0_hat, eps = denoise(x, t)
                z = torch.randn(x.shape, generator=generator, device=x.device) if t_prev >= 0 else None
                generated = ddim_step(schedule, x0_hat, eps, at(t, x), at(t_prev, x), eta=1.0, z=z)
                known_prev = known if t_prev < 0 else schedule.q_sample(
                    known, at(t_prev, x), torch.randn(x.shape, generator=generator, device=x.device))
                x = mask * known_prev + (1 - mask) * generated
                if r < repeats - 1:  # jump back up: q(x_t | x_t') with alpha = a_t / a_t'
                    ratio = schedule.alpha_bar(at(t, x), x.shape) / schedule.alpha_bar(at(t_prev, x), x.shape)
                    x = ratio.sqrt() * x + (1 - ratio).sqrt() * torch.randn(x.shape, generator=generator,
                                                                            device=x.device)
    return x.clamp(-1, 1)


def slerp(a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
    """Spherical interpolation of two noise tensors per sample, staying on the shell where Gaussian noise lives:
    (sin((1 - w) theta) a + sin(w theta) b) / sin(theta), theta = arccos(<a, b> / (|a| |b|))."""
    af, bf = a.flatten(1), b.flatten(1)
    cos = (af * bf).sum(1) / (af.norm(dim=1) * bf.norm(dim=1))
    theta = cos.clamp(-1, 1).acos().reshape(-1, *([1] * (a.ndim - 1)))
    return (torch.sin((1 - w) * theta) * a + torch.sin(w * theta) * b) / torch.sin(theta)
