"""In-process checks of what `scan` concludes from files: tool, project, Python, sizes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional

import pytest

from envman.cli.base import shown
from envman.discovery.classify import Classifier
from envman.discovery.roots import distinct_roots, tool_stores
from envman.discovery.walk import walk
from envman.errors import UsageError
from envman.sizes import measure_trees, parse_size


def make_env(path: Path, **keys: str) -> Path:
    path.mkdir(parents=True)
    lines = [f"{k.replace('_', '-') if k != 'version_info' else k} = {v}" for k, v in keys.items()]
    (path / "pyvenv.cfg").write_text("\n".join(["home = /nonexistent/bin", *lines]) + "\n")
    return path


def identify(root: Path, environ: Dict[str, str]):
    walked = walk([str(root)])
    classifier = Classifier(walked, tool_stores(environ))
    return {os.path.relpath(c.path, root): classifier.identify(c) for c in walked.candidates}


@pytest.mark.parametrize("keys, where, tool, project", [
    ({"version": "3.12.1"}, "src/web/.venv", "venv", "src/web"),
    ({"uv": "0.9.2", "version_info": "3.12.1"}, "src/web/.venv", "uv", "src/web"),
    ({"virtualenv": "20.26.0", "version_info": "3.12.1.final.0"}, "src/web/venv", "virtualenv", "src/web"),
    ({"virtualenv": "20.26.0"}, "src/web/.tox/py312", "tox", "src/web"),
    ({"version": "3.12.1"}, "src/web/.nox/tests", "nox", "src/web"),
    ({"virtualenv": "20.26.0"}, "home/.virtualenvs/tools", "virtualenvwrapper", None),
    ({"virtualenv": "20.26.0"}, "home/.local/share/virtualenvs/web-AbCd1234", "pipenv", None),
    ({"version": "3.12.1"}, "home/.local/share/pipx/venvs/black", "pipx", None),
    ({"virtualenv": "20.26.0"}, "home/.local/share/hatch/env/virtual/web/Xy12_-ab/default", "hatch", None),
    ({"virtualenv": "20.26.0"}, "home/.local/share/pdm/venvs/web-Xy12ab34-3.12", "pdm", None),
    ({"version": "3.12.1"}, "home/.pyenv/versions/3.12.1/envs/tools", "pyenv-virtualenv", None),
    ({"virtualenv": "20.26.0"}, "home/.cache/pypoetry/virtualenvs/web-Xy12ab34-py3.12", "poetry", None),
])
def test_tool_and_project_from_keys_and_place(tmp_path: Path, keys: Dict[str, str], where: str,
                                             tool: str, project: Optional[str]) -> None:
    make_env(tmp_path / where, **keys)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    found = identify(tmp_path, {"HOME": str(home)})
    assert list(found) == [where]
    assert found[where].tool == tool
    assert found[where].project == (str(tmp_path / project) if project else None)


def test_in_project_virtualenv_takes_the_tool_of_the_project_files(tmp_path: Path) -> None:
    for project, marker in (("p", "poetry.lock"), ("d", ".pdm-python"), ("e", "Pipfile"), ("v", "README")):
        make_env(tmp_path / project / ".venv", virtualenv="20.26.0")
        (tmp_path / project / marker).write_text("")
    found = identify(tmp_path, {"HOME": str(tmp_path / "nohome")})
    assert {k: v.tool for k, v in found.items()} == {
        "p/.venv": "poetry", "d/.venv": "pdm", "e/.venv": "pipenv", "v/.venv": "virtualenv"}


def test_project_from_project_file_listing_link_and_poetry_hash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    wrapper = make_env(home / ".virtualenvs" / "proj", virtualenv="20")
    (tmp_path / "proj").mkdir()
    (wrapper / ".project").write_text(str(tmp_path / "proj") + "\n")
    central = make_env(home / ".cache" / "uv" / "environments" / "web-abc", uv="0.11", version_info="3.12.1")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / ".venv").symlink_to(central)
    listed = make_env(home / "elsewhere" / "api-3.11", version="3.11.9")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / ".python-envs").write_text(f"# mine\n{listed}\n")
    (tmp_path / "poet").mkdir()
    (tmp_path / "poet" / "pyproject.toml").write_text("[tool.poetry]\nname = 'poet'\n")
    from envman.discovery.classify import project_hash
    make_env(home / ".cache" / "pypoetry" / "virtualenvs" / f"poet-{project_hash('poetry', str(tmp_path / 'poet'))}-py3.12",
             virtualenv="20")
    make_env(home / ".local" / "share" / "hatch" / "env" / "virtual" / "poet"
             / project_hash("hatch", str(tmp_path / "poet")) / "poet", virtualenv="20")
    make_env(home / ".local" / "share" / "pdm" / "venvs" / f"poet-{project_hash('pdm', str(tmp_path / 'poet'))}-3.12",
             virtualenv="20")
    found = identify(tmp_path, {"HOME": str(home)})
    projects = {k: v.project for k, v in found.items()}
    assert projects["home/.virtualenvs/proj"] == str(tmp_path / "proj")
    assert projects["home/.cache/uv/environments/web-abc"] == str(tmp_path / "web")
    assert projects["home/elsewhere/api-3.11"] == str(tmp_path / "api")
    assert {v.tool: v.project for k, v in found.items() if "poet" in k} == {
        "poetry": str(tmp_path / "poet"), "hatch": str(tmp_path / "poet"), "pdm": str(tmp_path / "poet")}
    assert len(found) == 6  # the `.venv` link is not a second environment


def test_python_version_from_each_tools_keys_and_conda(tmp_path: Path) -> None:
    make_env(tmp_path / "a", version="3.12.1")
    make_env(tmp_path / "b", version_info="3.11.9.final.0")
    make_env(tmp_path / "c")
    conda = tmp_path / "d"
    (conda / "conda-meta").mkdir(parents=True)
    (conda / "conda-meta" / "python-3.10.14-hd12c33a_0_cpython.json").write_text("{}")
    found = identify(tmp_path, {"HOME": str(tmp_path / "nohome")})
    assert {k: v.python for k, v in found.items()} == {"a": "3.12.1", "b": "3.11.9", "c": None, "d": "3.10.14"}
    assert found["d"].tool == "conda" and not found["d"].python_present
    assert not found["a"].python_present  # `home` names a directory that does not exist


def test_a_conda_installation_is_not_an_environment_but_its_envs_are(tmp_path: Path) -> None:
    base = tmp_path / "miniforge3"
    for d in ("conda-meta", "condabin", "pkgs/numpy-1.0/info", "envs/ml/conda-meta"):
        (base / d).mkdir(parents=True)
    (base / "pkgs" / "numpy-1.0" / "pyvenv.cfg").write_text("")  # the package cache is not walked
    assert [c.path for c in walk([str(tmp_path)]).candidates] == [str(base / "envs" / "ml")]


def test_pyvenv_cfg_that_is_not_a_file_makes_no_environment(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pyvenv.cfg")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "pyvenv.cfg").mkdir()
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "pyvenv.cfg").symlink_to(tmp_path / "d" / "pyvenv.cfg")
    assert walk([str(tmp_path)]).candidates == []


def test_roots_inside_others_are_walked_once(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert distinct_roots([tmp_path / "a" / "b", tmp_path / "link", tmp_path / "a"]) == [tmp_path / "a"]


@pytest.mark.parametrize("text, size", [("500MB", 500_000_000), ("1.5GB", 1_500_000_000), ("200KiB", 204_800),
                                        ("12", 12), ("3 gib", 3 << 30), ("0.5k", 500), ("7B", 7)])
def test_sizes_people_write(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "-1MB", "1XB", "1e3", "1.2.3KB"])
def test_sizes_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_size(text)


def test_a_file_hard_linked_into_several_trees_counts_once_in_the_first(tmp_path: Path) -> None:
    trees = [tmp_path / n for n in ("a", "b", "c")]
    for t in trees:
        t.mkdir()
    (trees[0] / "big").write_bytes(b"x" * 400_000)
    os.link(trees[0] / "big", trees[1] / "big")
    os.link(trees[0] / "big", trees[2] / "big")
    (tmp_path / "outside").write_bytes(b"y" * 400_000)
    os.link(tmp_path / "outside", trees[2] / "also")  # linked from outside too: deleting frees nothing
    measured = measure_trees([str(t) for t in trees])
    blocks = os.lstat(trees[0] / "big").st_blocks * 512
    directory = os.lstat(trees[0]).st_blocks * 512
    assert [size for size, _ in measured] == [directory + blocks, directory, directory]
    assert measure_trees([str(trees[1])])[0][0] == directory  # its other links are elsewhere
    assert measured[0][1] >= os.lstat(trees[0] / "big").st_mtime


def test_paths_are_shown_on_one_line() -> None:
    assert shown("/a\nb\tc") == "/a\\x0ab\\x09c"
    assert shown(os.fsdecode(b"/x\xffy")) == "/x\\udcffy"


def test_the_sizes_cache_is_used_only_while_no_directory_changed(tmp_path: Path) -> None:
    import json

    trees = [tmp_path / n for n in ("a", "b")]
    for t in trees:
        (t / "lib" / "deep").mkdir(parents=True)
        (t / "lib" / "deep" / "f").write_bytes(b"x" * 50_000)
    os.link(trees[0] / "lib" / "deep" / "f", tmp_path / "elsewhere")  # linked from outside
    cache = tmp_path / "cache" / "sizes.json"
    paths = [str(t) for t in trees]
    fresh = measure_trees(paths)
    assert measure_trees(paths, cache=cache) == fresh  # walked, and written down
    stored = json.loads(cache.read_text())["trees"]
    stored[paths[1]]["own"] += 1_000_000  # what a walk would not say: only the cache does
    cache.write_text(json.dumps({"version": 1, "trees": stored}))
    assert measure_trees(paths, cache=cache)[1][0] == fresh[1][0] + 1_000_000, "an unchanged tree is not walked"
    (tmp_path / "elsewhere").unlink()  # a link count changes in no directory of theirs
    assert measure_trees(paths, cache=cache)[0][0] > fresh[0][0], "linked files are looked at every time"
    (trees[1] / "lib" / "deep" / "g").write_bytes(b"y" * 50_000)  # deep/ changed: walked again
    assert measure_trees(paths, cache=cache)[1][0] == measure_trees(paths)[1][0] > fresh[1][0]
    stored = json.loads(cache.read_text())["trees"]
    stored[paths[0]]["own"] += 1_000_000
    stored[paths[0]]["measured"] -= 2 * 86400  # trusted for a day at most
    cache.write_text(json.dumps({"version": 1, "trees": stored}))
    assert measure_trees(paths, cache=cache)[0][0] == measure_trees(paths)[0][0]
    cache.write_text("{not json")
    assert measure_trees(paths, cache=cache) == measure_trees(paths)


def test_tab_offers_the_tools_and_orders_scan_knows() -> None:
    from envman.discovery import scan
    from envman.shell import complete_fast

    assert (complete_fast.TOOLS, complete_fast.SORTS) == (scan.TOOLS, scan.SORTS)
    offered = complete_fast.candidates(["envman", "scan", "--type", "p"], 3, "bash", lambda: [])
    assert offered == ["poetry", "pipenv", "pyenv-virtualenv", "pdm", "pipx"]
    assert complete_fast.candidates(["envman", "scan", "--sort", ""], 3, "bash", lambda: []) == ["size", "age", "name"]
    assert complete_fast.candidates(["envman", "freeze", "w"], 2, "bash", lambda: ["web", "api"]) == ["web"]


def test_only_conda_environments_named_by_environments_txt_are_roots(tmp_path: Path) -> None:
    from envman.discovery.roots import default_roots

    home = tmp_path / "home"
    (home / ".conda").mkdir(parents=True)
    (tmp_path / "elsewhere" / "ml" / "conda-meta").mkdir(parents=True)
    (tmp_path / "elsewhere" / "notes").mkdir()
    (home / ".conda" / "environments.txt").write_text(
        f"/\n{tmp_path / 'elsewhere' / 'ml'}\n{tmp_path / 'elsewhere' / 'notes'}\n")
    assert default_roots({"HOME": str(home)}) == [home, tmp_path / "elsewhere" / "ml"]
