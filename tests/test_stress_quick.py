"""The fast subset of the fault campaign (tests/stress/run.py runs the long one).

Checks that fail on today's main because of a known defect (issue 10) are marked
`xfail(strict=True)`: once the defect is fixed they pass, fail as XPASS, and must be
un-marked."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "stress"))

import common  # noqa: E402
import sections  # noqa: E402


@pytest.fixture
def ws() -> Iterator[common.Workspace]:
    space = common.workspace()
    try:
        yield space
    finally:
        common.unmount_under(space.base)
        import shutil
        shutil.rmtree(space.base, ignore_errors=True)


def lines(fig: common.Figures) -> List[str]:
    return [a.line() for a in fig.anomalies]


def test_concurrent_round_keeps_every_invariant(ws: common.Workspace) -> None:
    fig = sections.concurrency(ws, random.Random(10), rounds=1, procs=32)
    assert fig.trials == 32
    assert not fig.anomalies, "\n".join(lines(fig))


# Known defects of aimed kills: none since main 3b8a9d4 (issue 10's rewrite).
KNOWN_KILL: Dict[Tuple[str, str], str] = {}


@pytest.mark.parametrize("op,point", [
    pytest.param(op, point, marks=pytest.mark.xfail(strict=True, reason=KNOWN_KILL[(op, point)]))
    if (op, point) in KNOWN_KILL else (op, point)
    for op, point in [("new", "write:.envman-marker.toml"), ("rm", "write:registry.toml"),
                      ("rm", "trash"), ("mv", "ready")]
])
def test_aimed_kill(ws: common.Workspace, op: str, point: str) -> None:
    fig = sections.kills(ws, random.Random(1), trials=1, ops=(op,), only_points=(point,))
    assert fig.trials == 1
    assert not fig.anomalies, "\n".join(lines(fig))


KNOWN_HOSTILE: Dict[str, str] = {}
FIXED_SINCE_MAIN_3B8A9D4 = [
    "new: project 256-byte component", "new: project non-UTF-8", "new: project ''",
    "new: --python ''", "ls --older-than '99999999999999999999d'",
    "new: .python-version with NUL", "new: directory at registry.toml.lock",
]
QUICK_HOSTILE = [
    "new: empty name", "new: name ..", "new: leading .", "new: unicode name",
    "rm --yes: unknown name", "new: project missing", "new: --python 2.7",
    "ls --older-than '1y'", "new: -r missing", "ls with bad TOML config",
    "ls: registry newer schema", "new: full disk (1 MiB tmpfs)", *FIXED_SINCE_MAIN_3B8A9D4,
]


def _case(desc: str) -> sections.Case:
    [case] = [c for c in sections.catalogue() if c[0] == desc]
    return case


@pytest.mark.parametrize("desc", [
    pytest.param(d, marks=pytest.mark.xfail(strict=True, reason=KNOWN_HOSTILE[d]))
    if d in KNOWN_HOSTILE else d for d in QUICK_HOSTILE])
def test_hostile_input(ws: common.Workspace, desc: str) -> None:
    if _case(desc)[4] and not common.is_root():
        pytest.skip("needs root (mount)")
    assert sections.hostile_case(ws, _case(desc)) == []


KNOWN_TRAPS: Dict[str, str] = {}


@pytest.mark.parametrize("trap", [
    pytest.param(t.__name__, marks=pytest.mark.xfail(strict=True, reason=KNOWN_TRAPS[t.__name__]))
    if t.__name__ in KNOWN_TRAPS else t.__name__ for _, t in sections.TRAPS])
def test_deletion_trap(ws: common.Workspace, trap: str) -> None:
    if trap == "trap_mount_inside" and not common.is_root():
        pytest.skip("mounting a tmpfs needs root")
    fig = sections.traps(ws, which=[trap])
    assert fig.trials == 1
    assert not fig.anomalies, "\n".join(lines(fig))


# A FIFO, /dev/zero or a huge file at a file envman reads (tests/stress/files.py): one
# attack on the registry and one on a cache file, every command of the section.
import files  # noqa: E402


@pytest.mark.parametrize("target,kind", [("registry", "fifo"), ("projects index", "zero")])
def test_files_that_would_block(ws: common.Workspace, target: str, kind: str) -> None:
    fig = files.files(ws, targets=[target], attacks=[kind])
    assert fig.trials == 8  # ls, info, path, activate, new, doctor, the --auto hook, completion
    assert not fig.anomalies, "\n".join(lines(fig))


def test_pip_image_attacks(ws: common.Workspace) -> None:
    """A manifest path leading out, a symlinked directory in the image and in the new
    environment, same-size damage: nothing outside the data root changes, pip works."""
    import images

    chosen = ["file ../ x6", "image directory a symlink", "env site-packages a symlink (hostile uv)",
              ".pyc same size, same mtime"]
    fig = images.images(ws, only=chosen)
    assert fig.trials == len(chosen)
    assert not fig.anomalies, "\n".join(lines(fig))


@pytest.mark.parametrize("mode,point", [("huge-line", "pointed"), ("link", "aside")])
def test_projects_section(ws: common.Workspace, mode: str, point: str) -> None:
    import projects

    fig = projects.section(ws, modes=(mode,), points=(point,))
    assert fig.trials == 2 and fig.not_reached == 0
    assert not fig.anomalies, "\n".join(lines(fig))
