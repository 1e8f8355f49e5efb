"""csh and tcsh: ``eval "`envman activate`"``.

Two csh facts shape this module. `eval` of backquoted output joins its lines into one,
so the snippet is a single line of `;`-separated commands (no `if`/`endif` blocks).
And csh substitutes variables for a whole one-line `if` before testing it, so a branch
that reads a variable which may be unset goes through `eval '...'`, whose body holds
only variable names, never a value. Aliases are expanded when a line is read, so the
previous `deactivate` alias is run through `eval` too.
"""

from __future__ import annotations

from envman.shell.activation import ACTIVATION_VARIABLES, TYPE_CHECKING, Shell, plain_prompt, without_scripts
from envman.shell.activation import VENV_OLD_PATH as OLD_PATH
from envman.shell.activation import venv_old as old

if TYPE_CHECKING:
    from typing import List, Mapping

    from envman.shell.activation import Activation

# '%' sequences and '!' (the history number) are expanded when the prompt is shown.
PROMPT_SPECIALS = "%!\\"
HAD_PROMPT = "_ENVMAN_HAD_PROMPT"
OLD_PROMPT = old("PROMPT")  # venv's activate.csh restores `prompt` from it


def had(variable: str) -> str:
    return f"_ENVMAN_HAD_{variable}"


def quote(text: str) -> str:
    """Single quotes; `'` written as `'\\''`, and `!` (history substitution, which single
    quotes do not stop) as `'\\!'`. csh cannot carry a newline through `eval`."""
    if "\n" in text or "\r" in text:
        raise ValueError("csh cannot quote a newline")
    return "'" + text.replace("'", "'\\''").replace("!", "'\\!'") + "'"


class Csh(Shell):
    def quote(self, text: str) -> str:
        return quote(text)

    def _leave(self, unset: List[str], environ: Mapping[str, str]) -> List[str]:
        commands = [
            'set _envman_a = "`alias deactivate`"',
            'if ( "$_envman_a:q" != "" ) eval deactivate',
        ]
        virtual_env = environ.get("VIRTUAL_ENV")
        if virtual_env:
            # Activated in a parent shell (no alias here): csh has no string operations
            # fit for PATH, so envman computes it from the environment it was given,
            # which is this shell's.
            stripped = without_scripts(environ.get("PATH", ""), virtual_env)
            if "\n" in stripped or "\r" in stripped:
                from envman.errors import UsageError

                raise UsageError("PATH holds a newline, which csh cannot take back through eval",
                                 hint="take that directory off PATH, or leave this shell and start a new one")
            commands.append(f'if ( "$_envman_a:q" == "" ) setenv PATH {quote(stripped)}')
            commands += [f'if ( "$_envman_a:q" == "" ) unsetenv {var}' for var in unset]
        commands.append("unset _envman_a")
        return commands

    def activate(self, act: "Activation", environ: Mapping[str, str]) -> str:
        commands = self._leave(list(act.set), environ)
        commands.append(f'set {OLD_PATH} = "$PATH:q"')
        for var in act.unset:
            commands += [
                f"set {had(var)} = $?{var}",
                f'set {old(var)} = ""',
                f"if ( ${had(var)} ) eval 'set {old(var)} = \"${var}:q\"'",
                f"unsetenv {var}",
            ]
        for var, value in act.set.items():
            commands.append(f"setenv {var} {quote(value)}")
        prepend = ":".join(quote(p) for p in act.path_prepend)
        commands.append(f'setenv PATH {prepend}":$PATH:q"')
        commands += [
            f"set {HAD_PROMPT} = 0",
            f'set {OLD_PROMPT} = ""',
            f"set _envman_prefix = {quote(plain_prompt(act.prompt_prefix, PROMPT_SPECIALS))}",
            'set _envman_quiet = ""',
            "if ( $?VIRTUAL_ENV_DISABLE_PROMPT ) eval 'set _envman_quiet = \"$VIRTUAL_ENV_DISABLE_PROMPT:q\"'",
            f"if ( $?prompt ) eval 'if ( \"$_envman_quiet:q\" == \"\" ) set {HAD_PROMPT} = 1'",
            f"if ( ${HAD_PROMPT} ) eval 'set {OLD_PROMPT} = \"$prompt:q\"; "
            f"set prompt = \"$_envman_prefix:q$prompt:q\"'",
            "unset _envman_prefix _envman_quiet",
        ]
        restore = [f'setenv PATH "${OLD_PATH}:q"']
        for var in act.unset:
            restore += [f"unsetenv {var}", f'if ( ${had(var)} ) setenv {var} "${old(var)}:q"']
        restore.append(f'if ( ${HAD_PROMPT} ) set prompt = "${OLD_PROMPT}:q"')
        saved = [OLD_PATH, HAD_PROMPT, OLD_PROMPT, *(had(v) for v in act.unset), *(old(v) for v in act.unset)]
        restore.append(f"unset {' '.join(saved)}")
        restore += [f"unsetenv {var}" for var in act.set]
        restore += ["unalias deactivate", "rehash"]
        # The alias body holds no value, only variable names: it is read again when run.
        commands.append(f"alias deactivate '{'; '.join(restore)}'")
        commands.append("rehash")
        return "; ".join(commands) + "\n"

    def deactivate(self, environ: Mapping[str, str]) -> str:
        return "; ".join([*self._leave(list(ACTIVATION_VARIABLES), environ), "rehash"]) + "\n"


SHELL = Csh
