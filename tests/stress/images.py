"""The pip image cache under attack: a manifest naming paths outside its tree, links
swapped in for directories of the image or of the new environment, damage that keeps
a file's size and modification time.

Each trial gets a data root whose cache holds a copy of one image built once, damages
it (or the environment, through a hostile `uv`), runs a pip-ready `envman new`, and
checks: no file outside the data root changed or went (the canary directory, and the
decoys an attack plants beside it), the command exited cleanly (0, or one clear error
line, never a traceback), and the environment made has a pip that runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from common import CLEAN_EXITS, Figures, Root, Workspace, tree_digest

IMAGES = "pip-images"
Attack = Callable[[Root, Path], Dict[str, str]]  # (root, image) -> extra environment


def _manifest(image: Path) -> Dict[str, object]:
    data: Dict[str, object] = json.loads((image / "manifest.json").read_text())
    return data


def _save(image: Path, data: Dict[str, object]) -> None:
    (image / "manifest.json").write_text(json.dumps(data))


def _entry_to_canary(root: Root, image: Path, ups: int, name: str = "canary-0.txt") -> str:
    """A path that, read from the environment's site-packages (home/envs/NAME/lib/pythonX/
    site-packages), `ups` levels up reaches the canary (six levels reach the trial's
    base); a decoy of the same size and mtime waits where it leads from the image's tree."""
    entry = "../" * ups + "canary/" + name
    decoy = Path(os.path.normpath(image / "tree" / entry))
    if not decoy.parent.exists():
        decoy.parent.mkdir(parents=True)
    victim = root.canary / name
    if not decoy.exists():
        decoy.write_bytes(b"x" * victim.stat().st_size)
        os.utime(decoy, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns))
    return entry


def _first_file(image: Path, entry: str, described: Optional[Path] = None) -> Dict[str, str]:
    """Put `entry` first in the manifest's files, with the size, mtime and hash of
    `described` (so that only its path is wrong), else made-up ones."""
    data = _manifest(image)
    files = data["files"]
    assert isinstance(files, list)
    if described is None:
        files.insert(0, [entry, 6, 0, "0" * 64])
    else:
        st = described.stat()
        files.insert(0, [entry, st.st_size, st.st_mtime_ns,
                         hashlib.sha256(described.read_bytes()).hexdigest()])
    _save(image, data)
    return {}


def file_escapes(ups: int) -> Attack:
    def attack(root: Root, image: Path) -> Dict[str, str]:
        entry = _entry_to_canary(root, image, ups)
        return _first_file(image, entry, Path(os.path.normpath(image / "tree" / entry)))
    attack.__name__ = f"file_escapes_{ups}"
    return attack


def absolute_file(root: Root, image: Path) -> Dict[str, str]:
    victim = root.canary / "canary-1.txt"
    return _first_file(image, str(victim), victim)


def backslash_file(root: Root, image: Path) -> Dict[str, str]:
    return _first_file(image, "pip\\..\\..\\..\\..\\..\\..\\canary\\canary-2.txt")


def nul_file(root: Root, image: Path) -> Dict[str, str]:
    return _first_file(image, "../../../../../../canary/canary-3.txt\x00pip/x")


def dir_escapes(root: Root, image: Path) -> Dict[str, str]:
    data = _manifest(image)
    dirs = data.get("dirs")
    if isinstance(dirs, list):
        dirs.append("../../../../../../canary/made-by-envman")
    _save(image, data)
    return {}


def script_escapes(root: Root, image: Path) -> Dict[str, str]:
    data = _manifest(image)
    scripts = data["scripts"]
    assert isinstance(scripts, dict)
    scripts["../../../../../../../../canary/canary-4.txt"] = "overwritten\n"
    _save(image, data)
    return {}


def site_packages_escapes(root: Root, image: Path) -> Dict[str, str]:
    data = _manifest(image)
    data["site_packages"] = "../../../canary"
    _save(image, data)
    return {}


def python_name_injects(root: Root, image: Path) -> Dict[str, str]:
    data = _manifest(image)
    data["python_name"] = "python3\nimport os; open(%r, 'w').write('owned')" % str(root.canary / "owned")
    _save(image, data)
    return {}


def image_dir_symlinked(root: Root, image: Path) -> Dict[str, str]:
    """A directory of the image swapped for a link to a copy outside the data root."""
    inside = image / "tree" / "pip" / "_internal"
    elsewhere = root.base / "elsewhere"
    shutil.copytree(inside, elsewhere, symlinks=True)
    shutil.rmtree(inside)
    inside.symlink_to(elsewhere)
    return {}


def same_size_pyc(root: Root, image: Path) -> Dict[str, str]:
    victim = next((image / "tree").glob("pip/__pycache__/__init__.*.pyc"))
    _overwrite_keeping_stat(victim, 16)
    return {}


