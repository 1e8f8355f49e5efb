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


def test_declining_rm_at_the_terminal_deletes_nothing_and_exits_1(cli, project: Path, home: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    code, seen = on_terminal(["rm", "web"], "n")
    assert code == 1 and "envman: nothing deleted" in seen, seen
    assert (home / "envs" / "web").is_dir()


def test_quiet_new_prints_nothing_on_success(cli, project: Path) -> None:
    made = cli("new", "web", "--without-pip", "-q", cwd=project)
    assert made.code == 0 and made.err == "" and made.out == "", made
    told = cli("new", "api", "--without-pip", cwd=project)
    assert "created 'api'" in told.err, told


def test_an_unreadable_registry_names_the_repair(cli, project: Path, home: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    (home / "registry.toml").write_text("garbage[\n")
    listed = cli("ls")
    assert_clean_error(listed, 1)
    assert "hint:" in listed.err and "envman doctor --fix" in listed.err, listed
    found = cli("doctor")
    path = str(home / "registry.toml")
    assert f"registry-unreadable: {path}: cannot parse" in found.out + found.err, found
    assert (found.out + found.err).count(path) == 1, "the path is said once"
    assert cli("doctor", "--fix").code == 0
    assert [e["name"] for e in json.loads(cli("ls", "--json").out)] == ["web"]


def test_info_says_which_requirement_files_changed_in_one_sentence(cli, project: Path, home: Path,
                                                                   requirements) -> None:
    req = requirements("tinypkg==1.0")
    assert cli("new", "web", "-r", str(req), "-q", cwd=project).code == 0
    req.write_text(req.read_text() + "tinydep==0.1\n")
    shown = cli("info", "web").out
    line = next(line for line in shown.splitlines() if "changed or gone" in line)
    assert "requirements.txt: changed or gone since the last build; `envman recreate web`" in line, shown
