"""What a directory in the store is, and what each operation may do with it.

One classifier (`classify`) answers "what is this store path, for this record?" and
one table (`TABLE`) says what `new`, `rm`/`prune`, `recreate` and `doctor --fix` do
with each answer. Every caller asks the classifier and acts on the table; nobody
re-derives ownership from a marker's raw fields. Deleting goes through `delete`,
which re-classifies under the registry lock and then removes the directory from
descriptors (`envman.store.delete_tree`): no link followed, no mount crossed.

The store's work directories, each named so that no environment name can collide:

| name | what |
| --- | --- |
| `envs/NAME` | an environment (or a build of one, while its marker says 'creating') |
| `envs/.new-PID-HEX` | a build's reservation, before it is renamed to `envs/NAME` |
| `envs/.backup-NAME-HEX` | the old environment a `recreate` keeps until the new one is registered |
| `envs/.trash-NAME-HEX` | a deletion in progress: renamed aside, then removed, marker last |
"""

from __future__ import annotations

import os
import stat
import uuid
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Dict, Optional, Tuple

from envman import checkpoints
from envman.errors import EnvmanError, OperationFailed
from envman.models import EnvRecord, is_valid_name
from envman.store import delete_tree, markers
from envman.store.layout import Store
from envman.store.markers import Marker, MarkerState

NEW_PREFIX = ".new-"
BACKUP_PREFIX = ".backup-"
TRASH_PREFIX = ".trash-"


class Kind(Enum):
    ABSENT = "absent"  # nothing there
    EMPTY = "empty"  # a real, empty directory: nothing in it can be lost
    FOREIGN = "foreign"  # not provably envman's: a link, a file, no marker, another place
    READY = "ready"  # the record's own complete environment
    OTHER = "other"  # a complete envman environment of another (or no registered) record
    BUILDING = "building"  # being built by an envman that is still running
    ABANDONED = "abandoned"  # a build whose envman is gone, holding only what it built
    DAMAGED = "damaged"  # envman's marker, but not a whole environment: never deleted
    BACKUP = "backup"  # an old environment a `recreate` moved aside
    TRASH = "trash"  # a deletion in progress


class Op(Enum):
    NEW = "new"  # reserve the name for a new environment
    REMOVE = "remove"  # rm, prune
    REBUILD = "rebuild"  # recreate (and a rename's build)
    REPAIR = "repair"  # doctor --fix


class Action(Enum):
    PROCEED = "proceed"  # nothing in the way
    CLEAR = "clear"  # delete what is there first (nothing of value can be in it)
    DELETE = "delete"  # delete the environment: that is the operation
    MOVE_ASIDE = "move-aside"  # keep it as `.backup-*` until the rebuild is registered
    FORGET = "forget"  # only the record goes
    REGISTER = "register"  # a complete environment whose record is lost: register it again
    RESTORE = "restore"  # put a backup back in its place
    FINISH = "finish"  # finish a deletion that was interrupted
    WAIT = "wait"  # a running envman is working on it: refuse, and say so
    REFUSE = "refuse"  # not envman's to touch: refuse, and say why
    REPORT = "report"  # doctor: nothing it can do; say what is wrong


