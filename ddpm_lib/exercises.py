"""Check functions for the notebooks' exercises: a specific hint when an attempt is wrong.

Every check runs the learner's function on fixed inputs, compares it with the library's answer,
and, when it differs, with the answers that common mistakes give, so the hint names the mistake.
An untouched exercise (one that still raises ``NotImplementedError``) reports "not attempted"
and never raises, so executing a notebook top to bottom always succeeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .linear import interaction_features
from .schedule import NoiseSchedule, extract
from .unet import SinusoidalPositionEmbeddings


@dataclass
class CheckResult:
    """Outcome of an exercise check: passed is True, False, or None (not attempted)."""

    exercise: str
    passed: bool | None
    message: str

    def __str__(self) -> str:
        mark = {True: "correct", False: "not yet", None: "not attempted"}[self.passed]
        return f"[{self.exercise}: {mark}] {self.message}"

    def _repr_markdown_(self) -> str:
        icon = {True: "✅", False: "❌", None: "✏️"}[self.passed]
        return f"{icon} **{self.exercise}**: {self.message}"


def _close(a: Any, b: torch.Tensor, atol: float = 1e-4) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol, rtol=1e-4)


def run_check(exercise: str, attempt: Callable[[], Any], expected: torch.Tensor,
              mistakes: dict[str, torch.Tensor] | None = None, hint: str = "", atol: float = 1e-4) -> CheckResult:
    """Call ``attempt()``, compare with ``expected`` and with each known mistake's output."""
    try:
        got = attempt()
    except NotImplementedError:
        return CheckResult(exercise, None, f"fill in the function, then run this cell again. Hint: {hint}")
    except Exception as err:  # the learner's code: report, never crash the notebook
        return CheckResult(exercise, False, f"your function raised {type(err).__name__}: {err}. Hint: {hint}")
    if not isinstance(got, torch.Tensor):
        return CheckResult(exercise, False, f"expected a torch.Tensor, got {type(got).__name__}")
    if got.shape != expected.shape:
        return CheckResult(exercise, False, f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}. Hint: {hint}")
    if _close(got, expected, atol):
        return CheckResult(exercise, True, "matches the library's answer.")
    for why, wrong in (mistakes or {}).items():
        if _close(got, wrong, atol):
            return CheckResult(exercise, False, why)
    max_error = float((got.double() - expected.double()).abs().max())
    return CheckResult(exercise, False, f"right shape, wrong values (max error {max_error:.3g}). Hint: {hint}")


