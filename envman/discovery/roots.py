"""Where environments are looked for, and where each tool keeps the ones it makes.

Every path here is the tool's own default (or the variable that moves it) on Linux,
with macOS's where it differs; a tool's store is looked for whether or not the tool
is installed, since its environments outlive it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Tuple

from envman.fsutil import is_within, read_regular

_ENVIRONMENTS_TXT_MAX = 1 << 20

# (tool, directory): an environment anywhere below the directory is that tool's.
Stores = List[Tuple[str, str]]


def _home(environ: Mapping[str, str]) -> str:
    return environ.get("HOME") or os.path.expanduser("~")


def _xdg(environ: Mapping[str, str], variable: str, default: str) -> str:
    value = environ.get(variable, "")
    return value if os.path.isabs(value) else os.path.join(_home(environ), default)


def tool_stores(environ: Optional[Mapping[str, str]] = None, envman_envs: Optional[str] = None) -> Stores:
    """The stores, most specific first (a store inside another is matched first)."""
    env = os.environ if environ is None else environ
    home = _home(env)
    data = _xdg(env, "XDG_DATA_HOME", ".local/share")
    cache = _xdg(env, "XDG_CACHE_HOME", ".cache")
    mac = sys.platform == "darwin"
    found: Stores = []
    if envman_envs:
        found.append(("envman", envman_envs))
    poetry = env.get("POETRY_VIRTUALENVS_PATH") or os.path.join(
        env.get("POETRY_CACHE_DIR") or (os.path.join(home, "Library/Caches/pypoetry") if mac
                                        else os.path.join(cache, "pypoetry")), "virtualenvs")
    found.append(("poetry", poetry))
    if env.get("PIPX_HOME"):  # its `venvs/` and the `shared/` environment pipx keeps pip in
        found.append(("pipx", env["PIPX_HOME"]))
    found += [("pipx", os.path.join(data, "pipx")), ("pipx", os.path.join(home, ".local/pipx"))]
    hatch = env.get("HATCH_DATA_DIR") or (os.path.join(home, "Library/Application Support/hatch") if mac
                                          else os.path.join(data, "hatch"))
    found.append(("hatch", os.path.join(hatch, "env", "virtual")))
    found.append(("pdm", os.path.join(home, "Library/Application Support/pdm/venvs") if mac
                  else os.path.join(data, "pdm", "venvs")))
    found.append(("pyenv-virtualenv", os.path.join(env.get("PYENV_ROOT") or os.path.join(home, ".pyenv"),
                                                   "versions")))
    if env.get("WORKON_HOME"):  # both pipenv and virtualenvwrapper keep theirs here
        found.append(("virtualenvwrapper", env["WORKON_HOME"]))
    found.append(("pipenv", os.path.join(data, "virtualenvs")))
    found.append(("virtualenvwrapper", os.path.join(home, ".virtualenvs")))
    return [(tool, os.path.realpath(os.path.expanduser(path))) for tool, path in found]


def store_of(path: str, stores: Stores) -> Optional[str]:
    """The tool whose store holds `path` (a real path), if any."""
    for tool, directory in stores:
        if is_within(path, directory):
            return tool
    return None


def conda_places(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """Where conda keeps environments outside its installation: the directories of
    `CONDA_ENVS_PATH`, and the environments `~/.conda/environments.txt` lists (only those
    that are one: a stray `/` line must not make the scan walk the disk)."""
    env = os.environ if environ is None else environ
    found = [p for p in env.get("CONDA_ENVS_PATH", "").split(os.pathsep) if p]
    try:
        text = read_regular(os.path.join(_home(env), ".conda", "environments.txt"),
                            _ENVIRONMENTS_TXT_MAX, follow=True, prefix=True)
        listed = [line.strip() for line in text.decode("utf-8", "replace").splitlines() if line.strip()]
        found += [p for p in listed if os.path.isdir(os.path.join(p, "conda-meta"))]
    except OSError:
        pass
    return found


def default_roots(environ: Optional[Mapping[str, str]] = None, envman_envs: Optional[str] = None) -> List[Path]:
    """The home directory, plus every store and conda directory that lies outside it."""
    env = os.environ if environ is None else environ
    candidates = [_home(env)]
    candidates += [d for _, d in tool_stores(env, envman_envs)]
    candidates += conda_places(env)
    return distinct_roots([Path(p) for p in candidates if os.path.isdir(p)])


def distinct_roots(roots: Sequence[Path]) -> List[Path]:
    """Real paths, each once, leaving out any root inside another (it is walked anyway)."""
    real = []
    for root in roots:
        path = os.path.realpath(os.path.expanduser(str(root)))
        if path not in real:
            real.append(path)
    kept = [p for p in real if not any(o != p and is_within(p, o) for o in real)]
    return [Path(p) for p in kept]