A = Action
# What each operation does with each kind of path. For `REPAIR`, BACKUP and OTHER need
# the registry to decide further (see `envman.ops.doctor`): RESTORE and REGISTER are only
# what they become when the registry agrees.
TABLE: Dict[Tuple[Kind, Op], Action] = {
    (Kind.ABSENT, Op.NEW): A.PROCEED, (Kind.ABSENT, Op.REMOVE): A.FORGET,
    (Kind.ABSENT, Op.REBUILD): A.PROCEED, (Kind.ABSENT, Op.REPAIR): A.REPORT,
    (Kind.EMPTY, Op.NEW): A.CLEAR, (Kind.EMPTY, Op.REMOVE): A.CLEAR,
    (Kind.EMPTY, Op.REBUILD): A.CLEAR, (Kind.EMPTY, Op.REPAIR): A.CLEAR,
    (Kind.FOREIGN, Op.NEW): A.REFUSE, (Kind.FOREIGN, Op.REMOVE): A.REFUSE,
    (Kind.FOREIGN, Op.REBUILD): A.REFUSE, (Kind.FOREIGN, Op.REPAIR): A.REPORT,
    (Kind.READY, Op.NEW): A.REFUSE, (Kind.READY, Op.REMOVE): A.DELETE,
    (Kind.READY, Op.REBUILD): A.MOVE_ASIDE, (Kind.READY, Op.REPAIR): A.PROCEED,
    (Kind.OTHER, Op.NEW): A.REFUSE, (Kind.OTHER, Op.REMOVE): A.REFUSE,
    (Kind.OTHER, Op.REBUILD): A.REFUSE, (Kind.OTHER, Op.REPAIR): A.REGISTER,
    (Kind.BUILDING, Op.NEW): A.WAIT, (Kind.BUILDING, Op.REMOVE): A.WAIT,
    (Kind.BUILDING, Op.REBUILD): A.WAIT, (Kind.BUILDING, Op.REPAIR): A.WAIT,
    (Kind.ABANDONED, Op.NEW): A.CLEAR, (Kind.ABANDONED, Op.REMOVE): A.CLEAR,
    (Kind.ABANDONED, Op.REBUILD): A.CLEAR, (Kind.ABANDONED, Op.REPAIR): A.CLEAR,
    (Kind.DAMAGED, Op.NEW): A.REFUSE, (Kind.DAMAGED, Op.REMOVE): A.REFUSE,
    (Kind.DAMAGED, Op.REBUILD): A.REFUSE, (Kind.DAMAGED, Op.REPAIR): A.REPORT,
    (Kind.BACKUP, Op.REPAIR): A.RESTORE,
    (Kind.TRASH, Op.REPAIR): A.FINISH,
}


@dataclass(frozen=True)
class Found:
    """What `classify` saw at one path."""

    kind: Kind
    path: Path
    why: str  # completes "<path> ...", for the person
    marker: Optional[Marker] = None
    # For ABANDONED and TRASH: whether only envman's marker and empty directories
    # remain (no pyvenv.cfg): then it is cleared without the pyvenv.cfg proof.
    bare: bool = False

    def action(self, op: Op) -> Action:
        return TABLE[(self.kind, op)]


class Untouchable(OperationFailed):
    """envman will not touch what stands at a path (status 1); nothing was changed."""


class Busy(Untouchable):
    """A running envman is working on this environment: wait, then retry."""


class NotOurs(Untouchable):
    """envman cannot prove it owns a directory, so it will not touch it."""


def place_of(store: Store, record: EnvRecord) -> Optional[Path]:
    """The store's directory for `record`, if its recorded path is that directory.

    A record written while the data root was spelled another way (through a symbolic
    link to it, or a bind mount) still names the same directory: it is compared by real
    path, then by device and inode.
    """
    if not is_valid_name(record.name) or not os.path.isabs(record.path):
        return None
    canonical = store.env_path(record.name)
    if record.path == str(canonical):
        return canonical
    parent, base = os.path.split(record.path)
    if base != record.name:
        return None
    if os.path.realpath(parent) == str(store.envs_dir):
        return canonical
    try:  # the same directory reached another way (a bind mount, say)
        if os.path.samestat(os.stat(parent), os.stat(store.envs_dir)):
            return canonical
    except OSError:
        pass
    return None


