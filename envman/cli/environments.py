"""The everyday commands: `new`, `ls`, `info`, `path`, `run` and `rm`."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence, Set

import typer

from envman.ages import ago, now, parse_age
from envman.cli.base import (app, confirm, find_record, handled, interpreter_finder, open_store, print_json,
                             progress_lines, read_config, removed_line, say, table, tilde)
from envman.cli.helpstyle import PlainCommand
from envman.errors import EnvmanError, UsageError
from envman.inputs import given
from envman.config import Config
from envman.models import EnvRecord, EnvState
from envman.store import registry
from envman.store.layout import Store


def _states(store: Store, records: Sequence[EnvRecord], older_than: Optional[str],
            config: Config) -> List[EnvState]:
    from envman.ops.staleness import assess_all

    age = parse_age(older_than) if older_than is not None else config.stale_after
    return assess_all(store, records, now(), age)


def _same_path(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)


@app.command()
@handled
def new(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Environment name (default: the project directory's name)."),
    project: Optional[str] = typer.Option(None, "--project", "-p", metavar="DIR", help="Project directory (default: the current one)."),
    python: Optional[str] = typer.Option(None, "--python", metavar="SPEC", help="3.12, '>=3.10,<3.13', python3.11 or a path."),
    requirement: Optional[List[Path]] = typer.Option(None, "--requirement", "-r", metavar="FILE", help="Requirements file to install; repeatable."),
    system_site_packages: bool = typer.Option(False, "--system-site-packages", help="Give the environment access to the base Python's packages."),
    copies: bool = typer.Option(False, "--copies", help="Copy the interpreter instead of symlinking it."),
    without_pip: bool = typer.Option(False, "--without-pip", help="Do not install pip into the environment."),
    prompt: Optional[str] = typer.Option(None, "--prompt", metavar="TEXT", help="Prompt prefix when active (default: the name)."),
    as_json: bool = typer.Option(False, "--json", help="Print the new environment as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Show only warnings and errors: no steps, no installer's progress, no summary."),
    link: bool = typer.Option(False, "--link", help="Also make PROJECT/.venv a link to it (for editors); only where no .venv exists."),
) -> None:
    """Create an environment for a project and register it."""
    from envman.projects import links
    from envman.create import uv
    from envman.ops.new import NewOptions, create, project_dir
    from envman.ops.staleness import assess

    given(project, "--project")
    given(python, "--python")
    store, config = open_store(), read_config()
    options = NewOptions(name=name, project=Path(project) if project is not None else None,
                         python=python, requirements=requirement or (),
                         system_site_packages=system_site_packages, copies=copies,
                         without_pip=without_pip, prompt=prompt, quiet=quiet,
                         uv=uv.locate(config))
    if link:
        links.check_free(project_dir(options.project))  # before anything is built
    created = create(store, config, options, interpreter_finder(store), progress=progress_lines(quiet))
    record = created.record
    if link:
        try:
            links.make(record)
        except EnvmanError as exc:  # made meanwhile: the environment stands, only the link is missing
            link = False
            say(f"envman: warning: {exc.message}; the environment was created without the link")
    if as_json:
        print_json(assess(store, record, now(), config.stale_after).to_json())
        return
    if quiet:
        return
    say(f"created {record.name!r} for {tilde(record.project)}")
    say(f"  python: {record.python} ({record.python_executable}, from {created.python_source})")
    say(f"  path:   {record.path}")
    if link:
        say(f"  link:   {tilde(str(Path(record.project) / '.venv'))} -> {record.path}")
    if record.requirements:
        say(f"  installed: {', '.join(r.path for r in record.requirements)}")


@app.command("ls")
@handled
def ls(
    stale: bool = typer.Option(False, "--stale", help="Only environments with a stale reason."),
    older_than: Optional[str] = typer.Option(None, "--older-than", metavar="AGE", help="Unused for longer than AGE (2w, 90d, 12h) counts as stale."),
    project: Optional[str] = typer.Option(None, "--project", "-p", metavar="DIR", help="Only environments of projects in DIR."),
    size: bool = typer.Option(False, "--size", help="Add each one's disk use and a total (a file shared by several counted once)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List registered environments, their projects, Pythons and stale reasons.

    With --size, SIZE is what deleting the environment would free and the total what
    deleting all those listed would: a hard-linked file shared by several counts once
    (in the first), one also linked from elsewhere not at all. Only --size walks the
    environments' directories.
    """
    given(older_than, "--older-than")
    given(project, "--project")
    store, config = open_store(), read_config()
    records = list(registry.load(store))
    from envman.store import relocation

    old_root = relocation.moved_from(store, records)
    if old_root is not None:
        say(f"envman: {relocation.note(old_root)}")
    if project is not None:
        base = os.path.realpath(os.path.expanduser(project))
        records = [r for r in records if r.project == base or r.project.startswith(base.rstrip(os.sep) + os.sep)]
    states = _states(store, records, older_than, config)
    if stale:
        states = [s for s in states if s.reasons]
    if size:
        states = _with_sizes(states)
    if as_json:
        print_json([s.to_json() for s in states])
        return
    if not states:
        say("no stale environments" if stale else "no environments yet: create one with `envman new`")
        return
    _print_table(states, size)


