"""`envman scan --delete`: `--dry-run`, the confirmation (`--yes`, a terminal, none), only
the environments listed after the filters, registered ones with their records, the space
freed, and what it must never delete: the active environment, the one holding the running
interpreter, anything behind a link from inside an environment, a file system mounted
inside one, a base interpreter.

The environments built by hand here take their base Python from a hard link (or copy)
of a pyenv interpreter in the test's own directory: a deletion that followed
`bin/python` would then hit only that, and the test says so."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import site
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from conftest import REPO, a_python, assert_clean_error, child_env, envman_cmd, on_terminal
from scantrees import (TOOL_VARS, base_python, make_canaries, make_conda_env, make_env,
                       make_project, mount_tmpfs, run_scan, scan_env, tree_bytes, unmount,
                       version_of)


@pytest.fixture
def own_python(tmp_path: Path) -> Path:
    """A base interpreter file of the test's own (same inode as pyenv's where it can)."""
    exe = base_python()
    where = tmp_path / "base-python" / "bin"
    where.mkdir(parents=True)
    copy = where / exe.name
    try:
        os.link(exe, copy)
    except OSError:
        shutil.copy2(exe, copy)
    return copy


@pytest.fixture
def three(tmp_path: Path, own_python: Path) -> Dict[str, Path]:
    tree = tmp_path / "tree"
    version = version_of(base_python())
    return {
        "venv": make_env(make_project(tree / "a") / ".venv", "venv", exe=own_python, version=version),
        "uv": make_env(make_project(tree / "b") / ".venv", "uv", exe=own_python, version=version),
        "conda": make_conda_env(tree / "c" / "env"),
    }


def all_there(envs: Dict[str, Path]) -> bool:
    return all((env / "pyvenv.cfg").is_file() or (env / "conda-meta").is_dir() for env in envs.values())


def test_dry_run_deletes_nothing(tmp_path: Path, three: Dict[str, Path]) -> None:
    result = run_scan(str(tmp_path / "tree"), "--delete", "--dry-run", home=tmp_path / "home")
    assert result.code == 0, result
    assert all_there(three)
    for env in three.values():
        assert str(env) in result.out + result.err, result


def test_without_yes_and_no_terminal_nothing_is_deleted(tmp_path: Path, three: Dict[str, Path]) -> None:
    result = run_scan(str(tmp_path / "tree"), "--delete", home=tmp_path / "home")
    assert_clean_error(result, 2)
    assert all_there(three)


def on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str):
    for var in TOOL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return on_terminal(["scan", str(tmp_path / "tree"), "--delete"], answer=answer, timeout=60)


@pytest.mark.parametrize("answer", ["n", "", "no", "N"])
def test_answering_no_on_a_terminal_deletes_nothing(tmp_path: Path, three: Dict[str, Path],
                                                    monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    code, screen = on_a_terminal(tmp_path, monkeypatch, answer)
    assert "[y/N]" in screen, screen
    assert "Traceback" not in screen, screen
    assert all_there(three)
    assert code in (0, 1), screen


def test_answering_yes_on_a_terminal_deletes_them(tmp_path: Path, three: Dict[str, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, screen = on_a_terminal(tmp_path, monkeypatch, "y")
    assert code == 0, screen
    assert not any(env.exists() for env in three.values()), screen


def test_yes_deletes_exactly_the_filtered_ones_and_says_what_it_freed(
        tmp_path: Path, three: Dict[str, Path], own_python: Path) -> None:
    (three["uv"] / "lib" / "blob.bin").write_bytes(os.urandom(512 * 1024))
    result = run_scan(str(tmp_path / "tree"), "--type", "uv", "--type", "conda", "--delete", "--yes",
                      home=tmp_path / "home")
    assert result.code == 0, result
    assert not three["uv"].exists() and not three["conda"].exists()
    assert (three["venv"] / "pyvenv.cfg").is_file()
    assert (tmp_path / "tree" / "b" / "pyproject.toml").is_file(), "the project stays"
    assert re.search(r"free", result.out + result.err, re.I), result
    assert own_python.is_file(), "the base interpreter stays"


def test_a_registered_environment_goes_with_its_record(cli, tmp_path: Path, home: Path) -> None:
    ours_for = make_project(tmp_path / "web")
    made = cli("new", "web", "--project", str(ours_for), "--python", str(a_python()), "--without-pip", "-q")
    assert made.code == 0, made
    theirs = make_env(make_project(tmp_path / "tree" / "theirs") / ".venv")
    adopted = cli("adopt", str(theirs), "--name", "theirs")
    assert adopted.code == 0, adopted
    kept = make_env(make_project(tmp_path / "tree" / "kept") / ".venv")
    result = run_scan(str(home), str(tmp_path / "tree" / "theirs"), "--delete", "--yes",
                      home=tmp_path / "home")
    assert result.code == 0, result
    assert not (home / "envs" / "web").exists()
    assert not theirs.exists()
    assert kept.exists()
    listed = cli("ls", "--json")
    assert listed.code == 0, listed
    assert json.loads(listed.out) == [], listed
    assert (ours_for / "pyproject.toml").is_file()


def test_the_active_environment_is_refused(tmp_path: Path, three: Dict[str, Path]) -> None:
    active = three["venv"]
    result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home",
                      extra={"VIRTUAL_ENV": str(active)})
    assert "Traceback" not in result.err, result
    assert result.code in (0, 1), result
    assert (active / "pyvenv.cfg").is_file(), "the active environment stays"
    assert not three["uv"].exists() and not three["conda"].exists()
    assert str(active) in result.out + result.err, "it says which it kept"


def test_the_environment_envman_runs_in_is_refused(tmp_path: Path, three: Dict[str, Path]) -> None:
    runner = tmp_path / "tree" / "runner" / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(runner)], check=True)
    paths = [str(REPO), *site.getsitepackages()]
    env = scan_env(tmp_path / "home", {"PYTHONPATH": os.pathsep.join(paths)})
    proc = subprocess.run([str(runner / "bin" / "python"), "-m", "envman", "scan", str(tmp_path / "tree"),
                           "--delete", "--yes"], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    assert (runner / "pyvenv.cfg").is_file() and (runner / "bin" / "python").exists()
    assert not three["uv"].exists()


def test_no_canary_byte_behind_a_link_inside_an_environment_is_lost(
        tmp_path: Path, three: Dict[str, Path], own_python: Path) -> None:
    foreign = tmp_path / "foreign"
    before = make_canaries(foreign)
    env = three["venv"]
    site_packages = next(env.glob("lib/python*/site-packages"))
    (site_packages / "linked-dir").symlink_to(foreign)
    (site_packages / "linked-file.txt").symlink_to(foreign / "canary.txt")
    (env / "lib" / "linked-venv").symlink_to(foreign / ".venv")
    (three["conda"] / "pkgs-link").symlink_to(foreign)
    result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home")
    assert result.code == 0, result
    assert not env.exists() and not three["conda"].exists()
    assert tree_bytes(foreign) == before, "every canary byte survives"
    assert own_python.is_file()


def test_a_file_system_mounted_inside_an_environment_is_left_whole(tmp_path: Path,
                                                                   three: Dict[str, Path]) -> None:
    where = three["venv"] / "lib" / "mounted"
    mount_tmpfs(where)
    try:
        before = make_canaries(where / "theirs")
        result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home")
        assert "Traceback" not in result.err, result
        assert tree_bytes(where / "theirs") == before, result
        assert not three["uv"].exists(), "the others are still deleted"
    finally:
        unmount(where)


# -- swapped between the listing and the answer ----------------------------------------


def answer_after(args, answer: str, meanwhile, timeout: float = 60):
    """Run envman on a pseudo-terminal; when it asks, call `meanwhile()`, then answer."""
    import pty
    import select
    import time

    leader, follower = pty.openpty()
    proc = subprocess.Popen([*envman_cmd(), *args], env=child_env(), stdin=follower, stdout=follower,
                            stderr=follower, close_fds=True)
    os.close(follower)
    seen, answered = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                if not answered and b"[y/N]" in seen:
                    meanwhile()
                    if answer == "^C":
                        proc.send_signal(signal.SIGINT)  # what Ctrl-C at the question sends
                    else:
                        os.write(leader, answer.encode() + b"\n")
                    answered = True
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    assert answered, seen.decode(errors="replace")
    return code, seen.decode(errors="replace")


def swap_link(env: Path, foreign: Path, aside: Path):
    def swap() -> None:
        os.rename(env, aside)
        env.symlink_to(foreign / ".venv")
    return swap


def swap_directory(env: Path, foreign: Path, aside: Path):
    def swap() -> None:
        os.rename(env, aside)
        os.rename(foreign / ".venv", env)  # another directory, holding pyvenv.cfg too
        (foreign / ".venv").symlink_to(env)  # the canaries' tree keeps its shape
    return swap


def swap_parent(env: Path, foreign: Path, aside: Path):
    def swap() -> None:
        os.rename(env.parent, aside)
        env.parent.symlink_to(foreign)  # tree/a -> foreign, and foreign/.venv is theirs
    return swap


def swap_marker(env: Path, foreign: Path, aside: Path):
    def swap() -> None:
        (env / "pyvenv.cfg").rename(foreign / "moved-pyvenv.cfg")
    return swap


@pytest.mark.parametrize("swap", [swap_link, swap_directory, swap_parent, swap_marker])
def test_a_directory_swapped_before_the_answer_is_not_deleted(
        tmp_path: Path, three: Dict[str, Path], monkeypatch: pytest.MonkeyPatch, swap) -> None:
    """What was listed is re-checked when deleted: a link, another directory, a parent
    made a link, a directory that no longer holds pyvenv.cfg are all left alone."""
    for var in TOOL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    foreign = tmp_path / "foreign"
    make_canaries(foreign)
    env = three["venv"]
    (env / "lib" / "their-notes.txt").write_text("the directory put back must stay\n")
    hook = swap(env, foreign, tmp_path / "aside")
    code, screen = answer_after(["scan", str(tmp_path / "tree"), "--delete"], "y", hook)
    assert "Traceback" not in screen, screen
    assert code in (0, 1), screen
    assert (foreign / "canary.txt").read_bytes() == b"canary: never deleted\n", screen
    assert (foreign / "deep" / "er" / "canary.bin").stat().st_size == 4096, screen
    survivors = [p for p in (env, tmp_path / "aside" / ".venv", tmp_path / "aside", foreign / ".venv")
                 if (p / "pyvenv.cfg").is_file() or (p / "bin").is_dir()]
    assert survivors, screen
    if swap is swap_marker:
        assert (env / "lib" / "their-notes.txt").is_file(), screen
    assert not three["uv"].exists(), f"the others still go: {screen}"


@pytest.fixture
def bound_inside(tmp_path: Path, three: Dict[str, Path]):
    """A foreign directory bind-mounted inside the venv: same st_dev, another mount."""
    foreign = tmp_path / "foreign"
    before = make_canaries(foreign)
    (foreign / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    before = tree_bytes(foreign)
    where = three["venv"] / "lib" / "bound"
    where.mkdir()
    done = subprocess.run(["mount", "--bind", str(foreign), str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    yield foreign, before
    unmount(where)


def test_a_bind_mount_inside_an_environment_is_left_whole(tmp_path: Path, three: Dict[str, Path],
                                                          bound_inside) -> None:
    foreign, before = bound_inside
    result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home")
    assert "Traceback" not in result.err, result
    assert tree_bytes(foreign) == before, result
    assert not three["uv"].exists(), result


def test_a_bind_mount_inside_an_environment_is_not_counted_in_its_size(
        tmp_path: Path, three: Dict[str, Path], bound_inside) -> None:
    """Deleting it would not free what is mounted inside, so its size does not hold it."""
    found = {item["tool"]: item for item in json.loads(
        run_scan(str(tmp_path / "tree"), "--json", home=tmp_path / "home").out)}
    assert found["venv"]["size_bytes"] < 1024 * 1024, found["venv"]


def test_an_environment_that_is_also_a_project_is_not_deleted(tmp_path: Path, own_python: Path) -> None:
    """`python -m venv .` run in a project: the environment's directory holds the project's
    own files (its .git, its pyproject.toml, its sources); deleting it deletes the project."""
    project = make_project(tmp_path / "tree" / "myapp")
    make_env(project, "venv", exe=own_python, version=version_of(base_python()))
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (project / "src" / "myapp").mkdir(parents=True)
    (project / "src" / "myapp" / "__init__.py").write_text("precious = True\n")
    other = make_env(make_project(tmp_path / "tree" / "other") / ".venv", "venv", exe=own_python,
                     version=version_of(base_python()))
    result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home")
    assert "Traceback" not in result.err, result
    assert (project / "src" / "myapp" / "__init__.py").read_text() == "precious = True\n", result
    assert (project / ".git" / "HEAD").is_file(), result
    assert not other.exists(), result


@pytest.mark.parametrize("options", [["--adopt", "--delete", "--yes"], ["--dry-run"], ["--yes"],
                                     ["--adopt", "--dry-run"]])
def test_options_that_do_not_go_together_are_refused(tmp_path: Path, three: Dict[str, Path],
                                                     options) -> None:
    result = run_scan(str(tmp_path / "tree"), *options, home=tmp_path / "home")
    assert_clean_error(result, 2)
    assert all_there(three)


def test_the_active_environment_named_through_a_link_is_refused(tmp_path: Path,
                                                                three: Dict[str, Path]) -> None:
    link = tmp_path / "active-link"
    link.symlink_to(three["venv"])
    result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home",
                      extra={"VIRTUAL_ENV": str(link) + "/"})
    assert "Traceback" not in result.err, result
    assert (three["venv"] / "pyvenv.cfg").is_file(), result
    assert not three["uv"].exists(), result


def test_the_active_conda_environment_is_refused(tmp_path: Path, three: Dict[str, Path]) -> None:
    """conda's activation says which environment is active with CONDA_PREFIX, not VIRTUAL_ENV."""
    result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home",
                      extra={"CONDA_PREFIX": str(three["conda"]), "CONDA_DEFAULT_ENV": "env"})
    assert "Traceback" not in result.err, result
    assert (three["conda"] / "conda-meta").is_dir(), result
    assert not three["uv"].exists(), result


