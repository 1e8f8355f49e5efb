"""How fast does `envman scan` find every environment in a developer's home, next to KillPy
and to a bare `find`, does it find all that KillPy finds, and what does `envman find` cost?

One command. It generates (seeded, in a temporary directory; `--keep` keeps it) a tree shaped
like a developer's home: `--projects` projects (default 160) under ~/src, ~/work, ~/projects
..., each with a `.git`, sources, `__pycache__` and, for some, `.mypy_cache`, `.pytest_cache`,
`dist/` and `node_modules` trees of many small files; and the environments of several tools:

  venv          real `python -m venv --without-pip` for a few, the rest shaped as venv writes them
  virtualenv    `virtualenv = 20.x` and `version_info` in pyvenv.cfg
  uv            `uv = 0.x` and `version_info`
  tox, nox      `PROJECT/.tox/{py311,lint,.pkg}`, `PROJECT/.nox/tests`
  poetry        `~/.cache/pypoetry/virtualenvs/NAME-HASH-py3.11`, HASH as poetry computes it
                from the project's path (its `generate_env_name`, written again here)
  pipenv        `~/.local/share/virtualenvs/NAME-HASH` (pipenv's hash of the Pipfile's
                path) with the `.project` file pipenv writes
  virtualenvwrapper, pyenv-virtualenv   `~/.virtualenvs/NAME`, `~/.pyenv/versions/X/envs/NAME`
  conda         `~/miniconda3/envs/NAME` (`conda-meta/python-3.11.7-*.json`, `bin/python`) and
                the conda base install around it, which is not an environment
  envman        `ENVMAN_HOME=~/.local/share/envman`, a few made by the real `envman new`

Every environment's `bin/python` links to a real interpreter (a few to one that is gone),
its site-packages holds dist-info directories and package files, and some hold a real pip
copied from a real venv. The tree has at least 100,000 files with the default 160 projects.

Then it installs KillPy from PyPI into a scratch venv cached in ~/.cache/envman-bench (the only
network it uses, once) and times, in the same run and alternating (A B A B ... after a
warm-up), every command with HOME pointed at the tree:

  `envman scan DIR --json`  vs  `killpy list --path DIR --json --quiet --type ...`   (target <= 0.33)
  `envman scan DIR --json`  vs  `find DIR -name pyvenv.cfg`                           (target <= 3.0)
  `envman find NAME`, 1,000 registered  vs  `envman ls --json` over the same            (target <= 1.5)
  `envman ls --json`  vs  `killpy list --help`: what each pays to start, before any work

KillPy's `--type` flags keep to its environment detectors (venv, tox, poetry, pipenv, conda,
pipx, hatch, uv): without them it also walks out and sizes every `__pycache__`,
`.mypy_cache`, `dist/` and `*.egg-info` (cache and artifacts), and lists pyenv's base
interpreters (pyenv), which envman does not list and should not. Its `--quiet` drops the
progress spinner, as envman shows none off a terminal.

It then checks coverage: of KillPy's environments, which envman lists too (paths compared
after realpath; KillPy lists a whole `.tox` as one entry, covered when envman lists the
environments in it), which of those have a `tool` and a `project`, and what envman lists
that KillPy does not; and compares envman's `tool` and `project` with what the generator
made. It prints figures, never judges: no threshold fails the run. A command this checkout
does not have yet (`envman scan --help` or `envman find --help` fails) is said, not timed.
`--profile` adds where one `envman scan` and one `envman find` spend their time; `--reuse`
times a tree an earlier `--keep` kept without making it again.

Usage: python benchmarks/bench_scan.py [--projects 160] [--runs 5] [--seed 18] [--keep | --reuse DIR]
       [--find-envs 1000] [--find "urllib3<2.2.2"] [--killpy-version 1.3.1] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ls import REPO, compiled, populate  # noqa: E402

KILLPY_VENV = Path.home() / ".cache" / "envman-bench" / "killpy-venv"
# KillPy's detectors of environments; its others are `cache`, `artifacts` and `pyenv`
# (base interpreters), none of which envman lists.
KILLPY_TYPES = ("venv", "tox", "poetry", "pipenv", "conda", "pipx", "hatch", "uv")
KILLPY_NOT_ENVS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "pip-cache",
                   "uv-cache", "artifacts", "pyenv"}

# (distribution, versions to pick from): urllib3's span both sides of 2.2.2, so that
# `envman find "urllib3<2.2.2"` matches some environments and not others.
PACKAGES: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("requests", ("2.28.2", "2.31.0", "2.32.3")), ("urllib3", ("1.26.18", "2.0.7", "2.2.1", "2.2.3")),
    ("certifi", ("2023.7.22", "2024.8.30")), ("idna", ("3.4", "3.10")),
    ("charset-normalizer", ("3.3.2", "3.4.0")), ("numpy", ("1.24.4", "1.26.4", "2.1.3")),
    ("pandas", ("1.5.3", "2.2.3")), ("python-dateutil", ("2.8.2", "2.9.0.post0")),
    ("six", ("1.16.0",)), ("pytz", ("2023.3", "2024.2")), ("click", ("8.1.3", "8.1.7")),
    ("Flask", ("2.3.3", "3.0.3")), ("Jinja2", ("3.1.2", "3.1.4")), ("MarkupSafe", ("2.1.5", "3.0.2")),
    ("Werkzeug", ("2.3.8", "3.0.6")), ("itsdangerous", ("2.1.2", "2.2.0")),
    ("pytest", ("7.4.4", "8.3.3")), ("pluggy", ("1.3.0", "1.5.0")), ("iniconfig", ("2.0.0",)),
    ("packaging", ("23.2", "24.2")), ("attrs", ("23.2.0", "24.2.0")),
    ("pydantic", ("1.10.13", "2.9.2")), ("pydantic_core", ("2.23.4",)),
    ("typing_extensions", ("4.8.0", "4.12.2")), ("SQLAlchemy", ("1.4.52", "2.0.36")),
    ("greenlet", ("3.1.1",)), ("rich", ("13.7.1", "13.9.4")), ("Pygments", ("2.17.2", "2.18.0")),
    ("markdown-it-py", ("3.0.0",)), ("mdurl", ("0.1.2",)), ("httpx", ("0.25.2", "0.27.2")),
    ("httpcore", ("1.0.7",)), ("h11", ("0.14.0",)), ("anyio", ("3.7.1", "4.6.2")),
    ("sniffio", ("1.3.1",)), ("fastapi", ("0.104.1", "0.115.5")), ("starlette", ("0.27.0", "0.41.3")),
    ("uvicorn", ("0.24.0", "0.32.1")), ("black", ("23.12.1", "24.10.0")), ("mypy", ("1.8.0", "1.13.0")),
    ("mypy-extensions", ("1.0.0",)), ("pathspec", ("0.12.1",)), ("platformdirs", ("3.11.0", "4.3.6")),
    ("tomli", ("2.0.1", "2.1.0")), ("coverage", ("7.3.4", "7.6.8")), ("boto3", ("1.28.85", "1.35.70")),
    ("botocore", ("1.31.85", "1.35.70")), ("jmespath", ("1.0.1",)), ("s3transfer", ("0.7.0", "0.10.4")),
    ("PyYAML", ("6.0.1", "6.0.2")), ("setuptools", ("68.2.2", "75.6.0")), ("wheel", ("0.41.3", "0.45.1")),
)
WORDS = ("fast", "tiny", "blue", "quiet", "smart", "lazy", "open", "deep", "bright", "rapid",
         "parser", "api", "bot", "tools", "lab", "sync", "cache", "graph", "viz", "shop", "auth",
         "notes", "crawler", "infra", "ml", "etl", "cli", "site", "docs", "stats")
MODULES = ("core", "utils", "models", "views", "api", "config", "cli", "db", "io", "types",
           "errors", "compat", "helpers", "schema", "client", "server", "tasks", "main")
FILLER = "".join(f"def function_{i}(value):\n    return value * {i}  # plausible source text\n"
                 for i in range(400))
GIT_HOOKS = ("applypatch-msg", "commit-msg", "fsmonitor-watchman", "post-update", "pre-applypatch",
             "pre-commit", "pre-merge-commit", "pre-push", "pre-rebase", "pre-receive",
             "prepare-commit-msg", "push-to-checkout", "update")


class Expected(NamedTuple):
    """One environment the generator made, and what envman should say about it."""

    path: str
    tool: str
    project: Optional[str]


class Python(NamedTuple):
    version: str  # 3.11.7
    executable: str  # what bin/python links to; it need not exist (a Python that is gone)

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def prefix(self) -> str:
        return os.path.dirname(os.path.dirname(self.executable))


def poetry_env_name(name: str, project: str) -> str:
    """The name poetry gives a project's environment (poetry's `EnvManager.generate_env_name`):
    the lowercased project name, unsafe characters replaced, then 8 characters of the
    urlsafe base64 SHA-256 of the project directory's real, case-normalised path."""
    sanitized = re.sub(r'[ $`!*@"\\\r\n\t]', "_", name.lower())[:42]
    digest = hashlib.sha256(os.path.normcase(os.path.realpath(project)).encode()).digest()
    return f"{sanitized}-{base64.urlsafe_b64encode(digest).decode()[:8]}"


