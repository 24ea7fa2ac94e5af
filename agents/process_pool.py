"""A few fresh Python processes that run jobs: `func(*args)` with a module-level `func`.

Unlike `multiprocessing`, a worker neither re-runs the caller's main script (a script
without an `if __name__ == "__main__"` guard would run again in every worker) nor is a
fork of the caller (unsafe once the caller has threads, and numpy's start some): it is
`python -c` with the caller's `sys.path`, fed pickled jobs on its stdin. Results come
back in job order, each as soon as its own job and those before it are done.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

_R = TypeVar("_R")

_BOOT = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from stickiness.agents.process_pool import serve; serve()"
)


class WorkerError(RuntimeError):
    """A worker process stopped before it answered."""


def can_start_workers() -> bool:
    return bool(sys.executable)


class ProcessMap(Generic[_R]):
    """`func(*args)` for each of `jobs`, in `workers` processes; iterate for the results.

    Use as a context manager: leaving it stops the workers, also when not every result
    was taken (the jobs not yet started are dropped). An exception raised by `func`
    is raised again where its result is taken.
    """

    def __init__(self, func: Callable[..., _R], jobs: Sequence[tuple], workers: int) -> None:
        self._futures: list[Future[_R]] = [Future() for _ in jobs]
        self._queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(jobs)):
            self._queue.put(index)
        self._stop = threading.Event()
        self._procs: list[subprocess.Popen] = []
        self._threads = [
            threading.Thread(target=self._drive, args=(func, jobs), daemon=True)
            for _ in range(min(workers, len(jobs)))
        ]
        for thread in self._threads:
            thread.start()

    def __iter__(self) -> Iterator[_R]:
        for future in self._futures:
            yield future.result()

    def __enter__(self) -> ProcessMap[_R]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self._stop.set()
        if exc_type is not None or not all(f.done() for f in self._futures):
            for proc in list(self._procs):
                if proc.poll() is None:
                    proc.kill()
        for thread in self._threads:
            thread.join()

    def _next_job(self) -> int | None:
        if self._stop.is_set():
            return None
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _drive(self, func: Callable[..., _R], jobs: Sequence[tuple]) -> None:
        """One worker: start it, then give it jobs until there are none left."""
        index: int | None = None
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            self._procs.append(proc)
            assert proc.stdin is not None and proc.stdout is not None
            with proc:
                pickle.dump(sys.path, proc.stdin)
                while (index := self._next_job()) is not None:
                    pickle.dump((func, jobs[index]), proc.stdin, pickle.HIGHEST_PROTOCOL)
                    proc.stdin.flush()
                    ok, value = pickle.load(proc.stdout)
                    if ok:
                        self._futures[index].set_result(value)
                    else:
                        self._futures[index].set_exception(value)
                    index = None
                proc.stdin.close()
        except Exception as exc:
            if self._stop.is_set():
                return
            # This worker is gone: its job and every job no one has started fail, so a
            # caller waiting for them is not left waiting.
            failure = WorkerError(f"a worker process stopped: {type(exc).__name__}: {exc}")
            if index is not None:
                self._futures[index].set_exception(failure)
            while (index := self._next_job()) is not None:
                self._futures[index].set_exception(failure)


def serve() -> None:
    """A worker's loop: read (func, args) from stdin, write (ok, result) to stdout."""
    # The caller stops its workers itself, also when interrupted.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    jobs = sys.stdin.buffer
    # Results go to the original stdout; anything the jobs print goes to stderr.
    results = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    while True:
        try:
            func, args = pickle.load(jobs)
        except EOFError:
            return
        answer: tuple[bool, Any]
        try:
            answer = (True, func(*args))
        except Exception as exc:
            answer = (False, exc)
        try:
            data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an exception that cannot be sent as it is
            data = pickle.dumps((False, WorkerError(f"{type(answer[1]).__name__}: {exc}")))
        results.write(data)
        results.flush()
