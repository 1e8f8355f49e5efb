"""The hostile inputs of the lifecycle campaign (issue 10): each is one clear line with the
spec's status, no traceback, and nothing created, changed or lost."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import assert_clean_error

HUGE_AGE = "99999999999999999999d"


def store_state(home: Path) -> Dict[str, object]:
    """Every name, type and size under the data root, and the registry's bytes."""
    if not home.exists():
        return {}
    state: Dict[str, object] = {str(p.relative_to(home)): (p.is_dir(), p.is_symlink(),
                                                            0 if p.is_dir() else p.lstat().st_size)
                                for p in sorted(home.rglob("*")) if "cache" not in p.parts}
    registry = home / "registry.toml"
    state["registry"] = registry.read_bytes() if registry.exists() else None
    return state


@pytest.fixture
def web(cli, project: Path, home: Path) -> Path:
    assert cli("new", "web", "--without-pip", cwd=project).code == 0
    return project


def refused(cli, home: Path, args: List[str], code: int, cwd: Optional[Path] = None,
            env: Optional[Dict[str, str]] = None, says: str = "") -> None:
    before = store_state(home)
    result = cli(*args, cwd=cwd, env=env, timeout=60)
    assert_clean_error(result, code)
    assert "internal error" not in result.err, result
    assert says in result.err, result
    assert store_state(home) == before, "nothing created, changed or lost"


@pytest.mark.parametrize("args", [
    ["ls", "--older-than", HUGE_AGE],
    ["prune", "--dry-run", "--older-than", HUGE_AGE],
    ["ls", "--older-than", ""],
    ["prune", "--yes", "--older-than", ""],
    ["ls", "--project", ""],
    ["new", "x", "--without-pip", "--python", ""],
    ["new", "x", "--without-pip", "--project", ""],
    ["recreate", "web", "--python", ""],
    ["adopt", ".", "--project", ""],
])
def test_huge_and_empty_values_are_bad_input(cli, web: Path, home: Path, args: List[str]) -> None:
    refused(cli, home, args, 2, cwd=web)