def pipenv_env_name(project: str) -> str:
    """The name pipenv gives a project's environment: the directory's sanitised base name
    and 8 characters of the urlsafe base64 of the first 6 bytes of the Pipfile path's SHA-256."""
    sanitized = re.sub(r'[ &$`!*@"()\[\]\\\r\n\t]', "_", os.path.basename(project))[:42]
    digest = hashlib.sha256(os.path.join(project, "Pipfile").encode()).digest()[:6]
    return f"{sanitized}-{base64.urlsafe_b64encode(digest).decode()[:8]}"


def interpreters(home: Path) -> Tuple[Python, List[Python], Python]:
    """This interpreter, the other real ones pyenv has (3.10 to 3.13), and one that is gone."""
    import platform

    here = Python(platform.python_version(), os.path.realpath(sys.executable))
    others: List[Python] = []
    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for minor in ("3.10", "3.12", "3.13"):
        for candidate in sorted(versions.glob(f"{minor}.*")):
            exe = candidate / "bin" / f"python{minor}"
            if exe.exists() and not candidate.is_symlink():
                others.append(Python(candidate.name, str(exe)))
                break
    gone = Python("3.9.7", str(home / ".pyenv-removed" / "3.9.7" / "bin" / "python3.9"))
    return here, others, gone


