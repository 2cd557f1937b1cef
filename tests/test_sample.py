from typing import Any

import pytest
import torch

from ddpm_lib.generation import generate
from ddpm_lib.schedule import ddim_timesteps
from ddpm_lib.sample import (ddim_invert, ddim_sigma, guided_eps, sample_ddim, sample_ddpm, sample_dpm_solver)
from ddpm_lib.viz import trajectory
from ddpm_lib.schedule import NoiseSchedule, extract


class ExactDenoiser:
    """The optimal eps-predictor when the data is one fixed image x*: eps = (x_t - sqrt(a_t) x*) / sqrt(1 - a_t)."""

    null_label = 10

    def __init__(self, schedule, target):
        self.schedule, self.target = schedule, target

    def __call__(self, x, t, labels=None):
        s = self.schedule
        return (x - extract(s.sqrt_alphas_cumprod, t, x.shape) * self.target) / extract(
            s.sqrt_one_minus_alphas_cumprod, t, x.shape)


class Toy:
    """eps_theta(x, t, y) = 0.5 x + 0.1 y: simple enough to pin sampler outputs exactly."""

    null_label = 10

    def __init__(self):
        self.calls = 0

    def __call__(self, x, t, labels=None):
        self.calls += 1
        y = torch.zeros(x.shape[0]) if labels is None else labels.float()
        return 0.5 * x + 0.1 * y.reshape(-1, *([1] * (x.ndim - 1)))


@pytest.fixture(scope="module")
def schedule():
    return NoiseSchedule(1000)


@pytest.fixture(scope="module")
def target():
    g = torch.Generator().manual_seed(3)
    return (torch.rand(1, 1, 8, 8, generator=g) * 1.6 - 0.8)


@pytest.mark.parametrize("sampler", ["ddpm", "ddpm-posterior", "ddim", "ddim-eta1"])
def test_exact_denoiser_lands_on_the_data(schedule, target, sampler):
    model = ExactDenoiser(schedule, target)
    g = torch.Generator().manual_seed(0)
    shape = (3, 1, 8, 8)
    if sampler.startswith("ddpm"):
        x = sample_ddpm(model, schedule, shape, generator=g, precision="fp32",
                        variance="posterior" if sampler.endswith("posterior") else "beta")
    else:
        x = sample_ddim(model, schedule, shape, steps=20, eta=1.0 if sampler.endswith("1") else 0.0, generator=g,
                        precision="fp32")
    torch.testing.assert_close(x, target.expand(shape), atol=1e-4, rtol=0)


def test_ddpm_without_clipping_is_algorithm_2_to_the_letter(schedule):
    model = Toy()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    shape = (2, 1, 4, 4)
    s = NoiseSchedule(50)
    out = sample_ddpm(model, s, shape, generator=g1, clip_denoised=False, precision="fp32")
    # Algorithm 2, written out: x_{t-1} = (x_t - beta_t / sqrt(1 - a_t) eps) / sqrt(alpha_t) + sqrt(beta_t) z
    x = torch.randn(shape, generator=g2)
    for t in range(49, -1, -1):
        eps = 0.5 * x
        x_new = (x - s.betas[t] / (1 - s.alphas_cumprod[t]).sqrt() * eps) / s.alphas[t].sqrt()
        if t > 0:
            x_new = x_new + s.betas[t].sqrt() * torch.randn(shape, generator=g2)
        x = x_new
    torch.testing.assert_close(out, x, atol=1e-4, rtol=1e-4)


def test_ddim_eta1_all_steps_has_ddpm_posterior_variance(schedule):
    t = torch.arange(1, 1000)
    sigma = ddim_sigma(schedule, t, t - 1, eta=1.0)
    # 1 - a_t / a_{t-1} is computed from float32 alpha_bar: 3e-4 relative error where beta_t ~ 1e-4
    torch.testing.assert_close(sigma ** 2, schedule.posterior_variance[1:], rtol=1e-3, atol=1e-9)
    assert ddim_sigma(schedule, t, t - 1, eta=0.0).abs().max().item() == 0.0
    assert ddim_timesteps(1000, 1000) == list(range(999, -1, -1))


