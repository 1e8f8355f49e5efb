# bash completion for envman: `envman completion bash` prints this, completions/envman.bash
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
    mapfile -t reply < <("${_envman_complete_setup[0]}" -I -S -c 'import sys;sys.path[:0]=sys.argv[1:2];from envman.shell.complete_fast import main;main(sys.argv[2:])' \
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
