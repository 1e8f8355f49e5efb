"""Environments and their projects: `mv` (a moved project, a new name) and `link`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from envman.cli.base import (app, find_record, handled, interpreter_finder, open_store, progress_lines,
                             read_config, say, tilde)
from envman.errors import UsageError
from envman.inputs import given


@app.command("mv")
@handled
def move_command(
    name: str = typer.Argument(..., metavar="NAME", help="Name or project path of the environment."),
    new_name: Optional[str] = typer.Argument(None, metavar="NEWNAME", help="Rename it to NEWNAME (a rebuild: see above)."),
    project: Optional[str] = typer.Option(None, "--project", "-p", metavar="DIR", help="The project's new directory: only the record changes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Show only warnings and errors: no steps, no installer's progress, no summary."),
) -> None:
    """Point an environment at its project's new place, or rename it.

    envman mv NAME --project DIR: the record (and the environment's marker) now name DIR;
    the environment itself is untouched (a venv does not embed its project's path).

    envman mv NAME NEWNAME: a venv embeds its own path, so this rebuilds it at envs/NEWNAME
    with the same Python, options and packages; the old environment is kept until the new
    one is complete and registered, and only then deleted. A PROJECT/.venv link to it is
    updated.
    """
    given(project, "--project")
    if (new_name is None) == (project is None):
        raise UsageError("give NEWNAME (rename) or --project DIR (the project moved), not both"
                         if new_name is not None else "say what changes: NEWNAME or --project DIR",
                         hint="envman mv NAME --project DIR, envman mv NAME NEWNAME")
    from envman.projects import moves

    store = open_store()
    record = find_record(store, name)
    if project is not None:
        from envman.projects.identity import links_to

        directory = moves.project_directory(Path(project))
        linked = links_to(record.project, record.path)
        moved = moves.point(store, record, directory)
        say(f"{moved.name!r} now serves {tilde(moved.project)} (was {tilde(record.project)}); "
            "the environment itself is unchanged")
        if linked and links_to(moved.project, moved.path):
            say(f"  the .venv link moved with it: {tilde(str(directory / '.venv'))}")
        elif linked:
            say(f"  {tilde(str(directory / '.venv'))} exists and was left alone; "
                f"the link in {tilde(record.project)} was removed")
        return
    from envman.ops import rename
    from envman.create import uv

    assert new_name is not None
    done = rename.rename(store, record, new_name, quiet=quiet, finder=interpreter_finder(store),
                           uv_exe=uv.locate(read_config()), progress=progress_lines(quiet))
    if quiet:
        return
    r = done.record
    if not done.rebuilt:
        say(f"renamed {record.name!r} to {r.name!r} (adopted: only its record changed; {tilde(r.path)})")
        return
    say(f"renamed {record.name!r} to {r.name!r}: rebuilt at {tilde(r.path)} with Python {r.python} "
        f"({r.python_executable}, {done.python_source}); the old environment was deleted")
    if done.reinstalled:
        say(f"  reinstalled from the old environment: {' '.join(done.reinstalled)}")
    if done.link_updated:
        say(f"  {tilde(str(Path(r.project) / '.venv'))} now links to it")


@app.command("link")
@handled
def link_command(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Name or project path (default: the current project)."),
    remove: bool = typer.Option(False, "--remove", help="Remove the link instead (only if it still links to this environment)."),
) -> None:
    """Make PROJECT/.venv a symbolic link to the environment, for editors and tools.

    VS Code, PyCharm, pyright, ruff and uv look for a project's .venv: through the link
    they find the central environment. It is made only where nothing named .venv exists
    (a real .venv directory is never touched); `rm`, `prune` and `mv` remove or update it
    only while it still links to that environment.
    """
    from envman.projects import links, moves

    store = open_store()
    record = find_record(store, name)
    where = tilde(str(links.where(record)))
    if remove:
        if links.remove(record, moves.project_of(record)):
            say(f"removed {where}")
            return
        if os.path.lexists(links.where(record)):
            raise UsageError(f"{where} is not a link to {record.name!r}: left alone")
        say(f"no {where}: nothing to remove")
        return
    if links.make(record):
        say(f"{where} -> {record.path}")
    else:
        say(f"{where} already links to {record.name!r}")
