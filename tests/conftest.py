"""Shared fixtures: an isolated data root per test, the real CLI in a subprocess,
real interpreters from pyenv, and tiny wheels built here so nothing needs a network."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from hostenv import is_venv_scripts, outside_venv

REPO = Path(__file__).resolve().parent.parent

# The suite runs as if no venv were active, whatever the caller's shell has activated:
# every subprocess and every in-process check then sees the same PATH (see hostenv).
_clean = outside_venv(os.environ)
for _var in set(os.environ) - set(_clean):
    del os.environ[_var]
os.environ.update(_clean)
PYENV_ROOT = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data root, config and platform dirs: never the real ones."""
    home = tmp_path / "envman-home"
    monkeypatch.setenv("ENVMAN_HOME", str(home))
    monkeypatch.setenv("ENVMAN_CONFIG", str(tmp_path / "config.toml"))
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var.lower()))
    monkeypatch.delenv("ENVMAN_DEBUG", raising=False)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # belt and braces: no test reaches a network
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    if UV_BY_DEFAULT:  # ENVMAN_TEST_UV=1: the whole suite with uv
        monkeypatch.delenv("ENVMAN_NO_UV", raising=False)
        _put_uv_on_path(monkeypatch)
    else:  # venv and pip, whether or not uv happens to be installed
        monkeypatch.setenv("ENVMAN_NO_UV", "1")
    return home


# -- pip or uv ---------------------------------------------------------------------

UV_BY_DEFAULT = os.environ.get("ENVMAN_TEST_UV") == "1"
IN_CI = os.environ.get("CI", "").lower() == "true"


def uv_executable() -> Optional[str]:
    """A real uv binary: the one on PATH (a pyenv shim resolved), else the one the `uv`
    package installed beside this Python."""
    from envman.create import uv as uvtool
    from envman.config import Config

    found = uvtool.locate(Config(), {"PATH": os.environ.get("PATH", "")})
    if found:
        return found
    try:
        import uv  # type: ignore[import-not-found]

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return None


def _put_uv_on_path(monkeypatch: pytest.MonkeyPatch) -> str:
    exe = uv_executable()
    if exe is None:
        message = "uv is not installed (python3 -m pip install uv)"
        if IN_CI:
            pytest.fail(message + "; CI must run the uv tests")
        pytest.skip(message)
    monkeypatch.setenv("PATH", uv_directory(exe) + os.pathsep + os.environ.get("PATH", ""))
    return exe


_UV_LINKS: Dict[str, str] = {}


def uv_directory(exe: str) -> str:
    """A directory to put on PATH for `exe`. uv installed into the venv running the tests
    lies beside that venv's `python3`, which must not come first on PATH (see hostenv):
    then a directory holding only a link to it."""
    directory = os.path.dirname(exe)
    if not is_venv_scripts(directory):
        return directory
    if exe not in _UV_LINKS:
        import atexit
        import shutil
        import tempfile

        links = tempfile.mkdtemp(prefix="envman-test-uv-")
        atexit.register(shutil.rmtree, links, True)
        os.symlink(exe, os.path.join(links, "uv"))
        _UV_LINKS[exe] = links
    return _UV_LINKS[exe]


@pytest.fixture(params=["pip", "uv"])
def installer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, isolated: Path) -> str:
    """Run the test once with venv and pip, once with uv on PATH (skipped locally without
    uv, failing in CI)."""
    if request.param == "uv":
        monkeypatch.delenv("ENVMAN_NO_UV", raising=False)
        _put_uv_on_path(monkeypatch)
    else:
        monkeypatch.setenv("ENVMAN_NO_UV", "1")
    return str(request.param)


def installed_line(installer: str, name: str, version: str) -> str:
    """What the installer prints on stderr when it installed `name` `version`."""
    return f"Successfully installed {name}-{version}" if installer == "pip" else f"+ {name}=={version}"


@pytest.fixture
def home(isolated: Path) -> Path:
    return isolated


class Result:
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code = proc.returncode
        self.out: str = proc.stdout
        self.err: str = proc.stderr

    def __repr__(self) -> str:
        return f"<exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}>"


def envman_cmd() -> List[str]:
    return [sys.executable, "-m", "envman"]


def child_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


@pytest.fixture
def cli():
    """Run the real envman CLI in a subprocess: `cli("ls", "--json", cwd=...)`."""

    def run(*args: str, cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None,
            input: Optional[str] = None, timeout: float = 300) -> Result:
        proc = subprocess.run(
            [*envman_cmd(), *args], cwd=cwd, env=child_env(env), input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout,
        )
        return Result(proc)

    return run


