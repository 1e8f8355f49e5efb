"""The registry: `registry.toml` in the data root, the one source of truth.

Readers never lock: writers replace the file atomically, so a reader sees a whole
file. Writers load, modify and save inside one inter-process lock. Next to the TOML
(the truth, readable and editable by people) a snapshot in the cache lets `ls`
skip TOML parsing, which costs ~0.1 s at 1,000 records. The snapshot names the
registry file it was made from by inode, size and modification time: every atomic
replace makes a new inode and every edit a new mtime, so a stale snapshot is never used.
Beside it, a plain-text names index (the same identity on its first line, then one name
per line) lets TAB completion answer without importing anything (`envman/shell/complete_fast.py`),
and a projects index does the same for activation on `cd` (`envman/shell/auto_fast.py`).

One mutation costs nearly the same with 5,000 environments as with 10: under the lock
the snapshot is used too when its tag matches (the TOML is parsed only after a hand
edit); it holds one line per record (the record as JSON and its TOML text), each
parsed only when that record is asked for (`LazyRecords`); and saving reuses the lines
and TOML text of every record the change did not touch, serialising only the others.
"""

from __future__ import annotations

import json
import os
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from envman.ages import now
from envman.errors import RegistryError, UnreadableRegistry
from envman.fsutil import REGISTRY_MAX, open_regular, read_open, read_regular, tomllib, write_atomic
from envman.models import EnvRecord, is_valid_name
from envman.store.layout import Store
from envman.store.records import SCHEMA_VERSION, LazyRecords, Registry

LOCK_TIMEOUT = 60.0
SNAPSHOT_NAME = "registry-snapshot.txt"
SNAPSHOT_FORMAT = 2  # 1 was one JSON document (`registry-snapshot.json`)
SNAPSHOT_MAX = 3 * REGISTRY_MAX  # each record's JSON beside its TOML text
TOML_HEADER = (
    "# envman registry: every environment envman knows and the project it serves.\n"
    "# Written atomically under registry.toml.lock; edit only while no envman runs.\n"
)

# Read by envman/shell/complete_fast.py, which cannot import this module: keep the two in step.
NAMES_INDEX_NAME = "registry-names.txt"

# Read by envman/shell/auto_fast.py (`envman init --auto`), which cannot import this module either.
PROJECTS_INDEX_NAME = "registry-projects.txt"

# What the projects index holds for each record, in this order, each field ended by NUL
# (which no path, name or id can hold): a project path or a prompt may hold a newline.
PROJECTS_INDEX_FIELDS = ("project", "name", "path", "prompt", "id", "last_used")

# Upgrades from schema N to N+1, applied in order on load. A file from a newer
# envman is refused: we cannot know what writing it back would destroy.
_MIGRATIONS: Dict[int, Callable[[Dict[str, Any]], Dict[str, Any]]] = {}


def _from_document(doc: Mapping[str, Any], where: str) -> Registry:
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UnreadableRegistry(f"{where}: 'schema_version' is missing or not a whole number")
    if version > SCHEMA_VERSION:
        raise RegistryError(
            f"{where}: schema version {version} is newer than this envman understands "
            f"({SCHEMA_VERSION})",
            hint="upgrade envman; the file was left untouched",
        )
    data = dict(doc)
    while version < SCHEMA_VERSION:
        if version not in _MIGRATIONS:
            raise UnreadableRegistry(f"{where}: no upgrade from schema version {version}")
        data = _MIGRATIONS[version](data)
        version += 1
    raw = data.get("envs", {})
    if not isinstance(raw, dict):
        raise UnreadableRegistry(f"{where}: 'envs' must be a table")
    envs: Dict[str, EnvRecord] = {}
    folded: Dict[str, str] = {}
    ids: Dict[str, str] = {}
    for name, item in raw.items():
        if not isinstance(item, dict):
            raise UnreadableRegistry(f"{where}: environment {name!r} must be a table")
        # What envman itself never writes: a hand edit that would mislead every command
        # (a name that is a path, two records for one environment, a path read relative
        # to wherever envman runs).
        if not is_valid_name(name):
            raise UnreadableRegistry(f"{where}: {name!r} is not a valid environment name")
        if name.lower() in folded:
            raise UnreadableRegistry(f"{where}: the names {folded[name.lower()]!r} and {name!r} differ only "
                                "by case")
        record = EnvRecord.from_dict(name, item, where)
        if record.id in ids:
            raise UnreadableRegistry(f"{where}: {ids[record.id]!r} and {name!r} have the same id "
                                f"{record.id!r}")
        for key, value in (("path", record.path), ("project", record.project)):
            if not os.path.isabs(value):
                raise UnreadableRegistry(f"{where}: environment {name!r}: '{key}' is not an absolute path: "
                                    f"{value!r}")
        folded[name.lower()], ids[record.id] = name, name
        envs[name] = record
    return Registry(envs)


