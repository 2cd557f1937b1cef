"""Training: the loss of Algorithm 1, EMA, the fast CPU path, checkpoints and exact resume.

Taught in ``notebooks/04_training.ipynb``.

Every random choice of step ``k`` (which images, which t, which noise, which labels are dropped)
comes from a generator seeded with (seed, k), so a run that stops and resumes from a checkpoint
reproduces the uninterrupted run exactly.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_training_state, save_model, save_training_state
from .config import TrainConfig
from .data import ImageDataset
from .files import remove_stale_temps
from .runtime import ResolvedPrecision, autocast, choose_device, progress_disabled, resolve_precision
from .schedule import NoiseSchedule

STATE_FILE = "train_state.pt"
WEIGHTS_FILE = "model.safetensors"
STATE_KEYS = ("model", "ema", "optimizer", "step", "history")


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite; training stopped before writing anything bad."""


def diffusion_loss(model: Callable[..., torch.Tensor], schedule: NoiseSchedule, x0: torch.Tensor, *, labels: torch.Tensor | None = None,
                   p_uncond: float = 0.0, generator: torch.Generator | None = None,
                   t: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
    """L_simple of Algorithm 1: E_{t, x0, eps} || eps - eps_theta(sqrt(a_t) x0 + sqrt(1 - a_t) eps, t) ||^2.

    x0: (B, C, H, W) in [-1, 1]; t ~ Uniform{0..T-1} and eps ~ N(0, I) unless given. With labels,
    each label is replaced by the model's null label with probability ``p_uncond`` (so the same
    model learns the unconditional eps for classifier-free guidance); labels may also be
    (B, L) prompt token ids, dropped row by row. Returns a scalar.
    """
    b, device = x0.shape[0], x0.device
    if t is None:
        t = torch.randint(0, schedule.num_timesteps, (b,), generator=generator, device=device)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=device)
    if labels is not None and p_uncond > 0:
        drop = torch.rand(b, generator=generator, device=device) < p_uncond
        drop = drop.reshape(b, *([1] * (labels.ndim - 1)))  # labels may be (B,) classes or (B, L) prompt tokens
        null_label = int(getattr(model, "null_label"))
        labels = torch.where(drop, torch.full_like(labels, null_label), labels)
    xt = schedule.q_sample(x0, t, noise)
    eps = model(xt, t, labels) if labels is not None else model(xt, t)
    return F.mse_loss(eps.float(), noise)


class EMA:
    """Exponential moving average of a model's weights: theta_ema <- d theta_ema + (1 - d) theta.

    The decay warms up as d_k = min(decay, (1 + k) / (10 + k)) so that early averages are not stuck
    at the random initial weights. ``ema.model`` is a full copy used for sampling.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.num_updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        ema_params: list[torch.Tensor] = list(self.model.parameters())
        params: list[torch.Tensor] = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1 - d)
        for eb, b in zip(self.model.buffers(), model.buffers()):
            eb.copy_(b)
        self.num_updates += 1

    def state_dict(self) -> dict[str, object]:
        return {"decay": self.decay, "num_updates": self.num_updates, "weights": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        self.model.load_state_dict(state["weights"])


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 10% of ``lr`` at ``steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def batch_indices(step: int, num_items: int, batch_size: int, seed: int) -> torch.Tensor:
    """Indices of the images in batch ``step``: epochs of seeded permutations, a function of ``step`` alone."""
    per_epoch = max(1, num_items // batch_size)
    epoch, pos = divmod(step, per_epoch)
    perm = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return perm[pos * batch_size:(pos + 1) * batch_size]


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model, its EMA, the loss history and speed."""

    model: nn.Module
    ema: EMA
    history: list[tuple[int, float]] = field(default_factory=list)
    steps_done: int = 0
    seconds: float = 0.0
    images_per_second: float = 0.0
    precision: str = "fp32"

    def summary(self) -> dict[str, object]:
        return {"steps": self.steps_done, "seconds": round(self.seconds, 2),
                "images_per_second": round(self.images_per_second, 1), "precision": self.precision,
                "final_loss": self.history[-1][1] if self.history else None}


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, schedule: NoiseSchedule, x0: torch.Tensor, *,
                  labels: torch.Tensor | None, p_uncond: float, grad_clip: float, precision: ResolvedPrecision,
                  generator: torch.Generator | None = None, forward: Callable[..., torch.Tensor] | None = None) -> float:
    """One step of Algorithm 1 under autocast: loss, backward, clipping, optimiser step. Returns the loss.

    ``forward`` is the callable used for the loss (a ``torch.compile`` of ``model``); the
    optimiser and clipping act on ``model``'s parameters. A non-finite loss is returned without
    touching the weights, so the caller can stop before anything bad is written.
    """
    with autocast(x0.device, precision):
        loss = diffusion_loss(forward or model, schedule, x0, labels=labels, p_uncond=p_uncond, generator=generator)
    value = loss.detach().item()
    if not math.isfinite(value):
        return value
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return value


def _step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 7_919 + step + 1)


def _check_state(state: dict[str, Any], path: Path) -> None:
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path} is not a complete training state: it lacks {missing} (it has "
                              f"{sorted(state)[:8]}); it was not written by ddpm_lib.train. Delete it, or drop "
                              f"--resume to start afresh")


