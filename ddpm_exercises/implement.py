"""*Implement* exercises: the learner writes one piece of the method; the check runs it on fixed
inputs and compares it with the library's answer and with the answers common mistakes give."""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ddpm_lib.autoencoder import latent_scale_factor
from ddpm_lib.linear import interaction_features
from ddpm_lib.sample import slerp
from ddpm_lib.schedule import NoiseSchedule, extract
from ddpm_lib.unet import SinusoidalPositionEmbeddings
from .core import Exercise, Verdict, gaussian_velocity, judge_output


def _inputs(seed: int = 0) -> tuple[NoiseSchedule, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    s = NoiseSchedule(1000)
    x0 = torch.rand(4, 1, 8, 8, generator=g) * 2 - 1
    t = torch.tensor([0, 10, 500, 999])
    eps = torch.randn(x0.shape, generator=g)
    return s, x0, t, eps


# -- notebook 01 --------------------------------------------------------------------------------
def _interaction(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 4, generator=g, dtype=torch.float64)
    c = torch.nn.functional.one_hot(torch.tensor([2, 0, 9]), 10).double()
    latent_major = (z[:, :, None] * c[:, None, :]).flatten(1)
    return judge_output(lambda: fn(z, c), interaction_features(z, c), {
        "order": torch.cat([z, c, latent_major], 1),
        "no_products": torch.cat([z, c, torch.zeros_like(latent_major)], 1),
    })


INTERACTION_FEATURES = Exercise(
    "interaction features", "implement",
    "Write my_interaction_features(z, c): the latent, the prompt, then every product of a prompt entry "
    "with a latent entry, prompt by prompt; then run this cell again.",
    _interaction,
    hints=("There are k + 10 + 10k features: k latent entries, 10 prompt entries, and one product c_j z_i "
           "for every pair (j, i).",
           "The order matters to the fitted weights: latent entries, then prompt entries, then the products "
           "grouped by prompt entry (all i for j = 0, then all i for j = 1, ...)."),
    mistakes={"order": "The products are all there but in the wrong order: they must run prompt by prompt "
                       "(all latent entries for prompt 0, then for prompt 1, ...), not latent by latent.",
              "no_products": "The interaction block is empty: each feature there is a product of one prompt "
                             "entry and one latent entry."})


def _one_shot(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
              predict_noise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], latent_dim: int) -> Verdict:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(5, latent_dim, generator=g, dtype=torch.float64)
    c = torch.nn.functional.one_hot(torch.arange(5), 10).double()
    eps = predict_noise(z, c)
    return judge_output(lambda: fn(z, c), z - eps, {"returned_noise": eps, "sign": z + eps})


ONE_SHOT_DENOISE = Exercise(
    "one-shot denoising", "implement",
    "Write my_denoise(z_noisy, c): the latent with the predicted noise taken out; then run this cell again.",
    _one_shot,
    hints=("The model was trained as z_noisy = z + eps; solve that for z.",
           "Ask the fitted denoiser for its noise estimate at (z_noisy, c) and remove it from z_noisy."),
    mistakes={"returned_noise": "You returned the predicted noise itself, not the latent it leaves behind.",
              "sign": "The sign is flipped: the noise was added to the clean latent, so it must be taken away."})


# -- notebook 02 --------------------------------------------------------------------------------
def _alphas_cumprod(fn: Callable[[torch.Tensor], torch.Tensor]) -> Verdict:
    s = NoiseSchedule(1000)
    b = s.betas.double()
    exclusive = torch.cat([torch.ones(1, dtype=b.dtype), torch.cumprod(1 - b, 0)[:-1]])
    return judge_output(lambda: fn(s.betas), torch.cumprod(1 - b, 0), {
        "alpha": 1 - b, "beta_product": torch.cumprod(b, 0), "sum": 1 - torch.cumsum(b, 0),
        "exclusive": exclusive}, atol=1e-5)


