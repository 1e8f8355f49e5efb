"""`envman scan` tells which tool made each environment, which project it serves and its
Python: environments made by the real tools installed here (`python -m venv`,
`virtualenv`, `uv venv`), and the layouts of the others built by hand as each tool lays
them out (see scantrees). One tree per module, scanned once, asserted per tool."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from conftest import IN_CI, uv_executable
from scantrees import (base_python, by_path, check_shape, hatch_checksum, make_conda_base,
                       make_conda_env, make_env, make_project, minor, pdm_env_prefix,
                       pipenv_env_name, poetry_env_name, real, scan_json, version_of)


def missing_tool(message: str) -> None:
    if IN_CI:
        pytest.fail(message + "; CI must run the scan tests with it")
    pytest.skip(message)


# -- the real tools ----------------------------------------------------------------


@pytest.fixture(scope="module")
def made_by_tools(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """One environment per real tool, each in its own project, all in one tree."""
    root = tmp_path_factory.mktemp("real-tools")
    exe = base_python()
    built: Dict[str, Any] = {"root": root, "home": root / "home", "version": version_of(exe)}
    (root / "home").mkdir()
    venv_project = make_project(root / "src" / "by-venv")
    subprocess.run([str(exe), "-m", "venv", "--without-pip", str(venv_project / ".venv")], check=True)
    built["venv"] = venv_project
    if importlib.util.find_spec("virtualenv") is None:
        built["virtualenv"] = None
    else:
        project = make_project(root / "src" / "by-virtualenv")
        subprocess.run([sys.executable, "-m", "virtualenv", "--no-seed", "--no-periodic-update",
                        "-p", str(exe), str(project / ".venv")], check=True, capture_output=True)
        built["virtualenv"] = project
    uv = uv_executable()
    if uv is None:
        built["uv"] = None
    else:
        project = make_project(root / "src" / "by-uv")
        subprocess.run([uv, "venv", "--offline", "--no-python-downloads", "--python", str(exe),
                        str(project / ".venv")], check=True, capture_output=True,
                       env={**os.environ, "UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(root / "uv-cache")})
        built["uv"] = project
    built["found"] = by_path(scan_json(str(root / "src"), home=root / "home"))
    return built


@pytest.mark.smoke
@pytest.mark.parametrize("tool", ["venv", "virtualenv", "uv"])
def test_an_environment_made_by_the_real_tool_is_told_apart(made_by_tools: Dict[str, Any],
                                                            tool: str) -> None:
    project = made_by_tools[tool]
    if project is None:
        missing_tool(f"{tool} is not installed (python3 -m pip install -e '.[test]')")
    item = made_by_tools["found"].get(real(project / ".venv"))
    assert item is not None, made_by_tools["found"]
    check_shape(item)
    assert item["tool"] == tool, item
    assert item["project"] == real(project), item
    assert item["python"] == made_by_tools["version"], item
    assert item["status"] == "ok" and item["reasons"] == [], item
    assert item["registered"] is None, item


def test_the_real_tools_tree_holds_nothing_else(made_by_tools: Dict[str, Any]) -> None:
    expected = {real(made_by_tools[t] / ".venv") for t in ("venv", "virtualenv", "uv")
                if made_by_tools[t] is not None}
    assert set(made_by_tools["found"]) == expected


# -- the other tools' layouts, by hand ------------------------------------------------


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """A home directory holding one environment of every tool where that tool puts it.
    `expect` maps each environment's path to the (tool, project) the scan must report."""
    home = tmp_path_factory.mktemp("layouts") / "home"
    src = home / "src"
    exe = base_python()
    version = version_of(exe)
    expect: Dict[str, Any] = {}

    web = make_project(src / "web")
    (web / "tox.ini").write_text("[tox]\nenv_list = py312\n")
    (web / "noxfile.py").write_text("import nox\n")
    tox_env = make_env(web / ".tox" / "py312", "virtualenv")
    (tox_env / ".tox-info.json").write_text('{"ToxEnv": {"name": "py312", "type": "VirtualEnvRunner"}}')
    expect[real(tox_env)] = ("tox", web)
    expect[real(make_env(web / ".nox" / "tests-3-12", "virtualenv"))] = ("nox", web)
    expect[real(make_env(web / ".venv"))] = ("venv", web)
    expect[real(make_env(src / "legacy" / "venv", "virtualenv"))] = ("virtualenv", src / "legacy")

    poetry_app = make_project(src / "poetry-app")
    (poetry_app / "poetry.lock").write_text("# poetry lock\n")
    poetry_env = (home / ".cache" / "pypoetry" / "virtualenvs"
                  / f"{poetry_env_name('poetry-app', poetry_app)}-py{minor(version)}")
    expect[real(make_env(poetry_env, "virtualenv"))] = ("poetry", poetry_app)

    pipenv_app = src / "pipenv-app"
    pipenv_app.mkdir(parents=True)
    (pipenv_app / "Pipfile").write_text("[packages]\n")
    pipenv_env = make_env(home / ".local" / "share" / "virtualenvs" / pipenv_env_name(pipenv_app),
                          "virtualenv")
    (pipenv_env / ".project").write_text(str(pipenv_app))
    expect[real(pipenv_env)] = ("pipenv", pipenv_app)

    wrapped = make_project(src / "wrapped")
    workon = home / ".virtualenvs"
    workon.mkdir()
    for hook in ("postactivate", "predeactivate", "premkvirtualenv", "postmkvirtualenv"):
        (workon / hook).write_text("#!/bin/bash\n")
    wrapper_env = make_env(workon / "wrapped", "virtualenv")
    (wrapper_env / "bin" / "postactivate").write_text("#!/bin/bash\n")
    (wrapper_env / ".project").write_text(str(wrapped) + "\n")
    expect[real(wrapper_env)] = ("virtualenvwrapper", wrapped)

    pyenv_base = home / ".pyenv" / "versions" / version
    (pyenv_base / "bin").mkdir(parents=True)
    (pyenv_base / "bin" / f"python{minor(version)}").symlink_to(exe)
    (pyenv_base / "bin" / "python3").symlink_to(f"python{minor(version)}")
    (pyenv_base / "lib" / f"python{minor(version)}" / "site-packages").mkdir(parents=True)
    pyenv_env = make_env(pyenv_base / "envs" / "tools312", "venv",
                         exe=pyenv_base / "bin" / f"python{minor(version)}", version=version)
    (home / ".pyenv" / "versions" / "tools312").symlink_to(pyenv_env)  # what pyenv-virtualenv makes
    pyenv_user = make_project(src / "pyenv-user")
    (pyenv_user / ".python-version").write_text("tools312\n")  # `pyenv local tools312`
    expect[real(pyenv_env)] = ("pyenv-virtualenv", pyenv_user)

    hatch_app = make_project(src / "hatch-app")
    hatch_env = (home / ".local" / "share" / "hatch" / "env" / "virtual" / "hatch-app"
                 / hatch_checksum(hatch_app) / "hatch-app")
    expect[real(make_env(hatch_env, "virtualenv"))] = ("hatch", hatch_app)

    pdm_app = make_project(src / "pdm-app")
    pdm_env = home / ".local" / "share" / "pdm" / "venvs" / f"{pdm_env_prefix(pdm_app)}{minor(version)}"
    expect[real(make_env(pdm_env, "virtualenv"))] = ("pdm", pdm_app)

    for pipx_home, package in ((home / ".local" / "share" / "pipx", "black"),  # pipx >= 1.3
                               (home / ".local" / "pipx", "isort")):  # older pipx
        pipx_env = make_env(pipx_home / "venvs" / package)
        (pipx_env / "pipx_metadata.json").write_text('{"main_package": {"package": "%s"}}' % package)
        (pipx_home / "shared").mkdir()
        expect[real(pipx_env)] = ("pipx", None)

    conda_base = make_conda_base(home / "miniconda3", envs=("sci",))
    expect[real(conda_base / "envs" / "sci")] = ("conda", None)
    expect[real(make_conda_env(src / "data" / ".conda-env"))] = ("conda", None)

    # uv's preview central store: the environment in the cache, a `.venv` link in the project
    linked = make_project(src / "linked")
    central = make_env(home / ".cache" / "uv" / "projects" / "linked-5f3a9c1e", "uv")
    (linked / ".venv").symlink_to(central)
    expect[real(central)] = ("uv", linked)

    # a PEP 832 `.python-envs` line pointing at an environment kept elsewhere
    pointed = make_project(src / "pointed")
    elsewhere = make_env(home / "envs-elsewhere" / "pointed-env")
    (pointed / ".python-envs").write_text(f"{elsewhere}\n")
    expect[real(elsewhere)] = ("venv", pointed)

    # in-project environments of the project managers: virtualenv-made, told by the lock file
    for tool, lock in (("poetry", "poetry.lock"), ("pipenv", "Pipfile.lock"), ("pdm", "pdm.lock")):
        managed = make_project(src / f"in-project-{tool}")
        (managed / lock).write_text("# lock\n")
        expect[real(make_env(managed / ".venv", "virtualenv"))] = (tool, managed)

    # PEP 832's `.venv` file naming the environment, and a relative `.python-envs` line
    by_file = make_project(src / "by-venv-file")
    kept = make_env(src / "kept-envs" / "by-venv-file")
    (by_file / ".venv").write_text("../kept-envs/by-venv-file\n")
    expect[real(kept)] = ("venv", by_file)
    by_line = make_project(src / "by-relative-line")
    make_env(by_line / "envs" / "py312")
    (by_line / ".python-envs").write_text("# ours\n\nenvs/py312\n")
    expect[real(by_line / "envs" / "py312")] = ("venv", by_line)

    found = by_path(scan_json(str(home), home=home))
    return {"home": home, "expect": expect, "found": found, "version": version,
            "pyenv_link": home / ".pyenv" / "versions" / "tools312", "conda_base": conda_base}


