"""*Find the bug* exercises: short functions with one planted bug of a kind real diffusion code has
had. The notebook shows each function's source (``Exercise.planted``); the learner edits it in
place. The check recognises the untouched planted version by its compiled code, runs an edited
one on fixed inputs and compares it with the library's correct computation.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ddpm_lib.sample import guided_eps
from ddpm_lib.schedule import NoiseSchedule, extract
from .core import Exercise, Verdict, compile_function, gaussian_velocity, judge_output, same_code

#: the names a planted function may use; the notebooks import the same ones
NAMESPACE: dict[str, Any] = {"torch": torch, "extract": extract}


def _planted_bug(name: str, source: str, run: Callable[[Callable[..., Any]], Verdict],
                 hints: tuple[str, ...], mistakes: dict[str, str]) -> Exercise:
    planted = compile_function(source, NAMESPACE)
    task = f"Find the bug in {planted.__name__} above, fix it in place, and run the check again."

    def evaluate(fn: Any) -> Verdict:
        if not callable(fn):
            return Verdict("wrong", detail=f"Pass the function itself, not {type(fn).__name__}.")
        code = getattr(fn, "__code__", None)
        if code is not None and same_code(code, planted.__code__):
            return Verdict("untouched")
        return run(fn)

    return Exercise(name, "find the bug", task, evaluate, hints, mistakes, planted=source)


class _ToyModel:
    """A stand-in noise predictor, eps(x, t, y) = 0.3 x + t/T + 0.05 y, with a null label (10)."""

    null_label = 10

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = 0.3 * x + t.float().reshape(-1, *[1] * (x.dim() - 1)) / 20
        if labels is not None:
            out = out + 0.05 * labels.float().reshape(-1, *[1] * (x.dim() - 1))
        return out


# -- notebook 05: the last step ------------------------------------------------------------------
LAST_STEP_SOURCE = '''\
def ddpm_sample(model, schedule, x_T, generator):
    """Algorithm 2 with sigma_t^2 = beta_t: from x_T (pure noise) down to x_0."""
    x = x_T
    for step in reversed(range(schedule.num_timesteps)):
        t = torch.full((x.shape[0],), step)
        eps = model(x, t)
        beta = extract(schedule.betas, t, x.shape)
        alpha = extract(schedule.alphas, t, x.shape)
        a_bar = extract(schedule.alphas_cumprod, t, x.shape)
        mean = (x - beta / (1 - a_bar).sqrt() * eps) / alpha.sqrt()
        x = mean + beta.sqrt() * torch.randn(x.shape, generator=generator)
    return x
'''


def _reference_loop(model: Callable[..., torch.Tensor], schedule: NoiseSchedule, x_T: torch.Tensor,
                    generator: torch.Generator, noise_at_end: bool = False, first: int = 0) -> torch.Tensor:
    x = x_T
    for step in reversed(range(first, schedule.num_timesteps)):
        t = torch.full((x.shape[0],), step)
        b, a, ab = (extract(v, t, x.shape) for v in (schedule.betas, schedule.alphas, schedule.alphas_cumprod))
        mean = (x - b / (1 - ab).sqrt() * model(x, t)) / a.sqrt()
        x = mean + b.sqrt() * torch.randn(x.shape, generator=generator) if (step > 0 or noise_at_end) else mean
    return x


def _run_last_step(fn: Callable[..., Any]) -> Verdict:
    schedule, model = NoiseSchedule(20), _ToyModel()
    x_T = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(11))

    def run(f: Callable[..., torch.Tensor], **kw: Any) -> torch.Tensor:
        return f(model, schedule, x_T.clone(), torch.Generator().manual_seed(12), **kw)

    return judge_output(lambda: run(fn), lambda: run(_reference_loop), {
        "noise_at_end": run(_reference_loop, noise_at_end=True),
        "skips_last": run(_reference_loop, first=1)}, atol=1e-5, correct="Fixed: the loop matches Algorithm 2.")


LAST_STEP_NOISE = _planted_bug(
    "bug: the last step", LAST_STEP_SOURCE,
    _run_last_step,
    hints=("Compare the loop with Algorithm 2 line by line, at the very last step t = 0 (the paper's t = 1).",
           "Algorithm 2 sets z = 0 at its last step: whatever noise is added there stays in the picture."),
    mistakes={"noise_at_end": "The bug is still there: fresh noise is added even at the last step, t = 0, so "
                              "every picture keeps a layer of grain of standard deviation sqrt(beta_0).",
              "skips_last": "Now the loop stops one step early: t = 0 must still be denoised, only without "
                            "fresh noise."})


# -- notebook 05: the posterior variance ------------------------------------------------------------
POSTERIOR_VARIANCE_SOURCE = '''\
def posterior_variance(schedule):
    """beta~_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) for every t, with alpha_bar_{-1} = 1."""
    a_bar = schedule.alphas_cumprod
    a_bar_prev = a_bar.roll(1)
    return schedule.betas * (1 - a_bar_prev) / (1 - a_bar)
'''


def _run_posterior_variance(fn: Callable[..., Any]) -> Verdict:
    s = NoiseSchedule(1000)
    ab = s.alphas_cumprod.double()
    rolled = s.betas.double() * (1 - ab.roll(1)) / (1 - ab)
    return judge_output(lambda: fn(s), s.posterior_variance, {"first_value": rolled, "no_prev": s.betas.double()},
                        atol=1e-6, correct="Fixed: the variances match the schedule's.")


POSTERIOR_VARIANCE = _planted_bug(
    "bug: the posterior variance", POSTERIOR_VARIANCE_SOURCE,
    _run_posterior_variance,
    hints=("Print the first few values of the result next to schedule.posterior_variance.",
           "alpha_bar_{t-1} must be 1 at t = 0 (nothing has been destroyed before the first step); look at "
           "what roll puts in front."),
    mistakes={"first_value": "At t = 0 the variance is still about 1 instead of 0, so the final step adds a full "
                             "unit of noise: alpha_bar before the first step must be 1, and roll wraps the last "
                             "alpha_bar round to the front (a 0 there is just as wrong).",
              "no_prev": "Those are the betas: the posterior variance uses alpha_bar one step earlier in its "
                         "numerator."})


# -- notebook 05: clamping ------------------------------------------------------------------------------
CLAMP_SOURCE = '''\
def reverse_mean(schedule, x_t, t, eps):
    """Mean of one reverse step, with the predicted clean image kept inside [-1, 1]."""
    x_t = x_t.clamp(-1, 1)
    x0_hat = (x_t - extract(schedule.sqrt_one_minus_alphas_cumprod, t, x_t.shape) * eps) \\
        / extract(schedule.sqrt_alphas_cumprod, t, x_t.shape)
    mean, _ = schedule.q_posterior(x0_hat, x_t, t)
    return mean
'''


def _run_clamp(fn: Callable[..., Any]) -> Verdict:
    s = NoiseSchedule(1000)
    g = torch.Generator().manual_seed(13)
    x0 = torch.rand(3, 1, 6, 6, generator=g) * 2 - 1
    t = torch.tensor([5, 300, 900])
    eps_true = torch.randn(x0.shape, generator=g)
    x_t = s.q_sample(x0, t, eps_true)
    eps = eps_true + 0.5 * torch.randn(x0.shape, generator=g)  # an imperfect prediction

    def mean(clamp_xt: bool, clamp_x0: bool) -> torch.Tensor:
        xt = x_t.clamp(-1, 1) if clamp_xt else x_t
        x0_hat = s.predict_x0(xt, t, eps)
        return s.q_posterior(x0_hat.clamp(-1, 1) if clamp_x0 else x0_hat, xt, t)[0]

    return judge_output(lambda: fn(s, x_t.clone(), t, eps), mean(False, True), {
        "clamp_xt": mean(True, False), "no_clamp": mean(False, False), "both": mean(True, True)},
        atol=1e-5, correct="Fixed: only the predicted clean image is clamped.")


CLAMP_X0 = _planted_bug(
    "bug: what gets clamped", CLAMP_SOURCE,
    _run_clamp,
    hints=("Which of the two tensors is supposed to lie in [-1, 1]: the noisy sample or the clean image?",
           "x_t is image plus noise and leaves [-1, 1] as soon as there is noise; only x0_hat is an image."),
    mistakes={"clamp_xt": "The bug is still there: clamping x_t cuts off the noise the next steps need, and "
                          "x0_hat is left unbounded.",
              "no_clamp": "Now nothing is clamped: the predicted clean image can leave [-1, 1] at high t.",
              "both": "x0_hat is clamped now, but x_t still is too: it legitimately lies outside [-1, 1]."})


# -- notebook 06: the guidance branches ------------------------------------------------------------------
GUIDANCE_SOURCE = '''\
def guided_eps(model, x, t, labels, w):
    """Classifier-free guidance: both predictions from one forward pass over a doubled batch."""
    null = torch.full_like(labels, model.null_label)
    eps = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))
    eps_uncond, eps_cond = eps.chunk(2)
    return eps_uncond + w * (eps_cond - eps_uncond)
'''


def _run_guidance(fn: Callable[..., Any]) -> Verdict:
    model = _ToyModel()
    g = torch.Generator().manual_seed(14)
    x, t, y = torch.randn(4, 1, 4, 4, generator=g), torch.tensor([3, 50, 500, 999]), torch.tensor([0, 3, 7, 9])
    null = torch.full_like(y, model.null_label)
    cond, uncond = model(x, t, y), model(x, t, null)
    return judge_output(lambda: fn(model, x, t, y, 3.0), guided_eps(model, x, t, y, 3.0), {
        "swapped": cond + 3.0 * (uncond - cond), "no_null": cond},
        correct="Fixed: guidance extrapolates from the unconditional towards the conditional prediction.")


GUIDANCE_BRANCHES = _planted_bug(
    "bug: the guidance branches", GUIDANCE_SOURCE,
    _run_guidance,
    hints=("Which half of the doubled batch carries the real labels?",
           "The first half of the batch was built with the labels, the second with the null label; chunk "
           "returns the halves in that order."),
    mistakes={"swapped": "The bug is still there: the two halves of the batch are unpacked the wrong way round, "
                         "so guidance pushes away from the requested digit.",
              "no_null": "That returns the conditional prediction alone: guidance needs both."})


# -- notebook 09: a pixel habit in latent space ------------------------------------------------------
LATENT_CLAMP_SOURCE = '''\
def latent_ddim(model, schedule, decode, scale_factor, z_T, levels):
    """DDIM (eta = 0) on scaled latents over the descending levels, then one decode to pixels."""
    z = z_T
    for step, step_prev in zip(levels, levels[1:] + [-1]):
        t, t_prev = torch.full((z.shape[0],), step), torch.full((z.shape[0],), step_prev)
        eps = model(z, t)
        a = extract(schedule.alphas_cumprod, t, z.shape)
        a_prev = schedule.alpha_bar(t_prev, z.shape)  # alpha_bar at t = -1 is 1
        z0 = ((z - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
        z = a_prev.sqrt() * z0 + (1 - a_prev).sqrt() * eps
    return decode(z / scale_factor)
'''


def _latent_ddim_reference(model: Callable[..., torch.Tensor], schedule: NoiseSchedule,
                           decode: Callable[[torch.Tensor], torch.Tensor], scale_factor: float, z_T: torch.Tensor,
                           levels: list[int], clamp: bool = False, unscale: bool = True) -> torch.Tensor:
    z = z_T
    for step, step_prev in zip(levels, levels[1:] + [-1]):
        t, t_prev = torch.full((z.shape[0],), step), torch.full((z.shape[0],), step_prev)
        eps = model(z, t)
        a = extract(schedule.alphas_cumprod, t, z.shape)
        a_prev = schedule.alpha_bar(t_prev, z.shape)
        z0 = (z - (1 - a).sqrt() * eps) / a.sqrt()
        z0 = z0.clamp(-1, 1) if clamp else z0
        z = a_prev.sqrt() * z0 + (1 - a_prev).sqrt() * eps
    return decode(z / scale_factor if unscale else z)


def _run_latent_clamp(fn: Callable[..., Any]) -> Verdict:
    schedule = NoiseSchedule(50)
    g = torch.Generator().manual_seed(9)
    weight = torch.randn(4, 4, generator=g, dtype=torch.float64)

    def model(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # latents of spread ~2.5 after unscaling
        return 0.2 * z.double()

    def decode(z: torch.Tensor) -> torch.Tensor:  # a linear stand-in for the decoder
        return torch.einsum("bchw,dc->bdhw", z.double(), weight)

    z_T = torch.randn(3, 4, 2, 2, generator=g, dtype=torch.float64)
    levels = [49, 30, 12, 0]

    def run(f: Callable[..., torch.Tensor], **kw: Any) -> torch.Tensor:
        return f(model, schedule, decode, 0.5, z_T.clone(), list(levels), **kw)

    return judge_output(lambda: run(fn), lambda: run(_latent_ddim_reference), {
        "clamped": run(_latent_ddim_reference, clamp=True), "no_unscale": run(_latent_ddim_reference, unscale=False),
        "clamped_no_unscale": run(_latent_ddim_reference, clamp=True, unscale=False)}, atol=1e-6,
        correct="Fixed: latents are not pixels, so their estimate z0 must not be squeezed into [-1, 1].")


LATENT_CLAMP = _planted_bug(
    "bug: a pixel habit in latent space", LATENT_CLAMP_SOURCE,
    _run_latent_clamp,
    hints=("The pixel samplers of notebooks 05 and 07 clamp their estimate of the clean image. Does that bound "
           "hold for latents?",
           "Scaled latents have a standard deviation of 1 and reach beyond 3: the line computing z0 must not clamp."),
    mistakes={"clamped": "The bug is still there: z0 is clamped to [-1, 1], the range of pixels, which cuts off "
                         "every latent beyond one standard deviation.",
              "no_unscale": "The clamp is gone, but now the decoder gets scaled latents: it was trained on "
                            "mu(x), so divide by the scale factor first, as the planted version did.",
              "clamped_no_unscale": "Two things are wrong now: the clamp is still there, and the division by the "
                                    "scale factor before decoding is gone."})


# -- notebook 10: Heun's corrector ----------------------------------------------------------------------
HEUN_SOURCE = '''\
def heun_sample(velocity, x, s_grid):
    """Heun's method for dx/ds = velocity(x, s) along s_grid, from 1 down to 0; the last step is Euler's."""
    for s, s_next in zip(s_grid[:-1], s_grid[1:]):
        v = velocity(x, s)
        x_euler = x + (s_next - s) * v
        if s_next == 0:
            x = x_euler
        else:
            v_next = velocity(x, s_next)
            x = x + (s_next - s) * (v + v_next) / 2
    return x
'''


def _heun_reference(velocity: Callable[[torch.Tensor, float], torch.Tensor], x: torch.Tensor, s_grid: list[float],
                    at_start: bool = False, euler: bool = False) -> torch.Tensor:
    for s, s_next in zip(s_grid[:-1], s_grid[1:]):
        v = velocity(x, s)
        x_euler = x + (s_next - s) * v
        if s_next == 0 or euler:
            x = x_euler
        else:
            v_next = velocity(x if at_start else x_euler, s_next)
            x = x + (s_next - s) * (v + v_next) / 2
    return x


def _run_heun(fn: Callable[..., Any]) -> Verdict:
    velocity = gaussian_velocity  # data N(0.3, 0.5^2): the exact velocity is linear in x
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(15), dtype=torch.float64)
    grid = [1.0, 0.75, 0.5, 0.25, 0.0]

    def run(f: Callable[..., torch.Tensor], **kw: Any) -> torch.Tensor:
        return f(velocity, x.clone(), grid, **kw)

    return judge_output(lambda: run(fn), lambda: run(_heun_reference), {
        "at_start": run(_heun_reference, at_start=True), "euler": run(_heun_reference, euler=True)}, atol=1e-6,
        correct="Fixed: the corrector reads the velocity where Euler's step landed.")


HEUN_CORRECTOR = _planted_bug(
    "bug: Heun's corrector", HEUN_SOURCE,
    _run_heun,
    hints=("Heun's method averages two slopes: the one where the step starts and the one where a plain Euler "
           "step would end. Where is the second slope read?",
           "velocity(..., s_next) must be evaluated at x_euler, the Euler prediction at s_next, not at x."),
    mistakes={"at_start": "The bug is still there: the second velocity is read at the starting point x, where "
                          "the path is at s, not at s_next, so the average mixes two times at one place.",
              "euler": "That is Euler's method: it drops the corrector, and with it the second order."})


# -- notebook 11: reflow's target ---------------------------------------------------------------
REFLOW_SOURCE = '''\
def reflow_batch_loss(velocity, pairs_x0, pairs_eps, batch_size, generator):
    """Reflow's loss on a batch drawn from the pairs (the teacher's ODE took pairs_eps[k] to pairs_x0[k])."""
    i = torch.randint(len(pairs_x0), (batch_size,), generator=generator)
    j = torch.randint(len(pairs_eps), (batch_size,), generator=generator)
    x0, eps = pairs_x0[i], pairs_eps[j]
    s = torch.rand(batch_size, 1, generator=generator)
    x_s = (1 - s) * x0 + s * eps
    return (velocity(x_s, s) - (eps - x0)).square().mean()
'''


def _reflow_reference(velocity: Callable[..., torch.Tensor], pairs_x0: torch.Tensor, pairs_eps: torch.Tensor,
                      batch_size: int, seed: int, draw_j: bool = False, pair: bool = True,
                      sign: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    i = torch.randint(len(pairs_x0), (batch_size,), generator=g)
    j = torch.randint(len(pairs_eps), (batch_size,), generator=g) if draw_j or not pair else i
    x0, eps = pairs_x0[i], pairs_eps[i if pair else j]
    s = torch.rand(batch_size, 1, generator=g)
    x_s = (1 - s) * x0 + s * eps
    return (velocity(x_s, s) - sign * (eps - x0)).square().mean()


def _run_reflow(fn: Callable[..., Any]) -> Verdict:
    g = torch.Generator().manual_seed(11)
    pairs_eps = torch.randn(64, 3, generator=g, dtype=torch.float64)
    pairs_x0 = 0.4 + 0.6 * pairs_eps  # the exact ODE map of N(0.4, 0.36) data: pair k is one straight line

    def velocity(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:  # a half-trained stand-in: the loss is not 0
        return 0.3 * x - 0.2 * s

    def ref(**kw: Any) -> torch.Tensor:
        return _reflow_reference(velocity, pairs_x0, pairs_eps, 32, 5, **kw)

    return judge_output(lambda: torch.as_tensor(fn(velocity, pairs_x0, pairs_eps, 32, torch.Generator().manual_seed(5))),
                        ref(), {"independent": ref(pair=False), "sign": ref(sign=-1.0),
                                 "sign_j": ref(sign=-1.0, draw_j=True)}, atol=1e-9,
                        also_correct={"kept_j": (ref(draw_j=True), "Fixed: each image now meets its own noise. (The "
                                                 "unused draw of j still moves the generator; delete it.)")},
                        correct="Fixed: each image meets the noise it was drawn from, so every line is one of the "
                                "teacher's paths straightened.")


REFLOW_PAIRING = _planted_bug(
    "bug: reflow's pairs", REFLOW_SOURCE,
    _run_reflow,
    hints=("Reflow trains on the teacher's pairs: pairs_eps[k] is the noise the teacher turned into pairs_x0[k]. Does "
           "the batch keep them together?",
           "The image and the noise of one line must come from the same index."),
    mistakes={"independent": "The bug is still there: the image and the noise are drawn with different indices, so "
                             "each line joins an image to someone else's noise. That is plain flow matching with "
                             "independent pairs, whose lines cross, and its loss can never reach 0.",
              **dict.fromkeys(("sign", "sign_j"), "Sign: the straight path runs from x0 (s = 0) to eps (s = 1), so its "
                                                  "velocity is eps - x0.")})


ALL: tuple[Exercise, ...] = (LAST_STEP_NOISE, POSTERIOR_VARIANCE, CLAMP_X0, GUIDANCE_BRANCHES, LATENT_CLAMP,
                             HEUN_CORRECTOR, REFLOW_PAIRING)
