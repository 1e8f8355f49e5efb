"""`new`: check what was asked, choose the interpreter, and build and register the environment.

`create` validates every input and chooses the interpreter, then hands the rest to the
one build transaction (`envman.store.building`): reserve the name -> create the venv
without pip (`python -m venv`, or `uv venv`) -> seed pip from the cached image
(`envman.create.seed`) -> install the requirements (pip, or `uv pip`) -> verify -> mark
'ready' and register, or undo. Only the last step makes the environment visible, so a
failure at any point leaves no record and no directory.

The core never prints: what it is doing goes to a `progress` callback (the CLI's
stderr, or nothing with `--quiet`).
"""

from __future__ import annotations

import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from envman.ages import now
from envman.config import Config
from envman.create.environment import Progress, build, silent
from envman.errors import UsageError
from envman.fsutil import sha256_file
from envman.inputs import check_path, check_text
from envman.models import EnvRecord, Requirement, check_name, name_from_directory
from envman.projects import identity
from envman.python.choice import resolve
from envman.python.interpreters import Finder, Interpreter
from envman.store import building, registry
from envman.store.layout import Store
from envman.store.records import Registry


@dataclass(frozen=True)
class NewOptions:
    """What `envman new` was asked for."""

    name: Optional[str] = None
    project: Optional[Path] = None
    python: Optional[str] = None
    requirements: Sequence[Path] = ()
    system_site_packages: bool = False
    copies: bool = False
    without_pip: bool = False
    prompt: Optional[str] = None
    quiet: bool = False  # keep the installer's progress off the terminal
    uv: Optional[str] = None  # the uv executable to create and install with (None: venv and pip)


@dataclass(frozen=True)
class Created:
    record: EnvRecord
    interpreter: Interpreter
    python_source: str  # where the interpreter choice came from, for the person


def project_dir(path: Optional[Path]) -> Path:
    """The project directory, absolute and with symbolic links resolved; it must exist."""
    given = os.path.expanduser(str(path)) if path is not None else os.getcwd()
    check_path(given, "the project path")
    chosen = Path(os.path.realpath(given))
    check_path(str(chosen), "the project path")
    try:
        st = os.stat(chosen)
    except FileNotFoundError:
        raise UsageError(f"project directory {str(path)!r} does not exist") from None
    except OSError as exc:
        raise UsageError(f"project directory {str(path)!r} cannot be used: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"project {str(path)!r} is not a directory")
    return chosen


def requirement_files(paths: Sequence[Path], project: Path) -> List[Tuple[Path, Requirement]]:
    """Each `-r FILE` as an absolute path and as recorded (project-relative where inside)."""
    found: List[Tuple[Path, Requirement]] = []
    for given in paths:
        full = Path(os.path.abspath(os.path.expanduser(str(given))))
        check_path(str(full), f"the requirements file path {str(given)!r}")
        check_path(os.path.realpath(full), f"the requirements file path {str(given)!r}")
        if not full.exists():
            raise UsageError(f"requirements file {str(given)!r} does not exist")
        if not full.is_file():
            raise UsageError(f"requirements file {str(given)!r} is not a file")
        try:
            found.append((full, _recorded(full, project)))
        except OSError as exc:
            raise UsageError(f"cannot read requirements file {str(given)!r}: {exc.strerror}") from None
    return found


# A file changed within this long of being hashed may keep its size and modification
# time (coarse file system clocks), so its stat is not trusted as proof it is unchanged.
RACY_SECONDS = 2.0


def _recorded(full: Path, project: Path) -> Requirement:
    """The record of one requirement file: its place, hash and (when trustworthy) its stat."""
    import time

    st = os.stat(full)  # before reading: a later change then shows as a new mtime
    digest = sha256_file(full)
    real = Path(os.path.realpath(full))
    try:
        recorded = str(real.relative_to(project))
    except ValueError:
        recorded = str(real)
    if time.time() - st.st_mtime < RACY_SECONDS:
        return Requirement(recorded, digest)
    return Requirement(recorded, digest, st.st_size, st.st_mtime_ns)


def create(store: Store, config: Config, options: NewOptions, finder: Optional[Finder] = None,
           progress: Progress = silent) -> Created:
    """Create, seed and register a new environment; nothing is left behind on failure.

    `progress` hears, one line at a time, the interpreter chosen and each step.
    """
    project = project_dir(options.project)
    name = check_name(options.name) if options.name is not None else name_from_directory(project.name)
    env_dir = store.env_path(name)
    store.check_carryable(env_dir)
    reqs = requirement_files(options.requirements, project)
    if options.without_pip and reqs:
        raise UsageError("-r needs pip in the environment; drop --without-pip")
    if options.prompt is not None:
        check_text(options.prompt, "--prompt")
        if any(ord(c) < 32 for c in options.prompt):
            raise UsageError("--prompt must not contain control characters such as a newline")
    _check_name_free(registry.load(store), name)

    finder = finder or Finder(store.cache)
    interpreter, source = resolve(finder, options.python, project, config.default_python)
    check_text(interpreter.executable, "the interpreter's path")
    progress(f"using Python {interpreter.version} ({interpreter.executable}, from {source})")
    moment = now()
    record = EnvRecord(
        name=name,
        id=uuid.uuid4().hex,
        path=str(env_dir),
        project=str(project),
        python=interpreter.version,
        python_executable=interpreter.executable,
        created=moment,
        last_used=moment,
        requirements=tuple(req for _, req in reqs),
        system_site_packages=options.system_site_packages,
        copies=options.copies,
        without_pip=options.without_pip,
        prompt=options.prompt,
        project_identity=identity.take(str(project)),
    )
    paths = [full for full, _ in reqs]
    building.build(store, record, lambda: build(store, record, interpreter, paths, options.quiet,
                                                options.uv, progress))
    return Created(record, interpreter, source)


def _check_name_free(current: Registry, name: str) -> None:
    """Asked early, before the interpreter search; the build asks again under the lock."""
    existing = current.find(name)
    if existing is not None:
        raise UsageError(
            f"an environment named {existing.name!r} already exists (project {existing.project})",
            hint="choose another name: envman new NAME",
        )
