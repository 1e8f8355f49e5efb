"""Fault campaign section `files` (issue 16): a FIFO, a link to /dev/zero and a huge
sparse file at every file envman reads, and every command run against each.

Each trial: one attack at one file, then every command (ls, info, path, activate, new,
doctor, the --auto hook, TAB completion), the attack made afresh before each (a command
may replace what it found). A command must return within a few seconds (killed, with
its process group, after TIMEOUT), exit with a status of the contract, with stderr of
the contract's shape (no traceback, one `envman: error:` line when it fails), and where
the file is only a cache, succeed as if it were not there. Children run with their
address space bounded, so a reader that does slurp /dev/zero fails fast instead of
taking the machine's memory.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from common import CLEAN_EXITS, REPO, Figures, Root, Workspace, envman_argv, one_line, stderr_problem

sys.path.insert(0, str(REPO))
from envman.shell.init import AUTO_RUN  # noqa: E402

TIMEOUT = 10.0
MEMORY = 2 * 1024 ** 3  # bytes of address space per child: /dev/zero read whole fails here
ATTACKS = ("fifo", "zero", "huge")
COMPLETE_RUN = ("import sys;sys.path[:0]=sys.argv[1:2];from envman.shell.complete_fast import main;"
                "main(sys.argv[2:])")

# (label, path relative to the root's base, the file is only a cache: commands must succeed,
#  needs a pip-ready environment (an image manifest exists only then))
TARGETS: Tuple[Tuple[str, str, bool, bool], ...] = (
    ("registry", "home/registry.toml", False, False),
    ("lock file", "home/registry.toml.lock", False, False),
    ("snapshot", "home/cache/registry-snapshot.txt", True, False),
    ("projects index", "home/cache/registry-projects.txt", True, False),
    ("names index", "home/cache/registry-names.txt", True, False),
    ("probe cache", "home/cache/interpreters.json", True, False),
    ("marker", "home/envs/base/.envman-marker.toml", False, False),
    ("pyvenv.cfg", "home/envs/base/pyvenv.cfg", False, False),
    ("config", "config.toml", False, False),
    (".python-version", "project/.python-version", False, False),
    ("pyproject.toml", "project/pyproject.toml", False, False),
    ("image manifest", "home/cache/pip-images/*/manifest.json", False, True),
)
QUICK_TARGETS = ("registry", "projects index", "pyvenv.cfg", "config")
# What `new base` needs for a target to be read at all: pyvenv.cfg is read only where the
# interpreter is a copy (a link answers with a stat).
BASE_OPTIONS: Dict[str, Tuple[str, ...]] = {"pyvenv.cfg": ("--copies",)}


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run_bounded(argv: Sequence[str], env: Dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """`argv` in its own session, killed with everything it started after TIMEOUT (exit -999)."""
    proc = subprocess.Popen(list(argv), cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=_limits)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = proc.communicate()
        return subprocess.CompletedProcess(argv, -999, out, err + b"\n[harness: killed after timeout]")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def attack(path: Path, kind: str) -> None:
    """Put a FIFO, a link to /dev/zero or a 300 MiB sparse file at `path`."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    else:
        with open(path, "wb") as handle:
            handle.truncate(300 * 1024 * 1024)


def commands(root: Root, pip: bool) -> List[Tuple[str, List[str]]]:
    """(label, argv) of every command a trial runs."""
    hook = [sys.executable, "-I", "-S", "-c", AUTO_RUN, str(REPO), "1", "bash", "/nonexistent",
            "/nonexistent", "", ""]
    complete = [sys.executable, "-I", "-S", "-c", COMPLETE_RUN, str(REPO), "1", "bash", "/nonexistent",
                "/nonexistent", "2", "envman", "info", "b"]
    made = ["new", "x", "--project", str(root.project), "-q"] + ([] if pip else ["--without-pip"])
    return [("ls", envman_argv(["ls"])), ("info", envman_argv(["info", "base"])),
            ("path", envman_argv(["path", "base"])),
            ("activate", envman_argv(["activate", "base", "--shell", "bash"])),
            ("new", envman_argv(made)), ("doctor", envman_argv(["doctor"])),
            ("auto hook", hook), ("completion", complete)]


def _where(root: Root, relative: str) -> List[Path]:
    if "*" in relative:
        return sorted(root.base.glob(relative))
    return [root.base / relative]


def trial(ws: Workspace, fig: Figures, label: str, relative: str, cache: bool, pip: bool,
          kind: str, only: Optional[Sequence[str]] = None) -> None:
    root = ws.root(f"files-{label}-{kind}")
    try:
        made = root.run("new", "base", "--project", str(root.project), "-q",
                        *([] if pip else ["--without-pip"]), *BASE_OPTIONS.get(label, ()))
        if made.returncode != 0:
            fig.add(f"{label}/{kind}", f"set-up `new base` failed: {one_line(made.stderr)}", "")
            return
        root.run("ls")  # the caches: snapshot, indexes
        targets = _where(root, relative)
        if not targets:
            fig.add(f"{label}/{kind}", f"set-up: nothing at {relative}", "")
            return
        for name, argv in commands(root, pip):
            if only is not None and name not in only:
                continue
            for target in targets:
                attack(target, kind)
            fig.trials += 1
            done = run_bounded(argv, root.env(), root.project)
            problem = judge(name, done, cache)
            if problem:
                fig.add(f"{label}/{kind}: {name}", problem,
                        f"{kind} at {relative}; envman {name} (files.py)")
            else:
                fig.note(f"{name}: exit {done.returncode}")
            if name == "new" and (root.home / "envs" / "x").exists():
                root.run("rm", "--yes", "x")
    finally:
        ws.discard(root)


def judge(name: str, done: subprocess.CompletedProcess, cache: bool) -> Optional[str]:
    """Why `done` is not what the contract says (None: it is)."""
    if done.returncode == -999:
        return f"hangs (killed after {TIMEOUT:.0f} s)"
    if done.returncode not in CLEAN_EXITS:
        return f"exit {done.returncode}: {one_line(done.stderr)}"
    if name in ("auto hook", "completion"):
        err = done.stderr.decode(errors="replace")
        if done.returncode != 0 or "Traceback" in err:
            return f"exit {done.returncode}: {one_line(err)}"
        if name == "completion" and cache and done.stdout.split() != [b"base"]:
            return f"completion offers {one_line(done.stdout)}, not 'base'"
        if name == "auto hook" and cache and b"_ENVMAN_AUTO=" not in done.stdout:
            return f"the hook did not activate 'base': {one_line(err)}"
        return None
    bad = stderr_problem(done, expect_error=done.returncode != 0 and name != "doctor")
    if bad:
        return bad
    if cache and done.returncode != 0 and name != "doctor":
        return f"a damaged cache file made it fail: {one_line(done.stderr)}"
    return None


def files(ws: Workspace, quick: bool = False,
          targets: Optional[Sequence[str]] = None, attacks: Sequence[str] = ATTACKS,
          only: Optional[Sequence[str]] = None) -> Figures:
    """The section: every target x every attack x every command (fewer with `quick`)."""
    fig = Figures("files")
    wanted = targets if targets is not None else (QUICK_TARGETS if quick else [t[0] for t in TARGETS])
    for label, relative, cache, pip in TARGETS:
        if label not in wanted:
            continue
        for kind in attacks:
            trial(ws, fig, label, relative, cache, pip, kind, only)
    return fig


