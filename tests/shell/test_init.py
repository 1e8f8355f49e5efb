"""`envman init SHELL [--auto]` and `envman shell`: the shell function, activation that
follows `cd`, and the subshell, in the real shells; the decisions and the code text in
process."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from envman.shell import auto_fast, init as shellinit, activation as shells
from envman.store import registry
from envman.store.records import Registry
from envman.shell.activation import activation
from envman.errors import UsageError
from envman.store.layout import Store
from conftest import REPO, assert_clean_error, child_env, envman_cmd
from shellkit import COMMANDS, need_shell, run_script, shell_environ

# Project directories whose names a careless hook would split, glob or run.
BASE = "in it 'q' $(touch CANARY) [a]*"


@dataclass
class Place:
    root: Path
    home: Path
    p1: Path  # project of 'web', with a subdirectory 'sub'
    p2: Path  # project of 'api'
    envs: Dict[str, Path] = field(default_factory=dict)

    def environ(self, **extra: str) -> Dict[str, str]:
        env = shell_environ(drop=("PYTHONHOME", "VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT", "ENV", "ZDOTDIR",
                                  "VIRTUAL_ENV_DISABLE_PROMPT", "PROMPT_COMMAND", "XONSHRC"))
        env.update(ENVMAN_HOME=str(self.home), ENVMAN_CONFIG=str(self.root / "config.toml"),
                   PYTHONPATH=str(REPO), HOME=str(self.root / "user"), TMPDIR=str(self.root / "tmp"),
                   PATH=f"{self.root / 'bin'}{os.pathsep}{os.environ['PATH']}")
        env.update(extra)
        return env


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Place:
    """Two projects with one real environment each, created once with the real CLI."""
    root = tmp_path_factory.mktemp("init")
    base = root / BASE
    p = Place(root=root, home=root / "data", p1=base / "p1", p2=base / "p2")
    (p.p1 / "sub").mkdir(parents=True)
    p.p2.mkdir()
    for directory in ("bin", "user", "tmp"):
        (root / directory).mkdir()
    wrapper = root / "bin" / "envman"  # the envman on PATH the shell function calls
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m envman \"$@\"\n")
    wrapper.chmod(0o755)
    for name, project in (("web", p.p1), ("api", p.p2)):
        done = subprocess.run(
            [*envman_cmd(), "new", name, "--without-pip", "--json"], cwd=project,
            env=child_env({"ENVMAN_HOME": str(p.home), "ENVMAN_CONFIG": str(root / "config.toml")}),
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
        assert done.returncode == 0, done.stderr
        p.envs[name] = Path(json.loads(done.stdout)["path"])
    return p


def lines_with(prefix: str, text: str) -> List[str]:
    return [line[len(prefix):] for line in text.splitlines() if line.startswith(prefix)]


def check(done: subprocess.CompletedProcess, place: Place) -> str:
    out, err = done.stdout.decode(), done.stderr.decode(errors="replace")
    assert "Traceback" not in err and "error: activation on cd" not in err, f"{out}\n{err}"
    assert not list(place.root.rglob("CANARY")), "a directory name ran as code"
    return out


# -- the shell function, in every shell that has one -------------------------------------

@dataclass(frozen=True)
class Dialect:
    init: str           # the README's rc line
    status: str         # prints STATUS=<the last status>
    show: str           # prints VE=<VIRTUAL_ENV or nothing>
    failing: str = "envman activate nosuch"
    leave: str = "envman deactivate"


POSIX = Dialect('eval "$(envman init {})"', 'echo "STATUS=$?"', 'echo "VE=${VIRTUAL_ENV-}"')
FUNCTION_DIALECTS = {
    "bash": POSIX, "zsh": POSIX, "dash": POSIX,
    "fish": Dialect("envman init {} | source", 'echo "STATUS=$status"', 'echo "VE=$VIRTUAL_ENV"'),
    "tcsh": Dialect('eval "`envman init {}`"', 'echo "STATUS=$status"',
                    'if ( $?VIRTUAL_ENV ) then\necho "VE=$VIRTUAL_ENV"\nelse\necho "VE="\nendif'),
    "xonsh": Dialect("execx($(envman init {}))", 'print(f"STATUS={_p.returncode}")',
                     'print("VE=" + ${...}.get("VIRTUAL_ENV", ""))', failing="_p = ![envman activate nosuch]", leave="_p = ![envman deactivate]"),
    "nu": Dialect("source {}", 'print $"STATUS=($env.LAST_EXIT_CODE)"',
                  'print $"VE=($env.VIRTUAL_ENV? | default "")"',
                  failing="try { envman activate nosuch } catch { }"),
}


@pytest.mark.smoke
@pytest.mark.parametrize("shell", list(FUNCTION_DIALECTS))
def test_the_function_activates_fails_with_3_and_deactivates(place: Place, shell: str) -> None:
    """After the rc line: `envman activate web` with no eval activates, an unknown name
    returns 3 and changes nothing, `envman deactivate` leaves, other commands pass through."""
    need_shell(shell)
    d = FUNCTION_DIALECTS[shell]
    init = d.init.format(shell)
    if shell == "nu":  # nushell sources a file when it parses the script: write it first
        rc = place.root / "init.nu"
        rc.write_text(subprocess.run([*envman_cmd(), "init", "nu"], env=place.environ(), check=True,
                                     capture_output=True, text=True).stdout)
        init = d.init.format(rc)
    script = [init, "envman activate web", d.show, d.failing, d.status, d.show,
              d.leave, d.status, d.show, "envman path api"]
    done = run_script(shell, "\n".join(script) + "\n", place.root / f"function-{shell}",
                      place.environ(), cwd=place.p2)
    out = check(done, place)
    assert done.returncode == 0, out
    web = str(place.envs["web"])
    assert lines_with("VE=", out) == [web, web, ""], out
    assert lines_with("STATUS=", out) == ["3", "0"], out
    assert out.rstrip().endswith(str(place.envs["api"])), out  # `path` passed through unchanged
    assert b"no environment named 'nosuch'" in done.stderr


# -- --auto --------------------------------------------------------------------------------

AUTO_STEPS = """\
{show} start
cd {p1}
{show} p1
cd sub
{show} sub
cd {p2}
{show} p2
cd ..
{show} out
envman activate web
cd {p2}
{show} hand-p2
cd ..
{show} hand-out
envman deactivate
cd {p1}
{show} again
"""
AUTO_SHOW = {"bash": 'echo "{label}=${{VIRTUAL_ENV-}}"', "zsh": 'echo "{label}=${{VIRTUAL_ENV-}}"',
             "fish": 'echo "{label}=$VIRTUAL_ENV"'}
AUTO_INIT = {"bash": 'eval "$(envman init bash --auto)"', "zsh": 'eval "$(envman init zsh --auto)"',
             "fish": "envman init fish --auto | source"}


def auto_script(place: Place, shell: str, before: str = "") -> str:
    steps = [line.split(" ", 1) for line in AUTO_STEPS.splitlines()]
    text = [before, AUTO_INIT[shell]]
    for first, rest in steps:
        if first == "{show}":
            text.append(AUTO_SHOW[shell].format(label=rest))
        elif first == "cd":
            text.append(f"cd {shlex.quote(rest.format(p1=place.p1, p2=place.p2))}")
        else:
            text.append(f"{first} {rest}")
    return "\n".join(line for line in text if line) + "\n"


def expected_auto(place: Place) -> Dict[str, str]:
    web, api = str(place.envs["web"]), str(place.envs["api"])
    # enter, keep in a subdirectory, switch, leave; by hand: kept across cd; then again.
    return {"start": "", "p1": web, "sub": web, "p2": api, "out": "", "hand-p2": web,
            "hand-out": web, "again": web}


def seen(out: str) -> Dict[str, str]:
    found = {}
    for line in out.splitlines():
        label, sep, value = line.partition("=")
        if sep and label in expected_keys:
            found[label] = value
    return found


expected_keys = {"start", "p1", "sub", "p2", "out", "hand-p2", "hand-out", "again"}


def test_auto_in_interactive_bash_through_prompt_command(place: Place) -> None:
    """bash reads the steps as typed lines; the hook runs from PROMPT_COMMAND before each
    prompt, after the person's own PROMPT_COMMAND was there first (kept, and given the
    last command's status)."""
    need_shell("bash")
    script = auto_script(place, "bash", before="PROMPT_COMMAND='echo \"PC=$?\"'\nfalse")
    done = subprocess.run([*COMMANDS["bash"], "-i"], input=script.encode(), cwd=place.root,
                          env=place.environ(PS1="$ "), capture_output=True, timeout=120)
    out = check(done, place)
    assert seen(out) == expected_auto(place), (out, done.stderr.decode())
    codes = lines_with("PC=", out)
    assert codes[:3] == ["0", "1", "0"], out  # `false` still shows as 1 to the person's command
    assert b"(web) $ " in done.stderr and b"(api) $ " in done.stderr


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_auto_in_zsh_and_fish_scripts(place: Place, shell: str) -> None:
    need_shell(shell)
    done = run_script(shell, auto_script(place, shell), place.root / f"auto-{shell}",
                      place.environ(), cwd=place.root)
    out = check(done, place)
    assert done.returncode == 0, out
    assert seen(out) == expected_auto(place), out


