"""What `envman scan` says about each environment: the JSON fields SPEC's `scan` section
gives (registered, size with hard links counted once, modified, status and reasons), the
filters (`--type`, `--older-than`, `--min-size`), `--sort`, and the table."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List

import pytest

from conftest import a_python, assert_clean_error, linked_python, on_terminal
from scantrees import (TOOL_VARS, base_python, by_path, check_shape, make_conda_env, make_env,
                       make_project, real, run_scan, scan_json, version_of)


def set_times(directory: Path, moment: datetime) -> None:
    """Every entry under `directory` (itself included, links not followed) dated `moment`."""
    stamp = moment.timestamp()
    for root, dirs, files in os.walk(directory, topdown=False):
        for name in files + dirs:
            os.utime(os.path.join(root, name), (stamp, stamp), follow_symlinks=False)
    os.utime(directory, (stamp, stamp))


def add_bytes(env: Path, size: int, name: str = "blob.bin") -> Path:
    blob = env / "lib" / name
    blob.write_bytes(os.urandom(size))
    return blob


# -- the JSON objects ----------------------------------------------------------------


def test_each_object_has_the_fields_spec_names(tmp_path: Path) -> None:
    project = make_project(tmp_path / "tree" / "web")
    make_env(project / ".venv")
    make_conda_env(tmp_path / "tree" / "conda-env")
    found = scan_json(str(tmp_path / "tree"), home=tmp_path / "home")
    assert len(found) == 2, found
    for item in found:
        check_shape(item)
        assert os.path.isabs(item["path"]), item
        datetime.fromisoformat(item["modified"])
        assert datetime.fromisoformat(item["modified"]).utcoffset() is not None, item
    conda = by_path(found)[real(tmp_path / "tree" / "conda-env")]
    assert conda["tool"] == "conda" and conda["python"] == version_of(base_python()), conda


def test_registered_names_the_environments_envman_made_and_adopted(cli, tmp_path: Path, home: Path) -> None:
    made_for = make_project(tmp_path / "tree" / "web")
    made = cli("new", "web", "--project", str(made_for), "--python", str(a_python()), "--without-pip", "-q")
    assert made.code == 0, made
    theirs = make_project(tmp_path / "tree" / "theirs")
    make_env(theirs / ".venv")
    adopted = cli("adopt", str(theirs / ".venv"), "--name", "theirs-env")
    assert adopted.code == 0, adopted
    stranger = make_env(make_project(tmp_path / "tree" / "stranger") / ".venv")
    found = by_path(scan_json(str(tmp_path / "tree"), str(home), home=tmp_path / "home"))
    ours = found[real(home / "envs" / "web")]
    assert (ours["tool"], ours["registered"], ours["project"]) == ("envman", "web", real(made_for)), ours
    adopted_item = found[real(theirs / ".venv")]
    assert adopted_item["registered"] == "theirs-env", adopted_item
    assert adopted_item["tool"] == "venv" and adopted_item["project"] == real(theirs), adopted_item
    assert found[real(stranger)]["registered"] is None
    assert len(found) == 3, found


def test_a_hard_linked_file_counts_once_across_the_result(tmp_path: Path) -> None:
    big = 4 * 1024 * 1024
    one = make_env(make_project(tmp_path / "tree" / "one") / ".venv")
    two = make_env(make_project(tmp_path / "tree" / "two") / ".venv")
    blob = add_bytes(one, big)
    os.link(blob, two / "lib" / "blob.bin")
    alone = make_env(make_project(tmp_path / "tree" / "alone") / ".venv")
    found = by_path(scan_json(str(tmp_path / "tree"), home=tmp_path / "home"))
    plain = found[real(alone)]["size_bytes"]
    sizes = [found[real(one)]["size_bytes"], found[real(two)]["size_bytes"]]
    assert plain < 256 * 1024, found
    assert big <= sum(sizes) < big + 2 * plain + 64 * 1024, (sizes, plain)


def test_modified_is_the_newest_entry_of_the_environment(tmp_path: Path) -> None:
    env = make_env(make_project(tmp_path / "tree" / "web") / ".venv")
    old = datetime(2026, 1, 1, tzinfo=timezone.utc)
    newest = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    touched = env / "lib" / "touched.py"
    touched.write_text("x = 1\n")
    set_times(env, old)
    os.utime(touched, (newest.timestamp(), newest.timestamp()))
    [item] = scan_json(str(tmp_path / "tree"), home=tmp_path / "home")
    assert datetime.fromisoformat(item["modified"]) == newest, item


def test_a_missing_base_python_and_a_missing_project_are_the_reasons(tmp_path: Path) -> None:
    exe = base_python()
    link = linked_python(tmp_path / "uninstalled", exe)
    broken = make_env(make_project(tmp_path / "tree" / "broken") / ".venv", exe=link,
                      version=version_of(exe))
    shutil.rmtree(tmp_path / "uninstalled")
    workon = tmp_path / "tree" / "workon"
    orphan = make_env(workon / "orphan", "virtualenv")
    (orphan / ".project").write_text(str(tmp_path / "gone-project"))
    fine = make_env(make_project(tmp_path / "tree" / "fine") / ".venv")
    conda = make_conda_env(tmp_path / "tree" / "conda-broken")
    for link in (conda / "bin").iterdir():
        link.unlink()  # its python is gone
    found = by_path(scan_json(str(tmp_path / "tree"), home=tmp_path / "home",
                              extra={"WORKON_HOME": str(workon)}))
    assert found[real(conda)]["reasons"] == ["python-missing"], found[real(conda)]
    assert found[real(broken)]["status"] == "stale", found[real(broken)]
    assert found[real(broken)]["reasons"] == ["python-missing"], found[real(broken)]
    assert found[real(orphan)]["project"] == str(tmp_path / "gone-project"), found[real(orphan)]
    assert found[real(orphan)]["reasons"] == ["project-missing"], found[real(orphan)]
    assert (found[real(fine)]["status"], found[real(fine)]["reasons"]) == ("ok", [])


def test_a_registered_environment_whose_project_is_gone_is_project_missing(cli, tmp_path: Path,
                                                                           home: Path) -> None:
    project = make_project(tmp_path / "web")
    made = cli("new", "web", "--project", str(project), "--python", str(a_python()), "--without-pip", "-q")
    assert made.code == 0, made
    shutil.rmtree(project)
    [item] = scan_json(str(home), home=tmp_path / "home")
    assert (item["registered"], item["status"], item["reasons"]) == ("web", "stale", ["project-missing"]), item


# -- filters -----------------------------------------------------------------------


@pytest.fixture
def mixed(tmp_path: Path) -> Dict[str, Path]:
    """venv, virtualenv, uv and conda environments of different ages and sizes."""
    tree = tmp_path / "tree"
    envs = {
        "venv": make_env(make_project(tree / "a-venv") / ".venv", "venv"),
        "virtualenv": make_env(make_project(tree / "b-virtualenv") / ".venv", "virtualenv"),
        "uv": make_env(make_project(tree / "c-uv") / ".venv", "uv"),
        "conda": make_conda_env(tree / "d-conda" / "env"),
    }
    add_bytes(envs["uv"], 600 * 1024)
    add_bytes(envs["venv"], 300 * 1024)
    now = datetime.now(timezone.utc)
    set_times(envs["virtualenv"], now - timedelta(days=200))
    set_times(envs["uv"], now - timedelta(days=60))
    set_times(envs["conda"], now - timedelta(days=5))
    return envs


def tools_of(found: List[Dict[str, Any]]) -> List[str]:
    return sorted(item["tool"] for item in found)


def test_type_keeps_the_tools_named(tmp_path: Path, mixed: Dict[str, Path]) -> None:
    tree, home = str(tmp_path / "tree"), tmp_path / "home"
    assert tools_of(scan_json(tree, "--type", "uv", home=home)) == ["uv"]
    assert tools_of(scan_json(tree, "--type", "venv", "--type", "conda", home=home)) == ["conda", "venv"]


@pytest.mark.parametrize("bad", ["pyenv", "VENV2", "", "venv,uv"])
def test_an_unknown_type_is_refused(tmp_path: Path, mixed: Dict[str, Path], bad: str) -> None:
    result = run_scan(str(tmp_path / "tree"), "--type", bad, home=tmp_path / "home")
    assert_clean_error(result, 2)
    assert result.out == "", result


def test_older_than_keeps_the_unused_ones(tmp_path: Path, mixed: Dict[str, Path]) -> None:
    found = scan_json(str(tmp_path / "tree"), "--older-than", "30d", home=tmp_path / "home")
    assert tools_of(found) == ["uv", "virtualenv"], found
    assert all("unused" in item["reasons"] and item["status"] == "stale" for item in found), found
    assert tools_of(scan_json(str(tmp_path / "tree"), "--older-than", "100d",
                              home=tmp_path / "home")) == ["virtualenv"]


@pytest.mark.parametrize("bad", ["30", "3y", "abc", "-5d", "1.5.2d", ""])
def test_a_bad_age_is_refused(tmp_path: Path, mixed: Dict[str, Path], bad: str) -> None:
    result = run_scan(str(tmp_path / "tree"), "--older-than", bad, home=tmp_path / "home")
    assert_clean_error(result, 2)


def test_min_size_keeps_the_big_ones(tmp_path: Path, mixed: Dict[str, Path]) -> None:
    tree, home = str(tmp_path / "tree"), tmp_path / "home"
    assert tools_of(scan_json(tree, "--min-size", "200KiB", home=home)) == ["uv", "venv"]
    assert tools_of(scan_json(tree, "--min-size", "500KiB", home=home)) == ["uv"]
    assert tools_of(scan_json(tree, "--min-size", "0.5MB", home=home)) == ["uv"]
    for size in ("500MB", "1.5GB"):
        assert scan_json(tree, "--min-size", size, home=home) == []


@pytest.mark.parametrize("bad", ["12XB", "MB", "-1MB", "1.2.3GB", "ten", ""])
def test_a_bad_size_is_refused(tmp_path: Path, mixed: Dict[str, Path], bad: str) -> None:
    result = run_scan(str(tmp_path / "tree"), "--min-size", bad, home=tmp_path / "home")
    assert_clean_error(result, 2)


# -- sorting and the table -----------------------------------------------------------

# In `mixed`: by size (largest first) uv, venv, then the small ones; by age (oldest first)
# virtualenv, uv, conda, venv; by name (path) venv, virtualenv, uv, conda.
ORDERS = {"size": ["uv", "venv"], "age": ["virtualenv", "uv", "conda", "venv"],
          "name": ["venv", "virtualenv", "uv", "conda"]}


@pytest.mark.parametrize("key", sorted(ORDERS))
def test_sort_orders_the_json(tmp_path: Path, mixed: Dict[str, Path], key: str) -> None:
    found = scan_json(str(tmp_path / "tree"), "--sort", key, home=tmp_path / "home")
    order = [item["tool"] for item in found]
    assert order[:len(ORDERS[key])] == ORDERS[key], found


@pytest.mark.parametrize("key", sorted(ORDERS))
def test_sort_orders_the_table(tmp_path: Path, mixed: Dict[str, Path], key: str) -> None:
    result = run_scan(str(tmp_path / "tree"), "--sort", key, home=tmp_path / "home")
    assert result.code == 0, result
    rows = {tool: row_of(result.out, env) for tool, env in mixed.items()}
    order = sorted(rows, key=lambda tool: rows[tool])
    assert order[:len(ORDERS[key])] == ORDERS[key], result


def test_a_bad_sort_key_is_refused(tmp_path: Path, mixed: Dict[str, Path]) -> None:
    result = run_scan(str(tmp_path / "tree"), "--sort", "colour", home=tmp_path / "home")
    assert_clean_error(result, 2)


def row_of(out: str, env: Path) -> int:
    """The one line of the table naming `env`."""
    lines = [i for i, line in enumerate(out.splitlines()) if line.rstrip().endswith(str(env))
             or f"{env} " in line or f"{env}\t" in line]
    assert len(lines) == 1, (env, out)
    return lines[0]


def test_the_table_has_a_row_per_environment_a_total_and_a_summary(tmp_path: Path,
                                                                   mixed: Dict[str, Path]) -> None:
    result = run_scan(str(tmp_path / "tree"), home=tmp_path / "home")
    assert result.code == 0, result
    lines = result.out.splitlines()
    rows = {row_of(result.out, env) for env in mixed.values()}
    assert len(rows) == 4
    rest = [line for i, line in enumerate(lines) if i not in rows]
    assert any("total" in line.lower() for line in rest), result
    assert any(all(tool in line for tool in mixed) for line in rest), "a per-tool summary line"
    assert "\r" not in result.err and len(result.err.splitlines()) <= 1, "no progress off a terminal"


def test_on_a_terminal_the_scan_shows_its_table(tmp_path: Path, mixed: Dict[str, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for var in TOOL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for i in range(30):
        for j in range(30):
            (tmp_path / "tree" / "bulk" / f"d{i}" / f"e{j}").mkdir(parents=True)
    code, screen = on_terminal(["scan", str(tmp_path / "tree")], answer="", timeout=60)
    assert code == 0, screen
    assert "Traceback" not in screen, screen
    assert "director" in screen, "progress (directories walked) shows on the terminal"
    lines = screen.split("\n")
    for env in mixed.values():
        [row] = [line for line in lines if str(env) in line]
        assert "director" not in row.split("\r")[-1], f"progress erased before the table: {row!r}"


def test_a_registered_environment_used_lately_is_not_unused_however_old_its_files(
        cli, tmp_path: Path, home: Path) -> None:
    """For an environment envman knows, `unused` is the registry's last use (SPEC's stale
    reasons), not the age of its files."""
    project = make_project(tmp_path / "web")
    made = cli("new", "web", "--project", str(project), "--python", str(a_python()), "--without-pip", "-q")
    assert made.code == 0, made
    set_times(home / "envs" / "web", datetime.now(timezone.utc) - timedelta(days=200))
    ran = cli("run", "web", "--", "python", "-c", "pass")
    assert ran.code == 0, ran
    assert scan_json(str(home), "--older-than", "30d", home=tmp_path / "home") == []
    [item] = scan_json(str(home), home=tmp_path / "home")
    assert item["status"] == "ok", item


def test_progress_never_reaches_stdout(tmp_path: Path) -> None:
    """With stderr a terminal and stdout a pipe (`envman scan --json | jq`), stdout is the JSON alone."""
    import pty
    import subprocess

    from conftest import envman_cmd
    from scantrees import scan_env

    tree = tmp_path / "tree"
    env = make_env(make_project(tree / "web") / ".venv")
    for i in range(40):
        for j in range(40):
            (tree / "bulk" / f"d{i}" / f"e{j}").mkdir(parents=True)
    leader, follower = pty.openpty()
    shown: List[bytes] = []

    def drain() -> None:  # a terminal nobody reads would fill and block the writer
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run([*envman_cmd(), "scan", str(tree), "--json"], env=scan_env(tmp_path / "home"),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
                              timeout=120)
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    assert b"Traceback" not in b"".join(shown), shown
    assert proc.returncode == 0
    assert [item["path"] for item in json.loads(proc.stdout)] == [str(env)]


def test_a_file_also_linked_from_outside_the_result_is_not_counted(tmp_path: Path) -> None:
    """uv hard-links from its cache: deleting the environment would not free that file."""
    cache = tmp_path / "uv-cache"
    cache.mkdir()
    (cache / "wheel-file.so").write_bytes(os.urandom(2 * 1024 * 1024))
    env = make_env(make_project(tmp_path / "tree" / "web") / ".venv", "uv")
    os.link(cache / "wheel-file.so", env / "lib" / "wheel-file.so")
    [item] = scan_json(str(tmp_path / "tree"), home=tmp_path / "home")
    assert item["size_bytes"] < 1024 * 1024, item


def test_nothing_found_is_an_empty_answer(tmp_path: Path) -> None:
    (tmp_path / "tree" / "just" / "files").mkdir(parents=True)
    (tmp_path / "tree" / "just" / "files" / "notes.txt").write_text("no environment here\n")
    assert scan_json(str(tmp_path / "tree"), home=tmp_path / "home") == []
    table = run_scan(str(tmp_path / "tree"), home=tmp_path / "home")
    assert table.code == 0 and "Traceback" not in table.err, table


def test_the_total_line_counts_the_environments_listed(tmp_path: Path, mixed: Dict[str, Path]) -> None:
    result = run_scan(str(tmp_path / "tree"), "--type", "uv", "--type", "venv", home=tmp_path / "home")
    assert result.code == 0, result
    [total] = [line for line in result.out.splitlines() if line.lower().startswith("total")]
    assert re.search(r"\b2\b", total), total


def test_the_registry_says_which_project_an_adopted_environment_serves(cli, tmp_path: Path) -> None:
    env = make_env(make_project(tmp_path / "tree" / "holder") / ".venv")
    served = make_project(tmp_path / "served")
    adopted = cli("adopt", str(env), "--name", "served", "--project", str(served))
    assert adopted.code == 0, adopted
    [item] = scan_json(str(tmp_path / "tree"), home=tmp_path / "home")
    assert (item["registered"], item["project"]) == ("served", real(served)), item


def test_an_unparseable_registry_is_one_clean_error_and_nothing_deleted(tmp_path: Path, home: Path) -> None:
    env = make_env(make_project(tmp_path / "tree" / "web") / ".venv")
    home.mkdir(parents=True, exist_ok=True)
    (home / "registry.toml").write_text("schema_version = [[[\n")
    for args in ([], ["--json"], ["--delete", "--yes"], ["--adopt"]):
        result = run_scan(str(tmp_path / "tree"), *args, home=tmp_path / "home")
        assert_clean_error(result, 1)
        assert (env / "pyvenv.cfg").is_file(), result
    assert (home / "registry.toml").read_text() == "schema_version = [[[\n"


def test_the_default_scan_takes_in_envmans_store(cli, tmp_path: Path, home: Path) -> None:
    project = make_project(tmp_path / "home" / "src" / "web")
    made = cli("new", "web", "--project", str(project), "--python", str(a_python()), "--without-pip", "-q")
    assert made.code == 0, made
    found = by_path(scan_json(home=tmp_path / "home"))
    item = found[real(home / "envs" / "web")]
    assert (item["tool"], item["registered"], item["project"]) == ("envman", "web", real(project)), item


def test_scan_and_ls_size_agree_on_a_registered_environment(cli, tmp_path: Path, home: Path) -> None:
    project = make_project(tmp_path / "web")
    made = cli("new", "web", "--project", str(project), "--python", str(a_python()), "--without-pip", "-q")
    assert made.code == 0, made
    add_bytes(home / "envs" / "web", 300 * 1024)
    listed = cli("ls", "--size", "--json")
    assert listed.code == 0, listed
    [record] = json.loads(listed.out)
    [item] = scan_json(str(home), home=tmp_path / "home")
    assert item["size_bytes"] == record["size_bytes"], (item, record)


def test_a_registered_environment_whose_project_moved_is_not_project_missing(cli, tmp_path: Path,
                                                                             home: Path) -> None:
    """`ls` finds a renamed project (`moved_to`) and calls the environment ok; scan agrees."""
    project = make_project(tmp_path / "src" / "web")
    made = cli("new", "web", "--project", str(project), "--python", str(a_python()), "--without-pip", "-q")
    assert made.code == 0, made
    project.rename(tmp_path / "src" / "web-renamed")
    [record] = json.loads(cli("ls", "--json").out)
    assert record["status"] == "ok" and record["moved_to"], record
    [item] = scan_json(str(home), home=tmp_path / "home")
    assert item["status"] == "ok" and "project-missing" not in item["reasons"], item


def test_a_sparse_terabyte_and_two_hundred_links_to_one_file_count_what_is_on_disk(tmp_path: Path) -> None:
    env = make_env(make_project(tmp_path / "tree" / "web") / ".venv")
    with open(env / "lib" / "sparse.img", "wb") as handle:
        handle.truncate(1 << 40)  # a terabyte long, nothing allocated
    blob = add_bytes(env, 1024 * 1024)
    for i in range(200):
        os.link(blob, env / "lib" / f"link-{i}.bin")
    [item] = scan_json(str(tmp_path / "tree"), home=tmp_path / "home")
    assert 1024 * 1024 <= item["size_bytes"] < 2 * 1024 * 1024, item


def snapshot(*roots: Path) -> Dict[str, Any]:
    """Every entry under the roots with its kind, size and modification time."""
    seen: Dict[str, Any] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in [root, *root.rglob("*")]:
            st = os.lstat(path)
            seen[str(path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return seen


def test_a_scan_writes_nothing(cli, tmp_path: Path, home: Path) -> None:
    """Without --adopt or --delete: not the registry, not the tree walked; its cache of
    sizes once, and not again while nothing it measured changed."""
    made = cli("new", "web", "--project", str(make_project(tmp_path / "tree" / "web")), "--python",
               str(a_python()), "--without-pip", "-q")
    assert made.code == 0, made
    make_env(make_project(tmp_path / "tree" / "other") / ".venv")
    watched = (home, tmp_path / "tree", tmp_path / "xdg", tmp_path / "home")
    first = snapshot(*watched)
    assert run_scan(str(tmp_path / "tree"), str(home), home=tmp_path / "home").code == 0
    before = snapshot(*watched)
    written = {path for path in before if before[path] != first.get(path)}
    assert written == {str(home / "cache"), str(home / "cache" / "scan-sizes.json")}, written
    for args in ([], ["--json"], ["--sort", "age", "--older-than", "1d"], ["--delete", "--dry-run"]):
        result = run_scan(str(tmp_path / "tree"), str(home), *args, home=tmp_path / "home")
        assert result.code == 0, result
    assert snapshot(*watched) == before


def test_a_file_changed_in_place_is_seen_by_the_next_scan(tmp_path: Path) -> None:
    """A file rewritten or appended to changes no directory's mtime: sizes and `modified`
    remembered from an earlier scan must not make a used environment look unused to
    `--older-than ... --delete`, which measures afresh. (A plain listing may show the
    cached figures for up to a day: README, "Sizes, cached".)"""
    env = make_env(make_project(tmp_path / "tree" / "web") / ".venv")
    module = env / "lib" / "module.py"
    module.write_text("x = 1\n")
    set_times(env, datetime.now(timezone.utc) - timedelta(days=200))
    [first] = scan_json(str(tmp_path / "tree"), "--older-than", "90d", home=tmp_path / "home")
    assert "unused" in first["reasons"], first
    with open(module, "ab") as handle:  # in place: the directory's mtime stays 200 days old
        handle.write(os.urandom(4 * 1024 * 1024))
    deleting = run_scan(str(tmp_path / "tree"), "--older-than", "90d", "--delete", "--dry-run", "--json",
                        home=tmp_path / "home")
    assert deleting.code == 0 and json.loads(deleting.out) == [], deleting
    [second] = scan_json(str(tmp_path / "tree"), "--delete", "--dry-run", home=tmp_path / "home")
    assert second["size_bytes"] >= first["size_bytes"] + 4 * 1024 * 1024, (first, second)


@pytest.mark.parametrize("what", ["garbage", "fifo", "directory", "link-to-zero", "huge", "wrong-shape"])
def test_a_broken_cache_of_sizes_costs_a_walk_nothing_more(tmp_path: Path, home: Path, what: str) -> None:
    env = make_env(make_project(tmp_path / "tree" / "web") / ".venv")
    add_bytes(env, 300 * 1024)
    [fresh] = scan_json(str(tmp_path / "tree"), home=tmp_path / "home")
    cache = home / "cache" / "scan-sizes.json"
    assert cache.is_file(), "the scan keeps its cache of sizes there (README: 'but its cache of sizes')"
    cache.unlink()
    if what == "garbage":
        cache.write_bytes(b"\x00{not json" * 100)
    elif what == "fifo":
        os.mkfifo(cache)
    elif what == "directory":
        cache.mkdir()
    elif what == "link-to-zero":
        cache.symlink_to("/dev/zero")
    elif what == "huge":
        with open(cache, "wb") as handle:
            handle.truncate(64 * 1024 * 1024)
    else:
        cache.write_text(json.dumps({"version": 1, "trees": {str(env): {"size": -5, "newest": "soon"}}}))
    started = datetime.now(timezone.utc)
    result = run_scan(str(tmp_path / "tree"), "--json", home=tmp_path / "home", timeout=60)
    assert result.code == 0, result
    assert "Traceback" not in result.err, result
    assert datetime.now(timezone.utc) - started < timedelta(seconds=30)
    [item] = json.loads(result.out)
    assert (item["size_bytes"], item["modified"]) == (fresh["size_bytes"], fresh["modified"]), (item, fresh)


def test_files_added_or_removed_right_after_a_scan_are_counted(tmp_path: Path) -> None:
    """Within the same second as the scan that filled the cache."""
    env = make_env(make_project(tmp_path / "tree" / "web") / ".venv")
    [first] = scan_json(str(tmp_path / "tree"), home=tmp_path / "home")
    added = add_bytes(env, 2 * 1024 * 1024, name="added.bin")
    [second] = scan_json(str(tmp_path / "tree"), home=tmp_path / "home")
    assert second["size_bytes"] >= first["size_bytes"] + 2 * 1024 * 1024, (first, second)
    added.unlink()
    [third] = scan_json(str(tmp_path / "tree"), home=tmp_path / "home")
    assert third["size_bytes"] < first["size_bytes"] + 1024 * 1024, (first, third)


def test_the_table_shortens_only_paths_really_under_the_home(tmp_path: Path) -> None:
    """`~` for the home directory, never for a sibling that merely starts with its name
    (`~2/...` would even mean something else to bash)."""
    (tmp_path / "home").mkdir()
    inside = make_env(make_project(tmp_path / "home" / "src" / "web") / ".venv")
    sibling = make_env(make_project(tmp_path / "home2" / "web") / ".venv")
    result = run_scan(str(tmp_path / "home"), str(tmp_path / "home2"), home=tmp_path / "home")
    assert result.code == 0, result
    assert "~/src/web/.venv" in result.out and str(sibling) in result.out, result
    assert "~2" not in result.out and str(inside) not in result.out, result
