"""Reading one trajectories file in several processes.

Parsing and validating every line is most of the cost of analysing a large file, and
the lines are independent: the file is cut at line boundaries into parts, worker
processes read their parts under the rules of `trajectory_reader`, and each part comes
back as the summary a caller's `reduce` makes of its records. What is refused is refused
in the same words, and the same refusal wins: the first line of the file that is not a
valid record, or that repeats an earlier line's run_id, whichever comes first.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Generic, TypeVar

from stickiness.agents.process_pool import ProcessMap, WorkerError, can_start_workers
from stickiness.agents.trajectory import TrajectoryError
from stickiness.agents.trajectory_reader import (
    LineRefused,
    RecordStream,
    TornLine,
    as_record,
    duplicate_text,
    numbered_records,
    open_records,
    refusal_text,
    torn_text,
)

_R = TypeVar("_R")
Reduce = Callable[[Iterator[dict]], _R]

# Below this a file is read in this process: starting workers would cost more than it saves.
PARALLEL_BYTES = 128 * 2**20
# Parts are smaller than a worker's share, so a worker slowed by other load on the
# machine holds up less of the whole.
PARTS_PER_WORKER = 4
MIN_PART_BYTES = 8 * 2**20
# Each worker is an interpreter of its own (about 100 MB with its part): on a machine
# with many CPUs, more of them would cost memory for little more speed.
MAX_WORKERS = 8


@dataclass
class _Part(Generic[_R]):
    result: _R | None = None
    lines: int = 0  # every line of the part, blank ones included
    numbers: list[int] = field(default_factory=list)  # each record's line within the part
    run_ids: list[str] = field(default_factory=list)
    refused: LineRefused | None = None
    torn: int | None = None  # a torn last line, numbered within the part
    failure: BaseException | None = None  # raised by `reduce`


def map_records(stream: RecordStream, reduce: Reduce[_R], workers: int | None = None) -> list[_R]:
    """`reduce` applied to the records of consecutive parts of the stream's file, in
    file order; large files are read by `workers` processes (default: one per CPU this
    process may use, up to `MAX_WORKERS`). `reduce` must be a module-level function (or
    a partial of one) and consume every record it is given; it sees only records that
    passed validation.

    Raises `TrajectoryError` as iterating the stream would, and appends the same
    warning about a torn last line to the stream's `warnings`. The stream must not have
    been iterated."""
    if stream.started:
        raise ValueError("the stream has already been read from")
    with open_records(stream.path) as fh:
        info = os.fstat(fh.fileno())
        # A pipe has no parts to seek to.
        parts = _part_count(info.st_size, workers) if stat.S_ISREG(info.st_mode) else 1
        bounds = _cuts(fh, info.st_size, parts) if parts > 1 else []
        if len(bounds) < 3 or not can_start_workers():
            if bounds:
                fh.seek(0)
            return _merge(stream, [_read_part(fh, None, reduce)])
    ranges = list(zip(bounds, bounds[1:], strict=False))
    return _in_workers(stream, ranges, reduce, min(worker_count(workers), len(ranges)))


def worker_count(workers: int | None = None) -> int:
    """The number of worker processes `map_records` starts for a large file."""
    if workers is not None:
        return max(1, workers)
    if hasattr(os, "sched_getaffinity"):
        return min(len(os.sched_getaffinity(0)), MAX_WORKERS)
    return min(os.cpu_count() or 1, MAX_WORKERS)


def _part_count(size: int, workers: int | None) -> int:
    n = worker_count(workers)
    if n < 2 or size < PARALLEL_BYTES:
        return 1
    return max(2, min(n * PARTS_PER_WORKER, size // MIN_PART_BYTES))


def _cuts(fh: BinaryIO, size: int, parts: int) -> list[int]:
    """Byte offsets of line starts that cut the file into about `parts` equal parts."""
    cuts = [0]
    for i in range(1, parts):
        fh.seek(max(size * i // parts - 1, cuts[-1]))
        fh.readline()  # to the start of the next line (or stay on one that starts here)
        if (pos := fh.tell()) >= size:
            break
        if pos > cuts[-1]:
            cuts.append(pos)
    return [*cuts, size]


def _in_workers(
    stream: RecordStream, ranges: list[tuple[int, int]], reduce: Reduce[_R], workers: int
) -> list[_R]:
    jobs = [(stream.path, start, end, reduce) for start, end in ranges]
    try:
        with ProcessMap(_read_range, jobs, workers) as parts:
            return _merge(stream, parts)
    except WorkerError:
        # Workers that cannot start or were killed: the file can still be read here.
        with open_records(stream.path) as fh:
            return _merge(stream, [_read_part(fh, None, reduce)])


def _read_range(path: Path, start: int, end: int, reduce: Reduce[_R]) -> _Part[_R]:
    with open_records(path) as fh:
        fh.seek(start)
        return _read_part(fh, end - start, reduce)


def _read_part(fh: BinaryIO, size: int | None, reduce: Reduce[_R]) -> _Part[_R]:
    """`reduce` over the records of the next `size` bytes of `fh` (None: all left)."""
    part: _Part[_R] = _Part()

    def lines() -> Iterator[bytes]:
        left = size
        for line in fh:
            part.lines += 1
            yield line
            if left is not None:
                left -= len(line)
                if left <= 0:
                    return

    def records() -> Iterator[dict]:
        try:
            for number, run_id, record in numbered_records(lines(), as_record):
                part.numbers.append(number)
                part.run_ids.append(run_id)
                yield record
        except TornLine as torn:
            part.torn = torn.number
        except LineRefused as refused:
            part.refused = refused

    try:
        part.result = reduce(records())
    except Exception as exc:  # handed to the caller, in file order with the refusals
        part.failure = exc
    return part


def _merge(stream: RecordStream, parts: Iterable[_Part[_R]]) -> list[_R]:
    """The parts' results in order, after the checks the serial reader makes as it goes."""
    seen: dict[str, int] = {}  # run_id -> line
    offset = 0
    results = []
    for part in parts:
        for number, run_id in zip(part.numbers, part.run_ids, strict=True):
            number += offset
            if (first := seen.setdefault(run_id, number)) != number:
                raise TrajectoryError(duplicate_text(stream.path, number, run_id, first))
        if part.refused is not None:
            refused = LineRefused(part.refused.number + offset, part.refused.problem)
            raise TrajectoryError(refusal_text(stream.path, refused))
        if part.failure is not None:
            raise part.failure
        if part.torn is not None and stream.warnings is not None:
            stream.warnings.append(torn_text(stream.path, part.torn + offset))
        results.append(part.result)
        offset += part.lines
    return results
