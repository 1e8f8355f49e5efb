"""Deleting environments: proof of ownership first, every time.

Used by `rm` and `prune`. A directory in the store is deleted only when
`envman.store.lifecycle` classifies it, under the registry lock, as the record's own. An adopted environment outside the store is only unregistered unless
the person explicitly asks for its files to go too (and even then it must still be a
real virtual environment directory, not a link, not the project itself).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from envman.errors import OperationFailed
from envman.fsutil import is_within
from envman.models import EnvRecord
from envman.projects import links, moves
from envman.store import building, delete_tree, lifecycle, registry
from envman.store.layout import Store
from envman.store.lifecycle import Action, Op
from envman.store.records import Registry


AdoptedCheck = Callable[[EnvRecord, int, os.stat_result], None]


@dataclass(frozen=True)
class Removal:
    record: EnvRecord
    deleted: Optional[Path]  # the directory deleted, or None when only the record was dropped


@dataclass(frozen=True)
class Refusal:
    record: EnvRecord
    reason: str


def plan(store: Store, record: EnvRecord, delete_adopted: bool = False) -> Optional[Path]:
    """The directory removing `record` would delete (None: only the record goes), or raise
    `lifecycle.Untouchable` saying why it may not. Read-only."""
    if record.adopted and lifecycle.place_of(store, record) is None:
        if not os.path.lexists(record.path):
            return None
        return _adopted_deletable(record) if delete_adopted else None
    found = _check(store, record)
    return None if found.action(Op.REMOVE) is Action.FORGET else found.path


def _check(store: Store, record: EnvRecord) -> lifecycle.Found:
    place = lifecycle.place_of(store, record)
    return lifecycle.check(store, place or Path(record.path), record, Op.REMOVE)


def remove(store: Store, records: Sequence[EnvRecord], *, delete_adopted: bool = False,
           skip_unsafe: bool = False, verify: Optional[AdoptedCheck] = None) -> Tuple[List[Removal], List[Refusal]]:
    """Delete environments and drop their records.

    Every directory is checked before any is touched. With `skip_unsafe` the ones that
    cannot be proven ours are left (directory and record) and reported; without it one
    such directory stops everything before anything is deleted. `verify` is also asked
    about an adopted directory outside the store, on the opened directory, just before
    its files are deleted (see `delete_tree`).
    """
    plans = []
    refused: List[Refusal] = []
    for record in records:
        try:
            plans.append((record, plan(store, record, delete_adopted)))
        except lifecycle.Untouchable as exc:
            if not skip_unsafe:
                raise
            refused.append(Refusal(record, exc.message))
    done: List[Removal] = []
    for record, _ in plans:
        deleted = _remove_one(store, record, delete_adopted, verify)
        try:
            store.used_stamp(record.id).unlink()
        except OSError:
            pass
        if deleted is not None or not record.adopted:  # an adopted one's files stay: so may a link
            links.remove(record, moves.project_of(record))  # only while it still links to this environment
        done.append(Removal(record, deleted))
    return done, refused


def _remove_one(store: Store, record: EnvRecord, delete_adopted: bool,
                verify: Optional[AdoptedCheck] = None) -> Optional[Path]:
    """Under one lock: prove ownership again (after putting back what a killed `recreate`
    left in a backup), drop the record and, once that is saved, rename the directory
    aside; then, unlocked, delete it. No other envman can come between the proof and
    the rename. A kill after the save leaves a complete environment with no record,
    which `doctor --fix` registers again: nothing is lost."""
    outside = record.adopted and lifecycle.place_of(store, record) is None
    found: List[lifecycle.Found] = []
    trash: List[lifecycle.Trash] = []

    def drop(current: Registry) -> Registry:
        present = current.envs.get(record.name)
        if present is None or present.id != record.id:
            raise OperationFailed(f"environment {record.name!r} changed while removing it",
                                  hint="run the command again")
        if not outside:
            if lifecycle.place_of(store, record) is not None:
                building.restore_backup(store, record)  # a killed `recreate`'s: it goes too
            found.append(_check(store, record))
        elif delete_adopted and os.path.lexists(record.path):
            _adopted_deletable(record)  # again: nothing may have changed meanwhile
        return current.without(record.name)

    def set_aside() -> None:
        if found and found[0].action(Op.REMOVE) is not Action.FORGET:
            moved = lifecycle.set_aside(found[0])
            if moved is not None:
                trash.append(moved)

    registry.update(store, drop, then=set_aside)
    for moved in trash:
        moved.finish()
    if outside:
        if delete_adopted and os.path.lexists(record.path):
            # It has no marker (envman did not make it); its pyvenv.cfg goes last, so a
            # deletion cut short leaves an environment `scan` finds again.
            delete_tree.delete_tree(Path(record.path), None, last="pyvenv.cfg",
                                    verify=(lambda fd, st: verify(record, fd, st)) if verify is not None else None)
            return Path(record.path)
        return None
    return found[0].path if found and found[0].action(Op.REMOVE) is not Action.FORGET else None


def _adopted_deletable(record: EnvRecord) -> Path:
    path = Path(record.path)

    def refuse(why: str) -> lifecycle.NotOurs:
        return lifecycle.NotOurs(f"refusing to delete adopted environment {record.path!r}: {why}",
                              hint="nothing was deleted")

    if not path.is_absolute() or os.path.islink(path) or os.path.realpath(path) != str(path):
        raise refuse("it is, or is reached through, a symbolic link")
    if not (path / "pyvenv.cfg").is_file() or (path / "pyvenv.cfg").is_symlink():
        raise refuse("it holds no pyvenv.cfg")
    project = Path(record.project)
    if path == project or is_within(project, path) or path == Path(path.anchor) or path == Path.home():
        raise refuse("it is, or contains, the project or a home directory")
    return path

