"""A project directory's identity: how envman knows a moved project when it sees it.

A rename keeps a directory's device and inode numbers, but file systems hand a freed
inode number to the next directory made (ext4 does so at once), so those two numbers
alone would take any new directory for a deleted project. What an unrelated directory
does not share:

- its birth time, where the file system keeps one (`statx` on Linux, `st_birthtime`
  elsewhere): a directory made later was born later. When both sides have it, it
  decides.
- otherwise, a few of its top-level files, each as its inode number, modification time
  (to the nanosecond) and a hash of its name (hashed so that no file name, however
  encoded, can make the registry unwritable). A rename carries them along untouched.
  A directory made afresh does not have them: ext4 hands the freed inode numbers of a
  deleted tree to a new one made the same way, in the same order, but the new files'
  modification times are new. One file still as recorded is enough (the oldest files
  are recorded: the least likely to be edited). A project with no top-level file when
  it was recorded, or whose recorded files were all edited since, is then not
  recognised: `envman mv NAME --project DIR` says where it went.
- its `.venv` link, if envman made one: a moved project carries it, and it names the
  environment exactly.

envman never writes a token into a project to recognise it later: the only thing it
ever writes there is the `.venv` link, and only when asked.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from typing import Any, Callable, List, Optional, Tuple

from envman.models import ProjectIdentity

# How many entries are recorded: enough to survive a few being deleted or rewritten.
ENTRIES_KEPT = 16
# Entries that tools delete and make again (new inode numbers) all the time.
VOLATILE = frozenset({".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                      ".tox", ".nox", "build", "dist", ".coverage", ".DS_Store"})
LINK_NAME = ".venv"


def take(directory: str) -> Optional[ProjectIdentity]:
    """The identity of `directory` now, or None when it cannot be examined."""
    try:
        st = os.stat(directory)
    except OSError:
        return None
    return ProjectIdentity(st.st_dev, st.st_ino, birth_ns(directory, st), tuple(_entries(directory)))


def recognise(identity: Optional[ProjectIdentity], directory: str, env_path: str) -> bool:
    """Whether `directory` is the project `identity` was taken of (moved or renamed), or
    carries the `.venv` link to the environment at `env_path`."""
    if links_to(directory, env_path):
        return True
    if identity is None:
        return False
    try:
        st = os.lstat(directory)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) != (identity.device, identity.inode):
        return False
    if identity.birth_ns is not None:
        born = birth_ns(directory, st)
        if born is not None:
            return born == identity.birth_ns
    if not identity.entries:
        return False
    present = set(_entries(directory, limit=None))
    return any(entry in present for entry in identity.entries)


def links_to(directory: str, env_path: str) -> bool:
    """Whether `directory/.venv` is a symbolic link naming the environment at `env_path`."""
    link = os.path.join(directory, LINK_NAME)
    try:
        target = os.readlink(link)
    except OSError:
        return False
    return os.path.normpath(os.path.join(directory, target)) == os.path.normpath(env_path)


def _entries(directory: str, limit: Optional[int] = ENTRIES_KEPT) -> List[str]:
    """`INODE:MTIME_NS:HASH` of the top-level files (and links), oldest first: a file
    left alone since it was recorded is the evidence, and old files are the ones people
    leave alone. Directories change their times with every file added in them."""
    found: List[Tuple[int, str]] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name in VOLATILE:
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                digest = hashlib.sha256(os.fsencode(entry.name)).hexdigest()[:16]
                found.append((st.st_mtime_ns, f"{entry.inode()}:{st.st_mtime_ns}:{digest}"))
    except OSError:
        return []
    ordered = [text for _, text in sorted(found)]
    return ordered if limit is None else ordered[:limit]


# -- birth times -------------------------------------------------------------------

_STATX_BTIME = 0x800
_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100
_statx: Optional[Callable[..., Any]] = None
_statx_missing = False


def birth_ns(directory: str, st: Optional[os.stat_result] = None) -> Optional[int]:
    """When `directory` was made, in nanoseconds, or None where the system does not say."""
    st = st if st is not None else os.lstat(directory)
    portable = getattr(st, "st_birthtime_ns", None)  # Windows (3.12+)
    if isinstance(portable, int) and portable > 0:
        return portable
    seconds = getattr(st, "st_birthtime", None)  # macOS, the BSDs
    if isinstance(seconds, (int, float)) and seconds > 0:
        return int(seconds * 1_000_000_000)
    return _linux_birth_ns(directory)


def _linux_birth_ns(path: str) -> Optional[int]:
    """`statx(2)`'s `stx_btime` through the C library: Python's `os.stat` does not ask
    for it. None when the call, or the file system, has no birth time."""
    global _statx, _statx_missing
    if _statx_missing or not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return None
    import ctypes

    if _statx is None:
        try:
            function = ctypes.CDLL(None, use_errno=True).statx
        except (OSError, AttributeError):
            _statx_missing = True
            return None
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
        function.restype = ctypes.c_int
        _statx = function
    # struct statx is 256 bytes: stx_mask (u32) at 0, stx_btime {s64 sec; u32 nsec} at 80.
    buffer = ctypes.create_string_buffer(256)
    if _statx(_AT_FDCWD, os.fsencode(path), _AT_SYMLINK_NOFOLLOW, _STATX_BTIME, buffer) != 0:
        return None
    (mask,) = struct.unpack_from("=I", buffer.raw, 0)
    seconds, nanos = struct.unpack_from("=qI", buffer.raw, 80)
    if not mask & _STATX_BTIME or (seconds == 0 and nanos == 0):
        return None
    return int(seconds) * 1_000_000_000 + int(nanos)