def _with_sizes(states: Sequence[EnvState]) -> List[EnvState]:
    """The states with `size_bytes`, measured together (see `envman.sizes`)."""
    import dataclasses

    from envman import sizes

    measured = sizes.measure([s.record.path for s in states])
    return [dataclasses.replace(s, size_bytes=n) for s, n in zip(states, measured)]


def _print_table(states: Sequence[EnvState], size: bool = False) -> None:
    from envman.ops.staleness import ADVICE

    reference = now()
    rows = [["NAME", "PYTHON", "LAST USED", "STATUS", "PROJECT"]]
    for s in states:
        status = "ok" if not s.reasons else "stale: " + ",".join(s.reasons)
        if s.moved_to is not None:
            status = f"moved: {tilde(s.moved_to)}" + ("" if not s.reasons else f"; {status}")
        if s.requirements_changed:
            status += " (requirements changed)"
        rows.append([s.record.name, s.record.python, ago(s.last_used, reference), status,
                     tilde(s.record.project)])
    right: Set[int] = set()
    if size:
        from envman.sizes import human_size

        rows[0].insert(3, "SIZE")
        for row, s in zip(rows[1:], states):
            row.insert(3, human_size(s.size_bytes or 0))
        right.add(3)
    typer.echo(table(rows, right))
    if size:
        total = sum(s.size_bytes or 0 for s in states)
        typer.echo(f"total: {human_size(total)} in {len(states)} environment(s) "
                   "(what deleting them would free; shared files counted once)")
    for s in states:
        if s.moved_to is not None:
            say(f"moved: the project of {s.record.name!r} is now {s.moved_to}: "
                f"`envman mv {s.record.name} --project {shlex.quote(s.moved_to)}` records it "
                "(as does any envman command run inside it)")
    reasons = sorted({reason for s in states for reason in s.reasons})
    for reason in reasons:
        say(f"{reason}: {ADVICE[reason]}")
    if any(s.requirements_changed for s in states):
        from envman.ops.staleness import REQUIREMENTS_CHANGED_ADVICE

        say(f"requirements changed: {REQUIREMENTS_CHANGED_ADVICE}")


