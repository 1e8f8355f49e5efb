"""`doctor`: check the registry against the store, and repair what can be repaired.

Every finding says what is wrong and whether `--fix` can mend it. Repairs only ever
delete what carries envman's own marker, and never touch a record's requirements or a
project. A registry that cannot be read is kept aside and rebuilt from the markers in
the store (each marker holds a copy of its record).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional

from envman import registry
from envman.errors import EnvmanError, OperationFailed, RegistryError
from envman.models import EnvRecord, is_valid_name
from envman.registry import Registry
from envman.store import BACKUP_PREFIX, MARKER_NAME, TRASH_PREFIX, Store, creator_gone

Repair = Callable[[], str]  # performs the fix, returns what it did


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    detail: str
    repair: Optional[Repair] = None  # None: --fix cannot mend it; `advice` says what can
    advice: str = ""
    outcome: str = ""  # after --fix: what was done, or why it failed

    @property
    def fixable(self) -> bool:
        return self.repair is not None


def examine(store: Store) -> List[Finding]:
    """Every problem doctor can see; read-only."""
    try:
        current = registry.load(store)
    except RegistryError as exc:
        return [_unreadable_registry(store, exc)]
    from envman.recreate import backups

    # A record whose rebuild was interrupted is reported once, by its backup's finding.
    pending = {b.id for b in backups(store) if b.id in {r.id for r in current}}
    findings: List[Finding] = []
    findings += _check_records(store, [r for r in current if r.id not in pending])
    findings += _check_store(store, current)
    findings += _check_stamps(store, current)
    return findings


def fix(findings: List[Finding]) -> List[Finding]:
    """Run each finding's repair; returns the findings with their outcomes."""
    done = []
    for finding in findings:
        if finding.repair is None:
            done.append(finding)
            continue
        try:
            done.append(replace(finding, outcome=finding.repair()))
        except EnvmanError as exc:
            done.append(replace(finding, outcome=f"failed: {exc.message}", repair=None))
    return done


def marker_records(store: Store) -> Dict[str, EnvRecord]:
    """Records kept in the markers of complete environments in the store, by directory name."""
    found: Dict[str, EnvRecord] = {}
    for entry in _store_entries(store):
        record = _marker_record(store, entry)
        if record is not None:
            found[entry.name] = record
    return found


def _store_entries(store: Store) -> List[Path]:
    try:
        return sorted(store.envs_dir.iterdir())
    except OSError:
        return []


def _marker_record(store: Store, env_dir: Path) -> Optional[EnvRecord]:
    """The record a complete environment's marker holds, if it is coherent with its place."""
    if env_dir.is_symlink() or not env_dir.is_dir():
        return None
    marker = store.read_marker(env_dir)
    if not marker or marker.get("state") != "ready" or not isinstance(marker.get("record"), dict):
        return None
    try:
        record = EnvRecord.from_dict(str(marker.get("name")), marker["record"], str(env_dir / MARKER_NAME))
    except RegistryError:
        return None
    if record.name != env_dir.name or record.path != str(store.env_path(env_dir.name)):
        return None
    return record


def _unreadable_registry(store: Store, error: RegistryError) -> Finding:
    def rebuild() -> str:
        records = list(marker_records(store).values())
        aside = registry.rebuild(store, records)
        kept = f"; the unreadable file is kept as {aside}" if aside else ""
        return (f"rebuilt the registry from {len(records)} environment marker(s){kept}; "
                "adopted environments must be adopted again")

    return Finding("registry-unreadable", str(store.registry_path), error.message, rebuild)


def _check_records(store: Store, current: List[EnvRecord]) -> List[Finding]:
    findings = []
    for record in current:
        env_dir = Path(record.path)
        if not os.path.lexists(env_dir):
            findings.append(Finding(
                "env-missing", record.name, f"the directory {record.path} is gone",
                advice=f"`envman recreate {record.name}` rebuilds it, `envman rm {record.name}` forgets it"))
            continue
        if record.adopted:
            continue
        if not is_valid_name(record.name) or record.path != str(store.env_path(record.name)):
            findings.append(Finding(
                "record-outside-store", record.name or repr(record.name),
                f"the record points at {record.path!r}, which is not the store's directory for it",
                advice="envman will never delete it; `envman rm` drops the record only if the path is gone"))
            continue
        marker = store.read_marker(env_dir)
        if marker is None:
            findings.append(Finding(
                "marker-missing", record.name, f"{record.path} holds no envman marker",
                advice="envman cannot prove it made this directory and will not delete it"))
        elif marker.get("id") != record.id:
            findings.append(_rebuilding(store, record, env_dir) or _marker_mismatch(store, record, env_dir))
    return findings


def _rebuilding(store: Store, record: EnvRecord, env_dir: Path) -> Optional[Finding]:
    """A `recreate` of an environment whose directory was missing: running, or killed."""
    from envman import recreate as rebuilding

    marker = rebuilding.rebuild_marker(store, env_dir, record)
    if marker is None:
        return None
    if not creator_gone(marker):
        return Finding("recreate-in-progress", record.name,
                       f"{record.path} is being rebuilt by a running envman (pid {marker.get('pid')})",
                       advice="left alone: wait for it to finish")
    return Finding("interrupted-recreate", record.name,
                   f"a `recreate` was interrupted before {record.path} was complete "
                   "(there was no old environment to keep)",
                   lambda: rebuilding.clear_abandoned(store, record))