def test_envmans_own_data_inside_an_environment_is_never_deleted(tmp_path: Path, three: Dict[str, Path]) -> None:
    data = three["venv"] / "share" / "envman-data"
    data.mkdir(parents=True)
    (data / "registry.toml").write_text("schema_version = 1\n")
    result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home",
                      extra={"ENVMAN_HOME": str(data)})
    assert "Traceback" not in result.err, result
    assert (data / "registry.toml").is_file(), result
    assert not three["uv"].exists(), result


def test_a_conda_base_keeps_everything_but_the_environment_deleted(tmp_path: Path) -> None:
    from scantrees import make_conda_base

    base = make_conda_base(tmp_path / "tree" / "miniconda3", envs=("sci", "ml"))
    result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home")
    assert result.code == 0, result
    assert not (base / "envs" / "sci").exists() and not (base / "envs" / "ml").exists()
    assert (base / "conda-meta").is_dir() and (base / "condabin" / "conda").is_file()
    assert (base / "bin" / "python").is_symlink() and (base / "envs").is_dir()


def test_links_swapped_in_while_deleting_are_never_followed(tmp_path: Path, three: Dict[str, Path]) -> None:
    """While the deletion runs, directories inside the environment keep being replaced by
    links to a foreign tree: the deletion works on descriptors, so it removes the links
    and never what they point at."""
    import threading

    foreign = tmp_path / "foreign"
    make_canaries(foreign)
    (foreign / "hard-linked.txt").write_bytes(b"linked from inside the env, still theirs\n")
    before = tree_bytes(foreign)
    env = three["venv"]
    os.link(foreign / "hard-linked.txt", env / "lib" / "hard-linked.txt")
    subdirs = []
    for i in range(300):
        sub = env / "lib" / f"pkg{i}"
        (sub / "inner").mkdir(parents=True)
        (sub / "inner" / "module.py").write_text("x = 1\n")
        subdirs.append(sub)
    stop = threading.Event()

    def swap_in_links() -> None:
        while not stop.is_set():
            for n, sub in enumerate(subdirs):
                if stop.is_set():
                    return
                try:
                    os.rename(sub, tmp_path / f"moved-{n}")
                    sub.symlink_to(foreign)
                except OSError:
                    pass

    worker = threading.Thread(target=swap_in_links, daemon=True)
    worker.start()
    try:
        result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home")
    finally:
        stop.set()
        worker.join()
    assert "Traceback" not in result.err, result
    assert tree_bytes(foreign) == before, result
    assert not three["uv"].exists(), result


