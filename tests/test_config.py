import pytest

from ddpm_lib.config import ModelConfig, TrainConfig, default_preset_name, get_preset, scaled_warmup


def test_presets_and_overrides():
    smoke, cpu, gpu = (get_preset(n) for n in ("smoke", "cpu", "gpu"))
    assert cpu.model.base_channels == 16 and gpu.model.base_channels == 64  # cpu: a quarter of Table 1's widths
    assert (cpu.train.lr, cpu.train.min_snr_gamma) == (4e-3, 5.0) and gpu.train.min_snr_gamma == 0.0
    assert gpu.model.channel_mults == (1, 2, 4, 8)  # Table 1 widths 64-128-256-512
    assert smoke.train.steps < cpu.train.steps < gpu.train.steps
    p = get_preset("cpu", train_steps=5, model_base_channels=24, sample_steps=7)
    assert (p.train.steps, p.model.base_channels, p.sample_steps) == (5, 24, 7)
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        get_preset("laptop")
    with pytest.raises(ValueError, match="unknown override"):
        get_preset("cpu", train_stepz=5)
    assert cpu.guidance_scale == 2.0 and (cpu.sampler, cpu.sample_steps) == ("dpm++", 15)


def test_scaled_warmup_keeps_the_presets_share():
    cpu = get_preset("cpu")  # 100 warm-up steps of 1,150
    assert (cpu.train.warmup_steps, cpu.train.steps) == (100, 1150)
    assert scaled_warmup(cpu, 1150) == 100
    assert scaled_warmup(cpu, 383) == 33  # notebook 04's run, a third: 100 / 1150 x 383 = 33.3
    assert scaled_warmup(cpu, 2300) == 200
    assert scaled_warmup(cpu, 1) == 0  # always below the run's length


def test_default_preset_from_environment():
    assert default_preset_name({"DDPM_COURSE_MODE": "smoke"}, cuda_available=True) == "smoke"
    assert default_preset_name({}, cuda_available=False) == "cpu"
    assert default_preset_name({}, cuda_available=True) == "gpu"
    with pytest.raises(ValueError, match="DDPM_COURSE_MODE"):
        default_preset_name({"DDPM_COURSE_MODE": "fast"})


def test_model_config_round_trip():
    c = ModelConfig(num_classes=10, channel_mults=(1, 2))
    assert ModelConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown model config"):
        ModelConfig.from_dict({"widths": 3})


def test_configs_validate_on_creation():
    assert TrainConfig().steps == 1000 and ModelConfig().base_channels == 64
    assert ModelConfig(channel_mults=[1, 2]).channel_mults == (1, 2)  # type: ignore[arg-type]  # a JSON list becomes a tuple
    with pytest.raises(ValueError, match="'steps' must be a whole number >= 1, got 0"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="'base_channels' must be a whole number >= 4, got 'abc'"):
        ModelConfig(base_channels="abc")  # type: ignore[arg-type]
