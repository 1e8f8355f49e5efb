"""The code `envman init SHELL [--auto]` prints for the shell's rc file.

It defines an `envman` shell function (a callable alias in xonsh, a `def --env` command
in nushell) that evaluates what `envman activate` and `envman deactivate` print, so that
`envman activate web` changes the shell without `eval` and fails with envman's exit
status (3 for no such environment), and passes every other command through unchanged.
With `--auto` it also installs a hook that runs envman's directory-change fast path
(`envman/shell/auto_fast.py`) whenever the shell's directory is not the one it last saw.

Paths baked into the code (the interpreter, the package, the default data root and
cache) go through the shell's own `quote()`, like every value in an activation snippet.
They are those of the envman that prints the code: `eval "$(envman init bash)"` in the
rc file prints them afresh in every new shell, so an upgraded or moved envman is found.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, List

from envman.errors import UsageError
from envman.shell import activation

# What `envman init` accepts: every shell `activate` supports.
INIT_SHELLS = ("bash", "zsh", "sh", "dash", "ksh", "mksh", "fish", "csh", "tcsh", "nu", "nushell",
               "xonsh", "pwsh", "powershell")
# Where `--auto` is available: shells with a hook that runs on a change of directory.
AUTO_SHELLS = ("bash", "zsh", "fish")
# The options after which activate/deactivate print something other than code for this
# shell: the function passes those calls through unchanged, so their output is seen.
PASS_THROUGH = ("-h", "--help", "--json")
# The file the tcsh alias sources (in envman/shell/activation/, shipped as package data).
CSH_HELPER = "envman.csh"
# The fast path's command line (see envman/shell/auto_fast.py for the protocol).
AUTO_RUN = "import sys;sys.path[:0]=sys.argv[1:2];from envman.shell.auto_fast import main;main(sys.argv[2:])"

RC_FILES = {"bash": "~/.bashrc", "zsh": "~/.zshrc", "sh": "the file $ENV names",
            "dash": "the file $ENV names", "ksh": "~/.kshrc", "mksh": "~/.mkshrc",
            "fish": "~/.config/fish/config.fish", "csh": "~/.cshrc", "tcsh": "~/.tcshrc",
            "nu": "config.nu", "xonsh": "~/.xonshrc", "pwsh": "$PROFILE"}
RC_LINES = {"posix": 'eval "$(envman init {})"', "fish": "envman init {} | source",
            "csh": 'eval "`envman init {}`"', "xonsh": "execx($(envman init {}))",
            # nushell reads a `source`d file when it parses config.nu: envman writes it from env.nu.
            "nushell": "envman init {} | save --force ~/.envman.nu",
            "powershell": "envman init {} | Out-String | Invoke-Expression"}


# How each shell runs what `envman activate` prints, as the README gives it ({} the command).
EVAL_LINES = {"posix": 'eval "$({})"', "fish": "{} | source", "csh": 'eval "`{}`"',
              "xonsh": "execx($({}))", "powershell": "{} | Out-String | Invoke-Expression",
              "nushell": "{} | from nuon | do --env {{ load-env $in.set; hide-env -i ...$in.unset }}"}


def terminal_hint(name: str, command: str) -> str:
    """One line for a person who ran `command` (activate or deactivate) at a terminal,
    where its code is shown instead of run."""
    key = activation.normalise(name)
    family = activation.NAMES[key][0]
    shown = "pwsh" if family == "powershell" else "nu" if family == "nushell" else key
    run = EVAL_LINES[family].format(command)
    if key not in INIT_SHELLS:
        return f"hint: this is code for your shell to run, not run by it: {run}"
    if family == "nushell":
        return (f"hint: this is code for your shell to run, not run by it: {run}; or follow "
                f"`envman init nu` and `{command}` works by itself")
    where = RC_FILES.get(shown, "your rc file")
    return (f"hint: this is code for your shell to run, not run by it: {run}; or add "
            f"{RC_LINES[family].format(shown)} to {where} and `{command}` works by itself")


def rc_code(name: str, auto: bool) -> str:
    """The code for `name`'s rc file; with `auto`, activation follows `cd` too."""
    key = activation.normalise(name)
    if key not in INIT_SHELLS:
        raise UsageError(f"unsupported shell {name!r}",
                         hint="envman init takes bash, zsh, sh, dash, ksh, mksh, fish, tcsh, "
                              "nu, xonsh or pwsh")
    if auto and key not in AUTO_SHELLS:
        raise UsageError(f"--auto is not available for {key}: it needs a hook that runs when the "
                         "directory changes", hint="--auto works in bash, zsh and fish")
    family, variant = activation.NAMES[key]
    shell = activation.for_name(key)
    shown = "pwsh" if variant == "pwsh" else "nu" if variant == "nu" else key
    rc_line = RC_LINES[family].format(shown + (" --auto" if auto else ""))
    where = RC_FILES.get(shown, "your rc file")
    header = [f"envman shell integration for {shown}: add to {where}", f"  {rc_line}"]
    if family == "nushell":
        header = ["envman shell integration for nushell: add to env.nu", f"  {rc_line}",
                  "and to config.nu", "  source ~/.envman.nu"]
    header += [
              "`envman activate [NAME]` and `envman deactivate` then change this shell and keep",
              "envman's exit status; every other command runs envman unchanged."]
    if auto:
        header += ["--auto: entering a project's directory activates its environment, leaving",
                   "every project deactivates it; one activated by hand is never touched."]
    render = _RENDER[family]
    return render(shell, shown, header, auto)


