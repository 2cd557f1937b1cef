"""Training: the loss of Algorithm 1, EMA, the fast CPU path, checkpoints and exact resume (notebook 04).

Every random choice of step ``k`` comes from a generator seeded with (seed, k), so a resumed run reproduces the
uninterrupted one exactly, with no random state to save; in a data-parallel run every process draws the same
global batch and keeps its share, so N processes reproduce one process's run.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_training_state, save_model, save_training_state
from .config import TrainConfig
from .data import ImageDataset
from .distributed import DistributedContext, DistributedError, average, barrier
from .files import remove_stale_temps
from .runtime import ResolvedPrecision, autocast, choose_device, progress_disabled, resolve_precision
from .schedule import DiffusionPath, NoiseSchedule, extract

STATE_FILE = "train_state.pt"
WEIGHTS_FILE = "model.safetensors"
STATE_KEYS = ("model", "ema", "optimizer", "step", "history")


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite; training stopped before writing anything bad."""


@dataclass
class StepNoise:
    """One training step's randomness, drawn in one fixed order: t (B,) ~ Uniform{0..T-1}, noise (B, C, H, W) ~ N(0, I),
    drop (B,) True where the label becomes the null label (None when none is dropped)."""

    t: torch.Tensor
    noise: torch.Tensor
    drop: torch.Tensor | None

    @classmethod
    def draw(cls, generator: torch.Generator | None, shape: torch.Size | tuple[int, ...], num_timesteps: int,
             p_uncond: float, device: torch.device) -> "StepNoise":
        b = shape[0]
        t = torch.randint(0, num_timesteps, (b,), generator=generator, device=device)
        noise = torch.randn(shape, generator=generator, device=device)
        drop = torch.rand(b, generator=generator, device=device) < p_uncond if p_uncond > 0 else None
        return cls(t, noise, drop)

    def rows(self, index: slice) -> "StepNoise":
        """The randomness of rows ``index`` of the batch (one process's share)."""
        return StepNoise(self.t[index], self.noise[index], None if self.drop is None else self.drop[index])


def diffusion_loss(model: Callable[..., torch.Tensor], schedule: DiffusionPath, x0: torch.Tensor, *,
                   labels: torch.Tensor | None = None, p_uncond: float = 0.0, generator: torch.Generator | None = None,
                   t: torch.Tensor | None = None, noise: torch.Tensor | None = None, drop: torch.Tensor | None = None,
                   null_label: int | None = None, min_snr_gamma: float = 0.0) -> torch.Tensor:
    """L_simple of Algorithm 1: E_{t, x0, eps} || eps - eps_theta(sqrt(a_t) x0 + sqrt(1 - a_t) eps, t) ||^2, a scalar.

    x0: (B, C, H, W); t ~ Uniform{0..T-1} and eps ~ N(0, I) unless given. Labels ((B,) classes or (B, L) prompt
    tokens) become ``null_label`` with probability ``p_uncond`` (or where ``drop``), for classifier-free guidance.
    ``min_snr_gamma`` > 0 weights each image by :func:`min_snr_weight`. On a :class:`~ddpm_lib.flow.FlowPath` the same
    lines give flow matching's E || v_theta(x_s, s) - (eps - x0) ||^2.
    """
    b, device = x0.shape[0], x0.device
    if t is None:
        t = torch.randint(0, schedule.num_timesteps, (b,), generator=generator, device=device)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=device)
    if labels is not None and drop is None and p_uncond > 0:
        drop = torch.rand(b, generator=generator, device=device) < p_uncond
    if labels is not None and drop is not None:
        drop = drop.reshape(b, *([1] * (labels.ndim - 1)))  # labels may be (B,) classes or (B, L) prompt tokens
        null = int(getattr(model, "null_label")) if null_label is None else null_label
        labels = torch.where(drop, torch.full_like(labels, null), labels)
    xt = schedule.q_sample(x0, t, noise)
    target = schedule.training_target(x0, noise)
    out = model(xt, t, labels) if labels is not None else model(xt, t)
    if min_snr_gamma <= 0:
        return F.mse_loss(out.float(), target)
    schedule = check_loss_weighting(schedule, min_snr_gamma)
    per_image = (out.float() - target).square().flatten(1).mean(1)
    return (min_snr_weight(schedule, t, min_snr_gamma) * per_image).mean()


