import math

import pytest
import torch

from ddpm_lib.schedule import NoiseSchedule, cosine_beta_schedule, extract, extract_clean, linear_beta_schedule


@pytest.fixture(scope="module")
def linear():
    return NoiseSchedule(1000, "linear")


def test_linear_ends_match_ddpm_paper(linear):
    # t = 0 is the paper's beta_1 = 1e-4, t = T-1 its beta_T = 0.02
    assert linear.betas[0].item() == pytest.approx(1e-4)
    assert linear.betas[-1].item() == pytest.approx(0.02)
    assert linear.alphas_cumprod_prev[0].item() == 1.0
    assert linear.alphas_cumprod[0].item() == pytest.approx(1 - 1e-4)
    # pinned value of alpha_bar_T for the linear schedule
    assert linear.alphas_cumprod[-1].item() == pytest.approx(4.0358e-05, rel=1e-3)


def test_all_coefficients_float32_shape_T(linear):
    for name in ("betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                 "sqrt_one_minus_alphas_cumprod", "posterior_variance", "posterior_mean_coef1", "posterior_mean_coef2"):
        a = getattr(linear, name)
        assert a.dtype == torch.float32 and a.shape == (1000,), name


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_alpha_bar_strictly_decreasing(kind):
    s = NoiseSchedule(1000, kind)
    ac = s.alphas_cumprod.double()
    assert (ac[1:] < ac[:-1]).all()
    assert 0 < ac[-1] < ac[0] < 1


def test_snr_at_last_step_below_1e4_for_linear(linear):
    assert linear.snr[-1].item() < 1e-4


def test_cosine_follows_nichol_dhariwal():
    betas = cosine_beta_schedule(1000)
    assert betas.dtype == torch.float64
    assert betas.max().item() <= 0.999
    s = 0.008
    f = lambda t: math.cos((t / 1000 + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    ac = torch.cumprod(1 - betas, 0)
    for t in (0, 100, 500, 900):
        assert ac[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)


def test_posterior_coefficients_against_formulas(linear):
    b = linear_beta_schedule(1000)
    a = 1 - b
    ac = torch.cumprod(a, 0)
    acp = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
    torch.testing.assert_close(linear.posterior_variance, (b * (1 - acp) / (1 - ac)).float())
    torch.testing.assert_close(linear.posterior_mean_coef1, (b * acp.sqrt() / (1 - ac)).float())
    torch.testing.assert_close(linear.posterior_mean_coef2, ((1 - acp) * a.sqrt() / (1 - ac)).float())
    assert linear.posterior_variance[0].item() == 0.0  # no noise left to add when stepping to x_0


def test_closed_form_equals_iterated_noising_analytically():
    """x_t = prod sqrt(alpha_s) x0 + noise with variance 1 - prod alpha_s, computed step by step."""
    s = NoiseSchedule(1000, "linear")
    b = linear_beta_schedule(1000)
    mean_coef, var = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    for t in range(1000):  # x_t = sqrt(1 - b) x_{t-1} + sqrt(b) z: mean scales, variances add
        mean_coef = mean_coef * (1 - b[t]).sqrt()
        var = (1 - b[t]) * var + b[t]
        if t in (0, 9, 499, 999):
            assert mean_coef.item() == pytest.approx(s.sqrt_alphas_cumprod[t].item(), rel=1e-5)
            assert var.item() == pytest.approx(s.sqrt_one_minus_alphas_cumprod[t].item() ** 2, rel=1e-5)


def test_closed_form_matches_iterated_noising_monte_carlo():
    s = NoiseSchedule(100, "linear")
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x0 = torch.tensor([0.8, -0.5]).repeat(n, 1)
    x = x0.clone()
    t_end = 60
    for t in range(t_end + 1):
        x = s.q_step(x, torch.full((n,), t), torch.randn(x.shape, generator=g))
    direct = s.q_sample(x0, torch.full((n,), t_end), torch.randn(x0.shape, generator=g))
    # both agree with the closed form N(sqrt(a) x0, (1 - a) I) within ~5 standard errors of a variance estimate
    a = s.alphas_cumprod[t_end]
    for y in (x, direct):
        torch.testing.assert_close(y.mean(0), a.sqrt() * x0[0], atol=0.01, rtol=0)
        torch.testing.assert_close(y.var(0), (1 - a).expand(2), atol=0.015, rtol=0)
    torch.testing.assert_close(direct.mean(0), s.sqrt_alphas_cumprod[t_end] * x0[0], atol=0.01, rtol=0)


def test_q_sample_ends(linear):
    x0 = torch.ones(2, 1, 4, 4)
    eps = torch.zeros_like(x0)
    t = torch.tensor([0, 999])
    xt = linear.q_sample(x0, t, eps)
    assert xt[0].mean().item() == pytest.approx(math.sqrt(1 - 1e-4))
    assert xt[1].mean().item() == pytest.approx(math.sqrt(4.0358e-05), rel=1e-3)


def test_predict_x0_inverts_q_sample_and_posterior_mean(linear):
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(4, 1, 8, 8, generator=g) * 2 - 1
    eps = torch.randn(x0.shape, generator=g)
    t = torch.tensor([0, 10, 500, 999])
    xt = linear.q_sample(x0, t, eps)
    torch.testing.assert_close(linear.predict_x0(xt, t, eps), x0, atol=2e-3, rtol=0)
    torch.testing.assert_close(linear.predict_eps(xt, t, x0), eps, atol=1e-4, rtol=0)
    mean, var = linear.q_posterior(x0, xt, t)
    # the posterior mean in eps form: (x_t - beta_t / sqrt(1 - a_t) eps) / sqrt(alpha_t)
    b, a, ac = (extract(v, t, xt.shape) for v in (linear.betas, linear.alphas, linear.alphas_cumprod))
    torch.testing.assert_close(mean, (xt - b / (1 - ac).sqrt() * eps) / a.sqrt(), atol=1e-4, rtol=0)
    assert var.shape == (4, 1, 1, 1)


def test_q_sample_refuses_bad_levels_with_clear_errors(linear):
    x = torch.zeros(3, 1, 2, 2)
    with pytest.raises(ValueError, match=r"0\.\.999"):
        linear.q_sample(x, torch.tensor([0, 1, 1000]), x)
    with pytest.raises(ValueError, match=r"0\.\.999"):
        linear.q_sample(x, torch.tensor([-1, 1, 2]), x)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        linear.q_sample(x, torch.tensor([0, 1]), x)
    with pytest.raises(TypeError, match="integer"):
        linear.q_sample(x, torch.tensor([0.0, 1.0, 2.0]), x)
    with pytest.raises(ValueError, match="noise"):
        linear.q_sample(x, torch.tensor([0, 1, 2]), torch.zeros(3, 1, 2, 3))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="linear, cosine"):
        NoiseSchedule(1000, "quadratic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_timesteps"):
        NoiseSchedule(1)


def test_to_and_config_round_trip(linear):
    s = NoiseSchedule(**linear.config())
    torch.testing.assert_close(s.betas, linear.betas)
    assert s.to("cpu").device.type == "cpu"
    assert len(s) == 1000


@pytest.mark.parametrize("T", [10, 50, 100, 1000])
def test_linear_schedule_scales_with_T_so_x_T_is_pure_noise(T):
    # unscaled, T = 100 ended at alpha_bar_T = 0.36 and T = 50 at 0.60, yet sampling starts from N(0, I)
    s = NoiseSchedule(T, "linear")
    assert s.alphas_cumprod[-1].item() < 1e-3
    assert s.betas[0].item() == pytest.approx(1e-4 * 1000 / T)
    assert s.betas.max().item() == pytest.approx(min(0.999, 0.02 * 1000 / T))


def test_extract_is_a_gather_and_the_clean_level_has_its_own_lookup():
    s = NoiseSchedule(10)
    t = torch.tensor([3, 0, 9])
    a = extract(s.betas, t, (3, 2, 5))
    assert a.shape == (3, 1, 1) and a.flatten().tolist() == s.betas[t].tolist()
    t = torch.tensor([-1, 0, 9])
    a = extract_clean(s.alphas_cumprod, t, (3, 1, 1), 1.0)
    assert a.shape == (3, 1, 1)
    assert a.flatten().tolist() == [1.0, s.alphas_cumprod[0].item(), s.alphas_cumprod[9].item()]
    torch.testing.assert_close(s.alpha_bar(t, (3,)), a.flatten())
    with pytest.raises(RuntimeError, match="out of bounds"):  # plain extract never reads a[-1] as alpha_bar_{T-1}
        extract(s.betas, t, (3, 1))
