"""Quality against network evaluations, from 1 to 50, for every sampler on the shipped models, on one judge.

Each row: one model and sampler at one step count, ``--num-samples`` balanced samples from the same
seed, scored against the held-out digits beside the real-digit floor, with the wall time per image
(decoding included for the latent models). Evaluations count forward passes per image: a guided step
costs two. Prints a Markdown table and writes the plot (``docs/samplers.md`` shows both).

    python -m tools.few_steps --num-samples 1000 --plot docs/images/few_steps.png
    python -m tools.few_steps --speed     # one step against DPM++-15, decoding included; the fast decoder
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch

from ddpm_lib.bench import timed_rate
from ddpm_lib.checkpoint import load_model
from ddpm_lib.data import load_dataset
from ddpm_lib.evaluate import balanced_labels, evaluate_samples, format_table, reference_rows
from ddpm_lib.generation import generate, network_calls
from ddpm_lib.judge import judge_features, load_judge
from ddpm_lib.latent import codec_for_checkpoint
from ddpm_lib.paths import PRETRAINED_FLOW_PATH, PRETRAINED_LATENT_PATH, REFLOW_PATH
from ddpm_lib.validate import SamplerName
from ddpm_lib.viz import save_figure

#: (label, checkpoint, sampler, guidance, step counts)
RUNS: tuple[tuple[str, Path, SamplerName, float, tuple[int, ...]], ...] = (
    ("latent DDPM, DDIM", PRETRAINED_LATENT_PATH, "ddim", 2.0, (1, 2, 4, 8, 15, 25)),
    ("latent DDPM, DPM-Solver++", PRETRAINED_LATENT_PATH, "dpm++", 2.0, (2, 4, 8, 15, 25)),
    ("reflow, Euler", REFLOW_PATH, "euler", 1.0, (1, 2, 4, 8, 15)),
    ("reflow, Heun", REFLOW_PATH, "heun", 1.0, (2, 3, 5, 8)),
    ("pixel flow model, Euler", PRETRAINED_FLOW_PATH, "euler", 2.0, (1, 2, 4, 8, 15, 25)),
    ("pixel flow model, Heun", PRETRAINED_FLOW_PATH, "heun", 2.0, (2, 4, 8, 13)),
)


def measure(num_samples: int) -> tuple[list[dict[str, Any]], float]:
    """Every run of :data:`RUNS`; returns the rows and the real-digit floor's Frechet distance."""
    judge, _ = load_judge()
    train, test = load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "test")
    features = judge_features(judge, test.images)
    floor = reference_rows(judge, train.images, train.labels, test.images, num_samples,
                           torch.Generator().manual_seed(0), features)[0].frechet or 0.0
    labels = balanced_labels(num_samples)
    rows = []
    for name, path, sampler, w, counts in RUNS:
        model, schedule, info = load_model(path)
        assert schedule is not None
        decoder = codec_for_checkpoint(path, info)
        for steps in counts:
            t0 = time.perf_counter()
            x = generate(model, schedule, labels, sampler=sampler, steps=steps, guidance_scale=w,
                         generator=torch.Generator().manual_seed(0), decoder=decoder)
            seconds = time.perf_counter() - t0
            report = evaluate_samples(judge, x, labels, test.images, reference_features=features)
            evaluations = network_calls(sampler, steps, schedule.num_timesteps, w)
            rows.append({"model and sampler": name, "steps": steps, "w": w, "evaluations": evaluations,
                         "accuracy": report.accuracy, "frechet": round(report.frechet or 0.0, 3),
                         "x floor": round((report.frechet or 0.0) / floor, 2),
                         "ms per image": round(1000 * seconds / num_samples, 2)})
            print(rows[-1], flush=True)
    return rows, floor


