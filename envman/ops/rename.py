"""`envman mv NAME NEWNAME`: a rename is a rebuild at the new name's path.

A venv embeds its own path (in `bin/activate`, in every script's `#!` line), so an
environment cannot simply be renamed on disk. It is rebuilt at `envs/NEWNAME` through
the one build transaction (`envman.store.building`) with the recorded Python, the same
`venv` options and the distributions the old one holds (pinned, as `recreate` does);
the old environment stays in place and usable until the new one is complete and
registered, and the one registry save that adds the new record drops the old one. See
`envman.store.building` for what a kill at each step leaves, and `finish` for how
`doctor --fix` completes a rename killed after its new environment was ready.

An adopted environment outside the store does not live under its name, so renaming it
changes only its record.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from envman.ages import now
from envman.create.environment import Progress, make_venv, silent
from envman.errors import OperationFailed, RegistryError, UsageError
from envman.models import EnvRecord, check_name
from envman.ops.recreate import _reinstall, _restore_pending, _snapshot, choose_interpreter
from envman.projects import identity, links, moves
from envman.python.installed import distributions, unowned
from envman.python.interpreters import Finder
from envman.store import building, lifecycle, registry
from envman.store.layout import Store
from envman.store.lifecycle import Found, Kind, Op
from envman.store.records import Registry


@dataclass(frozen=True)
class Renamed:
    old: EnvRecord
    record: EnvRecord
    rebuilt: bool  # False: an adopted environment, only its record was renamed
    python_source: str = ""
    reinstalled: Tuple[str, ...] = ()
    link_updated: bool = False  # PROJECT/.venv pointed at the old environment, now at the new


def rename(store: Store, record: EnvRecord, new_name: str, quiet: bool = False,
           finder: Optional[Finder] = None, uv_exe: Optional[str] = None,
           progress: Progress = silent) -> Renamed:
    """Rename `record` to `new_name`; on any failure the old environment is as it was."""
    new_name = check_name(new_name)
    if new_name.lower() == record.name.lower():
        raise UsageError(f"{new_name!r} is {record.name!r} already" + (
            "" if new_name == record.name else " (names are the same ignoring case)"),
            hint="choose another name")
    taken = registry.load(store).find(new_name)
    if taken is not None:
        raise UsageError(f"an environment named {taken.name!r} already exists (project {taken.project})",
                         hint="choose another name, or `envman rm` that one first")
    if record.adopted and lifecycle.place_of(store, record) is None:
        return Renamed(record, _rename_record(store, record, new_name), rebuilt=False)
    env_dir = lifecycle.place_of(store, record)
    if env_dir is None:
        raise UsageError(f"the record of {record.name!r} points at {record.path!r}, which is not "
                         "the store's directory for it; envman will not rebuild it",
                         hint="`envman doctor` explains what is wrong")
    new_dir = store.env_path(new_name)
    store.check_carryable(new_dir)
    _restore_pending(store, record)  # a killed recreate's backup is the environment to copy
    found = lifecycle.check(store, env_dir, record, Op.REBUILD)
    if found.kind is not Kind.READY:
        raise UsageError(f"{record.name!r} has no environment to rename: {env_dir} {found.why}",
                         hint=f"`envman recreate {record.name}` rebuilds it first")
    loose = unowned(env_dir)
    if loose:
        shown = ", ".join(loose[:5]) + (f" and {len(loose) - 5} more" if len(loose) > 5 else "")
        raise UsageError(
            f"{record.name!r} holds what no installed distribution owns ({shown}): a rename "
            "rebuilds the environment from its distributions and would lose it",
            hint="nothing was changed; install it as a package first, or make the new "
                 "environment with `envman new` and copy it over yourself")
    old_dists = distributions(env_dir)
    if record.without_pip and old_dists:
        raise UsageError(
            f"{record.name!r} was made --without-pip, so its rebuild could not install the "
            f"{len(old_dists)} distribution(s) it holds ({', '.join(d.name for d in old_dists[:5])})",
            hint="nothing was changed; make a new environment with that name instead")
    finder = finder or Finder(store.cache)
    interpreter, source = choose_interpreter(finder, record, None)
    new = record.with_changes(
        name=new_name,
        id=uuid.uuid4().hex,
        path=str(new_dir),
        python=interpreter.version,
        python_executable=interpreter.executable,
        last_used=store.last_used(record),  # a rename is no use: `unused` ages go on
        recreated=now(),
        project_identity=identity.take(record.project) or record.project_identity,
    )
    pins: List[str] = []

    def steps() -> None:
        make_venv(store, new, interpreter, uv_exe, progress)
        pinned, _ = _snapshot(new, old_dists)
        pins.extend(pinned)
        if pins:
            progress(f"reinstalling {len(pins)} distribution(s) with {'uv pip' if uv_exe else 'pip'}")
            _reinstall(new, pins, quiet, uv_exe)

    updated: List[bool] = []
    try:
        # The link is re-pointed inside the commit, after the new marker says 'ready': a
        # rename killed after that is finished by `doctor --fix`, link included.
        building.build(store, new, steps, replaces=record,
                       on_ready=lambda: updated.append(links.follow_rename(record, new, moves.project_of(record))))
    except BaseException:
        if updated and updated[0] and not _registered(store, new):
            links.follow_rename(new, record, moves.project_of(new))  # the old environment is back: so is its link
        raise
    _forget_stamp(store, record)
    return Renamed(record, new, True, source, tuple(pins), bool(updated and updated[0]))


def _rename_record(store: Store, record: EnvRecord, new_name: str) -> EnvRecord:
    renamed = record.with_changes(name=new_name)

    def change(current: Registry) -> Registry:
        present = current.envs.get(record.name)
        if present is None or present.id != record.id:
            raise OperationFailed(f"environment {record.name!r} changed meanwhile",
                                  hint="nothing was changed; run the command again")
        if current.find(new_name) is not None:
            raise UsageError(f"an environment named {new_name!r} was registered meanwhile")
        return current.without(record.name).with_record(renamed)

    registry.update(store, change)
    return renamed


def _registered(store: Store, record: EnvRecord) -> bool:
    """Whether `record` itself is registered (an interruption after the commit's save
    leaves the rename done, not undone)."""
    try:
        present = registry.load(store).envs.get(record.name)
    except RegistryError:
        return False
    return present is not None and present.id == record.id


def _forget_stamp(store: Store, record: EnvRecord) -> None:
    try:
        store.used_stamp(record.id).unlink()
    except OSError:
        pass


# -- a rename killed after its new environment was ready: doctor --fix finishes it --------


def interrupted(current: Registry, found: Found, record: EnvRecord) -> Optional[EnvRecord]:
    """The registered record a complete, unregistered environment was built to replace
    under another name (a rename killed between its 'ready' and its registration)."""
    replaced = found.marker.replaces if found.marker is not None else None
    if found.kind is not Kind.OTHER or replaced is None:
        return None
    old = next((r for r in current if r.id == replaced), None)
    if old is None or old.name.lower() == record.name.lower():
        return None
    return old


def finish(store: Store, found: Found, old: EnvRecord, new: EnvRecord) -> str:
    """Under the lock, checked again: move the old environment aside into a backup (wherever
    the killed rename left it), point the project's `.venv` at the new one, and register
    the new environment dropping the old record in one save; then delete the backup, as
    a rename's own commit does. A kill before the save leaves the old record with its
    environment in a backup, which is put back; after it, a superseded backup."""
    moved_aside: List[Path] = []

    def change(current: Registry) -> Registry:
        present = current.envs.get(old.name)
        if present is None or present.id != old.id or current.find(new.name) is not None:
            raise OperationFailed(f"{old.name!r} or {new.name!r} changed meanwhile; left alone",
                                  hint="run `envman doctor` again")
        now_found = lifecycle.classify(store, found.path)
        if now_found.kind is not Kind.OTHER or now_found.marker is None \
                or now_found.marker.id != new.id:
            raise OperationFailed(f"{found.path} changed meanwhile; left alone",
                                  hint="run `envman doctor` again")
        if lifecycle.place_of(store, old) is not None:
            moved_aside.extend(building.clear_for_rebuild(store, old))
        links.follow_rename(old, new, moves.project_of(old))
        return current.without(old.name).with_record(new)

    registry.update(store, change)
    building.drop_backup(store, building.Reservation(new, old, moved_aside[0] if moved_aside else None))
    _forget_stamp(store, old)
    return f"finished renaming {old.name!r} to {new.name!r}: registered the new environment, " \
           "deleted the old one"


def superseding(store: Store, current: Registry, old_id: str) -> Optional[EnvRecord]:
    """The registered record whose own, complete environment was built to replace the
    record `old_id` (a finished `recreate` or rename), if any."""
    for record in current:
        place = lifecycle.place_of(store, record)
        if place is None:
            continue
        live = lifecycle.classify(store, place, record)
        if live.kind is Kind.READY and live.marker is not None and live.marker.replaces == old_id:
            return record
    return None

