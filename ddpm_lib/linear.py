"""Linear diffusion: every part of a text-to-image diffusion model replaced by a linear one.

Taught in ``notebooks/01_linear_diffusion.ipynb``.

=====================  ==========================  ==========================================
part of a real model   linear stand-in here        what it does
=====================  ==========================  ==========================================
text encoder           :func:`encode_prompt`       "0".."9" -> one-hot vector c (10,)
VAE encoder / decoder  :class:`PCACodec`           image (1024 pixels) <-> latent z (k,)
U-Net noise predictor  :class:`LinearDenoiser`     least squares: [z_noisy, c, c (x) z_noisy] -> eps
=====================  ==========================  ==========================================

One shot (the source's version): fit on z + eps, then subtract the predicted noise from pure noise once.
Multi-step (:class:`LinearNoisePredictor`): one least-squares fit per band of levels, run by the UNet's samplers.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .schedule import NoiseSchedule

NUM_PROMPTS = 10
PROMPTS: tuple[str, ...] = tuple(str(d) for d in range(NUM_PROMPTS))


def encode_prompt(prompts: str | Sequence[str]) -> torch.Tensor:
    """The "text encoder": prompts "0".."9" -> one-hot rows, shape (n, 10) float64."""
    if isinstance(prompts, str):
        prompts = [prompts]
    bad = [p for p in prompts if p not in PROMPTS]
    if bad:
        raise ValueError(f"prompts must be one of the digits '0'..'9' written as text, got {bad[:3]}")
    idx = torch.tensor([PROMPTS.index(p) for p in prompts])
    return torch.nn.functional.one_hot(idx, NUM_PROMPTS).double()


def one_hot(labels: torch.Tensor | None, n: int, null_label: int = NUM_PROMPTS) -> torch.Tensor:
    """(n,) integer labels -> (n, 10) one-hot, float64; the null label (or None) gives all zeros."""
    if labels is None:
        return torch.zeros(n, NUM_PROMPTS, dtype=torch.float64)
    labels = labels.long().cpu()
    out = torch.zeros(n, NUM_PROMPTS + 1, dtype=torch.float64)
    out[torch.arange(n), labels] = 1.0
    return out[:, :NUM_PROMPTS] if null_label == NUM_PROMPTS else out


class PCACodec:
    """PCA as a linear VAE: z = s (x - mu) V_k^T and x = z V_k / s + mu, V_k the top ``num_components`` right singular
    vectors (k, D) of the centred pixels; ``scale`` s makes the latents unit-variance on average."""

    def __init__(self, num_components: int = 40) -> None:
        if num_components < 1:
            raise ValueError(f"num_components must be >= 1, got {num_components}")
        self.num_components = num_components
        self.mean: torch.Tensor | None = None
        self.components: torch.Tensor | None = None
        self.explained_variance_ratio: torch.Tensor | None = None
        self.scale = 1.0
        self.image_shape: tuple[int, ...] = ()

    def fit(self, images: torch.Tensor) -> "PCACodec":
        """Fit to (N, C, H, W) images; returns self."""
        x = images.flatten(1).double()
        if self.num_components > min(x.shape):
            raise ValueError(f"num_components ({self.num_components}) cannot exceed min(N, D) = {min(x.shape)}")
        self.image_shape = tuple(images.shape[1:])
        self.mean = x.mean(0)
        _, s, vh = torch.linalg.svd(x - self.mean, full_matrices=False)
        var = s ** 2 / (x.shape[0] - 1)
        self.components = vh[:self.num_components]
        self.explained_variance_ratio = var[:self.num_components] / var.sum()
        self.scale = 1.0
        self.scale = float(1.0 / self.encode(images).std())
        return self

    def _fitted(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean (D,), components (k, D)), or a RuntimeError that says to fit first."""
        if self.components is None or self.mean is None:
            raise RuntimeError("the PCA codec is not fitted yet: call .fit(images) first")
        return self.mean, self.components

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> latents (N, k), float64."""
        mean, components = self._fitted()
        return (images.flatten(1).double() - mean) @ components.T * self.scale

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """latents (N, k) -> images (N, C, H, W), float32 (not clamped)."""
        mean, components = self._fitted()
        if latents.ndim != 2 or latents.shape[1] != self.num_components:
            raise ValueError(f"latents must have shape (N, {self.num_components}), got {tuple(latents.shape)}")
        x = latents.double() / self.scale @ components + mean
        return x.float().reshape(-1, *self.image_shape)


def interaction_features(noisy_latents: torch.Tensor, prompt_onehot: torch.Tensor) -> torch.Tensor:
    """Denoiser inputs [z, c, c (x) z]: (n, k) and (n, 10) -> (n, k + 10 + 10 k); the products c_j z_i let a linear
    model use a different map of z for each prompt."""
    if noisy_latents.shape[0] != prompt_onehot.shape[0]:
        raise ValueError(f"need one prompt per latent: {noisy_latents.shape[0]} latents, {prompt_onehot.shape[0]} prompts")
    z, c = noisy_latents.double(), prompt_onehot.double()
    inter = (c[:, :, None] * z[:, None, :]).flatten(1)
    return torch.cat([z, c, inter], dim=1)


def least_squares(features: torch.Tensor, targets: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
    """Weights W (F + 1, out) of targets ~ [features, 1] W, minimising ||.||^2 + ridge ||W[:-1]||^2."""
    x = torch.cat([features, torch.ones(features.shape[0], 1, dtype=features.dtype)], dim=1)
    if ridge > 0:
        reg = ridge * torch.eye(x.shape[1], dtype=x.dtype)
        reg[-1, -1] = 0.0  # never shrink the intercept
        weights: torch.Tensor = torch.linalg.solve(x.T @ x + reg, x.T @ targets.double())
        return weights
    solution: torch.Tensor = torch.linalg.lstsq(x, targets.double(), driver="gelsd").solution
    return solution


def apply_linear(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """[features, 1] @ W."""
    return features @ weights[:-1] + weights[-1]


class LinearDenoiser:
    """The one-shot linear noise predictor of the source: eps_hat = [z_noisy, c, c (x) z_noisy, 1] W."""

    def __init__(self, ridge: float = 0.0) -> None:
        self.ridge = ridge
        self.weights: torch.Tensor | None = None

    def fit(self, latents: torch.Tensor, prompt_onehot: torch.Tensor, *, repeats: int = 4,
            generator: torch.Generator | None = None) -> "LinearDenoiser":
        """Training pairs: z_noisy = z + eps (``repeats`` noise draws per latent), target eps."""
        z = latents.double().repeat(repeats, 1)
        c = prompt_onehot.double().repeat(repeats, 1)
        eps = torch.randn(z.shape, generator=generator, dtype=torch.float64)
        self.weights = least_squares(interaction_features(z + eps, c), eps, self.ridge)
        return self

    def predict(self, noisy_latents: torch.Tensor, prompt_onehot: torch.Tensor) -> torch.Tensor:
        if self.weights is None:
            raise RuntimeError("the denoiser is not fitted yet: call .fit(latents, prompts) first")
        return apply_linear(interaction_features(noisy_latents, prompt_onehot), self.weights)

    def denoise(self, noisy_latents: torch.Tensor, prompt_onehot: torch.Tensor) -> torch.Tensor:
        """One shot: z_denoised = z_noisy - eps_hat."""
        return noisy_latents.double() - self.predict(noisy_latents, prompt_onehot)


class LinearDiffusion:
    """The whole one-shot pipeline: prompt -> one-hot, noise -> linear denoiser -> PCA decoder -> image."""

    def __init__(self, num_components: int = 40, ridge: float = 0.0) -> None:
        self.codec = PCACodec(num_components)
        self.denoiser = LinearDenoiser(ridge)

    def fit(self, images: torch.Tensor, labels: torch.Tensor, *, repeats: int = 4,
            generator: torch.Generator | None = None) -> "LinearDiffusion":
        """images (N, C, H, W) in [-1, 1], labels (N,) digits."""
        self.codec.fit(images)
        self.denoiser.fit(self.codec.encode(images), one_hot(labels, len(labels)), repeats=repeats, generator=generator)
        return self

    def denoise(self, noisy_latents: torch.Tensor, prompt: str) -> torch.Tensor:
        """Subtract the predicted noise once: (n, k) -> (n, k)."""
        return self.denoiser.denoise(noisy_latents, encode_prompt([prompt] * noisy_latents.shape[0]))

    def generate(self, prompt: str, n: int = 8, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pure latent noise z ~ N(0, I) -> denoise once -> decode: (n, C, H, W) in [-1, 1]."""
        z = torch.randn(n, self.codec.num_components, generator=generator, dtype=torch.float64)
        return self.codec.decode(self.denoise(z, prompt)).clamp(-1, 1)


