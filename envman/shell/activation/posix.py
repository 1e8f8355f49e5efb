"""bash, zsh and the POSIX sh family (dash, ksh, mksh): `eval "$(envman activate)"`.

The snippet uses only POSIX constructs, guards every expansion for `set -u`, and makes
every command that may fail part of a condition, so it also runs under
`set -euo pipefail`.
"""

from __future__ import annotations

from envman.shell.activation import ACTIVATION_VARIABLES, SCRIPTS, TYPE_CHECKING, Shell, plain_prompt
from envman.shell.activation import VENV_OLD_PATH as OLD_PATH
from envman.shell.activation import venv_old as old

if TYPE_CHECKING:
    from typing import List, Mapping

    from envman.shell.activation import Activation

OLD_PROMPT = old("PS1")

# What bash (promptvars), zsh (prompt_subst, %-escapes) and ksh/mksh ('!' is the
# history number) would expand when showing PS1.
PROMPT_SPECIALS = "\\$`!%"


def quote(text: str) -> str:
    """Single quotes, each `'` written as `'\\''`: nothing inside is special in any of
    these shells (zsh's RC_QUOTES does not change `'\\''`)."""
    return "'" + text.replace("'", "'\\''") + "'"


# A `deactivate` that is a shell function (ours, or the one venv's bin/activate defines)
# is called; `command -v` prints a bare name only for functions and builtins, a path for
# a program of that name (pyenv-virtualenv installs one).
_CALL_DEACTIVATE = 'if [ "$(command -v deactivate 2>/dev/null || :)" = deactivate ]; then deactivate'

# Activated in a parent shell: only exported variables came through, so take the
# environment's scripts directory off PATH by hand (string operations only: no programs).
_STRIP = f"""\
elif [ -n "${{VIRTUAL_ENV-}}" ]; then
  _envman_p=":${{PATH-}}:"
  _envman_d="$VIRTUAL_ENV/{SCRIPTS}"
  while :; do
    case $_envman_p in
      *":$_envman_d:"*) _envman_p=${{_envman_p%%":$_envman_d:"*}}:${{_envman_p#*":$_envman_d:"}} ;;
      *) break ;;
    esac
  done
  _envman_p=${{_envman_p#:}}
  PATH=${{_envman_p%:}}
  export PATH
  unset _envman_p _envman_d"""


class Posix(Shell):
    def quote(self, text: str) -> str:
        return quote(text)

    def _leave(self, unset: List[str]) -> List[str]:
        return [_CALL_DEACTIVATE, _STRIP, f"  unset {' '.join(unset)}", "fi"]

    def activate(self, act: "Activation", environ: Mapping[str, str]) -> str:
        lines = self._leave(list(act.set))
        lines.append(f'{OLD_PATH}="${{PATH-}}"')
        for var in act.unset:
            lines.append(f'if [ -n "${{{var}+x}}" ]; then {old(var)}=${var}; unset {var}; fi')
        for var, value in act.set.items():
            lines.append(f"{var}={quote(value)}")
            lines.append(f"export {var}")
        prepend = ":".join(quote(p) for p in act.path_prepend)
        # An empty PATH gains no trailing ':' (which would mean the current directory).
        lines.append(f'PATH={prepend}"${{PATH:+:$PATH}}"')
        lines.append("export PATH")
        prefix = quote(plain_prompt(act.prompt_prefix, PROMPT_SPECIALS))
        lines.append(f'if [ -n "${{PS1+x}}" ] && [ -z "${{VIRTUAL_ENV_DISABLE_PROMPT-}}" ]; then '
                     f'{OLD_PROMPT}=$PS1; PS1={prefix}"$PS1"; fi')
        lines += ["deactivate () {", *("  " + line for line in self._restore(act)), "}"]
        lines.append(self._rehash())
        return "\n".join(lines) + "\n"

    def _restore(self, act: "Activation") -> List[str]:
        body = [f'if [ -n "${{{OLD_PATH}+x}}" ]; then PATH=${OLD_PATH}; export PATH; unset {OLD_PATH}; fi']
        for var in act.unset:
            body.append(f"unset {var}")
            body.append(f'if [ -n "${{{old(var)}+x}}" ]; then {var}=${old(var)}; export {var}; '
                        f"unset {old(var)}; fi")
        body.append(f'if [ -n "${{{OLD_PROMPT}+x}}" ]; then PS1=${OLD_PROMPT}; unset {OLD_PROMPT}; fi')
        body.append(f"unset {' '.join(act.set)}")
        body.append("unset -f deactivate")
        body.append(self._rehash())
        return body

    def _rehash(self) -> str:
        # Forget remembered command locations, so `python` is looked up again.
        return "rehash" if self.variant == "zsh" else "hash -r 2>/dev/null || :"

    def deactivate(self, environ: Mapping[str, str]) -> str:
        return "\n".join([*self._leave(list(ACTIVATION_VARIABLES)), self._rehash()]) + "\n"


SHELL = Posix
