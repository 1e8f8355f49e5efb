"""The one way envman starts a subprocess: errors name the command that failed."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import IO, Dict, Mapping, Optional, Sequence, Union

from envman.errors import OperationFailed

Output = Union[int, IO[str], None]

# How much of a program's output an error message quotes: its last lines, each cut,
# so that a program printing megabytes on one line still gives one readable error.
QUOTED_LINES = 3
QUOTED_CHARS = 300


def run(
    cmd: Sequence[str],
    *,
    what: str,
    cwd: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    capture: bool = False,
    timeout: Optional[float] = None,
) -> str:
    """Run `cmd` and return its stdout when `capture`, raising OperationFailed if it fails.

    Without `capture` the child's stdout goes to envman's stderr, so progress reaches
    the person while envman's own stdout stays clean for `--json` and `eval`.
    `what` names the step for the error message ("installing requirements").
    """
    stdout: Output = subprocess.PIPE if capture else sys.stderr.fileno()
    try:
        done = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE if capture else None,
            # A program may print anything: bytes that are not UTF-8 become U+FFFD,
            # never an internal error.
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
        )
    except FileNotFoundError:
        raise OperationFailed(f"{what} failed: {cmd[0]} does not exist") from None
    except PermissionError:
        raise OperationFailed(f"{what} failed: {cmd[0]} is not executable") from None
    except OSError as exc:  # e.g. ENOEXEC: not a program this machine can run
        raise OperationFailed(f"{what} failed: cannot run {cmd[0]}: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise OperationFailed(f"{what} failed: {cmd[0]} did not finish in {timeout} s") from None
    if done.returncode != 0:
        shown = excerpt(" ".join(cmd[:4]), chars=QUOTED_CHARS // 2) + (" …" if len(cmd) > 4 else "")
        detail = excerpt(done.stderr or "") if capture else ""
        raise OperationFailed(
            f"{what} failed: `{shown}` exited with status {done.returncode}"
            + (f": {detail}" if detail else ""),
            hint=None if capture else "its own output above says why",
        )
    return done.stdout or ""


def excerpt(output: str, lines: int = QUOTED_LINES, chars: int = QUOTED_CHARS) -> str:
    """What an error message quotes of a program's `output`: its last non-blank lines
    (most programs say why last) joined by " | ", at most `chars` characters, with
    control characters shown as `?` so that the message stays one line."""
    kept = [line.strip() for line in output.splitlines() if line.strip()][-lines:]
    text = " | ".join(kept)
    text = "".join(c if c.isprintable() else "?" for c in text[:chars + 1])
    return text[:chars] + " …" if len(text) > chars else text


def clean_environ(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment for a child interpreter: ours, without what would mislead it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH",
                                                            "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")}
    env.update(extra or {})
    return env
