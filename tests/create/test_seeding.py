"""pip seeded from the cached image: it behaves as pip installed by ensurepip, one
environment's pip never changes another's (nor the cache), the cache can be deleted,
a damaged image is rebuilt, and two `new` racing to build the first image both work."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import a_python, child_env, envman_cmd, need_python, pyenv_pythons

from envman.create import seed

from envman.create import pip_image
from envman.python.interpreters import Finder
from envman.processes import clean_environ


def tree_hashes(*roots: Path) -> Dict[str, str]:
    """Every regular file under `roots`: its path and content hash."""
    found = {}
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                full = os.path.join(directory, name)
                if os.path.isfile(full) and not os.path.islink(full):
                    with open(full, "rb") as handle:
                        found[full] = hashlib.sha256(handle.read()).hexdigest()
    return found


def images(home: Path) -> List[Path]:
    return sorted((home / "cache" / pip_image.IMAGES_DIR).iterdir())


def pip(env: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The environment's own `bin/pip` entry point, as a person runs it."""
    done = subprocess.run([str(env / "bin" / "pip"), *args], capture_output=True, text=True,
                          env=clean_environ({"PIP_DISABLE_PIP_VERSION_CHECK": "1"}), timeout=300)
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def pip_version(env: Path) -> str:
    return pip(env, "--version").stdout.split()[1]


def another_pip_wheel(tmp_path: Path, current: str) -> Path:
    """A directory holding a pip wheel to upgrade to: the newest one any installed Python
    bundles (the same version, reinstalled, when none is newer)."""
    wheels = []
    for exe in pyenv_pythons().values():
        wheels += (exe.resolve().parent.parent / "lib").glob("python3.*/ensurepip/_bundled/pip-*-py3-none-any.whl")
    key = lambda w: [int(p) for p in re.findall(r"\d+", w.name.split("-")[1])]  # noqa: E731
    if not wheels:
        pytest.skip("no bundled pip wheel found to upgrade to")
    chosen = max(wheels, key=key)
    directory = tmp_path / "pip-wheel"
    directory.mkdir()
    shutil.copy(chosen, directory)
    return directory


def test_seeded_pip_installs_uninstalls_and_upgrades_itself_touching_no_other_environment(
        cli, project: Path, home: Path, tmp_path: Path, wheelhouse: Path) -> None:
    python = str(a_python())
    first = cli("new", "a", "--python", python, cwd=project)
    assert first.code == 0, first
    assert "building the pip image" in first.err and "seeding pip-" in first.err, first
    second = cli("new", "b", "--python", python, cwd=project)
    assert second.code == 0, second
    assert "building the pip image" not in second.err, "the second environment reuses the image"
    a, b = home / "envs" / "a", home / "envs" / "b"
    image = images(home)[0]
    site = next(a.glob("lib/python3.*/site-packages"))
    init = next(site.glob("pip/__init__.py"))
    assert os.stat(init).st_nlink >= 3, "hard-linked: a, b and the image share the file"
    shebang = (a / "bin" / "pip").read_text().splitlines()[0]
    assert shebang == f"#!{a}/bin/python", "the entry point names the environment's own interpreter"
    assert {p.name for p in (a / "bin").glob("pip*")} >= {"pip", "pip3"}
    before = tree_hashes(b, image)

    listed = json.loads(pip(a, "list", "--format", "json").stdout)
    assert [d["name"] for d in listed if d["name"] == "pip"] == ["pip"]
    pip(a, "check")
    pip(a, "install", "--no-index", "--find-links", str(wheelhouse), "tinyapp==1.0")
    pip(a, "uninstall", "-y", "tinyapp", "tinydep")
    old = pip_version(a)
    upgrade = another_pip_wheel(tmp_path, old)
    pip(a, "install", "--no-index", "--find-links", str(upgrade), "--upgrade", "--force-reinstall", "pip")
    assert pip_version(a) == next(upgrade.iterdir()).name.split("-")[1]
    pip(a, "check")
    pip(a, "uninstall", "-y", "pip")
    assert not (a / "bin" / "pip").exists() and not list(site.glob("pip-*.dist-info"))

    assert tree_hashes(b, image) == before, "nothing in b nor in the cache changed"
    assert pip_version(b) == old
    pip(b, "check")
    third = cli("new", "c", "--python", python, cwd=project)
    assert third.code == 0 and "damaged" not in third.err and "building" not in third.err, third


