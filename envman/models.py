"""Plain data: an environment record and the names envman accepts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional, Tuple

from envman.errors import RegistryError, UnreadableRegistry, UsageError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
NAME_MAX = 64
_NOT_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")
# Record ids are what `uuid4().hex` gives; they name stamp files, so nothing else is taken.
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


def check_name(name: str) -> str:
    """Return `name` if envman accepts it as an environment name, else raise UsageError."""
    if not name:
        raise UsageError("environment name is empty")
    if len(name) > NAME_MAX:
        raise UsageError(f"environment name is longer than {NAME_MAX} characters: {name!r}")
    if not NAME_RE.match(name):
        raise UsageError(
            f"invalid environment name {name!r}",
            hint="names start with a letter or digit and use only letters, digits, '.', '_' and '-'",
        )
    return name


def is_valid_name(name: str) -> bool:
    return len(name) <= NAME_MAX and NAME_RE.match(name) is not None


def name_from_directory(basename: str) -> str:
    """The default name for a project: its base name with foreign characters turned to '-'."""
    name = _NOT_NAME_CHARS.sub("-", basename).lstrip("._-")
    return check_name(name[:NAME_MAX])


@dataclass(frozen=True)
class Requirement:
    """A requirement file as recorded: relative to the project when inside it.

    `size` and `mtime_ns` are the file's when it was hashed: while they still match,
    `ls` knows the file is unchanged without reading it (None: unknown, hash it).
    """

    path: str
    sha256: str
    size: Optional[int] = None
    mtime_ns: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"path": self.path, "sha256": self.sha256, "size": self.size,
                                "mtime_ns": self.mtime_ns}
        return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class ProjectIdentity:
    """What tells a project directory from another one that reuses its inode number.

    Recorded when the environment is made (and whenever envman points it at a
    directory); `envman.projects.identity` computes and compares it. Stored as strings in TOML:
    device and inode numbers are unsigned 64-bit, which TOML integers are not.
    """

    device: int
    inode: int
    birth_ns: Optional[int] = None  # the directory's creation time, where the file system keeps it
    entries: Tuple[str, ...] = ()  # "INODE:MTIME_NS:HASH" of a few top-level files (HASH: of the name)

    def to_dict(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"device": str(self.device), "inode": str(self.inode)}
        if self.birth_ns is not None:
            data["birth_ns"] = str(self.birth_ns)
        data["entries"] = list(self.entries)
        return data

    @classmethod
    def from_dict(cls, data: object) -> Optional["ProjectIdentity"]:
        """None for anything malformed: an identity only helps find a moved project, so
        a damaged one costs that help, never the registry."""
        if not isinstance(data, dict):
            return None
        device, inode, birth = data.get("device"), data.get("inode"), data.get("birth_ns")
        entries = data.get("entries", [])
        if not (isinstance(device, str) and device.isdigit() and isinstance(inode, str)
                and inode.isdigit() and (birth is None or (isinstance(birth, str) and birth.isdigit()))
                and isinstance(entries, list) and all(isinstance(e, str) for e in entries)):
            return None
        return cls(int(device), int(inode), int(birth) if birth is not None else None, tuple(entries))


@dataclass(frozen=True)
class EnvRecord:
    """What the registry knows about one environment."""

    name: str
    id: str
    path: str
    project: str
    python: str
    python_executable: str
    created: datetime
    last_used: datetime
    requirements: Tuple[Requirement, ...] = ()
    system_site_packages: bool = False
    copies: bool = False
    without_pip: bool = False
    prompt: Optional[str] = None
    adopted: bool = False
    recreated: Optional[datetime] = None  # the last `envman recreate`; `created` is kept
    project_identity: Optional[ProjectIdentity] = None  # to follow the project when it moves

    def with_changes(self, **changes: Any) -> "EnvRecord":
        return replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        """The record as stored in the registry (TOML-ready; `name` is the table key)."""
        # Field by field, not `asdict`: its deep copies cost most of a save of a large registry.
        data: Dict[str, Any] = {
            "id": self.id, "path": self.path, "project": self.project, "python": self.python,
            "python_executable": self.python_executable, "created": self.created,
            "last_used": self.last_used, "requirements": [r.to_dict() for r in self.requirements],
            "system_site_packages": self.system_site_packages, "copies": self.copies,
            "without_pip": self.without_pip, "prompt": self.prompt, "adopted": self.adopted,
            "recreated": self.recreated,
        }
        for optional in ("prompt", "recreated"):
            if data[optional] is None:
                del data[optional]
        if self.project_identity is not None:
            data["project_identity"] = self.project_identity.to_dict()
        return data

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any], where: str) -> "EnvRecord":
        """Build a record from stored data, naming `where` (the file) in any complaint."""

        def bad(what: str) -> RegistryError:
            return UnreadableRegistry(f"{where}: environment {name!r}: {what}")

        def text(key: str) -> str:
            value = data.get(key)
            if not isinstance(value, str):
                raise bad(f"'{key}' must be a string")
            if "\0" in value:
                raise bad(f"'{key}' contains a NUL character")
            return value

        def moment(key: str) -> datetime:
            value = data.get(key)
            if isinstance(value, str):
                try:
                    value = datetime.fromisoformat(value)
                except ValueError:
                    raise bad(f"'{key}' is not an ISO 8601 time") from None
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise bad(f"'{key}' must be a time with an offset")
            return value

        def maybe_moment(key: str) -> Optional[datetime]:
            return None if data.get(key) is None else moment(key)

        def maybe_int(item: Mapping[str, Any], key: str) -> Optional[int]:
            value = item.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise bad(f"a requirement's '{key}' must be a whole number")
            return value

        def flag(key: str) -> bool:
            value = data.get(key, False)
            if not isinstance(value, bool):
                raise bad(f"'{key}' must be true or false")
            return value

        reqs: List[Requirement] = []
        raw_reqs = data.get("requirements", [])
        if not isinstance(raw_reqs, list):
            raise bad("'requirements' must be a list")
        for item in raw_reqs:
            if not (isinstance(item, dict) and isinstance(item.get("path"), str)
                    and isinstance(item.get("sha256"), str)):
                raise bad("each requirement needs a 'path' and a 'sha256' string")
            reqs.append(Requirement(item["path"], item["sha256"], maybe_int(item, "size"),
                                    maybe_int(item, "mtime_ns")))
        prompt = data.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise bad("'prompt' must be a string")
        if "\0" in name:
            raise bad("the name contains a NUL character")
        record_id = text("id")
        if not ID_RE.match(record_id):
            raise bad("'id' must be letters, digits, '-' or '_' (at most 64)")
        return cls(
            name=name,
            id=record_id,
            path=text("path"),
            project=text("project"),
            python=text("python"),
            python_executable=text("python_executable"),
            created=moment("created"),
            last_used=moment("last_used"),
            requirements=tuple(reqs),
            system_site_packages=flag("system_site_packages"),
            copies=flag("copies"),
            without_pip=flag("without_pip"),
            prompt=prompt,
            adopted=flag("adopted"),
            recreated=maybe_moment("recreated"),
            project_identity=ProjectIdentity.from_dict(data.get("project_identity")),
        )


# The stale reasons of SPEC.md: `ls` judges registered environments by them
# (`envman.ops.staleness`), `scan` every environment it finds.
PROJECT_MISSING = "project-missing"
PROJECT_UNREACHABLE = "project-unreachable"
ENV_MISSING = "env-missing"
PYTHON_MISSING = "python-missing"
UNUSED = "unused"


@dataclass(frozen=True)
class EnvState:
    """A record together with what is true on disk right now."""

    record: EnvRecord
    last_used: datetime
    reasons: Tuple[str, ...] = field(default=())
    # recorded requirement files whose content changed (or that vanished) since the build
    requirements_changed: Tuple[str, ...] = field(default=())
    moved_to: Optional[str] = None  # where a missing project was found (renamed or moved)
    size_bytes: Optional[int] = None  # disk use, when asked for (`ls --size`, `info`)

    @property
    def status(self) -> str:
        return "stale" if self.reasons else "ok"

    def to_json(self) -> Dict[str, Any]:
        """The JSON object of SPEC.md (ls, info and new)."""
        r = self.record
        return {
            "name": r.name,
            "path": r.path,
            "project": r.project,
            "python": r.python,
            "python_executable": r.python_executable,
            "created": r.created.isoformat(),
            "last_used": self.last_used.isoformat(),
            "status": self.status,
            "reasons": list(self.reasons),
            "requirements": [q.path for q in r.requirements],
            "system_site_packages": r.system_site_packages,
            "copies": r.copies,
            "without_pip": r.without_pip,
            "prompt": r.prompt,
            "adopted": r.adopted,
            "recreated": r.recreated.isoformat() if r.recreated else None,
            "requirements_changed": list(self.requirements_changed),
            "moved_to": self.moved_to,
            **({"size_bytes": self.size_bytes} if self.size_bytes is not None else {}),
        }
