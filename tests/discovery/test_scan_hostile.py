"""`envman scan` over a hostile tree: links into foreign directories (never followed), a
file system mounted inside (never entered), a FIFO named `pyvenv.cfg`, a `pyvenv.cfg` of
50 MB (only its first KiB read), names with newlines and bytes that are no UTF-8,
directories vanishing while it walks, and a directory it cannot read."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path


import pytest

from conftest import envman_cmd
from scantrees import (scan_found_soon, by_path, make_canaries, make_conda_env, make_env, make_project,
                       mount_tmpfs, real, run_scan, scan_env, scan_json, tree_bytes, unmount)


def test_a_link_to_a_foreign_directory_is_never_followed(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    before = make_canaries(foreign)
    tree = tmp_path / "tree"
    ours = make_env(make_project(tree / "ours") / ".venv")
    (tree / "link-to-foreign").symlink_to(foreign)
    (tree / "loop").symlink_to(tree)
    (tree / "ours" / "loop-a").symlink_to(tree / "ours" / "loop-b")
    (tree / "ours" / "loop-b").symlink_to(tree / "ours" / "loop-a")
    (tree / "elsewhere").mkdir()
    (tree / "elsewhere" / ".venv").symlink_to(foreign / ".venv")  # a `.venv` link, not ours to list
    found = by_path(scan_json(str(tree), home=tmp_path / "home"))
    assert set(found) == {real(ours)}, found
    deleted = run_scan(str(tree), "--delete", "--yes", home=tmp_path / "home")
    assert deleted.code == 0, deleted
    assert not ours.exists()
    assert tree_bytes(foreign) == before, "no canary byte lost"
    assert (tree / "elsewhere" / ".venv").is_symlink() and (tree / "link-to-foreign").is_symlink()


@pytest.fixture
def mounted(tmp_path: Path):
    where = tmp_path / "tree" / "mnt"
    mount_tmpfs(where)
    yield where
    unmount(where)


def test_a_file_system_mounted_inside_is_never_entered(tmp_path: Path, mounted: Path) -> None:
    tree = tmp_path / "tree"
    make_env(mounted)  # the mount point itself an environment
    before = make_canaries(mounted / "theirs")
    ours = make_env(make_project(tree / "ours") / ".venv")
    found = by_path(scan_json(str(tree), home=tmp_path / "home"))
    assert set(found) == {real(ours)}, found
    deleted = run_scan(str(tree), "--delete", "--yes", home=tmp_path / "home")
    assert deleted.code == 0, deleted
    assert not ours.exists()
    assert tree_bytes(mounted / "theirs") == before
    assert (mounted / "pyvenv.cfg").is_file()
    # named as a DIR, the environment that is a mount point is found, and never deleted
    listed = scan_json(str(mounted), home=tmp_path / "home")
    assert real(mounted) in by_path(listed), listed
    kept = run_scan(str(mounted), "--delete", "--yes", home=tmp_path / "home")
    assert "Traceback" not in kept.err, kept
    assert (mounted / "pyvenv.cfg").is_file() and tree_bytes(mounted / "theirs") == before, kept


def test_fifos_where_files_are_read_do_not_hang_the_scan(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "trap").mkdir(parents=True)
    os.mkfifo(tree / "trap" / "pyvenv.cfg")
    ours = make_env(make_project(tree / "ours") / ".venv")
    os.mkfifo(ours / "lib" / "a-fifo")
    conda = make_conda_env(tree / "conda-env")
    [record] = conda.glob("conda-meta/python-*.json")
    record.unlink()
    os.mkfifo(record)
    found = scan_found_soon(tree, tmp_path / "home")
    assert real(ours) in found, found
    assert real(tree / "trap") not in found, "a FIFO named pyvenv.cfg makes no environment"
    assert real(conda) in found, "a conda env is told by its conda-meta/ directory, whatever is in it"


READ_COUNTER = """
import runpy, sys
sys.argv = ["envman", *sys.argv[1:]]
try:
    runpy.run_module("envman", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/io") as io:
        sys.stderr.write("\\n" + io.read())
"""


def bytes_read(tree: Path, home: Path) -> int:
    """What a whole `envman scan TREE --json` read (the kernel's count, `rchar`)."""
    proc = subprocess.run([sys.executable, "-c", READ_COUNTER, "scan", str(tree), "--json"],
                          env=scan_env(home), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    found = re.search(r"^rchar: (\d+)$", proc.stderr, re.M)
    assert found, proc.stderr
    return int(found.group(1))


def test_only_the_first_kib_of_a_50_mb_pyvenv_cfg_is_read(tmp_path: Path) -> None:
    if not os.path.exists("/proc/self/io"):
        pytest.skip("needs /proc/self/io to count what was read")
    small = tmp_path / "small"
    make_env(make_project(small / "web") / ".venv")
    copied = make_env(make_project(small / "copied") / ".venv")
    huge = tmp_path / "huge"
    env = make_env(make_project(huge / "web") / ".venv")
    huge_copied = make_env(make_project(huge / "copied") / ".venv")
    for one in (copied, huge_copied):  # `--copies`: no link to follow, so pyvenv.cfg is asked
        (one / "bin" / "python").unlink()
        (one / "bin" / "python").write_bytes(b"\x7fELF a copied interpreter\n")
    line = "# " + "x" * 1021 + "\n"
    for one in (env, huge_copied):
        with open(one / "pyvenv.cfg", "a") as cfg:
            for _ in range(50 * 1024):
                cfg.write(line)
        assert (one / "pyvenv.cfg").stat().st_size > 50 * 1024 * 1024
    started = time.monotonic()
    extra = bytes_read(huge, tmp_path / "home") - bytes_read(small, tmp_path / "home")
    assert time.monotonic() - started < 30
    assert extra < 1024 * 1024, f"read {extra} bytes more for a 50 MB pyvenv.cfg"
    found = scan_json(str(huge), home=tmp_path / "home")
    assert {item["path"] for item in found} <= {str(env), str(huge_copied)}, found


ODD_NAMES = ["new\nline", "tab\tand space", "-rf", "$(touch pwned)", "quote'\"", "emoji-\u2603"]


def test_odd_names_keep_the_json_valid_and_the_table_one_line_a_row(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    envs = [make_env(make_project(tree / name) / ".venv") for name in ODD_NAMES]
    raw = os.fsencode(str(tree)) + b"/bytes-\xff\xfe"
    os.makedirs(raw)
    envs.append(make_env(Path(os.fsdecode(raw)) / ".venv"))
    result = run_scan(str(tree), "--json", home=tmp_path / "home", cwd=tmp_path)
    assert result.code == 0, result
    found = json.loads(result.out)
    assert sorted(os.fsencode(item["path"]) for item in found) == sorted(os.fsencode(str(e)) for e in envs)
    for item in found:
        assert os.fsencode(item["project"]) == os.fsencode(str(Path(item["path"]).parent)), item
    table = run_scan(str(tree), home=tmp_path / "home", cwd=tmp_path)
    assert table.code == 0, table
    lines = table.out.splitlines()
    assert not any(line.startswith("line") for line in lines), table.out
    assert sum(".venv" in line for line in lines) == len(envs), table.out
    assert not (tmp_path / "pwned").exists() and not (tree / "pwned").exists()


def test_directories_vanishing_mid_walk_are_no_error(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    stable = make_env(make_project(tree / "stable") / ".venv")
    for i in range(60):
        for j in range(25):
            (tree / "bulk" / f"d{i}" / f"e{j}").mkdir(parents=True)
    churn = tree / "churn"
    churn.mkdir()
    stop = threading.Event()

    def flicker() -> None:
        n = 0
        while not stop.is_set():
            top = churn / f"c{n % 7}"
            try:
                (top / "a" / "b" / "c").mkdir(parents=True, exist_ok=True)
                (top / "env").mkdir(exist_ok=True)
                (top / "env" / "pyvenv.cfg").write_text("home = /nowhere\n")
                (top / "env" / "lib").mkdir(exist_ok=True)
                shutil.rmtree(top, ignore_errors=True)
            except OSError:
                pass
            n += 1

    worker = threading.Thread(target=flicker, daemon=True)
    worker.start()
    try:
        for _ in range(4):
            result = run_scan(str(tree), "--json", home=tmp_path / "home", timeout=60)
            assert result.code == 0, result
            assert "Traceback" not in result.err, result
            assert real(stable) in by_path(json.loads(result.out))
    finally:
        stop.set()
        worker.join()


def test_an_unreadable_directory_is_counted_in_one_line(tmp_path: Path) -> None:
    """We run as root, whom no mode bit stops: the scan runs without its capabilities
    (setpriv drops them all), so a mode-000 directory is unreadable to it for real."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("needs setpriv (util-linux) to run the scan without root's capabilities")
    tree = tmp_path / "tree"
    ours = make_env(make_project(tree / "ours") / ".venv")
    locked = tree / "locked"
    make_env(locked / "hidden" / ".venv")
    locked.chmod(0)
    try:
        proc = subprocess.run([setpriv, "--inh-caps=-all", "--bounding-set=-all", "--",
                               *envman_cmd(), "scan", str(tree), "--json"],
                              env=scan_env(tmp_path / "home"), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=120)
    finally:
        locked.chmod(0o755)
    if proc.returncode != 0 and "setpriv" in proc.stderr:
        pytest.skip(f"setpriv cannot drop capabilities here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert set(by_path(json.loads(proc.stdout))) == {real(ours)}
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert re.search(r"\b1\b", lines[0]) and re.search(r"read|access|permission", lines[0], re.I), lines


@pytest.fixture
def bound(tmp_path: Path):
    """`foreign` (someone's files and venv) bind-mounted at tree/bound: the same file
    system, the same st_dev, and still another mount that must not be entered."""
    foreign = tmp_path / "foreign"
    before = make_canaries(foreign)
    where = tmp_path / "tree" / "bound"
    where.mkdir(parents=True)
    done = subprocess.run(["mount", "--bind", str(foreign), str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    yield where, foreign, before
    unmount(where)


def test_a_bind_mount_inside_is_never_entered(tmp_path: Path, bound) -> None:
    where, foreign, before = bound
    ours = make_env(make_project(tmp_path / "tree" / "ours") / ".venv")
    found = by_path(scan_json(str(tmp_path / "tree"), home=tmp_path / "home"))
    assert set(found) == {real(ours)}, found
    deleted = run_scan(str(tmp_path / "tree"), "--delete", "--yes", home=tmp_path / "home")
    assert deleted.code == 0, deleted
    assert tree_bytes(foreign) == before
    assert not ours.exists()


def test_a_dir_given_on_another_file_system_is_walked(tmp_path: Path) -> None:
    """Each DIR is walked on its own file system: a mount named as a DIR is no mount inside."""
    where = tmp_path / "mnt"
    mount_tmpfs(where)
    try:
        theirs = make_env(make_project(where / "on-tmpfs") / ".venv")
        ours = make_env(make_project(tmp_path / "tree" / "ours") / ".venv")
        found = by_path(scan_json(str(tmp_path / "tree"), str(where), home=tmp_path / "home"))
        assert set(found) == {real(ours), real(theirs)}, found
        deleted = run_scan(str(where), "--delete", "--yes", home=tmp_path / "home")
        assert deleted.code == 0, deleted
        assert not theirs.exists() and (where / "on-tmpfs" / "pyproject.toml").is_file()
    finally:
        unmount(where)


def test_the_kernels_file_systems_are_walked_without_harm(tmp_path: Path) -> None:
    """/proc, /sys and /dev: endless-looking, self-referencing, full of devices and FIFOs
    that must never be opened; the scan finishes, finds nothing, writes nothing."""
    started = time.monotonic()
    result = run_scan("/proc", "/sys", "/dev", "--json", home=tmp_path / "home", timeout=120)
    assert result.code == 0, result
    assert "Traceback" not in result.err, result
    assert json.loads(result.out) == []
    assert time.monotonic() - started < 60
    assert len([line for line in result.err.splitlines() if line.strip()]) <= 1, result


# C1 controls (U+009B is CSI: an escape sequence on terminals that take 8-bit controls),
# U+0085 (NEL), U+2028/U+2029 (line and paragraph separators: new lines to many readers,
# Python's splitlines among them) and the bidirectional overrides and isolates (they make
# a path display as another one: "Trojan source"), in the list `--delete` asks about.
INVISIBLE = ["c1-\u009b2J", "nel-\u0085x", "ls-\u2028x", "ps-\u2029x", "rlo-\u202egnp.exe", "lri-\u2066x\u2069"]
_DANGEROUS = re.compile("[\u0080-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def test_names_that_would_fool_the_terminal_are_escaped_in_the_table_and_the_question(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    envs = [make_env(make_project(tree / name) / ".venv") for name in INVISIBLE]
    table = run_scan(str(tree), home=tmp_path / "home")
    assert table.code == 0, table
    assert not _DANGEROUS.search(table.out), ascii(table.out)
    assert sum(".venv" in line for line in table.out.splitlines()) == len(envs), ascii(table.out)
    listed = run_scan(str(tree), "--delete", "--dry-run", home=tmp_path / "home")
    assert listed.code == 0, listed
    assert not _DANGEROUS.search(listed.out + listed.err), ascii(listed.err)
    found = json.loads(run_scan(str(tree), "--json", home=tmp_path / "home").out)
    assert sorted(item["path"] for item in found) == sorted(str(e) for e in envs)  # JSON keeps the truth


def test_fifos_in_every_file_the_scan_reads_do_not_hang_it(tmp_path: Path) -> None:
    """`.project`, `.python-version`, `.python-envs`, a `.venv` file, `pyproject.toml` and
    conda's `environments.txt`: each one a FIFO nobody writes to."""
    home = tmp_path / "home"
    wrapped = make_env(home / ".virtualenvs" / "wrapped", "virtualenv")
    os.mkfifo(wrapped / ".project")
    pyenv_env = make_env(home / ".pyenv" / "versions" / "3.12.1" / "envs" / "tools")
    user = home / "src" / "user"
    user.mkdir(parents=True)
    for name in (".python-version", ".python-envs", ".venv", "pyproject.toml"):
        os.mkfifo(user / name)
    (home / ".conda").mkdir()
    os.mkfifo(home / ".conda" / "environments.txt")
    (home / ".cache" / "pypoetry").mkdir(parents=True)
    ours = make_env(make_project(home / "src" / "ours") / ".venv")
    started = time.monotonic()
    result = run_scan("--json", home=home, timeout=60)
    assert result.code == 0, result
    assert "Traceback" not in result.err, result
    assert time.monotonic() - started < 30
    found = by_path(json.loads(result.out))
    assert {real(wrapped), real(pyenv_env), real(ours)} <= set(found), found


def test_the_reasons_for_leaving_an_environment_escape_its_name_too(tmp_path: Path) -> None:
    """"left … because …" and "skipped …: …" carry paths inside their reasons."""
    tree = tmp_path / "tree"
    envs = [make_env(make_project(tree / name) / ".venv") for name in INVISIBLE]
    active = envs[-2]  # the right-to-left override
    before = tree_bytes(active)
    deleted = run_scan(str(tree), "--delete", "--yes", home=tmp_path / "home",
                       extra={"VIRTUAL_ENV": str(active)})
    assert "Traceback" not in deleted.err, deleted
    assert tree_bytes(active) == before
    assert not _DANGEROUS.search(deleted.out + deleted.err), ascii(deleted.err)
    replaced = tree / "replaced"
    env = make_env(make_project(replaced / "rlo-\u202eyp.exe") / ".venv")
    (env / "pyvenv.cfg").write_bytes(b"\xff\xfe not a config\n")  # adopt refuses what it cannot read
    adopted = run_scan(str(replaced), "--adopt", home=tmp_path / "home")
    assert "Traceback" not in adopted.err, adopted
    assert not _DANGEROUS.search(adopted.out + adopted.err), ascii(adopted.err)
