"""Named points in envman's multi-step operations, where a fault campaign can stop it.

`ENVMAN_TEST_STOP_AT=reserve,trash` makes a process stop itself (SIGSTOP) on reaching
any of those points, so a test can `kill -9` it at exactly that moment instead of
hoping a timer lands there. Unset (always, outside tests), a checkpoint is one
dictionary look-up.

The points, in the order an operation reaches them:

| point | where |
| --- | --- |
| `reserve` | `new`/`recreate`/rename: `envs/NAME` has just appeared, holding its 'creating' marker |
| `backup` | `recreate` (at the reservation), rename (at the commit): the old environment has just been renamed to `envs/.backup-*` |
| `built` | the venv is built and requirements installed, not yet verified or marked ready |
| `ready` | the marker says 'ready'; the record is not yet saved |
| `registered` | the record is saved; the backup (for `recreate`) is not yet deleted |
| `trash` | deletion: the directory has just been renamed to `envs/.trash-*` |
| `unlink` | deletion: the first file inside has just been deleted |
| `pointed` | `mv --project` of an environment with a `.venv` link: the record and marker name the new project, the link is not yet moved |
| `linked` | `mv --project`: the new project's `.venv` link is made, the old project's not yet removed |
| `aside` | a `.venv` update (`link --remove`, `rm`, a rename, `mv --project`): `.venv` has just been renamed to `.venv.envman-PID-HEX`, not yet checked |
| `write:FILE` | an atomic write of FILE (`.envman-marker.toml`, `registry.toml`): its temporary file is complete, not yet renamed into place |
"""

from __future__ import annotations

import os

VARIABLE = "ENVMAN_TEST_STOP_AT"


def reached(point: str) -> None:
    """Stop this process here if the fault campaign asked for it (see the table above)."""
    wanted = os.environ.get(VARIABLE)
    if wanted and point in wanted.split(","):
        import signal

        os.kill(os.getpid(), signal.SIGSTOP)
