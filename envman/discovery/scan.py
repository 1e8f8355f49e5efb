"""`envman scan`: every environment under some directories, with what is known of each.

One walk finds them (`walk`), `classify` names each one's tool, project and Python,
`envman.sizes` measures them together (a file hard-linked into several counted once)
and envman's registry says which are envman's. Read-only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from envman import sizes
from envman.ages import now
from envman.discovery.classify import Classifier
from envman.discovery.roots import distinct_roots, tool_stores
from envman.discovery.walk import Progress, walk
from envman.errors import UsageError
from envman.fsutil import mount_points
from envman.models import PROJECT_MISSING, PYTHON_MISSING, UNUSED, EnvRecord
from envman.store import registry
from envman.store.layout import Store

TOOLS = ("envman", "venv", "virtualenv", "uv", "poetry", "pipenv", "virtualenvwrapper", "pyenv-virtualenv",
         "hatch", "pdm", "pipx", "tox", "nox", "conda")
SORTS = ("size", "age", "name")
SIZES_CACHE = "scan-sizes.json"  # in envman's cache: see `envman.sizes`


@dataclass(frozen=True)
class Found:
    path: str
    kind: str  # "pep405" or "conda"
    tool: str
    project: Optional[str]
    python: Optional[str]
    python_present: bool
    size_bytes: int
    modified: datetime
    registered: Optional[EnvRecord]
    reasons: Tuple[str, ...]
    device: int  # the directory's identity when it was found: deletion re-checks it
    inode: int

    @property
    def status(self) -> str:
        return "stale" if self.reasons else "ok"


@dataclass
class Scan:
    found: List[Found] = field(default_factory=list)
    directories: int = 0
    unreadable: int = 0


def scan(store: Store, roots: Sequence[Path], progress: Optional[Progress] = None,
         unused_after: Optional[timedelta] = None, measure: bool = True, fresh: bool = False) -> Scan:
    """What is under `roots`; `unused_after` adds the `unused` reason. Without `measure`
    (for `find`, which needs none of it) sizes are 0 and `modified` is the directory's own.
    With `fresh`, every environment is measured again, the sizes cache neither read nor
    written: what is chosen for deletion by its size or age is chosen on what is true now
    (a file rewritten in place moves no directory's time, which the cache trusts)."""
    real = [str(p) for p in distinct_roots(roots)]
    mounts = mount_points()
    walked = walk(real, progress, mounts)
    stores = tool_stores(envman_envs=os.path.realpath(store.envs_dir))
    records = _records_by_path(store)
    classifier = Classifier(walked, stores)
    if measure:
        if progress is not None:
            progress(f"{walked.directories} directories; measuring {len(walked.candidates)} environments")
        measured = sizes.measure_trees([c.path for c in walked.candidates], mounts,
                                       None if fresh else store.cache / SIZES_CACHE)
    else:
        measured = [(0, _mtime(c.path)) for c in walked.candidates]
    moment = now()
    found = []
    for candidate, (size, newest) in zip(walked.candidates, measured):
        record = records.get(candidate.path)
        identity = classifier.identify(candidate, record.project if record is not None else None)
        tool = "envman" if record is not None and not record.adopted else identity.tool
        modified = datetime.fromtimestamp(newest, timezone.utc).replace(microsecond=0)
        reasons = []
        if not identity.python_present:
            reasons.append(PYTHON_MISSING)
        if identity.project is not None and not os.path.isdir(identity.project):
            reasons.append(PROJECT_MISSING)
        if unused_after is not None:
            used = max(store.last_used(record), modified) if record is not None else modified
            if moment - used > unused_after:
                reasons.append(UNUSED)
        found.append(Found(candidate.path, candidate.kind, tool, identity.project, identity.python,
                           identity.python_present, size, modified, record, tuple(reasons),
                           candidate.device, candidate.inode))
    return Scan(found, walked.directories, walked.unreadable)


def _mtime(path: str) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def _records_by_path(store: Store) -> Dict[str, EnvRecord]:
    if not store.registry_path.exists():
        return {}
    return {os.path.realpath(r.path): r for r in registry.load(store)}


def check_tools(tools: Sequence[str]) -> List[str]:
    for tool in tools:
        if tool not in TOOLS:
            raise UsageError(f"unknown tool {tool!r}", hint=f"--type is one of: {', '.join(TOOLS)}")
    return list(tools)


def select(found: Sequence[Found], tools: Sequence[str] = (), unused: bool = False,
           min_size: Optional[int] = None) -> List[Found]:
    """The ones matching every filter given: one of `tools`, unused, at least `min_size`."""
    return [f for f in found
            if (not tools or f.tool in tools)
            and (not unused or UNUSED in f.reasons)
            and (min_size is None or f.size_bytes >= min_size)]


def check_sort(by: str) -> str:
    if by not in SORTS:
        raise UsageError(f"unknown sort {by!r}", hint=f"--sort is one of: {', '.join(SORTS)}")
    return by


def ordered(found: Sequence[Found], by: str) -> List[Found]:
    """Largest first, oldest first, or by path (`by` as `check_sort` passed it)."""
    if by == "size":
        return sorted(found, key=lambda f: (-f.size_bytes, f.path))
    if by == "age":
        return sorted(found, key=lambda f: (f.modified, f.path))
    return sorted(found, key=lambda f: f.path)


def as_json(found: Sequence[Found]) -> List[Dict[str, Any]]:
    return [{"path": f.path, "tool": f.tool, "project": f.project, "python": f.python,
             "status": f.status, "reasons": list(f.reasons), "size_bytes": f.size_bytes,
             "modified": f.modified.isoformat(),
             "registered": f.registered.name if f.registered is not None else None}
            for f in found]