def _inputs(seed: int = 0) -> tuple[NoiseSchedule, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    s = NoiseSchedule(1000)
    x0 = torch.rand(4, 1, 8, 8, generator=g) * 2 - 1
    t = torch.tensor([0, 10, 500, 999])
    eps = torch.randn(x0.shape, generator=g)
    return s, x0, t, eps


# -- notebook 01 --------------------------------------------------------------------------------
def check_interaction_features(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """fn(z (n, k), c (n, 10)) -> [z, c, c (x) z] of shape (n, k + 10 + 10 k)."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 4, generator=g, dtype=torch.float64)
    c = torch.nn.functional.one_hot(torch.tensor([2, 0, 9]), 10).double()
    inter_t = (z[:, :, None] * c[:, None, :]).flatten(1)
    return run_check("interaction features", lambda: fn(z, c), interaction_features(z, c), {
        "the products are there but in a different order: build them as c[:, :, None] * z[:, None, :] "
        "(all latent entries for prompt 0 first, then prompt 1, ...)": torch.cat([z, c, inter_t], 1),
        "the interaction block is missing: append every product c_j * z_i": torch.cat([z, c, torch.zeros_like(inter_t)], 1),
    }, hint="concatenate z, c and the flattened outer product of c and z along dim=1")


def check_one_shot_denoise(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                           predict_noise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                           latent_dim: int) -> CheckResult:
    """fn(z_noisy (n, latent_dim), c (n, 10)) -> z_noisy - predict_noise(z_noisy, c)."""
    g = torch.Generator().manual_seed(1)
    z = torch.randn(5, latent_dim, generator=g, dtype=torch.float64)
    c = torch.nn.functional.one_hot(torch.arange(5), 10).double()
    eps = predict_noise(z, c)
    return run_check("one-shot denoising", lambda: fn(z, c), z - eps, {
        "you returned the predicted noise itself; subtract it from the noisy latent": eps,
        "the sign is flipped: the clean latent is z_noisy MINUS the predicted noise": z + eps,
    }, hint="z_denoised = z_noisy - eps_hat, with eps_hat = predict_noise(z_noisy, c)")


# -- notebook 02 --------------------------------------------------------------------------------
def check_alphas_cumprod(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """fn(betas (T,)) -> alpha_bar (T,)."""
    s = NoiseSchedule(1000)
    b = s.betas.double()
    return run_check("alpha_bar from beta", lambda: fn(s.betas), torch.cumprod(1 - b, 0), {
        "that is alpha_t = 1 - beta_t; alpha_bar_t is the running product of the alphas": 1 - b,
        "that is the running product of the betas, not of alpha_t = 1 - beta_t": torch.cumprod(b, 0),
        "that is 1 - (running sum of betas): close for small t only; use torch.cumprod": 1 - torch.cumsum(b, 0),
    }, hint="alpha_t = 1 - beta_t, alpha_bar_t = torch.cumprod(alpha, dim=0)", atol=1e-5)


def check_q_sample(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """fn(schedule, x0, t, eps) -> sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps."""
    s, x0, t, eps = _inputs()
    ab = extract(s.alphas_cumprod, t, x0.shape)
    a = extract(s.alphas, t, x0.shape)
    return run_check("closed-form q_sample", lambda: fn(s, x0, t, eps), s.q_sample(x0, t, eps), {
        "you used alpha_t (one step) instead of alpha_bar_t (all steps up to t)": a.sqrt() * x0 + (1 - a).sqrt() * eps,
        "forgot the square roots: the coefficients are sqrt(alpha_bar) and sqrt(1 - alpha_bar)": ab * x0 + (1 - ab) * eps,
        "x0 and eps swapped their coefficients": (1 - ab).sqrt() * x0 + ab.sqrt() * eps,
    }, hint="use extract(schedule.alphas_cumprod, t, x0.shape) to get alpha_bar_t with the right shape")


# -- notebook 03 --------------------------------------------------------------------------------
def check_sinusoidal_embedding(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """fn(t (B,), dim) -> (B, dim): sines in the first half, cosines in the second."""
    t = torch.tensor([0, 1, 17, 999])
    ref = SinusoidalPositionEmbeddings(16)(t)
    half = 8
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
    args = t[:, None].float() * freqs[None]
    return run_check("sinusoidal embedding", lambda: fn(t, 16), ref, {
        "cos and sin are swapped: put the sines first": torch.cat([args.cos(), args.sin()], 1),
        "the frequencies should fall from 1 to 1/10000: divide by 10000^(i/half), not multiply":
            torch.cat([(t[:, None] * (1 / freqs)[None]).sin(), (t[:, None] * (1 / freqs)[None]).cos()], 1),
    }, hint="freqs = exp(-ln(10000) * arange(half) / half); args = t[:, None] * freqs; cat(sin, cos)")


def check_adagn(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """fn(h_normed (B, C, H, W), scale (B, C), shift (B, C)) -> h * (1 + scale) + shift."""
    g = torch.Generator().manual_seed(2)
    h = torch.randn(2, 3, 4, 4, generator=g)
    scale, shift = torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g)
    sc, sh = scale[:, :, None, None], shift[:, :, None, None]
    return run_check("AdaGN scale and shift", lambda: fn(h, scale, shift), h * (1 + sc) + sh, {
        "multiply by (1 + scale), not by scale: a zero scale must leave h unchanged": h * sc + sh,
        "scale first, then shift: h * (1 + scale) + shift": (h + sh) * (1 + sc),
    }, hint="reshape scale and shift to (B, C, 1, 1) so they broadcast over H and W")


# -- notebook 04 --------------------------------------------------------------------------------
def check_diffusion_loss(fn: Callable[..., torch.Tensor], model: Callable[..., torch.Tensor]) -> CheckResult:
    """fn(model, schedule, x0, t, eps) -> mean squared error between eps and model(x_t, t)."""
    s, x0, t, eps = _inputs(3)
    xt = s.q_sample(x0, t, eps)
    pred = model(xt, t)
    return run_check("loss of Algorithm 1", lambda: fn(model, s, x0, t, eps), ((pred - eps) ** 2).mean(), {
        "the model must see the noisy x_t, not the clean x0": ((model(x0, t) - eps) ** 2).mean(),
        "compare the prediction with the noise eps, not with x0": ((pred - x0) ** 2).mean(),
        "take the mean of the squared error, not the sum": ((pred - eps) ** 2).sum(),
    }, hint="x_t = schedule.q_sample(x0, t, eps); loss = F.mse_loss(model(x_t, t), eps)", atol=1e-5)


def check_ema_update(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """fn(ema, theta, decay) -> decay * ema + (1 - decay) * theta."""
    ema, theta = torch.zeros(5), torch.arange(5.0)
    return run_check("EMA update", lambda: fn(ema.clone(), theta, 0.9), 0.9 * ema + 0.1 * theta, {
        "the weights are swapped: the old average keeps the large share (decay), the new weights get 1 - decay":
            0.1 * ema + 0.9 * theta,
    }, hint="ema_new = decay * ema + (1 - decay) * theta")


# -- notebook 05 --------------------------------------------------------------------------------
def check_ddpm_step(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """fn(schedule, x_t, t, eps_hat, z) -> one step of Algorithm 2 with sigma_t^2 = beta_t."""
    s, x0, t, eps = _inputs(4)
    z = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    t = torch.tensor([1, 10, 500, 999])
    b, a, ab = (extract(v, t, x0.shape) for v in (s.betas, s.alphas, s.alphas_cumprod))
    mean = (x0 - b / (1 - ab).sqrt() * eps) / a.sqrt()
    return run_check("one step of Algorithm 2", lambda: fn(s, x0, t, eps, z), mean + b.sqrt() * z, {
        "the noise term is sigma_t * z with sigma_t = sqrt(beta_t), not beta_t * z": mean + b * z,
        "the coefficient of eps uses sqrt(1 - alpha_bar_t), the total noise level, not sqrt(1 - alpha_t)":
            (x0 - b / (1 - a).sqrt() * eps) / a.sqrt() + b.sqrt() * z,
        "you forgot to add fresh noise sigma_t z": mean,
    }, hint="x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_t) + sqrt(beta_t) * z")


def check_predict_x0(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """fn(schedule, x_t, t, eps) -> (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
    s, x0, t, eps = _inputs(6)
    xt = s.q_sample(x0, t, eps)
    ab = extract(s.alphas_cumprod, t, x0.shape)
    return run_check("predicted x0", lambda: fn(s, xt, t, eps), s.predict_x0(xt, t, eps), {
        "subtracting the noise is not enough: divide by sqrt(alpha_bar_t) to undo the shrinking":
            xt - (1 - ab).sqrt() * eps,
    }, hint="solve x_t = sqrt(ab) x0 + sqrt(1 - ab) eps for x0", atol=1e-3)


# -- notebooks 06-08 ----------------------------------------------------------------------------
def check_guidance(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """fn(eps_cond, eps_uncond, w) -> eps_uncond + w (eps_cond - eps_uncond)."""
    g = torch.Generator().manual_seed(7)
    c, u = torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    return run_check("classifier-free guidance", lambda: fn(c, u, 3.0), u + 3.0 * (c - u), {
        "start from the unconditional prediction and move w times along (cond - uncond)": c + 3.0 * (c - u),
        "the difference points from uncond to cond: (eps_cond - eps_uncond)": u + 3.0 * (u - c),
    }, hint="eps = eps_uncond + w * (eps_cond - eps_uncond); w = 1 gives eps_cond")


def check_ddim_step(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """fn(x0_hat, eps, alpha_bar_prev) -> deterministic DDIM step (eta = 0)."""
    g = torch.Generator().manual_seed(8)
    x0, eps = torch.rand(2, 1, 4, 4, generator=g) * 2 - 1, torch.randn(2, 1, 4, 4, generator=g)
    a_prev = torch.tensor(0.7)
    return run_check("deterministic DDIM step", lambda: fn(x0, eps, a_prev), a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps, {
        "use square roots: sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev) eps": a_prev * x0 + (1 - a_prev) * eps,
    }, hint="re-noise the predicted x0 to the previous level with the SAME eps (no fresh noise)")


def check_inpaint_merge(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """fn(x_generated, x_known_noised, mask) -> mask * known + (1 - mask) * generated."""
    g = torch.Generator().manual_seed(9)
    gen, known = torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    mask = (torch.rand(2, 1, 4, 4, generator=g) > 0.5).float()
    return run_check("inpainting merge", lambda: fn(gen, known, mask), mask * known + (1 - mask) * gen, {
        "the mask marks the KNOWN pixels (1 = keep the original), so the roles are swapped":
            (1 - mask) * known + mask * gen,
    }, hint="x = mask * x_known_t + (1 - mask) * x_generated")


def check_label_dropout(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """fn(labels (B,), drop (B,) bool, null_label) -> labels with the dropped ones replaced by null_label."""
    labels = torch.tensor([3, 1, 4, 1, 5, 9])
    drop = torch.tensor([True, False, False, True, False, True])
    return run_check("label dropout", lambda: fn(labels, drop, 10), torch.where(drop, 10, labels), {
        "the mask is inverted: replace the labels where drop is True": torch.where(drop, labels, 10),
        "dropped labels must become the null label (an extra class), not 0": torch.where(drop, 0, labels),
    }, hint="torch.where(drop, torch.full_like(labels, null_label), labels)")


def check_slerp(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """fn(a, b, w) -> spherical interpolation between two noise tensors."""
    from .sample import slerp

    g = torch.Generator().manual_seed(10)
    a, b = torch.randn(1, 1, 8, 8, generator=g), torch.randn(1, 1, 8, 8, generator=g)
    return run_check("spherical interpolation", lambda: fn(a, b, 0.3), slerp(a, b, 0.3), {
        "that is the straight line (1 - w) a + w b: its midpoints are too short to look like noise": 0.7 * a + 0.3 * b,
    }, hint="theta = arccos(<a, b> / (|a| |b|)); (sin((1 - w) theta) a + sin(w theta) b) / sin(theta)")


def check_half_mask(fn: Callable[[tuple[int, ...]], torch.Tensor]) -> CheckResult:
    """fn(shape (B, C, H, W)) -> mask with 1 (known) in the top half of the rows, 0 in the bottom half."""
    shape = (2, 1, 32, 32)
    mask = torch.zeros(shape)
    mask[..., :16, :] = 1
    return run_check("top-half mask", lambda: fn(shape), mask, {
        "that keeps the bottom half: rows 0..H/2-1 are the top": 1 - mask,
        "that splits columns (left/right), not rows (top/bottom)": mask.transpose(-1, -2),
    }, hint="mask = torch.zeros(shape); mask[..., :H // 2, :] = 1")
