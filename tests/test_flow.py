"""Flow matching: the straight path, its loss and samplers against the closed forms of Gaussian data."""

from typing import Literal

import pytest
import torch

from ddpm_lib.checkpoint import load_model, save_model
from ddpm_lib.config import get_preset
from ddpm_lib.course import preset_path_model
from ddpm_lib.flow import (FlowPath, eps_from_velocity, flow_timesteps, score_from_eps, straight_path_level,
                           velocity_from_eps, velocity_from_score)
from ddpm_lib.mixture import GaussianMixture, MixtureVelocity
from ddpm_lib.generation import generate, network_calls, sampler_name
from ddpm_lib.sample import sample_ddim, sample_flow
from ddpm_lib.schedule import ddim_timesteps
from ddpm_lib.schedule import NoiseSchedule
from ddpm_lib.train import diffusion_loss
from ddpm_lib.unet import SimpleUNet

MU, SD = 0.3, 0.5  # data x_0 ~ N(MU, SD^2) in every coordinate


def gaussian_velocity(path: FlowPath):
    """v*(x, s) = E[eps | x] - E[x_0 | x] for x_0 ~ N(MU, SD^2), by linear regression of jointly Gaussian variables."""
    def v(x: torch.Tensor, t: torch.Tensor, labels=None) -> torch.Tensor:
        s = path.level(t, x.shape).double()
        var_x = (1 - s) ** 2 * SD ** 2 + s ** 2           # Var(x_s)
        r = x.double() - (1 - s) * MU                      # x_s - E[x_s]
        e_eps = s / var_x * r                              # Cov(eps, x_s) / Var(x_s) * r
        e_x0 = MU + (1 - s) * SD ** 2 / var_x * r          # E[x_0] + Cov(x_0, x_s) / Var(x_s) * r
        return (e_eps - e_x0).float()
    return v


def test_path_ends_levels_and_target():
    path = FlowPath(1000)
    t = torch.tensor([0, 499, 999, -1])
    torch.testing.assert_close(path.level(t, (4,)).flatten(), torch.tensor([0.001, 0.5, 1.0, 0.0]))
    x0, eps = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    xt = path.q_sample(x0, torch.tensor([999, 999, 499, 0]), eps)
    torch.testing.assert_close(xt[:2], eps[:2])                     # s = 1: pure noise
    torch.testing.assert_close(xt[2], 0.5 * x0[2] + 0.5 * eps[2])   # the midpoint of the straight line
    torch.testing.assert_close(path.training_target(x0, eps), eps - x0)
    with pytest.raises(ValueError, match="num_timesteps must be an integer >= 2"):
        FlowPath(1)


def test_split_prediction_inverts_the_path():
    path = FlowPath(1000)
    g = torch.Generator().manual_seed(0)
    x0, eps, t = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g), torch.tensor([0, 10, 300, 700, 999])
    xt = path.q_sample(x0, t, eps)
    x0_hat, eps_hat = path.split_prediction(xt, t, eps - x0)   # the exact velocity gives back both ends
    torch.testing.assert_close(x0_hat, x0, atol=1e-5, rtol=0)
    torch.testing.assert_close(eps_hat, eps, atol=1e-5, rtol=0)
    torch.testing.assert_close(path.predict_eps(xt, t, x0), eps, atol=1e-4, rtol=0)


def test_flow_timesteps_are_even_in_s():
    path = FlowPath(1000)
    levels = flow_timesteps(1000, 8)
    assert levels == [999, 874, 749, 624, 499, 374, 249, 124]
    s = path.level(torch.tensor(levels + [-1]), (9,)).flatten()
    torch.testing.assert_close(s[:-1] - s[1:], torch.full((8,), 0.125))
    assert flow_timesteps(1000, 1) == [999]
    with pytest.raises(ValueError, match="from 1 to 1000"):
        flow_timesteps(1000, 0)


