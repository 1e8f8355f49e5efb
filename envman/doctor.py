"""`doctor`: check the registry against the store, and repair what can be repaired.

Every finding comes from `envman.lifecycle.classify` and its table; every repair takes
the registry lock, classifies the path again and acts only if it still is what was
found (another envman may have finished, or started, meanwhile). Repairs delete only
what the lifecycle table lets `doctor --fix` clear, never touch a record's
requirements or a project, and finish every leftover of a killed operation: a
reservation, a half-built environment, a `recreate`'s backup, a deletion, a stray
temporary file. A registry that cannot be read is kept aside and rebuilt from the
markers in the store (each marker holds a copy of its record).
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set, Tuple

from envman import building, lifecycle, registry
from envman.errors import EnvmanError, OperationFailed, RegistryError
from envman.fsutil import writer_of
from envman.lifecycle import Found, Kind
from envman.markers import MARKER_NAME, process_alive
from envman.models import EnvRecord
from envman.registry import Registry
from envman.store import Store

Repair = Callable[[], str]  # performs the fix, returns what it did
# A cache file's temporary copy is written without the lock: one this old is no write
# in progress.
STALE_TEMP_SECONDS = 600


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
        return [_unreadable_registry(store, exc), *_check_temp_files(store, Registry()),
                *_check_cache(store)]
    moved = _check_moved(store, current)
    if moved is not None:
        return [moved]  # every other finding would be a consequence: judged once the records point here
    ids = {r.id for r in current}
    # A record whose rebuild was interrupted is reported once, by its backup's finding.
    pending = {f.marker.id for f in building.backups(store) if f.marker and f.marker.id in ids}
    findings: List[Finding] = []
    findings += _check_records(store, [r for r in current if r.id not in pending])
    findings += _check_store(store, current)
    findings += _check_stamps(store, current)
    findings += _check_temp_files(store, current)
    findings += _check_link_leftovers(store, current)
    findings += _check_project_links(store, current)
    findings += _check_cache(store)
    return findings


def _check_cache(store: Store) -> List[Finding]:
    """What killed pip-image builds left in the cache (never a build in progress), and
    images no interpreter can use any more; the repairs judge each again first and
    delete with the cache's own walk (no link followed, no mount crossed)."""
    from envman import seeding

    def repair(remove: Callable[[Path, Path], str], path: Path) -> Repair:
        return lambda: remove(store.cache, path)

    return ([Finding("cache-leftover", str(path), why, repair(seeding.remove_leftover, path))
             for path, why in seeding.leftovers(store.cache)]
            + [Finding("cache-orphan", str(path), why, repair(seeding.remove_orphan, path))
               for path, why in seeding.orphans(store.cache)])


def _check_project_links(store: Store, current: Registry) -> List[Finding]:
    """`.venv` links that name the wrong environment: one an `mv --project` was killed
    before moving (its marker still names the old project), and a registered project's
    `.venv` linking into the store but to none of that project's environments (an older
    envman's `mv --project` left it; the name may be reused by another project since)."""
    from envman import moves

    findings = []
    pending: Set[str] = set()
    for record in current:
        old = moves.link_move_pending(store, record)
        if old is not None:
            pending.add(old)
            findings.append(Finding("link-stale", record.name,
                                    f"an interrupted `envman mv {record.name} --project` left the .venv link "
                                    f"in {old}", _finish_link_move(store, record)))
    by_project: Dict[str, Set[str]] = {}
    for record in current:
        by_project.setdefault(record.project, set()).add(os.path.normpath(record.path))
    for project in sorted(by_project):
        target = _store_link(store, project)
        if target is not None and target not in by_project[project] and project not in pending:
            link = os.path.join(project, ".venv")
            findings.append(Finding("link-stale", link, f"links to {target}, which is no environment of "
                                    "this project", _drop_stale_link(store, project)))
    return findings


