"""The one build transaction: every environment envman makes is built through `build`.

    reserve -> build -> verify -> mark ready and register -> drop the backup
                 \\-> (any failure, Ctrl-C, SIGTERM) undo

Reserve: a directory `envs/.new-PID-HEX` is made holding a 'creating' marker, then,
under the registry lock, whatever stands at `envs/NAME` is settled by the lifecycle
table (an empty directory or a killed build is cleared; a `recreate` moves the old
environment aside to `envs/.backup-NAME-HEX`) and the reservation is renamed to
`envs/NAME`. The name and its marker appear together: no kill, full disk or encoding
error can leave a bare directory under an environment's name. A venv embeds its own
path, so the build itself happens at the final path.

A rename (`envman mv NAME NEWNAME`: `replaces` has another name) builds at the new
name's path while the old environment stays where it is, in use; at the commit, under
the one lock, the old environment is moved aside to `envs/.backup-OLD-HEX` first, then
the new marker says 'ready', then one registry save adds the new record and drops the
old one; the backup is deleted after. A kill before that save leaves the old record
registered and its environment in a backup, which is put back (`doctor --fix`, or any
`rm`, `recreate`, `mv` of it); a kill after the new marker said 'ready' also leaves a
complete new environment, unregistered, whose marker `replaces` the registered old
record: `doctor --fix` finishes the rename (`envman.ops.rename`). A kill after the save
leaves a backup superseded by a registered environment, which `doctor --fix` deletes.

Verify: `pyvenv.cfg` and a `bin/python` that runs and reports this environment as its
prefix, before anything says ready. Mark and register, under one lock: the marker
says 'ready', then the record is saved. A kill between the two leaves a complete,
unregistered environment that `doctor --fix` registers; a kill anywhere earlier leaves
a build whose creator is gone, which the next `new`/`recreate` or `doctor --fix`
clears (putting a `recreate`'s backup back).
"""

from __future__ import annotations

import os
import stat
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, List, Optional

from envman import checkpoints
from envman.errors import EnvmanError, OperationFailed, UsageError
from envman.models import EnvRecord
from envman.processes import clean_environ, excerpt, run
from envman.store import delete_tree, lifecycle, markers, registry
from envman.store.layout import Store, env_python
from envman.store.lifecycle import Found, Kind, Op
from envman.store.markers import MarkerState
from envman.store.records import Registry

VERIFY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Reservation:
    record: EnvRecord  # what will be registered
    replaces: Optional[EnvRecord]  # `recreate`, a rename: the registered record it replaces
    backup: Optional[Path]  # where the old environment waits, if there was one

    @property
    def path(self) -> Path:
        return Path(self.record.path)

    @property
    def renames(self) -> bool:
        """A rename: the old environment keeps its own place until the commit."""
        return self.replaces is not None and self.replaces.name != self.record.name


def build(store: Store, record: EnvRecord, steps: Callable[[], None],
          replaces: Optional[EnvRecord] = None,
          on_ready: Optional[Callable[[], None]] = None) -> None:
    """Reserve `record`'s directory, run `steps` to fill it, verify, mark and register.

    `replaces`: the registered record a rebuild supersedes; it must still be the
    registered one when the new record is saved, and its environment is kept (moved
    aside) until then. On any failure everything is undone and the error re-raised.
    `on_ready` runs under the commit's lock once the new marker says 'ready', just before
    the record is saved (a rename re-points the project's `.venv` link there, so that
    whoever finishes the rename finds it done).
    """
    reservation = reserve(store, record, replaces)
    try:
        steps()
        checkpoints.reached("built")
        verify(store, reservation.path)
        moved_aside = commit(store, reservation, on_ready)
    except BaseException:
        undo(store, reservation)
        raise
    checkpoints.reached("registered")
    if moved_aside is not None:
        reservation = replace(reservation, backup=moved_aside)
    drop_backup(store, reservation)


