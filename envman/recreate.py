"""`recreate`: rebuild an environment from scratch without ever losing the old one.

A venv's scripts embed its absolute path, so the new environment must be built at the
real path. The old one is therefore moved aside first, inside the store:

    prove ownership -> rename `envs/NAME` to `envs/.backup-NAME-<hex>` and claim
    `envs/NAME` with a 'creating' marker (both under the registry lock)
    -> `python -m venv` -> install -> marker 'ready' + registry swap (under the lock)
    -> delete the backup.

Any failure before the registry swap (a requirement that does not resolve, Ctrl-C,
SIGTERM) removes the half-built directory and renames the backup back, under the lock,
so the registry is never touched. A `kill -9` leaves a backup whose marker still names
the registered record: the next `recreate` of that environment, or `doctor --fix`, puts
it back once the process that was rebuilding is provably gone.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from envman import registry
from envman.ages import now
from envman.envs import install, make_venv, requirement_files
from envman.errors import EnvmanError, OperationFailed, UsageError
from envman.installed import Distribution, distributions
from envman.interpreters import Finder, Interpreter
from envman.models import EnvRecord, Requirement, is_valid_name
from envman.registry import Registry
from envman.store import BACKUP_PREFIX, Store, creator_gone


@dataclass(frozen=True)
class RecreateOptions:
    """What `envman recreate` was asked for."""

    python: Optional[str] = None
    requirements: Optional[Sequence[Path]] = None  # None: the recorded ones, as they are now
    quiet: bool = False


@dataclass(frozen=True)
class Recreated:
    old: EnvRecord
    record: EnvRecord
    python_source: str  # how the interpreter was chosen, for the person
    reinstalled: Tuple[str, ...] = ()  # `name==version` pins read from the old environment
    not_reinstalled: Tuple[str, ...] = ()  # distributions a --without-pip environment cannot get back
    restored: bool = False  # an interrupted rebuild's backup was put back first


@dataclass(frozen=True)
class Outcome:
    """One environment's result in `recreate --all`."""

    record: EnvRecord
    done: Optional[Recreated] = None
    error: Optional[EnvmanError] = None
    skipped: Optional[str] = None


def recreate(store: Store, record: EnvRecord, options: RecreateOptions,
             finder: Optional[Finder] = None) -> Recreated:
    """Rebuild `record`'s environment in place; on any failure the old one is back."""
    if record.adopted:
        raise UsageError(
            f"{record.name!r} was adopted (envman did not create {record.path}), so envman "
            "will not rebuild it in place",
            hint=f"make an envman one for its project (`envman new --project {record.project}`), "
                 f"then `envman rm {record.name}` only unregisters the adopted one",
        )
    env_dir = _check_place(store, record)
    restored = restore_pending(store, record)
    if os.path.lexists(env_dir) and not _abandoned_rebuild(store, env_dir, record):
        store.check_owned(record)
    project = Path(record.project)
    reqs = _requirements(record, options.requirements, project)
    if record.without_pip and reqs:
        raise UsageError(f"{record.name!r} was made --without-pip, so it cannot install -r files",
                         hint="make a new environment with pip instead")
    finder = finder or Finder(store.cache)
    interpreter, source = choose_interpreter(finder, record, options.python)
    old_dists = distributions(env_dir) if not reqs and env_dir.is_dir() else []
    moment = now()
    new = record.with_changes(
        id=uuid.uuid4().hex,
        python=interpreter.version,
        python_executable=interpreter.executable,
        requirements=tuple(req for _, req in reqs),
        last_used=moment,
        recreated=moment,
    )
    backup = store.envs_dir / f"{BACKUP_PREFIX}{record.name}-{uuid.uuid4().hex[:8]}"
    try:
        registry.update(store, lambda current: _begin(store, current, record, new, backup))
        make_venv(new, interpreter)
        pins, lost = _snapshot(new, old_dists)
        if reqs:
            install(new, [arg for full, _ in reqs for arg in ("-r", str(full))], options.quiet)
        elif pins:
            _reinstall(new, pins, options.quiet)
        registry.update(store, lambda current: _finish(store, current, record, new))
    except BaseException:
        _rollback(store, record, new, backup)
        raise
    _drop_backup(store, backup, record.id)
    try:
        store.used_stamp(record.id).unlink()
    except OSError:
        pass
    return Recreated(record, new, source, tuple(pins), tuple(lost), restored)


