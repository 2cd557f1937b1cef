"""Configuration: the model and training dataclasses, validated on creation, and the three presets.

Taught in every notebook's first code cell (the ``parameters`` cell reads a preset from here).

Nothing here is a hidden global: :func:`default_preset_name` reads the environment only when it is
called. Device and precision choice live in :mod:`ddpm_lib.runtime`, file locations in
:mod:`ddpm_lib.paths`. A config with a value of the wrong type or range raises ``ValueError``
naming the field, the value and what is expected, before any work starts.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, TypeVar

import torch

from .runtime import MAX_SEED, PRECISIONS, Precision
from .validate import SamplerName, check_number, check_whole

# The course's classifier-free guidance w: presets, `sample`, `evaluate` and the Quest's picture (README, *Samplers*)
DEFAULT_GUIDANCE = 2.0

Objective = Literal["eps", "velocity"]
OBJECTIVES: tuple[str, ...] = ("eps", "velocity")
"""eps: a DDPM on the preset's schedule; velocity: flow matching on the straight path (:mod:`ddpm_lib.flow`)."""

PresetName = Literal["smoke", "cpu", "gpu"]
PRESET_NAMES: tuple[str, ...] = ("smoke", "cpu", "gpu")
MODE_ENV = "DDPM_COURSE_MODE"


C = TypeVar("C")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as JSON-ready values: its tuple fields (widths, multipliers) become lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def config_from_dict(cls: type[C], d: object, what: str) -> C:
    """``cls`` rebuilt from :func:`config_to_dict` output: lists back to tuples; a non-dict or an unknown key
    raises ``ValueError`` naming it (``what``: "model config"), and the dataclass validates the values."""
    if not isinstance(d, dict):
        raise ValueError(f"a {what} must be a JSON object (a dict), got {type(d).__name__}")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown {what} keys {sorted(unknown)}; expected a subset of {sorted(known)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


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

    def __post_init__(self) -> None:
        own = "ModelConfig"
        check_whole(f"{own} field 'in_channels'", self.in_channels, 1)
        check_whole(f"{own} field 'base_channels'", self.base_channels, 4)
        if self.base_channels % 2:
            raise ValueError(f"{own} field 'base_channels' must be even (it is also the size of the sinusoidal "
                             f"time embedding), got {self.base_channels}")
        mults = self.channel_mults
        if not isinstance(mults, (tuple, list)) or len(mults) < 2:
            raise ValueError(f"{own} field 'channel_mults' must list at least two whole numbers >= 1 (one width "
                             f"per level, e.g. (1, 2, 4, 8)), got {mults!r}")
        for m in mults:
            check_whole(f"{own} field 'channel_mults'", m, 1)
        for name in ("num_classes", "context_dim"):
            if getattr(self, name) is not None:
                check_whole(f"{own} field {name!r}", getattr(self, name), 1)
        check_whole(f"{own} field 'norm_groups'", self.norm_groups, 1)
        check_whole(f"{own} field 'attention_heads'", self.attention_heads, 1)
        check_number(f"{own} field 'dropout'", self.dropout, 0.0, 1.0, high_open=True)
        for width in (self.base_channels * m for m in mults):
            if width % self.norm_groups:
                raise ValueError(f"{own}: every width base_channels x mult must divide into norm_groups="
                                 f"{self.norm_groups} GroupNorm groups, but {width} does not; pick base_channels "
                                 f"as a multiple of {self.norm_groups}")
        if (self.base_channels * mults[-1]) % self.attention_heads:
            raise ValueError(f"{own}: the bottleneck width {self.base_channels * mults[-1]} must divide into "
                             f"attention_heads={self.attention_heads} heads")
        if not isinstance(mults, tuple):
            object.__setattr__(self, "channel_mults", tuple(mults))

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: object) -> "ModelConfig":
        """Rebuild from :meth:`to_dict` output; unknown keys or bad values raise ``ValueError`` naming them."""
        return config_from_dict(cls, d, "model config")


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
    min_snr_gamma: float = 0.0  # > 0: min-SNR-gamma loss weighting (Hang et al. 2023 use 5); 0: L_simple
    precision: Precision = "auto"
    channels_last: bool = True
    compile: bool = False
    checkpoint_every: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        own = "TrainConfig"
        check_whole(f"{own} field 'steps'", self.steps, 1)
        check_whole(f"{own} field 'batch_size'", self.batch_size, 1)
        check_number(f"{own} field 'lr'", self.lr, 0.0, 10.0, low_open=True)
        check_number(f"{own} field 'weight_decay'", self.weight_decay, 0.0, 1.0)
        check_whole(f"{own} field 'warmup_steps'", self.warmup_steps, 0)
        check_number(f"{own} field 'grad_clip'", self.grad_clip, 0.0)
        check_number(f"{own} field 'ema_decay'", self.ema_decay, 0.0, 1.0, high_open=True)
        check_number(f"{own} field 'p_uncond'", self.p_uncond, 0.0, 1.0)
        check_number(f"{own} field 'min_snr_gamma'", self.min_snr_gamma, 0.0)
        if self.precision not in PRECISIONS:
            raise ValueError(f"{own} field 'precision' must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name in ("channels_last", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{own} field {name!r} must be True or False, got {getattr(self, name)!r}")
        check_whole(f"{own} field 'checkpoint_every'", self.checkpoint_every, 1)
        check_whole(f"{own} field 'seed'", self.seed, 0, MAX_SEED)


