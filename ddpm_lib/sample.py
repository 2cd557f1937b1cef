"""The reverse process: pure step functions, one loop that runs them, and the samplers built on it.

Taught in ``notebooks/05_sampling.ipynb`` (DDPM), ``06_conditioning_and_guidance`` (guidance),
``07_fast_sampling`` (DDIM, inversion) and ``08_applications`` (inpainting).

Three layers, each readable on its own:

1. **Step functions** (pure maths, no network, no randomness of their own): :func:`ddpm_step`
   (Algorithm 2 / eqs. 6-7 of Ho et al. 2020), :func:`ddim_step` (eqs. 12 and 16 of Song et
   al. 2021), :func:`ddim_inverse_step`, :func:`dpm_solver_step` (DPM-Solver++(2M), Lu et
   al. 2022), and for flow matching's straight path :func:`flow_euler_step` and
   :func:`flow_heun_step` (``10_flow_matching``). Every schedule lookup goes through
   :func:`ddpm_lib.schedule.extract`, which accepts t = -1 for the noiseless level.
2. **The loop**, :func:`reverse_steps`: for each pair (t, t_prev) it asks the model for its
   prediction (eps, or a velocity on a flow path), reads it as (x0_hat, eps), calls a step
   function and yields a :class:`ReverseStep`. It owns everything a
   loop needs once: ``no_grad``, eval mode, autocast, the device of labels, fresh noise z from
   the caller's generator, the progress bar.
3. **Samplers** consume the loop: :func:`sample_ddpm`, :func:`sample_ddim`,
   :func:`sample_dpm_solver`, :func:`sample_flow`, :func:`sample_inpaint`, :func:`ddim_invert`,
   and :func:`trajectory` for pictures; :func:`sampler_steps` picks one by name. They return
   tensors; :mod:`ddpm_lib.viz` draws them.

The model is any callable ``model(x, t, labels)`` returning the predicted noise, so the linear
denoiser of notebook 01 runs through the same code as the UNet. On a flow-matching path
(:class:`~ddpm_lib.flow.FlowPath`) the same callable returns a velocity; the path's
``split_prediction`` turns either output into the pair (x0_hat, eps_hat) the loop hands on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, Protocol, Sequence

import torch
from tqdm.auto import tqdm

from .flow import FlowPath, flow_timesteps
from .runtime import ResolvedPrecision, autocast, model_device, progress_disabled, resolve_precision
from .schedule import DiffusionPath, NoiseSchedule, extract
from .validate import check_number, check_whole

VarianceKind = Literal["beta", "posterior"]
VARIANCE_KINDS: tuple[str, ...] = ("beta", "posterior")
SamplerName = Literal["ddpm", "ddim", "dpm++", "euler", "heun"]
SAMPLERS: tuple[str, ...] = ("ddpm", "ddim", "dpm++", "euler", "heun")
"""ddpm: Algorithm 2 over all T levels; ddim: DDIM over ``steps`` levels; dpm++: DPM-Solver++(2M) over ``steps``;
euler and heun: ``steps`` ODE steps on a flow-matching path (heun calls the network 2 steps - 1 times)."""
FLOW_SAMPLERS: tuple[str, ...] = ("euler", "heun")


class LatentDecoder(Protocol):
    """What turns a latent diffusion model's samples into images (:class:`ddpm_lib.latent.LatentCodec`)."""

    latent_shape: tuple[int, ...]

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...