def recreate_all(store: Store, options: RecreateOptions, broken_only: bool,
                 on_done: Callable[[Outcome], None], finder: Optional[Finder] = None) -> List[Outcome]:
    """`recreate` every environment (or only the broken ones), going on past failures.

    `on_done` hears about each environment as soon as it is finished. An interruption
    (Ctrl-C, SIGTERM) stops the run after putting the current environment back.
    """
    from envman.staleness import base_python_present

    finder = finder or Finder(store.cache)
    outcomes = []
    for record in registry.load(store):
        if broken_only and not (os.path.isdir(record.path) and not base_python_present(record.path)):
            continue
        if record.adopted:
            outcome = Outcome(record, skipped="adopted (envman did not create it), not rebuilt")
        else:
            try:
                outcome = Outcome(record, done=recreate(store, record, options, finder))
            except EnvmanError as exc:
                outcome = Outcome(record, error=exc)
        outcomes.append(outcome)
        on_done(outcome)
    return outcomes


def _check_place(store: Store, record: EnvRecord) -> Path:
    """The store's directory for the record; anything else is not envman's to rebuild."""
    env_dir = store.env_path(record.name) if is_valid_name(record.name) else None
    if env_dir is None or record.path != str(env_dir):
        raise UsageError(f"the record of {record.name!r} points at {record.path!r}, which is not "
                         "the store's directory for it; envman will not rebuild it",
                         hint="`envman doctor` explains what is wrong")
    if os.path.islink(store.envs_dir) or os.path.islink(env_dir):
        raise UsageError(f"{env_dir} is, or is reached through, a symbolic link; envman will not "
                         "rebuild it", hint="`envman doctor` explains what is wrong")
    return env_dir


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
    """`--python`, else the recorded interpreter, else another of the same minor version."""
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


def _reinstall(new: EnvRecord, pins: Sequence[str], quiet: bool) -> None:
    """Install the old environment's distributions, saying where pip must find them."""
    try:
        install(new, pins, quiet, what="reinstalling the distributions the old environment had")
    except OperationFailed as exc:
        raise OperationFailed(
            exc.message,
            hint=f"they are pinned as name==version, so pip must find those versions (your index, "
                 f"or PIP_FIND_LINKS); or name what to install: envman recreate {new.name} -r FILE",
        ) from None


def _begin(store: Store, current: Registry, old: EnvRecord, new: EnvRecord,
           backup: Path) -> Registry:
    """Under the lock: move the old environment aside and claim its path for the new one."""
    env_dir = Path(old.path)
    _same_record(current, old)
    if os.path.lexists(env_dir) and _abandoned_rebuild(store, env_dir, old):
        _remove_half_built(store, env_dir, old.id)
    if os.path.lexists(env_dir):
        store.check_owned(old)  # again: nothing may have changed since the first check
        try:
            os.rename(env_dir, backup)
        except OSError as exc:
            raise OperationFailed(f"cannot move {env_dir} aside: {exc.strerror}") from exc
    try:
        store.envs_dir.mkdir(parents=True, exist_ok=True)
        env_dir.mkdir()
        store.write_marker(env_dir, new, "creating", replaces=old.id)
    except OSError as exc:
        raise OperationFailed(f"cannot create {env_dir}: {exc.strerror}") from exc
    return current  # unchanged: the registry changes only once the new one is complete


def _finish(store: Store, current: Registry, old: EnvRecord, new: EnvRecord) -> Registry:
    """Under the lock: mark the new environment complete and swap the record."""
    _same_record(current, old)
    store.write_marker(Path(new.path), new, "ready", replaces=old.id)
    return current.with_record(new)


def rebuild_marker(store: Store, env_dir: Path, record: EnvRecord) -> Optional[Dict[str, Any]]:
    """The marker of an unfinished rebuild of `record` standing at its path, or None.

    Such a directory has no backup beside it when the environment was missing before
    the rebuild: it is then the only trace of a rebuild that was killed.
    """
    if env_dir.is_symlink() or not env_dir.is_dir():
        return None
    marker = store.read_marker(env_dir)
    if (marker is None or marker.get("state") != "creating" or marker.get("id") == record.id
            or marker.get("replaces") != record.id):
        return None
    return marker