def classify(store: Store, path: Path, record: Optional[EnvRecord] = None) -> Found:
    """What `path` (an entry of the store's `envs/`) is, judged for `record` if given."""
    if record is not None and place_of(store, record) != path:
        if not os.path.lexists(path):
            return Found(Kind.ABSENT, path, "does not exist")
        if not is_valid_name(record.name):
            return Found(Kind.FOREIGN, path, "is named by a record whose name is not a valid "
                         "environment name")
        return Found(Kind.FOREIGN, path, f"is not the store's directory for {record.name!r}")
    if path.parent != store.envs_dir:
        return Found(Kind.FOREIGN, path, "is not in the store")
    if os.path.islink(store.envs_dir) or os.path.realpath(store.envs_dir) != str(store.envs_dir):
        return Found(Kind.FOREIGN, path, "is reached through a symbolic link (envs/ is one)")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return Found(Kind.ABSENT, path, "does not exist")
    except OSError as exc:
        return Found(Kind.FOREIGN, path, f"cannot be examined: {exc.strerror}")
    if stat.S_ISLNK(st.st_mode):
        return Found(Kind.FOREIGN, path, "is a symbolic link")
    if not stat.S_ISDIR(st.st_mode):
        return Found(Kind.FOREIGN, path, "is not a directory")
    name = path.name
    if name.startswith(TRASH_PREFIX):
        return _trash(path)
    if name.startswith(BACKUP_PREFIX):
        return _backup(path)
    if name.startswith(NEW_PREFIX):
        return _reservation(path)
    if name.startswith("."):
        return Found(Kind.FOREIGN, path, "is a work directory envman does not recognise")
    marker = markers.read(path)
    if marker is None:
        if _is_empty(path):
            return Found(Kind.EMPTY, path, "is an empty directory")
        return Found(Kind.FOREIGN, path, f"holds no envman marker ({markers.MARKER_NAME})")
    whole = _has_pyvenv_cfg(path)
    if record is not None and marker.id == record.id and marker.replaces != record.id:
        if marker.state is MarkerState.READY:
            if whole:
                return Found(Kind.READY, path, "is the environment", marker)
            return Found(Kind.DAMAGED, path, "holds envman's marker but no pyvenv.cfg", marker)
        return _build(path, marker, whole, "a build of it")
    if record is not None and marker.replaces == record.id:
        # Not yet registered, whatever its marker says: a rebuild still running, or one
        # killed (before or after its 'ready') that must give way to the old environment.
        return _build(path, marker, whole, "a rebuild of it")
    if marker.state is MarkerState.CREATING or (record is None and not marker.creator_gone()):
        # Unregistered and 'ready' with its creator alive: a `new` about to register it.
        return _build(path, marker, whole, "an environment being created")
    if not whole:
        return Found(Kind.DAMAGED, path, "holds envman's marker but no pyvenv.cfg", marker)
    return Found(Kind.OTHER, path, "holds another envman environment "
                 f"({marker.name!r}, record {marker.id})", marker)


def _build(path: Path, marker: Marker, whole: bool, what: str) -> Found:
    if not marker.creator_gone():
        return Found(Kind.BUILDING, path, f"holds {what} by a running envman (pid {marker.pid})", marker)
    if whole:
        return Found(Kind.ABANDONED, path, f"holds {what} that was killed", marker)
    if _only_envman_files(path):
        return Found(Kind.ABANDONED, path, f"holds {what} that was killed before it wrote anything",
                     marker, bare=True)
    return Found(Kind.DAMAGED, path, f"holds {what} that was killed, with files but no pyvenv.cfg", marker)


def _reservation(path: Path) -> Found:
    """`.new-PID-HEX`: a build's directory before it takes its name."""
    marker = markers.read(path)
    if marker is not None:
        return _build(path, marker, _has_pyvenv_cfg(path), "a reservation")
    # Killed while writing the marker: the pid in the name says whose it was.
    pid_text = path.name[len(NEW_PREFIX):].split("-", 1)[0]
    pid = int(pid_text) if pid_text.isdigit() else 0
    if markers.process_alive(pid):
        return Found(Kind.BUILDING, path, f"is a reservation of a running envman (pid {pid})")
    if _only_envman_files(path):
        return Found(Kind.ABANDONED, path, "is a reservation killed before its marker was written",
                     None, bare=True)
    return Found(Kind.FOREIGN, path, "holds files but no envman marker")


def _backup(path: Path) -> Found:
    marker = markers.read(path)
    if (marker is None or marker.state is not MarkerState.READY or not _has_pyvenv_cfg(path)
            or not path.name.startswith(f"{BACKUP_PREFIX}{marker.name}-")):
        return Found(Kind.FOREIGN, path, "is a backup without envman's marker, or not a whole environment")
    return Found(Kind.BACKUP, path, f"holds the old {marker.name!r} kept by a `recreate`", marker)


def _trash(path: Path) -> Found:
    marker = markers.read(path)
    if marker is not None:
        return Found(Kind.TRASH, path, "is left by a deletion that was interrupted", marker)
    if _only_envman_files(path):
        return Found(Kind.TRASH, path, "is left by a deletion interrupted at its end", bare=True)
    return Found(Kind.FOREIGN, path, "is left by a deletion, but holds files and no envman marker")