class NoisePredictor(Protocol):
    """eps_theta(x_t, t, labels): anything that predicts the noise; ``null_label`` marks "no label"."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor: ...


# -- argument checks (before any network evaluation) -----------------------------------------------
def check_guidance(guidance_scale: float) -> float:
    """A finite guidance scale w, else ``ValueError`` (nan or inf would poison every sample)."""
    return check_number("guidance scale", guidance_scale, why=" (0: unconditional, 1: conditional, >1: guided)")


def check_eta(eta: float) -> float:
    """DDIM's eta in [0, 1]: 0 deterministic, 1 the DDPM posterior variance.

    eta > 1 would ask for sigma^2 > 1 - alpha_bar_{t_prev} on some steps: the direction term
    sqrt(1 - a' - sigma^2) of eq. 12 would be the square root of a negative number.
    """
    return check_number("eta", eta, 0.0, 1.0, why=" (0: deterministic DDIM, 1: DDPM-like noise)")


def check_sampler(sampler: str, steps: int, num_timesteps: int, eta: float = 0.0) -> float:
    """Everything a sampler is told, checked before the first network evaluation; returns eta.

    A name from :data:`SAMPLERS`; ``steps`` from 1 to ``num_timesteps`` (the schedule's T) unless
    the sampler is ddpm, which always takes all T; an eta in [0, 1], nonzero only for ddim.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid samplers are {', '.join(SAMPLERS)}")
    eta = check_eta(eta)
    if eta and sampler != "ddim":
        raise ValueError(f"eta={eta:g} applies to the ddim sampler only ({sampler} has no eta): use sampler='ddim' "
                         f"for stochastic DDIM, or leave eta at 0")
    if sampler != "ddpm":
        check_whole("steps", steps, 1, num_timesteps, why=" (the schedule's T is the most)")
    return eta


def default_sampler(schedule: DiffusionPath) -> SamplerName:
    """The command line's sampler when none is named: heun for a flow-matching model, ddim for a DDPM."""
    return "heun" if isinstance(schedule, FlowPath) else "ddim"


def check_path(sampler: str, schedule: DiffusionPath) -> None:
    """A sampler that fits the model's path: euler/heun for flow matching, ddpm/ddim/dpm++ for a DDPM."""
    flow = isinstance(schedule, FlowPath)
    if flow and sampler not in FLOW_SAMPLERS:
        raise ValueError(f"the {sampler} sampler needs a DDPM (eps) model, but this model was trained with flow "
                         f"matching (it predicts a velocity); use sampler 'euler' or 'heun'")
    if not flow and sampler in FLOW_SAMPLERS:
        raise ValueError(f"the {sampler} sampler integrates a flow-matching model's velocity, but this model is a "
                         f"DDPM (it predicts eps); use sampler 'ddim' or 'dpm++' (or train with --objective velocity)")


def check_labels(model: object, labels: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor | None:
    """Labels as integer ids on ``device``: (B,) classes in 0..num_classes-1 or (B, L) prompt tokens."""
    if labels is None:
        return None
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor of integer class ids, got {type(labels).__name__}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class ids (torch.long), got dtype {labels.dtype}; "
                         f"use torch.tensor([3, 7]) rather than torch.tensor([3.0, 7.0])")
    if labels.ndim not in (1, 2) or labels.shape[0] != batch:
        raise ValueError(f"labels must have shape ({batch},) (one class per sample) or ({batch}, L) "
                         f"(prompt tokens), got {tuple(labels.shape)}")
    num_classes = getattr(model, "num_classes", None)
    if labels.ndim == 1 and isinstance(num_classes, int) and labels.numel():
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"labels must be class ids in 0..{num_classes - 1} for this model, got values from "
                             f"{lo} to {hi}")
    return labels.to(device=device, dtype=torch.long)


# -- the model's view of x_t ------------------------------------------------------------------------
def guided_eps(model: NoisePredictor, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
               guidance_scale: float = 1.0) -> torch.Tensor:
    """Noise prediction with classifier-free guidance (Ho & Salimans 2022).

    eps = eps(x, t, null) + w (eps(x, t, label) - eps(x, t, null)). w = 1 is plain conditional,
    w = 0 unconditional, w > 1 pushes samples towards their label (the paper writes this w as
    1 + its own w). Both predictions come from one forward pass over a doubled batch.
    ``labels=None`` samples unconditionally. The rule is linear in the output, so it guides a
    flow-matching model's velocity the same way.
    """
    w = check_guidance(guidance_scale)
    if labels is None:
        return model(x, t).float()
    if w == 1.0:
        return model(x, t, labels).float()
    null = torch.full_like(labels, model.null_label)  # type: ignore[attr-defined]
    if w == 0.0:
        return model(x, t, null).float()
    eps = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null])).float()
    eps_cond, eps_uncond = eps.chunk(2)
    return eps_uncond + w * (eps_cond - eps_uncond)


