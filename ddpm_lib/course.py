"""The models the course's notebooks and commands start from.

* :func:`preset_model`: a preset's untrained :class:`~ddpm_lib.unet.SimpleUNet` and its
  :class:`~ddpm_lib.schedule.NoiseSchedule`, with seeded initial weights (``train``, the Quest and
  notebook 04 build theirs here).
* :func:`notebook_model`: the trained DDPM that notebooks 05-08 sample from, found or made so that
  every notebook runs on its own, whichever ran before it:

  - ``cpu`` and ``gpu`` presets: the shipped pretrained model (``ddpm_lib/weights/``; 2,000 steps of
    the ``cpu`` recipe, ``make pretrained``), else the one notebook 04 saved;
  - ``smoke`` preset (CI): the pretrained model is too slow to sample in seconds, so the smoke
    preset's tiny model is used: notebook 04's when it ran, else trained here (20 steps, a few
    seconds on a CPU) and kept in ``runs/smoke/notebook-model/`` for the next notebook.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch

from .checkpoint import DiffusionModel, find_checkpoint, load_model
from .config import Preset
from .data import load_dataset
from .paths import PRETRAINED_PATH, RUNS_DIR
from .runtime import seeded
from .schedule import NoiseSchedule
from .train import WEIGHTS_FILE, train
from .unet import SimpleUNet


def preset_model(preset: Preset, seed: int = 0) -> tuple[SimpleUNet, NoiseSchedule]:
    """``preset``'s untrained model (weights drawn under ``seed``, the caller's RNG untouched) and schedule."""
    with seeded(seed):
        model = SimpleUNet.from_config(preset.model)
    return model, NoiseSchedule(preset.num_timesteps, preset.schedule)


class NotebookModel(NamedTuple):
    """What :func:`notebook_model` returns; unpacks as ``model, schedule, info, path``."""

    model: DiffusionModel          #: in eval mode, on the requested device
    schedule: NoiseSchedule
    info: dict[str, Any]           #: what the checkpoint recorded (steps, note, ...)
    path: Path                     #: the weights file it came from


def notebook04_weights(preset_name: str, runs_dir: Path | None = None) -> Path:
    """Where notebook 04 saves the model it trains with ``preset_name``."""
    return (RUNS_DIR if runs_dir is None else runs_dir) / f"notebook04-{preset_name}" / WEIGHTS_FILE


def smoke_weights(runs_dir: Path | None = None) -> Path:
    """Where :func:`notebook_model` keeps the smoke model it trains when notebook 04 has not run."""
    return (RUNS_DIR if runs_dir is None else runs_dir) / "smoke" / "notebook-model" / WEIGHTS_FILE


def notebook_model(preset: Preset, device: str | torch.device = "cpu", *, runs_dir: Path | None = None,
                   pretrained: Path = PRETRAINED_PATH) -> NotebookModel:
    """The trained model notebooks 05-08 use with ``preset`` (see the module's docstring)."""
    notebook04 = notebook04_weights(preset.name, runs_dir)
    if preset.name != "smoke":
        path = find_checkpoint(pretrained, notebook04)
    elif notebook04.is_file():
        path = notebook04
    else:
        path = smoke_weights(runs_dir)
        if not path.is_file():
            untrained, fresh_schedule = preset_model(preset, seed=preset.train.seed)
            print(f"notebook 04 has not run in this folder: training the smoke preset's model "
                  f"({preset.train.steps} steps) into {path.parent}")
            train(untrained, fresh_schedule, load_dataset("mnist-5k", "train"), preset.train, device=device,
                  checkpoint_dir=path.parent, progress=False)
    model, schedule, info = load_model(path, device)
    if schedule is None:
        raise ValueError(f"{path} records no noise schedule; retrain it with `python -m ddpm_lib train`")
    return NotebookModel(model, schedule, info, path)
