"""The typer app and what every command module shares: errors as one line and an exit
status, the store, the configuration, and the lines and JSON the commands print.

Everything here is presentation; the core modules never print or exit. Modules that
only some commands need are imported inside those commands to keep `ls` start-up lean.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, AbstractSet, Any, Callable, NoReturn, Optional, Sequence, TypeVar

import typer

from envman import __version__
from envman.cli.helpstyle import App
from envman.config import Config, config_path, load_config
from envman.errors import EnvmanError, UsageError
from envman.models import EnvRecord
from envman.store import registry
from envman.store.layout import Store

if TYPE_CHECKING:
    from envman.python.interpreters import Finder

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


def open_store() -> Store:
    return Store.from_environment()


def read_config() -> Config:
    return load_config(config_path())


def progress_lines(quiet: bool) -> Callable[[str], None]:
    """The core's progress callback: each step as a line on stderr, or nothing."""
    if quiet:
        return lambda message: None
    return lambda message: say(f"envman: {message}")


def print_json(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a path that is not UTF-8 (`scan` finds them): escaped, valid JSON
        text = json.dumps(data, indent=2)
    typer.echo(text)


# What must not reach a terminal from a file name or a file's text: C0 and C1 controls
# (escape sequences, a newline that fakes a row), line and paragraph separators, and the
# bidirectional controls that reorder what is shown (`rlo-\u202egnp.exe`).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` as one harmless line: those characters, and bytes that are not UTF-8,
    written as escapes (`\\x1b`, `\\u202e`, `\\udcff`)."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else f"\\u{ord(m.group()):04x}", text)


def shown(path: str) -> str:
    """A path for a table or a message: `~` for the home, and `printable`."""
    return printable(tilde(path))


def table(rows: Sequence[Sequence[str]], right: AbstractSet[int] = frozenset()) -> str:
    """Rows as aligned columns two spaces apart; columns in `right` aligned right, the
    last (a path, often long) not padded."""
    last = len(rows[0]) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(last)]
    return "\n".join("  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))) + "  " + row[last]
                     for row in rows)


def tilde(path: str) -> str:
    home = os.path.expanduser("~")
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


def interpreter_finder(store: Store) -> "Finder":
    """The interpreter finder of `new`, `recreate` and `mv`: what it decided about the
    interpreter (a venv's replaced by its base, a requires-python not met) is said here."""
    from envman.python.interpreters import Finder

    return Finder(store.cache, tell=lambda message: say(f"envman: {message}"))


def find_record(store: Store, ref: Optional[str]) -> EnvRecord:
    from envman.projects import lookup
    from envman.store import relocation

    found = lookup.find(store, registry.load(store), ref)
    if found.note:
        say(f"envman: {found.note}")
    old_root = relocation.moved_from(store, [found.record])
    if old_root is not None:
        say(f"envman: {relocation.note(old_root)}")
    if found.moved_to is not None:
        from envman.projects import moves

        record = moves.point(store, found.record, found.moved_to)
        say(f"envman: the project of {record.name!r} moved from {tilde(found.record.project)} to "
            f"{tilde(record.project)}: its record now points there")
        return record
    return found.record


def confirm(yes: bool, question: str, declined: str = "nothing deleted") -> None:
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


def removed_line(removal: Any) -> str:
    r = removal.record
    if removal.deleted is not None:
        return f"removed {r.name!r} ({tilde(str(removal.deleted))})"
    kept = "adopted, files kept" if r.adopted and Path(r.path).exists() else "directory already gone"
    return f"unregistered {r.name!r} ({kept}: {tilde(r.path)})"


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print envman's version and exit."),
) -> None:
    if version:
        typer.echo(f"envman {__version__}")
        raise typer.Exit(0)
