"""Putting pip into a new environment from its interpreter's pip image
(`envman.create.pip_image`) instead of running ensurepip.

The image's files are linked (copied where links are impossible) into the environment's
site-packages through directory descriptors opened without following links, each checked
against the manifest as it goes; what differs per environment is written fresh: the
entry points (`bin/pip`, `pip3`, `pip3.X`, whose first line names the environment's
interpreter) and each RECORD that lists them. A damaged image is moved aside and built
again; one that does not fit the environment, or a cache that cannot be written, means
ensurepip instead.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import stat
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from envman.create import pip_image
from envman.errors import OperationFailed
from envman.processes import clean_environ, run
from envman.python.interpreters import Interpreter
from envman.store.layout import SCRIPTS, env_python

Progress = Callable[[str], None]
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK


def _silent(message: str) -> None:
    pass


def seed_pip(cache: Path, interpreter: Interpreter, env_dir: Path,
             progress: Progress = _silent) -> None:
    """Put the interpreter's bundled pip into `env_dir` (a venv made without pip)."""
    if os.name == "nt":  # pip's entry points there are .exe launchers, not text to rewrite
        _ensurepip(env_dir)
        return
    images = cache / pip_image.IMAGES_DIR
    key = pip_image.image_key(interpreter)
    for attempt in (1, 2):
        image = pip_image.load(images / key)
        if image is None:
            if os.path.lexists(images / key):  # a manifest that does not read back: never trusted
                progress("the cached pip image is damaged (its manifest does not read back, "
                         "or names a path outside its tree); building it again")
                pip_image.discard(images, images / key)
            progress(f"building the pip image for Python {interpreter.version} "
                     "(once per interpreter; later environments reuse it)")
            try:
                image = pip_image.build(images, key, interpreter)
            except pip_image.NoCache as exc:  # a cache that cannot be written only costs time
                progress(f"cannot keep a pip image ({exc}); running ensurepip instead")
                _ensurepip(env_dir)
                return
        progress(f"seeding {', '.join(image.distributions)} from the cache")
        try:
            install(image, env_dir)
            return
        except pip_image.Damaged as exc:
            if attempt == 2:
                raise OperationFailed(f"seeding pip failed: the image just built at {image.path} "
                                      f"is already damaged ({exc})") from None
            progress(f"the cached pip image is damaged ({exc}); building it again")
            pip_image.discard(images, image.path)
        except _Unsuitable as exc:
            progress(f"the cached pip image does not fit this environment ({exc}); running ensurepip")
            _ensurepip(env_dir)
            return


class _Unsuitable(Exception):
    """The environment's layout is not the one the image was made for."""


