"""Checks of what a user gives: one wording for every refusal, in the library and on the command line.

Used by ``config`` (every field of ``ModelConfig`` and ``TrainConfig``), ``runtime`` (seeds),
``sample`` (sampler names, steps, eta, guidance, labels), ``evaluate`` and the command line's
argument types. Each check
returns the value it accepted, or raises ``ValueError`` that names what was checked, what is
expected and the value given, e.g. "TrainConfig field 'steps' must be a whole number >= 1, got 0".
"""

from __future__ import annotations

import math
from typing import Literal

import torch

SamplerName = Literal["ddpm", "ddim", "dpm++", "euler", "heun"]
SAMPLERS: tuple[str, ...] = ("ddpm", "ddim", "dpm++", "euler", "heun")
"""ddpm: Algorithm 2 over all T levels; ddim: DDIM over ``steps`` levels; dpm++: DPM-Solver++(2M) over ``steps``;
euler and heun: ``steps`` ODE steps on a flow-matching path (heun calls the network 2 steps - 1 times)."""
FLOW_SAMPLERS: tuple[str, ...] = ("euler", "heun")
MIN_EVAL_SAMPLES = 2  # a Frechet distance needs a covariance: at least two samples


def check_whole(what: str, value: object, minimum: int, maximum: int | None = None, *, why: str = "") -> int:
    """``value`` as an int in [minimum, maximum] (bools and floats refused), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        span = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"{what} must be a whole number {span}{why}, got {value!r}")
    return value


def check_number(what: str, value: object, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False, why: str = "") -> float:
    """``value`` as a finite float in the interval (no interval: any finite number), else ``ValueError``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (low is None or (v > low if low_open else v >= low)) and (high is None or (v < high if high_open else v <= high))
    if not ok:
        if low is not None and high is not None:
            interval = f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            interval = f" {'>' if low_open else '>='} {low:g}"
        elif high is not None:
            interval = f" {'<' if high_open else '<='} {high:g}"
        else:
            interval = ""
        raise ValueError(f"{what} must be a finite number{interval}{why}, got {value!r}")
    return float(value)  # type: ignore[arg-type]


# -- the samplers' arguments, checked once where a request enters (sample.generate, the samplers, the CLI) --
def check_guidance(guidance_scale: float) -> float:
    """A finite guidance scale w, else ``ValueError`` (nan or inf would poison every sample)."""
    return check_number("guidance scale", guidance_scale, why=" (0: unconditional, 1: conditional, >1: guided)")


def check_eta(eta: float) -> float:
    """DDIM's eta in [0, 1]: above 1, sigma^2 > 1 - alpha_bar_{t_prev} and eq. 12's sqrt(1 - a' - sigma^2) fails."""
    return check_number("eta", eta, 0.0, 1.0, why=" (0: deterministic DDIM, 1: DDPM-like noise)")


def check_sampler(sampler: str, steps: int, num_timesteps: int, eta: float = 0.0) -> float:
    """A name from :data:`SAMPLERS`, ``steps`` in 1..T (ddpm always takes T), eta in [0, 1] for ddim only; returns eta."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid samplers are {', '.join(SAMPLERS)}")
    eta = check_eta(eta)
    if eta and sampler != "ddim":
        raise ValueError(f"eta={eta:g} applies to the ddim sampler only ({sampler} has no eta): use sampler='ddim' "
                         f"for stochastic DDIM, or leave eta at 0")
    if sampler != "ddpm":
        check_whole("steps", steps, 1, num_timesteps, why=" (the schedule's T is the most)")
    return eta


def check_request(sampler: str, steps: int, path: object, eta: float, guidance_scale: float) -> float:
    """Everything a sampler is told, checked before the first network evaluation; returns eta.

    :func:`check_sampler` against the path's T, :func:`check_path` and :func:`check_guidance`.
    """
    eta = check_sampler(sampler, steps, int(getattr(path, "num_timesteps")), eta)
    check_path(sampler, path)
    check_guidance(guidance_scale)
    return eta


def check_path(sampler: str, schedule: object) -> None:
    """A sampler that fits the model's path: euler/heun for flow matching, ddpm/ddim/dpm++ for a DDPM."""
    flow = getattr(schedule, "kind", None) == "flow"
    if flow and sampler not in FLOW_SAMPLERS:
        raise ValueError(f"the {sampler} sampler needs a DDPM (eps) model, but this model was trained with flow "
                         f"matching (it predicts a velocity); use sampler 'euler' or 'heun'")
    if not flow and sampler in FLOW_SAMPLERS:
        raise ValueError(f"the {sampler} sampler integrates a flow-matching model's velocity, but this model is a "
                         f"DDPM (it predicts eps); use sampler 'ddim' or 'dpm++' (or train with --objective velocity)")


def check_labels(model: object, labels: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor | None:
    """Labels as integer ids on ``device``: (B,) classes in 0..num_classes-1 or (B, L) prompt tokens."""
    if labels is None:
        return None
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor of integer class ids, got {type(labels).__name__}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class ids (torch.long), got dtype {labels.dtype}; "
                         f"use torch.tensor([3, 7]) rather than torch.tensor([3.0, 7.0])")
    if labels.ndim not in (1, 2) or labels.shape[0] != batch:
        raise ValueError(f"labels must have shape ({batch},) (one class per sample) or ({batch}, L) "
                         f"(prompt tokens), got {tuple(labels.shape)}")
    num_classes = getattr(model, "num_classes", None)
    if labels.ndim == 1 and isinstance(num_classes, int) and labels.numel():
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"labels must be class ids in 0..{num_classes - 1} for this model, got values from "
                             f"{lo} to {hi}")
    return labels.to(device=device, dtype=torch.long)


def check_levels(t: object, shape: torch.Size | tuple[int, ...], num_timesteps: int) -> torch.Tensor:
    """Time indices as a learner passes them to the forward process: a (B,) integer tensor in 0..T-1, B = shape[0]."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t must be a torch.Tensor of integer time indices, got {type(t).__name__}")
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise TypeError(f"t must hold integer time indices (torch.long), got dtype {t.dtype}")
    if t.ndim != 1 or t.shape[0] != shape[0]:
        raise ValueError(f"t must have shape ({shape[0]},) to match a batch of shape {tuple(shape)}, got {tuple(t.shape)}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_timesteps):
        raise ValueError(f"time indices must lie in 0..{num_timesteps - 1} (t is 0-based: t=0 is the paper's step 1; "
                         f"t = -1, 'no noise', is only defined for alpha_bar), got min {int(t.min())}, max {int(t.max())}")
    return t.long()


def check_num_samples(num_samples: object, option: str = "num_samples") -> int:
    """At least two samples (a Frechet distance fits a covariance), checked before any sampling."""
    return check_whole(option, num_samples, MIN_EVAL_SAMPLES, why=" (the Frechet distance fits a covariance to the samples)")
