"""Many runs at once into one run folder: concurrency, retries, stopping, resuming.

Every finished run is written at once, as one whole line, by this process alone (see
`RunStore`). A run that failed transiently is played again after a backoff; a stop
request (Ctrl-C, SIGTERM) reaches runs in flight at their next step, and they are
dropped, not recorded, so `--resume` plays them again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from pathlib import Path
from typing import Protocol

from stickiness.agents.loop import RunStopped
from stickiness.agents.retry import backoff_delay
from stickiness.agents.run_store import RecordedRun, RunStore
from stickiness.agents.runner import RunOptions, RunSpec, run_one
from stickiness.agents.trajectory import Trajectory

STOP_GRACE = 10.0  # seconds runs in flight get to reach a safe point after a stop


class RunsInterrupted(KeyboardInterrupt):
    """The runs were stopped. `dropped` runs were in flight and are not recorded;
    `settled` is False when some of them was still busy (a model call in flight) after
    the grace period: the caller should exit without waiting for it."""

    def __init__(self, settled: bool, dropped: int) -> None:
        super().__init__()
        self.settled = settled
        self.dropped = dropped


class Executor(Protocol):
    """Plays runs somewhere other than this process's threads (a Ray cluster), handing
    each finished run to `record` in the calling thread."""

    def prepare(self, specs: list[RunSpec], options: RunOptions, concurrency: int) -> None:
        """Get ready for a plan of these specs (start and check workers), once."""

    def run(
        self,
        specs: list[RunSpec],
        record: Callable[[Trajectory], None],
        options: RunOptions,
        concurrency: int,
        grace: float,
    ) -> None: ...


def play_with_retries(spec: RunSpec, options: RunOptions) -> Trajectory | None:
    """One run, played again from the start while it fails transiently (a failure a
    retried call could not cover, such as the machine out of disk), at most
    `run_retries` more times; None if a stop request came first."""
    attempt = 0
    while True:
        attempt += 1
        if options.stop.is_set():
            return None
        try:
            trajectory = run_one(spec, options)
        except RunStopped:
            return None
        retry = trajectory.status == "error" and trajectory.error_kind == "transient"
        if not retry or attempt > options.run_retries:
            return trajectory.model_copy(update={"attempts": attempt})
        if options.stop.wait(backoff_delay(spec.run_id, attempt, options.retry_backoff)):
            return None


def run_all(
    specs: list[RunSpec],
    out: RunStore | Path,
    options: RunOptions | None = None,
    *,
    concurrency: int = 1,
    on_done: Callable[[Trajectory], None] | None = None,
    grace: float = STOP_GRACE,
    executor: Executor | None = None,
) -> list[Trajectory]:
    """Run the specs, `concurrency` at a time, recording each finished run at once.

    `out` is an open store, or a trajectories file to open (and lock) for the call. On
    KeyboardInterrupt (Ctrl-C, or SIGTERM turned into it by the caller): no new runs
    start, runs in flight stop at their next step and are not recorded, every finished
    run is kept; `RunsInterrupted` is raised once they settled or `grace` ran out.
    With an `executor`, the runs are played there and recorded here, by the same rules."""
    if not isinstance(out, RunStore):
        with RunStore(out) as store:
            return run_all(
                specs,
                store,
                options,
                concurrency=concurrency,
                on_done=on_done,
                grace=grace,
                executor=executor,
            )
    options = options or RunOptions()
    done: list[Trajectory] = []
    if executor is not None:

        def record(trajectory: Trajectory) -> None:
            out.append(trajectory)
            done.append(trajectory)
            if on_done:
                on_done(trajectory)

        executor.run(specs, record, options, concurrency, grace)
        return done

    def one(spec: RunSpec) -> Trajectory | None:
        trajectory = play_with_retries(spec, options)
        if trajectory is not None:
            out.append(trajectory)  # the store writes one line at a time
            done.append(trajectory)
        return trajectory

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="run")
    futures = [pool.submit(one, spec) for spec in specs]
    try:
        for future in as_completed(futures):
            trajectory = future.result()
            if trajectory is not None and on_done:
                on_done(trajectory)
    except KeyboardInterrupt:
        options.stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        busy = [f for f in futures if f.running()]
        try:
            _, pending = wait(busy, timeout=grace)
            settled = not pending
        except KeyboardInterrupt:  # a second Ctrl-C: do not wait any longer
            pending, settled = busy, False
        # A run that reached its end during the grace period was recorded, not dropped.
        dropped = sum(f in pending or f.exception() is not None or f.result() is None for f in busy)
        raise RunsInterrupted(settled, dropped) from None
    except BaseException:
        options.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return done


def runs_to_play(
    specs: Iterable[RunSpec], recorded: Iterable[RecordedRun], *, retry_errors: bool = False
) -> tuple[list[RunSpec], list[str]]:
    """(runs still to play, recorded run ids to set aside because they are played
    again). Missing runs are played; runs that ended in a transient error are played
    again; with `retry_errors`, every run that ended in an error is."""
    last = {r.run_id: r for r in recorded}
    todo, again = [], []
    for spec in specs:
        found = last.get(spec.run_id)
        if found is None:
            todo.append(spec)
        elif found.status == "error" and (retry_errors or found.error_kind == "transient"):
            todo.append(spec)
            again.append(spec.run_id)
    return todo, again
