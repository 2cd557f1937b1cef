"""The time-to-quality benchmark: recipes, the peer model, budgets, and the files it writes."""

from __future__ import annotations

import json

import pytest
import torch

from ddpm_lib.config import get_preset, scaled_warmup
from ddpm_lib.data import ImageDataset
from tools.quality import (BASELINE, RECIPES, PeerUNet, Recipe, format_quality_table, parse_budgets, parse_recipe,
                              parse_samplers, peer_rate, peer_schedule, run_quality, steps_for, train_peer)
from ddpm_lib.runtime import seeded
from ddpm_lib.generation import generate
from ddpm_lib.schedule import NoiseSchedule

diffusers = pytest.importorskip("diffusers")


def test_peer_schedule_is_diffusers_squaredcos():
    """The peer trains with DDPMScheduler(squaredcos_cap_v2); the course samples it on its own cosine schedule."""
    reference = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    ours = peer_schedule()
    torch.testing.assert_close(ours.alphas_cumprod.double(), reference.alphas_cumprod.double(), rtol=1e-5, atol=1e-7)


def test_peer_unet_is_the_hf_course_model():
    torch.manual_seed(0)
    model = PeerUNet().eval()
    assert model.model.config.in_channels == 1 + 4  # the class embedding rides along as 4 input channels
    assert tuple(model.model.config.block_out_channels) == (32, 64, 64)
    assert model.model.config.layers_per_block == 2
    x = torch.randn(3, 1, 32, 32)
    t = torch.tensor([10, 500, 900])
    with torch.no_grad():
        a = model(x, t, torch.tensor([1, 2, 3]))
        b = model(x, t, torch.tensor([7, 2, 3]))
    assert a.shape == x.shape
    assert not torch.allclose(a[0], b[0]) and torch.equal(a[1:], b[1:])  # the label reaches only its own image
    with pytest.raises(ValueError, match="class-conditional only"):
        model(x, t)


