"""`envman scan --adopt` registers what it found and envman did not have: not conda's,
pipx's, tox's or nox's, not a directory inside envman's store; named after the project
directory (`-2`, `-3` where a name is taken); and `ls`, `activate` and `run` then work on
them as on any adopted environment."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from conftest import a_python
from scantrees import make_conda_env, make_env, make_project, real, run_scan


@pytest.fixture
def found_tree(cli, tmp_path: Path, home: Path) -> Dict[str, Path]:
    """A tree with one environment of each kind, and `web` already taken in the registry."""
    web_for = make_project(tmp_path / "elsewhere" / "web")
    made = cli("new", "web", "--project", str(web_for), "--python", str(a_python()), "--without-pip", "-q")
    assert made.code == 0, made
    tree = tmp_path / "tree"
    exe = a_python()
    api = make_project(tree / "api")
    subprocess.run([str(exe), "-m", "venv", "--without-pip", str(api / ".venv")], check=True)
    envs = {
        "api": api / ".venv",
        "web-a": make_env(make_project(tree / "a" / "web") / ".venv", "uv"),
        "web-b": make_env(make_project(tree / "b" / "web") / "venv", "virtualenv"),
        "tox": make_env(make_project(tree / "toxed") / ".tox" / "py312", "virtualenv"),
        "nox": make_env(make_project(tree / "noxed") / ".nox" / "tests", "virtualenv"),
        "conda": make_conda_env(tree / "conda-env"),
        "pipx": make_env(tmp_path / "pipx" / "venvs" / "black"),
        "in-store": make_env(home / "envs" / "stray"),
    }
    return envs


def adopt(tmp_path: Path, home: Path, *extra: str):
    return run_scan(str(tmp_path / "tree"), str(tmp_path / "pipx"), str(home), "--adopt", *extra,
                    home=tmp_path / "home", extra={"PIPX_HOME": str(tmp_path / "pipx")})


def test_adopt_registers_the_found_ones_named_after_their_projects(cli, tmp_path: Path, home: Path,
                                                                   found_tree: Dict[str, Path]) -> None:
    result = adopt(tmp_path, home)
    assert result.code == 0, result
    listed = cli("ls", "--json")
    assert listed.code == 0, listed
    records = {r["name"]: r for r in json.loads(listed.out)}
    assert set(records) == {"web", "api", "web-2", "web-3"}, records
    assert real(Path(records["api"]["path"])) == real(found_tree["api"])
    assert real(Path(records["api"]["project"])) == real(tmp_path / "tree" / "api")
    adopted_webs = {real(Path(records[n]["path"])) for n in ("web-2", "web-3")}
    assert adopted_webs == {real(found_tree["web-a"]), real(found_tree["web-b"])}
    for name in ("web-2", "web-3"):
        assert Path(records[name]["project"]).name == "web", records[name]


def test_adopt_twice_adopts_nothing_more(cli, tmp_path: Path, home: Path,
                                         found_tree: Dict[str, Path]) -> None:
    assert adopt(tmp_path, home).code == 0
    first = json.loads(cli("ls", "--json").out)
    again = adopt(tmp_path, home)
    assert again.code == 0, again
    assert json.loads(cli("ls", "--json").out) == first


def test_an_adopted_environment_can_be_run_and_activated(cli, tmp_path: Path, home: Path,
                                                         found_tree: Dict[str, Path]) -> None:
    assert adopt(tmp_path, home).code == 0
    ran = cli("run", "api", "--", "python", "-c", "import sys; print(sys.prefix)")
    assert ran.code == 0, ran
    assert real(Path(ran.out.strip())) == real(found_tree["api"]), ran
    activated = cli("activate", "api", "--shell", "bash")
    assert activated.code == 0, activated
    assert str(found_tree["api"]) in activated.out, activated
    scanned = run_scan(str(tmp_path / "tree"), "--json", home=tmp_path / "home")
    assert scanned.code == 0, scanned
    names = {real(Path(i["path"])): i["registered"] for i in json.loads(scanned.out)}
    assert names[real(found_tree["api"])] == "api"
    assert names[real(found_tree["tox"])] is None and names[real(found_tree["conda"])] is None


@pytest.mark.parametrize("directory", [".dotted", "My Project (v2)", "\u00fcn\u00efcode", "x" * 100,
                                       "-leading-dash", "web"])
def test_a_project_directory_of_any_name_gives_a_valid_free_name(cli, tmp_path: Path, home: Path,
                                                                 directory: str) -> None:
    made = cli("new", "web", "--project", str(make_project(tmp_path / "web-home")), "--python",
               str(a_python()), "--without-pip", "-q")
    assert made.code == 0, made
    env = make_env(make_project(tmp_path / "tree" / directory) / ".venv")
    result = run_scan(str(tmp_path / "tree"), "--adopt", home=tmp_path / "home")
    assert result.code == 0, result
    assert "Traceback" not in result.err, result
    records = {r["name"]: r for r in json.loads(cli("ls", "--json").out)}
    [adopted] = [r for r in records.values() if real(Path(r["path"])) == real(env)]
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", adopted["name"]) and len(adopted["name"]) <= 64, adopted
    assert adopted["name"] != "web", "a name already taken is not reused"


def test_one_environment_that_cannot_be_adopted_does_not_stop_the_others(cli, tmp_path: Path,
                                                                         home: Path) -> None:
    broken = make_project(tmp_path / "tree" / "broken") / ".venv"
    broken.mkdir()
    (broken / "pyvenv.cfg").write_bytes(b"\x00\xff garbage \x00\n")
    good = make_env(make_project(tmp_path / "tree" / "good") / ".venv")
    result = run_scan(str(tmp_path / "tree"), "--adopt", home=tmp_path / "home")
    assert "Traceback" not in result.err, result
    assert result.code in (0, 1), result
    records = json.loads(cli("ls", "--json").out)
    assert [real(Path(r["path"])) for r in records] == [real(good)], records


def test_a_store_environment_is_adopted_for_the_project_it_was_matched_to(cli, tmp_path: Path) -> None:
    from scantrees import minor, poetry_env_name, version_of, base_python

    app = make_project(tmp_path / "home" / "src" / "billing")
    store = tmp_path / "home" / ".cache" / "pypoetry" / "virtualenvs"
    env = make_env(store / f"{poetry_env_name('billing', app)}-py{minor(version_of(base_python()))}", "virtualenv")
    result = run_scan(str(tmp_path / "home"), "--adopt", home=tmp_path / "home",
                      extra={"XDG_CACHE_HOME": str(tmp_path / "home" / ".cache")})
    assert result.code == 0, result
    [record] = json.loads(cli("ls", "--json").out)
    assert (record["name"], real(Path(record["path"])), real(Path(record["project"]))) == \
        ("billing", real(env), real(app)), record


def test_adopted_ones_are_in_ls_stale_and_prune_only_unregisters_them(cli, tmp_path: Path) -> None:
    from conftest import linked_python
    from scantrees import base_python, version_of

    exe = base_python()
    link = linked_python(tmp_path / "uninstalled", exe)
    broken = make_env(make_project(tmp_path / "tree" / "broken") / ".venv", exe=link, version=version_of(exe))
    fine = make_env(make_project(tmp_path / "tree" / "fine") / ".venv")
    import shutil

    shutil.rmtree(tmp_path / "uninstalled")
    assert run_scan(str(tmp_path / "tree"), "--adopt", home=tmp_path / "home").code == 0
    stale = cli("ls", "--stale", "--json")
    assert stale.code == 0, stale
    [record] = json.loads(stale.out)
    assert record["name"] == "broken" and "python-missing" in record["reasons"], record
    pruned = cli("prune", "--yes")
    assert pruned.code == 0, pruned
    assert [r["name"] for r in json.loads(cli("ls", "--json").out)] == ["fine"]
    assert (broken / "pyvenv.cfg").is_file(), "prune only unregisters an adopted environment"
    assert fine.exists()


def test_adopt_takes_the_filters_and_numbers_a_projects_second_environment(cli, tmp_path: Path) -> None:
    project = make_project(tmp_path / "tree" / "api")
    first = make_env(project / ".venv", "uv")
    second = make_env(project / "venv", "uv")
    other = make_env(make_project(tmp_path / "tree" / "other") / ".venv", "venv")
    result = run_scan(str(tmp_path / "tree"), "--adopt", "--type", "uv", home=tmp_path / "home")
    assert result.code == 0, result
    records = {r["name"]: real(Path(r["path"])) for r in json.loads(cli("ls", "--json").out)}
    assert set(records) == {"api", "api-2"}, records
    assert set(records.values()) == {real(first), real(second)}
    assert real(other) not in records.values()


def test_adopting_an_old_environment_is_no_use_of_it(cli, tmp_path: Path) -> None:
    """KillPy's question — which are stale? — must survive `scan --adopt`: registering an
    environment untouched for 200 days is not using it (SPEC's `unused`: created,
    activated, run, recreated)."""
    import os
    from datetime import datetime, timedelta, timezone

    env = make_env(make_project(tmp_path / "tree" / "old") / ".venv")
    stamp = (datetime.now(timezone.utc) - timedelta(days=200)).timestamp()
    for root, dirs, files in os.walk(env, topdown=False):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (stamp, stamp), follow_symlinks=False)
    os.utime(env, (stamp, stamp))
    assert run_scan(str(tmp_path / "tree"), "--adopt", home=tmp_path / "home").code == 0
    after = run_scan(str(tmp_path / "tree"), "--older-than", "90d", "--json", home=tmp_path / "home")
    assert after.code == 0, after
    [item] = json.loads(after.out)
    assert item["registered"] == "old" and "unused" in item["reasons"], item


def test_environments_under_hostile_names_are_adopted_and_activate_safely(cli, tmp_path: Path) -> None:
    """What the scan adopts from a stranger's tree goes into the registry and into shell
    code: a name that is a command substitution must stay a name."""
    tree = tmp_path / "tree"
    hostile = ["$(touch pwned)", "new\nline", "quote'\"`"]
    envs = {name: make_env(make_project(tree / name) / ".venv") for name in hostile}
    result = run_scan(str(tree), "--adopt", home=tmp_path / "home", cwd=tmp_path)
    assert result.code == 0, result
    records = {real(Path(r["path"])): r["name"] for r in json.loads(cli("ls", "--json").out)}
    # a path with a newline cannot go on PATH in any shell: envman never takes one in
    carried = {name: env for name, env in envs.items() if "\n" not in name}
    assert set(records) == {real(e) for e in carried.values()}, records
    assert "skipped" in result.err and "new\\x0aline" in result.err, result
    for name, env in carried.items():
        snippet = cli("activate", records[real(env)], "--shell", "bash", cwd=tmp_path)
        assert snippet.code == 0, snippet
        shown = subprocess.run(["bash", "-c", snippet.out + '\nprintf %s "$VIRTUAL_ENV"'], cwd=tmp_path,
                               capture_output=True, text=True, timeout=30)
        assert shown.stdout == str(env), (name, shown)
    assert not (tmp_path / "pwned").exists() and not (tree / "pwned").exists()
