"""The benchmarks a notebook or the Quest quotes: they time the library's own code paths and count exactly."""
import pytest
import torch

import ddpm_lib.bench as bench
from ddpm_lib.bench import attention_cost, machine
from ddpm_lib.config import ModelConfig


def test_bench_times_the_training_loops_own_step(monkeypatch):
    calls = []
    real = bench.training_step  # type: ignore[attr-defined]

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(bench, "training_step", counted)
    cfg = ModelConfig(base_channels=8, channel_mults=(1, 2), num_classes=10, norm_groups=4, attention_heads=2)
    assert bench.training_rate(cfg, 2, "fp32", False, torch.device("cpu"), seconds=0.01) > 0
    assert len(calls) >= 5  # warm-up and timed calls all go through train.training_step


@pytest.mark.parametrize("sampler,steps", [("ddim", 3), ("dpm++", 3), ("ddpm", 1000)])
def test_bench_samples_through_the_named_sampler(monkeypatch, sampler, steps):
    levels = []
    real = bench.run_sampler  # type: ignore[attr-defined]
    monkeypatch.setattr(bench, "run_sampler", lambda *a, **k: real(*a, callback=lambda s: levels.append(s.t), **k))
    cfg = ModelConfig(base_channels=8, channel_mults=(1, 2), num_classes=10, norm_groups=4, attention_heads=2)
    rate, seconds = bench.sampling_rate(cfg, sampler, steps, 2, torch.device("cpu"))
    assert rate > 0 and seconds > 0 and len(levels) == steps  # one network evaluation per step


def test_attention_cost_counts_the_quadratic_part_exactly():
    small, large = (attention_cost(32, s, torch.device("cpu"), seconds=0.05) for s in (4, 16))
    # projections 4 x (2 N C^2) plus 2 x (2 N^2 C) for Q K^T and weights V
    for r in (small, large):
        n = r["positions"]
        assert r["flops"] == 8 * n * 32 ** 2 + 4 * n * n * 32 and r["quadratic"] == 4 * n * n * 32
    assert large["flops"] / small["flops"] == pytest.approx((8 * 256 * 32 + 4 * 256 ** 2) / (8 * 16 * 32 + 4 * 16 ** 2))
    assert small["per_second"] > 0


def test_machine_names_the_cpu_model_and_cores():
    where = machine(torch.device("cpu"))
    assert where["cores"] and where["cores"] >= 1 and where["device"] == "cpu"
    assert where["cpu"] not in ("", "x86_64", "aarch64") or not open("/proc/cpuinfo").read().count("model name")
