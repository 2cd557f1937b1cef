"""The Quest: train a class-conditional DDPM, draw every digit, judge the result.

``python -m ddpm_lib quest`` (``make quest``) runs :func:`run_quest`; notebook 05 writes the
same picture from a trained model with :func:`draw_creation`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .checkpoint import load_model
from .config import Preset, choose_device, get_preset
from .data import load_dataset
from .evaluate import DEFAULT_JUDGE_PATH, evaluate_samples, format_table, load_judge, reference_rows
from .sample import generate, sample_ddim
from .schedule import NoiseSchedule
from .train import WEIGHTS_FILE, train
from .unet import SimpleUNet, count_parameters
from .viz import save_grid, trajectory_strip

CREATION = "new_creation.png"
PROGRESS = "denoising_progress.png"


def balanced_labels(num_samples: int, num_classes: int = 10) -> torch.Tensor:
    """0, 1, ..., 9, 0, 1, ... : ``num_samples`` labels spread evenly over the classes."""
    return torch.arange(num_samples) % num_classes


def draw_creation(model: SimpleUNet, schedule: NoiseSchedule, out: str | Path, *, steps: int = 50,
                  guidance_scale: float = 3.0, per_digit: int = 10, generator: torch.Generator | None = None,
                  precision: str = "auto") -> dict[str, Path]:
    """Write ``new_creation.png`` (one row per digit 0-9) and ``denoising_progress.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = torch.arange(10).repeat_interleave(per_digit) if model.num_classes else None
    x = generate(model, schedule, labels, num_samples=10 * per_digit, image_shape=(model.in_channels, 32, 32),
                 steps=steps, guidance_scale=guidance_scale, generator=generator, precision=precision)
    rows = [str(d) for d in range(10)] if labels is not None else None
    creation = save_grid(x, out / CREATION, nrow=per_digit, row_labels=rows,
                         title=f"new creation: DDIM-{steps}, guidance w={guidance_scale:g}")
    digit_labels = torch.arange(10) if model.num_classes else None
    _, traj = sample_ddim(model, schedule, (10, model.in_channels, 32, 32), steps=steps, labels=digit_labels,
                          guidance_scale=guidance_scale, generator=generator, precision=precision,
                          return_trajectory=True)
    strips, col_labels = [], []
    for i in range(10):
        frames, col_labels = trajectory_strip(traj, sample=i, num_frames=10)
        strips.append(frames)
    progress = save_grid(torch.cat(strips), out / PROGRESS, nrow=len(col_labels), col_labels=col_labels,
                         row_labels=rows, title="denoising progress: x_t from noise (left) to digit (right)")
    return {"creation": creation, "progress": progress}