def assert_clean_error(result: Result, code: int, after_tool_output: bool = False) -> None:
    """One `envman: error:` line (and maybe a hint), the right status, no traceback.

    `new` and `recreate` may first say what they were doing (`envman: using Python ...`);
    with `after_tool_output`, a subprocess's own output (pip's) may come first too.
    """
    assert result.code == code, result
    assert "Traceback" not in result.err, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith("envman: error: ")]
    assert len(starts) == 1, result
    assert after_tool_output or all(line.startswith("envman: ") for line in lines[:starts[0]]), result
    assert all(line.startswith("hint: ") for line in lines[starts[0] + 1:]), result


def on_terminal(args: Sequence[str], answer: str, cwd: Optional[Path] = None,
                timeout: float = 120) -> Tuple[int, str]:
    """Run envman with a pseudo-terminal as stdin/stdout/stderr, typing `answer` when asked."""
    import pty
    import select

    leader, follower = pty.openpty()
    proc = subprocess.Popen([*envman_cmd(), *args], cwd=cwd, env=child_env(), stdin=follower,
                            stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    seen, answered = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(leader, answer.encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=10)
    os.close(leader)
    return code, seen.decode(errors="replace")


# -- real interpreters -------------------------------------------------------------


def pyenv_pythons() -> Dict[str, Path]:
    """Minor version -> executable for each CPython 3 in pyenv's versions."""
    found: Dict[str, Path] = {}
    versions = PYENV_ROOT / "versions"
    if versions.is_dir():
        for d in sorted(versions.iterdir()):
            m = re.fullmatch(r"(3\.\d+)\.\d+", d.name)
            exe = d / "bin" / "python3"
            if m and exe.exists():
                found[m.group(1)] = exe
    return found


def need_python(minor: str) -> Path:
    exe = pyenv_pythons().get(minor)
    if exe is None:
        pytest.skip(f"Python {minor} is not installed under {PYENV_ROOT}")
    return exe


def two_pythons() -> Sequence[str]:
    """Two different minor versions to test with, preferring ones envman itself supports."""
    available = [m for m in ("3.12", "3.9", "3.13", "3.10", "3.11", "3.8") if m in pyenv_pythons()]
    if len(available) < 2:
        pytest.skip("needs two Python minor versions under pyenv")
    return available[:2]


def a_python() -> Path:
    """A pyenv CPython, preferring 3.12 (no setuptools seeded, fast venv)."""
    found = pyenv_pythons()
    for minor in ("3.12", "3.11", "3.13", "3.10", "3.9"):
        if minor in found:
            return found[minor]
    pytest.skip("needs a pyenv CPython 3.9+")


def linked_python(directory: Path, exe: Path) -> Path:
    """A Python reached through a link in `directory`: deleting the directory uninstalls it
    for every environment built with it, as an upgrade does."""
    directory.mkdir(parents=True)
    real = Path(os.path.realpath(exe))
    link = directory / real.name
    link.symlink_to(real)
    return link


def writer_once_read(fifo: Path, proc: subprocess.Popen, timeout: float = 120) -> int:
    """Open `fifo` for writing as soon as `proc` (pip, inside envman) opens it to read, and
    so is provably blocked there; fail, never hang, if `proc` dies or never gets there."""
    import errno

    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # succeeds once someone reads
        except OSError as exc:
            assert exc.errno == errno.ENXIO, exc
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"nothing ever read {fifo}"
        time.sleep(0.05)


def entries(directory: Path) -> List[str]:
    """The names in a directory, sorted: what a store's `envs/` holds."""
    return sorted(p.name for p in directory.iterdir())


# -- offline wheels ----------------------------------------------------------------


def make_wheel(directory: Path, name: str, version: str, requires: Sequence[str] = (),
               body: str = "") -> Path:
    """Write a minimal, valid pure-Python wheel by hand (no build backend, no network)."""
    dist = f"{name.replace('-', '_')}-{version}"
    module = name.replace("-", "_")
    files = {
        f"{module}/__init__.py": (body or f"VERSION = {version!r}\n").encode(),
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires)
        ).encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: envman-tests\n"
                                   b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record_lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{path},sha256={digest},{len(data)}")
    record_lines.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A find-links directory: tinypkg 1.0 and 2.0, and tinydep which tinyapp needs."""
    directory = tmp_path_factory.mktemp("wheelhouse")
    make_wheel(directory, "tinypkg", "1.0")
    make_wheel(directory, "tinypkg", "2.0")
    make_wheel(directory, "tinydep", "0.1")
    make_wheel(directory, "tinyapp", "1.0", requires=["tinydep"])
    return directory


@pytest.fixture
def requirements(tmp_path: Path, wheelhouse: Path):
    """Write a requirements file that installs offline from the wheelhouse."""

    def write(*lines: str, name: str = "requirements.txt", where: Optional[Path] = None) -> Path:
        path = (where or tmp_path / "project") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(["--no-index", f"--find-links {wheelhouse}", *lines]) + "\n")
        return path

    return write


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir(exist_ok=True)
    return directory
