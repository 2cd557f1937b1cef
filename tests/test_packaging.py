"""The project's own files agree with each other: dependencies, README commands, Makefile targets."""

import re
from pathlib import Path

import pytest

from ddpm_lib.__main__ import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PIP = {"pytorch": "torch"}  # conda-forge names that differ from PyPI's


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _conda_names():
    names, in_pip = set(), False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("- pip:"):
            in_pip = True
            continue
        if in_pip or not stripped.startswith("- ") or line.startswith("channels") or stripped == "- conda-forge":
            continue
        names.add(CONDA_TO_PIP.get(_name(stripped[2:]), _name(stripped[2:])))
    return names - {"python", "pip"}


def test_environment_yml_and_pyproject_agree_on_package_names():
    project = _pyproject()["project"]
    pip_names = {_name(d) for d in project["dependencies"]}
    for extra in ("course", "test"):
        pip_names |= {_name(d) for d in project["optional-dependencies"][extra]}
    assert _conda_names() == pip_names


def test_environment_yml_installs_the_package_from_pyproject():
    text = (ROOT / "environment.yml").read_text()
    assert "conda-forge" in text and '-e ".[course,test]"' in text
    assert "\n  - pytorch\n" not in text.split("channels:")[1].split("dependencies:")[0]  # no discontinued channel


def test_readme_commands_exist():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.M))
    used = set(re.findall(r"\bmake ([a-z-]+)", readme))
    assert used and used <= targets, used - targets
    cli = set(re.findall(r"python -m ddpm_lib ([a-z-]+)", readme))
    assert cli and cli <= set(COMMANDS), cli - set(COMMANDS)


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme


def test_every_module_names_its_notebook_or_role():
    for path in sorted((ROOT / "ddpm_lib").glob("*.py")):
        doc = path.read_text().split('"""')[1] if '"""' in path.read_text() else ""
        assert doc.strip(), f"{path.name} has no module docstring"
