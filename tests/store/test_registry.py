"""The registry: read-only commands never write it, corruption is reported and kept,
concurrent writers never lose an update, and interrupted creations leave nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional

import pytest

from conftest import assert_clean_error, child_env, envman_cmd

from envman.store import registry
from envman.models import EnvRecord
from envman.store.layout import Store


def make(cli, project: Path, name: str) -> None:
    result = cli("new", name, "--without-pip", cwd=project)
    assert result.code == 0, result


def test_read_only_commands_leave_the_registry_byte_for_byte(cli, project: Path, home: Path) -> None:
    make(cli, project, "a")
    make(cli, project, "b")
    reg = home / "registry.toml"
    before, stat_before = reg.read_bytes(), reg.stat()
    for args in (["ls"], ["ls", "--json"], ["ls", "--stale"], ["info", "a"], ["info", "--json"],
                 ["path", "b"], ["path", "."], ["ls", "--project", str(project)]):
        assert cli(*args, cwd=project).code == 0, args
    assert reg.read_bytes() == before
    assert reg.stat().st_mtime_ns == stat_before.st_mtime_ns
    assert reg.stat().st_ino == stat_before.st_ino


def test_ls_on_a_fresh_machine_creates_nothing(cli, home: Path) -> None:
    result = cli("ls", "--json")
    assert result.code == 0 and json.loads(result.out) == []
    assert not home.exists()


CORRUPTIONS = {
    "garbage": b"this is [not toml\n",
    "truncated": None,  # filled in from a real registry
    "binary": b"\xff\xfe\x00\x01",
    "wrong-type": b'schema_version = 1\n[envs.a]\nid = 5\n',
    "newer-schema": b"schema_version = 99\n[envs]\n",
    "no-schema": b"[envs]\n",
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_a_broken_registry_is_reported_and_never_overwritten(cli, project: Path, home: Path,
                                                             kind: str) -> None:
    make(cli, project, "a")
    reg = home / "registry.toml"
    data = CORRUPTIONS[kind]
    if data is None:
        data = reg.read_bytes()[: len(reg.read_bytes()) // 2]
    reg.write_bytes(data)
    for args in (["ls"], ["info", "a"], ["new", "b", "--without-pip"], ["rm", "a", "--yes"],
                 ["run", "a", "--", "python", "-c", "pass"]):
        result = cli(*args, cwd=project)
        assert_clean_error(result, 1)
        assert str(reg) in result.err, result
        assert reg.read_bytes() == data, f"{args} changed the registry"
    assert (home / "envs" / "a" / "pyvenv.cfg").exists(), "nothing deleted"
    assert not (home / "envs" / "b").exists(), "nothing created"


def test_hand_edits_are_seen_despite_the_snapshot(cli, project: Path, home: Path) -> None:
    make(cli, project, "a")
    assert json.loads(cli("ls", "--json").out)[0]["python"] != "9.9.9"
    reg = home / "registry.toml"
    text = reg.read_text()
    python = json.loads(cli("info", "a", "--json").out)["python"]
    reg.write_text(text.replace(f'python = "{python}"', 'python = "9.9.9"'))
    assert json.loads(cli("ls", "--json").out)[0]["python"] == "9.9.9"


def test_a_corrupt_snapshot_is_ignored(cli, project: Path, home: Path) -> None:
    make(cli, project, "a")
    snapshot = home / "cache" / registry.SNAPSHOT_NAME
    assert snapshot.exists()
    import zlib

    for count, checksum in ((1, "stale"), (2, "matching")):  # the file's checksum, else the record's check
        header, first, *rest = snapshot.read_text().split("\n")
        name, _, toml_text = first.split("\t", 2)
        assert name == "a"
        damaged = "\n".join([f"{name}\t{json.dumps({'id': 5})}\t{toml_text}", *rest])
        head = json.loads(header)
        if checksum == "matching":
            head["crc32"] = zlib.crc32(damaged.encode())
        snapshot.write_text(f"{json.dumps(head)}\n{damaged}")
        result = cli("ls", "--json")
        assert result.code == 0, result
        assert [e["name"] for e in json.loads(result.out)][0] == "a"
        assert json.loads(result.out)[0]["path"] == str(home / "envs" / "a"), "read from the TOML"
        snapshot.write_text(f"{json.dumps(head)}\n{damaged}")
        made = cli("new", f"b-{checksum}", "--without-pip", cwd=project)
        assert made.code == 0, "a mutation falls back too"
        assert len(json.loads(cli("ls", "--json").out)) == count + 1
        assert registry.load(Store.from_environment()).find("a").path == str(home / "envs" / "a")
        assert registry._parse(Store.from_environment(), (home / "registry.toml").read_bytes()) \
            .find("a").path == str(home / "envs" / "a"), "the TOML written is whole"


def test_a_mutation_parses_no_toml_and_serialises_only_what_changed(tmp_path: Path,
                                                                    monkeypatch) -> None:
    """Under the lock the snapshot stands in for the TOML while its tag matches; the file
    written is exactly what serialising the whole registry gives."""
    import dataclasses
    from datetime import datetime, timezone

    import tomli_w

    from envman.models import EnvRecord, Requirement

    store = Store(root=tmp_path / "root", cache=tmp_path / "root" / "cache")
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    def record(name: str) -> EnvRecord:
        return EnvRecord(name=name, id=name * 2, path=f"/envs/{name}", project=f"/p/{name}\t\"q\"",
                         python="3.12.1", python_executable="/usr/bin/python3", created=moment,
                         last_used=moment, requirements=(Requirement("r.txt", "ab", 3, 4),),
                         prompt="a\nb" if name == "b" else None)

    registry.update(store, lambda r: r.with_record(record("a")).with_record(record("B")))
    monkeypatch.setattr(registry, "_parse", lambda *a: pytest.fail("parsed the TOML"))
    rendered: list = []
    real_dumps = tomli_w.dumps
    monkeypatch.setattr(tomli_w, "dumps", lambda doc, **kw: rendered.append(doc) or real_dumps(doc, **kw))
    registry.update(store, lambda r: r.with_record(record("c")).without("B"))
    assert rendered == [{"envs": {"c": record("c").to_dict()}}], "only the new record serialised"
    monkeypatch.undo()
    loaded = registry.load(store)
    assert [r.name for r in loaded] == ["a", "c"] and loaded.find("A") == record("a")
    text = store.registry_path.read_text()
    assert text == registry.TOML_HEADER + tomli_w.dumps(loaded.to_document())
    for r in (record("a"), record("b")):
        data = dataclasses.asdict(r)
        del data["name"]
        data["requirements"] = [dataclasses.asdict(q) for q in r.requirements]
        if r.prompt is None:
            del data["prompt"]
        del data["recreated"]
        del data["project_identity"]  # optional, like `recreated`: none here
        assert r.to_dict() == data, "to_dict has every field asdict has"


def test_sixteen_concurrent_new_processes_are_all_registered(project: Path, home: Path) -> None:
    procs = [
        subprocess.Popen([*envman_cmd(), "new", f"env{i:02d}", "--without-pip"], cwd=project,
                         env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(16)
    ]
    outcomes = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    assert all(code == 0 for code, _ in outcomes), outcomes
    reg = registry.load(Store.from_environment())
    assert sorted(r.name for r in reg) == [f"env{i:02d}" for i in range(16)]
    assert sorted(p.name for p in (home / "envs").iterdir()) == [f"env{i:02d}" for i in range(16)]


def test_concurrent_new_with_the_same_name_builds_one(project: Path, home: Path) -> None:
    procs = [
        subprocess.Popen([*envman_cmd(), "new", "same", "--without-pip"], cwd=project, env=child_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    codes = sorted(p.wait(timeout=300) for p in procs)
    for p in procs:
        p.communicate()
    assert codes == [0, 2, 2, 2, 2, 2]
    assert [r.name for r in registry.load(Store.from_environment())] == ["same"]
    assert (home / "envs" / "same" / "pyvenv.cfg").exists()


def test_update_under_contention_loses_nothing(home: Path) -> None:
    """Threads hammering `registry.update` through separate lock objects lose no record."""
    store = Store.from_environment()
    template = EnvRecord.from_dict("x", {
        "id": "0", "path": "/p", "project": "/q", "python": "3.12.1", "python_executable": "/x",
        "created": "2026-01-01T00:00:00+00:00", "last_used": "2026-01-01T00:00:00+00:00"}, "test")

    def add(i: int) -> None:
        registry.update(store, lambda cur: cur.with_record(template.with_changes(name=f"t{i}", id=str(i))))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(registry.load(store)) == 40


class HangingIndex:
    """A loopback 'package index' that accepts connections and never answers, so pip hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.clients: list = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.clients:
            conn.close()


