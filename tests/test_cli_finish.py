"""The small things a new user trips over: Python 2 named, `rm` of the active
environment, `recreate --all` asking first, activation code shown on a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import assert_clean_error, on_terminal


def marker_id(home: Path, name: str) -> str:
    text = (home / "envs" / name / ".envman-marker.toml").read_text()
    return next(line for line in text.splitlines() if line.startswith("id")).split("=", 1)[1].strip()


@pytest.mark.parametrize("spec", ["2.7", "2", "<3", "==2.7.18"])
def test_python_2_is_named_not_unmatched(cli, project: Path, home: Path, spec: str) -> None:
    result = cli("new", "x", "--python", spec, cwd=project)
    assert_clean_error(result, 2)
    assert "Python 2 is not supported" in result.err, result
    assert not (home / "envs" / "x").exists()


def test_rm_of_the_active_environment_warns(cli, project: Path, home: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    assert cli("new", "api", "--without-pip", cwd=project).code == 0
    active = str(home / "envs" / "web")
    other = cli("rm", "api", "--yes", env={"VIRTUAL_ENV": active})
    assert other.code == 0 and "was active" not in other.err, other
    done = cli("rm", "web", "--yes", env={"VIRTUAL_ENV": active})
    assert done.code == 0, done
    assert "'web' was active in this shell" in done.err and "deactivate" in done.err, done


def test_recreate_all_asks_first(cli, project: Path, home: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    before = marker_id(home, "web")
    refused = cli("recreate", "--all")
    assert_clean_error(refused, 2)
    assert "--yes" in refused.err
    code, seen = on_terminal(["recreate", "--all"], "n")
    assert code == 1 and "Rebuild 1 environment(s)" in seen and "nothing rebuilt" in seen, seen
    assert marker_id(home, "web") == before, "nothing was rebuilt"
    assert cli("recreate", "--all", "--yes").code == 0
    assert marker_id(home, "web") != before


def test_activation_code_on_a_terminal_says_how_to_run_it(cli, project: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    code, seen = on_terminal(["activate", "web", "--shell", "bash"], "")
    assert code == 0 and "VIRTUAL_ENV" in seen, seen
    assert "hint: this is code for your shell to run" in seen and "envman init bash" in seen, seen
    piped = cli("activate", "web", "--shell", "bash")
    assert piped.code == 0 and "hint:" not in piped.err, piped
    assert json.loads(cli("activate", "web", "--json").out)["set"]["VIRTUAL_ENV"].endswith("web")