def test_older_than_deletes_only_the_old_ones(tmp_path: Path, three: Dict[str, Path]) -> None:
    from datetime import datetime, timedelta, timezone

    stamp = (datetime.now(timezone.utc) - timedelta(days=120)).timestamp()
    for root, dirs, files in os.walk(three["uv"], topdown=False):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (stamp, stamp), follow_symlinks=False)
    os.utime(three["uv"], (stamp, stamp))
    result = run_scan(str(tmp_path / "tree"), "--older-than", "90d", "--delete", "--yes", home=tmp_path / "home")
    assert result.code == 0, result
    assert not three["uv"].exists()
    assert (three["venv"] / "pyvenv.cfg").is_file() and (three["conda"] / "conda-meta").is_dir()


def test_a_registered_environment_goes_with_its_project_link(cli, tmp_path: Path, home: Path) -> None:
    project = make_project(tmp_path / "web")
    made = cli("new", "web", "--project", str(project), "--python", str(a_python()), "--without-pip",
               "--link", "-q")
    assert made.code == 0, made
    assert (project / ".venv").is_symlink()
    result = run_scan(str(home), "--delete", "--yes", home=tmp_path / "home")
    assert result.code == 0, result
    assert not (home / "envs" / "web").exists()
    assert not os.path.lexists(project / ".venv"), "rm takes its link with it"
    assert (project / "pyproject.toml").is_file()


