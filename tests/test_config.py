import pytest
import torch

from ddpm_lib.config import (ModelConfig, autocast, default_preset_name, get_preset, progress_disabled,
                             resolve_precision)


def test_presets_and_overrides():
    smoke, cpu, gpu = (get_preset(n) for n in ("smoke", "cpu", "gpu"))
    assert cpu.model.base_channels == 32 and gpu.model.base_channels == 64
    assert gpu.model.channel_mults == (1, 2, 4, 8)  # Table 1 widths 64-128-256-512
    assert smoke.train.steps < cpu.train.steps < gpu.train.steps
    p = get_preset("cpu", train_steps=5, model_base_channels=16, sample_steps=7)
    assert (p.train.steps, p.model.base_channels, p.sample_steps) == (5, 16, 7)
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        get_preset("laptop")
    with pytest.raises(ValueError, match="unknown override"):
        get_preset("cpu", train_stepz=5)


def test_default_preset_from_environment():
    assert default_preset_name({"DDPM_COURSE_MODE": "smoke"}, cuda_available=True) == "smoke"
    assert default_preset_name({}, cuda_available=False) == "cpu"
    assert default_preset_name({}, cuda_available=True) == "gpu"
    with pytest.raises(ValueError, match="DDPM_COURSE_MODE"):
        default_preset_name({"DDPM_COURSE_MODE": "fast"})


def test_precision_resolution():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("auto", cpu) in ("fp32", "bf16")
    with pytest.raises(ValueError, match="auto, fp32, bf16, fp16"):
        resolve_precision("int8", cpu)
    with pytest.raises(ValueError, match="CUDA"):
        resolve_precision("fp16", cpu)
    with autocast(cpu, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast(cpu, "fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_model_config_round_trip():
    c = ModelConfig(num_classes=10, channel_mults=(1, 2))
    assert ModelConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown model config"):
        ModelConfig.from_dict({"widths": 3})


def test_progress_disabled(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert progress_disabled(True) is False and progress_disabled(False) is True
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_disabled(True) is True
