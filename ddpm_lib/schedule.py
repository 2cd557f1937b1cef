"""The forward (noising) process of DDPM and every coefficient derived from it.

Taught in ``notebooks/02_forward_process.ipynb``. The schedule is pure maths: it knows nothing of
the network. Coefficients are computed once in float64 and stored as float32 tensors named after
their formula; every per-sample lookup goes through :func:`extract`.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol, Sequence

import torch

from .validate import check_levels, check_whole

ScheduleKind = Literal["linear", "cosine"]
SCHEDULE_KINDS: tuple[str, ...] = ("linear", "cosine")


def linear_beta_schedule(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02,
                         max_beta: float = 0.999) -> torch.Tensor:
    """beta_t evenly spaced from ``beta_start`` to ``beta_end`` for T = 1000 (Ho et al. 2020), float64, (T,).

    For another T both ends scale by 1000 / T (as improved-diffusion does), so x_T is pure noise whatever T is;
    betas are clipped at ``max_beta``.
    """
    scale = 1000.0 / num_timesteps
    return torch.linspace(beta_start * scale, beta_end * scale, num_timesteps, dtype=torch.float64).clamp(max=max_beta)


def cosine_beta_schedule(num_timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal 2021: alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2) / f(0).

    beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1), clipped at ``max_beta``; float64, shape (T,).
    """
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    betas = 1 - alphas_cumprod[1:] / alphas_cumprod[:-1]
    return betas.clamp(max=max_beta)


