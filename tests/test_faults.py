"""Real `kill -9` at the exact moments that used to strand a name or an environment, and
the other faults of the lifecycle campaign (issue 10), each through the real CLI.

A process is stopped at a named checkpoint (`ENVMAN_TEST_STOP_AT`, see
envman/checkpoints.py: it SIGSTOPs itself there) and then SIGKILLed: the kill is real,
only its moment is chosen. After each, `doctor --fix` must leave a store that
`doctor` calls healthy, with every environment working and every name usable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import assert_clean_error, child_env, entries, envman_cmd


def start(args: List[str], stop_at: str, cwd: Optional[Path] = None,
          env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    return subprocess.Popen([*envman_cmd(), *args], cwd=cwd,
                            env=child_env({"ENVMAN_TEST_STOP_AT": stop_at, **(env or {})}),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_stopped(proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until `proc` has stopped itself at its checkpoint; fails if it ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/stat") as handle:
            text = handle.read()
        if text[text.rindex(")") + 2] == "T":
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("never reached the checkpoint")


def kill_at(args: List[str], point: str, cwd: Optional[Path] = None) -> None:
    proc = start(args, point, cwd)
    wait_stopped(proc)
    proc.kill()
    proc.communicate(timeout=30)


def healthy(cli, home: Path, names: List[str]) -> None:
    """After `doctor --fix`: nothing left to report, exactly `names` in the store, each
    registered and running its own Python."""
    fixed = cli("doctor", "--fix")
    assert fixed.code == 0, fixed
    assert cli("doctor").code == 0
    envs = home / "envs"
    assert (entries(envs) if envs.exists() else []) == sorted(names)
    assert not [n for n in os.listdir(home) if n.endswith(".tmp")]
    for name in names:
        ran = cli("run", name, "--", "python", "-c", "import sys; print(sys.prefix)")
        assert ran.code == 0 and ran.out.strip() == str(envs / name), ran


@pytest.mark.parametrize("point", ["write:.envman-marker.toml", "reserve", "built", "ready",
                                   "write:registry.toml"])
def test_new_killed_at_each_step_leaves_the_name_usable(cli, home: Path, project: Path,
                                                         point: str) -> None:
    kill_at(["new", "web", "--without-pip"], point, project)
    report = cli("doctor", "--fix")
    assert report.code == 0, report
    registered = cli("ls", "--json")
    if '"web"' in registered.out:  # killed after the ready marker: doctor registered it
        assert point in ("ready", "write:registry.toml"), registered
        healthy(cli, home, ["web"])
        assert cli("rm", "web", "--yes").code == 0
    healthy(cli, home, [])
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    healthy(cli, home, ["web"])


@pytest.mark.parametrize("point", ["write:.envman-marker.toml", "backup", "reserve", "built",
                                   "ready", "registered"])
def test_recreate_killed_at_each_step_keeps_the_environment(cli, home: Path, project: Path,
                                                            point: str) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    (home / "envs" / "web" / "keep.txt").write_text("old")
    kill_at(["recreate", "web"], point, project)
    healthy(cli, home, ["web"])
    old_kept = (home / "envs" / "web" / "keep.txt").exists()
    assert old_kept == (point != "registered"), "the new one stands only once registered"
    assert cli("recreate", "web", cwd=project).code == 0
    healthy(cli, home, ["web"])


@pytest.mark.parametrize("point", ["trash", "unlink"])
def test_rm_killed_mid_deletion_is_finished_by_doctor(cli, home: Path, project: Path,
                                                      point: str) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    kill_at(["rm", "web", "--yes"], point)
    assert cli("ls", "--json").out.strip() == "[]"
    healthy(cli, home, [])


def test_doctor_racing_the_end_of_new_leaves_it_alone(cli, home: Path, project: Path) -> None:
    """Marked ready, not yet registered: a running `new` owns it, and finishes it."""
    proc = start(["new", "web", "--without-pip"], "ready", project)
    wait_stopped(proc)
    report = cli("doctor", "--fix")
    assert "in-progress" in report.err and "registered again" not in report.err, report
    assert cli("ls", "--json").out.strip() == "[]"
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    healthy(cli, home, ["web"])


def test_new_accepts_its_own_record_registered_by_someone_else(cli, home: Path,
                                                               project: Path) -> None:
    """Were the record saved by another process first (an older doctor, a person), the
    `new` that built it keeps it instead of deleting a registered environment."""
    from envman.store import markers, registry
    from envman.models import EnvRecord
    from envman.store.layout import Store

    proc = start(["new", "web", "--without-pip"], "built", project)
    wait_stopped(proc)
    store = Store.from_environment()
    marker = markers.read(store.env_path("web"))
    assert marker is not None
    record = EnvRecord.from_dict("web", marker.record, "marker")
    registry.update(store, lambda current: current.with_record(record))
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    healthy(cli, home, ["web"])


def test_a_second_new_of_a_name_being_built_says_so(cli, home: Path, project: Path) -> None:
    proc = start(["new", "web", "--without-pip"], "built", project)
    try:
        wait_stopped(proc)
        loser = cli("new", "web", "--without-pip", cwd=project)
        assert_clean_error(loser, 2)
        assert f"being built by a running envman (pid {proc.pid})" in loser.err, loser
        assert "move it away" not in loser.err
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    healthy(cli, home, ["web"])


def test_an_interpreter_that_builds_nothing_is_never_registered(cli, home: Path, project: Path,
                                                                 tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\ncase "$*" in *json.dumps*) printf \'{"executable": "%s", '
                    '"version": "3.12.1", "implementation": "cpython"}\\n\' "$0"; exit 0;; esac\n'
                    "exit 0\n")
    fake.chmod(0o755)
    made = cli("new", "web", "--python", str(fake), cwd=project)
    assert_clean_error(made, 1)
    # venv "succeeds" and the verify step finds no pyvenv.cfg; uv refuses the interpreter itself
    assert "pyvenv.cfg" in made.err or "uv venv" in made.err, made
    assert cli("ls", "--json").out.strip() == "[]"
    healthy(cli, home, [])


def test_the_data_root_spelled_through_a_link_is_the_same_store(cli, tmp_path: Path,
                                                                project: Path) -> None:
    real = tmp_path / "real-root"
    real.mkdir()
    link = tmp_path / "link-root"
    link.symlink_to(real)
    assert cli("new", "web", "--without-pip", cwd=project, env={"ENVMAN_HOME": str(link)}).code == 0
    assert str(link) not in (real / "registry.toml").read_text(), "records keep the real path"
    # A record an older envman wrote with the link's spelling is still this store's.
    text = (real / "registry.toml").read_text().replace(str(real), str(link))
    (real / "registry.toml").write_text(text)
    for root in (str(real), str(link)):
        env = {"ENVMAN_HOME": root}
        assert cli("doctor", env=env).code == 0, root
        assert cli("recreate", "web", env=env, cwd=project).code == 0, root
    assert cli("rm", "web", "--yes", env={"ENVMAN_HOME": str(real)}).code == 0
    assert entries(real / "envs") == []


def test_stray_temporary_files_of_killed_writes_are_cleaned(cli, home: Path, project: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    (home / ".registry.toml.x1y2.tmp").write_text("half a registry")
    (home / "envs" / "web" / "..envman-marker.toml.a1b2.tmp").write_text("half a marker")  # as write_atomic names it
    report = cli("doctor")
    assert report.code == 1 and "temporary-files" in report.err, report
    healthy(cli, home, ["web"])
    assert not (home / "envs" / "web" / "..envman-marker.toml.a1b2.tmp").exists()


# -- deletion traps: nothing outside the store is ever deleted -------------------------


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    directory = tmp_path / "canary"
    directory.mkdir()
    for i in range(3):
        (directory / f"precious-{i}.txt").write_text("keep me")
    return directory


def intact(canary: Path) -> bool:
    return sorted(p.name for p in canary.iterdir()) == [f"precious-{i}.txt" for i in range(3)]


def test_doctor_never_deletes_through_a_link_at_used(cli, home: Path, project: Path,
                                                     canary: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    used = home / "used"
    if used.exists():
        for stamp in used.iterdir():
            stamp.unlink()
        used.rmdir()
    used.symlink_to(canary)
    report = cli("doctor", "--fix")
    assert "stamps-link" in report.err, report
    assert intact(canary)


def test_a_trash_directory_swapped_for_a_link_mid_deletion(cli, home: Path, project: Path,
                                                           canary: Path, tmp_path: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    proc = start(["rm", "web", "--yes"], "trash")
    wait_stopped(proc)
    [trash] = [home / "envs" / n for n in entries(home / "envs") if n.startswith(".trash-")]
    os.rename(trash, tmp_path / "moved-trash")
    trash.symlink_to(canary)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert intact(canary)
    for args in (["doctor", "--fix"], ["prune", "--yes"]):
        cli(*args)
        assert intact(canary)


def test_rm_never_crosses_into_a_file_system_mounted_inside(cli, home: Path, project: Path,
                                                            canary: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    mount_point = home / "envs" / "web" / "lib" / "mnt"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        (mount_point / "precious.txt").write_text("on another file system")
        removed = cli("rm", "web", "--yes")
        assert_clean_error(removed, 1)
        assert "mount" in removed.err, removed
        [trash] = [home / "envs" / n for n in entries(home / "envs")]
        assert (trash / "lib" / "mnt" / "precious.txt").read_text() == "on another file system"
        assert cli("doctor", "--fix").code == 1, "not while the mount is there"
        assert (trash / "lib" / "mnt" / "precious.txt").exists()
    finally:
        subprocess.run(["umount", "-l", str(next((home / "envs").iterdir()) / "lib" / "mnt")])
    healthy(cli, home, [])


def test_doctor_never_deletes_a_killed_build_that_holds_files_but_no_pyvenv_cfg(
        cli, home: Path, project: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    env = home / "envs" / "web"
    (env / "pyvenv.cfg").unlink()
    marker = (env / ".envman-marker.toml").read_text()
    (env / ".envman-marker.toml").write_text(
        marker.replace('state = "ready"', 'state = "creating"').replace("pid = ", "pid = 1999999 #"))
    (env / "notes.txt").write_text("mine")
    cli("doctor", "--fix")
    assert (env / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("full", ["before the marker", "during the build"])
def test_a_full_disk_leaves_nothing_under_the_name(cli, tmp_path: Path, project: Path,
                                                   full: str) -> None:
    root = tmp_path / "small-root"
    root.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        env = {"ENVMAN_HOME": str(root)}
        assert cli("ls", env=env).code == 0
        if full == "before the marker":
            (root / "envs").mkdir()
            with open(root / "filler", "wb") as handle:
                try:
                    while True:
                        handle.write(b"\0" * 65536)
                except OSError:
                    pass
        made = cli("new", "web", *(["--without-pip"] if full == "before the marker" else []),
                   "-q", cwd=project, env=env)
        assert_clean_error(made, 1, after_tool_output=True)
        assert entries(root / "envs") == []
        assert cli("ls", "--json", env=env).out.strip() == "[]"
        (root / "filler").unlink(missing_ok=True)
        assert cli("doctor", env=env).code == 0
    finally:
        subprocess.run(["umount", "-l", str(root)])


def test_nothing_is_built_or_deleted_through_a_linked_envs_directory(cli, home: Path, project: Path,
                                                                     canary: Path) -> None:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    os.rename(home / "envs" / "web", canary / "web")
    (home / "envs").rmdir()
    (home / "envs").symlink_to(canary)
    before = sorted(p.name for p in canary.iterdir())
    for args in (["new", "other", "--without-pip"], ["rm", "web", "--yes"], ["recreate", "web"],
                 ["doctor", "--fix"], ["prune", "--yes"]):
        result = cli(*args, cwd=project)
        assert (result.code != 0 or args[0] == "prune") and "Traceback" not in result.err, (args, result)
        assert sorted(p.name for p in canary.iterdir()) == before, args
        assert (canary / "web" / "pyvenv.cfg").is_file(), args


def test_doctor_keeps_the_stamps_of_environments_it_registers_again(cli, home: Path,
                                                                     project: Path) -> None:
    """After a lost registry, `--fix` registers the environments again from their markers:
    their time-of-use stamps must survive, or `unused` ages restart and prune misjudges."""
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    assert cli("run", "web", "--", "python", "-c", "pass").code == 0
    [stamp] = list((home / "used").iterdir())
    (home / "registry.toml").unlink()
    report = cli("doctor")
    assert "unregistered" in report.err and "stale-stamps" not in report.err, report
    fixed = cli("doctor", "--fix")
    assert "registered again" in fixed.err, fixed
    assert stamp.exists(), "the stamp of an environment registered again is kept"
    healthy(cli, home, ["web"])
    assert stamp.exists()
