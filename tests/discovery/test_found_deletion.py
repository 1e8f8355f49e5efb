"""Deleting what `scan` found: the directory is checked again when it is deleted, and a
deletion killed at any point leaves a directory that a second run finds and finishes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import child_env, envman_cmd
from test_faults import start, wait_stopped

from envman.discovery.scan import scan
from envman.ops.found import delete_all
from envman.store.layout import Store


def venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    (path / "lib" / "data.bin").write_bytes(b"d" * 100_000)
    return path


def found_in(root: Path):
    return scan(Store.from_environment(), [root]).found


def test_a_directory_replaced_after_the_scan_is_not_deleted(tmp_path: Path) -> None:
    root = tmp_path / "src"
    a, b, c = venv(root / "a" / ".venv"), venv(root / "b" / ".venv"), venv(root / "c" / ".venv")
    found = {Path(f.path).parent.name: f for f in found_in(root)}
    os.rename(a, tmp_path / "a-moved")
    venv(a)  # another directory, same name: not what the person was shown
    shutil.rmtree(b)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "foreign" / "canary").write_text("keep me")
    b.symlink_to(tmp_path / "foreign")
    (c / "pyvenv.cfg").unlink()
    done = {Path(d.found.path).parent.name: d for d in delete_all(Store.from_environment(), list(found.values())).each}
    assert not any(d.deleted for d in done.values())
    assert "replaced" in (done["a"].reason or "")
    assert "link" in (done["b"].reason or "")
    assert "pyvenv.cfg" in (done["c"].reason or "")
    assert (a / "pyvenv.cfg").exists() and (tmp_path / "a-moved" / "pyvenv.cfg").exists()
    assert (tmp_path / "foreign" / "canary").read_text() == "keep me"
    assert (c / "lib" / "data.bin").exists()


def test_the_active_environment_and_envmans_own_are_refused(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "src"
    active = venv(root / "a" / ".venv")
    monkeypatch.setenv("VIRTUAL_ENV", str(active))
    done = delete_all(Store.from_environment(), found_in(root)).each
    assert [d.deleted for d in done] == [False] and "active" in (done[0].reason or "")
    assert (active / "pyvenv.cfg").exists()


def test_a_deletion_killed_midway_is_found_again_and_finished(tmp_path: Path) -> None:
    root = tmp_path / "src"
    env = venv(root / "p" / ".venv")
    for n in range(50):
        (env / "lib" / f"f{n}").write_text("x")
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep").write_text("keep me")
    (env / "lib" / "outside").symlink_to(canary)
    proc = start(["scan", str(root), "--delete", "--yes"], "unlink")
    wait_stopped(proc)
    proc.kill()
    proc.communicate(timeout=30)
    assert (env / "pyvenv.cfg").is_file()  # what makes it an environment goes last
    again = subprocess.run([*envman_cmd(), "scan", str(root), "--delete", "--yes"], env=child_env(),
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stderr
    assert "freed" in again.stderr
    assert not env.exists() and (root / "p").is_dir()
    assert (canary / "keep").read_text() == "keep me"
