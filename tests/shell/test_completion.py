"""TAB completion: the fast module's answers, its names index and fallback, the scripts in
real bash, zsh and fish, and a static command table kept in step with the typer app."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest

import shellkit
from conftest import REPO, assert_clean_error, child_env
from envman.shell import complete_fast, completion_scripts
from envman.store import registry
from envman.store.records import Registry
from envman.models import EnvRecord
from envman.store.layout import Store

NAMES = ["web", "Web-API", "proj-a", "proj-b", "tools"]


def register(root: Path, names: Sequence[str]) -> Store:
    """Records for `names` on fake directories: completion only reads the registry."""
    store = Store(root=root, cache=root / "cache")
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    records = {n: EnvRecord(name=n, id=uuid.uuid4().hex, path=str(store.env_path(n)),
                            project=str(root / "projects" / n), python="3.11.7",
                            python_executable=sys.executable, created=moment, last_used=moment)
               for n in names}
    registry.update(store, lambda _: Registry(records))
    return store


def fast(words: Sequence[str], cword: Optional[int] = None, shell: str = "bash",
         home: Optional[Path] = None, root_default: str = "", cache_default: str = "",
         env: Optional[Dict[str, str]] = None, prelude: str = "") -> subprocess.CompletedProcess:
    """Run the fast path exactly as the scripts do: `python -I -S -c <_RUN> ...`."""
    environ = dict(os.environ, **(env or {}))
    if home is not None:
        environ["ENVMAN_HOME"] = str(home)
    cword = len(words) - 1 if cword is None else cword
    code = prelude + completion_scripts._RUN
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(REPO), "1", shell, root_default,
         cache_default, str(cword), *words],
        env=environ, capture_output=True, text=True, timeout=60)


def lines(proc: subprocess.CompletedProcess) -> List[str]:
    assert proc.returncode == 0, proc
    assert proc.stderr == "", proc
    return proc.stdout.splitlines()


# -- the candidates, in process ----------------------------------------------------------


def names() -> List[str]:
    return list(NAMES)


ALL_COMMANDS = ["activate", "adopt", "completion", "deactivate", "doctor", "find", "freeze", "info", "init",
                "link", "ls", "mv", "new", "path", "prune", "recreate", "rm", "run", "scan", "shell"]


@pytest.mark.smoke
@pytest.mark.parametrize("words, expected", [
    (["envman", ""], ALL_COMMANDS),
    (["envman", "r"], ["recreate", "rm", "run"]),
    (["envman", "-"], ["--version", "--help", "-h"]),
    (["envman", "--version", "p"], ["path", "prune"]),
    (["envman", "nosuch", ""], []),
    # names where a NAME goes, case-insensitively, as registered
    (["envman", "rm", "pro"], ["proj-a", "proj-b"]),
    (["envman", "rm", "WE"], ["web", "Web-API"]),
    (["envman", "info", "web-"], ["Web-API"]),
    (["envman", "path", ""], NAMES),
    (["envman", "run", "t"], ["tools"]),
    # every NAME of rm NAME..., without the ones already given
    (["envman", "rm", "proj-a", "PROJ-B", ""], ["web", "Web-API", "tools"]),
    (["envman", "rm", "-y", "web", "p"], ["proj-a", "proj-b"]),
    # a NAME may be a project path: the shell completes directories
    (["envman", "info", "./"], [":dir"]),
    (["envman", "path", "~/src"], [":dir"]),
    (["envman", "rm", "a/b"], [":dir"]),
    # options of the command, long spelling first, given ones not offered again
    (["envman", "rm", "-"], ["--yes", "-y", "--delete-adopted", "--help", "-h"]),
    (["envman", "rm", "-y", "--"], ["--delete-adopted", "--help"]),
    (["envman", "ls", "--"], ["--stale", "--older-than", "--project", "--size", "--json", "--help"]),
    (["envman", "prune", "--dry-run", "-"], ["--yes", "-y", "--older-than", "--unreachable",
                                             "--json", "--help", "-h"]),
    (["envman", "new", "-r", "a.txt", "--req"], ["--requirement"]),  # repeatable
    (["envman", "doctor", "--f"], ["--fix"]),
    # values of options, and the file and directory directives
    (["envman", "new", "-r", ""], [":file"]),
    (["envman", "new", "--requirement", "req"], [":file"]),
    (["envman", "new", "--project", ""], [":dir"]),
    (["envman", "ls", "-p", "/tm"], [":dir"]),
    (["envman", "adopt", ""], [":dir"]),
    (["envman", "adopt", ".venv", "--project", ""], [":dir"]),
    (["envman", "new", "--python", ""], []),
    (["envman", "prune", "--older-than", ""], []),
    (["envman", "new", ""], []),  # a new name: nothing to offer
    (["envman", "new", "--python", "3.12", "-"], ["--project", "-p", "--requirement", "-r",
                                                   "--system-site-packages", "--copies",
                                                   "--without-pip", "--prompt", "--json", "--quiet", "-q",
                                                   "--link", "--help", "-h"]),
    (["envman", "new", "-rreq.txt", "x", ""], []),  # attached value: x is the NAME
    (["envman", "ls", ""], []),
    # shells
    (["envman", "completion", ""], ["bash", "zsh", "fish", "powershell"]),
    (["envman", "completion", "Z"], ["zsh"]),
    (["envman", "completion", "bash", ""], []),
    # run NAME -- CMD: the command line from its first word is the shell's to complete
    (["envman", "run", "web", "--", ""], [":command 4"]),
    (["envman", "run", "web", "--", "pyt"], [":command 4"]),
    (["envman", "run", "web", "--", "python", "-c"], [":command 4"]),
    (["envman", "run", "web", "--", "rm", "-"], [":command 4"]),
    (["envman", "run", "web", "pytest", "-x"], [":command 3"]),
    (["envman", "run", "web", ""], [":command 3"]),
    (["envman", "run", "web", "-"], ["--help", "-h", "--"]),
])
def test_candidates(words: List[str], expected: List[str]) -> None:
    for shell in ("bash", "zsh", "fish", "powershell"):
        assert complete_fast.candidates(words, len(words) - 1, shell, names) == expected, shell


def test_an_empty_word_may_be_left_out() -> None:
    # PowerShell passes no empty word: CWORD == number of words means one.
    assert complete_fast.candidates(["envman", "rm", "proj-a"], 3, "powershell", names) == \
        ["web", "Web-API", "proj-b", "tools"]


def test_names_are_read_only_when_wanted() -> None:
    def boom() -> List[str]:
        raise AssertionError("names read for a word that is no NAME")

    for words in (["envman", ""], ["envman", "rm", "-"], ["envman", "new", "-r", ""],
                  ["envman", "completion", ""]):
        complete_fast.candidates(words, len(words) - 1, "bash", boom)


@pytest.mark.parametrize("words, cword, shell, expected", [
    # bash splits `--opt=value` at '=' (COMP_WORDBREAKS) and replaces only what follows it
    (["envman", "new", "--project", "=", "/us"], 4, "bash", [":dir"]),
    (["envman", "new", "--project", "="], 3, "bash", [":dir"]),
    (["envman", "new", "--project", "=", "/x", ""], 5, "bash", []),
    (["envman", "new", "--project", "=", "/x", "-"], 5, "bash",
     ["--python", "--requirement", "-r", "--system-site-packages", "--copies", "--without-pip",
      "--prompt", "--json", "--quiet", "-q", "--link", "--help", "-h"]),
    (["envman", "rm", "--yes", "=", "w"], 4, "bash", []),  # a flag takes no value
    # the other shells pass the word whole
    (["envman", "new", "--requirement=re"], 2, "zsh", [":file"]),
    (["envman", "new", "--project=/x", "-"], 3, "fish",
     ["--python", "--requirement", "-r", "--system-site-packages", "--copies", "--without-pip",
      "--prompt", "--json", "--quiet", "-q", "--link", "--help", "-h"]),
])
def test_option_equals_value(words: List[str], cword: int, shell: str,
                             expected: List[str]) -> None:
    assert complete_fast.candidates(words, cword, shell, names) == expected


def test_shell_option() -> None:
    assert complete_fast.candidates(["envman", "activate", "--shell", ""], 3, "bash", names) == \
        list(complete_fast.ACTIVATION_SHELLS)
    assert complete_fast.candidates(["envman", "activate", "--shell", "TC"], 3, "fish", names) == ["tcsh"]
    assert complete_fast.candidates(["envman", "activate", "--shell=f"], 2, "zsh", names) == ["--shell=fish"]
    assert complete_fast.candidates(["envman", "activate", "--shell", "=", "f"], 4, "bash", names) == ["fish"]
    assert complete_fast.candidates(["envman", "activate", "--shell", "fish", "w"], 4, "bash", names) == \
        ["web", "Web-API"]
    assert complete_fast.candidates(["envman", "activate", "--shell=fish", "-"], 3, "zsh", names) == \
        ["--json", "--help", "-h"]
    assert complete_fast.candidates(["envman", "deactivate", "--shell", "x"], 3, "bash", names) == ["xonsh"]
    assert complete_fast.candidates(["envman", "deactivate", ""], 2, "bash", names) == []


def test_activation_shells_are_what_activate_accepts() -> None:
    from envman.shell import activation

    for name in complete_fast.ACTIVATION_SHELLS:
        assert activation.normalise(name) in activation.NAMES, name
    offered = set(complete_fast.ACTIVATION_SHELLS)
    assert {n.strip() for n in activation.SUPPORTED.split(",")} <= offered
    assert {"nushell", "powershell"} <= offered


# -- the fast path, as a process -------------------------------------------------------------


def test_fast_path_answers_from_the_names_index(tmp_path: Path) -> None:
    root = tmp_path / "root with space"
    store = register(root, NAMES)
    index = store.cache / registry.NAMES_INDEX_NAME
    ident = os.stat(store.registry_path)
    assert index.read_text().splitlines() == [
        f"{ident.st_ino} {ident.st_size} {ident.st_mtime_ns}", "proj-a", "proj-b", "tools", "web",
        "Web-API"]
    assert lines(fast(["envman", "rm", "pro"], home=root)) == ["proj-a", "proj-b"]
    assert lines(fast(["envman", "rm", "WE"], home=root)) == ["web", "Web-API"]
    assert lines(fast(["envman", "rm", "web", "proj-b", "", "x"], cword=4, home=root)) == \
        ["proj-a", "tools", "Web-API"]
    assert lines(fast(["envman", "completion", "f"], home=root)) == ["fish"]
    assert lines(fast(["envman", "new", "-r", ""], home=root)) == [":file"]


def test_the_fast_path_reads_the_index_envman_writes() -> None:
    assert complete_fast.NAMES_INDEX_NAME == registry.NAMES_INDEX_NAME


def test_fast_path_imports_neither_envman_nor_anything_large(tmp_path: Path) -> None:
    register(tmp_path / "root", NAMES)
    probe = ("import atexit,sys;atexit.register(lambda: sys.stderr.write("
             "' '.join(sorted(sys.modules))));")
    proc = fast(["envman", "rm", "pro"], home=tmp_path / "root", prelude=probe)
    assert proc.stdout.splitlines() == ["proj-a", "proj-b"]
    loaded = set(proc.stderr.split())
    assert "envman.shell.complete_fast" in loaded
    assert not loaded & {"envman.store.registry", "envman.store.layout", "typer", "click", "platformdirs",
                         "json", "re", "pathlib", "tomllib", "site", "typing", "enum"}, loaded


def wait_for_new_mtime(path: Path, before: int) -> None:
    """File timestamps tick coarsely: rewrite until the modification time really changed."""
    while os.stat(path).st_mtime_ns == before:
        time.sleep(0.01)
        path.write_bytes(path.read_bytes())


def test_hand_edited_registry_is_seen(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = register(root, ["alpha", "beta"])
    assert lines(fast(["envman", "rm", ""], home=root)) == ["alpha", "beta"]
    before = os.stat(store.registry_path)
    # Same inode, same size: only the modification time tells the index is stale.
    with open(store.registry_path, "r+") as handle:
        text = handle.read().replace("alpha", "gamma")
        handle.seek(0)
        handle.write(text)
    wait_for_new_mtime(store.registry_path, before.st_mtime_ns)
    after = os.stat(store.registry_path)
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)
    assert lines(fast(["envman", "rm", ""], home=root)) == ["beta", "gamma"]
    index = (store.cache / registry.NAMES_INDEX_NAME).read_text().splitlines()
    assert index == [f"{after.st_ino} {after.st_size} {after.st_mtime_ns}", "beta", "gamma"]


def test_replaced_registry_is_seen(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = register(root, ["alpha", "beta"])
    assert lines(fast(["envman", "rm", "a"], home=root)) == ["alpha"]
    other = register(tmp_path / "other", ["alpha", "aleph"])
    os.replace(other.registry_path, store.registry_path)  # a new inode, same mtime tick maybe
    assert lines(fast(["envman", "rm", "a"], home=root)) == ["aleph", "alpha"]


def test_missing_cache_dir_and_missing_index(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = register(root, NAMES)
    shutil.rmtree(store.cache)
    assert lines(fast(["envman", "info", "t"], home=root)) == ["tools"]
    assert (store.cache / registry.NAMES_INDEX_NAME).is_file()
    # A valid snapshot but no index (an older envman wrote the cache): the index is mended,
    # so the next TAB is fast again.
    (store.cache / registry.NAMES_INDEX_NAME).unlink()
    assert (store.cache / registry.SNAPSHOT_NAME).is_file()
    assert lines(fast(["envman", "info", "t"], home=root)) == ["tools"]
    assert (store.cache / registry.NAMES_INDEX_NAME).read_text().splitlines()[1:] == \
        sorted(NAMES, key=str.lower)


@pytest.mark.parametrize("damage", [b"this is [not toml", b"\xff\xfe", b"schema_version = 99\n",
                                    b"schema_version = 1\nenvs = 3\n"])
def test_unreadable_registry_gives_no_candidates(tmp_path: Path, damage: bytes) -> None:
    root = tmp_path / "root"
    register(root, NAMES)
    (root / "registry.toml").write_bytes(damage)
    proc = fast(["envman", "rm", ""], home=root)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert (root / "registry.toml").read_bytes() == damage
    # Commands still complete: only names are missing.
    assert lines(fast(["envman", "r"], home=root)) == ["recreate", "rm", "run"]


def test_registry_is_a_directory(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "registry.toml").mkdir(parents=True)
    proc = fast(["envman", "rm", ""], home=root)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_completion_never_writes_the_registry(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = register(root, NAMES)
    shutil.rmtree(store.cache)  # force the slow path too
    before = (store.registry_path.read_bytes(), os.stat(store.registry_path).st_mtime_ns)
    for _ in range(2):  # slow, then fast
        assert lines(fast(["envman", "rm", "w"], home=root)) == ["web", "Web-API"]
        assert (store.registry_path.read_bytes(), os.stat(store.registry_path).st_mtime_ns) == before
    assert sorted(p.name for p in root.iterdir()) == ["cache", "registry.toml",
                                                      "registry.toml.lock"]
    # No data root yet: nothing is created, nothing offered.
    empty = tmp_path / "never"
    assert lines(fast(["envman", "rm", ""], home=empty)) == []
    assert not empty.exists()


def test_data_root_from_the_defaults_without_envman_home(tmp_path: Path) -> None:
    root = tmp_path / "default root"
    store = register(root, NAMES)
    environ = {k: v for k, v in os.environ.items() if k != "ENVMAN_HOME"}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", completion_scripts._RUN, str(REPO), "1", "bash", str(root),
         str(store.cache), "2", "envman", "rm", "t"],
        env=environ, capture_output=True, text=True, timeout=60)
    assert lines(proc) == ["tools"]


def test_relative_envman_home_is_taken_from_the_current_directory(tmp_path: Path) -> None:
    register(tmp_path / "rel" / "root", NAMES)
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", completion_scripts._RUN, str(REPO), "1", "bash", "", "", "2",
         "envman", "rm", "t"],
        env=dict(os.environ, ENVMAN_HOME="root"), cwd=tmp_path / "rel",
        capture_output=True, text=True, timeout=60)
    assert lines(proc) == ["tools"]


@pytest.mark.parametrize("argv", [[], ["2", "bash", "", "", "1", "envman"],
                                  ["1", "bash", "", "", "x", "envman"],
                                  ["1", "bash", "", "", "9", "envman", "rm"]])
def test_malformed_calls_print_nothing(argv: List[str]) -> None:
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", completion_scripts._RUN, str(REPO), *argv],
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


# -- envman completion ----------------------------------------------------------------------


@pytest.mark.parametrize("shell", sorted(completion_scripts.SHIPPED))
def test_shipped_scripts_equal_the_printed_ones(cli, shell: str) -> None:
    result = cli("completion", shell)
    assert result.code == 0 and result.err == "", result
    shipped = REPO / "completions" / completion_scripts.SHIPPED[shell]
    assert shipped.read_bytes() == result.out.encode(), (
        f"{shipped} differs from `envman completion {shell}`: regenerate it with "
        f"`python -m envman completion {shell} > completions/{completion_scripts.SHIPPED[shell]}`")


def test_pwsh_is_powershell(cli) -> None:
    assert cli("completion", "pwsh").out == completion_scripts.script("powershell")


@pytest.mark.parametrize("args", [("completion", "tcsh"), ("completion",)])
def test_unknown_or_missing_shell_is_a_clean_usage_error(cli, args: Sequence[str]) -> None:
    result = cli(*args)
    assert_clean_error(result, 2)
    assert result.out == ""


def test_setup_prints_what_the_scripts_keep_without_importing_typer(cli, tmp_path: Path) -> None:
    result = cli("completion", "--setup", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.code == 0, result
    py, package_parent, root, cache = result.out.splitlines()
    assert Path(py).samefile(sys.executable)
    assert (Path(package_parent) / "envman" / "shell" / "complete_fast.py").samefile(complete_fast.__file__)
    # isolated() points the platform directories into tmp_path
    assert Path(root) == tmp_path / "xdg" / "xdg_data_home" / "envman"
    assert Path(cache) == tmp_path / "xdg" / "xdg_cache_home" / "envman"
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.err.splitlines()}
    assert "platformdirs" in imported and "envman.shell.completion_scripts" in imported
    assert not {"typer", "click", "envman.cli.main"} & imported


def test_setup_through_the_typer_command_says_the_same(tmp_path: Path) -> None:
    via_typer = subprocess.run(
        [sys.executable, "-c", "import sys; from envman.cli.main import main; main(sys.argv[1:])",
         "completion", "--setup"], env=child_env(), capture_output=True, text=True, timeout=60)
    assert via_typer.returncode == 0, via_typer
    assert via_typer.stdout.splitlines() == completion_scripts.setup_lines()


# -- the table against the typer app --------------------------------------------------------


def _table_problems() -> List[str]:
    """Every difference between _complete's static table and the real CLI, spelled out."""
    import typer.main

    from envman.cli.main import app

    # Duck-typed: typer uses click, or (0.2x) a copy of it under typer._click.
    group = typer.main.get_command(app)
    ctx = group.context_class(group, info_name="envman", **group.context_settings)
    problems: List[str] = []

    def params(command: Any, kind: str) -> List[Any]:
        context = ctx if command is group else command.context_class(
            command, parent=ctx, info_name=command.name, **command.context_settings)
        return [p for p in command.get_params(context) if p.param_type_name == kind]

    def options_of(command: Any) -> Dict[tuple, tuple]:
        found = {}
        for param in params(command, "option"):
            if not param.hidden:
                spellings = tuple(sorted(param.opts + param.secondary_opts))
                found[spellings] = (not param.is_flag and not param.count, bool(param.multiple))
        return found

    def compare(where: str, real: Dict[tuple, tuple], table: Sequence[tuple]) -> None:
        listed = {tuple(sorted(names)): (kind is not complete_fast.FLAG, repeat)
                  for names, kind, repeat in table}
        for spellings, (takes_value, multiple) in real.items():
            if spellings not in listed:
                kind = "TEXT" if takes_value else "FLAG"
                problems.append(f"{where}: option {'/'.join(spellings)} is missing from the table: "
                                f"add ({spellings!r}, {kind}, {multiple})")
            elif listed[spellings] != (takes_value, multiple):
                problems.append(f"{where}: option {'/'.join(spellings)} in the CLI takes a value: "
                                f"{takes_value}, repeats: {multiple}; the table says "
                                f"takes a value: {listed[spellings][0]}, repeats: {listed[spellings][1]}")
        for spellings in listed:
            if spellings not in real:
                problems.append(f"{where}: option {'/'.join(spellings)} is in the table but not "
                                "in the CLI: remove it")

    compare("envman", options_of(group), complete_fast.ROOT_OPTIONS)
    real_commands = {name: cmd for name, cmd in group.commands.items() if not cmd.hidden}
    for name in sorted(set(real_commands) - set(complete_fast.COMMANDS)):
        cmd = real_commands[name]
        args = [f"{p.name} (nargs={p.nargs})" for p in params(cmd, "argument")]
        problems.append(f"command {name!r} is missing from envman/shell/complete_fast.py COMMANDS: its "
                        f"options are {sorted(options_of(cmd))}, its arguments {args}")
    for name in sorted(set(complete_fast.COMMANDS) - set(real_commands)):
        problems.append(f"command {name!r} is in envman/shell/complete_fast.py COMMANDS but not in the CLI")
    for name in sorted(set(real_commands) & set(complete_fast.COMMANDS)):
        cmd = real_commands[name]
        table_options, kinds, repeats = complete_fast.COMMANDS[name]
        compare(f"envman {name}", options_of(cmd), table_options)
        real_args = [p.nargs for p in params(cmd, "argument")]
        table_args = [-1 if (i == len(kinds) - 1 and (repeats or kind == complete_fast.COMMAND)) else 1
                      for i, kind in enumerate(kinds)]
        if real_args != table_args:
            problems.append(f"envman {name}: the CLI's positional arguments have nargs {real_args}, "
                            f"the table's {list(kinds)} (last repeats: {repeats}) mean {table_args}")
    return problems