def predict_start(model: NoisePredictor, schedule: DiffusionPath, x_t: torch.Tensor, t: torch.Tensor,
                  labels: torch.Tensor | None, guidance_scale: float, clip_denoised: bool,
                  precision: ResolvedPrecision) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's view of x_t: (x0_hat, eps), both (B, ...).

    out = guided_eps(x_t, t), read by the path's ``split_prediction``: on a DDPM schedule out is
    eps and x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t) (DDIM eq. 9); on a flow path out is
    the velocity v, x0_hat = x_t - s v and eps = x_t + (1 - s) v. With ``clip_denoised``, x0_hat
    is clamped to [-1, 1] and eps re-derived from it, so the pair still lies on the path through
    x_t. At t = -1 (inversion's start, a clean image) the model is queried at t = 0 and
    x0_hat = x_t. A non-finite output raises.
    """
    with autocast(x_t.device, precision):
        out = guided_eps(model, x_t, t.clamp(min=0), labels, guidance_scale)
    if not torch.isfinite(out).all():
        raise FloatingPointError(f"the model predicted non-finite noise at t={int(t[0])} although its inputs were "
                                 f"finite; the weights are probably broken (diverged training): retrain or load "
                                 f"another checkpoint")
    x0, eps = schedule.split_prediction(x_t, t, out)
    if clip_denoised:
        x0 = x0.clamp(-1, 1)
        if int(t.min()) >= 0:
            eps = schedule.predict_eps(x_t, t, x0)
    return x0, eps


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

    Used by :func:`ddim_invert` with eps and x0_hat taken at the lower level (the ODE's Euler step
    backwards). x0_hat, eps: (B, ...); t_next: (B,) in 0..T-1. Returns (B, ...).
    """
    a_next = schedule.alpha_bar(t_next, x0_hat.shape)
    return a_next.sqrt() * x0_hat + (1 - a_next).sqrt() * eps


def log_snr(schedule: NoiseSchedule, t: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """lambda_t = log(alpha_t / sigma_t) = 0.5 log(a_t / (1 - a_t)), a = alpha_bar, broadcastable to ``shape``.

    The half log signal-to-noise ratio, DPM-Solver's time variable; +inf at t = -1 (the clean image).
    """
    a = schedule.alpha_bar(t, shape)
    return 0.5 * (a.log() - (1 - a).log())


def log_snr_timesteps(schedule: NoiseSchedule, steps: int) -> list[int]:
    """``steps`` levels from T-1 down to 0, evenly spaced in lambda = log(alpha/sigma) as far as whole levels allow.

    Equal steps in lambda make every DPM-Solver step the same size h (r = 1 in
    :func:`dpm_solver_step`), the spacing Lu et al. (2022) recommend for small images. Each target
    lambda goes to its nearest level; near t = 0, where neighbouring levels are far apart in lambda,
    levels that would repeat move up one, so there are always exactly ``steps`` distinct levels.
    """
    t_max = schedule.num_timesteps - 1
    check_whole("steps", steps, 1, schedule.num_timesteps, why=" (the schedule's T is the most)")
    if steps == 1:
        return [t_max]
    t_all = torch.arange(schedule.num_timesteps, device=schedule.device)
    lam = log_snr(schedule, t_all, (schedule.num_timesteps,)).double()
    targets = torch.linspace(float(lam[0]), float(lam[-1]), steps, dtype=torch.float64, device=lam.device)
    nearest = (lam[None, :] - targets[:, None]).abs().argmin(dim=1).tolist()  # ascending t, from 0 to T-1
    levels: list[int] = []
    for i, t in enumerate(nearest):
        low = levels[-1] + 1 if levels else 0
        levels.append(min(max(int(t), low), t_max - (steps - 1 - i)))
    return levels[::-1]


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


# -- the one loop ---------------------------------------------------------------------------------
@dataclass
class ReverseStep:
    """What the loop saw at one step: x_t at level t, the model's (x0_hat, eps), and x_prev at t_prev.

    t_prev is the level the step moves to (below t when sampling, above t for inversion; -1 is
    the clean image). The loop continues from ``x_prev``: a consumer may replace it before asking
    for the next step (inpainting merges the known pixels in there).
    """

    t: int
    t_prev: int
    x_t: torch.Tensor
    x0_hat: torch.Tensor
    eps: torch.Tensor
    x_prev: torch.Tensor


Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
"""step(x_t, x0_hat, eps, t, t_prev, z) -> x_prev, with t, t_prev as (B,) tensors; z is None when not drawn."""


def descending_pairs(timesteps: Sequence[int]) -> list[tuple[int, int]]:
    """(t, t_prev) pairs for a descending list of levels, ending with (t_last, -1)."""
    ts = [int(t) for t in timesteps]
    if any(a <= b for a, b in zip(ts, ts[1:])):
        raise ValueError(f"timesteps must be strictly descending, got {ts[:8]}{' ...' if len(ts) > 8 else ''}")
    return list(zip(ts, ts[1:] + [-1]))


def initial_noise(shape: Sequence[int], generator: torch.Generator | None, device: torch.device,
                  x_T: torch.Tensor | None = None) -> torch.Tensor:
    """x_T ~ N(0, I) of ``shape`` drawn from ``generator``, or the given ``x_T`` (checked, as float32)."""
    shape = tuple(int(s) for s in shape)
    if x_T is None:
        return torch.randn(shape, generator=generator, device=device)
    if tuple(x_T.shape) != shape:
        raise ValueError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
    x = x_T.to(device).float()
    if not torch.isfinite(x).all():
        raise ValueError("x_T contains NaN or inf values")
    return x


@torch.no_grad()
def reverse_steps(model: NoisePredictor, schedule: DiffusionPath, x: torch.Tensor, pairs: Sequence[tuple[int, int]],
                  step: Step, *, labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                  clip_denoised: bool = True, generator: torch.Generator | None = None, draw_noise: bool = True,
                  precision: str = "auto", progress: bool = False, desc: str = "sampling") -> Iterator[ReverseStep]:
    """The loop every sampler consumes: for each (t, t_prev) in ``pairs``, one :class:`ReverseStep`.

    ``schedule`` is the model's path: a DDPM :class:`NoiseSchedule` or a :class:`FlowPath`. A pair
    with t_prev == t is a corrector: the model is asked again at level t (Heun's second evaluation).

    x: (B, ...) the start (x_T for sampling, a clean image for inversion), on the model's device.
    At each pair: (x0_hat, eps) = :func:`predict_start` at t; z ~ N(0, I) from ``generator``
    when ``draw_noise`` and t_prev >= 0; x_prev = step(x_t, x0_hat, eps, t, t_prev, z). The model
    is in eval mode while the loop runs and gets its mode back at the end.
    """
    check_guidance(guidance_scale)
    device = x.device
    batch = x.shape[0]
    labels = check_labels(model, labels, batch, device)
    prec = resolve_precision(precision, device)
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    try:
        for t_int, t_prev_int in tqdm(pairs, desc=desc, disable=progress_disabled(progress), leave=False):
            t = torch.full((batch,), t_int, device=device, dtype=torch.long)
            t_prev = torch.full((batch,), t_prev_int, device=device, dtype=torch.long)
            x0_hat, eps = predict_start(model, schedule, x, t, labels, guidance_scale, clip_denoised, prec)
            z = torch.randn(x.shape, generator=generator, device=device) if draw_noise and t_prev_int >= 0 else None
            out = ReverseStep(t_int, t_prev_int, x, x0_hat, eps, step(x, x0_hat, eps, t, t_prev, z))
            yield out
            x = out.x_prev
    finally:
        if was_training and hasattr(model, "train"):
            model.train()


def final(steps: Iterator[ReverseStep]) -> torch.Tensor:
    """Run the loop to its end and return the last x_prev (the sample)."""
    last = None
    for last in steps:
        pass
    if last is None:
        raise ValueError("the reverse loop had no steps")
    return last.x_prev


@dataclass
class Trajectory:
    """What the sampler saw at each step (kept on the CPU, float32).

    timesteps: (S,) the level t of each step, descending; xt: (S, B, ...) x_t at that level (the
    model's input); x0: (S, B, ...) the model's estimate of x_0 from it; sample: (B, ...) the result.
    """

    timesteps: torch.Tensor
    xt: torch.Tensor
    x0: torch.Tensor
    sample: torch.Tensor


def decoded(traj: Trajectory, decoder: LatentDecoder) -> Trajectory:
    """A latent model's trajectory as images: x_t, x0_hat and the sample each through ``decoder``.

    (S, B, c, s, s) latents become (S, B, C, H, W) images, so :func:`~ddpm_lib.viz.trajectory_strip`
    and the animations show a latent sampler the way they show a pixel one (a decoded x_t at high
    noise is the decoder's reading of noise, not noise itself).
    """
    steps, batch = traj.xt.shape[:2]

    def images(z: torch.Tensor) -> torch.Tensor:
        x = decoder.decode(z.flatten(0, 1))
        return x.reshape(steps, batch, *x.shape[1:])

    return Trajectory(traj.timesteps, images(traj.xt), images(traj.x0), decoder.decode(traj.sample))


def trajectory(steps: Iterator[ReverseStep]) -> Trajectory:
    """Record every step of a reverse loop, e.g. ``trajectory(ddim_steps(model, schedule, shape))``."""
    ts, xts, x0s = [], [], []
    last = None
    for last in steps:
        ts.append(last.t)
        xts.append(last.x_t.detach().float().cpu())
        x0s.append(last.x0_hat.detach().float().cpu())
    if last is None:
        raise ValueError("the reverse loop had no steps")
    return Trajectory(torch.tensor(ts), torch.stack(xts), torch.stack(x0s), last.x_prev.detach().float().cpu())


# -- samplers -------------------------------------------------------------------------------------
def ddim_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """``steps`` time indices evenly spread over 0..T-1, descending, always including T-1 and 0."""
    check_whole("steps", steps, 1, num_timesteps, why=" (the schedule's T is the most)")
    if steps == 1:
        return [num_timesteps - 1]
    ts = torch.linspace(0, num_timesteps - 1, steps, dtype=torch.float64).round().long().unique()
    return ts.flip(0).tolist()


def ddpm_steps(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], *,
               labels: torch.Tensor | None = None, guidance_scale: float = 1.0, variance: VarianceKind = "beta",
               clip_denoised: bool = True, generator: torch.Generator | None = None,
               x_T: torch.Tensor | None = None, device: str | torch.device | None = None, precision: str = "auto",
               progress: bool = False) -> Iterator[ReverseStep]:
    """The steps of DDPM ancestral sampling over all T levels (see :func:`sample_ddpm`)."""
    if variance not in VARIANCE_KINDS:
        raise ValueError(f"unknown variance {variance!r}; valid choices are {', '.join(VARIANCE_KINDS)}")
    dev = model_device(model, device)
    x = initial_noise(shape, generator, dev, x_T)

    def step(x_t: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor,
             z: torch.Tensor | None) -> torch.Tensor:
        return ddpm_step(schedule, x_t, x0, t, z, variance=variance)

    pairs = descending_pairs(range(schedule.num_timesteps - 1, -1, -1))
    return reverse_steps(model, schedule, x, pairs, step, labels=labels, guidance_scale=guidance_scale,
                         clip_denoised=clip_denoised, generator=generator, precision=precision, progress=progress,
                         desc="DDPM")


def sample_ddpm(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], *,
                labels: torch.Tensor | None = None, guidance_scale: float = 1.0, variance: VarianceKind = "beta",
                clip_denoised: bool = True, generator: torch.Generator | None = None,
                x_T: torch.Tensor | None = None, device: str | torch.device | None = None, precision: str = "auto",
                progress: bool = False) -> torch.Tensor:
    """DDPM ancestral sampling, Algorithm 2 of Ho et al. (2020), over all T steps.

    x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) + sigma_t z,
    z ~ N(0, I) except at the last step, computed by :func:`ddpm_step` in the equivalent posterior
    form, which also allows clamping x0_hat to [-1, 1] (``clip_denoised=False`` gives Algorithm 2
    to the letter). ``variance``: sigma_t^2 = beta_t ("beta") or beta~_t ("posterior").
    Returns (B, ...), in [-1, 1] when ``clip_denoised``.
    """
    x = final(ddpm_steps(model, schedule, shape, labels=labels, guidance_scale=guidance_scale, variance=variance,
                         clip_denoised=clip_denoised, generator=generator, x_T=x_T, device=device,
                         precision=precision, progress=progress))
    return x.clamp(-1, 1) if clip_denoised else x


