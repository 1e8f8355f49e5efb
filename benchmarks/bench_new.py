"""How fast are `envman new` and `recreate`, next to the tools a person would pick instead?

One command. It sets up its own references in a scratch venv (virtualenv and uv from
PyPI: the only network it uses, once) and installs this checkout's envman there as pipx
would (a built, byte-compiled wheel; every command runs from that venv), builds three
tiny wheels to install offline,
then times each comparison in the same run, the two commands alternating (A B A B ...)
after a warm-up, and prints medians and ratios for every row of the targets table:

  pip-ready `envman new`            vs  `python -m venv`            (envman without uv)
  pip-ready `envman new`            vs  `virtualenv --symlink-app-data`
  `envman recreate` (3 wheels)      vs  `rm -rf` + `python -m venv` + `pip install -r`
  `envman new -r` with uv on PATH   vs  `uv venv --seed` + `uv pip install -r`
  `new --without-pip`, 5,000 registered  vs  the same with 10 registered
  `ls --json`, 1,000 environments   vs  a bare typer command
  one TAB on names, 1,000 environments (milliseconds)

uv runs offline (`UV_OFFLINE=1`) once its warm-up has cached the pip that `--seed`
installs, so neither side touches the network while timed. `--profile` also prints
where one pip-ready `envman new` spends its time.

Usage: python benchmarks/bench_new.py [--runs 7] [--python PATH] [--scratch DIR] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ls import BARE_TYPER, REPO, populate  # noqa: E402

from envman.shell import completion_scripts  # noqa: E402

Command = List[str]
Maker = Union[Command, Callable[[], Command]]  # a command, or one made afresh for each run
Step = Optional[Callable[[], None]]


def wheel(directory: Path, name: str, version: str) -> None:
    """A minimal pure-Python wheel, written by hand (no build backend, no network)."""
    dist = f"{name}-{version}"
    files = {f"{name}/__init__.py": f"VERSION = {version!r}\n".encode(),
             f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
              for path, data in files.items()] + [f"{dist}.dist-info/RECORD,,"]
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(directory / f"{dist}-py3-none-any.whl", "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)


def run(cmd: Command, env: Dict[str, str], cwd: Optional[Path] = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


class Pair:
    """Two commands timed alternately; `before` steps (not timed) reset what they change."""

    def __init__(self, label: str, a: Maker, b: Maker, env_a: Dict[str, str],
                 env_b: Dict[str, str], cwd: Path, before_a: Step = None, before_b: Step = None,
                 a_name: str = "envman", b_name: str = "reference") -> None:
        self.label, self.a, self.b, self.env_a, self.env_b, self.cwd = label, a, b, env_a, env_b, cwd
        self.before_a, self.before_b, self.a_name, self.b_name = before_a, before_b, a_name, b_name
        self.times_a: List[float] = []
        self.times_b: List[float] = []

    def once(self, record: bool) -> None:
        for cmd, env, before, times in ((self.a, self.env_a, self.before_a, self.times_a),
                                        (self.b, self.env_b, self.before_b, self.times_b)):
            if before:
                before()
            took = run(cmd() if callable(cmd) else cmd, env, self.cwd)
            if record:
                times.append(took)

    def report(self) -> str:
        a, b = statistics.median(self.times_a), statistics.median(self.times_b)
        ratios = sorted(x / y for x, y in zip(self.times_a, self.times_b))
        return (f"{self.label}\n    {self.a_name}: {a * 1000:8.1f} ms   {self.b_name}: {b * 1000:8.1f} ms"
                f"   ratio {a / b:.3f} (pairs: {ratios[0]:.3f}-{ratios[-1]:.3f}, n={len(ratios)})")


def numbered(prefix: str) -> Callable[[], str]:
    count = [0]

    def name() -> str:
        count[0] += 1
        return f"{prefix}{count[0]}"

    return name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--python", default=os.path.realpath(sys.executable),
                        help="the interpreter every environment is made with")
    parser.add_argument("--scratch", help="where to keep the reference tools between calls "
                        "(default: a temporary directory)")
    parser.add_argument("--profile", action="store_true", help="also profile one `envman new`")
    args = parser.parse_args()
    python = args.python
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        scratch = Path(args.scratch) if args.scratch else tmp / "tools"
        tools = reference_tools(scratch)
        uv_exe = str(tools / "bin" / "uv")
        wheels = tmp / "wheels"
        wheels.mkdir()
        for name in ("benchalpha", "benchbeta", "benchgamma"):
            wheel(wheels, name, "1.0")
        project = tmp / "project"
        project.mkdir()
        req = project / "requirements.txt"
        req.write_text(f"--no-index\n--find-links {wheels}\nbenchalpha\nbenchbeta\nbenchgamma\n")
        out = tmp / "out"
        out.mkdir()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUALENV_"))}
        base.pop("PYTHONPATH", None)
        base.update(PIP_DISABLE_PIP_VERSION_CHECK="1", ENVMAN_CONFIG=str(tmp / "none.toml"),
                    UV_CACHE_DIR=str(scratch / "uv-cache"), VIRTUALENV_OVERRIDE_APP_DATA=str(scratch / "app-data"))
        no_uv = dict(base, ENVMAN_HOME=str(tmp / "home-pip"), ENVMAN_NO_UV="1")
        with_uv = dict(base, ENVMAN_HOME=str(tmp / "home-uv"), UV_OFFLINE="1",
                       PATH=str(tools / "bin") + os.pathsep + base.get("PATH", ""))
        installed = str(tools / "bin" / "python")
        envman = [installed, "-m", "envman"]
        target = out / "ref"

        def clear(*paths: Path) -> Callable[[], None]:
            def step() -> None:
                for path in paths:
                    shutil.rmtree(path, ignore_errors=True)
            return step

        new_name, new_uv_name, bare_name = numbered("n"), numbered("u"), numbered("w")
        pairs: List[Pair] = []

        def fresh(head: Command, namer: Callable[[], str], tail: Command) -> Callable[[], Command]:
            """Each `new` makes a fresh environment: its name comes from a counter."""
            return lambda: [*head, namer(), *tail]

        pairs.append(Pair("pip-ready `envman new` / `python -m venv`",
                          fresh([*envman, "new"], new_name, ["--python", python, "-q"]),
                          [python, "-m", "venv", str(target)], no_uv, no_uv, project,
                          before_b=clear(target), b_name="python -m venv"))
        pairs.append(Pair("pip-ready `envman new` / `virtualenv --symlink-app-data`",
                          fresh([*envman, "new"], new_name, ["--python", python, "-q"]),
                          [str(tools / "bin" / "virtualenv"), "--symlink-app-data", "--no-periodic-update",
                           "-q", "-p", python, str(target)], no_uv, no_uv, project,
                          before_b=clear(target), b_name="virtualenv --symlink-app-data"))
        subprocess.run([*envman, "new", "rec", "--python", python, "-r", str(req), "-q"], env=no_uv,
                       cwd=project, check=True, stdout=subprocess.DEVNULL)
        pairs.append(Pair("`envman recreate` (3 local wheels) / `rm -rf` + `python -m venv` + `pip install -r`",
                          [*envman, "recreate", "rec", "-q"],
                          ["sh", "-c", 'rm -rf "$1" && "$2" -m venv "$1" && "$1/bin/pip" install -q -r "$3"',
                           "sh", str(target), python, str(req)], no_uv, no_uv, project,
                          b_name="rm + venv + pip install -r"))
        pairs.append(Pair("`envman new -r` with uv on PATH / `uv venv --seed` + `uv pip install -r`",
                          fresh([*envman, "new"], new_uv_name, ["--python", python, "-r", str(req), "-q"]),
                          ["sh", "-c", '"$2" venv -q --seed --python "$3" "$1" && '
                                       '"$2" pip install -q --python "$1/bin/python" -r "$4"',
                           "sh", str(target), uv_exe, python, str(req)], with_uv, with_uv, project,
                          before_b=clear(target), b_name="uv venv --seed + uv pip install -r"))

        # The registry's size: 5,000 registered against 10.
        big, small = tmp / "big", tmp / "small"
        populate(big, 5000)
        populate(small, 10)
        pairs.append(Pair("`new --without-pip`, 5,000 registered / 10 registered",
                          fresh([*envman, "new"], bare_name, ["--python", python, "--without-pip", "-q"]),
                          fresh([*envman, "new"], bare_name, ["--python", python, "--without-pip", "-q"]),
                          dict(no_uv, ENVMAN_HOME=str(big)), dict(no_uv, ENVMAN_HOME=str(small)), project,
                          a_name="5,000", b_name="10"))

        # `ls --json` and one TAB with 1,000 environments.
        thousand = tmp / "thousand"
        populate(thousand, 1000)
        bare = tmp / "bare.py"
        bare.write_text(BARE_TYPER)
        listing = dict(no_uv, ENVMAN_HOME=str(thousand))
        pairs.append(Pair("`ls --json`, 1,000 environments / a bare typer command",
                          [*envman, "ls", "--json"], [installed, str(bare), "ls"], listing, listing,
                          project, b_name="bare typer"))
        site = subprocess.run([installed, "-c", "import envman, os; print(os.path.dirname(os.path.dirname(envman.__file__)))"],
                              capture_output=True, text=True, check=True, env=base).stdout.strip()
        tab = [installed, "-I", "-S", "-c", completion_scripts._RUN, site, "1", "bash", "", "", "2",
               "envman", "rm", "pro"]
        pairs.append(Pair("one TAB on names, 1,000 environments / `python -I -S -c pass`",
                          tab, [installed, "-I", "-S", "-c", "pass"], listing, listing, project,
                          a_name="TAB", b_name="python -I -S"))

        for pair in pairs:  # warm-up: builds the pip image, fills uv's cache and virtualenv's app data
            if "UV_OFFLINE" in pair.env_b:
                warm_uv(pair, {k: v for k, v in pair.env_b.items() if k != "UV_OFFLINE"})
            else:
                pair.once(record=False)
        for _ in range(args.runs):
            for pair in pairs:
                pair.once(record=True)
        print(f"Python {python} ({subprocess.run([python, '-c', 'import platform; print(platform.python_version())'], capture_output=True, text=True).stdout.strip()}), "
              f"{subprocess.run([uv_exe, '--version'], capture_output=True, text=True).stdout.strip()}, "
              f"{subprocess.run([str(tools / 'bin' / 'virtualenv'), '--version'], capture_output=True, text=True).stdout.split(' from ')[0]}; "
              f"{args.runs} alternating runs each after a warm-up; medians")
        for pair in pairs:
            print(pair.report())
        if args.profile:
            profile(installed, python, no_uv, project)


def warm_uv(pair: Pair, online: Dict[str, str]) -> None:
    """The reference's first run online, so that uv caches the pip `--seed` installs."""
    saved = pair.env_b
    pair.env_b = online
    try:
        pair.once(record=False)
    finally:
        pair.env_b = saved


