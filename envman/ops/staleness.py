"""Read-only classification of environments: the stale reasons of SPEC.md.

Everything here is a handful of `stat` calls and one small read of `pyvenv.cfg` per
environment; no interpreter is started and nothing is written.
"""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, Iterable, List, Optional, Tuple

from envman.fsutil import sha256_file
from envman.models import (ENV_MISSING, PROJECT_MISSING, PROJECT_UNREACHABLE, PYTHON_MISSING, UNUSED, EnvRecord,
                           EnvState)
from envman.python.base import base_python_present
from envman.store.layout import Store

if TYPE_CHECKING:
    from envman.projects.moves import Search

# What a person should do about each reason, for the human listing.
ADVICE = {
    PROJECT_MISSING: "the project is gone: `envman prune` or `envman rm`",
    PROJECT_UNREACHABLE: "the project and its parent are gone (unmounted drive?): kept by prune unless --unreachable",
    ENV_MISSING: "the environment directory is gone: `envman rm` drops the record",
    PYTHON_MISSING: "its base Python is gone: `envman recreate` rebuilds it",
    UNUSED: "not used for a long time: `envman prune` or just use it",
}
REQUIREMENTS_CHANGED_ADVICE = ("a recorded requirements file changed since the last build: `envman recreate NAME` "
                               "(for one that is gone, name the files to use: `-r FILE`)")


def requirements_changed(record: EnvRecord) -> Tuple[str, ...]:
    """The recorded requirement files that changed since the last build, or vanished.

    A file whose size and modification time are still the recorded ones is unchanged
    without being read; only a file whose stat differs (or was never trusted) is hashed,
    so an untouched `ls` costs one `stat` per requirement file.
    """
    changed: List[str] = []
    for req in record.requirements:
        full = os.path.join(record.project, req.path)  # an absolute `req.path` wins
        try:
            st = os.stat(full)
        except OSError:
            changed.append(req.path)
            continue
        if not stat.S_ISREG(st.st_mode):  # became a FIFO, a directory: never read it
            changed.append(req.path)
            continue
        if st.st_size == req.size and st.st_mtime_ns == req.mtime_ns:
            continue
        try:
            if sha256_file(full) == req.sha256:
                continue
        except OSError:
            pass
        changed.append(req.path)
    return tuple(changed)


def assess_all(store: Store, records: Iterable[EnvRecord], now: datetime,
               older_than: timedelta) -> List[EnvState]:
    """`assess` for the records of one listing: they share one search for moved projects
    (its listings and its budget), made only if some project is missing."""
    shared: List["Search"] = []

    def search() -> "Search":
        if not shared:
            from envman.projects.moves import Search

            shared.append(Search())
        return shared[0]

    return [assess(store, record, now, older_than, search) for record in records]


def assess(store: Store, record: EnvRecord, now: datetime, older_than: timedelta,
           search: Optional[Callable[[], "Search"]] = None) -> EnvState:
    """The record with its live state: last use, stale reasons, where a missing project
    moved to (then it is not missing). `search` gives the search a listing shares.

    Plain `os.path` on strings: this runs once per environment on every `ls`.
    """
    reasons: List[str] = []
    moved_to = None
    if not os.path.exists(record.project):
        from envman.projects.moves import Search  # only when a project is missing

        moved_to = (search() if search is not None else Search()).find(record)
        if moved_to is None:
            parent_there = os.path.exists(os.path.dirname(record.project.rstrip(os.sep)) or os.sep)
            reasons.append(PROJECT_MISSING if parent_there else PROJECT_UNREACHABLE)
    if not os.path.isdir(record.path):
        reasons.append(ENV_MISSING)
    elif not base_python_present(record.path):
        reasons.append(PYTHON_MISSING)
    last_used = store.last_used(record)
    if now - last_used > older_than:
        reasons.append(UNUSED)
    # A moved project's requirement files moved with it.
    where = record if moved_to is None else record.with_changes(project=moved_to)
    drift = requirements_changed(where) if record.requirements else ()
    return EnvState(record=record, last_used=last_used, reasons=tuple(reasons),
                    requirements_changed=drift, moved_to=moved_to)
