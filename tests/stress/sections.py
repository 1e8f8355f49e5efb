"""The four sections of the fault campaign. Each returns a Figures; none raises on a finding."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from common import (CLEAN_EXITS, MARKER, Figures, Root, Workspace, invariants, is_root,
                    kill_hard, kill_only, mount, one_line, records, stderr_problem,
                    tree_digest, tree_shape, shape_diff, unmount_under, wait_stopped)

# == 1. concurrency ===================================================================

NAMES = ("alpha", "beta", "gamma", "delta")


def concurrency(ws: Workspace, rng: random.Random, rounds: int, procs: int) -> Figures:
    fig = Figures("concurrency")
    for rnd in range(rounds):
        root = ws.root(f"conc-{rnd}")
        for name in NAMES[:2]:
            root.new(name)
        plan: List[Tuple[str, ...]] = []
        for _ in range(procs):
            name = rng.choice(NAMES)
            op = rng.choice(("new", "new", "rm", "recreate", "activate", "ls", "doctor"))
            plan.append({
                "new": ("new", name, "--project", str(root.project), "--without-pip", "-q"),
                "rm": ("rm", "--yes", name),
                "recreate": ("recreate", name, "-q"),
                "activate": ("activate", name, "--shell", "bash"),
                "ls": ("ls", "--json"),
                "doctor": ("doctor", "--fix"),
            }[op])
        running = [(argv, root.popen(*argv)) for argv in plan]
        for argv, proc in running:
            fig.trials += 1
            try:
                out, err = proc.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                kill_hard(proc)
                fig.add(f"round {rnd}", f"`envman {' '.join(argv[:2])}` hung > 300 s",
                        f"run.py --seed S (round {rnd})")
                continue
            done = subprocess.CompletedProcess(argv, proc.returncode, out, err)
            # doctor's findings are a report, not an error line: only crashes count there
            bad = stderr_problem(done, expect_error=proc.returncode != 0 and argv[0] != "doctor")
            if proc.returncode not in CLEAN_EXITS:
                bad = f"exit {proc.returncode}; {bad or one_line(err)}"
            if bad:
                fig.add(f"round {rnd}", f"`envman {' '.join(argv[:2])}`: {bad}",
                        f"{procs} concurrent envman on names {','.join(NAMES)}")
        for problem in invariants(root):
            fig.add(f"round {rnd}", f"after {procs} concurrent processes: {problem}",
                    f"{procs} concurrent envman on names {','.join(NAMES)}; then doctor --fix")
        ws.discard(root)
    return fig


# == 2. kill -9 trials ================================================================

ALL_POINTS = ("reserve", "backup", "write:.envman-marker.toml", "built", "ready",
              "registered", "write:registry.toml", "trash", "unlink")
POINTS: Dict[str, Sequence[str]] = {
    "new": ("reserve", "write:.envman-marker.toml", "built", "ready", "registered"),
    "recreate": ("reserve", "backup", "write:.envman-marker.toml", "built", "ready",
                 "registered", "write:registry.toml", "trash", "unlink"),
    "rm": ("write:registry.toml", "trash", "unlink"),
    "prune": ("write:registry.toml", "trash", "unlink"),
    "save": ("write:registry.toml",),
    "mv": ("reserve", "write:.envman-marker.toml", "built", "backup", "ready",
           "write:registry.toml", "registered", "trash", "unlink"),
}
# Rough run time of each operation here (s): random kills land within it.
SPAN = {"new": 0.15, "recreate": 0.3, "rm": 0.15, "prune": 0.2, "save": 0.15, "mv": 0.3}


def _kill_setup(root: Root, op: str) -> Tuple[str, ...]:
    """Prepare the data root for one operation; return its argv."""
    if op in ("new", "save"):
        return ("new", "victim", "--project", str(root.project), "--without-pip", "-q")
    made = root.new("victim")
    if made.returncode != 0:
        raise RuntimeError(f"setup new failed: {one_line(made.stderr)}")
    root.new("bystander", root.base / "other-project")
    if op == "recreate":
        return ("recreate", "victim", "-q")
    if op == "mv":  # a rename, with the project's .venv link to follow it
        linked = root.run("link", "victim")
        if linked.returncode != 0:
            raise RuntimeError(f"setup link failed: {one_line(linked.stderr)}")
        return ("mv", "victim", "renamed", "-q")
    if op == "rm":
        return ("rm", "--yes", "victim")
    # prune: the victim's project disappears, so it is stale (project-missing)
    _stale(root, "victim")
    return ("prune", "--yes", "--unreachable")


def _kill_outcome(root: Root, op: str, before_id: Optional[str]) -> List[str]:
    problems: List[str] = []
    recs = records(root.home)
    victim = recs.get("victim")
    if op == "recreate":
        if victim is None:
            problems.append("killed recreate: 'victim' is no longer registered")
    elif op == "mv":
        names = [n for n in ("victim", "renamed") if n in recs]
        if len(names) != 1:
            problems.append(f"killed mv: registered {names or 'neither'} of victim/renamed")
        else:
            link = root.project / ".venv"
            want = str(root.home / "envs" / names[0])
            if not os.path.islink(link) or os.readlink(link) != want:
                problems.append(f"killed mv: {link} is not the link to {want}")
            strays = [n for n in os.listdir(root.project) if n.startswith(".venv.")]
            if strays:
                problems.append(f"killed mv: left in the project: {strays}")
    elif op == "rm" or op == "prune":
        if victim is None and (root.home / "envs" / "victim").exists():
            problems.append(f"killed {op}: record gone but envs/victim still there")
    elif op in ("new", "save"):
        if victim is None:
            if (root.home / "envs" / "victim").exists():
                problems.append("killed new: unregistered envs/victim left behind")
            again = root.new("victim")
            if again.returncode != 0:
                problems.append(f"killed new: the next `new victim` exits {again.returncode}: "
                                f"{one_line(again.stderr, 100)}")
    if op != "new" and op != "save" and "bystander" not in recs:
        problems.append(f"killed {op}: bystander environment lost its record")
    return problems


def kills(ws: Workspace, rng: random.Random, trials: int,
          ops: Sequence[str] = ("new", "recreate", "rm", "prune", "save", "mv"),
          only_points: Optional[Sequence[str]] = None) -> Figures:
    fig = Figures("kill -9")
    reached_by_point: Dict[str, int] = {}
    plan: List[Tuple[str, Optional[str], float]] = []
    aimed_pairs = [(op, pt) for op in ops for pt in POINTS[op]
                   if only_points is None or pt in only_points]
    for i in range(trials):
        op = ops[i % len(ops)]
        if i % 2 == 0 and aimed_pairs:
            op, point = aimed_pairs[(i // 2) % len(aimed_pairs)]
            plan.append((op, point, 0.0))
        else:
            plan.append((op, None, rng.uniform(0.0, SPAN[op])))
    for n, (op, point, delay) in enumerate(plan):
        label = f"trial {n} {op} " + (f"aimed@{point}" if point else f"random@{delay:.3f}s")
        root = ws.root(label)
        fig.trials += 1
        try:
            argv = _kill_setup(root, op)
        except RuntimeError as exc:
            fig.add(label, f"set-up failed: {exc}", "")
            ws.discard(root)
            continue
        repro = (f"ENVMAN_TEST_STOP_AT={point} envman {' '.join(argv[:2])} ..., kill -9 when stopped"
                 if point else f"kill -9 `envman {' '.join(argv[:2])}` after {delay:.3f} s")
        before = records(root.home).get("victim", {}).get("id")
        proc = root.popen(*argv, extra={"ENVMAN_TEST_STOP_AT": point} if point else None)
        if point:
            if wait_stopped(proc):
                reached_by_point[f"{op}@{point}"] = reached_by_point.get(f"{op}@{point}", 0) + 1
                kill_only(proc)
            else:
                proc.communicate(timeout=60)
                fig.not_reached += 1
                fig.note(f"not reached: {op}@{point}")
        else:
            time.sleep(delay)
            if proc.poll() is None:
                kill_only(proc)
                fig.note("random: killed while running")
            else:
                proc.communicate()
                fig.note("random: finished before the kill")
        problems = invariants(root)  # doctor --fix first: the outcome is judged after repair
        problems += _kill_outcome(root, op, before)
        for problem in problems:
            fig.add(label, problem, repro)
        ws.discard(root)
    for key, count in sorted(reached_by_point.items()):
        fig.notes[f"reached: {key}"] = count
    return fig


# == 3. hostile-input catalogue =======================================================

Setup = Callable[[Root], Dict[str, str]]


def _nothing(root: Root) -> Dict[str, str]:
    return {}


def _config(text: str) -> Setup:
    def setup(root: Root) -> Dict[str, str]:
        root.config.write_text(text)
        return {}
    return setup


def _registry(text: bytes) -> Setup:
    def setup(root: Root) -> Dict[str, str]:
        (root.home / "registry.toml").write_bytes(text)
        return {}
    return setup


def _fifo_at(relative: str, in_home: bool = False) -> Setup:
    def setup(root: Root) -> Dict[str, str]:
        os.mkfifo((root.home if in_home else root.base) / relative)
        return {}
    return setup


def _config_special(kind: str) -> Setup:
    def setup(root: Root) -> Dict[str, str]:
        if kind == "zero":
            return {"ENVMAN_CONFIG": "/dev/zero"}
        if kind == "fifo":
            os.mkfifo(root.base / "cfg.fifo")
            return {"ENVMAN_CONFIG": str(root.base / "cfg.fifo")}
        (root.base / "cfgdir").mkdir()
        return {"ENVMAN_CONFIG": str(root.base / "cfgdir")}
    return setup


def _file(relative: str, data: bytes) -> Setup:
    def setup(root: Root) -> Dict[str, str]:
        p = root.base / relative
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return {}
    return setup


def _mkdir(relative: str, in_home: bool = False) -> Setup:
    def setup(root: Root) -> Dict[str, str]:
        ((root.home if in_home else root.base) / relative).mkdir(parents=True)
        return {}
    return setup


def _registry_dir(root: Root) -> Dict[str, str]:
    reg = root.home / "registry.toml"
    reg.unlink()
    reg.mkdir()
    return {}


def _lock_dir(root: Root) -> Dict[str, str]:
    lock = root.home / "registry.toml.lock"
    if lock.exists():
        lock.unlink()
    lock.mkdir()
    return {}


def _read_only(root: Root) -> Dict[str, str]:
    home = str(root.home)
    if not (mount("--bind", home, home) and mount("-o", "remount,ro,bind", home)):
        raise RuntimeError("cannot bind-mount read-only")
    return {}


def _full_disk(root: Root) -> Dict[str, str]:
    """Move the data root onto a 1 MiB tmpfs and fill it to the last few KiB."""
    full = root.base / "fullhome"
    full.mkdir()
    if not mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(full)):
        raise RuntimeError("cannot mount tmpfs")
    shutil.copy2(root.home / "registry.toml", full / "registry.toml")
    handle = os.open(full / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(handle, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(handle)
    return {"ENVMAN_HOME": str(full), "__shape_root": str(full)}


def _python_version(data: bytes) -> Setup:
    return _file("project/.python-version", data)


def _exe(relative: str, script: str) -> Setup:
    def setup(root: Root) -> Dict[str, str]:
        p = root.base / relative
        p.write_text(script)
        p.chmod(0o755)
        return {}
    return setup


def _huge(relative: str, megabytes: int) -> Setup:
    def setup(root: Root) -> Dict[str, str]:
        with open(root.base / relative, "wb") as handle:
            handle.truncate(megabytes * 1024 * 1024)  # sparse: cheap, still huge to read
        return {}
    return setup


def _both(*setups: Setup) -> Setup:
    def setup(root: Root) -> Dict[str, str]:
        out: Dict[str, str] = {}
        for s in setups:
            out.update(s(root))
        return out
    return setup


# A Case: (description, argv with {B} = the root's base dir, set-up, expected exit, needs root)
Case = Tuple[str, Sequence[str], Setup, Tuple[int, ...], bool]

LONG = "a" * 65
NEW = ("new",)
WP = ("--without-pip", "-q")


def catalogue() -> List[Case]:
    cases: List[Case] = []

    def add(desc: str, argv: Sequence[str], setup: Setup = _nothing, code: object = 2,
            root_only: bool = False) -> None:
        codes = tuple(code) if isinstance(code, (tuple, list)) else (int(code),)  # type: ignore[arg-type]
        cases.append((desc, list(argv), setup, codes, root_only))

    # names
    for desc, name in [("empty name", ""), ("65-char name", LONG), ("name ..", ".."),
                       ("name .", "."), ("name with /", "a/b"), ("leading -", "-x"),
                       ("leading .", ".hidden"), ("unicode name", "café"),
                       ("name with space", "a b"), ("name with newline", "a\nb"),
                       ("name with $()", "$(id)"), ("name with :", "a:b"),
                       ("name case-duplicate of base", "BASE"), ("taken name", "base")]:
        code = 2
        if desc in ("name with /", "name .", "name ..") and False:
            code = 2
        add(f"new: {desc}", [*NEW, name, "--project", "{B}/project", *WP], code=code)
    for cmd in ("rm --yes", "recreate", "info", "path", "activate --shell bash"):
        add(f"{cmd}: unknown name", [*cmd.split(), "nosuch"], code=3)
        add(f"{cmd}: name ../..", [*cmd.split(), "../.."], code=(2, 3))
    add("rm --yes: empty name", ["rm", "--yes", ""], code=(2, 3))
    add("info: 65-char name", ["info", LONG], code=(2, 3))
    add("run: unknown name", ["run", "nosuch", "--", "true"], code=3)
    add("run: command missing", ["run", "base", "--", "no-such-command-xyz"], code=2)
    # project paths
    add("new: project missing", [*NEW, "x", "--project", "{B}/missing", *WP])
    add("new: project is a file", [*NEW, "x", "--project", "{B}/afile", *WP],
        _file("afile", b"hello"))
    add("new: project over PATH_MAX", [*NEW, "x", "--project", "{B}/" + "d/" * 2100, *WP])
    add("new: project 256-byte component", [*NEW, "x", "--project", "{B}/" + "c" * 256, *WP])
    add("new: project non-UTF-8", [*NEW, "x", "--project", "{B}/bad\udcff", *WP],
        _mkdir("bad\udcff"))
    # SPEC refuses a newline in the data root only; a project path with one is not put on PATH
    add("new: project with newline", [*NEW, "x", "--project", "{B}/nl\nx", *WP], _mkdir("nl\nx"),
        code=(0, 2))
    add("new: project ''", [*NEW, "x", "--project", "", *WP])
    add("ls: --project missing", ["ls", "--project", "{B}/missing"], code=0)
    # --python specs
    for desc, spec in [("''", ""), ("2.7", "2.7"), ("nonsense", "banana"), ("4.0", "4.0"),
                       ("bad specifier", ">=3.x"), ("99.99.99", "99.99.99"),
                       ("/dev/null", "/dev/null"), ("a directory", "{B}/project")]:
        add(f"new: --python {desc}", [*NEW, "x", "--project", "{B}/project", "--python", spec, *WP])
    add("new: --python non-python executable", [*NEW, "x", "--project", "{B}/project",
                                                  "--python", "{B}/notpy", *WP],
        _exe("notpy", "#!/bin/sh\nexit 0\n"))
    add("new: --python script printing garbage", [*NEW, "x", "--project", "{B}/project",
                                                    "--python", "{B}/garbage", *WP],
        _exe("garbage", "#!/bin/sh\necho 'Python 9.Z garbage \\x00 {'\nexit 0\n"))
    add("new: --python script that exits 1", [*NEW, "x", "--project", "{B}/project",
                                                "--python", "{B}/fails", *WP],
        _exe("fails", "#!/bin/sh\necho oops >&2\nexit 1\n"))
    # AGE values
    for age in ("", "0d?", "-1d", "99999999999999999999d", "1y", "1.5d", "d", "5", "1e9d"):
        add(f"ls --older-than {age!r}", ["ls", "--stale", "--older-than", age])
    add("prune --older-than huge", ["prune", "--dry-run", "--older-than", "99999999999999999999d"])
    # requirement files
    add("new: -r missing", [*NEW, "x", "--project", "{B}/project", "-r", "{B}/missing.txt"])
    add("new: -r a directory", [*NEW, "x", "--project", "{B}/project", "-r", "{B}/project"])
    add("new: -r with --without-pip", [*NEW, "x", "--project", "{B}/project", "-r",
                                        "{B}/req.txt", *WP], _file("req.txt", b"\n"))
    add("new: -r non-UTF-8 path", [*NEW, "x", "--project", "{B}/project", "-r",
                                    "{B}/r\udcfe.txt"], _file("r\udcfe.txt", b"\n"), code=(1, 2))
    add("new: -r a FIFO (nobody writes)", [*NEW, "x", "--project", "{B}/project", "-r",
                                            "{B}/req.fifo", "-q"], _fifo_at("req.fifo"), code=2)
    add("new: -r empty file", [*NEW, "x", "--project", "{B}/project", "-r", "{B}/empty.txt",
                                "-q"], _file("empty.txt", b""), code=0)
    add("new: -r unresolvable requirement", [*NEW, "x", "--project", "{B}/project", "-r",
                                              "{B}/bad.txt", "-q"],
        _file("bad.txt", b"--no-index\nno-such-dist-xyz==1\n"), code=1)
    # config files
    add("ls with ENVMAN_CONFIG=/dev/zero", ["ls"], _config_special("zero"))
    add("ls with config a FIFO", ["ls"], _config_special("fifo"))
    add("ls with config a directory", ["ls"], _config_special("dir"))
    add("ls with bad TOML config", ["ls"], _config("stale_after = [\n"))
    add("ls with unknown config key", ["ls"], _config("colour = 'red'\n"))
    add("ls with config stale_after huge", ["ls", "--stale"],
        _config("stale_after = '99999999999999999999d'\n"))
    add("ls with config stale_after wrong type", ["ls"], _config("stale_after = 3\n"))
    add("new with config default_python nonsense", [*NEW, "x", "--project", "{B}/project", *WP],
        _config("default_python = 'banana'\n"))
    add("ls with non-UTF-8 config", ["ls"], _config_bytes(b"stale_after = '\xff\xfe'\n"))
    # registry files
    for cmd in (["ls"], ["new", "x", "--project", "{B}/project", *WP], ["rm", "--yes", "base"]):
        tag = cmd[0]
        add(f"{tag}: registry garbage", cmd, _registry(b"\x00\x01 not toml ]]]\n"), (1, 2))
        add(f"{tag}: registry newer schema", cmd, _registry(b"schema_version = 99\n"), (1, 2))
        add(f"{tag}: registry NUL in id", cmd, _registry(
            b'schema_version = 1\n[envs.base]\nid = "ab\\u0000cd"\npath = "/tmp/x"\n'
            b'project = "/tmp"\npython = "3.11"\n'), (1, 2))
        add(f"{tag}: registry wrong types", cmd, _registry(
            b'schema_version = 1\n[envs.base]\nid = 5\npath = []\n'), (1, 2))
    add("ls: registry is a directory", ["ls"], _registry_dir, (1, 2))
    add("new: registry is a directory", ["new", "x", "--project", "{B}/project", *WP],
        _registry_dir, (1, 2))
    add("ls: registry non-UTF-8", ["ls"], _registry(b"schema_version = 1\n# \xff\xfe\n"), (1, 2))
    add("ls: schema_version a string", ["ls"], _registry(b"schema_version = 'one'\n"), (1, 2))
    # .python-version
    add("new: .python-version with NUL", [*NEW, "x", "--project", "{B}/project", *WP],
        _python_version(b"3.11\x00\n"))
    add("new: .python-version garbage", [*NEW, "x", "--project", "{B}/project", *WP],
        _python_version(b"\xff\xfe garbage {{\n"))
    add("new: .python-version a directory", [*NEW, "x", "--project", "{B}/project", *WP],
        _mkdir("project/.python-version"), code=2)
    add("new: pyproject requires-python nonsense", [*NEW, "x", "--project", "{B}/project", *WP],
        _file("project/pyproject.toml", b"[project]\nrequires-python = '>=banana'\n"))
    # misc usage
    add("unknown command", ["frobnicate"])
    add("unknown option", ["ls", "--frob"])
    add("new: --prompt non-UTF-8", [*NEW, "x", "--project", "{B}/project", "--prompt",
                                     "p\udcff", *WP], code=2)
    add("prune without --yes, no terminal", ["prune", "--unreachable"],
        lambda root: (_stale(root, "base"), {})[1], code=2)
    add("rm without --yes, no terminal", ["rm", "base"], code=2)
    add("activate: unknown shell", ["activate", "base", "--shell", "cmd.exe"])
    add("completion: unknown shell", ["completion", "tcsh-x"])
    add("adopt: not a venv", ["adopt", "{B}/project"])
    add("info: unknown option", ["info", "--frob", "base"])
    # the machine
    add("new: read-only data root", [*NEW, "x", "--project", "{B}/project", *WP], _read_only,
        code=1, root_only=True)
    add("rm: read-only data root", ["rm", "--yes", "base"], _read_only, code=1, root_only=True)
    add("activate: read-only data root (must still work)", ["activate", "base", "--shell",
                                                            "bash"], _read_only, code=0,
        root_only=True)
    add("run: read-only data root (must still work)", ["run", "base", "--", "true"], _read_only,
        code=0, root_only=True)
    add("ls: read-only data root (must still work)", ["ls"], _read_only, code=0, root_only=True)
    add("new: full disk (1 MiB tmpfs)", [*NEW, "x", "--project", "{B}/project", *WP], _full_disk,
        code=1, root_only=True)
    add("new: directory at registry.toml.lock", [*NEW, "x", "--project", "{B}/project", *WP],
        _lock_dir, code=1)
    add("rm: directory at registry.toml.lock", ["rm", "--yes", "base"], _lock_dir, code=1)
    add("new: data root with newline", [*NEW, "x", "--project", "{B}/project", *WP],
        lambda root: {"ENVMAN_HOME": str(root.base / "nl\nhome"), "__shape_root":
                      str(root.base / "nl\nhome")})
    add("new: data root is a file", [*NEW, "x", "--project", "{B}/project", *WP],
        lambda root: (_file("homefile", b"x")(root), {"ENVMAN_HOME": str(root.base / "homefile"),
                                                       "__shape_root": str(root.base / "homefile")})[1],
        code=1)
    return cases


def _config_bytes(data: bytes) -> Setup:
    def setup(root: Root) -> Dict[str, str]:
        root.config.write_bytes(data)
        return {}
    return setup


def _argv(argv: Sequence[str], root: Root) -> List[str]:
    return [a.replace("{B}", str(root.base)) for a in argv]


def hostile_case(ws: Workspace, case: Case) -> List[str]:
    """Run one catalogue case; return its problems (empty: as SPEC says)."""
    desc, argv, setup, code, _ = case
    root = ws.root("hostile-" + desc)
    problems: List[str] = []
    try:
        made = root.new("base")
        if made.returncode != 0:
            return [f"set-up `new base` failed: {one_line(made.stderr)}"]
        try:
            extra = setup(root)
        except (RuntimeError, OSError) as exc:
            return [f"harness: set-up failed: {exc}"]
        shape_root = Path(extra.pop("__shape_root", str(root.home)))
        before = tree_shape(shape_root)
        real_argv = _argv(argv, root)
        env = root.env(extra)
        try:
            proc = subprocess.run([sys.executable, "-m", "envman", *[os.fsencode(a) for a in real_argv]],
                                  cwd=str(root.project), env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=20)
        except subprocess.TimeoutExpired:
            return ["hangs (killed after 20 s)"]
        if proc.returncode not in code:
            want = " or ".join(map(str, code))
            problems.append(f"exit {proc.returncode}, SPEC wants {want}: {one_line(proc.stderr, 110)}")
        bad = stderr_problem(proc, expect_error=proc.returncode != 0)
        if bad and not (argv and argv[0] in ("frobnicate",) or "--frob" in argv):
            problems.append(bad)
        if proc.returncode != 0:
            after = tree_shape(shape_root)
            if after != before:
                problems.append("rejected, yet the data root changed: " + shape_diff(before, after))
    finally:
        ws.discard(root)
    return problems


def hostile(ws: Workspace, cases: Optional[Sequence[Case]] = None) -> Figures:
    fig = Figures("hostile input")
    for case in (cases if cases is not None else catalogue()):
        desc, argv, _, code, root_only = case
        if root_only and not is_root():
            fig.note("skipped: needs root")
            continue
        fig.trials += 1
        for problem in hostile_case(ws, case):
            fig.add(desc, problem, "envman " + " ".join(repr(a) if " " in a or not a else a
                                                       for a in argv)[:90])
    return fig


# == 4. deletion traps with canaries ==================================================


def _stale(root: Root, name: str) -> None:
    """Point `name`'s record at a project that is gone with its parent (by editing the
    registry while no envman runs: stale for `prune --unreachable`)."""
    reg = root.home / "registry.toml"
    doc = reg.read_text()
    start = doc.index(f"[envs.{name}]")
    head, tail = doc[:start], doc[start:]
    tail = re.sub(r'(?m)^project = ".*"$', f'project = "{root.base}/gone-{name}/p"', tail, count=1)
    reg.write_text(head + tail)


def trap_env_is_link(root: Root) -> List[str]:
    root.new("web")
    _stale(root, "web")
    env = root.home / "envs" / "web"
    shutil.rmtree(env)
    env.symlink_to(root.canary, target_is_directory=True)
    out = []
    for argv in (("rm", "--yes", "web"), ("prune", "--yes", "--unreachable"),
                 ("recreate", "web", "-q"), ("doctor", "--fix")):
        out.append(root.run(*argv))
    return [f"`{' '.join(p.args[3:5])}`: {stderr_problem(p, False)}"
            for p in out if stderr_problem(p, False)]


def trap_envs_is_link(root: Root) -> List[str]:
    root.new("web")
    _stale(root, "web")
    envs = root.home / "envs"
    shutil.move(str(envs), str(root.canary / "envs-real"))
    envs.symlink_to(root.canary / "envs-real", target_is_directory=True)
    for argv in (("rm", "--yes", "web"), ("prune", "--yes", "--unreachable"), ("doctor", "--fix")):
        root.run(*argv)
    return []


def trap_used_is_link(root: Root) -> List[str]:
    root.new("web")
    root.run("activate", "web", "--shell", "bash")
    used = root.home / "used"
    if used.exists():
        shutil.rmtree(used)
    used.symlink_to(root.canary, target_is_directory=True)
    root.run("doctor", "--fix")
    root.run("rm", "--yes", "web")
    root.run("doctor", "--fix")
    return []


def _retarget(root: Root, name: str, new_path: str) -> None:
    reg = root.home / "registry.toml"
    text = reg.read_text()
    old = str(root.home / "envs" / name)
    reg.write_text(text.replace(f'path = "{old}"', f'path = "{new_path}"'))


def trap_record_outside(root: Root) -> List[str]:
    root.new("web")
    _stale(root, "web")
    env = root.home / "envs" / "web"
    # a perfect copy of the environment (pyvenv.cfg and marker) among the canaries
    fake = root.canary / "fake-env"
    fake.mkdir()
    shutil.copy2(env / "pyvenv.cfg", fake / "pyvenv.cfg")
    shutil.copy2(env / MARKER, fake / MARKER)
    (fake / "precious.txt").write_text("not envman's\n")
    _retarget(root, "web", str(fake))
    for argv in (("rm", "--yes", "web"), ("prune", "--yes", "--unreachable"), ("doctor", "--fix"),
                 ("recreate", "web", "-q")):
        root.run(*argv)
    return []


def trap_record_dotdot(root: Root) -> List[str]:
    root.new("web")
    _stale(root, "web")
    _retarget(root, "web", str(root.home / "envs" / ".."))
    for argv in (("rm", "--yes", "web"), ("prune", "--yes", "--unreachable"), ("doctor", "--fix")):
        root.run(*argv)
    if not (root.home / "registry.toml").exists():
        return ["registry.toml deleted through a record at envs/.."]
    return []


def trap_trash_swap(root: Root) -> List[str]:
    root.new("web")
    proc = root.popen("rm", "--yes", "web", extra={"ENVMAN_TEST_STOP_AT": "trash"})
    if not wait_stopped(proc):
        proc.communicate()
        return ["(not reached: no 'trash' checkpoint in this envman)"]
    try:
        envs = root.home / "envs"
        trash = [envs / n for n in os.listdir(envs) if n.startswith(".trash-")]
        if not trash:
            return ["stopped at 'trash' but no envs/.trash-* exists"]
        shutil.move(str(trash[0]), str(root.base / "moved-trash"))
        trash[0].symlink_to(root.canary, target_is_directory=True)
        os.kill(proc.pid, signal.SIGCONT)
        proc.communicate(timeout=60)
    finally:
        kill_hard(proc)
    root.run("doctor", "--fix")
    return []


def trap_mount_inside(root: Root) -> List[str]:
    if not is_root():
        return ["(skipped: needs root to mount)"]
    root.new("web")
    root.new("old")
    _stale(root, "old")
    mounts = []
    for name in ("web", "old"):
        mnt = root.home / "envs" / name / "lib" / "mnt"
        mnt.mkdir(parents=True)
        if not mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)):
            return ["(skipped: tmpfs mount failed)"]
        mounts.append(mnt)
        for i in range(3):
            (mnt / f"mounted-canary-{i}.txt").write_text(f"on the mount {i}\n")
    try:
        root.run("rm", "--yes", "web")
        root.run("prune", "--yes", "--unreachable")
        root.run("doctor", "--fix")
        # A deletion renames the environment to `.trash-*` first: the mounts move with it,
        # so count the mounts (wherever they are now) that still hold all their canaries.
        whole = [p for p in _mounts_under(root.home)
                 if all((p / f"mounted-canary-{n}.txt").is_file() for n in range(3))]
        if len(whole) < len(mounts):
            return [f"CANARY DAMAGED: deletion crossed into a mounted tmpfs ({len(mounts) - len(whole)} "
                    f"of {len(mounts)} mounts lost canary files)"]
        return []
    finally:
        for point in sorted(_mounts_under(root.home), key=lambda p: -len(str(p))):
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _mounts_under(directory: Path) -> List[Path]:
    """The mount points below `directory`, wherever a rename has moved them."""
    with open("/proc/self/mountinfo") as handle:
        points = [line.split(" ")[4].replace("\\040", " ") for line in handle]
    base = str(directory)
    return [Path(p) for p in points if p.startswith(base + os.sep)]


def trap_no_pyvenv_cfg(root: Root) -> List[str]:
    root.new("web")
    root.new("bare")
    env = root.home / "envs" / "web"
    (env / "pyvenv.cfg").unlink()
    (env / "keep-me.txt").write_text("no pyvenv.cfg: never delete\n")
    # an unregistered store directory with a marker and no pyvenv.cfg
    bare = root.home / "envs" / "bare"
    (bare / "pyvenv.cfg").unlink()
    (bare / "keep-me.txt").write_text("x\n")
    reg = root.home / "registry.toml"
    doc = reg.read_text()
    start = doc.index("[envs.bare]")
    end = doc.find("\n[envs.", start + 1)
    reg.write_text(doc[:start] + (doc[end + 1:] if end != -1 else ""))
    root.run("doctor", "--fix")
    root.run("prune", "--yes", "--unreachable")
    problems = []
    for name in ("web", "bare"):
        if not (root.home / "envs" / name / "keep-me.txt").exists():
            problems.append(f"doctor --fix/prune deleted envs/{name}, which holds no pyvenv.cfg")
    return problems


def trap_no_marker(root: Root) -> List[str]:
    foreign = root.home / "envs" / "foreign"
    foreign.mkdir(parents=True)
    (foreign / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (foreign / "keep-me.txt").write_text("someone's\n")
    for argv in (("rm", "--yes", "foreign"), ("doctor", "--fix"), ("prune", "--yes", "--unreachable"),
                 ("recreate", "foreign")):
        root.run(*argv)
    if not (foreign / "keep-me.txt").exists():
        return ["a store directory without a marker was deleted"]
    return []


TRAPS: List[Tuple[str, Callable[[Root], List[str]]]] = [
    ("envs/NAME is a symlink to the canary", trap_env_is_link),
    ("envs/ itself is a symlink", trap_envs_is_link),
    ("<root>/used is a symlink to the canary; doctor --fix", trap_used_is_link),
    ("record path outside the store (a copy with pyvenv.cfg+marker)", trap_record_outside),
    ("record path envs/..", trap_record_dotdot),
    (".trash-* swapped for a symlink while rm is stopped at 'trash'", trap_trash_swap),
    ("tmpfs mounted inside environments; rm and prune", trap_mount_inside),
    ("environments without pyvenv.cfg but with a marker; doctor --fix", trap_no_pyvenv_cfg),
    ("store directory with no marker", trap_no_marker),
]


def traps(ws: Workspace, which: Optional[Sequence[str]] = None) -> Figures:
    fig = Figures("deletion traps")
    for desc, trap in TRAPS:
        if which is not None and trap.__name__ not in which:
            continue
        root = ws.root(trap.__name__)
        canaries = root.make_canaries()
        fig.trials += 1
        try:
            problems = trap(root)
        except Exception as exc:  # noqa: BLE001 - a harness failure is reported, not raised
            problems = [f"harness error: {exc.__class__.__name__}: {exc}"]
        finally:
            unmount_under(root.base)
        now = tree_digest(root.canary)
        if trap is not trap_record_outside and trap is not trap_envs_is_link:
            if now != canaries:
                problems.append("CANARY DAMAGED: " + shape_diff(canaries, now))
        else:  # the canary dir also holds the planted copy: everything in it must survive
            lost = [k for k in canaries if k not in now or now[k] != canaries[k]]
            if lost:
                problems.append("CANARY DAMAGED: " + ", ".join(lost[:4]))
            planted = [p for p in ("fake-env/precious.txt", "fake-env/pyvenv.cfg")
                       if trap is trap_record_outside and not (root.canary / p).exists()]
            if planted:
                problems.append("deleted a directory outside the store: " + ", ".join(planted))
            if trap is trap_envs_is_link and not (root.canary / "envs-real" / "web").exists():
                problems.append("deleted envs/web reached through a symlinked envs/")
        for problem in problems:
            if problem.startswith("(not reached"):
                fig.not_reached += 1
            elif problem.startswith("(skipped"):
                fig.note("skipped")
            else:
                fig.add(desc, problem, f"trap {trap.__name__} in tests/stress/sections.py")
        ws.discard(root)
    return fig
