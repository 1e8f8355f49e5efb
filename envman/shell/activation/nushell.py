"""nushell: it cannot evaluate code a command prints, so envman prints a NUON record of
what to set and what to hide, and one fixed line applies it:

    envman activate | from nuon | do --env { load-env $in.set; hide-env -i ...$in.unset }

nushell keeps no shell-local variables and cannot hold a function we could define, so
the state deactivation needs (the PATH and PYTHONHOME before activation) travels in
environment variables, and envman, reading them back from its own environment (which
is nushell's), computes both directions itself. PATH is a list in nushell; it is
saved as the string nushell passes to programs and split again on the way back.
"""

from __future__ import annotations

import os
import re

from envman.shell.activation import (ACTIVATION_VARIABLES, HIDDEN_VARIABLES, OLD_PATH, TYPE_CHECKING, Shell,
                           old, without_scripts)

if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

    from envman.shell.activation import Activation

    Value = Union[str, List[str]]


def quote(text: str) -> str:
    """A raw string `r#'...'#`, with one more `#` than any `'#...` run inside it, so
    nothing in `text` can end it and nothing inside is interpreted. nushell 0.108 also
    misreads a raw string whose text starts with as many `#` as it has: count those too."""
    runs = [len(m.group(1)) for m in re.finditer(r"'(#*)", text)]
    longest = max([len(text) - len(text.lstrip("#")), *runs])
    hashes = "#" * (longest + 1)
    return f"r{hashes}'{text}'{hashes}"


def record(values: Mapping[str, Value]) -> str:
    def one(value: Value) -> str:
        return quote(value) if isinstance(value, str) else "[" + ", ".join(map(quote, value)) + "]"

    # NUON keys cannot be raw strings; ours are fixed variable names, bare words.
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) for key in values)
    return "{" + ", ".join(f"{key}: {one(value)}" for key, value in values.items()) + "}"


def _as_list(path_value: str) -> List[str]:
    return path_value.split(os.pathsep) if path_value else []


class Nushell(Shell):
    def quote(self, text: str) -> str:
        return quote(text)

    def _before(self, environ: Mapping[str, str],
                hidden: Sequence[str]) -> Tuple[str, Dict[str, Optional[str]]]:
        """PATH and the hidden variables as they were before any envman activation."""
        path = environ.get("PATH", "")
        values: Dict[str, Optional[str]] = {var: environ.get(var) for var in hidden}
        if OLD_PATH in environ:  # ours is active (here, or in a parent nushell)
            path = environ[OLD_PATH]
            values = {var: environ.get(old(var)) for var in hidden}
        elif environ.get("VIRTUAL_ENV"):
            path = without_scripts(path, environ["VIRTUAL_ENV"])
        return path, values

    def _render(self, set_: Dict[str, Value], unset: List[str]) -> str:
        return "{set: " + record(set_) + ", unset: [" + ", ".join(map(quote, unset)) + "]}\n"

    def activate(self, act: "Activation", environ: Mapping[str, str]) -> str:
        path, values = self._before(environ, act.unset)
        set_: Dict[str, Value] = dict(act.set)
        set_["PATH"] = [*act.path_prepend, *_as_list(path)]
        set_[OLD_PATH] = path
        unset: List[str] = list(act.unset)
        for var, value in values.items():
            if value is None:
                unset.append(old(var))
            else:
                set_[old(var)] = value
        return self._render(set_, unset)

    def deactivate(self, environ: Mapping[str, str]) -> str:
        if OLD_PATH not in environ and not environ.get("VIRTUAL_ENV"):
            return self._render({}, [])
        path, values = self._before(environ, HIDDEN_VARIABLES)
        set_: Dict[str, Value] = {"PATH": _as_list(path)}
        unset = [*ACTIVATION_VARIABLES, OLD_PATH]
        for var, value in values.items():
            unset.append(old(var))
            if value is None:
                unset.append(var)
            else:
                set_[var] = value
        return self._render(set_, unset)


SHELL = Nushell
