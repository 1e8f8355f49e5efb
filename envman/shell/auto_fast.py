"""Activation that follows `cd`: what the shell should run after its directory changed.

`envman init SHELL --auto` installs a hook that, when the shell's directory is not the
one it saw last (a string comparison in the shell, so a prompt without a `cd` costs
nothing), runs this module under `python -I -S`, like TAB completion's fast path
(`envman/shell/complete_fast.py`): no site-packages, no typer, nothing but `os`, `sys` and the
small `envman.shell.activation` modules, so one directory change costs a few milliseconds.

It answers from the projects index the registry writes into the cache (see
`envman.store.registry.PROJECTS_INDEX_NAME`): the registry file's identity on the first line,
then for every record its project, name, path, prompt, id and last use, each field
ended by NUL. The index is trusted only while the identity matches `registry.toml`;
otherwise envman itself reads the registry and writes the index again.

The rules (SPEC: `init --auto`):

- the nearest directory at or above the current one that is a registered project
  decides; with several environments for it, the most recently used one;
- an environment the hook did not activate (by hand, or a venv's own `bin/activate`)
  is never replaced or deactivated: the hook remembers what it activated in a shell
  variable, `_ENVMAN_AUTO`, which is not exported, so a child shell treats everything it
  inherits as activated by hand;
- leaving every project deactivates what the hook activated.

Usage (the protocol between the hook and this module; `1` is its version):

    python -I -S -c 'import sys; sys.path[:0] = sys.argv[1:2]; from envman.shell.auto_fast
        import main; main(sys.argv[2:])' PARENT 1 SHELL ROOT_DEFAULT CACHE_DEFAULT AUTO [NOTED]

PARENT, ROOT_DEFAULT and CACHE_DEFAULT as for `_complete`; AUTO is the value of
`_ENVMAN_AUTO` (the `VIRTUAL_ENV` the hook set), empty if none; NOTED that of
`_ENVMAN_AUTO_NOTED` (left out by hooks older than it). Output: code for SHELL
to evaluate, possibly nothing; messages for the person on stderr.

Nothing it reads can block (every file through `envman.fsutil.read_regular`), and the
whole run is bounded in time all the same (`TIME_LIMIT`): a hung file system must not
leave a process behind for every prompt of a shell that is long gone.
"""

from __future__ import annotations

import os
import sys

from envman.fsutil import REGISTRY_MAX, read_regular
from envman.shell.activation import Activation
from envman.shell.complete_fast import importable_registry, locations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

    from envman.shell.activation import Shell

PROTOCOL = "1"
# Seconds one directory change may take at most, the slow path included (~0.1 s at
# 5,000 environments): then it gives up with one line, and the shell goes on.
TIME_LIMIT = 10
# Must equal envman.store.registry.PROJECTS_INDEX_NAME and the order of its
# PROJECTS_INDEX_FIELDS; this module cannot import it (tests/shell/test_init.py checks).
PROJECTS_INDEX_NAME = "registry-projects.txt"
FIELDS = 6
# envman.store.layout.Store.used_dir, relative to the data root: where time-of-use stamps live.
USED_DIR = "used"
# The shell variable holding the VIRTUAL_ENV the hook activated (never exported).
MARK = "_ENVMAN_AUTO"
# Set (never exported) once the hook said which of a project's several environments it
# chose: that is said once per shell, not at every entry into the project.
NOTED = "_ENVMAN_AUTO_NOTED"
# How each shell sets and clears MARK. csh joins the lines of what it evaluates, so
# everything for it is `;`-separated (see envman/shell/activation/csh.py).
_MARKS: Dict[str, Tuple[str, str]] = {
    "posix": (MARK + "={}", "unset " + MARK),
    "fish": ("set -g " + MARK + " {}", "set -e " + MARK),
    "csh": ("set " + MARK + " = {}", "unset " + MARK),
}


class Entry:
    """One record of the projects index."""

    __slots__ = ("project", "name", "path", "prompt", "id", "last_used")

    def __init__(self, project: str, name: str, path: str, prompt: str, id: str,
                 last_used: int) -> None:
        self.project, self.name, self.path, self.prompt = project, name, path, prompt
        self.id, self.last_used = id, last_used


def read_index(root: str, cache: str) -> Optional[List[Entry]]:
    """Every entry, or None when the index is missing, not made from this registry, or
    damaged in any way (then the slow path reads the registry and writes it afresh)."""
    try:
        st = os.stat(os.path.join(root, "registry.toml"))
    except FileNotFoundError:
        return []  # nothing registered yet
    identity = f"{st.st_ino} {st.st_size} {st.st_mtime_ns}\n"
    try:
        # Never blocks, never unbounded: a FIFO or /dev/zero here is just a damaged index.
        raw = read_regular(os.path.join(cache, PROJECTS_INDEX_NAME), REGISTRY_MAX)
        text = raw.decode("utf-8")
        if not text.startswith(identity):
            return None
        fields = text[len(identity):].split("\0")
        if fields.pop() or len(fields) % FIELDS:  # after the last NUL: nothing
            return None
        return [_entry(fields[i:i + FIELDS]) for i in range(0, len(fields), FIELDS)]
    except (OSError, ValueError):
        return None


def entries_through_envman(root: str, cache: str) -> List[Entry]:
    """The slow path: envman reads the registry (and writes the projects index again)."""
    importable_registry()
    from pathlib import Path

    from envman.store import registry
    from envman.store.layout import Store

    return [_entry(registry.projects_index_values(r))
            for r in registry.records_for_auto(Store(root=Path(root), cache=Path(cache)))]


def _entry(values: Sequence[str]) -> Entry:
    project, name, path, prompt, id, last_used = values
    return Entry(project, name, path, prompt, id, int(last_used))