def test_a_huge_stale_after_in_the_config_is_bad_input(cli, web: Path, home: Path,
                                                       tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(f'stale_after = "{HUGE_AGE}"\n')
    refused(cli, home, ["ls"], 2, says="stale_after")


@pytest.mark.parametrize("where", ["a component of 256 bytes", "a path over PATH_MAX"])
def test_project_paths_beyond_the_systems_limits(cli, project: Path, home: Path, where: str) -> None:
    path = ("/tmp/" + "a" * 256) if "component" in where else "/tmp/" + "/".join(["b" * 200] * 25)
    refused(cli, home, ["new", "x", "--without-pip", "--project", path], 2, cwd=project)


@pytest.mark.parametrize("what", ["project directory", "--prompt", "-r path"])
def test_text_that_is_not_utf8_is_refused_before_anything_is_made(cli, tmp_path: Path, home: Path,
                                                                  what: str) -> None:
    bad = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: not UTF-8, carried as surrogates
    project = tmp_path / "project"
    project.mkdir()
    if what == "project directory":
        odd = tmp_path / bad
        odd.mkdir()
        args = ["new", "x", "--without-pip", "--project", str(odd)]
    elif what == "--prompt":
        args = ["new", "x", "--without-pip", "--prompt", bad]
    else:
        (project / bad).write_text("tinypkg\n")
        args = ["new", "x", "-r", str(project / bad)]
    refused(cli, home, args, 2, cwd=project, says="UTF-8")


def test_a_nul_in_python_version_is_bad_input(cli, project: Path, home: Path) -> None:
    (project / ".python-version").write_bytes(b"3.12\x00junk\n")
    refused(cli, home, ["new", "x", "--without-pip"], 2, cwd=project, says=".python-version")


@pytest.mark.parametrize("config", ["/dev/zero", "fifo", "directory"])
def test_a_config_that_is_not_a_small_regular_file_is_refused(cli, web: Path, home: Path,
                                                              tmp_path: Path, config: str) -> None:
    path = config
    if config == "fifo":
        path = str(tmp_path / "config-fifo")
        os.mkfifo(path)
    elif config == "directory":
        path = str(tmp_path / "config-dir")
        os.mkdir(path)
    refused(cli, home, ["ls"], 2, env={"ENVMAN_CONFIG": path}, says="config file")


@pytest.mark.parametrize("bad_id", ["a\\u0000b", "../../etc", ""])
def test_a_registry_record_with_a_hostile_id_is_reported(cli, web: Path, home: Path,
                                                         bad_id: str) -> None:
    registry = home / "registry.toml"
    text = registry.read_text()
    start = text.index('id = "') + len('id = "')
    end = text.index('"', start)
    registry.write_text(text[:start] + bad_id + text[end:])
    for args in (["ls"], ["rm", "web", "--yes"], ["doctor"]):
        result = cli(*args, timeout=60)
        assert result.code == 1 and "Traceback" not in result.err, result
        assert "'id'" in result.err and "internal error" not in result.err, result


def test_a_recorded_requirements_file_that_became_a_fifo_does_not_hang(cli, web: Path, home: Path) -> None:
    registry = home / "registry.toml"
    os.mkfifo(web / "requirements.txt")
    registry.write_text(registry.read_text().replace(
        "requirements = []", 'requirements = [{ path = "requirements.txt", sha256 = "00" }]'))
    for args in (["ls"], ["info", "web"], ["ls", "--json"]):
        result = cli(*args, timeout=30)  # reading the FIFO would block for ever
        assert result.code == 0, result
        assert "requirements" in result.out + result.err
    refused(cli, home, ["new", "x", "-r", str(web / "requirements.txt")], 2, cwd=web)


@pytest.mark.parametrize("args,says", [
    (["new", "--bogus"], "No such option: --bogus"),
    (["rm"], "Missing argument"),
    (["nosuchcommand"], "No such command"),
    (["info", "a", "b"], "unexpected extra argument"),
])
def test_usage_errors_are_one_line_with_a_hint(cli, home: Path, args: List[str], says: str) -> None:
    result = cli(*args)
    assert_clean_error(result, 2)
    assert says in result.err and "--help" in result.err, result
    assert "╭" not in result.err and "Usage:" not in result.err, result


def test_a_directory_at_the_lock_is_one_line(cli, project: Path, home: Path) -> None:
    (home / "registry.toml.lock").mkdir(parents=True)
    refused(cli, home, ["new", "x", "--without-pip"], 1, cwd=project, says="lock")


def test_a_read_only_data_root_still_lists_activates_and_runs(cli, web: Path, home: Path) -> None:
    if subprocess.run(["mount", "--bind", str(home), str(home)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount here (needs root)")
    try:
        assert subprocess.run(["mount", "-o", "remount,ro,bind", str(home)]).returncode == 0
        for args in (["ls"], ["info", "web"], ["activate", "web", "--shell", "bash"],
                     ["run", "web", "--", "python", "-c", "pass"], ["doctor"]):
            result = cli(*args, cwd=web)
            assert result.code == 0, (args, result)
        for args in (["new", "x", "--without-pip"], ["rm", "web", "--yes"], ["recreate", "web"]):
            refused(cli, home, args, 1, cwd=web)
    finally:
        subprocess.run(["umount", str(home)])


def test_small_files_are_read_only_when_regular_and_small(tmp_path: Path) -> None:
    from envman.errors import UsageError
    from envman.fsutil import sha256_file
    from envman.inputs import read_small_file

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big"
    big.write_bytes(b"x" * (1024 * 1024 + 1))
    for path in (fifo, big, Path("/dev/zero"), tmp_path):
        with pytest.raises(UsageError):
            read_small_file(path, "a file")
    assert read_small_file(tmp_path / "missing", "a file") is None
    with pytest.raises(OSError):
        sha256_file(fifo)
    assert sha256_file(big) == __import__("hashlib").sha256(big.read_bytes()).hexdigest()