def _read_bytes(store: Store) -> Optional[bytes]:
    try:
        return read_regular(store.registry_path, REGISTRY_MAX)
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
    except (UnicodeDecodeError, tomllib().TOMLDecodeError, RecursionError) as exc:
        detail = "it is nested too deeply" if isinstance(exc, RecursionError) else exc
        raise UnreadableRegistry(
            f"{where}: cannot parse the registry: {detail}",
        ) from None
    return _from_document(doc, where)


def _snapshot_path(store: Store) -> Any:
    return store.cache / SNAPSHOT_NAME


def _write_snapshot(store: Store, identity: Optional[List[int]], registry: Registry,
                    rendered: Optional[List[Tuple[str, str, str]]] = None) -> None:
    """Best effort: the snapshot is a cache, and one made from another file is ignored."""
    if identity is None:
        return
    parts = rendered if rendered is not None else registry.rendered(toml=False)
    # One line per record: a name holding a tab or a line break (only a hand edit can
    # make one) cannot be written so, and then there is no snapshot.
    if all("\t" not in name and "\n" not in name for name, _, _ in parts):
        body = "".join([f"{name}\t{line}\n" for name, line, _ in parts]).encode("utf-8")
        header = json.dumps({"format": SNAPSHOT_FORMAT, "registry": identity, "crc32": zlib.crc32(body)})
        try:
            store.cache.mkdir(parents=True, exist_ok=True)
            write_atomic(_snapshot_path(store), header.encode() + b"\n" + body)
            _seen[str(_snapshot_path(store))] = (
                (*identity, *_file_tag(os.stat(_snapshot_path(store)))),
                {name: line for name, line, _ in parts})
        except OSError:
            pass
    names = [name for name, _, _ in parts]  # in listing order, as `names()` gives them
    _write_names_index(store, identity, names)
    _write_projects_index(store, identity, registry, names)


def names_index_line(identity: List[int]) -> str:
    """The names index's first line: the identity of the registry file it was made from."""
    return " ".join(str(part) for part in identity)


def _write_names_index(store: Store, identity: List[int], names: List[str]) -> None:
    """Best effort, like the snapshot: completion trusts it only while the identity matches."""
    text = "".join(f"{line}\n" for line in [names_index_line(identity), *names])
    try:
        store.cache.mkdir(parents=True, exist_ok=True)
        write_atomic(store.cache / NAMES_INDEX_NAME, text.encode())
    except OSError:
        pass


def _write_projects_index(store: Store, identity: List[int], registry: Registry,
                          names: List[str]) -> None:
    """Best effort, like the names index, which it follows: the identity on the first line,
    then PROJECTS_INDEX_FIELDS of every record. A record holding a NUL (only a hand-edited
    prompt could) is left out: `cd` then does not activate it, `envman activate` still does.

    Like the snapshot's lines, the entries of records unchanged since the snapshot was
    read are taken from the index written with it, so a save costs nearly the same with
    5,000 records as with 10."""
    lazy = registry.envs if isinstance(registry.envs, LazyRecords) else None
    known = _index_entries(store, lazy.source) if lazy is not None else {}
    entries = []
    for name in names:
        entry = known.get(name) if lazy is not None and lazy.line(name) is not None else None
        entries.append(entry if entry is not None else _index_entry(registry.envs[name]))
    text = names_index_line(identity) + "\n" + "".join(entries)
    try:
        store.cache.mkdir(parents=True, exist_ok=True)
        write_atomic(store.cache / PROJECTS_INDEX_NAME, text.encode("utf-8", "surrogateescape"))
    except OSError:
        pass


