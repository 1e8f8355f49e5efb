"""`recreate`: rebuild an environment from scratch without ever losing the old one.

A venv's scripts embed its absolute path, so the new environment is built at the real
path, through the one build transaction (`envman.store.building`): the old environment is
moved aside to `envs/.backup-NAME-<hex>` as the new one reserves its path, and deleted
only after the new record is saved. Any failure, Ctrl-C or SIGTERM before that puts it
back; after a `kill -9` the next `recreate` of it, `rm`, or `doctor --fix` does.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from envman.ages import now
from envman.create.environment import Progress, install, make_venv, silent
from envman.errors import EnvmanError, OperationFailed, UsageError
from envman.models import EnvRecord, Requirement
from envman.ops.new import requirement_files
from envman.projects import identity
from envman.python.installed import Distribution, distributions
from envman.python.interpreters import Finder, Interpreter
from envman.store import building, lifecycle, registry
from envman.store.layout import Store
from envman.store.lifecycle import Kind, Op
from envman.store.records import Registry


@dataclass(frozen=True)
class RecreateOptions:
    """What `envman recreate` was asked for."""

    python: Optional[str] = None
    requirements: Optional[Sequence[Path]] = None  # None: the recorded ones, as they are now
    quiet: bool = False
    uv: Optional[str] = None  # the uv executable to create and install with (None: venv and pip)


@dataclass(frozen=True)
class Recreated:
    old: EnvRecord
    record: EnvRecord
    python_source: str  # how the interpreter was chosen, for the person
    reinstalled: Tuple[str, ...] = ()  # `name==version` pins read from the old environment
    not_reinstalled: Tuple[str, ...] = ()  # distributions a --without-pip environment cannot get back
    restored: bool = False  # an interrupted rebuild's backup was put back first
    seeded: Tuple["SeededChange", ...] = ()  # pip & co. whose version the fresh venv changed


@dataclass(frozen=True)
class SeededChange:
    """A distribution the fresh venv brings itself (pip, setuptools) at another version than
    the old environment had: put back when the old one was newer (the person upgraded it)."""

    name: str
    old: str
    new: str
    put_back: bool  # the old version is installed again
    failed: Optional[str] = None  # why putting it back failed (the fresh venv's version stays)


@dataclass(frozen=True)
class Outcome:
    """One environment's result in `recreate --all`."""

    record: EnvRecord
    done: Optional[Recreated] = None
    error: Optional[EnvmanError] = None
    skipped: Optional[str] = None


def recreate(store: Store, record: EnvRecord, options: RecreateOptions,
             finder: Optional[Finder] = None, progress: Progress = silent) -> Recreated:
    """Rebuild `record`'s environment in place; on any failure the old one is back.

    `progress` hears, one line at a time, the interpreter chosen and each step.
    """
    if record.adopted:
        raise UsageError(
            f"{record.name!r} was adopted (envman did not create {record.path}), so envman "
            "will not rebuild it in place",
            hint=f"make an envman one for its project (`envman new --project {record.project}`), "
                 f"then `envman rm {record.name}` only unregisters the adopted one",
        )
    env_dir = lifecycle.place_of(store, record)
    if env_dir is None:
        raise UsageError(f"the record of {record.name!r} points at {record.path!r}, which is not "
                         "the store's directory for it; envman will not rebuild it",
                         hint="`envman doctor` explains what is wrong")
    restored = _restore_pending(store, record)
    # Checked again under the lock when the build reserves the path; asked here so that
    # a refusal comes before the interpreter search and the requirement checks.
    found = lifecycle.check(store, env_dir, record, Op.REBUILD)
    project = Path(record.project)
    reqs = _requirements(record, options.requirements, project)
    if record.without_pip and reqs:
        raise UsageError(f"{record.name!r} was made --without-pip, so it cannot install -r files",
                         hint="make a new environment with pip instead")
    finder = finder or Finder(store.cache)
    interpreter, source = choose_interpreter(finder, record, options.python)
    progress(f"rebuilding {record.name!r} with Python {interpreter.version} "
             f"({interpreter.executable}, {source})")
    old_dists = distributions(env_dir) if found.kind is Kind.READY else []
    moment = now()
    new = record.with_changes(
        id=uuid.uuid4().hex,
        path=str(env_dir),
        python=interpreter.version,
        python_executable=interpreter.executable,
        requirements=tuple(req for _, req in reqs),
        last_used=moment,
        recreated=moment,
        project_identity=identity.take(record.project) or record.project_identity,
    )
    pins: List[str] = []
    lost: List[str] = []
    seeded: List[SeededChange] = []

    installer = "uv pip" if options.uv else "pip"

    def steps() -> None:
        make_venv(store, new, interpreter, options.uv, progress)
        seeded.extend(_put_back_seeded(new, old_dists, options, progress))
        pinned, left_out = _snapshot(new, [] if reqs else old_dists)
        pins.extend(pinned)
        lost.extend(left_out)
        if reqs:
            progress(f"installing {len(reqs)} requirement file{'s' if len(reqs) > 1 else ''} "
                     f"with {installer}")
            install(new, [arg for full, _ in reqs for arg in ("-r", str(full))], options.quiet,
                    uv_exe=options.uv)
        elif pins:
            progress(f"reinstalling {len(pins)} distribution{'s' if len(pins) > 1 else ''} "
                     f"of the old environment with {installer}")
            _reinstall(new, pins, options.quiet, options.uv)

    building.build(store, new, steps, replaces=record)
    try:
        store.used_stamp(record.id).unlink()
    except OSError:
        pass
    return Recreated(record, new, source, tuple(pins), tuple(lost), restored, tuple(seeded))


