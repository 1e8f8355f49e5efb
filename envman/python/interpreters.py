"""Finding Python interpreters (PATH, pyenv, uv) and matching `--python` specs.

Probing an interpreter means starting it, so probes are cached by the executable's
path, size and modification time; only `new` and `recreate` ever probe.
Wrapper scripts (pyenv and asdf shims) pick a Python per directory, so they are never
cached, and PATH scanning skips them: pyenv's own versions are looked at directly. A
pyenv shim that is asked for (`python3` on PATH) is resolved the way pyenv would
(`envman.python.pyenv`) without starting it, and what it resolves to is probed and cached.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from envman.errors import OperationFailed, UsageError
from envman.fsutil import CACHE_MAX, read_regular, write_atomic
from envman.processes import clean_environ, run

# Runs under any Python from 2.7 on, so that an old one is reported rather than crashing.
PROBE = (
    "import sys, json, platform; print(json.dumps({'executable': sys.executable, "
    "'version': platform.python_version(), 'implementation': platform.python_implementation()"
    ".lower()}))"
)
PROBE_TIMEOUT = 20.0
CACHE_NAME = "interpreters.json"
MIN_VERSION = (3, 3)  # the first Python with `venv`

_EXE_RE = re.compile(r"(python|pypy)(\d+(\.\d+)?)?(t)?\Z")
_VERSION_RE = re.compile(r"\d+(\.\d+){0,2}\Z")
_NAMED_VERSION_RE = re.compile(r"python(\d+(?:\.\d+){0,2})\Z")


@dataclass(frozen=True)
class Interpreter:
    executable: str  # the real binary, as reported by the interpreter itself
    version: str  # e.g. "3.12.1"
    implementation: str  # "cpython", "pypy"

    @property
    def version_tuple(self) -> Tuple[int, ...]:
        parts = re.match(r"(\d+)\.(\d+)\.?(\d*)", self.version)
        if not parts:
            return (0,)
        return tuple(int(p) for p in parts.groups() if p)


class ProbeCache:
    """`<cache>/interpreters.json`: probe results keyed by path, and the binary's size and mtime.

    The key is the path as invoked, not the binary it resolves to: an interpreter
    reports the path it was started by as `sys.executable`, and a link to it in another
    directory (which may be deleted later) is a different answer.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: Dict[str, Dict[str, object]] = {}
        self.dirty = False
        try:
            loaded = json.loads(read_regular(path, CACHE_MAX))
            if isinstance(loaded, dict):
                self.entries = loaded
        except (OSError, ValueError, RecursionError):
            pass

    @staticmethod
    def _key(executable: str) -> Optional[Tuple[str, int, int]]:
        try:
            st = os.stat(executable)
        except OSError:
            return None
        return os.path.abspath(executable), st.st_size, st.st_mtime_ns

    def get(self, executable: str) -> Optional[Interpreter]:
        key = self._key(executable)
        entry = self.entries.get(key[0]) if key else None
        if not key or not entry or [entry.get("size"), entry.get("mtime_ns")] != list(key[1:]):
            return None
        try:
            return Interpreter(str(entry["executable"]), str(entry["version"]),
                               str(entry["implementation"]))
        except KeyError:
            return None

    def put(self, executable: str, found: Interpreter) -> None:
        key = self._key(executable)
        if key:
            self.entries[key[0]] = {"size": key[1], "mtime_ns": key[2], **asdict(found)}
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(self.entries, indent=1).encode())
        except OSError:
            pass  # a cache that cannot be written only costs time


def _is_script(path: str) -> bool:
    try:
        return read_regular(path, 2, follow=True, prefix=True) == b"#!"
    except OSError:
        return False


def _say_nothing(message: str) -> None:
    """The default `Finder.tell`."""