def reserve(store: Store, record: EnvRecord, replaces: Optional[EnvRecord] = None) -> Reservation:
    """Claim `envs/NAME` for `record`, its marker already inside (see the module's doc).

    All of it under the registry lock, so that a lock that cannot be taken (a read-only
    root, say) leaves nothing behind, not even `envs/`.
    """
    env_dir = Path(record.path)
    backups: List[Path] = []
    staged: List[Path] = []

    renames = replaces is not None and replaces.name != record.name

    def claim(current: Registry) -> Registry:
        # Asked first: an unusable name or path must not cost a directory.
        if replaces is not None:
            _still_registered(current, replaces)
        if replaces is None or renames:
            _name_free(store, current, record, check_store=False)
        staging = _stage(store, record, replaces)
        staged.append(staging)
        if replaces is None or renames:  # a rename: the old one stays until the commit
            _name_free(store, current, record)
        else:
            backups.extend(clear_for_rebuild(store, replaces))
        try:
            os.rename(staging, env_dir)
        except OSError as exc:
            raise OperationFailed(f"cannot create {env_dir}: {exc.strerror}") from None
        checkpoints.reached("reserve")
        return current  # unchanged: the record is registered only once complete

    try:
        registry.update(store, claim)
    except BaseException:
        for staging in staged:
            _drop_staging(staging)
        raise
    return Reservation(record, replaces, backups[0] if backups else None)


def _stage(store: Store, record: EnvRecord, replaces: Optional[EnvRecord]) -> Path:
    """`envs/.new-PID-HEX` holding the 'creating' marker: the reservation before it is named."""
    made_envs = not os.path.lexists(store.envs_dir)
    try:
        store.envs_dir.mkdir(parents=True, exist_ok=True)
        if os.path.islink(store.envs_dir):
            raise lifecycle.NotOurs(f"{store.envs_dir} is a symbolic link; envman builds "
                                    "only in a store it can prove is its own",
                                    hint="replace the link with a directory (or set ENVMAN_HOME "
                                         "to the real place)")
        staging = store.envs_dir / f"{lifecycle.NEW_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.mkdir(staging)
    except OSError as exc:
        _drop_envs(store, made_envs)
        raise OperationFailed(f"cannot create {record.path}: {exc.strerror}") from None
    try:
        markers.write(staging, markers.for_this_process(
            record.id, record.name, MarkerState.CREATING, record.to_dict(),
            replaces=replaces.id if replaces is not None else None))
    except BaseException as exc:
        _drop_staging(staging)
        _drop_envs(store, made_envs)
        if isinstance(exc, OSError):
            raise OperationFailed(f"cannot create {record.path}: {exc.strerror}") from None
        raise
    return staging


def _drop_envs(store: Store, made: bool) -> None:
    """Remove `envs/` again if this build made it and nothing went into it."""
    if made:
        try:
            os.rmdir(store.envs_dir)
        except OSError:
            pass


def _name_free(store: Store, current: Registry, record: EnvRecord, check_store: bool = True) -> None:
    """Under the lock: the name is unregistered, and nothing of value stands at its path
    (nor at a path differing only in case, which is the same on some file systems)."""
    existing = current.find(record.name)
    if existing is not None:
        raise UsageError(
            f"an environment named {existing.name!r} already exists (project {existing.project})",
            hint="choose another name: envman new NAME")
    if not check_store or not store.envs_dir.is_dir():
        return
    try:
        clashes = [store.envs_dir / n for n in os.listdir(store.envs_dir)
                   if n.lower() == record.name.lower()]
    except OSError as exc:
        raise OperationFailed(f"cannot read {store.envs_dir}: {exc.strerror}") from None
    for path in clashes:
        try:
            lifecycle.settle(store, path, None, Op.NEW)
        except lifecycle.Busy as exc:
            raise UsageError(exc.message, hint=exc.hint) from None
        except lifecycle.NotOurs as exc:
            raise UsageError(exc.message, hint="choose another name, move it out of the store, "
                             "or let `envman doctor --fix` register what it can") from None


def _still_registered(current: Registry, old: EnvRecord) -> None:
    present = current.envs.get(old.name)
    if present is None or present.id != old.id:
        raise OperationFailed(f"environment {old.name!r} changed while rebuilding it",
                              hint="nothing was changed; run the command again")


