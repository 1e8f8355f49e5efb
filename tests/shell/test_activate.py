"""`envman activate` and `deactivate`, run in the real shells under a data root and a
project whose paths hold every character that has ever broken an activation script."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from envman.shell.activation import csh, plain_prompt, posix
from conftest import REPO, assert_clean_error, child_env, envman_cmd
from shellkit import COMMANDS, need_shell, run_script, shell_environ

# One directory name with spaces, both quotes, command substitutions of both kinds (canaries),
# '!', '%', '#', ';', '&', non-ASCII letters, and a backslash as its last character.
HOSTILE = "$HOME sp ace'q\"d $(touch CANARY) `touch CANARY` !1 %s #h ;s &a é ü 日本 bs\\"
# A --prompt that would run code if a prompt language expanded it.
HOSTILE_PROMPT = "api $(touch CANARY) `touch CANARY` %n !x \\w"


@dataclass
class World:
    root: Path
    home: Path
    config: Path
    project: Path
    envs: Dict[str, Path] = field(default_factory=dict)

    def environ(self, **extra: str) -> Dict[str, str]:
        env = shell_environ(drop=("PYTHONHOME", "VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT",
                                  "VIRTUAL_ENV_DISABLE_PROMPT", "CI_SHELL_DEBUG"))
        env.update(ENVMAN_HOME=str(self.home), ENVMAN_CONFIG=str(self.config),
                   PYTHONPATH=str(REPO), PATH=f"{self.root / 'bin'}{os.pathsep}{os.environ['PATH']}")
        env.update(extra)
        return env

    def canaries(self) -> List[Path]:
        return [p for p in self.root.rglob("*") if p.name == "CANARY"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Two real environments, created once with the real CLI, shared by every shell."""
    root = tmp_path_factory.mktemp("activate")
    hostile = root / HOSTILE
    w = World(root=root, home=hostile / "data\\", config=root / "config.toml",
              project=hostile / "proj\\")
    w.project.mkdir(parents=True)
    (root / "bin").mkdir()
    wrapper = root / "bin" / "envman"  # what the README's lines call; exec keeps the shell the parent
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m envman \"$@\"\n")
    wrapper.chmod(0o755)
    (root / "probe.py").write_text(
        "import json, os, sys\n"
        "keys = ('PATH', 'VIRTUAL_ENV', 'VIRTUAL_ENV_PROMPT', 'PYTHONHOME')\n"
        "data = {k: os.environ.get(k) for k in keys}\n"
        "data.update(label=sys.argv[1], prefix=sys.prefix, executable=sys.executable)\n"
        "print('PROBE ' + json.dumps(data))\n")
    for name, extra in (("web", []), ("api", ["--prompt", HOSTILE_PROMPT])):
        done = subprocess.run(
            [*envman_cmd(), "new", name, "--without-pip", "--json", *extra], cwd=w.project,
            env=child_env({"ENVMAN_HOME": str(w.home), "ENVMAN_CONFIG": str(w.config)}),
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
        assert done.returncode == 0, done.stderr
        w.envs[name] = Path(json.loads(done.stdout)["path"])
    return w


@dataclass(frozen=True)
class Dialect:
    activate: str              # the README's line, with {name}
    deactivate_line: str       # the README's `envman deactivate` line
    call_deactivate: str       # the `deactivate` the snippet defines
    show_prompt: Optional[str]  # prints 'PROMPT=<the prompt as shown>', if observable
    init: str = ""             # a known prompt to start from
    run: str = "{}"            # how an external command line is written
    header: str = ""


POSIX = Dialect(
    activate='eval "$(envman activate {name})"', deactivate_line='eval "$(envman deactivate)"',
    call_deactivate="deactivate", show_prompt="printf 'PROMPT=%s\\n' \"$PS1\"", init="PS1='$ '")
DIALECTS: Dict[str, Dialect] = {
    "bash": Dialect(**{**POSIX.__dict__, "header": "set -euo pipefail"}),
    "zsh": POSIX, "dash": POSIX, "ksh": POSIX, "mksh": POSIX,
    "fish": Dialect(
        activate="envman activate {name} | source", deactivate_line="envman deactivate | source",
        call_deactivate="deactivate", show_prompt="printf 'PROMPT=%s\\n' (fish_prompt | string collect)"),
    "tcsh": Dialect(
        activate='eval "`envman activate {name}`"', deactivate_line='eval "`envman deactivate`"',
        call_deactivate="deactivate", show_prompt="printf 'PROMPT=%s\\n' \"$prompt:q\"",
        init="set prompt = '> '"),
    "nu": Dialect(
        activate="envman activate {name} | from nuon | do --env { load-env $in.set; hide-env -i ...$in.unset }",
        deactivate_line="envman deactivate | from nuon | do --env { load-env $in.set; hide-env -i ...$in.unset }",
        call_deactivate="", show_prompt=None),
    "xonsh": Dialect(
        activate="execx($(envman activate {name}))", deactivate_line="execx($(envman deactivate))",
        call_deactivate="deactivate", show_prompt="print('PROMPT=' + $PROMPT_FIELDS['env_name']())"),
    "pwsh": Dialect(
        activate="envman activate {name} | Out-String | Invoke-Expression",
        deactivate_line="envman deactivate | Out-String | Invoke-Expression",
        call_deactivate="deactivate", show_prompt="'PROMPT=' + (prompt)", run="& {}"),
}
SHELLS = list(DIALECTS)


class Script:
    def __init__(self, world: World, dialect: Dialect) -> None:
        self.world, self.d = world, dialect
        self.lines = [dialect.header, dialect.init]

    def act(self, name: str) -> "Script":
        return self.add(self.d.activate.replace("{name}", name))

    def probe(self, label: str, python: str = sys.executable) -> "Script":
        self.lines.append(self.d.run.format(f"{python} {self.world.root / 'probe.py'} {label}"))
        return self

    def prompt(self) -> "Script":
        if self.d.show_prompt:
            self.lines.append(self.d.show_prompt)
        return self

    def add(self, line: str) -> "Script":
        self.lines.append(line)
        return self

    def leave(self) -> "Script":
        return self.add(self.d.call_deactivate or self.d.deactivate_line)

    def text(self) -> str:
        return "\n".join(line for line in self.lines if line) + "\n"


def run(world: World, shell: str, script: Script, name: str, env: Dict[str, str]):
    done = run_script(shell, script.text(), world.root / f"{shell}-{name}", env, cwd=world.project)
    out, err = done.stdout.decode(), done.stderr.decode(errors="replace")
    assert done.returncode == 0 and "Traceback" not in err, f"{shell} exited {done.returncode}\n{out}\n{err}"
    probes = {}
    prompts: List[str] = []
    for line in out.splitlines():
        if line.startswith("PROBE "):
            data = json.loads(line[6:])
            probes[data["label"]] = data
        elif line.startswith("PROMPT="):
            prompts.append(line[7:])
    assert not world.canaries(), f"{shell} ran code from a path or prompt"
    return probes, prompts, err


def scripts_dir(env: Path) -> str:
    return str(env / "bin")


@pytest.mark.smoke
@pytest.mark.parametrize("shell", SHELLS)
def test_activate_switch_and_deactivate(world: World, shell: str) -> None:
    """Enter 'web', see `python` there, leave it from a child shell, switch to 'api' (whose
    prompt is hostile), leave with `deactivate`, enter again and leave with the
    `envman deactivate` line; PATH comes back exactly each time, and nothing runs."""
    need_shell(shell)
    d = DIALECTS[shell]
    child = Script(world, d).add(d.deactivate_line).probe("child")
    child_path = world.root / f"{shell}-child"
    child_path.write_bytes(child.text().encode())
    child_cmd = d.run.format(" ".join([*COMMANDS[shell], str(child_path)]))
    script = (Script(world, d).probe("before").prompt()
              .act("web").probe("web", python="python").prompt()
              .add(child_cmd)
              .act("api").probe("api", python="python").prompt()
              .leave().probe("after").prompt()
              .act("web").add(d.deactivate_line).probe("after-line")
              .add(d.deactivate_line).probe("noop"))
    probes, prompts, err = run(world, shell, script, "main", world.environ())
    assert list(probes) == ["before", "web", "child", "api", "after", "after-line", "noop"], probes
    before = probes["before"]
    assert before["VIRTUAL_ENV"] is None and before["PYTHONHOME"] is None
    for name in ("web", "api"):
        inside, env = probes[name], world.envs[name]
        assert inside["prefix"] == str(env), "`python` must be the environment's"
        assert inside["executable"].startswith(scripts_dir(env) + os.sep)
        assert inside["VIRTUAL_ENV"] == str(env)
        # Switching leaves nothing of the first environment on PATH.
        assert inside["PATH"] == scripts_dir(env) + os.pathsep + before["PATH"]
        assert inside["PYTHONHOME"] is None
    assert probes["web"]["VIRTUAL_ENV_PROMPT"] == "web"
    assert probes["api"]["VIRTUAL_ENV_PROMPT"] == HOSTILE_PROMPT
    for label in ("child", "after", "after-line", "noop"):
        left = probes[label]
        assert left["PATH"] == before["PATH"], label
        assert left["VIRTUAL_ENV"] is None and left["VIRTUAL_ENV_PROMPT"] is None, label
        assert left["PYTHONHOME"] is None, label
    assert "no environment is active" in err
    if d.show_prompt:
        start, web, api, after = prompts
        if shell == "xonsh":  # xonsh's own {env_name} field carries the prefix
            assert (start, web, after) == ("", "(web) ", "")
        else:
            assert web == "(web) " + start
            assert after == start
        # The hostile --prompt is shown as text; where the prompt is a string the shell
        # expands again when showing it, its expandable characters are neutralised.
        specials = {"tcsh": csh.PROMPT_SPECIALS}.get(shell, posix.PROMPT_SPECIALS)
        shown = plain_prompt(HOSTILE_PROMPT, specials) if d is POSIX or shell in ("bash", "tcsh") \
            else HOSTILE_PROMPT
        assert api == f"({shown}) " + start


@pytest.mark.parametrize("shell", SHELLS)
def test_pythonhome_restored_and_prompt_left_alone_when_disabled(world: World, shell: str) -> None:
    need_shell(shell)
    d = DIALECTS[shell]
    home = sys.base_prefix  # a PYTHONHOME under which envman's own interpreter still starts
    env = world.environ(PYTHONHOME=home, VIRTUAL_ENV_DISABLE_PROMPT="1")
    script = Script(world, d)
    if shell == "xonsh":  # xonsh is a Python program itself: give it PYTHONHOME once started
        del env["PYTHONHOME"]
        script.add(f"$PYTHONHOME = {home!r}")
    script.probe("before").prompt().act("web").probe("web", python="python").prompt()
    script.leave().probe("after").prompt()
    probes, prompts, _ = run(world, shell, script, "home", env)
    assert probes["before"]["PYTHONHOME"] == home
    assert probes["web"]["PYTHONHOME"] is None
    assert probes["web"]["prefix"] == str(world.envs["web"])
    assert probes["after"]["PYTHONHOME"] == home
    assert probes["after"]["PATH"] == probes["before"]["PATH"]
    if d.show_prompt:
        assert prompts[0] == prompts[1] == prompts[2], prompts


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_prompt_expansion_runs_nothing(world: World, shell: str) -> None:
    """bash (promptvars) and zsh (PROMPT_SUBST) expand the prompt each time they show it:
    the hostile --prompt must show as text and run nothing."""
    need_shell(shell)
    show = 'printf "PROMPT=%s\\n" "${PS1@P}"' if shell == "bash" else \
        'setopt prompt_subst; printf "PROMPT=%s\\n" "${(%)PS1}"'
    script = Script(world, DIALECTS[shell]).act("api").add(show)
    _, prompts, _ = run(world, shell, script, "expand", world.environ())
    assert prompts[0].startswith("(api _(touch CANARY) _touch CANARY_ _n _x _w) "), prompts


@pytest.mark.parametrize("shell", ["bash", "fish"])
def test_an_environment_entered_with_its_own_activate_script_is_left_first(world: World, shell: str) -> None:
    """A venv's own bin/activate defines `deactivate`; activating through envman calls it."""
    need_shell(shell)
    plain = world.root / "plain-venv"  # a plain path: venv's own scripts do not quote hostile ones
    if not plain.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(plain)], check=True)
    d = DIALECTS[shell]
    source = f"source {plain}/bin/activate" + (".fish" if shell == "fish" else "")
    script = (Script(world, d).probe("before").add(source).probe("venv", python="python")
              .act("web").probe("web", python="python").leave().probe("after"))
    probes, _, _ = run(world, shell, script, "venv", world.environ())
    assert probes["venv"]["prefix"] == str(plain)
    assert probes["web"]["PATH"] == scripts_dir(world.envs["web"]) + os.pathsep + probes["before"]["PATH"]
    assert probes["after"]["PATH"] == probes["before"]["PATH"]
    assert probes["after"]["VIRTUAL_ENV"] is None