class Finder:
    """Discovers and probes interpreters; one per command run."""

    def __init__(
        self,
        cache_dir: Path,
        environ: Optional[Mapping[str, str]] = None,
        probe: Optional[Callable[[str, Optional[str]], Interpreter]] = None,
        tell: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self.cache = ProbeCache(cache_dir / CACHE_NAME)
        self._probe = probe or _probe
        # What the person should hear about the choice (`envman.python.checks`): the CLI's stderr.
        self.tell: Callable[[str], None] = tell or _say_nothing

    # -- discovery -----------------------------------------------------------------

    def pyenv_root(self) -> Path:
        return Path(self.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")

    def uv_root(self) -> Path:
        explicit = self.environ.get("UV_PYTHON_INSTALL_DIR")
        if explicit:
            return Path(explicit)
        import platformdirs

        return platformdirs.user_data_path("uv") / "python"

    def _path_candidates(self) -> Iterable[str]:
        for directory in self.environ.get("PATH", "").split(os.pathsep):
            try:
                names = sorted(os.listdir(directory or "."))
            except OSError:
                continue
            for name in names:
                full = os.path.join(directory or ".", name)
                if _EXE_RE.match(name) and os.access(full, os.X_OK) and not _is_script(full):
                    yield full

    @staticmethod
    def _managed(root: Path) -> Iterable[str]:
        """Interpreters under pyenv- or uv-style roots (`<root>/<version>/bin/python3`), newest first."""
        try:
            dirs = sorted(root.iterdir(), key=lambda p: _natural(p.name), reverse=True)
        except OSError:
            return
        for version_dir in dirs:
            exe = _executable_in(version_dir)
            if exe:
                yield exe

    def candidates(self) -> List[str]:
        """Every interpreter we can see, PATH first, one entry per real binary."""
        seen: Dict[str, str] = {}
        sources = [self._path_candidates(), self._managed(self.pyenv_root() / "versions"),
                   self._managed(self.uv_root())]
        for source in sources:
            for exe in source:
                seen.setdefault(os.path.realpath(exe), exe)
        return list(seen.values())

    # -- probing -------------------------------------------------------------------

    def probe(self, executable: str, cwd: Optional[str] = None) -> Interpreter:
        """Run `executable` to learn what it is (or answer from the cache); OperationFailed if broken."""
        script = _is_script(executable)
        if script:  # a pyenv shim: probe what it would run, which can be cached
            resolved = self._through_shim(executable, cwd)
            if resolved is not None:
                return self.probe(resolved)
        cached = None if script else self.cache.get(executable)
        if cached is not None:
            return cached
        found = self._probe(executable, cwd)
        if not script:
            self.cache.put(executable, found)
        return found

    def _through_shim(self, executable: str, cwd: Optional[str]) -> Optional[str]:
        """The binary a pyenv shim would run from `cwd`, found without starting it."""
        from envman.python import pyenv

        root = pyenv.shim_root(executable)
        if root is None:
            return None
        resolved = pyenv.resolve_shim(executable, root, cwd, self.environ)
        return resolved if resolved is not None and not _is_script(resolved) else None

    def _probe_or_none(self, executable: str) -> Optional[Interpreter]:
        try:
            return self.probe(executable)
        except OperationFailed:
            return None

    def probe_all(self, executables: List[str]) -> List[Interpreter]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(self._probe_or_none, executables))
        self.cache.save()
        return [r for r in results if r is not None]

    # -- matching ------------------------------------------------------------------

    def find(self, spec: str, cwd: Optional[str] = None) -> Interpreter:
        """The interpreter `spec` names: a version, a PEP 440 specifier, a name or a path."""
        spec = spec.strip()
        if not spec:
            raise UsageError("empty --python")
        if os.sep in spec or "/" in spec or spec.startswith("~"):
            return self._usable(self._probe_path(os.path.expanduser(spec), spec), spec)
        if _VERSION_RE.match(spec):
            wanted = tuple(int(p) for p in spec.split("."))
            if wanted[0] == 2:
                raise _python2(spec)
            return self._first(lambda i: i.version_tuple[: len(wanted)] == wanted, spec)
        if any(c in spec for c in "<>=!~,"):
            from packaging.specifiers import InvalidSpecifier, SpecifierSet

            try:
                specifier = SpecifierSet(spec)
            except InvalidSpecifier:
                raise UsageError(f"invalid Python version specifier {spec!r}",
                                 hint="examples: 3.12, 3.12.1, '>=3.10,<3.13', python3.11, /usr/bin/python3") from None
            def admits(major: int, minors: int, patches: int) -> bool:
                return any(specifier.contains(f"{major}.{minor}.{patch}", prereleases=True)
                           for minor in range(minors) for patch in range(patches))

            if admits(2, 8, 19) and not admits(3, 40, 30):
                raise _python2(spec)
            return self._first(lambda i: specifier.contains(i.version, prereleases=True), spec)
        on_path = shutil.which(spec, path=self.environ.get("PATH"))
        named = _NAMED_VERSION_RE.match(spec)
        # A shim named python3.12 may refuse to run outside a pyenv-selected directory;
        # the version in the name is what the person means.
        if named and (on_path is None or _is_script(on_path)):
            return self.find(named.group(1), cwd)
        if on_path:
            return self._usable(self._probe_path(on_path, spec, cwd), spec)
        raise UsageError(
            f"no Python interpreter matches {spec!r}",
            hint="give a version (3.12), a specifier ('>=3.10'), an executable name or a path",
        )

    def default(self, cwd: Optional[str] = None) -> Interpreter:
        """The first `python3` on PATH, resolved to the real binary it runs."""
        exe = shutil.which("python3", path=self.environ.get("PATH")) or shutil.which(
            "python", path=self.environ.get("PATH"))
        if not exe:
            raise UsageError("no python3 on PATH", hint="pass --python")
        return self._usable(self._probe_path(exe, "python3", cwd), "python3")

    def pyenv_version(self, name: str) -> Optional[str]:
        """The executable of a pyenv version named exactly `name` (`.python-version`)."""
        if "/" in name or os.sep in name or name in (".", ".."):
            return None
        return _executable_in(self.pyenv_root() / "versions" / name)

    def _probe_path(self, exe: str, spec: str, cwd: Optional[str] = None) -> Interpreter:
        if not os.path.exists(exe):
            raise UsageError(f"no Python interpreter at {exe}")
        if not os.access(exe, os.X_OK) or os.path.isdir(exe):
            raise UsageError(f"{exe} is not an executable file")
        try:
            found = self.probe(exe, cwd)
        except OperationFailed as exc:
            raise UsageError(f"{spec!r} is not a working Python interpreter: {exc.message}") from None
        finally:
            self.cache.save()
        return found

    def _first(self, accept: Callable[[Interpreter], bool], spec: str) -> Interpreter:
        found = [i for i in self.probe_all(self.candidates()) if i.version_tuple >= MIN_VERSION]
        for interpreter in found:
            if accept(interpreter):
                return interpreter
        versions = ", ".join(sorted({i.version for i in found}, key=_natural)) or "none"
        raise UsageError(
            f"no Python interpreter matches {spec!r} (found: {versions})",
            hint="install one (pyenv install, uv python install) or pass --python PATH",
        )

    @staticmethod
    def _usable(found: Interpreter, spec: str) -> Interpreter:
        if found.version_tuple[0] == 2:
            raise _python2(f"{spec} (Python {found.version})")
        if found.version_tuple < MIN_VERSION:
            raise UsageError(
                f"{spec!r} is Python {found.version}, which cannot create PEP 405 environments",
                hint="use Python 3.3 or newer",
            )
        return found


def _python2(asked: str) -> UsageError:
    """Python 2 asked for: say so, rather than that nothing matches."""
    return UsageError(f"Python 2 is not supported (--python {asked}): envman creates PEP 405 "
                      "environments, which need Python 3.3 or newer",
                      hint="ask for a Python 3, e.g. --python 3.12")


def _executable_in(version_dir: Path) -> Optional[str]:
    for name in ("python3", "python", "pypy3"):
        exe = version_dir / "bin" / name
        if os.access(exe, os.X_OK):
            return str(exe)
    return None


def _natural(text: str) -> List[object]:
    """Sort key that puts 3.10 after 3.9."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _probe(executable: str, cwd: Optional[str] = None) -> Interpreter:
    out = run([executable, "-c", PROBE], what=f"probing {executable}", capture=True,
              cwd=cwd, env=clean_environ(), timeout=PROBE_TIMEOUT)
    try:
        data = json.loads(out.strip().splitlines()[-1])
        return Interpreter(data["executable"], data["version"], data["implementation"])
    except (ValueError, KeyError, IndexError):
        raise OperationFailed(f"probing {executable} failed: unexpected output") from None
