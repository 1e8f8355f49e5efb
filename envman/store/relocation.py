"""A data root copied or moved (`cp -a` of ENVMAN_HOME, a new ENVMAN_HOME): its records
still name the old root's `envs/NAME`, and its venvs embed their old path (`pyvenv.cfg`,
`bin/activate`, every script's `#!` line), so they cannot simply be used here.

envman sees it from the records (`moved_from`): `ls` says so once, `doctor --fix` points
the records (and the copies in the markers) at this root, and `envman recreate --all`
then rebuilds every environment in its new place.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Iterable, List, Optional

from envman.models import EnvRecord
from envman.store.layout import Store


def moved_from(store: Store, records: Iterable[EnvRecord]) -> Optional[str]:
    """The old data root, if a record of this store names `OLD/envs/NAME` while this
    store holds `envs/NAME`. String work only, unless a path differs (then `place_of`
    decides, as a root reached through a link still is the same root)."""
    from envman.store.lifecycle import place_of

    envs = str(store.envs_dir)
    for record in records:
        if record.adopted or not os.path.isabs(record.path):
            continue
        parent, base = os.path.split(os.path.normpath(record.path))
        if parent == envs or base != record.name or os.path.basename(parent) != "envs":
            continue
        if os.path.lexists(store.env_path(record.name)) and place_of(store, record) is None:
            return os.path.dirname(parent)
    return None


def here(store: Store, record: EnvRecord) -> EnvRecord:
    """`record` as it is in this store, if it is one of the old root's."""
    if record.adopted:
        return record
    parent, base = os.path.split(os.path.normpath(record.path))
    if base == record.name and os.path.basename(parent) == "envs":
        return record.with_changes(path=str(store.env_path(record.name)))
    return record


def repoint(store: Store) -> List[str]:
    """Point every record of the old root (and the copy in its environment's marker) at
    this store, under the lock; the names changed. The environments still embed the old
    path until they are rebuilt (`recreate --all` does both)."""
    from envman.store import lifecycle, markers, registry
    from envman.store import records
    from envman.store.lifecycle import Kind

    changed: List[str] = []

    def change(now: "records.Registry") -> "records.Registry":
        for record in list(now):
            new = here(store, record)
            if new.path == record.path or not os.path.lexists(new.path):
                continue
            found = lifecycle.classify(store, Path(new.path), new)
            if found.kind is Kind.READY and found.marker is not None:
                markers.write(Path(new.path), replace(found.marker, record=new.to_dict()))
            now = now.with_record(new)
            changed.append(record.name)
        return now

    registry.update(store, change)
    return changed


def note(old: str) -> str:
    return (f"this store was moved from {old}: its environments embed that path; "
            "`envman recreate --all` rebuilds them here (`envman doctor --fix` only points "
            "their records here)")
