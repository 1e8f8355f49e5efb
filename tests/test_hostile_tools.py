"""What a hostile or broken `uv` or interpreter can make envman do: at worst one clean
error, bounded in length, with nothing registered and nothing outside the store touched."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Dict

import pytest

from conftest import a_python, assert_clean_error

# A fake `uv`: `uv venv ... --python PY PATH` behaves as FAKE_UV_MODE says.
FAKE_UV = f"""#!{sys.executable}
import os, subprocess, sys
args = sys.argv[1:]
mode = os.environ["FAKE_UV_MODE"]
if args[:1] == ["--version"]:
    print("uv 0.0.0 (fake)")
    sys.exit(0)
if mode == "bad-bytes":
    sys.stderr.buffer.write(b"error: caf\\xe9 \\xff\\xfe broken\\n")
    sys.exit(1)
if mode == "huge-line":
    sys.stderr.write("x" * 2_000_000 + "\\n")
    sys.exit(1)
if mode == "nothing":
    sys.exit(0)
python, path = args[args.index("--python") + 1], args[-1]
if mode == "link":  # the reserved directory goes elsewhere, a link takes its place
    outside = os.environ["FAKE_UV_OUTSIDE"]
    os.rename(path, outside)
    subprocess.run([python, "-m", "venv", "--without-pip", outside], check=True)
    os.symlink(outside, path)
    sys.exit(0)
sys.exit(3)
"""


def fake_uv(tmp_path: Path, mode: str, **extra: str) -> Dict[str, str]:
    """The environment that makes envman use the fake uv in `mode` (through the config)."""
    exe = tmp_path / "fake-bin" / "uv"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(FAKE_UV)
    exe.chmod(0o755)
    (tmp_path / "config.toml").write_text(f'uv = "{exe}"\n')
    return {"ENVMAN_NO_UV": "", "FAKE_UV_MODE": mode, **extra}


def error_line(err: str) -> str:
    return next(line for line in err.splitlines() if line.startswith("envman: error: "))


def nothing_registered(cli) -> None:
    assert json.loads(cli("ls", "--json").out) == []


@pytest.mark.parametrize("mode", ["bad-bytes", "huge-line"])
def test_uv_output_that_is_not_utf8_or_is_huge_gives_one_short_error(cli, project: Path, tmp_path: Path,
                                                                     mode: str) -> None:
    made = cli("new", "x", "--python", str(a_python()), "--without-pip", cwd=project,
               env=fake_uv(tmp_path, mode))
    assert_clean_error(made, 1)
    line = error_line(made.err)
    assert "internal error" not in line and len(line) < 1000, line[:800]
    assert len(made.err) < 2000
    if mode == "bad-bytes":
        assert "caf\ufffd" in line, line
    nothing_registered(cli)


def test_an_interpreter_printing_bytes_that_are_not_utf8(cli, project: Path, tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "python3.99"
    fake.parent.mkdir()
    fake.write_bytes(b"#!/bin/sh\nprintf 'Fatal: \\351\\377 not a python\\n' >&2\nprintf '\\351%.0s' $(seq 1 3000) >&2\nexit 1\n")
    fake.chmod(0o755)
    made = cli("new", "x", "--python", str(fake), "--without-pip", cwd=project)
    assert made.code in (1, 2), made
    assert_clean_error(made, made.code)
    line = error_line(made.err)
    assert "internal error" not in line and len(line) < 1000, line[:800]
    nothing_registered(cli)


def test_uv_replacing_the_environment_by_a_link_elsewhere_is_not_registered(cli, project: Path,
                                                                            tmp_path: Path, home: Path) -> None:
    outside = tmp_path / "outside-venv"
    made = cli("new", "x", "--python", str(a_python()), "--without-pip", cwd=project,
               env=fake_uv(tmp_path, "link", FAKE_UV_OUTSIDE=str(outside)))
    assert_clean_error(made, 1)
    assert "symbolic link" in error_line(made.err), made
    nothing_registered(cli)
    assert (outside / "pyvenv.cfg").is_file(), "the venv elsewhere is untouched"
    assert (outside / "bin" / "python").exists()


def test_uv_that_makes_nothing_and_exits_0(cli, project: Path, tmp_path: Path) -> None:
    made = cli("new", "x", "--python", str(a_python()), "--without-pip", cwd=project,
               env=fake_uv(tmp_path, "nothing"))
    assert_clean_error(made, 1)
    nothing_registered(cli)
