"""The build's steps for one environment: the venv without pip, pip seeded into it from
the cached image, then the requirements (pip, or `uv pip`).

These are what `envman.store.building.build` runs between reserving the directory and
marking it ready; `new`, `recreate` and `mv` all build through them. The core never
prints: what it is doing goes to a `progress` callback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Sequence

from envman.models import EnvRecord
from envman.processes import clean_environ, run
from envman.python.interpreters import Interpreter
from envman.store.layout import Store, env_python

VENV_TIMEOUT = 600.0

Progress = Callable[[str], None]


def silent(message: str) -> None:
    """The default progress callback: say nothing."""


def build(store: Store, record: EnvRecord, interpreter: Interpreter, requirements: Sequence[Path],
          quiet: bool = False, uv_exe: Optional[str] = None, progress: Progress = silent) -> None:
    """The build's steps: the venv with pip seeded, then the requirements."""
    make_venv(store, record, interpreter, uv_exe, progress)
    if requirements:
        count = len(requirements)
        progress(f"installing {count} requirement file{'s' if count > 1 else ''} "
                 f"with {'uv pip' if uv_exe else 'pip'}")
        install(record, [arg for path in requirements for arg in ("-r", str(path))], quiet,
                uv_exe=uv_exe)


def make_venv(store: Store, record: EnvRecord, interpreter: Interpreter,
              uv_exe: Optional[str] = None, progress: Progress = silent) -> None:
    """Create the record's (reserved) directory as a venv without pip, then seed pip into
    it from the cached image unless the record says `--without-pip`.

    venv runs in this process when the interpreter is the one running envman
    (`envman.create.inprocess`), with uv on PATH too: that costs no process at all, where `uv venv`
    costs one (uv still installs the requirements). Otherwise `uv venv` creates it with
    uv, except with `--copies` (`uv venv` always links the interpreter), and
    `INTERPRETER -m venv` without.
    """
    from envman.create import inprocess, seed, uv
    what = f"creating the environment with Python {interpreter.version}"
    if inprocess.runs_here(interpreter):
        progress("creating the environment with venv")
        inprocess.create_here(interpreter, record.path, system_site_packages=record.system_site_packages,
                          copies=record.copies, prompt=record.prompt)
    elif uv_exe is not None and not record.copies:
        progress("creating the environment with uv venv")
        run(uv.venv_command(uv_exe, interpreter.executable, record.path,
                            system_site_packages=record.system_site_packages, prompt=record.prompt),
            what=what, env=uv.environ(), capture=True, timeout=VENV_TIMEOUT)
    else:
        progress("creating the environment with python -m venv")
        cmd = [interpreter.executable, "-I", "-m", "venv", "--without-pip"]
        if record.system_site_packages:
            cmd.append("--system-site-packages")
        if record.copies:
            cmd.append("--copies")
        if record.prompt is not None:
            cmd += ["--prompt", record.prompt]
        run([*cmd, record.path], what=what, env=clean_environ(), capture=True, timeout=VENV_TIMEOUT)
    # An interpreter that made no venv is left for the build's verify step to report.
    if not record.without_pip and (Path(record.path) / "pyvenv.cfg").is_file():
        seed.seed_pip(store.cache, interpreter, Path(record.path), progress)


def install(record: EnvRecord, args: Sequence[str], quiet: bool = False,
            what: str = "installing requirements", uv_exe: Optional[str] = None) -> None:
    """`pip install ARGS` inside the environment (`uv pip install` with uv), from the
    project directory.

    The installer's progress streams to stderr unless `quiet`; then it is kept, and its
    last line ends up in the error if the install fails.
    """
    from envman.create import uv

    python = str(env_python(Path(record.path)))
    if uv_exe is not None:
        cmd = uv.pip_install_command(uv_exe, python, args, quiet)
        env = uv.environ()
    else:
        cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", *args]
        env = clean_environ()
    cwd = record.project if os.path.isdir(record.project) else None
    run(cmd, what=what, cwd=cwd, env=env, capture=quiet)
