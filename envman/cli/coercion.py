"""Command-line values converted without pydantic.

typer 0.29 converts every parameter's value through a pydantic `TypeAdapter`: importing
pydantic and building the adapters costs ~90 ms, a third of a pip-ready `envman new`.
envman's parameters are flags, strings, paths and lists of those, whose conversion is
plain Python, so the command classes (`envman.cli.helpstyle`) give those parameters a plain
converter before typer would build an adapter. Any other annotation keeps typer's own
conversion. The converter sits in typer's lazily filled `_runtime_param` slot: typer is
pinned to 0.29.x (pyproject.toml), and tests/test_help.py checks that a command runs
without importing pydantic, so a typer that moves the slot fails there, not in use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List

from typer._coercion import RuntimeParam


def _each(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda values: [convert(value) for value in values]


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):  # envman's flags take no text (no envvar, no value)
        raise TypeError(f"a flag's value is {value!r}")
    return value


CONVERTERS: Dict[Any, Callable[[Any], Any]] = {
    bool: _flag,
    str: str,
    Path: Path,
    List[str]: _each(str),
    List[Path]: _each(Path),
}


@dataclass(frozen=True)
class _Plain(RuntimeParam):
    convert: Callable[[Any], Any] = str

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        return self.convert(value)


def make_plain(params: Iterable[Any]) -> None:
    """Give each parameter whose annotation is in CONVERTERS a plain converter."""
    for param in params:
        if getattr(param, "_runtime_param", False) is not None:  # built already, or no slot
            continue
        descriptor = param.type_descriptor
        convert = CONVERTERS.get(descriptor.annotation)
        if convert is not None:
            param._runtime_param = _Plain(parameter_info=descriptor.parameter_info,
                                          annotation=descriptor.annotation, convert=convert)
