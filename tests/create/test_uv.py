"""Which uv envman uses, when it uses none, and what reaches it from pip's settings.
(The requirement tests in test_new_and_run.py and test_recreate.py run with pip and
with uv through the `installer` fixture.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import a_python, assert_clean_error

from envman.create import uv
from envman.config import Config, load_config
from envman.errors import UsageError


def executable(path: Path, text: str = "\x7fELF fake binary") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_which_uv(tmp_path: Path) -> None:
    first = executable(tmp_path / "a" / "uv")
    executable(tmp_path / "b" / "uv")
    path = os.pathsep.join([str(tmp_path / "empty"), str(tmp_path / "a"), str(tmp_path / "b")])
    assert uv.locate(Config(), {"PATH": path}) == str(first)
    assert uv.locate(Config(), {"PATH": path, "ENVMAN_NO_UV": "1"}) is None
    assert uv.locate(Config(), {"PATH": path, "ENVMAN_NO_UV": "0"}) == str(first)
    assert uv.locate(Config(use_uv=False), {"PATH": path}) is None
    named = executable(tmp_path / "elsewhere" / "my-uv")
    assert uv.locate(Config(uv=str(named)), {"PATH": ""}) == str(named)
    with pytest.raises(UsageError, match="not an executable"):
        uv.locate(Config(uv=str(tmp_path / "missing")), {"PATH": path})
    assert uv.locate(Config(), {"PATH": str(tmp_path / "empty")}) is None


def test_a_pyenv_shim_for_uv_is_resolved_or_passed_over(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    shim = executable(root / "shims" / "uv", '#!/usr/bin/env bash\nprogram="${0##*/}"\n'
                      f'export PYENV_ROOT="{root}"\nexec "{root}/libexec/pyenv" exec "$program" "$@"\n')
    real = executable(root / "versions" / "3.11.7" / "bin" / "uv")
    (root / "version").write_text("3.11.7\n")
    later = executable(tmp_path / "later" / "uv")
    path = os.pathsep.join([str(shim.parent), str(later.parent)])
    assert uv.locate(Config(), {"PATH": path}, cwd=str(tmp_path)) == str(real)
    (tmp_path / ".python-version").write_text("3.10.1\n")  # a version without uv: the shim would fail
    assert uv.locate(Config(), {"PATH": path}, cwd=str(tmp_path)) == str(later)


def test_pip_settings_reach_uv_under_its_names() -> None:
    env = uv.environ({"PIP_FIND_LINKS": "/w1  /w2", "PIP_NO_INDEX": "true",
                      "PIP_INDEX_URL": "https://i/simple", "PIP_EXTRA_INDEX_URL": "https://e/simple",
                      "PIP_PRE": "0", "UV_CONSTRAINT": "mine.txt", "PIP_CONSTRAINT": "theirs.txt"})
    assert env["UV_FIND_LINKS"] == "/w1,/w2"
    assert env["UV_NO_INDEX"] == "1"
    assert env["UV_INDEX_URL"] == "https://i/simple"
    assert env["UV_EXTRA_INDEX_URL"] == "https://e/simple"
    assert "UV_PRERELEASE" not in env, "PIP_PRE=0 is off"
    assert env["UV_CONSTRAINT"] == "mine.txt", "never over what the person set for uv"
    assert "UV_NO_INDEX" not in uv.environ({"PIP_NO_INDEX": "0"})


def test_config_keys(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('use_uv = false\nuv = "~/bin/uv"\n')
    loaded = load_config(config)
    assert loaded.use_uv is False and loaded.uv == "~/bin/uv"
    config.write_text('use_uv = "no"\n')
    with pytest.raises(UsageError, match="use_uv"):
        load_config(config)


def test_a_config_naming_a_missing_uv_is_bad_input(cli, project: Path, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(f'uv = "{tmp_path / "no-uv"}"\n')
    result = cli("new", "x", "--python", str(a_python()), "--without-pip", cwd=project,
                 env={"ENVMAN_NO_UV": ""})
    assert_clean_error(result, 2)
    assert "no-uv" in result.err


def test_copies_with_uv_uses_venv_and_says_so(cli, project: Path, home: Path, installer: str,
                                              requirements) -> None:
    """`uv venv` always links the interpreter: `--copies` is made by `python -m venv`, and
    the requirements still go through uv."""
    req = requirements("tinypkg==1.0")
    result = cli("new", "c", "--copies", "--python", str(a_python()), "-r", str(req), cwd=project)
    assert result.code == 0, result
    assert "creating the environment with python -m venv" in result.err
    assert f"installing 1 requirement file with {'uv pip' if installer == 'uv' else 'pip'}" in result.err
    assert not (home / "envs" / "c" / "bin" / "python").is_symlink()
    ran = cli("run", "c", "--", "python", "-c", "import tinypkg, pip; print(tinypkg.VERSION)")
    assert ran.code == 0 and ran.out.strip() == "1.0", ran
    assert json.loads(cli("info", "c", "--json").out)["copies"] is True
