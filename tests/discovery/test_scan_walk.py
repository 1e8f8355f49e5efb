"""How `envman scan` walks: what it skips (`.git`, `node_modules`, `__pycache__`, the
inside of an environment), DIRs that overlap or are environments themselves, relative and
missing DIRs, deep trees, and marker files that are links or garbage."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import assert_clean_error
from scantrees import (scan_found_soon, by_path, make_canaries, make_conda_env, make_env, make_project, real,
                       run_scan, scan_json, tree_bytes)


def test_skipped_directories_and_the_inside_of_an_environment_are_not_listed(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    outer = make_env(make_project(tree / "web") / ".venv")
    make_env(outer / "src" / "vendored" / ".venv")  # inside an environment
    make_env(outer / "lib" / "nested-env")
    make_env(tree / "web" / "node_modules" / "pkg" / ".venv")
    make_env(tree / "web" / ".git" / "modules" / "sub" / ".venv")
    make_env(tree / "web" / "__pycache__" / "odd")
    kept = make_env(make_project(tree / "web" / "services" / "api") / ".venv")
    found = by_path(scan_json(str(tree), home=tmp_path / "home"))
    assert set(found) == {real(outer), real(kept)}, found


def test_overlapping_dirs_list_each_environment_once(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    one = make_env(make_project(tree / "one") / ".venv")
    two = make_env(make_project(tree / "sub" / "two") / ".venv")
    (tmp_path / "alias").symlink_to(tree)
    found = scan_json(str(tree), str(tree / "sub"), str(tree), str(tree / "one" / ".venv"),
                      str(tmp_path / "alias"), str(tree) + "/", str(tree / "sub" / ".." / "one"),
                      home=tmp_path / "home")
    assert set(by_path(found)) == {real(one), real(two)}, found  # by_path fails on a duplicate


def test_a_dir_that_is_an_environment_is_listed(tmp_path: Path) -> None:
    env = make_env(make_project(tmp_path / "web") / ".venv")
    conda = make_conda_env(tmp_path / "conda-env")
    found = by_path(scan_json(str(env), str(conda), home=tmp_path / "home"))
    assert set(found) == {real(env), real(conda)}, found
    assert found[real(env)]["project"] == real(tmp_path / "web")


def test_a_relative_dir_gives_absolute_paths(tmp_path: Path) -> None:
    env = make_env(make_project(tmp_path / "tree" / "web") / ".venv")
    result = run_scan("tree", "--json", home=tmp_path / "home", cwd=tmp_path)
    assert result.code == 0, result
    [item] = json.loads(result.out)
    assert item["path"] == str(env) and item["project"] == str(tmp_path / "tree" / "web"), item


@pytest.mark.parametrize("what", ["missing", "file"])
def test_a_dir_that_is_no_directory_is_refused(tmp_path: Path, what: str) -> None:
    target = tmp_path / "not-there"
    if what == "file":
        target.write_text("a file\n")
    result = run_scan(str(target), home=tmp_path / "home")
    assert_clean_error(result, 2)
    assert str(target) in result.err, result


def test_a_deep_tree_is_walked_without_error(tmp_path: Path) -> None:
    deep = tmp_path / "tree"
    os.makedirs(deep)
    fd = os.open(deep, os.O_RDONLY)
    try:
        for _ in range(1200):  # deeper than any recursion limit; each level one short name
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.mkdir("proj", dir_fd=fd)
    finally:
        os.close(fd)
    bottom = Path(str(deep) + "/d" * 1200) / "proj"
    if len(str(bottom)) < 3900:  # a path the tools below can still name
        make_env(bottom / ".venv")
    try:
        result = run_scan(str(deep), "--json", home=tmp_path / "home", timeout=120)
    finally:  # pytest's own clean-up recurses, and would fail on this tree later
        subprocess.run(["rm", "-rf", str(deep)], check=True)
    assert result.code == 0, result
    assert "Traceback" not in result.err, result
    found = json.loads(result.out)
    if len(str(bottom)) < 3900:
        assert [item["path"] for item in found] == [str(bottom / ".venv")], found


def test_marker_files_that_are_links_or_garbage_do_not_break_the_scan(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    foreign = tmp_path / "foreign"
    before = make_canaries(foreign)
    os.mkfifo(foreign / "a-fifo")
    before = tree_bytes(foreign)
    cases = {
        "cfg-to-zero": lambda d: (d / "pyvenv.cfg").symlink_to("/dev/zero"),
        "cfg-to-urandom": lambda d: (d / "pyvenv.cfg").symlink_to("/dev/urandom"),
        "cfg-to-fifo": lambda d: (d / "pyvenv.cfg").symlink_to(foreign / "a-fifo"),
        "cfg-to-foreign": lambda d: (d / "pyvenv.cfg").symlink_to(foreign / ".venv" / "pyvenv.cfg"),
        "cfg-is-dir": lambda d: (d / "pyvenv.cfg").mkdir(),
        "cfg-empty": lambda d: (d / "pyvenv.cfg").write_text(""),
        "cfg-garbage": lambda d: (d / "pyvenv.cfg").write_bytes(os.urandom(2048)),
        "cfg-no-equals": lambda d: (d / "pyvenv.cfg").write_text("home\nversion\n\x00\x00\n"),
        "meta-to-foreign": lambda d: (d / "conda-meta").symlink_to(foreign),
        "meta-is-file": lambda d: (d / "conda-meta").write_text("not a directory\n"),
    }
    for name, make in cases.items():
        (tree / name).mkdir(parents=True)
        make(tree / name)
    ours = make_env(make_project(tree / "ours") / ".venv")
    found = scan_found_soon(tree, tmp_path / "home")
    assert real(ours) in found
    for name in ("cfg-to-zero", "cfg-to-urandom", "cfg-to-fifo", "cfg-to-foreign", "cfg-is-dir",
                 "meta-to-foreign", "meta-is-file"):
        assert real(tree / name) not in found, (name, found[real(tree / name)])
    deleted = run_scan(str(tree), "--delete", "--yes", home=tmp_path / "home", timeout=60)
    assert "Traceback" not in deleted.err, deleted
    assert tree_bytes(foreign) == before
    for name in ("cfg-to-zero", "cfg-to-fifo", "cfg-to-foreign", "meta-to-foreign"):
        assert (tree / name).is_dir(), f"{name}: a directory whose marker is a link is no environment"


def test_a_dir_given_as_a_link_is_walked_as_its_target(tmp_path: Path) -> None:
    """Like `find -H`: the link the person typed is followed, no link below it."""
    env = make_env(make_project(tmp_path / "real-tree" / "web") / ".venv")
    (tmp_path / "real-tree" / "web" / "link-out").symlink_to(tmp_path / "elsewhere")
    make_env(tmp_path / "elsewhere" / ".venv")
    (tmp_path / "typed").symlink_to(tmp_path / "real-tree")
    found = scan_json(str(tmp_path / "typed"), home=tmp_path / "home")
    assert [item["path"] for item in found] == [str(env)], found
