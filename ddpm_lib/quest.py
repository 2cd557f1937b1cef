"""The Quest: train a class-conditional diffusion model from scratch, draw every digit, judge the result.

``python -m ddpm_lib quest`` (``make quest``): latent diffusion by default (notebook 09), ``--pixel`` the pixel-space
DDPM of notebooks 04-05. Notebook 05 draws the same picture from a trained model with :func:`draw_creation`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .bench import autoencoder_rate, training_rate
from .checkpoint import CheckpointError
from .config import DEFAULT_GUIDANCE, Preset, get_preset
from .course import AUTOENCODER_FILE, check_latent_resume, preset_model, train_latent_pair
from .data import load_dataset
from .evaluate import format_table, grain_line, judge_model
from .files import check_output_path
from .latent import LatentCodec, LatentRecipe, latent_recipe, reconstruction_error
from .paths import JUDGE_PATH
from .runtime import choose_device, make_generator
from .generation import LatentDecoder, generate, run_sampler, sampler_name
from .sample import NoisePredictor
from .schedule import NoiseSchedule
from .train import WEIGHTS_FILE, train
from .unet import count_parameters
from .validate import SamplerName, check_guidance, check_num_samples, check_sampler
from .viz import decoded, save_grid, trajectory, trajectory_strip

CREATION = "new_creation.png"
PROGRESS = "denoising_progress.png"
CHECKPOINT_DIR = "quest_checkpoint"


def draw_creation(model: NoisePredictor, schedule: NoiseSchedule, out: str | Path, *, sampler: SamplerName = "ddim",
                  steps: int = 50, guidance_scale: float = DEFAULT_GUIDANCE, per_digit: int = 10,
                  generator: torch.Generator | None = None, precision: str = "auto",
                  decoder: LatentDecoder | None = None) -> dict[str, Path]:
    """Write ``new_creation.png`` (one row per digit) and ``denoising_progress.png`` (x_t along the way for one sample
    of each digit) into ``out``, drawn by ``sampler``; a latent model's samples are shown decoded by ``decoder``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    conditional = bool(getattr(model, "num_classes", None))
    shape = tuple(decoder.latent_shape) if decoder is not None else (int(getattr(model, "in_channels", 1)), 32, 32)
    labels = torch.arange(10).repeat_interleave(per_digit) if conditional else None
    x = generate(model, schedule, labels, num_samples=10 * per_digit, image_shape=shape, sampler=sampler, steps=steps,
                 guidance_scale=guidance_scale, generator=generator, precision=precision, decoder=decoder)
    rows = [str(d) for d in range(10)] if labels is not None else None
    name = sampler_name(sampler, steps, schedule.num_timesteps)
    creation = save_grid(x, out / CREATION, nrow=per_digit, row_labels=rows,
                         title=f"new creation: {'latent ' if decoder is not None else ''}{name}, "
                               f"guidance w={guidance_scale:g}")
    digit_labels = torch.arange(10) if conditional else None
    traj = trajectory(run_sampler, model, schedule, (10, *shape), sampler=sampler, steps=steps, labels=digit_labels,
                      guidance_scale=guidance_scale, generator=generator, precision=precision,
                      clip_denoised=decoder is None)
    if decoder is not None:
        traj = decoded(traj, decoder)
    strips: list[torch.Tensor] = []
    col_labels: list[str] = []
    for i in range(10):
        frames, col_labels = trajectory_strip(traj, sample=i, num_frames=10)
        strips.append(frames)
    what = "x_t decoded, from latent noise" if decoder is not None else "x_t from noise"
    progress = save_grid(torch.cat(strips), out / PROGRESS, nrow=len(col_labels), col_labels=col_labels,
                         row_labels=rows, title=f"denoising progress: {what} (left) to digit (right)")
    return {"creation": creation, "progress": progress}


