"""What is installed in an environment, read from its metadata files: `*.dist-info`
directories, `*.egg-info` directories and files, and the `*.egg-link` files of legacy
editable installs.

Reading files, not running the environment's interpreter: the point is to rebuild an
environment whose base Python is gone, where that interpreter cannot start, and to
answer `find` over a thousand environments in the time `ls` takes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Set, Tuple, Union

from packaging.utils import canonicalize_name

from envman.fsutil import CACHE_MAX, SMALL_MAX, read_regular
from envman.python.base import read_pyvenv_cfg

# The headers of METADATA come first and are short; the body (a README) may be long.
_HEAD_MAX = 256 * 1024


@dataclass(frozen=True)
class Distribution:
    name: str  # the `Name:` of its metadata, as written
    version: str  # the `Version:`, as written
    direct_url: Optional[Dict[str, object]] = None  # a valid PEP 610 `direct_url.json`, if any
    info: str = ""  # its `.dist-info` or `.egg-info` (directory or file)
    egg_link: Optional[str] = None  # the `.egg-link` file it was found through (a legacy editable)

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)  # PEP 503: `Foo_Bar` and `foo-bar` are one

    @property
    def editable(self) -> Optional[str]:
        """The project directory of an editable install, as pip decides it: PEP 610's
        `dir_info.editable`, else (no `direct_url.json`) an `.egg-link` it came through."""
        if self.direct_url is not None:
            dir_info = self.direct_url.get("dir_info")
            if isinstance(dir_info, dict) and dir_info.get("editable") is True:
                return url_to_path(str(self.direct_url["url"]))
            return None
        return os.path.dirname(self.info) if self.egg_link else None

    def install_args(self) -> List[str]:
        """How to ask pip for exactly this distribution again."""
        editable = self.editable
        if editable is not None:
            return ["-e", editable]
        url = self.direct_url.get("url") if self.direct_url else None
        if not isinstance(url, str) or not self.direct_url:
            return [f"{self.name}=={self.version}"]
        vcs = self.direct_url.get("vcs_info")
        if isinstance(vcs, dict) and isinstance(vcs.get("vcs"), str):
            commit = vcs.get("commit_id")
            return [f"{self.name} @ {vcs['vcs']}+{url}" + (f"@{commit}" if isinstance(commit, str) else "")]
        return [f"{self.name} @ {url}"]


def url_to_path(url: str) -> str:
    """The local path of a `file:` URL (`file:///a%20b` and `file://localhost/a` alike)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    netloc = "" if parts.netloc in ("", "localhost") else "//" + parts.netloc
    return unquote(netloc + parts.path)


def site_packages(env_dir: Path) -> List[Path]:
    """The environment's own site-packages directories (POSIX and Windows layouts; a
    conda environment's are the POSIX one too)."""
    return [Path(p) for p in _site_dirs(str(env_dir))]


def _site_dirs(env_dir: str, python: Optional[str] = None) -> List[str]:
    # Strings, not Paths: `find` runs this for a thousand environments.
    if python is not None:  # the version the registry knows: its directory, without a listing
        site = os.path.join(env_dir, "lib", "python" + ".".join(python.split(".")[:2]), "site-packages")
        if os.path.isdir(site):
            return [site]
    found: List[str] = []
    lib = os.path.join(env_dir, "lib")
    try:
        names = sorted(os.listdir(lib))
    except OSError:
        names = []
    for name in names:
        if name.startswith(("python", "pypy")):
            site = os.path.join(lib, name, "site-packages")
            if os.path.isdir(site):
                found.append(site)
    if not found:  # Windows' layout (on a case-insensitive disk `lib` is `Lib`: found above)
        windows = os.path.join(env_dir, "Lib", "site-packages")
        if os.path.isdir(windows):
            found.append(windows)
    return found