def _store_link(store: Store, project: str) -> Optional[str]:
    """Where `PROJECT/.venv` points, if it is a symbolic link into the store's envs."""
    from envman.fsutil import is_within

    try:
        target = os.readlink(os.path.join(project, ".venv"))
    except OSError:
        return None
    target = os.path.normpath(os.path.join(project, target))
    return target if is_within(target, store.envs_dir) and target != str(store.envs_dir) else None


def _finish_link_move(store: Store, record: EnvRecord) -> Repair:
    def repair() -> str:
        from envman import moves

        made = moves.finish_link_move(store, record)
        return (f"moved it to {record.project}/.venv" if made
                else "the old project's link is gone; the new project's .venv was left as it is")

    return repair


def _drop_stale_link(store: Store, project: str) -> Repair:
    def repair() -> str:
        with registry.locked(store):
            envs = {os.path.normpath(r.path) for r in registry.load(store) if r.project == project}
            target = _store_link(store, project)
            if target is None or target in envs:
                return "left alone: it changed meanwhile"
            try:  # a symbolic link (readlink said so): unlinking it touches nothing it names
                os.unlink(os.path.join(project, ".venv"))
            except OSError as exc:
                raise OperationFailed(f"cannot remove {project}/.venv: {exc.strerror}") from None
        return "removed"

    return repair


def _check_moved(store: Store, current: Registry) -> Optional[Finding]:
    from envman import relocation

    old = relocation.moved_from(store, current)
    if old is None:
        return None

    def repoint() -> str:
        changed = relocation.repoint(store)
        return (f"{len(changed)} record(s) point here now; `envman recreate --all --yes` "
                "rebuilds their environments here")

    return Finding("store-moved", str(store.root), relocation.note(old), repoint)


def _check_link_leftovers(store: Store, current: Registry) -> List[Finding]:
    """A killed `.venv` update's temporary links in a registered project. One naming an
    environment registered for that project (when the repair runs: an earlier repair
    may have finished a rename), where `.venv` itself is missing (the update was killed
    between taking the old link aside and placing the new), becomes `.venv` again; any
    other is deleted."""
    from envman import links

    return [Finding("link-leftover", path,
                    "a temporary link left beside .venv by a killed envman" if os.path.islink(path)
                    else "the project's own .venv directory, renamed aside by a killed envman",
                    _mend_link(store, path, project))
            for project in sorted({r.project for r in current}) for path in links.leftovers(project)]


def _mend_link(store: Store, path: str, project: str) -> Repair:
    from envman import links

    def repair() -> str:
        if not os.path.islink(path) and os.path.isdir(path):
            if links.restore_directory(path, project):
                return "renamed back to .venv"
            raise OperationFailed(f"{project}/.venv exists: {path} was left as it is",
                                  hint="nothing was deleted; rename it back yourself")
        envs = {os.path.normpath(r.path) for r in registry.load(store) if r.project == project}
        try:
            target = os.path.normpath(os.path.join(project, os.readlink(path)))
        except OSError:
            target = ""
        if target in envs and links.restore(path, project):
            return "made .venv again (it names this project's environment)"
        return "deleted" if links.discard(path) else "already gone"

    return repair


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
        record = _marker_record(store, lifecycle.classify(store, entry))
        if record is not None:
            found[entry.name] = record
    return found


def _store_entries(store: Store) -> List[Path]:
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
    from envman import relocation

    record = relocation.here(store, record)  # a marker written before the store was moved
    if record.id != marker.id or record.name != found.path.name:
        return None
    if lifecycle.place_of(store, record) != found.path:
        return None
    return record.with_changes(path=str(found.path))