class GaussianDenoiser:
    """The exact E[eps | x_t] when the data is N(m, s^2) per pixel: x_t ~ N(sqrt(a) m, a s^2 + 1 - a), so
    eps*(x_t) = sqrt(1 - a) (x_t - sqrt(a) m) / (a s^2 + 1 - a). Every sampler should return N(m, s^2)."""

    null_label = 10

    def __init__(self, schedule, m, sd):
        self.schedule, self.m, self.sd = schedule, m, sd

    def __call__(self, x, t, labels=None):
        a = extract(self.schedule.alphas_cumprod, t, x.shape)
        return (1 - a).sqrt() * (x - a.sqrt() * self.m) / (a * self.sd ** 2 + 1 - a)


def test_samplers_recover_a_gaussian_data_distribution():
    s = NoiseSchedule(100)
    model = GaussianDenoiser(s, 0.3, 0.5)
    shape = (20000, 1, 1, 1)
    kw: dict[str, Any] = dict(clip_denoised=False, precision="fp32")
    ddpm = sample_ddpm(model, s, shape, variance="posterior", generator=torch.Generator().manual_seed(0), **kw)
    ddim1 = sample_ddim(model, s, shape, steps=100, eta=1.0, generator=torch.Generator().manual_seed(1), **kw)
    ddim0 = sample_ddim(model, s, shape, steps=100, eta=0.0, generator=torch.Generator().manual_seed(2), **kw)
    # DDIM with eta = 1 over all T steps is DDPM with the posterior variance: the same distribution
    assert abs(ddpm.mean() - ddim1.mean()) < 0.015 and abs(ddpm.std() - ddim1.std()) < 0.02
    for x in (ddpm, ddim1, ddim0):  # and all land on N(0.3, 0.5^2), up to T = 100 discretisation
        assert abs(x.mean() - 0.3) < 0.01 and abs(x.std() - 0.5) < 0.04


def test_ddim_timesteps_strided():
    assert ddim_timesteps(1000, 5) == [999, 749, 500, 250, 0]
    assert ddim_timesteps(1000, 1) == [999]
    with pytest.raises(ValueError, match="steps must be a whole number from 1 to 1000 .*got 0"):
        ddim_timesteps(1000, 0)
    with pytest.raises(ValueError, match="steps must be a whole number from 1 to 1000 .*got 1001"):
        ddim_timesteps(1000, 1001)


def test_guidance_combines_in_one_batched_forward():
    model = Toy()
    x, t = torch.ones(2, 1, 2, 2), torch.tensor([5, 5])
    labels = torch.tensor([2, 4])
    cond, uncond = model(x, t, labels), model(x, t, torch.full((2,), 10))
    model.calls = 0
    eps = guided_eps(model, x, t, labels, guidance_scale=3.0)
    assert model.calls == 1
    torch.testing.assert_close(eps, uncond + 3.0 * (cond - uncond))
    torch.testing.assert_close(guided_eps(model, x, t, labels, 0.0), uncond)
    torch.testing.assert_close(guided_eps(model, x, t, labels, 1.0), cond)
    torch.testing.assert_close(guided_eps(model, x, t, None), model(x, t))


def test_seeded_runs_are_reproducible_and_pinned():
    s = NoiseSchedule(1000)
    run = lambda seed: sample_ddim(Toy(), s, (2, 1, 2, 2), steps=10, eta=0.5, labels=torch.tensor([1, 7]),  # noqa: E731
                                   guidance_scale=2.0, generator=torch.Generator().manual_seed(seed), precision="fp32")
    a, b, c = run(0), run(0), run(1)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    pinned = torch.tensor([[0.999573, 1.0, -1.0, 0.970922], [-1.0, -0.407070, 0.005315, -0.705019]])
    torch.testing.assert_close(a.flatten(1), pinned, atol=1e-4, rtol=0)


