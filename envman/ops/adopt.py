"""`adopt`: register a virtual environment that envman did not create.

Nothing is written into the adopted directory (it is not ours), and `rm`/`prune` only
unregister it unless told explicitly to delete its files.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Optional

from envman.ages import now
from envman.errors import UsageError
from envman.models import EnvRecord, check_name, name_from_directory
from envman.ops.new import project_dir
from envman.python.base import read_pyvenv_cfg
from envman.store import registry
from envman.store.layout import PYTHON, SCRIPTS, Store
from envman.store.records import Registry


def adopt(store: Store, path: Path, name: Optional[str] = None,
          project: Optional[Path] = None, last_used: Optional[datetime] = None) -> EnvRecord:
    """Register the venv at `path` for `project` (default: the directory holding it).
    `last_used` (default: now) is when it was last used as far as anyone can tell: `scan
    --adopt` gives its last change, since registering an environment is no use of it."""
    env_dir = Path(os.path.realpath(os.path.expanduser(str(path))))
    if not env_dir.is_dir():
        raise UsageError(f"{str(path)!r} is not a directory")
    cfg = read_pyvenv_cfg(str(env_dir))
    if cfg is None:
        raise UsageError(f"{str(path)!r} is not a virtual environment (it holds no readable pyvenv.cfg)")
    store_envs = os.path.realpath(store.envs_dir)
    if str(env_dir) == store_envs or str(env_dir).startswith(store_envs + os.sep):
        raise UsageError(f"{env_dir} is inside envman's store already",
                         hint="`envman doctor --fix` re-registers environments envman made")
    store.check_carryable(env_dir)
    owner = project_dir(project if project is not None else env_dir.parent)
    chosen = check_name(name) if name is not None else name_from_directory(owner.name)
    moment = now()
    record = EnvRecord(
        name=chosen,
        id=uuid.uuid4().hex,
        path=str(env_dir),
        project=str(owner),
        python=_version(cfg),
        python_executable=_base_executable(env_dir, cfg),
        created=_created(env_dir) or moment,
        last_used=last_used or moment,
        system_site_packages=cfg.get("include-system-site-packages", "").lower() == "true",
        copies=not os.path.islink(env_dir / SCRIPTS / PYTHON),
        without_pip=not any((env_dir / SCRIPTS / n).exists() for n in ("pip", "pip.exe")),
        prompt=_prompt(cfg),
        adopted=True,
    )

    def register(current: Registry) -> Registry:
        taken = current.find(chosen)
        if taken is not None:
            raise UsageError(f"an environment named {taken.name!r} already exists",
                             hint="choose another with --name")
        same = next((r for r in current if os.path.realpath(r.path) == str(env_dir)), None)
        if same is not None:
            raise UsageError(f"{env_dir} is already registered as {same.name!r}")
        return current.with_record(record)

    registry.update(store, register)
    return record


def _version(cfg: Dict[str, str]) -> str:
    # venv writes `version = 3.12.1`; virtualenv writes `version_info = 3.12.1.final.0`
    if cfg.get("version"):
        return cfg["version"]
    return ".".join(cfg.get("version_info", "").split(".")[:3]) or "unknown"


def _base_executable(env_dir: Path, cfg: Dict[str, str]) -> str:
    if cfg.get("executable"):
        return cfg["executable"]
    link = env_dir / SCRIPTS / PYTHON
    if link.is_symlink():
        return os.path.realpath(link)
    return os.path.join(cfg.get("home", ""), PYTHON)


def _prompt(cfg: Dict[str, str]) -> Optional[str]:
    prompt = cfg.get("prompt")
    if prompt and len(prompt) >= 2 and prompt[0] == prompt[-1] and prompt[0] in "'\"":
        return prompt[1:-1]
    return prompt or None


def _created(env_dir: Path) -> Optional[datetime]:
    try:
        return datetime.fromtimestamp(int((env_dir / "pyvenv.cfg").stat().st_mtime), timezone.utc)
    except OSError:
        return None
