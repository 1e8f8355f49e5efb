"""Putting pip into a new environment from a ready image instead of running ensurepip.

`python -m venv` spends ~90 % of its time in ensurepip: a pip subprocess unpacks the
bundled wheels (~1,000 files) and byte-compiles them. That work depends only on the
interpreter, so envman does it once per interpreter into an *image* in its cache,
and afterwards links the image's files into each new environment:

    <cache>/pip-images/<key>/manifest.json   every file: path, size, mtime, sha256
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

Every file is checked against the manifest (exists, is a regular file, same size and
modification time) as it is linked: an image that is damaged or half-deleted is never
used but moved aside and built again.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import shutil
import stat
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from envman.deletion import delete_cache_tree
from envman.errors import OperationFailed
from envman.fsutil import write_atomic
from envman.interpreters import Interpreter
from envman.runner import clean_environ, run
from envman.store import SCRIPTS, env_python

IMAGES_DIR = "pip-images"
MANIFEST = "manifest.json"
TREE = "tree"
FORMAT = 2  # bump when the image layout changes: old images are then simply not found
BUILD_TIMEOUT = 600.0
STALE_BUILD_SECONDS = 3600.0  # a `.build-*`/`.trash-*` this old belongs to a killed envman

Progress = Callable[[str], None]


def _silent(message: str) -> None:
    pass


class _NoCache(Exception):
    """The cache cannot be written: seed this environment with ensurepip instead."""


class Damaged(Exception):
    """The image on disk does not match its manifest: rebuild it, never use it."""


@dataclass(frozen=True)
class Image:
    """One interpreter's pip, ready to link: read from (and checked against) its manifest."""

    path: Path
    site_packages: str  # where the tree goes, relative to the environment ("lib/python3.12/site-packages")
    files: Tuple[Tuple[str, int, int], ...]  # (path in the tree, size, mtime_ns)
    dirs: Tuple[str, ...]  # every directory in the tree, parents first (empty ones too)
    scripts: Dict[str, str]  # RECORD path of an entry point ("../../../bin/pip") -> body after the shebang
    python_name: str  # the interpreter name the entry points' first line uses ("python3")
    distributions: Tuple[str, ...]  # "pip-23.2.1", for the person

    @property
    def tree(self) -> Path:
        return self.path / TREE


# -- finding or building the image ---------------------------------------------------


def seed_pip(cache: Path, interpreter: Interpreter, env_dir: Path,
             progress: Progress = _silent) -> None:
    """Put the interpreter's bundled pip into `env_dir` (a venv made without pip)."""
    if os.name == "nt":  # pip's entry points there are .exe launchers, not text to rewrite
        _ensurepip(env_dir)
        return
    images = cache / IMAGES_DIR
    key = image_key(interpreter)
    for attempt in (1, 2):
        image = _load(images / key)
        if image is None:
            if os.path.lexists(images / key):  # a manifest that does not read back: never trusted
                progress("the cached pip image is damaged (its manifest does not read back); "
                         "building it again")
                _discard(images, images / key)
            progress(f"building the pip image for Python {interpreter.version} "
                     "(once per interpreter; later environments reuse it)")
            try:
                image = _build(images, key, interpreter)
            except _NoCache as exc:  # a cache that cannot be written only costs time
                progress(f"cannot keep a pip image ({exc}); running ensurepip instead")
                _ensurepip(env_dir)
                return
        progress(f"seeding {', '.join(image.distributions)} from the cache")
        try:
            install(image, env_dir)
            return
        except Damaged as exc:
            if attempt == 2:
                raise OperationFailed(f"seeding pip failed: the image just built at {image.path} "
                                      f"is already damaged ({exc})") from None
            progress(f"the cached pip image is damaged ({exc}); building it again")
            _discard(images, image.path)
        except _Unsuitable as exc:
            progress(f"the cached pip image does not fit this environment ({exc}); running ensurepip")
            _ensurepip(env_dir)
            return


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


