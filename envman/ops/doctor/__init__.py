"""`doctor`: check the registry against the store, and repair what can be repaired."""

from envman.ops.doctor.checkup import examine, fix
from envman.ops.doctor.finding import Finding

__all__ = ["Finding", "examine", "fix"]
