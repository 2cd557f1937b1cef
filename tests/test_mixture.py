import pytest
import torch

from ddpm_lib.mixture import GaussianMixture, MixtureNoisePredictor, langevin
from ddpm_lib.sample import sample_ddim
from ddpm_lib.schedule import NoiseSchedule


def two_modes():
    return GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 1.0]]), 0.3, torch.tensor([1.0, 3.0]))


@pytest.mark.parametrize("signal", [1.0, 0.7, 0.05])
def test_score_is_the_gradient_of_the_log_density(signal):
    m = two_modes()
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64).requires_grad_()
    (grad,) = torch.autograd.grad(m.log_prob(x, signal).sum(), x)
    torch.testing.assert_close(m.score(x.detach(), signal), grad)


def test_log_prob_of_one_component_is_the_gaussian_density():
    m = GaussianMixture(torch.tensor([[1.0]]), 0.5)
    x = torch.tensor([[0.2], [1.0]], dtype=torch.float64)
    ref = torch.distributions.Normal(1.0, 0.5).log_prob(x[:, 0])
    torch.testing.assert_close(m.log_prob(x), ref)
    # noised to signal a: N(a mu, a^2 s^2 + 1 - a^2)
    a = 0.6
    ref = torch.distributions.Normal(a, (a * a * 0.25 + 1 - a * a) ** 0.5).log_prob(x[:, 0])
    torch.testing.assert_close(m.log_prob(x, a), ref)


def test_ideal_noise_predictor_drives_ddim_to_the_mixture():
    m, schedule = two_modes(), NoiseSchedule(1000)
    model = MixtureNoisePredictor(m, schedule)
    x = sample_ddim(model, schedule, (4000, 2), steps=100, clip_denoised=False, precision="fp32",
                    generator=torch.Generator().manual_seed(1))
    right = x[:, 0] > 0
    assert abs(right.double().mean().item() - 0.75) < 0.03  # the weights 1:3
    torch.testing.assert_close(x[right].mean(0).double(), torch.tensor([2.0, 1.0], dtype=torch.float64), atol=0.05, rtol=0)
    assert abs(x[right, 0].std().item() - 0.3) < 0.05


def test_langevin_samples_a_gaussian_from_its_score():
    m = GaussianMixture(torch.tensor([[1.5, -1.0]]), 0.5)
    start = torch.zeros(4000, 2, dtype=torch.float64)
    path = langevin(m.score, start, step_size=0.01, steps=600, generator=torch.Generator().manual_seed(2))
    x = path[-1]
    assert len(path) == 601 and torch.equal(path[0], start)
    torch.testing.assert_close(x.mean(0), torch.tensor([1.5, -1.0], dtype=torch.float64), atol=0.04, rtol=0)
    assert abs(x.std(0).mean().item() - 0.5) < 0.03


def test_bad_mixtures_and_steps_are_refused():
    with pytest.raises(ValueError, match=r"\(K, D\)"):
        GaussianMixture(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="std must be positive"):
        GaussianMixture(torch.zeros(2, 1), 0.0)
    with pytest.raises(ValueError, match="2 non-negative"):
        GaussianMixture(torch.zeros(2, 1), 1.0, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="step_size > 0"):
        langevin(two_modes().score, torch.zeros(1, 2), 0.0, 10)
