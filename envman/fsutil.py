"""Small filesystem primitives that every writer and every reader shares.

Cheap to import (only `os`, `sys`, `stat`): the `cd` and TAB fast paths
(`envman/shell/auto_fast.py`, `envman/shell/complete_fast.py`) read their index files with `read_regular`.
"""

from __future__ import annotations

import os
import stat
import sys

from envman import checkpoints

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import FrozenSet, Optional, Tuple, Union

    PathLike = Union[str, "os.PathLike[str]"]

# Bounds for `read_regular`, per kind of file: far above what envman writes, far below
# what would hurt to read into memory. A registry of 5,000 environments is ~3.5 MB.
REGISTRY_MAX = 64 * 1024 * 1024  # the registry, its snapshot and its indexes
SMALL_MAX = 1024 * 1024  # config, pyvenv.cfg, .python-version, pyproject.toml
CACHE_MAX = 16 * 1024 * 1024  # an image manifest, the probe cache, a dist-info's files


class NotReadable(OSError):
    """A file `read_regular` refuses to read: not a regular file, a link, or too large.
    An OSError, so that each caller reports it as it reports any unreadable file;
    `strerror` says why in a few words."""


def read_regular(path: PathLike, limit: int, *, follow: bool = False, prefix: bool = False,
                 dir_fd: Optional[int] = None) -> bytes:
    """The bytes of the regular file at `path`, never blocking and never unbounded.

    Opened with O_NONBLOCK (a FIFO cannot hold the open) and, unless `follow`, with
    O_NOFOLLOW (for files only envman writes, where a link is foreign); what was opened
    must be a regular file (not a FIFO, a device such as /dev/zero, a directory) of at
    most `limit` bytes, else `NotReadable`. With `prefix`, a larger file is no error:
    its first `limit` bytes are returned (the head of a script). Every other failure
    is the OSError of the open or the read (FileNotFoundError for a missing file).
    """
    fd, _ = open_regular(path, limit, follow=follow, prefix=prefix, dir_fd=dir_fd)
    try:
        return read_open(fd, path, limit, prefix)
    finally:
        os.close(fd)


def open_regular(path: PathLike, limit: int, *, follow: bool = False, prefix: bool = False,
                 dir_fd: Optional[int] = None) -> Tuple[int, os.stat_result]:
    """`read_regular`'s checks without the read: the open descriptor and its `fstat`,
    for a reader that decides from the file's identity whether to read it at all.
    The caller closes the descriptor (and reads it with `read_open`)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        if not follow and _is_link(path, dir_fd):  # O_NOFOLLOW's ELOOP reads badly
            raise NotReadable(exc.errno, "it is a symbolic link", os.fspath(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotReadable(0, f"it is not a regular file ({_kind(st.st_mode)})", os.fspath(path))
        if st.st_size > limit and not prefix:
            raise NotReadable(0, f"it is larger than {_size(limit)}", os.fspath(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_open(fd: int, path: PathLike, limit: int, prefix: bool = False) -> bytes:
    """At most `limit` bytes from `fd` (opened by `open_regular`); more is `NotReadable`
    unless `prefix`. The size may have grown since the `fstat`: the bound is the read's."""
    chunks = []
    total = 0
    while total <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    data = b"".join(chunks)
    if total > limit:
        if not prefix:
            raise NotReadable(0, f"it is larger than {_size(limit)}", os.fspath(path))
        data = data[:limit]
    return data


def _is_link(path: PathLike, dir_fd: Optional[int]) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a file"


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"


def write_atomic(path: PathLike, data: bytes) -> None:
    """Replace `path` with `data` so that a reader sees the old file or the new one, never half.

    The temporary file lives in the same directory so `os.replace` is a rename on one
    filesystem; it is fsynced first so a crash cannot leave an empty file behind.
    """
    import tempfile
    from pathlib import Path

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


def _mode_for(target: "os.PathLike[str]") -> int:
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


def mount_points() -> FrozenSet[str]:
    """Every mount point of this process's mount namespace (Linux); empty elsewhere."""
    try:
        with open("/proc/self/mountinfo", "rb") as handle:
            lines = handle.read().decode("utf-8", "surrogateescape").splitlines()
    except OSError:
        return frozenset()
    points = set()
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:
            points.add(_unescape(fields[4]))
    return frozenset(points)


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        text = text.replace(code, chr(int(code[1:], 8)))
    return text
