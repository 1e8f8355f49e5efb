"""Shell activation: what entering an environment changes (`Activation`), which shell is
running, and one module per shell that renders an `Activation` as code for it.

Every shell module owns a `quote()` for its language. A value (a path, a prompt) reaches
a snippet only through that function, never spliced into other quotes: quoting is the
security boundary, so it lives in exactly one place per shell and is tested through the
real shell.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from importlib import import_module

# This package is imported by the directory-change fast path (`envman/shell/auto_fast.py`, run
# with `python -I -S` on every `cd` into or out of a project), so it imports nothing
# costly at start: no `typing` at run time (hence this spelling of TYPE_CHECKING),
# and envman.errors only where an error is raised.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Iterable, Mapping, Optional, Tuple

    from envman.models import EnvRecord

# The environment's scripts directory: envman.store.layout.SCRIPTS, which this package cannot
# import cheaply (tests/shell/test_init.py keeps the two equal).
SCRIPTS = "Scripts" if os.name == "nt" else "bin"
# The variables activation sets (deactivation removes them) and those it hides while
# active (deactivation restores them as they were).
ACTIVATION_VARIABLES = ("VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT")
HIDDEN_VARIABLES = ("PYTHONHOME",)


class Activation:
    """What entering an environment changes; shells, `activate --json` and `run` render it.

    A plain class, not a dataclass: the directory-change fast path builds one on every
    `cd`, and `dataclasses` would cost it more than all of this package.
    """

    __slots__ = ("set", "unset", "path_prepend")

    def __init__(self, set: Dict[str, str], unset: Iterable[str] = (),
                 path_prepend: Iterable[str] = ()) -> None:
        self.set = dict(set)
        self.unset = tuple(unset)
        self.path_prepend = tuple(path_prepend)

    @classmethod
    def entering(cls, path: str, prompt: str) -> Activation:
        """Entering the environment at `path`, shown as `(prompt)` before the prompt."""
        return cls(dict(zip(ACTIVATION_VARIABLES, (path, prompt))), HIDDEN_VARIABLES,
                   (os.path.join(path, SCRIPTS),))

    @property
    def prompt_prefix(self) -> str:
        """What goes before the prompt while active, as venv's own scripts show it."""
        return f"({self.set['VIRTUAL_ENV_PROMPT']}) "

    def to_json(self) -> Dict[str, object]:
        return {"set": dict(self.set), "unset": list(self.unset), "path_prepend": list(self.path_prepend)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"Activation({self.set!r}, {self.unset!r}, {self.path_prepend!r})"


def activation(record: EnvRecord) -> Activation:
    """Entering a registered environment: its prompt, else its name."""
    return Activation.entering(record.path, record.prompt if record.prompt is not None else record.name)

# What people type for --shell, and what a shell's process is called -> (module, variant).
NAMES: Dict[str, Tuple[str, str]] = {
    "bash": ("posix", "bash"),
    "zsh": ("posix", "zsh"),
    "sh": ("posix", "sh"),
    "dash": ("posix", "sh"),
    "ash": ("posix", "sh"),
    "ksh": ("posix", "ksh"),
    "ksh93": ("posix", "ksh"),
    "mksh": ("posix", "ksh"),
    "fish": ("fish", "fish"),
    "csh": ("csh", "csh"),
    "tcsh": ("csh", "csh"),
    "nu": ("nushell", "nu"),
    "nushell": ("nushell", "nu"),
    "xonsh": ("xonsh", "xonsh"),
    "pwsh": ("powershell", "pwsh"),
    "powershell": ("powershell", "pwsh"),
}
SUPPORTED = "bash, zsh, sh, dash, ksh, mksh, fish, csh, tcsh, nu, xonsh, pwsh"

# Where the nushell and PowerShell snippets keep what deactivation gives back (PATH
# here, other variables under `old()`); PowerShell in globals, nushell in its environment.
OLD_PATH = "_ENVMAN_OLD_PATH"


def old(variable: str) -> str:
    """The name under which a snippet saves `variable`'s value while it is hidden."""
    return f"_ENVMAN_OLD_{variable}"


# The sh, fish and csh snippets save under the names venv's own bin/activate scripts
# restore from instead: a venv's activate sourced on top of ours replaces our
# `deactivate` with its own and calls it, which then gives back what envman saved
# rather than leaving our environment on PATH for good.
VENV_OLD_PATH = "_OLD_VIRTUAL_PATH"


def venv_old(variable: str) -> str:
    """venv's name for the saved value of `variable` (`PYTHONHOME`, `PS1`, csh's `PROMPT`)."""
    return f"_OLD_VIRTUAL_{variable}"


class Shell(ABC):
    """One shell's rendering of activation and deactivation."""

    def __init__(self, variant: str) -> None:
        self.variant = variant

    @abstractmethod
    def quote(self, text: str) -> str:
        """`text` as one literal word of this shell's language."""

    @abstractmethod
    def activate(self, act: "Activation", environ: Mapping[str, str]) -> str:
        """Code that first leaves any active environment, then enters `act`.

        `environ` is envman's own environment, which is the shell's exported one; only
        the shells that cannot run code (nushell) or cannot edit strings (csh) use it.
        """

    @abstractmethod
    def deactivate(self, environ: Mapping[str, str]) -> str:
        """Code that leaves the active environment; harmless when none is."""


def for_name(name: str) -> Shell:
    """The shell called `name` (as typed for --shell, or as its process is called)."""
    key = normalise(name)
    if key not in NAMES:
        from envman.errors import UsageError

        raise UsageError(f"unsupported shell {name!r}", hint=f"--shell takes one of: {SUPPORTED}")
    module, variant = NAMES[key]
    shell_class: type = getattr(import_module(f"envman.shell.activation.{module}"), "SHELL")
    shell: Shell = shell_class(variant)
    return shell


def normalise(name: str) -> str:
    """'-bash' (a login shell), '/usr/bin/zsh', 'pwsh.exe', 'Bash' -> the bare name."""
    base = os.path.basename(name.strip()).lower().lstrip("-")
    return base[:-4] if base.endswith(".exe") else base


def detect(override: Optional[str], environ: Mapping[str, str]) -> Shell:
    """--shell if given, else the parent process if it is a shell we know, else $SHELL."""
    return for_name(detect_name(override, environ))


def detect_name(override: Optional[str], environ: Mapping[str, str]) -> str:
    """The shell as `detect` finds it: --shell, the parent process's name or $SHELL (a path)."""
    from envman.errors import UsageError

    if override is not None:
        for_name(override)  # an unknown one is refused here
        return override
    parent = parent_process_name()
    if parent is not None and normalise(parent) in NAMES:
        return parent
    login = environ.get("SHELL", "")
    if login and normalise(login) in NAMES:
        return login
    raise UsageError(
        f"cannot tell which shell to write for (parent process {parent or 'unknown'!r}, "
        f"$SHELL {login or 'unset'!r})",
        hint=f"pass --shell NAME, one of: {SUPPORTED}",
    )


def parent_process_name() -> Optional[str]:
    """The name of the process that started envman: the shell that will run the snippet.

    On Linux one read of /proc; elsewhere shellingham, which walks the process tree
    with `ps` (much slower: see benchmarks/bench_detect.py).
    """
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{os.getppid()}/comm", encoding="utf-8", errors="replace") as handle:
                # xonsh retitles itself with its arguments ('xonsh --no-rc /x/y.xsh').
                words = handle.read().split()
                return words[0] if words else None
        except OSError:
            return None
    try:
        import shellingham  # type: ignore[import-untyped]

        return str(shellingham.detect_shell()[0])
    except Exception:  # shellingham raises its own errors, and RuntimeError off-platform
        return None


def scripts_of(virtual_env: str) -> str:
    """The scripts directory of an environment given by its `VIRTUAL_ENV` value."""
    return os.path.join(virtual_env, SCRIPTS)


def without_scripts(path_value: str, virtual_env: str) -> str:
    """`path_value` (a PATH) without the scripts directory of `virtual_env`."""
    scripts = scripts_of(virtual_env)
    return os.pathsep.join(p for p in path_value.split(os.pathsep) if p != scripts)


def plain_prompt(text: str, specials: str) -> str:
    """`text` with every character a prompt language would expand replaced by '_'.

    A prompt is expanded again each time it is shown (bash's promptvars, zsh's
    PROMPT_SUBST, ksh always), so a --prompt such as '$(cmd)' must not reach it as is;
    VIRTUAL_ENV_PROMPT keeps the exact text.
    """
    return "".join("_" if c in specials else c for c in text)