def _restore_pending(store: Store, record: EnvRecord) -> bool:
    """Put back the environment a killed `recreate` of `record` left in a backup."""
    restored: List[bool] = []

    def put_back(current: Registry) -> Registry:
        present = current.envs.get(record.name)
        if present is not None and present.id == record.id:
            restored.append(building.restore_backup(store, record) is not None)
        return current

    registry.update(store, put_back)
    return any(restored)


def selected(store: Store, broken_only: bool) -> List[EnvRecord]:
    """The environments `recreate --all [--broken]` goes through (adopted ones are then
    skipped, not rebuilt): every one, or those whose base Python is gone."""
    from envman.python.base import base_python_present

    return [r for r in registry.load(store)
            if not broken_only or (os.path.isdir(r.path) and not base_python_present(r.path))]


def recreate_all(store: Store, options: RecreateOptions, broken_only: bool,
                 on_done: Callable[[Outcome], None], finder: Optional[Finder] = None,
                 progress: Progress = silent) -> List[Outcome]:
    """`recreate` every environment (or only the broken ones), going on past failures.

    `on_done` hears about each environment as soon as it is finished. An interruption
    (Ctrl-C, SIGTERM) stops the run after putting the current environment back.
    """
    from envman.store import relocation

    finder = finder or Finder(store.cache)
    if relocation.moved_from(store, registry.load(store)) is not None:
        moved = relocation.repoint(store)  # a copied store: rebuilt where it is now
        progress(f"pointed {len(moved)} record(s) of a moved store here")
    outcomes = []
    for record in selected(store, broken_only):
        if record.adopted:
            outcome = Outcome(record, skipped="adopted (envman did not create it), not rebuilt")
        else:
            try:
                outcome = Outcome(record, done=recreate(store, record, options, finder, progress))
            except EnvmanError as exc:
                outcome = Outcome(record, error=exc)
        outcomes.append(outcome)
        on_done(outcome)
    return outcomes


def _requirements(record: EnvRecord, given: Optional[Sequence[Path]],
                  project: Path) -> List[Tuple[Path, Requirement]]:
    """The files to install: `-r` as given, else the recorded ones as they are now."""
    if given is not None:
        return requirement_files(given, project)
    paths = []
    for req in record.requirements:
        full = project / req.path  # an absolute recorded path stays as it is
        if not full.is_file():
            raise UsageError(
                f"the requirements file recorded for {record.name!r} is gone: {full}",
                hint=f"name the files to use now (they replace the recorded ones): "
                     f"envman recreate {record.name} -r FILE",
            )
        paths.append(full)
    return requirement_files(paths, project)


