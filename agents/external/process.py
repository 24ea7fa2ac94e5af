"""One agent CLI process: started in the run's sandbox, bounded, and always reaped.

The process gets its own session (so it and every child it starts can be killed as a
group), cwd and PWD set to the workspace (some CLIs read their folder from PWD), stdin
closed, and only the environment it is given. It is stopped at the turn's deadline or
when the run is asked to stop, and its whole process group is killed when it ends, so
no helper it started (a language server, an MCP server) outlives the turn.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MAX_LINE_BYTES = 8 << 20  # one event line; longer ones are cut
MAX_STDOUT_BYTES = 256 << 20  # a turn's whole event stream
STDERR_TAIL_BYTES = 4_000
_POLL = 0.2  # seconds between checks for a stop request


@dataclass(frozen=True)
class ProcessResult:
    lines: list[str]  # stdout, one event per line
    returncode: int | None  # None: killed (deadline or stop)
    stderr_tail: str
    timed_out: bool
    stopped: bool
    seconds: float


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)


# System folders that may hold a user's files: hidden (an empty tmpfs over each) when the
# agent runs isolated; everything else is visible read-only.
PRIVATE_FOLDERS = ("/root", "/home", "/tmp", "/var/tmp", "/run", "/mnt", "/media", "/srv")


def isolated(command: list[str], *, writable: Path, readable: list[Path]) -> list[str]:
    """`command` under bubblewrap: the system read-only, the user's folders hidden, only
    `writable` (the run's sandbox: workspace and private home) writable, `readable`
    (the CLI's own files) shown read-only, its own process tree that dies with it. The
    network stays: the agent must reach its model server."""
    args = ["bwrap", "--ro-bind", "/", "/"]
    for folder in PRIVATE_FOLDERS:
        if Path(folder).is_dir():
            args += ["--tmpfs", folder]
    args += ["--proc", "/proc", "--dev", "/dev", "--bind", str(writable), str(writable)]
    for path in readable:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"]
    return [*args, "--", *command]


def start_piped(
    argv: list[str], workspace: Path, env: dict[str, str], stderr: Path
) -> subprocess.Popen:
    """An agent process that reads its stdin and writes its stdout for as long as it
    lives (a long-lived CLI, an ACP agent): its own session and process group, cwd and
    PWD the workspace, stderr appended to `stderr`."""
    with open(stderr, "ab") as err:
        return subprocess.Popen(
            argv,
            cwd=workspace,
            env=env | {"PWD": str(workspace)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )


def run_agent_process(
    command: list[str],
    *,
    workspace: Path,
    env: dict[str, str],
    deadline: float,
    should_stop: Callable[[], bool],
    stderr_path: Path,
    clock: Callable[[], float] = time.monotonic,
) -> ProcessResult:
    """Run `command` to its end, the deadline or a stop request, whichever comes first."""
    env = env | {"PWD": str(workspace)}
    started = clock()
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            command,
            cwd=workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=_read_lines, args=(proc, lines), daemon=True)
        reader.start()
        timed_out = stopped = False
        try:
            while True:
                left = deadline - clock()
                if left <= 0:
                    timed_out = True
                    break
                if should_stop():
                    stopped = True
                    break
                try:
                    proc.wait(timeout=min(_POLL, left))
                    break
                except subprocess.TimeoutExpired:
                    continue
        finally:
            # Whatever happened, nothing of the group survives the turn.
            kill_group(proc)
            proc.wait()
            reader.join(timeout=5)
    return ProcessResult(
        lines=lines,
        returncode=None if (timed_out or stopped) else proc.returncode,
        stderr_tail=file_tail(stderr_path),
        timed_out=timed_out,
        stopped=stopped,
        seconds=clock() - started,
    )


def _read_lines(proc: subprocess.Popen, lines: list[str]) -> None:
    total = 0
    assert proc.stdout is not None
    for raw in iter(lambda: proc.stdout.readline(MAX_LINE_BYTES), b""):
        total += len(raw)
        if total > MAX_STDOUT_BYTES:
            kill_group(proc)  # an agent printing without end is stopped, not buffered
            break
        lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
    proc.stdout.close()


def file_tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - STDERR_TAIL_BYTES))
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