def ddim_steps(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], *, steps: int = 50,
               eta: float = 0.0, labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
               clip_denoised: bool = True, generator: torch.Generator | None = None,
               x_T: torch.Tensor | None = None, device: str | torch.device | None = None, precision: str = "auto",
               progress: bool = False) -> Iterator[ReverseStep]:
    """The steps of DDIM over ``steps`` strided levels (see :func:`sample_ddim`)."""
    eta = check_eta(eta)
    pairs = descending_pairs(ddim_timesteps(schedule.num_timesteps, steps))
    dev = model_device(model, device)
    x = initial_noise(shape, generator, dev, x_T)

    def step(x_t: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor,
             z: torch.Tensor | None) -> torch.Tensor:
        return ddim_step(schedule, x0, eps, t, t_prev, eta=eta, z=z)

    return reverse_steps(model, schedule, x, pairs, step, labels=labels, guidance_scale=guidance_scale,
                         clip_denoised=clip_denoised, generator=generator, precision=precision, progress=progress,
                         desc=f"DDIM-{steps}")


def sample_ddim(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], *, steps: int = 50,
                eta: float = 0.0, labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                clip_denoised: bool = True, generator: torch.Generator | None = None,
                x_T: torch.Tensor | None = None, device: str | torch.device | None = None, precision: str = "auto",
                progress: bool = False) -> torch.Tensor:
    """DDIM (Song et al. 2021, eq. 12) over ``steps`` strided time indices of the same model.

    x_{t'} = sqrt(a_t') x0_hat + sqrt(1 - a_t' - sigma^2) eps + sigma z, with a = alpha_bar and
    sigma from eq. 16 (:func:`ddim_step`); eta = 0: deterministic; eta = 1 with all T steps: DDPM
    with the posterior variance. Returns (B, ...), in [-1, 1] when ``clip_denoised``.
    """
    x = final(ddim_steps(model, schedule, shape, steps=steps, eta=eta, labels=labels, guidance_scale=guidance_scale,
                         clip_denoised=clip_denoised, generator=generator, x_T=x_T, device=device,
                         precision=precision, progress=progress))
    return x.clamp(-1, 1) if clip_denoised else x


