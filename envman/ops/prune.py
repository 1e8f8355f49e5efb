"""`prune`: delete exactly the environments `ls --stale` lists with the same options.

Planning is read-only (it is also `--dry-run`); the deleting goes through `removal`,
which proves ownership of every directory first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from envman import sizes
from envman.ages import now
from envman.models import PROJECT_UNREACHABLE, EnvState
from envman.ops.remove import Refusal, Removal, plan, remove
from envman.ops.staleness import assess_all
from envman.store import registry
from envman.store.layout import Store
from envman.store.lifecycle import Untouchable


@dataclass(frozen=True)
class Candidate:
    state: EnvState
    deletes: Optional[Path]  # the directory that would go, None when only the record would
    size: int
    refusal: Optional[str] = None  # why its directory cannot be proven ours


@dataclass(frozen=True)
class PrunePlan:
    candidates: Tuple[Candidate, ...]
    skipped: Tuple[EnvState, ...]  # project-unreachable, kept without --unreachable
    kept: Tuple[EnvState, ...] = ()  # stale, but their project only moved: never pruned

    @property
    def size(self) -> int:
        return sum(c.size for c in self.candidates if c.refusal is None)


def make_plan(store: Store, older_than: timedelta, unreachable: bool) -> PrunePlan:
    """What prune would do, touching nothing."""
    states = assess_all(store, registry.load(store), now(), older_than)
    # A project that moved still needs its environment, whatever else is stale about it;
    # the plan names each one, so that nobody wonders why it was not pruned.
    kept = [s for s in states if s.moved_to is not None]
    stale = [s for s in states if s.reasons and s.moved_to is None]
    candidates: List[Candidate] = []
    skipped: List[EnvState] = []
    for state in stale:
        if PROJECT_UNREACHABLE in state.reasons and not unreachable:
            skipped.append(state)
            continue
        try:
            target = plan(store, state.record)
        except Untouchable as exc:
            candidates.append(Candidate(state, None, 0, refusal=exc.message))
            continue
        candidates.append(Candidate(state, target, 0))
    # Measured together, as `ls --size` does: a file the deleted environments share
    # counts once, and one also linked from elsewhere frees nothing.
    measured = sizes.measure([str(c.deletes) if c.deletes is not None else None for c in candidates])
    candidates = [replace(c, size=size) for c, size in zip(candidates, measured)]
    return PrunePlan(tuple(candidates), tuple(skipped), tuple(kept))


def execute(store: Store, prune_plan: PrunePlan) -> Tuple[List[Removal], List[Refusal]]:
    """Delete the plan's environments, leaving (and reporting) any that cannot be proven ours."""
    records = [c.state.record for c in prune_plan.candidates]
    return remove(store, records, skip_unsafe=True)


def to_json(prune_plan: PrunePlan, dry_run: bool, removed: List[Removal],
            refused: List[Refusal]) -> Dict[str, Any]:
    """The `prune --json` object."""
    gone = {r.record.id for r in removed}
    refusals = {r.record.id: r.reason for r in refused}
    items = []
    for c in prune_plan.candidates:
        item = c.state.to_json()
        rid = c.state.record.id
        reason = c.refusal or refusals.get(rid)
        action = "refused" if reason else ("delete" if c.deletes else "unregister")
        item.update(action=action, size_bytes=c.size, done=rid in gone)
        if reason:
            item["refusal"] = reason
        items.append(item)
    return {
        "dry_run": dry_run,
        "environments": items,
        "skipped": [dict(s.to_json(), action="skip") for s in prune_plan.skipped],
        "kept": [dict(s.to_json(), action="keep") for s in prune_plan.kept],
        "freed_bytes": 0 if dry_run else sum(c.size for c in prune_plan.candidates
                                             if c.state.record.id in gone),
    }

