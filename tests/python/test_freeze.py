"""`envman freeze`: what `pip freeze` prints, read from the files alone.

Real venvs of a Python before 3.12 and one from 3.12 on (pip's rules differ there), with
plain installs, a direct URL install, editable installs (no version control, a git
checkout with a remote, one in a subdirectory, one with no remote), egg-info
distributions and a legacy `.egg-link` editable, each compared line by line with the
environment's own `python -m pip freeze` (and `--all`); then the same environment with
its base Python gone still freezes. The formatting rules are checked in-process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import make_wheel, pyenv_pythons
from envman.ops import freeze as freezing
from envman.python import gitfiles, installed

GIT = shutil.which("git")
BEFORE_312 = ("3.11", "3.10", "3.9")
FROM_312 = ("3.12", "3.13")

# A PEP 660 build backend in the project itself: an editable install offline, on any Python,
# with no setuptools (3.12's venvs have none).
BACKEND = '''
import base64, hashlib, os, zipfile

NAME, VERSION = {name!r}, {version!r}


def _wheel(directory, editable):
    dist = NAME.replace("-", "_") + "-" + VERSION
    here = os.path.dirname(os.path.abspath(__file__))
    files = {{dist + ".dist-info/METADATA": "Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n" % (NAME, VERSION),
             dist + ".dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}}
    if editable:
        files["__editable__." + dist + ".pth"] = here + "\\n"
    else:
        files[NAME.replace("-", "_") + "/__init__.py"] = ""
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (path, digest, len(text.encode())))
    files[dist + ".dist-info/RECORD"] = "\\n".join(record + [dist + ".dist-info/RECORD,,"]) + "\\n"
    name = dist + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, False)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, True)


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []
'''


def local_project(directory: Path, name: str, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "backend.py").write_text(BACKEND.format(name=name, version=version))
    (directory / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    return directory


def git(directory: Path, *args: str) -> str:
    assert GIT is not None
    done = subprocess.run([GIT, "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "init.defaultBranch=main", *args],
                          cwd=directory, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def checkout(directory: Path, remote: Optional[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    git(directory, "init", "-q")
    (directory / "README").write_text("x\n")
    git(directory, "add", "-A")
    git(directory, "commit", "-qm", "first")
    if remote is not None:
        git(directory, "remote", "add", "origin", remote)
    return directory


def pip(env: Path, *args: str) -> str:
    done = subprocess.run([str(env / "bin" / "python"), "-m", "pip", *args], capture_output=True, text=True,
                          env={**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert done.returncode == 0, done
    return done.stdout


def pick(minors) -> Optional[str]:
    found = pyenv_pythons()
    return next((m for m in minors if m in found), None)


def egg_info_by_hand(site: Path, projects: Path) -> None:
    """What old installers left: an egg-info directory, a distutils egg-info file, a
    legacy `setup.py develop` (`.egg-link` + `easy-install.pth` + the project's egg-info)
    and a version PEP 440 cannot parse."""
    (site / "Old_Egg-3.1-py3.egg-info").mkdir()
    (site / "Old_Egg-3.1-py3.egg-info" / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: Old_Egg\nVersion: 3.1\n")
    (site / "distpkg-0.9.egg-info").write_text("Metadata-Version: 1.0\nName: distpkg\nVersion: 0.9\n\nbody\n")
    legacy = projects / "legacyed"
    (legacy / "legacyed.egg-info").mkdir(parents=True)
    (legacy / "legacyed.egg-info" / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacyed\nVersion: 0.3\n")
    (legacy / "setup.py").write_text("")
    (site / "legacyed.egg-link").write_text(f"{legacy}\n.\n")
    (site / "easy-install.pth").write_text(f"{legacy}\n")
    weird = site / "weird-1.0.foo.dist-info"
    weird.mkdir()
    (weird / "METADATA").write_text("Metadata-Version: 2.1\nName: weird\nVersion: 1.0.foo\n")


def build_env(root: Path, minor: str) -> Path:
    python = pyenv_pythons()[minor]
    env = root / f"env{minor}"
    subprocess.run([str(python), "-m", "venv", str(env)], check=True, capture_output=True)
    wheels = root / "wheels"
    for name, version in (("tinypkg", "1.0"), ("Foo_Bar", "2.0"), ("zeta", "1.0rc1"), ("Alpha", "0.1"),
                          ("wheel", "0.42.0"), ("distribute", "0.7.3")):
        make_wheel(wheels, name, version)
    direct = make_wheel(root / "elsewhere", "directpkg", "1.5")
    projects = root / "projects"
    remote = checkout(projects / "remote", "https://example.com/me/remote.git")
    mono = checkout(projects / "mono", "git@example.com:me/mono.git")
    lonely = checkout(projects / "lonely", None)
    editables = [local_project(projects / "plain", "plain-proj", "0.1"), local_project(remote, "git-proj", "1.0"),
                 local_project(mono / "sub" / "pkg", "Sub.Pkg", "2.0"), local_project(lonely, "lonely", "0.5")]
    # one pip run for all (a direct URL: the wheel's path; editables: -e DIR)
    pip(env, "install", "-q", "--no-index", "--find-links", str(wheels), "tinypkg", "Foo_Bar", "zeta==1.0rc1",
        "Alpha", "wheel", "distribute", str(direct), *[arg for p in editables for arg in ("-e", str(p))])
    site = installed.site_packages(env)[0]
    egg_info_by_hand(site, projects)
    return env


@pytest.fixture(scope="module", params=[BEFORE_312, FROM_312], ids=["before-3.12", "3.12-on"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if GIT is None:
        pytest.skip("needs git")
    minor = pick(request.param)
    if minor is None:
        pytest.skip(f"needs a pyenv Python among {request.param}")
    return build_env(tmp_path_factory.mktemp("freeze"), minor)


def adopted(cli, env: Path, name: str = "frozen") -> None:
    done = cli("adopt", str(env), "--name", name, "--project", str(env.parent))
    assert done.code == 0, done


@pytest.mark.smoke
def test_freeze_prints_what_pip_freeze_prints(cli, env: Path) -> None:
    adopted(cli, env)
    expected = pip(env, "freeze").splitlines()
    done = cli("freeze", "frozen")
    assert done.code == 0, done
    assert done.out.splitlines() == expected, (done.out, expected)
    # the cases this environment holds are all there
    text = "\n".join(expected)
    for needle in ("Foo_Bar==2.0", "zeta==1.0rc1", "directpkg @ file://", "# Editable install with no version control (plain-proj==0.1)",
                   "-e git+https://example.com/me/remote.git@", "#egg=git_proj",
                   "-e git+ssh://git@example.com/me/mono.git@", "#egg=Sub.Pkg&subdirectory=sub/pkg",
                   "# Editable Git install with no remote (lonely==0.5)", "Old_Egg==3.1", "distpkg==0.9", "legacyed==0.3",
                   "weird===1.0.foo"):
        assert needle in text, (needle, text)


def test_freeze_all_prints_what_pip_freeze_all_prints(cli, env: Path) -> None:
    adopted(cli, env)
    done = cli("freeze", "frozen", "--all")
    assert done.code == 0, done
    assert done.out.splitlines() == pip(env, "freeze", "--all").splitlines()
    assert any(line.startswith("pip==") for line in done.out.splitlines())


def test_setuptools_wheel_and_distribute_follow_the_environments_python(cli, env: Path) -> None:
    adopted(cli, env)
    names = [line.split("==")[0] for line in cli("freeze", "frozen").out.splitlines()]
    modern = installed.python_version(env) >= "3.12"  # type: ignore[operator]
    assert ("wheel" in names and "distribute" in names) is modern, names
    assert "pip" not in names


def test_an_environment_whose_python_is_gone_still_freezes(cli, env: Path, tmp_path: Path) -> None:
    expected = pip(env, "freeze").splitlines()
    copy = tmp_path / "broken"
    shutil.copytree(env, copy, symlinks=True)
    for link in (copy / "bin").glob("python*"):
        link.unlink()
    cfg = (copy / "pyvenv.cfg").read_text().splitlines()
    (copy / "pyvenv.cfg").write_text("\n".join("home = /nonexistent/bin" if line.startswith("home") else line
                                               for line in cfg) + "\n")
    adopted(cli, copy, "broken")
    done = cli("freeze", "broken")
    assert done.code == 0, done
    assert done.out.splitlines() == expected


def test_system_site_packages_and_pth_directories_as_pip_sees_them(cli, tmp_path: Path) -> None:
    """With include-system-site-packages, pip freeze lists the base's distributions too
    (this venv has no pip: the base's pip runs in it); a `.pth` file's directories count."""
    env = tmp_path / "ssp"
    minor = pick(BEFORE_312 + FROM_312)  # before 3.12 pyenv's base holds setuptools too
    if minor is None:
        pytest.skip("needs a pyenv Python 3.9+")
    subprocess.run([str(pyenv_pythons()[minor]), "-m", "venv", "--without-pip", "--system-site-packages", str(env)],
                   check=True)
    extra = tmp_path / "extra"
    (extra / "pthpkg-1.0.dist-info").mkdir(parents=True)
    (extra / "pthpkg-1.0.dist-info" / "METADATA").write_text("Name: pthpkg\nVersion: 1.0\n")
    site = installed.site_packages(env)[0]
    (site / "extra.pth").write_text(f"# a comment\nimport os\n{extra}\n{tmp_path / 'missing'}\n")
    base = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "--version"], capture_output=True, text=True)
    if base.returncode != 0:
        pytest.skip("the base Python has no pip")
    adopted(cli, env, "ssp")
    for extra_args in ([], ["--all"]):
        expected = pip(env, "freeze", *extra_args).splitlines()
        done = cli("freeze", "ssp", *extra_args)
        assert done.code == 0 and done.out.splitlines() == expected, (done, expected)
        assert "pthpkg==1.0" in expected


def test_freeze_without_a_name_is_the_current_projects(cli, tmp_path: Path) -> None:
    project = tmp_path / "web"
    (project / "sub").mkdir(parents=True)
    env = project / ".venv"
    subprocess.run([str(pick_any()), "-m", "venv", "--without-pip", str(env)], check=True)
    info = installed.site_packages(env)[0] / "tinypkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Name: tinypkg\nVersion: 1.0\n")
    adopted(cli, env, "web")
    done = cli("freeze", cwd=project / "sub")
    assert done.code == 0, done
    assert done.out == "tinypkg==1.0\n"


def test_freeze_of_an_unknown_environment_exits_3(cli) -> None:
    from conftest import assert_clean_error

    assert_clean_error(cli("freeze", "nosuch"), 3)


def pick_any() -> Path:
    found = pyenv_pythons()
    minor = pick(FROM_312 + BEFORE_312)
    if minor is None:
        pytest.skip("needs a pyenv Python 3.9+")
    return found[minor]


# -- in-process: pip's formatting rules ---------------------------------------------------

def dist(name: str, version: str, direct_url: Optional[Dict[str, object]] = None) -> installed.Distribution:
    return installed.Distribution(name, version, direct_url, f"/site/{name}-{version}.dist-info")


@pytest.mark.parametrize("python, pip_version, left_out", [
    ("3.11.7", "23.2.1", {"pip", "setuptools", "wheel", "distribute"}),
    ("3.12.1", "23.2.1", {"pip"}),
    ("3.12.1", "23.1.2", {"pip", "setuptools", "wheel", "distribute"}),  # the rule of the pip there
    ("3.13.0", "24.2", {"pip"}),
    ("3.10.2", None, {"pip", "setuptools", "wheel", "distribute"}),  # no pip: the newest pip's rule
    ("3.12", None, {"pip"}),
])
def test_what_is_left_out(python: str, pip_version: Optional[str], left_out: set) -> None:
    assert freezing.left_out(python, pip_version) == left_out


@pytest.mark.parametrize("name, version, line", [
    ("Foo_Bar", "2.0", "Foo_Bar==2.0"),
    ("x", "1.0.0-RC1", "x==1.0.0rc1"),  # pip prints the normalised version
    ("x", "2013b", "x==2013b0"),  # PEP 440 reads a beta there
    ("x", "1.0.foo", "x===1.0.foo"),  # not PEP 440
])
def test_name_and_version(name: str, version: str, line: str) -> None:
    assert freezing.requirement_lines(dist(name, version)) == [line]


@pytest.mark.parametrize("direct_url, pip_version, line", [
    ({"url": "file:///w/x-1.0-py3-none-any.whl", "archive_info": {}}, None, "x @ file:///w/x-1.0-py3-none-any.whl"),
    ({"url": "https://h/x.tar.gz", "archive_info": {"hash": "sha256=ab", "hashes": {"sha256": "ab"}}}, "23.2.1",
     "x @ https://h/x.tar.gz#sha256=ab"),
    ({"url": "https://h/x.tar.gz", "archive_info": {"hashes": {"sha256": "ab", "md5": "cd"}}}, "23.2.1",
     "x @ https://h/x.tar.gz"),  # pip before 26.1 printed only the legacy `hash`
    ({"url": "https://h/x.tar.gz", "archive_info": {"hashes": {"sha256": "ab", "md5": "cd"}}}, "26.1",
     "x @ https://h/x.tar.gz#sha256=ab"),
    ({"url": "https://h/r.git", "vcs_info": {"vcs": "git", "commit_id": "c0ffee", "requested_revision": "main"}},
     None, "x @ git+https://h/r.git@c0ffee"),
    ({"url": "https://h/r.git", "vcs_info": {"vcs": "git", "commit_id": "c0ffee"}, "subdirectory": "a/b"},
     None, "x @ git+https://h/r.git@c0ffee#subdirectory=a/b"),
    ({"url": "https://h/x.zip", "archive_info": {"hash": "sha256=ab"}, "subdirectory": "s"}, "24.0",
     "x @ https://h/x.zip#sha256=ab&subdirectory=s"),
    ({"url": "file:///src/x", "dir_info": {}}, None, "x @ file:///src/x"),
])
def test_direct_urls(direct_url: Dict[str, object], pip_version: Optional[str], line: str) -> None:
    assert installed.valid_direct_url(direct_url)
    assert freezing.requirement_lines(dist("x", "1.0", direct_url), pip_version) == [line]


@pytest.mark.parametrize("direct_url", [
    {"url": "https://h/x", "archive_info": {}, "dir_info": {}},  # two kinds
    {"url": "https://h/x"},  # none
    {"archive_info": {}},  # no url
    {"url": "https://h/r.git", "vcs_info": {"vcs": "git"}},  # no commit
    {"url": "https://h/src", "dir_info": {"editable": True}},  # dir_info must be a file: URL
    {"url": "file:///w/x", "archive_info": {"hash": "nohashsign"}},
])
def test_a_direct_url_pip_rejects_is_ignored(direct_url: Dict[str, object]) -> None:
    assert not installed.valid_direct_url(direct_url)


def test_editable_without_version_control(tmp_path: Path) -> None:
    project = local_project(tmp_path / "p q", "p", "1.0")
    d = dist("p", "1.0", {"url": (project).as_uri(), "dir_info": {"editable": True}})
    assert d.editable == str(project)
    assert freezing.requirement_lines(d) == ["# Editable install with no version control (p==1.0)", f"-e {project}"]


@pytest.mark.skipif(GIT is None, reason="needs git")
@pytest.mark.parametrize("remote, shown", [
    ("https://example.com/r.git", "git+https://example.com/r.git"),
    ("git@example.com:me/r.git", "git+ssh://git@example.com/me/r.git"),
    ("example.com:r.git", "git+ssh://example.com/r.git"),
    ("git://example.com/r.git", "git://example.com/r.git"),  # already says git
    ("ssh://git@example.com:2222/r.git", "git+ssh://git@example.com:2222/r.git"),
])
def test_editable_in_a_git_checkout(tmp_path: Path, remote: str, shown: str) -> None:
    repo = checkout(tmp_path / "repo", remote)
    project = local_project(repo, "my-proj", "1.0")
    sha = git(repo, "rev-parse", "HEAD")
    d = dist("my-proj", "1.0", {"url": project.as_uri(), "dir_info": {"editable": True}})
    assert freezing.requirement_lines(d) == [f"-e {shown}@{sha}#egg=my_proj"]


@pytest.mark.skipif(GIT is None, reason="needs git")
def test_editable_git_cases_pip_cannot_pin(tmp_path: Path) -> None:
    # a remote that is neither a URL nor a path that exists
    repo = checkout(tmp_path / "bad", "../gone")
    d = dist("b", "1.0", {"url": local_project(repo, "b", "1.0").as_uri(), "dir_info": {"editable": True}})
    assert freezing.requirement_lines(d) == [
        "# Editable Git install (b==1.0) with either a deleted local remote or invalid URI:", "# '../gone'", f"-e {repo}"]
    # a local bare remote becomes a file: URL
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "set-url", "origin", str(bare))
    assert freezing.requirement_lines(d)[0].startswith(f"-e git+{bare.as_uri()}@")
    # a checkout with a remote and no commit yet
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    git(empty, "remote", "add", "upstream", "https://example.com/e.git")
    e = dist("e", "1.0", {"url": local_project(empty, "e", "1.0").as_uri(), "dir_info": {"editable": True}})
    assert freezing.requirement_lines(e) == ["## !! Could not determine repository location", f"-e {empty}"]


@pytest.mark.skipif(GIT is None, reason="needs git")
def test_git_files_answer_as_git_does(tmp_path: Path) -> None:
    repo = checkout(tmp_path / "r", "https://example.com/a.git")
    git(repo, "remote", "add", "zz", "git@example.com:z.git")
    git(repo, "config", "remote.origin.pushurl", "https://example.com/push.git")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "f").write_text("f")
    git(repo, "add", "f")
    git(repo, "commit", "-qm", "second")
    git(repo, "pack-refs", "--all")  # the branch now only in packed-refs
    sub = repo / "deep" / "er"
    sub.mkdir(parents=True)
    found = gitfiles.checkout_of(str(sub))
    assert found is not None
    assert found.top == git(sub, "rev-parse", "--show-toplevel")
    assert found.head() == git(repo, "rev-parse", "HEAD")
    listed = git(repo, "config", "--local", "--get-regexp", r"remote\..*\.url").splitlines()
    assert [f"{k} {v}" for k, v in found.remotes if k in {line.split(" ")[0] for line in listed}] == listed
    # a worktree: its own HEAD, the main checkout's config
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "--detach", str(worktree), "HEAD~1")
    other = gitfiles.checkout_of(str(worktree))
    assert other is not None and other.head() == git(worktree, "rev-parse", "HEAD")
    assert other.remotes == found.remotes
    assert gitfiles.checkout_of(str(tmp_path)) is None or gitfiles.checkout_of(str(tmp_path)).top != str(tmp_path)


def test_git_config_values() -> None:
    text = textwrap.dedent('''\
        [core]
        \tbare = false
        [remote "origin"]   ; comment
        \turl = "https://example.com/a b.git"  # trailing
        \tfetch = +refs/heads/*:refs/remotes/origin/*
        [Remote "Up\\"stream"]
        URL = git@example.com:x.git
        [remote.old]
        url = /srv/old.git
        [other]
        flag
        ''')
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".config", delete=False) as f:
        f.write(text)
    try:
        pairs = gitfiles.read_config(f.name)
    finally:
        os.unlink(f.name)
    assert pairs == [("core.bare", "false"), ("remote.origin.url", "https://example.com/a b.git"),
                     ("remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"),
                     ('remote.Up"stream.url', "git@example.com:x.git"), ("remote.old.url", "/srv/old.git"),
                     ("other.flag", "")]


def test_egg_info_and_egg_links_are_read(tmp_path: Path) -> None:
    env = tmp_path / "env"
    site = env / "lib" / "python3.12" / "site-packages"
    site.mkdir(parents=True)
    egg_info_by_hand(site, tmp_path / "projects")
    found = {d.key: d for d in installed.installed(env)}
    assert {k: v.version for k, v in found.items()} == {
        "old-egg": "3.1", "distpkg": "0.9", "weird": "1.0.foo", "legacyed": "0.3"}
    assert found["legacyed"].editable == str(tmp_path / "projects" / "legacyed")
    assert found["old-egg"].editable is None
    # recreate and mv still see only the dist-info directories
    assert [d.key for d in installed.distributions(env)] == ["weird"]
    # by name: only that name's metadata
    assert [d.name for d in installed.installed(env, "OLD.egg")] == ["Old_Egg"]
    assert [d.name for d in installed.installed(env, "legacyed")] == ["legacyed"]
    assert installed.installed(env, "nothing") == []


def test_freeze_order_is_pips(tmp_path: Path) -> None:
    env = tmp_path / "env"
    site = env / "lib" / "python3.12" / "site-packages"
    for name, version in (("zeta", "1"), ("Beta", "1"), ("alpha", "1"), ("Gamma_Ray", "1")):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")
    (site / "pip-24.0.dist-info").mkdir()
    (site / "pip-24.0.dist-info" / "METADATA").write_text("Name: pip\nVersion: 24.0\n")
    (env / "pyvenv.cfg").write_text("home = /x/bin\nversion = 3.12.1\n")
    assert freezing.freeze(env) == ["alpha==1", "Beta==1", "Gamma_Ray==1", "zeta==1"]
    assert freezing.freeze(env, everything=True) == ["alpha==1", "Beta==1", "Gamma_Ray==1", "pip==24.0", "zeta==1"]
    assert json.dumps(freezing.freeze(env))  # plain strings


def test_freeze_of_an_environment_whose_directory_is_gone_exits_2(cli, tmp_path: Path) -> None:
    from conftest import assert_clean_error

    env = tmp_path / "gone" / ".venv"
    subprocess.run([str(pick_any()), "-m", "venv", "--without-pip", str(env)], check=True)
    adopted(cli, env, "gone")
    shutil.rmtree(env)
    done = cli("freeze", "gone")
    assert_clean_error(done, 2)
    assert "is gone" in done.err


def test_files_that_would_block_or_never_end_are_skipped(cli, tmp_path: Path) -> None:
    """A FIFO or a link to /dev/zero wherever freeze and find read: each is passed over,
    nothing blocks (every read goes through fsutil.read_regular)."""
    env = tmp_path / "h" / ".venv"
    subprocess.run([str(pick_any()), "-m", "venv", "--without-pip", str(env)], check=True)
    site = installed.site_packages(env)[0]
    good = site / "good-1.0.dist-info"
    good.mkdir()
    (good / "METADATA").write_text("Name: good\nVersion: 1.0\n")
    os.mkfifo(good / "direct_url.json")
    (site / "fifo-1.0.dist-info").mkdir()
    os.mkfifo(site / "fifo-1.0.dist-info" / "METADATA")
    os.mkfifo(site / "pipe-1.0.egg-info")
    (site / "zero.egg-link").symlink_to("/dev/zero")
    os.mkfifo(site / "a.pth")
    (site / "b.pth").symlink_to("/dev/zero")
    project = tmp_path / "proj"
    (project / "ed.egg-info").mkdir(parents=True)
    (project / "ed.egg-info" / "PKG-INFO").write_text("Name: ed\nVersion: 2\n")
    os.mkfifo(project / ".git")
    (site / "ed.egg-link").write_text(f"{project}\n")
    adopted(cli, env, "h")
    done = cli("freeze", "h", timeout=60)
    assert done.code == 0, done
    assert done.out.splitlines() == ["# Editable install with no version control (ed==2)", f"-e {project}",
                                     "good==1.0"], done
    assert cli("find", "good", timeout=60).out.split()[:3] == ["h", "good", "1.0"]