def test_deleting_the_cache_breaks_nothing_and_the_next_new_rebuilds_it(cli, project: Path,
                                                                        home: Path) -> None:
    python = str(a_python())
    assert cli("new", "a", "--python", python, "-q", cwd=project).code == 0
    shutil.rmtree(home / "cache")
    a = home / "envs" / "a"
    assert pip_version(a)
    pip(a, "check")
    again = cli("new", "b", "--python", python, cwd=project)
    assert again.code == 0, again
    assert "building the pip image" in again.err
    assert len(images(home)) == 1
    assert pip_version(home / "envs" / "b") == pip_version(a)


def damage_missing(image: Path) -> None:
    next((image / pip_image.TREE).glob("pip/*.py")).unlink()


def damage_truncated(image: Path) -> None:
    victim = next((image / pip_image.TREE).glob("pip/_internal/**/*.py"))
    st = os.stat(victim)
    with open(victim, "r+b") as handle:  # the same inode: an environment linked to it sees it too
        handle.truncate(st.st_size // 2)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old mtime


def damage_manifest(image: Path) -> None:
    (image / pip_image.MANIFEST).write_text('{"format": 1, "files": [')


def damage_pyc_same_size_same_mtime(image: Path) -> None:
    """A compiled file overwritten in place past its header, size and mtime kept: Python
    would load it (the header still matches its source) and die on `bad marshal data`."""
    victim = next((image / pip_image.TREE).glob("pip/__pycache__/__init__.*.pyc"))
    st = os.stat(victim)
    with open(victim, "r+b") as handle:
        handle.seek(16)
        handle.write(b"\0" * (st.st_size - 16))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(victim).st_size == st.st_size


def damage_symlinked_directory(image: Path) -> None:
    """A directory of the image swapped for a link to a copy elsewhere: never linked through."""
    inside = image / pip_image.TREE / "pip" / "_internal"
    elsewhere = image.parent.parent / "elsewhere"
    shutil.copytree(inside, elsewhere, symlinks=True)
    shutil.rmtree(inside)
    inside.symlink_to(elsewhere)


@pytest.mark.parametrize("damage", [damage_missing, damage_truncated, damage_manifest,
                                    damage_pyc_same_size_same_mtime, damage_symlinked_directory],
                         ids=["file-missing", "file-truncated", "manifest-half-written",
                              "pyc-same-size-same-mtime", "symlinked-directory"])
def test_a_damaged_image_is_rebuilt_not_used(tmp_path: Path, damage) -> None:
    """In-process: seed one environment, damage the image, seed another."""
    finder = Finder(tmp_path / "cache")
    interpreter = finder.probe(str(a_python()))
    cache = tmp_path / "cache"
    first = tmp_path / "first"
    make_bare_venv(interpreter.executable, first)
    seed.seed_pip(cache, interpreter, first)
    image = images_in(cache)[0]
    damage(image)

    said: List[str] = []
    second = tmp_path / "second"
    make_bare_venv(interpreter.executable, second)
    seed.seed_pip(cache, interpreter, second, said.append)
    assert any("damaged" in line for line in said), said
    assert any("building the pip image" in line for line in said), said
    assert pip_version(second)
    pip(second, "check")
    rebuilt = pip_image.load(images_in(cache)[0])
    assert rebuilt is not None
    for name, size, mtime_ns, _ in rebuilt.files:
        st = os.stat(rebuilt.tree / name)
        assert (st.st_size, st.st_mtime_ns) == (size, mtime_ns), name
    assert not [p for p in (cache / pip_image.IMAGES_DIR).iterdir() if p.name.startswith(".")]


def images_in(cache: Path) -> List[Path]:
    return sorted(p for p in (cache / pip_image.IMAGES_DIR).iterdir() if not p.name.startswith("."))


def make_bare_venv(python: str, path: Path, *extra: str) -> None:
    subprocess.run([python, "-I", "-m", "venv", "--without-pip", *extra, str(path)], check=True,
                   env=clean_environ(), timeout=120)


def test_two_new_racing_to_build_the_first_image_both_get_working_pip(project: Path,
                                                                       home: Path) -> None:
    python = str(a_python())
    procs = [subprocess.Popen([*envman_cmd(), "new", name, "--python", python], cwd=project,
                              env=child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for name in ("one", "two")]
    outcomes = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outcomes
    for name in ("one", "two"):
        pip(home / "envs" / name, "check")
    assert pip_version(home / "envs" / "one") == pip_version(home / "envs" / "two")
    assert len(images(home)) == 1, "one image, and no build directory left behind"


def test_copies_where_links_are_impossible_and_odd_paths_run(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Another file system (EXDEV): copies keeping the modification time, so the compiled
    files stay valid; an environment path with a space, quotes and `$` gets the `/bin/sh`
    form of the entry point's first line, and it runs."""
    finder = Finder(tmp_path / "cache")
    interpreter = finder.probe(str(a_python()))
    env = tmp_path / 'odd "dir" $HOME `x`' / "env"
    make_bare_venv(interpreter.executable, env)

    def no_links(source: object, target: object, **where: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    seed.seed_pip(tmp_path / "cache", interpreter, env)
    monkeypatch.undo()
    init = next(env.glob("lib/python3.*/site-packages/pip/__init__.py"))
    assert os.stat(init).st_nlink == 1, "a copy, not a link"
    image = pip_image.load(images_in(tmp_path / "cache")[0])
    assert image is not None
    assert os.stat(init).st_mtime_ns == os.stat(image.tree / "pip" / "__init__.py").st_mtime_ns
    assert (env / "bin" / "pip").read_text().startswith("#!/bin/sh\n")
    assert pip_version(env)
    pip(env, "check")


def test_the_image_key_follows_the_interpreter(tmp_path: Path) -> None:
    from envman.python.interpreters import Interpreter

    exe = tmp_path / "python3"
    exe.write_bytes(b"binary")
    one = pip_image.image_key(Interpreter(str(exe), "3.12.1", "cpython"))
    assert pip_image.image_key(Interpreter(str(exe), "3.12.2", "cpython")) != one
    os.utime(exe, ns=(0, 1_000_000_000))
    assert pip_image.image_key(Interpreter(str(exe), "3.12.1", "cpython")) != one, "replaced"
    assert one.startswith("cpython-3.12-")


def test_shebang_forms() -> None:
    assert seed.shebang("/e/bin/python") == "#!/e/bin/python\n"
    long = "/" + "x" * 130 + "/bin/python"
    assert seed.shebang(long).startswith("#!/bin/sh\n'''exec' \"" + long + '" "$0" "$@"\n')
    assert '"/a b/\\$x\\"/py"' in seed.shebang('/a b/$x"/py')



def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path: Path) -> None:
    """No image can be kept (here `pip-images` is a file): ensurepip, as venv would."""
    finder = Finder(tmp_path / "cache")
    interpreter = finder.probe(str(a_python()))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / pip_image.IMAGES_DIR).write_text("not a directory")
    env = tmp_path / "env"
    make_bare_venv(interpreter.executable, env)
    said: List[str] = []
    seed.seed_pip(tmp_path / "cache", interpreter, env, said.append)
    assert any("running ensurepip instead" in line for line in said), said
    pip(env, "check")


def test_discarding_an_image_follows_no_link_and_crosses_no_mount(tmp_path: Path) -> None:
    """Image trees are deleted by the store's own walk: a link inside leads nowhere, and a
    file system mounted inside is left whole (with the rest of its path)."""
    import subprocess as sp

    from envman.create import seed

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    images = tmp_path / "cache" / pip_image.IMAGES_DIR
    image = images / "somekey"
    (image / "tree" / "pip").mkdir(parents=True)
    (image / "tree" / "pip" / "__init__.py").write_text("")
    os.symlink(outside, image / "tree" / "link-to-outside")
    os.symlink(outside / "precious.txt", image / "tree" / "pip" / "file-link")
    pip_image.discard(images, image)
    assert not image.exists() and not [p for p in images.iterdir()], "all of it went"
    assert (outside / "precious.txt").read_text() == "keep"

    (image / "tree" / "mnt").mkdir(parents=True)
    mounted = sp.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(image / "tree" / "mnt")],
                     capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        (image / "tree" / "mnt" / "precious.txt").write_text("on another file system")
        pip_image.discard(images, image)
        [aside] = list(images.iterdir())
        assert (aside / "tree" / "mnt" / "precious.txt").read_text() == "on another file system"
    finally:
        sp.run(["umount", "-l", str(next(images.iterdir()) / "tree" / "mnt")])


# Every Python envman claims as a target ("any CPython or PyPy from 3.4 on"): those
# pyenv has here, each made pip-ready (no --without-pip) and used to install and
# uninstall a local wheel, one environment per Python.
TARGETS = ["3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


def pip_ready_round(cli, project: Path, wheelhouse: Path, minor: str) -> None:
    python = str(need_python(minor))
    name = "p" + minor.replace(".", "")
    made = cli("new", name, "--python", python, cwd=project)
    assert made.code == 0, made
    assert "Traceback" not in made.err, made
    done = cli("run", name, "--", "python", "-m", "pip", "install", "--no-index",
               "--find-links", str(wheelhouse), "tinypkg==2.0", cwd=project)
    assert done.code == 0, done
    shown = cli("run", name, "--", "python", "-c", "import tinypkg; print(tinypkg.VERSION)", cwd=project)
    assert shown.out.strip() == "2.0", shown
    gone = cli("run", name, "--", "python", "-m", "pip", "uninstall", "-y", "tinypkg", cwd=project)
    assert gone.code == 0, gone
    left = cli("run", name, "--", "python", "-c", "import tinypkg", cwd=project)
    assert left.code != 0, left


@pytest.mark.parametrize("minor", TARGETS)
def test_pip_ready_new_on_every_target_python_installs_and_uninstalls(
        cli, project: Path, wheelhouse: Path, minor: str) -> None:
    pip_ready_round(cli, project, wheelhouse, minor)


@pytest.mark.parametrize("installer", ["uv"], indirect=True)
@pytest.mark.parametrize("minor", ["3.8", "3.9"])
def test_pip_ready_new_with_uv_on_path_on_pythons_bundling_setuptools(
        cli, project: Path, wheelhouse: Path, minor: str, installer: str) -> None:
    pip_ready_round(cli, project, wheelhouse, minor)


def valid_manifest() -> dict:
    return {"format": pip_image.FORMAT, "site_packages": "lib/python3.12/site-packages",
            "python_name": "python3", "distributions": ["pip-1"], "dirs": ["pip", "pip/sub"],
            "scripts": {"../../../bin/pip": "body"},
            "files": [["pip/__init__.py", 1, 1, "0" * 64], ["pip/sub/x.py", 1, 1, "0" * 64]]}


def escaping(manifest: dict, where: str, bad: str) -> dict:
    if where == "file":
        manifest["files"].append([bad, 1, 1, "0" * 64])
    elif where == "dir":
        manifest["dirs"].append(bad)
    elif where == "script":
        manifest["scripts"][bad] = "body"
    else:
        manifest[where] = bad
    return manifest


BAD_PATHS = ["../x", "pip/../../x", "/etc/passwd", "pip//x", "./pip/x", "pip/./x", "pip/",
             "pip\\..\\..\\x", "pip/x\0", "", "."]


@pytest.mark.parametrize("where", ["file", "dir", "site_packages"])
@pytest.mark.parametrize("bad", BAD_PATHS)
def test_a_manifest_naming_a_path_outside_its_tree_is_never_used(tmp_path: Path, where: str,
                                                                  bad: str) -> None:
    """In-process: the manifest is read as the cache's, and refused whole (then rebuilt)."""
    image = tmp_path / "image"
    image.mkdir()
    (image / pip_image.MANIFEST).write_text(json.dumps(valid_manifest()))
    assert pip_image.load(image) is not None
    (image / pip_image.MANIFEST).write_text(json.dumps(escaping(valid_manifest(), where, bad)))
    assert pip_image.load(image) is None


@pytest.mark.parametrize("bad", ["../../../bin/../../../x", "../../bin/pip", "../../../../bin/pip",
                                 "../../../bin/sub/pip", "../../../lib/pip", "pip",
                                 "../../../bin/", "../../../bin/.."])
def test_an_entry_point_outside_bin_is_never_written(tmp_path: Path, bad: str) -> None:
    image = tmp_path / "image"
    image.mkdir()
    (image / pip_image.MANIFEST).write_text(json.dumps(escaping(valid_manifest(), "script", bad)))
    assert pip_image.load(image) is None


@pytest.mark.parametrize("bad", ["python3\nimport os", "py thon", "../python", "bin/python", ""])
def test_an_interpreter_name_that_is_not_one_plain_name_is_refused(tmp_path: Path, bad: str) -> None:
    image = tmp_path / "image"
    image.mkdir()
    (image / pip_image.MANIFEST).write_text(json.dumps(escaping(valid_manifest(), "python_name", bad)))
    assert pip_image.load(image) is None


def test_a_manifest_path_leading_outside_deletes_nothing_and_new_rebuilds_the_image(
        cli, project: Path, home: Path, tmp_path: Path) -> None:
    """An entry that, read from the environment's site-packages, names a file outside the
    data root, and read from the image's tree, a file of the same size and mtime: the old
    seeding unlinked the victim ("exists") and linked the other file in its place."""
    python = str(a_python())
    assert cli("new", "a", "--python", python, "-q", cwd=project).code == 0
    victim = tmp_path / f"victim-{tmp_path.name}" / "keep.txt"
    victim.parent.mkdir()
    victim.write_text("keep")
    before = os.stat(victim)
    image = images(home)[0]
    # From envs/b/lib/python3.X/site-packages six levels up is tmp_path; from the image's
    # tree (cache/pip-images/KEY/tree) it is tmp_path's parent.
    entry = f"../../../../../../{victim.parent.name}/keep.txt"
    decoy = Path(os.path.normpath(image / pip_image.TREE / entry))
    decoy.parent.mkdir(exist_ok=True)
    decoy.write_text("evil")
    st = os.stat(decoy)
    manifest = json.loads((image / pip_image.MANIFEST).read_text())
    manifest["files"].insert(0, [entry, st.st_size, st.st_mtime_ns,
                                 hashlib.sha256(b"evil").hexdigest()])
    (image / pip_image.MANIFEST).write_text(json.dumps(manifest))
    try:
        made = cli("new", "b", "--python", python, cwd=project)
        assert victim.read_text() == "keep" and os.stat(victim).st_ino == before.st_ino
        assert made.code == 0, made
        assert "damaged" in made.err and "building the pip image" in made.err, made
        assert decoy.read_text() == "evil"
        pip(home / "envs" / "b", "check")
    finally:
        shutil.rmtree(decoy.parent)


def test_a_symlinked_site_packages_in_the_environment_leads_no_write_elsewhere(tmp_path: Path) -> None:
    """A directory of the environment swapped for a link (a hostile `uv venv`, say):
    seeding stops with a clear error and writes nothing through the link."""
    from envman.errors import OperationFailed

    interpreter = Finder(tmp_path / "cache").probe(str(a_python()))
    env = tmp_path / "env"
    make_bare_venv(interpreter.executable, env)
    site = next(env.glob("lib/python3.*/site-packages"))
    outside = tmp_path / "outside"
    outside.mkdir()
    site.rmdir()
    site.symlink_to(outside)
    with pytest.raises(OperationFailed, match="not a directory"):
        seed.seed_pip(tmp_path / "cache", interpreter, env)
    assert list(outside.iterdir()) == []


# -- doctor: what killed builds left, and images no interpreter uses ------------------


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_doctor_reports_and_removes_killed_image_builds_never_a_live_one(cli, project: Path,
                                                                          home: Path) -> None:
    """A real `envman new` killed (-9) while it builds the first image leaves its
    `.build-PID-HEX`; a build directory named after a live process stays, even with --fix."""
    import signal
    import time as clock

    images_dir = home / "cache" / pip_image.IMAGES_DIR
    proc = subprocess.Popen([*envman_cmd(), "new", "k", "--python", str(a_python())], cwd=project,
                            env=child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = clock.monotonic() + 120
    while not (images_dir.is_dir() and any(p.name.startswith(".build-") and (p / "venv").is_dir()
                                           for p in images_dir.iterdir())):
        assert proc.poll() is None and clock.monotonic() < deadline, "the build never started"
        clock.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = [p for p in images_dir.iterdir() if p.name.startswith(".build-")]
    assert len(killed) == 1
    live = subprocess.Popen(["sleep", "120"])
    try:
        building = images_dir / f".build-{live.pid}-0123abcd"
        (building / "venv").mkdir(parents=True)
        old_trash = images_dir / ".trash-old"  # no pid in the name: judged by its age
        (old_trash / "tree").mkdir(parents=True)
        os.utime(old_trash, (0, 0))
        dead_trash = images_dir / f".trash-{dead_pid()}-89abcdef"
        dead_trash.mkdir()

        seen = cli("doctor")
        assert seen.code == 1, seen
        assert seen.err.count("cache-leftover: ") == 3, seen
        assert f"cache-leftover: {killed[0]}" in seen.err and str(building) not in seen.err, seen
        fixed = cli("doctor", "--fix")
        assert fixed.code == 0, fixed
        assert not killed[0].exists() and not old_trash.exists() and not dead_trash.exists()
        assert (building / "venv").is_dir(), "a build by a running process is left alone"
        assert cli("doctor").code == 0
    finally:
        live.kill()
        live.wait()
    seen = cli("doctor")
    assert f"cache-leftover: {building}" in seen.err, seen
    assert cli("doctor", "--fix").code == 0 and not building.exists()


def test_doctor_reports_and_removes_images_no_interpreter_can_use(cli, project: Path, home: Path,
                                                                  tmp_path: Path) -> None:
    python = str(a_python())
    assert cli("new", "a", "--python", python, "-q", cwd=project).code == 0
    [usable] = images(home)
    assert cli("doctor").code == 0, "a usable image is no finding"

    def variant(name: str, **changes: object) -> Path:
        copy = usable.parent / name
        shutil.copytree(usable, copy, symlinks=True)
        manifest = json.loads((copy / pip_image.MANIFEST).read_text())
        manifest.update(changes)
        (copy / pip_image.MANIFEST).write_text(json.dumps(manifest))
        return copy

    gone = variant("cpython-3.12-gone", real=str(tmp_path / "deleted" / "python3"))
    others = [exe for minor, exe in pyenv_pythons().items() if os.path.realpath(exe) != os.path.realpath(python)]
    replaced = variant("cpython-3.12-replaced", real=os.path.realpath(others[0])) if others else None
    older = variant("cpython-3.12-older", format=1)
    broken = variant("cpython-3.12-broken")
    (broken / pip_image.MANIFEST).write_text("{")
    # A manifest swapped for a FIFO must not hang doctor.
    fifo = usable.parent / "cpython-3.12-fifo"
    fifo.mkdir()
    os.mkfifo(fifo / pip_image.MANIFEST)
    orphans = [p for p in (gone, replaced, older, broken, fifo) if p is not None]

    seen = cli("doctor", timeout=60)
    assert seen.code == 1, seen
    for orphan in orphans:
        assert f"cache-orphan: {orphan}: " in seen.err, seen
    assert str(usable) not in seen.err, seen
    assert "is gone" in seen.err and "older envman" in seen.err, seen
    fixed = cli("doctor", "--fix", timeout=60)
    assert fixed.code == 0, fixed
    assert [p.name for p in (home / "cache" / pip_image.IMAGES_DIR).iterdir()] == [usable.name]
    pip(home / "envs" / "a", "check")  # its files are its own links: the orphans' deletion took nothing
    again = cli("new", "b", "--python", python, cwd=project)
    assert again.code == 0 and "building the pip image" not in again.err, again