class LinearNoisePredictor:
    """A multi-step linear eps_theta(z_t, t, label): one least-squares fit per each of ``num_levels`` equal bands of
    levels, labels dropped with ``p_uncond``. Callable like the UNet: ``model(z_t (B, k), t (B,), labels) -> (B, k)``."""

    null_label = NUM_PROMPTS
    num_classes = NUM_PROMPTS

    def __init__(self, schedule: NoiseSchedule, num_levels: int = 50, ridge: float = 1e-3, p_uncond: float = 0.1) -> None:
        if not 1 <= num_levels <= schedule.num_timesteps:
            raise ValueError(f"num_levels must be between 1 and T = {schedule.num_timesteps}, got {num_levels}")
        self.schedule, self.num_levels, self.ridge, self.p_uncond = schedule, num_levels, ridge, p_uncond
        self.weights: torch.Tensor | None = None  # (levels, F + 1, k)

    def level(self, t: torch.Tensor) -> torch.Tensor:
        return (t.long().cpu() * self.num_levels) // self.schedule.num_timesteps

    def fit(self, latents: torch.Tensor, labels: torch.Tensor, *, repeats: int = 2,
            generator: torch.Generator | None = None) -> "LinearNoisePredictor":
        z0 = latents.double().repeat(repeats, 1)
        lab = labels.long().repeat(repeats)
        n, t_total = z0.shape[0], self.schedule.num_timesteps
        weights = []
        for b in range(self.num_levels):
            lo, hi = b * t_total // self.num_levels, (b + 1) * t_total // self.num_levels
            t = torch.randint(lo, hi, (n,), generator=generator)
            a = self.schedule.alpha_bar(t, z0.shape).double().cpu()
            eps = torch.randn(z0.shape, generator=generator, dtype=torch.float64)
            zt = a.sqrt() * z0 + (1 - a).sqrt() * eps
            drop = torch.rand(n, generator=generator) < self.p_uncond
            c = one_hot(torch.where(drop, self.null_label, lab), n)
            weights.append(least_squares(interaction_features(zt, c), eps, self.ridge))
        self.weights = torch.stack(weights)
        return self

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.weights is None:
            raise RuntimeError("the linear noise predictor is not fitted yet: call .fit(latents, labels) first")
        feats = interaction_features(x.cpu(), one_hot(labels, x.shape[0]))
        lv = self.level(t)
        out = torch.empty(x.shape, dtype=torch.float64)
        for b in lv.unique().tolist():
            m = lv == b
            out[m] = apply_linear(feats[m], self.weights[b])
        return out.to(x.device, torch.float32)
