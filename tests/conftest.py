"""Fixtures shared by the test modules."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

QUEST_FILE = Path(__file__).resolve().parents[1] / "quest_12_2.py"


@pytest.fixture(scope="session")
def quest() -> ModuleType:
    """quest_12_2.py, the Quest in one file, imported as a module (it is not a package)."""
    spec = importlib.util.spec_from_file_location("quest_12_2", QUEST_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
