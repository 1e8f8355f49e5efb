"""Answer one TAB: the candidates for the word under the cursor of an envman command line.

The completion scripts (`envman completion SHELL`) import this module under
`python -I -S` on every TAB (importing, unlike running the file as a script, reuses its
cached bytecode), so it must start in a few milliseconds:
it imports nothing beyond `os` and `sys` (no typer, no site-packages, not even `re` or
`json`), and knows envman's commands and options from the static table below, which
tests/shell/test_completion.py keeps in step with the real typer app.

Environment names come from the names index the registry writes into the cache beside
its JSON snapshot (see `envman.store.registry`): first line the registry file's identity
(inode, size, mtime_ns), then one name per line. The index is trusted only while that
identity matches `registry.toml` on disk; otherwise (no index yet, a registry edited by
hand) the slow path imports envman itself, which reads the registry and rewrites the
index. Nothing here ever writes the registry.

Usage (the protocol between the shell scripts and this module; `1` is its version):

    python -I -S -c 'import sys; sys.path[:0] = sys.argv[1:2]; from envman.shell.complete_fast
        import main; main(sys.argv[2:])' PARENT 1 SHELL ROOT_DEFAULT CACHE_DEFAULT CWORD WORD...

PARENT is the directory holding the `envman` package (`envman completion --setup` says).

WORD... is the whole command line split into words, the program name first; CWORD is
the index of the word under the cursor (it may equal the number of words: an empty
word). ROOT_DEFAULT and CACHE_DEFAULT are the data root and cache directory used when
`$ENVMAN_HOME` is unset (the scripts learn them once from `envman completion --setup`).
Output: one candidate per line, or a single directive line that starts with ':'
(`:file`, `:dir`, `:command N`: complete a command line starting at word N).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Sequence, Tuple

    OptionSpec = Tuple[Tuple[str, ...], Optional[str], bool]
    CommandSpec = Tuple[Tuple[OptionSpec, ...], Tuple[str, ...], bool]

PROTOCOL = "1"
# Must equal envman.store.registry.NAMES_INDEX_NAME; this module cannot import it.
NAMES_INDEX_NAME = "registry-names.txt"

# What an option's value or a positional argument is. FLAG: the option takes no value.
FLAG = None
NAME = "name"  # a registered environment (or a project path)
SHELL = "shell"  # a shell `envman completion` writes a script for
ACTIVATION_SHELL = "activation-shell"  # a shell `activate --shell` writes a snippet for
FILE = "file"
DIR = "dir"
TEXT = "text"  # a value with nothing to offer: a new name, a version, an age
COMMAND = "command"  # the rest of the line is a command of its own (`run NAME -- CMD`)
TOOL = "tool"  # a tool `scan --type` knows
SORT = "sort"  # an order `scan --sort` knows
# As `envman.discovery.scan` has them (tests/discovery/test_classify.py keeps them alike):
# this module may import nothing that heavy.
TOOLS = ("envman", "venv", "virtualenv", "uv", "poetry", "pipenv", "virtualenvwrapper", "pyenv-virtualenv",
         "hatch", "pdm", "pipx", "tox", "nox", "conda")
SORTS = ("size", "age", "name")

SHELLS = ("bash", "zsh", "fish", "powershell")
# What `activate --shell` accepts (envman.shell.activation.NAMES less its process-name aliases);
# tests/shell/test_completion.py keeps the two in step.
ACTIVATION_SHELLS = ("bash", "zsh", "sh", "dash", "ksh", "mksh", "fish", "csh", "tcsh", "nu",
                     "nushell", "xonsh", "pwsh", "powershell")

_HELP: OptionSpec = (("-h", "--help"), FLAG, False)

# command -> (options, positional argument kinds, whether the last one repeats).
# An option is (its spellings, the kind of its value or FLAG, whether it repeats).
# tests/shell/test_completion.py compares this with the typer app and says what differs.
COMMANDS: Dict[str, CommandSpec] = {
    "new": ((
        (("-p", "--project"), DIR, False),
        (("--python",), TEXT, False),
        (("-r", "--requirement"), FILE, True),
        (("--system-site-packages",), FLAG, False),
        (("--copies",), FLAG, False),
        (("--without-pip",), FLAG, False),
        (("--prompt",), TEXT, False),
        (("--json",), FLAG, False),
        (("-q", "--quiet"), FLAG, False),
        (("--link",), FLAG, False),
        _HELP,
    ), (TEXT,), False),
    "ls": ((
        (("--stale",), FLAG, False),
        (("--older-than",), TEXT, False),
        (("-p", "--project"), DIR, False),
        (("--size",), FLAG, False),
        (("--json",), FLAG, False),
        _HELP,
    ), (), False),
    "info": (((("--json",), FLAG, False), _HELP), (NAME,), False),
    "path": ((_HELP,), (NAME,), False),
    "run": ((_HELP,), (NAME, COMMAND), False),
    "rm": ((
        (("-y", "--yes"), FLAG, False),
        (("--delete-adopted",), FLAG, False),
        _HELP,
    ), (NAME,), True),
    "prune": ((
        (("-n", "--dry-run"), FLAG, False),
        (("-y", "--yes"), FLAG, False),
        (("--older-than",), TEXT, False),
        (("--unreachable",), FLAG, False),
        (("--json",), FLAG, False),
        _HELP,
    ), (), False),
    "adopt": ((
        (("--name",), TEXT, False),
        (("-p", "--project"), DIR, False),
        _HELP,
    ), (DIR,), False),
    "doctor": (((("--fix",), FLAG, False), _HELP), (), False),
    "completion": ((_HELP,), (SHELL,), False),
    "activate": ((
        (("--shell",), ACTIVATION_SHELL, False),
        (("--json",), FLAG, False),
        _HELP,
    ), (NAME,), False),
    "deactivate": (((("--shell",), ACTIVATION_SHELL, False), _HELP), (), False),
    "init": (((("--auto",), FLAG, False), _HELP), (ACTIVATION_SHELL,), False),
    "shell": (((("--shell",), ACTIVATION_SHELL, False), _HELP), (NAME,), False),
    "link": (((("--remove",), FLAG, False), _HELP), (NAME,), False),
    "mv": ((
        (("-p", "--project"), DIR, False),
        (("-q", "--quiet"), FLAG, False),
        _HELP,
    ), (NAME, TEXT), False),
    "recreate": ((
        (("--python",), TEXT, False),
        (("-r", "--requirement"), FILE, True),
        (("--all",), FLAG, False),
        (("--broken",), FLAG, False),
        (("-q", "--quiet"), FLAG, False),
        (("-y", "--yes"), FLAG, False),
        _HELP,
    ), (NAME,), False),
    "scan": ((
        (("-t", "--type"), TOOL, True),
        (("--older-than",), TEXT, False),
        (("--min-size",), TEXT, False),
        (("--sort",), SORT, False),
        (("--json",), FLAG, False),
        (("--adopt",), FLAG, False),
        (("--delete",), FLAG, False),
        (("-n", "--dry-run"), FLAG, False),
        (("-y", "--yes"), FLAG, False),
        _HELP,
    ), (DIR,), True),
    "find": ((
        (("--scan",), FLAG, False),
        (("--json",), FLAG, False),
        _HELP,
    ), (TEXT, DIR), True),
    "freeze": (((("--all",), FLAG, False), _HELP), (NAME,), False),
}
ROOT_OPTIONS: Tuple[OptionSpec, ...] = ((("--version",), FLAG, False), _HELP)


def candidates(words: Sequence[str], cword: int, shell: str,
               names: Callable[[], List[str]]) -> List[str]:
    """What may go at `words[cword]`: candidates, or one directive line starting with ':'.

    `names` is called only when environment names are wanted.
    """
    cur = words[cword] if cword < len(words) else ""
    before, origin = list(words[1:cword]), list(range(1, cword))
    if shell == "bash":
        before, origin, cur = _join_equals(before, origin, cur)

    command: Optional[str] = None
    options: Tuple[OptionSpec, ...] = ROOT_OPTIONS
    kinds: Tuple[str, ...] = ()
    repeats = False
    expecting: Optional[OptionSpec] = None  # the option whose value the next word is
    seen: List[str] = []  # options given, for not offering them again
    given: List[str] = []  # positional arguments given
    after_dashdash = False
    for word, index in zip(before, origin):
        if expecting is not None:
            expecting = None
            continue
        if command is None:
            if word.startswith("-"):
                continue  # the root options are flags
            if word not in COMMANDS:
                return []  # not ours: better nothing than something wrong
            command = word
            options, kinds, repeats = COMMANDS[word]
            continue
        if word == "--" and not after_dashdash:
            after_dashdash = True
            if COMMAND in kinds and len(given) >= kinds.index(COMMAND):
                return [f":command {index + 1}"]
            continue
        if word.startswith("-") and word != "-" and not after_dashdash:
            spec = _option(options, word.partition("=")[0] if word.startswith("--") else word[:2])
            if spec is not None:
                seen.extend(spec[0])
                attached = "=" in word if word.startswith("--") else len(word) > 2
                if spec[1] is not FLAG and not attached:
                    expecting = spec
            continue
        if _kind_at(kinds, repeats, len(given)) == COMMAND:
            return [f":command {index}"]
        given.append(word)

    if expecting is not None:
        return _values(expecting[1], cur, "", given, names)
    if command is None:
        if cur.startswith("-"):
            return _options(ROOT_OPTIONS, cur, seen)
        return sorted(c for c in COMMANDS if c.startswith(cur))
    if cur.startswith("--") and "=" in cur and not after_dashdash:
        flag, _, value = cur.partition("=")
        spec = _option(options, flag)
        if spec is None or spec[1] is FLAG:
            return []
        # bash split the word at '=' and replaces only what follows it; the others
        # replace the whole word.
        return _values(spec[1], value, "" if shell == "bash" else flag + "=", given, names)
    kind = _kind_at(kinds, repeats, len(given))
    if cur.startswith("-") and not after_dashdash:
        found = _options(options, cur, seen)
        if kind == COMMAND and "--".startswith(cur):
            found.append("--")
        return found
    if kind == COMMAND:
        return [f":command {cword}"]
    return _values(kind, cur, "", given, names)


def _join_equals(before: List[str], origin: List[int], cur: str
                 ) -> Tuple[List[str], List[int], str]:
    """Undo bash's split of `--opt=value` into `--opt`, `=`, `value` (COMP_WORDBREAKS)."""
    words, where = list(before), list(origin)
    joined: List[str] = []
    joined_at: List[int] = []
    i = 0
    while i < len(words):
        if words[i] == "=" and joined and joined[-1].startswith("--") and "=" not in joined[-1]:
            joined[-1] += "="
            if i + 1 < len(words):
                joined[-1] += words[i + 1]
                i += 1
            i += 1
            continue
        joined.append(words[i])
        joined_at.append(where[i])
        i += 1
    if joined and joined[-1].startswith("--") and joined[-1].endswith("="):
        cur = joined.pop() + cur  # `--opt=<TAB>` or `--opt=val<TAB>`
        joined_at.pop()
    elif cur == "=" and joined and joined[-1].startswith("--") and "=" not in joined[-1]:
        cur = joined.pop() + "="
        joined_at.pop()
    return joined, joined_at, cur


