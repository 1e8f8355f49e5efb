"""Disk use of environments: what deleting them would free.

Environments share files: `os.link` seeds them from one image, and tools such as uv
hard-link from their caches. Summing each tree's `du` would count a shared file once
per environment and promise space that deleting them would not give back. So several
trees are measured together, and a file (its device and inode) counts once across all
of them, in the first tree it is found in, and only when every link to it was found
inside the measured trees: a file also linked from elsewhere (a cache, an environment
not measured) stays on disk when they are deleted, so it frees nothing.

The walk follows no symbolic link and stops at a mount point (a directory on another
device), as deletion does (`envman.store.delete_tree`). Nothing is written.
"""

from __future__ import annotations

import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from envman.errors import UsageError
from envman.fsutil import mount_points

_WORKERS = 4
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([kmgt]i?b?|b)?\Z", re.IGNORECASE)


@dataclass
class _Shared:
    size: int
    owner: int  # the index of the first tree it was found in
    found: int  # links found so far
    links: int  # links it has (st_nlink)


@dataclass
class _Tree:
    own: int = 0  # bytes of entries with one link
    newest: float = 0.0
    linked: List[Tuple[int, int, int, int]] = field(default_factory=list)  # (dev, ino, bytes, nlink)


def _bytes(st: os.stat_result) -> int:
    """Space on disk (allocated blocks) where the system says, else the length."""
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if isinstance(blocks, int) else st.st_size


def measure(paths: Sequence[Optional[str]]) -> List[int]:
    """For each path, the bytes deleting it along with all the others would free, a file
    shared between them counted in the first; None (nothing to delete) measures 0.
    The sum is what deleting them all would free."""
    return [size for size, _ in measure_trees(paths)]


def measure_trees(paths: Sequence[Optional[str]],
                  mounts: Optional[FrozenSet[str]] = None) -> List[Tuple[int, float]]:
    """`measure`, and with each size the newest modification time (seconds since the
    epoch) of the tree's own entries, itself included: when it was last changed.

    The trees are walked side by side (the walk is mostly waiting on `lstat`, which
    lets other threads run), then merged in order, so a shared file's owner is the
    same as one walk after the other would give. `mounts`: the mount points (default:
    this process's), where the walk stops as deletion does, a bind mount included."""
    if mounts is None:
        mounts = mount_points()
    tops: List[Optional[os.stat_result]] = []
    roots: Set[Tuple[int, int]] = set()
    for path in paths:
        top = None
        if path is not None:
            try:
                top = os.lstat(path)
            except OSError:
                pass
        if top is not None and (not stat.S_ISDIR(top.st_mode) or (top.st_dev, top.st_ino) in roots):
            top = None  # a link is not followed; the same directory twice counts once
        if top is not None:
            roots.add((top.st_dev, top.st_ino))
        tops.append(top)
    jobs = [(i, path, top) for i, (path, top) in enumerate(zip(paths, tops)) if path is not None and top is not None]
    trees: Dict[int, _Tree] = {}
    if len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=min(_WORKERS, len(jobs))) as pool:
            for (i, _, _), tree in zip(jobs, pool.map(lambda job: _walk(job[1], job[2].st_dev, mounts), jobs)):
                trees[i] = tree
    else:
        trees = {i: _walk(path, top.st_dev, mounts) for i, path, top in jobs}
    own = [0] * len(paths)
    newest = [0.0] * len(paths)
    shared: Dict[Tuple[int, int], _Shared] = {}
    for index, _, top in jobs:
        tree = trees[index]
        own[index] = _bytes(top) + tree.own
        newest[index] = max(top.st_mtime, tree.newest)
        for dev, ino, size, links in tree.linked:
            item = shared.get((dev, ino))
            if item is None:
                shared[(dev, ino)] = _Shared(size, index, 1, links)
            else:
                item.found += 1
    for item in shared.values():
        if item.found >= item.links:
            own[item.owner] += item.size
    return list(zip(own, newest))


def _walk(root: str, device: int, mounts: FrozenSet[str]) -> _Tree:
    tree = _Tree()
    stack = [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue  # unreadable: what cannot be listed is not counted
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_mtime > tree.newest:
                tree.newest = st.st_mtime
            if stat.S_ISDIR(st.st_mode):
                if st.st_dev == device and entry.path not in mounts:  # deletion stops at a mount
                    tree.own += _bytes(st)
                    stack.append(entry.path)
                continue
            if st.st_nlink <= 1:
                tree.own += _bytes(st)
            else:
                tree.linked.append((st.st_dev, st.st_ino, _bytes(st), st.st_nlink))
    return tree


def human_size(size: int) -> str:
    """1023 B, 4.0 KiB, 25.2 MiB, 1.3 GiB."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def parse_size(text: str) -> int:
    """`500MB` -> 500,000,000 bytes; `200KiB` -> 204,800; a bare number is bytes.
    KB, MB, GB, TB are powers of 1000 (K, M, G, T too); KiB, MiB, GiB, TiB of 1024."""
    match = _SIZE_RE.match(text.strip())
    if not match:
        raise UsageError(f"invalid size {text!r}",
                         hint="write a number and an optional unit: 500MB, 1.5GB, 200KiB")
    unit = (match.group(2) or "b").lower()
    if unit == "b":
        factor = 1
    else:
        power = "kmgt".index(unit[0]) + 1
        factor = (1024 if "i" in unit else 1000) ** power
    return int(float(match.group(1)) * factor)
