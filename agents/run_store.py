"""A run folder's `trajectories.jsonl` as a small durable store.

- One writer at a time: an exclusive lock on `trajectories.jsonl.lock`, held while the
  store is open; a second writer is refused with a message naming the holder. The lock
  dies with its process, so a killed run never leaves the folder locked.
- Whole lines only: each run is one write of one line, synced to disk before the call
  returns. A write that fails (a full disk) is rolled back to the previous end of the
  file, so no fragment stays behind and every earlier run is kept.
- Torn tails repaired on open: a last line without its newline (a process killed in the
  middle of a write) is moved to `trajectories.jsonl.torn` with a warning, so the next
  record never glues onto it; the run it held is simply missing and is played again.
- Records that will be played again (transient errors, on `--resume`) are moved to
  `trajectories.jsonl.replaced`, so the file never holds a run twice.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

from stickiness.agents.redact import redact
from stickiness.agents.trajectory import Trajectory, TrajectoryError

TRAJECTORIES = "trajectories.jsonl"
_TAIL_CHUNK = 1 << 16


class RunFolderBusy(TrajectoryError):
    """Another process is writing this run folder."""


class StoreWriteError(TrajectoryError):
    """A run could not be written (full disk, I/O error); nothing was damaged."""


@dataclass(frozen=True)
class RecordedRun:
    """What `--resume` needs to know of a recorded run."""

    run_id: str
    status: str
    error_kind: str | None
    line: int


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


class RunStore:
    """Open with `with RunStore(path) as store:`; append with `store.append(t)`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        self._lock_fd: int | None = None
        self._fd: int | None = None
        # Runs finish on many threads; one line is written at a time, so a roll-back
        # after a failed write can never cut into another thread's line.
        self._writing = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> RunStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._repair_tail()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def _lock(self) -> None:
        lock_path = _sidecar(self.path, ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderBusy(
                f"{self.path.parent}: another stickiness process (pid {holder}) is writing "
                "this run folder; wait for it to finish or stop it, then try again"
            ) from None
        # One fixed-width write, never a truncate: a refused writer reading at the same
        # moment sees the holder's pid, not an empty file.
        os.pwrite(fd, f"{os.getpid()}".ljust(20).encode() + b"\n", 0)
        self._lock_fd = fd

    # -- torn tail -------------------------------------------------------------------
    def _repair_tail(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0:
            return
        with open(self.path, "rb") as fh:
            end = size
            fragment_start = None
            while end > 0:
                start = max(0, end - _TAIL_CHUNK)
                fh.seek(start)
                chunk = fh.read(end - start)
                if end == size and chunk.endswith(b"\n"):
                    return  # the file ends with a whole line
                cut = chunk.rfind(b"\n")
                if cut >= 0:
                    fragment_start = start + cut + 1
                    break
                end = start
            fragment_start = fragment_start or 0
            fh.seek(fragment_start)
            fragment = fh.read()
        torn = _sidecar(self.path, ".torn")
        with open(torn, "ab") as out:
            out.write(fragment + b"\n")
            out.flush()
            os.fsync(out.fileno())
        with open(self.path, "r+b") as fh:
            fh.truncate(fragment_start)
            fh.flush()
            os.fsync(fh.fileno())
        self.warnings.append(
            f"{self.path}: the last line was incomplete (a run stopped in the middle of "
            f"writing it): {len(fragment):,} bytes set aside in {torn.name}; "
            "that run will be played again"
        )

    # -- writing ---------------------------------------------------------------------
    def append(self, trajectory: Trajectory) -> None:
        """Write one run as one whole line and sync it to disk."""
        if self._fd is None:
            raise RuntimeError("RunStore.append on a store that is not open")
        line = (redact(trajectory.model_dump_json()) + "\n").encode("utf-8")
        with self._writing:
            self._write_line(line, trajectory.run_id)

    def _write_line(self, line: bytes, run_id: str) -> None:
        before = os.fstat(self._fd).st_size
        try:
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            self._roll_back(before)
            reason = (
                "the disk is full"
                if exc.errno in (errno.ENOSPC, errno.EDQUOT)
                else (exc.strerror or str(exc))
            )
            raise StoreWriteError(
                f"{self.path}: cannot record run {run_id}: {reason}. Every run "
                f"recorded before it is safe; make room, then continue with "
                f"`stickiness run --resume {self.path.parent}`"
            ) from None

    def _roll_back(self, size: int) -> None:
        try:
            os.ftruncate(self._fd, size)
            os.fsync(self._fd)
        except OSError:
            # Could not even truncate: the next open's tail repair sets the fragment aside.
            pass

    # -- reading what is recorded ----------------------------------------------------
    def recorded(self) -> list[RecordedRun]:
        """The runs in the file, one entry per line, read without full validation (the
        analyser validates; here only the fields resume needs)."""
        if not self.path.exists():
            return []
        runs = []
        with open(self.path, "rb") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                    runs.append(
                        RecordedRun(
                            str(record["run_id"]),
                            str(record.get("status", "ok")),
                            record.get("error_kind"),
                            number,
                        )
                    )
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    raise TrajectoryError(
                        f"{self.path}: line {number}: not a trajectory record; "
                        "move the file away or repair that line before resuming"
                    ) from None
        return runs

    def set_aside(self, run_ids: Iterable[str]) -> int:
        """Move the records of `run_ids` to `trajectories.jsonl.replaced` (they are about
        to be played again). The file is rewritten whole and renamed into place, so a
        crash leaves either the old file or the new one."""
        drop = set(run_ids)
        if not drop or not self.path.exists():
            return 0
        keep_tmp = _sidecar(self.path, ".rewrite")
        moved = 0
        with (
            open(self.path, "rb") as src,
            open(keep_tmp, "wb") as keep,
            open(_sidecar(self.path, ".replaced"), "ab") as replaced,
        ):
            for line in src:
                try:
                    run_id = orjson.loads(line).get("run_id") if line.strip() else None
                except orjson.JSONDecodeError:
                    run_id = None
                if run_id in drop:
                    replaced.write(line)
                    moved += 1
                else:
                    keep.write(line)
            for fh in (keep, replaced):
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(keep_tmp, self.path)
        if self._fd is not None:
            # The append descriptor still points at the old file: reopen on the new one.
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        return moved