LAYOUT_CASES = ["tox", "nox", "venv", "virtualenv", "poetry", "pipenv", "virtualenvwrapper",
                "pyenv-virtualenv", "hatch", "pdm", "pipx", "conda", "uv"]


def test_the_tools_stores_follow_the_xdg_directories(tmp_path: Path) -> None:
    """poetry, pipx, pdm, hatch and pipenv put their stores in platformdirs' user cache and
    data directories, which XDG_CACHE_HOME and XDG_DATA_HOME move."""
    data, cache = tmp_path / "xdg-data", tmp_path / "xdg-cache"
    app = make_project(tmp_path / "src" / "app")
    expect = {
        real(make_env(cache / "pypoetry" / "virtualenvs" / f"{poetry_env_name('app', app)}-py3.12",
                      "virtualenv")): "poetry",
        real(make_env(data / "pipx" / "venvs" / "black")): "pipx",
        real(make_env(data / "pdm" / "venvs" / f"{pdm_env_prefix(app)}3.12", "virtualenv")): "pdm",
        real(make_env(data / "hatch" / "env" / "virtual" / "app" / hatch_checksum(app) / "app",
                      "virtualenv")): "hatch",
    }
    pipenv_env = make_env(data / "virtualenvs" / pipenv_env_name(app), "virtualenv")
    (pipenv_env / ".project").write_text(str(app))
    expect[real(pipenv_env)] = "pipenv"
    found = by_path(scan_json(str(data), str(cache), str(tmp_path / "src"), home=tmp_path / "home",
                              extra={"XDG_DATA_HOME": str(data), "XDG_CACHE_HOME": str(cache)}))
    assert {path: item["tool"] for path, item in found.items()} == expect
    for path, item in found.items():
        if expect[path] != "pipx":
            assert item["project"] == real(app), item


