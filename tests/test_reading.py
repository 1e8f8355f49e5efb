"""Reading files safely (issue 16): every file envman reads may be a FIFO, a link to
/dev/zero or huge; hand-broken registries; the --auto fast path's reads and messages."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import REPO, a_python, assert_clean_error, child_env, envman_cmd, linked_python
from shellkit import COMMANDS, need_shell, shell_environ

from envman.shell import init as shellinit, activation

# A FIFO, a link to /dev/zero or a huge sparse file, made as the fault campaign makes them.
sys.path.insert(0, str(Path(__file__).resolve().parent / "stress"))
from files import ATTACKS, attack  # noqa: E402


def new(cli, name: str, project: Path, *extra: str) -> Dict[str, object]:
    project.mkdir(parents=True, exist_ok=True)
    done = cli("new", name, "--project", str(project), "--without-pip", "--json", *extra, timeout=120)
    assert done.code == 0, done
    return json.loads(done.out)


def auto(home: Path, cwd: Path, shell: str = "bash", mark: str = "", noted: str = "",
         timeout: float = 20) -> subprocess.CompletedProcess:
    """One run of the --auto hook's command line, as the shell runs it."""
    from envman.shell.completion_scripts import setup_lines

    python, parent, root, cache = setup_lines()
    return subprocess.run([python, "-I", "-S", "-c", shellinit.AUTO_RUN, parent, "1", shell, root, cache,
                           mark, noted], cwd=cwd, env=child_env({"ENVMAN_HOME": str(home)}),
                          capture_output=True, text=True, timeout=timeout)


def complete(home: Path, words: List[str], timeout: float = 20) -> subprocess.CompletedProcess:
    from envman.shell.completion_scripts import setup_lines

    python, parent, root, cache = setup_lines()
    run = "import sys;sys.path[:0]=sys.argv[1:2];from envman.shell.complete_fast import main;main(sys.argv[2:])"
    return subprocess.run([python, "-I", "-S", "-c", run, parent, "1", "bash", root, cache,
                           str(len(words) - 1), *words], env=child_env({"ENVMAN_HOME": str(home)}),
                          capture_output=True, text=True, timeout=timeout)


