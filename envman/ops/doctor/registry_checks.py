"""`doctor`'s checks of the registry against the store: each record against its directory
and marker, each directory in the store against the records, and an unreadable registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from envman.errors import OperationFailed, RegistryError
from envman.models import EnvRecord
from envman.ops.doctor.finding import Finding, Repair
from envman.store import building, lifecycle, registry
from envman.store.layout import Store
from envman.store.lifecycle import Found, Kind
from envman.store.markers import MARKER_NAME
from envman.store.records import Registry


def marker_records(store: Store) -> Dict[str, EnvRecord]:
    """Records kept in the markers of complete environments in the store, by directory name."""
    found: Dict[str, EnvRecord] = {}
    for entry in store_entries(store):
        record = _marker_record(store, lifecycle.classify(store, entry))
        if record is not None:
            found[entry.name] = record
    return found


def store_entries(store: Store) -> List[Path]:
    try:
        return [store.envs_dir / n for n in sorted(os.listdir(store.envs_dir))]
    except OSError:
        return []


def _marker_record(store: Store, found: Found) -> Optional[EnvRecord]:
    """The record a complete, unregistered environment's marker holds, if it is coherent
    with its place."""
    if found.kind is not Kind.OTHER or found.marker is None:
        return None
    marker = found.marker
    try:
        record = EnvRecord.from_dict(marker.name, marker.record, str(found.path / MARKER_NAME))
    except RegistryError:
        return None
    from envman.store import relocation

    record = relocation.here(store, record)  # a marker written before the store was moved
    if record.id != marker.id or record.name != found.path.name:
        return None
    if lifecycle.place_of(store, record) != found.path:
        return None
    return record.with_changes(path=str(found.path))


def again(store: Store, found: Found, record: Optional[EnvRecord],
           act: Callable[[Registry, Found], Registry], of_record: bool = True) -> None:
    """Under the lock: `record` is still registered as it was, and `found.path` is still
    what was found (judged for `record` unless not `of_record`); then `act`."""

    def change(current: Registry) -> Registry:
        if record is not None:
            present = current.envs.get(record.name)
            if present is None or present.id != record.id:
                raise OperationFailed(f"{record.name!r} changed meanwhile; left alone",
                                      hint="run `envman doctor` again")
        now = lifecycle.classify(store, found.path, record if of_record else None)
        if now.kind is not found.kind or (now.marker and now.marker.id) != (found.marker and found.marker.id):
            raise OperationFailed(f"{found.path} changed meanwhile; left alone",
                                  hint="run `envman doctor` again")
        return act(current, now)

    registry.update(store, change)


def clear(store: Store, found: Found, record: Optional[EnvRecord], done: str) -> Repair:
    """A repair that deletes what was found (the table says CLEAR or FINISH for it)."""

    def repair() -> str:
        trash: List[lifecycle.Trash] = []

        def act(current: Registry, now: Found) -> Registry:
            moved = lifecycle.set_aside(now)
            if moved is not None:
                trash.append(moved)
            return current

        again(store, found, record, act)
        for moved in trash:
            moved.finish()
        return done

    return repair


def unreadable_registry(store: Store, error: RegistryError) -> Finding:
    def rebuild() -> str:
        records = list(marker_records(store).values())
        aside = registry.rebuild(store, records)
        kept = f"; the unreadable file is kept as {aside}" if aside else ""
        return (f"rebuilt the registry from {len(records)} environment marker(s){kept}; "
                "adopted environments must be adopted again")

    where = f"{store.registry_path}: "
    detail = error.message[len(where):] if error.message.startswith(where) else error.message
    return Finding("registry-unreadable", str(store.registry_path), detail, rebuild)


def check_records(store: Store, current: List[EnvRecord]) -> List[Finding]:
    findings = []
    for record in current:
        finding = _check_record(store, record)
        if finding is not None:
            findings.append(finding)
    return findings


def _check_record(store: Store, record: EnvRecord) -> Optional[Finding]:
    place = lifecycle.place_of(store, record)
    name = record.name or repr(record.name)
    missing = Finding("env-missing", name, f"the directory {record.path} is gone",
                      advice=f"`envman recreate {record.name}` rebuilds it, `envman rm {record.name}` forgets it")
    if place is None:
        if not os.path.lexists(record.path):
            return missing
        if record.adopted:
            return None
        return Finding("record-outside-store", name,
                       f"the record points at {record.path!r}, which is not the store's directory for it",
                       advice="envman will never delete it; `envman rm` drops the record only if the path is gone")
    found = lifecycle.classify(store, place, record)
    if found.kind is Kind.READY:
        return None
    if found.kind is Kind.ABSENT:
        return missing
    if found.kind is Kind.BUILDING:
        return Finding("recreate-in-progress", name, f"{place} {found.why}", advice="left alone: wait for it to finish")
    if found.kind is Kind.ABANDONED:
        return Finding("interrupted-recreate", name,
                       f"a `recreate` was interrupted before {place} was complete "
                       "(there was no old environment to keep)",
                       clear(store, found, record, "the half-built environment was removed; "
                              f"`envman recreate {record.name}` rebuilds it"))
    if found.kind is Kind.EMPTY:
        return Finding("empty-directory", name, f"{place} is an empty directory",
                       clear(store, found, record, f"deleted; `envman recreate {record.name}` rebuilds it"))
    if found.kind is Kind.OTHER:
        return _marker_mismatch(store, record, found)
    if found.kind is Kind.FOREIGN and found.marker is None and not os.path.islink(place) and place.is_dir():
        return Finding("marker-missing", name, f"{place} holds no envman marker",
                       advice="envman cannot prove it made this directory and will not delete it")
    return Finding("damaged" if found.kind is Kind.DAMAGED else "not-envmans", name, f"{place} {found.why}",
                   advice="left alone: envman will not delete it; move it out of the store and "
                          f"`envman recreate {record.name}`")


def _marker_mismatch(store: Store, record: EnvRecord, found: Found) -> Finding:
    from_marker = _marker_record(store, found)
    detail = f"the marker in {found.path} names another record than the registry"
    if from_marker is None or from_marker.name != record.name:
        return Finding("marker-mismatch", record.name, detail,
                       advice="the marker is incomplete; move the directory away and recreate it")

    def take_marker() -> str:
        again(store, found, None, lambda current, now: _swap(current, record, from_marker))
        return "the registry now holds the record from the environment's own marker"

    return Finding("marker-mismatch", record.name, detail, take_marker)


def _swap(current: Registry, old: EnvRecord, new: EnvRecord) -> Registry:
    present = current.envs.get(old.name)
    if present is None or present.id != old.id:
        raise OperationFailed(f"{old.name!r} changed meanwhile; left alone", hint="run `envman doctor` again")
    return current.with_record(new)


def check_store(store: Store, current: Registry) -> List[Finding]:
    registered = {lifecycle.place_of(store, r) for r in current}
    unregistered = [lifecycle.classify(store, entry) for entry in store_entries(store)
                    if entry not in registered]  # the registered ones are judged with their records
    # A rename killed after its new environment was ready: its finding also deals with
    # the old environment's backup, which then gets no finding of its own.
    renamed = {f.marker.replaces for f in unregistered if f.marker is not None
               and _interrupted_rename(store, current, f) is not None}
    findings = []
    for found in unregistered:
        if found.kind is Kind.BACKUP and found.marker is not None and found.marker.id in renamed:
            continue
        finding = _store_entry(store, current, found)
        if finding is not None:
            findings.append(finding)
    return findings


def _interrupted_rename(store: Store, current: Registry,
                        found: Found) -> Optional[Tuple[EnvRecord, EnvRecord]]:
    """(old, new) when `found` is the complete new environment of a rename killed before
    its registration, and the record it replaces is still registered."""
    from envman.ops import rename as renaming

    new = _marker_record(store, found)
    old = renaming.interrupted(current, found, new) if new is not None else None
    return (old, new) if old is not None and new is not None else None


def _store_entry(store: Store, current: Registry, found: Found) -> Optional[Finding]:
    entry = str(found.path)
    if found.kind is Kind.TRASH:
        return Finding("leftover", entry, "left by a deletion that was interrupted",
                       clear(store, found, None, "deleted"))
    if found.kind is Kind.BACKUP:
        return backup(store, current, found)
    if found.kind is Kind.BUILDING:
        return Finding("in-progress", entry, f"being created by a running envman: it {found.why}", advice="wait")
    if found.kind is Kind.ABANDONED:
        return Finding("abandoned", entry, f"left by an envman that was killed: it {found.why}",
                       clear(store, found, None, "deleted"))
    if found.kind is Kind.EMPTY:
        return Finding("empty-directory", entry, "an empty directory in the store", clear(store, found, None, "deleted"))
    if found.kind is Kind.OTHER:
        return _unregistered(store, current, found)
    if found.kind is Kind.DAMAGED:
        return Finding("damaged", entry, f"it {found.why}", advice="left alone: envman will not delete it")
    if found.path.name.startswith(lifecycle.BACKUP_PREFIX):
        return Finding("leftover-backup", entry, f"not a backup envman can prove is its own: it {found.why}",
                       advice="left alone; delete it yourself if it is not needed")
    if found.path.name.startswith(lifecycle.TRASH_PREFIX):
        return Finding("leftover", entry, f"left by a deletion, but it {found.why}",
                       advice="left alone; delete it yourself if it is not needed")
    if found.path.name.startswith("."):
        return Finding("unknown-work-directory", entry, f"a work directory envman does not recognise: it {found.why}",
                       advice="left alone")
    return Finding("foreign-directory", entry, f"in the store, but not envman's: it {found.why}",
                   advice="left alone; move it out of the store")


def backup(store: Store, current: Registry, found: Found) -> Finding:
    """A `.backup-*` directory: the old environment kept by a `recreate`."""
    assert found.marker is not None
    entry, backup_id, name = str(found.path), found.marker.id, found.marker.name
    record = current.envs.get(name)
    if record is not None and record.id == backup_id:
        place = lifecycle.place_of(store, record) or Path(record.path)
        there = lifecycle.classify(store, place, record)
        detail = f"a `recreate` was interrupted; the old environment waits in {entry}"
        if there.kind is Kind.BUILDING:
            return Finding("recreate-in-progress", name, f"the old environment waits in {entry}",
                           advice=f"left alone: {place} {there.why}")
        if there.kind not in (Kind.ABSENT, Kind.ABANDONED, Kind.EMPTY):
            return Finding("interrupted-recreate", name, detail, advice=f"left alone: {place} {there.why}")

        def restore() -> str:
            def act(current: Registry, now: Found) -> Registry:
                building.restore_backup(store, record)
                return current

            again(store, found, record, act, of_record=False)
            cleared = "; the interrupted rebuild was removed" if there.kind is Kind.ABANDONED else ""
            return f"put back as {name!r}{cleared}"

        return Finding("interrupted-recreate", name, detail, restore)
    if record is not None and _superseded(store, record, backup_id):
        return Finding("superseded-backup", entry,
                       f"the old copy of {name!r} kept by a `recreate` that completed",
                       clear(store, found, None, "deleted"))
    from envman.ops import rename as renaming

    renamed = renaming.superseding(store, current, backup_id) if record is None or record.id != backup_id \
        else None
    if renamed is not None:
        return Finding("superseded-backup", entry,
                       f"the old environment of {name!r}, renamed to {renamed.name!r} by an `envman mv` "
                       "that completed", clear(store, found, None, "deleted"))
    return Finding("leftover-backup", entry, f"a backup of {name!r} that matches no registered environment",
                   advice="left alone; move it out of the store, or delete it if it is not needed")


def _superseded(store: Store, record: EnvRecord, backup_id: str) -> bool:
    """Whether the registered environment is a completed rebuild of the backup's record."""
    place = lifecycle.place_of(store, record)
    live = lifecycle.classify(store, place, record) if place is not None else None
    return (live is not None and live.kind is Kind.READY and live.marker is not None
            and live.marker.replaces == backup_id)


def _unregistered(store: Store, current: Registry, found: Found) -> Finding:
    entry = str(found.path)
    record = _marker_record(store, found)
    if record is None:
        return Finding("unregistered", entry, "an envman environment whose marker is damaged",
                       advice="left alone")
    rename = _interrupted_rename(store, current, found)
    if rename is not None:
        from envman.ops import rename as renaming

        old, new = rename
        return Finding("interrupted-rename", new.name,
                       f"`envman mv {old.name} {new.name}` was interrupted after {entry} was complete "
                       "and before it was registered",
                       lambda: renaming.finish(store, found, old, new))
    clash = current.find(record.name)
    if clash is not None:
        return Finding("unregistered", entry, f"an envman environment whose name is registered to {clash.path}",
                       advice="left alone; rename or remove one of them")

    def register() -> str:
        def act(current: Registry, now: Found) -> Registry:
            if current.find(record.name) is not None:
                raise OperationFailed(f"{record.name!r} was registered meanwhile; left alone")
            return current.with_record(record)

        again(store, found, None, act)
        return f"registered again as {record.name!r} (project {record.project})"

    return Finding("unregistered", entry, "an envman environment missing from the registry", register)
