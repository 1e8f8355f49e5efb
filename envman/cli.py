"""The typer layer: parse, call the core, render text or JSON, map errors to exit codes.

Everything here is presentation; the core modules never print or exit. Modules that
only some commands need are imported inside those commands to keep `ls` start-up lean.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, NoReturn, Optional, Sequence, Set, TypeVar

import typer

from envman import __version__, registry
from envman.ages import ago, now, parse_age
from envman.config import Config, config_path, load_config
from envman.errors import EnvmanError, OperationFailed, UsageError
from envman.inputs import given
from envman.helpstyle import App, PlainCommand
from envman.models import EnvRecord, EnvState
from envman.store import Store

if TYPE_CHECKING:
    from envman.interpreters import Finder
    from envman.recreate import Outcome, Recreated

app = App(
    name="envman",
    help="Create, find, activate and clean up Python virtual environments for all your projects.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


def say(message: str) -> None:
    """A line for the person: always stderr, so stdout stays data."""
    typer.echo(message, err=True)


def fail(exc: EnvmanError) -> NoReturn:
    say(f"envman: error: {exc.message}")
    if exc.hint:
        say(f"hint: {exc.hint}")
    raise typer.Exit(exc.exit_code)


def handled(command: F) -> F:
    """Turn the core's errors into one line and the spec's exit status."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except EnvmanError as exc:
            if os.environ.get("ENVMAN_DEBUG") == "1":
                raise
            fail(exc)
        except KeyboardInterrupt:
            say("envman: error: interrupted; nothing half-done was kept")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _store() -> Store:
    return Store.from_environment()


def _config() -> Config:
    return load_config(config_path())


def _progress(quiet: bool) -> Callable[[str], None]:
    """The core's progress callback: each step as a line on stderr, or nothing."""
    if quiet:
        return lambda message: None
    return lambda message: say(f"envman: {message}")


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _home(path: str) -> str:
    home = os.path.expanduser("~")
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


def _states(store: Store, records: Sequence[EnvRecord], older_than: Optional[str],
            config: Config) -> List[EnvState]:
    from envman.staleness import assess_all

    age = parse_age(older_than) if older_than is not None else config.stale_after
    return assess_all(store, records, now(), age)


def _finder(store: Store) -> "Finder":
    """The interpreter finder of `new`, `recreate` and `mv`: what it decided about the
    interpreter (a venv's replaced by its base, a requires-python not met) is said here."""
    from envman.interpreters import Finder

    return Finder(store.cache, tell=lambda message: say(f"envman: {message}"))


def _find(store: Store, ref: Optional[str]) -> EnvRecord:
    from envman import lookup, relocation

    found = lookup.find(store, registry.load(store), ref)
    if found.note:
        say(f"envman: {found.note}")
    old_root = relocation.moved_from(store, [found.record])
    if old_root is not None:
        say(f"envman: {relocation.note(old_root)}")
    if found.moved_to is not None:
        from envman import moves

        record = moves.point(store, found.record, found.moved_to)
        say(f"envman: the project of {record.name!r} moved from {_home(found.record.project)} to "
            f"{_home(record.project)}: its record now points there")
        return record
    return found.record


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print envman's version and exit."),
) -> None:
    if version:
        typer.echo(f"envman {__version__}")
        raise typer.Exit(0)


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
    from envman import links, uv
    from envman.envs import NewOptions, create, project_dir
    from envman.staleness import assess

    given(project, "--project")
    given(python, "--python")
    store, config = _store(), _config()
    options = NewOptions(name=name, project=Path(project) if project is not None else None,
                         python=python, requirements=requirement or (),
                         system_site_packages=system_site_packages, copies=copies,
                         without_pip=without_pip, prompt=prompt, quiet=quiet,
                         uv=uv.locate(config))
    if link:
        links.check_free(project_dir(options.project))  # before anything is built
    created = create(store, config, options, _finder(store), progress=_progress(quiet))
    record = created.record
    if link:
        try:
            links.make(record)
        except EnvmanError as exc:  # made meanwhile: the environment stands, only the link is missing
            link = False
            say(f"envman: warning: {exc.message}; the environment was created without the link")
    if as_json:
        _print_json(assess(store, record, now(), config.stale_after).to_json())
        return
    if quiet:
        return
    say(f"created {record.name!r} for {_home(record.project)}")
    say(f"  python: {record.python} ({record.python_executable}, from {created.python_source})")
    say(f"  path:   {record.path}")
    if link:
        say(f"  link:   {_home(str(Path(record.project) / '.venv'))} -> {record.path}")
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
    store, config = _store(), _config()
    records = list(registry.load(store))
    from envman import relocation

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
        _print_json([s.to_json() for s in states])
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
    from envman.staleness import ADVICE

    reference = now()
    rows = [["NAME", "PYTHON", "LAST USED", "STATUS", "PROJECT"]]
    for s in states:
        status = "ok" if not s.reasons else "stale: " + ",".join(s.reasons)
        if s.moved_to is not None:
            status = f"moved: {_home(s.moved_to)}" + ("" if not s.reasons else f"; {status}")
        if s.requirements_changed:
            status += " (requirements changed)"
        rows.append([s.record.name, s.record.python, ago(s.last_used, reference), status,
                     _home(s.record.project)])
    right: Set[int] = set()
    if size:
        from envman.sizes import human_size

        rows[0].insert(3, "SIZE")
        for row, s in zip(rows[1:], states):
            row.insert(3, human_size(s.size_bytes or 0))
        right.add(3)
    last = len(rows[0]) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(last)]
    typer.echo("\n".join("  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                                   for i, (cell, w) in enumerate(zip(row, widths))) + "  " + row[last]
                         for row in rows))
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
        from envman.staleness import REQUIREMENTS_CHANGED_ADVICE

        say(f"requirements changed: {REQUIREMENTS_CHANGED_ADVICE}")


