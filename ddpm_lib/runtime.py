"""Where and how code runs: device, mixed precision, progress bars, scoped seeding.

Taught in ``notebooks/04_training.ipynb`` (the fast CPU path). No hidden globals: every function takes what it
needs, and the environment is read only when called.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator, Literal, cast

import torch

from .validate import check_whole

Precision = Literal["auto", "fp32", "bf16", "fp16"]
ResolvedPrecision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit integer


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """An explicit device (an unknown name raises ``ValueError``), or CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N' ({err})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this machine has no CUDA GPU; use --device cpu")
    return dev


def model_device(model: object, device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else the device of the model's first parameter, else CPU."""
    if device is not None:
        return torch.device(device)
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            out: torch.device = p.device
            return out
    return torch.device("cpu")


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matmul (AVX512-BF16 or AMX), detected through oneDNN."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - very old or exotic builds
        return False


def resolve_precision(precision: str, device: torch.device) -> ResolvedPrecision:
    """``auto`` as the fastest safe choice for ``device`` (bf16 on a CPU with bf16 units, else fp32; CUDA: bf16 where
    supported, else fp16); the others validated. bf16 has fp32's exponent range and needs no loss scaling."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid values are {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("precision 'fp16' needs a CUDA device; on the CPU use 'bf16' or 'fp32'")
    if precision != "auto":
        return cast(ResolvedPrecision, precision)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if device.type == "cpu" and cpu_supports_bf16() else "fp32"


@contextlib.contextmanager
def autocast(device: torch.device, precision: ResolvedPrecision) -> Iterator[None]:
    """Mixed-precision context for ``device``: a no-op for fp32."""
    if precision == "fp32":
        yield
        return
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def progress_disabled(progress: bool) -> bool:
    """Whether a progress bar should be hidden: when not asked for, or when ``TQDM_DISABLE`` is set (CI)."""
    return not progress or os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false")


def check_seed(seed: object, what: str = "seed") -> int:
    """``seed`` as an int in 0..2^63-1 (what ``torch.Generator.manual_seed`` accepts), else ``ValueError``."""
    return check_whole(what, seed, 0, MAX_SEED, why=" (2**63 - 1, what torch.Generator accepts)")


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with a validated ``seed``."""
    return torch.Generator(device=device).manual_seed(check_seed(seed))


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator for the block, then restore the caller's random state.

    For code with no ``generator=`` argument (``nn.Module`` constructors, dropout): the block is
    reproducible from ``seed``, and the caller's random numbers are the same as without it.
    """
    check_seed(seed)
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@torch.no_grad()
def in_batches(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """``fn`` applied to ``x`` (N, ...) in slices of ``batch_size`` rows without gradients, concatenated: for
    networks run over whole datasets (the judge, the autoencoder), whose memory grows with the batch."""
    return torch.cat([fn(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])
