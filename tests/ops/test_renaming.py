"""`envman mv NAME NEWNAME` and the `.venv` link, for real: a rename keeps the installed
packages and the link follows it; `kill -9` at every step of a rename leaves a store
`doctor --fix` finishes; the link is never made over, or removed from, anything that is
not envman's link to that environment."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import assert_clean_error, entries
from test_faults import healthy, kill_at


def test_rename_keeps_packages_and_the_link_follows(cli, tmp_path: Path, home: Path, requirements,
                                                    wheelhouse: Path) -> None:
    project = tmp_path / "project"
    reqs = requirements("tinyapp")
    made = cli("new", "web", "--link", "-r", str(reqs), "--quiet", cwd=project)
    assert made.code == 0, made
    link = project / ".venv"
    assert os.readlink(link) == str(home / "envs" / "web")
    # What an editor does: run the project's .venv/bin/python.
    editor = subprocess.run([str(link / "bin" / "python"), "-c", "import tinyapp, tinydep"],
                            capture_output=True, text=True)
    assert editor.returncode == 0, editor.stderr
    before = json.loads(cli("info", "web", "--json").out)

    renamed = cli("mv", "web", "site", env={"PIP_FIND_LINKS": str(wheelhouse)})
    assert renamed.code == 0, renamed
    assert "tinyapp==1.0" in renamed.err and "now links to it" in renamed.err
    assert entries(home / "envs") == ["site"]
    assert os.readlink(link) == str(home / "envs" / "site")
    ran = cli("run", "site", "--", "python", "-c", "import sys, tinyapp, tinydep; print(sys.prefix)")
    assert ran.code == 0 and ran.out.strip() == str(home / "envs" / "site"), ran
    after = json.loads(cli("info", "site", "--json").out)
    assert (after["python"], after["project"], after["requirements"], after["created"]) == \
        (before["python"], before["project"], before["requirements"], before["created"])
    assert_clean_error(cli("info", "web"), 3)
    assert cli("doctor").code == 0

    removed = cli("rm", "site", "--yes")
    assert removed.code == 0, removed
    assert not os.path.lexists(link), "rm removed its own link"


def test_rename_refuses_taken_and_bad_names(cli, tmp_path: Path, home: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        assert cli("new", name, "--without-pip", cwd=tmp_path / name).code == 0
    before = ((home / "registry.toml").read_bytes(), entries(home / "envs"))
    assert_clean_error(cli("mv", "one", "TWO"), 2)
    assert_clean_error(cli("mv", "one", "One"), 2)
    assert_clean_error(cli("mv", "one", "bad/name"), 2)
    assert_clean_error(cli("mv", "nope", "three"), 3)
    assert ((home / "registry.toml").read_bytes(), entries(home / "envs")) == before


@pytest.mark.parametrize("point, survivor", [
    ("reserve", "old"), ("backup", "old"), ("ready", "new"), ("registered", "new"), ("trash", "new")])
def test_rename_killed_at_each_step_is_finished_by_doctor(cli, home: Path, project: Path,
                                                          point: str, survivor: str) -> None:
    (project / "setup.cfg").write_text("x")
    assert cli("new", "old", "--without-pip", "--link", cwd=project).code == 0
    kill_at(["mv", "old", "new"], point, project)
    report = cli("doctor", "--fix")
    assert report.code == 0, report
    if point == "ready":
        assert "interrupted-rename" in report.err, report
    healthy(cli, home, [survivor])
    assert [e["name"] for e in json.loads(cli("ls", "--json").out)] == [survivor]
    assert os.readlink(project / ".venv") == str(home / "envs" / survivor)
    other = "new" if survivor == "old" else "old"
    assert cli("new", other, "--without-pip", cwd=project).code == 0, "both names usable"


def test_the_link_is_never_made_over_or_removed_from_what_is_not_ours(cli, tmp_path: Path,
                                                                       home: Path) -> None:
    real = tmp_path / "real"
    (real / ".venv").mkdir(parents=True)
    (real / ".venv" / "keep").write_text("mine")
    made = cli("new", "real", "--without-pip", "--link", cwd=real)
    assert_clean_error(made, 2)
    assert not (home / "envs").exists() or entries(home / "envs") == [], "nothing was built"
    assert cli("new", "real", "--without-pip", cwd=real).code == 0
    assert_clean_error(cli("link", "real"), 2)
    assert (real / ".venv" / "keep").read_text() == "mine"

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    elsewhere = tmp_path / "their-venv"
    elsewhere.mkdir()
    (theirs / ".venv").symlink_to(elsewhere)
    assert cli("new", "theirs", "--without-pip", cwd=theirs).code == 0
    assert_clean_error(cli("link", cwd=theirs), 2)
    assert_clean_error(cli("link", "theirs", "--remove"), 2)
    assert cli("rm", "theirs", "real", "--yes").code == 0
    assert os.readlink(theirs / ".venv") == str(elsewhere), "someone else's link stays"
    assert (real / ".venv" / "keep").read_text() == "mine"

    mine = tmp_path / "mine"
    mine.mkdir()
    assert cli("new", "mine", "--without-pip", cwd=mine).code == 0
    assert cli("link", cwd=mine).code == 0
    again = cli("link", "mine")
    assert again.code == 0 and "already links" in again.err
    assert cli("link", "mine", "--remove").code == 0
    assert not os.path.lexists(mine / ".venv")
    # Replaced by the person with a directory of their own: rm leaves it.
    assert cli("link", "mine").code == 0
    (mine / ".venv").unlink()
    (mine / ".venv").mkdir()
    assert cli("rm", "mine", "--yes").code == 0
    assert (mine / ".venv").is_dir()


def test_rename_refuses_what_a_rebuild_would_lose(cli, home: Path, project: Path) -> None:
    """A module copied into site-packages by hand belongs to no distribution: a rename,
    which rebuilds from the distributions, refuses rather than drop it."""
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    [site] = list((home / "envs" / "web").glob("lib/python*/site-packages"))
    (site / "mymod.py").write_text("X = 1\n")
    before = ((home / "registry.toml").read_bytes(), entries(home / "envs"))
    refused = cli("mv", "web", "site")
    assert_clean_error(refused, 2)
    assert "mymod.py" in refused.err, refused
    assert ((home / "registry.toml").read_bytes(), entries(home / "envs")) == before
    ran = cli("run", "web", "--", "python", "-c", "import mymod")
    assert ran.code == 0, ran


def test_an_interruption_after_the_commit_keeps_the_link_on_the_new_environment(
        cli, home: Path, project: Path) -> None:
    """SIGTERM once the new record is saved (deleting the old environment): the rename is
    done, so the link stays on the new one."""
    import signal

    from test_faults import start, wait_stopped

    assert cli("new", "old", "--without-pip", "--link", cwd=project).code == 0
    proc = start(["mv", "old", "new"], "unlink", project)
    wait_stopped(proc)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    proc.communicate(timeout=60)
    healthy(cli, home, ["new"])
    assert os.readlink(project / ".venv") == str(home / "envs" / "new")


def test_the_link_follows_a_rename_of_an_environment_whose_project_moved(
        cli, tmp_path: Path, home: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "README").write_text("hi")
    assert cli("new", "a", "--without-pip", "--link", cwd=project).code == 0
    moved = tmp_path / "proj2"
    project.rename(moved)
    assert cli("mv", "a", "b").code == 0
    assert os.readlink(moved / ".venv") == str(home / "envs" / "b")


@pytest.mark.parametrize("point", ["backup", "write:registry.toml", "trash"])
def test_doctor_killed_while_finishing_a_rename_leaves_one_environment(
        cli, home: Path, project: Path, point: str) -> None:
    """A rename killed once its new environment was ready is finished by doctor --fix;
    killing that doctor too, at each of its steps, still ends with one record."""
    (project / "setup.cfg").write_text("x")
    assert cli("new", "old", "--without-pip", "--link", cwd=project).code == 0
    kill_at(["mv", "old", "new"], "ready", project)
    kill_at(["doctor", "--fix"], point, project)
    healthy(cli, home, ["new"])
    assert [e["name"] for e in json.loads(cli("ls", "--json").out)] == ["new"]
    assert os.readlink(project / ".venv") == str(home / "envs" / "new")
