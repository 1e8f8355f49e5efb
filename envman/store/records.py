"""The registry's value: every registered environment by name, records parsed lazily.

`Registry` never changes: each change makes a new one, which `envman.store.registry`
saves under the lock. Read from a snapshot, its records are `LazyRecords`, each parsed
from its snapshot line only when asked for, and saving reuses the line and TOML text of
every record the change did not touch.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

from envman.errors import RegistryError
from envman.models import EnvRecord

SCHEMA_VERSION = 1


class LazyRecords(Mapping[str, EnvRecord]):
    """Name -> record, each parsed from its snapshot line only when it is asked for.

    `lines` holds the snapshot line of every record unchanged since the snapshot was
    read; `made` the records parsed so far and those added since. A name is in one or
    both; only in `made` means changed.
    """

    def __init__(self, lines: Dict[str, str], made: Dict[str, EnvRecord], where: str,
                 fallback: Callable[[], Mapping[str, EnvRecord]], source: List[int]) -> None:
        self.source = source  # the identity of the registry file the lines were read for
        self._lines = lines
        self._made = made
        self._where = where
        self._fallback = fallback  # the records parsed from the TOML, if a line is damaged

    def __getitem__(self, name: str) -> EnvRecord:
        record = self._made.get(name)
        if record is None:
            line = self._lines[name]
            try:
                record = EnvRecord.from_dict(name, json.loads(line.split("\t", 1)[0]), self._where)
            except (ValueError, TypeError, AttributeError, RecursionError, RegistryError):
                record = self._fallback()[name]  # a damaged cache costs only the TOML parse
                del self._lines[name]  # and a save writes this record's line afresh
            self._made[name] = record  # a cache: the mapping itself never changes
        return record

    def __iter__(self) -> Iterator[str]:
        yield from self._lines
        yield from (name for name in self._made if name not in self._lines)

    def __len__(self) -> int:
        return len(self._lines) + sum(1 for name in self._made if name not in self._lines)

    def __contains__(self, name: object) -> bool:
        return name in self._lines or name in self._made

    def line(self, name: str) -> Optional[str]:
        """The snapshot line of `name` if its record is unchanged since the snapshot."""
        return self._lines.get(name)

    def replaced(self, remove: Optional[str], add: Optional[EnvRecord]) -> "LazyRecords":
        gone = {remove, add.name if add is not None else None}
        lines = {k: v for k, v in self._lines.items() if k not in gone} if gone & self._lines.keys() \
            else self._lines
        made = {k: v for k, v in self._made.items() if k not in gone}
        if add is not None:
            made[add.name] = add
        return LazyRecords(lines, made, self._where, self._fallback, self.source)


@dataclass(frozen=True)
class Registry:
    """Every registered environment, keyed by name."""

    envs: Mapping[str, EnvRecord] = field(default_factory=dict)

    def __iter__(self) -> Iterator[EnvRecord]:
        return iter([self.envs[name] for name in self.names()])

    def __len__(self) -> int:
        return len(self.envs)

    def names(self) -> List[str]:
        """Every name, in the order listings use (ignoring case)."""
        return sorted(self.envs, key=str.lower)

    def find(self, name: str) -> Optional[EnvRecord]:
        """The record whose name equals `name` ignoring case."""
        record = self.envs.get(name)
        if record is not None:
            return record
        key = self._folded.get(name.lower())
        return None if key is None else self.envs[key]

    @functools.cached_property
    def _folded(self) -> Dict[str, str]:
        """Lower-cased name -> name, made once per registry (which never changes)."""
        return {name.lower(): name for name in self.envs}

    def with_record(self, record: EnvRecord) -> "Registry":
        existing = self.find(record.name)
        if isinstance(self.envs, LazyRecords):
            return Registry(self.envs.replaced(existing.name if existing else None, record))
        envs = dict(self.envs)
        if existing is not None:
            del envs[existing.name]
        envs[record.name] = record
        return Registry(envs)

    def without(self, name: str) -> "Registry":
        if isinstance(self.envs, LazyRecords):
            return Registry(self.envs.replaced(name, None))
        return Registry({k: v for k, v in self.envs.items() if k != name})

    def to_document(self) -> Dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "envs": {r.name: r.to_dict() for r in self},
        }

    def rendered(self, toml: bool = True) -> List[Tuple[str, str, str]]:
        """(name, snapshot line, TOML text) of every record, in order: the unchanged ones
        as they were read, only the others serialised. Without `toml` (a snapshot made
        by a reader, which must not need tomli_w) a new line carries no TOML text, and
        the next save makes it."""
        lazy = self.envs if isinstance(self.envs, LazyRecords) else None
        out = []
        for name in self.names():
            line = lazy.line(name) if lazy is not None else None
            if line is not None:
                _, text = line.split("\t", 1)
                if text or not toml:
                    out.append((name, line, text.replace(NL, "\n")))
                    continue
            data = self.envs[name].to_dict()
            text = toml_text(name, data) if toml else ""
            line = json.dumps(data, default=iso, ensure_ascii=False) + "\t" + text.replace("\n", NL)
            out.append((name, line, text))
        return out

# In a snapshot line a record's TOML text keeps its line breaks as this character:
# tomli_w escapes every control character but the tab inside strings, so the text has
# none of its own. (JSON escapes tabs: the first tab of a line ends the record's JSON.)
NL = "\x1f"


def toml_text(name: str, data: Dict[str, Any]) -> str:
    import tomli_w

    return str(tomli_w.dumps({"envs": {name: data}}))


def iso(value: Any) -> str:
    return str(value.isoformat())