def choose_interpreter(finder: Finder, record: EnvRecord,
                       spec: Optional[str]) -> Tuple[Interpreter, str]:
    """`--python`, else the recorded interpreter, else another of the same minor version;
    never a virtual environment's interpreter (`envman.python.checks`: its base instead)."""
    from envman.python.checks import outside_venv

    found, source = _chosen(finder, record, spec)
    return outside_venv(finder, found), source


def _chosen(finder: Finder, record: EnvRecord, spec: Optional[str]) -> Tuple[Interpreter, str]:
    cwd = record.project if os.path.isdir(record.project) else None
    if spec:
        return finder.find(spec, cwd), "--python"
    minor = ".".join(record.python.split(".")[:2])
    if not re.fullmatch(r"\d+\.\d+", minor):
        raise UsageError(f"the recorded Python version of {record.name!r} ({record.python!r}) "
                         "is not a version", hint=f"say which: envman recreate {record.name} --python 3.X")
    recorded = record.python_executable
    why = "is gone"
    if os.path.exists(recorded):
        try:
            found = finder.probe(recorded, cwd)
            if found.version_tuple[:2] == tuple(int(p) for p in minor.split(".")):
                return found, "the recorded interpreter"
            why = f"is now Python {found.version}"
        except OperationFailed:
            why = "no longer runs"
        finally:
            finder.cache.save()
    try:
        found = finder.find(minor)
    except UsageError:
        raise UsageError(
            f"no Python {minor} is left to rebuild {record.name!r} with (it was built with "
            f"{record.python}; {recorded} {why})",
            hint=f"install Python {minor}, or rebuild with another version: "
                 f"envman recreate {record.name} --python 3.X",
        ) from None
    return found, f"Python {minor} found anew: the recorded {recorded} {why}"


def _snapshot(new: EnvRecord, old: Sequence[Distribution]) -> Tuple[List[str], List[str]]:
    """Install arguments for the old environment's distributions, and those left out.

    What the fresh venv already holds (pip, and setuptools where venv seeds it) is
    skipped: the new environment has its own. A --without-pip environment cannot
    install anything, so its distributions are reported, not reinstalled.
    """
    if not old:
        return [], []
    seeded = {d.key for d in distributions(Path(new.path))}
    wanted = [d for d in old if d.key not in seeded]
    if new.without_pip:
        return [], [f"{d.name}=={d.version}" for d in wanted]
    return [arg for d in wanted for arg in d.install_args()], []


def _put_back_seeded(new: EnvRecord, old: Sequence[Distribution], options: RecreateOptions,
                     progress: Progress) -> List[SeededChange]:
    """Compare what the fresh venv seeded with what the old environment had; install the
    old version again where it was newer, so a rebuild never downgrades the pip someone
    upgraded. Where that install fails (no index, say), the fresh venv's version stays
    and the summary says so: the rebuild itself does not fail for it."""
    from packaging.version import InvalidVersion, Version

    if new.without_pip:
        return []
    before = {d.key: d for d in old}
    changes = []
    for dist in distributions(Path(new.path)):
        had = before.get(dist.key)
        if had is None or had.version == dist.version:
            continue
        try:
            newer = Version(had.version) > Version(dist.version)
        except InvalidVersion:
            newer = False
        if not newer:
            changes.append(SeededChange(dist.name, had.version, dist.version, put_back=False))
            continue
        pin = f"{dist.name}=={had.version}"
        progress(f"putting back {pin} (the new venv came with {dist.version})")
        try:
            install(new, [pin], options.quiet, what=f"putting back {pin}", uv_exe=options.uv)
        except OperationFailed as exc:
            changes.append(SeededChange(dist.name, had.version, dist.version, put_back=False,
                                        failed=exc.message))
            continue
        changes.append(SeededChange(dist.name, had.version, dist.version, put_back=True))
    return changes


def _reinstall(new: EnvRecord, pins: Sequence[str], quiet: bool, uv_exe: Optional[str] = None) -> None:
    """Install the old environment's distributions, saying where pip must find them."""
    try:
        install(new, pins, quiet, what="reinstalling the distributions the old environment had",
                uv_exe=uv_exe)
    except OperationFailed as exc:
        raise OperationFailed(
            exc.message,
            hint=f"they are pinned as name==version, so pip must find those versions (your index, "
                 f"or PIP_FIND_LINKS); or name what to install: envman recreate {new.name} -r FILE",
        ) from None
