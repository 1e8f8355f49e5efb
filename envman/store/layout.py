"""The data root: where environments, the registry, the stamps and the cache live.

What a directory in the store is, and whether envman may touch it, is
`envman.store.lifecycle`'s question; the marker that proves ownership is `envman.store.markers`'.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Mapping, Optional

from envman.errors import UsageError
from envman.models import EnvRecord

@dataclass(frozen=True)
class Store:
    """One data root and the paths derived from it."""

    root: Path
    cache: Path

    @classmethod
    def from_environment(cls, environ: Optional[Mapping[str, str]] = None) -> "Store":
        """`$ENVMAN_HOME` if set, else the platform's user data directory."""
        env = os.environ if environ is None else environ
        home = env.get("ENVMAN_HOME")
        if home:
            root = _real(_utf8(Path(home).expanduser(), "$ENVMAN_HOME"))
            return cls(root=root, cache=root / "cache")
        import platformdirs

        return cls(
            root=_real(_utf8(platformdirs.user_data_path("envman"), "the data root")),
            cache=_utf8(platformdirs.user_cache_path("envman"), "the cache directory"),
        )

    @property
    def registry_path(self) -> Path:
        return self.root / "registry.toml"

    @property
    def lock_path(self) -> Path:
        return self.root / "registry.toml.lock"

    @property
    def envs_dir(self) -> Path:
        return self.root / "envs"

    @property
    def used_dir(self) -> Path:
        return self.root / "used"

    @cached_property
    def _used_dir_text(self) -> str:  # `ls` joins it a thousand times: skip pathlib there
        return str(self.used_dir)

    def env_path(self, name: str) -> Path:
        return self.envs_dir / name

    def used_stamp(self, record_id: str) -> Path:
        return self.used_dir / record_id

    # -- time of use ---------------------------------------------------------------

    def touch_used(self, record: EnvRecord) -> None:
        """Record a use by touching a per-environment stamp: no registry rewrite, no lock.

        Best effort: on a read-only or full data root the environment is still used,
        only its age in `ls` is not refreshed.
        """
        stamp = self.used_stamp(record.id)
        try:
            try:
                stamp.touch()
            except FileNotFoundError:
                stamp.parent.mkdir(parents=True, exist_ok=True)
                stamp.touch()
        except OSError:
            pass

    def last_used(self, record: EnvRecord) -> datetime:
        """The later of the recorded time of use and the stamp `touch_used` leaves."""
        try:
            stamp = int(os.stat(os.path.join(self._used_dir_text, record.id)).st_mtime)
        except OSError:
            return record.last_used
        if stamp <= record.last_used.timestamp():
            return record.last_used
        return datetime.fromtimestamp(stamp, timezone.utc)

    def check_carryable(self, path: Path) -> None:
        """Refuse a path that no shell can put in a variable or on PATH."""
        text = str(path)
        if os.pathsep in text or any(ord(c) < 32 for c in text):
            raise UsageError(
                f"the environment path {text!r} holds a newline, a control character or "
                f"{os.pathsep!r}, which no shell can carry on PATH",
                hint="set ENVMAN_HOME to a directory whose path has none of them",
            )


def _utf8(path: Path, what: str) -> Path:
    """`path` if it is UTF-8 text: every record holds paths below it, in UTF-8 TOML."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} {os.fsencode(path)!r} is not valid UTF-8",
                         hint="envman keeps its paths in UTF-8 files: set ENVMAN_HOME to a UTF-8 path") from None
    return path


def _real(path: Path) -> Path:
    """The data root as the file system knows it, resolved once: records keep this
    spelling, so the same root reached through a link later is still the same store."""
    return Path(os.path.realpath(path))


# Where a venv keeps its executables, and its interpreter's name there.
SCRIPTS = "Scripts" if os.name == "nt" else "bin"
PYTHON = "python.exe" if os.name == "nt" else "python"


def scripts_dir(env_dir: Path) -> Path:
    return env_dir / SCRIPTS


def env_python(env_dir: Path) -> Path:
    return env_dir / SCRIPTS / PYTHON
