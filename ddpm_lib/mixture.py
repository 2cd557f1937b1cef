"""A Gaussian mixture: a toy data distribution whose noised versions and scores are known exactly.

Noising data x0 ~ sum_k w_k N(mu_k, s^2 I) to level t gives another mixture,

    q_t(x) = sum_k w_k N(x; sqrt(alpha_bar_t) mu_k, v_t I),   v_t = alpha_bar_t s^2 + 1 - alpha_bar_t,

whose score is grad log q_t(x) = sum_k r_k(x) (sqrt(alpha_bar_t) mu_k - x) / v_t, with r_k(x) the
posterior responsibility of component k. The ideal noise predictor of a DDPM is then
eps*(x_t, t) = -sqrt(1 - alpha_bar_t) grad log q_t(x_t) (Tweedie's formula), so the course's samplers
can be run on this toy without training anything, and Langevin dynamics can use the score directly.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .flow import FlowPath
from .schedule import NoiseSchedule, extract

Score = Callable[[torch.Tensor], torch.Tensor]


class GaussianMixture:
    """Isotropic Gaussian mixture in D dimensions: (K, D) ``means``, one shared ``std`` s, (K,) ``weights`` (normalised
    here; equal by default)."""

    def __init__(self, means: torch.Tensor, std: float, weights: torch.Tensor | None = None) -> None:
        if means.dim() != 2:
            raise ValueError(f"means must be (K, D), got shape {tuple(means.shape)}")
        if not std > 0:
            raise ValueError(f"std must be positive, got {std}")
        self.means = means.double()
        self.std = float(std)
        w = torch.ones(len(means), dtype=torch.float64) if weights is None else weights.double()
        if w.shape != (len(means),) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be {len(means)} non-negative numbers with a positive sum")
        self.weights = w / w.sum()

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, D) draws: a component by its weight, then the component's Gaussian."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        return self.means[k] + self.std * torch.randn(n, self.dim, generator=generator, dtype=torch.float64)

    def _noised(self, signal: torch.Tensor | float,
                noise: torch.Tensor | float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Means (B or 1, K, D) and variances (B or 1, 1, 1) of x = signal x_0 + noise eps, per row.

        ``noise`` defaults to sqrt(1 - signal^2), DDPM's path (signal = sqrt(alpha_bar_t)); flow
        matching's straight path has signal = 1 - s and noise = s.
        """
        a = torch.as_tensor(signal, dtype=torch.float64).reshape(-1, 1, 1)
        n2 = 1 - a ** 2 if noise is None else torch.as_tensor(noise, dtype=torch.float64).reshape(-1, 1, 1) ** 2
        return a * self.means[None], a ** 2 * self.std ** 2 + n2

    def log_prob(self, x: torch.Tensor, signal: torch.Tensor | float = 1.0,
                 noise: torch.Tensor | float | None = None) -> torch.Tensor:
        """log q(x) for x (B, D), where q is the mixture noised to signal x_0 + noise eps (see :meth:`_noised`)."""
        mu, var = self._noised(signal, noise)
        sq = ((x.double()[:, None, :] - mu) ** 2).sum(-1)  # (B, K)
        var = var[:, :, 0]
        log_n = -0.5 * sq / var - 0.5 * self.dim * torch.log(2 * math.pi * var)
        return torch.logsumexp(log_n + self.weights.log()[None], dim=1)

    def _components(self, x: torch.Tensor, signal: torch.Tensor | float,
                    noise: torch.Tensor | float | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x - signal mu_k (B, K, D), the noised variance v (B or 1, 1, 1), responsibilities r_k(x) (B, K, 1))."""
        mu, var = self._noised(signal, noise)
        centred = x.double()[:, None, :] - mu
        r = torch.softmax(-0.5 * (centred ** 2).sum(-1) / var[:, :, 0] + self.weights.log()[None], dim=1)
        return centred, var, r[:, :, None]

    def score(self, x: torch.Tensor, signal: torch.Tensor | float = 1.0,
              noise: torch.Tensor | float | None = None) -> torch.Tensor:
        """grad_x log q(x), (B, D), for x = signal x_0 + noise eps; ``signal`` = sqrt(alpha_bar_t) (1 = the data
        itself) and ``noise`` = sqrt(1 - alpha_bar_t) by default (:meth:`_noised`)."""
        centred, var, r = self._components(x, signal, noise)
        return (-(r * centred).sum(1) / var[:, :, 0]).to(x.dtype)

    def posterior_means(self, x: torch.Tensor, signal: torch.Tensor | float,
                        noise: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """(E[x_0 | x], E[eps | x]), each (B, D) float64, for x = signal x_0 + noise eps.

        Within component k the pair is jointly Gaussian with x: E[x_0 | x, k] = mu_k + a s^2 / v (x - a mu_k)
        and E[eps | x, k] = n / v (x - a mu_k), v = a^2 s^2 + n^2; the responsibilities r_k(x) mix them.
        Finite everywhere, also at signal = 0 (pure noise), where the score's formulas divide by zero.
        """
        a = torch.as_tensor(signal, dtype=torch.float64).reshape(-1, 1, 1)
        n = torch.as_tensor(noise, dtype=torch.float64).reshape(-1, 1, 1)
        centred, var, r = self._components(x, a, n)
        x0 = (r * (self.means[None] + a * self.std ** 2 / var * centred)).sum(1)
        eps = (r * (n / var * centred)).sum(1)
        return x0, eps


class MixtureNoisePredictor:
    """The ideal eps_theta for data from ``mixture``, eps*(x_t, t) = -sqrt(1 - alpha_bar_t) score_t(x_t), called like
    the UNet: ``model(x_t (B, D), t (B,))``."""

    def __init__(self, mixture: GaussianMixture, schedule: NoiseSchedule) -> None:
        self.mixture, self.schedule = mixture, schedule

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        a_bar = extract(self.schedule.alphas_cumprod, t, (len(t),)).double()
        return -(1 - a_bar).sqrt()[:, None].to(x.dtype) * self.mixture.score(x, a_bar.sqrt())


class MixtureVelocity:
    """The ideal flow-matching velocity v*(x, s) = E[eps - x_0 | x_s = x] for data from ``mixture``, from its exact
    posterior means along the straight path. Called like the UNet, ``model(x (B, D), t (B,))``."""

    def __init__(self, mixture: GaussianMixture, path: FlowPath) -> None:
        self.mixture, self.path = mixture, path

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        s = self.path.level(t, (len(t),)).double()
        x0, eps = self.mixture.posterior_means(x, 1 - s, s)
        return (eps - x0).to(x.dtype)


def langevin(score: Score, x: torch.Tensor, step_size: float, steps: int,
             generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Unadjusted Langevin dynamics, x <- x + (delta / 2) score(x) + sqrt(delta) z: for small delta and many steps,
    samples of the p whose score is ``score``, no normalising constant needed. Returns the path [x_0, ..., x_steps]."""
    if not step_size > 0 or steps < 0:
        raise ValueError(f"langevin needs step_size > 0 and steps >= 0, got {step_size} and {steps}")
    path = [x]
    for _ in range(steps):
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        x = x + 0.5 * step_size * score(x) + math.sqrt(step_size) * z
        path.append(x)
    return path
