"""Command line: ``python -m ddpm_lib quest|train|sample|evaluate|bench|train-judge|train-autoencoder|reflow``
(also ``ddpm-course``).

Every command prints what it did and, with ``--json``, a machine-readable summary as its last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

import torch

from .config import DEFAULT_GUIDANCE, OBJECTIVES, PRESET_NAMES, ModelConfig, Preset, TrainConfig, get_preset
from .data import DATASET_NAMES, DatasetUnavailableError, ImageDataset, load_dataset
from .distributed import (BACKENDS, DistributedContext, DistributedError, abort, choose_backend, context_from_env, process_device, start,
                          stop)
from .paths import JUDGE_PATH, PRETRAINED_LATENT_PATH, RUNS_DIR, SCULPTURES_DIR, check_course_root
from .runtime import MAX_SEED, PRECISIONS, choose_device, make_generator
from .validate import MIN_EVAL_SAMPLES, SAMPLERS, check_number, check_whole

if TYPE_CHECKING:
    from .latent import LatentCodec

DIGITS = tuple(range(10))
MAX_PICTURE_SAMPLES = 1000  # one picture of 10 x 100 digits; DDIM-50 draws it in about 2 minutes on 2 CPU cores
T = TypeVar("T")


def argument(convert: Callable[[str], object], check: Callable[[object], T]) -> Callable[[str], T]:
    """An argparse type: ``convert`` the text (``int``, ``float``), then ``check`` it with :mod:`ddpm_lib.validate`'s
    wording; text that does not convert is checked as it is, so the message shows what was typed."""
    def parse(text: str) -> T:
        try:
            value = convert(text)
        except ValueError:
            value = text
        try:
            return check(value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return parse


def whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    return argument(int, lambda v: check_whole("the value", v, minimum, maximum))


def _number(low: float, high: float, *, low_open: bool = False, why: str = "") -> Callable[[str], float]:
    return argument(float, lambda v: check_number("the value", v, low, high, low_open=low_open, why=why))


SEED = whole(0, MAX_SEED)
POSITIVE = whole(1)
GUIDANCE = _number(-100.0, 100.0)
ETA = _number(0.0, 1.0, why=" (0: deterministic DDIM, 1: DDPM-like)")
LR = _number(0.0, 10.0, low_open=True)
GAMMA = _number(0.0, 1e6, why=" (0: the plain eps loss L_simple)")


def _parse_digits(text: str) -> list[int]:
    try:
        digits = [int(d) for d in text.split(",") if d.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--digits takes digits separated by commas, e.g. 3,7; got {text!r}") from None
    if not digits or any(not 0 <= d <= 9 for d in digits):
        raise argparse.ArgumentTypeError(f"--digits must list digits 0-9, e.g. 3,7; got {text!r}")
    return digits


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed, 0 to 2**63-1 (default 0)")


def _add_sampling(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="reverse process: ddpm (all T steps), ddim, dpm++ (DPM-Solver++(2M)), or euler / heun for a "
                        "flow-matching model; default ddim, heun for a flow-matching model")
    p.add_argument("--steps", type=POSITIVE, default=50,
                   help="network calls per image for ddim, dpm++ and euler (ignored by ddpm, which uses all T); "
                        "heun calls the network 2 steps - 1 times")
    p.add_argument("--eta", type=ETA, default=0.0, help="DDIM stochasticity in [0, 1]: 0 deterministic, 1 DDPM-like")
    p.add_argument("--guidance", type=GUIDANCE, default=DEFAULT_GUIDANCE,
                   help=f"classifier-free guidance scale w: 0 unconditional, 1 conditional, >1 guided "
                        f"(default {DEFAULT_GUIDANCE:g})")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="autocast precision (default auto)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ddpm_lib", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("quest", help="train a latent DDPM from scratch and write chaos_sculptures/new_creation.png")
    p.add_argument("--preset", choices=PRESET_NAMES, default=None,
                   help="model and budget (default: smoke if DDPM_COURSE_MODE=smoke, gpu with CUDA, else cpu)")
    p.add_argument("--out", type=Path, default=SCULPTURES_DIR,
                   help="output folder (created if missing; default chaos_sculptures/ in the course folder)")
    p.add_argument("--steps", type=POSITIVE, default=None,
                   help="training steps of the (latent or pixel) UNet (default: the preset's)")
    p.add_argument("--pixel", action="store_true",
                   help="train the pixel-space DDPM of notebooks 04-05 instead of latent diffusion (notebook 09)")
    p.add_argument("--guidance", type=GUIDANCE, default=None, help="guidance scale for the picture (default: preset's)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted quest from its checkpoint")
    p.add_argument("--no-eval", action="store_true", help="skip the judge's scores at the end")
    add_common(p)

    p = sub.add_parser("train", help="train a SimpleUNet and save its EMA weights (.safetensors)")
    p.add_argument("--preset", choices=PRESET_NAMES, default=None, help="model and budget")
    p.add_argument("--out", type=Path, default=RUNS_DIR / "model.safetensors",
                   help="where the EMA weights go (default runs/model.safetensors in the course folder)")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="folder for periodic checkpoints (default: beside --out, named after it)")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir")
    p.add_argument("--steps", type=POSITIVE, default=None, help="training steps (default: the preset's)")
    p.add_argument("--batch-size", type=POSITIVE, default=None, help="images per step (default: the preset's)")
    p.add_argument("--lr", type=LR, default=None, help="peak learning rate (default: the preset's)")
    p.add_argument("--base-channels", type=POSITIVE, default=None, help="UNet width (default: the preset's)")
    p.add_argument("--min-snr-gamma", type=GAMMA, default=None,
                   help="min-SNR-gamma loss weighting, 0 for none (default: the preset's; 0 for velocity)")
    p.add_argument("--objective", choices=OBJECTIVES, default="eps",
                   help="eps: a DDPM that predicts the noise (default); velocity: flow matching on the straight path")
    p.add_argument("--precision", choices=PRECISIONS, default=None)
    p.add_argument("--compile", action="store_true", help="use torch.compile (opt-in)")
    p.add_argument("--unconditional", action="store_true", help="train without labels")
    p.add_argument("--dataset", choices=DATASET_NAMES, default="mnist-5k", help="dataset (default mnist-5k, offline)")
    p.add_argument("--autoencoder", type=Path, default=None,
                   help="latent diffusion: train on this autoencoder's latents (from train-autoencoder) with the "
                        "preset's latent UNet; samples are decoded by it")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="under torchrun: process-group backend (default: nccl on CUDA, gloo on the CPU)")
    add_common(p)

    p = sub.add_parser("sample", help="draw digits from a checkpoint into a PNG")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--digits", type=_parse_digits, default=list(DIGITS), help="e.g. 3,7 (default all)")
    p.add_argument("--per-digit", type=POSITIVE, default=10,
                   help=f"samples per digit (default 10; more than {MAX_PICTURE_SAMPLES:,} in all needs --allow-many)")
    p.add_argument("--allow-many", action="store_true",
                   help=f"draw more than {MAX_PICTURE_SAMPLES:,} samples into one picture (hours on a CPU)")
    p.add_argument("--out", type=Path, default=SCULPTURES_DIR / "samples.png",
                   help="the picture (default chaos_sculptures/samples.png in the course folder)")
    _add_sampling(p)
    add_common(p)

    p = sub.add_parser("evaluate", help="judge scores of a checkpoint's samples")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--num-samples", type=whole(MIN_EVAL_SAMPLES), default=1000,
                   help="samples to generate, balanced over digits (at least 2)")
    p.add_argument("--cas", action="store_true", help="also train a classifier on samples (CAS; slower)")
    p.add_argument("--judge", type=Path, default=None, help="judge weights (default: the shipped judge)")
    p.add_argument("--dataset", choices=DATASET_NAMES, default="mnist-5k",
                   help="real images to compare with (default mnist-5k; others need a judge trained on them)")
    _add_sampling(p)
    add_common(p)

    p = sub.add_parser("bench", help="training and sampling throughput, and the machine's matmul peak")
    p.add_argument("--preset", choices=PRESET_NAMES, default=None, help="(only sizes the sampling benchmark)")
    p.add_argument("--seconds", type=_number(0.0, 3600.0, low_open=True), default=8.0,
                   help="time per measurement (default 8)")
    p.add_argument("--latent", action="store_true",
                   help="also time the preset's latent UNet against its pixel UNet (notebook 09), decoding included")
    add_common(p)

    p = sub.add_parser("train-autoencoder", help="train the autoencoder of latent diffusion (notebook 09)")
    p.add_argument("--preset", choices=PRESET_NAMES, default=None, help="autoencoder size and steps")
    p.add_argument("--out", type=Path, default=RUNS_DIR / "autoencoder.safetensors",
                   help="where its weights go (default runs/ in the course folder)")
    p.add_argument("--steps", type=POSITIVE, default=None, help="training steps (default: the preset's)")
    p.add_argument("--dataset", choices=DATASET_NAMES, default="mnist-5k", help="dataset (default mnist-5k, offline)")
    add_common(p)

    p = sub.add_parser("reflow", help="straighten a class-conditional DDPM into a model sampled with 1-2 Euler steps")
    p.add_argument("--teacher", type=Path, default=PRETRAINED_LATENT_PATH, help="the DDPM (default: the shipped latent one)")
    p.add_argument("--out", type=Path, default=RUNS_DIR / "reflow.safetensors",
                   help="where the student's EMA weights go (default runs/reflow.safetensors in the course folder)")
    p.add_argument("--pairs", type=whole(10), default=10_000, help="(noise, digit) pairs drawn from the teacher")
    p.add_argument("--guidance", type=GUIDANCE, default=1.5, help="the teacher's guidance scale, baked into the pairs")
    p.add_argument("--steps", type=POSITIVE, default=None, help="training steps (default 1500)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint folder beside --out")
    add_common(p)

    p = sub.add_parser("train-judge", help="train the judge classifier on the default data")
    p.add_argument("--out", type=Path, default=JUDGE_PATH, help="default: the judge the library loads")
    p.add_argument("--epochs", type=POSITIVE, default=30, help="passes over the training images (default 30)")
    p.add_argument("--dataset", choices=DATASET_NAMES, default="mnist-5k", help="what the judge learns (default mnist-5k)")
    add_common(p)
    return parser


def invocation(command: str) -> str:
    """The command line a recipe file records: the one typed, or just ``command`` when called from Python."""
    return "python -m ddpm_lib " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("__main__.py") else command


def _emit(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, default=str))


def cmd_quest(args: argparse.Namespace) -> dict[str, Any]:
    from .quest import run_quest
    return run_quest(preset_name=args.preset, out=args.out, seed=args.seed, device=args.device,
                     steps=args.steps, guidance=args.guidance, resume=args.resume, evaluate=not args.no_eval,
                     pixel=args.pixel)


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train one model; under ``torchrun --nproc_per_node=N`` as N data-parallel processes (rank 0 writes)."""
    from .files import check_output_path
    from .latent import latent_dataset, load_codec
    ctx = context_from_env()
    device = process_device(ctx, choose_device(args.device))
    choose_backend(device, args.backend)  # NCCL without CUDA is refused before anything starts
    recipe_path = args.out.with_suffix(".json")
    check_output_path(args.out, "weights file", option="--out", example="model.safetensors")
    check_output_path(recipe_path, "recipe file (beside --out)", option="--out")
    ckpt_dir = args.checkpoint_dir or args.out.with_name(args.out.stem + "_checkpoint")
    if ckpt_dir.exists() and not ckpt_dir.is_dir():
        raise ValueError(f"--checkpoint-dir {ckpt_dir} is a file; give a folder")
    check_output_path(ckpt_dir / "model.safetensors", "checkpoint folder", option="--checkpoint-dir")
    # every flag named like a TrainConfig or ModelConfig field overrides it (--lr -> train_lr, --base-channels -> ...)
    overrides: dict[str, Any] = {f"{prefix}_{f.name}": getattr(args, f.name) for prefix, config in
                                 (("train", TrainConfig), ("model", ModelConfig)) for f in fields(config)
                                 if getattr(args, f.name, None) is not None}
    if args.objective == "velocity" and args.min_snr_gamma is None and get_preset(args.preset).train.min_snr_gamma > 0:
        overrides["train_min_snr_gamma"] = 0.0
        print("flow matching (--objective velocity) trains without the preset's min-SNR weighting (it weights the eps "
              "loss only)")
    if args.unconditional:
        overrides["model_num_classes"] = None
    ctx.local_batch(get_preset(args.preset, **overrides).train.batch_size)  # the world size must divide the batch
    codec = load_codec(args.autoencoder, device)[0] if args.autoencoder is not None else None
    data = load_dataset(args.dataset, "train")
    preset = get_preset(args.preset, **overrides, model_in_channels=int(data.images.shape[1]))
    if codec is not None:
        preset = latent_preset(preset, codec, args.base_channels)
        data = latent_dataset(codec, data)
    ctx = start(ctx, device, args.backend)
    try:
        summary = _train_started(args, ctx, device, data, preset, ckpt_dir, recipe_path)
    except BaseException:
        abort(ctx)  # no final barrier: the other processes may be gone
        raise
    stop(ctx)
    return summary