def _load_or_explain(module: nn.Module | torch.optim.Optimizer | EMA, state: Any, what: str, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else (first[0] if first else type(err).__name__)
        raise CheckpointError(f"the {what} saved in {path} does not fit this model ({detail}); it was trained with "
                              f"another model config (width, levels, classes). Resume with the same settings, or "
                              f"use a new --checkpoint-dir") from None


def train(model: nn.Module, schedule: NoiseSchedule, dataset: ImageDataset, config: TrainConfig, *,
          device: str | torch.device | None = None, checkpoint_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True, callback: Callable[[int, float], None] | None = None,
          conditional: bool | None = None) -> TrainResult:
    """Train ``model`` to predict noise (Algorithm 1) with AdamW, warm-up, clipping and EMA.

    Args:
        model: a :class:`~ddpm_lib.unet.SimpleUNet` or :class:`~ddpm_lib.text.TextConditionedUNet`.
        conditional: use labels (with dropout ``p_uncond``); default: whenever the model has classes.
        checkpoint_dir: every ``checkpoint_every`` steps and at the end, write ``train_state.pt``
            (model, EMA, optimizer, step) and ``model.safetensors`` (EMA weights) there, atomically.
        resume: continue from ``checkpoint_dir/train_state.pt``; the result equals an uninterrupted run.
        callback: called as ``callback(step, loss)`` after every step (for live plots).

    Raises :class:`TrainingDivergedError` on a non-finite loss, leaving the last checkpoint intact.
    """
    device = choose_device(device)
    precision = resolve_precision(config.precision, device)
    num_classes = getattr(model, "num_classes", None)
    conditional = (num_classes is not None) if conditional is None else conditional
    if conditional and num_classes is None:
        raise ValueError("conditional training needs a model built with num_classes")
    if len(dataset) < config.batch_size:
        raise ValueError(f"batch_size {config.batch_size} is larger than the dataset ({len(dataset)} images); "
                         f"use a batch size of at most {len(dataset)}")
    in_channels = getattr(model, "in_channels", dataset.images.shape[1])
    if dataset.images.shape[1] != in_channels:
        raise ValueError(f"the dataset {dataset.name!r} has {dataset.images.shape[1]} channel(s) but the model "
                         f"expects {in_channels}; build the model with in_channels={dataset.images.shape[1]}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir")
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    state = None
    if resume and ckpt is not None:
        state = load_training_state(ckpt / STATE_FILE)
        _check_state(state, ckpt / STATE_FILE)
        if int(state["step"]) >= config.steps:
            raise ValueError(f"the checkpoint {ckpt / STATE_FILE} is at step {int(state['step'])}, nothing left to do "
                             f"for steps={config.steps}; raise --steps to train longer")
    model.to(device)
    schedule.to(device)
    memory_format = torch.channels_last if (config.channels_last and precision != "fp32") else torch.contiguous_format
    model.to(memory_format=memory_format)
    ema = EMA(model, config.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    images, labels = dataset.images, dataset.labels

    start, history = 0, []
    if state is not None and ckpt is not None:
        path = ckpt / STATE_FILE
        _load_or_explain(model, state["model"], "model", path)
        _load_or_explain(ema, state["ema"], "EMA model", path)
        _load_or_explain(optimizer, state["optimizer"], "optimizer state", path)
        start = int(state["step"])
        history = [(int(s), float(v)) for s, v in state["history"].tolist()]
    if ckpt is not None:
        for name in (STATE_FILE, WEIGHTS_FILE):
            remove_stale_temps(ckpt / name)  # left by a run that was killed mid-write

    def write_checkpoint(step: int) -> None:
        if ckpt is None:
            return
        save_training_state(ckpt / STATE_FILE, {
            "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
            "step": step, "history": torch.tensor(history, dtype=torch.float64).reshape(-1, 2),
            "config": asdict(config)})
        save_model(model, ckpt / WEIGHTS_FILE, schedule, state_dict=ema.model.state_dict(), steps=step,
                   train_config=asdict(config), weights="ema")

    forward = torch.compile(model) if config.compile else model
    model.train()
    t0 = time.perf_counter()
    bar = tqdm(range(start, config.steps), desc="training", disable=progress_disabled(progress), initial=start, total=config.steps)
    for step in bar:
        g = _step_generator(config.seed, step, device)
        idx = batch_indices(step, len(images), config.batch_size, config.seed)
        x0 = images[idx].to(device, non_blocking=True).contiguous(memory_format=memory_format)
        y = labels[idx].to(device) if conditional else None
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        value = training_step(model, optimizer, schedule, x0, labels=y, p_uncond=config.p_uncond,
                              grad_clip=config.grad_clip, precision=precision, generator=g, forward=forward)
        if not math.isfinite(value):
            saved = ckpt is not None and (ckpt / STATE_FILE).is_file()
            last = (f"the last checkpoint in {ckpt} is intact (resume with --resume)" if saved
                    else "no checkpoint was written yet")
            raise TrainingDivergedError(
                f"loss became {value} at step {step} (lr {lr_at(step, config):.2e}, precision {precision}); {last}. "
                f"Likely causes: learning rate too high (try --lr {config.lr / 3:.1e}), data outside [-1, 1], "
                f"or fp16 overflow (try --precision fp32).")
        ema.update(model)
        history.append((step, value))
        if callback is not None:
            callback(step, value)
        done = step + 1 - start
        elapsed = time.perf_counter() - t0
        if progress and (step % 10 == 0 or step + 1 == config.steps):
            bar.set_postfix(loss=f"{value:.4f}", img_s=f"{done * config.batch_size / elapsed:.0f}")
        if ckpt is not None and (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            write_checkpoint(step + 1)
    bar.close()
    seconds = time.perf_counter() - t0
    write_checkpoint(config.steps)
    model.to(memory_format=torch.contiguous_format)
    ema.model.to(memory_format=torch.contiguous_format)
    done = config.steps - start
    return TrainResult(model=model, ema=ema, history=history, steps_done=config.steps, seconds=seconds,
                       images_per_second=done * config.batch_size / max(seconds, 1e-9), precision=precision)
