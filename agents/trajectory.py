"""The trajectory record: one JSON line per finished run, the contract with analysis.

Everything needed to re-analyse a run is here (the turn annotations are copied from
the scenario), and nothing secret: adapters never put keys in `model_settings`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

SCHEMA_VERSION = 1


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
    input_tokens: int = 0
    output_tokens: int = 0

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
    turns: list[TurnRecord] = []


def append_trajectory(path: Path, trajectory: Trajectory) -> None:
    """Append one run as one line, flushed to disk before returning.

    One write() of a whole line in append mode: an interrupted process can at worst
    leave a truncated last line, never damage an earlier one.
    """
    line = trajectory.model_dump_json() + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_trajectories(path: Path) -> tuple[list[Trajectory], list[str]]:
    """Read a JSONL file; returns the runs and warnings about a skipped torn last line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise TrajectoryError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrajectoryError(f"{path}: cannot read: {exc}") from None
    runs: list[Trajectory] = []
    warnings: list[str] = []
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            runs.append(Trajectory.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            if i == last and isinstance(exc, json.JSONDecodeError):
                warnings.append(f"{path}: line {i + 1} is incomplete (interrupted run?); skipped")
                continue
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else exc.errors()[0]["msg"]
            raise TrajectoryError(
                f"{path}: line {i + 1}: not a trajectory record: {detail}"
            ) from None
    return runs, warnings