@app.command()
@handled
def info(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Name or project path (default: the current project)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Everything known about one environment, with its live state."""
    from envman.ops.staleness import ADVICE

    from envman.sizes import human_size

    store, config = open_store(), read_config()
    state = _with_sizes(_states(store, [find_record(store, name)], None, config))[0]
    if as_json:
        print_json(state.to_json())
        return
    r, reference = state.record, now()
    options = [flag for flag, on in (("--system-site-packages", r.system_site_packages),
                                     ("--copies", r.copies), ("--without-pip", r.without_pip)) if on]
    lines = [
        ("name", r.name),
        ("path", r.path),
        ("project", r.project),
        ("python", f"{r.python} ({r.python_executable})"),
        ("created", f"{r.created.isoformat()} ({ago(r.created, reference)})"),
        ("last used", f"{state.last_used.isoformat()} ({ago(state.last_used, reference)})"),
        ("status", state.status + "".join(f"\n  {x}: {ADVICE[x]}" for x in state.reasons)),
        ("requirements", ", ".join(q.path for q in r.requirements) or "none recorded"),
        *([("changed", f"{', '.join(state.requirements_changed)}: changed or gone since the last "
                       f"build; `envman recreate {r.name}` installs the files as they are now "
                       f"(for a file that is gone, name the ones to use: -r FILE)")]
          if state.requirements_changed else []),
        ("options", " ".join(options) or "none"),
        ("size", f"{human_size(state.size_bytes or 0)} (what deleting it would free)"),
    ]
    if r.prompt is not None:
        lines.append(("prompt", r.prompt))
    if r.adopted:
        lines.append(("adopted", "yes (envman did not create it)"))
    if r.recreated is not None:
        lines.append(("recreated", f"{r.recreated.isoformat()} ({ago(r.recreated, reference)})"))
    for key, value in lines:
        typer.echo(f"{key + ':':<14}{value}")


@app.command()
@handled
def path(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Name or project path (default: the current project)."),
) -> None:
    """Print the environment's root directory, nothing else."""
    from envman.store import relocation

    store = open_store()
    record = find_record(store, name)
    moved = relocation.moved_from(store, [record]) is not None
    typer.echo(relocation.here(store, record).path if moved else record.path)


class _RunCommand(PlainCommand):
    """`run -- CMD` with no NAME before the `--`: click would take CMD for NAME, so
    whether one was given is read from the words before they are parsed."""

    UNNAMED = "envman.run.unnamed"

    def parse_args(self, ctx: Any, args: List[str]) -> List[str]:
        if "--" in args:
            ctx.meta[self.UNNAMED] = all(word.startswith("-") for word in args[: args.index("--")])
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: Any) -> List[str]:
        return [self.options_metavar or "[OPTIONS]", "[NAME]", "-- CMD [ARG]..."]


@app.command(cls=_RunCommand, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@handled
def run(
    ctx: typer.Context,
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Name or project path (default: the current project)."),
    command: Optional[List[str]] = typer.Argument(None, metavar="-- CMD [ARG]...", help="The command to run."),
) -> None:
    """Run one command inside the environment without activating it.

    The command's exit status is envman's. With nothing before `--`, the current
    project's environment.
    """
    from envman.ops import run as running
    from envman.ops.run import command_environment, require_directory

    if ctx.meta.get(_RunCommand.UNNAMED) and name is not None:
        command = [name, *(command or [])]
        name = None
    if not command:
        raise UsageError("run needs a command: envman run [NAME] -- CMD [ARG]...")
    store = open_store()
    record = find_record(store, name)
    require_directory(record)
    env = command_environment(record)
    located = running.locate(record, command[0], env["PATH"])
    executable = located.executable
    if located.elsewhere:
        say(f"envman: {command[0]!r} is not in environment {record.name!r}: running {executable} from PATH")
    store.touch_used(record)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":
        import subprocess

        raise typer.Exit(subprocess.call([executable, *command[1:]], env=env))
    try:
        os.execve(executable, [command[0], *command[1:]], env)
    except OSError as exc:
        raise UsageError(f"cannot run {executable}: {exc.strerror}") from None


@app.command()
@handled
def rm(
    names: List[str] = typer.Argument(..., metavar="NAME...", help="Names or project paths."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    delete_adopted: bool = typer.Option(False, "--delete-adopted", help="Also delete the files of adopted environments outside the store."),
) -> None:
    """Delete environments and their records."""
    from envman.ops.remove import remove

    store = open_store()
    records = list({r.id: r for r in (find_record(store, n) for n in names)}.values())
    confirm(yes, f"Delete {', '.join(f'{r.name} ({tilde(r.path)})' for r in records)}?")
    removed, _ = remove(store, records, delete_adopted=delete_adopted)
    for removal in removed:
        say(removed_line(removal))
    active = os.environ.get("VIRTUAL_ENV")
    for removal in removed:
        if active and removal.deleted is not None and _same_path(active, removal.record.path):
            say(f"envman: warning: {removal.record.name!r} was active in this shell, which still "
                "points at it (VIRTUAL_ENV, PATH): run `deactivate` (or `envman deactivate`)")