def dpm_solver_steps(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], *, steps: int = 15,
                     timesteps: Sequence[int] | None = None, labels: torch.Tensor | None = None,
                     guidance_scale: float = 1.0, clip_denoised: bool = True,
                     generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
                     device: str | torch.device | None = None, precision: str = "auto",
                     progress: bool = False) -> Iterator[ReverseStep]:
    """The steps of DPM-Solver++(2M) over ``steps`` levels evenly spaced in log-SNR (see :func:`sample_dpm_solver`).

    ``timesteps``, when given, replaces :func:`log_snr_timesteps` (descending levels; the last
    step always goes to the clean image). The loop's step is :func:`dpm_solver_step` with a
    memory of one: the x0_hat and level of the step before, kept by this sampler (a multistep
    method costs no extra network evaluations).
    """
    if timesteps is None:
        levels = log_snr_timesteps(schedule, steps)
    else:
        levels = [int(t) for t in timesteps]
        if not levels or min(levels) < 0 or max(levels) >= schedule.num_timesteps:
            raise ValueError(f"timesteps must be levels from 0 to {schedule.num_timesteps - 1} (the schedule's T - 1), "
                             f"got {levels[:8]}{' ...' if len(levels) > 8 else ''}")
    pairs = descending_pairs(levels)
    dev = model_device(model, device)
    x = initial_noise(shape, generator, dev, x_T)
    last: list[tuple[torch.Tensor, torch.Tensor]] = []  # [(x0_hat, t)] of the previous step, empty at the first

    def step(x_t: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor,
             z: torch.Tensor | None) -> torch.Tensor:
        x0_last, t_last = last.pop() if last else (None, None)
        last.append((x0, t))
        return dpm_solver_step(schedule, x_t, x0, t, t_prev, x0_last, t_last)

    return reverse_steps(model, schedule, x, pairs, step, labels=labels, guidance_scale=guidance_scale,
                         clip_denoised=clip_denoised, generator=generator, draw_noise=False, precision=precision,
                         progress=progress, desc=f"DPM-Solver++(2M)-{len(pairs)}")


