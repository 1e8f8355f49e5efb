"""The typer layer: parse, call the core, render text or JSON, map errors to exit codes.

Everything here is presentation; the core modules never print or exit. Modules that
only some commands need are imported inside those commands to keep `ls` start-up lean.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, List, NoReturn, Optional, Sequence, TypeVar

import typer

from envman import __version__, registry
from envman.ages import ago, now, parse_age
from envman.config import Config, config_path, load_config
from envman.errors import EnvmanError, UsageError
from envman.models import EnvRecord, EnvState
from envman.store import Store

app = typer.Typer(
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


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _home(path: str) -> str:
    home = os.path.expanduser("~")
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


def _states(store: Store, records: Sequence[EnvRecord], older_than: Optional[str],
            config: Config) -> List[EnvState]:
    from envman.staleness import assess

    age = parse_age(older_than) if older_than else config.stale_after
    moment = now()
    return [assess(store, record, moment, age) for record in records]


def _find(store: Store, ref: Optional[str]) -> EnvRecord:
    from envman import lookup

    found = lookup.find(store, registry.load(store), ref)
    if found.note:
        say(found.note)
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
    name: Optional[str] = typer.Argument(None, help="Environment name (default: the project directory's name)."),
    project: Optional[Path] = typer.Option(None, "--project", "-p", help="Project directory (default: the current one)."),
    python: Optional[str] = typer.Option(None, "--python", help="3.12, '>=3.10,<3.13', python3.11 or a path."),
    requirement: Optional[List[Path]] = typer.Option(None, "--requirement", "-r", help="Requirements file to install; repeatable."),
    system_site_packages: bool = typer.Option(False, "--system-site-packages", help="Give the environment access to the base Python's packages."),
    copies: bool = typer.Option(False, "--copies", help="Copy the interpreter instead of symlinking it."),
    without_pip: bool = typer.Option(False, "--without-pip", help="Do not install pip into the environment."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Prompt prefix when active (default: the name)."),
    as_json: bool = typer.Option(False, "--json", help="Print the new environment as JSON."),
) -> None:
    """Create an environment for a project and register it."""
    from envman.envs import NewOptions, create
    from envman.staleness import assess

    store, config = _store(), _config()
    options = NewOptions(name=name, project=project, python=python, requirements=requirement or (),
                         system_site_packages=system_site_packages, copies=copies,
                         without_pip=without_pip, prompt=prompt)
    created = create(store, config, options)
    record = created.record
    if as_json:
        _print_json(assess(store, record, now(), config.stale_after).to_json())
        return
    say(f"created {record.name!r} for {_home(record.project)}")
    say(f"  python: {record.python} ({record.python_executable}, from {created.python_source})")
    say(f"  path:   {record.path}")
    if record.requirements:
        say(f"  installed: {', '.join(r.path for r in record.requirements)}")


@app.command("ls")
@handled
def ls(
    stale: bool = typer.Option(False, "--stale", help="Only environments with a stale reason."),
    older_than: Optional[str] = typer.Option(None, "--older-than", metavar="AGE", help="Unused for longer than AGE (2w, 90d, 12h) counts as stale."),
    project: Optional[Path] = typer.Option(None, "--project", "-p", help="Only environments of projects in DIR."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List registered environments, their projects, Pythons and stale reasons."""
    store, config = _store(), _config()
    records = list(registry.load(store))
    if project is not None:
        base = os.path.realpath(os.path.expanduser(str(project)))
        records = [r for r in records if r.project == base or r.project.startswith(base.rstrip(os.sep) + os.sep)]
    states = _states(store, records, older_than, config)
    if stale:
        states = [s for s in states if s.reasons]
    if as_json:
        _print_json([s.to_json() for s in states])
        return
    if not states:
        say("no stale environments" if stale else "no environments yet: create one with `envman new`")
        return
    _print_table(states)


def _print_table(states: Sequence[EnvState]) -> None:
    from envman.staleness import ADVICE

    reference = now()
    rows = [("NAME", "PYTHON", "LAST USED", "STATUS", "PROJECT")]
    for s in states:
        status = "ok" if not s.reasons else "stale: " + ",".join(s.reasons)
        rows.append((s.record.name, s.record.python, ago(s.last_used, reference), status,
                     _home(s.record.project)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    typer.echo("\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4]
                         for row in rows))
    reasons = sorted({reason for s in states for reason in s.reasons})
    for reason in reasons:
        say(f"{reason}: {ADVICE[reason]}")


@app.command()
@handled
def info(
    name: Optional[str] = typer.Argument(None, help="Name or project path (default: the current project)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Everything known about one environment, with its live state."""
    from envman.staleness import ADVICE

    store, config = _store(), _config()
    state = _states(store, [_find(store, name)], None, config)[0]
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
        ("options", " ".join(options) or "none"),
    ]
    if r.prompt is not None:
        lines.append(("prompt", r.prompt))
    if r.adopted:
        lines.append(("adopted", "yes (envman did not create it)"))
    for key, value in lines:
        typer.echo(f"{key + ':':<14}{value}")


@app.command()
@handled
def path(
    name: Optional[str] = typer.Argument(None, help="Name or project path (default: the current project)."),
) -> None:
    """Print the environment's root directory, nothing else."""
    store = _store()
    typer.echo(_find(store, name).path)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@handled
def run(
    name: str = typer.Argument(..., help="Name, or project path such as '.'."),
    command: List[str] = typer.Argument(..., metavar="-- CMD [ARG]...", help="The command to run."),
) -> None:
    """Run one command inside the environment without activating it.

    The command's exit status is envman's.
    """
    import shutil

    from envman.envs import command_environment

    store = _store()
    record = _find(store, name)
    if not Path(record.path).is_dir():
        raise UsageError(f"the directory of environment {record.name!r} is gone: {record.path}",
                         hint=f"rebuild it with `envman recreate {record.name}`")
    env = command_environment(record)
    executable = shutil.which(command[0], path=env["PATH"])
    if executable is None:
        raise UsageError(f"command not found: {command[0]!r} (looked in the environment and on PATH)")
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
) -> None:
    """Delete environments and their records."""
    from envman.envs import remove

    store = _store()
    records = {r.id: r for r in (_find(store, n) for n in names)}.values()
    listing = ", ".join(f"{r.name} ({_home(r.path)})" for r in records)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"not deleting {listing} without confirmation",
                             hint="pass --yes to delete without a terminal")
        if not typer.confirm(f"Delete {listing}?", default=False, err=True):
            say("nothing deleted")
            raise typer.Exit(1)
    for removal in remove(store, list(records)):
        r = removal.record
        say(f"removed {r.name!r}" + ("" if removal.deleted else f" (record only; {_home(r.path)} kept or already gone)"))


def _on_sigterm(signum: int, frame: Any) -> NoReturn:
    # Same path as Ctrl-C, so every clean-up handler runs before we go.
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Console-script entry point."""
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app(args=argv, prog_name="envman")
    except Exception as exc:  # a bug: say so in one line unless debugging
        if os.environ.get("ENVMAN_DEBUG") == "1":
            raise
        say(f"envman: error: internal error: {type(exc).__name__}: {exc}")
        say("hint: rerun with ENVMAN_DEBUG=1 for a traceback, and please report it")
        sys.exit(1)