def check_loss_weighting(schedule: DiffusionPath, min_snr_gamma: float) -> NoiseSchedule:
    """The DDPM schedule that min-SNR weighting needs, else ``ValueError`` (a flow path's loss takes no weight)."""
    if not isinstance(schedule, NoiseSchedule):
        raise ValueError(f"min_snr_gamma={min_snr_gamma:g} weights DDPM's eps loss; the {schedule.kind} path's "
                         f"velocity loss takes none: set min_snr_gamma=0 (--min-snr-gamma 0)")
    return schedule


def min_snr_weight(schedule: NoiseSchedule, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma weight of the eps loss (Hang et al. 2023): w(t) = min(SNR(t), gamma) / SNR(t), shape (B,).

    SNR(t) = alpha_bar_t / (1 - alpha_bar_t) and ||x0 - x0_hat||^2 = ||eps - eps_hat||^2 / SNR(t): the x0 loss
    weighted by min(SNR, gamma), so the nearly clean levels stop dominating the gradient.
    """
    snr = extract(schedule.snr, t, t.shape).float()
    return snr.clamp(max=gamma) / snr


class EMA:
    """theta_ema <- d theta_ema + (1 - d) theta, d_k = min(decay, (1 + k) / (10 + k)); ``ema.model`` samples."""

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
    world_size: int = 1

    def summary(self) -> dict[str, object]:
        """steps, seconds, images/s of the whole run (all processes), precision, processes, final loss."""
        return {"steps": self.steps_done, "seconds": round(self.seconds, 2),
                "images_per_second": round(self.images_per_second, 1), "precision": self.precision,
                "world_size": self.world_size, "final_loss": self.history[-1][1] if self.history else None}


def needs_grad_scaler(precision: ResolvedPrecision) -> bool:
    """fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range and needs none."""
    return precision == "fp16"


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, schedule: DiffusionPath, x0: torch.Tensor, *,
                  labels: torch.Tensor | None, noise: StepNoise, grad_clip: float, precision: ResolvedPrecision,
                  forward: Callable[..., torch.Tensor] | None = None,
                  average: Callable[[torch.Tensor], torch.Tensor] | None = None,
                  scaler: torch.amp.GradScaler | None = None, min_snr_gamma: float = 0.0) -> float:
    """One step of Algorithm 1 under autocast: loss, backward, clipping, optimiser step. Returns the loss.

    ``noise``: the step's t, eps and dropped labels. ``forward``: what computes the loss (a compiled or DDP
    wrapper of ``model``). ``average``: the loss's mean over all processes. ``scaler``: fp16 loss scaling. A
    non-finite loss is returned without touching the weights.
    """
    null_label = getattr(model, "null_label", None) if labels is not None else None
    with autocast(x0.device, precision):
        # `forward or model` would ask a torch.compile wrapper for its truth value, which it cannot give (len())
        net = model if forward is None else forward
        loss = diffusion_loss(net, schedule, x0, labels=labels, t=noise.t, noise=noise.noise, drop=noise.drop,
                              null_label=null_label, min_snr_gamma=min_snr_gamma)
    shared = loss.detach() if average is None else average(loss.detach())
    value = shared.item()
    if not math.isfinite(value):
        return value
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return value


def check_run(model: nn.Module, schedule: DiffusionPath, dataset: ImageDataset, config: TrainConfig,
              conditional: bool, resume: bool, checkpoint_dir: str | Path | None) -> None:
    """Everything :func:`train` is given that could fail later, refused before the first step."""
    if conditional and getattr(model, "num_classes", None) is None:
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
    if config.min_snr_gamma > 0:
        check_loss_weighting(schedule, config.min_snr_gamma)


def _load_or_explain(module: nn.Module | torch.optim.Optimizer | EMA, state: Any, what: str, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else (first[0] if first else type(err).__name__)
        raise CheckpointError(f"the {what} saved in {path} does not fit this model ({detail}); it was trained with "
                              f"another model config (width, levels, classes). Resume with the same settings, or "
                              f"use a new --checkpoint-dir") from None


def read_resume_state(ckpt: Path, config: TrainConfig) -> dict[str, Any]:
    """The training state an interrupted run left in ``ckpt``, checked before anything is built."""
    state = load_training_state(ckpt / STATE_FILE)
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{ckpt / STATE_FILE} is not a complete training state: it lacks {missing} (it has "
                              f"{sorted(state)[:8]}); it was not written by ddpm_lib.train. Delete it, or drop "
                              f"--resume to start afresh")
    if int(state["step"]) >= config.steps:
        raise ValueError(f"the checkpoint {ckpt / STATE_FILE} is at step {int(state['step'])}, nothing left to do "
                         f"for steps={config.steps}; raise --steps to train longer")
    return state


def restore(state: dict[str, Any], path: Path, model: nn.Module, ema: EMA, optimizer: torch.optim.Optimizer,
            scaler: torch.amp.GradScaler | None) -> tuple[int, list[tuple[int, float]]]:
    """Load a training state into the run's parts; returns (the step to continue from, the loss history)."""
    _load_or_explain(model, state["model"], "model", path)
    _load_or_explain(ema, state["ema"], "EMA model", path)
    _load_or_explain(optimizer, state["optimizer"], "optimizer state", path)
    if scaler is not None and "grad_scaler" in state:
        scaler.load_state_dict(state["grad_scaler"])
    return int(state["step"]), [(int(s), float(v)) for s, v in state["history"].tolist()]


