"""ddpm_lib: the tested companion package of the course *Diffusion from Scratch*.

One concept per module (each names the notebook that teaches it); the notebooks' exercises and
their tutor are the separate package ``ddpm_exercises``.

- ``data``: datasets in [-1, 1], shape (N, C, 32, 32), the offline ``mnist-5k`` default
- ``linear``: linear diffusion (PCA codec, one-hot prompts, least-squares denoiser)
- ``schedule``: ``NoiseSchedule``, the forward process q(x_t | x_0), and the levels samplers visit
- ``unet``: timestep embeddings, AdaGN residual blocks, attention, ``SimpleUNet``
- ``train``: Algorithm 1, EMA, the fast CPU path, resume
- ``sample``: step functions (DDPM Algorithm 2, DDIM, DPM-Solver++, Euler, Heun), guidance, one loop per sampler
- ``generation``: a sampler by name, many samples in batches, latents decoded
- ``checkpoint``: safetensors weights with JSON config, atomic writes
- ``judge``: the judge network, its training recipe and its weights
- ``metrics``: accuracy, Frechet distance, CAS, memorisation and grain on the judge's terms
- ``evaluate``: report rows, the results table, scoring a model or a checkpoint
- ``viz``: grids, strips, trajectories, animations
- ``text``: prompts as token ids, the prompt encoder, cross-attention conditioning
- ``flow``: flow matching's straight path and its velocity
- ``mixture``: Gaussian mixtures whose score and denoiser are exact (checks for samplers and Langevin)
- ``autoencoder``: the convolutional autoencoder of latent diffusion
- ``latent``: latent diffusion: the codec, its dataset, each preset's latent recipe
- ``reflow``: a DDPM's noise-to-digit map straightened, so one or two Euler steps draw a digit
- ``course``: the models notebooks and commands start from (shipped, or trained here)
- ``quest``: the Quest: train, draw ``chaos_sculptures/new_creation.png``, score
- ``bench``: throughput, matmul peaks, FLOP and attention counts, the machine description
- ``config``: the model and training configs (validated) and the presets
- ``runtime``: device, mixed precision, progress bars, scoped seeding
- ``files``: atomic writes and output-path checks
- ``paths``: shipped weights (package data) and the course folder
- ``validate``: the checks of what a user gives, with one wording for every refusal
- ``distributed``: data-parallel training under torchrun
"""

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ModelConfig": "config", "Preset": "config", "TrainConfig": "config", "default_preset_name": "config",
    "get_preset": "config", "ImageDataset": "data", "load_dataset": "data", "to_model_range": "data",
    "to_unit": "data", "choose_device": "runtime", "generate": "generation", "ddim_timesteps": "schedule",
    "guided_eps": "sample", "sample_ddim": "sample", "sample_ddpm": "sample", "NoiseSchedule": "schedule",
    "extract": "schedule", "SimpleUNet": "unet", "count_parameters": "unet",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """The names above, each imported from its module on first use: ``import ddpm_lib`` itself loads nothing."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'ddpm_lib' has no attribute {name!r}")


if TYPE_CHECKING:
    from .config import ModelConfig, Preset, TrainConfig, default_preset_name, get_preset
    from .data import ImageDataset, load_dataset, to_model_range, to_unit
    from .generation import generate
    from .runtime import choose_device
    from .sample import guided_eps, sample_ddim, sample_ddpm
    from .schedule import NoiseSchedule, ddim_timesteps, extract
    from .unet import SimpleUNet, count_parameters
