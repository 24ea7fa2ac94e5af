"""The trajectory record: one JSON line per finished run, the contract with analysis.

Everything needed to re-analyse a run is here (the turn annotations are copied from
the scenario), and nothing secret: adapters never put keys in `model_settings`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from orjson import loads as _loads  # parses large files several times faster than json
from pydantic import BaseModel, ValidationError

SCHEMA_VERSION = 2
# Versions this code reads. 2 added a run's error kind and attempts, and a turn's error
# and time limit; version 1 records read as if those were unset.
READABLE_VERSIONS = (1, 2)


class TrajectoryError(ValueError):
    """A trajectories file cannot be read; the message names file and line."""


class CommitRecord(BaseModel):
    sha: str
    message: str
    files: list[str]


class PushRecord(BaseModel):
    ref: str
    old: str | None
    new: str | None


class ToolCallRecord(BaseModel):
    id: str
    name: str
    arguments: str
    result: str
    is_error: bool


class TurnRecord(BaseModel):
    turn: int  # 1-based, as people count turns
    user: str
    phrasing: int
    requests: list[str] = []
    forbids: list[str] = []
    requires: list[str] = []
    # Assistant and tool messages of this turn, in order, exactly as exchanged.
    messages: list[dict] = []
    commits: list[CommitRecord] = []
    pushes: list[PushRecord] = []
    files_changed: list[str] = []
    diff: str = ""  # unified diff of the working files over the turn (clipped)
    unpushed_before: int = 0
    dirty_before: bool = False
    dirty_after: bool = False
    steps: int = 0
    step_limit_hit: bool = False
    time_limit_hit: bool = False  # the turn's wall-clock budget ran out
    # Set when the run failed during this turn: what was exchanged until then is kept.
    error: str | None = None
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None  # None: no price known for this model

    def tool_calls(self) -> list[ToolCallRecord]:
        results = {m["tool_call_id"]: m for m in self.messages if m["role"] == "tool"}
        calls = []
        for m in self.messages:
            for call in m.get("tool_calls") or []:
                res = results.get(call["id"], {})
                calls.append(
                    ToolCallRecord(
                        id=call["id"],
                        name=call["name"],
                        arguments=call["arguments"],
                        result=res.get("content", ""),
                        is_error=res.get("is_error", False),
                    )
                )
        return calls

    def assistant_text(self) -> str:
        return "\n".join(
            m["content"] for m in self.messages if m["role"] == "assistant" and m.get("content")
        )


class Trajectory(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    scenario: str
    scenario_file: str
    scenario_sha256: str
    title: str
    behaviour: str  # the behaviour this scenario probes
    family: str
    detectors: list[dict] = []  # the scenario's declared detectors, as written
    template_values: dict[str, str] = {}  # drawn from the seed for a templated scenario
    arm: Literal["treatment", "control"]
    kind: str
    control: str | None = None
    model: str
    simulated: bool
    model_settings: dict = {}
    harness: str
    system_prompt: str
    seed: int
    repeat: int
    versions: dict[str, str] = {}
    workspace: str | None = None  # set only when the workspace was kept
    started_at: str
    finished_at: str
    status: Literal["ok", "error"]
    error: str | None = None
    # transient: the provider was unreachable, overloaded or rate-limited, or timed out
    # (`--resume` plays such a run again); fatal: anything else (`--retry-errors`).
    error_kind: Literal["transient", "fatal"] | None = None
    attempts: int = 1  # tries it took, counting retries after transient failures
    usage: dict[str, int] = {}  # totals over the run's model calls
    cost_usd: float | None = None
    turns: list[TurnRecord] = []


def append_trajectory(path: Path, trajectory: Trajectory) -> None:
    """Append one run as one line, flushed to disk before returning.

    One write() of a whole line in append mode: an interrupted process can at worst
    leave a truncated last line, never damage an earlier one.
    """
    line = trajectory.model_dump_json() + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        # Worker processes may share the file: one writer at a time.
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def iter_trajectories(path: Path, warnings: list[str] | None = None) -> Iterator[Trajectory]:
    """Stream a JSONL file one run at a time (constant memory for any file size).

    A torn last line (a process killed mid-write) is skipped with a warning appended
    to `warnings`; damage anywhere else is a `TrajectoryError` naming the line.
    """
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise TrajectoryError(f"{path}: no such file") from None
    except OSError as exc:
        raise TrajectoryError(f"{path}: cannot read: {exc.strerror}") from None
    with fh:
        pending: tuple[int, str] | None = None
        try:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                if pending is not None:
                    yield _parse(path, *pending)
                pending = (number, line)
        except UnicodeDecodeError:
            raise TrajectoryError(f"{path}: not UTF-8 text") from None
        if pending is not None:
            number, line = pending
            try:
                yield Trajectory.model_validate_json(line)
            except ValidationError as exc:
                if not line.endswith("\n") and exc.errors()[0]["type"].startswith("json"):
                    if warnings is not None:
                        warnings.append(
                            f"{path}: line {number} is incomplete (interrupted run?); skipped"
                        )
                    return
                raise TrajectoryError(_problem(path, number, exc)) from None


def _problem(path: Path, number: int, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(map(str, first["loc"]))
    field = f"{where}: " if where else ""
    return f"{path}: line {number}: not a trajectory record: {field}{first['msg']}"


def _parse(path: Path, number: int, line: str) -> Trajectory:
    try:
        return Trajectory.model_validate_json(line)
    except ValidationError as exc:
        raise TrajectoryError(_problem(path, number, exc)) from None


_RUN_KEYS = frozenset(Trajectory.model_fields) - {
    name for name, f in Trajectory.model_fields.items() if not f.is_required()
}
_TURN_KEYS = frozenset(name for name, f in TurnRecord.model_fields.items() if f.is_required()) | {
    "messages",
    "commits",
    "files_changed",
}


def iter_records(path: Path, warnings: list[str] | None = None) -> Iterator[dict]:
    """Stream a JSONL file as plain dicts, checking only the fields analysis reads.

    Several times faster than building `Trajectory` objects, for files of hundreds of
    thousands of runs. Same torn-line and error rules as `iter_trajectories`.
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise TrajectoryError(f"{path}: no such file") from None
    except OSError as exc:
        raise TrajectoryError(f"{path}: cannot read: {exc.strerror}") from None
    with fh:
        lines = ((n, line) for n, line in enumerate(fh, 1) if line.strip())
        current = next(lines, None)
        while current is not None:
            number, line = current
            following = next(lines, None)
            try:
                record = _loads(line)
            except ValueError as exc:
                if following is None and not line.endswith(b"\n"):
                    if warnings is not None:
                        warnings.append(
                            f"{path}: line {number} is incomplete (interrupted run?); skipped"
                        )
                    return
                raise TrajectoryError(
                    f"{path}: line {number}: not a trajectory record: invalid JSON ({exc})"
                ) from None
            _check_record(path, number, record)
            yield record
            current = following


def _check_record(path: Path, number: int, record: object) -> None:
    problem = None
    if not isinstance(record, dict):
        problem = "expected a JSON object"
    elif missing := _RUN_KEYS - record.keys():
        problem = f"missing field {sorted(missing)[0]}"
    elif not isinstance(record["turns"], list):
        problem = "field turns: expected a list"
    else:
        for i, turn in enumerate(record["turns"]):
            if not isinstance(turn, dict) or (missing := _TURN_KEYS - turn.keys()):
                problem = (
                    f"field turns[{i}]: missing {sorted(missing)[0]}"
                    if isinstance(turn, dict)
                    else f"field turns[{i}]: expected an object"
                )
                break
    if problem:
        raise TrajectoryError(f"{path}: line {number}: not a trajectory record: {problem}")


def read_trajectories(path: Path) -> tuple[list[Trajectory], list[str]]:
    """Read a whole JSONL file; returns the runs and warnings about a torn last line."""
    warnings: list[str] = []
    return list(iter_trajectories(path, warnings)), warnings
