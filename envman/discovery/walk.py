"""Finding the directories that are environments, as a careful tool walks a disk.

A PEP 405 environment is a directory holding a `pyvenv.cfg` file; a conda one holds
a `conda-meta/` directory. The walk follows no symbolic link (a `.venv` link to an
environment is a hint about its project, not a second environment), stays on the
file system of the directory it started from, never looks inside an environment it
found, and skips what never holds one (`.git`, `node_modules`, `__pycache__`,
site-packages, a base interpreter's standard library, conda's package cache). A
directory it cannot list is counted, not fatal; one that vanished is passed over.

On the way it notes what tells a project from its files, for `classify`: `.venv`
links and PEP 832 `.venv` files, `.python-envs` files, and which directories hold
`pyproject.toml`, `poetry.lock` and the like.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from envman.fsutil import read_regular

SKIPPED = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", "site-packages"})
# What a project directory may hold that says which tool made the environment in it.
PROJECT_FILES = frozenset({"pyproject.toml", "poetry.lock", ".pdm-python", "pdm.lock", "Pipfile",
                           "Pipfile.lock", ".python-version", "uv.lock", "hatch.toml", "tox.ini",
                           "noxfile.py", "setup.py", "setup.cfg", "requirements.txt"})
POINTERS = frozenset({".venv", "venv"})  # links (and PEP 832 files) naming a project's environment
_HINT_MAX = 64 * 1024


@dataclass(frozen=True)
class Candidate:
    path: str
    kind: str  # "pep405" or "conda"
    device: int
    inode: int


@dataclass
class Walk:
    candidates: List[Candidate] = field(default_factory=list)
    directories: int = 0
    unreadable: int = 0
    # a directory's real path -> the project that points at it (a `.venv` link or file)
    pointed: Dict[str, str] = field(default_factory=dict)
    # an environment's real path -> the project whose `.python-envs` names it
    listed: Dict[str, str] = field(default_factory=dict)
    # a directory -> which of PROJECT_FILES it holds (only directories holding some)
    project_files: Dict[str, FrozenSet[str]] = field(default_factory=dict)


Progress = Callable[[str], None]  # told how far the scan is, in a few words


def walk(roots: Sequence[str], progress: Optional[Progress] = None, mounts: FrozenSet[str] = frozenset()) -> Walk:
    """Every environment under `roots` (real paths), each once."""
    result = Walk()
    seen: Set[Tuple[int, int]] = set()
    for root in roots:
        try:
            top = os.lstat(root)
        except OSError:
            result.unreadable += 1
            continue
        if stat.S_ISDIR(top.st_mode):
            _walk_root(root, top.st_dev, result, seen, progress, mounts)
    return result


def _walk_root(root: str, device: int, result: Walk, seen: Set[Tuple[int, int]], progress: Optional[Progress],
               mounts: FrozenSet[str]) -> None:
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except FileNotFoundError:
            continue  # gone since its parent was listed
        except OSError:
            result.unreadable += 1
            continue
        result.directories += 1
        if progress is not None and result.directories % 256 == 0:
            progress(f"{result.directories} directories, {len(result.candidates)} environments")
        kind = _environment_kind(entries)
        if kind == "conda-base":
            # a conda installation: not an environment, but its `envs/` holds them
            stack += [e.path for e in entries if e.name == "envs" and e.is_dir(follow_symlinks=False)]
            continue
        if kind is not None:
            try:
                st = os.lstat(directory)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                result.candidates.append(Candidate(directory, kind, st.st_dev, st.st_ino))
            continue
        held = []
        lib = os.path.basename(directory) == "lib"
        for entry in entries:
            name = entry.name
            if name in PROJECT_FILES:
                held.append(name)
            if name in POINTERS:
                _note_pointer(entry, directory, result)
            elif name == ".python-envs":
                _note_listing(entry.path, directory, result)
            if name in SKIPPED:
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                if entry.stat(follow_symlinks=False).st_dev != device or entry.path in mounts:
                    continue  # another file system: never entered
            except OSError:
                continue
            if lib and name.startswith("python") and _is_stdlib(entry.path):
                continue  # a base interpreter's standard library: thousands of files, no environment
            stack.append(entry.path)
        if held:
            result.project_files[directory] = frozenset(held)


def _environment_kind(entries: List["os.DirEntry[str]"]) -> Optional[str]:
    names = {}
    for entry in entries:
        if entry.name in ("pyvenv.cfg", "conda-meta", "condabin"):
            names[entry.name] = entry
    cfg = names.get("pyvenv.cfg")
    if cfg is not None and cfg.is_file(follow_symlinks=False):
        return "pep405"  # a link, a FIFO or a directory named pyvenv.cfg makes no environment
    meta = names.get("conda-meta")
    if meta is not None and meta.is_dir(follow_symlinks=False):
        condabin = names.get("condabin")
        return "conda-base" if condabin is not None and condabin.is_dir(follow_symlinks=False) else "conda"
    return None


def _is_stdlib(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "os.py")) and not os.path.islink(os.path.join(path, "os.py"))


def _note_pointer(entry: "os.DirEntry[str]", directory: str, result: Walk) -> None:
    """A project's `.venv` (or `venv`) that is a link, or a PEP 832 `.venv` file."""
    try:
        if entry.is_symlink():
            target = os.path.realpath(entry.path)
        elif entry.name == ".venv" and entry.is_file(follow_symlinks=False):
            text = read_regular(entry.path, _HINT_MAX).decode("utf-8").strip()
            if not text or "\n" in text:
                return
            target = os.path.realpath(os.path.join(directory, text))
        else:
            return
    except (OSError, UnicodeDecodeError, ValueError):
        return
    result.pointed.setdefault(target, directory)


def _note_listing(path: str, directory: str, result: Walk) -> None:
    """A `.python-envs` file: one environment path per line (relative to the project, or
    absolute); blank lines and `#` comments are not paths."""
    try:
        text = read_regular(path, _HINT_MAX).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                result.listed.setdefault(os.path.realpath(os.path.join(directory, line)), directory)
            except ValueError:  # a NUL byte
                continue