def _option(options: Sequence[OptionSpec], spelling: str) -> Optional[OptionSpec]:
    return next((spec for spec in options if spelling in spec[0]), None)


def _options(options: Sequence[OptionSpec], cur: str, seen: List[str]) -> List[str]:
    """Spellings that start with `cur`, leaving out options already given once."""
    return [spelling for names, _, repeat in options
            if repeat or not any(n in seen for n in names)
            for spelling in sorted(names, key=len, reverse=True) if spelling.startswith(cur)]


def _kind_at(kinds: Sequence[str], repeats: bool, position: int) -> Optional[str]:
    if position < len(kinds):
        return kinds[position]
    return kinds[-1] if kinds and repeats else None


def _values(kind: Optional[str], cur: str, prefix: str, given: List[str],
            names: Callable[[], List[str]]) -> List[str]:
    if kind == FILE:
        return [":file"]
    if kind == DIR:
        return [":dir"]
    if kind in (SHELL, ACTIVATION_SHELL, TOOL, SORT):
        choices = {SHELL: SHELLS, ACTIVATION_SHELL: ACTIVATION_SHELLS, TOOL: TOOLS, SORT: SORTS}[kind]
        return [prefix + c for c in choices if c.startswith(cur.lower())]
    if kind == NAME:
        if cur.startswith((".", "~")) or "/" in cur or os.sep in cur:
            return [":dir"]  # a NAME may be a project path
        folded = cur.lower()
        taken = {g.lower() for g in given}
        return [prefix + n for n in names()
                if n.lower().startswith(folded) and n.lower() not in taken]
    return []


