"""Benchmarks: training and sampling throughput, and how much of the machine's matmul peak they use.

``python -m ddpm_lib bench [--json]``. Numbers only, never assertions; the README quotes them.
Taught in ``notebooks/04_training.ipynb`` (what the fast CPU path changes).
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from .autoencoder import Autoencoder, AutoencoderConfig, AutoencoderTraining, autoencoder_step
from .config import DEFAULT_GUIDANCE, ModelConfig, Preset, get_preset
from .latent import latent_recipe
from .runtime import choose_device, cpu_supports_bf16, resolve_precision, seeded
from .generation import run_sampler, sampler_name
from .schedule import NoiseSchedule
from .train import StepNoise, training_step
from .unet import SelfAttention, SimpleUNet, count_parameters
from .validate import SamplerName

TABLE1 = ModelConfig(base_channels=64, channel_mults=(1, 2, 4, 8), num_classes=10)


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one), e.g. "AMD EPYC"."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict[str, Any]:
    """What a measurement ran on, recorded beside it: CPU model, cores, torch threads and version, device."""
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "device": str(device)}


def timed_rate(fn: Callable[[], Any], items_per_call: int, seconds: float, warmup: int = 2) -> float:
    """Items per second of ``fn`` after ``warmup`` calls, timed for at least ``seconds`` (>= 3 calls)."""
    for _ in range(warmup):
        fn()
    calls, t0 = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        fn()
        calls += 1
    return calls * items_per_call / (time.perf_counter() - t0)


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int = 2048, seconds: float = 2.0) -> float:
    """Measured GFLOP/s of an n x n x n matrix product in ``dtype``: the faster of ``torch.mm`` (BLAS) and a 1x1
    convolution (oneDNN, which the UNet runs on; MKL alone understates an AMD CPU)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    img = a.reshape(1, n, n // 32, 32).contiguous(memory_format=torch.channels_last)  # n channels, n positions
    w = b.reshape(n, n, 1, 1)
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def mm() -> None:
        torch.mm(a, b)
        sync()

    def conv() -> None:
        torch.nn.functional.conv2d(img, w)
        sync()

    return max(timed_rate(mm, 1, seconds / 2), timed_rate(conv, 1, seconds / 2)) * 2 * n ** 3 / 1e9


def forward_flops(model: SimpleUNet, batch: int = 2, side: int = 32) -> float:
    """FLOPs of one forward pass per (in_channels, side, side) input (counted by torch's FlopCounterMode)."""
    x = torch.randn(batch, model.in_channels, side, side)
    t = torch.zeros(batch, dtype=torch.long)
    labels = torch.zeros(batch, dtype=torch.long) if model.num_classes else None
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x, t, labels)
    return counter.get_total_flops() / batch


def attention_cost(channels: int, side: int, device: torch.device, heads: int = 4,
                   seconds: float = 1.0) -> dict[str, float]:
    """One :class:`~ddpm_lib.unet.SelfAttention` layer on a (1, channels, side, side) map: its counted ``flops``, the
    ``quadratic`` part 4 N^2 C (Q K^T and weights times V, N = side^2), and measured forward passes ``per_second``."""
    layer = SelfAttention(channels, heads=heads).to(device).eval()
    x = torch.randn(1, channels, side, side, device=device)
    layer.store_weights = True  # explicit matrix products, which the counter sees one by one
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        layer(x)
    layer.store_weights = False
    flops = float(counter.get_total_flops())
    n = side * side
    with torch.no_grad():
        rate = timed_rate(lambda: layer(x), 1, seconds)
    return {"side": side, "positions": n, "flops": flops, "quadratic": 4.0 * n * n * channels,
            "per_second": rate}


def training_rate(config: ModelConfig, batch: int, precision: str, channels_last: bool, device: torch.device,
                  seconds: float, side: int = 32) -> float:
    """Training images/s of a fresh model: the training loop's own step (:func:`ddpm_lib.train.training_step`)
    on (in_channels, side, side) inputs (side 8 for notebook 09's latents)."""
    with seeded(0):
        model = SimpleUNet.from_config(config).to(device)
    schedule = NoiseSchedule().to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(batch, config.in_channels, side, side, device=device, generator=g).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,), device=device, generator=g) if config.num_classes else None
    prec = resolve_precision(precision, device)

    def step() -> None:
        noise = StepNoise.draw(g, x.shape, schedule.num_timesteps, 0.1 if y is not None else 0.0, device)
        training_step(model, opt, schedule, x, labels=y, noise=noise, grad_clip=1.0, precision=prec)

    return timed_rate(step, batch, seconds)


def autoencoder_rate(config: AutoencoderConfig, training: AutoencoderTraining, device: torch.device,
                     seconds: float) -> float:
    """Training images/s of a fresh autoencoder: :func:`~ddpm_lib.autoencoder.autoencoder_step` on random
    batches of ``training.batch_size`` (the first stage of the latent Quest)."""
    with seeded(0):
        autoencoder = Autoencoder(config).to(device).train()
    opt = torch.optim.AdamW(autoencoder.parameters(), lr=1e-4)
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(training.batch_size, config.in_channels, config.image_size, config.image_size, device=device,
                   generator=g) * 2 - 1
    prec = resolve_precision(training.precision, device)
    return timed_rate(lambda: autoencoder_step(autoencoder, opt, x, kl_weight=training.kl_weight, precision=prec,
                                               generator=g), training.batch_size, seconds)