@app.command()
@handled
def info(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Name or project path (default: the current project)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Everything known about one environment, with its live state."""
    from envman.staleness import ADVICE

    from envman.sizes import human_size

    store, config = _store(), _config()
    state = _with_sizes(_states(store, [_find(store, name)], None, config))[0]
    if as_json:
        _print_json(state.to_json())
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
    from envman import relocation

    store = _store()
    record = _find(store, name)
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
    from envman import running
    from envman.envs import command_environment, require_directory

    if ctx.meta.get(_RunCommand.UNNAMED) and name is not None:
        command = [name, *(command or [])]
        name = None
    if not command:
        raise UsageError("run needs a command: envman run [NAME] -- CMD [ARG]...")
    store = _store()
    record = _find(store, name)
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
    from envman.removal import remove

    store = _store()
    records = list({r.id: r for r in (_find(store, n) for n in names)}.values())
    _confirm(yes, f"Delete {', '.join(f'{r.name} ({_home(r.path)})' for r in records)}?")
    removed, _ = remove(store, records, delete_adopted=delete_adopted)
    for removal in removed:
        say(_removed_line(removal))
    active = os.environ.get("VIRTUAL_ENV")
    for removal in removed:
        if active and removal.deleted is not None and _same_path(active, removal.record.path):
            say(f"envman: warning: {removal.record.name!r} was active in this shell, which still "
                "points at it (VIRTUAL_ENV, PATH): run `deactivate` (or `envman deactivate`)")


def _same_path(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)


def _confirm(yes: bool, question: str, declined: str = "nothing deleted") -> None:
    """Go on only with --yes or a 'y' typed at a terminal; no terminal means no."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')}: not without confirmation",
                         hint="pass --yes to go ahead without a terminal")
    if not typer.confirm(question, default=False, err=True):
        # 1, as for anything not done: `envman rm x && ...` must not go on as if x were gone.
        say(f"envman: {declined}")
        raise typer.Exit(1)


def _removed_line(removal: Any) -> str:
    r = removal.record
    if removal.deleted is not None:
        return f"removed {r.name!r} ({_home(str(removal.deleted))})"
    kept = "adopted, files kept" if r.adopted and Path(r.path).exists() else "directory already gone"
    return f"unregistered {r.name!r} ({kept}: {_home(r.path)})"