def clear_for_rebuild(store: Store, old: EnvRecord) -> List[Path]:
    """Under the lock: put back a backup a killed rebuild left, then move the old
    environment aside. Returns the backup's path, if there is one."""
    env_dir = store.env_path(old.name)
    found = restore_backup(store, old) or lifecycle.settle(store, env_dir, old, Op.REBUILD)
    if found.kind is Kind.ABSENT:
        return []
    backup = store.envs_dir / f"{lifecycle.BACKUP_PREFIX}{old.name}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(env_dir, backup)
    except OSError as exc:
        raise OperationFailed(f"cannot move {env_dir} aside: {exc.strerror}") from None
    checkpoints.reached("backup")
    return [backup]


def restore_backup(store: Store, record: EnvRecord) -> Optional[Found]:
    """Under the lock: if a killed rebuild left `record`'s environment in a backup, clear
    the killed build from its place and put the backup back; returns what stands
    there then (None when there was no backup to put back). Raises if a running envman
    is rebuilding it, or if something that is not a killed rebuild is in the way."""
    pending = [found for found in backups(store)
               if found.marker is not None and found.marker.id == record.id]
    if not pending:
        return None
    env_dir = store.env_path(record.name)
    found = lifecycle.classify(store, env_dir, record)
    if found.kind is Kind.READY:
        return found  # the backup is a stray copy; doctor reports it
    found = lifecycle.settle(store, env_dir, record, Op.REBUILD)
    if found.kind is not Kind.ABSENT:
        raise lifecycle.NotOurs(f"cannot put back {pending[0].path}: {env_dir} {found.why}",
                                hint="nothing was changed; `envman doctor` explains what is wrong")
    try:
        os.rename(pending[0].path, env_dir)
    except OSError as exc:
        raise OperationFailed(f"cannot put {pending[0].path} back: {exc.strerror}") from None
    return lifecycle.classify(store, env_dir, record)


def backups(store: Store) -> List[Found]:
    """Every `.backup-*` directory in the store that is provably a kept environment."""
    try:
        names = sorted(os.listdir(store.envs_dir))
    except OSError:
        return []
    found = [lifecycle.classify(store, store.envs_dir / n) for n in names
             if n.startswith(lifecycle.BACKUP_PREFIX)]
    return [f for f in found if f.kind is Kind.BACKUP]