def test_auto_in_a_child_shell_leaves_the_inherited_environment(place: Place) -> None:
    """A shell started inside an activated one inherits VIRTUAL_ENV, not the hook's mark:
    leaving the project there must not deactivate what the parent activated."""
    need_shell("bash")
    env = place.environ(VIRTUAL_ENV=str(place.envs["web"]))
    script = f'{AUTO_INIT["bash"]}\ncd {shlex.quote(str(place.p2))}\ncd ..\necho "left=${{VIRTUAL_ENV-}}"\n'
    done = subprocess.run([*COMMANDS["bash"], "-i"], input=script.encode(), cwd=place.p1,
                          env=env, capture_output=True, timeout=120)
    out = check(done, place)
    assert lines_with("left=", out) == [str(place.envs["web"])], out


# -- envman shell ---------------------------------------------------------------------------

SUBSHELL_INPUT = {
    "posix": 'echo "VE=$VIRTUAL_ENV"\npython -c "import sys; print(\'PREFIX=\' + sys.prefix)"\nexit 7\n',
    "fish": 'echo "VE=$VIRTUAL_ENV"\npython -c "import sys; print(\'PREFIX=\' + sys.prefix)"\nexit 7\n',
    "csh": 'echo "VE=$VIRTUAL_ENV"\npython -c "import sys; print(\'PREFIX=\' + sys.prefix)"\nexit 7\n',
    "xonsh": 'print("VE=" + $VIRTUAL_ENV)\npython -c "import sys; print(\'PREFIX=\' + sys.prefix)"\nexit(7)\n',
}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "dash", "ksh", "mksh", "tcsh", "xonsh"])
def test_envman_shell_runs_commands_inside_and_returns_their_status(place: Place, shell: str) -> None:
    need_shell(shell)
    family = shells.NAMES[shell][0]
    done = subprocess.run(["envman", "shell", "web", "--shell", shell],
                          input=SUBSHELL_INPUT[family].encode(), cwd=place.root,
                          env=place.environ(), capture_output=True, timeout=120)
    out = check(done, place)
    assert done.returncode == 7, (out, done.stderr)
    assert lines_with("VE=", out) == [str(place.envs["web"])]
    assert lines_with("PREFIX=", out) == [str(place.envs["web"])]
    assert not list((place.root / "tmp").iterdir()), "the subshell's rc files were left behind"
    if shell == "bash":  # the prompt an interactive bash shows (on stderr) is prefixed
        assert b"(web) " in done.stderr