class Tree:
    """Writes the tree; `expected` collects every environment made."""

    def __init__(self, home: Path, seed: int, pip_source: Optional[Tuple[Path, Path]]) -> None:
        self.home = home
        self.rng = random.Random(seed)
        self.pip_source = pip_source
        self.expected: List[Expected] = []
        self.projects: List[Path] = []
        self.here, self.others, self.gone = interpreters(home)
        self.now = time.time()

    # -- small pieces ------------------------------------------------------------------

    def text(self, low: int, high: int) -> str:
        return FILLER[: self.rng.randint(low, high)]

    @staticmethod
    def write(path: Path, data: str) -> None:
        try:
            fh = open(path, "w")
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(path, "w")
        with fh:
            fh.write(data)

    def python(self) -> Python:
        """Mostly this interpreter, some others pyenv has, now and then one that is gone."""
        roll, which = self.rng.random(), self.rng.randrange(6)  # drawn alike whatever pyenv has
        if roll < 0.06:
            return self.gone
        if roll < 0.3 and self.others:
            return self.others[which % len(self.others)]
        return self.here

    def age(self, path: Path, days: float) -> None:
        """Every entry of `path` (links themselves, not their targets) `days` old."""
        when = self.now - days * 86400
        for current, dirs, files in os.walk(path):
            for name in files + dirs:
                os.utime(os.path.join(current, name), (when, when), follow_symlinks=False)
        os.utime(path, (when, when))

    # -- environments ------------------------------------------------------------------

    def pyvenv_cfg(self, style: str, env: Path, python: Python, prompt: Optional[str] = None) -> str:
        home = os.path.dirname(python.executable)
        if style == "venv":
            return (f"home = {home}\ninclude-system-site-packages = false\nversion = {python.version}\n"
                    f"executable = {python.executable}\n"
                    f"command = {home}/python3 -m venv {env}\n")
        if style == "uv":
            text = (f"home = {home}\nimplementation = CPython\nuv = 0.{self.rng.randint(4, 9)}.{self.rng.randint(0, 20)}\n"
                    f"version_info = {python.version}\ninclude-system-site-packages = false\n")
            return text + (f"prompt = {prompt}\n" if prompt else "")
        # virtualenv 20.x, as tox, nox, poetry, pipenv and virtualenvwrapper make them
        return (f"home = {home}\nimplementation = CPython\nversion_info = {python.version}.final.0\n"
                f"virtualenv = 20.{self.rng.randint(21, 28)}.{self.rng.randint(0, 6)}\n"
                f"include-system-site-packages = false\nbase-prefix = {python.prefix}\n"
                f"base-exec-prefix = {python.prefix}\nbase-executable = {python.executable}\n")

    def site_packages(self, site: Path, count: int, installer: str = "pip") -> None:
        """`count` distributions: package files, and a dist-info with METADATA and RECORD."""
        site.mkdir(parents=True, exist_ok=True)
        for name, versions in self.rng.sample(PACKAGES, min(count, len(PACKAGES))):
            version = self.rng.choice(versions)
            module = re.sub(r"[-.]+", "_", name).lower()
            files = [f"{module}/__init__.py"] + [f"{module}/{m}.py" for m in
                                                 self.rng.sample(MODULES, self.rng.randint(1, 8))]
            record = []
            for file in files:
                data = self.text(200, 6000)
                self.write(site / file, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data.encode()).digest()).rstrip(b"=").decode()
                record.append(f"{file},sha256={digest},{len(data)}")
            info = f"{module}-{version}.dist-info"
            self.write(site / info / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                       f"Summary: {name} as installed\nRequires-Python: >=3.8\n\n{self.text(100, 3000)}")
            self.write(site / info / "WHEEL", "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                       "Tag: py3-none-any\n")
            self.write(site / info / "INSTALLER", installer + "\n")
            self.write(site / info / "top_level.txt", module + "\n")
            record += [f"{info}/{f}," for f in ("METADATA", "WHEEL", "INSTALLER", "top_level.txt", "RECORD")]
            self.write(site / info / "RECORD", "\n".join(record) + "\n")

    def environment(self, env: Path, style: str, tool: str, project: Optional[Path], *,
                    python: Optional[Python] = None, dists: Optional[int] = None, pip: bool = False,
                    real: bool = False, extra: Optional[Dict[str, str]] = None) -> None:
        """One PEP 405 environment at `env`, made by `tool` in the way `style` writes pyvenv.cfg;
        `extra`: more files in it (name: text), such as pipenv's `.project`."""
        python = python or self.python()
        if real:  # the real thing, made by this interpreter
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
            python = self.here
        else:
            (env / "bin").mkdir(parents=True)
            self.write(env / "pyvenv.cfg", self.pyvenv_cfg(style, env, python, env.parent.name))
            os.symlink(python.executable, env / "bin" / "python")
            os.symlink("python", env / "bin" / "python3")
            os.symlink("python", env / "bin" / f"python{python.minor}")
            for script in ("activate", "activate.csh", "activate.fish", "Activate.ps1"):
                self.write(env / "bin" / script, self.text(900, 9000))
            if style == "venv":
                os.symlink("lib", env / "lib64")
            (env / "include").mkdir()
        site = env / "lib" / f"python{python.minor}" / "site-packages"
        self.site_packages(site, dists if dists is not None else self.rng.randint(3, 25))
        if style == "virtualenv":
            self.write(site / "_virtualenv.pth", "import _virtualenv\n")
            self.write(site / "_virtualenv.py", self.text(2000, 4000))
        if pip and self.pip_source:
            package, info = self.pip_source
            shutil.copytree(package, site / "pip", symlinks=True)
            shutil.copytree(info, site / info.name, symlinks=True)
            for script in ("pip", "pip3", f"pip{python.minor}"):
                self.write(env / "bin" / script, f"#!{env}/bin/python\nfrom pip._internal.cli.main import main\n")
        for name, text in (extra or {}).items():
            self.write(env / name, text)
        self.age(env, self.rng.uniform(0.5, 400))
        self.expected.append(Expected(str(env), tool, str(project) if project else None))

    # -- projects ----------------------------------------------------------------------

    def git(self, project: Path) -> None:
        git = project / ".git"
        here = str(project.relative_to(self.home))  # names alike wherever the tree is
        for name, data in (("HEAD", "ref: refs/heads/main\n"), ("description", "Unnamed repository\n"),
                           ("config", "[core]\n\trepositoryformatversion = 0\n\tbare = false\n"),
                           ("COMMIT_EDITMSG", "Fix the thing\n"), ("info/exclude", "# git ls-files\n"),
                           ("refs/heads/main", hashlib.sha1(here.encode()).hexdigest() + "\n"),
                           ("logs/HEAD", self.text(200, 4000)), ("index", self.text(500, 20000)),
                           ("packed-refs", "# pack-refs with: peeled fully-peeled sorted\n")):
            self.write(git / name, data)
        for hook in GIT_HOOKS:
            self.write(git / "hooks" / f"{hook}.sample", self.text(400, 4000))
        for i in range(self.rng.randint(15, 70)):
            digest = hashlib.sha1(f"{here}{i}".encode()).hexdigest()
            self.write(git / "objects" / digest[:2] / digest[2:], self.text(50, 3000))
        pack = hashlib.sha1(here.encode()).hexdigest()
        self.write(git / "objects" / "pack" / f"pack-{pack}.pack", self.text(5000, 24000))
        self.write(git / "objects" / "pack" / f"pack-{pack}.idx", self.text(500, 2000))

    def sources(self, project: Path, package: str) -> None:
        modules = self.rng.sample(MODULES, self.rng.randint(4, len(MODULES)))
        cached = self.rng.random() < 0.75
        for folder, names in ((project / "src" / package, ["__init__", *modules]),
                              (project / "tests", [f"test_{m}" for m in modules[: self.rng.randint(2, 8)]])):
            for name in names:
                self.write(folder / f"{name}.py", self.text(100, 12000))
                if cached:
                    self.write(folder / "__pycache__" / f"{name}.cpython-311.pyc", self.text(100, 9000))
        self.write(project / "README.md", f"# {project.name}\n\n{self.text(100, 3000)}")
        if self.rng.random() < 0.35:
            mypy = project / ".mypy_cache"
            self.write(mypy / "CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n")
            self.write(mypy / ".gitignore", "*\n")
            for name in ["builtins", "typing", "os", "sys", "abc", "types", *modules]:
                for ext in ("meta.json", "data.json"):
                    self.write(mypy / "3.11" / package / f"{name}.{ext}", self.text(200, 9000))
        if self.rng.random() < 0.3:
            cache = project / ".pytest_cache"
            for name in ("README.md", "CACHEDIR.TAG", ".gitignore", "v/cache/nodeids", "v/cache/lastfailed"):
                self.write(cache / name, self.text(10, 600))
        if self.rng.random() < 0.1:
            self.write(project / "dist" / f"{package}-0.1.0-py3-none-any.whl", self.text(3000, 20000))
            self.write(project / "dist" / f"{package}-0.1.0.tar.gz", self.text(3000, 20000))
            for name in modules:
                self.write(project / "build" / "lib" / package / f"{name}.py", self.text(100, 5000))

    def node_modules(self, project: Path) -> None:
        self.write(project / "package.json", '{"name": "%s", "private": true}\n' % project.name)
        modules = project / "node_modules"
        for i in range(self.rng.randint(120, 220)):
            name = f"{self.rng.choice(WORDS)}-{self.rng.choice(WORDS)}-{i}"
            package = modules / (f"@{self.rng.choice(WORDS)}/{name}" if i % 9 == 0 else name)
            self.write(package / "package.json", '{"name": "%s", "version": "1.%d.0"}\n' % (name, i))
            for file in ("index.js", "README.md", "LICENSE", *(f"lib/{m}.js" for m in
                                                              self.rng.sample(MODULES, self.rng.randint(1, 5)))):
                self.write(package / file, self.text(50, 4000))
            if i % 17 == 0:
                self.write(package / "node_modules" / "inner-dep" / "index.js", self.text(50, 2000))
        (modules / ".bin").mkdir(exist_ok=True)
        self.write(modules / ".package-lock.json", self.text(1000, 20000))

    def project(self, path: Path, kind: str) -> None:
        """A project of `kind`: its files and, for most kinds, its environments."""
        package = re.sub(r"[^a-z0-9]+", "_", path.name)
        self.git(path)
        self.sources(path, package)
        self.projects.append(path)
        if kind == "poetry":
            self.write(path / "pyproject.toml", f'[tool.poetry]\nname = "{path.name}"\nversion = "0.1.0"\n')
            self.write(path / "poetry.lock", self.text(2000, 20000))
        elif kind == "pipenv":
            self.write(path / "Pipfile", '[packages]\nrequests = "*"\n')
            self.write(path / "Pipfile.lock", self.text(2000, 20000))
        else:
            self.write(path / "pyproject.toml", f'[project]\nname = "{path.name}"\nversion = "0.1.0"\n')
        pip = self.rng.random() < 0.22
        if kind == "venv-real":
            self.environment(path / ".venv", "venv", "venv", path, real=True, pip=pip)
        elif kind in ("venv", "virtualenv", "uv"):
            name = self.rng.choice((".venv", ".venv", ".venv", "venv")) if kind != "uv" else ".venv"
            self.environment(path / name, kind, kind, path, pip=pip)
        elif kind == "tox":
            self.write(path / "tox.ini", "[tox]\nenv_list = py311, lint\n")
            for name in ("py311", "lint", ".pkg"):
                env = path / ".tox" / name
                self.environment(env, "virtualenv", "tox", path, python=self.here, pip=pip and name == "py311",
                                 dists=2 if name == ".pkg" else None,
                                 extra={".tox-info.json": '{"ToxEnv": {"name": "%s"}}\n' % name})
            if self.rng.random() < 0.5:
                self.environment(path / ".venv", "uv", "uv", path)
        elif kind == "nox":
            self.write(path / "noxfile.py", "import nox\n\n@nox.session\ndef tests(session):\n    pass\n")
            self.environment(path / ".nox" / "tests", "virtualenv", "nox", path, pip=pip)
        elif kind == "poetry":
            store = self.home / ".cache" / "pypoetry" / "virtualenvs"
            python = self.python()
            env = store / f"{poetry_env_name(path.name, str(path))}-py{python.minor}"
            self.environment(env, "virtualenv", "poetry", path, python=python, pip=pip)
        elif kind == "pipenv":
            env = self.home / ".local" / "share" / "virtualenvs" / pipenv_env_name(str(path))
            self.environment(env, "virtualenv", "pipenv", path, pip=pip, extra={".project": str(path)})
        if self.rng.random() < 0.28 or kind == "js":
            self.node_modules(path)

    def home_dirs(self) -> None:
        """What sits in a home besides projects: tool stores, conda, caches, downloads."""
        home = self.home
        workon = home / ".virtualenvs"
        for hook in ("postactivate", "postdeactivate", "postmkvirtualenv", "preactivate", "premkvirtualenv"):
            self.write(workon / hook, "#!/bin/bash\n")
        for i, name in enumerate(("scratch", "notebooks", "ops-tools")):
            project = self.projects[i * 7] if i < 2 and len(self.projects) > 7 else None
            self.environment(workon / name, "virtualenv", "virtualenvwrapper", project,
                             extra={".project": str(project)} if project else None)
        # pyenv: a base interpreter (not an environment) with a pyenv-virtualenv env inside
        base = home / ".pyenv" / "versions" / self.here.version
        os.makedirs(base / "bin")
        os.symlink(self.here.executable, base / "bin" / f"python{self.here.minor}")
        os.symlink(f"python{self.here.minor}", base / "bin" / "python")
        for name in ("os", "re", "json/__init__", "json/decoder", "typing", "pathlib", "abc"):
            self.write(base / "lib" / f"python{self.here.minor}" / f"{name}.py", self.text(1000, 12000))
        # pyenv-virtualenv's project: the one whose `.python-version` names the environment
        user = self.projects[3] if len(self.projects) > 3 else None
        if user:
            self.write(user / ".python-version", "tools\n")
        self.environment(base / "envs" / "tools", "venv", "pyenv-virtualenv", user, python=self.here)
        os.symlink(f"{self.here.version}/envs/tools", home / ".pyenv" / "versions" / "tools")
        # conda: a base install (not an environment) holding two environments
        conda = home / "miniconda3"
        self.conda_prefix(conda, base_install=True)
        for name in ("dataenv", "ml"):
            self.conda_prefix(conda / "envs" / name, base_install=False)
            self.expected.append(Expected(str(conda / "envs" / name), "conda", None))
        self.write(home / ".conda" / "environments.txt",
                   f"{conda}\n{conda / 'envs' / 'dataenv'}\n{conda / 'envs' / 'ml'}\n")
        for i in range(250):
            digest = hashlib.sha256(str(i).encode()).hexdigest()
            self.write(home / ".cache" / "pip" / "http-v2" / digest[0] / digest[1] / digest[2:40], self.text(100, 9000))
        for i in range(60):
            self.write(home / ".cache" / "pypoetry" / "cache" / "repositories" / "PyPI" / "_http" / f"{i:02x}" / "entry",
                       self.text(100, 5000))
        for i in range(40):
            self.write(home / "Downloads" / f"file-{i}.pdf", self.text(1000, 24000))
        self.write(home / ".bashrc", "export PATH=$HOME/.local/bin:$PATH\n")

    def conda_prefix(self, prefix: Path, base_install: bool) -> None:
        meta = prefix / "conda-meta"
        minor = self.here.minor
        self.write(meta / "history", f"==> 2024-03-01 10:00:00 <==\n# cmd: conda create -p {prefix}\n")
        names = ["python-3.11.7-h955ad1f_0", "pip-24.0-py311h06a4308_0", "openssl-3.0.13-h7f8727e_0",
                 "zlib-1.2.13-h5eee18b_0", "sqlite-3.41.2-h5eee18b_0"]
        if base_install:
            names += ["conda-24.1.2-py311h06a4308_0", "conda-package-handling-2.2.0-py311h06a4308_0"]
        for name in names:
            self.write(meta / f"{name}.json", '{"name": "%s", "files": []}\n' % name.split("-")[0])
        os.makedirs(prefix / "bin", exist_ok=True)
        os.symlink(self.here.executable, prefix / "bin" / f"python{minor}")
        os.symlink(f"python{minor}", prefix / "bin" / "python")
        self.site_packages(prefix / "lib" / f"python{minor}" / "site-packages", 12, installer="conda")
        if base_install:
            for name in ("bin/conda", "condabin/conda", "etc/profile.d/conda.sh"):
                self.write(prefix / name, "#!/bin/sh\n")
            self.site_packages(prefix / "lib" / f"python{minor}" / "site-packages", 8, installer="conda")
            for i in range(40):
                self.write(prefix / "pkgs" / f"pkg-{i}-0" / "info" / "index.json", self.text(100, 2000))
            (prefix / "envs").mkdir(exist_ok=True)
        else:
            self.age(prefix, self.rng.uniform(1, 300))


def project_paths(home: Path, count: int, rng: random.Random) -> List[Path]:
    parents = [home / "src" / "github.com" / org for org in ("acme", "me", "oss-contrib")]
    parents += [home / "work" / client for client in ("bigco", "startup")]
    parents += [home / "projects", home / "code" / "experiments", home / "Documents" / "code"]
    paths = []
    for i in range(count):
        name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i}"
        paths.append(rng.choice(parents) / name)
    return paths


