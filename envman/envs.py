"""Creating and removing environments, and the environment a command runs in.

`create` validates every input and chooses the interpreter, then hands the rest to the
one build transaction (`envman.building`): reserve the name -> create the venv
without pip (`python -m venv`, or `uv venv`) -> seed pip from the cached image
(`envman.seeding`) -> install the requirements (pip, or `uv pip`) -> verify -> mark
'ready' and register, or undo. Only the last step makes the environment visible, so a
failure at any point leaves no record and no directory.

The core never prints: what it is doing goes to a `progress` callback (the CLI's
stderr, or nothing with `--quiet`).
"""

from __future__ import annotations

import os
import stat
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from envman import building, identity, registry
from envman.ages import now
from envman.config import Config
from envman.errors import UsageError
from envman.fsutil import sha256_file
from envman.inputs import check_path, check_text
from envman.interpreters import Finder, Interpreter, resolve
from envman.models import EnvRecord, Requirement, check_name, name_from_directory
from envman.registry import Registry
from envman.runner import clean_environ, run
from envman.shells import ACTIVATION_VARIABLES, HIDDEN_VARIABLES
from envman.store import Store, env_python, scripts_dir

VENV_TIMEOUT = 600.0

Progress = Callable[[str], None]


def silent(message: str) -> None:
    """The default progress callback: say nothing."""


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
    (`envman.venvs`), with uv on PATH too: that costs no process at all, where `uv venv`
    costs one (uv still installs the requirements). Otherwise `uv venv` creates it with
    uv, except with `--copies` (`uv venv` always links the interpreter), and
    `INTERPRETER -m venv` without.
    """
    from envman import seeding, uv, venvs  # here: `run` and `activate` import this module too
    what = f"creating the environment with Python {interpreter.version}"
    if venvs.runs_here(interpreter):
        progress("creating the environment with venv")
        venvs.create_here(interpreter, record.path, system_site_packages=record.system_site_packages,
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
        seeding.seed_pip(store.cache, interpreter, Path(record.path), progress)


def install(record: EnvRecord, args: Sequence[str], quiet: bool = False,
            what: str = "installing requirements", uv_exe: Optional[str] = None) -> None:
    """`pip install ARGS` inside the environment (`uv pip install` with uv), from the
    project directory.

    The installer's progress streams to stderr unless `quiet`; then it is kept, and its
    last line ends up in the error if the install fails.
    """
    from envman import uv

    python = str(env_python(Path(record.path)))
    if uv_exe is not None:
        cmd = uv.pip_install_command(uv_exe, python, args, quiet)
        env = uv.environ()
    else:
        cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", *args]
        env = clean_environ()
    cwd = record.project if os.path.isdir(record.project) else None
    run(cmd, what=what, cwd=cwd, env=env, capture=quiet)


# The variables activation sets (deactivation removes them) and those it hides while
# active (deactivation restores them as they were) are envman.shells': every shell, and
# the directory-change fast path, render them from there.


@dataclass(frozen=True)
class Activation:
    """What entering an environment changes; shells, `activate --json` and `run` render it."""

    set: Dict[str, str] = field(default_factory=dict)
    unset: Tuple[str, ...] = ()
    path_prepend: Tuple[str, ...] = ()

    @property
    def prompt_prefix(self) -> str:
        """What goes before the prompt while active, as venv's own scripts show it."""
        return f"({self.set['VIRTUAL_ENV_PROMPT']}) "

    def to_json(self) -> Dict[str, object]:
        return {"set": dict(self.set), "unset": list(self.unset), "path_prepend": list(self.path_prepend)}


def activation(record: EnvRecord) -> Activation:
    prompt = record.prompt if record.prompt is not None else record.name
    values = (record.path, prompt)
    return Activation(
        set=dict(zip(ACTIVATION_VARIABLES, values)),
        unset=HIDDEN_VARIABLES,
        path_prepend=(str(scripts_dir(Path(record.path))),),
    )


def require_directory(record: EnvRecord) -> None:
    """Refuse an environment whose directory is gone: there is nothing to enter."""
    if not Path(record.path).is_dir():
        raise UsageError(f"the directory of environment {record.name!r} is gone: {record.path}",
                         hint=f"rebuild it with `envman recreate {record.name}`")


def command_environment(record: EnvRecord, base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The process environment for `envman run`: the activation applied to `base`."""
    env = dict(os.environ if base is None else base)
    changes = activation(record)
    for key in changes.unset:
        env.pop(key, None)
    env.update(changes.set)
    env["PATH"] = os.pathsep.join([*changes.path_prepend, env.get("PATH", "")]).rstrip(os.pathsep)
    return env