def at_terminal(argv: List[str], env: Dict[str, str], cwd: Path, lines: List[str],
                timeout: float = 60) -> "tuple[int, str]":
    """Run `argv` with a pseudo-terminal as its controlling terminal, type `lines` one at a
    time (each once the output has gone quiet), and return its exit status and screen."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    screen = b""
    deadline = time.monotonic() + timeout
    pending = list(lines)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # the child is gone
                    break
                if not chunk:
                    break
                screen += chunk
                # A line editor asking where the cursor is (nushell's reedline) waits for the
                # terminal's answer.
                for _ in range(chunk.count(b"\x1b[6n")):
                    os.write(fd, b"\x1b[1;1R")
            elif pending:
                os.write(fd, pending.pop(0).encode() + b"\r")
        else:
            os.kill(pid, 9)  # never wait forever on a shell that did not exit
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), screen.decode(errors="replace").replace("\r", "")


def test_envman_shell_in_nushell_at_a_terminal(place: Place) -> None:
    """nushell refuses a REPL without a terminal: type at a pseudo-terminal instead."""
    need_shell("nu")
    web = str(place.envs["web"])
    code, screen = at_terminal(["envman", "shell", "web", "--shell", "nu"], place.environ(TERM="dumb"),
                               place.root, ['print $"VE=($env.VIRTUAL_ENV)"', "exit 7"])
    assert f"VE={web}" in screen and code == 7, (code, screen)


def test_envman_shell_detects_the_shell_from_SHELL(place: Place) -> None:
    need_shell("bash")
    done = subprocess.run(["envman", "shell", "api"], input=b'echo "VE=$VIRTUAL_ENV"\nexit 3\n',
                          cwd=place.root, env=place.environ(SHELL="/bin/bash"), capture_output=True,
                          timeout=120)
    out = check(done, place)
    assert done.returncode == 3 and lines_with("VE=", out) == [str(place.envs["api"])], out


# -- the command itself, no shell needed --------------------------------------------------

@pytest.mark.parametrize("shell", shellinit.INIT_SHELLS)
def test_every_shell_gets_a_function_that_calls_envman(shell: str) -> None:
    text = shellinit.rc_code(shell, auto=False)
    assert "envman" in text and "activate" in text or shell in ("csh", "tcsh")
    if shell in shellinit.AUTO_SHELLS:
        auto = shellinit.rc_code(shell, auto=True)
        assert "_envman_auto" in auto and "envman.shell.auto_fast" in auto


def test_paths_in_the_code_are_quoted_for_the_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default data root goes into the hook's command line through quote()."""
    from envman.shell import completion_scripts

    odd = "/x/it's $(touch CANARY) `y`"
    monkeypatch.setattr(completion_scripts, "setup_lines", lambda: [sys.executable, str(REPO), odd, odd + "c"])
    for shell in shellinit.AUTO_SHELLS:
        module = __import__(f"envman.shell.activation.{shells.NAMES[shell][0]}", fromlist=["quote"])
        assert module.quote(odd) in shellinit.rc_code(shell, auto=True), shell


