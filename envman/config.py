"""User configuration: `$ENVMAN_CONFIG`, else `<user config dir>/envman/config.toml`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from envman.ages import parse_age
from envman.errors import UsageError
from envman.fsutil import tomllib

DEFAULT_STALE_AFTER = "90d"
KEYS = {"default_python", "stale_after", "use_uv", "uv"}


@dataclass(frozen=True)
class Config:
    default_python: Optional[str] = None
    stale_after: timedelta = parse_age(DEFAULT_STALE_AFTER)
    use_uv: bool = True  # use uv when it is there (ENVMAN_NO_UV=1 also turns it off)
    uv: Optional[str] = None  # a uv that is not on PATH


def config_path(environ: Optional[Mapping[str, str]] = None) -> Path:
    env = os.environ if environ is None else environ
    explicit = env.get("ENVMAN_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return platformdirs.user_config_path("envman") / "config.toml"


def load_config(path: Path) -> Config:
    """Read the config file; a missing one means defaults, a broken one is an error."""
    from envman.inputs import read_small_file

    reader = tomllib()
    raw = read_small_file(path, "the config file")
    if raw is None:
        return Config()
    try:
        doc: Dict[str, Any] = reader.loads(raw.decode("utf-8"))
    except (reader.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        detail = "it is nested too deeply" if isinstance(exc, RecursionError) else exc
        raise UsageError(f"{path}: cannot parse the config file: {detail}") from None

    unknown = sorted(set(doc) - KEYS)
    if unknown:
        raise UsageError(
            f"{path}: unknown config key {unknown[0]!r}",
            hint=f"known keys: {', '.join(sorted(KEYS))}",
        )
    default_python = doc.get("default_python")
    if default_python is not None and not (isinstance(default_python, str) and default_python):
        raise UsageError(f"{path}: 'default_python' must be a non-empty string such as \"3.12\"")
    stale_after = doc.get("stale_after", DEFAULT_STALE_AFTER)
    if not isinstance(stale_after, str):
        raise UsageError(f"{path}: 'stale_after' must be an age such as \"90d\"")
    try:
        age = parse_age(stale_after)
    except UsageError as exc:
        raise UsageError(f"{path}: 'stale_after': {exc.message}", hint=exc.hint) from None
    use_uv = doc.get("use_uv", True)
    if not isinstance(use_uv, bool):
        raise UsageError(f"{path}: 'use_uv' must be true or false")
    uv = doc.get("uv")
    if uv is not None and not (isinstance(uv, str) and uv):
        raise UsageError(f"{path}: 'uv' must be the path of a uv executable, such as \"~/bin/uv\"")
    return Config(default_python=default_python, stale_after=age, use_uv=use_uv, uv=uv)