def _auto_command(shell: activation.Shell, variant: str) -> List[str]:
    """The fast path's command line, every word quoted for `shell`, without the AUTO and
    NOTED words."""
    from envman.shell.completion_scripts import setup_lines

    python, parent, root, cache = setup_lines()
    return [shell.quote(python), "-I", "-S", "-c", shell.quote(AUTO_RUN), shell.quote(parent),
            "1", variant, shell.quote(root), shell.quote(cache)]


def _comment(lines: List[str], mark: str = "#") -> List[str]:
    return [f"{mark} {line}".rstrip() for line in lines]


def _posix(shell: activation.Shell, name: str, header: List[str], auto: bool) -> str:
    passing = "|".join([*PASS_THROUGH, "--shell", "--shell=*"])
    lines = _comment(header) + [
        "envman() {",
        "    case ${1-} in",
        "        activate|deactivate)",
        '            for _envman_arg in "$@"; do',
        "                case $_envman_arg in",
        f"                    {passing})",
        "                        unset _envman_arg",
        '                        command envman "$@"',
        "                        return",
        "                        ;;",
        "                esac",
        "            done",
        "            unset _envman_arg",
        # `x=$(cmd) || ...` keeps cmd's status; nothing is evaluated when envman failed.
        f'            _envman_code=$(command envman "$@" --shell {name}) || {{',
        '                set -- "$?"',
        "                unset _envman_code",
        '                return "$1"',
        "            }",
        # Activated or left by hand: the --auto hook must not touch it from now on.
        *(["            unset _ENVMAN_AUTO"] if auto else []),
        '            eval "$_envman_code"',
        "            unset _envman_code",
        "            return 0",
        "            ;;",
        "    esac",
        '    command envman "$@"',
        "}",
    ]
    if auto:
        lines += [
            "_envman_auto() {",
            '    set -- "$?"  # the last command\'s status, given back for the prompt',
            '    if [ "${_envman_auto_pwd-}" != "$PWD" ]; then',
            "        _envman_auto_pwd=$PWD",
            f'        eval "$({" ".join(_auto_command(shell, name))} "${{_ENVMAN_AUTO-}}" '
            '"${_ENVMAN_AUTO_NOTED-}")"',
            "    fi",
            '    return "$1"',
            "}",
        ]
        if name == "bash":
            lines += [
                # First in PROMPT_COMMAND (a string, or an array since bash 5.1), so that the
                # person's own prompt commands see the environment; added once however often
                # this runs.
                "case ${PROMPT_COMMAND[*]-} in",
                "    *_envman_auto*) ;;",
                "    *)",
                '        if [[ $(declare -p PROMPT_COMMAND 2>/dev/null) == "declare -a"* ]]; then',
                '            PROMPT_COMMAND=(_envman_auto "${PROMPT_COMMAND[@]}")',
                "        else",
                '            PROMPT_COMMAND="_envman_auto${PROMPT_COMMAND:+;$PROMPT_COMMAND}"',
                "        fi",
                "        ;;",
                "esac",
            ]
        else:
            lines += ["autoload -Uz add-zsh-hook",
                      "add-zsh-hook chpwd _envman_auto",
                      "_envman_auto  # the directory the shell starts in"]
    return "\n".join(lines) + "\n"