def reference_tools(scratch: Path) -> Path:
    """A venv with virtualenv and uv from PyPI (made once per scratch directory), and this
    checkout's envman installed in it afresh, as pipx would install it: a built wheel,
    byte-compiled, in a venv of its own. Every command below runs from that venv, so
    envman pays what an installed envman pays and nothing of this checkout's set-up (an
    editable finder, the machine's own `.pth` files) and the references likewise."""
    tools = scratch / "venv"
    python = str(tools / "bin" / "python")
    if not (tools / "bin" / "python").exists():
        scratch.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True)
    if subprocess.run([python, "-c", "import typer, platformdirs, virtualenv, uv"],
                      stderr=subprocess.DEVNULL).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", "virtualenv", "uv", str(REPO)], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(REPO)],
                   check=True, env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    return tools


def profile(installed: str, python: str, env: Dict[str, str], project: Path) -> None:
    """Where one pip-ready `envman new` spends its time (cProfile, cumulative)."""
    import pstats

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "new.prof"
        subprocess.run([installed, "-m", "cProfile", "-o", str(out), "-m", "envman", "new",
                        "profiled", "--python", python, "-q"], env=env, cwd=project, check=True,
                       stdout=subprocess.DEVNULL)
        stats = pstats.Stats(str(out))
        rows: List[Tuple[str, float]] = []
        total = 0.0
        wanted = {("envman/__main__.py", "<module>"): "the whole command (in-process)",
                  ("envman/cli/main.py", "<module>"): "importing envman.cli.main (typer)",
                  ("typer/core.py", "parse_args"): "typer parsing the arguments",
                  ("envman/ops/new.py", "create"): "envman.ops.new.create: the work",
                  ("envman/python/choice.py", "resolve"): "  choosing the interpreter",
                  ("envman/store/building.py", "reserve"): "  reserving the name (lock, marker, rename)",
                  ("envman/create/environment.py", "make_venv"): "  creating the venv and seeding pip",
                  ("envman/create/seed.py", "seed_pip"): "    of which seeding pip from the image",
                  ("envman/store/building.py", "verify"): "  verifying (starts bin/python)",
                  ("envman/store/building.py", "commit"): "  marking ready and registering"}
        for (filename, _, function), entry in stats.stats.items():  # type: ignore[attr-defined]
            for (suffix, name), label in wanted.items():
                if filename.endswith(suffix) and function == name:
                    rows.append((label, entry[3]))
                    if suffix == "envman/__main__.py":
                        total = max(total, entry[3])
        print("\nwhere one pip-ready `envman new` spends its time (cProfile, inflates Python-heavy parts):")
        order = list(wanted.values())
        for label, seconds in sorted(rows, key=lambda row: order.index(row[0])):
            print(f"    {label:<52}{seconds * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