# -- environment names -----------------------------------------------------------------


def locations(root_default: str, cache_default: str) -> Tuple[str, str]:
    """The data root and cache directory, as `envman.store.layout.Store.from_environment` finds them."""
    home = os.environ.get("ENVMAN_HOME")
    if home:
        root = os.path.join(os.getcwd(), os.path.expanduser(home))
        return root, os.path.join(root, "cache")
    return root_default, cache_default


def registered_names(root: str, cache: str) -> List[str]:
    """Every registered name: from the names index when it matches the registry file."""
    if not root:
        return []
    try:
        st = os.stat(os.path.join(root, "registry.toml"))
    except FileNotFoundError:
        return []  # no registry yet: nothing registered
    except OSError:
        return []  # unreadable: no candidates, and no traceback in the middle of a line
    identity = f"{st.st_ino} {st.st_size} {st.st_mtime_ns}\n"
    try:
        from envman.fsutil import REGISTRY_MAX, read_regular

        # Never blocks, never unbounded: a FIFO or /dev/zero here is just a stale index.
        text = read_regular(os.path.join(cache, NAMES_INDEX_NAME), REGISTRY_MAX).decode("utf-8")
        if text.startswith(identity):
            return text[len(identity):].split()
    except (OSError, ValueError):
        pass
    return _names_through_envman(root, cache)


