# envman for tcsh and csh: `envman init tcsh` aliases `envman` to source this file with
# envman's arguments (csh has no functions, and an alias cannot hold an if/else).
# `envman activate` and `envman deactivate` evaluate what envman prints; any other
# command runs envman unchanged. $status is envman's afterwards. `\envman` is the
# program, not the alias.
set _envman_eval = 0
if ( $#argv > 0 ) then
    if ( "$argv[1]:q" == activate || "$argv[1]:q" == deactivate ) set _envman_eval = 1
endif
foreach _envman_a ( $argv:q )
    # Asked for help, JSON or another shell's code: show it, do not evaluate it.
    if ( "$_envman_a:q" == -h || "$_envman_a:q" == --help || "$_envman_a:q" == --json ) set _envman_eval = 0
    if ( "$_envman_a:q" =~ --shell* ) set _envman_eval = 0
end
if ( $_envman_eval ) then
    set _envman_code = "`\envman $argv:q --shell tcsh`"
    set _envman_status = $status
    if ( $_envman_status == 0 ) eval "$_envman_code:q"
else
    \envman $argv:q
    set _envman_status = $status
endif
set _envman_a = $_envman_status
unset _envman_eval _envman_code _envman_status
set status = $_envman_a
