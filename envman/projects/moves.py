"""Projects that moved: finding them again, and pointing their environments at them.

A venv does not embed its project's path, so a moved project keeps a working
environment; only the record is out of date. Three ways to bring it up to date:

- `envman mv NAME --project DIR` says where it went (`point`);
- a command run from inside the moved project (`activate`, `info`, `path`, `run .`)
  recognises it by its identity (`envman.projects.identity`) and re-points the record
  (`at`, then `point`), saying so;
- `ls` and `prune` (read-only) look where a rename would put it (`Search`): the old
  parent directory, its subdirectories, and the subdirectories of the old grandparent
  (a project moved into a sibling directory, or its whole parent renamed). They show
  where it is and never call it stale; they change nothing.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from envman import checkpoints
from envman.errors import OperationFailed, UsageError
from envman.models import EnvRecord
from envman.projects import identity, links
from envman.store import lifecycle, markers, registry
from envman.store.layout import Store
from envman.store.lifecycle import Kind
from envman.store.records import Registry

# Directory listings one `ls` may spend looking for moved projects (each a `scandir`:
# tens of microseconds), so that a listing stays quick with many projects missing.
SEARCH_BUDGET = 400


class Search:
    """Looks for missing projects for one `ls`/`prune`, sharing listings between records."""

    def __init__(self, budget: int = SEARCH_BUDGET) -> None:
        self.budget = budget
        self._listings: Dict[str, List[Tuple[str, int, bool]]] = {}
        self._links: Dict[str, Dict[str, str]] = {}

    def find(self, record: EnvRecord) -> Optional[str]:
        """Where `record`'s missing project is now, if a rename put it near its old place:
        the directory with its identity, else one whose `.venv` link names its environment
        (a record without an identity, a project copied to another file system)."""
        wanted = record.project_identity
        old = record.project.rstrip(os.sep) or os.sep
        parent = os.path.dirname(old)
        grandparent = os.path.dirname(parent)
        places = [parent]
        places += self._subdirectories(parent)
        if grandparent != parent:
            places += [d for d in self._subdirectories(grandparent) if d != parent]
        if wanted is not None:
            for place in places:
                for name, inode, is_dir in self._list(place):
                    if inode != wanted.inode or not is_dir:
                        continue
                    candidate = os.path.join(place, name)
                    if candidate != old and identity.recognise(wanted, candidate, record.path):
                        return candidate
        env = os.path.normpath(record.path)
        for place in places:
            linked = self._linked(place).get(env)
            if linked is not None and linked != old and identity.links_to(linked, record.path):
                return linked
        return None

    def _linked(self, place: str) -> Dict[str, str]:
        """Environment path -> the directory in `place` whose `.venv` link names it."""
        known = self._links.get(place)
        if known is not None:
            return known
        found: Dict[str, str] = {}
        for name, _, is_dir in self._list(place):
            if not is_dir:
                continue
            directory = os.path.join(place, name)
            try:
                target = os.readlink(os.path.join(directory, identity.LINK_NAME))
            except OSError:
                continue
            found.setdefault(os.path.normpath(os.path.join(directory, target)), directory)
        self._links[place] = found
        return found

    def _subdirectories(self, directory: str) -> List[str]:
        # Hidden directories (caches, tool state) are not where people keep projects.
        return [os.path.join(directory, name) for name, _, is_dir in self._list(directory)
                if is_dir and not name.startswith(".")]

    def _list(self, directory: str) -> List[Tuple[str, int, bool]]:
        known = self._listings.get(directory)
        if known is not None:
            return known
        found: List[Tuple[str, int, bool]] = []
        if self.budget > 0:
            self.budget -= 1
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        try:
                            found.append((entry.name, entry.inode(), entry.is_dir(follow_symlinks=False)))
                        except OSError:
                            continue
            except OSError:
                pass
        self._listings[directory] = found
        return found


def project_of(record: EnvRecord) -> str:
    """The record's project directory, or where a moved one was found (see `Search`)."""
    if os.path.isdir(record.project):
        return record.project
    return Search().find(record) or record.project


