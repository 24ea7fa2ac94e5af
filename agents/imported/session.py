"""A session read from an agent's own log, before it becomes a trajectory.

Every log format (Claude Code, Codex, OpenHands, Inspect, ATIF, message lists) is read
into these records; `build` turns them into trajectories the analyser understands. A
turn starts at each message a person typed and holds everything the agent did until
the next one, as messages in the trajectory's own shape:

- `{"role": "assistant", "content": str, "tool_calls": [{"id", "name", "arguments"}]}`
  (`arguments` is the call's JSON text);
- `{"role": "tool", "tool_call_id", "name", "content", "is_error"}`, plus
  `"outcome": "denied"` when the person refused the call at a permission prompt, and
  `"exit_code"` when the log records one.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class LogError(ValueError):
    """A session log cannot be read; the message names the file and, where known, the line."""


@dataclass
class LoggedTurn:
    user: str  # what the person typed
    at: str | None = None  # when, ISO 8601 as the log wrote it
    ref: str | None = None  # the log's own id of the message (Claude Code's entry uuid)
    messages: list[dict] = field(default_factory=list)
    # A plan the person approved during this turn (its text counts as theirs).
    plan: str | None = None
    # Shell commands the person ran themselves (a `!` escape): not the agent's doing.
    user_commands: list[str] = field(default_factory=list)
    interrupted: bool = False  # the person stopped the agent mid-turn
    # The turn ended on an error the agent's client reported (a rate limit, an outage):
    # a request it cut short is often typed again in the next turn.
    error: str | None = None
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass
class LoggedSession:
    source: str  # the file it was read from
    format: str  # "claude-code", "codex", "openhands", "inspect", "atif", "messages"
    session_id: str
    model: str = "unknown"  # the model that wrote most replies
    agent: str = ""  # the agent and version that wrote the log, when it says
    cwd: str | None = None
    branch: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    system_prompt: str = ""
    turns: list[LoggedTurn] = field(default_factory=list)
    # What the reader left out or could not read, for the person to know.
    notes: list[str] = field(default_factory=list)