def latent_preset(preset: Preset, codec: LatentCodec, base_channels: int | None) -> Preset:
    """``preset`` with its latent UNet (:func:`~ddpm_lib.latent.latent_recipe`) reading ``codec``'s latents."""
    from .latent import latent_recipe
    if codec.image_channels != preset.model.in_channels:
        raise ValueError(f"the autoencoder encodes {codec.image_channels}-channel images but the dataset has "
                         f"{preset.model.in_channels}; train one on this dataset with `python -m ddpm_lib "
                         f"train-autoencoder --dataset ...`")
    model = replace(latent_recipe(preset).model, in_channels=codec.latent_shape[0])
    return replace(preset, model=model if base_channels is None else replace(model, base_channels=base_channels))


def _train_started(args: argparse.Namespace, ctx: DistributedContext, device: torch.device, data: ImageDataset,
                   preset: Preset, ckpt_dir: Path, recipe_path: Path) -> dict[str, Any]:
    """The part of ``train`` that runs inside the process group (every rank; rank 0 writes)."""
    from .bench import machine
    from .checkpoint import save_model
    from .course import preset_path_model
    from .files import atomic_write_json
    from .train import train
    from .unet import count_parameters
    model, schedule = preset_path_model(preset, args.seed, args.objective)  # the same initial weights in every process
    latent = {"autoencoder": str(args.autoencoder)} if args.autoencoder is not None else {}
    say = print if ctx.is_main else (lambda *a, **k: None)
    share = ctx.local_batch(preset.train.batch_size)
    processes = f", {ctx.world_size} processes ({ctx.backend}) of {share} images each" if ctx.enabled else ""
    what = f"latents {tuple(data.images.shape[1:])} of {args.autoencoder}" if latent else "images"
    say(f"training {count_parameters(model):,}-parameter SimpleUNet ({preset.name} preset, {args.objective} objective) for "
        f"{preset.train.steps} steps of batch {preset.train.batch_size} on {len(data)} {what} of {args.dataset}, "
        f"device {device}{processes}")
    result = train(model, schedule, data, preset.train, device=device, checkpoint_dir=ckpt_dir,
                   resume=args.resume, dist=ctx, progress=ctx.is_main, info=latent)
    if ctx.is_main:
        save_model(result.model, args.out, schedule, state_dict=result.ema.model.state_dict(), weights="ema",
                   preset=preset.name, dataset=args.dataset, **latent, **result.summary())
        record = {"command": invocation("train"), "preset": preset.name, "dataset": args.dataset, "model": preset.model.to_dict(),
                  "parameters": count_parameters(result.model), "train": asdict(preset.train),
                  "global_batch": preset.train.batch_size, "batch_per_process":
                  ctx.local_batch(preset.train.batch_size), "lr": preset.train.lr,
                  "schedule": schedule.config(), **latent, **result.summary(), "machine": machine(device)}
        if args.resume:
            record["note"] = "resumed from a checkpoint: seconds and images_per_second cover the resumed part only"
        atomic_write_json(recipe_path, record)
    say(f"wrote {args.out} (EMA weights) and its recipe {recipe_path.name} in "
        f"{result.seconds:.0f} s at {result.images_per_second:.0f} img/s")
    return {"command": "train", "out": str(args.out), **result.summary()}


