"""A venv made in envman's own process is the one `INTERPRETER -m venv` makes, for every
CPython 3.8-3.13 here: each runs the comparison itself, since in-process creation only
ever happens in the interpreter that is being used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, need_python
from envman.create import inprocess
from envman.python.interpreters import Interpreter

HERE = ".".join(str(part) for part in sys.version_info[:3])

# Run by each interpreter: both spellings of itself (as run, real path), links and
# copies, every option; prints one line per difference.
COMPARE = r"""
import os, subprocess, sys, tempfile
from envman.create import inprocess
from envman.python.interpreters import Interpreter

here = ".".join(map(str, sys.version_info[:3]))

def listing(root):
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            key = os.path.relpath(path, root)
            if os.path.islink(path):
                found[key] = "link -> " + os.readlink(path)
            elif os.path.isdir(path):
                found[key] = "dir"
            elif key.startswith("bin/python"):  # a copied interpreter: bytes, not text
                found[key] = "file"
            else:
                with open(path, errors="replace") as handle:
                    found[key] = handle.read().replace(root, "ROOT")
    return found

for chosen in (sys._base_executable, os.path.realpath(sys._base_executable)):
    for copies, site, prompt in ((False, False, None), (True, True, "p q")):
        top = tempfile.mkdtemp()
        ours, theirs = os.path.join(top, "a", "env"), os.path.join(top, "b", "env")
        interpreter = Interpreter(chosen, here, "cpython")
        assert inprocess.runs_here(interpreter), chosen
        inprocess.create_here(interpreter, ours, system_site_packages=site, copies=copies, prompt=prompt)
        subprocess.run([chosen, "-I", "-m", "venv", "--without-pip", *(["--copies"] if copies else []),
                        *(["--system-site-packages"] if site else []),
                        *(["--prompt", prompt] if prompt else []), theirs], check=True)
        a, b = listing(ours), listing(theirs)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                print(f"{chosen} copies={copies}: {key}: {a.get(key)!r} != {b.get(key)!r}")
        done = subprocess.run([os.path.join(ours, "bin", "python"), "-c", "import sys; print(sys.prefix)"],
                              capture_output=True, text=True, check=True)
        assert done.stdout.strip() == ours, done
print("compared")
"""


@pytest.mark.parametrize("minor", ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"])
def test_made_here_equals_made_by_a_subprocess(minor: str) -> None:
    python = need_python(minor)
    done = subprocess.run([str(python), "-I", "-c", f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + COMPARE],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "compared", done.stdout + done.stderr


def test_another_interpreter_is_not_made_here() -> None:
    assert not inprocess.runs_here(Interpreter(sys.executable, "2.7.18", "cpython"))
    other = next((m for m in ("3.12", "3.10", "3.13") if m != f"{sys.version_info[0]}.{sys.version_info[1]}"))
    python = need_python(other)
    version = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert not inprocess.runs_here(Interpreter(str(python), version, "cpython"))
    assert inprocess.runs_here(Interpreter(os.path.realpath(sys.executable), HERE, "cpython"))


def test_a_failure_is_one_clean_error(tmp_path: Path) -> None:
    from envman.errors import OperationFailed

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OperationFailed, match="creating the environment with Python"):
        inprocess.create_here(Interpreter(os.path.realpath(sys.executable), HERE, "cpython"),
                          str(blocker / "env"), system_site_packages=False, copies=False, prompt=None)


@pytest.mark.parametrize("installer", ["uv"], indirect=True)
def test_with_uv_on_path_the_interpreter_running_envman_makes_the_venv_in_process(
        cli, project: Path, home: Path, requirements, installer: str) -> None:
    """No `uv venv` process when envman's own interpreter is chosen: the standard
    library's venv makes it here, pip is seeded from the image, uv installs."""
    req = requirements("tinypkg==1.0")
    made = cli("new", "u", "--python", sys.executable, "-r", str(req), cwd=project)
    assert made.code == 0, made
    assert "creating the environment with venv" in made.err, made
    assert "uv venv" not in made.err and "installing 1 requirement file with uv pip" in made.err, made
    env = home / "envs" / "u"
    assert "uv = " not in (env / "pyvenv.cfg").read_text()
    ran = cli("run", "u", "--", "python", "-c", "import tinypkg, pip; print(tinypkg.VERSION)")
    assert ran.code == 0 and ran.out.strip() == "1.0", ran