def in_store(store: Store, env_dir: Path) -> None:
    """The built directory is still a real directory of the store: the installer (a
    hostile or broken `uv`) may have replaced it by a link to a venv elsewhere, which
    envman must never register (nor, later, refuse to delete forever)."""
    try:
        st, envs = os.lstat(env_dir), os.stat(store.envs_dir)
    except OSError as exc:
        raise OperationFailed(f"building {env_dir} failed: it is gone ({exc.strerror})",
                              hint="the installer removed it; nothing was registered") from None
    if not stat.S_ISDIR(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise OperationFailed(f"building {env_dir} failed: the installer left {what} there, "
                              "not the environment's directory",
                              hint="nothing was registered; what it links to was not touched")
    if st.st_dev != envs.st_dev:
        raise OperationFailed(f"building {env_dir} failed: a different file system is mounted there",
                              hint="nothing was registered")


def verify(store: Store, env_dir: Path) -> None:
    """A complete environment: a real directory of the store, `pyvenv.cfg`, and a
    `bin/python` that runs as this one."""
    in_store(store, env_dir)
    if not (env_dir / "pyvenv.cfg").is_file():
        raise OperationFailed(f"building {env_dir} failed: the interpreter made no pyvenv.cfg",
                              hint="it does not create virtual environments; choose another with --python")
    python = env_python(env_dir)
    prefix = run([str(python), "-I", "-c", "import sys; sys.stdout.write(sys.prefix)"],
                 what=f"checking the new environment's {python.name}", env=clean_environ(),
                 capture=True, timeout=VERIFY_TIMEOUT)
    if os.path.realpath(prefix) != os.path.realpath(env_dir):
        raise OperationFailed(f"building {env_dir} failed: its {python.name} runs as {excerpt(prefix)!r}, "
                              "not as the new environment")


def commit(store: Store, reservation: Reservation,
           on_ready: Optional[Callable[[], None]] = None) -> Optional[Path]:
    """Under one lock: the marker says ready, then the record is saved. A rename first
    moves the old environment aside and saves the new record without the old one;
    returns where the old environment waits then."""
    record, old = reservation.record, reservation.replaces
    moved_aside: List[Path] = []

    def register(current: Registry) -> Registry:
        present = current.find(record.name)
        # Registered already by someone else (a person, an older doctor) from its marker: keep it.
        ours = present is not None and present.id == record.id
        if old is None and present is not None and not ours:
            raise UsageError(f"an environment named {present.name!r} was registered meanwhile "
                             f"(project {present.project})", hint="choose another name")
        if old is not None and not ours:
            _still_registered(current, old)
        if reservation.renames and not ours:
            assert old is not None
            if present is not None:
                raise UsageError(f"an environment named {present.name!r} was registered meanwhile "
                                 f"(project {present.project})", hint="choose another name")
            moved_aside.extend(clear_for_rebuild(store, old))
        in_store(store, reservation.path)
        found = markers.read(reservation.path)
        if found is None or found.id != record.id or not markers.mine(found):
            raise OperationFailed(f"{reservation.path} changed while it was being built")
        markers.write(reservation.path, markers.for_this_process(
            record.id, record.name, MarkerState.READY, record.to_dict(),
            replaces=old.id if old is not None else None))
        checkpoints.reached("ready")
        if on_ready is not None:
            on_ready()
        if ours:
            return current
        if reservation.renames and old is not None:
            return current.without(old.name).with_record(record)
        return current.with_record(record)

    registry.update(store, register)
    return moved_aside[0] if moved_aside else None


def undo(store: Store, reservation: Reservation) -> None:
    """Best effort, and silent (the original failure is what the person needs to hear):
    remove this process's own build and put the backup back, unless the record was
    already saved. Whatever cannot be undone now is left for `doctor --fix`."""
    trash: List[lifecycle.Trash] = []
    committed: List[bool] = []

    def revert(current: Registry) -> Registry:
        present = current.find(reservation.record.name)
        if present is not None and present.id == reservation.record.id:
            committed.append(True)  # saved before the failure: the new one stands
            return current
        own = _own_build(reservation)
        if own is not None:
            aside = lifecycle.set_aside(own)
            if aside is not None:
                trash.append(aside)
        if reservation.replaces is not None:
            restore_backup(store, reservation.replaces)
        return current

    try:
        registry.update(store, revert)
        for aside in trash:
            aside.finish()
        if committed:
            drop_backup(store, reservation)
    except BaseException:  # a second Ctrl-C, a full disk: doctor finishes it
        pass


def _own_build(reservation: Reservation) -> Optional[Found]:
    """What stands at the reservation's path if it is this very process's build."""
    path = reservation.path
    if os.path.islink(path) or not path.is_dir():
        return None
    found = markers.read(path)
    if found is None or found.id != reservation.record.id or not markers.mine(found):
        return None
    return Found(Kind.ABANDONED, path, "is this process's own build", found)


def drop_backup(store: Store, reservation: Reservation) -> None:
    """After the commit: delete the old environment; if that fails, `doctor --fix`
    deletes it later (it is then a superseded backup)."""
    if reservation.backup is None or reservation.replaces is None:
        return
    old_id = reservation.replaces.id
    trash: List[lifecycle.Trash] = []

    def aside(current: Registry) -> Registry:
        found = lifecycle.classify(store, reservation.backup) if reservation.backup else None
        if found is not None and found.kind is Kind.BACKUP and found.marker is not None \
                and found.marker.id == old_id:
            moved = lifecycle.set_aside(found)
            if moved is not None:
                trash.append(moved)
        return current

    try:
        registry.update(store, aside)
        for moved in trash:
            moved.finish()
    except EnvmanError:
        pass


def _drop_staging(staging: Path) -> None:
    """Remove a reservation that never took its name: it holds only our marker."""
    try:
        found = markers.read(staging)
        delete_tree.delete_tree(staging, found.id if found is not None else None, files_allowed=False)
    except (OSError, EnvmanError):
        pass  # doctor --fix clears a reservation whose creator is gone
