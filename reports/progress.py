"""Progress while runs play: a live bar in a terminal, plain lines in a CI log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stickiness.agents.trajectory import Trajectory

LOG_STEPS = 20  # lines per call in a log, at most, besides the time-based ones
LOG_SECONDS = 30.0  # a line at least this often while runs finish


class LogProgress:
    """A line every 1/LOG_STEPS of the runs, and whenever LOG_SECONDS passed since the
    last line: a CI log shows the job is alive without a line per run."""

    def __init__(
        self, console: Console, total: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.console, self.total, self.clock = console, total, clock
        self.done, self.errors = 0, 0
        self.started = self.last = clock()
        self.step = max(1, -(-total // LOG_STEPS))

    def __call__(self, t: Trajectory) -> None:
        self.done += 1
        self.errors += t.status != "ok"
        now = self.clock()
        if self.done % self.step and self.done != self.total and now - self.last < LOG_SECONDS:
            return
        self.last = now
        failed = f", {self.errors} failed" if self.errors else ""
        self.console.print(
            f"{self.done}/{self.total} runs done{failed} ({now - self.started:.0f} s): "
            f"{escape(t.model)} {escape(t.scenario)}",
            highlight=False,
        )


@contextmanager
def run_progress(console: Console, total: int) -> Iterator[Callable[[Trajectory], None]]:
    """A callback for every finished run."""
    if not console.is_terminal:
        yield LogProgress(console, total)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("running", total=total)

        def advance(t: Trajectory) -> None:
            progress.update(task, advance=1, description=escape(f"{t.model} {t.scenario}"))

        yield advance