def _again(store: Store, found: Found, record: Optional[EnvRecord],
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


def _clear(store: Store, found: Found, record: Optional[EnvRecord], done: str) -> Repair:
    """A repair that deletes what was found (the table says CLEAR or FINISH for it)."""

    def repair() -> str:
        trash: List[lifecycle.Trash] = []

        def act(current: Registry, now: Found) -> Registry:
            moved = lifecycle.set_aside(now)
            if moved is not None:
                trash.append(moved)
            return current

        _again(store, found, record, act)
        for moved in trash:
            moved.finish()
        return done

    return repair


def _unreadable_registry(store: Store, error: RegistryError) -> Finding:
    def rebuild() -> str:
        records = list(marker_records(store).values())
        aside = registry.rebuild(store, records)
        kept = f"; the unreadable file is kept as {aside}" if aside else ""
        return (f"rebuilt the registry from {len(records)} environment marker(s){kept}; "
                "adopted environments must be adopted again")

    where = f"{store.registry_path}: "
    detail = error.message[len(where):] if error.message.startswith(where) else error.message
    return Finding("registry-unreadable", str(store.registry_path), detail, rebuild)


def _check_records(store: Store, current: List[EnvRecord]) -> List[Finding]:
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
                       _clear(store, found, record, "the half-built environment was removed; "
                              f"`envman recreate {record.name}` rebuilds it"))
    if found.kind is Kind.EMPTY:
        return Finding("empty-directory", name, f"{place} is an empty directory",
                       _clear(store, found, record, f"deleted; `envman recreate {record.name}` rebuilds it"))
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
        _again(store, found, None, lambda current, now: _swap(current, record, from_marker))
        return "the registry now holds the record from the environment's own marker"

    return Finding("marker-mismatch", record.name, detail, take_marker)


def _swap(current: Registry, old: EnvRecord, new: EnvRecord) -> Registry:
    present = current.envs.get(old.name)
    if present is None or present.id != old.id:
        raise OperationFailed(f"{old.name!r} changed meanwhile; left alone", hint="run `envman doctor` again")
    return current.with_record(new)


