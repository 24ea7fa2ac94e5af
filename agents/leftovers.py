"""Sandboxes left behind by a process that died without cleaning up (kill -9, a crash,
a power cut), found by their owner stamp and removed.

Every sandbox folder holds a stamp naming the process that made it: its pid and, where
the system tells, that process's start time, so a recycled pid is not taken for the
owner. A folder is removed only when its owner is gone; kept workspaces carry no stamp.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

SANDBOX_PREFIX = "stickiness-"
OWNER_FILE = ".stickiness-owner"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or '' elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses; fields after it don't.
    return stat.rsplit(")", 1)[-1].split()[19]


def owner_stamp(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid} {_start_time(pid)}".strip()


def _alive(stamp: str) -> bool:
    parts = stamp.split()
    try:
        pid = int(parts[0])
    except (IndexError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return len(parts) < 2 or _start_time(pid) in ("", parts[1])


def _remove_where(condition, folder: Path | None) -> list[Path]:
    folder = Path(folder or tempfile.gettempdir())
    removed = []
    for path in folder.glob(f"{SANDBOX_PREFIX}*"):
        try:
            stamp = (path / OWNER_FILE).read_text(encoding="utf-8")
        except OSError:
            continue  # not a sandbox, kept by the user, or not readable
        if condition(stamp):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def remove_stale_sandboxes(folder: Path | None = None) -> list[Path]:
    """Remove sandbox folders whose owner process is gone; returns what was removed."""
    return _remove_where(lambda stamp: not _alive(stamp), folder)


def remove_own_sandboxes(folder: Path | None = None) -> list[Path]:
    """Remove the sandboxes of this process (before leaving without waiting for runs
    still in flight, whose own cleanup will not happen)."""
    mine = owner_stamp()
    return _remove_where(lambda stamp: stamp == mine, folder)
