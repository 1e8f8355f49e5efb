"""The lifecycle table, walked in-process: every kind of store path, every operation.

Each case builds one kind of directory at an environment's path for real (a real venv
copied from a template, a real marker, a real dead or live process behind it), checks
that `classify` names it, runs the operation through the same core functions the CLI
calls, and checks that the outcome is what `lifecycle.TABLE` says. A directory the
table protects is compared file by file before and after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import pytest

from conftest import a_python
from envman.store import building, lifecycle, markers, registry
from envman.ops import doctor, remove
from envman.errors import EnvmanError, UsageError
from envman.store.lifecycle import Action, Kind, Op
from envman.store.markers import MarkerState
from envman.models import EnvRecord
from envman.store.layout import Store


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real venv (no pip: fast) that every case copies."""
    where = tmp_path_factory.mktemp("template") / "venv"
    subprocess.run([str(a_python()), "-m", "venv", "--without-pip", str(where)], check=True)
    return where


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def make_record(store: Store, name: str = "web") -> EnvRecord:
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return EnvRecord(name=name, id=uuid.uuid4().hex, path=str(store.env_path(name)),
                     project=str(store.root), python="3.12.1", python_executable="/nope",
                     created=moment, last_used=moment)


def put_marker(directory: Path, record: EnvRecord, state: MarkerState, alive: bool,
               replaces: Optional[str] = None) -> None:
    marker = markers.for_this_process(record.id, record.name, state, record.to_dict(), replaces)
    if not alive:
        marker = markers.Marker(**{**marker.__dict__, "pid": dead_pid(), "started": None})
    markers.write(directory, marker)


def snapshot(path: Path) -> Dict[str, Tuple[str, int]]:
    if not os.path.lexists(path):
        return {}
    return {str(p.relative_to(path)): ("link" if p.is_symlink() else "dir" if p.is_dir() else "file",
                                       0 if p.is_dir() or p.is_symlink() else p.stat().st_size)
            for p in sorted(path.rglob("*"))} | {".": ("dir" if path.is_dir() else "other", 0)}


Maker = Callable[[Path, Path, EnvRecord], None]


def _venv(template: Path, path: Path) -> None:
    shutil.copytree(template, path, symlinks=True)


def absent(template: Path, path: Path, record: EnvRecord) -> None:
    pass


def empty(template: Path, path: Path, record: EnvRecord) -> None:
    path.mkdir()


def foreign(template: Path, path: Path, record: EnvRecord) -> None:
    _venv(template, path)  # a venv, even: without envman's marker it is not envman's
    (path / "notes.txt").write_text("someone's")


def ready(template: Path, path: Path, record: EnvRecord) -> None:
    _venv(template, path)
    put_marker(path, record, MarkerState.READY, alive=False)


def other(template: Path, path: Path, record: EnvRecord) -> None:
    _venv(template, path)
    put_marker(path, record.with_changes(id=uuid.uuid4().hex), MarkerState.READY, alive=False)


def building_now(template: Path, path: Path, record: EnvRecord) -> None:
    _venv(template, path)
    put_marker(path, record.with_changes(id=uuid.uuid4().hex), MarkerState.CREATING, alive=True,
               replaces=record.id)


def abandoned(template: Path, path: Path, record: EnvRecord) -> None:
    _venv(template, path)
    put_marker(path, record.with_changes(id=uuid.uuid4().hex), MarkerState.CREATING, alive=False,
               replaces=record.id)


def damaged(template: Path, path: Path, record: EnvRecord) -> None:
    path.mkdir()
    put_marker(path, record, MarkerState.READY, alive=False)
    (path / "lib").mkdir()
    (path / "lib" / "site.py").write_text("not a whole environment")


MAKERS: Dict[Kind, Maker] = {
    Kind.ABSENT: absent, Kind.EMPTY: empty, Kind.FOREIGN: foreign, Kind.READY: ready,
    Kind.OTHER: other, Kind.BUILDING: building_now, Kind.ABANDONED: abandoned, Kind.DAMAGED: damaged,
}
CASES = [(kind, op) for (kind, op) in lifecycle.TABLE if kind in MAKERS]


def test_the_table_covers_every_kind_of_environment_path_for_every_operation() -> None:
    assert {(k, o) for k in MAKERS for o in Op} <= set(lifecycle.TABLE)
    assert set(MAKERS) | {Kind.BACKUP, Kind.TRASH} == set(Kind)


