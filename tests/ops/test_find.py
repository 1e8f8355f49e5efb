"""`envman find`: the environments holding a distribution that matches a PEP 508
requirement, read from their metadata files; `--scan` adds the ones `envman scan` finds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import List

import pytest

from conftest import assert_clean_error, pyenv_pythons

from envman.ops import find as finding
from envman.python import installed


def a_venv(directory: Path, minor: str, *dists: str) -> Path:
    """A venv without pip (fast) holding hand-written `NAME-VERSION` dist-info directories."""
    python = pyenv_pythons().get(minor)
    if python is None:
        pytest.skip(f"needs pyenv's Python {minor}")
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(directory)], check=True)
    site = installed.site_packages(directory)[0]
    for spec in dists:
        name, version = spec.split("-")
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nA README\n")
    return directory


def two_minors() -> List[str]:
    found = [m for m in ("3.12", "3.11", "3.13", "3.10") if m in pyenv_pythons()]
    if len(found) < 2:
        pytest.skip("needs two pyenv Pythons")
    return found[:2]


def adopt(cli, env: Path, name: str) -> None:
    done = cli("adopt", str(env), "--name", name, "--project", str(env.parent))
    assert done.code == 0, done


@pytest.mark.smoke
def test_find_in_registered_environments(cli, tmp_path: Path, requirements) -> None:
    project = tmp_path / "project"
    req = requirements("tinypkg==1.0")
    made = cli("new", "web", "-r", str(req), "-q", cwd=project)  # a real pip install
    assert made.code == 0, made
    first, second = two_minors()
    adopt(cli, a_venv(tmp_path / "api" / ".venv", first, "tinypkg-2.0", "other-1.0"), "api")
    adopt(cli, a_venv(tmp_path / "old" / ".venv", second, "TinyPkg-2.1rc1"), "old")

    done = cli("find", "tinypkg<2")
    assert done.code == 0, done
    lines = done.out.splitlines()
    assert len(lines) == 1 and lines[0].split()[:3] == ["web", "tinypkg", "1.0"], done

    done = cli("find", "tinypkg>=2", "--json")
    assert done.code == 0, done
    found = json.loads(done.out)
    assert [(f["name"], f["distribution"], f["version"]) for f in found] == [
        ("api", "tinypkg", "2.0"), ("old", "TinyPkg", "2.1rc1")]  # a pre-release is installed: it matches
    assert all(set(f) == {"name", "path", "distribution", "version"} for f in found)
    assert found[0]["path"] == str((tmp_path / "api" / ".venv").resolve())


def test_names_compare_normalised(cli, tmp_path: Path) -> None:
    adopt(cli, a_venv(tmp_path / "a" / ".venv", two_minors()[0], "Foo_Bar-1.0", "foobar-9"), "a")
    for asked in ("foo-bar", "FOO.BAR==1.0", "foo__bar>0.5"):
        done = cli("find", asked)
        assert done.code == 0 and done.out.split()[:3] == ["a", "Foo_Bar", "1.0"], (asked, done)


def test_a_marker_is_evaluated_for_each_environments_python(cli, tmp_path: Path) -> None:
    first, second = sorted(two_minors(), key=lambda m: tuple(map(int, m.split("."))))
    adopt(cli, a_venv(tmp_path / "low" / ".venv", first, "x-1"), "low")
    adopt(cli, a_venv(tmp_path / "high" / ".venv", second, "x-1"), "high")
    done = cli("find", f"x; python_version >= '{second}'", "--json")
    assert done.code == 0, done
    assert [f["name"] for f in json.loads(done.out)] == ["high"]
    done = cli("find", "x[extra1]==1", "--json")  # extras ignored
    assert [f["name"] for f in json.loads(done.out)] == ["high", "low"]


def test_no_match_exits_0(cli, tmp_path: Path) -> None:
    adopt(cli, a_venv(tmp_path / "a" / ".venv", two_minors()[0], "x-1"), "a")
    done = cli("find", "x>1")
    assert done.code == 0 and done.out == "", done
    assert "no registered environment holds x>1" in done.err
    done = cli("find", "nothing", "--json")
    assert done.code == 0 and json.loads(done.out) == [], done


@pytest.mark.parametrize("args", [["urllib3<<2"], ["requests>=2;"], ["-"], ["x", "some/dir"]])
def test_bad_input_is_one_error_line(cli, args: List[str]) -> None:
    assert_clean_error(cli("find", *args), 2)


def test_egg_info_is_found(cli, tmp_path: Path) -> None:
    env = a_venv(tmp_path / "e" / ".venv", two_minors()[0])
    site = installed.site_packages(env)[0]
    (site / "Legacy_Thing-0.4-py3.egg-info").mkdir()
    (site / "Legacy_Thing-0.4-py3.egg-info" / "PKG-INFO").write_text("Name: Legacy-Thing\nVersion: 0.4\n")
    adopt(cli, env, "e")
    done = cli("find", "legacy.thing<1")
    assert done.code == 0 and done.out.split()[:3] == ["e", "Legacy-Thing", "0.4"], done


def test_scan_finds_unregistered_environments(cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    minor = two_minors()[0]
    loose = a_venv(src / "loose" / ".venv", minor, "urllib3-2.2.2")  # not < 2.2.2
    adopt(cli, a_venv(src / "known" / ".venv", minor, "urllib3-2.0.0"), "known")
    conda = src / "condaenv"  # a conda environment: conda-meta/ and lib/pythonX.Y/site-packages
    (conda / "conda-meta").mkdir(parents=True)
    (conda / "conda-meta" / "history").write_text("")
    (conda / "conda-meta" / f"python-{minor}.1-h0_0.json").write_text("{}")
    info = conda / "lib" / f"python{minor}" / "site-packages" / "urllib3-1.26.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Name: urllib3\nVersion: 1.26.0\n")

    done = cli("find", "urllib3<2.2.2", "--json")  # the registry alone
    assert [f["name"] for f in json.loads(done.out)] == ["known"], done
    done = cli("find", "urllib3<2.2.2", "--scan", str(src), "--json")  # SPEC's spelling
    assert done.code == 0, done
    found = json.loads(done.out)
    assert [(f["name"], f["version"]) for f in found] == [("known", "2.0.0"), (None, "1.26.0")], done
    assert found[1]["path"] == str(conda.resolve())
    done = cli("find", "urllib3", "--scan", str(src))
    lines = done.out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("known ") and any(
        line.startswith("- ") and line.endswith(str(loose.resolve())) for line in lines), done
    assert_clean_error(cli("find", "urllib3", "--scan", str(tmp_path / "nowhere")), 2)


def test_places_are_each_environment_once(tmp_path: Path) -> None:
    a = finding.Place(str(tmp_path / "a"), "a")
    again = finding.Place(str(tmp_path / "a"), None)  # the same path twice
    b = finding.Place(str(tmp_path / "b"), None)
    assert finding.places([a], [b, again]) == [a, b]


@pytest.mark.parametrize("requirement, version, matches", [
    ("x", "1.0", True), ("x<2", "1.5rc1", True), ("x<2", "2.0rc1", False),  # PEP 440: not 2's own ("x>=2", "2.0rc1", False), ("x>1", "2.0rc1", True),
    ("x==1.*", "1.4", True), ("x", "1.0.foo", True), ("x<2", "1.0.foo", False),
    ("x @ https://example.com/x.whl", "3", True),
])
def test_version_matching(requirement: str, version: str, matches: bool) -> None:
    assert finding.version_matches(finding.parse(requirement), version) is matches


def test_text_from_metadata_cannot_drive_the_terminal(cli, tmp_path: Path) -> None:
    env = a_venv(tmp_path / "h" / ".venv", two_minors()[0])
    info = installed.site_packages(env)[0] / "evil-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Name: evil\x1b]0;owned\x07\nVersion: 1.0\n")
    adopt(cli, env, "h")
    done = cli("find", "evil")
    assert done.code == 0 and "\x1b" not in done.out and "evil\\x1b]0;owned\\x07" in done.out, done
    done = cli("freeze", "h")
    assert done.code == 0 and done.out == "evil\\x1b]0;owned\\x07==1.0\n", done


def test_scan_on_a_terminal_shows_its_progress_and_clears_it(tmp_path: Path) -> None:
    from conftest import on_terminal

    a_venv(tmp_path / "src" / "p" / ".venv", two_minors()[0], "urllib3-2.0.0")
    code, seen = on_terminal(["find", "urllib3", "--scan", str(tmp_path / "src")], "")
    assert code == 0 and "Traceback" not in seen, seen
    assert "urllib3" in seen and "2.0.0" in seen, seen
