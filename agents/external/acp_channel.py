"""JSON-RPC 2.0 with an ACP agent over its stdin and stdout: one JSON object per line.

The channel starts the agent process (a session and process group of its own, cwd and
PWD the workspace), reads what it writes on a thread of its own, and matches responses
to requests; requests and notifications the agent sends meanwhile go to a handler the
caller gives. Every line exchanged is kept, keys redacted, in a transcript.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from stickiness.agents.external.process import MAX_LINE_BYTES, MAX_STDOUT_BYTES, start_piped
from stickiness.agents.redact import redact

POLL = 0.2  # seconds between checks for a stop request
EXIT_SETTLE = 0.5  # seconds after the agent's exit to read what it wrote before it
MAX_TRANSCRIPT_BYTES = 64 << 20

Logger = Callable[[str, object], None]  # (side, message): "client" or "agent"
Handler = Callable[[dict], None]  # a request or notification from the agent


class AgentGone(Exception):
    """The agent closed its output: it exited, crashed or was killed."""


class DeadlinePassed(Exception):
    """The time given for an answer ran out."""


class StopRequested(Exception):
    """The run was asked to stop while an answer was awaited."""


class RpcError(Exception):
    """The agent answered a request with an error, or with nothing usable."""

    def __init__(self, method: str, error: object) -> None:
        error = error if isinstance(error, dict) else {"message": str(error)}
        self.code = error.get("code")
        message = str(error.get("message") or "no message")
        data = error.get("data")
        if data not in (None, "", {}):
            message += f" ({json.dumps(data, ensure_ascii=False)[:300]})"
        code = f"JSON-RPC error {self.code}: " if self.code is not None else ""
        super().__init__(f"{method} failed: {code}{message}")


class Transcript:
    """Every line exchanged, as JSON lines, keys redacted, bounded in size."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._size = path.stat().st_size
        self._lock = threading.Lock()

    def log(self, side: str, message: object) -> None:
        record = {"t": round(time.time(), 3), "from": side, "message": message}
        line = redact(json.dumps(record, ensure_ascii=False)) + "\n"
        with self._lock:
            if self._fh.closed or self._size + len(line) > MAX_TRANSCRIPT_BYTES:
                return
            self._size += len(line)
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class Channel:
    """One agent process and the JSON-RPC lines both ways. A reader thread queues what
    the agent writes; only the caller's thread reads the queue and writes to the agent."""

    def __init__(
        self, argv: list[str], workspace: Path, env: dict[str, str], stderr: Path, log: Logger
    ) -> None:
        self.log = log
        self.proc = start_piped(argv, workspace, env, stderr)
        self.inbox: queue.Queue = queue.Queue()
        self.received = 0  # bytes since the turn began
        self.flooded = False
        self.ended = False  # the end of the output was read from the queue
        self.exited_at: float | None = None
        self.pending: dict[int, str] = {}  # request id -> method
        self._ids = itertools.count(1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            for raw in iter(lambda: out.readline(MAX_LINE_BYTES), b""):
                self.received += len(raw)
                if self.received > MAX_STDOUT_BYTES:
                    self.flooded = True  # an agent printing without end is stopped
                    self.kill_group()
                    break
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    message = None
                if isinstance(message, dict):
                    self.log("agent", message)
                    self.inbox.put(message)
                else:
                    self.log("agent", {"not_json": line[:2000]})
        except (OSError, ValueError):
            pass
        finally:
            self.inbox.put(None)

    def send(self, message: dict) -> None:
        self.log("client", message)
        data = (json.dumps(message, ensure_ascii=False) + "\n").encode()
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (OSError, ValueError):
            raise AgentGone from None

    def request(self, method: str, params: dict) -> int:
        rid = next(self._ids)
        self.pending[rid] = method
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return rid

    def notify(self, method: str, params: dict) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_for(
        self,
        rid: int,
        deadline: float,
        should_stop: Callable[[], bool],
        clock: Callable[[], float],
        handle: Handler,
    ) -> dict:
        """The result of request `rid`, what the agent asks meanwhile passed to `handle`."""
        if self.ended:
            raise AgentGone
        while True:
            if should_stop():
                raise StopRequested
            left = deadline - clock()
            if left <= 0:
                raise DeadlinePassed
            try:
                message = self.inbox.get(timeout=min(POLL, left))
            except queue.Empty:
                if self.exited():
                    self.ended = True
                    raise AgentGone from None
                continue
            if message is None:
                self.ended = True
                raise AgentGone
            if "method" in message:
                handle(message)
            elif message.get("id") == rid:
                method = self.pending.pop(rid, "request")
                if "error" in message:
                    raise RpcError(method, message["error"])
                result = message.get("result")
                return result if isinstance(result, dict) else {}
            # A response to nothing we wait for (a request given up on): dropped.

    def drain(self, handle: Handler) -> None:
        """Pass what the agent sent while nothing waited to `handle`; responses dropped."""
        while not self.ended:
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return
            if message is None:
                self.ended = True  # the next request finds it gone
            elif "method" in message:
                with contextlib.suppress(AgentGone):
                    handle(message)

    def exited(self) -> bool:
        """The agent process ended a while ago (what it wrote before has been read),
        though a child it left may still hold its output open."""
        if self.proc.poll() is None:
            return False
        self.exited_at = self.exited_at or time.monotonic()
        return time.monotonic() - self.exited_at > EXIT_SETTLE

    def exit_code(self, wait: float) -> int | None:
        try:
            return self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def close(self, grace: float = 0.0) -> None:
        """End the agent: its stdin closed (an ACP agent exits then), `grace` seconds to
        do so, then its whole group killed, whatever is left of it, and reaped."""
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        if grace > 0:
            self.exit_code(grace)
        self.kill_group()
        self.proc.wait()
        self._reader.join(timeout=5)
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdout is not None
            self.proc.stdout.close()
