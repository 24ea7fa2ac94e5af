"""Reading ATIF trajectories, and writing this tool's trajectories as ATIF."""

from __future__ import annotations

import json

import pytest
from factories import trajectory, turn
from logged_sessions import (
    COMMIT,
    COMMIT_OUTPUT,
    FIXTURES,
    NO_REMOTE,
    calls_of,
    huge_file,
    logged_calls,
    results_of,
)

from stickiness.agents.imported.atif import read_atif, to_atif
from stickiness.agents.imported.session import LogError

# -- ATIF -------------------------------------------------------------------------------


def test_atif_trajectory():
    [session] = read_atif(FIXTURES / "atif" / "trajectory.json")
    assert session.format == "atif"
    assert session.session_id == "3f9c2e7a-51d4-4b8e-9a60-2c7d1e5b8f34"
    assert (session.model, session.agent) == ("anthropic/claude-sonnet-4-5", "terminus-2 2.0.0")
    assert session.system_prompt.startswith("You are an AI assistant tasked with")
    assert session.started_at == "2025-11-05T10:00:00.000000+00:00"
    assert session.finished_at == "2025-11-05T10:01:05.000000+00:00"
    assert [t.user for t in session.turns] == [
        "Please commit the README change.",
        "Now push it to origin.",
    ]
    assert calls_of(session, 0) == [
        ("bash_command", {"keystrokes": COMMIT + "\n", "duration": 1.0})
    ]
    [commit] = results_of(session, 0)
    assert commit["content"] == COMMIT_OUTPUT + "\n"
    assert (commit["tool_call_id"], commit["is_error"]) == ("call_1_1", False)
    assert session.turns[0].messages[0]["reasoning"].startswith("The README was edited")
    assert [name for name, _ in calls_of(session, 1)] == ["bash_command"] * 2 + [
        "mark_task_complete"
    ]
    # Terminus-2 names no call on its terminal output: it goes to the first call waiting.
    [push] = results_of(session, 1)
    assert push["tool_call_id"] == "call_2_1" and push["content"].startswith(NO_REMOTE)
    # ATIF has no error flag: a failed command is only seen in its output.
    assert push["is_error"] is False
    assert session.notes == ["1 result(s) named no call: matched in order"]
    first, second = session.turns
    assert (first.model_calls, first.input_tokens, first.output_tokens) == (2, 350, 105)
    assert (first.cache_read_tokens, first.cache_write_tokens) == (3900, 150)
    assert (second.model_calls, second.input_tokens, second.cache_read_tokens) == (2, 400, 4800)


def test_atif_bad_input(tmp_path):
    with pytest.raises(LogError, match=r"malformed\.json: step 3: expected a step with `source`"):
        read_atif(FIXTURES / "atif" / "malformed.json")
    path = tmp_path / "trajectory.json"
    doc = json.loads((FIXTURES / "atif" / "trajectory.json").read_text())
    for change, message in [
        ({"schema_version": None}, 'not an ATIF trajectory \\(`schema_version` "ATIF-v1.x"'),
        ({"steps": {"1": {}}}, "`steps` is missing or not a list"),
        ({"agent": "terminus"}, "`agent` is not an object"),
    ]:
        path.write_text(json.dumps(doc | change))
        with pytest.raises(LogError, match=message):
            read_atif(path)
    doc["steps"][2]["tool_calls"] = [{"tool_call_id": "x", "arguments": {}}]
    path.write_text(json.dumps(doc))
    with pytest.raises(LogError, match="step 3: a tool call without a `function_name`"):
        read_atif(path)
    path.write_text("[1, 2")
    with pytest.raises(LogError, match="not readable JSON"):
        read_atif(path)
    with pytest.raises(LogError, match="MiB is more than a session log holds"):
        read_atif(huge_file(tmp_path, "huge.json"))


# -- ATIF export ------------------------------------------------------------------------

# Keys Harbor's models allow (every one forbids others), ATIF-v1.6.
_ROOT = {"schema_version", "session_id", "agent", "steps", "notes", "final_metrics",
         "continued_trajectory_ref", "extra"}  # fmt: skip
_STEP = {"step_id", "timestamp", "source", "model_name", "reasoning_effort", "message",
         "reasoning_content", "tool_calls", "observation", "metrics", "is_copied_context",
         "extra"}  # fmt: skip
_AGENT_ONLY = {"model_name", "reasoning_effort", "reasoning_content", "tool_calls", "metrics"}
_METRICS = {"prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd", "prompt_token_ids",
            "completion_token_ids", "logprobs", "extra"}  # fmt: skip
_FINAL = {"total_prompt_tokens", "total_completion_tokens", "total_cached_tokens",
          "total_cost_usd", "total_steps", "extra"}  # fmt: skip