def cmd_sample(args: argparse.Namespace) -> dict[str, Any]:
    from .checkpoint import load_model, read_metadata
    from .files import check_output_path
    from .generation import default_sampler, generate
    from .latent import codec_for_checkpoint
    from .schedule import NoiseSchedule
    from .viz import save_grid
    read_metadata(args.checkpoint)  # a missing or foreign file is reported before anything else
    check_output_path(args.out, "picture", option="--out", not_same_as=(args.checkpoint,))
    n = len(args.digits) * args.per_digit
    if n > MAX_PICTURE_SAMPLES and not args.allow_many:
        raise ValueError(f"--per-digit {args.per_digit} asks for {n:,} samples ({len(args.digits)} digits x "
                         f"{args.per_digit}), more than the {MAX_PICTURE_SAMPLES:,} one picture holds; at about 10 "
                         f"samples a second on a CPU that is {n / 10 / 3600:.1f} hours. Ask for at most "
                         f"{MAX_PICTURE_SAMPLES // len(args.digits)} per digit, or add --allow-many to draw them anyway")
    device = choose_device(args.device)
    g = make_generator(args.seed, device)
    model, schedule, info = load_model(args.checkpoint, device)
    schedule = schedule or NoiseSchedule().to(device)
    decoder = codec_for_checkpoint(args.checkpoint, info, device)
    conditional = model.num_classes is not None
    labels = torch.tensor([d for d in args.digits for _ in range(args.per_digit)]) if conditional else None
    t0 = time.perf_counter()
    sampler = args.sampler or default_sampler(schedule)
    x = generate(model, schedule, labels, num_samples=None if conditional else n, sampler=sampler,
                 steps=args.steps, eta=args.eta, guidance_scale=args.guidance, generator=g,
                 precision=args.precision, progress=True, decoder=decoder)
    seconds = time.perf_counter() - t0
    rows = [str(d) for d in args.digits] if labels is not None else None
    save_grid(x, args.out, nrow=args.per_digit, row_labels=rows)
    print(f"wrote {args.out}: {n} samples ({sampler}, guidance {args.guidance}) in {seconds:.1f} s")
    return {"command": "sample", "out": str(args.out), "num_samples": n, "seconds": round(seconds, 2)}


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from .checkpoint import read_metadata
    from .evaluate import evaluate_checkpoint
    read_metadata(args.checkpoint)
    return evaluate_checkpoint(args.checkpoint, num_samples=args.num_samples, sampler=args.sampler, steps=args.steps,
                               eta=args.eta, guidance=args.guidance, precision=args.precision, seed=args.seed,
                               device=args.device, cas=args.cas, judge_path=args.judge, dataset=args.dataset)


