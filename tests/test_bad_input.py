"""Bad input: one clear line, the spec's exit status, and nothing created."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import assert_clean_error


def nothing_created(home: Path) -> bool:
    envs = home / "envs"
    return not (home / "registry.toml").exists() and (not envs.exists() or not any(envs.iterdir()))


@pytest.mark.parametrize("name", [
    "", "-x", ".hidden", "_x", "a b", "a/b", "..", ".", "é", "x" * 65, "a:b", "a\nb", "a$b",
    "web;rm", "$(touch pwned)",
])
def test_invalid_names_are_refused(cli, project: Path, home: Path, name: str) -> None:
    result = cli("new", "--without-pip", "--", name, cwd=project)  # `--`: even "-x" is a name
    assert_clean_error(result, 2)
    assert nothing_created(home)
    assert not (project / "pwned").exists()


def test_longest_valid_name_is_accepted(cli, project: Path) -> None:
    result = cli("new", "a" * 64, "--without-pip", cwd=project)
    assert result.code == 0, result


def test_project_directory_name_that_cannot_become_a_name(cli, tmp_path: Path, home: Path) -> None:
    weird = tmp_path / "..."
    weird.mkdir()
    assert_clean_error(cli("new", "--without-pip", cwd=weird), 2)
    assert nothing_created(home)


def test_duplicate_names_ignoring_case_are_refused(cli, project: Path, home: Path) -> None:
    assert cli("new", "Web", "--without-pip", cwd=project).code == 0
    before = (home / "registry.toml").read_bytes()
    for name in ("Web", "web", "WEB"):
        result = cli("new", name, "--without-pip", cwd=project)
        assert_clean_error(result, 2)
        assert "already exists" in result.err
    assert (home / "registry.toml").read_bytes() == before
    assert sorted(p.name for p in (home / "envs").iterdir()) == ["Web"]


@pytest.mark.parametrize("args", [
    ["--project", "/nonexistent/project"],
    ["--project", "FILE"],
    ["-r", "/nonexistent/requirements.txt"],
    ["-r", "DIR"],
    ["--python", "2.9"],
    ["--python", "3.99"],
    ["--python", ">=4"],
    ["--python", ">=3.1O"],
    ["--python", "/nonexistent/python3"],
    ["--python", "FILE"],
    ["--python", "no-such-python-xyz"],
    ["--prompt", "two\nlines"],
    ["-r", "REQ", "--without-pip"],
])
def test_bad_arguments_to_new(cli, project: Path, home: Path, tmp_path: Path, args: list) -> None:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    req = project / "requirements.txt"
    req.write_text("tinypkg\n")
    args = [{"FILE": str(a_file), "DIR": str(tmp_path), "REQ": str(req)}.get(a, a) for a in args]
    result = cli("new", "x", *args, cwd=project)
    assert_clean_error(result, 2)
    assert nothing_created(home)


def test_python_2_is_refused_with_a_reason(cli, project: Path, home: Path) -> None:
    py2 = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions" / "2.7.18" / "bin" / "python2.7"
    if not py2.exists():
        pytest.skip("no Python 2.7 here")
    result = cli("new", "x", "--python", str(py2), cwd=project)
    assert_clean_error(result, 2)
    assert "2.7" in result.err
    assert nothing_created(home)


@pytest.mark.parametrize("bad", ["with\nnewline", "with:colon", "tab\there"])
def test_data_root_that_no_shell_can_carry_is_refused(cli, project: Path, tmp_path: Path,
                                                      bad: str) -> None:
    home = tmp_path / bad
    result = cli("new", "x", "--without-pip", cwd=project, env={"ENVMAN_HOME": str(home)})
    assert_clean_error(result, 2)
    assert not (home / "envs" / "x").exists()


def test_unknown_option_is_a_usage_error(cli) -> None:
    result = cli("ls", "--no-such-option")
    assert result.code == 2
    assert "Traceback" not in result.err


def test_bad_age_is_a_usage_error(cli) -> None:
    assert_clean_error(cli("ls", "--older-than", "soon"), 2)
    assert_clean_error(cli("ls", "--older-than", "5y"), 2)


@pytest.mark.parametrize("text, message", [
    ("default_python = [", "cannot parse"),
    ("stale_after = 90\n", "stale_after"),
    ("stale_after = \"forever\"\n", "stale_after"),
    ("default_pyhton = \"3.12\"\n", "unknown config key"),
    ("default_python = \"\"\n", "default_python"),
])
def test_broken_config_is_reported_not_ignored(cli, tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    result = cli("ls")
    assert_clean_error(result, 2)
    assert message in result.err and str(tmp_path / "config.toml") in result.err


def test_debug_shows_a_traceback(cli, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("default_python = [")
    result = cli("ls", env={"ENVMAN_DEBUG": "1"})
    assert result.code != 0 and "Traceback" in result.err


def test_new_json_is_the_only_stdout(cli, project: Path, requirements) -> None:
    req = requirements("tinypkg==1.0")
    result = cli("new", "j", "-r", str(req), "--json", cwd=project)
    assert result.code == 0, result
    assert json.loads(result.out)["name"] == "j"  # pip's progress went to stderr
    assert "tinypkg" in result.err
