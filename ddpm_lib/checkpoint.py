"""Safe checkpoints: weights in safetensors with the config as JSON metadata, atomic writes.

Taught in ``notebooks/04_training.ipynb``. Nothing is ever unpickled: model weights are
``.safetensors`` files, and the resumable training state is read with
``torch.load(..., weights_only=True)``. Every write goes to a temporary file in the same folder,
then ``os.replace``: a crash leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .config import ModelConfig
from .schedule import NoiseSchedule
from .unet import SimpleUNet

FORMAT = "ddpm_lib.simple_unet.v1"


class CheckpointError(ValueError):
    """The file is not a ddpm_lib checkpoint, or does not fit the model it is loaded into."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it over ``path`` with ``os.replace``.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # temporary files are private (0600); the result gets the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` and atomically move the result to ``path``. Returns ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def save_model(model: SimpleUNet, path: str | Path, schedule: NoiseSchedule | None = None,
               state_dict: dict[str, torch.Tensor] | None = None, **info: Any) -> Path:
    """Write ``model``'s weights (or ``state_dict``, e.g. the EMA weights) to ``path`` (.safetensors).

    Metadata (all JSON): ``format``, ``model_config``, ``schedule_config`` and any ``info`` given
    (recipe, steps, metrics), so :func:`load_model` needs nothing else.
    """
    weights = state_dict if state_dict is not None else model.state_dict()
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in weights.items()}
    metadata = {"format": FORMAT, "model_config": json.dumps(model.config.to_dict()),
                "info": json.dumps(info, default=str)}
    if schedule is not None:
        metadata["schedule_config"] = json.dumps(schedule.config())
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The decoded JSON metadata of a checkpoint written by :func:`save_model`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train one with `python -m ddpm_lib train` or pass another path")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a safetensors file ({err}); expected a .safetensors checkpoint "
                              f"written by ddpm_lib.checkpoint.save_model") from err
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a ddpm_lib model checkpoint "
                              f"(format {raw.get('format')!r}, expected {FORMAT!r})")
    out: dict[str, Any] = {"format": raw["format"]}
    for key in ("model_config", "schedule_config", "info"):
        if key in raw:
            out[key] = json.loads(raw[key])
    return out


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[SimpleUNet, NoiseSchedule | None, dict[str, Any]]:
    """Rebuild the model saved at ``path``: returns (model in eval mode, schedule or None, info)."""
    meta = read_metadata(path)
    try:
        config = ModelConfig.from_dict(meta["model_config"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path} has an unreadable model config: {err}") from err
    model = SimpleUNet.from_config(config)
    load_weights(model, path)
    schedule = NoiseSchedule(**meta["schedule_config"]) if "schedule_config" in meta else None
    if schedule is not None:
        schedule.to(device)
    return model.to(device).eval(), schedule, meta.get("info", {})


def find_checkpoint(*candidates: str | Path) -> Path:
    """The first of ``candidates`` that exists; a clear error listing them all if none does."""
    for c in candidates:
        if Path(c).is_file():
            return Path(c)
    listed = "\n  ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"none of these checkpoints exists:\n  {listed}\n"
                            f"run notebook 04 (it saves one) or `python -m ddpm_lib train`")


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load safetensors weights into ``model``; a mismatch names the differing keys and shapes."""
    tensors = load_file(str(path))
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
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read a training state with ``weights_only=True``: plain tensors and containers, never pickled code."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no training state at {path}; nothing to resume (drop --resume to start afresh)") from None
    except Exception as err:  # an UnpicklingError for anything that is not plain data
        raise CheckpointError(f"{path} is not a training state that can be loaded safely: {err}") from err
