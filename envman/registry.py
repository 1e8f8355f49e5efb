"""The registry: `registry.toml` in the data root, the one source of truth.

Readers never lock: writers replace the file atomically, so a reader sees a whole
file. Writers load, modify and save inside one inter-process lock. Next to the TOML
(the truth, readable and editable by people) a JSON snapshot in the cache lets `ls`
skip TOML parsing, which costs ~0.1 s at 1,000 records. The snapshot names the
registry file it was made from by inode, size and modification time: every atomic
replace makes a new inode and every edit a new mtime, so a stale snapshot is never used.
Beside it, a plain-text names index (the same identity on its first line, then one name
per line) lets TAB completion answer without importing anything (`envman/_complete.py`),
and a projects index does the same for activation on `cd` (`envman/_auto.py`).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional

from envman.ages import now
from envman.errors import RegistryError
from envman.fsutil import tomllib, write_atomic
from envman.models import EnvRecord
from envman.store import Store

SCHEMA_VERSION = 1
LOCK_TIMEOUT = 60.0
SNAPSHOT_NAME = "registry-snapshot.json"
# Read by envman/_complete.py, which cannot import this module: keep the two in step.
NAMES_INDEX_NAME = "registry-names.txt"
# Read by envman/_auto.py (`envman init --auto`), which cannot import this module either.
PROJECTS_INDEX_NAME = "registry-projects.txt"
# What the projects index holds for each record, in this order, each field ended by NUL
# (which no path, name or id can hold): a project path or a prompt may hold a newline.
PROJECTS_INDEX_FIELDS = ("project", "name", "path", "prompt", "id", "last_used")

# Upgrades from schema N to N+1, applied in order on load. A file from a newer
# envman is refused: we cannot know what writing it back would destroy.
_MIGRATIONS: Dict[int, Callable[[Dict[str, Any]], Dict[str, Any]]] = {}


@dataclass(frozen=True)
class Registry:
    """Every registered environment, keyed by name."""

    envs: Mapping[str, EnvRecord] = field(default_factory=dict)

    def __iter__(self) -> Iterator[EnvRecord]:
        return iter(sorted(self.envs.values(), key=lambda r: r.name.lower()))

    def __len__(self) -> int:
        return len(self.envs)

    def find(self, name: str) -> Optional[EnvRecord]:
        """The record whose name equals `name` ignoring case."""
        record = self.envs.get(name)
        if record is not None:
            return record
        folded = name.lower()
        return next((r for r in self.envs.values() if r.name.lower() == folded), None)

    def with_record(self, record: EnvRecord) -> "Registry":
        envs = dict(self.envs)
        existing = self.find(record.name)
        if existing is not None:
            del envs[existing.name]
        envs[record.name] = record
        return Registry(envs)

    def without(self, name: str) -> "Registry":
        return Registry({k: v for k, v in self.envs.items() if k != name})

    def to_document(self) -> Dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "envs": {r.name: r.to_dict() for r in self},
        }


def _from_document(doc: Mapping[str, Any], where: str) -> Registry:
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RegistryError(f"{where}: 'schema_version' is missing or not a whole number")
    if version > SCHEMA_VERSION:
        raise RegistryError(
            f"{where}: schema version {version} is newer than this envman understands "
            f"({SCHEMA_VERSION})",
            hint="upgrade envman; the file was left untouched",
        )
    data = dict(doc)
    while version < SCHEMA_VERSION:
        if version not in _MIGRATIONS:
            raise RegistryError(f"{where}: no upgrade from schema version {version}")
        data = _MIGRATIONS[version](data)
        version += 1
    raw = data.get("envs", {})
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: 'envs' must be a table")
    envs: Dict[str, EnvRecord] = {}
    for name, item in raw.items():
        if not isinstance(item, dict):
            raise RegistryError(f"{where}: environment {name!r} must be a table")
        envs[name] = EnvRecord.from_dict(name, item, where)
    return Registry(envs)


def _read_bytes(store: Store) -> Optional[bytes]:
    try:
        with open(store.registry_path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RegistryError(f"cannot read {store.registry_path}: {exc.strerror}") from exc


def _identity(store: Store) -> Optional[List[int]]:
    """What tells one version of the registry file from another, without reading it."""
    try:
        st = os.stat(store.registry_path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RegistryError(f"cannot read {store.registry_path}: {exc.strerror}") from exc
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _parse(store: Store, raw: bytes) -> Registry:
    where = str(store.registry_path)
    try:
        doc = tomllib().loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib().TOMLDecodeError) as exc:
        raise RegistryError(
            f"{where}: cannot parse the registry: {exc}",
            hint="envman will not overwrite it; fix it by hand or move it aside",
        ) from None
    return _from_document(doc, where)


def _snapshot_path(store: Store) -> Any:
    return store.cache / SNAPSHOT_NAME


def _write_snapshot(store: Store, identity: Optional[List[int]], registry: Registry) -> None:
    """Best effort: the snapshot is a cache, and one made from another file is ignored."""
    if identity is None:
        return
    envs = {r.name: r.to_dict() for r in registry}
    payload = json.dumps({"registry": identity, "envs": envs}, default=lambda d: d.isoformat())
    try:
        store.cache.mkdir(parents=True, exist_ok=True)
        write_atomic(_snapshot_path(store), payload.encode())
    except OSError:
        pass
    _write_names_index(store, identity, registry)
    _write_projects_index(store, identity, registry)


def names_index_line(identity: List[int]) -> str:
    """The names index's first line: the identity of the registry file it was made from."""
    return " ".join(str(part) for part in identity)