def test_table_is_in_step_with_the_cli() -> None:
    problems = _table_problems()
    assert not problems, "envman/shell/complete_fast.py's table differs from the CLI:\n" + "\n".join(problems)


def test_the_in_step_check_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    options, kinds, repeats = complete_fast.COMMANDS["rm"]
    monkeypatch.setitem(complete_fast.COMMANDS, "rm", (options[1:], kinds, False))
    monkeypatch.delitem(complete_fast.COMMANDS, "doctor")
    monkeypatch.setitem(complete_fast.COMMANDS, "ghost", ((), (), False))
    monkeypatch.setitem(complete_fast.COMMANDS, "ls", (
        tuple((n, complete_fast.TEXT if n == ("--json",) else k, r) for n, k, r in
              complete_fast.COMMANDS["ls"][0]), (), False))
    problems = _table_problems()
    assert problems == [
        "command 'doctor' is missing from envman/shell/complete_fast.py COMMANDS: its options are "
        "[('--fix',), ('--help', '-h')], its arguments []",
        "command 'ghost' is in envman/shell/complete_fast.py COMMANDS but not in the CLI",
        "envman ls: option --json in the CLI takes a value: False, repeats: False; the table "
        "says takes a value: True, repeats: False",
        "envman rm: option --yes/-y is missing from the table: add (('--yes', '-y'), FLAG, False)",
        "envman rm: the CLI's positional arguments have nargs [-1], the table's ['name'] "
        "(last repeats: False) mean [1]",
    ]


