"""Reading OpenHands event lists, downloads, file stores and evaluation outputs."""

from __future__ import annotations

import json

import pytest
from logged_sessions import (
    COMMIT,
    COMMIT_OUTPUT,
    FIXTURES,
    NO_REMOTE,
    calls_of,
    huge_file,
    replies_of,
    results_of,
)

from stickiness.agents.imported.openhands import read_openhands
from stickiness.agents.imported.session import LogError, LoggedSession

# -- OpenHands --------------------------------------------------------------------------


def _openhands_events() -> list[dict]:
    return json.loads((FIXTURES / "openhands" / "commit_then_push.json").read_text())


def _check_openhands(session: LoggedSession) -> None:
    assert session.format == "openhands"
    assert session.model == "claude-sonnet-4-5-20250929"
    assert session.agent == "OpenHands 0.59.0 (CodeActAgent)"
    assert session.system_prompt.startswith("You are OpenHands agent")
    assert session.started_at == "2025-10-14T09:00:00.000001"
    assert session.finished_at == "2025-10-14T09:01:07.810000"
    assert [t.user for t in session.turns] == [
        "Please commit the README change.",
        "Now push it to origin.",
    ]
    first, second = session.turns
    assert first.at == "2025-10-14T09:00:05.120000"
    # The arguments are the model's own JSON text, kept from the response.
    assert calls_of(session, 0) == [("execute_bash", {"command": COMMIT, "security_risk": "LOW"})]
    [commit] = results_of(session, 0)
    assert commit == {
        "role": "tool",
        "tool_call_id": "toolu_01",
        "name": "execute_bash",
        "content": COMMIT_OUTPUT,
        "is_error": False,
        "exit_code": 0,
    }
    assert replies_of(session, 0) == [
        "I'll stage and commit the change.",
        "Committed as 1a2b3c4 on main.",
    ]
    assert calls_of(session, 1) == [
        ("execute_bash", {"command": "git push origin main", "security_risk": "LOW"}),
        ("finish", {"message": "The push failed: this repository has no remote named origin."}),
    ]
    [push] = results_of(session, 1)
    assert push["is_error"] is True and push["exit_code"] == 128
    assert push["content"].startswith(NO_REMOTE)
    # The finish tool's message is the reply the person reads.
    assert (
        replies_of(session, 1)[-1] == "The push failed: this repository has no remote named origin."
    )
    # Running totals, less what the previous turn had spent; cached tokens counted apart.
    assert (first.model_calls, first.input_tokens, first.output_tokens) == (2, 300, 60)
    assert first.cache_read_tokens == 2200
    assert (second.model_calls, second.input_tokens, second.output_tokens) == (2, 600, 50)
    assert second.cache_read_tokens == 4700


def test_openhands_event_list():
    path = FIXTURES / "openhands" / "commit_then_push.json"
    [session] = read_openhands(path)
    assert session.session_id == "commit_then_push" and session.source == str(path)
    _check_openhands(session)


def test_openhands_download_and_file_store_folder(tmp_path):
    events = _openhands_events()
    download = tmp_path / "conversation.json"
    download.write_text(json.dumps({"trajectory": events}))
    _check_openhands(read_openhands(download)[0])
    folder = tmp_path / "sessions" / "a1b2c3" / "events"
    folder.mkdir(parents=True)
    for event in reversed(events):  # read in id order, not file order
        (folder / f"{event['id']}.json").write_text(json.dumps(event))
    for path in (folder, folder.parent):
        [session] = read_openhands(path)
        assert session.session_id == "a1b2c3"
        _check_openhands(session)


def test_openhands_evaluation_output_jsonl(tmp_path):
    events = _openhands_events()
    output = tmp_path / "output.jsonl"
    runs = [
        {"instance_id": f"demo__repo-{n}", "instruction": "...", "history": events, "metrics": {}}
        for n in (1, 2)
    ]
    output.write_text("".join(json.dumps(run) + "\n" for run in runs))
    sessions = read_openhands(output)
    assert [s.session_id for s in sessions] == ["demo__repo-1", "demo__repo-2"]
    _check_openhands(sessions[1])


