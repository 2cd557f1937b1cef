"""quest_12_2.py, the Quest in one self-contained file: its blocks in the source's order, no ddpm_lib import,
its schedule, network, loss and sampling step equal to the library's, and a smoke run end to end."""

import ast
from pathlib import Path

import pytest
import torch

from ddpm_lib.checkpoint import load_model
from ddpm_lib.data import load_dataset
from ddpm_lib.sample import ddpm_step
from ddpm_lib.schedule import NoiseSchedule
from ddpm_lib.train import diffusion_loss
from ddpm_lib.unet import SimpleUNet, SinusoidalPositionEmbeddings

FILE = Path(__file__).resolve().parents[1] / "quest_12_2.py"


def test_the_blocks_stand_in_the_sources_order_and_nothing_comes_from_ddpm_lib():
    tree = ast.parse(FILE.read_text())
    names = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    order = ["SinusoidalPositionEmbeddings", "Block", "SimpleUNet", "linear_beta_schedule", "get_loss", "sample", "main"]
    assert [n for n in names if n in order] == order
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert {"torch", "torchvision", "matplotlib", "os"} <= imported and "ddpm_lib" not in imported


@pytest.mark.parametrize("num_timesteps", [1000, 100])
def test_the_schedule_is_the_librarys(quest, num_timesteps):
    betas, alphas, alpha_bar = quest.linear_beta_schedule(num_timesteps)
    ref = NoiseSchedule(num_timesteps, "linear")
    torch.testing.assert_close(betas, ref.betas.float())
    torch.testing.assert_close(alphas, 1 - ref.betas.float())
    torch.testing.assert_close(alpha_bar, ref.alphas_cumprod.float())
    assert alpha_bar[-1] < 1e-4  # x_T is pure noise


def test_the_embedding_and_the_network_are_the_librarys(quest):
    t = torch.tensor([0, 1, 17, 999])
    torch.testing.assert_close(quest.SinusoidalPositionEmbeddings(16)(t), SinusoidalPositionEmbeddings(16)(t))
    torch.manual_seed(0)
    ours = quest.SimpleUNet(16, (1, 2, 4, 8))
    theirs = SimpleUNet(base_channels=16, channel_mults=(1, 2, 4, 8), num_classes=10)
    theirs.load_state_dict(ours.state_dict())  # strict: the same parameters under the same names
    g = torch.Generator().manual_seed(1)
    x, labels = torch.randn(4, 1, 32, 32, generator=g), torch.tensor([3, 7, 10, 0])
    torch.testing.assert_close(ours(x, t, labels), theirs(x, t, labels), rtol=1e-4, atol=1e-5)


def test_one_loss_computation_is_the_librarys_min_snr_loss(quest):
    torch.manual_seed(0)
    model = quest.SimpleUNet(8, (1, 2))
    schedule = NoiseSchedule(1000)
    _, _, alpha_bar = quest.linear_beta_schedule(1000)
    g = torch.Generator().manual_seed(2)
    x0 = load_dataset("mnist-5k", "train").images[:6]
    t, eps, labels = torch.tensor([0, 5, 50, 300, 700, 999]), torch.randn(x0.shape, generator=g), torch.arange(6)
    ours = quest.get_loss(model, alpha_bar, x0, t, labels, eps)
    theirs = diffusion_loss(model, schedule, x0, labels=labels, t=t, noise=eps, min_snr_gamma=5.0)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert ours < quest.get_loss(model, alpha_bar, x0, t, labels, eps + 1)  # wrong noise costs more


def test_one_sampling_step_is_algorithm_2_as_the_library_takes_it(quest):
    schedule = NoiseSchedule(1000)
    betas, _, alpha_bar = quest.linear_beta_schedule(1000)
    g = torch.Generator().manual_seed(3)
    for t in (999, 500, 1, 0):
        x_t, eps, z = (torch.randn(2, 1, 4, 4, generator=g) for _ in range(3))
        level = torch.full((2,), t)
        x0_hat = schedule.predict_x0(x_t, level, eps)
        expected = ddpm_step(schedule, x_t, x0_hat, level, z if t > 0 else None)
        z_used = z if t > 0 else torch.zeros_like(z)
        torch.testing.assert_close(quest.sample_step(betas, alpha_bar, x_t, eps, t, z_used), expected,
                                   rtol=1e-4, atol=1e-4)


def test_the_offline_digits_are_the_courses_training_split(quest):
    images, labels = quest.load_digits(smoke=True)
    course = load_dataset("mnist-5k", "train")
    torch.testing.assert_close(images, course.images)
    assert torch.equal(labels, course.labels)


def test_a_smoke_run_writes_the_picture_and_a_model_the_library_loads(quest, tmp_path, capsys):
    picture = quest.main(["--smoke", "--steps", "3", "--out", str(tmp_path / "chaos_sculptures")])
    assert picture == tmp_path / "chaos_sculptures" / "new_creation.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, schedule, info = load_model(tmp_path / "chaos_sculptures" / "quest_12_2.safetensors")
    assert isinstance(model, SimpleUNet) and model.num_classes == 10 and info["steps"] == 3
    assert isinstance(schedule, NoiseSchedule) and schedule.num_timesteps == 100 and schedule.kind == "linear"
    assert sorted(p.name for p in picture.parent.iterdir()) == ["new_creation.png", "quest_12_2.safetensors"]
    assert "drew 10 digits with Algorithm 2" in capsys.readouterr().out


def test_bad_steps_are_refused_before_anything_runs(quest, tmp_path, capsys):
    with pytest.raises(SystemExit):
        quest.main(["--smoke", "--steps", "0", "--out", str(tmp_path)])
    assert "--steps must be a whole number >= 1, got 0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
