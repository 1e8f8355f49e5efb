"""Disk use of environments: what deleting them would free.

Environments share files: `os.link` seeds them from one image, and tools such as uv
hard-link from their caches. Summing each tree's `du` would count a shared file once
per environment and promise space that deleting them would not give back. So several
trees are measured together, and a file (its device and inode) counts once across all
of them, in the first tree it is found in, and only when every link to it was found
inside the measured trees: a file also linked from elsewhere (a cache, an environment
not measured) stays on disk when they are deleted, so it frees nothing.

The walk follows no symbolic link and stops at a mount point (a directory on another
device, or any mount point such as a bind mount), as deletion does
(`envman.store.delete_tree`).

`scan` walks a whole disk's environments again and again; given a cache file, a tree
none of whose directories changed (each one's modification time, which every file
created, removed or renamed in it moves) is not walked again: only its directories
and its hard-linked files (whose link counts change with other trees) are looked at.
A file rewritten in place moves no directory, so an entry is trusted for a day at most.
What deletion would promise (`prune`, `scan --delete`) is always measured afresh.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from envman.errors import UsageError
from envman.fsutil import REGISTRY_MAX, mount_points, read_regular, write_atomic

# Threads overlap the `lstat`s where cores are to spare; on two cores one walk is as fast
# and spends less (measured with benchmarks/bench_scan.py).
_WORKERS = min(4, max(1, (os.cpu_count() or 1) // 2))
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
    linked_paths: List[str] = field(default_factory=list)  # beside `linked`, relative to the root
    dirs: List[Tuple[str, int]] = field(default_factory=list)  # (relative path, st_mtime_ns), the root first


def _bytes(st: os.stat_result) -> int:
    """Space on disk (allocated blocks) where the system says, else the length."""
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if isinstance(blocks, int) else st.st_size


def measure(paths: Sequence[Optional[str]]) -> List[int]:
    """For each path, the bytes deleting it along with all the others would free, a file
    shared between them counted in the first; None (nothing to delete) measures 0.
    The sum is what deleting them all would free."""
    return [size for size, _ in measure_trees(paths)]


def measure_trees(paths: Sequence[Optional[str]], mounts: Optional[FrozenSet[str]] = None,
                  cache: Optional[Path] = None) -> List[Tuple[int, float]]:
    """`measure`, and with each size the newest modification time (seconds since the
    epoch) of the tree's own entries, itself included: when it was last changed.

    The trees are walked side by side (the walk is mostly waiting on `lstat`, which
    lets other threads run), then merged in order, so a shared file's owner is the
    same as one walk after the other would give. `mounts`: the mount points (default:
    this process's), where the walk stops as deletion does, a bind mount included.
    `cache`: a file of trees measured before (see the module's docstring)."""
    if mounts is None:
        mounts = mount_points()
    known = _load(cache) if cache is not None else {}
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
    for i, path, top in jobs:
        tree = _still(known.get(path), path, top, mounts)
        if tree is not None:
            trees[i] = tree
    walked = [job for job in jobs if job[0] not in trees]
    if len(walked) > 1 and _WORKERS > 1:
        with ThreadPoolExecutor(max_workers=min(_WORKERS, len(walked))) as pool:
            for (i, _, _), tree in zip(walked, pool.map(lambda job: _walk(job[1], job[2].st_dev, mounts), walked)):
                trees[i] = tree
    else:
        trees.update({i: _walk(path, top.st_dev, mounts) for i, path, top in walked})
    if cache is not None and walked:
        _save(cache, known, {path: (top, trees[i]) for i, path, top in walked})
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
    stack = [(root, "")]
    cut = len(root) + 1
    while stack:
        directory, relative = stack.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
            tree.dirs.append((relative, os.lstat(directory).st_mtime_ns))
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
                    stack.append((entry.path, entry.path[cut:]))
                continue
            if st.st_nlink <= 1:
                tree.own += _bytes(st)
            else:
                tree.linked.append((st.st_dev, st.st_ino, _bytes(st), st.st_nlink))
                tree.linked_paths.append(entry.path[cut:])
    return tree


_CACHE_VERSION = 1
_TRUSTED_FOR = 86400  # seconds: a file rewritten in place moves no directory's time
_KEPT_FOR = 7 * 86400


def _load(cache: Path) -> Dict[str, Any]:
    try:
        data = json.loads(read_regular(cache, REGISTRY_MAX))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION or not isinstance(data.get("trees"), dict):
        return {}
    trees: Dict[str, Any] = data["trees"]
    return trees


def _still(entry: Any, root: str, top: os.stat_result, mounts: FrozenSet[str]) -> Optional[_Tree]:
    """The cached tree at `root`, if it is the same directory and none of its directories
    changed since (else None: walk it)."""
    try:
        if (entry["id"] != [top.st_dev, top.st_ino] or time.time() - entry["measured"] > _TRUSTED_FOR
                or entry["dirs"][0] != ["", top.st_mtime_ns]):
            return None
        for relative, mtime_ns in entry["dirs"][1:]:
            path = os.path.join(root, relative)
            st = os.lstat(path)
            if st.st_mtime_ns != mtime_ns or not stat.S_ISDIR(st.st_mode) or st.st_dev != top.st_dev \
                    or path in mounts:
                return None
        tree = _Tree(entry["own"], entry["newest"], dirs=[tuple(d) for d in entry["dirs"]])
        for relative, dev, ino in entry["linked"]:
            st = os.lstat(os.path.join(root, relative))
            if (st.st_dev, st.st_ino) != (dev, ino):
                return None
            tree.linked.append((dev, ino, _bytes(st), st.st_nlink))  # its links, as they are now
            tree.linked_paths.append(relative)
        return tree
    except (OSError, KeyError, TypeError, ValueError, IndexError):
        return None


def _save(cache: Path, known: Dict[str, Any], walked: Dict[str, Tuple[os.stat_result, _Tree]]) -> None:
    """Best effort, as for any cache: a failed write costs the next scan a walk."""
    now = time.time()
    trees = {path: entry for path, entry in known.items()
             if isinstance(entry, dict) and isinstance(entry.get("measured"), (int, float))
             and now - entry["measured"] < _KEPT_FOR}
    for path, (top, tree) in walked.items():
        trees[path] = {"id": [top.st_dev, top.st_ino], "measured": now, "own": tree.own, "newest": tree.newest,
                       "dirs": tree.dirs,
                       "linked": [[p, dev, ino] for p, (dev, ino, _, _) in zip(tree.linked_paths, tree.linked)]}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache, json.dumps({"version": _CACHE_VERSION, "trees": trees}).encode())
    except OSError:
        pass


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
