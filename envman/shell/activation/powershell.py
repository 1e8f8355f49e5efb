"""PowerShell (pwsh 7, Windows PowerShell 5.1): `envman activate | Out-String | Invoke-Expression`.

Single-quoted strings are literal except for the quote itself, and PowerShell also
takes the typographic single quotes (U+2018 to U+201B) as quotes: each is doubled.
"""

from __future__ import annotations

import re

from envman.shell.activation import ACTIVATION_VARIABLES, OLD_PATH, SCRIPTS, TYPE_CHECKING, Shell, old

if TYPE_CHECKING:
    from typing import List, Mapping

    from envman.shell.activation import Activation

_QUOTES = re.compile("['\u2018\u2019\u201a\u201b]")
OLD_PROMPT_FUNCTION = "_envman_old_prompt"
PROMPT_PREFIX = "_ENVMAN_PROMPT_PREFIX"
SEP = "[IO.Path]::PathSeparator"


def quote(text: str) -> str:
    """A single-quoted string with every kind of single quote doubled."""
    return "'" + _QUOTES.sub(lambda m: m.group(0) * 2, text) + "'"


def _leave(unset: List[str]) -> List[str]:
    return [
        "if (Test-Path -Path Function:deactivate) {",
        "    deactivate",
        "} elseif ($env:VIRTUAL_ENV) {",
        # Activated in a parent shell: only exported variables came through.
        f"    $_envman_d = Join-Path -Path $env:VIRTUAL_ENV -ChildPath {quote(SCRIPTS)}",
        f"    $env:PATH = ($env:PATH -split {SEP} | Where-Object {{ $_ -ne $_envman_d }}) -join {SEP}",
        "    Remove-Variable -Name _envman_d",
        *(f"    Remove-Item -Path Env:{var} -ErrorAction SilentlyContinue" for var in unset),
        "}",
    ]


class PowerShell(Shell):
    def quote(self, text: str) -> str:
        return quote(text)

    def activate(self, act: "Activation", environ: Mapping[str, str]) -> str:
        lines = _leave(list(act.set))
        lines.append(f"$global:{OLD_PATH} = $env:PATH")
        for var in act.unset:
            lines += [f"if (Test-Path -Path Env:{var}) {{",
                      f"    $global:{old(var)} = $env:{var}",
                      f"    Remove-Item -Path Env:{var}",
                      "}"]
        for var, value in act.set.items():
            lines.append(f"$env:{var} = {quote(value)}")
        for path in reversed(act.path_prepend):
            lines.append(f"$env:PATH = if ($env:PATH) {{ {quote(path)} + {SEP} + $env:PATH }} "
                         f"else {{ {quote(path)} }}")
        lines += [
            "if (-not $env:VIRTUAL_ENV_DISABLE_PROMPT) {",
            f"    $global:{PROMPT_PREFIX} = {quote(act.prompt_prefix)}",
            "    if (-not (Test-Path -Path Function:prompt)) { function global:prompt { 'PS> ' } }",
            f"    Copy-Item -Path Function:prompt -Destination Function:global:{OLD_PROMPT_FUNCTION}",
            f"    function global:prompt {{ $global:{PROMPT_PREFIX} + ({OLD_PROMPT_FUNCTION}) }}",
            "}",
            "function global:deactivate {",
            f"    if (Test-Path -Path Variable:global:{OLD_PATH}) {{",
            f"        $env:PATH = $global:{OLD_PATH}",
            f"        Remove-Variable -Name {OLD_PATH} -Scope Global",
            "    }",
        ]
        for var in act.unset:
            lines += [f"    Remove-Item -Path Env:{var} -ErrorAction SilentlyContinue",
                      f"    if (Test-Path -Path Variable:global:{old(var)}) {{",
                      f"        Set-Item -Path Env:{var} -Value $global:{old(var)}",
                      f"        Remove-Variable -Name {old(var)} -Scope Global",
                      "    }"]
        lines += [
            f"    if (Test-Path -Path Function:{OLD_PROMPT_FUNCTION}) {{",
            f"        Copy-Item -Path Function:{OLD_PROMPT_FUNCTION} -Destination Function:global:prompt",
            f"        Remove-Item -Path Function:{OLD_PROMPT_FUNCTION}",
            f"        Remove-Variable -Name {PROMPT_PREFIX} -Scope Global -ErrorAction SilentlyContinue",
            "    }",
            *(f"    Remove-Item -Path Env:{var} -ErrorAction SilentlyContinue" for var in act.set),
            "    Remove-Item -Path Function:deactivate",
            "}",
        ]
        return "\n".join(lines) + "\n"

    def deactivate(self, environ: Mapping[str, str]) -> str:
        return "\n".join(_leave(list(ACTIVATION_VARIABLES))) + "\n"


SHELL = PowerShell
