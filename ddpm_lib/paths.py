"""Where the course's files live, for a checkout and for an installed package alike.

Used by every notebook's setup cell and by the command line.

* Shipped weights (the judge, the pretrained DDPM, flow and latent models, the autoencoder) are package data in ``ddpm_lib/weights/``,
  so they travel inside a wheel: ``pip install`` anywhere finds them.
* The course folder holds what runs write: ``runs/`` (checkpoints, git-ignored) and
  ``chaos_sculptures/`` (pictures). It is the repository when the package is used from a
  checkout (an editable install, as the README sets up); otherwise the current directory; and
  ``DDPM_COURSE_ROOT`` names it explicitly. It is read when this module is imported.
* Datasets downloaded through torchvision go to ``<course folder>/data``.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV = "DDPM_COURSE_ROOT"
PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"  # shipped with the package (see pyproject's package-data)
PRETRAINED_PATH = WEIGHTS_DIR / "pretrained_ddpm.safetensors"
PRETRAINED_FLOW_PATH = WEIGHTS_DIR / "pretrained_flow.safetensors"  # the same recipe trained by flow matching
AUTOENCODER_PATH = WEIGHTS_DIR / "autoencoder.safetensors"           # latent diffusion's autoencoder (notebook 09)
PRETRAINED_LATENT_PATH = WEIGHTS_DIR / "pretrained_latent.safetensors"  # the DDPM on its latents
JUDGE_PATH = WEIGHTS_DIR / "judge.safetensors"


def course_root(environ: dict[str, str] | None = None, package_dir: Path = PACKAGE_DIR) -> Path:
    """``$DDPM_COURSE_ROOT``, else the checkout this package sits in, else the current directory."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get(ROOT_ENV, "").strip():
        return Path(environ[ROOT_ENV]).expanduser().resolve()
    checkout = package_dir.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout
    return Path.cwd()


COURSE_ROOT = course_root()
DATA_DIR = COURSE_ROOT / "data"                      # torchvision dataset cache (git-ignored)
RUNS_DIR = COURSE_ROOT / "runs"                      # checkpoints runs write (git-ignored)
SCULPTURES_DIR = COURSE_ROOT / "chaos_sculptures"    # generated pictures


def sculptures_dir(preset_name: str) -> Path:
    """Where a notebook run writes its pictures: ``chaos_sculptures/``, except that smoke runs (CI)
    write to the git-ignored ``runs/smoke/chaos_sculptures/``, so tests never touch committed files."""
    return RUNS_DIR / "smoke" / "chaos_sculptures" if preset_name == "smoke" else SCULPTURES_DIR