def _abandoned_rebuild(store: Store, env_dir: Path, record: EnvRecord) -> bool:
    """True if the path holds a rebuild of `record` whose process is gone (safe to clear);
    raises if a running envman is still building it."""
    marker = rebuild_marker(store, env_dir, record)
    if marker is None:
        return False
    if not creator_gone(marker):
        raise OperationFailed(f"{record.name!r} is being rebuilt by a running envman "
                              f"(pid {marker.get('pid')})", hint="wait for it to finish, then try again")
    return True


def clear_abandoned(store: Store, record: EnvRecord) -> str:
    """`doctor --fix`: remove a killed rebuild that had no old environment to keep."""
    def clear(current: Registry) -> Registry:
        _same_record(current, record)
        env_dir = _check_place(store, record)
        if not _abandoned_rebuild(store, env_dir, record):
            raise OperationFailed(f"{env_dir} changed meanwhile; left alone")
        _remove_half_built(store, env_dir, record.id)
        return current

    registry.update(store, clear)
    return f"the half-built environment was removed; `envman recreate {record.name}` rebuilds it"


def _same_record(current: Registry, old: EnvRecord) -> None:
    present = current.envs.get(old.name)
    if present is None or present.id != old.id:
        raise OperationFailed(f"environment {old.name!r} changed while recreating it",
                              hint="nothing was changed; run the command again")


def _rollback(store: Store, old: EnvRecord, new: EnvRecord, backup: Path) -> None:
    """Undo a failed rebuild: the half-built directory goes, the backup (if made) comes back.

    The backup's name is unique to this run, but what is there now may have been swapped
    meanwhile: only a directory whose marker names the old record is put back.

    Best effort, and silent: the original failure is what the person needs to hear
    about, and whatever cannot be undone now is left for `doctor --fix` to finish.
    """
    env_dir = Path(old.path)
    committed: List[bool] = []

    def undo(current: Registry) -> Registry:
        present = current.envs.get(old.name)
        if present is not None and present.id == new.id:
            committed.append(True)  # the swap was saved before the failure: the new one stands
            return current
        _remove_half_built(store, env_dir, old.id, new.id)
        if _is_backup_of(store, backup, old.id):
            os.rename(backup, env_dir)
        return current

    try:
        registry.update(store, undo)
        if committed:
            _drop_backup(store, backup, old.id)
    except BaseException:  # a second Ctrl-C, a full disk: the backup stays for doctor
        pass


def _remove_half_built(store: Store, env_dir: Path, old_id: str, new_id: Optional[str] = None) -> None:
    """Remove what stands at the path if it is a rebuild of record `old_id` (and, given
    `new_id`, that very rebuild), or an empty directory a killed rebuild had just made."""
    if not os.path.lexists(env_dir) or env_dir.is_symlink():
        return
    marker = store.read_marker(env_dir)
    if (marker is not None and marker.get("replaces") == old_id
            and (new_id is None or marker.get("id") == new_id)):
        store.remove_env_dir(env_dir)
    elif marker is None and env_dir.is_dir() and not any(env_dir.iterdir()):
        env_dir.rmdir()  # made, killed before its marker was written


def _drop_backup(store: Store, backup: Path, old_id: str) -> None:
    if not _is_backup_of(store, backup, old_id):
        return  # gone, or not provably ours any more: `doctor` reports what is there
    try:
        store.remove_env_dir(backup)
    except EnvmanError:
        pass  # the new environment stands; `doctor --fix` deletes the superseded backup


def _is_backup_of(store: Store, backup: Path, record_id: str) -> bool:
    """Whether `backup` is still the environment this run moved aside, as `check_owned`
    proved it before the move: a real directory with `pyvenv.cfg` and a marker naming it."""
    found = backup_at(store, backup)
    cfg = backup / "pyvenv.cfg"
    return (found is not None and found.id == record_id and not cfg.is_symlink()
            and cfg.is_file())


# -- backups left by an interrupted recreate (used here and by doctor) -------------------


@dataclass(frozen=True)
class Backup:
    path: Path
    name: str  # the environment it was moved aside from
    id: str  # the record its marker names