def test_unknown_shell_and_auto_where_there_is_no_hook_are_usage_errors(cli) -> None:
    done = cli("init", "elvish")
    assert_clean_error(done, 2)
    assert done.out == "" and "bash" in done.err
    with pytest.raises(UsageError, match="--auto"):
        shellinit.rc_code("ksh", auto=True)


# -- the fast path, in process -----------------------------------------------------------

def test_the_fast_path_agrees_with_envman() -> None:
    """Names and orders it cannot import from envman, kept equal here."""
    from envman.store import layout as store

    assert shells.SCRIPTS == store.SCRIPTS
    assert auto_fast.PROJECTS_INDEX_NAME == registry.PROJECTS_INDEX_NAME
    assert auto_fast.FIELDS == len(registry.PROJECTS_INDEX_FIELDS)
    assert list(registry.PROJECTS_INDEX_FIELDS) == list(auto_fast.Entry.__slots__)
    s = Store(root=Path("/r"), cache=Path("/c"))
    assert s.used_stamp("x") == Path("/r") / auto_fast.USED_DIR / "x"
    from envman.shell import complete_fast

    assert set(shellinit.INIT_SHELLS) == set(complete_fast.ACTIVATION_SHELLS)  # what TAB offers


def record(tmp_path: Path, name: str, project: Path, prompt: Optional[str] = None):
    from envman.models import EnvRecord
    from datetime import datetime, timezone

    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    env = tmp_path / "envs" / name
    (env / "bin").mkdir(parents=True, exist_ok=True)
    return EnvRecord(name=name, id=f"id-{name}", path=str(env), project=str(project), python="3.12.1",
                     python_executable="/usr/bin/python3", created=moment, last_used=moment,
                     prompt=prompt)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "tcsh"])
def test_an_index_entry_activates_exactly_as_its_record(tmp_path: Path, shell: str) -> None:
    """The fast path builds its activation from the projects index, `activate` from the
    record: the two must render the same code."""
    r = record(tmp_path, "web", tmp_path / "p", prompt="my 'prompt'")
    entry = auto_fast.Entry(*registry.projects_index_values(r)[:4], r.id, 0)
    s = shells.for_name(shell)
    fast = shells.Activation.entering(entry.path, entry.prompt)
    assert fast == activation(r)
    assert s.activate(fast, {}) == s.activate(activation(r), {})


