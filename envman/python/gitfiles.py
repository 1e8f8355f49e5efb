"""What `pip freeze` asks git about an editable project's checkout, read from the
checkout's own files: the work tree's top, the remote URLs and HEAD's commit.

No git process: the files answer as fast as it would, when git is not installed too,
and a checkout's hooks or config cannot run anything.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from envman.fsutil import SMALL_MAX, read_regular

_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_UNESCAPE = re.compile(r"\\(.)")
_PACKED_MAX = 64 * 1024 * 1024  # a large monorepo's packed-refs runs to a few MB


@dataclass(frozen=True)
class Checkout:
    top: str  # the work tree's top directory, as `git rev-parse --show-toplevel` gives it
    git_dir: str  # as `git rev-parse --git-dir` gives it from the project's directory, made absolute
    common_dir: str  # where config, refs and packed-refs live (the main one's, for a worktree)
    remotes: List[Tuple[str, str]] = field(default_factory=list)  # `remote.NAME.url` keys and values, in order

    def head(self) -> Optional[str]:
        """HEAD's commit (as `git rev-parse HEAD`), None for a branch with no commit yet or
        refs this reader cannot read (the reftable format)."""
        return resolve_ref(self.git_dir, self.common_dir, "HEAD")


def checkout_of(location: str) -> Optional[Checkout]:
    """The git checkout holding `location`, found as git finds it (the nearest ancestor
    holding `.git`, a directory or a `gitdir:` file), None outside any."""
    here = os.path.realpath(location)
    while True:
        dot_git = os.path.join(here, ".git")
        git_dir = _git_dir(dot_git)
        if git_dir is not None:
            if not _ours(here):  # git refuses a checkout of another user ("dubious ownership")
                return None
            common = _common_dir(git_dir)
            # From the top, git says `.git`; from below, the real path; a worktree's `.git`
            # file always gives its gitdir.
            shown = (os.path.join(os.path.abspath(location), ".git")
                     if os.path.isdir(dot_git) and os.path.realpath(location) == here else git_dir)
            return Checkout(here, shown, common, remote_urls(common, git_dir))
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def remote_urls(common_dir: str, git_dir: str) -> List[Tuple[str, str]]:
    """`git config --get-regexp 'remote\\..*\\.url'`: system, global, then the repository's
    config (and its worktree's)."""
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files = ["/etc/gitconfig", os.path.join(xdg, "git", "config"), os.path.join(home, ".gitconfig"),
             os.path.join(common_dir, "config"), os.path.join(git_dir, "config.worktree")]
    found: List[Tuple[str, str]] = []
    for path in dict.fromkeys(files):
        for key, value in read_config(path):
            if re.search(r"remote\..*\.url", key):
                found.append((key, value))
    return found


def read_config(path: str) -> List[Tuple[str, str]]:
    """The `section.subsection.key`, value pairs of a git config file, in order; section
    and key names lowercased (git compares them so), subsections as written."""
    try:
        text = read_regular(path, SMALL_MAX, follow=True).decode("utf-8", "replace")
    except OSError:
        return []
    pairs: List[Tuple[str, str]] = []
    section = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            m = re.match(r'\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]\s*(.*)$', line)
            if m is None:
                section = ""
                continue
            name, sub, rest = m.group(1), m.group(2), m.group(3)
            # `[remote "origin"]`; the old `[remote.origin]` spelling has its subsection lowercased
            section = name.lower() if sub is None else name.lower() + "." + _UNESCAPE.sub(r"\1", sub)
            line = rest.strip()
            if not line or line[0] in "#;":
                continue
        key, sep, raw = line.partition("=")
        key = key.strip()
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", key) or not section:
            continue
        if not sep:
            pairs.append((f"{section}.{key.lower()}", ""))  # a bare key: boolean true
            continue
        while raw.rstrip().endswith("\\") and not raw.rstrip().endswith("\\\\") and i < len(lines):
            raw = raw.rstrip()[:-1] + lines[i]  # a continued line
            i += 1
        pairs.append((f"{section}.{key.lower()}", _value(raw)))
    return pairs


def resolve_ref(git_dir: str, common_dir: str, ref: str) -> Optional[str]:
    """The commit a ref names: a loose file (HEAD and per-worktree refs in the gitdir,
    the rest in the common directory), else `packed-refs`; symbolic refs followed."""
    for _ in range(6):
        where = git_dir if ref == "HEAD" or not ref.startswith("refs/") or ref.startswith(
            ("refs/bisect/", "refs/worktree/", "refs/rewritten/")) else common_dir
        try:
            text = read_regular(os.path.join(where, ref), SMALL_MAX, follow=True).decode("ascii").strip()
        except (OSError, UnicodeDecodeError):
            text = _packed(common_dir, ref) or ""
        if text.startswith("ref:"):
            ref = text[4:].strip()
            continue
        return text if _SHA.fullmatch(text) else None
    return None


def _packed(common_dir: str, ref: str) -> Optional[str]:
    try:
        text = read_regular(os.path.join(common_dir, "packed-refs"), _PACKED_MAX, follow=True).decode(
            "utf-8", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        sha, _, name = line.partition(" ")
        if name.strip() == ref and _SHA.fullmatch(sha):
            return sha
    return None


def _git_dir(dot_git: str) -> Optional[str]:
    """The repository directory `.git` stands for: itself, or what its `gitdir:` names."""
    if os.path.isdir(dot_git):
        return dot_git if _is_repository(dot_git) else None
    try:
        text = read_regular(dot_git, SMALL_MAX, follow=True).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = os.path.join(os.path.dirname(dot_git), text[7:].strip())
    return os.path.realpath(target) if _is_repository(target) else None


def _is_repository(path: str) -> bool:
    # git's own test: HEAD, and objects and refs (which a worktree's gitdir borrows)
    return os.path.isfile(os.path.join(path, "HEAD")) and (
        os.path.isdir(os.path.join(path, "objects")) or os.path.isfile(os.path.join(path, "commondir")))


def _common_dir(git_dir: str) -> str:
    try:
        text = read_regular(os.path.join(git_dir, "commondir"), SMALL_MAX, follow=True).decode(
            "utf-8", "replace").strip()
    except OSError:
        return git_dir
    return os.path.normpath(os.path.join(git_dir, text)) if text else git_dir


def _ours(directory: str) -> bool:
    try:
        return os.stat(directory).st_uid == os.geteuid()
    except (OSError, AttributeError):  # no geteuid on Windows, where git checks otherwise
        return True


def _value(raw: str) -> str:
    """A config value: quotes removed, escapes read, a comment outside quotes dropped,
    outer blanks trimmed (inner ones kept)."""
    out: List[str] = []
    quoted = False
    pending = ""  # blanks kept only if more of the value follows
    i = 0
    while i < len(raw):
        c = raw[i]
        i += 1
        if c == "\\" and i < len(raw):
            out.append(pending + {"n": "\n", "t": "\t", "b": "\b"}.get(raw[i], raw[i]))
            pending = ""
            i += 1
        elif c == '"':
            quoted = not quoted
        elif not quoted and c in "#;":
            break
        elif not quoted and c in " \t":
            if out:
                pending += c
        else:
            out.append(pending + c)
            pending = ""
    return "".join(out)