def _has_pyvenv_cfg(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path / "pyvenv.cfg").st_mode)
    except OSError:
        return False


def _is_empty(path: Path) -> bool:
    try:
        with os.scandir(path) as found:
            return next(iter(found), None) is None
    except OSError:
        return False


def _only_envman_files(path: Path) -> bool:
    """Whether the tree holds nothing but directories, links and envman's marker files,
    without following links or entering another file system."""
    try:
        device = os.lstat(path).st_dev
        for top, dirs, files, top_fd in os.fwalk(path, follow_symlinks=False):
            if os.fstat(top_fd).st_dev != device:
                return False
            for name in files:
                st = os.stat(name, dir_fd=top_fd, follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and not delete_tree.is_marker_file(name):
                    return False
    except OSError:
        return False
    return True


# -- acting on the answer --------------------------------------------------------------


def refusal(found: Found, op: Op, record_name: str) -> EnvmanError:
    """The error for a WAIT or REFUSE: says what is there and what to do."""
    if found.kind is Kind.BUILDING:
        verb = "being rebuilt" if found.marker is not None and found.marker.replaces else "being built"
        pid = f" (pid {found.marker.pid})" if found.marker is not None else ""
        return Busy(f"{record_name!r} is {verb} by a running envman{pid}: {found.path} {found.why}",
                    hint="nothing was changed; wait for it to finish, then try again")
    what = {Op.NEW: "create", Op.REMOVE: "delete", Op.REBUILD: "rebuild", Op.REPAIR: "repair"}[op]
    return NotOurs(f"refusing to {what} {record_name!r}: {found.path} {found.why}",
                   hint="nothing was changed; `envman doctor` explains what is wrong")


@dataclass(frozen=True)
class Trash:
    """A directory renamed aside for deletion; `finish` removes it (outside the lock)."""

    path: Path
    marker_id: Optional[str]
    bare: bool

    def finish(self) -> None:
        delete_tree.delete_tree(self.path, self.marker_id, files_allowed=not self.bare)


def set_aside(found: Found) -> Optional[Trash]:
    """The quick half of deleting what `classify` just found, under the registry lock
    the caller holds: rename it to `.trash-*`, so its name is free at once.

    Only an environment (READY, ABANDONED, BACKUP) or a TRASH directory is ever
    deleted; an EMPTY directory is `rmdir`ed here and then (None) nothing is left.
    """
    if found.kind is Kind.EMPTY:
        try:
            os.rmdir(found.path)
        except OSError as exc:
            raise OperationFailed(f"cannot delete {found.path}: {exc.strerror}") from None
        return None
    if found.kind not in (Kind.READY, Kind.ABANDONED, Kind.BACKUP, Kind.TRASH):
        raise NotOurs(f"refusing to delete {found.path}: it {found.why}")
    marker_id = found.marker.id if found.marker is not None else None
    if found.kind is Kind.TRASH:
        return Trash(found.path, marker_id, found.bare)
    trash = found.path.parent / f"{TRASH_PREFIX}{found.path.name.lstrip('.')}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(found.path, trash)
    except OSError as exc:
        raise OperationFailed(f"cannot delete {found.path}: {exc.strerror}") from None
    checkpoints.reached("trash")
    return Trash(trash, marker_id, found.bare)


def check(store: Store, path: Path, record: Optional[EnvRecord], op: Op) -> Found:
    """Classify `path` and raise if the table says WAIT or REFUSE; changes nothing."""
    found = classify(store, path, record)
    if found.action(op) in (Action.WAIT, Action.REFUSE):
        raise refusal(found, op, record.name if record is not None else path.name)
    return found


def settle(store: Store, path: Path, record: Optional[EnvRecord], op: Op) -> Found:
    """Under the lock: classify `path` and clear what the table says to clear (small
    things: an empty directory, a killed build); returns what stands there now.
    WAIT and REFUSE raise."""
    found = check(store, path, record, op)
    if found.action(op) is Action.CLEAR:
        trash = set_aside(found)
        if trash is not None:
            trash.finish()
        return classify(store, path, record)
    return found