def test_peer_trains_and_samples_through_the_course_samplers():
    """The peer's loop changes its weights; the course's samplers draw from it without guidance."""
    data = ImageDataset(torch.rand(16, 1, 32, 32) * 2 - 1, torch.arange(16) % 10, tuple("0123456789"), "tiny")
    with seeded(0):
        untrained = PeerUNet()
    model = train_peer(data, steps=2, device=torch.device("cpu"), batch=8)
    assert not model.training
    assert any(not torch.equal(a, b) for a, b in zip(untrained.parameters(), model.parameters()))
    x = generate(model, peer_schedule(), torch.tensor([3, 7]), sampler="dpm++", steps=2, guidance_scale=1.0,
                 generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert peer_rate(data, torch.device("cpu"), seconds=0.01, batch=8) > 0
    with pytest.raises(ValueError, match="no null label: sample it with guidance 1"):
        generate(model, peer_schedule(), torch.tensor([3]), sampler="dpm++", steps=2, guidance_scale=3.0)


def test_budget_arithmetic():
    assert steps_for(60.0, 100.0, 128) == 47  # 6000 images / 128
    assert steps_for(0.1, 100.0, 128) == 1
    cpu = get_preset("cpu", **BASELINE)
    assert scaled_warmup(cpu, 850) == 100
    assert scaled_warmup(cpu, 85) == 10
    assert scaled_warmup(cpu, 1) == 0


def test_parse_recipe_variants_and_errors():
    assert parse_recipe("peer") is RECIPES["peer"]
    r = parse_recipe("wide:model_base_channels=48,model_channel_mults=(1, 2, 2),schedule=cosine")
    assert r.overrides == {"model_base_channels": 48, "model_channel_mults": (1, 2, 2), "schedule": "cosine"}
    assert r.preset().model.base_channels == 48
    with pytest.raises(ValueError, match="neither one of baseline, course, latent, peer"):
        parse_recipe("fast")
    with pytest.raises(ValueError, match="is not field=value"):
        parse_recipe("x:train_lr")
    with pytest.raises(ValueError, match=r"unknown override\(s\) \['train_lrate'\]"):
        parse_recipe("x:train_lrate=1")
    with pytest.raises(ValueError, match="field 'min_snr_gamma' must be a finite number >= 0"):
        parse_recipe("x:train_min_snr_gamma=-5")


def test_parse_samplers_and_budgets():
    assert parse_samplers("ddim:50, dpm++:15") == [("ddim", 50), ("dpm++", 15)]
    with pytest.raises(ValueError, match="must be name:steps"):
        parse_samplers("ddim")
    with pytest.raises(ValueError, match="unknown sampler 'rk4'"):
        parse_samplers("rk4:10")
    with pytest.raises(ValueError, match="the heun sampler .* trains DDPM \\(eps\\) recipes: use ddpm, ddim or dpm"):
        parse_samplers("heun:10")
    with pytest.raises(ValueError, match="steps must be a whole number from 1 to 1000"):
        parse_samplers("dpm++:2000")
    assert parse_budgets("2,4,8") == [2.0, 4.0, 8.0]
    with pytest.raises(ValueError, match="minutes separated by commas"):
        parse_budgets("2 min")
    with pytest.raises(ValueError, match=r"in \(0, 600\]"):
        parse_budgets("0")


def test_format_quality_table():
    row = {"recipe": "course", "budget_minutes": 2.0, "train_seconds": 121.4, "steps": 90, "images_seen": 11520,
           "sampler": "DPM++-15", "accuracy": 0.9812, "frechet": 0.712, "frechet_ratio": 5.04}
    table = format_quality_table([row, {**row, "grain": 0.01234}])
    assert table.splitlines()[2] == "| course | 2 | 121 | 90 | 11,520 | DPM++-15 | 0.981 | 0.712 | 5.04 | - |"
    assert table.splitlines()[3].endswith("| 5.04 | 0.0123 |")


def test_run_quality_writes_table_plot_and_json(tmp_path):
    """Two recipes x one budget x two samplers on the smoke model; every file is written, rows are whole."""
    lines: list[str] = []
    recipes = [RECIPES["course"], Recipe("minsnr", "min-SNR", {"train_min_snr_gamma": 5.0})]
    result = run_quality(budgets=[0.02], recipes=recipes, samplers=[("ddim", 2), ("dpm++", 2)], num_samples=4,
                         out=tmp_path / "q", rate_seconds=0.2, base="smoke", log=lines.append)
    rows = result["rows"]
    assert [(r["recipe"], r["sampler"]) for r in rows] == [("course", "DDIM-2"), ("course", "DPM++-2"),
                                                           ("minsnr", "DDIM-2"), ("minsnr", "DPM++-2")]
    for r in rows:
        assert r["steps"] >= 1 and r["images_seen"] == r["steps"] * 32 and r["guidance"] == 2.0
        assert 0.0 <= r["accuracy"] <= 1.0 and r["frechet_ratio"] == pytest.approx(r["frechet"] / r["frechet_floor"],
                                                                                   rel=1e-2)
    saved = json.loads((tmp_path / "q" / "quality.json").read_text())
    assert saved["rows"] == rows and saved["matmul_gflops"]["fp32"] > 0
    assert saved["recipes"]["minsnr"]["overrides"] == {"train_min_snr_gamma": "5.0"}
    assert (tmp_path / "q" / "quality.md").read_text().count("\n") == 2 + len(rows)
    assert (tmp_path / "q" / "quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("training images/s" in line for line in lines)
    assert not list((tmp_path / "q").glob(".*"))  # no temporary files left


def test_latent_recipe_trains_on_the_shipped_codec_and_is_judged_on_decoded_images(tmp_path):
    result = run_quality(budgets=[0.02], recipes=[RECIPES["latent"]], samplers=[("dpm++", 2)], num_samples=4,
                         out=tmp_path / "q", rate_seconds=0.2, base="smoke", log=lambda _: None)
    (row,) = result["rows"]
    assert row["recipe"] == "latent" and row["steps"] >= 1 and 0.0 <= row["accuracy"] <= 1.0
    preset = RECIPES["latent"].preset("smoke")
    assert preset.model.in_channels == 4 and preset.model.channel_mults == (1, 2)  # the smoke latent UNet
    assert result["recipes"]["latent"]["train_images_per_second"] > 0


def test_run_quality_checks_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="recipe names must differ"):
        run_quality(recipes=[RECIPES["course"], RECIPES["course"]], out=tmp_path)
    with pytest.raises(ValueError, match="unknown sampler"):
        run_quality(samplers=[("rk4", 10)], out=tmp_path)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="trains DDPM"):
        run_quality(samplers=[("euler", 10)], out=tmp_path)
    with pytest.raises(ValueError, match="steps must be a whole number from 1 to 100"):  # the smoke schedule's T
        run_quality(recipes=[RECIPES["course"]], samplers=[("ddim", 500)], base="smoke", out=tmp_path)
    with pytest.raises(ValueError, match="quality json file"):
        run_quality(recipes=[RECIPES["course"]], out=blocker)
