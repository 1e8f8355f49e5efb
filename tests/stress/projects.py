"""Fault campaign section `projects`: hostile `uv` output, and the `.venv` link after a
killed `mv --project`.

Hostile uv: a fake `uv` (named by the config) prints bytes that are not UTF-8, prints
2 MB on one line, replaces `envs/NAME` by a link to a venv elsewhere, or exits 0 having
made nothing. Each `new` must end in one clean `envman: error:` line of bounded length,
with nothing registered and the venv elsewhere untouched.

`mv --project` killed (SIGSTOP at a checkpoint, then SIGKILL) at each of its steps, then
`doctor --fix`: exactly one `.venv` link is left, on the project the record names, and
no link anywhere that names nothing or names the environment from another project.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import List, Sequence

from common import Figures, Root, Workspace

FAKE_UV = f"""#!{sys.executable}
import os, subprocess, sys
args = sys.argv[1:]
mode = os.environ["FAKE_UV_MODE"]
if args[:1] == ["--version"]:
    print("uv 0.0.0 (fake)"); sys.exit(0)
if mode == "bad-bytes":
    sys.stderr.buffer.write(b"error: caf\\xe9 \\xff\\xfe\\n" * 50); sys.exit(1)
if mode == "bad-bytes-stdout":
    sys.stdout.buffer.write(b"\\xe9" * 10000); sys.exit(2)
if mode == "huge-line":
    sys.stderr.write("x" * 2_000_000 + "\\n"); sys.exit(1)
if mode == "nothing":
    sys.exit(0)
python, path = args[args.index("--python") + 1], args[-1]
if mode == "link":
    outside = os.environ["FAKE_UV_OUTSIDE"]
    os.rename(path, outside)
    subprocess.run([python, "-m", "venv", "--without-pip", outside], check=True)
    os.symlink(outside, path); sys.exit(0)
sys.exit(3)
"""

UV_MODES = ("bad-bytes", "bad-bytes-stdout", "huge-line", "link", "nothing")
MV_POINTS = ("write:.envman-marker.toml", "write:registry.toml", "pointed", "linked", "aside")
MAX_ERR = 4000


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _another_python() -> str:
    """An interpreter other than the one running envman: with that one, envman makes the
    venv in its own process and never asks uv, so the attack would not be reached."""
    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    running = os.path.realpath(sys._base_executable if hasattr(sys, "_base_executable") else sys.executable)
    for candidate in sorted(versions.glob("3.*/bin/python3"), reverse=True):
        if os.path.realpath(candidate) != running and candidate.name and candidate.is_file():
            return str(candidate)
    raise RuntimeError("the hostile uv trials need a second Python 3 under pyenv")


def hostile_uv_trial(root: Root, mode: str) -> List[str]:
    exe = root.base / "fake-bin" / "uv"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(FAKE_UV)
    exe.chmod(0o755)
    root.config.write_text(f'uv = "{exe}"\n')
    outside = root.canary / "outside-venv"
    root.canary.mkdir(parents=True, exist_ok=True)
    extra = {"ENVMAN_NO_UV": "", "FAKE_UV_MODE": mode, "FAKE_UV_OUTSIDE": str(outside)}
    made = root.run("new", "x", "--python", _another_python(), "--without-pip", extra=extra)
    err = _text(made.stderr)
    problems = []
    if made.returncode != 1:
        problems.append(f"exit {made.returncode}, wanted 1")
    if "Traceback" in err or "internal error" in err:
        problems.append("internal error: " + err[-300:])
    if len(err) > MAX_ERR:
        problems.append(f"stderr is {len(err)} characters")
    if sum(1 for line in err.splitlines() if line.startswith("envman: error: ")) != 1:
        problems.append("not one error line: " + err[:300])
    listed = root.run("ls", "--json")
    try:
        if json.loads(_text(listed.stdout)) != []:
            problems.append("registered: " + _text(listed.stdout)[:200])
    except ValueError:
        problems.append("ls --json unreadable: " + _text(listed.stderr)[:200])
    if mode == "link" and not (outside / "pyvenv.cfg").is_file():
        problems.append("the venv elsewhere was touched")
    return problems


def _links(*dirs: Path) -> List[str]:
    found = []
    for directory in dirs:
        for name in sorted(os.listdir(directory)):
            if name.startswith(".venv") and (directory / name).is_symlink():
                found.append(f"{directory.name}/{name} -> {os.readlink(directory / name)}")
    return found


def _wait_stopped(pid: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                text = handle.read()
        except OSError:
            return False
        state = text[text.rindex(")") + 2]
        if state == "T":
            return True
        if state == "Z":
            return False
        time.sleep(0.02)
    return False


def mv_kill_trial(root: Root, point: str) -> List[str]:
    a, b = root.base / "a", root.base / "b"
    for d in (a, b):
        d.mkdir()
        (d / "main.py").write_text("print()\n")
    made = root.run("new", "web", "--without-pip", "--link", "-q", cwd=a)
    if made.returncode != 0:
        return [f"harness: new failed: {_text(made.stderr)[-200:]}"]
    proc = root.popen("mv", "web", "--project", str(b), extra={"ENVMAN_TEST_STOP_AT": point})
    reached = _wait_stopped(proc.pid)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    if not reached:
        return ["(not reached)"]
    fixed = root.run("doctor", "--fix")
    problems = []
    if fixed.returncode != 0:
        problems.append("doctor --fix: " + _text(fixed.stderr)[-300:])
    again = root.run("doctor")
    if again.returncode != 0:
        problems.append("doctor after --fix: " + _text(again.stderr)[-300:])
    info = root.run("info", "web", "--json")
    try:
        owner = Path(json.loads(_text(info.stdout))["project"])
    except (ValueError, KeyError):
        return problems + ["info web: " + _text(info.stderr)[-200:]]
    env = root.home / "envs" / "web"
    wanted = [f"{owner.name}/.venv -> {env}"]
    if _links(a, b) != wanted:
        problems.append(f"links {_links(a, b)}, wanted {wanted}")
    return problems


def section(ws: Workspace, modes: Sequence[str] = UV_MODES, points: Sequence[str] = MV_POINTS,
            rounds: int = 1) -> Figures:
    fig = Figures("projects")
    trials = [("uv " + m, hostile_uv_trial, m) for m in modes]
    trials += [("mv --project killed at " + p, mv_kill_trial, p) for p in points] * rounds
    for desc, trial, arg in trials:
        root = ws.root(desc)
        fig.trials += 1
        try:
            problems = trial(root, arg)
        except Exception as exc:  # noqa: BLE001 - a harness failure is reported, not raised
            problems = [f"harness error: {exc.__class__.__name__}: {exc}"]
        for problem in problems:
            if problem.startswith("(not reached"):
                fig.not_reached += 1
            else:
                fig.add(desc, problem, f"tests/stress/projects.py {trial.__name__}({arg!r})")
        ws.discard(root)
    return fig

