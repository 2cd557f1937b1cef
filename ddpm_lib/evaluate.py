"""The judge: a small CNN classifier and the numbers every notebook, the Quest and ``bench`` report.

Taught in ``notebooks/05_sampling.ipynb`` (scores of what was drawn) and used from notebook 01 on.

FID's Inception network cannot be downloaded offline and knows little about 32x32 digits, so
the course trains its own judge and measures, on the judge's terms:

* conditional accuracy: the share of samples generated for digit d that the judge calls d;
* Frechet distance between Gaussians fitted to judge features of samples and of real images;
* Classification Accuracy Score (CAS): a fresh classifier trained on samples only, tested on real;
* memorisation: how close each sample lies to its nearest training image, against the same for
  held-out real images.

The second half runs these end to end: :func:`judge_model` scores a model's samples and
:func:`evaluate_checkpoint` is ``python -m ddpm_lib evaluate``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_model, load_weights, safetensors_metadata, save_weights
from .config import DEFAULT_GUIDANCE
from .data import load_dataset
from .flow import FlowPath
from .linear import LinearNoisePredictor, PCACodec
from .paths import JUDGE_PATH
from .runtime import check_seed, choose_device, in_batches, make_generator, progress_disabled, seeded
from .latent import codec_for_checkpoint
from .generation import LatentDecoder, default_sampler, generate, sampler_name
from .sample import NoisePredictor, sample_ddim
from .schedule import DiffusionPath, NoiseSchedule
from .validate import MIN_EVAL_SAMPLES, SamplerName, check_num_samples, check_request, check_whole

JUDGE_FORMAT = "ddpm_lib.judge.v1"


class JudgeNet(nn.Module):
    """CNN for 1x32x32 digits in [-1, 1]: three conv stages with BatchNorm, then a linear head.

    ``features(x)``: (B, 128) penultimate activations (for Frechet distance);
    ``forward(x)``: (B, num_classes) logits.
    """

    feature_dim = 128

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()

        def conv(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *conv(in_channels, 32), *conv(32, 32), nn.MaxPool2d(2),  # 16x16
            *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2),  # 8x8
            *conv(64, 128), *conv(128, 128), nn.MaxPool2d(2),  # 4x4
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.feature_dim, num_classes))
        self.in_channels = in_channels
        self.num_classes = num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(x))
        return out


def check_images(images: torch.Tensor, channels: int = 1, what: str = "images") -> torch.Tensor:
    """Validate a batch for the judge: (N, C, 32, 32), N > 0, finite, values in [-1, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1:] != (channels, 32, 32):
        raise ValueError(f"{what} must have shape (N, {channels}, 32, 32), got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError(f"{what} is empty: need at least one image")
    if not torch.isfinite(images).all():
        raise ValueError(f"{what} contain NaN or inf values")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1.01 or hi > 1.01:
        raise ValueError(f"{what} must lie in [-1, 1] (the model range), got [{lo:.3g}, {hi:.3g}]; "
                         f"map [0, 1] pixels with 2 x - 1")
    return images


def random_affine(x: torch.Tensor, generator: torch.Generator, max_degrees: float = 10.0,
                  max_shift: float = 0.1, scale: tuple[float, float] = (0.9, 1.1)) -> torch.Tensor:
    """Light augmentation: a random rotation, scale and shift per image (background stays -1)."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(max_degrees)
    s = torch.empty(b).uniform_(*scale, generator=generator)
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * max_shift * 2
    cos, sin = angle.cos() / s, angle.sin() / s
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


def add_pixel_noise(x: torch.Tensor, generator: torch.Generator, max_std: float, share: float = 0.5) -> torch.Tensor:
    """Add N(0, s^2) noise, s ~ U(0, max_std), to a random ``share`` of the images (clamped to [-1, 1]).

    Generated digits often keep faint background speckle; a judge that never saw any reads them
    poorly although a person reads them at once. This makes the judge score shapes, not grain.
    """
    b = x.shape[0]
    s = torch.rand(b, generator=generator) * max_std * (torch.rand(b, generator=generator) < share)
    return (x + s.reshape(b, 1, 1, 1) * torch.randn(x.shape, generator=generator)).clamp(-1, 1)


@dataclass
class JudgeTraining:
    """Recipe of :func:`train_classifier` (recorded beside the shipped weights)."""

    epochs: int = 30
    batch_size: int = 128
    max_lr: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    augment: bool = True
    noise_std: float = 0.3  # half of each batch gets N(0, s^2) pixel noise, s ~ U(0, noise_std)
    seed: int = 0


def train_classifier(images: torch.Tensor, labels: torch.Tensor, recipe: JudgeTraining = JudgeTraining(), *,
                     num_classes: int = 10, device: str | torch.device = "cpu", progress: bool = False) -> JudgeNet:
    """Train a fresh :class:`JudgeNet` on (images, labels): AdamW, one-cycle LR, label smoothing, affine augmentation."""
    check_images(images, images.shape[1] if images.ndim == 4 else 1, what="training images")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
    device = torch.device(device)
    check_whole("JudgeTraining field 'epochs'", recipe.epochs, 1)
    check_whole("JudgeTraining field 'batch_size'", recipe.batch_size, 1)
    g = torch.Generator().manual_seed(recipe.seed)
    with seeded(recipe.seed):  # weight initialisation and dropout have no generator argument
        return _fit_classifier(images, labels, recipe, num_classes, device, g, progress)


def _fit_classifier(images: torch.Tensor, labels: torch.Tensor, recipe: JudgeTraining, num_classes: int,
                    device: torch.device, g: torch.Generator, progress: bool) -> JudgeNet:
    net = JudgeNet(images.shape[1], num_classes).to(device)
    steps_per_epoch = max(1, images.shape[0] // recipe.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.max_lr, total_steps=recipe.epochs * steps_per_epoch)
    net.train()
    for _ in tqdm(range(recipe.epochs), desc="judge epochs", disable=progress_disabled(progress), leave=False):
        perm = torch.randperm(images.shape[0], generator=g)
        for i in range(steps_per_epoch):
            idx = perm[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            x = images[idx]
            if recipe.augment:
                x = random_affine(x, g)
                if recipe.noise_std > 0:
                    x = add_pixel_noise(x, g, recipe.noise_std)
            loss = F.cross_entropy(net(x.to(device)), labels[idx].to(device), label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


def judge_logits(judge: JudgeNet, images: torch.Tensor) -> torch.Tensor:
    """(N, num_classes) logits of ``judge`` (in eval mode) for images in [-1, 1]."""
    check_images(images, judge.in_channels)
    device = next(judge.parameters()).device
    judge.eval()
    return in_batches(lambda b: judge(b.to(device)).float().cpu(), images)


def judge_features(judge: JudgeNet, images: torch.Tensor) -> torch.Tensor:
    """(N, 128) penultimate features of ``judge`` for images in [-1, 1]."""
    check_images(images, judge.in_channels)
    device = next(judge.parameters()).device
    judge.eval()
    return in_batches(lambda b: judge.features(b.to(device)).double().cpu(), images)


def accuracy(judge: JudgeNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``images`` the judge assigns to ``labels``."""
    return float((judge_logits(judge, images).argmax(1) == labels.cpu()).double().mean())


def conditional_accuracy(judge: JudgeNet, images: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Share of images made for class d that the judge calls d: overall, per class, and the count used."""
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
    pred = judge_logits(judge, images).argmax(1)
    labels = labels.cpu()
    per_class = {int(c): float((pred[labels == c] == c).double().mean()) for c in labels.unique()}
    return {"accuracy": float((pred == labels).double().mean()), "per_class": per_class, "num_samples": int(len(labels))}


def background_grain(images: torch.Tensor, stroke: float = 0.5, margin: int = 3) -> float:
    """Mean brightness (0 black, 1 white) of the background: pixels farther than ``margin`` from any stroke.

    images: (N, C, H, W) in [-1, 1], shown as u = (x + 1) / 2 clipped to [0, 1]. A stroke pixel has
    u > ``stroke``; a pixel is background when no stroke pixel lies in the (2 margin + 1)^2 square
    around it. MNIST's background is exactly black, so real digits score about 1e-5; the speckle a
    half-trained model leaves between the strokes (the Quest's "grain") raises the score, which the
    Fréchet distance only sees mixed with every other difference. Images with no background at all
    (every pixel near a stroke, as in pure noise) score 1, the worst.
    """
    check_images(images, images.shape[1] if isinstance(images, torch.Tensor) and images.ndim == 4 else 1)
    u = ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)
    near = F.max_pool2d((u > stroke).float(), 2 * margin + 1, stride=1, padding=margin) > 0
    background = u[~near]
    return float(background.mean()) if background.numel() else 1.0  # no black left anywhere (noise): the worst


def grain_line(scores: dict[str, Any]) -> str:
    """The sentence the Quest and ``evaluate`` print under their tables: the samples' grain beside real digits'."""
    return (f"background grain (mean brightness away from the strokes, 0 black to 1 white): {scores['grain']:.4f}; "
            f"real digits {scores['grain_floor']:.4f}")


def _sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m)
    out: torch.Tensor = (vecs * vals.clamp(min=0).sqrt()) @ vecs.T
    return out


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2) between Gaussians fitted to two (N, D) sets."""
    for name, f in (("feats_a", feats_a), ("feats_b", feats_b)):
        if f.ndim != 2 or f.shape[0] < 2:
            raise ValueError(f"{name} must be (N, D) with N >= 2, got {tuple(f.shape)}")
    if feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"feature sizes differ: {feats_a.shape[1]} vs {feats_b.shape[1]}")
    a, b = feats_a.double(), feats_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    s = _sqrtm_psd(cov_a)
    covmean_trace = torch.linalg.eigvalsh(s @ cov_b @ s).clamp(min=0).sqrt().sum()
    fd = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * covmean_trace
    return float(fd.clamp(min=0))


def judge_frechet_distance(judge: JudgeNet, images: torch.Tensor, reference: torch.Tensor) -> float:
    """Frechet distance between the judge features of ``images`` and of ``reference`` images."""
    return frechet_distance(judge_features(judge, images), judge_features(judge, reference))


def nearest_distances(queries: torch.Tensor, pool: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """(N,) Euclidean pixel distance from each query image to its nearest image in ``pool``.

    The nearest image is found with |q|^2 + |p|^2 - 2 q.p (one matrix product), then its distance
    is recomputed directly, since that expansion loses precision for near-identical images.
    """
    q = queries.flatten(1).float()
    p = pool.flatten(1).float()
    p_sq = p.square().sum(1)
    out = []
    for i in range(0, q.shape[0], batch_size):
        qb = q[i:i + batch_size]
        nearest = (p_sq[None] - 2 * qb @ p.T).argmin(1)
        out.append((qb - p[nearest]).norm(dim=1))
    return torch.cat(out)


def memorisation(samples: torch.Tensor, train_images: torch.Tensor, heldout_images: torch.Tensor,
                 quantile: float = 0.01) -> dict[str, float]:
    """Do samples sit closer to training images than fresh real images do?

    Returns the median nearest-training-image distance of samples and of held-out real images,
    their ratio, and ``copied_fraction``: the share of samples nearer to a training image than
    all but ``quantile`` of held-out images are (about ``quantile`` for a model that does not copy,
    near 1 for one that returns its training set).
    """
    for name, x in (("samples", samples), ("train_images", train_images), ("heldout_images", heldout_images)):
        check_images(x, samples.shape[1] if samples.ndim == 4 else 1, name)
    d_samples = nearest_distances(samples, train_images)
    d_heldout = nearest_distances(heldout_images, train_images)
    threshold = torch.quantile(d_heldout, quantile)
    return {"sample_nn_median": float(d_samples.median()), "heldout_nn_median": float(d_heldout.median()),
            "nn_ratio": float(d_samples.median() / d_heldout.median().clamp(min=1e-12)),
            "copied_fraction": float((d_samples < threshold).double().mean()), "num_samples": int(len(samples))}


def classification_accuracy_score(images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor,
                                  test_labels: torch.Tensor, recipe: JudgeTraining | None = None,
                                  device: str | torch.device = "cpu") -> float:
    """CAS: train a fresh classifier on (generated) ``images`` only, return its accuracy on real test images."""
    recipe = recipe or JudgeTraining(epochs=10)
    net = train_classifier(images, labels, recipe, device=device)
    return accuracy(net, test_images, test_labels)


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
    """Every metric for ``samples`` against real ``reference`` (held-out) images.

    Conditional accuracy needs ``labels``; memorisation needs ``train_images``; CAS (slow: trains
    a classifier) needs ``cas=True``, ``labels`` and ``test_labels`` for the reference images.
    ``reference_features``: ``judge_features(judge, reference)`` when the caller already has them
    (several sample sets scored against one reference pay for its features once).
    """
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


def balanced_subset(labels: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of ``n`` images drawn evenly from every class (a random order inside each class).

    Datasets sorted by label (like ``mnist-5k``) make ``images[:n]`` a biased reference; this is not.
    """
    classes = labels.unique()
    per_class = -(-n // len(classes))
    picks = []
    for c in classes.tolist():
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} images, fewer than the {per_class} needed for {n} images")
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    order = torch.stack(picks, 1).flatten()  # interleave classes: 0, 1, ..., 9, 0, 1, ...
    return order[:n]


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


def save_judge(judge: JudgeNet, path: str | Path, **info: Any) -> Path:
    """Write the judge's weights and recipe/accuracy (JSON metadata) atomically as safetensors."""
    return save_weights(path, judge.state_dict(), {
        "format": JUDGE_FORMAT, "in_channels": str(judge.in_channels), "num_classes": str(judge.num_classes),
        "info": json.dumps(info, default=str)})


def load_judge(path: str | Path | None = None, device: str | torch.device = "cpu") -> tuple[JudgeNet, dict[str, Any]]:
    """Load the shipped judge (``ddpm_lib/weights/judge.safetensors`` by default): (judge in eval mode, info)."""
    path = Path(path) if path is not None else JUDGE_PATH
    if not path.is_file():
        raise FileNotFoundError(f"no judge weights at {path}; train them with `python -m ddpm_lib train-judge`")
    meta = safetensors_metadata(path, "judge weights", "train them with `python -m ddpm_lib train-judge`",
                                "`python -m ddpm_lib train-judge`")
    if meta.get("format") != JUDGE_FORMAT:
        raise CheckpointError(f"{path} is not judge weights (format {meta.get('format')!r}, expected {JUDGE_FORMAT!r})")
    with seeded(0):  # the random initialisation is overwritten; the caller's random state is kept
        judge = JudgeNet(int(meta["in_channels"]), int(meta["num_classes"]))
    load_weights(judge, path)
    return judge.to(device).eval(), json.loads(meta.get("info", "{}"))


# -- scoring models end to end ----------------------------------------------------------------------
def balanced_labels(num_samples: int, num_classes: int = 10) -> torch.Tensor:
    """0, 1, ..., 9, 0, 1, ... : ``num_samples`` labels spread evenly over the classes."""
    return torch.arange(num_samples) % num_classes


def judge_model(model: NoisePredictor, schedule: DiffusionPath, *, num_samples: int, steps: int,
                guidance_scale: float, sampler: SamplerName = "ddim", eta: float = 0.0,
                generator: torch.Generator | None = None, precision: str = "auto", cas: bool = False,
                judge_path: str | Path | None = None, name: str | None = None,
                progress: bool = True, dataset: str = "mnist-5k", root: str | Path = "data",
                decoder: LatentDecoder | None = None) -> dict[str, Any]:
    """Generate ``num_samples`` balanced samples and score them with the judge against ``dataset``'s test split.

    ``decoder``: for a latent diffusion model, what turns its latents into images (see
    :func:`~ddpm_lib.sample.generate`); the judge scores the decoded images.

    Returns the table rows (floor, ceiling, samples) and the sample's scores. Every argument is
    checked, and the judge and data loaded, before the first sample is drawn. For a dataset other
    than digits, pass a judge trained on it (``python -m ddpm_lib train-judge --dataset ...``).
    """
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
