import os
from pathlib import Path

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


def test_check_output_path_refuses_a_folder_nothing_can_be_written_in():
    with pytest.raises(ValueError, match=r"cannot write the weights file \(--out\) /proc/m.safetensors: the folder "
                                         r"/proc is not writable"):
        check_output_path("/proc/m.safetensors", "weights file", option="--out")
    with pytest.raises(ValueError, match="the folder /proc is not writable"):  # a folder still to be made, under /proc
        check_output_path("/proc/m_checkpoint/model.safetensors", "checkpoint folder", option="--checkpoint-dir")


def test_check_output_path_read_only_folder_as_a_user():
    """Checked in a child process that drops to an unprivileged user when run as root (root ignores chmod), so the
    refusal of a read-only folder really runs in CI; a writable folder beside it passes for the same user."""
    import shutil
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="ro-check-", dir="/tmp"))
    try:
        base.chmod(0o755)
        ro, rw = base / "ro", base / "rw"
        ro.mkdir(mode=0o555)
        rw.mkdir()
        rw.chmod(0o777)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            try:
                if os.geteuid() == 0:
                    os.setgid(65534)
                    os.setuid(65534)  # nobody
                lines = []
                for folder in (ro, rw):
                    try:
                        check_output_path(folder / "x.png", "picture", option="--out")
                        lines.append("accepted")
                    except ValueError as err:
                        lines.append(str(err))
                os.write(write, "\n".join(lines).encode())
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        refused, accepted = os.read(read, 10_000).decode().split("\n")
        os.close(read)
        assert "cannot write the picture (--out)" in refused and "ro is not writable" in refused, refused
        assert accepted == "accepted"
    finally:
        shutil.rmtree(base)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs: every write below overflows it (needs root and mount rights, as in CI; skipped elsewhere)."""
    import subprocess
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.strip() or 'not root'}): the full-disk case needs it")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def test_a_full_disk_leaves_nothing_half_written(tiny_disk):
    """Weights, training state, recipe JSON and PNG: each write that runs out of space raises and leaves no file."""
    import errno

    import torch

    from ddpm_lib.checkpoint import save_model, save_training_state
    from ddpm_lib.unet import SimpleUNet
    from ddpm_lib.viz import save_grid

    g = torch.Generator().manual_seed(0)
    writes = {
        "weights": lambda: save_model(SimpleUNet(base_channels=16, num_classes=10), tiny_disk / "m.safetensors"),
        "training state": lambda: save_training_state(tiny_disk / "train_state.pt", {"w": torch.randn(200_000, generator=g)}),
        "recipe JSON": lambda: atomic_write_json(tiny_disk / "recipe.json", {"losses": [0.123456789] * 40_000}),
        "PNG": lambda: save_grid(torch.rand(400, 1, 32, 32, generator=g) * 2 - 1, tiny_disk / "grid.png", nrow=20),
    }
    for what, write in writes.items():
        with pytest.raises(OSError) as err:
            write()
        assert err.value.errno == errno.ENOSPC or "No space left" in str(err.value), (what, err.value)
        assert sorted(p.name for p in tiny_disk.iterdir()) == [], f"{what}: a half-written file was left behind"
