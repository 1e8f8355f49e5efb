"""`recreate` against real environments: packages restored, requirement changes followed,
failures and kills (SIGTERM, SIGKILL) that leave the old environment in place, broken
environments repaired from their dist-info metadata, and `--python` switching versions.

The tests that leave their environment intact share one (module-scoped data root), in
the order written: each starts from a working `web` and leaves one behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import pytest

from conftest import (UV_BY_DEFAULT, Result, a_python, assert_clean_error, child_env, entries,
                      envman_cmd, installed_line, linked_python, pyenv_pythons, two_pythons,
                      uv_directory, uv_executable, writer_once_read)


def write_requirements(path: Path, wheelhouse: Path, *lines: str) -> None:
    path.write_text("\n".join(["--no-index", f"--find-links {wheelhouse}", *lines]) + "\n")


@dataclass
class Shared:
    """One data root and one environment `web` (tinypkg via -r) that several tests reuse."""

    home: Path
    project: Path
    req: Path
    wheelhouse: Path
    env: Dict[str, str]
    installer: str = "pip"

    def __call__(self, *args: str, extra: Optional[Dict[str, str]] = None) -> Result:
        proc = subprocess.run([*envman_cmd(), *args], cwd=self.project,
                              env=child_env({**self.env, **(extra or {})}), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=300)
        return Result(proc)

    @property
    def envs(self) -> Path:
        return self.home / "envs"

    @property
    def registry(self) -> Path:
        return self.home / "registry.toml"

    def version(self) -> str:
        ran = self("run", "web", "--", "python", "-c", "import tinypkg; print(tinypkg.VERSION)")
        assert ran.code == 0, ran
        return ran.out.strip()

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([*envman_cmd(), *args], cwd=self.project, env=child_env(self.env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Shared:
    root = tmp_path_factory.mktemp("shared")
    env = {"ENVMAN_HOME": str(root / "home"), "ENVMAN_CONFIG": str(root / "config.toml"),
           "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           **{v: str(root / "xdg" / v.lower()) for v in
              ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")}}
    project = root / "project"
    project.mkdir()
    req = project / "requirements.txt"
    write_requirements(req, wheelhouse, "tinypkg==1.0")
    installer = "pip"
    if UV_BY_DEFAULT:  # ENVMAN_TEST_UV=1: uv on PATH
        env["PATH"] = uv_directory(uv_executable() or "") + os.pathsep + os.environ.get("PATH", "")
        installer = "uv"
    else:
        env["ENVMAN_NO_UV"] = "1"
    made = Shared(root / "home", project, req, wheelhouse, env, installer)
    created = made("new", "web", "--python", str(a_python()), "-r", str(req), "--quiet")
    assert created.code == 0, created
    assert installed_line(installer, "tinypkg", "1.0") not in created.err, "--quiet keeps pip's output away"
    return made


@pytest.mark.smoke
def test_recreate_restores_packages_and_streams_progress(shared: Shared) -> None:
    before = json.loads(shared("info", "web", "--json").out)
    (shared.envs / "web" / "scratch.txt").write_text("gone after a rebuild")

    result = shared("recreate", "web")
    assert result.code == 0, result
    assert installed_line(shared.installer, "tinypkg", "1.0") in result.err, \
        "the installer's progress reaches the terminal"
    assert "recreated 'web' with Python" in result.err and result.out == ""
    assert shared.version() == "1.0"
    after = json.loads(shared("info", "web", "--json").out)
    assert after["created"] == before["created"] and after["recreated"] is not None
    assert after["python"] == before["python"] and after["requirements"] == ["requirements.txt"]
    assert not (shared.envs / "web" / "scratch.txt").exists(), "really rebuilt from scratch"
    assert entries(shared.envs) == ["web"], "no backup, no half-built directory left"

    quiet = shared("recreate", "web", "--quiet")
    assert quiet.code == 0, quiet
    assert installed_line(shared.installer, "tinypkg", "1.0") not in quiet.err, quiet
    assert "Processing" not in quiet.err, quiet
    assert quiet.err == "", "--quiet leaves only warnings and errors"
    assert shared.version() == "1.0"
    assert shared("doctor").code == 0


def test_changed_requirements_file_is_followed(shared: Shared) -> None:
    write_requirements(shared.req, shared.wheelhouse, "tinypkg==1.0")
    assert shared("recreate", "web", "-q").code == 0
    assert json.loads(shared("ls", "--json").out)[0]["requirements_changed"] == []

    write_requirements(shared.req, shared.wheelhouse, "tinypkg==2.0")  # same size, new content
    [listed] = json.loads(shared("ls", "--json").out)
    assert listed["requirements_changed"] == ["requirements.txt"]
    assert listed["status"] == "ok", "drift is not a stale reason"
    table = shared("ls")
    assert "requirements changed" in table.out and "envman recreate" in table.err
    assert "changed or gone since the last build" in shared("info", "web").out

    result = shared("recreate", "web", "-q")
    assert result.code == 0, result
    assert json.loads(shared("ls", "--json").out)[0]["requirements_changed"] == []
    assert shared.version() == "2.0"

    shared.req.unlink()
    assert json.loads(shared("ls", "--json").out)[0]["requirements_changed"] == ["requirements.txt"]
    gone = shared("recreate", "web")
    assert_clean_error(gone, 2)
    assert "-r FILE" in gone.err
    write_requirements(shared.req, shared.wheelhouse, "tinypkg==1.0")


def test_failed_rebuild_leaves_everything_as_it_was(shared: Shared) -> None:
    version = shared.version()
    keep = shared.envs / "web" / "keep.txt"
    keep.write_text("mine")
    registry = shared.registry.read_bytes()
    write_requirements(shared.req, shared.wheelhouse, "no-such-package==9.9")

    loud = shared("recreate", "web")
    assert_clean_error(loud, 1, after_tool_output=True)
    assert "installing requirements failed" in loud.err
    quiet = shared("recreate", "web", "--quiet")
    assert_clean_error(quiet, 1)
    assert "no-such-package" in quiet.err, "the installer's reason is in the one error line"

    assert keep.read_text() == "mine"
    assert shared.registry.read_bytes() == registry
    assert entries(shared.envs) == ["web"]
    assert shared.version() == version
    write_requirements(shared.req, shared.wheelhouse, "tinypkg==1.0")


def start_blocked_recreate(shared: Shared, tmp_path: Path):
    """Start `recreate web` and return once pip is provably inside the new build: the
    requirements include a FIFO, and pip is blocked reading it."""
    fifo = shared.project / "blocker.txt"
    if fifo.exists():
        fifo.unlink()
    os.mkfifo(fifo)
    write_requirements(shared.req, shared.wheelhouse, "tinypkg==1.0", "-r blocker.txt")
    proc = shared.popen("recreate", "web")
    writer = writer_once_read(fifo, proc)
    backups = [n for n in entries(shared.envs) if n.startswith(".backup-web-")]
    assert len(backups) == 1 and "web" in entries(shared.envs), "mid-build: old aside, new in place"
    return proc, writer, fifo


def test_sigterm_mid_build_puts_the_old_environment_back(shared: Shared, tmp_path: Path) -> None:
    version = shared.version()
    keep = shared.envs / "web" / "keep.txt"
    keep.write_text("mine")
    registry = shared.registry.read_bytes()
    proc, writer, fifo = start_blocked_recreate(shared, tmp_path)
    try:
        # While it runs, neither doctor nor a second recreate touches its work.
        report = shared("doctor", "--fix")
        assert report.code == 1 and "recreate-in-progress: web" in report.err, report
        second = shared("recreate", "web", "-q")
        assert_clean_error(second, 1)
        assert "being rebuilt by a running envman" in second.err
        assert len(entries(shared.envs)) == 2 and proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(writer)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert keep.read_text() == "mine"
    assert shared.registry.read_bytes() == registry
    assert entries(shared.envs) == ["web"]
    assert shared.version() == version
    assert shared("doctor").code == 0
    fifo.unlink()
    write_requirements(shared.req, shared.wheelhouse, "tinypkg==1.0")


def kill_blocked_recreate(shared: Shared, tmp_path: Path) -> None:
    proc, writer, fifo = start_blocked_recreate(shared, tmp_path)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # envman and its pip, no clean-up at all
        proc.communicate(timeout=60)
    finally:
        os.close(writer)
    fifo.unlink()
    write_requirements(shared.req, shared.wheelhouse, "tinypkg==1.0")


def test_sigkill_mid_build_then_doctor_fix_puts_it_back(shared: Shared, tmp_path: Path) -> None:
    version = shared.version()
    keep = shared.envs / "web" / "keep.txt"
    keep.write_text("mine")
    registry = shared.registry.read_bytes()
    kill_blocked_recreate(shared, tmp_path)
    assert len(entries(shared.envs)) == 2, "a backup and the half-built environment"

    report = shared("doctor")
    assert report.code == 1 and "interrupted-recreate: web" in report.err, report
    assert "marker-mismatch" not in report.err, "reported once, by the backup's finding"
    fixed = shared("doctor", "--fix")
    assert fixed.code == 0, fixed
    assert "put back as 'web'; the interrupted rebuild was removed" in fixed.err

    assert keep.read_text() == "mine"
    assert shared.registry.read_bytes() == registry
    assert entries(shared.envs) == ["web"]
    assert shared.version() == version
    assert shared("doctor").code == 0


def test_sigkill_mid_build_then_recreate_puts_it_back(shared: Shared, tmp_path: Path) -> None:
    keep = shared.envs / "web" / "keep.txt"
    keep.write_text("mine")
    registry = shared.registry.read_bytes()
    kill_blocked_recreate(shared, tmp_path)

    # The next recreate puts the old environment back first; this one then fails, so
    # what stays is exactly the environment from before the kill.
    write_requirements(shared.req, shared.wheelhouse, "no-such-package==9.9")
    failed = shared("recreate", "web", "-q")
    assert_clean_error(failed, 1)
    assert keep.read_text() == "mine"
    assert shared.registry.read_bytes() == registry
    assert entries(shared.envs) == ["web"]

    kill_blocked_recreate(shared, tmp_path)
    done = shared("recreate", "web", "-q")
    assert done.code == 0, done
    assert "put back 'web' from an interrupted rebuild first" in done.err
    assert entries(shared.envs) == ["web"] and not keep.exists()
    assert shared.version() == "1.0"
    assert shared("doctor").code == 0


# -- environments of their own -------------------------------------------------------


@pytest.mark.smoke
def test_broken_environments_repaired_with_their_packages(cli, tmp_path: Path, home: Path,
                                                          wheelhouse: Path, installer: str) -> None:
    """The pinned reinstall (`name==version` read from the old environment), with pip and
    with uv (pip's PIP_FIND_LINKS reaches uv as UV_FIND_LINKS)."""
    python = a_python()
    link = linked_python(tmp_path / "upgraded-away" / "bin", python)
    project = tmp_path / "proj"
    project.mkdir()
    assert cli("new", "broken", "--python", str(link), "-q", cwd=project).code == 0
    installed = cli("run", "broken", "--", "python", "-m", "pip", "install", "-q", "--no-index",
                    "--find-links", str(wheelhouse), "tinyapp==1.0")  # pulls in tinydep
    assert installed.code == 0, installed
    assert cli("new", "healthy", "--python", str(python), "--without-pip", cwd=project).code == 0
    keep = home / "envs" / "healthy" / "keep.txt"
    keep.write_text("untouched")

    shutil.rmtree(tmp_path / "upgraded-away")  # the Python upgrade
    states = {e["name"]: e for e in json.loads(cli("ls", "--json").out)}
    assert states["broken"]["reasons"] == ["python-missing"] and states["healthy"]["reasons"] == []
    assert not (home / "envs" / "broken" / "bin" / "python").exists(), "really broken"

    lost = cli("recreate", "broken", "-q")  # nowhere for pip to find the pinned versions
    assert_clean_error(lost, 1)
    assert "tinyapp" in lost.err and "PIP_FIND_LINKS" in lost.err and "-r FILE" in lost.err
    assert [e["reasons"] for e in json.loads(cli("ls", "--json").out) if e["name"] == "broken"] == \
        [["python-missing"]], "the old environment is back as it was"

    offline = {"PIP_FIND_LINKS": str(wheelhouse)}  # the pins find their wheels here
    result = cli("recreate", "--all", "--broken", "--yes", env=offline)
    assert result.code == 0, result
    assert "recreated 'broken'" in result.err and "healthy" not in result.err
    assert "tinyapp==1.0" in result.err and "tinydep==0.1" in result.err
    assert "pip==" not in result.err, "pip comes with the new venv, not from the old one"
    assert keep.read_text() == "untouched"
    states = {e["name"]: e for e in json.loads(cli("ls", "--json").out)}
    assert states["broken"]["reasons"] == [] and states["broken"]["requirements"] == []
    assert states["broken"]["python_executable"] != str(link)
    assert states["broken"]["python"].rsplit(".", 1)[0] == states["healthy"]["python"].rsplit(".", 1)[0]
    check = "import tinyapp, tinydep; print(tinyapp.VERSION, tinydep.VERSION)"
    ran = cli("run", "broken", "--", "python", "-c", check)
    assert ran.code == 0 and ran.out.split() == ["1.0", "0.1"], ran

    # A healthy environment without recorded requirements keeps its packages too.
    again = cli("recreate", "broken", "-q", env=offline)
    assert again.code == 0, again
    ran = cli("run", "broken", "--", "python", "-c", check)
    assert ran.code == 0 and ran.out.split() == ["1.0", "0.1"], ran
    assert cli("recreate", "--all", "--broken").err.startswith("no broken environments")


def system_minors() -> set:
    found = set()
    for directory in ("/usr/bin", "/bin"):
        for exe in Path(directory).glob("python3.*"):
            parts = exe.name[len("python"):].split(".")
            if len(parts) == 2 and parts[1].isdigit():
                found.add(exe.name[len("python"):])
    return found


def test_python_switch_missing_minor_and_all_going_on(cli, tmp_path: Path, home: Path) -> None:
    first, second = two_pythons()
    project = tmp_path / "proj"
    project.mkdir()
    assert cli("new", "sw", "--python", first, "--without-pip", cwd=project).code == 0
    switched = cli("recreate", "sw", "--python", second)
    assert switched.code == 0, switched
    ran = cli("run", "sw", "--", "python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
    assert ran.out.strip() == second, ran
    assert json.loads(cli("info", "sw", "--json").out)["python"].startswith(second + ".")

    orphan_minor = next((m for m in pyenv_pythons() if m not in system_minors()), None)
    if orphan_minor is None:
        pytest.skip("every pyenv minor version is also installed system-wide")
    link = linked_python(tmp_path / "gone-python" / "bin", pyenv_pythons()[orphan_minor])
    assert cli("new", "gone", "--python", str(link), "--without-pip", cwd=project).code == 0
    shutil.rmtree(tmp_path / "gone-python")
    empty = tmp_path / "empty"
    empty.mkdir()
    nowhere = {"PATH": "/usr/bin:/bin", "PYENV_ROOT": str(empty), "UV_PYTHON_INSTALL_DIR": str(empty)}
    registry = (home / "registry.toml").read_bytes()
    missing = cli("recreate", "gone", env=nowhere)
    assert_clean_error(missing, 2)
    assert f"no Python {orphan_minor}" in missing.err and "--python" in missing.err
    assert (home / "registry.toml").read_bytes() == registry
    assert entries(home / "envs") == ["gone", "sw"]

    everything = cli("recreate", "--all", "--yes", env=nowhere)
    assert_clean_error(everything, 1, after_tool_output=True)
    assert "failed 'gone'" in everything.err and "recreated 'sw'" in everything.err
    assert "1 recreated, 1 failed" in everything.err
    assert json.loads(cli("info", "sw", "--json").out)["python"].startswith(second + ".")


def test_bad_usage(cli, tmp_path: Path, home: Path, requirements) -> None:
    for args, code in ((["recreate"], 2), (["recreate", "x", "--all"], 2),
                       (["recreate", "x", "--broken"], 2), (["recreate", "--all", "-r", "r.txt"], 2),
                       (["recreate", "nope"], 3)):
        assert_clean_error(cli(*args), code)
    project = tmp_path / "project"
    project.mkdir()
    assert cli("new", "e", "--python", str(a_python()), "--without-pip", cwd=project).code == 0
    registry = (home / "registry.toml").read_bytes()
    assert_clean_error(cli("recreate", "e", "-r", str(tmp_path / "missing.txt")), 2)
    assert_clean_error(cli("recreate", "e", "-r", str(requirements("tinypkg==1.0"))), 2)
    assert_clean_error(cli("recreate", "e", "--python", "2.1"), 2)

    venv = project / ".venv"
    subprocess.run([str(a_python()), "-m", "venv", "--without-pip", str(venv)], check=True)
    assert cli("adopt", str(venv), "--name", "adopted").code == 0
    registry = (home / "registry.toml").read_bytes()
    refused = cli("recreate", "adopted")
    assert_clean_error(refused, 2)
    assert "adopted" in refused.err
    assert (home / "registry.toml").read_bytes() == registry and (venv / "pyvenv.cfg").is_file()

    everything = cli("recreate", "--all", "--yes")
    assert everything.code == 0, everything
    assert "skipped 'adopted'" in everything.err and "recreated 'e'" in everything.err


def test_doctor_deletes_a_superseded_backup_and_leaves_a_foreign_one(cli, tmp_path: Path,
                                                                      home: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    assert cli("new", "e", "--python", str(a_python()), "--without-pip", cwd=project).code == 0
    envs = home / "envs"
    # What a recreate killed between its registry update and deleting the backup leaves.
    shutil.copytree(envs / "e", tmp_path / "old-e", symlinks=True)
    assert cli("recreate", "e").code == 0
    os.rename(tmp_path / "old-e", envs / ".backup-e-0badc0de")
    foreign = envs / ".backup-other-12345678"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("not envman's")

    report = cli("doctor")
    assert report.code == 1
    assert "superseded-backup" in report.err and "leftover-backup" in report.err, report
    fixed = cli("doctor", "--fix")
    assert fixed.code == 1, "the foreign directory stays unresolved"
    assert entries(envs) == [".backup-other-12345678", "e"]
    assert (foreign / "precious.txt").read_text() == "not envman's"


def test_drift_check_trusts_the_stat_and_falls_back_to_the_hash(tmp_path: Path) -> None:
    from envman.ops.new import requirement_files
    from envman.models import EnvRecord
    from envman.ops.staleness import requirements_changed
    from envman.ages import now

    project = tmp_path / "p"
    project.mkdir()
    req = project / "requirements.txt"
    req.write_text("tinypkg==1.0\n")
    old = time.time() - 60
    os.utime(req, (old, old))
    [(_, recorded)] = requirement_files([req], project)
    assert recorded.size is not None and recorded.mtime_ns is not None
    moment = now()
    record = EnvRecord(name="p", id="x", path=str(tmp_path / "env"), project=str(project),
                       python="3.12.1", python_executable=sys.executable, created=moment,
                       last_used=moment, requirements=(recorded,))
    assert requirements_changed(record) == ()
    req.touch()  # new mtime, same content: hashed, unchanged
    assert requirements_changed(record) == ()
    req.write_text("tinypkg==2.0\n")  # same size, new content
    assert requirements_changed(record) == ("requirements.txt",)

    fresh = project / "fresh.txt"
    fresh.write_text("x\n")
    [(_, racy)] = requirement_files([fresh], project)
    assert racy.size is None, "a file changed just now is always hashed"


def test_doctor_puts_back_a_backup_with_nothing_in_its_place(cli, tmp_path: Path, home: Path) -> None:
    """Killed right after moving the old environment aside: only the backup is there, and
    doctor says it put it back, without claiming to have removed a rebuild."""
    project = tmp_path / "p"
    project.mkdir()
    assert cli("new", "solo", "--without-pip", cwd=project).code == 0
    registry = (home / "registry.toml").read_bytes()
    os.rename(home / "envs" / "solo", home / "envs" / ".backup-solo-0123abcd")
    fixed = cli("doctor", "--fix")
    assert fixed.code == 0, fixed
    assert "put back as 'solo'" in fixed.err and "removed" not in fixed.err, fixed
    assert entries(home / "envs") == ["solo"] and (home / "registry.toml").read_bytes() == registry


def reversioned(wheel: Path, version: str, directory: Path) -> Path:
    """`wheel` (a real pip's) repacked as `version`: the same working code under another
    version number, so that a test can 'upgrade' pip with no network."""
    import base64
    import hashlib
    import re
    import zipfile

    name, old = wheel.name.split("-")[:2]
    with zipfile.ZipFile(wheel) as archive:
        files = {i.filename: archive.read(i) for i in archive.infolist() if not i.is_dir()}
    renamed: Dict[str, bytes] = {}
    for path, data in files.items():
        path = path.replace(f"{name}-{old}.dist-info/", f"{name}-{version}.dist-info/")
        if path.endswith(".dist-info/METADATA"):
            data = re.sub(rb"(?m)^Version: .*?(\r?)$", b"Version: " + version.encode() + rb"\1", data, count=1)
        renamed[path] = data
    record = next(p for p in renamed if p.endswith(".dist-info/RECORD"))
    lines = []
    for path, data in renamed.items():
        if path != record:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            lines.append(f"{path},sha256={digest},{len(data)}")
    renamed[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / wheel.name.replace(f"-{old}-", f"-{version}-")
    with zipfile.ZipFile(out, "w") as archive:
        for path, data in renamed.items():
            archive.writestr(path, data)
    return out


def test_a_pip_the_person_upgraded_is_put_back(cli, tmp_path: Path, home: Path) -> None:
    """A rebuild seeds the Python's bundled pip; the newer one the environment had comes
    back, and the summary says so. Where it cannot be had, the rebuild still succeeds
    with a warning naming both versions."""
    python = a_python()
    bundled = sorted((python.parent.parent / "lib").glob("python3*/ensurepip/_bundled/pip-*.whl"))
    if not bundled:
        pytest.skip(f"{python} bundles no pip wheel")
    upgrades = tmp_path / "upgrades"
    reversioned(bundled[0], "99.1", upgrades)
    project = tmp_path / "proj"
    project.mkdir()
    assert cli("new", "web", "--python", str(python), "-q", cwd=project).code == 0
    upgraded = cli("run", "web", "--", "python", "-m", "pip", "install", "-q", "--no-index",
                   "--find-links", str(upgrades), "pip==99.1")
    assert upgraded.code == 0, upgraded
    site = next((home / "envs" / "web" / "lib").glob("python3*/site-packages"))
    assert (site / "pip-99.1.dist-info").is_dir()

    done = cli("recreate", "web", env={"PIP_FIND_LINKS": str(upgrades)})
    assert done.code == 0, done
    assert "put back: pip 99.1 (the new venv came with " in done.err, done
    site = next((home / "envs" / "web" / "lib").glob("python3*/site-packages"))
    assert (site / "pip-99.1.dist-info").is_dir(), "the pip the environment had is back"
    assert cli("run", "web", "--", "python", "-m", "pip", "--version").code == 0

    lost = cli("recreate", "web", "-q")  # nowhere to find pip 99.1 now
    assert lost.code == 0, lost
    assert "warning: 'web' had pip 99.1, which could not be put back" in lost.err, lost
    assert len([line for line in lost.err.splitlines() if line.strip()]) == 1, lost
    assert not (site / "pip-99.1.dist-info").exists()