def projects_index_values(r: EnvRecord) -> List[str]:
    """PROJECTS_INDEX_FIELDS of one record, as the index holds them."""
    return [r.project, r.name, r.path, r.name if r.prompt is None else r.prompt, r.id,
            str(int(r.last_used.timestamp()))]


def _index_entry(r: EnvRecord) -> str:
    values = projects_index_values(r)
    return "" if any("\0" in value for value in values) else "".join(f"{value}\0" for value in values)


def _index_entries(store: Store, source: List[int]) -> Dict[str, str]:
    """Name -> entry of the projects index, if it was written for the registry file `source`."""
    try:
        text = read_regular(store.cache / PROJECTS_INDEX_NAME, REGISTRY_MAX).decode("utf-8", "surrogateescape")
    except (OSError, UnicodeDecodeError):
        return {}
    header, _, body = text.partition("\n")
    if header != names_index_line(source):
        return {}
    fields = body.split("\0")[:-1]
    width = len(PROJECTS_INDEX_FIELDS)
    if len(fields) % width or body[-1:] not in ("", "\0"):
        return {}
    try:  # what `_auto` parses of an entry: a damaged one is never copied on
        for i in range(width - 1, len(fields), width):
            int(fields[i])
    except ValueError:
        return {}
    return {fields[i + 1]: "\0".join(fields[i:i + width]) + "\0" for i in range(0, len(fields), width)}


def records_for_auto(store: Store) -> List[EnvRecord]:
    """Every record, writing the projects index afresh: the slow path of `_auto`, taken only
    when the index is missing or stale (see `names_for_completion`)."""
    identity = _identity(store)
    registry = load(store)
    if identity is not None and _identity(store) == identity:
        _write_projects_index(store, identity, registry, registry.names())
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
        _write_names_index(store, identity, registry.names())
    return registry.names()


def _read_snapshot(store: Store, identity: List[int]) -> Optional[Registry]:
    """The snapshot if it was made from this very registry file; None if unusable.
    Records are parsed from it only when asked for."""
    path = str(_snapshot_path(store))
    try:
        fd, st = open_regular(path, SNAPSHOT_MAX)
        try:
            tag = (*identity, *_file_tag(st))
            seen = _seen.get(path)
            if seen is not None and seen[0] == tag:
                return _lazy(store, identity, seen[1])
            header, _, raw = read_open(fd, path, SNAPSHOT_MAX).partition(b"\n")
        finally:
            os.close(fd)
        data = json.loads(header)
        if data.get("format") != SNAPSHOT_FORMAT or data.get("registry") != identity:
            return None
        # Writers save the TOML from its lines: a damaged snapshot must never be one of them.
        if data.get("crc32") != zlib.crc32(raw):
            return None
        lines: Dict[str, str] = {}
        for row in raw.decode("utf-8").split("\n"):
            if row:
                name, line = row.split("\t", 1)
                if "\t" not in line:  # the record's JSON, a tab, its TOML text
                    return None
                lines[name] = line
        _seen[path] = (tag, lines)
        return _lazy(store, identity, lines)
    except (OSError, ValueError, AttributeError, RecursionError):
        return None  # a damaged cache costs only the TOML parse


# The snapshot lines this process last read or wrote, with the registry file's identity
# they describe and the snapshot file's own: one `new` reads the registry three times
# (its early check, the reservation, the commit), and the same two files say the same.
_seen: Dict[str, Tuple[Tuple[int, ...], Dict[str, str]]] = {}


def _file_tag(stat: os.stat_result) -> Tuple[int, int, int]:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _lazy(store: Store, identity: List[int], lines: Dict[str, str]) -> Registry:
    # A copy: a LazyRecords drops the line of a record it finds damaged.
    return Registry(LazyRecords(dict(lines), {}, str(store.registry_path), _from_toml(store), identity))


def _from_toml(store: Store) -> Callable[[], Mapping[str, EnvRecord]]:
    """Parse the TOML once, on first call: what a damaged snapshot line falls back to."""
    parsed: List[Mapping[str, EnvRecord]] = []

    def records() -> Mapping[str, EnvRecord]:
        if not parsed:
            raw = _read_bytes(store)
            parsed.append(Registry().envs if raw is None else _parse(store, raw).envs)
        return parsed[0]

    return records