def in_child(code: str, timeout: float = 20) -> str:
    """Run `code` in a fresh interpreter (a read that blocks cannot hang pytest); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


# -- the one reader ----------------------------------------------------------------------

def test_read_regular_refuses_what_would_block_or_never_end(tmp_path: Path) -> None:
    from envman.fsutil import NotReadable, read_regular

    regular = tmp_path / "regular"
    regular.write_bytes(b"0123456789")
    assert read_regular(regular, 10) == b"0123456789"
    assert read_regular(regular, 4, prefix=True) == b"0123"
    for kind in ATTACKS:
        target = tmp_path / kind
        attack(target, kind)
        started = time.monotonic()
        with pytest.raises(NotReadable) as caught:
            read_regular(target, 1024 * 1024)
        assert time.monotonic() - started < 2
        assert caught.value.strerror in ("it is not a regular file (a FIFO)", "it is a symbolic link",
                                         "it is larger than 1 MiB"), caught.value
    with pytest.raises(NotReadable, match="character device"):
        read_regular(tmp_path / "zero", 10, follow=True)  # followed, still not a regular file
    (tmp_path / "link").symlink_to(regular)
    assert read_regular(tmp_path / "link", 10, follow=True) == b"0123456789"
    with pytest.raises(NotReadable, match="symbolic link"):
        read_regular(tmp_path / "link", 10)
    with pytest.raises(NotReadable, match="directory"):
        read_regular(tmp_path, 10)
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing", 10)


# -- the registry ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", ATTACKS)
def test_a_registry_that_would_block_is_the_unreadable_registry(cli, home: Path, tmp_path: Path,
                                                                kind: str) -> None:
    new(cli, "web", tmp_path / "p")
    attack(home / "registry.toml", kind)
    for args in (["ls"], ["info", "web"], ["activate", "web", "--shell", "bash"], ["path", "web"],
                 ["new", "x", "--project", str(tmp_path / "p"), "--without-pip", "-q"]):
        done = cli(*args, timeout=20)
        assert_clean_error(done, 1)
        assert "cannot read" in done.err and "registry.toml" in done.err, done
    assert not (home / "envs" / "x").exists()
    fixed = cli("doctor", "--fix", timeout=60)
    assert "registry-unreadable" in fixed.out + fixed.err, fixed
    assert cli("path", "web").out.strip() == str(home / "envs" / "web")


HAND_BROKEN = {
    "a name that is a path": ('[envs."../x"]', "is not a valid environment name"),
    "two records, one id": ("twin", "have the same id"),
    "names differing by case": ("Web", "differ only by case"),
    "a relative path": ("relative", "'path' is not an absolute path"),
}


@pytest.mark.parametrize("case", list(HAND_BROKEN))
def test_hand_broken_registries_are_refused_and_doctor_rebuilds(cli, home: Path, tmp_path: Path,
                                                                case: str) -> None:
    new(cli, "web", tmp_path / "p")
    reg = home / "registry.toml"
    text = reg.read_text()
    record = text[text.index("[envs.web]"):]
    edit, said = HAND_BROKEN[case]
    if edit == "relative":
        broken = text.replace(f'path = "{home / "envs" / "web"}"', 'path = "envs/web"')
    else:
        table = edit if edit.startswith("[") else f"[envs.{edit}]"
        broken = text + "\n" + record.replace("[envs.web", table[:-1])
    assert broken != text
    reg.write_text(broken)
    for args in (["ls"], ["info", "web"]):
        done = cli(*args)
        assert_clean_error(done, 1)
        assert said in done.err and "doctor --fix" in done.err, done
    cli("doctor", "--fix")
    assert cli("ls").code == 0 and cli("path", "web").out.strip() == str(home / "envs" / "web")


def test_a_deeply_nested_registry_is_unreadable_not_a_crash(cli, home: Path) -> None:
    home.mkdir(parents=True)
    (home / "registry.toml").write_text("schema_version = 1\nx = " + "[" * 200_000 + "]" * 200_000 + "\n")
    done = cli("ls")
    assert_clean_error(done, 1)
    assert "nested too deeply" in done.err, done


def test_a_non_utf8_data_root_is_one_line(tmp_path: Path) -> None:
    env = {k.encode(): v.encode() for k, v in child_env().items()}
    env[b"ENVMAN_HOME"] = os.fsencode(tmp_path) + b"/x\xff"
    for args in (["ls"], ["new", "x", "--project", str(tmp_path), "--without-pip", "-q"]):
        done = subprocess.run([*envman_cmd(), *args], env=env, capture_output=True, timeout=60)
        err = done.stderr.decode(errors="replace")
        assert done.returncode == 2 and "Traceback" not in err, err
        assert err.startswith("envman: error: $ENVMAN_HOME") and "not valid UTF-8" in err, err


def test_a_data_root_where_no_lock_can_be_made_fails_at_once(cli, tmp_path: Path) -> None:
    started = time.monotonic()
    done = cli("new", "x", "--project", str(tmp_path), "--without-pip", "-q", env={"ENVMAN_HOME": "/proc"},
               timeout=30)
    assert time.monotonic() - started < 10
    assert_clean_error(done, 1)
    assert "cannot lock the registry" in done.err and "another envman" not in done.err, done


# -- caches and the fast paths ----------------------------------------------------------

CACHE_FILES = ("registry-snapshot.txt", "registry-projects.txt", "registry-names.txt", "interpreters.json")


@pytest.mark.parametrize("kind", ATTACKS)
@pytest.mark.parametrize("name", CACHE_FILES)
def test_cache_files_that_would_block_are_ignored(cli, home: Path, tmp_path: Path, name: str,
                                                  kind: str) -> None:
    project = tmp_path / "p"
    made = new(cli, "web", project)
    attack(home / "cache" / name, kind)
    listed = cli("ls", timeout=20)
    assert listed.code == 0 and "web" in listed.out, listed
    hook = auto(home, project)
    assert hook.returncode == 0 and "error" not in hook.stderr, hook
    assert f"_ENVMAN_AUTO={activation.for_name('bash').quote(str(made['path']))}" in hook.stdout, hook
    assert complete(home, ["envman", "info", "w"]).stdout.split() == ["web"]
    assert cli("new", "api", "--project", str(project), "--without-pip", "-q", timeout=60).code == 0


def test_a_damaged_projects_index_falls_back_and_is_rewritten(cli, home: Path, tmp_path: Path) -> None:
    """Its first line still matches the registry: the fast path must not trust the rest."""
    project = tmp_path / "p"
    made = new(cli, "web", project)
    index = home / "cache" / "registry-projects.txt"
    auto(home, project)  # the index is made
    header, _, body = index.read_bytes().partition(b"\n")
    fields = body.split(b"\0")
    fields[5] = b"not-a-time"
    index.write_bytes(header + b"\n" + b"\0".join(fields))
    hook = auto(home, project)
    assert hook.returncode == 0 and "error" not in hook.stderr, hook
    assert f"_ENVMAN_AUTO={activation.for_name('bash').quote(str(made['path']))}" in hook.stdout
    assert b"not-a-time" not in index.read_bytes()  # rewritten by the slow path
    # A save reuses index entries of unchanged records: never a damaged one.
    fields = index.read_bytes().partition(b"\n")[2].split(b"\0")
    fields[5] = b"not-a-time"
    index.write_bytes(header + b"\n" + b"\0".join(fields))
    new(cli, "api", tmp_path / "q")
    assert b"not-a-time" not in index.read_bytes()
    assert "error" not in auto(home, project).stderr


# -- files in environments, projects and the cache -------------------------------------------

def test_pyvenv_cfg_and_marker_that_would_block(cli, home: Path, tmp_path: Path) -> None:
    made = new(cli, "web", tmp_path / "p", "--copies")  # a copied interpreter: pyvenv.cfg is read
    env = Path(str(made["path"]))
    attack(env / "pyvenv.cfg", "fifo")
    attack(env / ".envman-marker.toml", "zero")
    for args in (["ls"], ["info", "web"], ["doctor"]):
        done = cli(*args, timeout=20)
        assert "Traceback" not in done.err and done.code in (0, 1), done


@pytest.mark.parametrize("kind", ATTACKS)
def test_files_of_projects_images_and_environments_that_would_block(tmp_path: Path, kind: str) -> None:
    for relative in ("proj/.python-version", "proj/pyproject.toml", "image/manifest.json",
                     "site/x-1.dist-info/METADATA", "cache/interpreters.json"):
        attack(tmp_path / relative, kind)
    (tmp_path / "site" / "x-1.dist-info" / "RECORD").write_text("x/__init__.py,,\n")
    out = in_child(f"""
