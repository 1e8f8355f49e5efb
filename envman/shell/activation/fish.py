"""fish: `envman activate | source`.

fish's single quotes treat `\\` and `'` as escapes (so `shlex.quote` is wrong here), and
PATH is a list, which makes saving and restoring it exact.
"""

from __future__ import annotations

from envman.shell.activation import ACTIVATION_VARIABLES, SCRIPTS, TYPE_CHECKING, Shell
from envman.shell.activation import VENV_OLD_PATH as OLD_PATH
from envman.shell.activation import venv_old as old

if TYPE_CHECKING:
    from typing import List, Mapping

    from envman.shell.activation import Activation

# venv's activate.fish restores the prompt from this function, and only while
# _OLD_FISH_PROMPT_OVERRIDE is non-empty (see shells/__init__.py, VENV_OLD_PATH).
OLD_PROMPT_FUNCTION = "_old_fish_prompt"
PROMPT_OVERRIDE = "_OLD_FISH_PROMPT_OVERRIDE"


def quote(text: str) -> str:
    """Single quotes, with the two characters fish treats specially there escaped."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Fish(Shell):
    def quote(self, text: str) -> str:
        return quote(text)

    def _leave(self, unset: List[str]) -> List[str]:
        return [
            "if functions -q deactivate",
            "    deactivate",
            "else if set -q VIRTUAL_ENV",
            # Activated in a parent shell: only exported variables came through.
            f'    while set -l _envman_i (contains -i -- "$VIRTUAL_ENV/{SCRIPTS}" $PATH)',
            "        set -e PATH[$_envman_i]",
            "    end",
            *(f"    set -e {var}" for var in unset),
            "end",
        ]

    def activate(self, act: "Activation", environ: Mapping[str, str]) -> str:
        lines = self._leave(list(act.set))
        lines.append(f"set -g {OLD_PATH} $PATH")
        for var in act.unset:
            lines += [f"if set -q {var}", f"    set -g {old(var)} ${var}", f"    set -e {var}", "end"]
        for var, value in act.set.items():
            lines.append(f"set -gx {var} {quote(value)}")
        lines.append(f"set -gx PATH {' '.join(quote(p) for p in act.path_prepend)} $PATH")
        lines += [
            'if test -z "$VIRTUAL_ENV_DISABLE_PROMPT"; and functions -q fish_prompt',
            f"    functions -e {OLD_PROMPT_FUNCTION}",  # a stale one would make the copy fail
            f"    functions -c fish_prompt {OLD_PROMPT_FUNCTION}",
            f'    set -g {PROMPT_OVERRIDE} "$VIRTUAL_ENV"',
            "    function fish_prompt",
            "        set -l _envman_status $status",
            f"        printf '%s' {quote(act.prompt_prefix)}",
            # Give the saved prompt the status of the last command, which it may show.
            '        echo "exit $_envman_status" | source',
            f"        {OLD_PROMPT_FUNCTION}",
            "    end",
            "end",
            "function deactivate -d 'Leave the environment envman activated'",
            f"    if set -q {OLD_PATH}",
            f"        set -gx PATH ${OLD_PATH}",
            f"        set -e {OLD_PATH}",
            "    end",
        ]
        for var in act.unset:
            lines += [f"    set -e {var}", f"    if set -q {old(var)}", f"        set -gx {var} ${old(var)}",
                      f"        set -e {old(var)}", "    end"]
        lines += [
            f"    if functions -q {OLD_PROMPT_FUNCTION}",
            "        functions -e fish_prompt",
            f"        functions -c {OLD_PROMPT_FUNCTION} fish_prompt",
            f"        functions -e {OLD_PROMPT_FUNCTION}",
            "    end",
            f"    set -e {PROMPT_OVERRIDE}",
            *(f"    set -e {var}" for var in act.set),
            "    functions -e deactivate",
            "end",
        ]
        return "\n".join(lines) + "\n"

    def deactivate(self, environ: Mapping[str, str]) -> str:
        return "\n".join(self._leave(list(ACTIVATION_VARIABLES))) + "\n"


SHELL = Fish
