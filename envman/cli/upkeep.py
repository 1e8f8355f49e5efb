"""Keeping the store healthy: `prune`, `adopt`, `doctor` and `recreate`."""

from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer

from envman.ages import parse_age
from envman.errors import OperationFailed, UsageError
from envman.inputs import given
from envman.store.layout import Store

if TYPE_CHECKING:
    from envman.ops.recreate import Outcome, Recreated
from envman.cli.base import (app, confirm, find_record, handled, interpreter_finder, open_store, print_json,
                             progress_lines, read_config, removed_line, say, tilde)


@app.command()
@handled
def prune(
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Show what would be deleted; delete nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    older_than: Optional[str] = typer.Option(None, "--older-than", metavar="AGE", help="Unused for longer than AGE counts as stale."),
    unreachable: bool = typer.Option(False, "--unreachable", help="Also prune environments whose project's drive seems unmounted."),
    as_json: bool = typer.Option(False, "--json", help="Print what was (or would be) done as JSON."),
) -> None:
    """Delete exactly the environments `ls --stale` lists with the same options."""
    from envman.ops import prune as pruning
    from envman.sizes import human_size

    given(older_than, "--older-than")
    store, config = open_store(), read_config()
    age = parse_age(older_than) if older_than is not None else config.stale_after
    plan = pruning.make_plan(store, age, unreachable)
    doable = [c for c in plan.candidates if c.refusal is None]
    if doable and not (dry_run or yes or sys.stdin.isatty()):  # the one error line, first
        confirm(yes, f"Prune {len(doable)} environment(s), freeing {human_size(plan.size)}?")
    if not as_json:
        _show_prune_plan(plan, dry_run)
    if dry_run or not doable:
        if as_json:
            print_json(pruning.to_json(plan, True, [], []))
        if not dry_run and len(doable) < len(plan.candidates):
            raise _left_in_place(len(plan.candidates))
        return
    confirm(yes, f"Prune {len(doable)} environment(s), freeing {human_size(plan.size)}?")
    removed, refused = pruning.execute(store, plan)
    if as_json:
        print_json(pruning.to_json(plan, False, removed, refused))
    else:
        for removal in removed:
            say(removed_line(removal))
        gone = {r.record.id for r in removed}
        say(f"freed {human_size(sum(c.size for c in plan.candidates if c.state.record.id in gone))}")
    if refused:
        raise _left_in_place(len(refused))


def _left_in_place(count: int) -> OperationFailed:
    return OperationFailed(f"{count} environment(s) could not be proven envman's and were left in place",
                           hint="the lines above say why; `envman doctor` explains more")


def _show_prune_plan(plan: Any, dry_run: bool) -> None:
    from envman.sizes import human_size

    for skipped in plan.skipped:
        say(f"skip    {skipped.record.name}: project unreachable ({tilde(skipped.record.project)}); "
            "use --unreachable to prune it")
    for kept in plan.kept:
        also = f" (also {', '.join(kept.reasons)})" if kept.reasons else ""
        say(f"keep    {kept.record.name}: its project moved to {tilde(str(kept.moved_to))}{also}; "
            f"`envman mv {kept.record.name} --project {shlex.quote(str(kept.moved_to))}` records the move")
    if not plan.candidates:
        say("nothing to prune")
        return
    verb = "would " if dry_run else ""
    for c in plan.candidates:
        what = (f"refuse  {c.state.record.name}: {c.refusal}" if c.refusal else
                f"{verb}delete {c.state.record.name} ({human_size(c.size)}, {', '.join(c.state.reasons)})"
                if c.deletes else
                f"{verb}unregister {c.state.record.name} ({', '.join(c.state.reasons)}; "
                f"{'adopted, files kept' if c.state.record.adopted else 'nothing on disk'})")
        say(what)
    say(f"{'would free' if dry_run else 'to free'}: {human_size(plan.size)}")


@app.command()
@handled
def adopt(
    path: Path = typer.Argument(..., metavar="PATH", help="An existing virtual environment (a project's .venv, say)."),
    name: Optional[str] = typer.Option(None, "--name", metavar="NAME", help="Name to register it under (default: the project's)."),
    project: Optional[str] = typer.Option(None, "--project", "-p", metavar="DIR", help="The project it serves (default: the directory holding it)."),
) -> None:
    """Register an existing virtual environment that envman did not create."""
    from envman.ops.adopt import adopt as adopt_env

    given(project, "--project")
    given(name, "--name")
    record = adopt_env(open_store(), path, name=name, project=Path(project) if project is not None else None)
    say(f"adopted {record.name!r}: {tilde(record.path)} (Python {record.python}) for {tilde(record.project)}")
    say("its files are never deleted by rm or prune unless you pass --delete-adopted to rm")


@app.command()
@handled
def doctor(
    fix: bool = typer.Option(False, "--fix", help="Repair what can be repaired."),
) -> None:
    """Check the registry against the store and repair what can be repaired.

    Exits 0 when nothing is wrong (or everything was repaired), 1 otherwise.
    """
    from envman.ops import doctor as checks

    store = open_store()
    findings = checks.examine(store)
    if fix:
        findings = checks.fix(findings)
    if not findings:
        say(f"all good: {store.root}")
        return
    unresolved = 0
    for f in findings:
        say(f"{f.kind}: {f.subject}: {f.detail}")
        if f.outcome:
            say(f"  fixed: {f.outcome}" if not f.outcome.startswith("failed") else f"  {f.outcome}")
        elif f.fixable:
            say("  `envman doctor --fix` repairs this")
        if f.advice:
            say(f"  {f.advice}")
        unresolved += not f.outcome or f.outcome.startswith("failed")
    if unresolved:
        raise typer.Exit(1)