def test_trajectory_shapes_and_ends(schedule, target):
    model = ExactDenoiser(schedule, target)
    x = sample_ddim(model, schedule, (2, 1, 8, 8), steps=10, generator=torch.Generator().manual_seed(0), precision="fp32")
    traj = trajectory(sample_ddim, model, schedule, (2, 1, 8, 8), steps=10,
                      generator=torch.Generator().manual_seed(0), precision="fp32")
    assert traj.timesteps.tolist() == ddim_timesteps(1000, 10)
    assert traj.xt.shape == (10, 2, 1, 8, 8) and traj.x0.shape == (10, 2, 1, 8, 8)
    torch.testing.assert_close(traj.sample, x)
    # frame i holds x at the level it is labelled with: the first is the starting noise x_T itself
    torch.testing.assert_close(traj.xt[0], torch.randn((2, 1, 8, 8), generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(traj.x0[0], target.expand(2, 1, 8, 8), atol=1e-3, rtol=0)


def test_ddim_inversion_round_trip(schedule, target):
    model = ExactDenoiser(schedule, target)
    x0 = target.expand(2, 1, 8, 8).clone()
    noise = ddim_invert(model, schedule, x0, steps=20)
    assert noise.shape == x0.shape
    back = sample_ddim(model, schedule, x0.shape, steps=20, x_T=noise, precision="fp32")
    torch.testing.assert_close(back, x0, atol=1e-4, rtol=0)


def test_generate_batches_and_validates(schedule, target):
    model = ExactDenoiser(schedule, target)
    labels = torch.arange(5)
    x = generate(model, schedule, labels, image_shape=(1, 8, 8), steps=5, batch_size=2,
                 generator=torch.Generator().manual_seed(0), precision="fp32")
    assert x.shape == (5, 1, 8, 8)
    with pytest.raises(ValueError, match="ddpm, ddim, dpm\\+\\+, euler, heun"):
        generate(model, schedule, labels, sampler="rk4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nothing to generate"):
        generate(model, schedule, None, num_samples=0)


def test_bad_arguments(schedule):
    with pytest.raises(ValueError, match="beta, posterior"):
        sample_ddpm(Toy(), schedule, (1, 1, 2, 2), variance="learned")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eta"):
        sample_ddim(Toy(), schedule, (1, 1, 2, 2), eta=-1)
    with pytest.raises(ValueError, match="labels must have shape"):
        sample_ddim(Toy(), schedule, (2, 1, 2, 2), labels=torch.tensor([1, 2, 3]))


def test_non_finite_model_output_is_diagnosed(schedule):
    broken = lambda x, t, labels=None: x * float("nan")  # noqa: E731
    with pytest.raises(FloatingPointError, match="non-finite"):
        sample_ddim(broken, schedule, (1, 1, 2, 2), steps=3)


def test_inpainting_keeps_known_pixels_and_fills_the_rest(schedule, target):
    from ddpm_lib.sample import sample_inpaint

    model = ExactDenoiser(schedule, target)  # the data is one image: the hole must be filled with it
    known = target.expand(2, 1, 8, 8).clone()
    known_with_hole = known.clone()
    mask = torch.ones_like(known)
    mask[..., 2:6, 2:6] = 0
    known_with_hole[mask == 0] = 0.0
    out = sample_inpaint(model, schedule, known_with_hole, mask, steps=10, resample=2,
                         generator=torch.Generator().manual_seed(0), precision="fp32")
    torch.testing.assert_close(out[mask == 1], known[mask == 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(out, known, atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="same shape"):
        sample_inpaint(model, schedule, known, mask[:1])


def test_slerp_ends_and_norm():
    from ddpm_lib.sample import slerp

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 1, 16, 16, generator=g), torch.randn(2, 1, 16, 16, generator=g)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b, atol=1e-5, rtol=0)
    mid = slerp(a, b, 0.5)
    # noise norms stay ~sqrt(D) along the path; the straight-line midpoint shrinks by ~1/sqrt(2)
    assert abs(mid.flatten(1).norm(dim=1).mean() / a.flatten(1).norm(dim=1).mean() - 1) < 0.1
    assert ((a + b) / 2).flatten(1).norm(dim=1).mean() < 0.8 * a.flatten(1).norm(dim=1).mean()


def test_step_functions_against_the_papers_formulas(schedule):
    from ddpm_lib.sample import ddim_inverse_step, ddim_step, ddpm_step

    g = torch.Generator().manual_seed(0)
    x_t, x0, eps, z = (torch.randn(3, 1, 2, 2, generator=g) for _ in range(4))
    t, t_prev = torch.tensor([999, 500, 1]), torch.tensor([899, 250, -1])
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)  # Ho et al.'s schedule, in float64
    ac = torch.cumprod(1 - betas, 0)
    view = lambda v: v.reshape(-1, 1, 1, 1)  # noqa: E731
    # DDPM eq. 7 mean + sqrt(beta_t) z
    b, a_t = betas[t], ac[t]
    a_tm1 = torch.where(t > 0, ac[(t - 1).clamp(min=0)], torch.ones(3, dtype=torch.float64))
    mean = view(b * a_tm1.sqrt() / (1 - a_t)) * x0 + view((1 - a_tm1) * (1 - b).sqrt() / (1 - a_t)) * x_t
    torch.testing.assert_close(ddpm_step(schedule, x_t, x0, t, z).double(), mean + view(b.sqrt()) * z, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ddpm_step(schedule, x_t, x0, t, None).double(), mean, atol=1e-5, rtol=1e-5)
    # DDIM eqs. 12 and 16, alpha_bar_{-1} = 1
    a_prev = torch.where(t_prev >= 0, ac[t_prev.clamp(min=0)], torch.ones(3, dtype=torch.float64))
    sigma = 0.5 * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
    want = view(a_prev.sqrt()) * x0 + view((1 - a_prev - sigma ** 2).sqrt()) * eps + view(sigma) * z
    torch.testing.assert_close(ddim_step(schedule, x0, eps, t, t_prev, eta=0.5, z=z).double(), want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ddim_step(schedule, x0, eps, t, t_prev)[2], x0[2])  # the last step returns x0_hat
    # the inverse step is eq. 12 with sigma = 0 towards the higher level
    up = ddim_inverse_step(schedule, x0, eps, t)
    torch.testing.assert_close(up.double(), view(a_t.sqrt()) * x0 + view((1 - a_t).sqrt()) * eps, atol=1e-5, rtol=1e-5)


class ModeRecorder(torch.nn.Module):
    """Records whether it was in training mode, and where its labels lived, at each call."""

    null_label = 10
    num_classes = 10
    in_channels = 1

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.seen = []

    def forward(self, x, t, labels=None):
        self.seen.append((self.training, None if labels is None else labels.device))
        return torch.zeros_like(x) + self.w


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm++", "invert", "inpaint"])
def test_every_sampler_runs_the_model_in_eval_mode_and_restores_it(sampler):
    s = NoiseSchedule(20)
    model = ModeRecorder().train()
    labels = torch.tensor([1, 2])
    x = torch.zeros(2, 1, 4, 4)
    if sampler == "ddpm":
        sample_ddpm(model, s, x.shape, labels=labels)
    elif sampler == "ddim":
        sample_ddim(model, s, x.shape, steps=4, labels=labels)
    elif sampler == "dpm++":
        generate(model, s, labels, image_shape=(1, 4, 4), sampler="dpm++", steps=4)
    elif sampler == "invert":
        ddim_invert(model, s, x, steps=4, labels=labels)
    else:
        from ddpm_lib.sample import sample_inpaint
        sample_inpaint(model, s, x, torch.ones_like(x), steps=4, resample=2, labels=labels)
    assert model.seen and all(not training for training, _ in model.seen)
    assert all(device == torch.device("cpu") for _, device in model.seen)
    assert model.training  # given back in the mode it came in


def test_generate_uses_the_models_channels():
    class ThreeChannels(ModeRecorder):
        in_channels = 3

    x = generate(ThreeChannels(), NoiseSchedule(20), torch.tensor([0, 1]), steps=2)
    assert x.shape == (2, 3, 32, 32)


# -- DPM-Solver++(2M) --------------------------------------------------------------------------------
def test_dpm_solver_step_against_the_papers_formula(schedule):
    from ddpm_lib.sample import ddim_step, dpm_solver_step

    g = torch.Generator().manual_seed(1)
    x_t, x0, x0_last = (torch.randn(3, 1, 2, 2, generator=g) for _ in range(3))
    t_last, t, t_prev = torch.tensor([999, 700, 9]), torch.tensor([899, 500, 3]), torch.tensor([799, 250, 0])
    # Lu et al. 2022, Algorithm 2, in float64 from Ho et al.'s betas
    ac = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)
    alpha, sigma = ac.sqrt(), (1 - ac).sqrt()
    lam = (alpha / sigma).log()
    view = lambda v: v.reshape(-1, 1, 1, 1)  # noqa: E731
    h, h_last = lam[t_prev] - lam[t], lam[t] - lam[t_last]
    r = h_last / h
    d = view(1 + 1 / (2 * r)) * x0 - view(1 / (2 * r)) * x0_last
    want = view(sigma[t_prev] / sigma[t]) * x_t - view(alpha[t_prev] * torch.expm1(-h)) * d
    # (the schedule's float32 alpha_bar near t = 0, where 1 - a_t ~ 3e-4, costs ~2e-4 relative error)
    torch.testing.assert_close(dpm_solver_step(schedule, x_t, x0, t, t_prev, x0_last, t_last).double(), want,
                               atol=1e-3, rtol=1e-3)
    # first order (no memory) is DDIM with eta = 0; the step to the clean image is first order: x0_hat
    eps = schedule.predict_eps(x_t, t, x0)
    torch.testing.assert_close(dpm_solver_step(schedule, x_t, x0, t, t_prev), ddim_step(schedule, x0, eps, t, t_prev),
                               atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(dpm_solver_step(schedule, x_t, x0, t, torch.full_like(t, -1), x0_last, t_last), x0)


def test_dpm_solver_matches_diffusers_reference():
    """Step for step against diffusers' DPMSolverMultistepScheduler (algorithm dpmsolver++, order 2)."""
    import diffusers  # a test dependency (pyproject test extra), so a missing install fails rather than skips
    from ddpm_lib.schedule import log_snr_timesteps

    s = NoiseSchedule(1000)
    model = GaussianDenoiser(s, 0.3, 0.5)
    steps = 10
    x_T = torch.randn(4, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    ours: list[torch.Tensor] = []
    sample_dpm_solver(model, s, x_T.shape, steps=steps, x_T=x_T, clip_denoised=False, precision="fp32",
                      callback=lambda st: ours.append(st.x_prev))  # on log_snr_timesteps, the default
    ref = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02,
                                                beta_schedule="linear", algorithm_type="dpmsolver++", solver_order=2,
                                                solver_type="midpoint", prediction_type="epsilon",
                                                lower_order_final=False, final_sigmas_type="zero")
    ref.set_timesteps(timesteps=log_snr_timesteps(s, steps))
    x = x_T.clone()
    for i, t in enumerate(ref.timesteps):
        eps = model(x, torch.full((x.shape[0],), int(t)))
        x = ref.step(eps, t, x).prev_sample
        torch.testing.assert_close(ours[i], x, atol=2e-4, rtol=2e-4, msg=f"step {i} (t={int(t)})")
    assert len(ours) == len(ref.timesteps) == steps


def test_dpm_solver_is_second_order_on_the_exact_ode():
    """Gaussian data N(m, s^2): the probability-flow ODE from level T-1 to level 0 keeps each point's standard
    score, z = (x - sqrt(a) m) / sqrt(a s^2 + 1 - a), and the last step returns E[x_0 | x at level 0].

    Doubling the steps should halve DDIM's error (first order) and quarter DPM-Solver++(2M)'s (on its
    default levels, evenly spaced in log-SNR, where each step's h is the same).
    """
    from ddpm_lib.sample import sample_dpm_solver

    s = NoiseSchedule(1000)
    m, sd = 0.3, 0.5
    model = GaussianDenoiser(s, m, sd)
    x_T = torch.randn(256, 1, 1, 1, generator=torch.Generator().manual_seed(0))
    a_T, a_0 = s.alphas_cumprod[-1].double(), s.alphas_cumprod[0].double()
    z = (x_T.double() - a_T.sqrt() * m) / (a_T * sd ** 2 + 1 - a_T).sqrt()
    x_level0 = a_0.sqrt() * m + (a_0 * sd ** 2 + 1 - a_0).sqrt() * z
    exact = m + a_0.sqrt() * sd ** 2 / (a_0 * sd ** 2 + 1 - a_0) * (x_level0 - a_0.sqrt() * m)
    kw: dict[str, Any] = dict(x_T=x_T, clip_denoised=False, precision="fp32")
    samples: dict[str, list[torch.Tensor]] = {"ddim": [], "dpm++": []}
    for n in (16, 32, 64):
        samples["ddim"].append(sample_ddim(model, s, x_T.shape, steps=n, **kw))
        samples["dpm++"].append(sample_dpm_solver(model, s, x_T.shape, steps=n, **kw))
    error = {k: [float((x.double() - exact).abs().max()) for x in v] for k, v in samples.items()}
    ratios = {k: [a / b for a, b in zip(v, v[1:])] for k, v in error.items()}
    assert all(1.7 < r < 2.3 for r in ratios["ddim"]), (error, ratios)
    assert all(3.0 < r < 5.0 for r in ratios["dpm++"]), (error, ratios)
    assert error["dpm++"][0] < error["ddim"][-1] / 2  # 16 second-order steps beat 64 first-order ones


def test_dpm_solver_through_generate_and_its_errors(schedule, target):
    model = ExactDenoiser(schedule, target)
    x = generate(model, schedule, None, num_samples=3, image_shape=(1, 8, 8), sampler="dpm++", steps=10,
                 generator=torch.Generator().manual_seed(0), precision="fp32")
    torch.testing.assert_close(x, target.expand(3, 1, 8, 8), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r"eta=0.5 applies to the ddim sampler only \(dpm\+\+ has no eta\)"):
        generate(model, schedule, None, num_samples=1, sampler="dpm++", eta=0.5)
    with pytest.raises(ValueError, match="unknown sampler 'dpm'; valid samplers are ddpm, ddim, dpm\\+\\+"):
        generate(model, schedule, None, num_samples=1, sampler="dpm")  # type: ignore[arg-type]


def test_log_snr_timesteps_are_distinct_and_evenly_spaced_in_lambda():
    from ddpm_lib.schedule import log_snr, log_snr_timesteps

    s = NoiseSchedule(1000)
    for n in (1, 2, 10, 40, 1000):
        ts = log_snr_timesteps(s, n)
        assert len(ts) == n and ts[0] == 999 and all(a > b for a, b in zip(ts, ts[1:]))
        assert n == 1 or ts[-1] == 0
    levels = torch.tensor(log_snr_timesteps(s, 10))
    lam = log_snr(s, levels, (10,))
    h = lam.diff()
    assert h.min() > 0.9 * h.mean() and h.max() < 1.1 * h.mean()  # equal steps in lambda, up to whole levels
    with pytest.raises(ValueError, match="steps must be a whole number from 1 to 1000"):
        log_snr_timesteps(s, 0)


def test_dpm_solver_rejects_levels_outside_the_schedule(schedule):
    from ddpm_lib.sample import sample_dpm_solver

    out_of_range = r"timesteps must be levels from 0 to 999 \(the schedule's T - 1\), got \[1000, 5\]"
    with pytest.raises(ValueError, match=out_of_range):
        sample_dpm_solver(Toy(), schedule, (1, 1, 2, 2), timesteps=[1000, 5])
    with pytest.raises(ValueError, match="strictly descending"):
        sample_dpm_solver(Toy(), schedule, (1, 1, 2, 2), timesteps=[5, 10])