def project_entry(entries: Sequence[Entry], cwd: str, root: str) -> Tuple[Optional[Entry], str]:
    """The environment of the nearest project at or above `cwd`, and a note when the
    project has several (the most recently used wins, as in `envman.projects.lookup`)."""
    ancestors: List[str] = []
    directory = cwd
    while True:
        ancestors.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    wanted = set(ancestors)
    found: Dict[str, List[Entry]] = {}
    for entry in entries:
        if entry.project in wanted:
            found.setdefault(entry.project, []).append(entry)
    for directory in ancestors:
        matches = found.get(directory)
        if not matches:
            continue
        if len(matches) == 1:
            return matches[0], ""
        chosen = max(matches, key=lambda e: _last_used(root, e))
        others = ", ".join(e.name for e in matches if e is not chosen)
        return chosen, (f"envman: {directory} has {len(matches)} environments; using "
                        f"{chosen.name!r}, the most recently used (others: {others})")
    return None, ""


def _last_used(root: str, entry: Entry) -> int:
    try:
        return max(entry.last_used, int(os.stat(os.path.join(root, USED_DIR, entry.id)).st_mtime))
    except OSError:
        return entry.last_used


def touch_used(root: str, entry: Entry) -> None:
    """Record the use as `envman activate` does (envman.store.layout.Store.touch_used); best effort."""
    stamp = os.path.join(root, USED_DIR, entry.id)
    try:
        try:
            os.utime(stamp)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(stamp), exist_ok=True)
            open(stamp, "a").close()
    except OSError:
        pass


def decide(shell: Shell, family: str, environ: Mapping[str, str], auto: str,
           entries: Sequence[Entry], cwd: str, root: str,
           noted: bool = False) -> Tuple[str, List[str], Optional[Entry]]:
    """The code to run, the lines for the person, and the entry activated (if any).
    `noted`: the choice among a project's several environments was said in this shell."""
    mark, unmark = _MARKS[family]
    active = environ.get("VIRTUAL_ENV", "")
    joiner = "; " if family == "csh" else "\n"
    if active and active != auto:
        # Activated by hand (or the hook's environment replaced by hand): never touched.
        return (unmark + "\n" if auto else ""), [], None
    if not active:
        auto = ""  # left by hand (`deactivate`): nothing of the hook's is active
    target, note = project_entry(entries, cwd, root)
    notes = [note] if note and not noted else []
    if target is not None and not os.path.isdir(target.path):
        notes.append(f"envman: the environment {target.name!r} of {target.project} is gone: "
                     f"`envman recreate {target.name}` rebuilds it")
        target = None
    if target is None:
        if auto:
            return shell.deactivate(environ).rstrip("\n") + joiner + unmark + "\n", notes, None
        return "", notes, None
    if target.path == auto:
        return "", [], None  # still inside the project it activated
    from envman.python.base import base_python_present, broken_warning

    if not base_python_present(target.path):  # activated all the same, as `envman activate` does
        notes.append(broken_warning(target.name))
    code = shell.activate(Activation.entering(target.path, target.prompt), environ)
    code = code.rstrip("\n") + joiner + mark.format(shell.quote(target.path))
    if note and not noted:
        code += joiner + mark.replace(MARK, NOTED).format("1")
    return code + "\n", notes, target


class TooSlow(Exception):
    """The run took longer than TIME_LIMIT."""


def _bounded(seconds: int) -> Callable[[], None]:
    """Raise TooSlow in this process after `seconds` (SIGALRM); returns what cancels it.
    `_signal`, not `signal`: the latter imports `enum`, which costs as much as the rest
    of this module."""
    try:
        import _signal  # type: ignore[import-not-found]
    except ImportError:
        return lambda: None
    if not hasattr(_signal, "alarm"):
        return lambda: None

    def expired(signum: int, frame: object) -> None:
        raise TooSlow(f"gave up after {seconds} s (is a file system hanging?)")

    try:
        before = _signal.signal(_signal.SIGALRM, expired)
    except ValueError:  # not the main thread (an in-process caller): no bound
        return lambda: None
    _signal.alarm(seconds)

    def cancel() -> None:
        _signal.alarm(0)
        _signal.signal(_signal.SIGALRM, before)

    return cancel


def main(argv: Sequence[str]) -> int:
    """Print the code for the shell; on any failure one line on stderr, and no code."""
    cancel = _bounded(TIME_LIMIT)
    try:
        if len(argv) < 5 or argv[0] != PROTOCOL:
            sys.stderr.write("envman: the --auto hook does not match this envman: "
                             "start a new shell\n")
            return 0
        from envman.shell import activation

        name, root_default, cache_default, auto = argv[1], argv[2], argv[3], argv[4]
        noted = len(argv) > 5 and argv[5] != ""  # a hook from before NOTED passes no such word
        shell = activation.for_name(name)
        family = activation.NAMES[activation.normalise(name)][0]
        root, cache = locations(root_default, cache_default)
        entries = read_index(root, cache)
        if entries is None:
            entries = entries_through_envman(root, cache)
        code, notes, activated = decide(shell, family, os.environ, auto, entries, os.getcwd(), root,
                                        noted)
        if activated is not None:
            touch_used(root, activated)
        for note in notes:
            sys.stderr.write(note + "\n")
        sys.stdout.write(code)
    except Exception as exc:
        if os.environ.get("ENVMAN_DEBUG") == "1":
            raise
        detail = exc if isinstance(exc, TooSlow) else f"{type(exc).__name__}: {exc}"
        sys.stderr.write(f"envman: error: activation on cd failed: {detail}\n")
    finally:
        cancel()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
