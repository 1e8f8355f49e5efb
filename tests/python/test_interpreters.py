"""Interpreter discovery on PATH, in pyenv's versions and in uv's managed Pythons,
and where envman's files live when ENVMAN_HOME is not set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import assert_clean_error, need_python

from envman.python.interpreters import Finder, _natural
from envman.store.layout import Store


def fake_managed_root(root: Path, name: str, real: Path) -> Path:
    """A uv- or pyenv-style `<root>/<name>/bin/python3` that is a real interpreter."""
    bindir = root / name / "bin"
    bindir.mkdir(parents=True)
    (bindir / "python3").symlink_to(real)
    return bindir / "python3"


def bare_path(tmp_path: Path) -> str:
    """A PATH with no Python on it at all."""
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    return str(empty)


def test_uv_managed_pythons_are_found(cli, project: Path, tmp_path: Path) -> None:
    real = need_python("3.10").resolve()
    uv_root = tmp_path / "uv-pythons"
    exe = fake_managed_root(uv_root, "cpython-3.10.99-linux-x86_64-gnu", real)
    env = {"PATH": bare_path(tmp_path), "PYENV_ROOT": str(tmp_path / "no-pyenv"),
           "UV_PYTHON_INSTALL_DIR": str(uv_root)}
    result = cli("new", "uvpy", "--python", "3.10", "--without-pip", "--json", cwd=project, env=env)
    assert result.code == 0, result
    assert json.loads(result.out)["python"].startswith("3.10.")
    # without uv's directory nothing matches, and that is a clean usage error
    env["UV_PYTHON_INSTALL_DIR"] = str(tmp_path / "no-uv")
    result = cli("new", "nopy", "--python", "3.10", "--without-pip", cwd=project, env=env)
    assert_clean_error(result, 2)
    assert exe.exists()


def test_pyenv_root_is_honoured_and_newest_first(cli, project: Path, tmp_path: Path) -> None:
    older, newer = need_python("3.9").resolve(), need_python("3.12").resolve()
    root = tmp_path / "pyenv"
    fake_managed_root(root / "versions", "3.9.18", older)
    fake_managed_root(root / "versions", "3.12.1", newer)
    env = {"PATH": bare_path(tmp_path), "PYENV_ROOT": str(root),
           "UV_PYTHON_INSTALL_DIR": str(tmp_path / "no-uv")}
    result = cli("new", "p", "--python", ">=3.9", "--without-pip", "--json", cwd=project, env=env)
    assert result.code == 0, result
    assert json.loads(result.out)["python"].startswith("3.12."), "newest pyenv version first"
    # .python-version naming a pyenv version picks exactly that one
    (project / ".python-version").write_text("3.9.18\n")
    result = cli("new", "q", "--without-pip", "--json", cwd=project, env=env)
    assert result.code == 0, result
    assert json.loads(result.out)["python"].startswith("3.9.")


def test_no_python_anywhere_is_a_clean_error(cli, project: Path, tmp_path: Path) -> None:
    env = {"PATH": bare_path(tmp_path), "PYENV_ROOT": str(tmp_path / "none"),
           "UV_PYTHON_INSTALL_DIR": str(tmp_path / "none")}
    result = cli("new", "x", "--without-pip", cwd=project, env=env)
    assert_clean_error(result, 2)
    assert "--python" in result.err


def test_a_requires_python_nothing_satisfies_names_its_source(cli, project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "x"\nrequires-python = ">=3.99"\n')
    result = cli("new", "x", "--without-pip", cwd=project)
    assert_clean_error(result, 2)
    assert "pyproject.toml" in result.err and ">=3.99" in result.err


def test_finder_reports_exact_versions_and_skips_broken_interpreters(tmp_path: Path) -> None:
    real = need_python("3.11").resolve()
    root = tmp_path / "versions"
    exe = fake_managed_root(root, "3.11.7", real)
    broken = root / "9.9.9" / "bin"
    broken.mkdir(parents=True)
    (broken / "python3").write_bytes(b"\x7fELF not really")
    (broken / "python3").chmod(0o755)
    finder = Finder(tmp_path / "cache", environ={"PATH": bare_path(tmp_path),
                                                 "PYENV_ROOT": str(tmp_path),
                                                 "UV_PYTHON_INSTALL_DIR": str(tmp_path / "no")})
    found = finder.probe_all(finder.candidates())
    assert [i.version for i in found] == [real.parent.parent.name]
    assert finder.find("3.11").executable == str(exe), "the path as found, as the interpreter says"
    assert (tmp_path / "cache" / "interpreters.json").exists()


def test_natural_order() -> None:
    assert sorted(["3.10.1", "3.9.18", "3.13.0", "3.10.13"], key=_natural) == [
        "3.9.18", "3.10.1", "3.10.13", "3.13.0"]


def test_platform_directories_when_envman_home_is_unset(cli, project: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVMAN_HOME")
    monkeypatch.delenv("ENVMAN_CONFIG")
    data = Path(os.environ["XDG_DATA_HOME"])
    store = Store.from_environment()
    assert store.root == data / "envman"
    assert store.cache == Path(os.environ["XDG_CACHE_HOME"]) / "envman"
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "envman" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("stale_after = [")
    assert_clean_error(cli("ls"), 2)  # the platform config file is the one read
    config.unlink()
    result = cli("new", "plat", "--without-pip", "--json", cwd=project)
    assert result.code == 0, result
    assert json.loads(result.out)["path"] == str(data / "envman" / "envs" / "plat")
    assert (data / "envman" / "registry.toml").exists()
    assert (Path(os.environ["XDG_CACHE_HOME"]) / "envman" / "interpreters.json").exists()
