"""The data root: where environments, the registry and the cache live, and safe deletion.

Every environment envman creates carries a marker file naming its record. Nothing is
ever deleted unless it is provably ours: inside the store, not a symbolic link (nor
reached through one), holding `pyvenv.cfg` and a marker naming the same record.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from envman.errors import EnvmanError, OperationFailed, UsageError
from envman.fsutil import tomllib, write_atomic
from envman.models import EnvRecord, is_valid_name

MARKER_NAME = ".envman-marker.toml"
MARKER_VERSION = 1
# Work directories start with '.', which no environment name can.
TRASH_PREFIX = ".trash-"
# `recreate` keeps the old environment here (`.backup-<name>-<hex>`) until the new one is complete.
BACKUP_PREFIX = ".backup-"


def creator_gone(marker: Mapping[str, object]) -> bool:
    """Whether the process that wrote a 'creating' marker is provably no longer running."""
    import socket  # only when a marker is judged: `ls` imports this module

    pid = marker.get("pid")
    if marker.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False  # cannot tell: assume it is still working
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class UnsafeToDelete(EnvmanError):
    """envman cannot prove it owns a directory, so it refuses to delete it (status 1)."""

    exit_code = 1


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
            root = Path(home).expanduser().absolute()
            return cls(root=root, cache=root / "cache")
        import platformdirs

        return cls(
            root=platformdirs.user_data_path("envman"),
            cache=platformdirs.user_cache_path("envman"),
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
        """Record a use by touching a per-environment stamp: no registry rewrite, no lock."""
        stamp = self.used_stamp(record.id)
        try:
            stamp.touch()
        except FileNotFoundError:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.touch()

    def last_used(self, record: EnvRecord) -> datetime:
        """The later of the recorded time of use and the stamp `touch_used` leaves."""
        try:
            stamp = int(os.stat(os.path.join(self._used_dir_text, record.id)).st_mtime)
        except OSError:
            return record.last_used
        if stamp <= record.last_used.timestamp():
            return record.last_used
        return datetime.fromtimestamp(stamp, timezone.utc)

    # -- markers -------------------------------------------------------------------

    def write_marker(self, env_dir: Path, record: EnvRecord, state: str,
                     replaces: Optional[str] = None) -> None:
        """Write the ownership marker; `state` is 'creating' until the environment is complete.

        `replaces` is the id of the record a `recreate` rebuilds: it proves which backup
        the new environment supersedes.
        """
        import socket

        import tomli_w

        doc: Dict[str, Any] = {
            "marker_version": MARKER_VERSION,
            "id": record.id,
            "name": record.name,
            "state": state,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "record": record.to_dict(),
        }
        if replaces is not None:
            doc["replaces"] = replaces
        header = b"# Written by envman: proves envman created this environment. Do not edit.\n"
        write_atomic(env_dir / MARKER_NAME, header + tomli_w.dumps(doc).encode())

    def read_marker(self, env_dir: Path) -> Optional[Dict[str, Any]]:
        """The marker's contents, or None when there is no readable, regular marker file."""
        reader = tomllib()
        path = env_dir / MARKER_NAME
        if path.is_symlink() or not path.is_file():
            return None
        try:
            with open(path, "rb") as handle:
                marker: Dict[str, Any] = reader.load(handle)
                return marker
        except (OSError, reader.TOMLDecodeError, UnicodeDecodeError):
            return None

    # -- deletion ------------------------------------------------------------------

    def check_owned(self, record: EnvRecord) -> Path:
        """Return the environment directory if envman provably created it, else raise."""
        path = Path(record.path)

        def refuse(why: str) -> UnsafeToDelete:
            return UnsafeToDelete(
                f"refusing to delete {record.path!r} for environment {record.name!r}: {why}",
                hint="nothing was deleted; `envman doctor` explains what is wrong",
            )

        if not is_valid_name(record.name):
            raise refuse("the record's name is not a valid environment name")
        if not path.is_absolute() or path != self.env_path(record.name):
            raise refuse("it is not the store's directory for that name")
        real_envs = os.path.realpath(self.envs_dir)
        if (os.path.islink(path) or os.path.islink(self.envs_dir)
                or os.path.realpath(path) != os.path.join(real_envs, record.name)):
            raise refuse("it is, or is reached through, a symbolic link")
        if not path.is_dir():
            raise refuse("it is not a directory")
        cfg = path / "pyvenv.cfg"
        if cfg.is_symlink() or not cfg.is_file():
            raise refuse("it holds no pyvenv.cfg")
        marker = self.read_marker(path)
        if marker is None:
            raise refuse(f"it holds no envman marker ({MARKER_NAME})")
        if marker.get("id") != record.id:
            if marker.get("state") == "creating" and marker.get("replaces") == record.id:
                if not creator_gone(marker):
                    raise UnsafeToDelete(
                        f"refusing to delete {record.path!r}: {record.name!r} is being rebuilt "
                        f"by a running envman (pid {marker.get('pid')})",
                        hint="nothing was deleted; wait for it to finish, then try again")
                raise refuse("it holds a rebuild that was killed before it was complete")
            raise refuse("its marker names another record")
        return path

    def remove_env_dir(self, env_dir: Path) -> None:
        """Delete a directory already proven ours: first renamed aside, then removed.

        The rename is atomic, so the name is free at once and an interrupted removal
        leaves only a `.trash-*` directory that a later run can finish deleting. The
        marker goes last: a `.trash-*` directory that still holds files still proves it
        is ours, so `doctor --fix` can finish it.
        """
        self.finish_removal(self.move_to_trash(env_dir))

    def move_to_trash(self, env_dir: Path) -> Path:
        """The first, atomic half of `remove_env_dir`: rename aside; returns the new path.

        Quick, so callers can do it under the registry lock, together with the ownership
        check and the record's removal, and leave the slow deletion for after.
        """
        import uuid

        trash = env_dir.parent / f"{TRASH_PREFIX}{env_dir.name}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(env_dir, trash)
        except OSError as exc:
            raise OperationFailed(f"cannot delete {env_dir}: {exc.strerror or exc}") from exc
        return trash

    def finish_removal(self, trash: Path) -> None:
        """The second half of `remove_env_dir`: delete what `move_to_trash` set aside."""
        try:
            if os.path.islink(trash):  # swapped for a link since it was proven ours
                raise OSError(f"{trash} is a symbolic link")
            with os.scandir(trash) as found:
                contents = [entry for entry in found if entry.name != MARKER_NAME]
            for entry in contents:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            try:
                os.unlink(trash / MARKER_NAME)
            except FileNotFoundError:
                pass
            os.rmdir(trash)
        except OSError as exc:
            raise OperationFailed(f"cannot delete {trash}: {exc.strerror or exc}") from exc

    def check_carryable(self, path: Path) -> None:
        """Refuse a path that no shell can put in a variable or on PATH."""
        text = str(path)
        if os.pathsep in text or any(ord(c) < 32 for c in text):
            raise UsageError(
                f"the environment path {text!r} holds a newline, a control character or "
                f"{os.pathsep!r}, which no shell can carry on PATH",
                hint="set ENVMAN_HOME to a directory whose path has none of them",
            )


# Where a venv keeps its executables, and its interpreter's name there.
SCRIPTS = "Scripts" if os.name == "nt" else "bin"
PYTHON = "python.exe" if os.name == "nt" else "python"


def scripts_dir(env_dir: Path) -> Path:
    return env_dir / SCRIPTS


def env_python(env_dir: Path) -> Path:
    return env_dir / SCRIPTS / PYTHON
