"""A data root copied to a new ENVMAN_HOME: envman says what happened, `doctor --fix`
points the records here, and `recreate --all` rebuilds working environments here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import a_python


def copied(cli, tmp_path: Path, home: Path, project: Path) -> Path:
    assert cli("new", "web", "--python", str(a_python()), "--without-pip", cwd=project).code == 0
    new_home = tmp_path / "moved-home"
    subprocess.run(["cp", "-a", str(home), str(new_home)], check=True)
    return new_home


def test_a_copied_store_is_recognised_and_recreate_all_rebuilds_it_here(cli, tmp_path: Path, home: Path,
                                                                       project: Path) -> None:
    new_home = copied(cli, tmp_path, home, project)
    env = {"ENVMAN_HOME": str(new_home)}
    listed = cli("ls", env=env)
    assert listed.code == 0 and f"this store was moved from {home}" in listed.err, listed
    assert "envman recreate --all" in listed.err
    where = cli("path", "web", env=env)
    assert where.out.strip() == str(new_home / "envs" / "web") and "moved from" in where.err, where
    report = cli("doctor", env=env)
    assert report.code == 1 and "store-moved" in report.err and "marker" not in report.err, report
    fixed = cli("doctor", "--fix", env=env)
    assert fixed.code == 0, fixed
    assert cli("path", "web", env=env).out.strip() == str(new_home / "envs" / "web")
    assert "moved from" not in cli("ls", env=env).err
    rebuilt = cli("recreate", "--all", "--yes", env=env)
    assert rebuilt.code == 0, rebuilt
    ran = cli("run", "web", "--", "python", "-c", "import sys; print(sys.prefix)", env=env)
    assert ran.code == 0 and ran.out.strip() == str(new_home / "envs" / "web"), ran
    assert str(home) not in (new_home / "envs" / "web" / "bin" / "activate").read_text()
    assert cli("doctor", env=env).code == 0
    assert (home / "envs" / "web" / "pyvenv.cfg").is_file(), "the original store is untouched"
    assert cli("path", "web").out.strip() == str(home / "envs" / "web")


def test_a_copied_store_whose_registry_is_lost_is_registered_from_its_markers(cli, tmp_path: Path,
                                                                              home: Path, project: Path) -> None:
    new_home = copied(cli, tmp_path, home, project)
    (new_home / "registry.toml").write_text("not = [toml")
    env = {"ENVMAN_HOME": str(new_home)}
    fixed = cli("doctor", "--fix", env=env)
    assert fixed.code == 0, fixed
    listed = json.loads(cli("ls", "--json", env=env).out)
    assert [e["name"] for e in listed] == ["web"], listed
    assert cli("path", "web", env=env).out.strip() == str(new_home / "envs" / "web")


def test_recreate_all_alone_rebuilds_a_copied_store_here(cli, tmp_path: Path, home: Path,
                                                         project: Path) -> None:
    """The one command the note names: no `doctor --fix` first."""
    new_home = copied(cli, tmp_path, home, project)
    env = {"ENVMAN_HOME": str(new_home)}
    rebuilt = cli("recreate", "--all", "--yes", env=env)
    assert rebuilt.code == 0 and "recreated 'web'" in rebuilt.err, rebuilt
    ran = cli("run", "web", "--", "python", "-c", "import sys; print(sys.prefix)", env=env)
    assert ran.code == 0 and ran.out.strip() == str(new_home / "envs" / "web"), ran
    assert str(home) not in (new_home / "envs" / "web" / "bin" / "activate").read_text()
    assert cli("doctor", env=env).code == 0
    assert "moved from" not in cli("ls", env=env).err
    assert cli("path", "web").out.strip() == str(home / "envs" / "web"), "the original is untouched"
