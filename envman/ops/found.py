"""Acting on what `envman scan` found: adopting it, or deleting it.

Deleting a directory envman did not make is the most dangerous thing it does, so each
one is checked again at the moment of deletion, on the opened directory itself (see
`envman.store.delete_tree`): the same directory the scan found (device and inode), not
a link, on the same file system, still holding `pyvenv.cfg` or `conda-meta/`, not the
active environment, not the one envman runs in, not a project itself (`.git`,
`pyproject.toml`...), and not holding a home directory, envman's data or the project it
serves. A registered environment goes as `rm` would
take it, its record with it.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import List, Optional, Sequence, Set, Tuple

from envman import sizes
from envman.ages import now
from envman.discovery.scan import Found
from envman.errors import EnvmanError, UsageError
from envman.fsutil import is_within
from envman.models import ENV_MISSING, UNUSED, EnvRecord, name_from_directory
from envman.ops.staleness import assess_all
from envman.store import registry
from envman.store.delete_tree import Refused, delete_tree
from envman.store.layout import Store
from envman.store.records import Registry

# What an environment never holds and a project does: `python -m venv .` in a project
# makes the project an environment, and deleting that would delete the project.
PROJECT_MARKS = (".git", ".hg", ".svn", "pyproject.toml", "setup.py", "setup.cfg")
NOT_ADOPTED = {"conda": "a conda environment", "pipx": "pipx's", "tox": "tox's", "nox": "nox's",
               "envman": "in envman's store"}


@dataclass(frozen=True)
class Adoption:
    found: Found
    record: Optional[EnvRecord]
    reason: Optional[str] = None  # why it was not adopted


@dataclass(frozen=True)
class Deletion:
    found: Found
    deleted: bool
    reason: Optional[str] = None  # why it was not deleted


@dataclass(frozen=True)
class Deleted:
    each: List[Deletion]
    freed: int  # bytes


def judged(store: Store, found: Sequence[Found]) -> List[Found]:
    """The registered ones judged as `ls` judges them: a project that moved is not missing
    (it is shown where it is now), one whose drive is gone is `project-unreachable`. The
    others, and `unused` (unchanged and unused), as the scan found them."""
    records = [f.registered for f in found if f.registered is not None]
    if not records:
        return list(found)
    states = {s.record.id: s for s in assess_all(store, records, now(), timedelta.max)}
    judged_found = []
    for item in found:
        state = states.get(item.registered.id) if item.registered is not None else None
        if state is None:
            judged_found.append(item)
            continue
        reasons = [r for r in state.reasons if r not in (UNUSED, ENV_MISSING)]
        reasons += [r for r in item.reasons if r == UNUSED]
        judged_found.append(dataclasses.replace(item, reasons=tuple(reasons),
                                                project=state.moved_to or item.project))
    return judged_found


def adoptable(found: Found, store: Store) -> Optional[str]:
    """Why `scan --adopt` leaves it alone, or None."""
    if found.registered is not None:
        return f"registered already as {found.registered.name!r}"
    if found.tool in NOT_ADOPTED:
        return NOT_ADOPTED[found.tool]
    if is_within(found.path, os.path.realpath(store.envs_dir)):
        return "in envman's store (`envman doctor --fix` registers it again)"
    if found.project is None:
        return "its project is not known (`envman adopt PATH --project DIR`)"
    return None


def adopt_all(store: Store, found: Sequence[Found]) -> List[Adoption]:
    """Register every adoptable one, named after its project (`-2`, `-3` where taken)."""
    done: List[Adoption] = []
    chosen: Set[str] = set()  # taken since `current` was read: by this run's adoptions
    current = registry.load(store) if store.registry_path.exists() else None
    for item in found:
        why = adoptable(item, store)
        if why is not None:
            done.append(Adoption(item, None, why))
            continue
        assert item.project is not None
        try:
            from envman.ops import adopt as adopting  # only here: `scan` alone needs none of it

            name = _free_name(current, item, chosen)
            record = adopting.adopt(store, Path(item.path), name=name, project=Path(item.project),
                                    last_used=min(item.modified, now()))
        except EnvmanError as exc:
            done.append(Adoption(item, None, exc.message))
            continue
        chosen.add(record.name.lower())
        done.append(Adoption(item, record))
    return done


def _free_name(current: Optional[Registry], item: Found, chosen: Set[str]) -> str:
    assert item.project is not None
    try:
        base = name_from_directory(os.path.basename(item.project.rstrip(os.sep)))
    except UsageError:
        base = name_from_directory(os.path.basename(item.path))
    for n in range(1, 10000):
        name = base if n == 1 else f"{base[:60]}-{n}"
        if name.lower() not in chosen and (current is None or current.find(name) is None):
            return name
    raise UsageError(f"no free name for {item.path}")


class _Protected:
    """What may never be deleted: the active environment, the running interpreter's, homes."""

    def __init__(self, store: Store) -> None:
        self.identities: Set[Tuple[int, int]] = set()
        # `conda activate` sets CONDA_PREFIX, never VIRTUAL_ENV
        for path in (os.environ.get("VIRTUAL_ENV"), os.environ.get("CONDA_PREFIX"), sys.prefix,
                     sys.exec_prefix, sys.base_prefix):
            if path:
                try:
                    st = os.stat(path)
                    self.identities.add((st.st_dev, st.st_ino))
                except OSError:
                    pass
        self.inside = [os.path.realpath(p) for p in (sys.executable, os.path.expanduser("~"),
                                                     str(store.root)) if p]

    def refusal(self, found: Found) -> Optional[str]:
        if (found.device, found.inode) in self.identities:
            return "it is the active environment, or the one envman runs in"
        real = os.path.realpath(found.path)
        if real == os.sep or any(is_within(p, real) for p in self.inside):
            return "it holds the running interpreter, a home directory or envman's data"
        if found.project is not None and is_within(os.path.realpath(found.project), real):
            return "it holds its own project"
        return None


