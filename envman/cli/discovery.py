"""`scan`: every environment on the machine, whoever made it; adopting or deleting them."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, Sequence

import typer

from envman.ages import ago, now, parse_age
from envman.cli.base import app, confirm, handled, open_store, print_json, printable, say, shown, table
from envman.errors import OperationFailed, UsageError
from envman.inputs import given
from envman.store.layout import Store

if TYPE_CHECKING:
    from envman.discovery.scan import Scan


@app.command()
@handled
def scan(
    dirs: Optional[List[str]] = typer.Argument(None, metavar="DIR", help="Where to look (default: the home directory and the tools' stores)."),
    tools: Optional[List[str]] = typer.Option(None, "--type", "-t", metavar="TOOL", help="Only environments made by TOOL (repeatable)."),
    older_than: Optional[str] = typer.Option(None, "--older-than", metavar="AGE", help="Only those unchanged (and unused) for longer than AGE."),
    min_size: Optional[str] = typer.Option(None, "--min-size", metavar="SIZE", help="Only those of at least SIZE (500MB, 1.5GB, 200KiB)."),
    sort: str = typer.Option("size", "--sort", metavar="size|age|name", help="Largest first, oldest first, or by path."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
    adopt: bool = typer.Option(False, "--adopt", help="Register those found that envman does not know yet."),
    delete: bool = typer.Option(False, "--delete", help="Delete those listed (after the filters)."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="With --delete: show what would be deleted; delete nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --delete: do not ask for confirmation."),
) -> None:
    """Find every Python environment under the DIRs, whoever made it.

    Lists each one's tool, project, Python, size (a hard-linked file counted once) and
    when it last changed. Follows no link, stays on each DIR's file system, skips .git,
    node_modules and __pycache__.
    """
    from envman import sizes
    from envman.discovery import scan as scanning
    from envman.ops.found import judged

    given(older_than, "--older-than")
    given(min_size, "--min-size")
    if (dry_run or yes) and not delete:
        raise UsageError("--dry-run and --yes go with --delete")
    if adopt and delete:
        raise UsageError("--adopt and --delete do not go together", hint="adopt, or delete: one at a time")
    chosen = scanning.check_tools(tools or [])
    age = parse_age(older_than) if older_than is not None else None
    smallest = sizes.parse_size(min_size) if min_size is not None else None
    scanning.check_sort(sort)
    store = open_store()
    # What is chosen by its age or size, or acted on, is chosen on what is true now: the
    # sizes cache cannot see a file rewritten in place. Only a plain listing uses it.
    fresh = delete or adopt or age is not None or smallest is not None
    result = found_under(store, dirs or [], age, fresh=fresh)
    listed = scanning.ordered(scanning.select(judged(store, result.found), chosen, age is not None, smallest), sort)
    if adopt:
        _adopt(store, listed, as_json)
    elif delete:
        _delete(store, listed, dry_run, yes, as_json)
    elif as_json:
        print_json(scanning.as_json(listed))
    else:
        _print_table(listed)


def found_under(store: Store, dirs: Sequence[str], unused_after: Optional[timedelta] = None,
                measure: bool = True, fresh: bool = False) -> "Scan":
    """`scan` of the DIRs given (default: the home directory and the stores), its progress
    on a terminal's stderr, and the one line saying how many directories were unreadable."""
    from envman.discovery import roots
    from envman.discovery.scan import scan as scanning

    for d in dirs:
        if not Path(d).expanduser().is_dir():
            raise UsageError(f"no such directory: {d}")
    where = ([Path(d).expanduser() for d in dirs] if dirs
             else roots.default_roots(envman_envs=str(store.envs_dir)))
    progress = _progress if sys.stderr.isatty() else None
    try:
        result = scanning(store, where, progress, unused_after, measure, fresh)
    finally:
        if progress is not None:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
    if result.unreadable:
        say(f"envman: {result.unreadable} director{'y' if result.unreadable == 1 else 'ies'} could not be read")
    return result


def _progress(message: str) -> None:
    sys.stderr.write(f"\rscanning: {message}\033[K")
    sys.stderr.flush()


def _print_table(found: Sequence[Any]) -> None:
    from envman.sizes import human_size

    if not found:
        say("no environments found")
        return
    reference = now()
    rows = [["SIZE", "TOOL", "PYTHON", "CHANGED", "STATUS", "NAME", "PATH", "PROJECT"]]
    for f in found:
        rows.append([human_size(f.size_bytes), f.tool, f.python or "?", ago(f.modified, reference),
                     "ok" if not f.reasons else "stale: " + ",".join(f.reasons),
                     f.registered.name if f.registered is not None else "-", shown(f.path),
                     shown(f.project) if f.project is not None else "-"])
    typer.echo(table(rows, right={0}))
    typer.echo(f"total: {human_size(sum(f.size_bytes for f in found))} in {len(found)} environment(s) "
               "(shared files counted once)")
    counts = Counter(f.tool for f in found)
    by_tool = {tool: sum(f.size_bytes for f in found if f.tool == tool) for tool in counts}
    typer.echo("by tool: " + ", ".join(f"{tool} {counts[tool]} ({human_size(by_tool[tool])})"
                                       for tool in sorted(counts, key=lambda t: (-by_tool[t], t))))


def _adopt(store: Store, found: Sequence[Any], as_json: bool) -> None:
    from envman.ops import found as acting

    done = acting.adopt_all(store, found)
    if as_json:
        print_json([{"path": a.found.path, "adopted": a.record.name if a.record is not None else None,
                      "reason": a.reason} for a in done])
        return
    for a in done:
        if a.record is not None:
            say(f"adopted {a.record.name!r} ({shown(a.found.path)}, project {shown(a.record.project)})")
        elif a.found.registered is None:
            say(f"skipped {shown(a.found.path)}: {printable(a.reason or '')}")
    made = sum(1 for a in done if a.record is not None)
    say(f"adopted {made} environment(s)")


def _delete(store: Store, found: Sequence[Any], dry_run: bool, yes: bool, as_json: bool) -> None:
    from envman.ops import found as acting
    from envman.sizes import human_size

    sizes = acting.freeing(found)
    total = sum(sizes)
    question = f"Delete {len(found)} environment(s), freeing {human_size(total)}?"
    if found and not (dry_run or yes or sys.stdin.isatty()):
        confirm(yes, question)  # the one error line, before anything is printed
    if dry_run or not found:
        if as_json:
            print_json([{"path": f.path, "deleted": False, "reason": "dry run", "size_bytes": n}
                        for f, n in zip(found, sizes)])
        else:
            for f, n in zip(found, sizes):
                say(f"would delete {shown(f.path)} ({human_size(n)}, {f.tool})")
            say(f"would free {human_size(total)}" if found else "nothing to delete")
        return
    for f, n in zip(found, sizes):
        say(f"delete  {shown(f.path)} ({human_size(n)}, {f.tool})")
    confirm(yes, question)
    done = acting.delete_all(store, found, total)
    if as_json:
        print_json([{"path": d.found.path, "deleted": d.deleted, "reason": d.reason} for d in done.each])
    else:
        for d in done.each:
            if d.deleted:
                say(f"deleted {shown(d.found.path)}")
            else:
                say(f"left    {shown(d.found.path)}: {printable(d.reason or '')}")
        say(f"freed {human_size(done.freed)}")
    left = sum(1 for d in done.each if not d.deleted)
    if left:
        raise OperationFailed(f"{left} environment(s) were left in place", hint="the lines above say why")