from pathlib import Path
from envman.create import pip_image
from envman.python import checks, installed, interpreters, pyenv
base = Path({str(tmp_path)!r})
print(pyenv.selected_versions(base / "pyenv", str(base / "proj"), {{}}))
print(checks.requires_python(base / "proj"))
print(pip_image.load(base / "image"))
print(installed._read(base / "site" / "x-1.dist-info"))
print(interpreters.ProbeCache(base / "cache" / "interpreters.json").entries)
""")
    assert out.split() == ["None", "None", "None", "None", "{}"], out


def test_a_config_may_be_a_link_to_a_regular_file(cli, tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "envman.toml"
    real.parent.mkdir()
    real.write_text('stale_after = "1d"\n')
    link = tmp_path / "config-link.toml"
    link.symlink_to(real)
    assert cli("ls", env={"ENVMAN_CONFIG": str(link)}).code == 0
    link.unlink()
    link.symlink_to("/dev/zero")
    done = cli("ls", env={"ENVMAN_CONFIG": str(link)}, timeout=20)
    assert_clean_error(done, 2)
    assert "not a regular file" in done.err, done


# -- --auto in a real bash ------------------------------------------------------------------

def interactive_bash(home: Path, cwd: Path, steps: List[str], extra: Optional[Dict[str, str]] = None
                     ) -> subprocess.CompletedProcess:
    need_shell("bash")
    bindir = home.parent / "bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "envman"
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m envman \"$@\"\n")
    wrapper.chmod(0o755)
    env = shell_environ(drop=("VIRTUAL_ENV", "PROMPT_COMMAND", "ENV"))
    env.update(ENVMAN_HOME=str(home), PYTHONPATH=str(REPO), PS1="$ ",
               PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", **(extra or {}))
    script = 'eval "$(envman init bash --auto)"\n' + "\n".join(steps) + "\n"
    return subprocess.run([*COMMANDS["bash"], "-i"], input=script.encode(), cwd=cwd, env=env,
                          capture_output=True, timeout=120)


def test_auto_warns_once_per_entry_when_the_base_python_is_gone(cli, home: Path, tmp_path: Path) -> None:
    base = linked_python(tmp_path / "gone-python", a_python())
    project = tmp_path / "p"
    new(cli, "web", project, "--python", str(base))
    import shutil

    shutil.rmtree(tmp_path / "gone-python")  # an upgrade took the interpreter away
    q = shlex.quote
    done = interactive_bash(home, tmp_path, [f"cd {q(str(project))}", "cd sub 2>/dev/null || true",
                                             f"cd {q(str(tmp_path))}", f"cd {q(str(project))}",
                                             'echo "VE=${VIRTUAL_ENV-}"'])
    err = done.stderr.decode(errors="replace")
    warning = "envman: warning: 'web' is broken: its base Python is gone; `envman recreate web` rebuilds it"
    assert err.count(warning) == 2, err  # two entries, one line each; none at other prompts
    assert f"VE={home / 'envs' / 'web'}" in done.stdout.decode(), done
    assert "activation on cd failed" not in err


def test_several_environments_note_is_prefixed_and_said_once_per_shell(cli, home: Path,
                                                                       tmp_path: Path) -> None:
    project = tmp_path / "p"
    new(cli, "one", project)
    new(cli, "two", project)
    activated = cli("activate", "--shell", "bash", cwd=project)
    assert activated.code == 0 and activated.err.startswith(f"envman: {project} has 2 environments"), activated
    q = shlex.quote
    done = interactive_bash(home, tmp_path, [f"cd {q(str(project))}", f"cd {q(str(tmp_path))}",
                                             f"cd {q(str(project))}", 'echo "VE=${VIRTUAL_ENV-}"'])
    err = done.stderr.decode(errors="replace")
    assert err.count("has 2 environments") == 1, err
    assert f"envman: {project} has 2 environments; using '" in err, err
    assert f"VE={home / 'envs'}/" in done.stdout.decode(), done


def test_one_activation_on_cd_is_bounded_in_time() -> None:
    """What no O_NONBLOCK helps with (a hung network mount) still ends: SIGALRM, then one line."""
    out = in_child("""
