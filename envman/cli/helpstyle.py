"""`--help` that reads like the README: plain metavars, never Python type names.

typer 0.2x shows each parameter's Python type in help (`--json <bool>`,
`-r <list[Path]>`, `name <str>`) and writes usage as `{NAME...}...`. envman's help says
`-r FILE`, `--older-than AGE`, `NAME...`, as its README and SPEC do: a flag shows
nothing after its name, an option taking a value shows its metavar (cli.py gives every
one; its upper-cased name otherwise), an argument shows its metavar in the name column
and nothing else, and the usage line is built here from the same words.

The command classes reach typer through `App`, a `typer.Typer` whose commands and
group default to them. Only public click API (`get_params`, `collect_usage_pieces`) is
overridden, so older typer releases, which show click's metavars, read the same.
Before parsing, they also give plain parameters a converter that needs no pydantic
(`envman.cli.coercion`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from envman.cli.coercion import make_plain

F = TypeVar("F", bound=Callable[..., Any])


def _plain(param: Any) -> Any:
    """`param` with its help showing only a metavar; the same object, changed in place."""
    takes_value = param.param_type_name == "option" and not (param.is_flag or param.count)
    if param.metavar is None and (takes_value or param.param_type_name == "argument"):
        param.metavar = (param.name or "value").upper()
    if hasattr(param, "display_type_rich"):  # typer 0.2x: the type column of the help table
        shown = param.metavar if takes_value else None
        param.display_type_rich = lambda ctx=None, _shown=shown: _shown
    return param


def _usage(command: Any, ctx: Any) -> List[str]:
    """`[OPTIONS]` and the arguments as the README writes them: NAME, [NAME], NAME..."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name != "argument":
            continue
        word = param.metavar
        if param.nargs != 1 and not word.endswith("..."):
            word += "..."
        pieces.append(word if param.required else f"[{word}]")
    return pieces


if TYPE_CHECKING:
    _Base = TyperCommand
else:
    _Base = object


class _PlainParams(_Base):
    """What both command classes change: plain help, and values converted without pydantic."""

    def parse_args(self, ctx: Any, args: List[str]) -> List[str]:
        make_plain(self.get_params(ctx))
        result: List[str] = super().parse_args(ctx, args)
        return result

    def get_params(self, ctx: Any) -> List[Any]:
        return [_plain(p) for p in super().get_params(ctx)]


class PlainCommand(_PlainParams, TyperCommand):
    def collect_usage_pieces(self, ctx: Any) -> List[str]:
        return _usage(self, ctx)


class PlainGroup(_PlainParams, TyperGroup):
    def collect_usage_pieces(self, ctx: Any) -> List[str]:
        return [*_usage(self, ctx), self.subcommand_metavar]


class App(typer.Typer):
    """A typer app whose group and commands use the plain help above unless told otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("cls", PlainGroup)
        super().__init__(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        kwargs.setdefault("cls", PlainCommand)
        decorator: Callable[[F], F] = super().command(*args, **kwargs)
        return decorator