def cmd_bench(args: argparse.Namespace) -> dict[str, Any]:
    from .bench import run_bench
    return run_bench(preset_name=args.preset, seconds=args.seconds, device=args.device, latent=args.latent)


def cmd_train_judge(args: argparse.Namespace) -> dict[str, Any]:
    from .judge import JudgeTraining, save_judge, train_classifier
    from .metrics import accuracy
    from .files import atomic_write_json, check_output_path
    recipe_path = args.out.with_suffix(".json")
    check_output_path(args.out, "judge weights", option="--out", example="model.safetensors")
    check_output_path(recipe_path, "judge recipe (beside --out)", option="--out")
    device = choose_device(args.device)
    recipe = JudgeTraining(epochs=args.epochs, seed=args.seed)
    train_ds, test_ds = load_dataset(args.dataset, "train"), load_dataset(args.dataset, "test")
    t0 = time.perf_counter()
    judge = train_classifier(train_ds.images, train_ds.labels, recipe, device=device, progress=True)
    seconds = time.perf_counter() - t0
    acc = accuracy(judge, test_ds.images, test_ds.labels)
    info = {"recipe": asdict(recipe), "dataset": args.dataset, "test_accuracy": round(acc, 4),
            "num_test_images": len(test_ds), "train_seconds": round(seconds, 1),
            "parameters": sum(p.numel() for p in judge.parameters()), "torch": torch.__version__}
    save_judge(judge.cpu(), args.out, **info)
    atomic_write_json(recipe_path, info)
    print(f"judge: {acc:.2%} on the {len(test_ds)} held-out images after {seconds:.0f} s; wrote {args.out}")
    return {"command": "train-judge", **info}


