"""The models the course's notebooks and commands start from.

* :func:`preset_model`: a preset's untrained :class:`~ddpm_lib.unet.SimpleUNet` and its
  :class:`~ddpm_lib.schedule.NoiseSchedule` (or, for the velocity objective, its
  :class:`~ddpm_lib.flow.FlowPath`), with seeded initial weights (``train``, the Quest and
  notebook 04 build theirs here).
* :func:`notebook_model`: the trained DDPM that notebooks 05-08 sample from, found or made so that
  every notebook runs on its own, whichever ran before it:

  - ``cpu`` and ``gpu`` presets: the shipped pretrained model (``ddpm_lib/weights/``; 2,000 steps of
    the ``cpu`` recipe, ``make pretrained``), else the one notebook 04 saved;
  - ``smoke`` preset (CI): the pretrained model is too slow to sample in seconds, so the smoke
    preset's tiny model is used: notebook 04's when it ran, else trained here (20 steps, a few
    seconds on a CPU) and kept in ``runs/smoke/notebook-model/`` for the next notebook.
* :func:`flow_model`: the flow-matching model of notebook 10, the same way: the shipped one
  (``make pretrained-flow``), or in smoke mode a tiny one trained here.
* :func:`latent_model`: notebook 09's autoencoder and the DDPM on its latents: the shipped pair
  (``make pretrained-latent``), or in smoke mode a tiny pair trained here.
* :func:`reflow_model`: notebook 11's reflowed latent model: the shipped one (``make pretrained-reflow``),
  or in smoke mode one reflowed here from the smoke latent pair.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import torch

from .checkpoint import CheckpointError, DiffusionModel, find_checkpoint, load_model
from .config import OBJECTIVES, Objective, Preset
from .data import ImageDataset, load_dataset
from .flow import FlowPath
from .latent import (LatentCodec, LatentRecipe, codec_for_checkpoint, latent_dataset, latent_recipe, load_codec,
                     save_codec, train_codec)
from .paths import PRETRAINED_FLOW_PATH, PRETRAINED_LATENT_PATH, PRETRAINED_PATH, REFLOW_PATH, RUNS_DIR
from .files import remove_stale_temps
from .reflow import REFLOW_TRAINING, train_reflow
from .runtime import choose_device, seeded
from .schedule import NoiseSchedule
from .train import STATE_FILE, WEIGHTS_FILE, TrainResult, train
from .unet import SimpleUNet




def preset_model(preset: Preset, seed: int = 0) -> tuple[SimpleUNet, NoiseSchedule]:
    """``preset``'s untrained model (weights drawn under ``seed``, the caller's RNG untouched) and schedule."""
    with seeded(seed):
        model = SimpleUNet.from_config(preset.model)
    return model, NoiseSchedule(preset.num_timesteps, preset.schedule)


def preset_path_model(preset: Preset, seed: int = 0,
                      objective: Objective = "eps") -> tuple[SimpleUNet, NoiseSchedule | FlowPath]:
    """:func:`preset_model` for either objective: eps gives the DDPM schedule, velocity a :class:`FlowPath`
    with the preset's T (flow matching takes no min-SNR weighting: the preset must have ``min_snr_gamma=0``)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; valid objectives are {', '.join(OBJECTIVES)}")
    model, schedule = preset_model(preset, seed)
    if objective == "eps":
        return model, schedule
    if preset.train.min_snr_gamma > 0:
        raise ValueError(f"the {preset.name} preset weights the loss with min-SNR-{preset.train.min_snr_gamma:g}, "
                         f"which applies to the eps objective only; for velocity pass train_min_snr_gamma=0 "
                         f"(--min-snr-gamma 0)")
    return model, FlowPath(preset.num_timesteps)


def trained_here(preset: Preset, objective: Objective, path: Path, device: str | torch.device, say: str) -> Path:
    """``path``, after training ``preset``'s model for ``objective`` into its folder if it is not there yet."""
    if not path.is_file():
        untrained, fresh = preset_path_model(preset, seed=preset.train.seed, objective=objective)
        print(f"{say} ({preset.train.steps} steps) into {path.parent}")
        train(untrained, fresh, load_dataset("mnist-5k", "train"), preset.train, device=device,
              checkpoint_dir=path.parent, progress=False)
    return path


P = TypeVar("P", NoiseSchedule, FlowPath)


def load_with_path(path: Path, device: str | torch.device, kind: type[P], retrain: str) -> tuple[DiffusionModel, P, dict[str, Any]]:
    """(model, its path, info) from the checkpoint at ``path``, whose path must be a ``kind`` (a DDPM
    :class:`NoiseSchedule` or a :class:`FlowPath`); otherwise a ``ValueError`` naming the command to ``retrain``."""
    model, found, info = load_model(path, device)
    if not isinstance(found, kind):
        what = "DDPM noise schedule" if kind is NoiseSchedule else "flow-matching path"
        raise ValueError(f"{path} records no {what} (it has {found!r}); retrain it with {retrain}")
    return model, found, info


