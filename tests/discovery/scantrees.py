"""Trees for the `envman scan` tests: environments laid out on disk as each tool lays them
out, built by hand where the tool itself is not installed here, and one way to run the
scan over them with a home directory of the test's own (never the real one).

Each hand-built environment is what its tool leaves without pip: `pyvenv.cfg` written
with the keys that tool writes, `bin/python` linked to a real pyenv interpreter (so its
base Python exists) and an empty site-packages. Layouts were checked against each tool's
source: poetry's `EnvManager.generate_env_name`, pipenv's `Project._get_virtualenv_hash`,
hatch's `VirtualEnvironment` storage path, pdm's `get_venv_prefix`, pyenv-virtualenv's
`versions/X/envs/NAME` with its `versions/NAME` link, pipx's `venvs/PKG`, conda's
`conda-meta/` (and a base install's `condabin/`)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from conftest import Result, a_python, child_env, envman_cmd

# What the tools' own variables would otherwise carry from the caller into a scan.
TOOL_VARS = ("WORKON_HOME", "PIPX_HOME", "POETRY_VIRTUALENVS_PATH", "POETRY_CACHE_DIR",
             "CONDA_ENVS_PATH", "PYENV_ROOT", "HATCH_DATA_DIR", "PDM_HOME", "VIRTUAL_ENV",
             "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "XDG_DATA_HOME", "XDG_CACHE_HOME")

FIELDS = {"path": str, "tool": str, "project": (str, type(None)), "python": (str, type(None)),
          "status": str, "reasons": list, "size_bytes": int, "modified": str,
          "registered": (str, type(None))}

TOOLS = ("envman", "venv", "virtualenv", "uv", "poetry", "pipenv", "virtualenvwrapper",
         "pyenv-virtualenv", "hatch", "pdm", "pipx", "tox", "nox", "conda")


def base_python() -> Path:
    """The real interpreter hand-built environments are made from (its real path)."""
    return Path(os.path.realpath(a_python()))


def version_of(exe: Path) -> str:
    """`3.12.1` for a pyenv interpreter: its versions/ directory's name."""
    name = exe.parent.parent.name
    if re.fullmatch(r"\d+\.\d+\.\d+", name):
        return name
    out = subprocess.run([str(exe), "-c", "import platform; print(platform.python_version())"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def cfg_text(kind: str, env: Path, exe: Path, version: str) -> str:
    """The pyvenv.cfg `kind` writes: `venv` (the stdlib), `virtualenv` or `uv`."""
    home = exe.parent
    if kind == "venv":
        return (f"home = {home}\ninclude-system-site-packages = false\nversion = {version}\n"
                f"executable = {exe}\ncommand = {exe} -m venv --without-pip {env}\n")
    if kind == "virtualenv":
        return (f"home = {home}\nimplementation = CPython\nversion_info = {version}.final.0\n"
                f"virtualenv = 20.26.6\ninclude-system-site-packages = false\n"
                f"base-prefix = {home.parent}\nbase-exec-prefix = {home.parent}\n"
                f"base-executable = {exe}\n")
    if kind == "uv":
        return (f"home = {home}\nimplementation = CPython\nuv = 0.13.10\nversion_info = {version}\n"
                f"include-system-site-packages = false\n")
    raise ValueError(kind)


def make_env(env: Path, kind: str = "venv", exe: Optional[Path] = None,
             version: Optional[str] = None) -> Path:
    """A PEP 405 environment at `env` as `kind` makes it without pip."""
    exe = exe or base_python()
    version = version or version_of(exe)
    (env / "bin").mkdir(parents=True)
    (env / "include").mkdir()
    (env / "lib" / f"python{minor(version)}" / "site-packages").mkdir(parents=True)
    (env / "pyvenv.cfg").write_bytes(cfg_text(kind, env, exe, version).encode("utf-8", "surrogateescape"))
    for name in ("python", "python3", f"python{minor(version)}"):
        (env / "bin" / name).symlink_to(exe)
    (env / "bin" / "activate").write_bytes(os.fsencode(f"# activate {env}\nVIRTUAL_ENV={env}\n"))
    return env


def make_conda_env(env: Path, version: Optional[str] = None) -> Path:
    """A conda environment: `conda-meta/` with its history and python's package record."""
    version = version or version_of(base_python())
    meta = env / "conda-meta"
    meta.mkdir(parents=True)
    (meta / "history").write_text(f"==> 2026-11-01 10:00:00 <==\n# cmd: conda create -p {env} python\n")
    record = {"name": "python", "version": version, "build": "h0_0_cpython", "build_number": 0,
              "channel": "https://conda.anaconda.org/conda-forge/linux-64",
              "files": [f"bin/python{minor(version)}"]}
    (meta / f"python-{version}-h0_0_cpython.json").write_text(json.dumps(record))
    (meta / "zlib-1.3.1-h0_0.json").write_text(json.dumps({"name": "zlib", "version": "1.3.1"}))
    (env / "bin").mkdir()
    (env / "bin" / f"python{minor(version)}").symlink_to(base_python())
    (env / "bin" / "python").symlink_to(f"python{minor(version)}")
    (env / "lib" / f"python{minor(version)}" / "site-packages").mkdir(parents=True)
    return env


def make_conda_base(base: Path, envs: Sequence[str] = ("sci",)) -> Path:
    """A conda base install (miniconda's layout): itself no environment, its `envs/*` are."""
    make_conda_env(base)
    (base / "condabin").mkdir()
    (base / "condabin" / "conda").write_text("#!/bin/sh\n")
    (base / "pkgs").mkdir()
    for name in envs:
        make_conda_env(base / "envs" / name)
    return base


def poetry_env_name(name: str, project: Path) -> str:
    """poetry's `{name}-{hash}`: the lowered, sanitised name and 8 characters of the
    url-safe base64 of the SHA-256 of the project directory's real, case-normalised path."""
    sanitized = re.sub(r'[ $`!*@"\\\r\n\t]', "_", name.lower())[:42]
    digest = hashlib.sha256(os.path.normcase(os.path.realpath(project)).encode()).digest()
    return f"{sanitized}-{base64.urlsafe_b64encode(digest).decode()[:8]}"


def pipenv_env_name(project: Path) -> str:
    """pipenv's `{dir}-{hash}`: 8 characters of the url-safe base64 of the first 6 bytes of
    the SHA-256 of the Pipfile's path."""
    sanitized = re.sub(r'[ &$`!*@"()\[\]\\\r\n\t]', "_", project.name)[:42]
    digest = hashlib.sha256(str(project / "Pipfile").encode()).digest()[:6]
    return f"{sanitized}-{base64.urlsafe_b64encode(digest).decode()[:8]}"


def pdm_env_prefix(project: Path) -> str:
    """pdm's `{dir}-{hash}-`: 8 characters of the url-safe base64 of the MD5 of the root."""
    digest = hashlib.md5(project.as_posix().encode()).digest()
    return f"{project.name}-{base64.urlsafe_b64encode(digest).decode()[:8]}-"


def hatch_checksum(project: Path) -> str:
    digest = hashlib.sha256(str(project).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:8]


def make_project(directory: Path, name: Optional[str] = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pyproject.toml").write_text(
        f'[project]\nname = "{name or directory.name}"\nversion = "0.1.0"\n')
    return directory


def scan_env(home: Path, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The child's environment for a scan: HOME is the test's, no tool variable inherited."""
    env = child_env()
    for var in TOOL_VARS:
        env.pop(var, None)
    env["HOME"] = str(home)
    # A module-scoped fixture scans before the autouse `isolated` has set these: never the
    # real data root or config, even to read.
    env.setdefault("ENVMAN_HOME", str(home.parent / "envman-home-of-scan"))
    env.setdefault("ENVMAN_CONFIG", str(home.parent / "envman-config-of-scan.toml"))
    env.update(extra or {})
    return env


def run_scan(*args: str, home: Path, extra: Optional[Dict[str, str]] = None,
             timeout: float = 120, cwd: Optional[Path] = None) -> Result:
    proc = subprocess.run([*envman_cmd(), "scan", *args], env=scan_env(home, extra), cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, errors="surrogateescape")
    return Result(proc)


def scan_json(*args: str, home: Path, extra: Optional[Dict[str, str]] = None,
              timeout: float = 120) -> List[Dict[str, Any]]:
    result = run_scan(*args, "--json", home=home, extra=extra, timeout=timeout)
    assert result.code == 0, result
    assert "Traceback" not in result.err, result
    found = json.loads(result.out)
    assert isinstance(found, list), result
    return found


def by_path(found: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """The scan's objects keyed by real path; no environment listed twice."""
    keyed: Dict[str, Dict[str, Any]] = {}
    for item in found:
        key = os.path.realpath(item["path"])
        assert key not in keyed, f"{key} listed twice: {found}"
        keyed[key] = item
    return keyed


def real(path: Path) -> str:
    return os.path.realpath(path)


def check_shape(item: Dict[str, Any]) -> None:
    """One scan object as SPEC's `scan` section gives it (fields may be added)."""
    for field, kind in FIELDS.items():
        assert field in item, (field, item)
        assert isinstance(item[field], kind), (field, item)
    assert item["tool"] in TOOLS, item
    assert item["status"] in ("ok", "stale"), item
    assert (item["status"] == "ok") == (item["reasons"] == []), item
    assert item["size_bytes"] >= 0, item


def tree_bytes(directory: Path) -> Dict[str, bytes]:
    """Every entry under `directory` (links not followed) and its bytes: a file's content,
    a link's target, the kind of anything else (a FIFO is never opened)."""
    import stat

    found: Dict[str, bytes] = {}
    for root, dirs, files in os.walk(directory):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                found[rel] = b"-> " + os.fsencode(os.readlink(path))
            elif stat.S_ISREG(mode):
                with open(path, "rb") as handle:
                    found[rel] = handle.read()
            else:
                found[rel] = b"<mode %o>" % stat.S_IFMT(mode)
    return found


def make_canaries(directory: Path) -> Dict[str, bytes]:
    """A foreign directory of someone's files (and a venv of theirs), its bytes returned."""
    directory.mkdir(parents=True)
    (directory / "canary.txt").write_bytes(b"canary: never deleted\n")
    (directory / "deep" / "er").mkdir(parents=True)
    (directory / "deep" / "er" / "canary.bin").write_bytes(os.urandom(4096))
    make_env(directory / ".venv")
    return tree_bytes(directory)


def mount_tmpfs(where: Path) -> None:
    """Mount a small tmpfs at `where` (skips the test where mounting is not allowed)."""
    import pytest

    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "envman-test", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def scan_found_soon(tree: Path, home: Path, within: float = 30) -> Dict[str, Dict[str, Any]]:
    """The scan of `tree`, by real path; it must end cleanly within `within` seconds (a
    guard against a hang on a hostile file, not a speed target)."""
    started = time.monotonic()
    result = run_scan(str(tree), "--json", home=home, timeout=2 * within)
    assert result.code == 0, result
    assert "Traceback" not in result.err, result
    assert time.monotonic() - started < within, result
    return by_path(json.loads(result.out))
