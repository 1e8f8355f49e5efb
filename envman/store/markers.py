"""The ownership marker: the one file that proves envman made a directory in the store.

Every environment envman builds carries `.envman-marker.toml`, naming its registry
record and holding a copy of it (so a lost registry can be rebuilt). The marker is
read here and only here, into a typed `Marker`; everything else asks
`envman.store.lifecycle.classify` what a directory is rather than reading fields itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from envman.fsutil import read_regular, tomllib, write_atomic
from envman.models import ID_RE

MARKER_NAME = ".envman-marker.toml"
MARKER_VERSION = 1
# Far more than any marker needs; a bigger file is not one envman wrote.
MARKER_MAX_BYTES = 256 * 1024


class MarkerState(Enum):
    CREATING = "creating"  # being built (or abandoned, if its creator is gone)
    READY = "ready"  # built and verified


@dataclass(frozen=True)
class Marker:
    """What a marker says: whose directory this is, and how far its build got."""

    id: str  # the record this directory holds
    name: str
    state: MarkerState
    pid: int
    host: str
    started: Optional[int] = None  # the creator's start time (clock ticks since boot)
    replaces: Optional[str] = None  # a `recreate`: the id of the record this rebuild replaces
    record: Mapping[str, Any] = field(default_factory=dict)
    # `mv --project` moving the `.venv` link: the old project, until its link is moved
    # (what `doctor --fix` finishes when that `mv` was killed; see envman.projects.moves).
    link_from: Optional[str] = None

    def creator_gone(self) -> bool:
        """Whether the process that wrote this marker is provably no longer running.

        Unknown (another host, no permission to ask) counts as still running: a marker
        is only ever judged abandoned on proof.
        """
        import socket  # only when a marker is judged: `ls` never does

        if self.host != socket.gethostname():
            return False
        if not process_alive(self.pid):
            return True
        # A live process with that pid may be a newer one that reused it.
        return self.started is not None and process_start(self.pid) not in (None, self.started)

    def to_document(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {
            "marker_version": MARKER_VERSION,
            "id": self.id,
            "name": self.name,
            "state": self.state.value,
            "pid": self.pid,
            "host": self.host,
        }
        if self.started is not None:
            doc["started"] = self.started
        if self.replaces is not None:
            doc["replaces"] = self.replaces
        if self.link_from is not None:
            doc["link_from"] = self.link_from
        doc["record"] = dict(self.record)
        return doc


def process_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this machine (unknown counts as alive)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, as another user's
    return True


def process_start(pid: int) -> Optional[int]:
    """When process `pid` started, in clock ticks since boot (Linux), or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
        # The command name (field 2) may hold spaces and parentheses: count from its end.
        return int(text[text.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def for_this_process(record_id: str, name: str, state: MarkerState, record: Mapping[str, Any],
                     replaces: Optional[str] = None) -> Marker:
    import socket

    pid = os.getpid()
    return Marker(id=record_id, name=name, state=state, pid=pid, host=socket.gethostname(),
                  started=process_start(pid), replaces=replaces, record=record)


def mine(marker: Optional[Marker]) -> bool:
    """Whether this very process wrote `marker` (so it may undo what it built)."""
    import socket

    return (marker is not None and marker.pid == os.getpid()
            and marker.host == socket.gethostname()
            and marker.started == process_start(os.getpid()))


def write(directory: Path, marker: Marker) -> None:
    import tomli_w

    header = b"# Written by envman: proves envman created this environment. Do not edit.\n"
    write_atomic(directory / MARKER_NAME, header + tomli_w.dumps(marker.to_document()).encode())


def read(directory: Path, dir_fd: Optional[int] = None) -> Optional[Marker]:
    """The marker in `directory` (or in the directory open as `dir_fd`), or None when there
    is none envman could have written: missing, a link, not a regular file, too big,
    unparseable, of an unknown or newer `marker_version`, or with fields of the wrong type."""
    try:
        where = MARKER_NAME if dir_fd is not None else str(directory / MARKER_NAME)
        raw = read_regular(where, MARKER_MAX_BYTES, dir_fd=dir_fd)
    except OSError:
        return None
    reader = tomllib()
    try:
        doc = reader.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, reader.TOMLDecodeError, RecursionError):
        return None
    return _from_document(doc)


def _from_document(doc: Mapping[str, Any]) -> Optional[Marker]:
    def integer(value: object) -> Optional[int]:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    version, pid = integer(doc.get("marker_version")), integer(doc.get("pid"))
    record_id, name, host = doc.get("id"), doc.get("name"), doc.get("host")
    replaces, record, started = doc.get("replaces"), doc.get("record", {}), doc.get("started")
    link_from = doc.get("link_from")
    try:
        state = MarkerState(doc.get("state"))
    except ValueError:
        return None
    if (version != MARKER_VERSION or pid is None or not isinstance(host, str)
            or not isinstance(record_id, str) or not ID_RE.match(record_id)
            or not isinstance(name, str) or not isinstance(record, dict)
            or (replaces is not None and not (isinstance(replaces, str) and ID_RE.match(replaces)))
            or (started is not None and integer(started) is None)
            or (link_from is not None and not (isinstance(link_from, str) and os.path.isabs(link_from)))):
        return None
    return Marker(id=record_id, name=name, state=state, pid=pid, host=host,
                  started=integer(started), replaces=replaces, record=record, link_from=link_from)
