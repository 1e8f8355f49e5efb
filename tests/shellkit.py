"""The real shells the activation tests drive: where they are, how each is started
without its user configuration, and the rule that CI needs them all."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

import pytest

# How to run a script file in each shell, ignoring any rc file.
COMMANDS: Dict[str, List[str]] = {
    "bash": ["bash", "--norc", "--noprofile"],
    "zsh": ["zsh", "-f"],
    "dash": ["dash"],
    "ksh": ["ksh"],
    "mksh": ["mksh"],
    "fish": ["fish", "--no-config"],
    "tcsh": ["tcsh", "-f"],
    "nu": ["nu", "--no-config-file"],
    "xonsh": ["xonsh", "--no-rc"],
    "pwsh": ["pwsh", "-NoProfile", "-NonInteractive", "-File"],
}
# What CI installs; pwsh is the one shell it may lack.
OPTIONAL_IN_CI = {"pwsh"}


def need_shell(name: str) -> List[str]:
    """The command that runs a script in `name`; skip if absent, but fail in CI."""
    command = COMMANDS[name]
    if shutil.which(command[0]) is None:
        if os.environ.get("CI") == "true" and name not in OPTIONAL_IN_CI:
            pytest.fail(f"{name} is not installed, and CI must run every shell test")
        pytest.skip(f"{name} is not installed")
    return command


def shell_environ(extra: Optional[Dict[str, str]] = None, drop: tuple = ()) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["LC_ALL"] = "C.UTF-8"
    env.update(extra or {})
    return env


def run_script(shell: str, text: str, path: Path, env: Dict[str, str], cwd: Optional[Path] = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Write `text` to `path` and run it as a script of `shell`, output as bytes."""
    path.write_bytes(text.encode())
    return subprocess.run([*need_shell(shell), str(path)], env=env, cwd=cwd, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)