def installed(env_dir: Path, name: Optional[str] = None, *, legacy: bool = True,
              python: Optional[str] = None, everywhere: bool = False) -> List[Distribution]:
    """The distributions pip would see in the environment, in the order it finds them,
    the first of each name only (as pip keeps it). With `name`, only those of that
    PEP 503 name: each site-packages is listed once and only the metadata of entries
    whose file name starts with that name is read. `legacy` adds `*.egg-info` and the
    targets of `*.egg-link` files to the `*.dist-info` directories. `python` (a version,
    "3.12.1") names the site-packages to look in first, saving a listing. `everywhere`:
    every directory of `search_path`, as `pip freeze` run in the environment sees them,
    not only the environment's site-packages."""
    wanted = canonicalize_name(name) if name is not None else None
    seen: Set[str] = set()
    found: List[Distribution] = []
    # Most of a site-packages' entries fail on their first character: one comprehension
    # drops them before any other test (a thousand environments, fifty entries each).
    heads = set() if wanted is None else {"_", ".", "-"} if wanted[0] == "-" else {wanted[0], wanted[0].upper()}
    for site in search_path(env_dir) if everywhere else _site_dirs(str(env_dir), python):
        try:
            entries = os.listdir(site)
        except OSError:
            continue
        if heads:
            entries = [e for e in entries if e[:1] in heads]
        entries.sort()
        links = [e for e in entries if e.endswith(".egg-link") and _named(e[:-9], wanted)] if legacy else []
        for dist in _in_directory(site, entries, wanted, legacy):
            _keep(found, seen, dist)
        for link in links:  # after the directory's own, as pip reads them
            target = _egg_link_target(os.path.join(site, link))
            if target is None:
                continue
            try:
                linked = sorted(os.listdir(target))
            except OSError:
                continue
            for dist in _in_directory(target, linked, wanted, True):
                _keep(found, seen, Distribution(dist.name, dist.version, dist.direct_url, dist.info,
                                                os.path.join(site, link)))
    return found


def search_path(env_dir: Path) -> List[str]:
    """The directories of the environment's `sys.path` that hold distributions, in its
    order, as `site` makes it: with `include-system-site-packages = true`, the user's
    site-packages (if it exists), the environment's, then its base's (`home`'s prefix,
    `lib/pythonX.Y/site-packages`); without, the environment's alone. Each is followed by
    the directories its `.pth` files add (their path lines, not their `import` lines)."""
    env = str(env_dir)
    own = _site_dirs(env)
    cfg = read_pyvenv_cfg(env) or {}
    sites = list(own)
    if cfg.get("include-system-site-packages", "").lower() == "true" and own:
        lib = os.path.basename(os.path.dirname(own[0]))  # `python3.12`
        base = os.path.join(os.path.dirname(cfg.get("home", "").rstrip("/\\")), "lib", lib, "site-packages")
        user_base = os.environ.get("PYTHONUSERBASE") or os.path.join(os.path.expanduser("~"), ".local")
        user = os.path.join(user_base, "lib", lib, "site-packages")
        sites = ([user] if os.path.isdir(user) and not os.environ.get("PYTHONNOUSERSITE") else []) + sites + (
            [base] if cfg.get("home") and os.path.isdir(base) else [])
    path: List[str] = []
    for site in sites:
        if site not in path:
            path.append(site)
        path += [d for d in _pth_dirs(site) if d not in path]
    return path


def _pth_dirs(site: str) -> List[str]:
    """The directories `site.addsitedir` appends for the `.pth` files of `site`."""
    try:
        names = sorted(n for n in os.listdir(site) if n.endswith(".pth") and not n.startswith("."))
    except OSError:
        return []
    found: List[str] = []
    for name in names:
        try:
            text = read_regular(os.path.join(site, name), SMALL_MAX, follow=True).decode("utf-8", "replace")
        except OSError:
            continue
        for line in text.splitlines():
            if not line.strip() or line.startswith("#") or line.startswith(("import ", "import\t")):
                continue
            directory = os.path.normcase(os.path.abspath(os.path.join(site, line.rstrip())))
            if os.path.exists(directory) and directory not in found:
                found.append(directory)
    return found


def distributions(env_dir: Path) -> List[Distribution]:
    """Every distribution of the environment's `*.dist-info` directories, by name: what
    `recreate` and `mv` can ask pip for again (unreadable ones skipped)."""
    return sorted(installed(env_dir, legacy=False), key=lambda d: d.key)


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


def python_version(env_dir: Path) -> Optional[str]:
    """The environment's Python version without starting it: `version` (venv) or
    `version_info` (virtualenv, uv) in `pyvenv.cfg`, a conda environment's `python`
    package, else the `X.Y` of its `lib/pythonX.Y`; None when nothing says."""
    cfg = read_pyvenv_cfg(str(env_dir)) or {}
    for key in ("version", "version_info"):
        m = re.match(r"(\d+\.\d+(?:\.\d+)?)", cfg.get(key, ""))
        if m:
            return m.group(1)
    try:
        conda = os.listdir(env_dir / "conda-meta")
    except OSError:
        conda = []
    for entry in conda:
        m = re.fullmatch(r"python-(\d+\.\d+\.\d+)-.*\.json", entry)
        if m:
            return m.group(1)
    for site in site_packages(env_dir):
        m = re.fullmatch(r"(?:python|pypy)(\d+\.\d+)", site.parent.name)
        if m:
            return m.group(1)
    return None


