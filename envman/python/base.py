"""Whether an environment's base interpreter is still there, from `pyvenv.cfg`.

Cheap to import (`os` and `envman.fsutil` only): the `cd` fast path (`envman/shell/auto_fast.py`)
asks it before activating, as `envman activate` and `ls` do.
"""

from __future__ import annotations

import os

from envman.fsutil import SMALL_MAX, read_regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Optional

# envman.store.layout.SCRIPTS and PYTHON, which this module cannot import (tests/test_reading.py checks).
SCRIPTS = "Scripts" if os.name == "nt" else "bin"
PYTHON = "python.exe" if os.name == "nt" else "python"


def broken_warning(name: str) -> str:
    """What `envman activate`, and activation on `cd`, say when activating such an environment."""
    return (f"envman: warning: {name!r} is broken: its base Python is gone; "
            f"`envman recreate {name}` rebuilds it")


def read_pyvenv_cfg(env_dir: str) -> Optional[Dict[str, str]]:
    """The `key = value` pairs of `pyvenv.cfg`, or None when it cannot be read (missing,
    not a small regular file, not UTF-8)."""
    try:
        text = read_regular(os.path.join(env_dir, "pyvenv.cfg"), SMALL_MAX, follow=True).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    pairs: Dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            pairs[key.strip().lower()] = value.strip()
    return pairs


def base_python_present(env_dir: str) -> bool:
    """Whether the interpreter the environment was built on still exists.

    A venv's `bin/python` is normally a link to that interpreter, so an existing link
    answers with two `stat`s; only a copied interpreter (`--copies`, Windows) makes us
    read `pyvenv.cfg`, which costs as much as the rest of `ls` put together.
    """
    python = os.path.join(env_dir, SCRIPTS, PYTHON)
    if not os.path.exists(python):  # missing, or a dangling link
        return False
    if os.path.islink(python):
        return os.path.isfile(os.path.join(env_dir, "pyvenv.cfg"))
    cfg = read_pyvenv_cfg(env_dir)
    if cfg is None:
        return False
    executable = cfg.get("executable")
    if executable:
        return os.path.exists(executable)
    home = cfg.get("home")
    if not home:
        return False
    return any(os.path.exists(os.path.join(home, n)) for n in ("python3", "python", "python.exe"))
