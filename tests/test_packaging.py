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
    assert re.search(r"^make test$", ci, flags=re.M), "CI does not run `make test` as a command"
    assert re.search(r"^make test\b", readme, flags=re.M), "the README does not show `make test` as a command"


def test_every_module_has_a_docstring_and_the_package_docstring_lists_it():
    import ast
    package_doc = ast.get_docstring(ast.parse((ROOT / "ddpm_lib" / "__init__.py").read_text())) or ""
    for path in sorted((ROOT / "ddpm_lib").glob("*.py")):
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} has no module docstring"
        if not path.name.startswith("_"):
            assert f"``{path.stem}``" in package_doc, f"the package docstring does not list {path.stem}"
    assert "``ddpm_exercises``" in package_doc


def test_wheel_installed_outside_the_repository_samples_and_judges(tmp_path):
    """A non-editable install (a wheel in a fresh venv, run from another folder) finds the shipped weights."""
    import json as json_
    import shutil
    import subprocess
    import sys
    import sysconfig

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("ddpm_lib", "ddpm_exercises"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(src)], check=True)
    (wheel,) = wheels.glob("ddpm_lib-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True)
    # the fresh venv borrows torch and friends from this one; ddpm_lib itself comes only from the wheel
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"}
    script = (
        "import json, ddpm_lib, ddpm_exercises\n"
        "from ddpm_lib.paths import PRETRAINED_PATH, JUDGE_PATH, COURSE_ROOT\n"
        "print(json.dumps({'module': ddpm_lib.__file__, 'weights': str(PRETRAINED_PATH), 'judge': str(JUDGE_PATH),"
        " 'root': str(COURSE_ROOT), 'exercises': ddpm_exercises.__file__}))\n")
    where = json_.loads(subprocess.run([str(python), "-c", script], cwd=elsewhere, env=env, capture_output=True,
                                       text=True, check=True).stdout)
    assert where["module"].startswith(site) and where["weights"].startswith(site) and where["judge"].startswith(site)
    assert where["exercises"].startswith(site)  # the notebooks' tutor ships in the same wheel
    assert Path(where["root"]) == elsewhere.resolve()
    run = subprocess.run([str(python), "-m", "ddpm_lib", "evaluate", "--checkpoint", where["weights"],
                          "--num-samples", "20", "--steps", "5", "--json"], cwd=elsewhere, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    scores = json_.loads(run.stdout.strip().splitlines()[-1])
    assert scores["num_samples"] == 20 and scores["accuracy"] >= 0.5 and scores["frechet"] > 0
    run = subprocess.run([str(python), "-m", "ddpm_lib", "sample", "--checkpoint", where["weights"], "--digits", "3,7",
                          "--per-digit", "2", "--steps", "5", "--out", "s.png"], cwd=elsewhere, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (elsewhere / "s.png").stat().st_size > 1000