KINDS = (("venv", 22), ("virtualenv", 12), ("uv", 18), ("poetry", 12), ("pipenv", 8), ("tox", 8),
         ("nox", 4), ("js", 6), ("none", 10))


def generate(home: Path, projects: int, seed: int, registered: int) -> Tree:
    """The whole tree under `home` (which must not exist yet); envman's environments made
    by the real `envman new` with HOME and ENVMAN_HOME pointed into it."""
    home.mkdir(parents=True)
    tree = Tree(home, seed, pip_package())
    paths = project_paths(home, projects, tree.rng)
    kinds = [kind for kind, weight in KINDS for _ in range(weight)]
    for i, path in enumerate(paths):
        kind = "venv-real" if i < 4 else ("envman" if i < 4 + registered else tree.rng.choice(kinds))
        tree.project(path, kind)
    tree.home_dirs()
    env = envman_environ(home)
    for i, path in enumerate(paths[4:4 + registered]):
        name = path.name
        subprocess.run([sys.executable, "-m", "envman", "new", name, "--project", str(path), "--without-pip",
                        "--python", os.path.realpath(sys.executable),
                        "-q", *(["--link"] if i % 2 == 0 else [])], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        tree.expected.append(Expected(str(home / ".local" / "share" / "envman" / "envs" / name), "envman", str(path)))
    return tree


def pip_package() -> Optional[Tuple[Path, Path]]:
    """pip's package and dist-info directories in the KillPy venv (a real venv with pip)."""
    sites = list(KILLPY_VENV.glob("lib/python*/site-packages"))
    if not sites:
        return None
    infos = sorted(sites[0].glob("pip-*.dist-info"))
    return (sites[0] / "pip", infos[0]) if infos and (sites[0] / "pip").is_dir() else None


def envman_environ(home: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "ENVMAN_"))}
    env.update(HOME=str(home), ENVMAN_HOME=str(home / ".local" / "share" / "envman"),
               ENVMAN_CONFIG=str(home / ".config" / "envman" / "config.toml"), PYTHONPATH=str(REPO),
               PYENV_ROOT=str(home / ".pyenv"), ENVMAN_NO_UV="1")
    return env


