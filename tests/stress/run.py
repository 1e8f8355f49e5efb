"""The fault campaign of issue 10, in one command.

    python3 tests/stress/run.py            # long: 10 rounds x 32 processes, 200 kill -9 trials,
                                           # the whole hostile catalogue, every deletion trap
    python3 tests/stress/run.py --quick    # small counts, a minute or two
    python3 tests/stress/run.py --seed 7   # another random plan (the seed is printed)

Prints, per section, the trials run and the anomalies found, one line each with a
reproducer hint; exits 1 when there is any anomaly.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Figures, workspace  # noqa: E402
import sections  # noqa: E402
import files  # noqa: E402
import images  # noqa: E402
import projects  # noqa: E402


SECTIONS = ("concurrency", "kills", "hostile", "traps", "files", "images", "projects")


def report(figures: List[Figures], seed: int, seconds: float) -> int:
    head = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s"],
                          capture_output=True, text=True).stdout.strip()
    print(f"\n== envman fault campaign (seed {seed}, {seconds:.0f} s, code under test: {head})")
    total = 0
    for fig in figures:
        total += len(fig.anomalies)
        extra = f", {fig.not_reached} checkpoint(s) not reached" if fig.not_reached else ""
        print(f"\n-- {fig.section}: {fig.trials} trials, {len(fig.anomalies)} anomalies{extra}")
        for key, count in sorted(fig.notes.items()):
            print(f"   ({key}: {count})")
        for anomaly in fig.anomalies:
            print("   " + anomaly.line())
    print(f"\n== total: {sum(f.trials for f in figures)} trials, {total} anomalies")
    return 1 if total else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", choices=SECTIONS,
                        action="append", help="run only these sections")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)
    only = set(args.only or SECTIONS)
    ws = workspace()
    started = time.monotonic()
    figures: List[Figures] = []
    try:
        if "concurrency" in only:
            figures.append(sections.concurrency(ws, rng, rounds=2 if args.quick else 10, procs=32))
            print(f"concurrency done ({time.monotonic() - started:.0f} s)", flush=True)
        if "kills" in only:
            figures.append(sections.kills(ws, rng, trials=30 if args.quick else 210))
            print(f"kills done ({time.monotonic() - started:.0f} s)", flush=True)
        if "hostile" in only:
            figures.append(sections.hostile(ws))
            print(f"hostile done ({time.monotonic() - started:.0f} s)", flush=True)
        if "traps" in only:
            figures.append(sections.traps(ws))
        if "files" in only:  # a FIFO, /dev/zero, a huge file at every file envman reads
            figures.append(files.files(ws, quick=args.quick))
            print(f"files done ({time.monotonic() - started:.0f} s)", flush=True)
        if "images" in only:  # the pip image: manifest paths leading out, links, same-size damage
            figures.append(images.images(ws))
            print(f"images done ({time.monotonic() - started:.0f} s)", flush=True)
        if "projects" in only:  # hostile uv output, .venv after a killed mv --project
            figures.append(projects.section(ws, rounds=1 if args.quick else 4))
            print(f"projects done ({time.monotonic() - started:.0f} s)", flush=True)
    finally:
        from common import unmount_under
        unmount_under(ws.base)
        shutil.rmtree(ws.base, ignore_errors=True)
    return report(figures, seed, time.monotonic() - started)


if __name__ == "__main__":
    sys.exit(main())
