from pathlib import Path

from ddpm_lib.paths import JUDGE_PATH, PACKAGE_DIR, PRETRAINED_PATH, course_root, sculptures_dir


def test_shipped_weights_are_package_data():
    assert JUDGE_PATH.is_file() and PRETRAINED_PATH.is_file()
    assert JUDGE_PATH.parent == PACKAGE_DIR / "weights"  # inside the package, so a wheel carries them
    text = (PACKAGE_DIR.parent / "pyproject.toml").read_text()
    assert '"weights/*.safetensors"' in text and '"weights/*.json"' in text


def test_course_root_resolution(tmp_path, monkeypatch):
    assert course_root({"DDPM_COURSE_ROOT": str(tmp_path)}) == tmp_path.resolve()
    assert course_root({}) == PACKAGE_DIR.parent  # a checkout: the repository
    site = tmp_path / "site-packages" / "ddpm_lib"  # an installed wheel: the current directory
    site.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert course_root({}, package_dir=site) == Path.cwd()


def test_smoke_runs_write_pictures_into_ignored_folders():
    assert sculptures_dir("cpu").name == "chaos_sculptures"
    smoke = sculptures_dir("smoke")
    assert "runs" in smoke.parts and smoke != sculptures_dir("cpu")