def deep_chain(top: Path, depth: int) -> None:
    """`top/d/d/.../d` `depth` levels down, made through descriptors (no long path needed)."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


def test_an_environment_holding_a_deep_tree_is_deleted_whole(tmp_path: Path, three: Dict[str, Path]) -> None:
    """Deeper than Python's recursion limit: the deletion must not recurse per level."""
    deep_chain(three["venv"] / "lib", 1500)
    try:
        result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home")
        assert "internal error" not in result.err and "Traceback" not in result.err, result
        assert result.code == 0, result
        assert not three["venv"].exists(), result
        assert not three["uv"].exists() and not three["conda"].exists(), result
    finally:  # pytest's own clean-up recurses too
        subprocess.run(["rm", "-rf", str(tmp_path / "tree")], check=True)


def test_an_environment_that_cannot_be_deleted_whole_stays_findable(tmp_path: Path, three: Dict[str, Path]) -> None:
    """An immutable file (chattr +i) stops the deletion midway: that environment is left
    with its pyvenv.cfg (so a later scan finds it again), said so, and the others go."""
    locked = three["venv"] / "lib" / "locked.txt"
    locked.write_text("immutable\n")
    made = subprocess.run(["chattr", "+i", str(locked)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {made.stderr.strip()}")
    try:
        result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home")
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert_clean_error(result, 1, after_tool_output=True)
    assert str(three["venv"]) in result.err + result.out, result
    assert (three["venv"] / "pyvenv.cfg").is_file(), result
    assert not three["uv"].exists() and not three["conda"].exists(), result
    again = run_scan(str(tmp_path / "tree"), "--json", home=tmp_path / "home")
    assert [item["path"] for item in json.loads(again.out)] == [str(three["venv"])], again


def freed_bytes(text: str) -> float:
    found = re.search(r"freed ([\d.]+) (B|KiB|MiB|GiB)", text)
    assert found, text
    return float(found.group(1)) * {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}[found.group(2)]


def test_space_freed_counts_no_file_an_environment_left_in_place_still_holds(
        tmp_path: Path, own_python: Path) -> None:
    """Two environments share a 4 MiB hard-linked file; one is deleted, the other refused
    (it is the active one): the file is still on disk, so it is not in "freed"."""
    version = version_of(base_python())
    one = make_env(make_project(tmp_path / "tree" / "one") / ".venv", exe=own_python, version=version)
    two = make_env(make_project(tmp_path / "tree" / "two") / ".venv", exe=own_python, version=version)
    (one / "lib" / "shared.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    os.link(one / "lib" / "shared.bin", two / "lib" / "shared.bin")
    found = {item["path"]: item["size_bytes"] for item in json.loads(
        run_scan(str(tmp_path / "tree"), "--json", home=tmp_path / "home").out)}
    owner = max(found, key=lambda p: found[p])
    other = min(found, key=lambda p: found[p])
    assert found[owner] > 4 * 1024 * 1024 > found[other], found
    result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home",
                      extra={"VIRTUAL_ENV": other})
    assert not Path(owner).exists() and Path(other, "lib", "shared.bin").is_file(), result
    assert freed_bytes(result.err + result.out) < 1024 * 1024, result


def test_would_free_leaves_out_a_file_an_environment_not_selected_still_holds(tmp_path: Path) -> None:
    """`--type uv --delete` of an environment sharing a 4 MiB file with a venv that is not
    selected: deleting it frees only its own files, and that is what it promises."""
    one = make_env(make_project(tmp_path / "tree" / "one") / ".venv", "uv")
    two = make_env(make_project(tmp_path / "tree" / "two") / ".venv", "venv")
    (one / "lib" / "shared.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    os.link(one / "lib" / "shared.bin", two / "lib" / "shared.bin")
    for tool in ("uv", "venv"):
        result = run_scan(str(tmp_path / "tree"), "--type", tool, "--delete", "--dry-run", home=tmp_path / "home")
        assert result.code == 0, result
        found = re.search(r"would free ([\d.]+) (B|KiB|MiB|GiB)", result.err + result.out)
        assert found, result
        assert found.group(2) in ("B", "KiB"), result


def test_a_deep_tree_is_deleted_under_a_small_open_files_limit(tmp_path: Path, three: Dict[str, Path]) -> None:
    """600 levels under `ulimit -n 256` (below the recursion limit, above the descriptors):
    `rm -rf` deletes it, and so must envman, holding no descriptor per level."""
    import resource

    deep_chain(three["venv"] / "lib", 600)

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    try:
        proc = subprocess.run([*envman_cmd(), "scan", str(tmp_path / "tree"), "--delete", "--yes"],
                              env=scan_env(tmp_path / "home"), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120, preexec_fn=few_descriptors)
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode == 0, proc.stderr
        assert not three["venv"].exists(), proc.stderr
    finally:
        subprocess.run(["rm", "-rf", str(tmp_path / "tree")], check=True)


@pytest.mark.parametrize("served_by", ["itself", "its-parent"])
def test_an_adopted_environment_that_is_also_a_project_is_not_deleted(cli, tmp_path: Path, own_python: Path,
                                                                      served_by: str) -> None:
    """The same `python -m venv .` project, adopted first: `scan --delete` takes adopted
    ones the way `rm --delete-adopted` does, and must still not delete a project."""
    project = make_project(tmp_path / "tree" / "myapp")
    make_env(project, "venv", exe=own_python, version=version_of(base_python()))
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("precious = True\n")
    served = project if served_by == "itself" else project.parent
    adopted = cli("adopt", str(project), "--name", "myapp", "--project", str(served))
    assert adopted.code == 0, adopted
    result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home")
    assert "Traceback" not in result.err, result
    assert (project / "src" / "app.py").read_text() == "precious = True\n", result
    assert (project / ".git" / "HEAD").is_file(), result


@pytest.mark.parametrize("swap", [swap_link, swap_directory, swap_parent, swap_marker])
def test_an_adopted_directory_swapped_before_the_answer_is_not_deleted(
        cli, tmp_path: Path, three: Dict[str, Path], monkeypatch: pytest.MonkeyPatch, swap) -> None:
    """The same swaps on an adopted environment, which goes the way of `rm --delete-adopted`."""
    for var in TOOL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    env = three["venv"]
    adopted = cli("adopt", str(env), "--name", "adopted-a")
    assert adopted.code == 0, adopted
    foreign = tmp_path / "foreign"
    make_canaries(foreign)
    (foreign / ".venv" / "their-file.txt").write_text("theirs\n")
    (env / "lib" / "their-notes.txt").write_text("the directory put back must stay\n")
    hook = swap(env, foreign, tmp_path / "aside")
    code, screen = answer_after(["scan", str(tmp_path / "tree"), "--delete"], "y", hook)
    assert "Traceback" not in screen and "internal error" not in screen, screen
    assert (foreign / "canary.txt").read_bytes() == b"canary: never deleted\n", screen
    assert (foreign / "deep" / "er" / "canary.bin").stat().st_size == 4096, screen
    theirs = [p for p in (foreign / ".venv", env) if (p / "their-file.txt").is_file()]
    assert theirs, f"the foreign venv survives: {screen}"
    if swap is swap_marker:
        assert (env / "lib" / "their-notes.txt").is_file(), screen
    assert not three["uv"].exists(), f"the others still go: {screen}"


@pytest.mark.parametrize("swap", [swap_link, swap_directory])
def test_a_store_environment_swapped_before_the_answer_is_not_deleted(
        cli, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, swap) -> None:
    """One envman made: `rm` proves it by its marker, and a directory swapped in has none."""
    for var in TOOL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    made = cli("new", "web", "--project", str(make_project(tmp_path / "web")), "--python", str(a_python()),
               "--without-pip", "-q")
    assert made.code == 0, made
    foreign = tmp_path / "foreign"
    make_canaries(foreign)
    (foreign / ".venv" / "their-file.txt").write_text("theirs\n")
    hook = swap(home / "envs" / "web", foreign, tmp_path / "aside")
    code, screen = answer_after(["scan", str(home), "--delete"], "y", hook)
    assert "Traceback" not in screen and "internal error" not in screen, screen
    assert (foreign / "canary.txt").read_bytes() == b"canary: never deleted\n", screen
    assert [p for p in (foreign / ".venv", home / "envs" / "web") if (p / "their-file.txt").is_file()], screen


@pytest.mark.parametrize("kind", ["adopted", "envman"])
def test_the_active_environment_is_refused_when_registered_too(cli, tmp_path: Path, home: Path,
                                                               three: Dict[str, Path], kind: str) -> None:
    if kind == "adopted":
        active = three["venv"]
        assert cli("adopt", str(active), "--name", "active-one").code == 0
    else:
        made = cli("new", "active-one", "--project", str(make_project(tmp_path / "web")), "--python",
                   str(a_python()), "--without-pip", "-q")
        assert made.code == 0, made
        active = home / "envs" / "active-one"
    result = run_scan(str(tmp_path / "tree"), str(home), "--delete", "--yes", home=tmp_path / "home",
                      extra={"VIRTUAL_ENV": str(active)})
    assert "Traceback" not in result.err, result
    assert (active / "pyvenv.cfg").is_file(), result
    assert not three["uv"].exists(), result
    listed = [r["name"] for r in json.loads(cli("ls", "--json").out)]
    assert listed == ["active-one"], "its record stays with it"


def test_delete_json_is_one_array_on_stdout(tmp_path: Path, three: Dict[str, Path]) -> None:
    result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", "--json", home=tmp_path / "home",
                      extra={"VIRTUAL_ENV": str(three["venv"])})
    assert "Traceback" not in result.err, result
    done = {item["path"]: item for item in json.loads(result.out)}
    assert set(done) == {str(e) for e in three.values()}, done
    assert done[str(three["venv"])]["deleted"] is False and done[str(three["venv"])]["reason"], done
    assert done[str(three["uv"])]["deleted"] is True, done


def test_an_interrupt_at_the_question_deletes_nothing(tmp_path: Path, three: Dict[str, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for var in TOOL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    code, screen = answer_after(["scan", str(tmp_path / "tree"), "--delete"], "^C", lambda: None)
    assert "Traceback" not in screen, screen
    assert code != 0, screen
    assert all_there(three), screen


def test_device_nodes_sockets_and_fifos_inside_are_unlinked_never_opened(tmp_path: Path,
                                                                         three: Dict[str, Path]) -> None:
    import socket
    import stat as stat_mod

    env = three["venv"]
    os.mkfifo(env / "lib" / "a-fifo")
    try:
        os.mknod(env / "lib" / "a-zero", stat_mod.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's
    except OSError:
        pass  # no CAP_MKNOD here: the FIFO and the socket still make the point
    server = socket.socket(socket.AF_UNIX)
    try:
        try:
            server.bind(str(env / "lib" / "a-socket"))
        except OSError:
            pass  # a path longer than a socket address can be
        result = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home", timeout=60)
    finally:
        server.close()
    assert result.code == 0, result
    assert not env.exists(), result


def test_older_than_delete_keeps_an_environment_changed_in_place_since_the_last_scan(
        tmp_path: Path, three: Dict[str, Path]) -> None:
    """Scanned once while old; a file in it edited today (no directory's mtime moves);
    `--older-than 90d --delete --yes` must see the edit and keep it."""
    from datetime import datetime, timedelta, timezone

    env = three["venv"]
    module = env / "lib" / "module.py"
    module.write_text("x = 1\n")
    stamp = (datetime.now(timezone.utc) - timedelta(days=200)).timestamp()
    for root, dirs, files in os.walk(env, topdown=False):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (stamp, stamp), follow_symlinks=False)
    os.utime(env, (stamp, stamp))
    first = run_scan(str(tmp_path / "tree"), "--older-than", "90d", "--json", home=tmp_path / "home")
    assert [item["path"] for item in json.loads(first.out)] == [str(env)], first
    with open(module, "a") as handle:
        handle.write("x = 2  # edited today\n")
    result = run_scan(str(tmp_path / "tree"), "--older-than", "90d", "--delete", "--yes", home=tmp_path / "home")
    assert "Traceback" not in result.err, result
    assert module.read_text().endswith("edited today\n"), result