def _marker_mismatch(store: Store, record: EnvRecord, env_dir: Path) -> Finding:
    from_marker = _marker_record(store, env_dir)
    detail = f"the marker in {record.path} names another record than the registry"
    if from_marker is None:
        return Finding("marker-mismatch", record.name, detail,
                       advice="the marker is incomplete; move the directory away and recreate it")

    def take_marker() -> str:
        def swap(current: Registry) -> Registry:
            present = current.envs.get(record.name)
            if present is None or present.id != record.id:
                raise RegistryError(f"{record.name!r} changed meanwhile; run doctor again")
            return current.with_record(from_marker)

        registry.update(store, swap)
        return "the registry now holds the record from the environment's own marker"

    return Finding("marker-mismatch", record.name, detail, take_marker)


def _check_store(store: Store, current: Registry) -> List[Finding]:
    findings = []
    registered = {os.path.normcase(r.path) for r in current}
    for entry in _store_entries(store):
        if entry.name.startswith(TRASH_PREFIX):
            findings.append(_leftover(store, entry))
        elif entry.name.startswith(BACKUP_PREFIX):
            findings.append(_backup(store, current, entry))
        elif entry.name.startswith("."):
            findings.append(Finding("unknown-work-directory", str(entry),
                                    "a work directory envman does not recognise", advice="left alone"))
        elif os.path.normcase(str(entry)) not in registered:
            findings.append(_unregistered(store, current, entry))
    return findings


def _leftover(store: Store, entry: Path) -> Finding:
    detail = "left by a deletion that was interrupted"
    if not entry.is_symlink() and entry.is_dir() and not any(entry.iterdir()):
        def drop_empty() -> str:  # killed after its marker, the last file, was deleted
            try:
                entry.rmdir()
            except OSError as exc:
                raise OperationFailed(f"cannot delete {entry}: {exc.strerror}") from exc
            return "deleted"

        return Finding("leftover", str(entry), detail, drop_empty)
    if entry.is_symlink() or not entry.is_dir() or store.read_marker(entry) is None:
        return Finding("leftover", str(entry), detail + ", but it holds no envman marker",
                       advice="left alone; delete it yourself if it is not needed")

    def finish() -> str:
        store.finish_removal(entry)  # already renamed aside: only the deletion is left
        return "deleted"

    return Finding("leftover", str(entry), detail, finish)


def _backup(store: Store, current: Registry, entry: Path) -> Finding:
    """A `.backup-*` directory: the old environment kept by a `recreate`."""
    from envman import recreate as rebuilding

    backup = rebuilding.backup_at(store, entry)
    if backup is None:
        return Finding("leftover-backup", str(entry), "a backup without a readable envman marker",
                       advice="left alone; delete it yourself if it is not needed")
    record = current.envs.get(backup.name)
    if record is not None and record.id == backup.id:
        detail = f"a `recreate` was interrupted; the old environment waits in {entry}"
        env_dir = Path(record.path)
        blocker = (rebuilding.blocking_rebuild(store, env_dir, record)
                   if os.path.lexists(env_dir) else None)
        if blocker is not None:
            return Finding("recreate-in-progress" if blocker.running else "interrupted-recreate",
                           backup.name, f"the old environment waits in {entry}" if blocker.running else detail,
                           advice=f"left alone: {env_dir} {blocker.reason}")
        return Finding("interrupted-recreate", backup.name, detail,
                       lambda: rebuilding.restore(store, backup))
    if rebuilding.superseded(store, current, backup):
        def delete() -> str:
            store.remove_env_dir(entry)
            return "deleted"

        return Finding("superseded-backup", str(entry),
                       f"the old copy of {backup.name!r} kept by a `recreate` that completed", delete)
    return Finding("leftover-backup", str(entry),
                   f"a backup of {backup.name!r} that matches no registered environment",
                   advice="left alone; move it out of the store, or delete it if it is not needed")


def _unregistered(store: Store, current: Registry, entry: Path) -> Finding:
    marker = None if entry.is_symlink() else store.read_marker(entry)
    if marker is None:
        return Finding("foreign-directory", str(entry), "in the store, but not envman's (no marker)",
                       advice="left alone; move it out of the store")
    if marker.get("state") == "creating":
        def discard() -> str:
            store.remove_env_dir(entry)
            return "deleted"

        if creator_gone(marker):
            return Finding("abandoned", str(entry), "left by an `envman new` that was killed", discard)
        return Finding("in-progress", str(entry), "being created by a running envman", advice="wait")
    record = _marker_record(store, entry)
    if record is None:
        return Finding("unregistered", str(entry), "an envman environment whose marker is damaged",
                       advice="left alone")
    clash = current.find(record.name)
    if clash is not None:
        return Finding("unregistered", str(entry),
                       f"an envman environment whose name is registered to {clash.path}",
                       advice="left alone; rename or remove one of them")

    def register() -> str:
        registry.update(store, lambda cur: cur if cur.find(record.name) else cur.with_record(record))
        return f"registered again as {record.name!r} (project {record.project})"

    return Finding("unregistered", str(entry), "an envman environment missing from the registry", register)


def _check_stamps(store: Store, current: Registry) -> List[Finding]:
    ids = {r.id for r in current}
    try:
        stamps = sorted(store.used_dir.iterdir())
    except OSError:
        return []
    stale = [s for s in stamps if s.name not in ids and s.is_file() and not s.is_symlink()]
    if not stale:
        return []

    def clear() -> str:
        for stamp in stale:
            stamp.unlink(missing_ok=True)
        return f"deleted {len(stale)} stamp(s)"

    return [Finding("stale-stamps", str(store.used_dir),
                    f"{len(stale)} time-of-use stamp(s) of environments no longer registered", clear)]
