"""Stale environments built for real, `prune` deleting exactly them, the traps it must
survive, `adopt`, and `doctor --fix` rebuilding a lost registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import assert_clean_error


def new(cli, project: Path, name: str) -> Dict:
    project.mkdir(parents=True, exist_ok=True)
    result = cli("new", name, "--without-pip", "--json", cwd=project)
    assert result.code == 0, result
    return json.loads(result.out)


def listing(cli, *args: str) -> Dict[str, List[str]]:
    result = cli("ls", "--json", *args)
    assert result.code == 0, result
    return {e["name"]: e["reasons"] for e in json.loads(result.out)}


def tree(path: Path) -> List[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def break_base_python(env_dir: Path, tmp_path: Path) -> None:
    """Point the environment's base interpreter at a path that does not exist."""
    gone = tmp_path / "uninstalled-python" / "bin"
    cfg = env_dir / "pyvenv.cfg"
    lines = []
    for line in cfg.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "home":
            line = f"home = {gone}"
        elif key == "executable":
            line = f"executable = {gone / 'python3'}"
        lines.append(line)
    cfg.write_text("\n".join(lines) + "\n")
    for link in (env_dir / "bin").iterdir():
        if link.is_symlink() and link.name.startswith("python"):
            link.unlink()
            link.symlink_to(gone / "python3")


@pytest.fixture
def zoo(cli, tmp_path: Path, home: Path) -> Dict[str, Dict]:
    """One environment of each kind: healthy, and stale for every reason."""
    src = tmp_path / "src"
    envs = {
        "healthy": new(cli, src / "healthy", "healthy"),
        "orphan": new(cli, src / "orphan", "orphan"),
        "gone": new(cli, src / "gone", "gone"),
        "broken": new(cli, src / "broken", "broken"),
        "unmounted": new(cli, tmp_path / "mnt" / "usb" / "proj", "unmounted"),
    }
    shutil.rmtree(src / "orphan")  # project deleted
    shutil.rmtree(home / "envs" / "gone")  # environment directory deleted
    break_base_python(home / "envs" / "broken", tmp_path)
    shutil.rmtree(tmp_path / "mnt" / "usb")  # the drive is unmounted: project and parent gone
    return envs


def test_each_stale_reason_is_found(cli, zoo) -> None:
    assert listing(cli) == {
        "healthy": [], "orphan": ["project-missing"], "gone": ["env-missing"],
        "broken": ["python-missing"], "unmounted": ["project-unreachable"],
    }
    assert set(listing(cli, "--stale")) == {"orphan", "gone", "broken", "unmounted"}
    table = cli("ls", "--stale")
    assert "healthy" not in table.out and "recreate" in table.err and "prune" in table.err


def test_unused_follows_older_than_and_config(cli, project: Path, home: Path, tmp_path: Path) -> None:
    new(cli, project, "idle")
    reg = home / "registry.toml"
    text = reg.read_text()
    created = json.loads(cli("info", "idle", "--json").out)["created"].replace("T", " ")
    reg.write_text(text.replace(f"last_used = {created}", "last_used = 2026-01-01 00:00:00+00:00"))
    assert listing(cli)["idle"] == ["unused"], "older than the default 90 days"
    assert listing(cli, "--older-than", "520w")["idle"] == []
    (tmp_path / "config.toml").write_text('stale_after = "1000w"\n')
    assert listing(cli)["idle"] == []
    assert cli("run", "idle", "--", "python", "-c", "pass").code == 0
    assert listing(cli, "--older-than", "1h")["idle"] == [], "a use makes it fresh again"


def test_prune_dry_run_and_no_terminal_delete_nothing(cli, zoo, home: Path) -> None:
    before = (tree(home / "envs"), (home / "registry.toml").read_bytes())
    dry = cli("prune", "--dry-run")
    assert dry.code == 0, dry
    assert "would delete orphan" in dry.err and "would free" in dry.err
    assert "skip" in dry.err and "unmounted" in dry.err
    as_json = json.loads(cli("prune", "--dry-run", "--json").out)
    assert as_json["dry_run"] is True
    assert {e["name"]: e["action"] for e in as_json["environments"]} == {
        "orphan": "delete", "broken": "delete", "gone": "unregister"}
    assert [e["name"] for e in as_json["skipped"]] == ["unmounted"]
    assert_clean_error(cli("prune"), 2, after_tool_output=True)  # the plan, then the refusal
    assert (tree(home / "envs"), (home / "registry.toml").read_bytes()) == before