def test_openhands_actions_without_tool_calls(tmp_path):
    """Older agents' actions carry no tool call: the call is rebuilt from the action."""
    events = [
        {"id": 0, "source": "user", "action": "message", "args": {"content": "Commit it."}},
        {"id": 1, "source": "agent", "action": "run", "args": {"command": COMMIT, "thought": ""}},
        {"id": 2, "source": "agent", "cause": 1, "observation": "run", "content": COMMIT_OUTPUT,
         "extras": {"command": COMMIT, "exit_code": 0}},
        {"id": 3, "source": "agent", "action": "edit",
         "args": {"path": "/w/a.py", "command": "str_replace", "old_str": "a", "new_str": "b"}},
        {"id": 4, "source": "agent", "cause": 3, "observation": "error",
         "content": "No replacement was performed.", "extras": {}},
        {"id": 5, "source": "agent", "action": "run", "args": {"command": "git push"}},
        {"id": 6, "source": "user", "cause": 5, "observation": "user_rejected",
         "content": "Action has been rejected by the user.", "extras": {}},
    ]  # fmt: skip
    path = tmp_path / "old.json"
    path.write_text(json.dumps(events))
    [session] = read_openhands(path)
    assert calls_of(session, 0) == [
        ("execute_bash", {"command": COMMIT}),
        ("str_replace_editor", {"command": "str_replace", "path": "/w/a.py", "old_str": "a",
                                "new_str": "b"}),
        ("execute_bash", {"command": "git push"}),
    ]  # fmt: skip
    results = results_of(session, 0)
    assert [r["tool_call_id"] for r in results] == ["openhands-1", "openhands-3", "openhands-5"]
    assert [(r["is_error"], r.get("exit_code")) for r in results] == [
        (False, 0),
        (True, None),
        (True, None),
    ]
    assert results[2]["outcome"] == "denied"
    assert session.model == "unknown" and session.turns[0].model_calls == 3


def test_openhands_calls_of_one_response_and_the_persons_own(tmp_path):
    """One response's calls run one after another, each result logged before the next
    call: they stay one reply. A person's own command and stop are theirs."""
    calls = [
        {"id": "a", "type": "function",
         "function": {"name": "execute_bash", "arguments": '{"command": "git status"}'}},
        {"id": "b", "type": "function",
         "function": {"name": "execute_bash", "arguments": '{"command": "git diff"}'}},
    ]  # fmt: skip
    response = {"id": "r1", "model": "gpt-5", "choices": [{"message": {"tool_calls": calls}}]}

    def run(n: int, call: str, command: str) -> list[dict]:
        meta = {"tool_call_id": call, "function_name": "execute_bash", "model_response": response}
        return [
            {"id": n, "source": "agent", "action": "run", "args": {"command": command},
             "tool_call_metadata": meta},
            {"id": n + 1, "source": "agent", "cause": n, "observation": "run", "content": "ok",
             "extras": {"metadata": {"exit_code": 0}}},
        ]  # fmt: skip

    events = [
        {"id": 0, "source": "user", "action": "message", "args": {"content": "Look around."}},
        *run(1, "a", "git status"),
        {"id": 3, "source": "user", "action": "run", "args": {"command": "git log"}},
        {"id": 4, "source": "user", "cause": 3, "observation": "run", "content": "commit 1a2b"},
        *run(5, "b", "git diff"),
        {"id": 7, "source": "user", "action": "change_agent_state",
         "args": {"agent_state": "stopped"}},
    ]  # fmt: skip
    path = tmp_path / "parallel.json"
    path.write_text(json.dumps(events))
    [session] = read_openhands(path)
    [only] = session.turns
    assert [m["role"] for m in only.messages] == ["assistant", "tool", "tool"]
    assert [c["id"] for c in only.messages[0]["tool_calls"]] == ["a", "b"]
    assert only.model_calls == 1 and session.model == "gpt-5"
    assert only.user_commands == ["git log"] and only.interrupted


def test_openhands_bad_input(tmp_path):
    with pytest.raises(LogError, match=r"malformed\.json: event 2: expected an action"):
        read_openhands(FIXTURES / "openhands" / "malformed.json")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": 0, "source": "user", "action": "message"')
    with pytest.raises(LogError, match=r"broken\.json: not readable JSON"):
        read_openhands(broken)
    broken.write_text('{"events": []}')
    with pytest.raises(LogError, match="expected a JSON list of OpenHands events"):
        read_openhands(broken)
    broken.write_text('[{"id": 0, "source": "user", "action": "message", "args": "hi"}]')
    with pytest.raises(LogError, match="event 1: expected an action \\(its `args` an object\\)"):
        read_openhands(broken)
    lines = tmp_path / "output.jsonl"
    lines.write_text('{"instance_id": "x", "history": "none"}\n')
    with pytest.raises(LogError, match=r"output\.jsonl:1: expected an evaluation output"):
        read_openhands(lines)
    empty = tmp_path / "events"
    empty.mkdir()
    with pytest.raises(LogError, match="no OpenHands events"):
        read_openhands(empty)
    (empty / "0.json").write_text("{not json")
    with pytest.raises(LogError, match=r"0\.json: not a readable JSON event"):
        read_openhands(empty)
    with pytest.raises(LogError, match="MiB is more than a session log holds"):
        read_openhands(huge_file(tmp_path, "huge.json"))