@pytest.mark.parametrize("kind,op", CASES, ids=[f"{k.value}-{o.value}" for k, o in CASES])
def test_each_operation_does_what_the_table_says(kind: Kind, op: Op, template: Path,
                                                  home: Path) -> None:
    store = Store(root=home, cache=home / "cache")
    store.envs_dir.mkdir(parents=True)
    record = make_record(store)
    registry.update(store, lambda current: current.with_record(record))
    path = store.env_path(record.name)
    MAKERS[kind](template, path, record)
    assert lifecycle.classify(store, path, record).kind is kind
    action = lifecycle.TABLE[(kind, op)]
    before = snapshot(path)

    if op is Op.NEW:
        # A new environment of that name: the registry must not hold it for the path to count.
        registry.update(store, lambda current: current.without(record.name))
        fresh = make_record(store)
        if action in (Action.REFUSE, Action.WAIT):
            with pytest.raises(UsageError):
                building.reserve(store, fresh)
            assert snapshot(path) == before
        else:
            reservation = building.reserve(store, fresh)
            found = markers.read(path)
            assert found is not None and found.id == fresh.id and markers.mine(found)
            building.undo(store, reservation)
            assert not os.path.lexists(path)
    elif op is Op.REMOVE:
        if action in (Action.REFUSE, Action.WAIT):
            with pytest.raises(lifecycle.Busy if action is Action.WAIT else lifecycle.NotOurs):
                remove.remove(store, [record])
            assert snapshot(path) == before
            assert registry.load(store).find(record.name) is not None
        else:
            assert action in (Action.DELETE, Action.CLEAR, Action.FORGET)
            remove.remove(store, [record])
            assert not os.path.lexists(path)
            assert registry.load(store).find(record.name) is None
    elif op is Op.REBUILD:
        new = record.with_changes(id=uuid.uuid4().hex)
        if action in (Action.REFUSE, Action.WAIT):
            with pytest.raises(lifecycle.Busy if action is Action.WAIT else lifecycle.NotOurs):
                building.reserve(store, new, replaces=record)
            assert snapshot(path) == before
        else:
            reservation = building.reserve(store, new, replaces=record)
            assert (reservation.backup is not None) == (action is Action.MOVE_ASIDE)
            if reservation.backup is not None:
                assert snapshot(reservation.backup) == before
            building.undo(store, reservation)
            # Undone: the old environment is back exactly, or (cleared) nothing is there.
            assert snapshot(path) == (before if action is Action.MOVE_ASIDE else {})
    else:
        findings = doctor.fix(doctor.examine(store))
        if action is Action.PROCEED:
            assert findings == []
        elif action is Action.CLEAR:
            assert [f.outcome for f in findings if f.outcome], findings
            assert not os.path.lexists(path)
        elif action is Action.REGISTER:  # the environment's own marker wins
            assert registry.load(store).find(record.name).id == markers.read(path).id  # type: ignore[union-attr]
        else:
            assert action in (Action.REPORT, Action.WAIT)
            assert findings and not any(f.fixable for f in findings), findings
            assert snapshot(path) == before
    assert not [n for n in os.listdir(store.envs_dir) if n.startswith(lifecycle.NEW_PREFIX)]


def test_a_backup_is_put_back_and_a_deletion_finished_by_doctor(template: Path, home: Path) -> None:
    store = Store(root=home, cache=home / "cache")
    store.envs_dir.mkdir(parents=True)
    record = make_record(store)
    registry.update(store, lambda current: current.with_record(record))
    backup = store.envs_dir / f"{lifecycle.BACKUP_PREFIX}web-0123abcd"
    ready(template, backup, record)
    trash = store.envs_dir / f"{lifecycle.TRASH_PREFIX}gone-89abcdef"
    ready(template, trash, make_record(store, "gone"))
    assert lifecycle.classify(store, backup).kind is Kind.BACKUP
    assert lifecycle.classify(store, trash).kind is Kind.TRASH
    before = snapshot(backup)
    findings = doctor.fix(doctor.examine(store))
    assert sorted(f.kind for f in findings) == ["interrupted-recreate", "leftover"], findings
    assert sorted(os.listdir(store.envs_dir)) == ["web"]
    assert snapshot(store.env_path("web")) == before
    assert doctor.examine(store) == []


def test_a_marker_envman_cannot_have_written_is_not_a_marker(tmp_path: Path) -> None:
    good = markers.for_this_process("abc", "web", MarkerState.READY, {})
    markers.write(tmp_path, good)
    assert markers.read(tmp_path) == good
    text = (tmp_path / markers.MARKER_NAME).read_text()
    for bad in (text.replace("marker_version = 1", "marker_version = 2"),  # from a newer envman
                text.replace('state = "ready"', 'state = "finished"'),
                text.replace('id = "abc"', 'id = "a\\u0000b"'),
                text.replace("pid = ", "pid = 'x' #")):
        (tmp_path / markers.MARKER_NAME).write_text(bad)
        assert markers.read(tmp_path) is None, bad
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    markers.write(elsewhere, good)
    (tmp_path / markers.MARKER_NAME).unlink()
    (tmp_path / markers.MARKER_NAME).symlink_to(elsewhere / markers.MARKER_NAME)
    assert markers.read(tmp_path) is None, "a link is never a marker"


def test_a_reused_pid_does_not_keep_a_killed_build_alive() -> None:
    marker = markers.for_this_process("abc", "web", MarkerState.CREATING, {})
    assert not marker.creator_gone()
    assert markers.Marker(**{**marker.__dict__, "started": (marker.started or 0) + 1}).creator_gone()
    assert markers.Marker(**{**marker.__dict__, "pid": dead_pid()}).creator_gone()


def test_a_store_path_that_is_not_envmans_is_never_deleted(template: Path, home: Path,
                                                          tmp_path: Path) -> None:
    """set_aside refuses every kind but an environment, a killed build, a backup or trash."""
    store = Store(root=home, cache=home / "cache")
    store.envs_dir.mkdir(parents=True)
    record = make_record(store)
    for kind in (Kind.FOREIGN, Kind.OTHER, Kind.BUILDING, Kind.DAMAGED):
        path = store.env_path(record.name)
        MAKERS[kind](template, path, record)
        before = snapshot(path)
        with pytest.raises(EnvmanError):
            lifecycle.set_aside(lifecycle.classify(store, path, record))
        assert snapshot(path) == before
        shutil.rmtree(path)
