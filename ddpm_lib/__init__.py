"""ddpm_lib: the tested companion package of the course *Diffusion from Scratch*.

One concept per module (each names the notebook that teaches it):

- ``data``: datasets in [-1, 1], shape (N, C, 32, 32), the offline ``mnist-5k`` default
- ``linear``: linear diffusion (PCA codec, one-hot prompts, least-squares denoiser)
- ``schedule``: ``NoiseSchedule`` and the forward process q(x_t | x_0)
- ``unet``: timestep embeddings, AdaGN residual blocks, attention, ``SimpleUNet``
- ``train``: Algorithm 1, EMA, the fast CPU path, resume
- ``sample``: step functions (DDPM Algorithm 2, DDIM), the one reverse loop, guidance, samplers
- ``checkpoint``: safetensors weights with JSON config, atomic writes
- ``evaluate``: the judge network, the metrics, and scoring checkpoints
- ``viz``: grids, strips, animations
- ``config``: the model and training configs (validated) and the presets
- ``runtime``: device, mixed precision, progress bars, scoped seeding
- ``files``: atomic writes and output-path checks
- ``paths``: shipped weights (package data) and the course folder
- ``validate``: range checks with one wording for every refusal
- ``distributed``: data-parallel training under torchrun
"""

from .config import ModelConfig, Preset, TrainConfig, default_preset_name, get_preset
from .data import ImageDataset, load_dataset, to_model_range, to_unit
from .runtime import choose_device
from .sample import ddim_timesteps, generate, guided_eps, sample_ddim, sample_ddpm
from .schedule import NoiseSchedule, extract
from .unet import SimpleUNet, count_parameters

__version__ = "0.1.0"

__all__ = [
    "ImageDataset", "ModelConfig", "NoiseSchedule", "Preset", "SimpleUNet", "TrainConfig", "choose_device",
    "count_parameters", "ddim_timesteps", "default_preset_name", "extract", "generate", "get_preset", "guided_eps",
    "load_dataset", "sample_ddim", "sample_ddpm", "to_model_range", "to_unit",
]