@dataclass(frozen=True)
class Preset:
    """Everything a notebook or the Quest needs to size itself."""

    name: str
    model: ModelConfig
    train: TrainConfig
    num_timesteps: int = 1000
    schedule: Literal["linear", "cosine"] = "linear"
    sampler: SamplerName = "dpm++"  # the Quest's reverse process, for its picture and its scores
    sample_steps: int = 15  # network evaluations per image of that sampler
    guidance_scale: float = DEFAULT_GUIDANCE  # classifier-free guidance w of the preset's pictures and scores
    num_eval_samples: int = 1000
    judge_epochs: int = 30


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
            # a quarter of Table 1's widths (16-32-64-128), lr 4e-3, min-SNR-5, 1,150 steps: the recipe with the
            # best quality per CPU-minute; the measurements behind each choice are in docs/speed.md
            model=ModelConfig(base_channels=16, num_classes=10),
            train=TrainConfig(steps=1150, batch_size=128, lr=4e-3, warmup_steps=100, min_snr_gamma=5.0,
                              checkpoint_every=100),
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
    configs, e.g. ``get_preset("cpu", train_steps=500)``. Every value is validated.
    """
    name = default_preset_name() if name is None else name
    presets = _presets()
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; valid presets are {', '.join(PRESET_NAMES)}")
    preset = presets[name]
    model_kw = {k[6:]: v for k, v in overrides.items() if k.startswith("model_")}
    train_kw = {k[6:]: v for k, v in overrides.items() if k.startswith("train_")}
    top_kw = {k: v for k, v in overrides.items() if not k.startswith(("model_", "train_"))}
    for kw, cls, prefix in ((model_kw, ModelConfig, "model_"), (train_kw, TrainConfig, "train_"), (top_kw, Preset, "")):
        valid = [f.name for f in fields(cls) if f.name not in ("name", "model", "train")]
        bad = set(kw) - set(valid)
        if bad:
            raise ValueError(f"unknown override(s) {sorted(prefix + k for k in bad)} for {cls.__name__}; valid ones are "
                             f"{', '.join(prefix + k for k in valid)}")
    return replace(preset, model=replace(preset.model, **model_kw), train=replace(preset.train, **train_kw), **top_kw)


def scaled_warmup(preset: Preset, steps: int) -> int:
    """The preset's warm-up as the same share of a run of ``steps`` (cpu: 100 of 1,150, 8.7%), below ``steps``.

    For runs shorter or longer than the preset's: its 100-step warm-up would be 26% of a 383-step run.
    """
    share = preset.train.warmup_steps / preset.train.steps
    return min(steps - 1, round(share * steps))


def default_preset_name(environ: dict[str, str] | None = None, cuda_available: bool | None = None) -> str:
    """``smoke`` when ``DDPM_COURSE_MODE=smoke`` (CI), else ``gpu`` with CUDA, else ``cpu``.

    ``DDPM_COURSE_MODE`` may also name ``cpu`` or ``gpu`` directly.
    """
    environ = dict(os.environ) if environ is None else environ
    mode = environ.get(MODE_ENV, "").strip().lower()
    if mode:
        if mode not in PRESET_NAMES:
            raise ValueError(f"{MODE_ENV}={mode!r} is not a preset; use one of {', '.join(PRESET_NAMES)}")
        return mode
    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    return "gpu" if cuda else "cpu"