def wrapped_forward(model: nn.Module, ctx: DistributedContext, device: torch.device,
                    compile: bool) -> Callable[..., torch.Tensor]:
    """What computes the loss: ``model``, inside DistributedDataParallel in a data-parallel run (gradients are
    averaged over the processes inside backward()), compiled with ``torch.compile`` when asked."""
    forward: Callable[..., torch.Tensor] = model
    if ctx.enabled:
        forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if compile:
        forward = torch.compile(forward)
    return forward


@contextlib.contextmanager
def peer_failure_explained(ctx: DistributedContext, ckpt: Path | None, step: int) -> Iterator[None]:
    """In a data-parallel run, a collective that fails because another process stopped becomes a
    :class:`DistributedError` that says what to do; in a single process, errors pass unchanged."""
    try:
        yield
    except RuntimeError as err:
        if not ctx.enabled:
            raise
        saved = ckpt is not None and (ckpt / STATE_FILE).is_file()
        last = f"the last checkpoint in {ckpt} is whole" if saved else "no checkpoint was written yet"
        raise DistributedError(
            f"rank {ctx.rank} of {ctx.world_size}: another process of this run stopped during step {step} "
            f"(torchrun's report names the rank that failed first); {last}. Fix that process's error, then "
            f"start the run again with --resume. ({str(err).strip().splitlines()[0][:200]})") from err


def diverged(value: float, step: int, config: TrainConfig, precision: str, ckpt: Path | None) -> TrainingDivergedError:
    """The error for a non-finite loss, naming the step, the checkpoint left intact and the likely fixes."""
    saved = ckpt is not None and (ckpt / STATE_FILE).is_file()
    last = f"the last checkpoint in {ckpt} is intact (resume with --resume)" if saved else "no checkpoint was written yet"
    return TrainingDivergedError(
        f"loss became {value} at step {step} (lr {lr_at(step, config):.2e}, precision {precision}); {last}. "
        f"Likely causes: learning rate too high (try --lr {config.lr / 3:.1e}), data outside [-1, 1], "
        f"or fp16 overflow (try --precision fp32).")


