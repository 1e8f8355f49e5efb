"""`envman shell`: the person's shell, started with an environment active.

envman replaces itself with the shell (`exec`), so `exit` returns to where the person
was and the shell's exit status is envman's. The shell reads its own rc files first;
the activation snippet (the same code `envman activate` prints for that shell) runs
after them, so the prompt the rc files set gets the `(NAME) ` prefix:

- bash: `--rcfile` names a file that sources `~/.bashrc`, then activates;
- zsh: `ZDOTDIR` points at a directory whose `.zshenv` and `.zshrc` run the person's
  own (from their `ZDOTDIR` or `$HOME`) and then activate;
- sh, dash, ksh, mksh: `ENV` names a file that sources the person's `ENV` file (or
  ksh's `~/.kshrc`, mksh's `~/.mkshrc`), then activates;
- fish: `--init-command`, which fish runs after its configuration; PowerShell:
  `-NoExit -Command`;
- csh/tcsh, nushell and xonsh have no way to run code after their rc files from the
  command line: they start with the environment already in their process environment
  (as `envman run` gives it), which `envman deactivate` also handles. nushell then
  needs no pipeline at all; xonsh's prompt shows the environment by itself; csh's
  prompt is left as the rc file sets it.

The files written for bash, zsh and the sh family live in a fresh private temporary
directory, which the shell deletes as the first thing it runs from it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional

from envman.errors import UsageError
from envman.shell import activation

if TYPE_CHECKING:
    from envman.shell.activation import Activation

# Read at start-up by an interactive ksh or mksh when ENV is unset.
_ENV_DEFAULTS = {"ksh": "$HOME/.kshrc", "ksh93": "$HOME/.kshrc", "mksh": "$HOME/.mkshrc"}


@dataclass(frozen=True)
class Launch:
    """What to run: the program, its arguments (argv[0] included) and its environment."""

    executable: str
    argv: List[str]
    environ: Dict[str, str]


def executable_for(found: str, environ: Mapping[str, str]) -> str:
    """The program to run for a shell named as `shells.detect_name` found it."""
    if os.sep in found or "/" in found:
        if os.access(found, os.X_OK):
            return found
        found = activation.normalise(found)
    name = activation.normalise(found)
    candidates = {"nushell": ["nu"], "powershell": ["pwsh", "powershell"], "pwsh": ["pwsh", "powershell"],
                  "csh": ["csh", "tcsh"]}.get(name, [name])
    for candidate in candidates:
        path = shutil.which(candidate, path=environ.get("PATH"))
        if path:
            return path
    raise UsageError(f"cannot find the {name} program on PATH",
                     hint="pass --shell with a shell that is installed")


def launch(found: str, act: "Activation", environ: Mapping[str, str]) -> Launch:
    """How to start the shell `found` (as detected) with `act` applied."""
    name = activation.normalise(found)
    shell = activation.for_name(name)
    family, variant = activation.NAMES[name]
    program = executable_for(found, environ)
    env = dict(environ)
    argv0 = os.path.basename(program)
    if family == "fish":
        return Launch(program, [argv0, "--init-command", shell.activate(act, environ)], env)
    if family == "powershell":
        return Launch(program, [argv0, "-NoExit", "-Command", shell.activate(act, environ)], env)
    if family != "posix":
        return Launch(program, [argv0], _applied(act, environ, family))
    code = shell.activate(act, environ)
    directory = tempfile.mkdtemp(prefix="envman-shell-")
    first = f"rm -rf -- {shell.quote(directory)}"
    if variant == "bash":
        rc = os.path.join(directory, "bashrc")
        _write(rc, [first, 'if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi', code])
        return Launch(program, [argv0, "--rcfile", rc, "-i"], env)
    if variant == "zsh":
        return Launch(program, [argv0, "-i"], _zsh(shell, directory, first, code, env))
    # sh, dash, ksh, mksh: an interactive shell reads the file ENV names.
    own = environ.get("ENV") or _ENV_DEFAULTS.get(name)
    restore = f"ENV={shell.quote(environ['ENV'])}" if "ENV" in environ else "unset ENV"
    # ENV's value is expanded by the shell (it may say $HOME): kept as the shell would use it.
    lines = [first, restore]
    if own:
        lines.append(f'_envman_rc="{_expandable(own)}"; if [ -f "$_envman_rc" ]; then . "$_envman_rc"; fi; '
                     "unset _envman_rc")
    rc = os.path.join(directory, "envrc")
    _write(rc, [*lines, code])
    env["ENV"] = rc
    return Launch(program, [argv0, "-i"], env)


def _zsh(shell: activation.Shell, directory: str, first: str, code: str,
         env: Dict[str, str]) -> Dict[str, str]:
    """ZDOTDIR at `directory`, whose files run the person's own and then `code`."""
    restore = f"ZDOTDIR={shell.quote(env['ZDOTDIR'])}" if "ZDOTDIR" in env else "unset ZDOTDIR"
    _write(os.path.join(directory, ".zshenv"), [
        restore,
        'if [[ -f "${ZDOTDIR:-$HOME}/.zshenv" ]]; then source "${ZDOTDIR:-$HOME}/.zshenv"; fi',
        # The person's .zshenv may move ZDOTDIR; .zshrc comes from where it now says.
        'if [[ -n "${ZDOTDIR+x}" ]]; then _envman_zdotdir=$ZDOTDIR; else unset _envman_zdotdir; fi',
        f"ZDOTDIR={shell.quote(directory)}",
    ])
    _write(os.path.join(directory, ".zshrc"), [
        first,
        'if [[ -n "${_envman_zdotdir+x}" ]]; then ZDOTDIR=$_envman_zdotdir; else unset ZDOTDIR; fi',
        "unset _envman_zdotdir",
        'if [[ -f "${ZDOTDIR:-$HOME}/.zshrc" ]]; then source "${ZDOTDIR:-$HOME}/.zshrc"; fi',
        code,
    ])
    env["ZDOTDIR"] = directory
    return env


def _expandable(value: str) -> str:
    """`value` inside double quotes with `$` left to expand (as the shell treats ENV),
    and the three other characters special there escaped."""
    return "".join("\\" + c if c in '"\\`' else c for c in value)


def _applied(act: "Activation", environ: Mapping[str, str], family: str) -> Dict[str, str]:
    """`environ` with the environment entered: for the shells started without a snippet."""
    env = dict(environ)
    if env.get("VIRTUAL_ENV"):  # inherited: leave it first, as the snippets do
        env["PATH"] = activation.without_scripts(env.get("PATH", ""), env["VIRTUAL_ENV"])
    if family == "nushell":
        # What nushell's `envman deactivate` gives back (see shells/nushell.py).
        env[activation.OLD_PATH] = env.get("PATH", "")
        for var in act.unset:
            if var in env:
                env[activation.old(var)] = env[var]
    for var in act.unset:
        env.pop(var, None)
    env.update(act.set)
    env["PATH"] = os.pathsep.join([*act.path_prepend, env.get("PATH", "")]).rstrip(os.pathsep)
    return env


def _write(path: str, lines: List[str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def run(how: Launch) -> Optional[int]:
    """Replace envman with the shell (POSIX); elsewhere run it and give its status."""
    if os.name == "nt":
        import subprocess

        return subprocess.call([how.executable, *how.argv[1:]], env=how.environ)
    os.execve(how.executable, how.argv, how.environ)
    return None  # not reached