def sample_dpm_solver(model: NoisePredictor, schedule: NoiseSchedule, shape: Sequence[int], *, steps: int = 15,
                      timesteps: Sequence[int] | None = None, labels: torch.Tensor | None = None,
                      guidance_scale: float = 1.0, clip_denoised: bool = True,
                      generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
                      device: str | torch.device | None = None, precision: str = "auto",
                      progress: bool = False) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022): a second-order multistep solver of DDIM's ODE, one network call per step.

    The same ODE as :func:`sample_ddim` with eta = 0, from the same starting noise; each step uses
    the last two x0_hat estimates instead of one (:func:`dpm_solver_step`), so its error shrinks as
    1/steps^2 rather than 1/steps. The levels are evenly spaced in log-SNR (:func:`log_snr_timesteps`);
    on DDIM's evenly strided levels the last step, from about T/steps to 0, is so long in log-SNR that
    the second-order extrapolation loses its advantage. ``timesteps`` overrides the levels.
    ``generator`` draws only x_T. Returns (B, ...), in [-1, 1] when ``clip_denoised``.
    """
    x = final(dpm_solver_steps(model, schedule, shape, steps=steps, timesteps=timesteps, labels=labels,
                               guidance_scale=guidance_scale, clip_denoised=clip_denoised, generator=generator,
                               x_T=x_T, device=device, precision=precision, progress=progress))
    return x.clamp(-1, 1) if clip_denoised else x


FlowMethod = Literal["euler", "heun"]


def flow_steps(model: NoisePredictor, path: FlowPath, shape: Sequence[int], *, steps: int = 15,
               method: FlowMethod = "heun", labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
               clip_denoised: bool = True, generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
               device: str | torch.device | None = None, precision: str = "auto",
               progress: bool = False) -> Iterator[ReverseStep]:
    """The steps of Euler's or Heun's method on a flow-matching path (see :func:`sample_flow`).

    ``steps`` intervals with s evenly spaced (:func:`~ddpm_lib.flow.flow_timesteps`). Euler: one
    pair (t, t_prev) per interval. Heun: each interval but the last is a predictor pair (t, t')
    (an Euler step) followed by a corrector pair (t', t'), where the loop asks the model at the
    predicted point and :func:`flow_heun_step` averages the two velocities; the last interval, to
    s = 0, is an Euler step (Karras et al. 2022 do the same), so Heun costs 2 steps - 1 evaluations.
    """
    if method not in FLOW_SAMPLERS:
        raise ValueError(f"unknown flow method {method!r}; valid methods are {', '.join(FLOW_SAMPLERS)}")
    levels = flow_timesteps(path.num_timesteps, steps)
    pairs: list[tuple[int, int]] = []
    for t, t_prev in descending_pairs(levels):
        pairs.append((t, t_prev))
        if method == "heun" and t_prev >= 0:
            pairs.append((t_prev, t_prev))
    dev = model_device(model, device)
    x = initial_noise(shape, generator, dev, x_T)
    pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (x, v, t) of a predictor awaiting its corrector

    def step(x_t: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor,
             z: torch.Tensor | None) -> torch.Tensor:
        if pending:  # the corrector: x_t is Euler's prediction at level t, eps - x0 the velocity there
            x_start, v_start, t_start = pending.pop()
            return flow_heun_step(path, x_start, v_start, eps - x0, t_start, t)
        if method == "heun" and int(t_prev.min()) >= 0:
            pending.append((x_t, eps - x0, t))
        return flow_euler_step(path, x_t, x0, eps, t, t_prev)

    return reverse_steps(model, path, x, pairs, step, labels=labels, guidance_scale=guidance_scale,
                         clip_denoised=clip_denoised, generator=generator, draw_noise=False, precision=precision,
                         progress=progress, desc=f"{method}-{steps}")


def sample_flow(model: NoisePredictor, path: FlowPath, shape: Sequence[int], *, steps: int = 15,
                method: FlowMethod = "heun", labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                clip_denoised: bool = True, generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
                device: str | torch.device | None = None, precision: str = "auto", progress: bool = False) -> torch.Tensor:
    """Integrate a flow-matching model's ODE dx/ds = v_theta(x, s) from noise (s = 1) to data (s = 0).

    Euler's method (first order, ``steps`` network calls) or Heun's (second order, 2 steps - 1
    calls), through the course's one reverse loop (:func:`flow_steps`), with guidance applied to
    the velocity. ``generator`` draws only x_T. Returns (B, ...), in [-1, 1] when ``clip_denoised``.
    """
    x = final(flow_steps(model, path, shape, steps=steps, method=method, labels=labels,
                         guidance_scale=guidance_scale, clip_denoised=clip_denoised, generator=generator, x_T=x_T,
                         device=device, precision=precision, progress=progress))
    return x.clamp(-1, 1) if clip_denoised else x


def ddim_invert(model: NoisePredictor, schedule: NoiseSchedule, x0: torch.Tensor, *, steps: int = 50,
                labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                device: str | torch.device | None = None, precision: str = "fp32",
                progress: bool = False) -> torch.Tensor:
    """Run deterministic DDIM backwards: x_0 -> x_T, the noise that DDIM (eta=0) maps back to ~x0.

    Walks the DDIM levels upwards, -1 -> t_1 -> ... -> T-1: at each level the model's (x0_hat,
    eps) give the next level by :func:`ddim_inverse_step`. x0: (B, ...). Returns x_T, (B, ...).
    """
    dev = model_device(model, device)
    ts = ddim_timesteps(schedule.num_timesteps, steps)[::-1]
    pairs = list(zip([-1, *ts[:-1]], ts))

    def step(x_t: torch.Tensor, x0_hat: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor,
             z: torch.Tensor | None) -> torch.Tensor:
        return ddim_inverse_step(schedule, x0_hat, eps, t_next)

    return final(reverse_steps(model, schedule, initial_noise(x0.shape, None, dev, x0), pairs, step, labels=labels,
                               guidance_scale=guidance_scale, clip_denoised=False, draw_noise=False,
                               precision=precision, progress=progress, desc="DDIM inversion"))


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

    At every step t -> t': the unknown region takes a stochastic DDIM step (eta = 1) from x_t, the
    known region is noised to level t' from ``known`` (q_sample), and the two are merged:
    x_{t'} = mask * known_{t'} + (1 - mask) * generated_{t'}. Each step is repeated ``resample``
    times, re-noising x_{t'} back to level t in between (q(x_t | x_t') with alpha = a_t / a_t'),
    which lets the generated part agree with the known part. known, mask: (B, C, H, W), mask 1 =
    keep. Returns (B, C, H, W) in [-1, 1].
    """
    if known.shape != mask.shape:
        raise ValueError(f"known {tuple(known.shape)} and mask {tuple(mask.shape)} must have the same shape")
    check_whole("resample", resample, 1)
    dev = model_device(model, device)
    known, mask = known.to(dev).float(), mask.to(dev).float()
    pairs, last_repeat = [], []
    for t_int, t_prev_int in descending_pairs(ddim_timesteps(schedule.num_timesteps, steps)):
        repeats = 1 if t_prev_int < 0 else resample
        pairs += [(t_int, t_prev_int)] * repeats
        last_repeat += [False] * (repeats - 1) + [True]

    def step(x_t: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor,
             z: torch.Tensor | None) -> torch.Tensor:
        return ddim_step(schedule, x0, eps, t, t_prev, eta=1.0, z=z)

    x = initial_noise(known.shape, generator, dev)
    loop = reverse_steps(model, schedule, x, pairs, step, labels=labels, guidance_scale=guidance_scale,
                         generator=generator, precision=precision, progress=progress, desc="inpainting")
    for s, done_with_t in zip(loop, last_repeat):
        shape = known.shape
        if s.t_prev < 0:
            known_prev = known
        else:
            t_prev = torch.full((shape[0],), s.t_prev, device=dev, dtype=torch.long)
            known_prev = schedule.q_sample(known, t_prev, torch.randn(shape, generator=generator, device=dev))
        merged = mask * known_prev + (1 - mask) * s.x_prev
        if not done_with_t:  # jump back up: q(x_t | x_t') with alpha = a_t / a_t'
            t = torch.full((shape[0],), s.t, device=dev, dtype=torch.long)
            ratio = schedule.alpha_bar(t, shape) / schedule.alpha_bar(torch.full_like(t, s.t_prev), shape)
            merged = ratio.sqrt() * merged + (1 - ratio).sqrt() * torch.randn(shape, generator=generator, device=dev)
        s.x_prev = merged
        x = merged
    return x.clamp(-1, 1)


