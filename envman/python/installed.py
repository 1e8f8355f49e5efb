"""What is installed in an environment, read from its `*.dist-info` directories.

Reading files, not running the environment's interpreter: the point is to rebuild an
environment whose base Python is gone, where that interpreter cannot start.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import unquote, urlparse

from packaging.utils import canonicalize_name

from envman.fsutil import CACHE_MAX, read_regular


@dataclass(frozen=True)
class Distribution:
    name: str
    version: str
    direct_url: Optional[Dict[str, object]] = None  # PEP 610 `direct_url.json`, if any

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)  # PEP 503: `Foo_Bar` and `foo-bar` are one

    def install_args(self) -> List[str]:
        """How to ask pip for exactly this distribution again."""
        url = self.direct_url.get("url") if self.direct_url else None
        if not isinstance(url, str) or not self.direct_url:
            return [f"{self.name}=={self.version}"]
        dir_info = self.direct_url.get("dir_info")
        if isinstance(dir_info, dict) and dir_info.get("editable") and url.startswith("file:"):
            return ["-e", unquote(urlparse(url).path)]
        vcs = self.direct_url.get("vcs_info")
        if isinstance(vcs, dict) and isinstance(vcs.get("vcs"), str):
            commit = vcs.get("commit_id")
            return [f"{self.name} @ {vcs['vcs']}+{url}" + (f"@{commit}" if isinstance(commit, str) else "")]
        return [f"{self.name} @ {url}"]


def site_packages(env_dir: Path) -> List[Path]:
    """The environment's own site-packages directories (POSIX and Windows layouts)."""
    found: Dict[str, Path] = {}
    for pattern in ("lib/python*/site-packages", "lib/pypy*/site-packages", "Lib/site-packages"):
        for path in sorted(env_dir.glob(pattern)):
            if path.is_dir():
                found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def distributions(env_dir: Path) -> List[Distribution]:
    """Every distribution installed in the environment, by name; unreadable ones skipped."""
    found: Dict[str, Distribution] = {}
    for site in site_packages(env_dir):
        try:
            entries = sorted(site.iterdir())
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith(".dist-info"):
                continue
            dist = _read(entry)
            if dist is not None:
                found.setdefault(dist.key, dist)
    return sorted(found.values(), key=lambda d: d.key)


def unowned(env_dir: Path) -> List[str]:
    """What the environment's site-packages holds that no distribution's `RECORD` lists
    (a module copied in by hand, an egg-info install, a `.pth` of someone's making):
    a rebuild from `distributions` would not carry it over."""
    found: List[str] = []
    for site in site_packages(env_dir):
        owned = {"__pycache__"}
        try:
            entries = sorted(site.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".dist-info"):
                owned.add(entry.name)
                try:
                    text = read_regular(entry / "RECORD", CACHE_MAX, follow=True).decode("utf-8", "replace")
                    for line in text.splitlines():
                        first = line.split(",", 1)[0].replace("\\", "/").split("/", 1)[0]
                        if first and first != "..":
                            owned.add(first)
                except OSError:
                    pass
        found += [entry.name for entry in entries if entry.name not in owned]
    return found


def _read(dist_info: Path) -> Optional[Distribution]:
    fields: Dict[str, str] = {}
    try:
        text = read_regular(dist_info / "METADATA", CACHE_MAX, follow=True).decode("utf-8", "replace")
        for line in text.splitlines():
            if not line.strip():
                break  # the headers end at the first blank line; the body may be long
            key, sep, value = line.partition(":")
            if sep and key in ("Name", "Version") and key not in fields:
                fields[key] = value.strip()
    except OSError:
        return None
    if not fields.get("Name") or not fields.get("Version"):
        return None
    direct_url = None
    try:
        loaded = json.loads(read_regular(dist_info / "direct_url.json", CACHE_MAX, follow=True))
        if isinstance(loaded, dict):
            direct_url = loaded
    except (OSError, ValueError, RecursionError):
        pass
    return Distribution(fields["Name"], fields["Version"], direct_url)
