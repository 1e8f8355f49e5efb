"""`envman`'s command line: the typer app with every command registered, and `main`.

Each command lives in the module of its group, beside its presentation, and calls the
silent core (`envman.ops` and the packages under it). Importing the groups here, in
this order, registers their commands in the order `envman --help` lists them.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, NoReturn, Optional, Sequence

import typer

from envman.cli import environments, upkeep, shell, projects, packages, discovery  # noqa: F401  (in `--help` order; importing registers)
from envman.cli.base import app, say

__all__ = ["app", "main"]


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
