"""Reflow: the teacher's pairs against the closed-form ODE map of Gaussian data, one Euler step on a straight
flow, straightness against its integral, the paired noise reaching the loss, exact resume and the command's
refusals."""

import pytest
import torch
from torch import nn

from ddpm_lib.__main__ import main
from ddpm_lib.checkpoint import load_model
from ddpm_lib.config import TrainConfig
from ddpm_lib.flow import FlowPath
from ddpm_lib.paths import PRETRAINED_FLOW_PATH, PRETRAINED_LATENT_PATH
from ddpm_lib.mixture import GaussianMixture, MixtureVelocity
from ddpm_lib.reflow import PairedDataset, reflow_pairs, straightness, train_reflow
from ddpm_lib.sample import sample_flow
from ddpm_lib.schedule import NoiseSchedule
from ddpm_lib.train import batch_indices, train

MU, SD = 0.3, 0.5  # data x_0 ~ N(MU, SD^2) in every coordinate


class GaussianEps(nn.Module):
    """The exact eps-prediction E[eps | x_t] of N(MU, SD^2) data on a DDPM schedule; labels change nothing."""

    num_classes, null_label, in_channels = 10, 10, 1

    def __init__(self, schedule: NoiseSchedule) -> None:
        super().__init__()
        self.schedule = schedule

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        a = self.schedule.alpha_bar(t, x.shape).double()
        alpha, sigma = a.sqrt(), (1 - a).sqrt()
        return (sigma * (x.double() - alpha * MU) / (a * SD ** 2 + 1 - a)).float()


def test_pairs_follow_the_teachers_ode_map_of_gaussian_data():
    # For Gaussian data the probability-flow ODE keeps u = (x_t - alpha mu) / sqrt(alpha^2 sd^2 + sigma^2) fixed,
    # so the pair of noise z at t = T-1 is x0 = mu + sd u(z).
    schedule = NoiseSchedule()
    g = torch.Generator().manual_seed(0)
    pairs = reflow_pairs(GaussianEps(schedule), schedule, (1, 4, 4), 20, guidance_scale=1.5, generator=g,
                         clip_denoised=False, steps=200)  # DPM-Solver++'s error at 15 steps is 0.04 here
    a = float(schedule.alphas_cumprod[-1])
    expected = MU + SD * (pairs.noise - a ** 0.5 * MU) / (a * SD ** 2 + 1 - a) ** 0.5
    torch.testing.assert_close(pairs.images, expected, atol=5e-4, rtol=0)
    assert pairs.labels.tolist() == [i % 10 for i in range(20)] and pairs.noise.shape == (20, 1, 4, 4)