@app.command()
@handled
def prune(
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Show what would be deleted; delete nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    older_than: Optional[str] = typer.Option(None, "--older-than", metavar="AGE", help="Unused for longer than AGE counts as stale."),
    unreachable: bool = typer.Option(False, "--unreachable", help="Also prune environments whose project's drive seems unmounted."),
    as_json: bool = typer.Option(False, "--json", help="Print what was (or would be) done as JSON."),
) -> None:
    """Delete exactly the environments `ls --stale` lists with the same options."""
    from envman import prune as pruning
    from envman.sizes import human_size

    given(older_than, "--older-than")
    store, config = _store(), _config()
    age = parse_age(older_than) if older_than is not None else config.stale_after
    plan = pruning.make_plan(store, age, unreachable)
    doable = [c for c in plan.candidates if c.refusal is None]
    if doable and not (dry_run or yes or sys.stdin.isatty()):  # the one error line, first
        _confirm(yes, f"Prune {len(doable)} environment(s), freeing {human_size(plan.size)}?")
    if not as_json:
        _show_prune_plan(plan, dry_run)
    if dry_run or not doable:
        if as_json:
            _print_json(pruning.to_json(plan, True, [], []))
        if not dry_run and len(doable) < len(plan.candidates):
            raise _left_in_place(len(plan.candidates))
        return
    _confirm(yes, f"Prune {len(doable)} environment(s), freeing {human_size(plan.size)}?")
    removed, refused = pruning.execute(store, plan)
    if as_json:
        _print_json(pruning.to_json(plan, False, removed, refused))
    else:
        for removal in removed:
            say(_removed_line(removal))
        gone = {r.record.id for r in removed}
        say(f"freed {human_size(sum(c.size for c in plan.candidates if c.state.record.id in gone))}")
    if refused:
        raise _left_in_place(len(refused))


def _left_in_place(count: int) -> OperationFailed:
    return OperationFailed(f"{count} environment(s) could not be proven envman's and were left in place",
                           hint="the lines above say why; `envman doctor` explains more")


def _show_prune_plan(plan: Any, dry_run: bool) -> None:
    from envman.sizes import human_size

    for skipped in plan.skipped:
        say(f"skip    {skipped.record.name}: project unreachable ({_home(skipped.record.project)}); "
            "use --unreachable to prune it")
    for kept in plan.kept:
        also = f" (also {', '.join(kept.reasons)})" if kept.reasons else ""
        say(f"keep    {kept.record.name}: its project moved to {_home(str(kept.moved_to))}{also}; "
            f"`envman mv {kept.record.name} --project {shlex.quote(str(kept.moved_to))}` records the move")
    if not plan.candidates:
        say("nothing to prune")
        return
    verb = "would " if dry_run else ""
    for c in plan.candidates:
        what = (f"refuse  {c.state.record.name}: {c.refusal}" if c.refusal else
                f"{verb}delete {c.state.record.name} ({human_size(c.size)}, {', '.join(c.state.reasons)})"
                if c.deletes else
                f"{verb}unregister {c.state.record.name} ({', '.join(c.state.reasons)}; "
                f"{'adopted, files kept' if c.state.record.adopted else 'nothing on disk'})")
        say(what)
    say(f"{'would free' if dry_run else 'to free'}: {human_size(plan.size)}")


@app.command()
@handled
def adopt(
    path: Path = typer.Argument(..., metavar="PATH", help="An existing virtual environment (a project's .venv, say)."),
    name: Optional[str] = typer.Option(None, "--name", metavar="NAME", help="Name to register it under (default: the project's)."),
    project: Optional[str] = typer.Option(None, "--project", "-p", metavar="DIR", help="The project it serves (default: the directory holding it)."),
) -> None:
    """Register an existing virtual environment that envman did not create."""
    from envman.adopt import adopt as adopt_env

    given(project, "--project")
    given(name, "--name")
    record = adopt_env(_store(), path, name=name, project=Path(project) if project is not None else None)
    say(f"adopted {record.name!r}: {_home(record.path)} (Python {record.python}) for {_home(record.project)}")
    say("its files are never deleted by rm or prune unless you pass --delete-adopted to rm")


@app.command()
@handled
def doctor(
    fix: bool = typer.Option(False, "--fix", help="Repair what can be repaired."),
) -> None:
    """Check the registry against the store and repair what can be repaired.

    Exits 0 when nothing is wrong (or everything was repaired), 1 otherwise.
    """
    from envman import doctor as checks

    store = _store()
    findings = checks.examine(store)
    if fix:
        findings = checks.fix(findings)
    if not findings:
        say(f"all good: {store.root}")
        return
    unresolved = 0
    for f in findings:
        say(f"{f.kind}: {f.subject}: {f.detail}")
        if f.outcome:
            say(f"  fixed: {f.outcome}" if not f.outcome.startswith("failed") else f"  {f.outcome}")
        elif f.fixable:
            say("  `envman doctor --fix` repairs this")
        if f.advice:
            say(f"  {f.advice}")
        unresolved += not f.outcome or f.outcome.startswith("failed")
    if unresolved:
        raise typer.Exit(1)


