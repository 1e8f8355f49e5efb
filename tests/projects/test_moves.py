"""Moved and renamed projects, for real: directories moved with `os.rename`, environments
built by the real CLI, then followed by `ls`, by commands run from inside, by `envman mv`
and by `prune`; and directories that merely reuse a deleted project's inode number."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict

import pytest

from conftest import assert_clean_error


def make_project(path: Path) -> Path:
    """A project with something in it, as projects have."""
    (path / "src" / "pkg").mkdir(parents=True)
    (path / ".git").mkdir()
    (path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (path / "README.md").write_text("hello\n")
    return path


def new(cli, project: Path, name: str) -> Dict[str, Any]:
    result = cli("new", name, "--without-pip", "--json", cwd=project)
    assert result.code == 0, result
    return json.loads(result.out)


def entry(cli, name: str) -> Dict[str, Any]:
    result = cli("ls", "--json")
    assert result.code == 0, result
    return {e["name"]: e for e in json.loads(result.out)}[name]


def recorded_project(home: Path, name: str) -> str:
    from envman.fsutil import tomllib

    return tomllib().loads((home / "registry.toml").read_text())["envs"][name]["project"]


def marker_project(home: Path, name: str) -> str:
    from envman.fsutil import tomllib

    return tomllib().loads((home / "envs" / name / ".envman-marker.toml").read_text())["record"]["project"]


def test_a_project_moved_three_ways_is_followed(cli, tmp_path: Path, home: Path) -> None:
    src = tmp_path / "src"
    project = make_project(src / "api")
    new(cli, project, "api")

    # Renamed in place: `ls` finds it in the old parent, read-only, and calls it moved.
    renamed = src / "api-v2"
    os.rename(project, renamed)
    registry_before = (home / "registry.toml").read_bytes()
    listed = entry(cli, "api")
    assert listed["moved_to"] == str(renamed) and listed["reasons"] == [] and listed["status"] == "ok"
    table = cli("ls")
    assert table.code == 0 and f"moved: {renamed}" in table.out, table
    assert f"envman mv api --project {renamed}" in table.err
    assert (home / "registry.toml").read_bytes() == registry_before, "ls wrote nothing"

    # `activate` from a subdirectory of the renamed project re-points the record.
    active = cli("activate", "--json", cwd=renamed / "src" / "pkg")
    assert active.code == 0, active
    assert json.loads(active.out)["set"]["VIRTUAL_ENV"] == str(home / "envs" / "api")
    assert "moved from" in active.err and str(renamed) in active.err
    assert recorded_project(home, "api") == str(renamed) == marker_project(home, "api")
    assert entry(cli, "api")["moved_to"] is None

    # Into another parent (a sibling of the old one): `ls` still finds it; `path` follows it.
    code = tmp_path / "code"
    code.mkdir()
    elsewhere = code / "api"
    os.rename(renamed, elsewhere)
    assert entry(cli, "api")["moved_to"] == str(elsewhere)
    found = cli("path", cwd=elsewhere)
    assert found.code == 0 and found.out.strip() == str(home / "envs" / "api"), found
    assert recorded_project(home, "api") == str(elsewhere)

    # Deeper, out of the search's reach: `ls` calls it missing; `run .` from inside follows
    # it, and so does `envman mv` after another move.
    deeper = tmp_path / "archive" / "2026" / "q4" / "api"
    deeper.parent.mkdir(parents=True)
    os.rename(elsewhere, deeper)
    assert entry(cli, "api")["reasons"] == ["project-missing"]
    ran = cli("run", ".", "--", "python", "-c", "import sys; print(sys.prefix)", cwd=deeper)
    assert ran.code == 0 and ran.out.strip() == str(home / "envs" / "api"), ran
    assert recorded_project(home, "api") == str(deeper)
    last = tmp_path / "last" / "api"
    last.parent.mkdir()
    os.rename(deeper, last)
    moved = cli("mv", "api", "--project", str(last))
    assert moved.code == 0, moved
    assert recorded_project(home, "api") == str(last) == marker_project(home, "api")
    assert entry(cli, "api")["status"] == "ok"

    # A lost registry, rebuilt from the markers, keeps the new place.
    (home / "registry.toml").unlink()
    assert cli("doctor", "--fix").code == 0
    assert recorded_project(home, "api") == str(last)


def test_mv_project_refuses_bad_input_and_changes_nothing(cli, tmp_path: Path, home: Path) -> None:
    project = make_project(tmp_path / "web")
    new(cli, project, "web")
    before = ((home / "registry.toml").read_bytes(), (home / "envs" / "web" / ".envman-marker.toml").read_bytes())
    assert_clean_error(cli("mv", "web", "--project", str(tmp_path / "nowhere")), 2)
    assert_clean_error(cli("mv", "nope", "--project", str(project)), 3)
    assert_clean_error(cli("mv", "web"), 2)
    assert_clean_error(cli("mv", "web", "web2", "--project", str(project)), 2)
    after = ((home / "registry.toml").read_bytes(), (home / "envs" / "web" / ".envman-marker.toml").read_bytes())
    assert after == before


def test_prune_keeps_a_renamed_project_and_deletes_a_real_orphan(cli, tmp_path: Path, home: Path) -> None:
    src = tmp_path / "src"
    kept, orphan = make_project(src / "kept"), make_project(src / "orphan")
    new(cli, kept, "kept")
    new(cli, orphan, "orphan")
    os.rename(kept, src / "kept-renamed")
    shutil.rmtree(orphan)
    result = cli("prune", "--yes")
    assert result.code == 0, result
    assert "keep    kept: its project moved to" in result.err and "removed 'orphan'" in result.err
    assert (home / "envs" / "kept" / "pyvenv.cfg").exists()
    assert not (home / "envs" / "orphan").exists()
    listed = json.loads(cli("ls", "--json").out)
    assert [(e["name"], e["moved_to"]) for e in listed] == [("kept", str(src / "kept-renamed"))]
    plan = json.loads(cli("prune", "--dry-run", "--json").out)
    assert [e["name"] for e in plan["kept"]] == ["kept"] and plan["environments"] == []


def test_fresh_directories_reusing_a_deleted_projects_inode_are_not_it(cli, tmp_path: Path,
                                                                         home: Path) -> None:
    from envman.projects import identity, moves
    from envman.store import registry
    from envman.store.layout import Store

    src = tmp_path / "src"
    project = make_project(src / "gone")
    new(cli, project, "gone")
    inode = os.stat(project).st_ino
    shutil.rmtree(project)
    store = Store.from_environment()
    current = registry.load(store)
    record = current.find("gone")
    assert record is not None and record.project_identity is not None
    reused = 0
    for i in range(30):
        # Each one as like the deleted project as a new directory can be: same place,
        # same names inside; file systems hand out the freed inode numbers again.
        fresh = make_project(src / f"fresh{i}")
        reused += os.stat(fresh).st_ino == inode
        assert moves.at(current, fresh) is None, fresh
        assert not identity.recognise(record.project_identity, str(fresh), record.path)
        assert moves.Search().find(record) is None
    print(f"{reused} of 30 fresh directories reused the deleted project's inode number")
    assert entry(cli, "gone")["reasons"] == ["project-missing"]
    assert_clean_error(cli("activate", "--json", cwd=src / "fresh0"), 3)
    assert recorded_project(home, "gone") == str(project)


def test_without_birth_times_the_entries_decide(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the file system keeps no birth time, a rename carries the files as they were
    (inode numbers and modification times), and a look-alike made afresh does not, even
    where it gets the same inode numbers (ext4 hands them out again in order)."""
    from envman.projects import identity

    monkeypatch.setattr(identity, "birth_ns", lambda directory, st=None: None)
    project = make_project(tmp_path / "p")
    taken = identity.take(str(project))
    assert taken is not None and taken.birth_ns is None and len(taken.entries) == 2
    moved = tmp_path / "p2"
    os.rename(project, moved)
    (moved / "README.md").unlink()  # a project changes a little
    (moved / "NEW.txt").write_text("x")
    assert identity.recognise(taken, str(moved), "/nowhere")
    shutil.rmtree(moved)
    for i in range(30):
        fresh = make_project(tmp_path / f"fresh{i}")
        # Pretend each fresh one got the inode number too: its entries still give it away.
        same = taken.__class__(os.stat(fresh).st_dev, os.stat(fresh).st_ino, None, taken.entries)
        assert not identity.recognise(same, str(fresh), "/nowhere"), fresh
    empty = identity.take(str(tmp_path / "fresh0" / "src" / "pkg"))
    assert empty is not None and not identity.recognise(empty, str(tmp_path / "fresh0" / "src" / "pkg"),
                                                        "/nowhere"), "nothing to tell it by: not taken"


