"""uv, when it is there: `uv venv` creates environments and `uv pip install` installs.

Which uv: the config's `uv = "/path/to/uv"`, else the first `uv` on PATH (a pyenv shim
is resolved to the binary it would run, without starting it). Config `use_uv = false`
or `ENVMAN_NO_UV=1` turns uv off; without uv, envman uses `venv` and pip.

`uv venv` runs without `--seed`: `--seed` fetches pip from the index (a network, or
nothing offline), so envman seeds the interpreter's own bundled pip from its cached
image instead, exactly as without uv (`envman.create.seed`). Everything else a requirements
file says (`--no-index`, `--find-links`, `-c`, `-e`, index URLs) uv reads from the
file itself. uv ignores pip's configuration, so the pip variables that have a uv
equivalent are passed on under uv's names (never over one the person set).
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Sequence

from envman.config import Config
from envman.errors import UsageError
from envman.processes import clean_environ
from envman.python import pyenv

DISABLE_VARIABLE = "ENVMAN_NO_UV"

_TRUE = ("1", "true", "yes", "on")


def locate(config: Config, environ: Optional[Mapping[str, str]] = None,
           cwd: Optional[str] = None) -> Optional[str]:
    """The uv executable to use, or None to use venv and pip."""
    env = os.environ if environ is None else environ
    if env.get(DISABLE_VARIABLE, "").strip().lower() in _TRUE or not config.use_uv:
        return None
    if config.uv is not None:
        named = os.path.expanduser(config.uv)
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            raise UsageError(f"the config key 'uv' names {config.uv!r}, which is not an executable file",
                             hint="fix the path, or remove the key to use the uv on PATH")
        return named
    return _on_path(env, cwd)


def _on_path(environ: Mapping[str, str], cwd: Optional[str]) -> Optional[str]:
    """The first `uv` on PATH that runs a real binary: a pyenv shim is resolved, one that
    selects no version with uv in it is passed over (it would only print an error)."""
    for directory in environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(directory or ".", "uv")
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        shim = pyenv.shim_root(candidate)
        if shim is None:
            return candidate
        resolved = pyenv.resolve_shim(candidate, shim, cwd, environ)
        if resolved is not None:
            return resolved
    return None


def venv_command(uv_exe: str, python: str, path: str, *, system_site_packages: bool = False,
                 prompt: Optional[str] = None) -> List[str]:
    """`uv venv` for a directory the build has already reserved (it holds the marker)."""
    cmd = [uv_exe, "venv", "--quiet", "--no-project", "--allow-existing",
           "--no-python-downloads", "--python", python]
    if system_site_packages:
        cmd.append("--system-site-packages")
    if prompt is not None:
        cmd += ["--prompt", prompt]
    cmd.append(path)
    return cmd


def pip_install_command(uv_exe: str, python: str, args: Sequence[str], quiet: bool) -> List[str]:
    return [uv_exe, "pip", "install", "--python", python, *(["--quiet"] if quiet else []), *args]


# pip's variable -> uv's, and how a value is rewritten on the way (pip separates lists
# with spaces; UV_FIND_LINKS wants commas).
_MAPPED = {
    "PIP_INDEX_URL": "UV_INDEX_URL",
    "PIP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS": "UV_FIND_LINKS",
    "PIP_NO_INDEX": "UV_NO_INDEX",
    "PIP_CONSTRAINT": "UV_CONSTRAINT",
    "PIP_PRE": "UV_PRERELEASE",
}


def environ(base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment for uv: `clean_environ`, plus pip's settings under uv's names."""
    env = clean_environ() if base is None else dict(base)
    for pip_name, uv_name in _MAPPED.items():
        value = env.get(pip_name)
        if value is None or uv_name in env:
            continue
        if pip_name == "PIP_FIND_LINKS":
            value = ",".join(value.split())
        elif pip_name == "PIP_NO_INDEX":
            if value.strip().lower() not in _TRUE:
                continue
            value = "1"
        elif pip_name == "PIP_PRE":
            if value.strip().lower() not in _TRUE:
                continue
            value = "allow"
        env[uv_name] = value
    return env


def version_of(uv_exe: str) -> str:
    """`uv --version`'s answer, for messages and the benchmark."""
    from envman.processes import run

    return run([uv_exe, "--version"], what="asking uv its version", capture=True, timeout=30).strip()

