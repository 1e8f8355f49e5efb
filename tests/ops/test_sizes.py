"""`ls --size`, `info` and `prune`: disk use as what deleting would free, a hard-linked
file counted once across the listing, on real environments and in-process on trees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from envman import sizes

MIB = 1024 * 1024


def blocks(path: Path) -> int:
    return os.lstat(path).st_blocks * 512


def test_measure_counts_a_shared_file_once_and_an_outside_link_not_at_all(tmp_path: Path) -> None:
    a, b, outside = tmp_path / "a", tmp_path / "b", tmp_path / "outside"
    for d in (a, b, outside):
        (d / "sub").mkdir(parents=True)
    (a / "sub" / "shared").write_bytes(b"x" * MIB)
    os.link(a / "sub" / "shared", b / "shared")
    (a / "cached").write_bytes(b"y" * MIB)
    os.link(a / "cached", outside / "cached")  # a cache's link: deleting a and b frees nothing
    (b / "own").write_bytes(b"z" * 100_000)
    (b / "to-outside").symlink_to(outside, target_is_directory=True)  # never followed
    dirs = {d: blocks(d) + blocks(d / "sub") for d in (a, b)}

    size_a, size_b = sizes.measure([str(a), str(b)])
    assert size_a == dirs[a] + blocks(a / "sub" / "shared")
    assert size_b == dirs[b] + blocks(b / "own") + blocks(b / "to-outside")
    # The cache's link is gone: now `cached` is freed with a.
    os.unlink(outside / "cached")
    size_a += blocks(a / "cached")
    assert sizes.measure([str(a), str(b)]) == [size_a, size_b]
    # Alone, a frees its own files only: `shared` stays, linked from b.
    assert sizes.measure([str(a)]) == [dirs[a] + blocks(a / "cached")]
    # Missing, a link, nothing to delete, the same directory twice.
    (tmp_path / "link").symlink_to(a, target_is_directory=True)
    assert sizes.measure([str(tmp_path / "gone"), str(tmp_path / "link"), None]) == [0, 0, 0]
    assert sizes.measure([str(b), str(b)]) == [size_b, 0]
    if shutil.which("du"):
        du = subprocess.run(["du", "-s", "-B1", "-P", str(a), str(b)], capture_output=True, text=True)
        assert sum(int(line.split()[0]) for line in du.stdout.splitlines()) == size_a + size_b


@pytest.fixture
def two_sharing(cli, tmp_path: Path, home: Path) -> Dict[str, Path]:
    """Two real environments sharing a 2 MiB file through a hard link (as seeding from one
    image makes them share), each with a 1 MiB file of its own."""
    projects = {}
    for name in ("one", "two"):
        projects[name] = tmp_path / name
        projects[name].mkdir()
        assert cli("new", name, "--without-pip", "-q", cwd=projects[name]).code == 0
    envs = home / "envs"
    (envs / "one" / "lib" / "shared.bin").write_bytes(os.urandom(2 * MIB))
    os.link(envs / "one" / "lib" / "shared.bin", envs / "two" / "lib" / "shared.bin")
    for name in ("one", "two"):
        (envs / name / "own.bin").write_bytes(os.urandom(MIB))
    return projects


def test_ls_size_counts_shared_files_once_and_prune_frees_the_same(cli, home: Path,
                                                                   two_sharing: Dict[str, Path]) -> None:
    plain = json.loads(cli("ls", "--json").out)
    assert all("size_bytes" not in e for e in plain), "plain ls does not walk"
    listed = {e["name"]: e["size_bytes"] for e in json.loads(cli("ls", "--size", "--json").out)}
    envs = home / "envs"
    du = subprocess.run(["du", "-s", "-B1", "-P", str(envs / "one"), str(envs / "two")],
                        capture_output=True, text=True, check=True)
    total = sum(int(line.split()[0]) for line in du.stdout.splitlines())  # du too counts a link once
    assert sum(listed.values()) == total
    assert listed["one"] - listed["two"] == blocks(envs / "one" / "lib" / "shared.bin")

    table = cli("ls", "--size")
    assert table.code == 0 and table.out.splitlines()[0].split()[:5] == \
        ["NAME", "PYTHON", "LAST", "USED", "SIZE"], table
    assert f"total: {sizes.human_size(total)} in 2 environment(s)" in table.out, table

    alone = json.loads(cli("info", "two", "--json").out)["size_bytes"]
    assert alone == listed["two"], "the shared file stays while one still links it"
    assert "size:" in cli("info", "two").out

    for project in two_sharing.values():
        shutil.rmtree(project)
    stale_total = sum(e["size_bytes"] for e in json.loads(cli("ls", "--stale", "--size", "--json").out))
    assert stale_total == total
    plan = json.loads(cli("prune", "--dry-run", "--json").out)
    assert sum(e["size_bytes"] for e in plan["environments"]) == total
    pruned = cli("prune", "--yes", "--json")
    assert pruned.code == 0, pruned
    assert json.loads(pruned.out)["freed_bytes"] == total
    assert not (envs / "one").exists() and not (envs / "two").exists()
