# fish completion for envman: `envman completion fish` prints this, completions/envman.fish
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
    set -l reply ($__envman_complete_setup[1] -I -S -c 'import sys;sys.path[:0]=sys.argv[1:2];from envman.shell.complete_fast import main;main(sys.argv[2:])' \
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