def sampler_steps(model: NoisePredictor, schedule: DiffusionPath, shape: Sequence[int], *,
                  sampler: SamplerName = "ddim", steps: int = 50, eta: float = 0.0, labels: torch.Tensor | None = None,
                  guidance_scale: float = 1.0, generator: torch.Generator | None = None,
                  x_T: torch.Tensor | None = None, device: str | torch.device | None = None, precision: str = "auto",
                  progress: bool = False, clip_denoised: bool = True) -> Iterator[ReverseStep]:
    """The steps of the sampler named ``sampler`` (one of :data:`SAMPLERS`), x0_hat clamped to [-1, 1]
    when ``clip_denoised`` (pixels; a latent model's x0 is not bounded, so it passes False).

    ddpm: :func:`ddpm_steps` over all T levels (``steps`` unused); ddim: :func:`ddim_steps` with
    ``eta``; dpm++: :func:`dpm_solver_steps` (deterministic, so ``eta`` must be 0); euler and
    heun: :func:`flow_steps` on a flow-matching path.
    """
    check_sampler(sampler, steps, schedule.num_timesteps, eta)
    check_path(sampler, schedule)
    common: dict[str, Any] = dict(labels=labels, guidance_scale=guidance_scale, generator=generator, x_T=x_T,
                                  device=device, precision=precision, progress=progress, clip_denoised=clip_denoised)
    if isinstance(schedule, FlowPath):
        return flow_steps(model, schedule, shape, steps=steps, method="euler" if sampler == "euler" else "heun",
                          **common)
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule or a FlowPath, got {type(schedule).__name__}")
    if sampler == "ddpm":
        return ddpm_steps(model, schedule, shape, **common)
    if sampler == "dpm++":
        return dpm_solver_steps(model, schedule, shape, steps=steps, **common)
    return ddim_steps(model, schedule, shape, steps=steps, eta=eta, **common)


