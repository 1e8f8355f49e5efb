"""Deleting a directory tree from descriptors: no link followed, no mount crossed.

Everything is opened relative to a directory already held open, with `O_NOFOLLOW`, so
swapping any path component for a symbolic link while the deletion runs changes
nothing: the link itself is unlinked, never what it points at. A directory on
another file system (its `st_dev` differs), or any mount point listed in
`/proc/self/mountinfo` (bind mounts keep the device), is left whole, and so is the
marker of the top directory, so what is left still proves whose it is.

Only `envman.store.lifecycle` calls `delete_tree` for the store, after proving the directory
is envman's; `envman.ops.remove` for an adopted environment and `envman.ops.found` for one
`scan` found, both with no marker to expect. `delete_cache_tree` is the same walk for
envman's cache, whose trees hold no marker.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, FrozenSet, List, Optional, Tuple

from envman import checkpoints
from envman.errors import OperationFailed
from envman.fsutil import mount_points
from envman.store import markers

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_OPEN_MAX = 64  # descriptors one deletion holds, however deep the tree


class Refused(OperationFailed):
    """The directory is not what the caller proved it to be: nothing was deleted."""


Verify = Callable[[int, os.stat_result], None]


def delete_tree(directory: Path, expect_id: Optional[str], files_allowed: bool = True,
                verify: Optional[Verify] = None, last: str = markers.MARKER_NAME) -> None:
    """Delete `directory` (a child of a real directory), its entry `last` (the marker,
    else what makes it an environment: `pyvenv.cfg`, `conda-meta/`) at the very end,
    so that a deletion cut short still leaves a directory that says what it is.

    `expect_id`: the record id its marker must name, checked on the opened directory
    itself (None: it must hold no marker, only empty directories). Without
    `files_allowed`, the tree may hold nothing but directories, links and envman's own
    marker files (a reservation killed before the build wrote anything): a regular file
    stops the deletion. `verify`, given the opened directory's descriptor and `fstat`,
    may raise `Refused` after the checks above and before anything is deleted: what it
    examines is the very directory that will be emptied. Raises OperationFailed naming
    what was left.
    """
    parent_fd = _open_directory(str(directory.parent), None, directory, "the directory holding it is")
    try:
        top = _open_directory(directory.name, parent_fd, directory, "it is")
        try:
            top_st = os.fstat(top)
            mounts = mount_points()
            if top_st.st_dev != os.fstat(parent_fd).st_dev or str(directory) in mounts:
                raise Refused(f"refusing to delete {directory}: it is a mount point")
            found = markers.read(directory, dir_fd=top)
            if (found.id if found is not None else None) != expect_id:
                raise Refused(f"refusing to delete {directory}: its marker changed since it "
                              "was proven envman's")
            if verify is not None:
                verify(top, top_st)
            walker = _Walker(top_st.st_dev, mounts, files_allowed)
            walker.clear(top, str(directory), keep=last)
            if not walker.left:
                walker.remove_entry(top, str(directory), last)
            if walker.left:
                raise OperationFailed(
                    f"cannot delete all of {directory}: {walker.left[0]} "
                    f"{'is on another file system (a mount)' if walker.mounts_left else 'was left'}",
                    hint="nothing outside the environment was touched; unmount it, then " +
                         ("`envman doctor --fix` finishes the deletion" if expect_id is not None
                          else "run the command again"))
        finally:
            os.close(top)
        os.rmdir(directory.name, dir_fd=parent_fd)
    except OSError as exc:
        raise OperationFailed(f"cannot delete {directory}: {exc.strerror or exc}") from None
    finally:
        os.close(parent_fd)


def _open_directory(name: str, dir_fd: Optional[int], directory: Path, which: str) -> int:
    """`name` (relative to `dir_fd`) opened as a directory, never through a final link."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused(f"refusing to delete {directory}: {which} not a directory "
                          "(a symbolic link was put in its place)") from None
        raise OperationFailed(f"cannot delete {directory}: {exc.strerror}") from None


def delete_cache_tree(directory: Path) -> bool:
    """Delete `directory`, a tree in envman's own cache (a pip image, its build or trash),
    with the same walk: no link followed, no mount crossed. Best effort, as befits a
    cache: returns whether all of it is gone, and never raises."""
    try:
        parent_fd = os.open(directory.parent, _DIR_FLAGS)
    except OSError:
        return False
    try:
        top = os.open(directory.name, _DIR_FLAGS, dir_fd=parent_fd)
        try:
            top_st = os.fstat(top)
            mounts = mount_points()
            if top_st.st_dev != os.fstat(parent_fd).st_dev or str(directory) in mounts:
                return False
            if not _Walker(top_st.st_dev, mounts, files_allowed=True).clear(top, str(directory)):
                return False
        finally:
            os.close(top)
        os.rmdir(directory.name, dir_fd=parent_fd)
        return True
    except OSError:
        return False
    finally:
        os.close(parent_fd)


