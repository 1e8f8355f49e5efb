"""How much does `envman ls` cost with 1,000 environments, next to the CLI framework alone?

Builds a throw-away data root with 1,000 registered environments (real directories with a
pyvenv.cfg and a bin/python link to this interpreter, so every stale check does its real
filesystem work), then times, in the same run and alternating:

  python -c pass            the interpreter floor
  bare typer command        the framework's own start-up (the reference)
  envman ls                 table output, registry snapshot warm
  envman ls --json          JSON output
  envman ls (cold)          snapshot deleted first: full TOML parse

With --requirements every environment also records a requirements file in its
project, as `new -r` does, so `ls` checks each for drift (one `stat` while the file's
size and modification time are the recorded ones; a hash only when they differ).

Usage: python benchmarks/bench_ls.py [--envs 1000] [--runs 15] [--requirements]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from envman.store import registry  # noqa: E402

from envman.store.records import Registry
from envman.ops.new import requirement_files  # noqa: E402
from envman.models import EnvRecord  # noqa: E402
from envman.store.layout import Store  # noqa: E402

BARE_TYPER = """
import typer
app = typer.Typer(add_completion=False)
@app.command()
def ls(json: bool = False) -> None:
    print("x")
@app.command()
def other() -> None:
    pass
app()
"""


def compiled() -> None:
    """Byte-compile envman as an installation is: pip and pipx compile a package when they
    install it, while a checkout run with PYTHONDONTWRITEBYTECODE=1 (as on these machines)
    would compile a dozen modules again, ~20 ms, on every run it measures."""
    import compileall

    compileall.compile_dir(str(REPO / "envman"), quiet=1)


def populate(root: Path, count: int, with_requirements: bool = False) -> Store:
    store = Store(root=root, cache=root / "cache")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    home = str(Path(sys.base_prefix) / "bin")
    records: Dict[str, EnvRecord] = {}
    for i in range(count):
        name = f"project-{i:04d}"
        env = store.env_path(name)
        (env / "bin").mkdir(parents=True)
        (env / "pyvenv.cfg").write_text(f"home = {home}\nversion = 3.11.7\n")
        (env / "bin" / "python").symlink_to(sys.executable)
        project = root / "projects" / name
        project.mkdir(parents=True)
        reqs = ()
        if with_requirements:
            req = project / "requirements.txt"
            req.write_text("".join(f"package-{j}=={j}.0\n" for j in range(100)))
            old = time.time() - 60  # as a file written a while before `new` hashed it
            os.utime(req, (old, old))
            reqs = tuple(r for _, r in requirement_files([req], project))
        records[name] = EnvRecord(
            name=name, id=uuid.uuid4().hex, path=str(env), project=str(project), python="3.11.7",
            python_executable=sys.executable, created=now, last_used=now, requirements=reqs)
    registry.update(store, lambda _: Registry(records))
    return store


def timed(cmd: List[str], env: Dict[str, str], before: str = "", cwd: Optional[Path] = None) -> float:
    """Seconds one run of `cmd` takes (`before`: a file deleted first)."""
    if before:
        try:
            os.unlink(before)
        except FileNotFoundError:
            pass
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--requirements", action="store_true",
                        help="every environment records a requirements file")
    args = parser.parse_args()
    compiled()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data root"
        store = populate(root, args.envs, args.requirements)
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_TYPER)
        env = dict(os.environ, ENVMAN_HOME=str(root), ENVMAN_CONFIG=str(Path(tmp) / "none.toml"),
                   PYTHONPATH=str(REPO))
        snapshot = str(store.cache / registry.SNAPSHOT_NAME)
        cases = {
            "python -c pass": ([sys.executable, "-c", "pass"], ""),
            "bare typer command": ([sys.executable, str(bare), "ls"], ""),
            "envman ls": ([sys.executable, "-m", "envman", "ls"], ""),
            "envman ls --json": ([sys.executable, "-m", "envman", "ls", "--json"], ""),
            "envman ls (cold: no snapshot)": ([sys.executable, "-m", "envman", "ls"], snapshot),
        }
        samples: Dict[str, List[float]] = {k: [] for k in cases}
        for cmd, before in cases.values():  # warm the page cache once
            timed(cmd, env, before)
        for _ in range(args.runs):
            for label, (cmd, before) in cases.items():
                samples[label].append(timed(cmd, env, before))
        reference = statistics.median(samples["bare typer command"])
        extra = ", each with a recorded requirements file" if args.requirements else ""
        print(f"{args.envs} environments{extra}, {args.runs} runs each, median wall time")
        print(f"{'command':<32}{'ms':>8}{'x bare typer':>14}")
        for label, values in samples.items():
            median = statistics.median(values)
            print(f"{label:<32}{median * 1000:>8.0f}{median / reference:>14.2f}")


if __name__ == "__main__":
    main()