def _write_names_index(store: Store, identity: List[int], registry: Registry) -> None:
    """Best effort, like the snapshot: completion trusts it only while the identity matches."""
    text = "".join(f"{line}\n" for line in [names_index_line(identity), *(r.name for r in registry)])
    try:
        store.cache.mkdir(parents=True, exist_ok=True)
        write_atomic(store.cache / NAMES_INDEX_NAME, text.encode())
    except OSError:
        pass


def _write_projects_index(store: Store, identity: List[int], registry: Registry) -> None:
    """Best effort, like the names index, which it follows: the identity on the first line,
    then PROJECTS_INDEX_FIELDS of every record. A record holding a NUL (only a hand-edited
    prompt could) is left out: `cd` then does not activate it, `envman activate` still does."""
    fields: List[str] = []
    for r in registry:
        values = [r.project, r.name, r.path, r.name if r.prompt is None else r.prompt, r.id,
                  str(int(r.last_used.timestamp()))]
        if not any("\0" in value for value in values):
            fields += values
    text = names_index_line(identity) + "\n" + "".join(f"{value}\0" for value in fields)
    try:
        store.cache.mkdir(parents=True, exist_ok=True)
        write_atomic(store.cache / PROJECTS_INDEX_NAME, text.encode("utf-8", "surrogateescape"))
    except OSError:
        pass


def records_for_auto(store: Store) -> List[EnvRecord]:
    """Every record, writing the projects index afresh: the slow path of `_auto`, taken only
    when the index is missing or stale (see `names_for_completion`)."""
    identity = _identity(store)
    registry = load(store)
    if identity is not None and _identity(store) == identity:
        _write_projects_index(store, identity, registry)
    return list(registry)


def names_for_completion(store: Store) -> List[str]:
    """Every registered name, writing the names index afresh.

    Completion's slow path, taken only when the index is missing or stale: `load`
    rewrites the index only when it parses the TOML, so a valid snapshot with a missing
    index (deleted cache file, older envman) is mended here.
    """
    identity = _identity(store)
    registry = load(store)
    if identity is not None and _identity(store) == identity:  # not replaced meanwhile
        _write_names_index(store, identity, registry)
    return [r.name for r in registry]


def _read_snapshot(store: Store, identity: List[int]) -> Optional[Registry]:
    """The snapshot if it was made from this very registry file; None if unusable."""
    try:
        with open(_snapshot_path(store), "rb") as handle:
            data = json.loads(handle.read())
        if data.get("registry") != identity:
            return None
        where = str(store.registry_path)
        return Registry({n: EnvRecord.from_dict(n, v, where) for n, v in data["envs"].items()})
    except (OSError, ValueError, AttributeError, KeyError, TypeError, RegistryError):
        return None  # a damaged cache costs only the TOML parse


def load(store: Store) -> Registry:
    """Read the registry without locking or writing anything it owns."""
    identity = _identity(store)
    if identity is None:
        return Registry()
    cached = _read_snapshot(store, identity)
    if cached is not None:
        return cached
    raw = _read_bytes(store)
    if raw is None:
        return Registry()
    registry = _parse(store, raw)
    if _identity(store) == identity:  # not replaced while we read it
        _write_snapshot(store, identity, registry)
    return registry


@contextmanager
def _locked(store: Store) -> Iterator[None]:
    from filelock import FileLock, Timeout

    try:
        store.root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(f"cannot create the data root {store.root}: {exc.strerror}") from exc
    try:
        with FileLock(str(store.lock_path), timeout=LOCK_TIMEOUT):
            yield
    except Timeout:
        raise RegistryError(
            f"another envman has held the registry lock for {LOCK_TIMEOUT:.0f} s",
            hint=f"if no envman is running, the lock file {store.lock_path} is stale: remove it",
        ) from None


def update(store: Store, change: Callable[[Registry], Registry],
           then: Optional[Callable[[], None]] = None) -> Registry:
    """Apply `change` to the current registry and save the result, all under the lock.

    `change` may raise to abort; then nothing is written. `then`, if given, runs after
    the save and still under the lock (say, a rename that must follow the record's
    removal with no other envman in between). Returns the saved registry.
    """
    with _locked(store):
        raw = _read_bytes(store)
        current = Registry() if raw is None else _parse(store, raw)
        changed = change(current)
        if changed is not current:
            save_locked(store, changed)
        if then is not None:
            then()
        return changed


def rebuild(store: Store, records: Iterable[EnvRecord]) -> Optional[Path]:
    """Replace the registry with `records`, keeping an existing (unreadable) file aside.

    For `doctor --fix` only: returns where the old file went, if there was one.
    """
    with _locked(store):
        aside = None
        if os.path.lexists(store.registry_path):
            stamp = now().strftime("%Y%m%dT%H%M%SZ")
            aside = store.registry_path.with_name(f"{store.registry_path.name}.broken-{stamp}")
            os.replace(store.registry_path, aside)
        save_locked(store, Registry({r.name: r for r in records}))
        return aside


def save_locked(store: Store, registry: Registry) -> None:
    """Write the registry atomically. Call only while holding the lock (see `update`)."""
    import tomli_w

    header = (
        "# envman registry: every environment envman knows and the project it serves.\n"
        "# Written atomically under registry.toml.lock; edit only while no envman runs.\n"
    )
    data = header.encode() + tomli_w.dumps(registry.to_document()).encode()
    try:
        write_atomic(store.registry_path, data)
    except OSError as exc:
        raise RegistryError(f"cannot write {store.registry_path}: {exc.strerror}") from exc
    _write_snapshot(store, _identity(store), registry)