def install(image: pip_image.Image, env_dir: Path) -> None:
    """Link (or copy) the image's files into `env_dir`, then write its entry points and
    RECORDs fresh. Raises pip_image.Damaged if a file does not match the manifest.

    Everything is done from directory descriptors opened without following links, on
    both sides: a directory in the image or in the environment swapped for a symbolic
    link stops the seeding instead of leading a link, a write or an unlink elsewhere.
    """
    opened: List[int] = []

    def down(fd: int, path: str, missing: Callable[[str], Exception],
             linked: Callable[[str], Exception]) -> int:
        for part in path.split("/"):
            try:
                fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                raise missing(f"{path} is missing") from None
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise linked(f"{path} is not a directory (a symbolic link?)") from None
                raise OperationFailed(f"seeding pip failed: cannot open {path}: {exc.strerror}") from None
            opened.append(fd)
        return fd

    def refused(detail: str) -> Exception:
        return OperationFailed(f"seeding pip failed: in {env_dir}, {detail}",
                               hint="envman writes only inside the environment, never through a link")

    try:
        images = os.open(image.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        opened.append(images)
        top = down(images, f"{image.path.name}/{pip_image.TREE}", pip_image.Damaged, pip_image.Damaged)
        env = os.open(env_dir, _DIR_FLAGS)
        opened.append(env)
        site = down(env, image.site_packages, _Unsuitable, refused)
        bin_fd = down(env, SCRIPTS, _Unsuitable, refused)
        python = env_dir / SCRIPTS / image.python_name
        if not os.path.lexists(python):
            python = env_python(env_dir)
        up = len(image.site_packages.split("/")) * 3 + len(SCRIPTS) + 1  # "../../../bin/"
        written = {entry: _write_script(bin_fd, entry[up:], python, body)
                   for entry, body in image.scripts.items()}
        sources, targets = {"": top}, {"": site}
        for directory in image.dirs:  # parents first; checked by pip_image.load to lie inside the tree
            parent, _, base = directory.rpartition("/")
            sources[directory] = down(sources[parent], base, pip_image.Damaged, pip_image.Damaged)
            try:
                os.mkdir(base, dir_fd=targets[parent])
            except FileExistsError:
                pass
            targets[directory] = down(targets[parent], base, refused, refused)
        linking = True
        for name, size, mtime_ns, digest in image.files:
            parent, _, base = name.rpartition("/")
            data, st = _read_checked(sources[parent], base, name, size, mtime_ns, digest)
            if name.endswith(".dist-info/RECORD"):
                _write_record(data, targets[parent], base, written)
                continue
            if linking:
                linking = _link(sources[parent], targets[parent], base)
            if not linking:
                _write_new(targets[parent], base, data, stat.S_IMODE(st.st_mode), st)
    except OSError as exc:
        raise OperationFailed(f"seeding pip into {env_dir} failed: {exc.strerror or exc}") from None
    finally:
        for fd in opened:
            os.close(fd)


def _read_checked(dir_fd: int, base: str, name: str, size: int, mtime_ns: int,
                  digest: str) -> Tuple[bytes, os.stat_result]:
    """The image file's content, checked against the manifest: a regular file of the
    recorded size, modification time and SHA-256.

    The hash is what makes the check sound: size and mtime survive damage that keeps
    them (a file overwritten in place, its mtime put back), and the alternatives do
    not hold either. An image's ctime cannot be compared: every hard link made into an
    environment, and every environment deleted, changes the link count and so the
    ctime of the image's files. Read-only files stop nobody running as root. A sample,
    or the .pyc headers only, misses damage elsewhere in a file. Hashing every file
    costs ~10-15 ms per `new` (1,000-1,300 files, 16-19 MB, already in the page cache;
    see the notes for bench_new.py), a few per cent of a pip-ready `new`.
    """
    try:
        fd = os.open(base, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise pip_image.Damaged(f"{name}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != size or st.st_mtime_ns != mtime_ns:
            raise pip_image.Damaged(f"{name} differs from the manifest")
        chunks = []
        left = size + 1  # one byte more: a file that grew is seen
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
        raise pip_image.Damaged(f"{name}'s content differs from the manifest")
    return data, st


def _link(source_dir: int, target_dir: int, base: str) -> bool:
    """Hard-link; False where the file system cannot (another device, no links, too many)."""
    try:
        os.link(base, base, src_dir_fd=source_dir, dst_dir_fd=target_dir, follow_symlinks=False)
        return True
    except FileExistsError:  # a retry after a damaged image: replace what the first try put
        os.unlink(base, dir_fd=target_dir)  # a name in the environment's own directory
        return _link(source_dir, target_dir, base)
    except FileNotFoundError as exc:
        raise pip_image.Damaged(f"{base}: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            return False
        raise OperationFailed(f"seeding pip failed: cannot link {base}: {exc.strerror}") from None


def _write_new(dir_fd: int, base: str, data: bytes, mode: int,
               times: Optional[os.stat_result] = None) -> None:
    """Write `base` in the directory open as `dir_fd` afresh (whatever had the name is
    unlinked first, never followed), keeping `times`' modification time if given: a
    copy's compiled files stay valid for it."""
    try:
        os.unlink(base, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if times is not None:
            os.fchmod(fd, mode)  # exactly the image's mode, as a copy keeps it
            os.utime(fd, ns=(times.st_atime_ns, times.st_mtime_ns))
    finally:
        os.close(fd)


def _write_script(bin_fd: int, name: str, python: Path, body: str) -> Tuple[str, int]:
    """An entry point naming this environment's interpreter; returns its RECORD hash and size."""
    data = (shebang(str(python)) + body).encode("utf-8")
    _write_new(bin_fd, name, data, 0o777)  # less the umask, as pip
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}", len(data)


def shebang(python: str) -> str:
    """The first line(s) pip gives an entry point: `#!PATH`, or, where a kernel cannot run
    that (a space, or longer than 127 bytes), `/bin/sh` re-running the file with PATH.
    The path goes into sh's double quotes with `\\ " $ \\`` escaped."""
    limit = 512 if sys.platform == "darwin" else 127  # the kernel's limit for a `#!` line
    if " " not in python and len(python.encode()) + 3 <= limit:
        return f"#!{python}\n"
    quoted = '"' + "".join("\\" + c if c in '\\"$`' else c for c in python) + '"'
    return f"#!/bin/sh\n'''exec' {quoted} \"$0\" \"$@\"\n' '''\n"


def _write_record(data: bytes, dir_fd: int, base: str, written: Dict[str, Tuple[str, int]]) -> None:
    """The image's RECORD with the entry points' lines made true for this environment.
    Its paths are only compared with the entry points', never opened."""
    lines = []
    for line in data.decode("utf-8").splitlines():
        entry = line.split(",", 1)[0]
        if entry in written:
            digest, size = written[entry]
            line = f"{entry},{digest},{size}"
        lines.append(line + "\n")
    _write_new(dir_fd, base, "".join(lines).encode("utf-8"), 0o666)


def _ensurepip(env_dir: Path) -> None:
    """What `venv` itself does, for a layout the image does not fit."""
    run([str(env_python(env_dir)), "-I", "-m", "ensurepip", "--upgrade", "--default-pip"],
        what="installing pip with ensurepip", env=clean_environ(), capture=True,
        timeout=pip_image.BUILD_TIMEOUT)