# -- the real shells -------------------------------------------------------------------------


def need_shell(name: str) -> str:
    """The shell's full path; skipped when missing, failed when missing in CI (shellkit)."""
    found = shutil.which(shellkit.need_shell(name)[0])
    assert found is not None
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """An `envman` on PATH (as users have) running a copy of this checkout's package, and a
    data root holding registered names, both under paths with spaces and quotes."""
    base = tmp_path_factory.mktemp("completion")
    package_parent = base / "site dir 'x'"
    shutil.copytree(REPO / "envman", package_parent / "envman",
                    ignore=shutil.ignore_patterns("__pycache__"))
    bin_dir = base / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "envman"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(package_parent))} "
                       f"exec {shlex.quote(sys.executable)} -m envman \"$@\"\n")
    wrapper.chmod(0o755)
    unique = bin_dir / "zz-envman-test-tool"  # a command name nothing else on PATH has
    unique.write_text("#!/bin/sh\n")
    unique.chmod(0o755)
    root = base / "data root $(x) 'q'"
    register(root, NAMES)
    (base / "projects" / "alpha").mkdir(parents=True)
    (base / "projects" / "beta.txt").write_text("")
    (base / "sp ace").mkdir()
    (base / "sp ace" / "req a.txt").write_text("")
    return {"bin": bin_dir, "root": root, "package_parent": package_parent, "base": base}


