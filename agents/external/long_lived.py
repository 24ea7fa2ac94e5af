"""One agent process for a whole run: each turn's message written to its stdin, its
event lines read until the line that ends the turn.

Starting a CLI costs about a second per turn (a Node or native program loading itself);
kept alive, a turn costs only the agent's own work. The process is started as in
`process.run_agent_process` (its own session and process group, cwd and PWD the
workspace, only the environment given, output bounded), and is killed with its whole
group when a turn runs out of time, when the run is asked to stop, when it floods its
output, and when the run ends. A turn that finds it gone starts a new one: the caller's
`argv` says how to pick the session up again.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from stickiness.agents.external.process import (
    MAX_LINE_BYTES,
    MAX_STDOUT_BYTES,
    ProcessResult,
    file_tail,
    kill_group,
    start_piped,
)

POLL = 0.2  # seconds between checks for a stop request
GRACE = 2.0  # seconds an agent gets to exit on its own once its stdin is closed


class LongLivedProcess:
    """The process and the lines it writes, queued by a reader thread of its own."""

    def __init__(self, argv: list[str], workspace: Path, env: dict[str, str], stderr: Path) -> None:
        self.stderr = stderr
        self.proc = start_piped(argv, workspace, env, stderr)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.received = 0  # bytes since the current turn began
        self.gone = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            for raw in iter(lambda: out.readline(MAX_LINE_BYTES), b""):
                self.received += len(raw)
                if self.received > MAX_STDOUT_BYTES:
                    kill_group(self.proc)  # an agent printing without end is stopped
                    break
                self._lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        except (OSError, ValueError):
            pass
        finally:
            self._lines.put(None)

    def turn(
        self,
        message: dict,
        ends_turn: Callable[[str], bool],
        deadline: float,
        should_stop: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> ProcessResult:
        """Write `message` as one JSON line, then collect lines until one for which
        `ends_turn` is true, the process ends, the deadline or a stop request. On all
        but the first the process is killed (`gone` is then true)."""
        started = clock()
        self.received = 0
        lines: list[str] = []
        timed_out = stopped = ended = False
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(message, ensure_ascii=False) + "\n").encode())
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.gone = True
        while not self.gone:
            left = deadline - clock()
            if left <= 0:
                timed_out = True
                break
            if should_stop():
                stopped = True
                break
            try:
                line = self._lines.get(timeout=min(POLL, left))
            except queue.Empty:
                continue
            if line is None:
                self.gone = True
                break
            lines.append(line)
            if ends_turn(line):
                ended = True
                break
        if not ended:
            self.close(grace=0.0)  # out of time, stopped or gone: nothing to wait for
        return ProcessResult(
            lines=lines,
            returncode=self._code() if not (timed_out or stopped) else None,
            stderr_tail=file_tail(self.stderr),
            timed_out=timed_out,
            stopped=stopped,
            seconds=clock() - started,
        )

    def _code(self) -> int | None:
        if not self.gone:
            return 0  # the turn ended; the process lives on
        try:
            return self.proc.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            return None

    def close(self, grace: float = GRACE) -> None:
        """End it: stdin closed (the agent may exit on its own), `grace` seconds to do
        so, then its whole group killed and reaped."""
        self.gone = True
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        if grace > 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        kill_group(self.proc)
        self.proc.wait()
        self._reader.join(timeout=5)
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdout is not None
            self.proc.stdout.close()
