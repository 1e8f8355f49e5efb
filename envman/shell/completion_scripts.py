"""Completion scripts for bash, zsh, fish and PowerShell, and the set-up line they need.

Each script, on its first TAB in a shell session, runs `envman completion --setup` once
and keeps what it prints (see `setup_lines`). Every later TAB runs only
`envman/shell/complete_fast.py` under `python -I -S`: no site-packages, no typer, a few
milliseconds. Because the scripts learn every path at run time, their text is the same
whether printed by `envman completion SHELL` or shipped in `completions/` for packagers
(tests/shell/test_completion.py checks that the two are identical).
"""

from __future__ import annotations

import sys
from typing import Dict, List

from envman.errors import UsageError

# What every script runs on a TAB. `-c` rather than the file itself: an imported module
# is compiled once into __pycache__, a script on every run (about 3 ms of a TAB).
_RUN = "import sys;sys.path[:0]=sys.argv[1:2];from envman.shell.complete_fast import main;main(sys.argv[2:])"

_BASH = r"""# bash completion for envman: `envman completion bash` prints this, completions/envman.bash
# ships it. Install: envman completion bash > ~/.local/share/bash-completion/completions/envman
# (or add `source <(envman completion bash)` to ~/.bashrc). Needs bash 4 or newer.
# The first TAB in a shell runs `envman completion --setup` once; later ones run only
# envman's small completion module with `python -I -S`.

_envman_complete() {
    local IFS=$'\n'
    local -a reply
    if [[ ! -x ${_envman_complete_setup[0]-} || ! -f ${_envman_complete_setup[1]-}/envman/shell/complete_fast.py ]]; then
        mapfile -t _envman_complete_setup < <(command envman completion --setup 2>/dev/null)
        [[ -x ${_envman_complete_setup[0]-} ]] || return 0
    fi
    mapfile -t reply < <("${_envman_complete_setup[0]}" -I -S -c '@RUN@' \
        "${_envman_complete_setup[1]-}" 1 bash "${_envman_complete_setup[2]-}" \
        "${_envman_complete_setup[3]-}" "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null)
    COMPREPLY=()
    case ${reply[0]-} in
        :file) compopt -o default 2>/dev/null ;;
        :dir) compopt -o dirnames 2>/dev/null ;;
        ':command '*)
            local first=${reply[0]#:command }
            if declare -F _command_offset >/dev/null; then
                _command_offset "$first"
            elif (( COMP_CWORD == first )); then
                COMPREPLY=($(compgen -c -- "${COMP_WORDS[COMP_CWORD]}"))
            else
                compopt -o default 2>/dev/null
            fi
            ;;
        *) COMPREPLY=("${reply[@]}") ;;
    esac
    return 0
}
complete -F _envman_complete envman
"""

_ZSH = r"""#compdef envman
# zsh completion for envman: `envman completion zsh` prints this, completions/_envman ships
# it. Install: save it as _envman in a directory on $fpath before compinit runs, e.g.
#   envman completion zsh > ~/.zfunc/_envman   # with fpath=(~/.zfunc $fpath) in ~/.zshrc
# (or add `source <(envman completion zsh)` to ~/.zshrc after compinit).
# The first TAB in a shell runs `envman completion --setup` once; later ones run only
# envman's small completion module with `python -I -S`.

_envman() {
    local -a reply
    if [[ ! -x ${_envman_complete_setup[1]-} || ! -f ${_envman_complete_setup[2]-}/envman/shell/complete_fast.py ]]; then
        typeset -ga _envman_complete_setup
        _envman_complete_setup=("${(@f)$(command envman completion --setup 2>/dev/null)}")
        [[ -x ${_envman_complete_setup[1]-} ]] || return 1
    fi
    reply=("${(@f)$("${_envman_complete_setup[1]}" -I -S -c '@RUN@' \
        "${_envman_complete_setup[2]-}" 1 zsh "${_envman_complete_setup[3]-}" \
        "${_envman_complete_setup[4]-}" $(( CURRENT - 1 )) "${(@Q)words}" 2>/dev/null)}")
    reply=(${reply:#})
    case ${reply[1]-} in
        :file|:dir)
            [[ $PREFIX == --*=* ]] && compset -P '*='
            if [[ ${reply[1]} == :dir ]]; then _files -/; else _files; fi
            ;;
        ':command '*)
            local first=${reply[1]#:command }
            shift $first words
            (( CURRENT -= first ))
            _normal
            ;;
        *) compadd -M 'm:{[:lower:][:upper:]}={[:upper:][:lower:]}' -a reply ;;
    esac
}

if [[ ${funcstack[1]-} == _envman ]]; then
    _envman "$@"
else
    compdef _envman envman
fi
"""

