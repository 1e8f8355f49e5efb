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
from typing import List, Optional

from envman import checkpoints
from envman.errors import OperationFailed, UsageError
from envman.models import EnvRecord
from envman.projects.identity import LINK_NAME, links_to


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


def remove(record: EnvRecord, project: str) -> bool:
    """Remove `project`'s `.venv` if it still is a link to this environment; else leave
    whatever is there. `project` is where the record's project is now: for one that
    moved without its record being told (`rm` by name), where `ls` finds it
    (`envman.projects.moves.project_of`). Returns whether a link was removed."""
    if not links_to(project, record.path):
        return False
    taken = _take(project, record.path)
    if taken is None:
        return False
    _unlink(taken)
    return True


def move(old_project: str, record: EnvRecord) -> bool:
    """After `mv --project`: `record`'s new project gets the `.venv` link the old one had
    (only where nothing named `.venv` is there), and the old project's link goes (only
    while it still is a link to this environment). Returns whether a link was made."""
    if os.path.normpath(old_project) == os.path.normpath(record.project):
        return False  # nothing moved (a killed `mv` whose record was never saved)
    made = False
    new = where(record)
    if os.path.isdir(record.project) and not os.path.lexists(new):
        try:
            os.symlink(record.path, new, target_is_directory=True)
            made = True
        except OSError:
            pass
    checkpoints.reached("linked")
    if links_to(old_project, record.path):
        taken = _take(old_project, record.path)
        if taken is not None:
            _unlink(taken)
    # An earlier `mv` killed with the old link aside: that one goes too.
    for aside in leftovers(old_project):
        try:
            target = os.path.normpath(os.path.join(old_project, os.readlink(aside)))
        except OSError:
            continue
        if target == os.path.normpath(record.path):
            _unlink(aside)
    return made


def follow_rename(old: EnvRecord, new: EnvRecord, project: str) -> bool:
    """After a rename: re-point `project`'s `.venv` from the old environment to the new
    one, if it still is a link to the old one (`project` found as for `remove`)."""
    if not links_to(project, old.path):
        return False
    fresh = _temporary(project)
    try:
        os.symlink(new.path, fresh, target_is_directory=True)
    except OSError:
        return False
    taken = _take(project, old.path)
    placed = taken is not None and _place(fresh, os.path.join(project, LINK_NAME))
    _unlink(fresh)
    if taken is not None:
        _unlink(taken)
    return placed


def leftovers(project: str) -> List[str]:
    """The temporary links a killed envman left beside `.venv` (named with the writer's
    pid, `.venv.envman-PID-HEX`) whose writer is gone, and the person's own `.venv` (a
    directory) that a killed `link --remove` had renamed aside to check it: `doctor
    --fix` removes the links and gives a directory its name back (`restore_directory`)."""
    from envman.store.markers import process_alive

    try:
        names = sorted(n for n in os.listdir(project) if n.startswith(TEMP_PREFIX))
    except OSError:
        return []
    found = []
    for name in names:
        pid = name[len(TEMP_PREFIX):].split("-", 1)[0]
        path = os.path.join(project, name)
        if pid.isdigit() and not process_alive(int(pid)) and (os.path.islink(path) or os.path.isdir(path)):
            found.append(path)
    return found


def restore(path: str, project: str) -> bool:
    """Give one of `leftovers` the name `.venv` again, only where nothing has it."""
    if not os.path.islink(path) or not _place(path, os.path.join(project, LINK_NAME)):
        return False
    _unlink(path)
    return True


def restore_directory(path: str, project: str) -> bool:
    """Give one of `leftovers` that is a real directory (the person's `.venv`) its name
    back, only where nothing has it; it is never deleted."""
    if os.path.islink(path) or not os.path.isdir(path):
        return False
    venv = os.path.join(project, LINK_NAME)
    if os.path.lexists(venv):
        return False
    try:  # rename replaces an empty directory made meanwhile: looked at just before
        os.rename(path, venv)
    except OSError:
        return False
    return True


def discard(path: str) -> bool:
    """Remove one of `leftovers`, if it still is a link."""
    if not os.path.islink(path):
        return False
    _unlink(path)
    return True


# `.venv` is never checked and then acted on by path, since another process may swap it
# in between: it is first renamed aside (whatever it is by then), the name aside is
# checked, and what is not ours goes back under `.venv` only if nothing took its place.
TEMP_PREFIX = f"{LINK_NAME}.envman-"


def _temporary(project: str) -> str:
    return os.path.join(project, f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _take(project: str, env_path: str) -> Optional[str]:
    """Rename `PROJECT/.venv` aside; return where, if it is a link to `env_path`. Anything
    else is put back (never over something made meanwhile) and None returned."""
    aside = _temporary(project)
    try:
        os.rename(os.path.join(project, LINK_NAME), aside)
    except OSError:
        return None
    checkpoints.reached("aside")
    try:
        target = os.readlink(aside)
    except OSError:
        target = None
    if target is not None and os.path.normpath(os.path.join(project, target)) == os.path.normpath(env_path):
        return aside
    if os.path.islink(aside) or not os.path.isdir(aside):
        if _place(aside, os.path.join(project, LINK_NAME)):
            _unlink(aside)
    else:  # a directory: rename cannot replace a name that exists meanwhile only if it is
        try:  # a non-empty directory, so put it back only where nothing is
            if not os.path.lexists(os.path.join(project, LINK_NAME)):
                os.rename(aside, os.path.join(project, LINK_NAME))
        except OSError:
            pass
    return None


def _place(source: str, name: str) -> bool:
    """Give `source` (a link or file) the name `name` too, only if nothing has it."""
    try:
        os.link(source, name, follow_symlinks=False)
    except OSError:
        return False
    return True


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _what(path: Path) -> str:
    if os.path.islink(path):
        try:
            return f"a link to {os.readlink(path)}"
        except OSError:
            return "a link"
    if path.is_dir():
        return "a directory"
    return "a file"
