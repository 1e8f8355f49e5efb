"""A pyenv shim is resolved the way pyenv would, without starting it: its probe is
then cached like any interpreter's. In-process, against a fake pyenv root whose shims
could not even run (their `libexec/pyenv` does not exist)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import a_python

from envman.python import pyenv
from envman.python.interpreters import Finder, Interpreter


def fake_pyenv(tmp_path: Path, versions: List[str], global_version: Optional[str] = None) -> Path:
    """`<root>/versions/<v>/bin/python3` (links to a real Python) and `<root>/shims/python3`."""
    root = tmp_path / "pyenv"
    real = a_python().resolve()
    for version in versions:
        bindir = root / "versions" / version / "bin"
        bindir.mkdir(parents=True)
        (bindir / "python3").symlink_to(real)
    shims = root / "shims"
    shims.mkdir(parents=True)
    for name in ("python3", "uv"):
        shim = shims / name
        shim.write_text('#!/usr/bin/env bash\nset -e\n[ -n "$PYENV_DEBUG" ] && set -x\n\n'
                        'program="${0##*/}"\n\n'
                        f'export PYENV_ROOT="{root}"\n'
                        f'exec "{root}/libexec/pyenv" exec "$program" "$@"\n')
        shim.chmod(0o755)
    if global_version is not None:
        (root / "version").write_text(global_version + "\n")
    return root


def resolve(root: Path, cwd: Path, environ: Optional[Dict[str, str]] = None) -> Optional[str]:
    shim = str(root / "shims" / "python3")
    assert pyenv.shim_root(shim) == root
    return pyenv.resolve_shim(shim, root, str(cwd), environ or {})


def test_version_sources_in_pyenv_order(tmp_path: Path) -> None:
    root = fake_pyenv(tmp_path, ["3.11.7", "3.12.1", "3.12.10"], global_version="3.11.7")
    project = tmp_path / "src" / "proj"
    deep = project / "pkg" / "sub"
    deep.mkdir(parents=True)
    versions = root / "versions"
    assert resolve(root, deep) == str(versions / "3.11.7" / "bin" / "python3"), "the global version"
    (project / ".python-version").write_text("# pinned\n3.12.1\n")
    assert resolve(root, deep) == str(versions / "3.12.1" / "bin" / "python3"), "nearest file upwards"
    assert resolve(root, deep, {"PYENV_VERSION": "3.11.7"}) == str(versions / "3.11.7" / "bin" / "python3")
    (project / ".python-version").write_text("3.12\n")
    assert resolve(root, deep) == str(versions / "3.12.10" / "bin" / "python3"), "a prefix: the newest"
    (project / ".python-version").write_text("3.9.1 3.12.1\n")
    assert resolve(root, deep) == str(versions / "3.12.1" / "bin" / "python3"), "the first that has it"
    (project / ".python-version").write_text("3.9.1\n")
    assert resolve(root, deep) is None, "pyenv would fail: so no answer, and the shim runs"


def test_system_means_path_outside_the_shims(tmp_path: Path) -> None:
    root = fake_pyenv(tmp_path, [], global_version="system")
    system = tmp_path / "usr-bin"
    system.mkdir()
    (system / "python3").symlink_to(a_python().resolve())
    path = os.pathsep.join([str(root / "shims"), str(system)])
    assert resolve(root, tmp_path, {"PATH": path}) == str(system / "python3")
    assert pyenv.shim_root(str(system / "python3")) is None, "a real binary is no shim"


def test_the_finder_probes_what_the_shim_runs_and_caches_it(tmp_path: Path) -> None:
    root = fake_pyenv(tmp_path, ["3.12.1"])
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".python-version").write_text("3.12.1\n")
    probed: List[str] = []
    real = str(root / "versions" / "3.12.1" / "bin" / "python3")

    def probe(executable: str, cwd: Optional[str] = None) -> Interpreter:
        probed.append(executable)
        return Interpreter(executable, "3.12.1", "cpython")

    environ = {"PATH": str(root / "shims"), "PYENV_ROOT": str(root)}
    finder = Finder(tmp_path / "cache", environ=environ, probe=probe)
    assert finder.default(str(project)).executable == real
    assert probed == [real], "the shim itself never ran"
    again = Finder(tmp_path / "cache", environ=environ, probe=probe)
    assert again.default(str(project)).executable == real
    assert probed == [real], "the second time it came from the probe cache"


def test_a_real_shim_if_pyenv_is_here(tmp_path: Path) -> None:
    """The machine's own pyenv, when there is one: the shim's answer without running it
    equals the one running it gives."""
    import shutil
    import subprocess

    from conftest import PYENV_ROOT

    shim = str(PYENV_ROOT / "shims" / "python3")  # not PATH's: `pyenv exec` put a version first
    root = pyenv.shim_root(shim)
    if root is None or shutil.which("bash") is None:
        pytest.skip(f"no pyenv shim at {shim}")
    environ = {k: v for k, v in os.environ.items() if k != "PYENV_VERSION"}  # as a fresh shell
    resolved = pyenv.resolve_shim(shim, root, str(tmp_path), environ)
    ran = subprocess.run([shim, "-c", "import sys; print(sys.executable)"], cwd=tmp_path,
                         env=environ, capture_output=True, text=True, timeout=60)
    assert resolved is not None and ran.returncode == 0, ran
    assert os.path.realpath(resolved) == os.path.realpath(ran.stdout.strip())
