"""Ctrl-C and SIGTERM while runs are playing: stop cleanly, say what was kept.

SIGTERM is turned into the same KeyboardInterrupt as Ctrl-C, so both take one path:
runs in flight are dropped (to be played again by `--resume`), their sandboxes removed,
finished runs kept. If some run is still waiting on its model after the grace period,
or a second signal comes, the process leaves at once without waiting for it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from stickiness.agents.leftovers import remove_own_sandboxes
from stickiness.agents.scheduler import RunsInterrupted

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Signals:
    """Which stop signal arrived last (SIGINT unless SIGTERM was seen)."""

    def __init__(self) -> None:
        self.received = signal.SIGINT

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.received]


@contextmanager
def stop_on_signals() -> Iterator[Signals]:
    """While inside, SIGTERM raises KeyboardInterrupt in the main thread, like Ctrl-C."""
    seen = Signals()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def on_term(signum: int, _frame: object) -> None:
        seen.received = signal.Signals(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


def report_interrupted(
    console: Console, exc: RunsInterrupted, out_file: Path, resume: str, code: int
) -> int:
    """Say what was kept and how to go on; leave at once if runs did not settle."""
    dropped = f"{exc.dropped} runs in flight were dropped" if exc.dropped else "stopped"
    console.print(
        f"interrupted: {dropped}; finished runs are kept in {escape(str(out_file))}; "
        f"continue with: {escape(resume)}"
    )
    if not exc.settled:
        removed = remove_own_sandboxes()
        console.print(
            f"some runs were still waiting on their model: left without them "
            f"({len(removed)} sandboxes removed)"
        )
        console.file.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        # Waiting for a thread blocked in a network call could take minutes: leave now.
        # Every recorded run is a whole line already synced to disk.
        os._exit(code)
    return code
