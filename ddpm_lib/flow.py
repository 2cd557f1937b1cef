"""Flow matching: the straight path from data to noise, and the velocity a network learns along it.

Taught in ``notebooks/10_flow_matching.ipynb``.

Rectified flow (Liu et al. 2022) and flow matching (Lipman et al. 2023) noise along a straight line,
x_s = (1 - s) x_0 + s eps with s in [0, 1], and learn its velocity: L = E || v_theta(x_s, s) - (eps - x_0) ||^2,
minimised by v*(x, s) = E[eps - x_0 | x_s = x]. Sampling integrates dx/ds = v from s = 1 to 0
(:func:`ddpm_lib.sample.sample_flow`). The integer level t = 0..T-1 stands for s = (t + 1) / T, t = -1 for s = 0,
so training draws t as for a DDPM.

One prediction, three names: with x0_hat = E[x_0 | x] and eps_hat = E[eps | x], Tweedie gives the score
-eps_hat / sigma, and on the straight path v = eps_hat - x0_hat, x0_hat = x - s v, eps_hat = x + (1 - s) v.
A DDPM's eps-model thus also gives a velocity, and DDIM is Euler's method on the straight path
(:func:`straight_path_level`).
"""

from __future__ import annotations

import torch

from .schedule import NoiseSchedule, extract, extract_clean
from .validate import check_levels


class FlowPath:
    """The straight path x_s = (1 - s) x_0 + s eps on T levels s_t = (t + 1) / T (``s``: (T,) float32), a
    :class:`~ddpm_lib.schedule.DiffusionPath` whose network learns the velocity eps - x_0."""

    kind = "flow"

    def __init__(self, num_timesteps: int = 1000) -> None:
        if not isinstance(num_timesteps, int) or isinstance(num_timesteps, bool) or num_timesteps < 2:
            raise ValueError(f"num_timesteps must be an integer >= 2, got {num_timesteps!r}")
        self.num_timesteps = num_timesteps
        self.s = torch.arange(1, num_timesteps + 1, dtype=torch.float64).div(num_timesteps).float()

    def __len__(self) -> int:
        return self.num_timesteps

    def __repr__(self) -> str:
        return f"FlowPath(num_timesteps={self.num_timesteps})"

    def to(self, device: torch.device | str) -> "FlowPath":
        """Move ``s`` to ``device`` (in place) and return self."""
        self.s = self.s.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.s.device

    def config(self) -> dict[str, object]:
        """What is needed to rebuild this path: ``FlowPath(s.config()["num_timesteps"])``, kind "flow"."""
        return {"num_timesteps": self.num_timesteps, "kind": self.kind}

    def level(self, t: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
        """s_t = (t + 1) / T per sample, broadcastable to ``shape``; t = -1 gives s = 0 (the data)."""
        return extract_clean(self.s, t, shape, 0.0)

    # -- the forward process ----------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_s = (1 - s_t) x_0 + s_t eps; x0, noise: (B, ...); t: (B,) in 0..T-1 (checked, as for a DDPM)."""
        t = check_levels(t, x0.shape, self.num_timesteps)
        if noise.shape != x0.shape:
            raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
        s = self.level(t, x0.shape)
        return (1 - s) * x0 + s * noise

    def training_target(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The velocity of the straight path, d x_s / ds = eps - x_0 (the same at every s)."""
        return noise - x0

    # -- what the network predicts: the velocity v ----------------------------------------------
    def split_prediction(self, xt: torch.Tensor, t: torch.Tensor,
                         output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_hat, eps_hat) from a predicted velocity v: x0_hat = x - s v, eps_hat = x + (1 - s) v."""
        s = self.level(t, xt.shape)
        return xt - s * output, xt + (1 - s) * output

    def predict_eps(self, xt: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """The noise that takes x_0 to x_s: eps = (x_s - (1 - s) x_0) / s (t >= 0, so s >= 1/T)."""
        s = extract(self.s, t, xt.shape)
        return (xt - (1 - s) * x0) / s


def flow_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """``steps`` levels with s evenly spaced from 1 down to 1/steps, t_k = round(T (1 - k/steps)) - 1; the last step
    goes on to s = 0 (t = -1), so ``steps`` Euler steps cover [0, 1] in equal pieces."""
    if not isinstance(steps, int) or not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps must be a whole number from 1 to {num_timesteps} (the path's T), got {steps!r}")
    return [round(num_timesteps * (1 - k / steps)) - 1 for k in range(steps)]


# -- one prediction, three names --------------------------------------------------------------------
def velocity_from_eps(x: torch.Tensor, eps: torch.Tensor, s: torch.Tensor | float) -> torch.Tensor:
    """v = (eps_hat - x) / (1 - s) on the straight path (from eps_hat = x + (1 - s) v), for s < 1."""
    return (eps - x) / (1 - s)


def eps_from_velocity(x: torch.Tensor, v: torch.Tensor, s: torch.Tensor | float) -> torch.Tensor:
    """eps_hat = x + (1 - s) v on the straight path."""
    return x + (1 - s) * v


def score_from_eps(eps: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """Tweedie: grad_x log p(x) = -E[eps | x] / sigma for any Gaussian path x = alpha x_0 + sigma eps."""
    return -eps / sigma


def velocity_from_score(x: torch.Tensor, score: torch.Tensor, s: torch.Tensor | float) -> torch.Tensor:
    """v = (-s score - x) / (1 - s): the straight path's velocity from the score of p_s (for s < 1)."""
    return velocity_from_eps(x, -s * score, s)


def straight_path_level(schedule: NoiseSchedule, t: torch.Tensor,
                        shape: torch.Size | tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Where a DDPM level sits on the straight path: (s, c) with x_s = x_t / c, s = sigma_t / c, c = alpha_t + sigma_t
    (alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t); t = -1 gives s = 0, c = 1), broadcastable to
    ``shape``. Euler's step there, times c', is DDIM's x_t' = alpha_t' x0_hat + sigma_t' eps_hat (eq. 12, eta = 0).
    """
    a = schedule.alpha_bar(t, shape)
    alpha, sigma = a.sqrt(), (1 - a).sqrt()
    c = alpha + sigma
    return sigma / c, c
