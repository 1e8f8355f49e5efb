"""What does finding the running shell cost: one read of /proc/<ppid>/comm (what envman
does on Linux) or shellingham (typer's dependency, which walks the process tree)?

Times, in the same run and alternating, fresh interpreters doing:

  python -c pass                 the interpreter floor (the reference)
  /proc/<ppid>/comm              envman's way on Linux
  shellingham.detect_shell()     import plus detection

then the per-call cost of each inside one process.

Usage: python benchmarks/bench_detect.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import timeit
from typing import Dict, List

PROC = "import os\nopen('/proc/%d/comm' % os.getppid()).read().split()"
SHELLINGHAM = "import shellingham\nshellingham.detect_shell()"
CASES = {"python -c pass": "pass", "/proc/<ppid>/comm": PROC, "shellingham": SHELLINGHAM}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        sys.exit("this benchmark compares against /proc, so it runs on Linux only")
    times: Dict[str, List[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, code in CASES.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times[name].append(time.perf_counter() - start)
    reference = statistics.median(times["python -c pass"])
    print(f"fresh process, median of {args.runs} runs:")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"  {name:<22} {median * 1000:7.1f} ms   {median / reference:5.2f}x python -c pass"
              f"   (+{(median - reference) * 1000:.1f} ms)")

    import shellingham  # noqa: F401  (imported once: the loop below is per call)

    number = 200
    proc = min(timeit.repeat(PROC.split("\n")[1], setup="import os", number=number, repeat=5)) / number
    walk = min(timeit.repeat("shellingham.detect_shell()", setup="import shellingham",
                             number=number, repeat=5)) / number
    print(f"per call in one process: /proc {proc * 1e6:.1f} us, shellingham {walk * 1e6:.1f} us "
          f"({walk / proc:.0f}x)")
    print(f"(parent here: {open('/proc/%d/comm' % os.getppid()).read().strip()!r})")


if __name__ == "__main__":
    main()