def _check_store(store: Store, current: Registry) -> List[Finding]:
    registered = {lifecycle.place_of(store, r) for r in current}
    unregistered = [lifecycle.classify(store, entry) for entry in _store_entries(store)
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
    from envman import renaming

    new = _marker_record(store, found)
    old = renaming.interrupted(current, found, new) if new is not None else None
    return (old, new) if old is not None and new is not None else None


def _store_entry(store: Store, current: Registry, found: Found) -> Optional[Finding]:
    entry = str(found.path)
    if found.kind is Kind.TRASH:
        return Finding("leftover", entry, "left by a deletion that was interrupted",
                       _clear(store, found, None, "deleted"))
    if found.kind is Kind.BACKUP:
        return _backup(store, current, found)
    if found.kind is Kind.BUILDING:
        return Finding("in-progress", entry, f"being created by a running envman: it {found.why}", advice="wait")
    if found.kind is Kind.ABANDONED:
        return Finding("abandoned", entry, f"left by an envman that was killed: it {found.why}",
                       _clear(store, found, None, "deleted"))
    if found.kind is Kind.EMPTY:
        return Finding("empty-directory", entry, "an empty directory in the store", _clear(store, found, None, "deleted"))
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


def _backup(store: Store, current: Registry, found: Found) -> Finding:
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

            _again(store, found, record, act, of_record=False)
            cleared = "; the interrupted rebuild was removed" if there.kind is Kind.ABANDONED else ""
            return f"put back as {name!r}{cleared}"

        return Finding("interrupted-recreate", name, detail, restore)
    if record is not None and _superseded(store, record, backup_id):
        return Finding("superseded-backup", entry,
                       f"the old copy of {name!r} kept by a `recreate` that completed",
                       _clear(store, found, None, "deleted"))
    from envman import renaming

    renamed = renaming.superseding(store, current, backup_id) if record is None or record.id != backup_id \
        else None
    if renamed is not None:
        return Finding("superseded-backup", entry,
                       f"the old environment of {name!r}, renamed to {renamed.name!r} by an `envman mv` "
                       "that completed", _clear(store, found, None, "deleted"))
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
        from envman import renaming

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

        _again(store, found, None, act)
        return f"registered again as {record.name!r} (project {record.project})"

    return Finding("unregistered", entry, "an envman environment missing from the registry", register)


def _check_stamps(store: Store, current: Registry) -> List[Finding]:
    used = store.used_dir
    if os.path.islink(used):
        return [Finding("stamps-link", str(used), "the time-of-use stamps directory is a symbolic link",
                        advice="left alone: envman never deletes through a link; replace it with a directory")]
    ids = _live_ids(store, current)
    try:
        with os.scandir(used) as found:
            stale = sorted(e.name for e in found if e.name not in ids and e.is_file(follow_symlinks=False))
    except OSError:
        return []
    if not stale:
        return []

    def clear() -> str:
        gone = 0

        with registry.locked(store):
            registered = _live_ids(store, registry.load(store))
            try:
                fd = os.open(used, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except OSError as exc:
                raise OperationFailed(f"cannot open {used}: {exc.strerror}") from None
            try:
                for name in stale:
                    if name in registered:
                        continue
                    try:
                        if stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                            os.unlink(name, dir_fd=fd)
                            gone += 1
                    except FileNotFoundError:
                        pass
            finally:
                os.close(fd)
        return f"deleted {gone} stamp(s)"

    return [Finding("stale-stamps", str(used),
                    f"{len(stale)} time-of-use stamp(s) of environments no longer registered", clear)]


def _live_ids(store: Store, current: Registry) -> Set[str]:
    """The records whose time-of-use stamps must stay: registered ones, and those an
    environment in the store still carries in its marker (a lost registry that this
    very run registers again from the markers, a backup waiting to be put back)."""
    ids = {r.id for r in current}
    for entry in _store_entries(store):
        marker = lifecycle.classify(store, entry).marker
        if marker is not None:
            ids.add(marker.id)
            if marker.replaces is not None:
                ids.add(marker.replaces)
    return ids


def _check_temp_files(store: Store, current: Registry) -> List[Finding]:
    """Temporary files of atomic writes that a kill cut short.

    The registry's and the markers' are written under the registry lock, so under the
    lock none of them can be a write in progress; the cache's are written without it,
    so one is taken only when the process named in it is gone (or, from an older
    envman that did not name it, when it is old).
    """
    places: List[Path] = [store.root]
    places += [p for p in (lifecycle.place_of(store, r) for r in current) if p is not None]
    candidates: List[Path] = []
    for place in places:
        candidates += _temp_files(place, (".registry.toml.", f".{MARKER_NAME}."))
    cutoff = time.time() - STALE_TEMP_SECONDS
    for cached in _temp_files(store.cache, (".",)):
        writer = writer_of(cached.name)
        try:
            if (not process_alive(writer)) if writer is not None else os.lstat(cached).st_mtime < cutoff:
                candidates.append(cached)
        except OSError:
            pass
    if not candidates:
        return []

    def clear() -> str:
        gone = 0

        with registry.locked(store):
            for path in candidates:
                try:
                    if stat.S_ISREG(os.lstat(path).st_mode):
                        os.unlink(path)
                        gone += 1
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise OperationFailed(f"cannot delete {path}: {exc.strerror}") from None
        return f"deleted {gone} file(s)"

    return [Finding("temporary-files", str(store.root),
                    f"{len(candidates)} temporary file(s) left by writes that were killed: "
                    + ", ".join(str(c) for c in candidates[:3]) + (" …" if len(candidates) > 3 else ""),
                    clear)]


def _temp_files(directory: Path, prefixes: Tuple[str, ...]) -> List[Path]:
    try:
        with os.scandir(directory) as found:
            return [directory / e.name for e in found
                    if e.name.endswith(".tmp") and e.name.startswith(prefixes)
                    and e.is_file(follow_symlinks=False)]
    except OSError:
        return []