@pytest.mark.parametrize("tool", LAYOUT_CASES)
def test_a_tools_layout_is_found_with_its_tool_and_project(layouts: Dict[str, Any], tool: str) -> None:
    cases = {path: project for path, (t, project) in layouts["expect"].items() if t == tool}
    assert cases
    for path, project in cases.items():
        item = layouts["found"].get(path)
        assert item is not None, (path, sorted(layouts["found"]))
        check_shape(item)
        assert item["tool"] == tool, item
        if project is not None:
            assert item["project"] == real(project), item
        assert item["python"] == layouts["version"], item
        assert item["status"] == "ok", item


def test_the_layouts_hold_exactly_the_environments_built(layouts: Dict[str, Any]) -> None:
    """No base interpreter (pyenv's versions, the conda base), no link (`versions/NAME`,
    the project's `.venv`) and nothing inside an environment is listed."""
    assert set(layouts["found"]) == set(layouts["expect"])
    paths = [item["path"] for item in layouts["found"].values()]
    assert str(layouts["pyenv_link"]) not in paths
    assert str(layouts["conda_base"]) not in paths


def test_the_default_scan_walks_the_home_and_the_stores_named_outside_it(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    in_home = make_env(make_project(home / "src" / "app") / ".venv")
    workon = make_env(tmp_path / "workon" / "wrapped", "virtualenv")
    pipx = make_env(tmp_path / "pipx-home" / "venvs" / "black")
    poetry = make_env(tmp_path / "poetry-venvs" / "thing-AbCdEfGh-py3.12", "virtualenv")
    conda_envs = make_conda_env(tmp_path / "conda-envs" / "analysis")
    listed = make_conda_env(tmp_path / "somewhere" / "listed-conda")
    more_conda = make_conda_env(tmp_path / "conda-envs-2" / "second")
    (home / ".conda").mkdir()
    (home / ".conda" / "environments.txt").write_text(
        f"{listed}\n\n{tmp_path / 'removed-long-ago'}\n{listed}\n{in_home}\n   \n")
    pyenv_root = tmp_path / "opt-pyenv"
    version = version_of(base_python())
    (pyenv_root / "versions" / version / "bin").mkdir(parents=True)
    (pyenv_root / "versions" / version / "bin" / "python3").symlink_to(base_python())
    pyenv_env = make_env(pyenv_root / "versions" / version / "envs" / "tools",
                         exe=pyenv_root / "versions" / version / "bin" / "python3", version=version)
    (pyenv_root / "versions" / "tools").symlink_to(pyenv_env)
    unrelated = make_env(tmp_path / "not-named" / ".venv")
    found = by_path(scan_json(home=home, extra={
        "WORKON_HOME": str(tmp_path / "workon"), "PIPX_HOME": str(tmp_path / "pipx-home"),
        "POETRY_VIRTUALENVS_PATH": str(tmp_path / "poetry-venvs"),
        "CONDA_ENVS_PATH": os.pathsep.join([str(tmp_path / "conda-envs"), str(tmp_path / "conda-envs-2")]),
        "PYENV_ROOT": str(pyenv_root)}))
    tools = {path: item["tool"] for path, item in found.items()}
    assert tools == {real(in_home): "venv", real(workon): "virtualenvwrapper", real(pipx): "pipx",
                     real(poetry): "poetry", real(conda_envs): "conda", real(listed): "conda",
                     real(more_conda): "conda", real(pyenv_env): "pyenv-virtualenv"}, found
    assert real(unrelated) not in found


@pytest.mark.parametrize("minor_version", ["3.6", "3.8"])
def test_an_old_pythons_venv_reports_its_version(tmp_path: Path, minor_version: str) -> None:
    from conftest import need_python

    exe = need_python(minor_version)
    project = make_project(tmp_path / "tree" / "old")
    subprocess.run([str(exe), "-m", "venv", "--without-pip", str(project / ".venv")], check=True)
    [item] = scan_json(str(tmp_path / "tree"), home=tmp_path / "home")
    assert (item["tool"], item["python"], item["status"]) == ("venv", version_of(Path(os.path.realpath(exe))), "ok"), item


def test_pipenv_and_virtualenvwrapper_share_workon_home_and_are_told_apart(tmp_path: Path) -> None:
    """With WORKON_HOME set both keep theirs there: pipenv's is `NAME-HASH` with a
    `.project`, virtualenvwrapper's any other (with or without a `.project`)."""
    workon = tmp_path / "workon"
    app = tmp_path / "src" / "app"
    app.mkdir(parents=True)
    (app / "Pipfile").write_text("[packages]\n")
    pipenv_env = make_env(workon / pipenv_env_name(app), "virtualenv")
    (pipenv_env / ".project").write_text(str(app))
    wrapped = make_env(workon / "wrapped", "virtualenv")
    (wrapped / ".project").write_text(str(app))
    plain = make_env(workon / "plain", "virtualenv")
    hashed_no_project = make_env(workon / "looks-AbCdEfGh", "virtualenv")
    found = by_path(scan_json(str(workon), home=tmp_path / "home", extra={"WORKON_HOME": str(workon)}))
    assert {p: i["tool"] for p, i in found.items()} == {
        real(pipenv_env): "pipenv", real(wrapped): "virtualenvwrapper", real(plain): "virtualenvwrapper",
        real(hashed_no_project): "virtualenvwrapper"}, found
    assert found[real(pipenv_env)]["project"] == real(app) == found[real(wrapped)]["project"]
