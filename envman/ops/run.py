"""`run NAME -- CMD`: the environment the command runs in, which executable runs, and why
it may not.

The environment's scripts directory comes first on the command's `PATH`, so a command
it does not hold is found further down (`make`, `git`, or a tool the person expected
the environment to have): the caller says which one runs. And an environment whose base
Python is gone must not look like it works: its `bin/python` dangles, and every script
it holds names that `python` on its `#!` line, so the kernel's "No such file or
directory" would hide the cause. Both get the same `recreate` hint.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from envman.errors import OperationFailed, UsageError
from envman.fsutil import is_within, read_regular
from envman.models import EnvRecord
from envman.shell.activation import activation
from envman.store.layout import scripts_dir


@dataclass(frozen=True)
class Located:
    executable: str
    elsewhere: bool  # not the environment's own: found further down PATH


def locate(record: EnvRecord, command: str, path: str) -> Located:
    """The executable `command` names for a run in `record`'s environment (`path` is the
    run's PATH); OperationFailed when it is the environment's own and cannot start
    because the base Python is gone, UsageError when there is none."""
    scripts = str(scripts_dir(Path(record.path)))
    bare = os.sep not in command and not (os.altsep and os.altsep in command)
    if bare:
        inside = os.path.join(scripts, command)
        if os.path.islink(inside) and not os.path.exists(inside):
            # Without this, PATH's next `python` would run and look like the environment's.
            raise _broken(record, f"{command!r} in environment {record.name!r} is a dangling link")
    executable = shutil.which(command, path=path)
    if executable is None:
        raise UsageError(f"command not found: {command!r} (looked in the environment and on PATH)")
    interpreter = shebang_interpreter(executable)
    if interpreter is not None and os.path.basename(interpreter) == "env":
        # `#!/usr/bin/env python`: `env` would pass over the environment's dangling
        # `python` and start the next one on PATH.
        named = os.path.join(scripts, _env_argument(executable) or "")
        if os.path.islink(named) and not os.path.exists(named):
            interpreter = named
    if interpreter is not None and not os.path.exists(interpreter):
        if is_within(executable, record.path) or is_within(interpreter, record.path):
            raise _broken(record, f"{command!r} in environment {record.name!r} starts with "
                                  f"{interpreter}, which is gone")
        raise UsageError(f"cannot run {executable}: the interpreter on its #! line, "
                         f"{interpreter}, does not exist")
    elsewhere = bare and os.path.dirname(os.path.abspath(executable)) != scripts
    return Located(executable, elsewhere)


def _broken(record: EnvRecord, what: str) -> OperationFailed:
    return OperationFailed(f"{what}: its base Python is gone",
                           hint=f"rebuild it with `envman recreate {record.name}`")



def _env_argument(executable: str) -> Optional[str]:
    """NAME in a `#!/usr/bin/env NAME` line."""
    words = _first_line(executable)
    if len(words) > 1 and not words[1].startswith("-") and os.sep not in words[1]:
        return words[1]
    return None


def _head(executable: str) -> bytes:
    """The first bytes of a script (a `#!` line and the next), or b"" for anything else."""
    try:
        head = read_regular(executable, 1024, follow=True, prefix=True)
    except OSError:
        return b""
    return head if head.startswith(b"#!") else b""


def _first_line(executable: str) -> List[str]:
    return [os.fsdecode(w) for w in _head(executable).split(b"\n")[0][2:].split()]


def shebang_interpreter(executable: str) -> Optional[str]:
    """The absolute interpreter path a script's `#!` line names (for pip's `/bin/sh`
    launcher of long or spaced paths, the one its `exec` line names; `/usr/bin/env` for
    `#!/usr/bin/env NAME`); None for a binary, a relative name, or a file that cannot be
    read."""
    head = _head(executable)
    if not head:
        return None
    lines = head.split(b"\n")
    words = lines[0][2:].split()
    if not words:
        return None
    first = os.fsdecode(words[0])
    # pip: #!/bin/sh, then '''exec' "/path with spaces/bin/python" "$0" "$@"
    if first == "/bin/sh" and len(lines) > 1 and lines[1].startswith(b"'''exec' "):
        rest = lines[1][len(b"'''exec' "):]
        quote = rest[:1]
        if quote in (b'"', b"'"):
            end = rest.find(quote, 1)
            if end > 0:
                return os.fsdecode(rest[1:end])
        return None
    return first if os.path.isabs(first) else None


def require_directory(record: EnvRecord) -> None:
    """Refuse an environment whose directory is gone: there is nothing to enter."""
    if not Path(record.path).is_dir():
        raise UsageError(f"the directory of environment {record.name!r} is gone: {record.path}",
                         hint=f"rebuild it with `envman recreate {record.name}`")


def command_environment(record: EnvRecord, base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The process environment for `envman run`: the activation applied to `base`."""
    env = dict(os.environ if base is None else base)
    changes = activation(record)
    for key in changes.unset:
        env.pop(key, None)
    env.update(changes.set)
    env["PATH"] = os.pathsep.join([*changes.path_prepend, env.get("PATH", "")]).rstrip(os.pathsep)
    return env
