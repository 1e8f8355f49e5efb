"""How long does one TAB on environment names take with 1,000 registered environments?

Builds a throw-away data root with 1,000 registered environments (bench_ls.populate), then
times, in the same run and alternating:

  python -I -S -c pass          the interpreter floor the fast path starts from
  bare typer command            the CLI framework's own start-up (the reference)
  fast path, warm index         `envman rm pro<TAB>` as every script runs it
  fast path, no index           the names index deleted first: envman reads the JSON
                                snapshot and writes the index again
  fast path, registry touched   registry.toml's mtime changed first (a hand edit): envman
                                parses the TOML and writes snapshot and index again
  bash: source script only      bash start-up plus reading the script (floor of the next)
  bash: one TAB                 the same plus one call of the real completion function
  envman completion --setup     what the first TAB of a shell session also runs, once

Usage: python benchmarks/bench_completion.py [--envs 1000] [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ls import BARE_TYPER, REPO, compiled, populate, timed  # noqa: E402

from envman.shell import completion_scripts
from envman.store import registry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    compiled()
    bash = shutil.which("bash")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data root"
        store = populate(root, args.envs)
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_TYPER)
        env = dict(os.environ, ENVMAN_HOME=str(root), ENVMAN_CONFIG=str(Path(tmp) / "none.toml"),
                   PYTHONPATH=str(REPO))
        index = store.cache / registry.NAMES_INDEX_NAME
        setup = [sys.executable, str(REPO), "", ""]
        tab = [sys.executable, "-I", "-S", "-c", completion_scripts._RUN, str(REPO), "1", "bash", "", "",
               "2", "envman", "rm", "pro"]
        answer = subprocess.run(tab, env=env, capture_output=True, text=True, check=True).stdout
        assert len(answer.split()) == args.envs, "the fast path did not list every name"

        def drop_index() -> None:
            index.unlink()

        def touch_registry() -> None:
            st = os.stat(store.registry_path)
            os.utime(store.registry_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

        Case = Tuple[List[str], Optional[Callable[[], None]]]
        cases: Dict[str, Case] = {
            "python -I -S -c pass": ([sys.executable, "-I", "-S", "-c", "pass"], None),
            "bare typer command": ([sys.executable, str(bare), "ls"], None),
            "fast path, warm index": (tab, None),
            "fast path, no index": (tab, drop_index),
            "fast path, registry touched": (tab, touch_registry),
        }
        if bash:
            script = shlex.quote(str(REPO / "completions" / "envman.bash"))
            preset = "_envman_complete_setup=(" + " ".join(shlex.quote(s) for s in setup) + ")"
            call = "COMP_WORDS=(envman rm pro); COMP_CWORD=2; _envman_complete; " \
                   "(( ${#COMPREPLY[@]} == %d ))" % args.envs
            cases["bash: source script only"] = (
                [bash, "--norc", "--noprofile", "-c", f"source {script}; {preset}"], None)
            cases["bash: one TAB"] = (
                [bash, "--norc", "--noprofile", "-c", f"source {script}; {preset}; {call}"], None)
        cases["envman completion --setup"] = (
            [sys.executable, "-m", "envman", "completion", "--setup"], None)

        samples: Dict[str, List[float]] = {k: [] for k in cases}
        for cmd, before in cases.values():  # warm the page cache once
            if before:
                before()
            timed(cmd, env)
        for _ in range(args.runs):
            for label, (cmd, before) in cases.items():
                if before:
                    before()
                samples[label].append(timed(cmd, env))
        reference = statistics.median(samples["bare typer command"])
        floor = statistics.median(samples["python -I -S -c pass"])
        print(f"{args.envs} environments, {args.runs} runs each, median wall time "
              f"(Python {sys.version.split()[0]})")
        print(f"{'case':<32}{'ms':>8}{'x bare typer':>14}{'x python -I -S':>16}")
        for label, values in samples.items():
            median = statistics.median(values)
            print(f"{label:<32}{median * 1000:>8.1f}{median / reference:>14.2f}"
                  f"{median / floor:>16.2f}")


if __name__ == "__main__":
    main()