class LoadedModel(NamedTuple):
    """A trained model as a notebook gets it; unpacks as ``model, schedule, info, file``."""

    model: DiffusionModel          #: in eval mode, on the requested device
    schedule: NoiseSchedule | FlowPath  #: its path: a DDPM NoiseSchedule, or flow matching's FlowPath
    info: dict[str, Any]           #: what the checkpoint recorded (steps, note, ...)
    file: Path                     #: the weights file it came from


def notebook04_weights(preset_name: str, runs_dir: Path | None = None) -> Path:
    """Where notebook 04 saves the model it trains with ``preset_name``."""
    return (RUNS_DIR if runs_dir is None else runs_dir) / f"notebook04-{preset_name}" / WEIGHTS_FILE


def smoke_weights(runs_dir: Path | None = None) -> Path:
    """Where :func:`notebook_model` keeps the smoke model it trains when notebook 04 has not run."""
    return (RUNS_DIR if runs_dir is None else runs_dir) / "smoke" / "notebook-model" / WEIGHTS_FILE


def notebook_model(preset: Preset, device: str | torch.device = "cpu", *, runs_dir: Path | None = None,
                   pretrained: Path = PRETRAINED_PATH) -> LoadedModel:
    """The trained model notebooks 05-08 use with ``preset`` (see the module's docstring)."""
    notebook04 = notebook04_weights(preset.name, runs_dir)
    if preset.name != "smoke":
        path = find_checkpoint(pretrained, notebook04)
    elif notebook04.is_file():
        path = notebook04
    else:
        path = trained_here(preset, "eps", smoke_weights(runs_dir), device,
                            "notebook 04 has not run in this folder: training the smoke preset's model")
    model, schedule, info = load_with_path(path, device, NoiseSchedule, "`python -m ddpm_lib train`")
    return LoadedModel(model, schedule, info, path)


def flow_model(preset: Preset, device: str | torch.device = "cpu", *, runs_dir: Path | None = None,
               pretrained: Path = PRETRAINED_FLOW_PATH) -> LoadedModel:
    """The flow-matching model notebook 10 samples from: the shipped one (cpu, gpu), or a smoke one trained here.

    The smoke model (the smoke preset's recipe with the velocity objective and no min-SNR) is kept in
    ``runs/smoke/flow-model/`` for the next run.
    """
    if preset.name != "smoke":
        path = find_checkpoint(pretrained)
    else:
        smoke = replace(preset, train=replace(preset.train, min_snr_gamma=0.0))
        path = trained_here(smoke, "velocity", (RUNS_DIR if runs_dir is None else runs_dir) / "smoke" / "flow-model"
                            / WEIGHTS_FILE, device, "training the smoke preset's flow-matching model")
    model, flow, info = load_with_path(path, device, FlowPath, "`make pretrained-flow`")
    return LoadedModel(model, flow, info, path)


AUTOENCODER_FILE = "autoencoder.safetensors"


class LatentPair(NamedTuple):
    """What :func:`train_latent_pair` trained: the codec (and what its training reported), the latent UNet's run."""

    codec: LatentCodec
    codec_summary: dict[str, Any]
    schedule: NoiseSchedule
    result: TrainResult


def check_latent_resume(folder: str | Path, recipe: LatentRecipe | None = None) -> bool:
    """Whether a resumed latent run in ``folder`` finds its autoencoder; refuses, before any training, a folder
    with nothing to resume, a training state with no autoencoder beside it (a pixel run's), and, given the
    ``recipe`` to resume with, an autoencoder another preset's recipe trained."""
    folder = Path(folder)
    autoencoder, state = folder / AUTOENCODER_FILE, folder / STATE_FILE
    if not autoencoder.is_file() and not state.is_file():
        raise CheckpointError(f"nothing to resume in {folder}: neither {AUTOENCODER_FILE} nor {STATE_FILE} is there; "
                              f"drop --resume to start afresh")
    if not autoencoder.is_file():
        raise CheckpointError(f"{state} has no autoencoder beside it ({autoencoder} is missing), so it is not a latent "
                              f"run's state (a --pixel run's?); resume it with --pixel, or drop --resume to start afresh")
    if recipe is not None:
        saved = load_codec(autoencoder)[0].autoencoder.config
        if saved != recipe.autoencoder:
            raise CheckpointError(f"{autoencoder} was trained with another recipe (autoencoder widths {saved.widths}), "
                                  f"not the {recipe.preset.name} preset's {recipe.autoencoder.widths}; resume with the "
                                  f"preset that started the run, or drop --resume to start afresh in another --out")
    return state.is_file()


