"""A venv without pip, made in this process when its interpreter is the one running envman.

`python -m venv --without-pip` costs a Python start-up (~30 ms of its ~40 ms) before it
does any work. When the chosen interpreter is the very installation running envman
(the same real binary as `sys._base_executable`, which is also right when envman itself
runs in a pipx venv), the standard library's own `venv.EnvBuilder` makes the same
environment here. The result is what `INTERPRETER -m venv` would have made: the
interpreter path it links to and names in `pyvenv.cfg` is the chosen one as spelled,
not this process's (tests/create/test_seeding.py compares the two trees). Any other
interpreter is left to a subprocess: its own `venv` module knows its own layout.
"""

from __future__ import annotations

import os
import sys
import venv
from typing import Any, Dict

from envman.errors import OperationFailed
from envman.python.interpreters import Interpreter


def runs_here(interpreter: Interpreter) -> bool:
    """Whether `interpreter` is the installation this process runs on."""
    if os.name != "posix" or sys.implementation.name != "cpython" or interpreter.implementation != "cpython":
        return False  # Windows venvs copy launchers chosen by name; other Pythons differ too
    base = getattr(sys, "_base_executable", None) or sys.executable
    here = ".".join(str(part) for part in sys.version_info[:3])
    try:
        return (interpreter.version == here
                and os.path.samefile(os.path.realpath(interpreter.executable), os.path.realpath(base)))
    except OSError:
        return False


class _Builder(venv.EnvBuilder):
    """venv's builder, told which spelling of the interpreter to link to and name."""

    def __init__(self, executable: str, **options: Any) -> None:
        super().__init__(**options)
        self.chosen = executable

    def ensure_directories(self, env_dir: Any) -> Any:
        context = super().ensure_directories(env_dir)
        context.executable = self.chosen
        context.python_dir, context.python_exe = os.path.split(os.path.abspath(self.chosen))
        context.env_exe = os.path.join(context.bin_path, context.python_exe)
        if hasattr(context, "env_exec_cmd"):  # 3.11+; the same path on POSIX
            context.env_exec_cmd = context.env_exe
        return context

    def create_configuration(self, context: Any) -> None:
        super().create_configuration(context)
        # `command` names the program that ran venv: as `INTERPRETER -m venv` would.
        from envman.fsutil import SMALL_MAX, read_regular

        lines = read_regular(context.cfg_path, SMALL_MAX).decode("utf-8").splitlines(keepends=True)
        prefix = f"command = {sys.executable} -m venv "
        with open(context.cfg_path, "w", encoding="utf-8") as handle:
            handle.writelines(
                f"command = {self.chosen} -m venv {line[len(prefix):]}" if line.startswith(prefix) else line
                for line in lines)


def create_here(interpreter: Interpreter, path: str, *, system_site_packages: bool,
                copies: bool, prompt: "str | None") -> None:
    """Make a venv without pip at `path` with this process's `venv` (see `runs_here`)."""
    options: Dict[str, Any] = dict(system_site_packages=system_site_packages, symlinks=not copies,
                                   with_pip=False, prompt=prompt)
    if sys.version_info >= (3, 13):  # the command line's default; the class's is none
        options["scm_ignore_files"] = {"git"}
    builder = _Builder(interpreter.executable, **options)
    try:
        builder.create(path)
    except (OSError, ValueError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OperationFailed(f"creating the environment with Python {interpreter.version} "
                              f"failed: {detail}") from None
