"""Reading someone's session logs: whatever the bytes, each reader gives sessions that
build into valid trajectories, or refuses with `LogError` naming the file; never another
exception. Lines of real-shaped logs are damaged at random places."""

from __future__ import annotations

import json
from pathlib import Path

from fuzzing import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_trajectories import _node, values

from stickiness.agents.imported.build import build_trajectory
from stickiness.agents.imported.intent import infer_intents
from stickiness.agents.imported.session import LogError
from stickiness.agents.imported.sources import reader
from stickiness.analysis.observe import observe

FIXTURES = Path(__file__).parent / "fixtures" / "imported"
LOGS = {
    "claude-code": FIXTURES / "claude-code" / "edge-cases.jsonl",
    "codex": next((FIXTURES / "codex").glob("rollout-*.jsonl")),
}
LINES = {fmt: [json.loads(x) for x in p.read_text().splitlines()] for fmt, p in LOGS.items()}
MESSAGES = [
    {"role": "system", "content": "s"},
    {"role": "user", "content": "commit it"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "1", "function": {"name": "bash", "arguments": '{"command": "git commit -m x"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "1", "content": "[main 1234567] x"},
    {"role": "user", "content": [{"type": "text", "text": "push"}]},
    {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}],
    },
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]},
]


@st.composite
def damaged(draw, lines: list) -> list:
    data = json.loads(json.dumps(lines))
    for _ in range(draw(st.integers(1, 4))):
        parent, key = _node(data, draw)
        if parent is None:
            continue
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[key]
        else:
            parent[key] = draw(values)
    return data


def _survives(path: Path, fmt: str) -> None:
    """Like `stickiness import`: read through the guarded reader, then build."""
    try:
        sessions = reader(fmt)(path)
    except LogError as exc:
        assert str(path) in str(exc)
        return
    runs = [build_trajectory(s, infer_intents(s.turns)) for s in sessions]
    observe(runs)


@fuzz_settings(max_examples=200)
@given(fmt=st.sampled_from(sorted(LINES)), data=st.data())
def test_damaged_jsonl_logs_are_read_or_refused(tmp_path_factory, fmt, data):
    lines = data.draw(damaged(LINES[fmt]))
    path = tmp_path_factory.mktemp("log") / LOGS[fmt].name
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    _survives(path, fmt)


@fuzz_settings(max_examples=200)
@given(data=st.data())
def test_damaged_message_lists_are_read_or_refused(tmp_path_factory, data):
    messages = data.draw(damaged(MESSAGES))
    path = tmp_path_factory.mktemp("log") / "messages.json"
    path.write_text(json.dumps(messages))
    _survives(path, "messages")


ODD_LINES = {
    "claude-code": [
        {"type": "user", "uuid": "a", "message": "a string"},
        {"type": "assistant", "uuid": "b", "parentUuid": "a", "message": [1, 2]},
        {"type": "user", "uuid": "c", "parentUuid": "b", "message": {"content": "hi"}, "cwd": 3},
        {
            "type": "assistant",
            "uuid": "d",
            "parentUuid": "c",
            "timestamp": 5,
            "message": {"id": 3, "usage": "many", "content": [{"type": "tool_use", "id": 1}]},
        },
    ],
    "codex": [
        {"type": "session_meta", "payload": {"id": 1, "cwd": 5, "git": "main"}},
        {"type": "turn_context", "payload": {"model": ["x"]}},
        {"type": "response_item", "payload": {"type": "message", "role": "user", "content": "hi"}},
        {"type": "response_item", "payload": {"type": "function_call", "name": 1, "arguments": {}}},
        {
            "type": "response_item",
            "payload": {"type": "message", "role": "assistant", "content": [1]},
        },
        {"type": "token_usage_record", "payload": {"usage": {"input_tokens": "lots"}}},
    ],
}


def test_values_of_unexpected_shapes_are_read_or_refused(tmp_path):
    for fmt, lines in ODD_LINES.items():
        path = tmp_path / f"{fmt}.jsonl"
        path.write_text("".join(json.dumps(x) + "\n" for x in lines))
        _survives(path, fmt)