def sampling_rate(config: ModelConfig, sampler: SamplerName, steps: int, batch: int, device: torch.device,
                  guidance: float = 3.0, side: int = 32) -> tuple[float, float]:
    """(images/s, seconds) of one full sampling run with the fast path and classifier-free guidance, on
    (in_channels, side, side) samples."""
    with seeded(0):
        model = SimpleUNet.from_config(config).to(device).to(memory_format=torch.channels_last)
    schedule = NoiseSchedule().to(device)
    labels = torch.arange(batch, device=device) % 10 if config.num_classes else None
    g = torch.Generator(device=device).manual_seed(0)
    t0 = time.perf_counter()
    run_sampler(model, schedule, (batch, config.in_channels, side, side), sampler=sampler, steps=steps, labels=labels,
                guidance_scale=guidance, generator=g)
    seconds = time.perf_counter() - t0
    return batch / seconds, seconds


def latent_speed(preset: Preset, device: torch.device, seconds: float, batch: int = 250) -> dict[str, Any]:
    """Pixel against latent UNet of ``preset`` (notebook 09): training img/s, and sampling img/s with DPM++-15 at the
    course's guidance, the latent one including its decode (:func:`~ddpm_lib.latent.latent_recipe`'s autoencoder)."""
    recipe = latent_recipe(preset)
    side = recipe.autoencoder.latent_side
    with seeded(0):
        decoder = Autoencoder(recipe.autoencoder).to(device).eval()
    z = torch.randn(batch, *recipe.autoencoder.latent_shape, device=device)
    with torch.no_grad():
        decode_rate = timed_rate(lambda: decoder.decode(z), batch, seconds / 4)
    out: dict[str, Any] = {}
    for name, cfg, at in (("pixel", preset.model, 32), ("latent", recipe.model, side)):
        sample_rate, _ = sampling_rate(cfg, "dpm++", 15, batch, device, guidance=DEFAULT_GUIDANCE, side=at)
        if name == "latent":
            sample_rate = 1 / (1 / sample_rate + 1 / decode_rate)
        with seeded(0):
            unet = SimpleUNet.from_config(cfg)
        out[name] = {"parameters": count_parameters(unet), "input": [cfg.in_channels, at, at],
                     "forward_mflop": round(forward_flops(unet, side=at) / 1e6, 1), "train_img_s": round(training_rate(
                         cfg, preset.train.batch_size, "auto", True, device, seconds, side=at), 1),
                     "sample_img_s": round(sample_rate, 1)}
    out["decode_img_s"] = round(decode_rate, 1)
    out["train_speedup"] = round(out["latent"]["train_img_s"] / out["pixel"]["train_img_s"], 2)
    out["sample_speedup"] = round(out["latent"]["sample_img_s"] / out["pixel"]["sample_img_s"], 2)
    return out


def run_bench(preset_name: str | None = None, seconds: float = 8.0, device: str | None = None,
              latent: bool = False) -> dict[str, Any]:
    """Measure and print everything; returns the numbers as a dict."""
    dev = choose_device(device)
    preset = get_preset(preset_name)
    fast = resolve_precision("auto", dev)
    where = {**machine(dev), "cpu_bf16": cpu_supports_bf16(), "fast_precision": fast}
    print(f"machine: {where}")
    peak = {"fp32": matmul_peak(torch.float32, dev), "bf16": matmul_peak(torch.bfloat16, dev)}
    print(f"matmul peak: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s")
    models = {"table1": (TABLE1, 64), preset.name: (preset.model, preset.train.batch_size)}
    training: dict[str, Any] = {}
    for name, (cfg, batch) in models.items():
        flops = 3 * forward_flops(SimpleUNet.from_config(cfg))  # forward + backward ~ 3x forward
        row: dict[str, Any] = {"parameters": count_parameters(SimpleUNet.from_config(cfg)), "batch": batch,
                               "train_gflop_per_image": round(flops / 1e9, 3)}
        for label, prec, cl in (("fp32_eager", "fp32", False), ("fast", fast, fast != "fp32")):
            rate = training_rate(cfg, batch, prec, cl, dev, seconds)
            row[f"{label}_img_s"] = round(rate, 1)
            ref = peak["bf16"] if prec == "bf16" else peak["fp32"]
            row[f"{label}_peak_fraction"] = round(rate * flops / 1e9 / ref, 3)
        row["speedup"] = round(row["fast_img_s"] / row["fp32_eager_img_s"], 2)
        training[name] = row
        print(f"training {name}: {row}")
    sampling: dict[str, Any] = {}
    runs: tuple[tuple[SamplerName, int, int], ...] = (("ddim", 50, 100), ("dpm++", 15, 100), ("ddpm", 1000, 20))
    for sampler, steps, batch in runs:
        name = sampler_name(sampler, steps, 1000)
        rate, secs = sampling_rate(preset.model, sampler, steps, batch, dev)
        sampling[name] = {"img_s": round(rate, 2), "batch": batch, "seconds": round(secs, 1)}
        print(f"sampling {preset.name} model, {name} with guidance: {sampling[name]}")
    result = {"command": "bench", "machine": where, "matmul_gflops": {k: round(v) for k, v in peak.items()},
              "training": training, "sampling": sampling}
    if latent:
        result["latent"] = latent_speed(preset, dev, seconds)
        print(f"pixel against latent {preset.name} UNet (DPM++-15, guidance {DEFAULT_GUIDANCE:g}, decode included): "
              f"{result['latent']}")
    return result
