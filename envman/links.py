"""The `.venv` link: `PROJECT/.venv` as a symbolic link to the project's environment.

Editors and tools that look for `.venv` (VS Code, PyCharm, pyright, ruff, uv) find the
central environment through it. It is the one thing envman ever writes into a project,
and only when asked (`new --link`, `envman link`). It is made only where nothing named
`.venv` exists, never over a real directory, a file or someone else's link; and `rm`,
`prune`, `mv` and `link --remove` remove or re-point it only while it is still a link
naming that very environment.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from envman.errors import OperationFailed, UsageError
from envman.identity import LINK_NAME, links_to
from envman.models import EnvRecord


def where(record: EnvRecord) -> Path:
    return Path(record.project) / LINK_NAME


def check_free(project: Path) -> None:
    """Refuse (status 2) where something named `.venv` already exists."""
    link = project / LINK_NAME
    if os.path.lexists(link):
        raise UsageError(f"{link} already exists ({_what(link)}); envman never replaces it",
                         hint="nothing was changed; remove or rename it yourself if it is not needed")


def make(record: EnvRecord) -> bool:
    """Make `PROJECT/.venv` a link to the environment; False if it already is one."""
    project = Path(record.project)
    if not project.is_dir():
        raise UsageError(f"the project directory of {record.name!r} is gone: {project}",
                         hint="`envman mv NAME --project DIR` says where it went")
    if links_to(str(project), record.path):
        return False
    check_free(project)
    try:
        os.symlink(record.path, where(record), target_is_directory=True)
    except FileExistsError:
        check_free(project)  # made meanwhile: say what it is
        raise
    except OSError as exc:
        raise OperationFailed(f"cannot make {where(record)}: {exc.strerror}") from None
    return True


def remove(record: EnvRecord) -> bool:
    """Remove `PROJECT/.venv` if it still is a link to this environment; else leave
    whatever is there. A project that moved without its record being told (`rm` by
    name) is looked for where `ls` looks, and its link removed there. Returns whether a
    link was removed."""
    project = record.project
    if not os.path.isdir(project):
        from envman.moves import Search

        project = Search().find(record) or project
    if not links_to(project, record.path):
        return False
    try:
        os.unlink(os.path.join(project, LINK_NAME))
    except OSError:
        return False
    return True


def follow_rename(old: EnvRecord, new: EnvRecord) -> bool:
    """After a rename: re-point `PROJECT/.venv` from the old environment to the new one,
    if it still is a link to the old one. The new link is made beside it and renamed over
    it, so the project never lacks one."""
    if not links_to(old.project, old.path):
        return False
    link = where(old)
    temporary = link.with_name(f"{LINK_NAME}.envman-{uuid.uuid4().hex[:8]}")
    try:
        os.symlink(new.path, temporary, target_is_directory=True)
        os.replace(temporary, link)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        return False
    return True


def _what(path: Path) -> str:
    if os.path.islink(path):
        try:
            return f"a link to {os.readlink(path)}"
        except OSError:
            return "a link"
    if path.is_dir():
        return "a directory"
    return "a file"