def load(store: Store) -> Registry:
    """Read the registry without locking or writing anything it owns."""
    return _read(store, snapshot_after_parse=True)


@contextmanager
def locked(store: Store) -> Iterator[None]:
    """Hold the registry lock: no other envman writes the registry or the store meanwhile."""
    from filelock import FileLock, Timeout

    try:
        store.root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(f"cannot create the data root {store.root}: {exc.strerror}") from exc
    # filelock retries every failure to open its file until the timeout, so a data root
    # where the lock file cannot be made (/proc, a read-only mount, a directory in its
    # place) would wait a minute and blame another envman: open it once first.
    try:
        os.close(os.open(store.lock_path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644))
    except OSError as exc:
        raise RegistryError(f"cannot lock the registry: {store.lock_path}: {exc.strerror or exc}",
                            hint="the data root must be a writable directory, and the lock a plain file") from None
    lock = FileLock(str(store.lock_path), timeout=LOCK_TIMEOUT)
    try:
        lock.acquire()
    except Timeout:
        raise RegistryError(
            f"another envman has held the registry lock for {LOCK_TIMEOUT:.0f} s",
            hint=f"if no envman is running, the lock file {store.lock_path} is stale: remove it",
        ) from None
    except OSError as exc:  # a read-only root, a directory where the lock file goes
        raise RegistryError(f"cannot lock the registry: {store.lock_path}: {exc.strerror or exc}",
                            hint="the data root must be writable, and the lock a plain file") from None
    try:
        yield
    finally:
        lock.release()


def update(store: Store, change: Callable[[Registry], Registry],
           then: Optional[Callable[[], None]] = None) -> Registry:
    """Apply `change` to the current registry and save the result, all under the lock.

    `change` may raise to abort; then nothing is written. `then`, if given, runs after
    the save and still under the lock (say, a rename that must follow the record's
    removal with no other envman in between). Returns the saved registry.
    """
    with locked(store):
        current = _read_locked(store)
        changed = change(current)
        if changed is not current:
            save_locked(store, changed)
        if then is not None:
            then()
        return changed


def _read_locked(store: Store) -> Registry:
    """Under the lock: the snapshot if it was made from the file on disk, else the TOML.
    (The snapshot is written after the file under the same lock, and its tag changes with
    any replace or edit of the file, so a matching one says what the file says.)"""
    return _read(store, snapshot_after_parse=False)


def _read(store: Store, snapshot_after_parse: bool) -> Registry:
    """The snapshot made from the file on disk if there is one, else the parsed TOML
    (then, if asked, a snapshot of it, unless the file was replaced while being read)."""
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
    if snapshot_after_parse and _identity(store) == identity:
        _write_snapshot(store, identity, registry)
    return registry


def rebuild(store: Store, records: Iterable[EnvRecord]) -> Optional[Path]:
    """Replace the registry with `records`, keeping an existing (unreadable) file aside.

    For `doctor --fix` only: returns where the old file went, if there was one.
    """
    with locked(store):
        aside = None
        if os.path.lexists(store.registry_path):
            stamp = now().strftime("%Y%m%dT%H%M%SZ")
            aside = store.registry_path.with_name(f"{store.registry_path.name}.broken-{stamp}")
            os.replace(store.registry_path, aside)
        save_locked(store, Registry({r.name: r for r in records}))
        return aside


def save_locked(store: Store, registry: Registry) -> None:
    """Write the registry atomically. Call only while holding the lock (see `update`)."""
    rendered = registry.rendered()
    if rendered:
        body = "".join([f"schema_version = {SCHEMA_VERSION}\n\n",
                        "\n".join(text for _, _, text in rendered)])
    else:
        import tomli_w

        body = tomli_w.dumps(registry.to_document())
    try:
        write_atomic(store.registry_path, (TOML_HEADER + body).encode("utf-8"))
    except OSError as exc:
        raise RegistryError(f"cannot write {store.registry_path}: {exc.strerror}") from exc
    _write_snapshot(store, _identity(store), registry, rendered)