def estimate_seconds(preset: Preset, device: torch.device, *, evaluate: bool = True, seconds: float = 2.0,
                     latent: LatentRecipe | None = None, steps: int | None = None) -> dict[str, float]:
    """What the Quest should take on ``device``, from a few timed training steps of a fresh model (and of a ``latent``
    recipe's autoencoder): a training image costs about three forward passes, a sampled one two per network
    evaluation (guidance doubles the batch), for the 110 pictured images and the scored ones. Decoding is left out."""
    autoencoder_seconds = 0.0
    model, side, train_steps = preset.model, 32, preset.train.steps
    if latent is not None:
        ae = latent.autoencoder_training
        autoencoder_seconds = ae.steps * ae.batch_size / autoencoder_rate(latent.autoencoder, ae, device, seconds / 2)
        model, side, train_steps = latent.model, latent.autoencoder.latent_side, latent.training(steps).steps
    rate = training_rate(model, preset.train.batch_size, preset.train.precision, preset.train.channels_last,
                         device, seconds, side=side)
    evaluations = preset.num_timesteps if preset.sampler == "ddpm" else preset.sample_steps
    images = 10 * 10 + 10 + (preset.num_eval_samples if evaluate else 0)
    return {"images_per_second": rate, "autoencoder_seconds": autoencoder_seconds,
            "train_seconds": train_steps * preset.train.batch_size / rate,
            "sample_seconds": images * 2 * evaluations / (3 * rate)}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def run_quest(preset_name: str | None = None, out: str | Path = "chaos_sculptures", seed: int = 0,
              device: str | None = None, steps: int | None = None, guidance: float | None = None,
              resume: bool = False, evaluate: bool = True, pixel: bool = False) -> dict[str, Any]:
    """Train latent diffusion with the preset (``pixel``: the pixel-space UNet), write the pictures and the checkpoint
    into ``out`` and print the judge's scores; every argument is checked before training starts."""
    t_start = time.perf_counter()
    overrides: dict[str, Any] = {"train_seed": seed}
    if steps is not None and pixel:
        overrides["train_steps"] = steps
    preset: Preset = get_preset(preset_name, **overrides)
    recipe = None if pixel else latent_recipe(preset)
    unet_steps = preset.train.steps if recipe is None else recipe.training(steps).steps  # checks the count first
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
    if resume and recipe is not None:
        check_latent_resume(ckpt_dir, recipe)
    if resume and recipe is None and (ckpt_dir / AUTOENCODER_FILE).is_file():
        raise CheckpointError(f"{ckpt_dir} holds a latent Quest ({AUTOENCODER_FILE} is there); resume it without "
                              f"--pixel, or drop --resume to start afresh")
    data = load_dataset("mnist-5k", "train")
    batch = preset.train.batch_size
    if recipe is None:
        model, schedule = preset_model(preset, seed)
        print(f"Quest ({preset.name} preset, pixel space): {count_parameters(model):,}-parameter SimpleUNet, "
              f"{unet_steps} steps of batch {batch} on {len(data)} digits, device {dev}")
    else:
        ae = recipe.autoencoder_training
        latent_unet, _ = preset_model(recipe.preset, seed)
        print(f"Quest ({preset.name} preset, latent diffusion): an autoencoder "
              f"{recipe.autoencoder.in_channels}x32x32 -> {'x'.join(map(str, recipe.autoencoder.latent_shape))} "
              f"({ae.steps} steps of batch {ae.batch_size}), then a {count_parameters(latent_unet):,}-parameter "
              f"SimpleUNet on its latents ({unet_steps} steps of batch {batch}), on {len(data)} "
              f"digits, device {dev}")
    estimate = estimate_seconds(preset, dev, evaluate=evaluate, latent=recipe, steps=steps)
    first = (f"autoencoder {_minutes(estimate['autoencoder_seconds'])}, then the latent UNet "
             if recipe is not None else "training ")
    total = estimate["autoencoder_seconds"] + estimate["train_seconds"] + estimate["sample_seconds"]
    print(f"estimate for this machine: about {_minutes(total)} ({first}{_minutes(estimate['train_seconds'])} at the "
          f"{estimate['images_per_second']:.0f} img/s of a few trial steps, then drawing{' and scoring' if evaluate else ''} "
          f"{_minutes(estimate['sample_seconds'])}{'; a resumed run has less to do' if resume else ''})")
    codec: LatentCodec | None = None
    stage: dict[str, Any] = {"space": "pixel" if recipe is None else "latent"}
    if recipe is None:
        result = train(model, schedule, data, preset.train, device=dev, checkpoint_dir=ckpt_dir, resume=resume)
    else:
        pair = train_latent_pair(recipe, data, ckpt_dir, steps=steps, device=dev, seed=seed, resume=resume)
        codec, schedule, result = pair.codec, pair.schedule, pair.result
        test = load_dataset("mnist-5k", "test")
        held_out = reconstruction_error(codec, test.images)
        stage.update(autoencoder=str(ckpt_dir / AUTOENCODER_FILE), autoencoder_seconds=pair.codec_summary["seconds"],
                     autoencoder_held_out_mse=round(held_out, 5))
        print(f"autoencoder trained in {pair.codec_summary['seconds']:.0f} s "
              f"({pair.codec_summary['images_per_second']:.0f} img/s): reconstruction error (MSE) {held_out:.4f} on "
              f"the {len(test)} held-out digits, scale factor {codec.scale_factor:.3f}")
    print(f"trained {'the latent UNet ' if codec is not None else ''}in {result.seconds:.0f} s "
          f"({result.images_per_second:.0f} img/s, {result.precision}); final loss {result.history[-1][1]:.4f}")
    ema = result.ema.model.eval()
    paths = draw_creation(ema, schedule, out, sampler=preset.sampler, steps=preset.sample_steps, guidance_scale=w,
                          generator=g, decoder=codec)
    summary: dict[str, Any] = {"command": "quest", "preset": preset.name, **stage,
                               "creation": str(paths["creation"]), "progress": str(paths["progress"]),
                               "checkpoint": str(ckpt_dir / WEIGHTS_FILE), "train_seconds": round(result.seconds, 1),
                               **result.summary(), "estimated_seconds": round(total, 1)}
    if evaluate and JUDGE_PATH.is_file():
        scores = judge_model(ema, schedule, num_samples=preset.num_eval_samples, sampler=preset.sampler,
                             steps=preset.sample_steps, guidance_scale=w, generator=g, progress=False, decoder=codec)
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
