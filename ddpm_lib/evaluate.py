"""Scoring samples and models: the report rows, the results table, ``python -m ddpm_lib evaluate``.

Taught in ``notebooks/05_sampling.ipynb``. :func:`judge_model` draws from a model and scores it beside real digits
(the floor) and noise (the ceiling).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoint import load_model
from .config import DEFAULT_GUIDANCE
from .data import load_dataset
from .generation import LatentDecoder, default_sampler, generate, sampler_name
from .judge import JudgeNet, check_images, judge_features, load_judge
from .latent import codec_for_checkpoint
from .metrics import (background_grain, balanced_subset, classification_accuracy_score, conditional_accuracy,
                      frechet_distance, memorisation)
from .runtime import choose_device, make_generator
from .sample import NoisePredictor
from .schedule import DiffusionPath, NoiseSchedule
from .validate import SamplerName, check_num_samples, check_request


@dataclass
class Report:
    """All metrics for one set of samples, with the counts and time they took."""

    name: str
    num_samples: int
    accuracy: float | None
    per_class: dict[int, float] = field(default_factory=dict)
    frechet: float | None = None
    cas: float | None = None
    memorisation: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        return {"name": self.name, "n": self.num_samples,
                "accuracy": None if self.accuracy is None else round(self.accuracy, 4),
                "frechet": None if self.frechet is None else round(self.frechet, 3),
                "cas": None if self.cas is None else round(self.cas, 4),
                "copied_fraction": self.memorisation.get("copied_fraction"),
                "nn_ratio": None if "nn_ratio" not in self.memorisation else round(self.memorisation["nn_ratio"], 3),
                "seconds": round(self.seconds, 1)}


def evaluate_samples(judge: JudgeNet, samples: torch.Tensor, labels: torch.Tensor | None, reference: torch.Tensor,
                     *, name: str = "samples", train_images: torch.Tensor | None = None,
                     test_labels: torch.Tensor | None = None, cas: bool = False,
                     reference_features: torch.Tensor | None = None) -> Report:
    """Every metric for ``samples`` against real ``reference`` images: conditional accuracy with ``labels``,
    memorisation with ``train_images``, CAS with ``cas``, ``labels`` and ``test_labels``. ``reference_features``:
    ``judge_features(judge, reference)``, when the caller has them."""
    t0 = time.perf_counter()
    check_images(samples, judge.in_channels, what=name)
    if reference_features is None:
        reference_features = judge_features(judge, reference)
    elif reference_features.shape != (reference.shape[0], judge.feature_dim):
        raise ValueError(f"reference_features must be the judge's features of the {reference.shape[0]} reference "
                         f"images, shape ({reference.shape[0]}, {judge.feature_dim}); got "
                         f"{tuple(reference_features.shape)}: pass judge_features(judge, reference), or leave it out")
    acc = conditional_accuracy(judge, samples, labels) if labels is not None else None
    report = Report(name=name, num_samples=int(samples.shape[0]), accuracy=acc["accuracy"] if acc else None,
                    per_class=acc["per_class"] if acc else {},
                    frechet=frechet_distance(judge_features(judge, samples), reference_features))
    if train_images is not None:
        report.memorisation = memorisation(samples, train_images, reference)
    if cas:
        if labels is None or test_labels is None:
            raise ValueError("CAS needs the samples' labels and test_labels for the reference images")
        report.cas = classification_accuracy_score(samples, labels, reference, test_labels)
    report.seconds = time.perf_counter() - t0
    return report


def reference_rows(judge: JudgeNet, train_images: torch.Tensor, train_labels: torch.Tensor,
                   test_images: torch.Tensor, n: int, generator: torch.Generator | None = None,
                   test_features: torch.Tensor | None = None) -> list[Report]:
    """The two rows every results table needs, with ``n`` images each against ``test_images``:
    real training digits (the floor a perfect generator would reach) and Gaussian noise (the ceiling).
    ``test_features``: the judge's features of ``test_images``, if the caller has them."""
    idx = balanced_subset(train_labels, min(n, len(train_labels)), generator)
    if test_features is None:
        test_features = judge_features(judge, test_images)
    floor = evaluate_samples(judge, train_images[idx], train_labels[idx], test_images, name="real digits (floor)",
                             reference_features=test_features)
    noise = torch.randn((len(idx), *test_images.shape[1:]), generator=generator).clamp(-1, 1)
    ceiling = evaluate_samples(judge, noise, None, test_images, name="Gaussian noise (ceiling)",
                               reference_features=test_features)
    return [floor, ceiling]