def extract(a: torch.Tensor, t: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """a[t] per sample, shaped (B, 1, ..., 1) to broadcast against ``shape``: the one schedule lookup.

    a: (T,) coefficients; t: (B,) long indices in 0..T-1 (0-based: t = 0 is the paper's step 1).
    Returns (B, 1, ...) with len(shape) dims, on t's device in a's dtype.
    """
    return a.to(t.device).gather(0, t).reshape(t.shape[0], *([1] * (len(shape) - 1)))


def extract_clean(a: torch.Tensor, t: torch.Tensor, shape: torch.Size | tuple[int, ...], clean: float) -> torch.Tensor:
    """:func:`extract` where t may also be -1, the clean image, whose coefficient is ``clean`` (alpha_bar_{-1} = 1;
    s = 0 on the straight path). -1 never reaches the gather, where it would read the value at T-1."""
    return torch.where(t.reshape(-1, *([1] * (len(shape) - 1))) >= 0, extract(a, t.clamp(min=0), shape), clean)


class DiffusionPath(Protocol):
    """A path from data to noise, x_t = alpha_t x_0 + sigma_t eps at levels t = 0..T-1, and what a network learns on it.

    DDPM's :class:`NoiseSchedule` (the network predicts eps) and flow matching's :class:`ddpm_lib.flow.FlowPath`
    (it predicts the velocity eps - x_0) share the training loop and the samplers through ``q_sample``,
    ``training_target`` and ``split_prediction`` (the output read as (x0_hat, eps_hat)).
    """

    num_timesteps: int

    @property
    def kind(self) -> str: ...

    @property
    def device(self) -> torch.device: ...

    def to(self, device: torch.device | str) -> object: ...

    def config(self) -> dict[str, object]: ...

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor: ...

    def training_target(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor: ...

    def split_prediction(self, xt: torch.Tensor, t: torch.Tensor,
                         output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def predict_eps(self, xt: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor: ...


class NoiseSchedule:
    """Precomputed coefficients of the forward process q(x_t | x_0) and its posterior, float32 (T,) tensors
    named after their formula (the dictionary in ``__init__``).

    ``t`` runs 0..T-1 in code, and ``betas[t]`` is the paper's beta_{t+1}: ``q_sample(x0, t=0)`` is the paper's
    x_1 and ``t = T-1`` is x_T. :meth:`alpha_bar` also takes ``t = -1``, the noiseless level (alpha_bar = 1).
    """

    def __init__(self, num_timesteps: int = 1000, kind: ScheduleKind = "linear") -> None:
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"unknown schedule kind {kind!r}; valid kinds are {', '.join(SCHEDULE_KINDS)}")
        if not isinstance(num_timesteps, int) or num_timesteps < 2:
            raise ValueError(f"num_timesteps must be an integer >= 2, got {num_timesteps!r}")
        self.num_timesteps = num_timesteps
        self.kind: ScheduleKind = kind
        betas = linear_beta_schedule(num_timesteps) if kind == "linear" else cosine_beta_schedule(num_timesteps)
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        coefs64 = {
            "betas": betas,  # beta_t
            "alphas": alphas,  # alpha_t = 1 - beta_t
            "alphas_cumprod": alphas_cumprod,  # alpha_bar_t = prod_{s<=t} alpha_s
            "alphas_cumprod_prev": alphas_cumprod_prev,  # alpha_bar_{t-1}, 1 at t = 0
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1 - alphas_cumprod).sqrt(),
            "posterior_variance": betas * (1 - alphas_cumprod_prev) / (1 - alphas_cumprod),  # beta~_t (eq. 7)
            "posterior_mean_coef1": betas * alphas_cumprod_prev.sqrt() / (1 - alphas_cumprod),  # of x_0 in mu~_t
            "posterior_mean_coef2": (1 - alphas_cumprod_prev) * alphas.sqrt() / (1 - alphas_cumprod),  # of x_t
            "snr": alphas_cumprod / (1 - alphas_cumprod),
        }
        self._names = tuple(coefs64)
        for name, value in coefs64.items():
            setattr(self, name, value.float())

    # -- bookkeeping -------------------------------------------------------------------------
    betas: torch.Tensor
    alphas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_mean_coef1: torch.Tensor
    posterior_mean_coef2: torch.Tensor
    snr: torch.Tensor

    def __len__(self) -> int:
        return self.num_timesteps

    def __repr__(self) -> str:
        return f"NoiseSchedule(num_timesteps={self.num_timesteps}, kind={self.kind!r})"

    def to(self, device: torch.device | str) -> "NoiseSchedule":
        """Move every coefficient to ``device`` (in place) and return self."""
        for name in self._names:
            setattr(self, name, getattr(self, name).to(device))
        return self

    @property
    def device(self) -> torch.device:
        return self.betas.device

    def config(self) -> dict[str, object]:
        """What is needed to rebuild this schedule: ``NoiseSchedule(**s.config())``."""
        return {"num_timesteps": self.num_timesteps, "kind": self.kind}

    # -- the forward process ----------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps ~ q(x_t | x_0) (DDPM eq. 4); x0, noise: (B, ...),
        t: (B,), checked here, where a learner hands in levels."""
        t = check_levels(t, x0.shape, self.num_timesteps)
        if noise.shape != x0.shape:
            raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
        return (extract(self.sqrt_alphas_cumprod, t, x0.shape) * x0
                + extract(self.sqrt_one_minus_alphas_cumprod, t, x0.shape) * noise)

    def q_step(self, x_prev: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """One Markov step q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I) (DDPM eq. 2)."""
        beta = extract(self.betas, t, x_prev.shape)
        return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean coef1_t x_0 + coef2_t x_t and variance beta~_t (B, 1, 1, 1) of q(x_{t-1} | x_t, x_0) (DDPM eqs. 6-7)."""
        mean = (extract(self.posterior_mean_coef1, t, xt.shape) * x0
                + extract(self.posterior_mean_coef2, t, xt.shape) * xt)
        return mean, extract(self.posterior_variance, t, xt.shape)

    def alpha_bar(self, t: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
        """alpha_bar_t per sample, broadcastable to ``shape``; t = -1 gives alpha_bar_{-1} = 1 (no noise)."""
        return extract_clean(self.alphas_cumprod, t, shape, 1.0)

    def predict_x0(self, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t): eq. 4 solved for x_0 (DDIM eq. 9)."""
        return ((xt - extract(self.sqrt_one_minus_alphas_cumprod, t, xt.shape) * eps)
                / extract(self.sqrt_alphas_cumprod, t, xt.shape))

    def predict_eps(self, xt: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """The noise that takes x_0 to x_t: eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t)."""
        return ((xt - extract(self.sqrt_alphas_cumprod, t, xt.shape) * x0)
                / extract(self.sqrt_one_minus_alphas_cumprod, t, xt.shape))

    # -- what the network predicts: eps (DDPM's parametrisation) -------------------------------------
    def training_target(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The network's target in Algorithm 1: the noise eps itself (x0 is not needed)."""
        return noise

    def split_prediction(self, xt: torch.Tensor, t: torch.Tensor,
                         output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_hat, eps_hat) from the network's output, which is eps_hat: x0_hat by :meth:`predict_x0`."""
        return self.predict_x0(xt, t, output), output


# -- the levels a sampler visits: DDIM's even stride, DPM-Solver's even log-SNR -----------------------
def log_snr(schedule: NoiseSchedule, t: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """lambda_t = log(alpha_t / sigma_t) = 0.5 log(a_t / (1 - a_t)), a = alpha_bar: DPM-Solver's time variable,
    broadcastable to ``shape``; +inf at t = -1."""
    a = schedule.alpha_bar(t, shape)
    return 0.5 * (a.log() - (1 - a).log())


def ddim_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """``steps`` time indices evenly spread over 0..T-1, descending, always including T-1 and 0."""
    check_whole("steps", steps, 1, num_timesteps, why=" (the schedule's T is the most)")
    if steps == 1:
        return [num_timesteps - 1]
    ts = torch.linspace(0, num_timesteps - 1, steps, dtype=torch.float64).round().long().unique()
    out: list[int] = ts.flip(0).tolist()
    return out


def log_snr_timesteps(schedule: NoiseSchedule, steps: int) -> list[int]:
    """``steps`` levels from T-1 down to 0, evenly spaced in lambda = log(alpha/sigma) as far as whole levels allow
    (Lu et al. 2022's spacing: every DPM-Solver step the same h). Levels that would repeat near t = 0 move up one."""
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


def descending_pairs(timesteps: Sequence[int]) -> list[tuple[int, int]]:
    """(t, t_prev) pairs for a descending list of levels, ending with (t_last, -1)."""
    ts = [int(t) for t in timesteps]
    if any(a <= b for a, b in zip(ts, ts[1:])):
        raise ValueError(f"timesteps must be strictly descending, got {ts[:8]}{' ...' if len(ts) > 8 else ''}")
    return list(zip(ts, ts[1:] + [-1]))
