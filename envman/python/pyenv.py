"""What a pyenv shim would run, found without starting it.

A shim (`~/.pyenv/shims/python3`) is a bash script that starts pyenv, which picks a
version per directory and runs that version's binary: about 0.1 s before the command
itself even starts, every time, and never cacheable as a file (the shim does not change
when the choice does). pyenv's choice is plain data, so envman reads it the way pyenv
does:

1. `PYENV_VERSION` (versions separated by `:`), else
2. the nearest `.python-version` from the directory upwards, else
3. `$PYENV_ROOT/version`, else `system`;

each version names `$PYENV_ROOT/versions/<version>` (or, as pyenv 2.3+ resolves a prefix
such as `3.12`, the newest installed version it starts) and the first of them holding
the command wins; `system` means the command on PATH outside pyenv's shims. When the
answer is not certain (a file that cannot be read), the caller falls back to running
the shim.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Mapping, Optional

_ROOT_LINE = re.compile(r'^export PYENV_ROOT="([^"\n]+)"$', re.MULTILINE)
_NATURAL = re.compile(r"(\d+)")


def shim_root(path: str) -> Optional[Path]:
    """pyenv's root if `path` is one of its shims, else None."""
    from envman.fsutil import read_regular

    try:
        head = read_regular(path, 1024, follow=True, prefix=True).decode("utf-8", "replace")
    except OSError:
        return None
    if not head.startswith("#!") or '/libexec/pyenv" exec' not in head:
        return None
    found = _ROOT_LINE.search(head)
    return Path(found.group(1)) if found else None


def selected_versions(root: Path, cwd: Optional[str], environ: Mapping[str, str]) -> Optional[List[str]]:
    """The versions pyenv would select in `cwd`; None if a version file cannot be read."""
    explicit = environ.get("PYENV_VERSION")
    if explicit:
        return [v for v in explicit.split(":") if v]
    directory = Path(os.path.abspath(cwd or os.getcwd()))
    for place in (directory, *directory.parents):
        found = _read_version_file(place / ".python-version")
        if found is None:
            return None
        if found:
            return found
    found = _read_version_file(root / "version")
    if found is None:
        return None
    return found or ["system"]


def _read_version_file(path: Path) -> Optional[List[str]]:
    """The versions a version file names ([] when it is absent or names none), or None
    when it exists but cannot be read."""
    from envman.fsutil import SMALL_MAX, read_regular

    try:
        text = read_regular(path, SMALL_MAX, follow=True).decode("utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError):
        return None if path.exists() else []
    versions: List[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        versions.extend(word for word in line.split() if word != "..")
    return versions


def resolve_shim(shim: str, root: Path, cwd: Optional[str],
                 environ: Mapping[str, str]) -> Optional[str]:
    """The executable the shim would run in `cwd`, or None when that is uncertain."""
    name = os.path.basename(shim)
    versions = selected_versions(root, cwd, environ)
    if versions is None:
        return None
    for version in versions:
        if version == "system":
            found = _outside_shims(name, root, environ)
        else:
            found = _in_version(root, version, name)
        if found is not None:
            return found
    return None


def _in_version(root: Path, version: str, name: str) -> Optional[str]:
    versions = root / "versions"
    version = version[len("python-"):] if version.startswith("python-") else version
    if "/" in version or version in (".", ".."):
        return None
    directory = versions / version
    if not directory.is_dir():
        try:  # pyenv 2.3+: `3.12` means the newest installed 3.12.x
            matches = [d for d in os.listdir(versions) if d.startswith(version + ".")
                       and re.fullmatch(r"[\d.]+", d[len(version) + 1:])]
        except OSError:
            return None
        if not matches:
            return None
        newest = max(matches, key=lambda d: [int(p) if p.isdigit() else p for p in _NATURAL.split(d)])
        directory = versions / newest
    exe = directory / "bin" / name
    return str(exe) if os.access(exe, os.X_OK) and exe.is_file() else None


def _outside_shims(name: str, root: Path, environ: Mapping[str, str]) -> Optional[str]:
    shims = os.path.realpath(root / "shims")
    for directory in environ.get("PATH", "").split(os.pathsep):
        if os.path.realpath(directory or ".") == shims:
            continue
        exe = os.path.join(directory or ".", name)
        if os.path.isfile(exe) and os.access(exe, os.X_OK) and shim_root(exe) is None:
            return exe
    return None