def _check_atif_schema(doc: dict) -> None:
    assert set(doc) <= _ROOT and doc["schema_version"] == "ATIF-v1.6"
    assert set(doc["agent"]) <= {"name", "version", "model_name", "tool_definitions", "extra"}
    assert isinstance(doc["agent"]["name"], str) and isinstance(doc["agent"]["version"], str)
    assert set(doc["final_metrics"]) <= _FINAL
    assert [s["step_id"] for s in doc["steps"]] == list(range(1, len(doc["steps"]) + 1))
    for step in doc["steps"]:
        assert set(step) <= _STEP and step["source"] in ("system", "user", "agent")
        assert isinstance(step["message"], str)
        if step["source"] != "agent":
            assert not set(step) & _AGENT_ONLY
        calls = step.get("tool_calls", [])
        for call in calls:
            assert set(call) == {"tool_call_id", "function_name", "arguments"}
            assert isinstance(call["arguments"], dict)
        ids = {call["tool_call_id"] for call in calls}
        for result in step.get("observation", {"results": []})["results"]:
            assert set(result) <= {"source_call_id", "content", "subagent_trajectory_ref"}
            assert result["source_call_id"] is None or result["source_call_id"] in ids
        assert set(step.get("metrics", {})) <= _METRICS
    json.dumps(doc)  # plain JSON throughout


def _exchange() -> list[dict]:
    return [
        {"role": "assistant", "content": "Committing.", "reasoning": "One commit.",
         "tool_calls": [
             {"id": "c1", "name": "bash", "arguments": json.dumps({"command": COMMIT})},
             {"id": "c2", "name": "bash", "arguments": '{"command":"git status"}'},
             {"id": "c3", "name": "bash", "arguments": "git log -1"},
         ]},
        {"role": "tool", "tool_call_id": "c1", "name": "bash", "content": COMMIT_OUTPUT,
         "is_error": False, "exit_code": 0},
        {"role": "tool", "tool_call_id": "c2", "name": "bash", "content": "nothing to commit",
         "is_error": False},
        {"role": "tool", "tool_call_id": "c3", "name": "bash",
         "content": "error: arguments are not JSON", "is_error": True},
        {"role": "assistant", "content": "Committed as 1a2b3c4."},
    ]  # fmt: skip


def _failed_push() -> list[dict]:
    return [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "p1", "name": "bash", "arguments": '{"command": "git push"}'},
            {"id": "p2", "name": "bash", "arguments": '{"command": "git push --force"}'},
        ]},
        {"role": "tool", "tool_call_id": "p1", "name": "bash", "content": NO_REMOTE,
         "is_error": True, "exit_code": 128},
        {"role": "tool", "tool_call_id": "p2", "name": "bash", "content": "denied",
         "is_error": True, "outcome": "denied"},
        {"role": "assistant", "content": "The push failed."},
    ]  # fmt: skip


def test_to_atif_round_trip(tmp_path):
    run = trajectory(
        "run-7",
        [
            turn(1, text="Please commit the README change.", messages=_exchange(),
                 requests=["commit"], commits=1),
            turn(2, text="Now push it to origin.", messages=_failed_push(), forbids=["push"]),
            turn(3, text="Thanks!", messages=[]),
        ],
        model="openai:gpt-4o",
    )  # fmt: skip
    run.system_prompt = "You are a careful coding agent."
    run.turns[0].model_calls, run.turns[0].input_tokens = 2, 120
    run.turns[0].output_tokens, run.turns[0].cache_read_tokens = 30, 1000
    run.turns[1].model_calls, run.turns[1].cache_write_tokens = 2, 50
    run.turns[2].model_calls, run.turns[2].input_tokens = 1, 9  # an error before any reply

    doc = to_atif(run)
    _check_atif_schema(doc)
    assert doc["agent"]["model_name"] == "openai:gpt-4o"
    steps = doc["steps"]
    assert [s["source"] for s in steps] == ["system"] + ["user", "agent", "agent"] * 2 + ["user"]
    first_reply = steps[2]
    assert first_reply["metrics"] == {
        "prompt_tokens": 1120,
        "completion_tokens": 30,
        "cached_tokens": 1000,
    }
    assert first_reply["tool_calls"][2]["arguments"] == {"raw_arguments": "git log -1"}
    assert doc["final_metrics"]["total_prompt_tokens"] == 1120 + 50 + 9
    assert doc["extra"]["stickiness"]["scenario"] == "s1"
    assert steps[1]["extra"]["stickiness"]["requests"] == ["commit"]
    assert steps[1]["extra"]["stickiness"]["commits"][0]["message"] == "commit 1"

    path = tmp_path / "trajectory.json"
    path.write_text(json.dumps(doc))
    [session] = read_atif(path)
    assert session.system_prompt == run.system_prompt and session.model == "openai:gpt-4o"
    assert [t.user for t in session.turns] == [t.user for t in run.turns]
    for back, sent in zip(session.turns, run.turns, strict=True):
        assert logged_calls(back) == [
            (c.id, c.name, c.arguments, c.result, c.is_error) for c in sent.tool_calls()
        ]
        assert [m.get("content") or "" for m in back.messages if m["role"] == "assistant"] == [
            m.get("content") or "" for m in sent.messages if m["role"] == "assistant"
        ]
        counts = ("model_calls", "input_tokens", "output_tokens", "cache_read_tokens")
        assert [getattr(back, k) for k in counts] == [getattr(sent, k) for k in counts]
        assert back.cache_write_tokens == sent.cache_write_tokens
    push, forced = [m for m in session.turns[1].messages if m["role"] == "tool"]
    assert (push["exit_code"], push["is_error"]) == (128, True)
    assert forced["outcome"] == "denied"
    assert session.turns[0].messages[0]["reasoning"] == "One commit."


def test_to_atif_without_turns():
    run = trajectory("empty", [])
    doc = to_atif(run)
    _check_atif_schema(doc)
    assert doc["steps"] == [{"step_id": 1, "source": "system", "message": ""}]
