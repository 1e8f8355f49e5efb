"""Deleting environments: proof of ownership first, every time.

Used by `rm` and `prune`. A directory is deleted only when `Store.check_owned` proves
envman made it. An adopted environment outside the store is only unregistered unless
the person explicitly asks for its files to go too (and even then it must still be a
real virtual environment directory, not a link, not the project itself).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from envman import registry
from envman.errors import OperationFailed
from envman.models import EnvRecord
from envman.registry import Registry
from envman.store import Store, UnsafeToDelete


@dataclass(frozen=True)
class Removal:
    record: EnvRecord
    deleted: Optional[Path]  # the directory deleted, or None when only the record was dropped


@dataclass(frozen=True)
class Refusal:
    record: EnvRecord
    reason: str


def plan(store: Store, record: EnvRecord, delete_adopted: bool = False) -> Optional[Path]:
    """The directory removing `record` would delete (None: only the record goes), or raise."""
    path = Path(record.path)
    if not os.path.lexists(path):
        return None
    if record.adopted and not _inside(path, store.envs_dir):
        return _adopted_deletable(record) if delete_adopted else None
    return store.check_owned(record)


def remove(store: Store, records: Sequence[EnvRecord], *, delete_adopted: bool = False,
           skip_unsafe: bool = False) -> Tuple[List[Removal], List[Refusal]]:
    """Delete environments and drop their records.

    Every directory is checked before any is touched. With `skip_unsafe` the ones that
    cannot be proven ours are left (directory and record) and reported; without it one
    such directory stops everything before anything is deleted.
    Each record is dropped under the lock first, then its directory is deleted: a crash
    between the two leaves an unregistered directory with its marker, which `doctor`
    re-registers or removes, never a record pointing at half a directory.
    """
    plans = []
    refused: List[Refusal] = []
    for record in records:
        try:
            plans.append((record, plan(store, record, delete_adopted)))
        except UnsafeToDelete as exc:
            if not skip_unsafe:
                raise
            refused.append(Refusal(record, exc.message))
    done: List[Removal] = []
    for record, env_dir in plans:
        _remove_one(store, record, env_dir, delete_adopted)
        try:
            store.used_stamp(record.id).unlink()
        except OSError:
            pass
        done.append(Removal(record, env_dir))
    return done, refused


def _remove_one(store: Store, record: EnvRecord, env_dir: Optional[Path], delete_adopted: bool) -> None:
    """Under one lock: prove ownership again, drop the record, rename the directory aside;
    then, unlocked, delete it. No other envman (a `recreate` claiming the same path, say)
    can come between the proof and the rename."""
    moved: List[Path] = []

    def drop(current: Registry) -> Registry:
        present = current.envs.get(record.name)
        if present is None or present.id != record.id:
            raise OperationFailed(f"environment {record.name!r} changed while removing it",
                                  hint="run the command again")
        if env_dir is not None:
            plan(store, record, delete_adopted)  # again: nothing may have changed meanwhile
        return current.without(record.name)

    def move() -> None:
        if env_dir is not None:
            moved.append(store.move_to_trash(env_dir))

    registry.update(store, drop, then=move)
    for trash in moved:
        store.finish_removal(trash)


def _adopted_deletable(record: EnvRecord) -> Path:
    path = Path(record.path)

    def refuse(why: str) -> UnsafeToDelete:
        return UnsafeToDelete(f"refusing to delete adopted environment {record.path!r}: {why}",
                              hint="nothing was deleted")

    if not path.is_absolute() or os.path.islink(path) or os.path.realpath(path) != str(path):
        raise refuse("it is, or is reached through, a symbolic link")
    if not (path / "pyvenv.cfg").is_file() or (path / "pyvenv.cfg").is_symlink():
        raise refuse("it holds no pyvenv.cfg")
    project = Path(record.project)
    if path == project or _inside(project, path) or path == Path(path.anchor) or path == Path.home():
        raise refuse("it is, or contains, the project or a home directory")
    return path


def _inside(path: Path, directory: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(directory))
    except ValueError:
        return False
    return True


def disk_usage(path: Path) -> int:
    """Bytes a directory tree occupies on disk, links not followed."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += getattr(st, "st_blocks", 0) * 512 or st.st_size
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return total