import time
from envman.shell import auto_fast
auto_fast.TIME_LIMIT = 1
real = auto_fast.read_index
auto_fast.read_index = lambda root, cache: time.sleep(30)  # a read that never returns
started = time.monotonic()
auto_fast.main(["1", "bash", "/nonexistent", "/nonexistent", "", ""])
print(round(time.monotonic() - started))
""", timeout=20)
    assert out.split() == ["1"], out


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_several_environments_note_once_per_shell_in_zsh_and_fish(cli, home: Path, tmp_path: Path,
                                                                  shell: str) -> None:
    from shellkit import run_script

    need_shell(shell)
    project = tmp_path / "p"
    new(cli, "one", project)
    new(cli, "two", project)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "envman").write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m envman \"$@\"\n")
    (bindir / "envman").chmod(0o755)
    q = shlex.quote
    init = 'eval "$(envman init zsh --auto)"' if shell == "zsh" else "envman init fish --auto | source"
    script = "\n".join([init, f"cd {q(str(project))}", f"cd {q(str(tmp_path))}", f"cd {q(str(project))}",
                        'echo "VE=$VIRTUAL_ENV"']) + "\n"
    env = shell_environ(drop=("VIRTUAL_ENV", "ENV", "ZDOTDIR"))
    env.update(ENVMAN_HOME=str(home), PYTHONPATH=str(REPO), HOME=str(tmp_path),
               PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    done = run_script(shell, script, tmp_path / f"s.{shell}", env, cwd=tmp_path)
    err = done.stderr.decode(errors="replace")
    assert err.count(f"envman: {project} has 2 environments; using '") == 1, err
    assert f"VE={home / 'envs'}/" in done.stdout.decode(), (done.stdout, err)


def test_the_cheap_modules_agree_with_envman() -> None:
    from envman.python import base as basepython
    from envman.store import layout

    assert (basepython.SCRIPTS, basepython.PYTHON) == (layout.SCRIPTS, layout.PYTHON)
