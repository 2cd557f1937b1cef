"""Where the course's files live, for a checkout and for an installed package alike.

Shipped weights are package data in ``ddpm_lib/weights/``, so a wheel carries them. The course folder holds what
runs write (``runs/``, git-ignored, and ``chaos_sculptures/``) and downloaded datasets (``data/``): it is
``$DDPM_COURSE_ROOT``, else the checkout the package sits in, else the current directory, read at import.
"""

from __future__ import annotations

import os
from pathlib import Path

from .files import can_write_in

ROOT_ENV = "DDPM_COURSE_ROOT"
PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"  # shipped with the package (see pyproject's package-data)
PRETRAINED_PATH = WEIGHTS_DIR / "pretrained_ddpm.safetensors"
PRETRAINED_FLOW_PATH = WEIGHTS_DIR / "pretrained_flow.safetensors"  # the same recipe trained by flow matching
AUTOENCODER_PATH = WEIGHTS_DIR / "autoencoder.safetensors"           # latent diffusion's autoencoder (notebook 09)
PRETRAINED_LATENT_PATH = WEIGHTS_DIR / "pretrained_latent.safetensors"  # the DDPM on its latents
REFLOW_PATH = WEIGHTS_DIR / "reflow_latent.safetensors"            # the latent DDPM reflowed: 1-2 Euler steps
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


def check_course_root(environ: dict[str, str] | None = None) -> str | None:
    """Refuse a ``$DDPM_COURSE_ROOT`` that outputs cannot go to (a file, an unwritable folder), before any work;
    create a missing folder. Returns what to tell the user (the folder was created), or None."""
    environ = dict(os.environ) if environ is None else environ
    value = environ.get(ROOT_ENV, "").strip()
    if not value:
        return None
    root = Path(value).expanduser()
    fix = f"point {ROOT_ENV} at a folder you can write to (runs/ and chaos_sculptures/ go there), or unset it"
    if root.exists() and not root.is_dir():
        raise ValueError(f"{ROOT_ENV}={value} is a file, not a folder; {fix}")
    said = None
    if not root.exists():
        try:
            root.mkdir(parents=True)
        except OSError as err:
            raise ValueError(f"{ROOT_ENV}={value} does not exist and cannot be created ({err.strerror}); {fix}") from None
        said = f"created the course folder {root} ({ROOT_ENV})"
    if not can_write_in(root):
        raise ValueError(f"{ROOT_ENV}={value} is a folder nothing can be written in (read-only or no permission); {fix}")
    return said


COURSE_ROOT = course_root()
DATA_DIR = COURSE_ROOT / "data"                      # torchvision dataset cache (git-ignored)
RUNS_DIR = COURSE_ROOT / "runs"                      # checkpoints runs write (git-ignored)
SCULPTURES_DIR = COURSE_ROOT / "chaos_sculptures"    # generated pictures


def sculptures_dir(preset_name: str) -> Path:
    """Where a notebook run writes its pictures: ``chaos_sculptures/``, except that smoke runs (CI)
    write to the git-ignored ``runs/smoke/chaos_sculptures/``, so tests never touch committed files."""
    return RUNS_DIR / "smoke" / "chaos_sculptures" if preset_name == "smoke" else SCULPTURES_DIR