def cmd_train_autoencoder(args: argparse.Namespace) -> dict[str, Any]:
    """Train a preset's autoencoder, fix its latent scale factor, write it (+ a JSON recipe beside it)."""
    from .bench import machine
    from .files import atomic_write_json, check_output_path
    from .latent import latent_recipe, reconstruction_error, save_codec, train_codec
    recipe_path = args.out.with_suffix(".json")
    check_output_path(args.out, "autoencoder weights", option="--out", example="model.safetensors")
    check_output_path(recipe_path, "autoencoder recipe (beside --out)", option="--out")
    device = choose_device(args.device)
    recipe = latent_recipe(get_preset(args.preset))
    if args.steps is not None:
        recipe = replace(recipe, autoencoder_training=replace(recipe.autoencoder_training, steps=args.steps))
    train_ds, test_ds = load_dataset(args.dataset, "train"), load_dataset(args.dataset, "test")
    if recipe.autoencoder.in_channels != train_ds.images.shape[1]:
        recipe = replace(recipe, autoencoder=replace(recipe.autoencoder, in_channels=int(train_ds.images.shape[1])))
    print(f"training the {recipe.preset.name} preset's autoencoder {recipe.autoencoder.in_channels}x32x32 -> "
          f"{'x'.join(map(str, recipe.autoencoder.latent_shape))} for {recipe.autoencoder_training.steps} steps on "
          f"{len(train_ds)} images of {args.dataset}, device {device}")
    codec, summary = train_codec(recipe, train_ds.images, device=device, seed=args.seed)
    held_out = reconstruction_error(codec, test_ds.images)
    info = {"command": invocation("train-autoencoder"), "preset": recipe.preset.name, "dataset": args.dataset,
            "config": recipe.autoencoder.to_dict(), "training": asdict(replace(recipe.autoencoder_training, seed=args.seed)),
            "parameters": sum(p.numel() for p in codec.autoencoder.parameters()), **summary,
            "held_out_mse": round(held_out, 5), "machine": machine(device)}
    save_codec(codec, args.out, **info)
    atomic_write_json(recipe_path, info)
    print(f"autoencoder: held-out reconstruction MSE {held_out:.4f}, scale factor {codec.scale_factor:.4f}, "
          f"{summary['seconds']:.0f} s at {summary['images_per_second']:.0f} img/s; wrote {args.out}")
    return {"command": "train-autoencoder", "out": str(args.out), **{k: v for k, v in info.items() if k != "machine"}}


