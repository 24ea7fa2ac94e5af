"""Sandboxes left behind by a process that died without cleaning up (kill -9, a crash,
a power cut), found by their owner and removed.

A sandbox folder's name says which process made it: `stickiness-PID-START-xxxx`, with
the process's start time where the system tells it, so a recycled pid is not taken for
the owner. The name is made in one step with the folder, so even a process killed the
moment it made one leaves an owned folder. A folder is removed only when its owner is
gone; kept workspaces are marked kept and never removed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

SANDBOX_PREFIX = "stickiness-"
KEPT_MARKER = ".stickiness-kept"
_OWNED = re.compile(rf"^{SANDBOX_PREFIX}(\d+)-(\d+)-")


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or '0' elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    # The command name (field 2) may hold spaces and parentheses; fields after it don't.
    return stat.rsplit(")", 1)[-1].split()[19]


def sandbox_prefix(pid: int | None = None) -> str:
    """The name prefix of this process's sandboxes (or `pid`'s)."""
    pid = os.getpid() if pid is None else pid
    return f"{SANDBOX_PREFIX}{pid}-{_start_time(pid)}-"


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return start == "0" or _start_time(pid) in ("0", start)


def _remove_where(owned: Callable[[int, str], bool], folder: Path | None) -> list[Path]:
    folder = Path(folder or tempfile.gettempdir())
    removed = []
    for path in folder.glob(f"{SANDBOX_PREFIX}*"):
        match = _OWNED.match(path.name)
        if match is None or (path / KEPT_MARKER).exists() or not path.is_dir():
            continue  # not a sandbox of ours, or kept by the user
        if owned(int(match.group(1)), match.group(2)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def remove_stale_sandboxes(folder: Path | None = None) -> list[Path]:
    """Remove sandbox folders whose owner process is gone; returns what was removed."""
    return _remove_where(lambda pid, start: not _alive(pid, start), folder)


def remove_own_sandboxes(folder: Path | None = None) -> list[Path]:
    """Remove the sandboxes of this process (before leaving without waiting for runs
    still in flight, whose own cleanup will not happen)."""
    me = os.getpid(), _start_time(os.getpid())
    return _remove_where(lambda pid, start: (pid, start) == me, folder)