def test_one_euler_step_follows_a_straight_flow_exactly():
    # Pairs on the affine map x0 = m + c z: the reflow loss is minimised by v(x_s) = z - x0 with
    # z = (x_s - (1 - s) m) / ((1 - s) c + s), and one Euler step from s = 1 lands on m + c z.
    m, c = 0.2, 0.4
    path = FlowPath(1000)

    def v(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        s = path.level(t, x.shape)
        z = (x - (1 - s) * m) / ((1 - s) * c + s)
        return z - (m + c * z)

    z = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    one = sample_flow(v, path, z.shape, steps=1, method="euler", x_T=z, clip_denoised=False)
    torch.testing.assert_close(one, m + c * z)


def test_straightness_matches_its_integral_for_gaussian_data_and_is_zero_on_straight_paths():
    # Flow matching's exact ODE for N(m, c^2) data moves eps along x_s = (1 - s) m + sigma_s eps with
    # sigma_s = sqrt((1 - s)^2 c^2 + s^2), so S = E[eps^2] * int_0^1 ((1 - c) - sigma_s')^2 ds.
    m, c = 0.5, 0.3
    path = FlowPath(1000)
    exact = MixtureVelocity(GaussianMixture(torch.tensor([[m]], dtype=torch.float64), c), path)
    eps = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    s = torch.linspace(0, 1, 100_001, dtype=torch.float64)
    sigma = ((1 - s) ** 2 * c ** 2 + s ** 2).sqrt()
    integral = float(torch.trapezoid(((1 - c) - (s - (1 - s) * c ** 2) / sigma) ** 2, s)) * float(eps.square().mean())
    assert straightness(exact, path, eps, steps=1000) == pytest.approx(integral, rel=0.01)
    assert straightness(exact, path, eps, steps=1000) > 0.1

    def straight(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        level = path.level(t, x.shape)
        z = (x - (1 - level) * m) / ((1 - level) * c + level)
        return z - (m + c * z)

    assert straightness(straight, path, eps, steps=100) < 1e-10  # the sampler's float32 levels


def test_straightness_is_the_exercises_definition():
    from ddpm_exercises.core import gaussian_velocity
    from ddpm_exercises.implement import straightness_reference

    path = FlowPath(1000)  # levels k / steps are exact for steps dividing T

    def model(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return gaussian_velocity(x, float(path.level(t[:1], (1,))))

    eps = torch.randn(64, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert straightness(model, path, eps, steps=8) == pytest.approx(
        float(straightness_reference(gaussian_velocity, eps, 8)), rel=1e-6)  # the sampler's float32 levels


class Recorder(nn.Module):
    """Returns a learnable constant and records every x_t it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.seen.append((x.detach().clone(), t.clone()))
        return x * 0 + self.bias


def test_train_noises_each_image_with_its_own_paired_noise():
    g = torch.Generator().manual_seed(2)
    images, noise = torch.rand(16, 1, 4, 4, generator=g) * 2 - 1, torch.randn(16, 1, 4, 4, generator=g)
    pairs = PairedDataset(images, noise, torch.arange(16) % 10, "pairs")
    model, path = Recorder(), FlowPath(1000)
    config = TrainConfig(steps=2, batch_size=8, warmup_steps=1, p_uncond=0.0, precision="fp32", channels_last=False)
    train(model, path, pairs, config, progress=False, conditional=False)
    for step, (x_t, t) in enumerate(model.seen):
        idx = batch_indices(step, 16, 8, config.seed)
        s = path.level(t, x_t.shape)
        torch.testing.assert_close(x_t, (1 - s) * images[idx] + s * noise[idx])


def test_paired_dataset_refuses_noise_of_another_shape():
    with pytest.raises(ValueError, match=r"noise must have the images' shape \(4, 1, 2, 2\), got \(4, 1, 2\)"):
        PairedDataset(torch.zeros(4, 1, 2, 2), torch.zeros(4, 1, 2), torch.zeros(4, dtype=torch.long), "x")


def test_resumed_reflow_equals_an_uninterrupted_one(tmp_path):
    config = TrainConfig(steps=4, batch_size=64, lr=2e-4, warmup_steps=1, p_uncond=0.0, checkpoint_every=2,
                         precision="fp32")
    whole, path, record = train_reflow(PRETRAINED_LATENT_PATH, tmp_path / "a", num_pairs=64, config=config,
                                       progress=False)
    assert isinstance(path, FlowPath) and record["pairs"] == 64 and record["autoencoder"].endswith("autoencoder.safetensors")
    train_reflow(PRETRAINED_LATENT_PATH, tmp_path / "b", num_pairs=64, config=TrainConfig(
        **{**config.__dict__, "steps": 2}), progress=False)
    resumed, _, _ = train_reflow(PRETRAINED_LATENT_PATH, tmp_path / "b", num_pairs=64, config=config, resume=True,
                                 progress=False)
    for k, v in whole.ema.model.state_dict().items():
        torch.testing.assert_close(resumed.ema.model.state_dict()[k], v, rtol=0, atol=0)
    model, schedule, info = load_model(tmp_path / "a" / "model.safetensors")
    assert isinstance(schedule, FlowPath) and info["teacher_guidance"] == 1.5 and info["steps"] == 4


def test_reflow_command_refuses_a_teacher_that_is_not_a_conditional_ddpm(tmp_path, capsys):
    assert main(["reflow", "--teacher", str(PRETRAINED_FLOW_PATH), "--out", str(tmp_path / "r.safetensors")]) == 2
    assert "is not a class-conditional DDPM; reflow needs one as its teacher" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reflow", "--pairs", "5", "--out", str(tmp_path / "r.safetensors")])
    assert "argument --pairs: the value must be a whole number >= 10, got 5" in capsys.readouterr().err