def same_size_py(root: Root, image: Path) -> Dict[str, str]:
    victim = image / "tree" / "pip" / "__init__.py"
    _overwrite_keeping_stat(victim, 0)
    return {}


def _overwrite_keeping_stat(path: Path, start: int) -> None:
    st = os.stat(path)
    with open(path, "r+b") as handle:
        handle.seek(start)
        handle.write(b"\0" * (st.st_size - start))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


HOSTILE_UV = r"""#!/bin/sh
# A `uv venv` that makes the venv, then swaps its site-packages for a link out.
if [ "$1" = venv ]; then
    for last; do :; done
    while [ "$#" -gt 0 ]; do [ "$1" = --python ] && py="$2"; shift; done
    "$py" -I -m venv --without-pip "$last" || exit 1
    site=$(ls -d "$last"/lib/python3*/site-packages)
    rmdir "$site" && ln -s "@CANARY@" "$site"
    exit 0
fi
exit 0
"""


def env_dir_symlinked(root: Root, image: Path) -> Dict[str, str]:
    tools = root.base / "tools"
    tools.mkdir(exist_ok=True)
    uv = tools / "uv"
    uv.write_text(HOSTILE_UV.replace("@CANARY@", str(root.canary)))
    uv.chmod(0o755)
    return {"ENVMAN_NO_UV": "", "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}


ATTACKS: List[Tuple[str, Attack]] = [
    *[(f"file ../ x{ups}", file_escapes(ups)) for ups in (5, 6)],
    ("file absolute", absolute_file),
    ("file backslashes", backslash_file),
    ("file NUL", nul_file),
    ("dir ../", dir_escapes),
    ("entry point ../", script_escapes),
    ("site-packages ../", site_packages_escapes),
    ("interpreter name with a newline", python_name_injects),
    ("image directory a symlink", image_dir_symlinked),
    ("env site-packages a symlink (hostile uv)", env_dir_symlinked),
    (".pyc same size, same mtime", same_size_pyc),
    (".py same size, same mtime", same_size_py),
]


def _interpreter() -> Optional[str]:
    """A pyenv CPython that is not the one running envman (so a hostile `uv venv` is
    really asked to make the venv), else this one."""
    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    here = os.path.realpath(sys.executable)
    for minor in ("3.12", "3.13", "3.10", "3.11"):
        for candidate in sorted(versions.glob(f"{minor}.*/bin/python3")):
            if os.path.realpath(candidate) != here:
                return str(candidate)
    return None


def images(ws: Workspace, only: Optional[List[str]] = None) -> Figures:
    fig = Figures("images")
    python = _interpreter() or sys.executable
    template = ws.root("image-template")
    built = template.run("new", "t", "--python", python, "-q", timeout=600)
    if built.returncode != 0:
        fig.add("template", f"building the image failed: {built.stderr.decode(errors='replace')[-300:]}",
                "envman new t")
        return fig
    cache = template.home / "cache"
    for label, attack in ATTACKS:
        if only is not None and label not in only:
            continue
        fig.trials += 1
        root = ws.root(label)
        try:
            problems = _trial(root, cache, python, attack)
        except Exception as exc:  # a harness failure is a finding too, never a crash
            problems = [f"harness: {type(exc).__name__}: {exc}"]
        for problem in problems:
            fig.add(label, problem, f"tests/stress/images.py attack {label!r}")
        ws.discard(root)
    ws.discard(template)
    return fig


def _trial(root: Root, cache: Path, python: str, attack: Attack) -> List[str]:
    shutil.copytree(cache, root.home / "cache", symlinks=True)
    [image] = [p for p in (root.home / "cache" / IMAGES).iterdir() if not p.name.startswith(".")]
    root.make_canaries()
    outside = root.base.parent / "canary"  # where an attack's decoys may land, one level out
    extra = attack(root, image)
    watched = {"canary": tree_digest(root.canary), "outside": tree_digest(outside)}
    made = root.run("new", "b", "--python", python, extra=extra, timeout=600)
    problems = []
    if {"canary": tree_digest(root.canary), "outside": tree_digest(outside)} != watched:
        problems.append("a file outside the data root changed, appeared or went")
    err = made.stderr.decode(errors="replace")
    if "Traceback" in err or made.returncode not in CLEAN_EXITS:
        problems.append(f"exit {made.returncode}: {err.strip()[-300:]}")
    elif made.returncode == 0:
        pip = subprocess.run([str(root.home / "envs" / "b" / "bin" / "python"), "-m", "pip", "--version"],
                             capture_output=True, timeout=120)
        if pip.returncode != 0:
            problems.append(f"the new environment's pip fails: {pip.stderr.decode(errors='replace')[-200:]}")
    else:
        errors = [line for line in err.splitlines() if line.startswith("envman: error: ")]
        if len(errors) != 1:
            problems.append(f"not one clear error line: {err.strip()[-300:]}")
    shutil.rmtree(outside, ignore_errors=True)
    return problems
