"""The Quest: train a class-conditional DDPM, draw every digit, judge the result.

``python -m ddpm_lib quest`` (``make quest``) runs :func:`run_quest`; notebook 05 writes the
same picture from a trained model with :func:`draw_creation`. Scores come from
:mod:`ddpm_lib.evaluate`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .bench import training_rate
from .config import DEFAULT_GUIDANCE, Preset, get_preset
from .course import preset_model
from .data import load_dataset
from .evaluate import check_num_samples, format_table, grain_line, judge_model
from .files import check_output_path
from .paths import JUDGE_PATH
from .runtime import choose_device, make_generator
from .sample import (NoisePredictor, SamplerName, check_guidance, check_sampler, generate, sampler_name,
                     sampler_steps, trajectory)
from .schedule import NoiseSchedule
from .train import WEIGHTS_FILE, train
from .unet import count_parameters
from .viz import save_grid, trajectory_strip

CREATION = "new_creation.png"
PROGRESS = "denoising_progress.png"
CHECKPOINT_DIR = "quest_checkpoint"


def draw_creation(model: NoisePredictor, schedule: NoiseSchedule, out: str | Path, *, sampler: SamplerName = "ddim",
                  steps: int = 50, guidance_scale: float = DEFAULT_GUIDANCE, per_digit: int = 10,
                  generator: torch.Generator | None = None, precision: str = "auto") -> dict[str, Path]:
    """Write ``new_creation.png`` (one row per digit 0-9) and ``denoising_progress.png`` into ``out``.

    Both pictures come from ``sampler`` (:data:`~ddpm_lib.sample.SAMPLERS`) with ``steps`` network
    evaluations per image; the progress strip shows x_t along the way for one sample of each digit.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    conditional = bool(getattr(model, "num_classes", None))
    channels = int(getattr(model, "in_channels", 1))
    labels = torch.arange(10).repeat_interleave(per_digit) if conditional else None
    x = generate(model, schedule, labels, num_samples=10 * per_digit, image_shape=(channels, 32, 32),
                 sampler=sampler, steps=steps, guidance_scale=guidance_scale, generator=generator, precision=precision)
    rows = [str(d) for d in range(10)] if labels is not None else None
    name = sampler_name(sampler, steps, schedule.num_timesteps)
    creation = save_grid(x, out / CREATION, nrow=per_digit, row_labels=rows,
                         title=f"new creation: {name}, guidance w={guidance_scale:g}")
    digit_labels = torch.arange(10) if conditional else None
    traj = trajectory(sampler_steps(model, schedule, (10, channels, 32, 32), sampler=sampler, steps=steps,
                                    labels=digit_labels, guidance_scale=guidance_scale, generator=generator,
                                    precision=precision))
    strips: list[torch.Tensor] = []
    col_labels: list[str] = []
    for i in range(10):
        frames, col_labels = trajectory_strip(traj, sample=i, num_frames=10)
        strips.append(frames)
    progress = save_grid(torch.cat(strips), out / PROGRESS, nrow=len(col_labels), col_labels=col_labels,
                         row_labels=rows, title="denoising progress: x_t from noise (left) to digit (right)")
    return {"creation": creation, "progress": progress}