_FISH = r"""# fish completion for envman: `envman completion fish` prints this, completions/envman.fish
# ships it. Install: envman completion fish > ~/.config/fish/completions/envman.fish
# The first TAB in a shell runs `envman completion --setup` once; later ones run only
# envman's small completion module with `python -I -S`.

function __envman_complete
    if not test -x "$__envman_complete_setup[1]"; or not test -f "$__envman_complete_setup[2]/envman/shell/complete_fast.py"
        set -g __envman_complete_setup (command envman completion --setup 2>/dev/null)
        test -x "$__envman_complete_setup[1]"; or return 0
    end
    set -l current (commandline -ct)
    set -l words (commandline -opc) "$current"
    set -l reply ($__envman_complete_setup[1] -I -S -c '@RUN@' \
        "$__envman_complete_setup[2]" 1 fish "$__envman_complete_setup[3]" \
        "$__envman_complete_setup[4]" (math (count $words) - 1) $words 2>/dev/null)
    switch "$reply[1]"
        case :file
            # fish's own file completion of the word as typed (quotes, backslashes, ~,
            # --opt=), through a command that has no completions of its own.
            complete -C"__envman_no_such_command $current"
        case :dir
            __fish_complete_directories "$current"
        case ':command *'
            set -l first (string replace ':command ' '' -- $reply[1])
            __fish_complete_subcommand --commandline $words[(math $first + 1)..-1]
        case '*'
            printf '%s\n' $reply
    end
end

complete -c envman -f -a '(__envman_complete)'
"""

_POWERSHELL = r"""# PowerShell completion for envman: `envman completion powershell` prints this,
# completions/envman.ps1 ships it. Install: add this line to your $PROFILE
#   envman completion powershell | Out-String | Invoke-Expression
# (or save the script and dot-source it from $PROFILE).
# The first TAB in a session runs `envman completion --setup` once; later ones run only
# envman's small completion module with `python -I -S`.

Register-ArgumentCompleter -Native -CommandName envman -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $setup = $global:EnvmanCompleteSetup
    if (-not $setup -or $setup.Count -lt 4 -or
            -not (Test-Path -LiteralPath $setup[0] -PathType Leaf) -or
            -not (Test-Path -LiteralPath (Join-Path (Join-Path $setup[1] 'envman') '_complete.py') -PathType Leaf)) {
        $setup = @(& envman completion --setup 2>$null)
        $global:EnvmanCompleteSetup = $setup
        if ($setup.Count -lt 4) { return }
    }
    $words = @()
    foreach ($element in $commandAst.CommandElements) {
        if ($element.Extent.StartOffset -ge $cursorPosition) { break }
        $words += $element.Extent.Text
    }
    # An empty word under the cursor is not passed (older PowerShell drops empty
    # arguments to programs): a CWORD equal to the number of words means just that.
    $cword = $words.Count
    if ($wordToComplete -ne '') {
        $cword = $words.Count - 1
        $words[$cword] = $wordToComplete
    }
    $reply = @(& $setup[0] -I -S -c '@RUN@' $setup[1] 1 powershell $setup[2] $setup[3] $cword @words 2>$null)
    # A directive (files, directories, a command line) means PowerShell's own completion.
    if ($reply.Count -eq 0 -or $reply[0].StartsWith(':')) { return }
    foreach ($item in $reply) {
        [System.Management.Automation.CompletionResult]::new($item, $item, 'ParameterValue', $item)
    }
}
"""

SCRIPTS: Dict[str, str] = {
    shell: text.replace("@RUN@", _RUN)
    for shell, text in (("bash", _BASH), ("zsh", _ZSH), ("fish", _FISH), ("powershell", _POWERSHELL))
}
ALIASES = {"pwsh": "powershell"}
# Where each script ships in the repository's completions/ (the names packagers expect).
SHIPPED = {"bash": "envman.bash", "zsh": "_envman", "fish": "envman.fish",
           "powershell": "envman.ps1"}


def script(shell: str) -> str:
    """The completion script for `shell` (bash, zsh, fish, powershell or pwsh)."""
    text = SCRIPTS.get(ALIASES.get(shell, shell))
    if text is None:
        raise UsageError(f"no completion for shell {shell!r}: choose bash, zsh, fish or powershell")
    return text


def setup_lines() -> List[str]:
    """What the scripts keep for a shell session, one per line.

    The interpreter running envman; the directory holding the envman package (put on
    `sys.path` by the fast path, which runs with `-I -S`); the data root and the cache
    directory used when `$ENVMAN_HOME` is unset. The fast path cannot learn the last
    two itself without importing platformdirs, which costs more than the whole TAB.
    """
    from envman.store.layout import Store

    default = Store.from_environment({})
    from envman import package_parent

    lines = [sys.executable, package_parent(), str(default.root), str(default.cache)]
    if any("\n" in line or "\r" in line for line in lines):
        raise UsageError("a path envman needs for completion holds a newline; completion is off")
    return lines