def speed(num_samples: int = 2000, seconds: float = 6.0) -> dict[str, float]:
    """Images/s of the latent DDPM's DPM++-15 at w=2 against reflow's Euler-1 and -2 (:func:`ddpm_lib.bench.timed_rate`
    of ``generate`` in batches of 250, decoding included), with the decoder as shipped (fp32, batches of 500) and
    ``codec.fast()``, beside the decoder's own rate: where the time goes."""
    teacher, schedule, info = load_model(PRETRAINED_LATENT_PATH)
    student, path, _ = load_model(REFLOW_PATH)
    codec = codec_for_checkpoint(PRETRAINED_LATENT_PATH, info)
    assert schedule is not None and path is not None and codec is not None
    labels = balanced_labels(num_samples)
    fast = codec.fast()
    runs: tuple[tuple[str, Any, Any, SamplerName, int, float], ...] = (
        ("DPM++-15, w=2", teacher, schedule, "dpm++", 15, 2.0), ("reflow Euler-1", student, path, "euler", 1, 1.0),
        ("reflow Euler-2", student, path, "euler", 2, 1.0))
    z = torch.randn(num_samples, *codec.latent_shape)
    out: dict[str, float] = {}
    for how, decoder in (("fp32 decoding", codec), (f"{fast.precision} decoding in batches of {fast.batch_size}", fast)):
        out[f"decoding alone, images/s, {how}"] = round(timed_rate(lambda: decoder.decode(z), num_samples, seconds))
        for name, model, p, sampler, steps, w in runs:
            out[f"{name}, images/s, {how}"] = round(timed_rate(
                lambda: generate(model, p, labels, sampler=sampler, steps=steps, guidance_scale=w, decoder=decoder,
                                 generator=torch.Generator().manual_seed(0)), num_samples, seconds, warmup=1))
    return out


def decode_quality(num_samples: int = 1000) -> list[dict[str, Any]]:
    """Reflow's Euler-1 digits judged when decoded as shipped and by ``codec.fast()``: what the fast decoder costs."""
    judge, _ = load_judge()
    student, path, info = load_model(REFLOW_PATH)
    codec = codec_for_checkpoint(REFLOW_PATH, info)
    assert path is not None and codec is not None
    test = load_dataset("mnist-5k", "test")
    test_features = judge_features(judge, test.images)  # once for both decoders
    labels = balanced_labels(num_samples)
    rows = []
    for decoder in (codec, codec.fast()):
        x = generate(student, path, labels, sampler="euler", steps=1, decoder=decoder,
                     generator=torch.Generator().manual_seed(0))
        report = evaluate_samples(judge, x, labels, test.images, reference_features=test_features)
        rows.append({"decoding": decoder.precision, "accuracy": report.accuracy,
                     "frechet": round(report.frechet or 0.0, 3)})
    return rows


def plot(rows: list[dict[str, Any]], floor: float, out: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for name in dict.fromkeys(r["model and sampler"] for r in rows):
        mine = [r for r in rows if r["model and sampler"] == name]
        style = "o-" if "reflow" in name else "s--" if "pixel" in name else "^-"
        for ax, key in ((left, "x floor"), (right, "ms per image")):
            ax.plot([r["evaluations"] for r in mine], [r[key] for r in mine], style, label=name)
    left.axhline(3.0, color="grey", lw=0.8, ls=":")
    left.text(1.05, 3.1, "3x the floor", color="grey", fontsize=9)
    left.set(xscale="log", yscale="log", xlabel="network evaluations per image (a guided step counts two)",
             ylabel=f"Frechet distance / real-digit floor ({floor:.3f})", title="quality")
    right.set(xscale="log", yscale="log", xlabel="network evaluations per image",
              ylabel="ms per image (latent models: decoding included)", title="wall time")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    fig.tight_layout()
    path = save_figure(fig, out)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.few_steps", description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--plot", type=Path, default=Path("build") / "few_steps.png")
    parser.add_argument("--speed", action="store_true", help="only time one and two reflow steps against DPM++-15, "
                                                             "decoding with the shipped and the fast decoder")
    args = parser.parse_args(argv)
    if args.speed:
        for name, value in speed().items():
            print(f"{name}: {value:,}")
        print(format_table(decode_quality(args.num_samples)))
        return 0
    rows, floor = measure(args.num_samples)
    print(format_table(rows))
    print(f"wrote {plot(rows, floor, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