def grain_line(scores: dict[str, Any]) -> str:
    """The sentence the Quest and ``evaluate`` print under their tables: the samples' grain beside real digits'."""
    return (f"background grain (mean brightness away from the strokes, 0 black to 1 white): {scores['grain']:.4f}; "
            f"real digits {scores['grain_floor']:.4f}")


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of report rows; columns that are empty (None) in every row are left out."""
    if not rows:
        return "(no rows)"
    cols = [k for k in dict.fromkeys(k for r in rows for k in r) if any(r.get(k) is not None for r in rows)]

    def fmt(v: object) -> str:
        return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def balanced_labels(num_samples: int, num_classes: int = 10) -> torch.Tensor:
    """0, 1, ..., 9, 0, 1, ... : ``num_samples`` labels spread evenly over the classes."""
    return torch.arange(num_samples) % num_classes


def judge_model(model: NoisePredictor, schedule: DiffusionPath, *, num_samples: int, steps: int,
                guidance_scale: float, sampler: SamplerName = "ddim", eta: float = 0.0,
                generator: torch.Generator | None = None, precision: str = "auto", cas: bool = False,
                judge_path: str | Path | None = None, name: str | None = None,
                progress: bool = True, dataset: str = "mnist-5k", root: str | Path = "data",
                decoder: LatentDecoder | None = None) -> dict[str, Any]:
    """``num_samples`` balanced samples scored by the judge against ``dataset``'s test split (a latent model's decoded
    by ``decoder``): the table rows (floor, ceiling, samples) and the scores, everything checked before sampling."""
    check_num_samples(num_samples)
    check_request(sampler, steps, schedule, eta, guidance_scale)
    judge, judge_info = load_judge(judge_path)
    train_ds, test_ds = load_dataset(dataset, "train", root=root), load_dataset(dataset, "test", root=root)
    channels = int(getattr(decoder, "image_channels", 1)) if decoder is not None else int(getattr(model, "in_channels", 1))
    if judge.in_channels != channels or test_ds.images.shape[1] != channels:
        raise ValueError(f"the model draws {channels}-channel images, the judge reads {judge.in_channels}-channel ones "
                         f"and {dataset!r} has {test_ds.images.shape[1]}; train a judge on this dataset with "
                         f"`python -m ddpm_lib train-judge --dataset {dataset}` and pass it with --judge")
    judged_on = judge_info.get("dataset", "mnist-5k")
    if judged_on != dataset:
        raise ValueError(f"the judge was trained on {judged_on!r}, not {dataset!r}: its accuracy and features mean "
                         f"nothing there; train one with `python -m ddpm_lib train-judge --dataset {dataset}`")
    labels = balanced_labels(num_samples) if getattr(model, "num_classes", None) else None
    t0 = time.perf_counter()
    x = generate(model, schedule, labels, num_samples=num_samples, sampler=sampler, steps=steps, eta=eta,
                 guidance_scale=guidance_scale, generator=generator, precision=precision, progress=progress,
                 decoder=decoder)
    sample_seconds = time.perf_counter() - t0
    label = name or f"{sampler_name(sampler, steps, schedule.num_timesteps)}, w={guidance_scale:g}"
    test_features = judge_features(judge, test_ds.images)  # once for the three rows
    report = evaluate_samples(judge, x, labels, test_ds.images, name=label, train_images=train_ds.images,
                              test_labels=test_ds.labels, cas=cas, reference_features=test_features)
    floor, ceiling = reference_rows(judge, train_ds.images, train_ds.labels, test_ds.images, num_samples,
                                    torch.Generator().manual_seed(0), test_features)
    rows = [floor.row(), ceiling.row(), {**report.row(), "sample_seconds": round(sample_seconds, 1)}]
    return {"rows": rows, "accuracy": report.accuracy, "frechet": report.frechet, "frechet_floor": floor.frechet,
            "grain": background_grain(x), "grain_floor": background_grain(test_ds.images), "cas": report.cas,
            "memorisation": report.memorisation, "num_samples": num_samples,
            "judge_test_accuracy": judge_info.get("test_accuracy"), "per_class": report.per_class}


def evaluate_checkpoint(path: str | Path, *, num_samples: int = 1000, sampler: SamplerName | None = None, steps: int = 50,
                        eta: float = 0.0, guidance: float = DEFAULT_GUIDANCE, precision: str = "auto", seed: int = 0,
                        device: str | None = None, cas: bool = False, judge_path: str | Path | None = None,
                        dataset: str = "mnist-5k") -> dict[str, Any]:
    """``python -m ddpm_lib evaluate``: print the metrics table for a checkpoint's samples (sampler None: ddim, or heun
    for a flow-matching model)."""
    check_num_samples(num_samples, "--num-samples")
    dev = choose_device(device)
    g = make_generator(seed, dev)
    model, path_of_model, info = load_model(path, dev)
    schedule = path_of_model or NoiseSchedule().to(dev)
    decoder = codec_for_checkpoint(path, info, dev)
    result = judge_model(model, schedule, num_samples=num_samples, steps=steps, guidance_scale=guidance,
                         sampler=sampler or default_sampler(schedule), eta=eta, generator=g, precision=precision, cas=cas, judge_path=judge_path,
                         dataset=dataset, decoder=decoder)
    print(format_table(result["rows"]))
    print(grain_line(result))
    return {"command": "evaluate", "checkpoint": str(path), **{k: v for k, v in result.items() if k != "rows"},
            "rows": result["rows"]}