def metadata_name(entry: str) -> Optional[str]:
    """The PEP 503 name a metadata entry's file name gives (`Foo_Bar-1.0.dist-info`,
    `foo_bar-1.0-py3.11.egg-info`, `foo.egg-info`: `foo-bar`, `foo-bar`, `foo`), the
    name pip files it under; None for any other entry."""
    if entry.endswith(".dist-info"):
        return canonicalize_name(entry[:-10].partition("-")[0])
    if entry.endswith(".egg-info"):
        return canonicalize_name(entry[:-9].split("-", 1)[0])
    return None


def _named(stem: str, wanted: Optional[str]) -> bool:
    return wanted is None or canonicalize_name(stem) == wanted


def _keep(found: List[Distribution], seen: Set[str], dist: Distribution) -> None:
    key = metadata_name(os.path.basename(dist.info)) or dist.key
    if key not in seen:
        seen.add(key)
        found.append(dist)


def _in_directory(directory: str, entries: Iterable[str], wanted: Optional[str],
                  legacy: bool) -> List[Distribution]:
    found = []
    for entry in entries:
        if not (entry.endswith(".dist-info") or legacy and entry.endswith(".egg-info")):
            continue
        if wanted is not None and metadata_name(entry) != wanted:
            continue  # read only the metadata asked for
        dist = _read(os.path.join(directory, entry))
        if dist is not None:
            found.append(dist)
    return found


def _egg_link_target(link: str) -> Optional[str]:
    """The directory an `.egg-link` names: its first non-empty line, relative to its own."""
    try:
        text = read_regular(link, SMALL_MAX, follow=True).decode("utf-8", "replace")
    except OSError:
        return None
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return os.path.join(os.path.dirname(link), first) if first else None


def _read(info_path: Union[str, "os.PathLike[str]"]) -> Optional[Distribution]:
    """The distribution of a `.dist-info` directory (METADATA), an `.egg-info` directory
    (PKG-INFO) or an `.egg-info` file (itself the PKG-INFO, as distutils wrote it)."""
    info = os.fspath(info_path)
    base = os.path.basename(info)
    fields: Dict[str, str] = {}
    try:
        if base.endswith(".dist-info"):
            metadata = os.path.join(info, "METADATA")
        else:
            metadata = os.path.join(info, "PKG-INFO") if os.path.isdir(info) else info
        data = read_regular(metadata, _HEAD_MAX, follow=True, prefix=True)
        text = data.partition(b"\n\n")[0].decode("utf-8", "replace")  # the headers alone, not the body
        for line in text.splitlines():
            if not line.strip():
                break  # the headers end at the first blank line; the body may be long
            key, sep, value = line.partition(":")
            if sep and key in ("Name", "Version") and key not in fields:
                fields[key] = value.strip()
    except OSError:
        return None
    if not fields.get("Version") and base.endswith(".egg-info"):
        parts = base[:-9].split("-")  # `name-1.0-py3.8.egg-info` carries its version
        if len(parts) > 1:
            fields["Version"] = parts[1]
    if not fields.get("Name") or not fields.get("Version"):
        return None
    direct_url = None
    if base.endswith(".dist-info"):
        import json

        try:
            loaded = json.loads(read_regular(os.path.join(info, "direct_url.json"), CACHE_MAX, follow=True))
            if isinstance(loaded, dict) and valid_direct_url(loaded):
                direct_url = loaded
        except (OSError, ValueError, RecursionError):
            pass
    return Distribution(fields["Name"], fields["Version"], direct_url, info)


def valid_direct_url(data: Mapping[str, object]) -> bool:
    """Whether a `direct_url.json` is one pip accepts (PEP 610): a `url` and exactly one
    of `vcs_info` (with `vcs` and `commit_id`), `archive_info`, `dir_info` (a `file:` URL
    with an absolute path). pip ignores one it rejects, and so do we."""
    url = data.get("url")
    kinds: List[Tuple[str, Mapping[str, object]]] = [
        (k, v) for k, v in data.items() if k in ("vcs_info", "archive_info", "dir_info") and isinstance(v, dict)]
    if not isinstance(url, str) or len(kinds) != 1 or any(
            data.get(k) is not None and not isinstance(data.get(k), dict)
            for k in ("vcs_info", "archive_info", "dir_info")):
        return False
    if data.get("subdirectory") is not None and not isinstance(data.get("subdirectory"), str):
        return False
    kind, info = kinds[0]
    if kind == "vcs_info":
        return isinstance(info.get("vcs"), str) and isinstance(info.get("commit_id"), str)
    if kind == "dir_info":
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        editable = info.get("editable")
        return parts.scheme == "file" and parts.path.startswith("/") and (
            editable is None or isinstance(editable, bool))
    hashes, legacy = info.get("hashes"), info.get("hash")
    if hashes is not None and not (isinstance(hashes, dict) and all(isinstance(h, str) for h in hashes.values())):
        return False
    return legacy is None or isinstance(legacy, str) and "=" in legacy
