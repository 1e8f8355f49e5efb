"""Small filesystem primitives that every writer shares."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Optional, Union

from envman import checkpoints

PathLike = Union[str, "os.PathLike[str]"]


def write_atomic(path: PathLike, data: bytes) -> None:
    """Replace `path` with `data` so that a reader sees the old file or the new one, never half.

    The temporary file lives in the same directory so `os.replace` is a rename on one
    filesystem; it is fsynced first so a crash cannot leave an empty file behind.
    """
    target = Path(path)
    # The writer's pid in the name lets `doctor --fix` tell a write in progress from one
    # that was killed (`writer_of`).
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, _mode_for(target))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        checkpoints.reached(f"write:{target.name}")
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def writer_of(temp_name: str) -> Optional[int]:
    """The pid of the process that made `write_atomic`'s temporary file `temp_name`, or
    None if the name does not say (not one of ours, or an older envman's)."""
    import re

    found = re.search(r"\.(\d+)-[A-Za-z0-9_]+\.tmp\Z", temp_name)
    return int(found.group(1)) if found and temp_name.startswith(".") else None


def _mode_for(target: Path) -> int:
    """Keep an existing file's mode; give a new one what `open` would (0666 less the umask)."""
    try:
        return os.stat(target).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def sha256_file(path: PathLike) -> str:
    """The SHA-256 of a regular file, read in chunks; anything else (a FIFO that would
    block, a device that never ends) raises OSError instead of being read."""
    import hashlib
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{os.fspath(path)} is not a regular file")
        digest = hashlib.sha256()
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
        return digest.hexdigest()


def tomllib() -> ModuleType:
    """The TOML reader: the standard library's where it has one (3.11+), else tomli."""
    if sys.version_info >= (3, 11):
        import tomllib as reader
    else:
        import tomli as reader
    return reader


def is_within(path: PathLike, directory: PathLike) -> bool:
    """Whether `path` is `directory` or below it (both made absolute; no link resolved)."""
    path, directory = os.path.abspath(path), os.path.abspath(directory)
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)