def at(current: Registry, directory: Path) -> Optional[EnvRecord]:
    """The environment whose missing project `directory` is (moved or renamed), if any.

    Cheap when nothing moved: one `stat` and one `readlink` of `directory`; a record's
    project is looked at only when its recorded identity names this very directory.
    """
    try:
        st = os.stat(directory)
    except OSError:
        return None
    linked = None
    try:
        linked = os.path.normpath(os.path.join(directory, os.readlink(directory / identity.LINK_NAME)))
    except OSError:
        pass
    for record in current:
        wanted = record.project_identity
        same_inode = wanted is not None and (wanted.device, wanted.inode) == (st.st_dev, st.st_ino)
        if not same_inode and linked != os.path.normpath(record.path):
            continue
        if record.project == str(directory) or os.path.exists(record.project):
            continue  # not missing: nothing moved
        if identity.recognise(wanted, str(directory), record.path):
            return record
    return None


def project_directory(given: Path) -> Path:
    """The directory `mv --project` names: it must exist; links resolved, as `new` does."""
    chosen = Path(os.path.realpath(os.path.expanduser(str(given))))
    if not chosen.exists():
        raise UsageError(f"project directory {str(given)!r} does not exist",
                         hint="nothing was changed; give the project's new directory")
    if not chosen.is_dir():
        raise UsageError(f"project {str(given)!r} is not a directory", hint="nothing was changed")
    return chosen


def point(store: Store, record: EnvRecord, project: Path) -> EnvRecord:
    """Under the lock: `record` (still registered as it was) serves `project` now.

    The record and the copy of it in the environment's marker change together (so that
    `doctor --fix` rebuilding a lost registry keeps the new place); the environment
    itself is untouched: a venv does not embed its project's path. A `.venv` link in the
    old project moves with it (`links.move`): the marker names the old project until
    that is done, so that `doctor --fix` finishes it after a kill (`finish_link_move`).
    """
    moved: List[EnvRecord] = []
    carries = (os.path.normpath(record.project) != os.path.normpath(str(project))
               and identity.links_to(record.project, record.path))

    def change(current: Registry) -> Registry:
        present = current.envs.get(record.name)
        if present is None or present.id != record.id:
            raise OperationFailed(f"environment {record.name!r} changed meanwhile",
                                  hint="nothing was changed; run the command again")
        new = present.with_changes(project=str(project), project_identity=identity.take(str(project)))
        _update_marker(store, present, new, link_from=present.project if carries else None)
        moved.append(new)
        return current.with_record(new)

    registry.update(store, change)
    if carries:
        checkpoints.reached("pointed")
        finish_link_move(store, moved[0])
    return moved[0]


def link_move_pending(store: Store, record: EnvRecord) -> Optional[str]:
    """The old project whose `.venv` link an `mv --project` of `record` has not moved yet."""
    place = lifecycle.place_of(store, record)
    if place is None:
        return None
    found = lifecycle.classify(store, place, record)
    return found.marker.link_from if found.kind is Kind.READY and found.marker is not None else None


def finish_link_move(store: Store, record: EnvRecord) -> bool:
    """Under the lock: move the `.venv` link an `mv --project` of `record` (still
    registered as it is) left to move, then drop the note of it from the marker.
    Returns whether a link was made in the new project."""
    made: List[bool] = []

    def change(current: Registry) -> Registry:
        present = current.envs.get(record.name)
        if present is None or present.id != record.id:
            raise OperationFailed(f"environment {record.name!r} changed meanwhile",
                                  hint="run the command again")
        old = link_move_pending(store, present)
        if old is not None:
            made.append(links.move(old, present))
            _update_marker(store, present, present)
        return current

    registry.update(store, change)
    return bool(made and made[0])


def _update_marker(store: Store, old: EnvRecord, new: EnvRecord, link_from: Optional[str] = None) -> None:
    """The marker keeps a copy of its record; rewritten only in the record's own, complete
    environment (an adopted one has no marker, a damaged one is left as it is)."""
    place = lifecycle.place_of(store, old)
    if place is None:
        return
    found = lifecycle.classify(store, place, old)
    if found.kind is not Kind.READY or found.marker is None:
        return
    try:
        markers.write(place, dataclasses.replace(found.marker, record=new.to_dict(), link_from=link_from))
    except OSError as exc:
        raise OperationFailed(f"cannot update the marker in {place}: {exc.strerror}",
                              hint="nothing was changed") from None
