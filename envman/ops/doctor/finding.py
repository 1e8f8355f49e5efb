"""A finding of `doctor`: what is wrong, where, and the repair `--fix` may run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional



Repair = Callable[[], str]  # performs the fix, returns what it did


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    detail: str
    repair: Optional[Repair] = None  # None: --fix cannot mend it; `advice` says what can
    advice: str = ""
    outcome: str = ""  # after --fix: what was done, or why it failed

    @property
    def fixable(self) -> bool:
        return self.repair is not None
