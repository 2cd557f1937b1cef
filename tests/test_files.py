import os

import pytest

from ddpm_lib.files import (atomic_path, atomic_write_json, atomic_write_text, check_output_path,
                            remove_stale_temps)


def test_atomic_write_leaves_old_file_on_crash(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temporary file left behind


def test_json_and_text_writes_are_atomic_and_complete(tmp_path, monkeypatch):
    path = atomic_write_json(tmp_path / "a" / "r.json", {"x": 1})
    assert path.read_text() == '{\n  "x": 1\n}\n'
    atomic_write_text(tmp_path / "t.md", "table")
    assert (tmp_path / "t.md").read_text() == "table"

    # a full disk while writing: the old file stays whole and no temporary file is left
    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pathlib.Path.write_text", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic_write_json(path, {"x": 2})
    monkeypatch.undo()
    assert path.read_text() == '{\n  "x": 1\n}\n'
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]


def test_remove_stale_temps_removes_only_that_files_leftovers(tmp_path):
    (tmp_path / ".train_state.pt.abc123.tmp").write_bytes(b"half")
    (tmp_path / ".model.safetensors.x.tmp").write_bytes(b"half")
    (tmp_path / "train_state.pt").write_bytes(b"whole")
    removed = remove_stale_temps(tmp_path / "train_state.pt")
    assert [p.name for p in removed] == [".train_state.pt.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.safetensors.x.tmp", "train_state.pt"]
    assert remove_stale_temps(tmp_path / "missing" / "f") == []


def test_check_output_path_refuses_what_would_fail_later(tmp_path):
    assert check_output_path(tmp_path / "new" / "deeper" / "x.png", "picture") == tmp_path / "new" / "deeper" / "x.png"
    with pytest.raises(ValueError, match=r"picture \(--out\) .* is an existing directory; give a file name"):
        check_output_path(tmp_path, "picture", option="--out")
    ckpt = tmp_path / "m.safetensors"
    ckpt.write_bytes(b"weights")
    with pytest.raises(ValueError, match="same file as the input .*m.safetensors; writing it would destroy the input"):
        check_output_path(ckpt, "picture", option="--out", not_same_as=(ckpt,))
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="plain is a file, not a folder"):
        check_output_path(a_file / "x.png", "picture")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_check_output_path_read_only_folder(tmp_path):  # pragma: no cover - CI runs as root
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="not writable"):
            check_output_path(ro / "x.png", "picture")
    finally:
        ro.chmod(0o700)
