"""What the format readers' tests share: fixtures, the commit they show, and ways to
look at a read session."""

from __future__ import annotations

import json
from pathlib import Path

from stickiness.agents.imported.session import LoggedSession, LoggedTurn

FIXTURES = Path(__file__).parent / "fixtures" / "imported"
COMMIT = 'git add -A && git commit -m "Update README"'
COMMIT_OUTPUT = "[main 1a2b3c4] Update README\n 1 file changed, 1 insertion(+)"
NO_REMOTE = "fatal: 'origin' does not appear to be a git repository"


def calls_of(session: LoggedSession, n: int) -> list[tuple[str, dict]]:
    return [
        (call["name"], json.loads(call["arguments"]))
        for m in session.turns[n].messages
        for call in m.get("tool_calls") or []
    ]


def results_of(session: LoggedSession, n: int) -> list[dict]:
    return [m for m in session.turns[n].messages if m["role"] == "tool"]


def replies_of(session: LoggedSession, n: int) -> list[str]:
    return [m["content"] for m in session.turns[n].messages if m["role"] == "assistant"]


def logged_calls(turn: LoggedTurn) -> list[tuple]:
    results = {m["tool_call_id"]: m for m in turn.messages if m["role"] == "tool"}
    return [
        (
            c["id"],
            c["name"],
            c["arguments"],
            results[c["id"]]["content"],
            results[c["id"]]["is_error"],
        )
        for m in turn.messages
        for c in m.get("tool_calls") or []
    ]


def huge_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    with open(path, "wb") as fh:
        fh.truncate(513 * 2**20)  # sparse: takes no room on disk
    return path