def train_latent_pair(recipe: LatentRecipe, train_set: ImageDataset, folder: str | Path, *,
                      steps: int | None = None, device: str | torch.device | None = None, seed: int = 0,
                      resume: bool = False, progress: bool = True) -> LatentPair:
    """Latent diffusion from scratch into ``folder``: ``recipe``'s autoencoder, then its UNet on the latents.

    Stage 1 trains the autoencoder on ``train_set`` and writes ``folder/autoencoder.safetensors``
    (with ``resume``, the file an interrupted run left there is loaded instead, and stage 2 resumes
    from its training state if it had written one; :func:`check_latent_resume`). Stage 2
    encodes every image once (:func:`~ddpm_lib.latent.latent_dataset`) and runs
    :func:`~ddpm_lib.train.train` for ``steps`` (default ``recipe.steps``; see
    :meth:`~ddpm_lib.latent.LatentRecipe.training`) into ``folder`` (its checkpoint
    files, resumable); the weights name the autoencoder, so ``load`` finds the pair again.
    """
    folder = Path(folder)
    autoencoder_path = folder / AUTOENCODER_FILE
    remove_stale_temps(autoencoder_path)  # left by a run killed while it wrote the autoencoder
    unet_started = check_latent_resume(folder) if resume else False
    if resume:
        codec, codec_summary = load_codec(autoencoder_path, choose_device(device))
    else:
        codec, codec_summary = train_codec(recipe, train_set.images, device=device, progress=progress, seed=seed)
        save_codec(codec, autoencoder_path, **codec_summary)
    model, schedule = preset_model(recipe.preset, seed)
    result = train(model, schedule, latent_dataset(codec, train_set), recipe.training(steps), device=device,
                   checkpoint_dir=folder, resume=unet_started, progress=progress,
                   info={"autoencoder": str(autoencoder_path)})
    return LatentPair(codec, codec_summary, schedule, result)


def latent_model(preset: Preset, device: str | torch.device = "cpu", *, runs_dir: Path | None = None,
                 pretrained: Path = PRETRAINED_LATENT_PATH) -> tuple[LoadedModel, LatentCodec]:
    """Notebook 09's latent DDPM and the codec of its latents: the shipped pair (cpu, gpu), or a smoke pair trained
    here. Unpacks as ``(model, schedule, info, file), codec``.

    The codec is the autoencoder the checkpoint names (:func:`~ddpm_lib.latent.codec_for_checkpoint`). The smoke pair (the smoke recipe of :func:`~ddpm_lib.latent.latent_recipe`: a 20-step
    autoencoder, then 20 steps of the latent UNet) is kept in ``runs/smoke/latent-model/``.
    """
    if preset.name != "smoke":
        path = find_checkpoint(pretrained)
    else:
        folder = (RUNS_DIR if runs_dir is None else runs_dir) / "smoke" / "latent-model"
        path = folder / WEIGHTS_FILE
        if not path.is_file():
            recipe = latent_recipe(preset)
            print(f"training the smoke preset's autoencoder and latent UNet ({preset.train.steps} steps each) into "
                  f"{folder}")
            train_latent_pair(recipe, load_dataset("mnist-5k", "train"), folder, device=device,
                              seed=preset.train.seed, progress=False)
    model, schedule, info = load_with_path(path, device, NoiseSchedule, "`make pretrained-latent`")
    codec_found = codec_for_checkpoint(path, info, device)
    if codec_found is None:
        raise ValueError(f"{path} is a pixel-space DDPM: it names no autoencoder; retrain the latent pair with "
                         f"`make pretrained-latent`")
    return LoadedModel(model, schedule, info, path), codec_found


def reflow_model(preset: Preset, device: str | torch.device = "cpu", *, runs_dir: Path | None = None,
                 pretrained: Path = REFLOW_PATH) -> tuple[LoadedModel, LatentCodec]:
    """Notebook 11's reflowed latent model and its codec: the shipped one (cpu, gpu), or a smoke one reflowed here
    from :func:`latent_model`'s smoke pair (50 pairs, the smoke preset's steps), kept in ``runs/smoke/reflow-model/``.
    Unpacks as ``(model, path, info, file), codec``."""
    if preset.name != "smoke":
        path = find_checkpoint(pretrained)
    else:
        teacher = latent_model(preset, device, runs_dir=runs_dir)[0].file
        folder = (RUNS_DIR if runs_dir is None else runs_dir) / "smoke" / "reflow-model"
        path = folder / WEIGHTS_FILE
        if not path.is_file():
            print(f"reflowing the smoke preset's latent model ({preset.train.steps} steps) into {folder}")
            train_reflow(teacher, folder, num_pairs=50, device=device, progress=False, seed=preset.train.seed,
                         config=replace(REFLOW_TRAINING, steps=preset.train.steps, batch_size=preset.train.batch_size))
    model, flow, info = load_with_path(path, device, FlowPath, "`make pretrained-reflow`")
    codec = codec_for_checkpoint(path, info, device)
    if codec is None:
        raise ValueError(f"{path} names no autoencoder; retrain it with `make pretrained-reflow`")
    return LoadedModel(model, flow, info, path), codec