def test_prune_deletes_exactly_the_stale_set_and_is_harmless_twice(cli, zoo, home: Path) -> None:
    stale = set(listing(cli, "--stale")) - {"unmounted"}
    result = cli("prune", "--yes", "--json")
    assert result.code == 0, result
    report = json.loads(result.out)
    assert {e["name"] for e in report["environments"] if e["done"]} == stale
    assert report["freed_bytes"] > 0
    assert set(listing(cli)) == {"healthy", "unmounted"}
    assert sorted(p.name for p in (home / "envs").iterdir()) == ["healthy", "unmounted"]
    again = cli("prune", "--yes")
    assert again.code == 0 and "nothing to prune" in again.err
    assert cli("prune", "--yes", "--unreachable").code == 0
    assert set(listing(cli)) == {"healthy"}
    assert (home / "envs" / "healthy" / "pyvenv.cfg").exists()


def test_prune_survives_a_symlink_and_a_plain_directory(cli, tmp_path: Path, home: Path) -> None:
    src = tmp_path / "src"
    for name in ("linked", "plain", "fine"):
        new(cli, src / name, name)
        shutil.rmtree(src / name)  # every one of them is stale: project-missing
    precious = tmp_path / "someones-files"
    precious.mkdir()
    (precious / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (precious / "notes.txt").write_text("keep me")
    shutil.copy(home / "envs" / "linked" / ".envman-marker.toml", precious)  # even a copied marker
    shutil.rmtree(home / "envs" / "linked")
    (home / "envs" / "linked").symlink_to(precious)
    shutil.rmtree(home / "envs" / "plain")
    (home / "envs" / "plain").mkdir()
    (home / "envs" / "plain" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (home / "envs" / "plain" / "data.db").write_text("someone's data")

    result = cli("prune", "--yes")
    assert_clean_error(result, 1, after_tool_output=True)
    assert "refusing to delete" in result.err
    assert tree(precious) == [".envman-marker.toml", "notes.txt", "pyvenv.cfg"]
    assert (precious / "notes.txt").read_text() == "keep me"
    assert (home / "envs" / "plain" / "data.db").read_text() == "someone's data"
    assert (home / "envs" / "linked").is_symlink()
    assert set(listing(cli)) == {"linked", "plain"}, "the provable one went, the others stayed"


def test_hostile_registry_records_never_delete_anything(cli, tmp_path: Path, home: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (victim / "important").write_text("x")
    home.mkdir(parents=True)
    (home / "envs").mkdir()
    (home / "envs" / "bystander.txt").write_text("y")
    # Names a hand edit could make are refused with the whole registry (issue 16); valid
    # names with hostile paths get as far as deletion, which refuses each of them.
    hostile = {"empty": str(home / "envs"), "dot": str(home / "envs" / "."), "up": str(home),
               "abs": str(victim), "dots": str(home / "envs" / ".." / "..")}

    def registry_of(records: Dict[str, str]) -> str:
        body = ["schema_version = 1"]
        for i, (name, path) in enumerate(records.items()):
            body += [f'[envs."{name}"]', f'id = "{i}"', f'path = {json.dumps(path)}',
                     f'project = "{tmp_path / "no-such-project"}"', 'python = "3.12.1"',
                     'python_executable = "/nope"', "created = 2020-01-01T00:00:00Z",
                     "last_used = 2020-01-01T00:00:00Z"]
        return "\n".join(body) + "\n"

    (home / "registry.toml").write_text(registry_of(hostile))
    before = tree(tmp_path)
    result = cli("prune", "--yes")
    assert_clean_error(result, 1, after_tool_output=True)
    assert result.err.count("refuse ") == len(hostile), result
    assert "not the store's directory" in result.err
    after = tree(tmp_path)
    gone = set(before) - set(after)
    assert all(p.startswith("envman-home/registry.toml") or p.startswith("envman-home/cache")
               or p.startswith("envman-home/registry") for p in gone), gone
    assert (victim / "important").exists() and (home / "envs" / "bystander.txt").exists()
    for name in hostile:
        cli("rm", "--yes", "--", name)
        assert (victim / "important").exists() and (home / "envs" / "bystander.txt").exists()
    for broken in ({"": str(home / "envs")}, {".": str(home / "envs")}, {"..": str(home)},
                   {"rel": "victim"}):
        (home / "registry.toml").write_text(registry_of(broken))
        before = tree(tmp_path)
        for args in (["prune", "--yes"], ["rm", "--yes", "--", next(iter(broken))]):
            result = cli(*args)
            assert_clean_error(result, 1)
            assert "not a valid environment name" in result.err or "not an absolute path" in result.err
        assert tree(tmp_path) == before


def test_adopt_registers_and_never_deletes_files(cli, tmp_path: Path) -> None:
    project = tmp_path / "webapp"
    project.mkdir()
    venv = project / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv / "keep.txt").write_text("mine")
    result = cli("adopt", str(venv))
    assert result.code == 0, result
    info = json.loads(cli("info", "webapp", "--json").out)
    assert info["adopted"] is True and info["project"] == str(project.resolve())
    assert info["path"] == str(venv.resolve())
    assert info["python"] == "%d.%d.%d" % sys.version_info[:3]
    ran = cli("run", "webapp", "--", "python", "-c", "import sys; print(sys.prefix)")
    assert ran.out.strip() == str(venv.resolve())
    assert_clean_error(cli("adopt", str(venv), "--name", "again"), 2)  # registered already
    assert cli("rm", "webapp", "--yes").code == 0
    assert (venv / "keep.txt").read_text() == "mine", "rm only unregisters an adopted env"
    # stale and pruned: still only unregistered
    assert cli("adopt", str(venv), "--name", "w2", "--project", str(tmp_path / "elsewhere")).code == 2
    (tmp_path / "elsewhere").mkdir()
    assert cli("adopt", str(venv), "--name", "w2", "--project", str(tmp_path / "elsewhere")).code == 0
    (tmp_path / "elsewhere").rmdir()
    pruned = cli("prune", "--yes")
    assert pruned.code == 0 and "unregister w2" in pruned.err, pruned
    assert (venv / "keep.txt").exists()
    # and deleted only when asked explicitly
    assert cli("adopt", str(venv), "--name", "w3").code == 0
    assert cli("rm", "w3", "--yes", "--delete-adopted").code == 0
    assert not venv.exists() and project.is_dir()


def test_adopt_refuses_bad_input(cli, tmp_path: Path, home: Path, project: Path) -> None:
    assert_clean_error(cli("adopt", str(tmp_path / "missing")), 2)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert_clean_error(cli("adopt", str(plain)), 2)
    new(cli, project, "own")
    assert_clean_error(cli("adopt", str(home / "envs" / "own")), 2)
    venv = tmp_path / "v" / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    assert_clean_error(cli("adopt", str(venv), "--name", "bad name"), 2)
    assert_clean_error(cli("adopt", str(venv), "--name", "OWN"), 2)
    assert set(listing(cli)) == {"own"}


def test_delete_adopted_refuses_the_project_itself(cli, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(project)], check=True)
    (project / "src.py").write_text("code")
    assert cli("adopt", str(project), "--project", str(project), "--name", "self").code == 0
    assert_clean_error(cli("rm", "self", "--yes", "--delete-adopted"), 1)
    assert (project / "src.py").exists()


@pytest.mark.parametrize("damage", ["deleted", "truncated", "garbage"])
def test_doctor_fix_rebuilds_a_lost_registry(cli, tmp_path: Path, home: Path, damage: str) -> None:
    for name in ("one", "two", "three"):
        new(cli, tmp_path / "src" / name, name)
    before = json.loads(cli("ls", "--json").out)
    reg = home / "registry.toml"
    if damage == "deleted":
        reg.unlink()
    elif damage == "truncated":
        reg.write_bytes(reg.read_bytes()[:40])
    else:
        reg.write_bytes(b"\x00\xffnot toml at all [[[")
    broken = reg.read_bytes() if reg.exists() else None
    report = cli("doctor")
    assert report.code == 1, report
    fixed = cli("doctor", "--fix")
    assert fixed.code == 0, fixed
    assert json.loads(cli("ls", "--json").out) == before
    if broken is not None:
        kept = list(home.glob("registry.toml.broken-*"))
        assert len(kept) == 1 and kept[0].read_bytes() == broken
    assert cli("doctor").code == 0


def test_doctor_cleans_leftovers_and_leaves_foreign_things(cli, project: Path, home: Path) -> None:
    new(cli, project, "a")
    new(cli, project, "b")
    envs = home / "envs"
    # an interrupted deletion: renamed aside, marker inside
    os.rename(envs / "b", envs / ".trash-b-1234")
    cli("rm", "b", "--yes")
    # an abandoned creation: marker says 'creating', its process is long gone
    os.makedirs(envs / "half")
    marker = (envs / "a" / ".envman-marker.toml").read_text()
    (envs / "half" / ".envman-marker.toml").write_text(
        marker.replace('state = "ready"', 'state = "creating"').replace('name = "a"', 'name = "half"')
        .replace("pid = ", "pid = 999999999 #"))
    # someone's own directory in the store
    (envs / "theirs").mkdir()
    (envs / "theirs" / "file").write_text("t")
    report = cli("doctor")
    assert report.code == 1
    for kind in ("leftover", "abandoned", "foreign-directory"):
        assert kind in report.err, report
    fixed = cli("doctor", "--fix")
    assert fixed.code == 1, fixed  # the foreign directory cannot be fixed, only reported
    assert sorted(p.name for p in envs.iterdir()) == ["a", "theirs"]
    assert (envs / "theirs" / "file").read_text() == "t"
    shutil.rmtree(envs / "theirs")
    assert cli("doctor").code == 0


@pytest.mark.parametrize("answer, kept", [("n", True), ("y", False)])
def test_rm_and_prune_ask_on_a_terminal(cli, project: Path, home: Path, answer: str,
                                        kept: bool) -> None:
    from conftest import on_terminal

    new(cli, project, "asked")
    code, screen = on_terminal(["rm", "asked"], answer)
    assert "Delete asked" in screen and "[y/N]" in screen, screen
    assert (code == 1) if kept else (code == 0), screen
    assert (home / "envs" / "asked").exists() is kept
    other = project.parent / "other"
    new(cli, other, "pruned")
    shutil.rmtree(other)
    code, screen = on_terminal(["prune"], answer)
    assert "Prune 1 environment(s)" in screen, screen
    assert (home / "envs" / "pruned").exists() is kept


def test_a_store_reached_through_a_symlink_is_never_deleted_from(cli, project: Path, home: Path,
                                                                 tmp_path: Path) -> None:
    new(cli, project, "x")
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(home / "envs"), elsewhere)  # the whole envs dir, markers and all
    (home / "envs").symlink_to(elsewhere)
    assert_clean_error(cli("rm", "x", "--yes"), 1)
    assert (elsewhere / "x" / "pyvenv.cfg").exists()