def _load(path: Path) -> Optional[Image]:
    """The image at `path` if its manifest reads back whole; None if absent or unusable."""
    try:
        with open(path / MANIFEST, "rb") as handle:
            data: Dict[str, Any] = json.loads(handle.read())
        if data.get("format") != FORMAT:
            return None
        files = tuple((str(p), int(size), int(mtime)) for p, size, mtime, _ in data["files"])
        scripts = {str(k): str(v) for k, v in data["scripts"].items()}
        dirs = tuple(sorted(str(d) for d in data["dirs"]))
        site_packages = str(data["site_packages"])
        if not files or os.path.isabs(site_packages) or ".." in Path(site_packages).parts:
            return None
        return Image(path, site_packages, files, dirs, scripts, str(data["python_name"]),
                     tuple(str(d) for d in data["distributions"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _build(images: Path, key: str, interpreter: Interpreter) -> Image:
    """Build the image with the interpreter itself, in a directory of its own, and rename
    it into place; if another envman got there first, use theirs."""
    try:
        images.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(images)
        work = images / f".build-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        work.mkdir()
    except OSError as exc:
        raise _NoCache(f"cannot write {images}: {exc.strerror}") from None
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
        raise _NoCache(f"cannot write {images}: {exc.strerror}") from None
    finally:
        if os.path.lexists(work):
            delete_cache_tree(work)
    image = _load(images / key)
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
        dirs += [os.path.relpath(os.path.join(root, d), tree).replace(os.sep, "/") for d in subdirs]
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
            "version": interpreter.version, "site_packages": os.path.relpath(site_packages, venv),
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
    cutoff = time.time() - STALE_BUILD_SECONDS
    for entry in os.scandir(images):
        if entry.name.startswith((".build-", ".trash-")):
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    delete_cache_tree(Path(entry.path))
            except OSError:
                pass


def _discard(images: Path, path: Path) -> None:
    """Move a damaged image aside (atomic: nobody links from half of it) and delete it.
    Environments linked to its files keep their data."""
    aside = images / f".trash-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, aside)
    except OSError:
        return  # already moved by another envman
    delete_cache_tree(aside)


# -- putting the image into an environment -------------------------------------------


class _Unsuitable(Exception):
    """The environment's layout is not the one the image was made for."""


def install(image: Image, env_dir: Path) -> None:
    """Link (or copy) the image's files into `env_dir`, then write its entry points and
    RECORDs fresh. Raises Damaged if a file does not match the manifest."""
    site_packages = env_dir / image.site_packages
    if not site_packages.is_dir():
        raise _Unsuitable(f"{image.site_packages} is missing")
    bin_dir = env_dir / SCRIPTS
    python = bin_dir / image.python_name
    if not os.path.lexists(python):
        python = env_python(env_dir)
    written = {entry: _write_script(Path(os.path.normpath(site_packages / entry)), python, body)
               for entry, body in image.scripts.items()
               if Path(os.path.normpath(site_packages / entry)).parent == bin_dir}
    # Plain strings, not pathlib, in this loop: it runs a thousand times or more.
    source_dir, target_dir = f"{image.tree}{os.sep}", f"{site_packages}{os.sep}"
    for directory in sorted({*image.dirs, *(os.path.dirname(name) for name, _, _ in image.files)} - {""}):
        try:
            os.mkdir(target_dir + directory)  # sorted: a parent comes before its children
        except FileExistsError:
            pass
    linking = True
    lstat, regular = os.lstat, stat.S_ISREG
    for name, size, mtime_ns in image.files:
        source, target = source_dir + name, target_dir + name
        try:
            st = lstat(source)
        except OSError as exc:
            raise Damaged(f"{name}: {exc.strerror}") from None
        if st.st_size != size or st.st_mtime_ns != mtime_ns or not regular(st.st_mode):
            raise Damaged(f"{name} differs from the manifest")
        if name.endswith(".dist-info/RECORD"):
            _write_record(Path(source), Path(target), written)
            continue
        if linking:
            linking = _link(source, target)
        if not linking:
            _copy(source, target)


def _link(source: str, target: str) -> bool:
    """Hard-link; False where the file system cannot (another device, no links, too many)."""
    try:
        os.link(source, target)
        return True
    except FileExistsError:  # a retry after a damaged image: replace what the first try put
        os.unlink(target)
        return _link(source, target)
    except FileNotFoundError as exc:
        raise Damaged(f"{os.path.basename(source)}: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            return False
        raise OperationFailed(f"seeding pip failed: cannot link {target}: {exc.strerror}") from None


def _copy(source: str, target: str) -> None:
    """A copy keeping the modification time, so the compiled files stay valid for it."""
    try:
        if os.path.lexists(target):
            os.unlink(target)
        shutil.copy2(source, target)
    except FileNotFoundError as exc:
        raise Damaged(f"{os.path.basename(source)}: {exc.strerror}") from None
    except OSError as exc:
        raise OperationFailed(f"seeding pip failed: cannot copy to {target}: {exc.strerror}") from None


def _write_script(target: Path, python: Path, body: str) -> Tuple[str, int]:
    """An entry point naming this environment's interpreter; returns its RECORD hash and size."""
    data = (shebang(str(python)) + body).encode("utf-8")
    if os.path.lexists(target):
        os.unlink(target)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777)  # less the umask, as pip
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
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


def _write_record(source: Path, target: Path, written: Dict[str, Tuple[str, int]]) -> None:
    """The image's RECORD with the entry points' lines made true for this environment."""
    lines = []
    for line in source.read_text(encoding="utf-8").splitlines():
        entry = line.split(",", 1)[0]
        if entry in written:
            digest, size = written[entry]
            line = f"{entry},{digest},{size}"
        lines.append(line + "\n")
    if os.path.lexists(target):
        os.unlink(target)
    target.write_text("".join(lines), encoding="utf-8")


def _ensurepip(env_dir: Path) -> None:
    """What `venv` itself does, for a layout the image does not fit."""
    run([str(env_python(env_dir)), "-I", "-m", "ensurepip", "--upgrade", "--default-pip"],
        what="installing pip with ensurepip", env=clean_environ(), capture=True,
        timeout=BUILD_TIMEOUT)
