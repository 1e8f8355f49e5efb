"""`new`, `ls`, `info`, `path`, `run`, `rm` against real environments and interpreters."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import (a_python, assert_clean_error, installed_line, linked_python, need_python,
                      pyenv_pythons, two_pythons)


def ls_json(cli) -> list:
    result = cli("ls", "--json")
    assert result.code == 0, result
    return json.loads(result.out)


@pytest.mark.smoke
def test_lifecycle_with_two_real_python_versions(cli, project: Path, home: Path) -> None:
    first, second = two_pythons()
    for minor, name in ((first, "alpha"), (second, "beta")):
        result = cli("new", name, "--python", minor, "--without-pip", "--json", cwd=project)
        assert result.code == 0, result
        data = json.loads(result.out)
        assert data["name"] == name
        assert data["python"].startswith(minor + ".")
        assert data["project"] == os.path.realpath(project)
        assert data["path"] == str(home / "envs" / name)
        assert data["status"] == "ok" and data["reasons"] == []

        ran = cli("run", name, "--", "python", "-c",
                  "import sys, os; print(sys.prefix); print('%d.%d' % sys.version_info[:2]);"
                  "print(os.environ['VIRTUAL_ENV'])")
        assert ran.code == 0, ran
        prefix, version, virtual_env = ran.out.split()
        assert prefix == str(home / "envs" / name) == virtual_env
        assert version == minor

    listed = {item["name"]: item for item in ls_json(cli)}
    assert set(listed) == {"alpha", "beta"}
    assert listed["alpha"]["python"].startswith(first + ".")
    table = cli("ls")
    assert table.code == 0 and "alpha" in table.out and "beta" in table.out

    removed = cli("rm", "alpha", "beta", "--yes")
    assert removed.code == 0, removed
    assert ls_json(cli) == []
    assert not (home / "envs" / "alpha").exists() and not (home / "envs" / "beta").exists()
    assert project.is_dir(), "rm never touches the project"


@pytest.mark.smoke
def test_requirements_are_installed_offline(cli, project: Path, requirements, installer: str) -> None:
    req = requirements("tinyapp==1.0")
    result = cli("new", "web", "-r", str(req), "--json", cwd=project)
    assert result.code == 0, result
    assert json.loads(result.out)["requirements"] == ["requirements.txt"]
    assert installed_line(installer, "tinyapp", "1.0") in result.err, "the installer's progress shows"
    assert f"installing 1 requirement file with {installer}" in result.err
    ran = cli("run", "web", "--", "python", "-c", "import tinyapp, tinydep; print('ok')")
    assert ran.code == 0 and ran.out.strip() == "ok", ran
    ran = cli("run", "web", "--", "pip", "list")  # pip is there either way, seeded from the image
    assert ran.code == 0 and "tinyapp" in ran.out, ran


def test_failed_install_leaves_no_directory_and_no_record(cli, project: Path, home: Path,
                                                          requirements, installer: str) -> None:
    req = requirements("no-such-package==9.9")
    result = cli("new", "web", "-r", str(req), cwd=project)
    assert_clean_error(result, 1, after_tool_output=True)
    assert "installing requirements failed" in result.err
    assert ls_json(cli) == []
    assert not (home / "envs" / "web").exists()
    assert [p.name for p in (home / "envs").iterdir()] == []


def test_default_name_is_the_project_directory(cli, tmp_path: Path) -> None:
    project = tmp_path / "My Project (v2)"
    project.mkdir()
    result = cli("new", "--without-pip", "--json", cwd=project)
    assert result.code == 0, result
    assert json.loads(result.out)["name"] == "My-Project--v2-"


def test_options_reach_the_venv(cli, project: Path, home: Path) -> None:
    result = cli("new", "opt", "--without-pip", "--system-site-packages", "--copies",
                 "--prompt", "my prompt", "--json", cwd=project)
    assert result.code == 0, result
    data = json.loads(result.out)
    assert data["system_site_packages"] and data["copies"] and data["without_pip"]
    cfg = (home / "envs" / "opt" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg
    assert "prompt = 'my prompt'" in cfg or "prompt = my prompt" in cfg
    python = home / "envs" / "opt" / "bin" / "python"
    assert not python.is_symlink(), "--copies copies the interpreter"
    assert not (home / "envs" / "opt" / "bin" / "pip").exists()


@pytest.mark.smoke
def test_run_passes_exit_status_and_environment(cli, project: Path, home: Path) -> None:
    assert cli("new", "r", "--without-pip", cwd=project).code == 0
    assert cli("run", "r", "--", "python", "-c", "raise SystemExit(7)").code == 7
    ran = cli("run", "r", "--", "python", "-c",
              "import os; print(os.environ['PATH'].split(os.pathsep)[0]); print('PYTHONHOME' in os.environ)",
              env={"PYTHONHOME": sys.base_prefix})  # valid for envman itself, wrong inside
    assert ran.code == 0, ran
    first, has_home = ran.out.split()
    assert first == str(home / "envs" / "r" / "bin") and has_home == "False"
    # options after `--` belong to the command, not to envman
    ran = cli("run", "r", "--", "python", "--version")
    assert ran.code == 0 and "Python" in ran.out + ran.err


def test_run_with_nothing_before_the_dashes_uses_the_current_project(cli, project: Path, home: Path,
                                                                     tmp_path: Path) -> None:
    assert cli("new", "r", "--without-pip", cwd=project).code == 0
    (project / "sub").mkdir()
    ran = cli("run", "--", "python", "-c", "import sys; print(sys.prefix)", cwd=project / "sub")
    assert ran.code == 0, ran
    assert ran.out.strip() == str(home / "envs" / "r")
    assert cli("run", "--", "python", "-c", "raise SystemExit(5)", cwd=project).code == 5
    # the first word after `--` is the command even when it names an environment too
    assert cli("new", "python", "--without-pip", cwd=tmp_path).code == 0
    ran = cli("run", "--", "python", "-c", "import sys; print(sys.prefix)", cwd=project)
    assert ran.out.strip() == str(home / "envs" / "r"), ran
    outside = cli("run", "--", "python", "-V", cwd=tmp_path.parent)
    assert_clean_error(outside, 3)
    for args in (("run",), ("run", "--"), ("run", "r")):
        assert_clean_error(cli(*args, cwd=project), 2)


def test_run_errors(cli, project: Path, tmp_path: Path) -> None:
    assert_clean_error(cli("run", "nope", "--", "python"), 3)
    assert cli("new", "r", "--without-pip", cwd=project).code == 0
    assert_clean_error(cli("run", "r", "--", "no-such-command-xyz"), 2)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    outside = cli("run", "r", "--", str(dangling))  # not the environment's fault
    assert_clean_error(outside, 2)
    assert "command not found" in outside.err


def test_a_broken_environment_does_not_run_pythons_from_path(cli, tmp_path: Path, project: Path,
                                                            home: Path) -> None:
    """With the base Python gone, `bin/python` dangles; `run` must not fall through to the
    next `python` on PATH, and `activate` warns."""
    base = tmp_path / "soon-gone"
    assert cli("new", "b", "--without-pip", "--python", str(linked_python(base, a_python())),
               cwd=project).code == 0
    shutil.rmtree(base)
    assert_clean_error(cli("run", "b", "--", "python", "-c", "pass"), 1)
    assert cli("run", "b", "--", "true").code == 0  # what does not need the interpreter still runs
    activated = cli("activate", "b", "--shell", "bash")
    assert activated.code == 0 and "VIRTUAL_ENV=" in activated.out
    assert "is broken" in activated.err and "envman recreate b" in activated.err


def test_run_records_time_of_use_without_rewriting_the_registry(cli, project: Path, home: Path) -> None:
    assert cli("new", "r", "--without-pip", cwd=project).code == 0
    registry = home / "registry.toml"
    before = registry.read_bytes()
    old = json.loads(cli("info", "r", "--json").out)["last_used"]
    # make the recorded time of use old, so a new use is visible at second resolution
    text = before.decode().replace(old.replace("T", " "), "2020-01-01 00:00:00+00:00")
    registry.write_text(text)
    assert json.loads(cli("info", "r", "--json").out)["last_used"].startswith("2020-01-01")
    assert cli("run", "r", "--", "python", "-c", "pass").code == 0
    assert registry.read_text() == text, "run touches a stamp, not the registry"
    assert not json.loads(cli("info", "r", "--json").out)["last_used"].startswith("2020")


def test_project_path_and_current_directory_select_the_environment(cli, project: Path) -> None:
    sub = project / "src" / "pkg"
    sub.mkdir(parents=True)
    assert cli("new", "proj", "--without-pip", cwd=project).code == 0
    path = cli("path", cwd=sub)
    assert path.code == 0 and path.out.strip().endswith("/envs/proj"), path
    assert cli("path", ".", cwd=project).out == path.out
    assert cli("path", str(project)).out == path.out
    assert cli("path", "PROJ").out == path.out, "names are matched ignoring case"
    info = cli("info", cwd=sub)
    assert info.code == 0 and "proj" in info.out


def test_several_environments_for_one_project_pick_the_most_recent(cli, project: Path) -> None:
    assert cli("new", "one", "--without-pip", cwd=project).code == 0
    assert cli("new", "two", "--without-pip", cwd=project).code == 0
    assert cli("run", "one", "--", "python", "-c", "pass").code == 0
    # stamps have one-second resolution: make `one` unambiguously the latest
    home = Path(os.environ["ENVMAN_HOME"])
    rec = json.loads(cli("info", "one", "--json").out)
    for stamp in (home / "used").iterdir():
        os.utime(stamp, (2_000_000_000, 2_000_000_000))
    two_id = [p for p in (home / "envs" / "two").glob(".envman-marker.toml")]
    assert two_id
    result = cli("path", cwd=project)
    assert result.code == 0, result
    assert result.out.strip() == rec["path"]
    assert "most recently used" in result.err


def test_no_environment_for_this_project_is_status_3(cli, tmp_path: Path) -> None:
    assert_clean_error(cli("path", cwd=tmp_path), 3)
    assert_clean_error(cli("info", "missing"), 3)
    assert_clean_error(cli("path", str(tmp_path)), 3)


def test_unknown_name_suggests_a_close_one(cli, project: Path) -> None:
    assert cli("new", "webapp", "--without-pip", cwd=project).code == 0
    result = cli("info", "webap")
    assert_clean_error(result, 3)
    assert "webapp" in result.err


def test_ls_project_filter(cli, tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / "src" / name).mkdir(parents=True)
        assert cli("new", name, "--without-pip", cwd=tmp_path / "src" / name).code == 0
    only = json.loads(cli("ls", "--json", "--project", str(tmp_path / "src" / "a")).out)
    assert [e["name"] for e in only] == ["a"]
    both = json.loads(cli("ls", "--json", "--project", str(tmp_path / "src")).out)
    assert [e["name"] for e in both] == ["a", "b"]
    none = json.loads(cli("ls", "--json", "--project", str(tmp_path / "src" / "a" / "x")).out)
    assert none == []


def test_rm_without_yes_and_without_a_terminal_deletes_nothing(cli, project: Path, home: Path) -> None:
    assert cli("new", "keep", "--without-pip", cwd=project).code == 0
    assert_clean_error(cli("rm", "keep"), 2)
    assert (home / "envs" / "keep" / "pyvenv.cfg").exists()
    assert [e["name"] for e in ls_json(cli)] == ["keep"]


def test_rm_unknown_name_deletes_nothing(cli, project: Path, home: Path) -> None:
    assert cli("new", "keep", "--without-pip", cwd=project).code == 0
    assert_clean_error(cli("rm", "keep", "nope", "--yes"), 3)
    assert (home / "envs" / "keep").is_dir()


def test_rm_refuses_a_directory_it_cannot_prove_it_owns(cli, project: Path, home: Path,
                                                        tmp_path: Path) -> None:
    assert cli("new", "victim", "--without-pip", cwd=project).code == 0
    env_dir = home / "envs" / "victim"
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (precious / "thesis.tex").write_text("years of work")
    # the environment directory is swapped for a symlink to someone's files
    import shutil

    shutil.rmtree(env_dir)
    env_dir.symlink_to(precious)
    result = cli("rm", "victim", "--yes")
    assert_clean_error(result, 1)
    assert "refusing to delete" in result.err
    assert (precious / "thesis.tex").read_text() == "years of work"
    assert env_dir.is_symlink()
    assert [e["name"] for e in ls_json(cli)] == ["victim"]

    # a plain directory without envman's marker is refused too
    env_dir.unlink()
    env_dir.mkdir()
    (env_dir / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (env_dir / "data").write_text("not envman's")
    assert_clean_error(cli("rm", "victim", "--yes"), 1)
    assert (env_dir / "data").exists()


def test_rm_of_an_environment_whose_directory_is_gone_drops_the_record(cli, project: Path,
                                                                       home: Path) -> None:
    assert cli("new", "gone", "--without-pip", cwd=project).code == 0
    import shutil

    shutil.rmtree(home / "envs" / "gone")
    result = cli("rm", "gone", "--yes")
    assert result.code == 0, result
    assert ls_json(cli) == []


@pytest.mark.parametrize("spec_kind", ["version", "patch", "specifier", "name", "path"])
def test_python_spec_forms(cli, project: Path, spec_kind: str) -> None:
    exe = need_python("3.10")
    full = exe.resolve().parent.parent.name  # e.g. 3.10.13
    spec = {
        "version": "3.10",
        "patch": full,
        "specifier": ">=3.10,<3.11",
        "name": "python3.10",
        "path": str(exe),
    }[spec_kind]
    result = cli("new", "p", "--python", spec, "--without-pip", "--json", cwd=project)
    assert result.code == 0, result
    assert json.loads(result.out)["python"] == full


def test_python_version_file_then_requires_python_then_config(cli, project: Path, tmp_path: Path) -> None:
    exe = need_python("3.10")
    need_python("3.12")
    (project / "pyproject.toml").write_text('[project]\nname = "x"\nrequires-python = ">=3.12"\n')
    (project / ".python-version").write_text(exe.resolve().parent.parent.name + "\n")
    data = json.loads(cli("new", "a", "--without-pip", "--json", cwd=project).out)
    assert data["python"].startswith("3.10."), ".python-version wins over requires-python"
    (project / ".python-version").unlink()
    data = json.loads(cli("new", "b", "--without-pip", "--json", cwd=project).out)
    assert tuple(int(x) for x in data["python"].split(".")[:2]) >= (3, 12)
    (project / "pyproject.toml").unlink()
    (tmp_path / "config.toml").write_text('default_python = "3.10"\n')
    data = json.loads(cli("new", "c", "--without-pip", "--json", cwd=project).out)
    assert data["python"].startswith("3.10."), "config default_python applies last"


def test_interpreter_probes_are_cached(cli, project: Path, home: Path) -> None:
    need_python("3.10")
    assert cli("new", "a", "--python", "3.10", "--without-pip", cwd=project).code == 0
    cache = json.loads((home / "cache" / "interpreters.json").read_text())
    assert any(entry["version"].startswith("3.10.") for entry in cache.values())
    assert len(cache) >= len(pyenv_pythons())