def test_a_moved_project_carries_its_venv_link_which_names_its_environment(cli, tmp_path: Path,
                                                                           home: Path) -> None:
    """Even with nothing else to tell it by (no identity recorded, as for a record from an
    older envman), the `.venv` link a project carries names its environment exactly."""
    from envman.store import registry
    from envman.store.layout import Store

    project = make_project(tmp_path / "src" / "web")
    made = cli("new", "web", "--without-pip", "--link", cwd=project)
    assert made.code == 0, made
    registry.update(Store.from_environment(), lambda current: current.with_record(
        current.envs["web"].with_changes(project_identity=None)))

    renamed = tmp_path / "src" / "web2"
    os.rename(project, renamed)
    assert entry(cli, "web")["moved_to"] == str(renamed), "ls finds it by its link"
    deeper = tmp_path / "far" / "away" / "from" / "web"
    deeper.parent.mkdir(parents=True)
    os.rename(renamed, deeper)
    active = cli("activate", "--json", cwd=deeper / "src")
    assert active.code == 0 and "moved from" in active.err, active
    assert recorded_project(home, "web") == str(deeper)
    # The editor's view still works from the new place, and rm takes the link along.
    assert os.readlink(deeper / ".venv") == str(home / "envs" / "web")
    assert (deeper / ".venv" / "bin" / "python").exists()
    assert cli("rm", "web", "--yes").code == 0
    assert not os.path.lexists(deeper / ".venv")
    assert sorted(p.name for p in deeper.iterdir()) == [".git", "README.md", "pyproject.toml", "src"]


def test_rm_by_name_removes_the_link_of_a_project_that_moved_meanwhile(cli, tmp_path: Path,
                                                                        home: Path) -> None:
    project = make_project(tmp_path / "src" / "web")
    assert cli("new", "web", "--without-pip", "--link", cwd=project).code == 0
    renamed = tmp_path / "src" / "web-renamed"
    os.rename(project, renamed)
    assert cli("rm", "web", "--yes").code == 0
    assert not os.path.lexists(renamed / ".venv"), "no dangling link left in the moved project"
    assert sorted(p.name for p in renamed.iterdir()) == [".git", "README.md", "pyproject.toml", "src"]
