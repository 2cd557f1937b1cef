"""Configuration: model and training dataclasses, the three presets, device and precision choice.

Taught in every notebook's first code cell (the ``parameters`` cell reads a preset from here).

Nothing here is a hidden global: :func:`default_preset_name` reads the environment only when it is
called, and device/precision are always passed on explicitly by the caller.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterator, Literal

import torch

PresetName = Literal["smoke", "cpu", "gpu"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRESET_NAMES: tuple[str, ...] = ("smoke", "cpu", "gpu")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
MODE_ENV = "DDPM_COURSE_MODE"

# Where the course keeps its files (the repository, for the editable install the README sets up).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"              # dataset cache and shipped weights
RUNS_DIR = PROJECT_ROOT / "runs"              # checkpoints the notebooks write (git-ignored)
SCULPTURES_DIR = PROJECT_ROOT / "chaos_sculptures"  # generated pictures
PRETRAINED_PATH = DATA_DIR / "pretrained_ddpm.safetensors"


@dataclass(frozen=True)
class ModelConfig:
    """Constructor arguments of :class:`ddpm_lib.unet.SimpleUNet` (stored in every checkpoint)."""

    in_channels: int = 1
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    num_classes: int | None = None
    context_dim: int | None = None
    norm_groups: int = 8
    attention_heads: int = 4
    dropout: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channel_mults"] = list(self.channel_mults)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}; expected a subset of {sorted(known)}")
        d = dict(d)
        if "channel_mults" in d:
            d["channel_mults"] = tuple(d["channel_mults"])
        return cls(**d)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`ddpm_lib.train.train` (Algorithm 1 with AdamW and EMA)."""

    steps: int = 1000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    p_uncond: float = 0.1
    precision: Precision = "auto"
    channels_last: bool = True
    compile: bool = False
    checkpoint_every: int = 200
    seed: int = 0


@dataclass(frozen=True)
class Preset:
    """Everything a notebook or the Quest needs to size itself."""

    name: str
    model: ModelConfig
    train: TrainConfig
    num_timesteps: int = 1000
    schedule: Literal["linear", "cosine"] = "linear"
    sample_steps: int = 50  # DDIM steps used for quick pictures
    guidance_scale: float = 3.0
    num_eval_samples: int = 1000
    judge_epochs: int = 30
    extra: dict[str, Any] = field(default_factory=dict)


def _presets() -> dict[str, Preset]:
    return {
        "smoke": Preset(
            name="smoke",
            model=ModelConfig(base_channels=8, channel_mults=(1, 2, 2, 2), num_classes=10, norm_groups=4,
                              attention_heads=2),
            train=TrainConfig(steps=20, batch_size=32, warmup_steps=5, checkpoint_every=10),
            num_timesteps=100,  # CI only: a short cosine schedule still ends in pure noise
            schedule="cosine",
            sample_steps=5,
            num_eval_samples=100,
            judge_epochs=1,
        ),
        "cpu": Preset(
            name="cpu",
            model=ModelConfig(base_channels=32, num_classes=10),
            train=TrainConfig(steps=850, batch_size=128, lr=1e-3, warmup_steps=100, checkpoint_every=100),
            num_eval_samples=500,
        ),
        "gpu": Preset(
            name="gpu",
            model=ModelConfig(base_channels=64, num_classes=10),
            train=TrainConfig(steps=20000, batch_size=128, lr=2e-4, warmup_steps=500, checkpoint_every=2000),
        ),
    }


def get_preset(name: str | None = None, **overrides: Any) -> Preset:
    """Return preset ``name`` (``None``: :func:`default_preset_name`), fields replaced by ``overrides``.

    ``overrides`` may name ``Preset`` fields, or ``model_<field>`` / ``train_<field>`` for the nested
    configs, e.g. ``get_preset("cpu", train_steps=500)``.
    """
    name = default_preset_name() if name is None else name
    presets = _presets()
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; valid presets are {', '.join(PRESET_NAMES)}")
    preset = presets[name]
    model_kw = {k[6:]: v for k, v in overrides.items() if k.startswith("model_")}
    train_kw = {k[6:]: v for k, v in overrides.items() if k.startswith("train_")}
    top_kw = {k: v for k, v in overrides.items() if not k.startswith(("model_", "train_"))}
    for kw, cls in ((model_kw, ModelConfig), (train_kw, TrainConfig), (top_kw, Preset)):
        bad = set(kw) - set(cls.__dataclass_fields__)
        if bad:
            raise ValueError(f"unknown override(s) {sorted(bad)} for {cls.__name__}")
    return replace(preset, model=replace(preset.model, **model_kw), train=replace(preset.train, **train_kw), **top_kw)


def default_preset_name(environ: dict[str, str] | None = None, cuda_available: bool | None = None) -> str:
    """``smoke`` when ``DDPM_COURSE_MODE=smoke`` (CI), else ``gpu`` with CUDA, else ``cpu``.

    ``DDPM_COURSE_MODE`` may also name ``cpu`` or ``gpu`` directly.
    """
    environ = os.environ if environ is None else environ
    mode = environ.get(MODE_ENV, "").strip().lower()
    if mode:
        if mode not in PRESET_NAMES:
            raise ValueError(f"{MODE_ENV}={mode!r} is not a preset; use one of {', '.join(PRESET_NAMES)}")
        return mode
    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    return "gpu" if cuda else "cpu"


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """An explicit device, or CUDA when available, else CPU. Never a global."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matmul (AVX512-BF16 or AMX), detected through oneDNN."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - very old or exotic builds
        return False


def resolve_precision(precision: str, device: torch.device) -> Literal["fp32", "bf16", "fp16"]:
    """Turn ``auto`` into the fastest safe choice for ``device``; validate the rest.

    auto: CPU with bf16 hardware -> bf16; CPU without -> fp32; CUDA -> bf16 if supported, else fp16.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid values are {', '.join(PRECISIONS)}")
    if precision != "auto":
        if precision == "fp16" and device.type == "cpu":
            raise ValueError("precision 'fp16' needs a CUDA device; on the CPU use 'bf16' or 'fp32'")
        return precision  # type: ignore[return-value]
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if device.type == "cpu" and cpu_supports_bf16() else "fp32"


def progress_disabled(progress: bool) -> bool:
    """Whether a progress bar should be hidden: when not asked for, or when ``TQDM_DISABLE`` is set (CI)."""
    return not progress or os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false")


@contextlib.contextmanager
def autocast(device: torch.device, precision: Literal["fp32", "bf16", "fp16"]) -> Iterator[None]:
    """Mixed-precision context for ``device``: a no-op for fp32."""
    if precision == "fp32":
        yield
        return
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