def importable_registry() -> None:
    """Make `envman.store.registry` importable in this `python -I -S` process: the slow paths."""
    from envman import package_parent

    parent = package_parent()
    if parent not in sys.path:
        sys.path.insert(0, parent)
    try:
        import envman.store.registry  # noqa: F401
        from envman.fsutil import tomllib

        tomllib()  # the registry imports its TOML reader only to parse: try it now
    except ImportError:  # Python < 3.11 reads TOML with tomli, from site-packages
        import site

        site.main()


def _names_through_envman(root: str, cache: str) -> List[str]:
    """The slow path: let envman read the registry (which rewrites the names index)."""
    importable_registry()
    from pathlib import Path

    from envman.store import registry

    from envman.errors import EnvmanError
    from envman.store.layout import Store

    try:
        return registry.names_for_completion(Store(root=Path(root), cache=Path(cache)))
    except (EnvmanError, OSError):
        return []


def main(argv: Sequence[str]) -> int:
    """Print the candidates; always exit 0 quietly, since a TAB has nowhere to report."""
    try:
        if len(argv) < 6 or argv[0] != PROTOCOL:
            return 0
        shell, root_default, cache_default, words = argv[1], argv[2], argv[3], argv[5:]
        cword = int(argv[4])
        if not 0 < cword <= len(words):
            return 0

        def names() -> List[str]:
            return registered_names(*locations(root_default, cache_default))

        found = candidates(words, cword, shell, names)
        if found:
            sys.stdout.write("\n".join(found) + "\n")
    except Exception:
        if os.environ.get("ENVMAN_DEBUG") == "1":
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
