"""`doctor`: check the registry against the store, and repair what can be repaired.

Every finding comes from `envman.store.lifecycle.classify` and its table; every repair takes
the registry lock, classifies the path again and acts only if it still is what was
found (another envman may have finished, or started, meanwhile). Repairs delete only
what the lifecycle table lets `doctor --fix` clear, never touch a record's
requirements or a project, and finish every leftover of a killed operation: a
reservation, a half-built environment, a `recreate`'s backup, a deletion, a stray
temporary file. A registry that cannot be read is kept aside and rebuilt from the
markers in the store (each marker holds a copy of its record).
"""

from __future__ import annotations

from dataclasses import replace
from typing import List

from envman.errors import EnvmanError, RegistryError
from envman.ops.doctor.file_checks import check_cache, check_stamps, check_temp_files
from envman.ops.doctor.finding import Finding
from envman.ops.doctor.link_checks import check_link_leftovers, check_moved, check_project_links
from envman.ops.doctor.registry_checks import check_records, check_store, unreadable_registry
from envman.store import building, registry
from envman.store.layout import Store
from envman.store.records import Registry


def examine(store: Store) -> List[Finding]:
    """Every problem doctor can see; read-only."""
    try:
        current = registry.load(store)
    except RegistryError as exc:
        return [unreadable_registry(store, exc), *check_temp_files(store, Registry()),
                *check_cache(store)]
    moved = check_moved(store, current)
    if moved is not None:
        return [moved]  # every other finding would be a consequence: judged once the records point here
    ids = {r.id for r in current}
    # A record whose rebuild was interrupted is reported once, by its backup's finding.
    pending = {f.marker.id for f in building.backups(store) if f.marker and f.marker.id in ids}
    findings: List[Finding] = []
    findings += check_records(store, [r for r in current if r.id not in pending])
    findings += check_store(store, current)
    findings += check_stamps(store, current)
    findings += check_temp_files(store, current)
    findings += check_link_leftovers(store, current)
    findings += check_project_links(store, current)
    findings += check_cache(store)
    return findings


def fix(findings: List[Finding]) -> List[Finding]:
    """Run each finding's repair; returns the findings with their outcomes."""
    done = []
    for finding in findings:
        if finding.repair is None:
            done.append(finding)
            continue
        try:
            done.append(replace(finding, outcome=finding.repair()))
        except EnvmanError as exc:
            done.append(replace(finding, outcome=f"failed: {exc.message}", repair=None))
    return done
