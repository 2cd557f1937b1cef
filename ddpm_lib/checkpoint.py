"""Safe checkpoints: weights in safetensors with the config as JSON metadata, atomic writes.

Taught in ``notebooks/04_training.ipynb``. Nothing is ever unpickled: weights are ``.safetensors``, and the training
state is read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import torch
from safetensors import SafetensorError
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .files import atomic_write, write_failed
from .runtime import seeded
from .schedule import DiffusionPath, NoiseSchedule

if TYPE_CHECKING:
    from .flow import FlowPath
    from .text import TextConditionedUNet
    from .unet import SimpleUNet

MODEL_FORMATS: dict[str, str] = {"ddpm_lib.simple_unet.v1": "ddpm_lib.unet:SimpleUNet",
                                 "ddpm_lib.text_unet.v1": "ddpm_lib.text:TextConditionedUNet"}
"""Each model format a checkpoint may hold, and the class that names it (``FORMAT``) and builds itself from the
saved config (``from_config_dict``). A class is imported only when a file of its format is loaded, so loading a
pixel UNet never imports the prompt encoder."""
PATH_KINDS: dict[str, str] = {"flow": "ddpm_lib.flow:FlowPath"}
"""Schedule kinds that are not a :class:`NoiseSchedule` (linear, cosine), and their class."""
FORMATS: tuple[str, ...] = tuple(MODEL_FORMATS)
MAX_PARAMETERS = 500_000_000
"""The largest model a checkpoint may describe (2 GiB of float32 weights; Table 1's UNet has 19M parameters)."""
DiffusionModel = Union["SimpleUNet", "TextConditionedUNet"]

class CheckpointError(ValueError):
    """The file is not a ddpm_lib checkpoint, or does not fit the model it is loaded into."""


def save_model(model: torch.nn.Module, path: str | Path, schedule: DiffusionPath | None = None,
               state_dict: dict[str, torch.Tensor] | None = None, **info: Any) -> Path:
    """``model``'s weights (or ``state_dict``, e.g. the EMA weights) to ``path``, with ``format``, ``model_config``,
    ``schedule_config`` and ``info`` as JSON metadata, so :func:`load_model` needs nothing else."""
    fmt = getattr(model, "FORMAT", None)
    if fmt not in MODEL_FORMATS:
        raise TypeError(f"save_model saves a SimpleUNet or a TextConditionedUNet, got {type(model).__name__}")
    metadata = {"format": str(fmt), "model_config": json.dumps(getattr(model, "config").to_dict()),
                "info": json.dumps(info, default=str)}
    if schedule is not None:
        metadata["schedule_config"] = json.dumps(schedule.config())
    return save_weights(path, state_dict if state_dict is not None else model.state_dict(), metadata)


def save_weights(path: str | Path, state_dict: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Tensors as float32 safetensors at ``path`` with string ``metadata``, atomically: the one writer of
    every weights file (models, the autoencoder, the judge)."""
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state_dict.items()}

    def write(tmp: Path) -> None:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except SafetensorError as err:  # safetensors reports a full disk as its own error, not as an OSError
            raise write_failed(path, err) from None

    return atomic_write(path, write)


def _class(spec: str) -> Any:
    """The class named "package.module:Class" (see :data:`MODEL_FORMATS`)."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def safetensors_metadata(path: Path, what: str, make: str, writer: str) -> dict[str, str]:
    """The raw string metadata of the safetensors file at ``path``; a folder, a missing file or another kind of
    file raises :class:`CheckpointError` naming ``what`` it should be, how to ``make`` one, and its ``writer``."""
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give the .safetensors file inside it (a training run writes "
                              f"model.safetensors into its checkpoint folder)")
    if not path.is_file():
        raise CheckpointError(f"no {what} at {path}; {make}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a safetensors file ({err}); expected a .safetensors {what} written by "
                              f"{writer}") from err


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The decoded JSON metadata of a checkpoint written by :func:`save_model`."""
    path = Path(path)
    raw = safetensors_metadata(path, "checkpoint", "train one with `python -m ddpm_lib train` or pass another path",
                               "ddpm_lib.checkpoint.save_model")
    if raw.get("format") not in FORMATS:
        raise CheckpointError(f"{path} is a safetensors file but not a ddpm_lib model checkpoint "
                              f"(format {raw.get('format')!r}, expected one of {', '.join(FORMATS)})")
    out: dict[str, Any] = {"format": raw["format"]}
    for key in ("model_config", "schedule_config", "info"):
        if key in raw:
            try:
                out[key] = json.loads(raw[key])
            except json.JSONDecodeError as err:
                raise CheckpointError(f"{path}: the metadata field {key!r} is not valid JSON ({err}); the file was "
                                      f"edited or damaged. Re-save it with save_model, or retrain") from None
    if "model_config" not in out:
        raise CheckpointError(f"{path}: the metadata has no 'model_config' field, so the network cannot be rebuilt; "
                              f"re-save it with ddpm_lib.checkpoint.save_model")
    return out


def path_from_config(config: dict[str, Any]) -> NoiseSchedule | FlowPath:
    """The path a checkpoint's ``schedule_config`` describes: a FlowPath for kind "flow", else a NoiseSchedule."""
    kind = config.get("kind")
    if kind in PATH_KINDS:
        out: NoiseSchedule | FlowPath = _class(PATH_KINDS[kind])(**{k: v for k, v in config.items() if k != "kind"})
        return out
    return NoiseSchedule(**config)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[DiffusionModel, NoiseSchedule | FlowPath | None, dict[str, Any]]:
    """(model in eval mode, schedule or None, info) saved at ``path``; a config or schedule that does not validate
    raises :class:`CheckpointError` naming the file and the field."""
    meta = read_metadata(path)
    model: DiffusionModel
    try:
        with torch.device("meta"):  # shapes only, no memory: the size is checked before anything is allocated
            size = sum(p.numel() for p in _build(meta).parameters())
        if size > MAX_PARAMETERS:
            config = meta["model_config"]
            widths = {k: config[k] for k in ("base_channels", "channel_mults", "unet") if k in config}
            raise CheckpointError(f"{path}: its model_config ({widths}) implies {size:,} parameters "
                                  f"({size * 4 / 2**30:.1f} GiB of float32 weights), more than the {MAX_PARAMETERS:,} "
                                  f"this library builds; the file is damaged or not a course model. Retrain it, or "
                                  f"pass another checkpoint")
        with seeded(0):  # the random initialisation is overwritten below; the caller's random state is kept
            model = _build(meta)
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"{path} has an unreadable 'model_config': {err}") from None
    load_weights(model, path)
    schedule = None
    if "schedule_config" in meta:
        try:
            schedule = path_from_config(meta["schedule_config"]).to(device)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{path} has an unreadable 'schedule_config' {meta['schedule_config']!r}: {err}") from None
    info = meta.get("info", {})
    return model.to(device).eval(), schedule, info if isinstance(info, dict) else {}


def _build(meta: dict[str, Any]) -> DiffusionModel:
    out: DiffusionModel = _class(MODEL_FORMATS[meta["format"]]).from_config_dict(meta["model_config"])
    return out


def find_checkpoint(*candidates: str | Path) -> Path:
    """The first of ``candidates`` that exists; a clear error listing them all if none does."""
    for c in candidates:
        if Path(c).is_file():
            return Path(c)
    listed = "\n  ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"none of these checkpoints exists:\n  {listed}\n"
                            f"train one with `python -m ddpm_lib train`, or reinstall the package to restore "
                            f"the shipped weights")


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load safetensors weights into ``model``; a mismatch names the differing keys and shapes."""
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"cannot read the weights in {path} ({err}); the file is damaged, retrain or re-download "
                              f"it") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    wrong = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            details.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if wrong:
            details.append("shape mismatch " + ", ".join(f"{k}: file {tuple(tensors[k].shape)} vs model "
                                                         f"{tuple(own[k].shape)}" for k in wrong[:5]))
        raise CheckpointError(f"{path} does not fit this model ({'; '.join(details)}); "
                              f"build the model from the checkpoint's config with load_model()")
    model.load_state_dict(tensors)


def save_training_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Atomically ``torch.save`` a dict of tensors / numbers / strings (no custom objects)."""
    def write(tmp: Path) -> None:
        try:
            torch.save(state, tmp)
        except RuntimeError as err:  # torch reports a failed write (a full disk) as a RuntimeError of its stream
            raise write_failed(path, err) from None

    return atomic_write(path, write)


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read a training state with ``weights_only=True``: plain tensors and containers, never pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no training state at {path}; nothing to resume (drop --resume to start afresh)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # an UnpicklingError for anything that is not plain data, EOFError when empty
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path} is not a training state that can be loaded safely ({reason}); it is damaged "
                              f"or was not written by ddpm_lib. Delete it, or drop --resume to start afresh") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a training state (a dict); delete it, or "
                              f"drop --resume to start afresh")
    return state