def _fish(shell: activation.Shell, name: str, header: List[str], auto: bool) -> str:
    lines = _comment(header) + [
        "function envman --description 'envman; activate and deactivate change this shell'",
        "    if contains -- \"$argv[1]\" activate deactivate",
        f"        and not string match -q -r -- '^(--shell.*|{'|'.join(PASS_THROUGH)})$' $argv",
        # `set` keeps the status of its command substitution; nothing runs when it failed.
        "        set -l code (command envman $argv --shell fish)",
        "        or return",
        *(["        set -e _ENVMAN_AUTO  # activated or left by hand: --auto keeps off it"]
          if auto else []),
        "        string join \\n -- $code | source",
        "        return 0",
        "    end",
        "    command envman $argv",
        "end",
    ]
    if auto:
        lines += [
            "function _envman_auto --on-variable PWD --description 'envman: activation follows cd'",
            '    test "$_envman_auto_pwd" = "$PWD"; and return',
            "    set -g _envman_auto_pwd $PWD",
            f'    {" ".join(_auto_command(shell, "fish"))} "$_ENVMAN_AUTO" "$_ENVMAN_AUTO_NOTED" | source',
            "end",
            "_envman_auto  # the directory the shell starts in",
        ]
    return "\n".join(lines) + "\n"


def _nushell(shell: activation.Shell, name: str, header: List[str], auto: bool) -> str:
    # nushell cannot evaluate code, so the command applies envman's NUON record (see
    # envman/shell/activation/nushell.py). A failing envman fails the pipeline with its status.
    passing = ", ".join(f'"{p}"' for p in PASS_THROUGH)
    lines = _comment(header) + [
        "def --env --wrapped envman [...args] {",
        '    if ($args | length) > 0 and ($args.0 in ["activate", "deactivate"]) and not ($args | any {|a|',
        f'            ($a in [{passing}]) or ($a | str starts-with "--shell") }}) {{',
        # An external that fails inside `let` fails this command with its exit status.
        "        let changes = (^envman ...$args --shell nu)",
        "        $changes | from nuon | do --env { load-env $in.set; hide-env -i ...$in.unset }",
        # A captured external leaves LAST_EXIT_CODE as it was: say envman's 0.
        "        $env.LAST_EXIT_CODE = 0",
        "    } else {",
        "        ^envman ...$args",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _xonsh(shell: activation.Shell, name: str, header: List[str], auto: bool) -> str:
    lines = _comment(header) + [
        "def _envman_alias(args, stdin=None):",
        "    import subprocess",
        "    env = __xonsh__.env.detype()",
        "    if args and args[0] in ('activate', 'deactivate') and not any(",
        f"            a in {PASS_THROUGH!r} or a.startswith('--shell') for a in args):",
        "        done = subprocess.run(['envman', *args, '--shell', 'xonsh'], env=env,",
        "                              stdout=subprocess.PIPE, text=True)",
        "        if done.returncode == 0:",
        "            execx(done.stdout)",
        "        return done.returncode",
        "    return subprocess.run(['envman', *args], env=env).returncode",
        "aliases['envman'] = _envman_alias",
        "del _envman_alias",
    ]
    return "\n".join(lines) + "\n"


def _powershell(shell: activation.Shell, name: str, header: List[str], auto: bool) -> str:
    passing = ", ".join(shell.quote(p) for p in PASS_THROUGH)
    lines = _comment(header) + [
        "function global:envman {",
        "    $exe = Get-Command -Name envman -CommandType Application | Select-Object -First 1",
        "    if ($args.Count -gt 0 -and $args[0] -in 'activate', 'deactivate' -and",
        f"            -not ($args | Where-Object {{ $_ -in @({passing}) -or \"$_\" -like '--shell*' }})) {{",
        # $LASTEXITCODE stays envman's; nothing is evaluated when it failed.
        "        $code = & $exe @args --shell pwsh",
        "        if ($LASTEXITCODE -eq 0) { $code | Out-String | Invoke-Expression }",
        "        return",
        "    }",
        "    & $exe @args",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _csh(shell: activation.Shell, name: str, header: List[str], auto: bool) -> str:
    # csh has no functions and an alias cannot hold if/else: the alias sources a file
    # shipped beside the shell modules, passing envman's arguments. csh's eval joins
    # lines, so what it evaluates is one line (the comments stay out of it).
    helper = os.path.join(os.path.dirname(os.path.abspath(activation.__file__)), CSH_HELPER)
    del header
    # The alias text is read again when the alias runs: the path inside it stays quoted.
    return "alias envman " + shell.quote("source " + shell.quote(helper) + " !*") + "\n"


_RENDER: Dict[str, Callable[[activation.Shell, str, List[str], bool], str]] = {
    "posix": _posix, "fish": _fish, "nushell": _nushell, "xonsh": _xonsh,
    "powershell": _powershell, "csh": _csh,
}
