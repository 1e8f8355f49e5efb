"""Turning what the person typed (a name, a project path, nothing) into a record."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from envman.errors import NotFound
from envman.models import EnvRecord
from envman.store.layout import Store
from envman.store.records import Registry


@dataclass(frozen=True)
class Found:
    record: EnvRecord
    note: Optional[str] = None  # for the person (stderr): why this one among several
    moved_to: Optional[Path] = None  # the record's project moved here: re-point it


def is_path_ref(ref: str) -> bool:
    """An argument with a path separator, or `.`/`..`, names a project directory."""
    return ref in (".", "..") or "/" in ref or os.sep in ref


def find(store: Store, registry: Registry, ref: Optional[str], cwd: Optional[str] = None) -> Found:
    """The environment `ref` means: a name, a project path, or (None) the current project."""
    if ref is not None and not is_path_ref(ref):
        record = registry.find(ref)
        if record is None:
            close = difflib.get_close_matches(ref, [r.name for r in registry], n=1)
            raise NotFound(
                f"no environment named {ref!r}",
                hint=f"did you mean {close[0]!r}?" if close else "`envman ls` lists them all",
            )
        return Found(record)
    from envman.projects import moves  # lifecycle and markers: only for a lookup by place

    start = Path(os.path.realpath(os.path.expanduser(ref) if ref else (cwd or os.getcwd())))
    for directory in (start, *start.parents):
        matches = [r for r in registry if r.project == str(directory)]
        if matches:
            return _most_recent(store, matches, directory)
        moved = moves.at(registry, directory)
        if moved is not None:
            return Found(moved, moved_to=directory)
    where = ref if ref is not None else "the current directory"
    raise NotFound(
        f"no environment for the project at {where} ({start}) or any directory above it",
        hint="create one with `envman new` in the project, or name the environment",
    )


def _most_recent(store: Store, matches: List[EnvRecord], project: Path) -> Found:
    if len(matches) == 1:
        return Found(matches[0])

    chosen = max(matches, key=store.last_used)
    others = ", ".join(r.name for r in matches if r is not chosen)
    return Found(chosen, note=f"{project} has {len(matches)} environments; "
                              f"using {chosen.name!r}, the most recently used (others: {others})")
