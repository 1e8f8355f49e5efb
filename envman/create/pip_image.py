"""The pip image: one interpreter's pip, installed and compiled once into envman's cache.

`python -m venv` spends ~90 % of its time in ensurepip: a pip subprocess unpacks the
bundled wheels (~1,000 files) and byte-compiles them. That work depends only on the
interpreter, so envman does it once per interpreter into an *image* in its cache,
and afterwards links the image's files into each new environment:

    <cache>/pip-images/<key>/manifest.json   every directory; every file: path, size, mtime, sha256
    <cache>/pip-images/<key>/tree/...        what ensurepip put in site-packages, compiled

The key hashes the interpreter's real path, size, modification time and version and
the bundled wheels beside it, so an upgraded or replaced interpreter gets a new image.
An image is built by the interpreter itself (a throw-away `venv --without-pip` plus
`python -m ensurepip --default-pip`: exactly what `venv` would have installed,
setuptools too where that Python bundles it) in a unique temporary directory, then
renamed into place whole: two envman racing to build it both succeed, one rename wins
and the other uses the winner's.

Files are hard-linked (copied, modification time kept, where links are impossible), so
an environment never depends on the cache: deleting the cache leaves every link's
data in place. pip never writes a file in place (it unlinks before writing, uninstalls
by renaming away, and compiles through a temporary file and a rename), so a file
shared by several environments is never changed through one of them. What differs per
environment is written fresh: the entry points (`bin/pip`, `pip3`, `pip3.X`, whose
first line names the environment's interpreter) and each RECORD that lists them.

Every file is checked against the manifest (exists, is a regular file, same size,
modification time and SHA-256) as it is linked, and every path the manifest names must
lie inside its tree: an image that is damaged or half-deleted is never used but moved
aside and built again. Linking and writing go through directory descriptors opened
without following links, so nothing outside the environment is ever written or
unlinked, whatever the cache or the environment holds.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from envman.errors import OperationFailed
from envman.fsutil import CACHE_MAX, read_regular, write_atomic
from envman.processes import clean_environ, run
from envman.python.interpreters import Interpreter
from envman.store.delete_tree import delete_cache_tree
from envman.store.layout import SCRIPTS, env_python

IMAGES_DIR = "pip-images"
MANIFEST = "manifest.json"
TREE = "tree"
FORMAT = 2  # bump when the image layout changes: old images are then simply not found
BUILD_TIMEOUT = 600.0
STALE_BUILD_SECONDS = 3600.0  # a `.build-*`/`.trash-*` this old belongs to a killed envman


class NoCache(Exception):
    """The cache cannot be written: seed this environment with ensurepip instead."""


class Damaged(Exception):
    """The image on disk does not match its manifest: rebuild it, never use it."""


@dataclass(frozen=True)
class Image:
    """One interpreter's pip, ready to link: read from (and checked against) its manifest."""

    path: Path
    site_packages: str  # where the tree goes, relative to the environment ("lib/python3.12/site-packages")
    files: Tuple[Tuple[str, int, int, str], ...]  # (path in the tree, size, mtime_ns, sha256)
    dirs: Tuple[str, ...]  # every directory in the tree, parents first (empty ones too)
    scripts: Dict[str, str]  # RECORD path of an entry point ("../../../bin/pip") -> body after the shebang
    python_name: str  # the interpreter name the entry points' first line uses ("python3")
    distributions: Tuple[str, ...]  # "pip-23.2.1", for the person

    @property
    def tree(self) -> Path:
        return self.path / TREE


def image_key(interpreter: Interpreter) -> str:
    """A name that changes whenever the interpreter or its bundled wheels do, found
    without starting the interpreter."""
    real = os.path.realpath(interpreter.executable)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise OperationFailed(f"seeding pip failed: cannot read {real}: {exc.strerror}") from None
    parts = [FORMAT, real, st.st_size, st.st_mtime_ns, interpreter.version,
             interpreter.implementation, _bundled_wheels(real, interpreter)]
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
    minor = ".".join(interpreter.version.split(".")[:2])
    return f"{interpreter.implementation}-{minor}-{digest}"


