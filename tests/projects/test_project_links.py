"""The `.venv` link follows its environment's mapping: `mv --project` moves it, `doctor`
finds one naming no environment of its project, and a killed `mv --project` or
`link --remove` is finished by `doctor --fix` without losing anything of the person's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List

import pytest

from test_faults import start, wait_stopped

from envman.projects import links


def projects(tmp_path: Path, *names: str) -> List[Path]:
    made = []
    for name in names:
        directory = tmp_path / name
        directory.mkdir()
        (directory / "main.py").write_text("print('hi')\n")
        made.append(directory)
    return made


def venv_links(*dirs: Path) -> List[str]:
    """Every `.venv`-like link in `dirs` (temporary ones too), as `DIR/NAME -> TARGET`."""
    found = []
    for directory in dirs:
        for name in sorted(os.listdir(directory)):
            path = directory / name
            if name.startswith(".venv") and path.is_symlink():
                found.append(f"{directory.name}/{name} -> {os.readlink(path)}")
    return found


def test_mv_project_moves_the_link_and_a_reused_name_is_not_reached(cli, tmp_path: Path, home: Path) -> None:
    a, b, c = projects(tmp_path, "a", "b", "c")
    assert cli("new", "web", "--without-pip", "--link", cwd=a).code == 0
    moved = cli("mv", "web", "--project", str(b))
    assert moved.code == 0, moved
    assert "the .venv link moved with it" in moved.err, moved
    assert venv_links(a, b) == [f"b/.venv -> {home / 'envs' / 'web'}"]
    assert cli("doctor").code == 0
    assert cli("rm", "web", "--yes").code == 0
    assert cli("new", "web", "--without-pip", cwd=c).code == 0
    assert venv_links(a, b, c) == [], "no link left that reaches c's environment"


def test_mv_project_never_replaces_the_new_projects_own_venv(cli, tmp_path: Path, home: Path) -> None:
    a, b = projects(tmp_path, "a", "b")
    (b / ".venv").mkdir()
    (b / ".venv" / "keep.txt").write_text("mine")
    assert cli("new", "web", "--without-pip", "--link", cwd=a).code == 0
    moved = cli("mv", "web", "--project", str(b))
    assert moved.code == 0 and "was left alone" in moved.err, moved
    assert (b / ".venv" / "keep.txt").read_text() == "mine"
    assert not os.path.lexists(a / ".venv")


def test_doctor_finds_and_removes_a_link_naming_no_environment_of_its_project(cli, tmp_path: Path,
                                                                             home: Path) -> None:
    """What an older envman's `mv --project` left: `a/.venv` names `web`, now c's."""
    a, c, d = projects(tmp_path, "a", "c", "d")
    assert cli("new", "api", "--without-pip", cwd=a).code == 0
    assert cli("new", "web", "--without-pip", cwd=c).code == 0
    assert cli("new", "tool", "--without-pip", cwd=d).code == 0
    (a / ".venv").symlink_to(home / "envs" / "web")
    (d / ".venv").symlink_to(tmp_path / "somewhere-else")  # not into the store: not envman's
    report = cli("doctor")
    assert report.code == 1 and "link-stale" in report.err and str(a / ".venv") in report.err, report
    assert str(d / ".venv") not in report.err
    fixed = cli("doctor", "--fix")
    assert fixed.code == 0, fixed
    assert not os.path.lexists(a / ".venv")
    assert os.readlink(d / ".venv") == str(tmp_path / "somewhere-else")
    assert (home / "envs" / "web" / "pyvenv.cfg").is_file()
    assert cli("doctor").code == 0


@pytest.mark.parametrize("point", ["write:.envman-marker.toml", "write:registry.toml", "pointed", "linked"])
def test_mv_project_killed_at_each_step_leaves_one_link_after_doctor(cli, tmp_path: Path, home: Path,
                                                                   point: str) -> None:
    a, b = projects(tmp_path, "a", "b")
    assert cli("new", "web", "--without-pip", "--link", cwd=a).code == 0
    proc = start(["mv", "web", "--project", str(b)], point)
    wait_stopped(proc)
    proc.kill()
    proc.communicate(timeout=30)
    fixed = cli("doctor", "--fix")
    assert fixed.code == 0, fixed
    assert cli("doctor").code == 0, cli("doctor")
    owner = Path(cli("info", "web", "--json").out.split('"project": "')[1].split('"')[0])
    assert owner in (a, b)
    assert venv_links(a, b) == [f"{owner.name}/.venv -> {home / 'envs' / 'web'}"], fixed


def test_doctor_gives_a_real_venv_renamed_aside_its_name_back(cli, project: Path, home: Path) -> None:
    """A killed `link --remove` had renamed the person's own `.venv` directory aside."""
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    aside = project / f"{links.TEMP_PREFIX}{dead.pid}-0badc0de"
    aside.mkdir()
    (aside / "keep.txt").write_text("mine")
    report = cli("doctor")
    assert report.code == 1 and "link-leftover" in report.err and str(aside) in report.err, report
    fixed = cli("doctor", "--fix")
    assert fixed.code == 0, fixed
    assert (project / ".venv" / "keep.txt").read_text() == "mine"
    assert not os.path.lexists(aside)
    assert cli("doctor").code == 0

