"""Which interpreter a new environment gets, and where that choice came from.

The order: `--python`, the project's `.python-version`, its `requires-python`, the
configuration's `default_python`, then the first `python3` on PATH (run from the
project, so shims pick its version). The choice then gets its second looks
(`envman.python.checks`): a venv's interpreter is replaced by its base, and a
`requires-python` it does not satisfy is warned about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

from envman.errors import UsageError
from envman.inputs import read_small_file
from envman.python import checks
from envman.python.checks import requires_in
from envman.python.interpreters import Finder, Interpreter


def project_python_request(project: Path) -> Optional[Tuple[str, str]]:
    """What the project asks for: (`spec`, `where`) from `.python-version` or `requires-python`."""
    version_file = project / ".python-version"
    raw = read_small_file(version_file, "the version file")
    try:
        lines = raw.decode("utf-8").splitlines() if raw is not None else []
    except UnicodeDecodeError:
        raise UsageError(f"the version file {version_file} is not UTF-8 text") from None
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if "\0" in line:
            raise UsageError(f"the version file {version_file} contains a NUL character")
        if line and line != "system":
            return line, str(version_file)
    pyproject = project / "pyproject.toml"
    raw = read_small_file(pyproject, "the project file")
    requires = requires_in(raw) if raw is not None else None
    return (requires, f"{pyproject} (requires-python)") if requires is not None else None


def resolve(
    finder: Finder, spec: Optional[str], project: Path, default_python: Optional[str] = None
) -> Tuple[Interpreter, str]:
    """The interpreter for a new environment and where the choice came from.

    Order: `--python`, `.python-version`, `requires-python`, config `default_python`,
    then the first `python3` on PATH (run from the project, so shims pick its version).
    A virtual environment's interpreter is replaced by its base, and a `requires-python`
    the choice does not satisfy is warned about (`envman.python.checks`, through
    `finder.tell`).
    """
    found, source = _requested(finder, spec, project, default_python)
    found = checks.outside_venv(finder, found)
    checks.check_requires_python(finder, project, found, source)
    return found, source


def _requested(
    finder: Finder, spec: Optional[str], project: Path, default_python: Optional[str] = None
) -> Tuple[Interpreter, str]:
    """The interpreter `resolve` starts from, and where the choice came from."""
    if spec:
        return finder.find(spec, str(project)), "--python"
    request = project_python_request(project)
    if request:
        wanted, where = request
        pyenv_exe = finder.pyenv_version(wanted)
        if pyenv_exe:
            return finder.find(pyenv_exe), where
        try:
            if where.endswith("(requires-python)"):
                return _prefer_default(finder, wanted, str(project)), where
            return finder.find(wanted), where
        except UsageError as exc:
            raise UsageError(f"{where} asks for {wanted!r}: {exc.message}", hint=exc.hint) from None
    if default_python:
        return finder.find(default_python), "config default_python"
    return finder.default(str(project)), "python3 on PATH"


def _prefer_default(finder: Finder, specifier: str, cwd: str) -> Interpreter:
    """For `requires-python`: the PATH's python3 if it satisfies, else the first that does."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        accepted = SpecifierSet(specifier)
    except InvalidSpecifier:
        raise UsageError(f"invalid requires-python {specifier!r}") from None
    try:
        default = finder.default(cwd)
        if accepted.contains(default.version, prereleases=True):
            return default
    except UsageError:
        pass
    return finder.find(specifier)