def network_calls(sampler: SamplerName, steps: int, num_timesteps: int) -> int:
    """Network evaluations per image (per guided pair): T for ddpm, 2 steps - 1 for heun, else ``steps``."""
    return num_timesteps if sampler == "ddpm" else 2 * steps - 1 if sampler == "heun" else steps


def sampler_name(sampler: SamplerName, steps: int, num_timesteps: int) -> str:
    """How tables name a sampler run: "DDPM-1000", "DDIM-50", "DPM++-15", "HEUN-15" (the count is network calls per image)."""
    return f"{sampler.upper()}-{network_calls(sampler, steps, num_timesteps)}"


def generate(model: NoisePredictor, schedule: DiffusionPath, labels: torch.Tensor | None, *,
             num_samples: int | None = None, image_shape: Sequence[int] | None = None,
             sampler: SamplerName = "ddim", steps: int = 50, eta: float = 0.0, guidance_scale: float = 1.0,
             batch_size: int = 250, generator: torch.Generator | None = None,
             device: str | torch.device | None = None, precision: str = "auto", progress: bool = False,
             decoder: LatentDecoder | None = None) -> torch.Tensor:
    """Many samples in batches: one per entry of ``labels`` (or ``num_samples`` unconditional ones).

    ``image_shape`` defaults to (model.in_channels, 32, 32). Every argument is checked before the
    first network evaluation. Returns (N, *image_shape) in [-1, 1] on the CPU.

    With a ``decoder`` (latent diffusion, notebook 09) the model samples latents of
    ``decoder.latent_shape`` without clamping x0_hat, and each batch is decoded: the result is
    the decoder's images, in [-1, 1].
    """
    check_guidance(guidance_scale)
    eta = check_sampler(sampler, steps, schedule.num_timesteps, eta)
    check_path(sampler, schedule)
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
        x = final(sampler_steps(model, schedule, (b, *image_shape), sampler=sampler, steps=steps, eta=eta, labels=lab,
                                guidance_scale=guidance_scale, generator=generator, device=device,
                                precision=precision, clip_denoised=decoder is None))
        if decoder is not None:
            x = decoder.decode(x)
        out.append(x.clamp(-1, 1).float().cpu())
        bar.update(b)
    bar.close()
    return torch.cat(out)