@app.command()
@handled
def recreate(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Name or project path of the environment to rebuild."),
    python: Optional[str] = typer.Option(None, "--python", metavar="SPEC", help="Rebuild with this Python instead of the recorded version."),
    requirement: Optional[List[Path]] = typer.Option(None, "--requirement", "-r", metavar="FILE", help="Requirements file to install instead of the recorded ones (recorded); repeatable."),
    every: bool = typer.Option(False, "--all", help="Rebuild every environment."),
    broken: bool = typer.Option(False, "--broken", help="With --all: only those whose base Python is gone."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Show only warnings and errors: no steps, no installer's progress, no summary."),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --all: do not ask for confirmation."),
) -> None:
    """Rebuild an environment from scratch: recorded Python version, options and requirements.

    The old environment is kept until the new one is complete, and put back if the
    rebuild fails. Exits 1 if any environment could not be rebuilt.
    """
    from envman.ops import recreate as rebuilding

    given(python, "--python")
    if name is not None and every:
        raise UsageError("give an environment NAME or --all, not both")
    if name is None and not every:
        raise UsageError("name the environment to rebuild, or pass --all",
                         hint="envman recreate NAME, envman recreate --all [--broken]")
    if broken and not every:
        raise UsageError("--broken goes with --all", hint="envman recreate --all --broken")
    if every and requirement:
        raise UsageError("-r applies to one environment; it cannot go with --all")
    from envman.create import uv

    store = open_store()
    options = rebuilding.RecreateOptions(python=python, quiet=quiet, uv=uv.locate(read_config()),
                                         requirements=requirement if requirement else None)
    if name is not None:
        record = find_record(store, name)
        done = rebuilding.recreate(store, record, options, interpreter_finder(store), progress=progress_lines(quiet))
        _recreate_summary(rebuilding.Outcome(record, done=done), quiet)
        return
    _confirm_rebuild(store, broken, yes)
    outcomes = rebuilding.recreate_all(store, options, broken,
                                       functools.partial(_recreate_summary, quiet=quiet),
                                       interpreter_finder(store), progress=progress_lines(quiet))
    failed = [o for o in outcomes if o.error is not None]
    rebuilt = sum(o.done is not None for o in outcomes)
    skipped = sum(o.skipped is not None for o in outcomes)
    what = "broken environments" if broken else "environments"
    if not quiet:
        say(f"{what}: {rebuilt} recreated, {len(failed)} failed, {skipped} skipped" if outcomes
            else f"no {what} to recreate")
    if failed:
        raise OperationFailed(f"{len(failed)} environment(s) could not be recreated: "
                              f"{', '.join(o.record.name for o in failed)}",
                              hint="each was left as it was; the lines above say why")


def _confirm_rebuild(store: Store, broken: bool, yes: bool) -> None:
    """`recreate --all` replaces every environment: ask, as rm and prune do, unless none is due."""
    from envman.ops import recreate as rebuilding

    due = [r.name for r in rebuilding.selected(store, broken) if not r.adopted]
    if due:
        shown = ", ".join(due[:5]) + (f" and {len(due) - 5} more" if len(due) > 5 else "")
        confirm(yes, f"Rebuild {len(due)} environment(s) from scratch ({shown})?",
                 declined="nothing rebuilt")


def _recreated_lines(done: "Recreated") -> None:
    r = done.record
    say(f"recreated {r.name!r} with Python {r.python} ({r.python_executable}, {done.python_source})")
    if r.requirements:
        say(f"  installed: {', '.join(q.path for q in r.requirements)}")
    elif done.reinstalled:
        say(f"  reinstalled from the old environment: {' '.join(done.reinstalled)}")
    if done.not_reinstalled:
        say(f"  not reinstalled (made --without-pip): {' '.join(done.not_reinstalled)}")
    for change in done.seeded:
        if change.put_back:
            say(f"  put back: {change.name} {change.old} (the new venv came with {change.new})")
        elif change.failed is None:
            say(f"  changed: {change.name} {change.old} -> {change.new} (what the new venv came with)")


def _recreate_notices(done: "Recreated") -> None:
    """What a rebuild repaired first or could not keep as it was: said even with --quiet."""
    if done.restored:
        say(f"envman: put back {done.record.name!r} from an interrupted rebuild first")
    for c in done.seeded:
        if c.failed is not None:
            say(f"envman: warning: {done.record.name!r} had {c.name} {c.old}, which could not be "
                f"put back ({c.failed}); it now has {c.new}: `envman run {done.record.name} -- "
                f"python -m pip install {c.name}=={c.old}` where an index has it")


def _recreate_summary(outcome: "Outcome", quiet: bool = False) -> None:
    if outcome.done is not None:
        _recreate_notices(outcome.done)
        if not quiet:
            _recreated_lines(outcome.done)
    elif outcome.error is not None:
        say(f"failed {outcome.record.name!r}: {outcome.error.message}")
        if outcome.error.hint:
            say(f"  hint: {outcome.error.hint}")
    else:
        say(f"skipped {outcome.record.name!r}: {outcome.skipped}")