def judge_model(model: SimpleUNet, schedule: NoiseSchedule, *, num_samples: int, steps: int, guidance_scale: float,
                sampler: str = "ddim", eta: float = 0.0, generator: torch.Generator | None = None,
                precision: str = "auto", cas: bool = False, judge_path: str | Path | None = None,
                name: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Generate ``num_samples`` balanced samples and score them with the judge against the held-out digits."""
    judge, judge_info = load_judge(judge_path)
    train_ds, test_ds = load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "test")
    labels = balanced_labels(num_samples) if model.num_classes else None
    t0 = time.perf_counter()
    x = generate(model, schedule, labels, num_samples=num_samples, sampler=sampler, steps=steps, eta=eta,
                 guidance_scale=guidance_scale, generator=generator, precision=precision, progress=progress)
    sample_seconds = time.perf_counter() - t0
    label = name or (f"{sampler.upper()}-{steps if sampler == 'ddim' else schedule.num_timesteps}, w={guidance_scale:g}")
    report = evaluate_samples(judge, x, labels, test_ds.images, name=label, train_images=train_ds.images,
                              test_labels=test_ds.labels, cas=cas)
    floor, ceiling = reference_rows(judge, train_ds.images, train_ds.labels, test_ds.images, num_samples,
                                    torch.Generator().manual_seed(0))
    rows = [floor.row(), ceiling.row(), {**report.row(), "sample_seconds": round(sample_seconds, 1)}]
    return {"rows": rows, "accuracy": report.accuracy, "frechet": report.frechet, "frechet_floor": floor.frechet,
            "cas": report.cas, "memorisation": report.memorisation, "num_samples": num_samples,
            "judge_test_accuracy": judge_info.get("test_accuracy"), "per_class": report.per_class}


def evaluate_checkpoint(path: str | Path, *, num_samples: int = 1000, sampler: str = "ddim", steps: int = 50,
                        eta: float = 0.0, guidance: float = 3.0, precision: str = "auto", seed: int = 0,
                        device: str | None = None, cas: bool = False, judge_path: str | Path | None = None) -> dict[str, Any]:
    """``python -m ddpm_lib evaluate``: print the metrics table for a checkpoint's samples."""
    dev = choose_device(device)
    model, schedule, _ = load_model(path, dev)
    schedule = schedule or NoiseSchedule().to(dev)
    g = torch.Generator(device=dev).manual_seed(seed)
    result = judge_model(model, schedule, num_samples=num_samples, steps=steps, guidance_scale=guidance,
                         sampler=sampler, eta=eta, generator=g, precision=precision, cas=cas, judge_path=judge_path)
    print(format_table(result["rows"]))
    return {"command": "evaluate", "checkpoint": str(path), **{k: v for k, v in result.items() if k != "rows"},
            "rows": result["rows"]}


def run_quest(preset_name: str | None = None, out: str | Path = "chaos_sculptures", seed: int = 0,
              device: str | None = None, steps: int | None = None, guidance: float | None = None,
              resume: bool = False, evaluate: bool = True) -> dict[str, Any]:
    """Train with the preset, write the pictures and the checkpoint into ``out``, print the judge's scores."""
    t_start = time.perf_counter()
    overrides: dict[str, Any] = {"train_seed": seed}
    if steps is not None:
        overrides["train_steps"] = steps
    preset: Preset = get_preset(preset_name, **overrides)
    dev = choose_device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out / "quest_checkpoint"
    data = load_dataset("mnist-5k", "train")
    torch.manual_seed(seed)
    model = SimpleUNet.from_config(preset.model)
    schedule = NoiseSchedule(preset.num_timesteps, preset.schedule)
    print(f"Quest ({preset.name} preset): {count_parameters(model):,}-parameter SimpleUNet, "
          f"{preset.train.steps} steps of batch {preset.train.batch_size} on {len(data)} digits, device {dev}")
    result = train(model, schedule, data, preset.train, device=dev, checkpoint_dir=ckpt_dir, resume=resume)
    train_seconds = result.seconds
    print(f"trained in {train_seconds:.0f} s ({result.images_per_second:.0f} img/s, {result.precision}); "
          f"final loss {result.history[-1][1]:.4f}")
    w = preset.guidance_scale if guidance is None else guidance
    g = torch.Generator(device=dev).manual_seed(seed)
    ema = result.ema.model.eval()
    paths = draw_creation(ema, schedule, out, steps=preset.sample_steps, guidance_scale=w, generator=g)
    summary: dict[str, Any] = {"command": "quest", "preset": preset.name, "creation": str(paths["creation"]),
                               "progress": str(paths["progress"]), "checkpoint": str(ckpt_dir / WEIGHTS_FILE),
                               "train_seconds": round(train_seconds, 1), **result.summary()}
    if evaluate and DEFAULT_JUDGE_PATH.is_file():
        scores = judge_model(ema, schedule, num_samples=preset.num_eval_samples, steps=preset.sample_steps,
                             guidance_scale=w, generator=g, progress=False)
        print(format_table(scores["rows"]))
        summary.update(accuracy=scores["accuracy"], frechet=scores["frechet"], frechet_floor=scores["frechet_floor"],
                       eval_samples=scores["num_samples"])
    elif evaluate:
        print(f"(no judge at {DEFAULT_JUDGE_PATH}: run `python -m ddpm_lib train-judge` for scores)")
    summary["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    print(f"wrote {paths['creation']}, {paths['progress']} and {ckpt_dir / WEIGHTS_FILE}")
    print(f"Quest finished in {summary['wall_seconds']:.0f} s")
    return summary


def results_table(checkpoint: str | Path, *, num_samples: int = 300, seed: int = 0, device: str | None = None,
                  include_ddpm: bool = True, progress: bool = True) -> list[dict[str, Any]]:
    """The README's results table: every row scored by the judge against the 1,000 held-out digits.

    Rows: real digits (floor), noise (ceiling), multi-step linear diffusion (notebook 01), and the
    checkpoint with DDPM-1000, DDIM-50 and DDIM-20 at w=3, and DDIM-50 at w = 0, 1, 3, 5.
    """
    from .linear import LinearNoisePredictor, PCACodec
    from .sample import sample_ddim

    dev = choose_device(device)
    model, schedule, _ = load_model(checkpoint, dev)
    schedule = schedule or NoiseSchedule().to(dev)
    judge, _ = load_judge()
    train_ds, test_ds = load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "test")
    labels = balanced_labels(num_samples)
    floor, ceiling = reference_rows(judge, train_ds.images, train_ds.labels, test_ds.images, num_samples,
                                    torch.Generator().manual_seed(seed))
    rows = [floor.row(), ceiling.row()]

    def scored(name: str, make) -> None:
        t0 = time.perf_counter()
        x = make()
        seconds = time.perf_counter() - t0
        report = evaluate_samples(judge, x, labels, test_ds.images, name=name, train_images=train_ds.images)
        rows.append({**report.row(), "sample_seconds": round(seconds, 1)})
        print(format_table(rows[-1:]))

    codec = PCACodec(40).fit(train_ds.images)
    linear = LinearNoisePredictor(schedule.to("cpu"), num_levels=50).fit(
        codec.encode(train_ds.images), train_ds.labels, generator=torch.Generator().manual_seed(seed))
    scored("linear diffusion (PCA-40, DDIM-50, w=3)", lambda: codec.decode(sample_ddim(
        linear, schedule, (num_samples, 40), steps=50, labels=labels, guidance_scale=3.0, clip_denoised=False,
        generator=torch.Generator().manual_seed(seed))).clamp(-1, 1))
    schedule.to(dev)
    runs = [("ddim", 50, 3.0), ("ddim", 20, 3.0), ("ddim", 50, 0.0), ("ddim", 50, 1.0), ("ddim", 50, 5.0)]
    if include_ddpm:
        runs.insert(0, ("ddpm", schedule.num_timesteps, 3.0))
    for sampler, steps, w in runs:
        scored(f"DDPM UNet, {sampler.upper()}-{steps}, w={w:g}", lambda sampler=sampler, steps=steps, w=w: generate(
            model, schedule, labels if model.num_classes else None, num_samples=num_samples, sampler=sampler,
            steps=steps, guidance_scale=w, generator=torch.Generator(device=dev).manual_seed(seed), progress=progress))
    return rows
