"""`run NAME -- CMD`: a command found further down PATH is named on stderr, and the
environment's own scripts whose `#!` interpreter is gone get `recreate`'s hint instead
of the kernel's "No such file or directory" (or the next `python` on PATH)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import a_python, assert_clean_error, linked_python

from envman.ops.run import shebang_interpreter


def script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_a_command_from_further_down_path_is_named(cli, tmp_path: Path, project: Path) -> None:
    assert cli("new", "r", "--without-pip", cwd=project).code == 0
    tools = tmp_path / "tools"
    tools.mkdir()
    mytool = script(tools / "mytool", "#!/bin/sh\necho ran\n")
    env = {"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    ran = cli("run", "r", "--", "mytool", env=env)
    assert ran.code == 0 and ran.out == "ran\n", ran
    assert f"'mytool' is not in environment 'r': running {mytool} from PATH" in ran.err, ran
    own = cli("run", "r", "--", "python", "-c", "pass", env=env)
    assert own.code == 0 and own.err == "", own
    by_path = cli("run", "r", "--", str(mytool), env=env)  # asked for by path: nothing to say
    assert by_path.code == 0 and by_path.err == "", by_path


def test_scripts_whose_interpreter_is_gone_get_the_recreate_hint(cli, tmp_path: Path,
                                                                 project: Path, home: Path) -> None:
    base = tmp_path / "soon-gone"
    made = cli("new", "b", "-q", "--python", str(linked_python(base, a_python())), cwd=project)
    assert made.code == 0, made
    bin_dir = home / "envs" / "b" / "bin"
    script(bin_dir / "via-env", "#!/usr/bin/env python\nprint('ran')\n")
    assert cli("run", "b", "--", "pip", "--version").code == 0
    assert cli("run", "b", "--", "via-env").out == "ran\n"
    shutil.rmtree(base)  # the base Python is uninstalled: bin/python dangles
    for command in ("pip", "via-env"):
        broken = cli("run", "b", "--", command)
        assert_clean_error(broken, 1)
        assert "base Python is gone" in broken.err and "envman recreate b" in broken.err, broken
    elsewhere = script(tmp_path / "orphan", f"#!{tmp_path / 'no-such-python'}\n")
    refused = cli("run", "b", "--", str(elsewhere))
    assert_clean_error(refused, 2)
    assert "does not exist" in refused.err and "recreate" not in refused.err, refused


def test_shebang_lines(tmp_path: Path) -> None:
    cases = {
        "plain": (b"#!/opt/venv/bin/python\nimport x\n", "/opt/venv/bin/python"),
        "arguments": (b"#! /usr/bin/python3 -I\n", "/usr/bin/python3"),
        "env": (b"#!/usr/bin/env python\n", "/usr/bin/env"),
        "relative": (b"#!python\n", None),
        "binary": (b"\x7fELF\x02\x01", None),
        "empty": (b"#!\n", None),
        "pip-launcher": (b"#!/bin/sh\n'''exec' \"/a path/with spaces/bin/python\" \"$0\" \"$@\"\n' '''\n",
                         "/a path/with spaces/bin/python"),
        "sh": (b"#!/bin/sh\necho hi\n", "/bin/sh"),
    }
    for name, (data, expected) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert shebang_interpreter(str(tmp_path / name)) == expected, name
    assert shebang_interpreter(str(tmp_path / "missing")) is None