def freeing(found: Sequence[Found]) -> List[int]:
    """What deleting each would free, measured over these alone: a file another
    environment (found but not chosen, or not found) also holds frees nothing."""
    return sizes.measure([f.path for f in found])


def delete_all(store: Store, found: Sequence[Found], promised: Optional[int] = None) -> Deleted:
    """Delete each (or say why not). `promised`, `sum(freeing(found))` if the caller has
    it, is the space deleting all would free; what was freed is that less what the ones
    left in place still hold (a file shared with a deleted one counts there now)."""
    if promised is None:
        promised = sum(freeing(found))
    protected = _Protected(store)
    each = [_delete_one(store, item, protected) for item in found]
    still = sum(sizes.measure([d.found.path for d in each if not d.deleted]))
    return Deleted(each, max(0, promised - still))


def _delete_one(store: Store, item: Found, protected: _Protected) -> Deletion:
    why = protected.refusal(item)
    if why is not None:
        return Deletion(item, False, why)
    try:
        if item.registered is not None:
            from envman.ops import remove as removing

            removed, refused = removing.remove(
                store, [item.registered], delete_adopted=True, skip_unsafe=True,
                verify=lambda record, fd, st: _still_the_same(item, fd, st, protected))
            if refused:
                return Deletion(item, False, refused[0].reason)
            return Deletion(item, bool(removed) and removed[0].deleted is not None)
        if is_within(item.path, os.path.realpath(store.envs_dir)):
            return Deletion(item, False, "in envman's store but not registered: `envman doctor --fix` decides")
        delete_tree(Path(item.path), None, verify=lambda fd, st: _still_the_same(item, fd, st, protected),
                    last="pyvenv.cfg" if item.kind == "pep405" else "conda-meta")
        return Deletion(item, True)
    except EnvmanError as exc:
        return Deletion(item, False, exc.message)


def _still_the_same(item: Found, fd: int, st: os.stat_result, protected: _Protected) -> None:
    def refuse(why: str) -> Refused:
        return Refused(f"refusing to delete {item.path}: {why}")

    if (st.st_dev, st.st_ino) != (item.device, item.inode):
        raise refuse("it is not the directory the scan found (it was replaced)")
    if (st.st_dev, st.st_ino) in protected.identities:
        raise refuse("it is the active environment, or the one envman runs in")
    what = "pyvenv.cfg" if item.kind == "pep405" else "conda-meta"
    try:
        held = os.stat(what, dir_fd=fd, follow_symlinks=False)
    except OSError:
        raise refuse(f"it no longer holds {what}") from None
    if not (stat.S_ISREG(held.st_mode) if item.kind == "pep405" else stat.S_ISDIR(held.st_mode)):
        raise refuse(f"its {what} is not a {'file' if item.kind == 'pep405' else 'directory'}")
    for mark in PROJECT_MARKS:
        try:
            os.stat(mark, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        except OSError:
            pass
        raise refuse(f"it is a project too (it holds {mark}): delete it yourself if you mean it")