def _bundled_wheels(real: str, interpreter: Interpreter) -> List[Tuple[str, int]]:
    """The wheels ensurepip would install, where a standard layout puts them (else none:
    the interpreter's own size and mtime still change when it is reinstalled)."""
    prefix = Path(real).parent.parent
    minor = ".".join(interpreter.version.split(".")[:2])
    candidates = [prefix / "lib" / f"python{minor}" / "ensurepip" / "_bundled",
                  prefix / "lib" / f"pypy{minor}" / "ensurepip" / "_bundled",
                  prefix / "lib-python" / "3" / "ensurepip" / "_bundled"]
    for directory in candidates:
        try:
            found = sorted((entry.name, entry.stat().st_size) for entry in os.scandir(directory)
                           if entry.name.endswith(".whl"))
        except OSError:
            continue
        if found:
            return found
    return []


def load(path: Path) -> Optional[Image]:
    """The image at `path` if its manifest reads back whole and every path in it names
    something inside its tree; None if absent or unusable (then rebuilt, never used)."""
    try:
        data: Dict[str, Any] = json.loads(read_regular(path / MANIFEST, CACHE_MAX))  # a FIFO is no image
        if data.get("format") != FORMAT:
            return None
        files = tuple((str(p), int(size), int(mtime), str(digest))
                      for p, size, mtime, digest in data["files"])
        dirs = tuple(sorted(str(d) for d in data["dirs"]))
        scripts = {str(k): str(v) for k, v in data["scripts"].items()}
        site_packages = str(data["site_packages"])
        python_name = str(data["python_name"])
        if not files or not _paths_sound(site_packages, dirs, files, scripts, python_name):
            return None
        return Image(path, site_packages, files, dirs, scripts, python_name,
                     tuple(str(d) for d in data["distributions"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def safe_relative(path: str) -> bool:
    """Whether a path read from the cache (or a RECORD) names something inside its tree:
    relative, `/`-separated and normalised (no empty, `.` or `..` part), no backslash (a
    separator elsewhere), no NUL. Checked before anything is linked, written or
    unlinked, so a damaged or hostile manifest cannot reach outside the environment."""
    return (bool(path) and "\\" not in path and "\0" not in path and not path.startswith("/")
            and all(part not in ("", ".", "..") for part in path.split("/")))


def _paths_sound(site_packages: str, dirs: Tuple[str, ...], files: Tuple[Tuple[str, int, int, str], ...],
                 scripts: Dict[str, str], python_name: str) -> bool:
    """Every directory's and file's parent is a listed directory; an entry point's RECORD
    path leads from site-packages to exactly `bin/NAME`; the interpreter's name is one
    plain name (it goes into the entry points' first line)."""
    if not safe_relative(site_packages) or not _plain_name(python_name):
        return False
    listed = {""}
    for directory in dirs:  # sorted: a parent before its children
        if not safe_relative(directory) or directory.rpartition("/")[0] not in listed:
            return False
        listed.add(directory)
    if any(not safe_relative(name) or name.rpartition("/")[0] not in listed
           or len(digest) != 64 for name, _, _, digest in files):
        return False
    up = "../" * len(site_packages.split("/")) + SCRIPTS + "/"
    return all(entry.startswith(up) and _plain_name(entry[len(up):]) for entry in scripts)


def _plain_name(name: str) -> bool:
    return safe_relative(name) and "/" not in name and name.isprintable() and " " not in name


def build(images: Path, key: str, interpreter: Interpreter) -> Image:
    """Build the image with the interpreter itself, in a directory of its own, and rename
    it into place; if another envman got there first, use theirs."""
    try:
        images.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(images)
        work = images / f".build-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        work.mkdir()
    except OSError as exc:
        raise NoCache(f"cannot write {images}: {exc.strerror}") from None
    try:
        manifest = _make(work, interpreter)
        write_atomic(work / MANIFEST, json.dumps(manifest).encode())
        try:
            os.rename(work, images / key)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # Another envman renamed its image into place first: use that one.
    except OSError as exc:
        raise NoCache(f"cannot write {images}: {exc.strerror}") from None
    finally:
        if os.path.lexists(work):
            delete_cache_tree(work)
    image = load(images / key)
    if image is None:
        raise OperationFailed(f"seeding pip failed: the image at {images / key} cannot be read back")
    return image


def _make(work: Path, interpreter: Interpreter) -> Dict[str, Any]:
    """Run `venv --without-pip` and `ensurepip` into `work/venv`, move its site-packages
    to `work/tree`; return the manifest."""
    venv = work / "venv"
    what = f"building the pip image for Python {interpreter.version}"
    run([interpreter.executable, "-I", "-m", "venv", "--without-pip", str(venv)],
        what=what, env=clean_environ(), capture=True, timeout=BUILD_TIMEOUT)
    # ensurepip itself ignores PIP_* variables and pip's configuration files.
    run([str(env_python(venv)), "-I", "-m", "ensurepip", "--default-pip"],
        what=what, env=clean_environ(), capture=True, timeout=BUILD_TIMEOUT)
    site_packages = _site_packages(venv)
    if site_packages is None:
        raise OperationFailed(f"{what} failed: ensurepip installed no pip package")
    tree = work / TREE
    os.rename(site_packages, tree)
    scripts: Dict[str, str] = {}
    python_name = "python"
    distributions = []
    for record in sorted(tree.glob("*.dist-info/RECORD")):
        distributions.append(record.parent.name[: -len(".dist-info")])
        for line in record.read_text(encoding="utf-8").splitlines():
            entry = line.split(",", 1)[0]
            if not entry.startswith(".."):
                continue
            script = Path(os.path.normpath(site_packages / entry))
            if script.parent != venv / SCRIPTS or not script.is_file():
                continue
            first, body = _split_shebang(script.read_text(encoding="utf-8"))
            scripts[entry] = body
            python_name = Path(first).name or python_name
    files, dirs = [], []
    for root, subdirs, names in os.walk(tree):
        # Every directory, not only files' parents: one that holds only directories (or
        # nothing) must be made too (setuptools' `pkg_resources/tests/data/...`).
        dirs += [os.path.relpath(os.path.join(root, d), tree).replace(os.sep, "/") for d in subdirs
                 if stat.S_ISDIR(os.lstat(os.path.join(root, d)).st_mode)]
        for name in sorted(names):
            full = os.path.join(root, name)
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode):
                continue
            with open(full, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            files.append([os.path.relpath(full, tree).replace(os.sep, "/"), st.st_size,
                          st.st_mtime_ns, digest])
    delete_cache_tree(venv)
    return {"format": FORMAT, "built": time.time(), "interpreter": interpreter.executable,
            # What `doctor` judges an orphaned image by: the real binary, as the key does.
            "real": os.path.realpath(interpreter.executable),
            "implementation": interpreter.implementation, "version": interpreter.version, "site_packages": os.path.relpath(site_packages, venv),
            "python_name": python_name, "distributions": distributions, "scripts": scripts,
            "dirs": sorted(dirs), "files": files}


def _site_packages(venv: Path) -> Optional[Path]:
    for candidate in [*venv.glob("lib*/*/site-packages"), venv / "site-packages"]:
        if (candidate / "pip" / "__init__.py").is_file():
            return candidate
    return None


def _split_shebang(text: str) -> Tuple[str, str]:
    """(the interpreter an entry point names, its body) for both forms pip writes: a plain
    `#!` line, or the `/bin/sh` trick used for paths with spaces or over 127 bytes."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("#!/bin/sh") and len(lines) > 2 and lines[1].startswith("'''exec'"):
        command = lines[1][len("'''exec' "):].split(' "$0"', 1)[0].strip().strip('"')
        return command, "".join(lines[3:])
    first = lines[0][2:].strip() if lines and lines[0].startswith("#!") else ""
    return first, "".join(lines[1:])


def _clear_leftovers(images: Path) -> None:
    """Remove what killed builds and interrupted discards left, once clearly abandoned."""
    for path, _ in leftovers(images.parent):
        delete_cache_tree(path)
_WORK_NAME = re.compile(r"\.(build|trash)-(\d+)-[0-9a-f]+\Z")


def leftovers(cache: Path) -> List[Tuple[Path, str]]:
    """The `.build-PID-HEX`/`.trash-PID-HEX` directories of image builds and discards
    that were killed, with why: the process named in it is gone, or it is older than any
    build can take. A build of a running envman is never one of them."""
    return _judged(cache, lambda name: name.startswith((".build-", ".trash-")), _abandoned)


def _abandoned(path: Path) -> Optional[str]:
    """Why the work directory `path` is abandoned, or None if it may be in progress (or
    is not a directory: envman makes only directories there)."""
    from envman.store.markers import process_alive

    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    what = "an image build" if path.name.startswith(".build-") else "a damaged image's removal"
    named = _WORK_NAME.match(path.name)
    if named is not None and not process_alive(int(named.group(2))):
        return f"left by {what} that was killed (process {named.group(2)} is gone)"
    # A pid reused since, or a name without one: no build lasts this long.
    if st.st_mtime < time.time() - STALE_BUILD_SECONDS:
        return f"left by {what} that was killed (untouched for over {STALE_BUILD_SECONDS / 3600:g} h)"
    return None


def orphans(cache: Path) -> List[Tuple[Path, str]]:
    """Images no interpreter can use any more, with why: the interpreter they were built
    from is gone or changed (its key no longer matches), they were built by an older
    envman, or their manifest does not read back. `new` never finds them again."""
    return _judged(cache, lambda name: not name.startswith("."), _orphaned)


def _judged(cache: Path, wanted: Callable[[str], bool],
            judge: Callable[[Path], Optional[str]]) -> List[Tuple[Path, str]]:
    """The entries of the image directory whose name is `wanted` and that `judge` finds
    a reason against, with that reason."""
    images = cache / IMAGES_DIR
    found = []
    for entry in _entries(images):
        why = judge(images / entry.name) if wanted(entry.name) else None
        if why is not None:
            found.append((images / entry.name, why))
    return found


def _orphaned(path: Path) -> Optional[str]:
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return None  # not an image envman made; left alone
        data = json.loads(read_regular(path / MANIFEST, CACHE_MAX))
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except FileNotFoundError:
        return "an image without a manifest (no interpreter can use it)"
    except (OSError, ValueError, RecursionError):
        return "an image whose manifest does not read back (no interpreter can use it)"
    fmt = data.get("format")
    if not isinstance(fmt, int) or fmt < FORMAT:
        return "built by an older envman, whose images this one no longer uses"
    if fmt > FORMAT:
        return None  # a newer envman's: not ours to judge
    real, version, implementation = data.get("real"), data.get("version"), data.get("implementation")
    if not all(isinstance(v, str) for v in (real, version, implementation)):
        return "an image whose manifest does not name its interpreter"
    assert isinstance(real, str) and isinstance(version, str) and isinstance(implementation, str)
    if not os.path.isfile(real):
        return f"the interpreter it was built from ({real}) is gone"
    try:
        key = image_key(Interpreter(real, version, implementation))
    except OperationFailed:
        return f"the interpreter it was built from ({real}) cannot be read"
    if key != path.name:
        return f"the interpreter it was built from ({real}) was replaced or upgraded since"
    return None


def _entries(images: Path) -> List["os.DirEntry[str]"]:
    """What `pip-images` holds; nothing if it is missing or not a real directory."""
    try:
        if not stat.S_ISDIR(os.lstat(images).st_mode):
            return []
        with os.scandir(images) as found:
            return sorted(found, key=lambda e: e.name)
    except OSError:
        return []


def remove_leftover(cache: Path, path: Path) -> str:
    """`doctor --fix` for a leftover: judged again first (never a build in progress)."""
    if _abandoned(path) is None:
        return "left alone: no longer abandoned (or already gone)"
    if not delete_cache_tree(path):
        raise OperationFailed(f"could not delete all of {path}")
    return "deleted"


def remove_orphan(cache: Path, path: Path) -> str:
    """`doctor --fix` for an orphaned image: judged again, then moved aside whole (as a
    damaged image is) and deleted; environments linked to its files keep their data."""
    if _orphaned(path) is None:
        return "left alone: usable again (or already gone)"
    aside = path.parent / f".trash-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, aside)
    except OSError as exc:
        raise OperationFailed(f"could not move {path} aside: {exc.strerror}") from None
    if not delete_cache_tree(aside):
        raise OperationFailed(f"moved {path} to {aside}, but could not delete all of it")
    return "deleted"


def discard(images: Path, path: Path) -> None:
    """Move a damaged image aside (atomic: nobody links from half of it) and delete it.
    Environments linked to its files keep their data."""
    aside = images / f".trash-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, aside)
    except OSError:
        return  # already moved by another envman
    delete_cache_tree(aside)