def train(model: nn.Module, schedule: DiffusionPath, dataset: ImageDataset, config: TrainConfig, *,
          device: str | torch.device | None = None, checkpoint_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True, callback: Callable[[int, float], None] | None = None,
          conditional: bool | None = None, dist: DistributedContext | None = None,
          info: dict[str, Any] | None = None) -> TrainResult:
    """Train ``model`` on ``schedule``'s path (eps on a NoiseSchedule, velocity on a FlowPath): Algorithm 1 with
    AdamW, warm-up, clipping and EMA.

    Args:
        conditional: use labels (dropped with ``p_uncond``); default: whenever the model has classes.
        checkpoint_dir: every ``checkpoint_every`` steps and at the end, ``train_state.pt`` and the EMA weights
            ``model.safetensors`` go there, atomically; ``resume`` continues from them exactly.
        callback: ``callback(step, loss)`` after every step. info: extra metadata for the weights file.
        dist: this process's place in a data-parallel run: ``config.batch_size`` is the global batch, each
            process trains on its share, rank 0 writes. Default: one process.

    Raises :class:`TrainingDivergedError` on a non-finite loss, leaving the last checkpoint intact.
    """
    # -- setup: checks first, then the run's parts (model, EMA, optimiser, and an fp16 run's gradient scaler)
    ctx = dist or DistributedContext()
    rows = ctx.batch_slice(config.batch_size)  # checks that the world size divides the batch
    device = choose_device(device)
    precision = resolve_precision(config.precision, device)
    conditional = (getattr(model, "num_classes", None) is not None) if conditional is None else conditional
    check_run(model, schedule, dataset, config, conditional, resume, checkpoint_dir)
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    state = read_resume_state(ckpt, config) if resume and ckpt is not None else None
    model.to(device)
    schedule.to(device)
    memory_format = torch.channels_last if (config.channels_last and precision != "fp32") else torch.contiguous_format
    model.to(memory_format=memory_format)
    ema = EMA(model, config.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler(device.type) if needs_grad_scaler(precision) else None
    start, history = restore(state, ckpt / STATE_FILE, model, ema, optimizer, scaler) if state and ckpt else (0, [])
    if ckpt is not None and ctx.is_main:
        for name in (STATE_FILE, WEIGHTS_FILE):
            remove_stale_temps(ckpt / name)  # left by a run that was killed mid-write

    def write_checkpoint(step: int) -> None:
        if ckpt is None or not ctx.is_main:  # rank 0 writes; every rank holds the same weights
            return
        state = {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                 "step": step, "history": torch.tensor(history, dtype=torch.float64).reshape(-1, 2),
                 "config": asdict(config), "world_size": ctx.world_size}
        if scaler is not None:
            state["grad_scaler"] = scaler.state_dict()
        save_training_state(ckpt / STATE_FILE, state)
        save_model(model, ckpt / WEIGHTS_FILE, schedule, state_dict=ema.model.state_dict(), steps=step,
                   train_config=asdict(config), weights="ema", world_size=ctx.world_size, **(info or {}))

    # -- the loop: Algorithm 1, one seeded batch per step
    forward = wrapped_forward(model, ctx, device, config.compile)
    images, labels, paired = dataset.images, dataset.labels, getattr(dataset, "noise", None)
    model.train()
    t0 = time.perf_counter()
    bar = tqdm(range(start, config.steps), desc="training", disable=progress_disabled(progress), initial=start,
               total=config.steps)
    for step in bar:
        idx = batch_indices(step, len(images), config.batch_size, config.seed)[rows]
        x0 = images[idx].to(device, non_blocking=True).contiguous(memory_format=memory_format)
        y = labels[idx].to(device) if conditional else None
        # the whole global batch's t, eps and dropped labels, in one fixed order; this process keeps its rows
        g = torch.Generator(device=device).manual_seed(config.seed * 7_919 + step + 1)
        noise = StepNoise.draw(g, (config.batch_size, *images.shape[1:]), schedule.num_timesteps,
                               config.p_uncond if conditional else 0.0, device).rows(rows)
        if paired is not None:  # reflow (ddpm_lib.reflow): each image keeps the noise it was drawn from
            noise.noise = paired[idx].to(device)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        with peer_failure_explained(ctx, ckpt, step):
            value = training_step(model, optimizer, schedule, x0, labels=y, grad_clip=config.grad_clip,
                                  precision=precision, noise=noise, forward=forward, scaler=scaler,
                                  min_snr_gamma=config.min_snr_gamma, average=lambda loss: average(ctx, loss))
        if not math.isfinite(value):  # every process sees the same averaged loss, so all stop here
            raise diverged(value, step, config, precision, ckpt)
        ema.update(model)
        history.append((step, value))
        if callback is not None:
            callback(step, value)
        if progress and (step % 10 == 0 or step + 1 == config.steps):
            img_s = (step + 1 - start) * config.batch_size / (time.perf_counter() - t0)
            bar.set_postfix(loss=f"{value:.4f}", img_s=f"{img_s:.0f}")
        if ckpt is not None and (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            write_checkpoint(step + 1)
    bar.close()
    seconds = time.perf_counter() - t0
    write_checkpoint(config.steps)
    barrier(ctx)  # the other ranks return only once rank 0's files are complete
    model.to(memory_format=torch.contiguous_format)
    ema.model.to(memory_format=torch.contiguous_format)
    return TrainResult(model=model, ema=ema, history=history, steps_done=config.steps, seconds=seconds,
                       images_per_second=(config.steps - start) * config.batch_size / max(seconds, 1e-9),
                       precision=precision, world_size=ctx.world_size)
