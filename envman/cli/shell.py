"""The shell commands: `completion`, `activate`, `deactivate`, `init` and `shell`."""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from envman.cli.base import app, find_record, handled, open_store, print_json, say
from envman.errors import UsageError


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
    from envman.shell import completion_scripts

    if setup:  # normally answered in __main__ before typer loads; kept for other entries
        typer.echo("".join(f"{line}\n" for line in completion_scripts.setup_lines()), nl=False)
        return
    if shell is None:
        raise UsageError("which shell? `envman completion SHELL` with bash, zsh, fish or powershell",
                         hint="envman completion bash > ~/.local/share/bash-completion/completions/envman")
    typer.echo(completion_scripts.script(shell), nl=False)


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
    from envman.shell import activation as shells
    from envman.ops.run import require_directory
    from envman.shell.activation import activation
    from envman.python.base import base_python_present, broken_warning

    found = None
    if as_json:
        chosen = None
        if shell is not None:
            shells.for_name(shell)  # an unknown --shell is bad input even here
    else:
        found = shells.detect_name(shell, os.environ)
        chosen = shells.for_name(found)
    store = open_store()
    record = find_record(store, name)
    require_directory(record)
    if not base_python_present(record.path):
        say(broken_warning(record.name))
    changes = activation(record)
    text = None if chosen is None else chosen.activate(changes, os.environ)  # may refuse: before the stamp
    store.touch_used(record)
    if text is None:
        print_json(changes.to_json())
    else:
        sys.stdout.write(text)
        if found is not None and sys.stdout.isatty():
            _code_on_terminal(found, "envman activate" + (f" {name}" if name else ""))


def _code_on_terminal(found: str, command: str) -> None:
    """Code shown on a terminal was not run: say how to run it, once, on stderr."""
    from envman.shell.init import terminal_hint

    say(terminal_hint(found, command))


@app.command()
@handled
def deactivate(
    shell: Optional[str] = typer.Option(None, "--shell", metavar="SHELL", help="As for activate (default: detected)."),
) -> None:
    """Print the code that deactivates the active environment.

    bash, zsh, sh: eval "$(envman deactivate)"   fish: envman deactivate | source
    """
    from envman.shell import activation as shells

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
    from envman.shell.init import rc_code

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
    from envman.shell import activation as shells, subshell
    from envman.ops.run import require_directory
    from envman.shell.activation import activation

    found = shells.detect_name(shell, os.environ)
    store = open_store()
    record = find_record(store, name)
    require_directory(record)
    how = subshell.launch(found, activation(record), os.environ)
    store.touch_used(record)
    say(f"entering {record.name!r} in a new {shells.normalise(found)}; `exit` leaves it")
    sys.stdout.flush()
    sys.stderr.flush()
    code = subshell.run(how)
    raise typer.Exit(code or 0)
