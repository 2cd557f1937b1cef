"""Files written whole or not at all, and output paths checked before long work starts.

Every write goes to a temporary file beside the target, then ``os.replace``: a crash, a full disk or Ctrl-C leaves
the old file or the new one, never half of one. :func:`remove_stale_temps` removes what a killed run left.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

TEMP_SUFFIX = ".tmp"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``, moved over it on success and removed on an exception."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # temporary files are private (0600); the result gets the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` and atomically move the result to ``path``. Returns ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (plus a newline) to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def write_failed(path: str | Path, err: Exception) -> OSError:
    """An OSError for a write of ``path`` that a library reported its own way (safetensors, torch.save): ENOSPC,
    saying so, when the disk is full, else the library's message."""
    folder = Path(path).parent
    if os.statvfs(folder).f_bavail == 0:
        return OSError(errno.ENOSPC, f"no space left on the disk of {folder}; free some space and run again", str(path))
    return OSError(f"cannot write {path}: {err}")


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Remove the temporary files an interrupted write of ``path`` left beside it; return them."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = sorted(path.parent.glob(f"{_temp_prefix(path)}*{TEMP_SUFFIX}"))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def can_write_in(folder: Path) -> bool:
    """Whether a file can really be created in ``folder``: a probe file is made and removed (permission bits alone
    do not tell, e.g. for root, on a read-only mount or in /proc)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=TEMP_SUFFIX, dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def check_output_path(path: str | Path, what: str, *, option: str | None = None,
                      not_same_as: tuple[str | Path, ...] = (), example: str = "out.png") -> Path:
    """``path``, once checked before any long work that a file can be written there: not a directory, not one of the
    inputs ``not_same_as``, in a folder that can be written. Messages name ``what``, the ``option`` and the fix."""
    path = Path(path)
    flag = f" ({option})" if option else ""
    if path.is_dir():
        raise ValueError(f"the {what}{flag} {path} is an existing directory; give a file name, "
                         f"e.g. {path / example if path.suffix == '' else path.with_suffix('.out')}")
    for other in not_same_as:
        if Path(other).exists() and path.exists() and path.resolve() == Path(other).resolve():
            raise ValueError(f"the {what}{flag} {path} is the same file as the input {other}; writing it would "
                             f"destroy the input. Choose another output path")
    folder = path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"cannot create the folder of the {what}{flag} {path}: {existing} is a file, not a folder")
    if not can_write_in(existing):
        raise ValueError(f"cannot write the {what}{flag} {path}: the folder {existing} is not writable "
                         f"(read-only disk, a system folder or no permission); choose a folder you can write to")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"cannot overwrite the {what}{flag} {path}: the file is read-only")
    return path