def shell_env(installed: Dict[str, Path], root: Optional[Path] = None) -> Dict[str, str]:
    env = dict(os.environ, ENVMAN_HOME=str(root or installed["root"]),
               PATH=f"{installed['bin']}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    return env


BASH_DRIVER = r"""
source "$1"; shift
# compopt works only while readline completes; here it reports what it was asked.
compopt() { printf 'compopt'; printf ' %s' "$@"; printf '\n'; }
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
_envman_complete
printf '%s\n' "${COMPREPLY[@]}"
"""


def bash_complete(installed: Dict[str, Path], *words: str, root: Optional[Path] = None,
                  prelude: str = "") -> List[str]:
    bash = need_shell("bash")
    proc = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", prelude + BASH_DRIVER, "bash",
         str(REPO / "completions" / "envman.bash"), "envman", *words],
        env=shell_env(installed, root), cwd=installed["base"], capture_output=True, text=True,
        timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc
    return [line for line in proc.stdout.splitlines() if line]


@pytest.mark.smoke
@pytest.mark.parametrize("words, expected", [
    (("",), ALL_COMMANDS),
    (("r",), ["recreate", "rm", "run"]),
    (("rm", "pro"), ["proj-a", "proj-b"]),
    (("rm", "we"), ["web", "Web-API"]),
    (("rm", "proj-a", "web", ""), ["proj-b", "tools", "Web-API"]),
    (("rm", "--d"), ["--delete-adopted"]),
    (("completion", ""), ["bash", "zsh", "fish", "powershell"]),
    (("new", "-r", ""), ["compopt -o default"]),
    (("new", "--project", "pro"), ["compopt -o dirnames"]),
    (("new", "--project", "=", "pro"), ["compopt -o dirnames"]),
    (("run", "web", "--", "zz-envman-t"), ["zz-envman-test-tool"]),
    (("run", "web", "--", "env", "x"), ["compopt -o default"]),
])
def test_bash(installed: Dict[str, Path], words: Sequence[str], expected: List[str]) -> None:
    assert bash_complete(installed, *words) == expected


