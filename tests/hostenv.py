"""The environment the tests run envman in: the caller's, less an activated virtual
environment. Someone who runs the suite from an activated venv (the README's Debian route,
and CI) must get the same results as someone who does not: envman picks the first
`python3` on PATH as a base and says so on stderr when that is a venv's interpreter."""

from __future__ import annotations

import os
from typing import Dict, Mapping

# What `activate` (venv's, virtualenv's, conda's) sets for the person's shell.
ACTIVATION_VARS = ("VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT", "CONDA_PREFIX", "CONDA_DEFAULT_ENV",
                   "PYTHONHOME", "_OLD_VIRTUAL_PATH", "_OLD_VIRTUAL_PYTHONHOME", "_OLD_VIRTUAL_PS1")


def is_venv_scripts(directory: str) -> bool:
    """Whether `directory` is a virtual environment's scripts directory (`bin/`)."""
    return bool(directory) and os.path.isfile(os.path.join(directory, os.pardir, "pyvenv.cfg"))


def outside_venv(environ: Mapping[str, str]) -> Dict[str, str]:
    """`environ` with no virtual environment active: its variables dropped and every venv's
    scripts directory taken off PATH."""
    env = {k: v for k, v in environ.items() if k not in ACTIVATION_VARS}
    if "PATH" in env:
        env["PATH"] = os.pathsep.join(d for d in env["PATH"].split(os.pathsep) if not is_venv_scripts(d))
    return env
