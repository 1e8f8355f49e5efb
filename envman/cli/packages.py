"""What environments hold: `find` (which ones have a distribution) and `freeze` (an
environment's pins), both read from the metadata files, never an interpreter."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer

from envman.cli.base import app, find_record, handled, open_store, print_json, printable, say, shown, table
from envman.cli.helpstyle import PlainCommand
from envman.errors import UsageError
from envman.store.layout import Store

if TYPE_CHECKING:
    from envman.ops.find import Match, Place




class _FindCommand(PlainCommand):
    """`find REQUIREMENT --scan DIR DIR`: the DIRs are words after the requirement (click
    has no option taking 0..n values), and the usage line says so."""

    def collect_usage_pieces(self, ctx: Any) -> List[str]:
        return [self.options_metavar or "[OPTIONS]", "REQUIREMENT", "[--scan [DIR...]]"]


@app.command(cls=_FindCommand)
@handled
def find(
    requirement: str = typer.Argument(..., metavar="REQUIREMENT", help="A PEP 508 requirement, quoted: \"urllib3<2.2.2\", \"requests>=2; python_version<'3.10'\"."),
    dirs: Optional[List[str]] = typer.Argument(None, metavar="DIR", help="With --scan: where to look (default: as `envman scan`)."),
    scan: bool = typer.Option(False, "--scan", help="Also look in every environment `envman scan` finds under the DIRs, registered or not."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """The environments holding an installed distribution that matches REQUIREMENT.

    Names compare as PEP 503 names (Foo_Bar is foo-bar); pre-releases match; a marker is
    evaluated against each environment's Python version; extras are ignored. Reads each
    environment's site-packages, never starts its interpreter. Exits 0 whether or not
    anything matched.
    """
    from envman.ops import find as finding
    from envman.store import registry, relocation

    wanted = finding.parse(requirement)
    if dirs and not scan:
        raise UsageError(f"unexpected argument {dirs[0]!r}: directories go after --scan",
                         hint=f'envman find "{requirement}" --scan {" ".join(dirs)}')
    store = open_store()
    records = list(registry.load(store))
    if relocation.moved_from(store, records) is not None:
        records = [relocation.here(store, r) for r in records]
    registered = [finding.Place(r.path, r.name, r.python) for r in records]
    scanned = _scanned(store, dirs or []) if scan else []
    matches = finding.find(wanted, finding.places(registered, scanned))
    if as_json:
        print_json([m.to_json() for m in matches])
    else:
        _print_matches(matches)
    if not matches:
        where = "no environment" if scan else "no registered environment"
        say(f"envman: {where} holds {requirement}" + ("" if scan else " (--scan also looks beyond the registry)"))


def _scanned(store: Store, dirs: List[str]) -> List["Place"]:
    """The environments `scan` finds under `dirs` (default: scan's) that the registry does
    not hold (those are listed already, scan matching them by real path)."""
    from envman.cli.discovery import found_under
    from envman.ops import find as finding

    result = found_under(store, dirs, measure=False)
    return [finding.Place(f.path, None, f.python) for f in result.found if f.registered is None]


def _print_matches(matches: List["Match"]) -> None:
    rows = [[m.place.name or "-", printable(m.distribution), printable(m.version), shown(m.place.path)]
            for m in matches]
    if not rows:
        return
    typer.echo(table(rows))


@app.command()
@handled
def freeze(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Name or project path (default: the current project)."),
    every: bool = typer.Option(False, "--all", help="Also list pip, setuptools, wheel and distribute."),
) -> None:
    """Print the installed distributions as pinned requirements, as `pip freeze` does.

    Read from the environment's metadata files alone: works when its base Python is gone.
    name==version, name @ URL for a direct URL install, -e for an editable one (with the
    git URL and commit of a project in a git checkout). Without --all, leaves out what the
    environment's own pip would: pip, and setuptools, distribute and wheel on Python
    before 3.12 (or with a pip before 23.2).
    """
    from envman.ops.freeze import freeze as frozen
    from envman.ops.run import require_directory
    from envman.store import relocation

    store = open_store()
    record = find_record(store, name)
    if relocation.moved_from(store, [record]) is not None:
        record = relocation.here(store, record)
    require_directory(record)
    for line in frozen(Path(record.path), every):
        typer.echo(printable(line))  # a METADATA of someone's making cannot drive the terminal