ALPHAS_CUMPROD = Exercise(
    "alpha_bar from beta", "implement",
    "Write my_alphas_cumprod(betas): alpha_bar_t for every t; then run this cell again.",
    _alphas_cumprod,
    hints=("alpha_bar_t is the share of the signal's scale squared that survives all steps up to t.",
           "Each step keeps alpha_s = 1 - beta_s; alpha_bar_t multiplies the alpha_s for s = 0..t."),
    mistakes={"alpha": "That is alpha_t = 1 - beta_t, one step only; alpha_bar_t accumulates all steps up to t.",
              "beta_product": "You accumulated the betas; the quantity that accumulates is what each step keeps, "
                              "1 - beta.",
              "sum": "1 minus the running sum of the betas is only a first-order approximation (close for small t); "
                     "the steps multiply, they do not add.",
              "exclusive": "Your product stops one step early: entry t holds alpha_bar_{t-1}, the exclusive product "
                           "that starts at 1. That is the paper-versus-code index shift this notebook warns about: "
                           "the code's index t is the paper's t + 1, so entry t must include step t itself."})


def _q_sample(fn: Callable[..., torch.Tensor]) -> Verdict:
    s, x0, t, eps = _inputs()
    ab = extract(s.alphas_cumprod, t, x0.shape)
    a = extract(s.alphas, t, x0.shape)
    return judge_output(lambda: fn(s, x0, t, eps), s.q_sample(x0, t, eps), {
        "one_step": a.sqrt() * x0 + (1 - a).sqrt() * eps,
        "no_sqrt": ab * x0 + (1 - ab) * eps,
        "swapped": (1 - ab).sqrt() * x0 + ab.sqrt() * eps})


Q_SAMPLE = Exercise(
    "closed-form q_sample", "implement",
    "Write my_q_sample(schedule, x0, t, eps): x_t in one jump from x0; then run this cell again.",
    _q_sample,
    hints=("x_t is a weighted sum of the clean image and the noise; the weights' squares add up to 1.",
           "Test your weights at the two ends: where alpha_bar_t is 1 nothing is destroyed (x_t = x0), where it "
           "is 0 only noise is left. Each image in the batch has its own t."),
    mistakes={"one_step": "You used alpha_t (one step) where the jump from x0 needs alpha_bar_t (all steps up to t).",
              "no_sqrt": "The coefficients are missing their square roots: alpha_bar_t is a variance share, "
                         "the image is scaled by its square root.",
              "swapped": "x0 and eps have each other's coefficients: at t = 0 almost all of x_t must be x0."})


