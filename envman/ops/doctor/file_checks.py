"""`doctor`'s checks of the files beside the environments: time-of-use stamps, temporary
files of killed writers, and the pip-image cache."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Callable, List, Set, Tuple

from envman.errors import OperationFailed
from envman.fsutil import writer_of
from envman.ops.doctor.finding import Finding, Repair
from envman.ops.doctor.registry_checks import store_entries
from envman.store import lifecycle, registry
from envman.store.layout import Store
from envman.store.markers import MARKER_NAME, process_alive
from envman.store.records import Registry


# A cache file's temporary copy is written without the lock: one this old is no write
# in progress.
STALE_TEMP_SECONDS = 600


def check_cache(store: Store) -> List[Finding]:
    """What killed pip-image builds left in the cache (never a build in progress), and
    images no interpreter can use any more; the repairs judge each again first and
    delete with the cache's own walk (no link followed, no mount crossed)."""
    from envman.create import pip_image

    def repair(remove: Callable[[Path, Path], str], path: Path) -> Repair:
        return lambda: remove(store.cache, path)

    return ([Finding("cache-leftover", str(path), why, repair(pip_image.remove_leftover, path))
             for path, why in pip_image.leftovers(store.cache)]
            + [Finding("cache-orphan", str(path), why, repair(pip_image.remove_orphan, path))
               for path, why in pip_image.orphans(store.cache)])


def check_stamps(store: Store, current: Registry) -> List[Finding]:
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
    for entry in store_entries(store):
        marker = lifecycle.classify(store, entry).marker
        if marker is not None:
            ids.add(marker.id)
            if marker.replaces is not None:
                ids.add(marker.replaces)
    return ids


def check_temp_files(store: Store, current: Registry) -> List[Finding]:
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