class _Walker:
    def __init__(self, device: int, mounts: FrozenSet[str], files_allowed: bool) -> None:
        self.device = device
        self.mounts = mounts
        self.files_allowed = files_allowed
        self.left: List[str] = []
        self.mounts_left = False
        self.unlinked = 0

    def remove_entry(self, dir_fd: int, path: str, name: str) -> None:
        """Delete the one entry `name` of the directory open as `dir_fd` (a tree too)."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=dir_fd)
            return
        child = os.path.join(path, name)
        sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        try:
            if os.fstat(sub).st_dev != self.device or child in self.mounts:
                self.left.append(child)
                self.mounts_left = True
                return
            emptied = self.clear(sub, child)
        finally:
            os.close(sub)
        if emptied:
            os.rmdir(name, dir_fd=dir_fd)

    def clear(self, dir_fd: int, path: str, keep: Optional[str] = None) -> bool:
        """Empty the directory open as `dir_fd`; True if nothing was left in it.

        Depth-first without recursion, so a tree of any depth is deleted, holding at most
        `_OPEN_MAX` descriptors: past that, the shallowest held is closed, and when the walk
        climbs back to it, it is reopened as `..` of its child and must be the very
        directory it was (device and inode), or the deletion stops there."""
        top = os.fstat(dir_fd)
        stack = [_Frame(dir_fd, path, "", (top.st_dev, top.st_ino), self._names(dir_fd, keep))]
        held = 0
        try:
            while True:
                frame = stack[-1]
                assert frame.fd is not None  # the deepest frame is always open
                if frame.names:
                    sub = self._step(frame)
                    if sub is not None:
                        stack.append(sub)
                        held += 1
                        if held > _OPEN_MAX:
                            oldest = next(f for f in stack[1:] if f.fd is not None)
                            assert oldest.fd is not None
                            os.close(oldest.fd)
                            oldest.fd = None
                            held -= 1
                    continue
                if len(stack) == 1:
                    return frame.clean
                parent = stack[-2]
                if parent.fd is None:
                    parent.fd = self._reopen_parent(frame, parent)
                    held += 1
                stack.pop()
                os.close(frame.fd)
                frame.fd = None
                held -= 1
                if frame.clean:
                    os.rmdir(frame.name, dir_fd=parent.fd)
                else:
                    parent.clean = False
        finally:
            for frame in stack[1:]:
                if frame.fd is not None:
                    os.close(frame.fd)

    def _names(self, dir_fd: int, keep: Optional[str] = None) -> List[str]:
        with os.scandir(dir_fd) as found:
            return [entry.name for entry in found if entry.name != keep]

    def _step(self, frame: "_Frame") -> Optional["_Frame"]:
        """Deal with the next entry of `frame`: a file is unlinked, a directory opened and
        returned (to be emptied next); what must stay is recorded in `left`."""
        assert frame.fd is not None
        name = frame.names.pop()
        child = os.path.join(frame.path, name)
        try:
            st = os.stat(name, dir_fd=frame.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            if not self.files_allowed and stat.S_ISREG(st.st_mode) and not is_marker_file(name):
                self.left.append(child)
                frame.clean = False
                return None
            os.unlink(name, dir_fd=frame.fd)
            self.unlinked += 1
            if self.unlinked == 1:
                checkpoints.reached("unlink")
            return None
        if st.st_dev != self.device or child in self.mounts:
            self._mount_left(frame, child)
            return None
        try:
            sub = os.open(name, _DIR_FLAGS, dir_fd=frame.fd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            os.unlink(name, dir_fd=frame.fd)  # swapped for a link or file since the stat
            return None
        try:
            sub_st = os.fstat(sub)
            if sub_st.st_dev != self.device:  # mounted since the stat
                self._mount_left(frame, child)
                os.close(sub)
                return None
            return _Frame(sub, child, name, (sub_st.st_dev, sub_st.st_ino), self._names(sub))
        except BaseException:
            os.close(sub)
            raise

    def _mount_left(self, frame: "_Frame", child: str) -> None:
        self.left.append(child)
        self.mounts_left = True
        frame.clean = False

    def _reopen_parent(self, child: "_Frame", parent: "_Frame") -> int:
        assert child.fd is not None
        fd = os.open("..", _DIR_FLAGS, dir_fd=child.fd)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != parent.identity:
            os.close(fd)
            raise OperationFailed(f"cannot delete all of {parent.path}: it was moved while being deleted",
                                  hint="nothing outside it was touched; run the command again")
        return fd


@dataclass
class _Frame:
    fd: Optional[int]  # None while closed to stay under _OPEN_MAX
    path: str
    name: str  # in its parent
    identity: Tuple[int, int]
    names: List[str]  # entries still to delete
    clean: bool = True


def is_marker_file(name: str) -> bool:
    """envman's marker, or the temporary file of a marker write that was cut short."""
    return name == markers.MARKER_NAME or (
        name.startswith(f".{markers.MARKER_NAME}.") and name.endswith(".tmp"))