def test_base_python_check_for_linked_and_copied_interpreters(tmp_path: Path) -> None:
    """A linked `bin/python` answers by itself; a copied one (`--copies`) is judged by the
    base interpreter `pyvenv.cfg` names."""
    from envman.python.base import base_python_present

    base = tmp_path / "base" / "bin"
    base.mkdir(parents=True)
    (base / "python3").write_text("")
    for kind in ("linked", "copied"):
        env = tmp_path / kind
        (env / "bin").mkdir(parents=True)
        (env / "pyvenv.cfg").write_text(f"home = {base}\nexecutable = {base / 'python3'}\n")
        if kind == "linked":
            (env / "bin" / "python").symlink_to(base / "python3")
        else:
            (env / "bin" / "python").write_text("")
    assert base_python_present(str(tmp_path / "linked")) and base_python_present(str(tmp_path / "copied"))
    (tmp_path / "linked" / "pyvenv.cfg").unlink()
    assert not base_python_present(str(tmp_path / "linked")), "no pyvenv.cfg: not a working venv"
    shutil.rmtree(tmp_path / "base")
    assert not base_python_present(str(tmp_path / "copied"))


def test_doctor_fix_after_a_lost_registry_keeps_the_time_of_use(cli, project: Path, home: Path) -> None:
    """`doctor --fix` registers environments again from their markers; their time-of-use
    stamps stay, so `unused` ages (and prune) go on from the last real use."""
    made = new(cli, project, "web")
    assert cli("run", "web", "--", "python", "-c", "pass").code == 0
    [stamp] = list((home / "used").iterdir())
    later = int(os.stat(stamp).st_mtime) + 3600  # a use that no rebuild from a marker could know
    os.utime(stamp, (later, later))
    before = json.loads(cli("info", "web", "--json").out)["last_used"]
    assert before != made["last_used"]
    (home / "registry.toml").unlink()
    report = cli("doctor")
    assert "unregistered" in report.err and "stale-stamps" not in report.err, report
    fixed = cli("doctor", "--fix")
    assert fixed.code == 0 and "registered again" in fixed.err, fixed
    assert stamp.exists(), "the stamp of an environment registered again is kept"
    assert json.loads(cli("info", "web", "--json").out)["last_used"] == before
    assert cli("doctor").code == 0 and stamp.exists()