def estimate_seconds(preset: Preset, device: torch.device, *, evaluate: bool = True,
                     seconds: float = 2.0) -> dict[str, float]:
    """What the Quest should take on ``device``, measured before it starts (no state is shared with the run).

    A few training steps of a fresh copy of the preset's model (:func:`ddpm_lib.bench.training_rate`)
    give its training images/s. A training image costs about three forward passes (forward and
    backward); a sampled image costs two per network evaluation (guidance doubles the batch), for
    the 110 pictured images and, with ``evaluate``, the scored ones. Returns the rate and seconds.
    """
    rate = training_rate(preset.model, preset.train.batch_size, preset.train.precision, preset.train.channels_last,
                         device, seconds)
    evaluations = preset.num_timesteps if preset.sampler == "ddpm" else preset.sample_steps
    images = 10 * 10 + 10 + (preset.num_eval_samples if evaluate else 0)
    return {"images_per_second": rate, "train_seconds": preset.train.steps * preset.train.batch_size / rate,
            "sample_seconds": images * 2 * evaluations / (3 * rate)}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def run_quest(preset_name: str | None = None, out: str | Path = "chaos_sculptures", seed: int = 0,
              device: str | None = None, steps: int | None = None, guidance: float | None = None,
              resume: bool = False, evaluate: bool = True) -> dict[str, Any]:
    """Train with the preset, write the pictures and the checkpoint into ``out``, print the judge's scores.

    Every argument, and that ``out`` can be written, is checked before training starts.
    """
    t_start = time.perf_counter()
    overrides: dict[str, Any] = {"train_seed": seed}
    if steps is not None:
        overrides["train_steps"] = steps
    preset: Preset = get_preset(preset_name, **overrides)
    w = check_guidance(preset.guidance_scale if guidance is None else guidance)
    check_sampler(preset.sampler, preset.sample_steps, preset.num_timesteps)
    if evaluate:
        check_num_samples(preset.num_eval_samples)
    dev = choose_device(device)
    g = make_generator(seed, dev)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"the Quest's output folder (--out) {out} is a file; give a folder, e.g. chaos_sculptures")
    for name in (CREATION, PROGRESS):
        check_output_path(out / name, "Quest picture", option="--out")
    ckpt_dir = out / CHECKPOINT_DIR
    data = load_dataset("mnist-5k", "train")
    model, schedule = preset_model(preset, seed)
    print(f"Quest ({preset.name} preset): {count_parameters(model):,}-parameter SimpleUNet, "
          f"{preset.train.steps} steps of batch {preset.train.batch_size} on {len(data)} digits, device {dev}")
    estimate = estimate_seconds(preset, dev, evaluate=evaluate)
    print(f"estimate for this machine: about {_minutes(estimate['train_seconds'] + estimate['sample_seconds'])} "
          f"(training {_minutes(estimate['train_seconds'])} at the {estimate['images_per_second']:.0f} img/s of a few "
          f"trial steps, then drawing{' and scoring' if evaluate else ''} {_minutes(estimate['sample_seconds'])}"
          f"{'; a resumed run has less to do' if resume else ''})")
    result = train(model, schedule, data, preset.train, device=dev, checkpoint_dir=ckpt_dir, resume=resume)
    train_seconds = result.seconds
    print(f"trained in {train_seconds:.0f} s ({result.images_per_second:.0f} img/s, {result.precision}); "
          f"final loss {result.history[-1][1]:.4f}")
    ema = result.ema.model.eval()
    paths = draw_creation(ema, schedule, out, sampler=preset.sampler, steps=preset.sample_steps, guidance_scale=w,
                          generator=g)
    summary: dict[str, Any] = {"command": "quest", "preset": preset.name, "creation": str(paths["creation"]),
                               "progress": str(paths["progress"]), "checkpoint": str(ckpt_dir / WEIGHTS_FILE),
                               "train_seconds": round(train_seconds, 1), **result.summary(),
                               "estimated_seconds": round(estimate["train_seconds"] + estimate["sample_seconds"], 1)}
    if evaluate and JUDGE_PATH.is_file():
        scores = judge_model(ema, schedule, num_samples=preset.num_eval_samples, sampler=preset.sampler,
                             steps=preset.sample_steps, guidance_scale=w, generator=g, progress=False)
        print(format_table(scores["rows"]))
        print(grain_line(scores))
        summary.update(accuracy=scores["accuracy"], frechet=scores["frechet"], frechet_floor=scores["frechet_floor"],
                       grain=round(scores["grain"], 5), grain_floor=round(scores["grain_floor"], 5),
                       eval_samples=scores["num_samples"])
    elif evaluate:
        print(f"(no judge at {JUDGE_PATH}: run `python -m ddpm_lib train-judge` for scores)")
    summary["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    print(f"wrote {paths['creation']}, {paths['progress']} and {ckpt_dir / WEIGHTS_FILE}")
    print(f"Quest finished in {summary['wall_seconds']:.0f} s")
    return summary