@app.command("completion")
@handled
def completion_command(
    shell: Optional[str] = typer.Argument(None, metavar="SHELL", help="bash, zsh, fish or powershell (pwsh)."),
    setup: bool = typer.Option(False, "--setup", hidden=True, help="Print what the scripts keep for a shell session."),
) -> None:
    """Print the completion script for bash, zsh, fish or powershell.

    Install it once, e.g. `envman completion bash > ~/.local/share/bash-completion/completions/envman`;
    the README shows every shell.
    """
    from envman import completion

    if setup:  # normally answered in __main__ before typer loads; kept for other entries
        typer.echo("".join(f"{line}\n" for line in completion.setup_lines()), nl=False)
        return
    if shell is None:
        raise UsageError("which shell? `envman completion SHELL` with bash, zsh, fish or powershell",
                         hint="envman completion bash > ~/.local/share/bash-completion/completions/envman")
    typer.echo(completion.script(shell), nl=False)


@app.command()
@handled
def recreate(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Name or project path of the environment to rebuild."),
    python: Optional[str] = typer.Option(None, "--python", metavar="SPEC", help="Rebuild with this Python instead of the recorded version."),
    requirement: Optional[List[Path]] = typer.Option(None, "--requirement", "-r", metavar="FILE", help="Requirements file to install instead of the recorded ones (recorded); repeatable."),
    every: bool = typer.Option(False, "--all", help="Rebuild every environment."),
    broken: bool = typer.Option(False, "--broken", help="With --all: only those whose base Python is gone."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Show only warnings and errors: no steps, no installer's progress, no summary."),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --all: do not ask for confirmation."),
) -> None:
    """Rebuild an environment from scratch: recorded Python version, options and requirements.

    The old environment is kept until the new one is complete, and put back if the
    rebuild fails. Exits 1 if any environment could not be rebuilt.
    """
    from envman import recreate as rebuilding

    given(python, "--python")
    if name is not None and every:
        raise UsageError("give an environment NAME or --all, not both")
    if name is None and not every:
        raise UsageError("name the environment to rebuild, or pass --all",
                         hint="envman recreate NAME, envman recreate --all [--broken]")
    if broken and not every:
        raise UsageError("--broken goes with --all", hint="envman recreate --all --broken")
    if every and requirement:
        raise UsageError("-r applies to one environment; it cannot go with --all")
    from envman import uv

    store = _store()
    options = rebuilding.RecreateOptions(python=python, quiet=quiet, uv=uv.locate(_config()),
                                         requirements=requirement if requirement else None)
    if name is not None:
        record = _find(store, name)
        done = rebuilding.recreate(store, record, options, _finder(store), progress=_progress(quiet))
        _recreate_summary(rebuilding.Outcome(record, done=done), quiet)
        return
    _confirm_rebuild(store, broken, yes)
    outcomes = rebuilding.recreate_all(store, options, broken,
                                       functools.partial(_recreate_summary, quiet=quiet),
                                       _finder(store), progress=_progress(quiet))
    failed = [o for o in outcomes if o.error is not None]
    rebuilt = sum(o.done is not None for o in outcomes)
    skipped = sum(o.skipped is not None for o in outcomes)
    what = "broken environments" if broken else "environments"
    if not quiet:
        say(f"{what}: {rebuilt} recreated, {len(failed)} failed, {skipped} skipped" if outcomes
            else f"no {what} to recreate")
    if failed:
        raise OperationFailed(f"{len(failed)} environment(s) could not be recreated: "
                              f"{', '.join(o.record.name for o in failed)}",
                              hint="each was left as it was; the lines above say why")


def _confirm_rebuild(store: Store, broken: bool, yes: bool) -> None:
    """`recreate --all` replaces every environment: ask, as rm and prune do, unless none is due."""
    from envman import recreate as rebuilding

    due = [r.name for r in rebuilding.selected(store, broken) if not r.adopted]
    if due:
        shown = ", ".join(due[:5]) + (f" and {len(due) - 5} more" if len(due) > 5 else "")
        _confirm(yes, f"Rebuild {len(due)} environment(s) from scratch ({shown})?",
                 declined="nothing rebuilt")


def _recreated_lines(done: "Recreated") -> None:
    r = done.record
    say(f"recreated {r.name!r} with Python {r.python} ({r.python_executable}, {done.python_source})")
    if r.requirements:
        say(f"  installed: {', '.join(q.path for q in r.requirements)}")
    elif done.reinstalled:
        say(f"  reinstalled from the old environment: {' '.join(done.reinstalled)}")
    if done.not_reinstalled:
        say(f"  not reinstalled (made --without-pip): {' '.join(done.not_reinstalled)}")
    for change in done.seeded:
        if change.put_back:
            say(f"  put back: {change.name} {change.old} (the new venv came with {change.new})")
        elif change.failed is None:
            say(f"  changed: {change.name} {change.old} -> {change.new} (what the new venv came with)")


def _recreate_notices(done: "Recreated") -> None:
    """What a rebuild repaired first or could not keep as it was: said even with --quiet."""
    if done.restored:
        say(f"envman: put back {done.record.name!r} from an interrupted rebuild first")
    for c in done.seeded:
        if c.failed is not None:
            say(f"envman: warning: {done.record.name!r} had {c.name} {c.old}, which could not be "
                f"put back ({c.failed}); it now has {c.new}: `envman run {done.record.name} -- "
                f"python -m pip install {c.name}=={c.old}` where an index has it")


def _recreate_summary(outcome: "Outcome", quiet: bool = False) -> None:
    if outcome.done is not None:
        _recreate_notices(outcome.done)
        if not quiet:
            _recreated_lines(outcome.done)
    elif outcome.error is not None:
        say(f"failed {outcome.record.name!r}: {outcome.error.message}")
        if outcome.error.hint:
            say(f"  hint: {outcome.error.hint}")
    else:
        say(f"skipped {outcome.record.name!r}: {outcome.skipped}")


@app.command()
@handled
def activate(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Name or project path (default: the current project)."),
    shell: Optional[str] = typer.Option(None, "--shell", metavar="SHELL", help="bash, zsh, sh, dash, ksh, mksh, fish, csh, tcsh, nu, xonsh or pwsh (default: detected)."),
    as_json: bool = typer.Option(False, "--json", help="Print what activation changes as JSON instead of code."),
) -> None:
    """Print the code that activates an environment in the running shell.

    bash, zsh, sh: eval "$(envman activate NAME)"   fish: envman activate NAME | source
    (README: every shell's line). stdout carries only the code.
    """
    from envman import shells
    from envman.envs import activation, require_directory
    from envman.basepython import base_python_present, broken_warning

    found = None
    if as_json:
        chosen = None
        if shell is not None:
            shells.for_name(shell)  # an unknown --shell is bad input even here
    else:
        found = shells.detect_name(shell, os.environ)
        chosen = shells.for_name(found)
    store = _store()
    record = _find(store, name)
    require_directory(record)
    if not base_python_present(record.path):
        say(broken_warning(record.name))
    changes = activation(record)
    text = None if chosen is None else chosen.activate(changes, os.environ)  # may refuse: before the stamp
    store.touch_used(record)
    if text is None:
        _print_json(changes.to_json())
    else:
        sys.stdout.write(text)
        if found is not None and sys.stdout.isatty():
            _code_on_terminal(found, "envman activate" + (f" {name}" if name else ""))


def _code_on_terminal(found: str, command: str) -> None:
    """Code shown on a terminal was not run: say how to run it, once, on stderr."""
    from envman.shellinit import terminal_hint

    say(terminal_hint(found, command))


@app.command()
@handled
def deactivate(
    shell: Optional[str] = typer.Option(None, "--shell", metavar="SHELL", help="As for activate (default: detected)."),
) -> None:
    """Print the code that deactivates the active environment.

    bash, zsh, sh: eval "$(envman deactivate)"   fish: envman deactivate | source
    """
    from envman import shells

    found = shells.detect_name(shell, os.environ)
    chosen = shells.for_name(found)
    if not os.environ.get("VIRTUAL_ENV"):
        say("no environment is active (VIRTUAL_ENV is not set): nothing to deactivate")
    sys.stdout.write(chosen.deactivate(os.environ))
    if sys.stdout.isatty():
        _code_on_terminal(found, "envman deactivate")


@app.command("init")
@handled
def init_command(
    shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh, sh, dash, ksh, mksh, fish, tcsh, nu, xonsh or pwsh."),
    auto: bool = typer.Option(False, "--auto", help="Also activate a project's environment on cd into it, and deactivate on leaving (bash, zsh, fish)."),
) -> None:
    """Print the code for the shell's rc file: `envman activate NAME` without eval.

    bash: eval "$(envman init bash)" in ~/.bashrc   fish: envman init fish | source
    (README: every shell's line).
    """
    from envman.shellinit import rc_code

    sys.stdout.write(rc_code(shell, auto))


@app.command("shell")
@handled
def shell_command(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Name or project path (default: the current project)."),
    shell: Optional[str] = typer.Option(None, "--shell", metavar="SHELL", help="As for activate (default: detected)."),
) -> None:
    """Start your shell with the environment active; `exit` leaves it.

    The shell's exit status is envman's.
    """
    from envman import shells, subshell
    from envman.envs import activation, require_directory

    found = shells.detect_name(shell, os.environ)
    store = _store()
    record = _find(store, name)
    require_directory(record)
    how = subshell.launch(found, activation(record), os.environ)
    store.touch_used(record)
    say(f"entering {record.name!r} in a new {shells.normalise(found)}; `exit` leaves it")
    sys.stdout.flush()
    sys.stderr.flush()
    code = subshell.run(how)
    raise typer.Exit(code or 0)


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
    from envman import moves

    store = _store()
    record = _find(store, name)
    if project is not None:
        from envman.identity import links_to

        directory = moves.project_directory(Path(project))
        linked = links_to(record.project, record.path)
        moved = moves.point(store, record, directory)
        say(f"{moved.name!r} now serves {_home(moved.project)} (was {_home(record.project)}); "
            "the environment itself is unchanged")
        if linked and links_to(moved.project, moved.path):
            say(f"  the .venv link moved with it: {_home(str(directory / '.venv'))}")
        elif linked:
            say(f"  {_home(str(directory / '.venv'))} exists and was left alone; "
                f"the link in {_home(record.project)} was removed")
        return
    from envman import renaming, uv

    assert new_name is not None
    done = renaming.rename(store, record, new_name, quiet=quiet, finder=_finder(store),
                           uv_exe=uv.locate(_config()), progress=_progress(quiet))
    if quiet:
        return
    r = done.record
    if not done.rebuilt:
        say(f"renamed {record.name!r} to {r.name!r} (adopted: only its record changed; {_home(r.path)})")
        return
    say(f"renamed {record.name!r} to {r.name!r}: rebuilt at {_home(r.path)} with Python {r.python} "
        f"({r.python_executable}, {done.python_source}); the old environment was deleted")
    if done.reinstalled:
        say(f"  reinstalled from the old environment: {' '.join(done.reinstalled)}")
    if done.link_updated:
        say(f"  {_home(str(Path(r.project) / '.venv'))} now links to it")


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
    from envman import links

    store = _store()
    record = _find(store, name)
    where = _home(str(links.where(record)))
    if remove:
        if links.remove(record):
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


def _on_sigterm(signum: int, frame: Any) -> NoReturn:
    # Same path as Ctrl-C, so every clean-up handler runs before we go.
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> None:
    """The typer CLI; `envman.__main__.main` (the console script) calls it for everything
    but the completion set-up it answers itself.

    Click runs without its own error handling (`standalone_mode=False`) so that a usage
    error (an unknown option, a missing argument) is one `envman: error:` line with a
    hint, exit 2, like every other error, on every typer and click release.
    """
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = app(args=argv, prog_name="envman", standalone_mode=False)
    except Exception as exc:
        # Click's exceptions by class name: typer 0.29 vendors its own click
        # (`typer._click`), older releases use the click package.
        kinds = {cls.__name__ for cls in type(exc).__mro__}
        ctx = getattr(exc, "ctx", None)
        if "NoArgsIsHelpError" in kinds:  # plain `envman`: the help, as before
            typer.echo(ctx.get_help() if ctx is not None else "")
            sys.exit(2)
        if "UsageError" in kinds:
            say(f"envman: error: {exc.format_message()}")  # type: ignore[attr-defined]
            say(f"hint: see `{ctx.command_path if ctx is not None else 'envman'} --help`")
            sys.exit(2)
        if "ClickException" in kinds:
            say(f"envman: error: {exc.format_message()}")  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", 1))
        if os.environ.get("ENVMAN_DEBUG") == "1":  # a bug: one line unless debugging
            raise
        say(f"envman: error: internal error: {type(exc).__name__}: {exc}")
        say("hint: rerun with ENVMAN_DEBUG=1 for a traceback, and please report it")
        sys.exit(1)
    except BaseException as exc:
        if "Abort" in {cls.__name__ for cls in type(exc).__mro__}:  # Ctrl-C inside click
            say("envman: error: interrupted; nothing half-done was kept")
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)
