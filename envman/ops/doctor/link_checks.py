"""`doctor`'s checks of projects: `.venv` links that name the wrong environment, a killed
update's temporary links, and a data root that was moved or copied."""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Set

from envman.errors import OperationFailed
from envman.models import EnvRecord
from envman.ops.doctor.finding import Finding, Repair
from envman.store import registry
from envman.store.layout import Store
from envman.store.records import Registry


def check_project_links(store: Store, current: Registry) -> List[Finding]:
    """`.venv` links that name the wrong environment: one an `mv --project` was killed
    before moving (its marker still names the old project), and a registered project's
    `.venv` linking into the store but to none of that project's environments (an older
    envman's `mv --project` left it; the name may be reused by another project since)."""
    from envman.projects import moves

    findings = []
    pending: Set[str] = set()
    for record in current:
        old = moves.link_move_pending(store, record)
        if old is not None:
            pending.add(old)
            findings.append(Finding("link-stale", record.name,
                                    f"an interrupted `envman mv {record.name} --project` left the .venv link "
                                    f"in {old}", _finish_link_move(store, record)))
    by_project: Dict[str, Set[str]] = {}
    for record in current:
        by_project.setdefault(record.project, set()).add(os.path.normpath(record.path))
    for project in sorted(by_project):
        target = _store_link(store, project)
        if target is not None and target not in by_project[project] and project not in pending:
            link = os.path.join(project, ".venv")
            findings.append(Finding("link-stale", link, f"links to {target}, which is no environment of "
                                    "this project", _drop_stale_link(store, project)))
    return findings


def _store_link(store: Store, project: str) -> Optional[str]:
    """Where `PROJECT/.venv` points, if it is a symbolic link into the store's envs."""
    from envman.fsutil import is_within

    try:
        target = os.readlink(os.path.join(project, ".venv"))
    except OSError:
        return None
    target = os.path.normpath(os.path.join(project, target))
    return target if is_within(target, store.envs_dir) and target != str(store.envs_dir) else None


def _finish_link_move(store: Store, record: EnvRecord) -> Repair:
    def repair() -> str:
        from envman.projects import moves

        made = moves.finish_link_move(store, record)
        return (f"moved it to {record.project}/.venv" if made
                else "the old project's link is gone; the new project's .venv was left as it is")

    return repair


def _drop_stale_link(store: Store, project: str) -> Repair:
    def repair() -> str:
        with registry.locked(store):
            envs = {os.path.normpath(r.path) for r in registry.load(store) if r.project == project}
            target = _store_link(store, project)
            if target is None or target in envs:
                return "left alone: it changed meanwhile"
            try:  # a symbolic link (readlink said so): unlinking it touches nothing it names
                os.unlink(os.path.join(project, ".venv"))
            except OSError as exc:
                raise OperationFailed(f"cannot remove {project}/.venv: {exc.strerror}") from None
        return "removed"

    return repair


def check_moved(store: Store, current: Registry) -> Optional[Finding]:
    from envman.store import relocation

    old = relocation.moved_from(store, current)
    if old is None:
        return None

    def repoint() -> str:
        changed = relocation.repoint(store)
        return (f"{len(changed)} record(s) point here now; `envman recreate --all --yes` "
                "rebuilds their environments here")

    return Finding("store-moved", str(store.root), relocation.note(old), repoint)


def check_link_leftovers(store: Store, current: Registry) -> List[Finding]:
    """A killed `.venv` update's temporary links in a registered project. One naming an
    environment registered for that project (when the repair runs: an earlier repair
    may have finished a rename), where `.venv` itself is missing (the update was killed
    between taking the old link aside and placing the new), becomes `.venv` again; any
    other is deleted."""
    from envman.projects import links

    return [Finding("link-leftover", path,
                    "a temporary link left beside .venv by a killed envman" if os.path.islink(path)
                    else "the project's own .venv directory, renamed aside by a killed envman",
                    _mend_link(store, path, project))
            for project in sorted({r.project for r in current}) for path in links.leftovers(project)]


def _mend_link(store: Store, path: str, project: str) -> Repair:
    from envman.projects import links

    def repair() -> str:
        if not os.path.islink(path) and os.path.isdir(path):
            if links.restore_directory(path, project):
                return "renamed back to .venv"
            raise OperationFailed(f"{project}/.venv exists: {path} was left as it is",
                                  hint="nothing was deleted; rename it back yourself")
        envs = {os.path.normpath(r.path) for r in registry.load(store) if r.project == project}
        try:
            target = os.path.normpath(os.path.join(project, os.readlink(path)))
        except OSError:
            target = ""
        if target in envs and links.restore(path, project):
            return "made .venv again (it names this project's environment)"
        return "deleted" if links.discard(path) else "already gone"

    return repair
