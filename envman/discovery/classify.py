"""What an environment found on disk is: the tool that made it, its project, its Python.

Each answer comes from files alone, cheapest first: where it lies (a tool's store,
`.tox/`, inside a project), the keys of its `pyvenv.cfg` (uv and virtualenv each write
their own), what the project beside it holds (`poetry.lock`, `.pdm-python`, `Pipfile`),
and what pointed at it during the walk. `pyvenv.cfg` is read only as far as its
first KiB: the keys are at the top, and a huge file must cost nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional

from envman.discovery.roots import Stores, store_of
from envman.discovery.walk import Candidate, Walk
from envman.fsutil import read_regular
from envman.python.base import base_python_present

CFG_MAX = 1024
_SMALL = 4096
IN_PROJECT = frozenset({".venv", "venv"})
_POETRY_NAME = re.compile(r"(.+)-([A-Za-z0-9_-]{8})-py\d+\.\d+\Z")
_PDM_NAME = re.compile(r"(.+)-([A-Za-z0-9_-]{8})-[^-]+\Z")
_HATCH_HASH = re.compile(r"[A-Za-z0-9_-]{8}\Z")
_PIPENV_NAME = re.compile(r".+-[A-Za-z0-9_-]{8}\Z")
_CONDA_PYTHON = re.compile(r"python-(\d+\.\d+(?:\.\d+)?)-[^-]+\.json\Z")


@dataclass(frozen=True)
class Identity:
    tool: str
    project: Optional[str]
    python: Optional[str]
    python_present: bool


class Classifier:
    """Answers for every candidate of one walk, sharing what is worked out once."""

    def __init__(self, walk: Walk, stores: Stores) -> None:
        self.walk = walk
        self.stores = stores
        self._hashed: Dict[str, Dict[str, str]] = {}
        self._pyenv_projects: Optional[Dict[str, str]] = None

    def identify(self, candidate: Candidate, registered_project: Optional[str] = None) -> Identity:
        path = candidate.path
        if candidate.kind == "conda":
            return Identity("conda", registered_project or self._pointed(path), _conda_python(path),
                            any(os.path.exists(os.path.join(path, *p)) for p in (("bin", "python"), ("python.exe",))))
        cfg = read_cfg(path)
        tool = self._tool(path, cfg)
        project = registered_project or self._project(path, tool)
        return Identity(tool, project, _cfg_python(cfg), base_python_present(path))

    def _tool(self, path: str, cfg: Dict[str, str]) -> str:
        stored = store_of(path, self.stores)
        if stored in ("pipenv", "virtualenvwrapper"):
            named_like_pipenv = _PIPENV_NAME.match(os.path.basename(path)) is not None
            return "pipenv" if stored == "pipenv" or (named_like_pipenv and _has_file(path, ".project")) \
                else "virtualenvwrapper"
        if stored is not None:
            return stored
        parent = os.path.dirname(path)
        if os.path.basename(parent) == ".tox":
            return "tox"
        if os.path.basename(parent) == ".nox":
            return "nox"
        if "uv" in cfg:
            return "uv"
        if "virtualenv" in cfg:
            beside = self.walk.project_files.get(parent, frozenset()) if os.path.basename(path) in IN_PROJECT \
                else frozenset()
            if "poetry.lock" in beside:
                return "poetry"
            if ".pdm-python" in beside or "pdm.lock" in beside:
                return "pdm"
            if "Pipfile" in beside or "Pipfile.lock" in beside:
                return "pipenv"
            return "virtualenv"
        return "venv"

    def _project(self, path: str, tool: str) -> Optional[str]:
        parent = os.path.dirname(path)
        if tool in ("tox", "nox"):
            return os.path.dirname(parent)
        if os.path.basename(path) in IN_PROJECT and store_of(path, self.stores) is None:
            return parent
        written = _small_text(os.path.join(path, ".project"))  # virtualenvwrapper's and pipenv's
        if written and os.path.isabs(written) and "\n" not in written:
            return written
        pointed = self._pointed(path)
        if pointed is not None:
            return pointed
        if tool in ("poetry", "pdm"):
            match = (_POETRY_NAME if tool == "poetry" else _PDM_NAME).match(os.path.basename(path))
            if match:
                return self._by_hash(tool).get(match.group(2))
        if tool == "hatch" and _HATCH_HASH.match(os.path.basename(parent)):
            return self._by_hash(tool).get(os.path.basename(parent))
        if tool == "pyenv-virtualenv":
            return self._pyenv().get(os.path.basename(path))
        return None

    def _pointed(self, path: str) -> Optional[str]:
        real = os.path.realpath(path)
        return self.walk.listed.get(real) or self.walk.pointed.get(real)

    def _by_hash(self, tool: str) -> Dict[str, str]:
        """The hash `tool` puts in its environments' paths, for each project the walk saw."""
        if tool not in self._hashed:
            self._hashed[tool] = {}
            for directory, held in self.walk.project_files.items():
                if "pyproject.toml" in held:
                    self._hashed[tool].setdefault(project_hash(tool, directory), directory)
        return self._hashed[tool]

    def _pyenv(self) -> Dict[str, str]:
        """pyenv-virtualenv environment name -> the project whose `.python-version` names it."""
        if self._pyenv_projects is None:
            self._pyenv_projects = {}
            for directory, held in self.walk.project_files.items():
                if ".python-version" in held:
                    for name in (_small_text(os.path.join(directory, ".python-version")) or "").split():
                        self._pyenv_projects.setdefault(name, directory)
        return self._pyenv_projects


def project_hash(tool: str, project: str) -> str:
    """The eight characters a tool derives from a project's directory for the path of its
    environments, URL-safe base64 of a digest: poetry's `NAME-HASH-py3.12` (SHA-256 of
    the real path), hatch's `NAME/HASH/ENV` (SHA-256 of the path), pdm's
    `NAME-HASH-ENV` (MD5 of the path)."""
    if tool == "poetry":
        text, digest = os.path.normcase(os.path.realpath(project)), hashlib.sha256
    else:
        text, digest = project, (hashlib.md5 if tool == "pdm" else hashlib.sha256)
    raw = digest(text.encode("utf-8", "surrogateescape")).digest()
    return base64.urlsafe_b64encode(raw).decode()[:8]


def read_cfg(path: str) -> Dict[str, str]:
    """The keys of the environment's `pyvenv.cfg` within its first KiB (none if unreadable)."""
    try:
        raw = read_regular(os.path.join(path, "pyvenv.cfg"), CFG_MAX, prefix=True)
    except OSError:
        return {}
    pairs: Dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            pairs.setdefault(key.strip().lower(), value.strip())
    return pairs


def _cfg_python(cfg: Dict[str, str]) -> Optional[str]:
    """`version` (venv, uv) or `version_info` (virtualenv: `3.12.1.final.0`), as X.Y.Z."""
    text = cfg.get("version") or cfg.get("version_info") or ""
    match = re.match(r"\d+\.\d+(?:\.\d+)?", text)
    return match.group(0) if match else None


def _conda_python(path: str) -> Optional[str]:
    try:
        with os.scandir(os.path.join(path, "conda-meta")) as listing:
            names: List[str] = [e.name for e in listing]
    except OSError:
        return None
    for name in names:
        match = _CONDA_PYTHON.match(name)
        if match:
            return match.group(1)
    return None


def _has_file(path: str, name: str) -> bool:
    return os.path.isfile(os.path.join(path, name)) and not os.path.islink(os.path.join(path, name))


def _small_text(path: str) -> Optional[str]:
    try:
        return read_regular(path, _SMALL).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
