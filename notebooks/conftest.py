"""Each notebook runs in a course folder of its own, so CI proves that none needs another to have run.

nbval starts a notebook's kernel when its first cell is set up; just before that, this hook points
``DDPM_COURSE_ROOT`` (where ``runs/`` and generated pictures go, see ``ddpm_lib.paths``) at a new
empty folder. Notebook 05 therefore cannot use the checkpoint notebook 04 wrote a minute earlier:
it must find or make its own model (``ddpm_lib.course.notebook_model``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ddpm_lib.paths import ROOT_ENV

_current: dict[str, str] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    notebook = Path(str(item.path))
    if notebook.suffix != ".ipynb" or _current.get("notebook") == str(notebook):
        return
    root = tempfile.mkdtemp(prefix=f"course-{notebook.stem}-")
    item.config.add_cleanup(lambda: shutil.rmtree(root, ignore_errors=True))
    _current.update(notebook=str(notebook), root=root)
    os.environ[ROOT_ENV] = root