def test_the_index_round_trip_and_its_staleness(tmp_path: Path) -> None:
    store = Store(root=tmp_path / "root", cache=tmp_path / "cache")
    store.root.mkdir()
    odd = tmp_path / "new\nline 'q'"
    records = [record(tmp_path, "web", odd, prompt="p\x01"), record(tmp_path, "api", tmp_path / "a")]
    registry.save_locked(store, Registry({r.name: r for r in records}))
    read = auto_fast.read_index(str(store.root), str(store.cache))
    assert read is not None
    assert sorted((e.project, e.name, e.path, e.prompt, e.id) for e in read) == [
        (str(tmp_path / "a"), "api", records[1].path, "api", "id-api"),
        (str(odd), "web", records[0].path, "p\x01", "id-web")]
    # A hand edit (new mtime) makes the index stale; the slow path reads and rewrites it.
    st = os.stat(store.registry_path)
    os.utime(store.registry_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert auto_fast.read_index(str(store.root), str(store.cache)) is None
    assert sorted(e.name for e in auto_fast.entries_through_envman(str(store.root), str(store.cache))) == ["api", "web"]
    assert auto_fast.read_index(str(store.root), str(store.cache)) is not None
    assert auto_fast.read_index(str(tmp_path / "none"), str(store.cache)) == []  # no registry yet


def test_decisions(tmp_path: Path) -> None:
    """Enter, keep, switch, leave; hand activations untouched; a lost environment said."""
    p1, p2 = tmp_path / "p1", tmp_path / "p2"
    web, api = record(tmp_path, "web", p1), record(tmp_path, "api", p2)
    entries = [auto_fast.Entry(r.project, r.name, r.path, r.name, r.id, 0) for r in (web, api)]
    bash = shells.for_name("bash")

    def decide(cwd: Path, active: str = "", auto: str = ""):
        environ = {"VIRTUAL_ENV": active} if active else {}
        code, notes, chosen = auto_fast.decide(bash, "posix", environ, auto, entries, str(cwd), str(tmp_path))
        return code, notes, chosen.name if chosen else None

    code, _, chosen = decide(p1 / "sub")
    assert chosen == "web" and f"_ENVMAN_AUTO={shells.for_name('bash').quote(web.path)}" in code
    assert decide(p1 / "sub", web.path, web.path) == ("", [], None)  # kept
    code, _, chosen = decide(p2, web.path, web.path)
    assert chosen == "api" and "deactivate" in code  # switched: the old one is left first
    code, _, chosen = decide(tmp_path, api.path, api.path)
    assert chosen is None and code.endswith("unset _ENVMAN_AUTO\n") and "deactivate" in code
    assert decide(tmp_path) == ("", [], None)  # outside, nothing active
    assert decide(p2, web.path) == ("", [], None)  # activated by hand: never replaced
    assert decide(tmp_path, web.path) == ("", [], None)  # nor deactivated
    assert decide(tmp_path, web.path, api.path)[0] == "unset _ENVMAN_AUTO\n"  # replaced by hand
    code, _, chosen = decide(p1, "", web.path)  # left by hand with `deactivate`: fresh start
    assert chosen == "web"
    os.rmdir(Path(api.path) / "bin")
    os.rmdir(api.path)
    code, notes, chosen = decide(p2, web.path, web.path)
    assert chosen is None and "deactivate" in code and "envman recreate api" in notes[0]


def test_the_most_recently_used_of_several_wins(tmp_path: Path) -> None:
    p = tmp_path / "p"
    one, two = record(tmp_path, "one", p), record(tmp_path, "two", p)
    entries = [auto_fast.Entry(r.project, r.name, r.path, r.name, r.id, 100) for r in (one, two)]
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "id-two").touch()
    chosen, note = auto_fast.project_entry(entries, str(p / "deep"), str(tmp_path))
    assert chosen is not None and chosen.name == "two" and "others: one" in note


def test_the_fast_path_loads_no_framework(place: Place) -> None:
    """One directory change: no typer, no click, no envman registry or store, no typing."""
    probe = ("import sys; sys.path[:0] = [sys.argv[1]]; from envman.shell.auto_fast import main; "
             "main(sys.argv[2:]); sys.stderr.write('MODULES ' + ' '.join(sorted(sys.modules)))")
    from envman.shell.completion_scripts import setup_lines

    _, parent, root, cache = setup_lines()
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe, parent, "1", "bash", root, cache, ""],
                          cwd=place.p1, env=place.environ(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done
    assert f"_ENVMAN_AUTO={shells.for_name('bash').quote(str(place.envs['web']))}" in done.stdout
    loaded = set(done.stderr.rsplit("MODULES ", 1)[1].split())
    heavy = loaded & {"typer", "click", "envman.store.registry", "envman.store.layout", "envman.ops.new", "typing",
                      "dataclasses", "json", "re", "pathlib"}
    assert not heavy, heavy


def test_auto_records_the_use(place: Place) -> None:
    """Like `envman activate`, an activation on cd touches the environment's use stamp."""
    from envman.shell.completion_scripts import setup_lines

    _, parent, root, cache = setup_lines()
    used = place.home / "used"
    before = {p.name: p.stat().st_mtime_ns for p in used.iterdir()} if used.exists() else {}
    time.sleep(0.05)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", shellinit.AUTO_RUN, parent, "1", "fish", root,
                           cache, ""], cwd=place.p2, env=place.environ(), capture_output=True, text=True)
    assert done.returncode == 0 and "set -g _ENVMAN_AUTO" in done.stdout, done
    after = {p.name: p.stat().st_mtime_ns for p in used.iterdir()}
    assert [k for k in after if after[k] != before.get(k)], (before, after)
