"""What the person typed, or what a file they point at says, checked before anything is made.

Each check raises `UsageError` (status 2) with one line naming the input, so that bad
input never reaches a file system call, a TOML writer or a subprocess half-way through
an operation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from envman.errors import UsageError

# Linux's limits; a longer path or component cannot be made, so say so up front.
PATH_MAX = 4096
NAME_MAX = 255
# Config, .python-version and pyproject.toml are small; a bigger "file" is a mistake
# (or /dev/zero), not something to read into memory.
SMALL_FILE_MAX = 1024 * 1024


def given(value: Optional[str], option: str) -> Optional[str]:
    """`value` as given, refusing an explicitly empty one (it would read as 'not given')."""
    if value is not None and not value.strip():
        raise UsageError(f"{option} is empty", hint=f"leave {option} out, or give it a value")
    return value


def check_text(text: str, what: str) -> str:
    """Text that goes into the registry, a marker or a command line: UTF-8, no NUL."""
    if "\0" in text:
        raise UsageError(f"{what} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not valid UTF-8: {text.encode('utf-8', 'replace')!r}",
                         hint="envman keeps paths and names in UTF-8 TOML; rename it") from None
    return text


def check_path(path: str, what: str) -> str:
    """A path envman will record or create: valid text, within the system's limits."""
    check_text(path, what)
    encoded = os.fsencode(path)
    if len(encoded) >= PATH_MAX:
        raise UsageError(f"{what} is longer than {PATH_MAX - 1} bytes")
    longest = max((len(part) for part in encoded.split(b"/")), default=0)
    if longest > NAME_MAX:
        raise UsageError(f"{what} has a component longer than {NAME_MAX} bytes")
    return path


def read_small_file(path: Path, what: str, limit: int = SMALL_FILE_MAX) -> Optional[bytes]:
    """The bytes of a small regular file, None if it does not exist; anything else
    (a directory, a FIFO, a device such as /dev/zero, a huge file) is refused. A link is
    followed (a config kept in a dotfiles repository), to a regular file only."""
    from envman.fsutil import read_regular

    try:
        return read_regular(path, limit, follow=True)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