def test_bash_reruns_setup_when_the_recorded_interpreter_is_gone(installed: Dict[str, Path]) -> None:
    gone = "_envman_complete_setup=(/nonexistent/python /nonexistent x y)\n"
    after = "\nprintf '%s\\n' \"${_envman_complete_setup[@]}\"\n"
    bash = need_shell("bash")
    proc = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", gone + BASH_DRIVER + after, "bash",
         str(REPO / "completions" / "envman.bash"), "envman", "rm", "too"],
        env=shell_env(installed), cwd=installed["base"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc
    reply, *setup = proc.stdout.splitlines()
    assert reply == "tools"
    assert setup[:2] == [sys.executable, str(installed["package_parent"])]


def test_bash_without_envman_on_path_offers_nothing_quietly(installed: Dict[str, Path]) -> None:
    bash = need_shell("bash")
    env = shell_env(installed)
    env["PATH"] = "/nonexistent"
    proc = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", BASH_DRIVER, "bash",
         str(REPO / "completions" / "envman.bash"), "envman", "rm", ""],
        env=env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, "", "")


def test_bash_tab_at_a_real_terminal(installed: Dict[str, Path]) -> None:
    """Readline itself: TAB completes a unique name and a directory in an interactive bash."""
    bash = need_shell("bash")
    script = REPO / "completions" / "envman.bash"
    screen = type_at_terminal(
        [bash, "--norc", "--noprofile", "-i"], shell_env(installed), installed["base"],
        # TAB, then Ctrl-A and `echo ` so that the completed line is printed, not run.
        [f"source {shlex.quote(str(script))}\n", "envman rm TOO\t\x01echo \n",
         "envman new --project proj\t\x01echo \n", "echo [$((6*8))]\n"],
        done=b"[48]")
    assert "\nenvman rm tools\n" in screen, screen
    assert "\nenvman new --project projects/\n" in screen, screen


