"""The `.venv` link's moves, in process: whatever stands at `.venv` when envman acts is
what it checks, so a link or directory swapped in after the check is never removed or
replaced; a killed update's temporary link is found and removed by doctor."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from envman.projects import links
from envman.models import EnvRecord


def record(project: Path, env: Path, name: str = "web") -> EnvRecord:
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return EnvRecord(name=name, id=name * 4, path=str(env), project=str(project), python="3.11.7",
                     python_executable="/usr/bin/python3", created=moment, last_used=moment)


@pytest.fixture
def place(tmp_path: Path):
    project, env, other = tmp_path / "project", tmp_path / "envs" / "web", tmp_path / "theirs"
    for directory in (project, env, other):
        directory.mkdir(parents=True)
    return project, env, other


def swapped_after_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check sees envman's link; by the time envman acts, something else is there."""
    monkeypatch.setattr(links, "links_to", lambda directory, env_path: True)


def test_remove_never_removes_a_link_swapped_in(place, monkeypatch: pytest.MonkeyPatch) -> None:
    project, env, other = place
    (project / ".venv").symlink_to(other)
    swapped_after_the_check(monkeypatch)
    assert links.remove(record(project, env), str(project)) is False
    assert os.readlink(project / ".venv") == str(other)
    assert sorted(os.listdir(project)) == [".venv"], "nothing left beside it"


def test_remove_never_removes_a_directory_swapped_in(place, monkeypatch: pytest.MonkeyPatch) -> None:
    project, env, _ = place
    (project / ".venv").mkdir()
    (project / ".venv" / "keep").write_text("mine")
    swapped_after_the_check(monkeypatch)
    assert links.remove(record(project, env), str(project)) is False
    assert (project / ".venv" / "keep").read_text() == "mine"
    assert sorted(os.listdir(project)) == [".venv"]


def test_follow_rename_never_replaces_a_link_swapped_in(place, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    project, env, other = place
    new_env = tmp_path / "envs" / "site"
    new_env.mkdir()
    (project / ".venv").symlink_to(other)
    swapped_after_the_check(monkeypatch)
    assert links.follow_rename(record(project, env), record(project, new_env, "site"), str(project)) is False
    assert os.readlink(project / ".venv") == str(other)
    assert sorted(os.listdir(project)) == [".venv"]


def test_remove_and_follow_rename_do_their_job(place, tmp_path: Path) -> None:
    project, env, _ = place
    new_env = tmp_path / "envs" / "site"
    new_env.mkdir()
    (project / ".venv").symlink_to(env)
    assert links.follow_rename(record(project, env), record(project, new_env, "site"), str(project)) is True
    assert os.readlink(project / ".venv") == str(new_env)
    assert links.remove(record(project, new_env, "site"), str(project)) is True
    assert os.listdir(project) == []


def test_doctor_removes_a_dead_writers_temporary_link_only(cli, project: Path, home: Path) -> None:
    assert cli("new", "web", "--without-pip", "--link", cwd=project).code == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    stray = project / f"{links.TEMP_PREFIX}{dead.pid}-0badc0de"
    stray.symlink_to(home / "envs" / "web")
    live = project / f"{links.TEMP_PREFIX}{os.getpid()}-0badc0de"
    live.symlink_to(home / "envs" / "web")
    report = cli("doctor")
    assert report.code == 1 and "link-leftover" in report.err and str(stray) in report.err, report
    assert str(live) not in report.err
    assert cli("doctor", "--fix").code == 0
    assert not os.path.lexists(stray) and os.path.islink(live)
    assert os.readlink(project / ".venv") == str(home / "envs" / "web")


def test_doctor_puts_back_a_link_caught_between_its_two_names(cli, project: Path, home: Path,
                                                             tmp_path: Path) -> None:
    """Killed between taking `.venv` aside and placing the new one: the temporary link
    naming the project's registered environment becomes `.venv` again; the other goes."""
    assert cli("new", "web", "--without-pip", "--link", cwd=project).code == 0
    (project / ".venv").unlink()
    dead = subprocess.Popen(["true"])
    dead.wait()
    ours = project / f"{links.TEMP_PREFIX}{dead.pid}-aaaaaaaa"
    ours.symlink_to(home / "envs" / "web")
    gone = project / f"{links.TEMP_PREFIX}{dead.pid}-bbbbbbbb"
    gone.symlink_to(tmp_path / "deleted-env")
    fixed = cli("doctor", "--fix")
    assert fixed.code == 0, fixed
    assert os.readlink(project / ".venv") == str(home / "envs" / "web")
    assert sorted(os.listdir(project)) == [".venv"]