VENV_ACTIVATE = {"bash": ". {}/bin/activate", "zsh": ". {}/bin/activate", "dash": ". {}/bin/activate",
                 "fish": "source {}/bin/activate.fish", "tcsh": "source {}/bin/activate.csh"}


@pytest.mark.parametrize("shell", list(VENV_ACTIVATE))
def test_a_venvs_own_activate_on_top_of_envman_leaves_nothing_of_either(world: World, shell: str) -> None:
    """The other order: a venv's bin/activate replaces our `deactivate` with its own and
    then calls it; it must find what envman saved under the names it restores from."""
    need_shell(shell)
    plain = world.root / "plain-venv"  # a plain path: venv's own scripts do not quote hostile ones
    if not plain.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(plain)], check=True)
    script = (Script(world, DIALECTS[shell]).probe("before").prompt().act("web")
              .add(VENV_ACTIVATE[shell].format(plain)).probe("venv", python="python").leave()
              .probe("after").prompt())
    probes, prompts, _ = run(world, shell, script, "venv-on-top", world.environ())
    assert probes["venv"]["prefix"] == str(plain)
    assert probes["venv"]["PATH"] == str(plain / "bin") + os.pathsep + probes["before"]["PATH"]
    assert probes["after"]["PATH"] == probes["before"]["PATH"]
    assert probes["after"]["VIRTUAL_ENV"] is None
    assert len(prompts) == 2 and prompts[0] == prompts[1], prompts
    assert "(web)" not in prompts[1] and "(plain-venv)" not in prompts[1]