def type_at_terminal(argv: List[str], env: Dict[str, str], cwd: Path, keys: List[str],
                     done: bytes, timeout: float = 30) -> str:
    """Start `argv` on a pseudo-terminal, type `keys` one chunk at a time, read until `done`."""
    import pty
    import select

    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, env=dict(env, TERM="dumb", PS1="$ "), cwd=cwd, stdin=follower,
                            stdout=follower, stderr=follower, close_fds=True,
                            start_new_session=True)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        for chunk in keys:
            os.write(leader, chunk.encode())
            time.sleep(0.5)  # let the TAB's completion finish before the next keys
        while done not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break
    finally:
        proc.kill()
        proc.wait(timeout=10)
        os.close(leader)
    return seen.decode(errors="replace").replace("\r", "")


def fish_complete(installed: Dict[str, Path], line: str, root: Optional[Path] = None) -> List[str]:
    fish = need_shell("fish")
    script = REPO / "completions" / "envman.fish"
    proc = subprocess.run(
        [fish, "--no-config", "-c", f"source {shlex.quote(str(script))}; complete -C $argv[1]",
         line], env=shell_env(installed, root), cwd=installed["base"], capture_output=True,
        text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc
    return [entry.split("\t")[0] for entry in proc.stdout.splitlines()]


@pytest.mark.parametrize("line, expected", [
    ("envman ", ALL_COMMANDS),
    ("envman r", ["recreate", "rm", "run"]),
    ("envman rm pro", ["proj-a", "proj-b"]),
    ("envman rm WEB-", ["Web-API"]),  # fish matches without regard to case too
    ("envman rm proj-a web ", ["proj-b", "tools", "Web-API"]),
    ("envman rm --y", ["--yes"]),
    ("envman completion ", ["bash", "fish", "powershell", "zsh"]),
    ("envman new --project proj", ["projects/"]),
    ("envman new -r projects/b", ["projects/beta.txt"]),
    ("envman adopt projects/", ["projects/alpha/"]),
    ("envman run web -- zz-envman-t", ["zz-envman-test-tool"]),
    ("envman run web -- zz-envman-test-tool --", []),
    # The word as typed, quotes and backslashes included, reaches the script: a path with
    # a space must still complete past its first directory.
    ("envman new -r 'sp ace/r", ["sp ace/req a.txt"]),
    ('envman new -r "sp ace/', ["sp ace/req a.txt"]),
    ("envman new -r sp\\ ace/", ["sp ace/req a.txt"]),
    ("envman new --requirement=sp\\ ace/r", ["--requirement=sp ace/req a.txt"]),
    ("envman adopt 'sp ace", ["sp ace/"]),
])
def test_fish(installed: Dict[str, Path], line: str, expected: List[str]) -> None:
    assert fish_complete(installed, line) == expected


ZSH_DRIVER = r"""
zmodload zsh/zpty
fp=$1 out=$2 line=$3
: >| $out
zpty z zsh -f -i
zpty -w z "fpath=(${(q)fp} \$fpath); autoload -Uz compinit; compinit -u -D"
# Record every match the completion system adds, then let it add them as usual.
zpty -w z "compadd() { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd \"\$@\"; return; fi; local -a __hits; builtin compadd -A __hits \"\$@\"; print -rl -- \${^__hits} >> ${(q)out}; builtin compadd \"\$@\"; }"
zpty -w z "_capture_done() { print -r -- '<done>' >> ${(q)out} }; comppostfuncs=(_capture_done)"
zpty -w z "$line"$'\t'
for i in {1..200}; do
  grep -q '^<done>$' $out 2>/dev/null && break
  sleep 0.05
done
zpty -d z
cat $out
"""


def zsh_complete(installed: Dict[str, Path], line: str) -> List[str]:
    """A real interactive zsh (on a zpty) with compinit and _envman from a directory on
    $fpath; TAB runs the completion system and we record the matches it adds."""
    zsh = need_shell("zsh")
    fpath = installed["base"] / "fpath"
    fpath.mkdir(exist_ok=True)
    shutil.copy(REPO / "completions" / "_envman", fpath / "_envman")
    out = installed["base"] / f"zsh-{uuid.uuid4().hex}.out"
    proc = subprocess.run([zsh, "-f", "-c", ZSH_DRIVER, "zsh", str(fpath), str(out), line],
                          env=shell_env(installed), cwd=installed["base"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc
    found = proc.stdout.splitlines()
    assert found and found[-1] == "<done>", proc
    return sorted({entry for entry in found[:-1] if entry})


@pytest.mark.parametrize("line, expected", [
    ("envman r", ["recreate", "rm", "run"]),
    ("envman rm pro", ["proj-a", "proj-b"]),
    ("envman rm WEB", ["Web-API", "web"]),
    ("envman rm proj-a web ", ["Web-API", "proj-b", "tools"]),
    ("envman prune --dry", ["--dry-run"]),
    ("envman completion ", ["bash", "fish", "powershell", "zsh"]),
    ("envman new --project proj", ["projects"]),
    ("envman new --project=proj", ["projects"]),
    ("envman run web -- zz-envman-t", ["zz-envman-test-tool"]),
])
def test_zsh(installed: Dict[str, Path], line: str, expected: List[str]) -> None:
    assert zsh_complete(installed, line) == expected


def test_zsh_source_form_registers_the_function(installed: Dict[str, Path]) -> None:
    zsh = need_shell("zsh")
    proc = subprocess.run(
        [zsh, "-f", "-c", "autoload -Uz compinit; compinit -u -D; source <(envman completion zsh);"
         " print -r -- $_comps[envman]"],
        env=shell_env(installed), capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "_envman\n", ""), proc


def test_powershell(installed: Dict[str, Path]) -> None:
    pwsh = shutil.which("pwsh")
    if pwsh is None:  # not packaged for this machine's distribution, so CI cannot have it
        pytest.skip("pwsh is not installed")
    script = REPO / "completions" / "envman.ps1"
    command = (f". '{script}'; "
               "(TabExpansion2 -inputScript 'envman rm pro' -cursorColumn 13).CompletionMatches"
               " | ForEach-Object { $_.CompletionText }")
    proc = subprocess.run([pwsh, "-NoProfile", "-NonInteractive", "-Command", command],
                          env=shell_env(installed), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc
    assert proc.stdout.split() == ["proj-a", "proj-b"]


@pytest.mark.smoke
def test_a_real_envman_new_is_completed(cli, tmp_path: Path, installed: Dict[str, Path]) -> None:
    home = tmp_path / "real home"
    project = tmp_path / "Quux"
    project.mkdir()
    result = cli("new", "--without-pip", "--python", sys.executable, cwd=project,
                 env={"ENVMAN_HOME": str(home)})
    assert result.code == 0, result
    assert bash_complete(installed, "info", "q", root=home) == ["Quux"]
    assert fish_complete(installed, "envman path QU", root=home) == ["Quux"]
    result = cli("rm", "--yes", "Quux", env={"ENVMAN_HOME": str(home)})
    assert result.code == 0, result
    assert bash_complete(installed, "info", "q", root=home) == []