def count_tree(home: Path) -> Tuple[int, int]:
    """Files (links included) and bytes under `home`, without following links."""
    files = size = 0
    for current, _, names in os.walk(home):
        for name in names:
            files += 1
            size += os.lstat(os.path.join(current, name)).st_size
    return files, size


# -- KillPy --------------------------------------------------------------------------------

def killpy(version: str) -> Path:
    """bin/killpy of a scratch venv holding KillPy `version` (made once, then reused)."""
    python = KILLPY_VENV / "bin" / "python"
    probe = [str(python), "-c", "import importlib.metadata as m; print(m.version('killpy'))"]
    have = subprocess.run(probe, capture_output=True, text=True).stdout.strip() if python.exists() else ""
    if have != version:
        if not python.exists():
            KILLPY_VENV.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", str(KILLPY_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        f"killpy=={version}"], check=True)
    return KILLPY_VENV / "bin" / "killpy"


def killpy_command(exe: Path, tree: Path) -> List[str]:
    return [str(exe), "list", "--path", str(tree), "--json", "--quiet",
            *(arg for kind in KILLPY_TYPES for arg in ("--type", kind))]


# -- timing -------------------------------------------------------------------------------

class Pair:
    """Two commands timed alternately, A B A B ..., each pair's ratio kept."""

    def __init__(self, label: str, a: List[str], b: List[str], env: Dict[str, str], cwd: Path,
                 a_name: str, b_name: str, target: float, repeat: int = 1) -> None:
        self.label, self.a, self.b, self.env, self.cwd = label, a, b, env, cwd
        self.a_name, self.b_name, self.target = a_name, b_name, target
        self.repeat = repeat  # pairs per round: more for the quick ones, whose spread is wider
        self.times_a: List[float] = []
        self.times_b: List[float] = []

    def once(self, record: bool) -> None:
        for cmd, times in ((self.a, self.times_a), (self.b, self.times_b)):
            start = time.perf_counter()
            subprocess.run(cmd, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            if record:
                times.append(time.perf_counter() - start)

    def ratio(self) -> float:
        return statistics.median(self.times_a) / statistics.median(self.times_b)

    def report(self) -> str:
        a, b = statistics.median(self.times_a), statistics.median(self.times_b)
        ratios = sorted(x / y for x, y in zip(self.times_a, self.times_b))
        return (f"{self.label}\n    {self.a_name}: {a * 1000:8.1f} ms   {self.b_name}: {b * 1000:8.1f} ms"
                f"   ratio {a / b:.3f} (pairs: median {statistics.median(ratios):.3f}, {ratios[0]:.3f}-{ratios[-1]:.3f},"
                f" n={len(ratios)})"
                + (f"   target <= {self.target}" if self.target == self.target else "   (no target)"))


def available(command: str, env: Dict[str, str]) -> bool:
    return subprocess.run([sys.executable, "-m", "envman", command, "--help"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


# -- coverage -----------------------------------------------------------------------------

def coverage(envman_out: str, killpy_out: str, expected: Sequence[Expected]) -> List[str]:
    """Lines saying which of KillPy's environments envman lists, with tool and project."""
    ours = {os.path.realpath(e["path"]): e for e in json.loads(envman_out)}
    truth = {os.path.realpath(e.path): e for e in expected}
    theirs = [k for k in json.loads(killpy_out) if k["type"] not in KILLPY_NOT_ENVS]
    lines: List[str] = []
    found = described = 0
    missing: List[str] = []
    undescribed: List[str] = []
    claimed = set()
    for entry in theirs:
        path = os.path.realpath(entry["absolute_path"])
        if entry["type"] == "tox":  # KillPy lists a whole .tox; envman the environments in it
            inside = [e for p, e in ours.items() if os.path.dirname(p) == path]
        else:
            inside = [ours[path]] if path in ours else []
        if not inside:
            missing.append(f"    {entry['type']:<11} {path}")
            continue
        found += 1
        claimed.update(os.path.realpath(e["path"]) for e in inside)
        if all(e.get("tool") and e.get("project") for e in inside):
            described += 1
        else:
            undescribed += [f"    {entry['type']:<11} {e['path']}  tool={e.get('tool')} project={e.get('project')}"
                            + ("  (made without one)" if made_without(truth, e["path"]) else "")
                            for e in inside if not (e.get("tool") and e.get("project"))]
    lines.append(f"KillPy's environments: {len(theirs)} ({dict(Counter(k['type'] for k in theirs))})")
    lines.append(f"  also listed by envman: {found}/{len(theirs)}; with a tool and a project: {described}/{len(theirs)}")
    if missing:
        lines += ["  not listed by envman:"] + missing
    if undescribed:
        lines += ["  listed without a tool or a project:"] + undescribed
    extra = sorted(p for p in ours if p not in claimed)
    lines.append(f"  listed by envman and not by KillPy: {len(extra)}")
    lines += [f"    {ours[p].get('tool')!s:<17} {p}" for p in extra]
    wrong = []
    for path, want in sorted(truth.items()):
        got = ours.get(path)
        if got is None:
            wrong.append(f"    missing      {path}  (made by {want.tool})")
        elif (got.get("tool"), got.get("project")) != (want.tool, want.project):
            wrong.append(f"    {path}\n        envman: tool={got.get('tool')} project={got.get('project')}"
                         f"\n        made:   tool={want.tool} project={want.project}")
    unexpected = sorted(p for p in ours if p not in truth)
    lines.append(f"envman against what the generator made: {len(truth) - len(wrong)}/{len(truth)} "
                 f"with the right tool and project; {len(unexpected)} listed that were not made")
    lines += wrong + [f"    not made     {p}" for p in unexpected]
    return lines


def made_without(truth: Dict[str, Expected], path: str) -> bool:
    """Whether the generator made the environment at `path` with no project to tell."""
    made = truth.get(os.path.realpath(path))
    return made is not None and made.project is None


# -- envman find over 1,000 registered ------------------------------------------------------

def registry_with_packages(root: Path, count: int, seed: int) -> None:
    """bench_ls's 1,000 registered environments, each with ~20 distributions installed."""
    store = populate(root, count)
    tree = Tree(root, seed, None)
    minor = tree.here.minor
    for record in sorted(os.listdir(store.root / "envs")):
        tree.site_packages(store.root / "envs" / record / "lib" / f"python{minor}" / "site-packages",
                           tree.rng.randint(15, 25))


# -- where the time goes -----------------------------------------------------------------

SCAN_PARTS = {("envman/__main__.py", "<module>"): "the whole command (in-process)",
              ("envman/cli/main.py", "<module>"): "importing envman.cli.main (typer)",
              ("envman/discovery/scan.py", "scan"): "envman.discovery.scan.scan: the work",
              ("envman/discovery/walk.py", "walk"): "  walking the tree",
              ("envman/discovery/classify.py", "identify"): "  tool, project, Python of each",
              ("envman/sizes.py", "measure_trees"): "  measuring sizes (threads: time waited)",
              ("json/__init__.py", "dumps"): "writing the JSON"}
FIND_PARTS = {("envman/__main__.py", "<module>"): "the whole command (in-process)",
              ("envman/cli/main.py", "<module>"): "importing envman.cli.main (typer)",
              ("envman/ops/find.py", "<module>"): "importing envman.ops.find (packaging)",
              ("envman/store/registry.py", "load"): "loading the registry",
              ("envman/ops/find.py", "find"): "envman.ops.find.find: the work",
              ("envman/ops/find.py", "places"): "  each environment once (real paths)",
              ("envman/python/installed.py", "_site_dirs"): "  finding each site-packages",
              ("envman/python/installed.py", "installed"): "  listing and reading metadata"}


def profile(label: str, cmd: List[str], env: Dict[str, str], cwd: Path, parts: Dict[Tuple[str, str], str]) -> None:
    """Where one run of `cmd` (`python -m envman ...`) spends its time: cProfile's
    cumulative times of `parts` (it inflates Python-heavy parts; a part not found is not
    printed)."""
    import pstats

    out = cwd / "profile.out"
    subprocess.run([cmd[0], "-m", "cProfile", "-o", str(out), *cmd[1:]], env=env, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)
    stats = pstats.Stats(str(out))
    rows: Dict[str, float] = {}
    for (filename, _, function), entry in stats.stats.items():  # type: ignore[attr-defined]
        for (suffix, name), part in parts.items():
            if filename.endswith(suffix) and function == name:
                rows[part] = max(rows.get(part, 0.0), entry[3])
    print(f"\nwhere one `{label}` spends its time (cProfile, cumulative):")
    for part in parts.values():
        if part in rows:
            print(f"    {part:<48}{rows[part] * 1000:8.1f} ms")


# -- main ---------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=160)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--registered", type=int, default=4, help="environments made by `envman new` in the tree")
    parser.add_argument("--find-envs", type=int, default=1000)
    parser.add_argument("--find", default="urllib3<2.2.2", help="the requirement `envman find` looks for")
    parser.add_argument("--killpy-version", default="1.3.1")
    parser.add_argument("--keep", action="store_true", help="keep the generated tree and print its path")
    parser.add_argument("--reuse", metavar="DIR", help="time a tree an earlier `--keep` kept (not generated again, "
                        "not deleted)")
    parser.add_argument("--profile", action="store_true", help="also profile one `envman scan` and one `envman find`")
    args = parser.parse_args()
    compiled()
    exe = killpy(args.killpy_version)
    tmp = Path(os.path.realpath(args.reuse or tempfile.mkdtemp(prefix="bench-scan-")))
    keep = args.keep or bool(args.reuse)
    try:
        home = tmp / "home"
        started = time.perf_counter()
        if args.reuse:
            made_record = json.loads((tmp / "made.json").read_text())
            expected = [Expected(*e) for e in made_record["expected"]]
            projects = made_record["projects"]
        else:
            tree = generate(home, args.projects, args.seed, args.registered)
            expected, projects = tree.expected, len(tree.projects)
            (tmp / "made.json").write_text(json.dumps({"expected": expected, "projects": projects}))
        files, size = count_tree(home)
        made = time.perf_counter() - started
        env = envman_environ(home)
        kp = killpy_command(exe, home)
        pairs: List[Pair] = []
        has_scan, has_find = available("scan", env), available("find", env)
        scan = [sys.executable, "-m", "envman", "scan", str(home), "--json"]
        if has_scan:
            pairs.append(Pair("`envman scan DIR --json` / `killpy list --path DIR --json`", scan, kp, env,
                              tmp, "envman scan", "killpy list", 0.33))
            pairs.append(Pair("`envman scan DIR --json` / `find DIR -name pyvenv.cfg`", scan,
                              ["find", str(home), "-name", "pyvenv.cfg"], env, tmp, "envman scan", "find", 3.0))
        else:
            killpy_alone = Pair("`killpy list --path DIR --json` / `find DIR -name pyvenv.cfg` (no `envman scan` "
                                "in this checkout)", kp, ["find", str(home), "-name", "pyvenv.cfg"], env, tmp,
                                "killpy list", "find", float("nan"))
            pairs.append(killpy_alone)
        if has_find:
            root = tmp / "registry"
            if not (root / "envs").is_dir():
                registry_with_packages(root, args.find_envs, args.seed)
            listing = dict(env, ENVMAN_HOME=str(root))
            find = [sys.executable, "-m", "envman", "find", args.find]
            pairs.append(Pair(f"`envman find \"{args.find}\"` / `envman ls --json`, {args.find_envs:,} registered", find,
                              [sys.executable, "-m", "envman", "ls", "--json"], listing, tmp,
                              "envman find", "envman ls --json", 1.5, repeat=3))
        # What each pays before any work: envman's CLI (4 registered) and KillPy's.
        pairs.append(Pair("start-up, no scanning: `envman ls --json` / `killpy list --help`",
                          [sys.executable, "-m", "envman", "ls", "--json"], [str(exe), "list", "--help"], env, tmp,
                          "envman ls --json", "killpy list --help", float("nan"), repeat=2))
        for pair in pairs:  # warm-up: page cache, byte code
            pair.once(record=False)
        for _ in range(args.runs):
            for pair in pairs:
                for _ in range(pair.repeat):
                    pair.once(record=True)

        by_tool = Counter(e.tool for e in expected)
        print(f"tree: {projects} projects, {files:,} files, {size / 1e6:,.0f} MB, "
              f"{'reused' if args.reuse else 'made'} in {made:.0f} s; {len(expected)} environments: "
              + ", ".join(f"{tool} {n}" for tool, n in sorted(by_tool.items(), key=lambda kv: -kv[1])))
        print(f"KillPy {args.killpy_version}: killpy {' '.join(kp[1:])}")
        print(f"{args.runs} rounds after a warm-up (`envman find` 3 pairs a round, start-up 2), each pair "
              f"alternating, HOME={home}; medians")
        for pair in pairs:
            print(pair.report())
        if not has_scan:
            print("`envman scan`: not in this checkout, not timed")
        if not has_find:
            print("`envman find`: not in this checkout, not timed")
        killpy_out = subprocess.run(kp, env=env, cwd=tmp, capture_output=True, text=True, check=True).stdout
        if has_scan:
            envman_out = subprocess.run(scan, env=env, cwd=tmp, capture_output=True, text=True, check=True).stdout
            print("\n".join(coverage(envman_out, killpy_out, expected)))
        else:
            listed = [k for k in json.loads(killpy_out) if k["type"] not in KILLPY_NOT_ENVS]
            print(f"KillPy's environments: {len(listed)} ({dict(Counter(k['type'] for k in listed))})")
        if args.profile and has_scan:
            profile("envman scan DIR --json", scan, env, tmp, SCAN_PARTS)
        if args.profile and has_find:
            profile(f"envman find \"{args.find}\"", find, listing, tmp, FIND_PARTS)
        print("\nREADME rows (draft):")
        for pair in pairs:
            if pair.target == pair.target:  # not NaN
                print(f"| {pair.label} | {pair.ratio():.2f} | <= {pair.target} |")
    finally:
        if keep:
            print(f"tree kept in {tmp} (time it again: --reuse {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
