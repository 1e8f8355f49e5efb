"""Second looks at a chosen interpreter, before anything is built on it.

- A virtual environment's interpreter is never recorded as a base. With a venv active
  (its `bin` first on `PATH`), `python3` is that venv's; an environment built on it
  would break the day that venv is deleted. Python itself knows it runs in a venv by a
  `pyvenv.cfg` beside its executable or one directory up; so does envman, and then
  takes the venv's own base interpreter: the `executable` (or virtualenv's
  `base-executable`) that `pyvenv.cfg` names, else the interpreter of the same version
  in its `home`, else what the venv's `python` links to. None found: refused.
- `requires-python` in the project's `pyproject.toml` that the interpreter chosen
  (from `--python`, `.python-version`, the config or `PATH`) does not satisfy: a
  warning naming both. The build goes on; the person asked for that interpreter.

Nothing here prints: what the person should hear goes to the finder's `tell`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import List, Optional

from envman.errors import OperationFailed, UsageError
from envman.fsutil import is_within, read_regular, tomllib
from envman.python.interpreters import Finder, Interpreter

# A venv made from another venv's interpreter names that one as its base: followed
# this many times at most.
MAX_DEPTH = 4
# A pyproject.toml larger than this is not read for requires-python.
MAX_PYPROJECT = 1024 * 1024


def venv_of(executable: str) -> Optional[Path]:
    """The virtual environment `executable` (the path it runs as, links not resolved)
    belongs to: the directory holding `pyvenv.cfg` beside it or one up; else None."""
    exe = Path(os.path.abspath(executable))
    for directory in (exe.parent, exe.parent.parent):
        if (directory / "pyvenv.cfg").is_file():
            return directory
    return None


def outside_venv(finder: Finder, found: Interpreter) -> Interpreter:
    """`found`, or the base interpreter of the venv it belongs to (said through
    `finder.tell`); UsageError when that base cannot be found."""
    venv = venv_of(found.executable)
    if venv is None:
        return found
    current, seen = found, [venv]
    for _ in range(MAX_DEPTH):
        base = _base(finder, current, seen[-1])
        if base is None:
            break
        inner = venv_of(base.executable)
        if inner is None:
            finder.tell(f"{found.executable} is the interpreter of the virtual environment {venv}; "
                        f"using its base interpreter {base.executable} (Python {base.version}), so "
                        f"that the new environment does not depend on {venv}")
            return base
        if inner in seen:
            break
        current = base
        seen.append(inner)
    from envman.python.base import read_pyvenv_cfg

    home = (read_pyvenv_cfg(str(venv)) or {}).get("home")
    named = f"home = {home}" if home else "no home"
    raise UsageError(
        f"{found.executable} is the interpreter of the virtual environment {venv}, and no base "
        f"interpreter of Python {found.version} can be found for it ({venv / 'pyvenv.cfg'} says "
        f"{named}); envman does not build on a virtual environment's interpreter",
        hint="deactivate that environment, or pass --python with an installed Python")


def _base(finder: Finder, inside: Interpreter, venv: Path) -> Optional[Interpreter]:
    """The first working interpreter of `inside`'s version that `venv` names as its base."""
    from envman.python.base import read_pyvenv_cfg

    cfg = read_pyvenv_cfg(str(venv)) or {}
    candidates: List[str] = [cfg[key] for key in ("executable", "base-executable") if cfg.get(key)]
    home = cfg.get("home")
    minor = ".".join(inside.version.split(".")[:2])
    if home:
        names = [os.path.basename(inside.executable), f"python{minor}", "python3", "python",
                 "python.exe", "pypy3"]
        candidates += [os.path.join(home, name) for name in names]
    candidates.append(os.path.realpath(inside.executable))  # a linked venv's python: the base
    real_venv = Path(os.path.realpath(venv))
    for candidate in candidates:
        if is_within(os.path.abspath(candidate), venv) or is_within(os.path.realpath(candidate), real_venv) \
                or not _runnable(candidate):
            continue  # the venv's own (copied) interpreter is no base
        try:
            base = finder.probe(candidate)
        except OperationFailed:
            continue
        finally:
            finder.cache.save()
        if base.version_tuple[:2] == inside.version_tuple[:2]:
            return base
    return None



def _runnable(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK)


def requires_python(project: Path) -> Optional[str]:
    """`[project] requires-python` of the project's `pyproject.toml`, if it says one.
    A missing, odd (not a small regular file) or broken file says nothing."""
    pyproject = project / "pyproject.toml"
    try:
        raw = read_regular(pyproject, MAX_PYPROJECT, follow=True)
    except OSError:
        return None
    return requires_in(raw)


def requires_in(raw: bytes) -> Optional[str]:
    """`[project] requires-python` in the bytes of a `pyproject.toml`; None when it says
    none, or is not UTF-8 TOML (someone else's broken file asks for nothing)."""
    try:
        table = tomllib().loads(raw.decode("utf-8")).get("project", {})
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    requires = table.get("requires-python") if isinstance(table, dict) else None
    return requires.strip() if isinstance(requires, str) and requires.strip() else None


def check_requires_python(finder: Finder, project: Path, found: Interpreter, source: str) -> None:
    """Warn (through `finder.tell`) when the project's `requires-python` excludes `found`."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    requires = requires_python(project)
    if requires is None:
        return
    try:
        accepted = SpecifierSet(requires)
    except InvalidSpecifier:
        finder.tell(f"warning: {project / 'pyproject.toml'} has a requires-python that is not a "
                    f"version specifier ({requires!r}); it was not checked")
        return
    if not accepted.contains(found.version, prereleases=True):
        finder.tell(f"warning: {project / 'pyproject.toml'} has requires-python {requires!r}, which "
                    f"Python {found.version} ({found.executable}, from {source}) does not satisfy")
