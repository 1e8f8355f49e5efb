"""`envman find`: the environments holding an installed distribution that matches a
PEP 508 requirement, read from their metadata files (never their interpreters).

Per environment: one listing of each site-packages and the METADATA of the entries
whose file name gives the wanted name, nothing else (`installed.installed` with a name),
so a thousand environments cost about what `ls` does. A requirement's marker is
evaluated against each environment's Python version (`pyvenv.cfg`); its extras are
ignored (what is installed says nothing of the extras it was installed for).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envman.errors import UsageError
from envman.python.installed import installed, python_version


@dataclass(frozen=True)
class Place:
    """An environment to look in: a registered one (`name`) or one a scan found."""

    path: str
    name: Optional[str] = None
    python: Optional[str] = None  # its version, as the registry knows it: where to look first


@dataclass(frozen=True)
class Match:
    place: Place
    distribution: str  # its `Name:`, as written
    version: str

    def to_json(self) -> Dict[str, Optional[str]]:
        return {"name": self.place.name, "path": self.place.path,
                "distribution": self.distribution, "version": self.version}


def parse(text: str) -> Requirement:
    """The PEP 508 requirement `text`; bad input is a UsageError (status 2)."""
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        detail = (str(exc).splitlines() or ["not PEP 508"])[0]  # the lines after point a caret at it
        raise UsageError(f"invalid requirement {text!r}: {detail}",
                         hint='write it as pip would take it, quoted: envman find "urllib3<2.2.2"') from None


def places(registered: Sequence[Place], scanned: Sequence[Place] = ()) -> List[Place]:
    """Each environment once: the registered ones by name, then those a scan found (and
    the registry does not hold: `scan` matches them by real path), by path."""
    seen = set()
    out: List[Place] = []
    for place in [*sorted(registered, key=lambda p: p.name or ""), *sorted(scanned, key=lambda p: p.path)]:
        if place.path not in seen:
            seen.add(place.path)
            out.append(place)
    return out


def find(requirement: Requirement, where: Sequence[Place]) -> List[Match]:
    """The distributions in `where` that `requirement` matches, environment by environment."""
    key = canonicalize_name(requirement.name)
    found: List[Match] = []
    for place in where:
        env = Path(place.path)
        if requirement.marker is not None and not marker_holds(requirement.marker, python_version(env)):
            continue
        for dist in installed(env, key, python=place.python):  # by the name its entry is filed under, as pip
            if version_matches(requirement, dist.version):
                found.append(Match(place, dist.name, dist.version))
    return found


def version_matches(requirement: Requirement, version: str) -> bool:
    """Whether an installed version satisfies the requirement's specifier, pre-releases
    included (an installed 2.0rc1 is there to be found); a version PEP 440 cannot parse
    matches only a requirement without one. A URL requirement matches by name."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return not requirement.specifier
    return requirement.specifier.contains(parsed, prereleases=True)


def marker_holds(marker: Marker, python: Optional[str]) -> bool:
    """The marker for an environment of Python `python` ("3.12.1"; None: unknown, which
    no marker holds for); everything but the Python version is this machine's, and
    `extra` is empty."""
    if python is None:
        return False
    short = ".".join(python.split(".")[:2])
    return marker.evaluate({"python_version": short, "python_full_version": python, "extra": ""})
