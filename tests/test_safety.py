"""Attacks on deletion and restoration: things swapped in during a `recreate`, and
envman killed in the middle of deleting a directory.

Every test drives the real CLI on real environments. Where a kill has to land at one
exact point (between two files of a deletion), the child envman SIGKILLs itself there:
the kill is real, only its moment is chosen."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import (a_python, assert_clean_error, child_env, entries, envman_cmd,
                      writer_once_read)


def tree(directory: Path) -> Dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text() for p in sorted(directory.rglob("*"))
            if p.is_file()}


def start_blocked_recreate(project: Path, wheelhouse: Path, name: str):
    """`recreate NAME` with pip blocked reading a FIFO, so its backup sits in the store."""
    fifo = project / "blocker.txt"
    os.mkfifo(fifo)
    (project / "requirements.txt").write_text(
        f"--no-index\n--find-links {wheelhouse}\ntinypkg==1.0\n-r blocker.txt\n")
    proc = subprocess.Popen([*envman_cmd(), "recreate", name], cwd=project, env=child_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    return proc, writer_once_read(fifo, proc)


@pytest.fixture
def web(cli, tmp_path: Path, wheelhouse: Path, home: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    req = project / "requirements.txt"
    req.write_text(f"--no-index\n--find-links {wheelhouse}\ntinypkg==1.0\n")
    made = cli("new", "web", "--python", str(a_python()), "-r", str(req), "-q", cwd=project)
    assert made.code == 0, made
    return project


def test_a_directory_swapped_in_for_the_backup_is_not_deleted(cli, web: Path, home: Path,
                                                              tmp_path: Path, wheelhouse: Path) -> None:
    envs = home / "envs"
    proc, writer = start_blocked_recreate(web, wheelhouse, "web")
    try:
        [backup] = [envs / n for n in entries(envs) if n.startswith(".backup-web-")]
        shutil.move(str(backup), tmp_path / "the-real-backup")
        backup.mkdir()  # someone's files, where envman expects its backup
        (backup / "precious.txt").write_text("not envman's")
    finally:
        os.close(writer)  # pip reads an empty file and the rebuild completes
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert tree(backup) == {"precious.txt": "not envman's"}, "a directory without proof stays"
    report = cli("doctor")
    assert "leftover-backup" in report.err, report


def test_a_link_swapped_in_for_the_backup_is_not_put_back(cli, web: Path, home: Path,
                                                          tmp_path: Path, wheelhouse: Path) -> None:
    envs = home / "envs"
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    registry = (home / "registry.toml").read_bytes()
    proc, writer = start_blocked_recreate(web, wheelhouse, "web")
    try:
        [backup] = [envs / n for n in entries(envs) if n.startswith(".backup-web-")]
        shutil.move(str(backup), tmp_path / "the-real-backup")
        backup.symlink_to(precious)
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(writer)
    assert proc.returncode == 130, err
    assert not (envs / "web").is_symlink(), "a link is never put in an environment's place"
    assert backup.is_symlink() and tree(precious) == {"notes.txt": "keep me"}
    assert (home / "registry.toml").read_bytes() == registry
    for args in (["doctor", "--fix"], ["rm", "web", "--yes"], ["prune", "--yes"]):
        cli(*args)
        assert tree(precious) == {"notes.txt": "keep me"}, args


# -- a deletion killed half-way -------------------------------------------------------

KILL_AT = textwrap.dedent("""
    import os, signal, sys
    calls = [0]
    stop = int(sys.argv[1])
    home = os.environ["ENVMAN_HOME"]
    def counting(real):
        def call(*args, **kwargs):
            # Only envman's deletions count: a library's own temporary files (filelock
            # probes its directory on some releases) are not steps of `rm`.
            if "dir_fd" in kwargs or str(args[0]).startswith(home):
                calls[0] += 1
                if calls[0] == stop:
                    os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return call
    os.unlink = counting(os.unlink)
    os.rmdir = counting(os.rmdir)
    sys.argv = ["envman", *sys.argv[2:]]
    from envman.cli.main import main
    main()
