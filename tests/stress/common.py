"""Shared plumbing for the fault campaign: isolated data roots, the real CLI, invariants.

Nothing here is a pytest test: `tests/stress/conftest.py` keeps pytest from collecting
this directory; `tests/test_stress_quick.py` and `tests/stress/run.py` call it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

try:
    import tomllib  # type: ignore[import-not-found]
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from hostenv import outside_venv  # noqa: E402
MARKER = ".envman-marker.toml"
CLEAN_EXITS = (0, 1, 2, 3)


@dataclass
class Anomaly:
    section: str
    trial: str
    message: str
    repro: str

    def line(self) -> str:
        return f"[{self.section}] {self.trial}: {self.message}  (repro: {self.repro})"


@dataclass
class Figures:
    section: str
    trials: int = 0
    not_reached: int = 0
    anomalies: List[Anomaly] = field(default_factory=list)
    notes: Dict[str, int] = field(default_factory=dict)

    def add(self, trial: str, message: str, repro: str) -> None:
        self.anomalies.append(Anomaly(self.section, trial, message, repro))

    def note(self, key: str) -> None:
        self.notes[key] = self.notes.get(key, 0) + 1


def child_env(home: Path, config: Path, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = outside_venv(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["ENVMAN_HOME"] = str(home)
    env["ENVMAN_CONFIG"] = str(config)
    env["PIP_NO_INDEX"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["ENVMAN_NO_UV"] = "1"
    for var in ("ENVMAN_DEBUG", "VIRTUAL_ENV", "ENVMAN_TEST_STOP_AT"):
        env.pop(var, None)
    env.update(extra or {})
    return env


def envman_argv(args: Sequence[str]) -> List[str]:
    return [sys.executable, "-m", "envman", *args]


class Root:
    """One isolated world: data root, config path, a project, a canary directory."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.config = base / "config.toml"
        self.project = base / "project"
        self.project.mkdir(parents=True, exist_ok=True)
        self.canary = base / "canary"

    def env(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        return child_env(self.home, self.config, extra)

    def run(self, *args: str, extra: Optional[Dict[str, str]] = None,
            cwd: Optional[Path] = None, timeout: float = 120) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(envman_argv(args), cwd=str(cwd or self.project),
                                  env=self.env(extra), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, -999, exc.stdout or b"",
                                               (exc.stderr or b"") + b"\n[harness: timed out]")

    def popen(self, *args: str, extra: Optional[Dict[str, str]] = None) -> subprocess.Popen:
        return subprocess.Popen(envman_argv(args), cwd=str(self.project), env=self.env(extra),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)

    def new(self, name: str, project: Optional[Path] = None) -> subprocess.CompletedProcess:
        proj = project or self.project
        proj.mkdir(parents=True, exist_ok=True)
        return self.run("new", name, "--project", str(proj), "--without-pip", "-q")

    def make_canaries(self, count: int = 5) -> Dict[str, str]:
        self.canary.mkdir(parents=True, exist_ok=True)
        (self.canary / "sub").mkdir(exist_ok=True)
        for i in range(count):
            (self.canary / f"canary-{i}.txt").write_text(f"canary {i}\n")
            (self.canary / "sub" / f"deep-{i}.txt").write_text(f"deep {i}\n")
        return tree_digest(self.canary)


@dataclass
class Workspace:
    """A temporary directory holding many Roots; removed at the end."""

    base: Path
    counter: int = 0

    def root(self, label: str) -> Root:
        self.counter += 1
        safe = "".join(c if c.isalnum() else "-" for c in label)[:40]
        return Root(self.base / f"{self.counter:04d}-{safe}")

    def discard(self, root: Root) -> None:
        unmount_under(root.base)
        shutil.rmtree(root.base, ignore_errors=True)


def workspace() -> Workspace:
    return Workspace(Path(tempfile.mkdtemp(prefix="envman-stress-")))


def unmount_under(path: Path) -> None:
    """Unmount anything mounted at or below `path` (deepest first)."""
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    prefix = os.path.realpath(path)
    for target in sorted((m for m in mounts if m == prefix or m.startswith(prefix + "/")),
                         key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


def tree_digest(directory: Path) -> Dict[str, str]:
    """Relative path -> sha256 (files) or 'dir'/'link:TARGET', never following links."""
    out: Dict[str, str] = {}
    if not directory.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(directory):
        for d in list(dirnames):
            p = Path(dirpath) / d
            rel = str(p.relative_to(directory))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
                dirnames.remove(d)
            else:
                out[rel] = "dir"
        for f in filenames:
            p = Path(dirpath) / f
            rel = str(p.relative_to(directory))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "special"
    return out


def tree_shape(home: Path) -> Dict[str, str]:
    """What a rejected command must leave unchanged: names, types, sizes, registry bytes.

    The cache directory and the (empty) lock file are left out: any command may refresh
    a cache or create the lock it takes."""
    out: Dict[str, str] = {}
    if not os.path.lexists(home):
        return {"": "absent"}
    for dirpath, dirnames, filenames in os.walk(home):
        rel_dir = os.path.relpath(dirpath, home)
        if rel_dir == "cache" or rel_dir.startswith("cache/"):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, home)
            if rel in ("cache", "registry.toml.lock"):  # cache and lock file: infrastructure
                continue
            st = os.lstat(p)
            if os.path.islink(p):
                out[rel] = "link"
            elif os.path.isdir(p):
                out[rel] = "dir"
            else:
                out[rel] = f"file:{st.st_size}"
    reg = home / "registry.toml"
    if reg.is_file():
        out["registry.toml#bytes"] = hashlib.sha256(reg.read_bytes()).hexdigest()
    return out


def shape_diff(before: Dict[str, str], after: Dict[str, str]) -> str:
    added = sorted(set(after) - set(before))
    gone = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    parts = []
    if added:
        parts.append("added " + ", ".join(added[:3]) + ("..." if len(added) > 3 else ""))
    if gone:
        parts.append("removed " + ", ".join(gone[:3]) + ("..." if len(gone) > 3 else ""))
    if changed:
        parts.append("changed " + ", ".join(changed[:3]))
    return "; ".join(parts)


def stderr_problem(proc: subprocess.CompletedProcess, expect_error: bool) -> Optional[str]:
    """Why stderr is not the contract's shape (one `envman: error:` line + hints), or None."""
    err = proc.stderr.decode(errors="replace") if isinstance(proc.stderr, bytes) else proc.stderr
    if "Traceback" in err:
        last = [l for l in err.splitlines() if l.strip()][-1:]
        return "Traceback on stderr: " + (last[0][:120] if last else "")
    if "internal error" in err:
        return "'internal error': " + one_line(err)
    if not expect_error:
        return None
    lines = [l for l in err.splitlines() if l.strip()]
    starts = [i for i, l in enumerate(lines) if l.startswith("envman: error: ")]
    if len(starts) != 1:
        return f"stderr is not one 'envman: error:' line: {one_line(err)}"
    if starts[0] != 0 or not all(l.startswith("hint: ") for l in lines[starts[0] + 1:]):
        return f"stderr has more than error+hint lines: {one_line(err)}"
    return None


def one_line(text: object, width: int = 160) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    s = " | ".join(l.strip() for l in str(text).splitlines() if l.strip())
    return s[:width] + ("..." if len(s) > width else "")


def load_registry(home: Path) -> Tuple[Optional[dict], Optional[str]]:
    reg = home / "registry.toml"
    if not os.path.lexists(reg):
        return {}, None
    try:
        return tomllib.loads(reg.read_bytes().decode()), None
    except Exception as exc:  # noqa: BLE001 - any failure to parse is the finding
        return None, f"registry.toml does not parse: {exc}"


def records(home: Path) -> Dict[str, dict]:
    doc, _ = load_registry(home)
    envs = (doc or {}).get("envs", {})
    return envs if isinstance(envs, dict) else {}


def env_works(record: dict) -> Optional[str]:
    """Why a registered environment is not whole, or None."""
    path = Path(str(record.get("path", "")))
    if not path.is_dir() or path.is_symlink():
        return f"directory {path} missing"
    if not (path / "pyvenv.cfg").is_file():
        return f"{path} holds no pyvenv.cfg"
    try:
        marker = tomllib.loads((path / MARKER).read_text())
    except Exception as exc:  # noqa: BLE001
        return f"{path} marker unreadable: {exc.__class__.__name__}"
    if marker.get("id") != record.get("id"):
        return f"{path} marker id {marker.get('id')} != record id {record.get('id')}"
    if marker.get("state") != "ready":
        return f"{path} marker state {marker.get('state')!r}, not 'ready'"
    py = path / "bin" / "python"
    try:
        ok = subprocess.run([str(py), "-c", "pass"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        return f"{path}/bin/python -c pass fails"
    return None


def invariants(root: Root, canaries: Optional[Dict[str, str]] = None,
               fix: bool = True) -> List[str]:
    """Run `doctor --fix` once, then list every broken invariant (empty: all hold)."""
    problems: List[str] = []
    home = root.home
    if fix:
        fixed = root.run("doctor", "--fix")
        bad = stderr_problem(fixed, expect_error=False)
        if bad:
            problems.append(f"doctor --fix: {bad}")
    doc, parse_error = load_registry(home)
    if parse_error:
        problems.append(parse_error)
    checked = root.run("doctor")
    if checked.returncode != 0:
        problems.append(f"doctor (after --fix) exits {checked.returncode}: "
                        f"{one_line(checked.stdout + checked.stderr)}")
    envs = (doc or {}).get("envs", {}) if isinstance(doc, dict) else {}
    registered = set()
    for name, rec in envs.items() if isinstance(envs, dict) else []:
        registered.add(name)
        why = env_works(rec) if isinstance(rec, dict) else "record is not a table"
        if why:
            problems.append(f"record {name!r}: {why}")
    store = home / "envs"
    if store.is_dir():
        for entry in sorted(os.listdir(store)):
            p = store / entry
            if entry.startswith(".trash-") or entry.startswith(".backup-"):
                problems.append(f"leftover envs/{entry}")
            elif entry.startswith("."):
                problems.append(f"stray dot entry envs/{entry}")
            elif entry not in registered:
                kind = "empty directory" if p.is_dir() and not os.listdir(p) else (
                    "directory" if p.is_dir() else "entry")
                problems.append(f"unregistered {kind} envs/{entry}")
    if home.is_dir():
        for dirpath, dirnames, filenames in os.walk(home):
            for f in filenames:
                if f.endswith(".tmp"):
                    problems.append(f"leftover temp file {os.path.relpath(os.path.join(dirpath, f), home)}")
    if canaries is not None:
        now = tree_digest(root.canary)
        if now != canaries:
            problems.append("CANARY DAMAGED: " + shape_diff(canaries, now))
    return problems


# -- stopping a process at a checkpoint ----------------------------------------------


def proc_state(pid: int) -> Optional[str]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[0]


def wait_stopped(proc: subprocess.Popen, timeout: float = 60) -> bool:
    """True once `proc` has SIGSTOPped itself; False if it exited (point never reached)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if proc_state(proc.pid) in ("T", "t"):
            return True
        time.sleep(0.005)
    return False


def kill_hard(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        try:
            proc.kill()
        except OSError:
            pass
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        pass


def kill_only(proc: subprocess.Popen) -> None:
    """SIGKILL envman itself (not its children), as a user's kill -9 PID would."""
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        kill_hard(proc)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def iter_chunks(items: Sequence[str], n: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]
