"""The results table of the shipped DDPM: every row scored by the judge against the 1,000 held-out digits.

    python -m tools.results --checkpoint ddpm_lib/weights/pretrained_ddpm.safetensors   # make results

A research record, not part of the package a learner reads: it writes ``data/results.md``, which
``docs/results.md`` quotes.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ddpm_lib.__main__ import add_common, checked_run, whole
from ddpm_lib.bench import machine
from ddpm_lib.checkpoint import load_model, read_metadata
from ddpm_lib.data import load_dataset
from ddpm_lib.evaluate import balanced_labels, evaluate_samples, format_table, reference_rows
from ddpm_lib.judge import judge_features, load_judge
from ddpm_lib.files import atomic_write_text, check_output_path
from ddpm_lib.flow import FlowPath
from ddpm_lib.generation import generate, sampler_name
from ddpm_lib.linear import LinearNoisePredictor, PCACodec
from ddpm_lib.paths import PRETRAINED_PATH
from ddpm_lib.runtime import check_seed, choose_device
from ddpm_lib.sample import sample_ddim
from ddpm_lib.schedule import NoiseSchedule
from ddpm_lib.validate import MIN_EVAL_SAMPLES, SamplerName, check_num_samples


def results_table(checkpoint: str | Path, *, num_samples: int = 300, seed: int = 0, device: str | None = None,
                  include_ddpm: bool = True, progress: bool = True) -> list[dict[str, Any]]:
    """The README's results table: every row scored by the judge against the 1,000 held-out digits.

    Rows: real digits (floor), noise (ceiling), multi-step linear diffusion (notebook 01), and the
    checkpoint with DDPM-1000, DDIM-50 and DDIM-20 at w=3, and DDIM-50 at w = 0, 1, 3, 5.
    """
    check_num_samples(num_samples, "--num-samples")
    dev = choose_device(device)
    check_seed(seed)
    model, path, _ = load_model(checkpoint, dev)
    if isinstance(path, FlowPath):
        raise ValueError(f"{checkpoint} is a flow-matching model; the results table samples DDPMs with ddpm and ddim. "
                         f"Score it with `python -m ddpm_lib evaluate --checkpoint {checkpoint} --sampler heun`")
    schedule = path or NoiseSchedule().to(dev)
    judge, _ = load_judge()
    train_ds, test_ds = load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "test")
    labels = balanced_labels(num_samples)
    test_features = judge_features(judge, test_ds.images)  # once for every row
    floor, ceiling = reference_rows(judge, train_ds.images, train_ds.labels, test_ds.images, num_samples,
                                    torch.Generator().manual_seed(seed), test_features)
    rows = [floor.row(), ceiling.row()]

    def scored(name: str, make: Callable[[], torch.Tensor]) -> None:
        t0 = time.perf_counter()
        x = make()
        seconds = time.perf_counter() - t0
        report = evaluate_samples(judge, x, labels, test_ds.images, name=name, train_images=train_ds.images,
                                  reference_features=test_features)
        rows.append({**report.row(), "sample_seconds": round(seconds, 1)})
        print(format_table(rows[-1:]))

    codec = PCACodec(40).fit(train_ds.images)
    linear = LinearNoisePredictor(schedule.to("cpu"), num_levels=50).fit(
        codec.encode(train_ds.images), train_ds.labels, generator=torch.Generator().manual_seed(seed))
    scored("linear diffusion (PCA-40, DDIM-50, w=3)", lambda: codec.decode(sample_ddim(
        linear, schedule, (num_samples, 40), steps=50, labels=labels, guidance_scale=3.0, clip_denoised=False,
        generator=torch.Generator().manual_seed(seed))).clamp(-1, 1))
    schedule.to(dev)
    runs: list[tuple[SamplerName, int, float]] = [("ddim", 50, 3.0), ("ddim", 20, 3.0), ("ddim", 50, 0.0),
                                                  ("ddim", 50, 1.0), ("ddim", 50, 5.0)]
    if include_ddpm:
        runs.insert(0, ("ddpm", schedule.num_timesteps, 3.0))
    for sampler, steps, w in runs:
        def make(sampler: SamplerName = sampler, steps: int = steps, w: float = w) -> torch.Tensor:
            return generate(model, schedule, labels if model.num_classes else None, num_samples=num_samples,
                            sampler=sampler, steps=steps, guidance_scale=w,
                            generator=torch.Generator(device=dev).manual_seed(seed), progress=progress)
        scored(f"DDPM UNet, {sampler_name(sampler, steps, schedule.num_timesteps)}, w={w:g}", make)
    return rows


def write_results(args: argparse.Namespace) -> dict[str, Any]:
    read_metadata(args.checkpoint)
    check_output_path(args.out, "results table", option="--out", not_same_as=(args.checkpoint,),
                      example="results.md")
    t0 = time.perf_counter()
    rows = results_table(args.checkpoint, num_samples=args.num_samples, seed=args.seed, device=args.device,
                         include_ddpm=not args.no_ddpm)
    where = machine(choose_device(args.device))
    measured_on = f"{where['cpu']}, {where['cores']} cores, torch {where['torch']}"
    text = (f"Measured with `python -m tools.results --checkpoint {args.checkpoint} --num-samples "
            f"{args.num_samples}` on {measured_on}; {time.perf_counter() - t0:.0f} s in all. FD: Frechet distance "
            f"in the judge's feature space against the 1,000 held-out digits (lower is better).\n\n"
            f"{format_table(rows)}\n")
    atomic_write_text(args.out, text)
    print(text)
    print(f"wrote {args.out}")
    return {"command": "results", "out": str(args.out), "rows": rows}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.results", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=PRETRAINED_PATH, help="default: the shipped pretrained model")
    p.add_argument("--num-samples", type=whole(MIN_EVAL_SAMPLES), default=300, help="samples per row (default 300)")
    p.add_argument("--no-ddpm", action="store_true", help="skip the slow DDPM-1000 row")
    p.add_argument("--out", type=Path, default=Path("data/results.md"), help="where the Markdown table goes")
    add_common(p)
    args = p.parse_args(argv)
    return checked_run(lambda: write_results(args), args.json)


if __name__ == "__main__":
    sys.exit(main())