""")


def test_doctor_finishes_a_deletion_killed_at_any_point(cli, tmp_path: Path, home: Path) -> None:
    """`rm` drops the record, renames the directory to `.trash-*` and deletes it; killed
    after any single file, `doctor --fix` must still be able to prove the rest is ours."""
    project = tmp_path / "project"
    project.mkdir()
    assert cli("new", "x", "--python", str(a_python()), "--without-pip", cwd=project).code == 0
    envs = home / "envs"
    template = tmp_path / "template"
    shutil.copytree(envs / "x", template, symlinks=True)
    registry = (home / "registry.toml").read_bytes()

    stop = 1
    while True:
        proc = subprocess.run([sys.executable, "-c", KILL_AT, str(stop), "rm", "x", "--yes"],
                              env=child_env(), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120)
        if proc.returncode == 0:
            break  # `stop` is past the last file: the deletion ran to its end
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        fixed = cli("doctor", "--fix")
        assert fixed.code == 0, (stop, fixed)
        assert entries(envs) == [], (stop, fixed)
        shutil.copytree(template, envs / "x", symlinks=True)
        (home / "registry.toml").write_bytes(registry)
        stop += 1
    assert stop > 5, "the kill landed inside the deletion"
    assert entries(envs) == [] and cli("doctor").code == 0


def test_rm_and_recreate_during_a_rebuild_say_so(cli, web: Path, home: Path,
                                                 wheelhouse: Path) -> None:
    """Refused, with a message that names the running rebuild instead of a suspect marker."""
    shutil.rmtree(home / "envs" / "web")  # env-missing: the rebuild makes no backup
    proc, writer = start_blocked_recreate(web, wheelhouse, "web")
    try:
        for args in (["rm", "web", "--yes"], ["recreate", "web", "-q"]):
            refused = cli(*args)
            assert_clean_error(refused, 1)
            assert f"being rebuilt by a running envman (pid {proc.pid})" in refused.err, refused
            assert "wait for it to finish" in refused.err, refused
            assert "marker names another record" not in refused.err, refused
    finally:
        os.close(writer)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert entries(home / "envs") == ["web"] and cli("doctor").code == 0


def test_a_killed_rebuild_of_a_missing_environment_can_be_recovered(cli, web: Path, home: Path,
                                                                    wheelhouse: Path) -> None:
    """No backup to put back: the half-built directory is the only trace of the kill."""
    registry = (home / "registry.toml").read_bytes()
    for repair in (["doctor", "--fix"], ["recreate", "web", "-q"]):
        shutil.rmtree(home / "envs" / "web", ignore_errors=True)
        proc, writer = start_blocked_recreate(web, wheelhouse, "web")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        os.close(writer)
        (web / "blocker.txt").unlink()
        (web / "requirements.txt").write_text(
            f"--no-index\n--find-links {wheelhouse}\ntinypkg==1.0\n")
        assert (home / "registry.toml").read_bytes() == registry
        report = cli("doctor")
        assert report.code == 1 and "interrupted-recreate: web" in report.err, report
        fixed = cli(*repair)
        assert fixed.code == 0, fixed
        if repair[0] == "doctor":
            assert entries(home / "envs") == [], "the half-built one went; env-missing is left"
            assert cli("recreate", "web", "-q").code == 0
        ran = cli("run", "web", "--", "python", "-c", "import tinypkg; print(tinypkg.VERSION)")
        assert ran.out.strip() == "1.0", ran
        assert cli("doctor").code == 0
        registry = (home / "registry.toml").read_bytes()


def test_rm_proves_ownership_and_renames_aside_under_the_registry_lock(
        cli, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between `rm`'s last proof of ownership and its rename no other envman (a `recreate`
    claiming the same path) may run: both happen inside the one registry lock."""
    from filelock import FileLock

    from envman.store import lifecycle, registry
    from envman.ops import remove
    from envman.store.layout import Store

    project = tmp_path / "p"
    project.mkdir()
    assert cli("new", "held", "--without-pip", cwd=project).code == 0
    probe = ("import sys; from filelock import FileLock, Timeout\n"
             "try:\n    FileLock(sys.argv[1]).acquire(timeout=0)\nexcept Timeout:\n    print('held')\n"
             "else:\n    print('free')\n")
    seen: List[str] = []

    store = Store(root=home, cache=home / "cache")
    real_set_aside = lifecycle.set_aside

    def watched(found: lifecycle.Found) -> object:
        # Another process is what a concurrent envman would be.
        seen.append(subprocess.run([sys.executable, "-c", probe, str(store.lock_path)],
                                   capture_output=True, text=True, check=True).stdout.strip())
        return real_set_aside(found)

    monkeypatch.setattr(lifecycle, "set_aside", watched)
    record = registry.load(store).find("held")
    assert record is not None
    remove.remove(store, [record])
    assert seen == ["held"]
    assert entries(home / "envs") == [] and registry.load(store).find("held") is None
    with FileLock(str(store.lock_path)).acquire(timeout=0):  # and released afterwards
        pass


def test_restoring_a_backup_never_clears_another_environment_in_its_place(cli, tmp_path: Path,
                                                                        home: Path) -> None:
    """Only a killed rebuild *of this record* may be cleared to put its backup back: a whole
    other environment moved into the path (its marker names another record, its creator
    long gone) is left alone with everything in it."""
    other_home = tmp_path / "other-home"
    project = tmp_path / "p"
    project.mkdir()
    assert cli("new", "X", "--without-pip", cwd=project).code == 0
    assert cli("new", "Y", "--without-pip", cwd=project, env={"ENVMAN_HOME": str(other_home)}).code == 0
    envs = home / "envs"
    os.rename(envs / "X", envs / ".backup-X-deadbeef")  # what a kill -9 during recreate leaves
    os.rename(other_home / "envs" / "Y", envs / "X")  # a ready environment of another record
    (envs / "X" / "precious.txt").write_text("mine")
    for attempt in (("doctor", "--fix"), ("recreate", "X")):
        result = cli(*attempt, cwd=project)
        assert result.code != 0, result
        assert (envs / "X" / "precious.txt").read_text() == "mine", attempt
        assert (envs / ".backup-X-deadbeef" / "pyvenv.cfg").is_file(), attempt
