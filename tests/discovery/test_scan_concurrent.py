"""Two `envman scan --adopt` (or `--delete`) at once over the same tree: every environment
adopted exactly once under a name of its own, or deleted, and neither run breaks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import List

from conftest import envman_cmd
from scantrees import make_env, make_project, real, scan_env


def start(args: List[str], home: Path) -> subprocess.Popen:
    return subprocess.Popen([*envman_cmd(), "scan", *args], env=scan_env(home), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def both(args: List[str], home: Path):
    runs = [start(args, home), start(args, home)]
    done = []
    for proc in runs:
        out, err = proc.communicate(timeout=120)
        done.append((proc.returncode, out, err))
    return done


def test_two_adoptions_at_once_adopt_each_environment_once(cli, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    envs = [make_env(make_project(tree / group / "web") / ".venv") for group in "abcdefgh"]
    envs += [make_env(make_project(tree / f"app{i}") / ".venv") for i in range(4)]
    for code, out, err in both([str(tree), "--adopt"], tmp_path / "home"):
        assert "Traceback" not in err and "internal error" not in err, err
        assert code in (0, 1), err
    listed = cli("ls", "--json")
    assert listed.code == 0, listed
    records = json.loads(listed.out)
    paths = [real(Path(r["path"])) for r in records]
    assert sorted(paths) == sorted(real(e) for e in envs), records
    names = [r["name"].lower() for r in records]
    assert len(set(names)) == len(names), names


def test_two_deletions_at_once_delete_everything_and_break_nothing(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    envs = [make_env(make_project(tree / f"p{i}") / ".venv") for i in range(20)]
    for code, out, err in both([str(tree), "--delete", "--yes"], tmp_path / "home"):
        assert "Traceback" not in err and "internal error" not in err, err
        assert code in (0, 1), err
    assert not any(e.exists() for e in envs)
    assert all((tree / f"p{i}" / "pyproject.toml").is_file() for i in range(20))