def test_bash_snippet_under_strict_mode_with_nothing_set(world: World) -> None:
    """`set -euo pipefail` and no PS1, PYTHONHOME or PATH entries of ours: nothing unbound."""
    need_shell("bash")
    script = ("set -euo pipefail\nunset PS1 || true\n" + 'eval "$(envman activate web)"\n'
              + "deactivate\n" + 'eval "$(envman deactivate)"\necho DONE\n')
    done = run_script("bash", script, world.root / "strict.sh", world.environ(), cwd=world.project)
    assert done.returncode == 0 and done.stdout.decode().strip() == "DONE", done


# -- the command itself, no shell needed -------------------------------------------------


@pytest.mark.smoke
def test_json_shape(cli, project: Path, home: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    done = cli("activate", "web", "--json")
    assert done.code == 0, done
    data = json.loads(done.out)
    env = str(home / "envs" / "web")
    assert data == {"set": {"VIRTUAL_ENV": env, "VIRTUAL_ENV_PROMPT": "web"},
                    "unset": ["PYTHONHOME"], "path_prepend": [os.path.join(env, "bin")]}
    assert done.err == ""


def test_name_omitted_means_the_enclosing_project(cli, project: Path, home: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    done = cli("activate", "--shell", "bash", cwd=deep)
    assert done.code == 0, done
    assert f"VIRTUAL_ENV={home / 'envs' / 'web'}" in done.out.replace("'", "")


def test_several_environments_for_a_project_are_noted_on_stderr(cli, project: Path) -> None:
    for name in ("one", "two"):
        assert cli("new", name, "--without-pip", cwd=project).code == 0
    done = cli("activate", "--json", cwd=project)
    assert done.code == 0, done
    assert "2 environments" in done.err and json.loads(done.out)


def test_outside_any_project_exits_3(cli, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = cli("activate", "--shell", "bash", cwd=elsewhere)
    assert_clean_error(done, 3)
    assert done.out == ""


def test_unknown_shell_exits_2_naming_the_option(cli, project: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    for args in (["activate", "web", "--shell", "cmd.exe"], ["deactivate", "--shell", "elvish"],
                 ["activate", "web", "--json", "--shell", "nope"]):
        done = cli(*args)
        assert_clean_error(done, 2)
        assert "--shell" in done.err and "fish" in done.err and done.out == ""


def test_undetectable_shell_exits_2(cli, project: Path) -> None:
    """The parent here is Python, not a shell, and $SHELL names none."""
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    for shell_var in ("", "/usr/bin/python3"):
        done = cli("activate", "web", env={"SHELL": shell_var})
        assert_clean_error(done, 2)
        assert "--shell" in done.err


def test_shell_falls_back_to_SHELL(cli, project: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    done = cli("activate", "web", env={"SHELL": "/usr/local/bin/fish"})
    assert done.code == 0 and "set -gx VIRTUAL_ENV" in done.out, done


def test_activate_records_use_without_rewriting_the_registry(cli, project: Path, home: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    registry = (home / "registry.toml").read_bytes()
    first = json.loads(cli("ls", "--json").out)[0]["last_used"]
    time.sleep(1.1)  # stamps have one-second resolution
    assert cli("activate", "web", "--shell", "zsh").code == 0
    assert json.loads(cli("ls", "--json").out)[0]["last_used"] > first
    assert (home / "registry.toml").read_bytes() == registry


def test_environment_directory_gone_exits_2_with_hint(cli, project: Path, home: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    import shutil

    shutil.rmtree(home / "envs" / "web")
    done = cli("activate", "web", "--shell", "bash")
    assert_clean_error(done, 2)
    assert "recreate" in done.err and done.out == ""


@pytest.mark.parametrize("args", [("deactivate", "--shell", "tcsh"), ("activate", "web", "--shell", "csh")])
def test_csh_with_a_newline_on_an_inherited_path_is_a_clean_error(cli, project: Path, home: Path,
                                                                    args: Tuple[str, ...]) -> None:
    """In a shell that inherited an active environment envman writes the new PATH into the
    csh code itself, and csh cannot take a newline through eval: say so, print no code."""
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    inherited = {"VIRTUAL_ENV": str(home / "envs" / "web"),
                 "PATH": os.pathsep.join([str(home / "envs" / "web" / "bin"), os.environ["PATH"], "/odd\ndir"])}
    done = cli(*args, env=inherited)
    assert_clean_error(done, 2)
    assert "PATH" in done.err and "newline" in done.err and done.out == ""


def test_deactivate_with_nothing_active_says_so_on_stderr(cli) -> None:
    done = cli("deactivate", "--shell", "bash")
    assert done.code == 0
    assert "no environment is active" in done.err
    assert "deactivate" in done.out  # still harmless code: the shell decides


@pytest.mark.parametrize("name, expected", [
    ("bash", "posix"), ("-zsh", "posix"), ("/bin/dash", "posix"), ("mksh", "posix"), ("ksh93", "posix"),
    ("fish", "fish"), ("csh", "csh"), ("tcsh", "csh"), ("nu", "nushell"), ("nushell", "nushell"),
    ("xonsh", "xonsh"), ("pwsh", "powershell"), ("powershell", "powershell"), ("PWSH.EXE", "powershell"),
])
def test_shell_names(name: str, expected: str) -> None:
    from envman.shell import activation

    assert type(activation.for_name(name)).__module__ == f"envman.shell.activation.{expected}"
