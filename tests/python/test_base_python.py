"""The interpreter chosen is never a virtual environment's (its base instead, or a clean
refusal), and a project's `requires-python` that the choice does not meet is warned
about: with real venvs and real `new`, and in-process with a fake probe."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import a_python, assert_clean_error, entries, two_pythons, pyenv_pythons

from envman.python import checks
from envman.errors import UsageError
from envman.python.interpreters import Finder, Interpreter


def make_venv(where: Path, python: Path, *options: str) -> Path:
    subprocess.run([str(python), "-m", "venv", "--without-pip", *options, str(where)], check=True)
    return where


def active(venv: Path) -> Dict[str, str]:
    """The variables an activated venv sets: its bin first on PATH."""
    return {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}


def test_new_from_inside_an_active_venv_records_its_base(cli, tmp_path: Path, project: Path,
                                                         home: Path) -> None:
    python = a_python()
    venv = make_venv(tmp_path / "active", python)
    made = cli("new", "web", "--without-pip", "--json", cwd=project, env=active(venv))
    assert made.code == 0, made
    recorded = json.loads(made.out)["python_executable"]
    assert not recorded.startswith(str(venv) + os.sep), made
    assert os.path.realpath(recorded) == os.path.realpath(python)
    assert f"{venv / 'bin' / 'python3'} is the interpreter of the virtual environment {venv}" in made.err
    cfg = (home / "envs" / "web" / "pyvenv.cfg").read_text()
    assert str(venv) not in cfg, cfg
    shutil.rmtree(venv)  # what broke environments built on it
    ran = cli("run", "web", "--", "python", "-c", "import sys; print(sys.prefix)")
    assert ran.code == 0 and ran.out.strip() == str(home / "envs" / "web"), ran
    assert json.loads(cli("ls", "--json").out)[0]["reasons"] == []


def test_a_venv_without_a_findable_base_is_refused(cli, tmp_path: Path, project: Path,
                                                   home: Path) -> None:
    venv = make_venv(tmp_path / "copied", a_python(), "--copies")  # runs without its base
    cfg = venv / "pyvenv.cfg"
    lines = [line for line in cfg.read_text().splitlines()
             if not line.startswith(("home", "executable", "command"))]
    cfg.write_text("\n".join([*lines, f"home = {tmp_path / 'uninstalled' / 'bin'}"]) + "\n")
    for args in (["new", "web", "--without-pip"],
                 ["new", "web", "--without-pip", "--python", str(venv / "bin" / "python3")]):
        refused = cli(*args, cwd=project, env=active(venv))
        assert_clean_error(refused, 2)
        assert "no base interpreter" in refused.err and str(venv) in refused.err, refused
    assert not (home / "envs").exists() or entries(home / "envs") == []
    assert json.loads(cli("ls", "--json").out) == []


def test_requires_python_not_met_is_a_warning_naming_both(cli, project: Path) -> None:
    chosen, other = two_pythons()
    (project / "pyproject.toml").write_text(f'[project]\nname = "x"\nrequires-python = "=={other}.*"\n')
    made = cli("new", "web", "--without-pip", "--python", chosen, cwd=project)
    assert made.code == 0, made
    warning = [line for line in made.err.splitlines() if "requires-python" in line]
    assert len(warning) == 1 and f"'=={other}.*'" in warning[0] and f"Python {chosen}." in warning[0] \
        and "from --python" in warning[0], made
    (project / ".python-version").write_text(f"{other}\n")  # the choice agrees: nothing said
    agreed = cli("new", "api", "--without-pip", cwd=project)
    assert agreed.code == 0 and "requires-python" not in agreed.err, agreed


# -- in-process: a fake probe answers for fake interpreters ----------------------------


class Probed:
    def __init__(self, versions: Dict[str, str]) -> None:
        self.versions = versions  # executable -> version; others do not run
        self.told: List[str] = []

    def finder(self, tmp_path: Path) -> Finder:
        cache = tmp_path / f"cache-{len(list(tmp_path.glob('cache-*')))}"  # a fresh probe cache
        cache.mkdir()
        return Finder(cache, environ={"PATH": ""}, probe=self.probe, tell=self.told.append)

    def probe(self, executable: str, cwd: Optional[str] = None) -> Interpreter:
        from envman.errors import OperationFailed

        if executable not in self.versions:
            raise OperationFailed(f"probing {executable} failed")
        return Interpreter(executable, self.versions[executable], "cpython")


def fake_python(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    path.chmod(0o755)
    return str(path)


def fake_venv(root: Path, **cfg: str) -> str:
    root.mkdir(parents=True)
    (root / "pyvenv.cfg").write_text("".join(f"{k.replace('_', '-')} = {v}\n" for k, v in cfg.items()))
    return fake_python(root / "bin" / "python3")


def test_a_venv_made_from_a_venv_resolves_to_the_real_base(tmp_path: Path) -> None:
    base = fake_python(tmp_path / "usr" / "bin" / "python3.12")
    outer = fake_venv(tmp_path / "outer", home=str(tmp_path / "usr" / "bin"))
    inner = fake_venv(tmp_path / "inner", home=str(tmp_path / "outer" / "bin"))
    probed = Probed({base: "3.12.4", outer: "3.12.4", inner: "3.12.4"})
    found = checks.outside_venv(probed.finder(tmp_path), Interpreter(inner, "3.12.4", "cpython"))
    assert found.executable == base
    assert len(probed.told) == 1 and inner in probed.told[0] and base in probed.told[0]
    # `executable` (venv, 3.11+) and `base-executable` (virtualenv) are taken first;
    # a base of another version is none.
    other = fake_python(tmp_path / "opt" / "python3")
    named = fake_venv(tmp_path / "named", executable=other, home=str(tmp_path / "usr" / "bin"))
    probed.versions.update({other: "3.12.1", named: "3.12.4"})
    assert checks.outside_venv(probed.finder(tmp_path),
                                    Interpreter(named, "3.12.4", "cpython")).executable == other
    probed.versions[other] = "3.11.9"
    assert checks.outside_venv(probed.finder(tmp_path),
                                    Interpreter(named, "3.12.4", "cpython")).executable == base
    # Two venvs naming each other: refused, not a loop.
    a = fake_venv(tmp_path / "a", home=str(tmp_path / "b" / "bin"))
    b = fake_venv(tmp_path / "b", home=str(tmp_path / "a" / "bin"))
    probed.versions.update({a: "3.12.4", b: "3.12.4"})
    with pytest.raises(UsageError):
        checks.outside_venv(probed.finder(tmp_path), Interpreter(a, "3.12.4", "cpython"))
    plain = Interpreter(base, "3.12.4", "cpython")
    assert checks.outside_venv(probed.finder(tmp_path), plain) is plain


def test_requires_python_is_read_safely(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    assert checks.requires_python(project) is None
    (project / "pyproject.toml").write_text("[project\n")
    assert checks.requires_python(project) is None  # someone else's broken file says nothing
    (project / "pyproject.toml").unlink()
    os.mkfifo(project / "pyproject.toml")
    assert checks.requires_python(project) is None  # never opened: no hang
    (project / "pyproject.toml").unlink()
    (project / "pyproject.toml").write_text('[project]\nrequires-python = " >=3.10 "\n')
    assert checks.requires_python(project) == ">=3.10"
    probed = Probed({})
    finder = probed.finder(tmp_path)
    checks.check_requires_python(finder, project, Interpreter("/x/python3", "3.12.1", "cpython"), "PATH")
    assert probed.told == []
    checks.check_requires_python(finder, project, Interpreter("/x/python3", "3.9.18", "cpython"), "PATH")
    assert len(probed.told) == 1 and "'>=3.10'" in probed.told[0] and "3.9.18" in probed.told[0]


def test_recreate_does_not_keep_a_venv_interpreter_as_base(cli, tmp_path: Path, project: Path) -> None:
    if "3.12" not in pyenv_pythons():
        pytest.skip("needs pyenv's 3.12")
    venv = make_venv(tmp_path / "tool", pyenv_pythons()["3.12"])
    assert cli("new", "web", "--without-pip", "--python", "3.12", cwd=project).code == 0
    rebuilt = cli("recreate", "web", "--python", str(venv / "bin" / "python"))
    assert rebuilt.code == 0, rebuilt
    info = json.loads(cli("info", "web", "--json").out)
    assert not info["python_executable"].startswith(str(venv)), info
    assert "is the interpreter of the virtual environment" in rebuilt.err