# -- notebook 03 --------------------------------------------------------------------------------
def _sinusoidal(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> Verdict:
    t = torch.tensor([0, 1, 17, 999])
    half = 8
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
    args = t[:, None].float() * freqs[None]
    rising = t[:, None].float() * torch.exp(math.log(10000) * torch.arange(half) / half)[None]
    to_end = t[:, None].float() * torch.exp(-math.log(10000) * torch.arange(half) / (half - 1))[None]

    def interleaved(a: torch.Tensor) -> torch.Tensor:
        return torch.stack([a.sin(), a.cos()], 2).flatten(1)  # sin, cos, sin, cos, ...

    return judge_output(lambda: fn(t, 16), SinusoidalPositionEmbeddings(16)(t), {
        "cos_first": torch.cat([args.cos(), args.sin()], 1),
        "rising": torch.cat([rising.sin(), rising.cos()], 1)}, also_correct={
        "interleaved": (interleaved(args), "Right: sines and cosines interleaved, as the formula writes them. The "
                                           "library stores the same numbers with the sines first; a fixed reordering "
                                           "of the dimensions changes nothing for the network that reads them."),
        "to_end": (torch.cat([to_end.sin(), to_end.cos()], 1), "Right, in the other common spacing: frequencies "
                   "10000^(-i / (half - 1)), ending exactly at 1/10000 (the DDPM code's choice); the library divides "
                   "by half, so its lowest frequency is 10000^(-(half - 1) / half). Both embed t equally well."),
        "interleaved_to_end": (interleaved(to_end), "Right: interleaved, with frequencies ending exactly at 1/10000 "
                                                    "(10000^(-i / (half - 1))), the layout of the formula and the "
                                                    "DDPM code; the library keeps the sines first and divides by half.")},
        rows=[f"t={int(v)}" for v in t])


SINUSOIDAL_EMBEDDING = Exercise(
    "sinusoidal embedding", "implement",
    "Write my_sinusoidal_embedding(t, dim): a (B, dim) tensor, sines in the first half and cosines in the "
    "second; then run this cell again.",
    _sinusoidal,
    hints=("There are dim/2 frequencies, falling geometrically from 1 towards 1/10000; each gives one sine and one "
           "cosine of t times the frequency.",
           "At t = 0 every sine is 0 and every cosine is 1, whatever the frequencies: check your first row.",
           "Build a (B, half) table of t times each frequency first; the embedding is made of its sines and its "
           "cosines."),
    mistakes={"cos_first": "Cosines and sines are swapped: the sines come first.",
              "rising": "The frequencies rise instead of falling: divide by 10000^(i/half), do not multiply."})


def _adagn(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    g = torch.Generator().manual_seed(2)
    h = torch.randn(2, 3, 4, 4, generator=g)
    scale, shift = torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g)
    sc, sh = scale[:, :, None, None], shift[:, :, None, None]
    return judge_output(lambda: fn(h, scale, shift), h * (1 + sc) + sh, {
        "plain_scale": h * sc + sh, "shift_first": (h + sh) * (1 + sc)})


ADAGN = Exercise(
    "AdaGN scale and shift", "implement",
    "Write my_adagn(h, scale, shift): the normalised features modulated by the time embedding; then run "
    "this cell again.",
    _adagn,
    hints=("A zero scale and a zero shift must leave h unchanged.",
           "scale and shift hold one number per image and channel, shared by every pixel of that channel; and "
           "the scale perturbs the identity rather than replacing it."),
    mistakes={"plain_scale": "You multiplied by the scale itself: a freshly initialised layer (scale near 0) "
                             "would wipe the features out. Multiply by one plus the scale.",
              "shift_first": "The order is scale, then shift; you shifted first, so the shift got scaled too."})


# -- notebook 04 --------------------------------------------------------------------------------
def _loss(fn: Callable[..., torch.Tensor], model: Callable[..., torch.Tensor]) -> Verdict:
    s, x0, t, eps = _inputs(3)
    pred = model(s.q_sample(x0, t, eps), t)
    return judge_output(lambda: fn(model, s, x0, t, eps), ((pred - eps) ** 2).mean(), {
        "clean_input": ((model(x0, t) - eps) ** 2).mean(),
        "target_x0": ((pred - x0) ** 2).mean(),
        "sum": ((pred - eps) ** 2).sum()}, atol=1e-5)


DIFFUSION_LOSS = Exercise(
    "loss of Algorithm 1", "implement",
    "Write my_diffusion_loss(model, schedule, x0, t, eps): the training loss of Algorithm 1; then run this "
    "cell again.",
    _loss,
    hints=("Noise the images first (notebook 2's closed form), then ask the model what noise it sees.",
           "The model's target is not the clean image: it is the very noise that made x_t, compared pixel by "
           "pixel and averaged."),
    mistakes={"clean_input": "The model must see the noisy x_t, not the clean x0: at sampling time it never "
                             "gets a clean image.",
              "target_x0": "The target is the noise eps, not the clean image.",
              "sum": "That is the sum of the squared errors; the loss is their mean, so its scale does not "
                     "depend on the image size."})


def _ema(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> Verdict:
    ema, theta = torch.zeros(5), torch.arange(5.0)
    return judge_output(lambda: fn(ema.clone(), theta, 0.9), 0.9 * ema + 0.1 * theta, {
        "swapped": 0.1 * ema + 0.9 * theta, "no_average": theta})


EMA_UPDATE = Exercise(
    "EMA update", "implement",
    "Write my_ema_update(ema, theta, decay): the moving average after one more step; then run this cell again.",
    _ema,
    hints=("The old average keeps most of its weight; the new weights nudge it.",
           "Check your update with decay = 1 (the average must not move) and decay = 0 (it must jump to the "
           "current weights)."),
    mistakes={"swapped": "The weights are swapped: the old average keeps the large share (decay), the current "
                         "weights get 1 - decay.",
              "no_average": "You returned the current weights: that is no average at all."})


# -- notebook 05 --------------------------------------------------------------------------------
def _ddpm_step(fn: Callable[..., torch.Tensor]) -> Verdict:
    s, x0, _, eps = _inputs(4)
    z = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    t = torch.tensor([1, 10, 500, 999])
    b, a, ab = (extract(v, t, x0.shape) for v in (s.betas, s.alphas, s.alphas_cumprod))
    mean = (x0 - b / (1 - ab).sqrt() * eps) / a.sqrt()
    posterior_sigma = extract(s.posterior_variance, t, x0.shape).sqrt()
    return judge_output(lambda: fn(s, x0, t, eps, z), mean + b.sqrt() * z, {
        "beta_z": mean + b * z,
        "one_step_noise": (x0 - b / (1 - a).sqrt() * eps) / a.sqrt() + b.sqrt() * z,
        "no_noise": mean,
        "posterior_sigma": mean + posterior_sigma * z}, rows=[f"t={int(v)}" for v in t])


DDPM_STEP = Exercise(
    "one step of Algorithm 2", "implement",
    "Write my_ddpm_step(schedule, x_t, t, eps, z): x_{t-1} from x_t, the predicted noise and fresh noise z "
    "(sigma_t^2 = beta_t); then run this cell again.",
    _ddpm_step,
    hints=("Remove the right amount of predicted noise, undo the step's shrinking, then add fresh noise of "
           "standard deviation sigma_t.",
           "The predicted noise is the total noise of x_t, whose level is set by alpha_bar_t; the shrinking to "
           "undo is the one step's alpha_t; the fresh noise has standard deviation sigma_t, not variance."),
    mistakes={"beta_z": "The fresh noise is scaled by the variance beta_t; scale it by the standard deviation, "
                        "its square root.",
              "one_step_noise": "The noise coefficient uses sqrt(1 - alpha_t) (one step); eps is the total noise "
                                "in x_t, whose level is sqrt(1 - alpha_bar_t).",
              "no_noise": "The fresh noise sigma_t z is missing: without it Algorithm 2 is not sampling from "
                          "the reverse Gaussian.",
              "posterior_sigma": "You used sigma_t^2 = beta~_t, the posterior variance: the other choice Ho et al. "
                                 "tested (this notebook compares the two). This exercise asks for sigma_t^2 = beta_t."})


def _predict_x0(fn: Callable[..., torch.Tensor]) -> Verdict:
    s, x0, t, eps = _inputs(6)
    xt = s.q_sample(x0, t, eps)
    ab = extract(s.alphas_cumprod, t, x0.shape)
    return judge_output(lambda: fn(s, xt, t, eps), s.predict_x0(xt, t, eps), {
        "no_rescale": xt - (1 - ab).sqrt() * eps, "full_eps": (xt - eps) / ab.sqrt()}, atol=1e-3)


PREDICT_X0 = Exercise(
    "predicted x0", "implement",
    "Write my_predict_x0(schedule, x_t, t, eps): the clean image that x_t and the noise imply; then run this "
    "cell again.",
    _predict_x0,
    hints=("Notebook 2's closed form links x_t, x0 and eps; solve it for x0.",
           "Two operations undo the forward jump: remove the noise at its scale in x_t, then undo the shrinking "
           "of the image. Their order matters."),
    mistakes={"no_rescale": "Removing the noise is not enough: x0 was also shrunk by sqrt(alpha_bar_t), so "
                            "divide by it.",
              "full_eps": "The noise in x_t is scaled by sqrt(1 - alpha_bar_t); you removed it at full strength."})


# -- notebooks 06-08 ----------------------------------------------------------------------------
def _guidance(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> Verdict:
    g = torch.Generator().manual_seed(7)
    c, u = torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    return judge_output(lambda: fn(c, u, 3.0), u + 3.0 * (c - u), {
        "from_cond": c + 3.0 * (c - u), "reversed": u + 3.0 * (u - c)})


GUIDANCE = Exercise(
    "classifier-free guidance", "implement",
    "Write my_guidance(eps_cond, eps_uncond, w): the guided noise prediction; then run this cell again.",
    _guidance,
    hints=("w = 0 must give the unconditional prediction and w = 1 the conditional one.",
           "Think of the difference between the two predictions as a direction; w says how far to go along it, "
           "and from which of the two you start."),
    mistakes={"from_cond": "You started from the conditional prediction; start from the unconditional one, "
                           "so that w = 1 lands exactly on the conditional one.",
              "reversed": "The direction points the wrong way: it must lead from unconditional to conditional."})


def _ddim(fn: Callable[..., torch.Tensor]) -> Verdict:
    g = torch.Generator().manual_seed(8)
    x0, eps = torch.rand(2, 1, 4, 4, generator=g) * 2 - 1, torch.randn(2, 1, 4, 4, generator=g)
    a_prev = torch.tensor(0.7)
    return judge_output(lambda: fn(x0, eps, a_prev), a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps, {
        "no_sqrt": a_prev * x0 + (1 - a_prev) * eps, "clean": x0})


DDIM_STEP = Exercise(
    "deterministic DDIM step", "implement",
    "Write my_ddim_step(x0_hat, eps, alpha_bar_prev): the sample at the earlier level; then run this cell again.",
    _ddim,
    hints=("Re-noise the predicted clean image to the earlier level, with the same noise the model saw.",
           "It is notebook 2's closed form at alpha_bar_prev, with eps in place of fresh noise."),
    mistakes={"no_sqrt": "The coefficients are missing their square roots, as in notebook 2's closed form.",
              "clean": "You returned x0_hat; the step lands at the earlier noise level, not at t = 0."})


def _inpaint(fn: Callable[..., torch.Tensor]) -> Verdict:
    g = torch.Generator().manual_seed(9)
    gen, known = torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    mask = (torch.rand(2, 1, 4, 4, generator=g) > 0.5).float()
    return judge_output(lambda: fn(gen, known, mask), mask * known + (1 - mask) * gen, {
        "swapped": (1 - mask) * known + mask * gen})


INPAINT_MERGE = Exercise(
    "inpainting merge", "implement",
    "Write my_merge(x_generated, x_known_noised, mask): one image from the known and the generated pixels; "
    "then run this cell again.",
    _inpaint,
    hints=("Each pixel comes from exactly one of the two images, chosen by the mask.",
           "A mask of ones means the pixel is known: there the original (noised to the current level) wins; "
           "elsewhere the model decides."),
    mistakes={"swapped": "The roles are swapped: the mask marks the KNOWN pixels (1 = keep the original)."})


def _label_dropout(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> Verdict:
    labels = torch.tensor([3, 1, 4, 1, 5, 9])
    drop = torch.tensor([True, False, False, True, False, True])
    return judge_output(lambda: fn(labels, drop, 10), torch.where(drop, 10, labels), {
        "inverted": torch.where(drop, labels, 10), "zero": torch.where(drop, 0, labels)})


LABEL_DROPOUT = Exercise(
    "label dropout", "implement",
    "Write my_label_dropout(labels, drop, null_label): the labels with the dropped ones replaced; then run "
    "this cell again.",
    _label_dropout,
    hints=("Only the labels marked in drop change, and they all become the same extra class.",
           "The null label is the index just past the real classes; every marked label becomes it, and nothing "
           "else changes."),
    mistakes={"inverted": "The mask is inverted: replace the labels where drop is True.",
              "zero": "A dropped label must become the null label (an extra class), not 0, which is a real digit."})


def _slerp(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> Verdict:
    g = torch.Generator().manual_seed(10)
    a, b = torch.randn(1, 1, 8, 8, generator=g), torch.randn(1, 1, 8, 8, generator=g)
    return judge_output(lambda: fn(a, b, 0.3), slerp(a, b, 0.3), {"linear": 0.7 * a + 0.3 * b})


SLERP = Exercise(
    "spherical interpolation", "implement",
    "Write my_slerp(a, b, w): the point a share w of the way from a to b along the great circle; then run this "
    "cell again.",
    _slerp,
    hints=("Work with the angle theta between a and b (their normalised dot product is its cosine).",
           "On the sphere, the weight of each end falls like a sine of the angle still to travel, normalised so "
           "that w = 0 gives a and w = 1 gives b."),
    mistakes={"linear": "That is the straight line between a and b: its midpoints are shorter than typical "
                        "noise vectors. Interpolate the angle instead."})


def _half_mask(fn: Callable[[tuple[int, ...]], torch.Tensor]) -> Verdict:
    shape = (2, 1, 32, 32)
    mask = torch.zeros(shape)
    mask[..., :16, :] = 1
    return judge_output(lambda: fn(shape), mask, {"bottom": 1 - mask, "columns": mask.transpose(-1, -2)})


HALF_MASK = Exercise(
    "top-half mask", "implement",
    "Write my_half_mask(shape): 1 on the known pixels (the top half of the rows), 0 elsewhere; then run this "
    "cell again.",
    _half_mask,
    hints=("Rows are the second-to-last dimension; row 0 is the top of the picture.",
           "The mask has the image's shape; it is 1 over the top half of every image and 0 below."),
    mistakes={"bottom": "That keeps the bottom half: rows 0 to H/2 - 1 are the top.",
              "columns": "That splits the columns (left and right), not the rows (top and bottom)."})


# -- notebook 10 --------------------------------------------------------------------------------
def _velocity_from_eps(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    g = torch.Generator().manual_seed(16)
    x0, eps = torch.rand(4, 1, 4, 4, generator=g) * 2 - 1, torch.randn(4, 1, 4, 4, generator=g)
    s = torch.tensor([0.1, 0.4, 0.7, 0.95]).reshape(4, 1, 1, 1)
    x = (1 - s) * x0 + s * eps
    return judge_output(lambda: fn(x, eps, s), eps - x0, {
        "x0_minus_eps": x0 - eps, "eps_alone": eps, "no_division": eps - x},
        correct="Right: with x0 = (x - s eps) / (1 - s), the velocity eps - x0 = (eps - x) / (1 - s).")


VELOCITY_FROM_EPS = Exercise(
    "velocity from eps", "implement",
    "Write my_velocity_from_eps(x, eps, s): the velocity eps - x0 of the straight path through x = (1 - s) x0 + "
    "s eps, from x, eps and s alone (s < 1); then run this cell again.",
    _velocity_from_eps,
    hints=("Solve x = (1 - s) x0 + s eps for x0 first.",
           "On the straight path the velocity is the noise minus the clean image; write x0 in terms of x, eps "
           "and s, and substitute."),
    mistakes={"x0_minus_eps": "Sign: the path runs from data (s = 0) to noise (s = 1), so its velocity is eps - x0.",
              "eps_alone": "That is the noise; the velocity also subtracts the clean image x0.",
              "no_division": "Close: eps - x is the velocity scaled by (1 - s); x is not x0 unless s = 0."})


# -- notebook 11 --------------------------------------------------------------------------------
def straightness_reference(velocity: Callable[[torch.Tensor, float], torch.Tensor], eps: torch.Tensor, steps: int, *,
                           sign: float = 1.0, first_only: bool = False, total: bool = False) -> torch.Tensor:
    """S = mean over Euler's ``steps`` velocities v_k of mean((eps - x0) - v_k)^2, from s = 1 to 0; the keywords
    make the known mistakes (the chord's sign, the first velocity only, a sum over steps)."""
    x, velocities = eps, []
    for k in range(steps, 0, -1):
        v = velocity(x, k / steps)
        velocities.append(v)
        x = x - v / steps
    chord = sign * (eps - x)
    terms = torch.stack([(chord - v).square().mean() for v in velocities[:1 if first_only else None]])
    return terms.sum() if total else terms.mean()


def _straightness(fn: Callable[..., object]) -> Verdict:
    velocity = gaussian_velocity  # data N(0.3, 0.5^2): the exact flow-matching velocity, whose paths bend
    eps = torch.randn(256, 2, generator=torch.Generator().manual_seed(17), dtype=torch.float64)

    def ref(**kw: Any) -> torch.Tensor:
        return straightness_reference(velocity, eps, 8, **kw)

    return judge_output(lambda: torch.as_tensor(fn(velocity, eps.clone(), 8), dtype=torch.float64).reshape(()), ref(), {
        "sign": ref(sign=-1.0), "first_only": ref(first_only=True), "total": ref(total=True)}, atol=1e-6,
        correct="Right: the mean squared gap between each Euler velocity and the chord from the noise to where the "
                "path ended.")


STRAIGHTNESS = Exercise(
    "straightness", "implement",
    "Write my_straightness(velocity, eps, steps): run Euler's method from x = eps at s = 1 to s = 0 in `steps` equal "
    "steps, calling velocity(x, s) with s a float, and return the mean over the steps of mean(((eps - x0) - v)**2), "
    "where x0 is where the path ended; then run this cell again.",
    _straightness,
    hints=("Keep every velocity you use on the way down; the chord eps - x0 is known only at the end.",
           "Euler's step from s to s - 1/steps is x - v / steps. A straight path at constant speed has every v equal to "
           "the chord, so the answer is 0 for it."),
    mistakes={"sign": "Sign: the path runs from x0 (s = 0) to eps (s = 1), so the chord it should follow is eps - x0.",
              "first_only": "That compares only the first velocity with the chord; straightness averages over the "
                            "whole path, every step.",
              "total": "That sums over the steps; straightness is an average over s from 0 to 1, so divide by the "
                       "number of steps."})


# -- notebook 09 --------------------------------------------------------------------------------
def _scale_factor(fn: Callable[[torch.Tensor], object]) -> Verdict:
    g = torch.Generator().manual_seed(9)
    z = torch.randn(200, 4, 2, 2, generator=g, dtype=torch.float64) * 0.7 + 0.4  # spread 0.7 around 0.4

    def number(value: object) -> torch.Tensor:
        return torch.as_tensor(value, dtype=torch.float64).reshape(())

    return judge_output(lambda: number(fn(z)), number(latent_scale_factor(z)), {
        "variance": 1 / z.var(), "no_reciprocal": z.std(), "rms": 1 / z.square().mean().sqrt(),
        "max": 1 / z.abs().max()}, atol=1e-3,
        correct="Right: multiplying by 1 / std leaves latents whose spread is 1, the spread of the forward "
                "process's noise.")


LATENT_SCALE_FACTOR = Exercise(
    "latent scale factor", "implement",
    "Write my_scale_factor(latents): the one number f such that f * latents has a standard deviation of 1 over "
    "all its entries (Stable Diffusion's scaling factor); then run this cell again.",
    _scale_factor,
    hints=("Multiplying by f multiplies the standard deviation by f.",
           "One number for all latents, not one per channel or per image: after scaling, their standard "
           "deviation taken over everything is 1."),
    mistakes={"variance": "That divides by the variance: f * z would then have a spread of 1 / std, not 1.",
              "no_reciprocal": "That is the spread itself; f must undo it, so it is its reciprocal.",
              "rms": "Close, but the root mean square counts the latents' mean as spread: these latents are centred "
                     "near 0.4. Use the standard deviation, as Stable Diffusion does.",
              "max": "Dividing by the largest entry keeps everything within [-1, 1] but leaves most latents far "
                     "smaller than the unit-variance noise that will be added to them."})


ALL: tuple[Exercise, ...] = (INTERACTION_FEATURES, ONE_SHOT_DENOISE, ALPHAS_CUMPROD, Q_SAMPLE, SINUSOIDAL_EMBEDDING,
                             ADAGN, DIFFUSION_LOSS, EMA_UPDATE, DDPM_STEP, PREDICT_X0, GUIDANCE, DDIM_STEP,
                             INPAINT_MERGE, LABEL_DROPOUT, SLERP, HALF_MASK, LATENT_SCALE_FACTOR, VELOCITY_FROM_EPS,
                             STRAIGHTNESS)