def test_identities_between_eps_velocity_and_score():
    x, v, s = torch.randn(6, 4), torch.randn(6, 4), torch.rand(6, 1) * 0.9 + 0.05
    eps = eps_from_velocity(x, v, s)
    torch.testing.assert_close(velocity_from_eps(x, eps, s), v, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(velocity_from_score(x, score_from_eps(eps, s), s), v, atol=1e-5, rtol=1e-5)


def test_mixture_velocity_is_the_gaussian_closed_form():
    path = FlowPath(1000)
    one = GaussianMixture(torch.full((1, 2), MU), SD)        # a mixture of one component is N(MU, SD^2 I)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 1.5
    t = torch.randint(0, 999, (64,), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(MixtureVelocity(one, path)(x, t), gaussian_velocity(path)(x, t).double(),
                               atol=1e-5, rtol=1e-5)
    at_noise = torch.full((64,), 999)  # s = 1: v* = x - E[x_0], finite although the score formula divides by 1 - s
    torch.testing.assert_close(MixtureVelocity(one, path)(x, at_noise), x - MU)
    three = GaussianMixture(torch.tensor([[-1.0, 0.0], [1.0, 0.5], [0.0, 2.0]]), 0.3, torch.tensor([0.5, 0.3, 0.2]))
    s = path.level(t, (64, 1)).double()
    torch.testing.assert_close(MixtureVelocity(three, path)(x, t),
                               velocity_from_score(x, three.score(x, 1 - s, s), s), atol=1e-6, rtol=1e-6)


def test_loss_at_the_exact_velocity_is_the_conditional_variance():
    """E || v*(x_s) - (eps - x_0) ||^2 = D SD^2 / ((1 - s)^2 SD^2 + s^2) per coordinate: Var(eps - x_0 | x_s)."""
    path, g = FlowPath(1000), torch.Generator().manual_seed(0)
    n = 40_000
    x0 = MU + SD * torch.randn(n, 1, 2, 2, generator=g)
    v = gaussian_velocity(path)
    for level in (99, 499, 899):
        t = torch.full((n,), level)
        s = (level + 1) / 1000
        expected = SD ** 2 / ((1 - s) ** 2 * SD ** 2 + s ** 2)
        loss = diffusion_loss(v, path, x0, t=t, generator=g).item()
        assert loss == pytest.approx(expected, rel=0.03), (level, loss, expected)
        worse = diffusion_loss(lambda x, t: v(x, t) + 0.3, path, x0, t=t, generator=g).item()
        assert worse == pytest.approx(expected + 0.09, rel=0.03)  # + 0.3^2: the cross term vanishes at the mean


def test_euler_is_first_order_and_heun_second_order_on_gaussian_data():
    """The ODE maps the noise z to MU + SD z exactly; the error shrinks 2x (Euler) and ~4x (Heun) per doubling."""
    path = FlowPath(1000)
    z = torch.randn(500, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    exact = MU + SD * z
    errors = {}
    for method in ("euler", "heun"):
        errors[method] = [(sample_flow(gaussian_velocity(path), path, z.shape, steps=n, method=method, x_T=z,
                                       clip_denoised=False, precision="fp32") - exact).abs().max().item()
                          for n in (8, 16, 32)]
    e, h = errors["euler"], errors["heun"]
    assert 1.8 < e[0] / e[1] < 2.2 and 1.8 < e[1] / e[2] < 2.2, e
    assert h[0] / h[1] > 3.5 and h[1] / h[2] > 3.5, h
    assert h[2] < 0.005 and h[0] < e[2], (h, e)


def test_flow_samplers_count_their_network_calls():
    path, calls = FlowPath(1000), []

    def v(x, t, labels=None):
        calls.append(int(t[0]))
        return torch.zeros_like(x)

    cases: tuple[tuple[Literal["euler", "heun"], int, int], ...] = (("euler", 5, 5), ("heun", 5, 9), ("heun", 1, 1))
    for method, steps, expected in cases:
        calls.clear()
        steps_seen: list[object] = []
        sample_flow(v, path, (2, 3), steps=steps, method=method, precision="fp32", callback=steps_seen.append)
        assert len(calls) == len(steps_seen) == expected == network_calls(method, steps, 1000)
    assert calls == [999]
    assert sampler_name("heun", 8, 1000) == "HEUN-15" and sampler_name("euler", 15, 1000) == "EULER-15"


def test_network_calls_count_both_predictions_of_a_guided_step():
    rows: list[int] = []

    class Velocity(torch.nn.Module):
        null_label = 10

        def forward(self, x, t, labels=None):
            rows.append(len(x))
            return torch.zeros_like(x)

    labels = torch.tensor([1, 2])
    for w in (0.0, 1.0, 2.0, -1.0):
        rows.clear()
        sample_flow(Velocity(), FlowPath(1000), (2, 3), steps=4, method="heun", labels=labels, guidance_scale=w,
                    precision="fp32")
        assert sum(rows) // 2 == network_calls("heun", 4, 1000, w) == (7 if w in (0.0, 1.0) else 14), w


def test_euler_on_the_straight_path_is_ddim():
    """A DDPM's eps, read as a velocity on the straight path (x_s = x_t / c, s = sigma / c), Euler-stepped,
    lands exactly on DDIM's samples (eta = 0)."""
    schedule = NoiseSchedule(1000)
    w = torch.randn(3, 3, generator=torch.Generator().manual_seed(0)) * 0.3

    def eps_model(x, t, labels=None):  # any smooth eps-predictor will do
        return torch.tanh(x @ w) * (1 + t.float()[:, None] / 1000)

    x_T = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    ddim = sample_ddim(eps_model, schedule, x_T.shape, steps=10, x_T=x_T, clip_denoised=False, precision="fp32")
    levels = ddim_timesteps(1000, 10)
    s, c = straight_path_level(schedule, torch.full((8,), levels[0]), (8, 3))
    x = x_T / c
    for t, t_prev in zip(levels, levels[1:] + [-1]):
        tt = torch.full((8,), t)
        s, c = straight_path_level(schedule, tt, (8, 3))
        eps = eps_model(c * x, tt)
        x0 = schedule.predict_x0(c * x, tt, eps)
        s_prev, _ = straight_path_level(schedule, torch.full((8,), t_prev), (8, 3))
        x = x + (s_prev - s) * (eps - x0)
    torch.testing.assert_close(x, ddim, atol=1e-5, rtol=1e-5)


def test_flow_checkpoint_round_trip_and_sampler_checks(tmp_path):
    torch.manual_seed(0)
    model = SimpleUNet(base_channels=8, channel_mults=(1, 2), num_classes=10, norm_groups=4, attention_heads=2)
    save_model(model, tmp_path / "flow.safetensors", FlowPath(1000))
    loaded, path, _ = load_model(tmp_path / "flow.safetensors")
    assert isinstance(path, FlowPath) and path.num_timesteps == 1000
    labels = torch.arange(4)
    x = generate(loaded, path, labels, sampler="heun", steps=3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 32, 32) and x.abs().max() <= 1
    with pytest.raises(ValueError, match="trained with flow matching .* use sampler 'euler' or 'heun'"):
        generate(loaded, path, labels, sampler="ddim", steps=3)
    with pytest.raises(ValueError, match="DDPM .* use sampler 'ddim' or 'dpm\\+\\+'"):
        generate(loaded, NoiseSchedule(1000), labels, sampler="heun", steps=3)


def test_velocity_objective_refuses_min_snr_weighting():
    with pytest.raises(ValueError, match="min-SNR-5, .* train_min_snr_gamma=0"):
        preset_path_model(get_preset("cpu"), objective="velocity")
    model, path = preset_path_model(get_preset("cpu", train_min_snr_gamma=0.0), objective="velocity")
    assert isinstance(path, FlowPath)
    x0 = torch.zeros(2, 1, 32, 32)
    with pytest.raises(ValueError, match="velocity loss takes none: set min_snr_gamma=0"):
        diffusion_loss(model, path, x0, labels=torch.tensor([1, 2]), min_snr_gamma=5.0)
    with pytest.raises(ValueError, match="unknown objective 'v'; valid objectives are eps, velocity"):
        preset_path_model(get_preset("cpu"), objective="v")  # type: ignore[arg-type]
