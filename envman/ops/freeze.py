"""`envman freeze`: the lines `pip freeze` prints for an environment, from its files.

pip's own rules, read from its source (`operations/freeze.py`, `commands/freeze.py`,
`utils/direct_url_helpers.py`, `vcs/git.py`), applied to what `envman.python.installed`
reads: `name==version` (`===` for a version PEP 440 cannot parse), `name @ URL` for a
PEP 610 direct URL, an editable install as `-e` with the comment pip writes, sorted by
the lowercased name. What pip leaves out depends on the pip in the environment: pip
itself always; setuptools, distribute and wheel too, except from pip 23.2 on Python 3.12
and later (pip's change 5dc65eab; with no pip, the newest pip's rule).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Mapping, Optional, Set, Tuple
from urllib.parse import quote

from packaging.version import InvalidVersion, Version

from envman.python import gitfiles
from envman.python.installed import Distribution, installed, python_version

# Distributions of the standard library that may carry metadata: never listed, as in pip.
STDLIB = frozenset({"python", "wsgiref", "argparse"})
BUILD_BACKENDS = frozenset({"setuptools", "distribute", "wheel"})


def freeze(env_dir: Path, everything: bool = False) -> List[str]:
    """The lines of `pip freeze` (`pip freeze --all` with `everything`)."""
    dists = installed(env_dir, everywhere=True)
    pip = next((d.version for d in dists if d.key == "pip"), None)
    skip = set(STDLIB) | (set() if everything else left_out(python_version(env_dir), pip))
    lines: List[str] = []
    for dist in sorted(dists, key=lambda d: d.name.lower()):  # stable: pip's order for ties
        if dist.key not in skip:
            lines += requirement_lines(dist, pip)
    return lines


def left_out(python: Optional[str], pip: Optional[str]) -> Set[str]:
    """What `pip freeze` without `--all` leaves out, for an environment of Python `python`
    holding pip `pip` (None: unknown, or no pip)."""
    older_pip = pip is not None and _release(pip) < (23, 2)
    older_python = python is not None and _release(python) < (3, 12)
    return {"pip"} | (set(BUILD_BACKENDS) if older_pip or older_python else set())


def requirement_lines(dist: Distribution, pip: Optional[str] = None) -> List[str]:
    """The line of one distribution (an editable one may have comment lines before)."""
    project = dist.editable
    if project is not None:
        return editable_lines(dist, project)
    if dist.direct_url is not None:
        return [direct_reference(dist.name, dist.direct_url, pip)]
    return [name_version(dist)]


def name_version(dist: Distribution) -> str:
    try:
        return f"{dist.name}=={Version(dist.version)}"  # pip prints the normalised version
    except InvalidVersion:
        return f"{dist.name}==={dist.version}"


def direct_reference(name: str, direct_url: Mapping[str, object], pip: Optional[str] = None) -> str:
    """`name @ URL` for a PEP 610 `direct_url.json` (one `valid_direct_url` accepts)."""
    url = str(direct_url["url"])
    fragments: List[str] = []
    vcs, archive = direct_url.get("vcs_info"), direct_url.get("archive_info")
    if isinstance(vcs, dict):
        reference = f"{name} @ {vcs['vcs']}+{url}@{vcs['commit_id']}"
    else:
        reference = f"{name} @ {url}"
        if isinstance(archive, dict):
            digest = _archive_hash(archive, pip)
            if digest:
                fragments.append(digest)
    subdirectory = direct_url.get("subdirectory")
    if isinstance(subdirectory, str) and subdirectory:
        fragments.append("subdirectory=" + subdirectory)
    return reference + ("#" + "&".join(fragments) if fragments else "")


def _archive_hash(archive: Mapping[str, object], pip: Optional[str]) -> Optional[str]:
    # Before 26.1 pip printed the legacy `hash` ("sha256=..."); since, the first of `hashes`.
    legacy = archive.get("hash")
    if pip is not None and _release(pip) < (26, 1):
        return legacy if isinstance(legacy, str) else None
    hashes = archive.get("hashes")
    if isinstance(hashes, dict) and hashes:
        algorithm, value = next(iter(hashes.items()))
        return f"{algorithm}={value}"
    return legacy if isinstance(legacy, str) else None


def editable_lines(dist: Distribution, project: str) -> List[str]:
    """What pip prints for an editable install: `-e git+URL@SHA#egg=NAME` for a project in
    a git checkout with a usable remote and a commit, else `-e DIR` after a comment that
    says why not."""
    location = os.path.normcase(os.path.abspath(project))
    shown = name_version(dist)
    checkout = gitfiles.checkout_of(location) if os.path.isdir(location) else None
    if checkout is None:
        return [f"# Editable install with no version control ({shown})", f"-e {location}"]
    if not checkout.remotes:
        return [f"# Editable Git install with no remote ({shown})", f"-e {location}"]
    lines = [f"{key} {value}" for key, value in checkout.remotes]
    chosen = next((line for line in lines if line.startswith("remote.origin.url ")), lines[0])
    words = chosen.split(" ")
    remote = words[1].strip() if len(words) > 1 else ""
    url = pip_url(remote)
    if url is None:
        return [f"# Editable Git install ({shown}) with either a deleted local remote or invalid URI:",
                f"# '{remote}'", f"-e {location}"]
    commit = checkout.head()
    if commit is None:
        return ["## !! Could not determine repository location", f"-e {location}"]
    if not url.lower().startswith("git:"):
        url = "git+" + url
    requirement = f"{url}@{quote(commit, '/')}#egg={dist.name.replace('-', '_')}"
    subdirectory = _subdirectory(location, checkout)
    return [f"-e {requirement}" + (f"&subdirectory={subdirectory}" if subdirectory else "")]


def pip_url(remote: str) -> Optional[str]:
    """A git remote as pip writes it: a URL as it is, a local repository as a `file:`
    URL, `user@host:path` as `ssh://user@host/path`; None for anything else."""
    if re.match(r"\w+://", remote):
        return remote
    if remote and os.path.exists(remote):
        return Path(os.path.abspath(remote)).as_uri()
    scp = re.match(r"^(\w+@)?([^/:]+):(\w[^:]*)$", remote)
    if scp:
        return f"ssh://{scp.group(1) or ''}{scp.group(2)}/{scp.group(3)}"
    return None


def _subdirectory(location: str, checkout: gitfiles.Checkout) -> Optional[str]:
    """The project's directory relative to the checkout, None at its top: pip's
    computation, from the directory `--git-dir` names."""
    root = os.path.abspath(os.path.join(checkout.git_dir, ".."))
    here = location
    while not _installable(here):
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent
    try:
        if os.path.samefile(root, here):
            return None
    except OSError:
        pass
    return os.path.relpath(here, root)


def _installable(path: str) -> bool:
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, f)) for f in ("pyproject.toml", "setup.py"))


def _release(version: str) -> Tuple[int, ...]:
    try:
        return Version(version).release
    except InvalidVersion:
        return (0,)
