"""The models the notebooks and commands start from, found or made so that every notebook runs on its own.

With the ``cpu`` and ``gpu`` presets each loader returns the shipped model (``ddpm_lib/weights/``, rebuilt by
``make pretrained``, ``pretrained-flow``, ``pretrained-latent``, ``pretrained-reflow``); with ``smoke`` (CI) it
trains a tiny one once into ``runs/smoke/`` and reuses it. :func:`preset_model` builds a preset's untrained model.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

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


class LoadedModel(NamedTuple):
    """A trained model as a notebook gets it; unpacks as ``model, schedule, info, file``."""

    model: DiffusionModel          #: in eval mode, on the requested device
    schedule: NoiseSchedule | FlowPath  #: its path: a DDPM NoiseSchedule, or flow matching's FlowPath
    info: dict[str, Any]           #: what the checkpoint recorded (steps, note, ...)
    file: Path                     #: the weights file it came from


def load_with_path(path: Path, device: str | torch.device, kind: type[NoiseSchedule | FlowPath],
                   retrain: str) -> LoadedModel:
    """The checkpoint at ``path``, whose path must be a ``kind`` (a DDPM :class:`NoiseSchedule` or a
    :class:`FlowPath`); otherwise a ``ValueError`` naming the command to ``retrain``."""
    model, found, info = load_model(path, device)
    if not isinstance(found, kind):
        what = "DDPM noise schedule" if kind is NoiseSchedule else "flow-matching path"
        raise ValueError(f"{path} records no {what} (it has {found!r}); retrain it with {retrain}")
    return LoadedModel(model, found, info, path)


def smoke_folder(runs_dir: Path | None, name: str) -> Path:
    """``runs/smoke/<name>``: where a smoke-mode loader keeps the tiny model it trained."""
    return (RUNS_DIR if runs_dir is None else runs_dir) / "smoke" / name


def notebook04_weights(preset_name: str, runs_dir: Path | None = None) -> Path:
    """Where notebook 04 saves the model it trains with ``preset_name``."""
    return (RUNS_DIR if runs_dir is None else runs_dir) / f"notebook04-{preset_name}" / WEIGHTS_FILE


def smoke_weights(runs_dir: Path | None = None) -> Path:
    """Where :func:`notebook_model` keeps the smoke model it trains when notebook 04 has not run."""
    return smoke_folder(runs_dir, "notebook-model") / WEIGHTS_FILE


def notebook_model(preset: Preset, device: str | torch.device = "cpu", *, runs_dir: Path | None = None,
                   pretrained: Path = PRETRAINED_PATH) -> LoadedModel:
    """The trained DDPM of notebooks 05-08: the shipped one, else notebook 04's; in smoke mode notebook 04's, else a
    20-step one trained here."""
    notebook04 = notebook04_weights(preset.name, runs_dir)
    if preset.name != "smoke":
        path = find_checkpoint(pretrained, notebook04)
    elif notebook04.is_file():
        path = notebook04
    else:
        path = trained_here(preset, "eps", smoke_weights(runs_dir), device,
                            "notebook 04 has not run in this folder: training the smoke preset's model")
    return load_with_path(path, device, NoiseSchedule, "`python -m ddpm_lib train`")


def flow_model(preset: Preset, device: str | torch.device = "cpu", *, runs_dir: Path | None = None,
               pretrained: Path = PRETRAINED_FLOW_PATH) -> LoadedModel:
    """Notebook 10's flow-matching model (in smoke mode the smoke recipe, velocity objective, no min-SNR)."""
    if preset.name != "smoke":
        path = find_checkpoint(pretrained)
    else:
        smoke = replace(preset, train=replace(preset.train, min_snr_gamma=0.0))
        path = trained_here(smoke, "velocity", smoke_folder(runs_dir, "flow-model") / WEIGHTS_FILE, device,
                            "training the smoke preset's flow-matching model")
    return load_with_path(path, device, FlowPath, "`make pretrained-flow`")


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


def smoke_latent_weights(preset: Preset, device: str | torch.device, runs_dir: Path | None) -> Path:
    """The smoke latent pair's UNet weights in ``runs/smoke/latent-model/``, trained there first if missing."""
    folder = smoke_folder(runs_dir, "latent-model")
    if not (folder / WEIGHTS_FILE).is_file():
        print(f"training the smoke preset's autoencoder and latent UNet ({preset.train.steps} steps each) into {folder}")
        train_latent_pair(latent_recipe(preset), load_dataset("mnist-5k", "train"), folder, device=device,
                          seed=preset.train.seed, progress=False)
    return folder / WEIGHTS_FILE


def latent_model(preset: Preset, device: str | torch.device = "cpu", *, runs_dir: Path | None = None,
                 pretrained: Path = PRETRAINED_LATENT_PATH) -> tuple[LoadedModel, LatentCodec]:
    """Notebook 09's latent DDPM and the codec its checkpoint names; in smoke mode the smoke
    :func:`~ddpm_lib.latent.latent_recipe`, trained here. Unpacks as ``(model, schedule, info, file), codec``."""
    path = find_checkpoint(pretrained) if preset.name != "smoke" else smoke_latent_weights(preset, device, runs_dir)
    return with_codec(load_with_path(path, device, NoiseSchedule, "`make pretrained-latent`"), device,
                      "is a pixel-space DDPM: it names no autoencoder; retrain the latent pair with `make pretrained-latent`")


def reflow_model(preset: Preset, device: str | torch.device = "cpu", *, runs_dir: Path | None = None,
                 pretrained: Path = REFLOW_PATH) -> tuple[LoadedModel, LatentCodec]:
    """Notebook 11's reflowed latent model and its codec; in smoke mode :func:`latent_model`'s smoke pair reflowed here
    (50 pairs, the smoke preset's steps). Unpacks as ``(model, path, info, file), codec``."""
    if preset.name != "smoke":
        path = find_checkpoint(pretrained)
    else:
        teacher = smoke_latent_weights(preset, device, runs_dir)
        folder = smoke_folder(runs_dir, "reflow-model")
        path = folder / WEIGHTS_FILE
        if not path.is_file():
            print(f"reflowing the smoke preset's latent model ({preset.train.steps} steps) into {folder}")
            train_reflow(teacher, folder, num_pairs=50, device=device, progress=False, seed=preset.train.seed,
                         config=replace(REFLOW_TRAINING, steps=preset.train.steps, batch_size=preset.train.batch_size))
    return with_codec(load_with_path(path, device, FlowPath, "`make pretrained-reflow`"), device,
                      "names no autoencoder; retrain it with `make pretrained-reflow`")


def with_codec(loaded: LoadedModel, device: str | torch.device, missing: str) -> tuple[LoadedModel, LatentCodec]:
    """``loaded`` and the codec its checkpoint names; a pixel-space checkpoint raises ``ValueError`` naming the file."""
    codec = codec_for_checkpoint(loaded.file, loaded.info, device)
    if codec is None:
        raise ValueError(f"{loaded.file} {missing}")
    return loaded, codec