def backups(store: Store) -> List[Backup]:
    """Every `.backup-*` directory in the store whose marker says whose it is."""
    try:
        entries = sorted(store.envs_dir.iterdir())
    except OSError:
        return []
    found = [backup_at(store, entry) for entry in entries if entry.name.startswith(BACKUP_PREFIX)]
    return [b for b in found if b is not None]


def backup_at(store: Store, entry: Path) -> Optional[Backup]:
    """The backup at `entry`, if it is a real directory whose marker matches its name."""
    if entry.is_symlink() or not entry.is_dir():
        return None
    marker = store.read_marker(entry)
    if marker is None:
        return None
    name, record_id = marker.get("name"), marker.get("id")
    if (isinstance(name, str) and isinstance(record_id, str)
            and entry.name.startswith(f"{BACKUP_PREFIX}{name}-")):
        return Backup(entry, name, record_id)
    return None


def restore_pending(store: Store, record: EnvRecord) -> bool:
    """Put back a backup an interrupted `recreate` of `record` left; True if one was."""
    pending = [b for b in backups(store) if b.name == record.name and b.id == record.id]
    if not pending:
        return False
    registry.update(store, lambda current: _restore_locked(store, current, pending[0]))
    return True


def restore(store: Store, backup: Backup) -> str:
    """`doctor --fix`: put the backup back in place; returns what was done."""
    cleared: List[bool] = []
    registry.update(store, lambda current: _restore_locked(store, current, backup, cleared))
    return f"put back as {backup.name!r}" + ("; the interrupted rebuild was removed" if cleared else "")


def _restore_locked(store: Store, current: Registry, backup: Backup,
                    cleared: Optional[List[bool]] = None) -> Registry:
    """Under the lock: prove the backup is the registered environment, then put it back.

    `cleared` hears whether a half-built environment had to be removed from its place.
    """
    record = current.envs.get(backup.name)
    marker = store.read_marker(backup.path)
    if (record is None or record.id != backup.id or marker is None or marker.get("id") != record.id
            or backup.path.is_symlink() or not (backup.path / "pyvenv.cfg").is_file()):
        raise OperationFailed(f"{backup.path} is not the registered environment {backup.name!r}; "
                              "left alone")
    env_dir = _check_place(store, record)
    if os.path.lexists(env_dir):
        live = blocking_rebuild(store, env_dir, record)
        if live is not None:
            raise OperationFailed(
                f"cannot put back {backup.path}: {env_dir} {live.reason}",
                hint="wait for it to finish, then try again" if live.running else
                "nothing was changed; move one of the two out of the store")
        _remove_half_built(store, env_dir, record.id)
        if cleared is not None:
            cleared.append(True)
    try:
        os.rename(backup.path, env_dir)
    except OSError as exc:
        raise OperationFailed(f"cannot put {backup.path} back: {exc.strerror}") from exc
    return current


@dataclass(frozen=True)
class Blocker:
    """Why the directory at an environment's path must not be cleared."""

    reason: str  # completes "<path> ..."
    running: bool = False  # a live envman is rebuilding it: wait, rather than intervene


def blocking_rebuild(store: Store, env_dir: Path, record: EnvRecord) -> Optional[Blocker]:
    """Why the directory at the environment's path must not be cleared, or None if it may.

    It may when it is empty, or when it is a rebuild of this very record (its marker
    says it replaces the record) whose process is provably gone. Any other marker is
    another environment, however long its creator has been gone.
    """
    if env_dir.is_symlink() or not env_dir.is_dir():
        return Blocker("is not a directory envman made")
    marker = store.read_marker(env_dir)
    if marker is None:
        return None if not any(env_dir.iterdir()) else Blocker("holds files but no envman marker")
    if marker.get("id") == record.id:
        return Blocker("already holds the registered environment")
    if marker.get("replaces") != record.id:
        return Blocker("holds another environment (its marker names another record)")
    if not creator_gone(marker):
        return Blocker(f"being rebuilt by a running envman (pid {marker.get('pid')})", running=True)
    return None


def superseded(store: Store, current: Registry, backup: Backup) -> bool:
    """Whether `backup` is the old copy of a rebuild that completed (safe to delete)."""
    record = current.envs.get(backup.name)
    if record is None or record.id == backup.id:
        return False
    live = store.read_marker(Path(record.path))
    return (live is not None and live.get("id") == record.id and live.get("state") == "ready"
            and live.get("replaces") == backup.id)