def cmd_reflow(args: argparse.Namespace) -> dict[str, Any]:
    """Pairs from the teacher, the straight-path student trained on them (:mod:`ddpm_lib.reflow`), its weights and recipe."""
    from .bench import machine
    from .checkpoint import read_metadata, save_model
    from .files import atomic_write_json, check_output_path
    from .reflow import REFLOW_TRAINING, train_reflow
    read_metadata(args.teacher)
    recipe_path = args.out.with_suffix(".json")
    check_output_path(args.out, "weights file", option="--out", example="reflow.safetensors")
    check_output_path(recipe_path, "recipe file (beside --out)", option="--out")
    config = replace(REFLOW_TRAINING, seed=args.seed, steps=args.steps or REFLOW_TRAINING.steps)
    print(f"reflow of {args.teacher}: {args.pairs:,} pairs at guidance {args.guidance:g}, then {config.steps} steps "
          f"of batch {config.batch_size} on the straight path")
    result, path, record = train_reflow(args.teacher, args.out.with_name(args.out.stem + "_checkpoint"),
                                        num_pairs=args.pairs, guidance_scale=args.guidance, config=config,
                                        seed=args.seed, device=args.device, resume=args.resume)
    save_model(result.model, args.out, path, state_dict=result.ema.model.state_dict(), weights="ema", **record,
               **result.summary())
    atomic_write_json(recipe_path, {"command": invocation("reflow"), **record,
                                    "train": asdict(config), **result.summary(),
                                    "machine": machine(choose_device(args.device))})
    print(f"wrote {args.out} and {recipe_path.name}; sample it with --sampler euler --steps 1 --guidance 1")
    return {"command": "reflow", "out": str(args.out), **record, **result.summary()}


COMMANDS = {"quest": cmd_quest, "train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate,
            "bench": cmd_bench, "train-judge": cmd_train_judge,
            "train-autoencoder": cmd_train_autoencoder, "reflow": cmd_reflow}


LIBRARY_ERRORS = (ValueError, OSError, FloatingPointError, DatasetUnavailableError, DistributedError)
"""What the library raises for a request it refuses; anything else is a bug and keeps its traceback."""


def checked_run(command: Callable[[], dict[str, Any]], as_json: bool) -> int:
    """Run one command: its summary printed (as JSON with ``--json``), a refusal as one ``error:`` line, exit 2."""
    ctx = context_from_env()
    try:
        created = check_course_root()
        if created and ctx.is_main:
            print(created, file=sys.stderr)
        summary = command()
    except LIBRARY_ERRORS as err:
        where = f" (rank {ctx.rank} of {ctx.world_size})" if ctx.enabled else ""
        print(f"error{where}: {err}", file=sys.stderr)
        return 2
    _emit(summary, as_json and ctx.is_main)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return checked_run(lambda: COMMANDS[args.command](args), args.json)


if __name__ == "__main__":
    sys.exit(main())