@pytest.fixture
def hanging_index():
    index = HangingIndex()
    yield index
    index.close()


def start_hanging_new(project: Path, home: Path, index: HangingIndex, name: str) -> subprocess.Popen:
    req = project / "hang.txt"
    req.write_text(f"--index-url http://127.0.0.1:{index.port}/simple/\ntinypkg\n")
    env = child_env({"PIP_NO_INDEX": "", "PIP_TIMEOUT": "60", "PIP_RETRIES": "0"})
    env.pop("PIP_NO_INDEX")
    proc = subprocess.Popen([*envman_cmd(), "new", name, "-r", str(req)], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not index.clients:  # pip has connected: the venv is built, the install is under way
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "pip never reached the index"
        time.sleep(0.1)
    assert (home / "envs" / name / "pyvenv.cfg").exists()
    return proc


def test_sigterm_during_install_leaves_nothing(project: Path, home: Path, hanging_index) -> None:
    proc = start_hanging_new(project, home, hanging_index, "killed")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    code = proc.returncode
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not (home / "envs" / "killed").exists()
    assert [p.name for p in (home / "envs").iterdir()] == []
    assert len(registry.load(Store.from_environment())) == 0


def test_sigkill_leftover_is_cleared_by_the_next_new(cli, project: Path, home: Path,
                                                     hanging_index) -> None:
    proc = start_hanging_new(project, home, hanging_index, "killed")
    os.killpg(proc.pid, signal.SIGKILL)  # envman and its pip, as when a terminal is closed
    proc.communicate(timeout=60)
    assert (home / "envs" / "killed").exists(), "SIGKILL cannot clean up"
    assert len(registry.load(Store.from_environment())) == 0, "but nothing half-done is registered"
    result = cli("new", "killed", "--without-pip", cwd=project)
    assert result.code == 0, result
    assert [r.name for r in registry.load(Store.from_environment())] == ["killed"]


def test_a_foreign_directory_in_the_store_is_never_cleared(cli, project: Path, home: Path) -> None:
    squatter = home / "envs" / "taken"
    squatter.mkdir(parents=True)
    (squatter / "mine.txt").write_text("keep")
    result = cli("new", "TAKEN", "--without-pip", cwd=project)
    assert_clean_error(result, 2)
    assert (squatter / "mine.txt").read_text() == "keep"


def test_ls_starts_no_python_and_imports_nothing_heavy(cli, project: Path, tmp_path: Path) -> None:
    make(cli, project, "a")
    trap_dir = tmp_path / "trap"
    trap_dir.mkdir()
    tripped = tmp_path / "tripped"
    for exe in ("python3", "python", "python3.12"):
        trap = trap_dir / exe
        trap.write_text(f"#!/bin/sh\ntouch {tripped}\nexit 1\n")
        trap.chmod(0o755)
    env = {"PATH": f"{trap_dir}{os.pathsep}{os.environ['PATH']}", "PYENV_ROOT": str(tmp_path / "trap-pyenv")}
    result = cli("ls", env=env)
    assert result.code == 0, result
    assert not tripped.exists()
    probe = subprocess.run(
        [*envman_cmd()[:1], "-X", "importtime", "-m", "envman", "ls"], env=child_env(),
        capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    imported = {line.split("|")[-1].strip() for line in probe.stderr.splitlines() if "|" in line}
    # (typer itself pulls in asyncio and subprocess; these are the ones that are ours to avoid)
    for heavy in ("packaging", "filelock", "tomli_w", "envman.python.interpreters", "envman.ops.new",
                  "envman.processes"):
        assert heavy not in imported, f"`ls` imported {heavy}"


def test_the_projects_index_reused_across_saves_is_the_one_made_afresh(tmp_path: Path) -> None:
    """Saves copy the index entries of unchanged records from the last index: after adds,
    a removal, a change and a hand edit, it still says what a fresh one would."""
    from datetime import datetime, timedelta, timezone

    from envman.models import EnvRecord

    store = Store(root=tmp_path / "root", cache=tmp_path / "root" / "cache")
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    def record(name: str, used: datetime = moment, prompt: Optional[str] = None) -> EnvRecord:
        return EnvRecord(name=name, id=name * 2, path=f"/envs/{name}", project=f"/p/{name}\n x",
                         python="3.12.1", python_executable="/usr/bin/python3", created=moment,
                         last_used=used, prompt=prompt)

    index = store.cache / registry.PROJECTS_INDEX_NAME

    def fresh() -> bytes:
        registry._seen.clear()
        current = registry._parse(store, store.registry_path.read_bytes())
        registry._write_projects_index(store, registry._identity(store), current, current.names())
        return index.read_bytes()

    registry.update(store, lambda r: r.with_record(record("a")).with_record(record("b")))
    for change in (lambda r: r.with_record(record("c", prompt="P")),
                   lambda r: r.without("a"),
                   lambda r: r.with_record(record("b", moment + timedelta(days=3), prompt="bee")),
                   lambda r: r.with_record(record("A0"))):
        registry.update(store, change)
        written = index.read_bytes()
        assert written == fresh(), written
    assert b"/p/b\n x\0b\0/envs/b\0bee\0bb\0" in index.read_bytes()
    # A hand edit changes the file's identity: nothing of the old index is reused.
    store.registry_path.write_text(store.registry_path.read_text().replace("/envs/c", "/elsewhere/c"))
    registry.update(store, lambda r: r.with_record(record("d")))
    assert b"/elsewhere/c" in index.read_bytes() and index.read_bytes() == fresh()
