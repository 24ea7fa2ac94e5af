"""Reading OpenHands, Inspect AI and ATIF logs, and writing trajectories as ATIF."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from factories import trajectory, turn

from stickiness.agents.imported.atif import read_atif, to_atif
from stickiness.agents.imported.inspect_log import read_inspect
from stickiness.agents.imported.openhands import read_openhands
from stickiness.agents.imported.session import LogError, LoggedSession, LoggedTurn

FIXTURES = Path(__file__).parent / "fixtures" / "imported"
COMMIT = 'git add -A && git commit -m "Update README"'
COMMIT_OUTPUT = "[main 1a2b3c4] Update README\n 1 file changed, 1 insertion(+)"
NO_REMOTE = "fatal: 'origin' does not appear to be a git repository"


def _calls(session: LoggedSession, n: int) -> list[tuple[str, dict]]:
    return [
        (call["name"], json.loads(call["arguments"]))
        for m in session.turns[n].messages
        for call in m.get("tool_calls") or []
    ]


def _results(session: LoggedSession, n: int) -> list[dict]:
    return [m for m in session.turns[n].messages if m["role"] == "tool"]


def _replies(session: LoggedSession, n: int) -> list[str]:
    return [m["content"] for m in session.turns[n].messages if m["role"] == "assistant"]


def _logged_calls(turn: LoggedTurn) -> list[tuple]:
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


def _huge(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    with open(path, "wb") as fh:
        fh.truncate(513 * 2**20)  # sparse: takes no room on disk
    return path


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
    assert _calls(session, 0) == [("execute_bash", {"command": COMMIT, "security_risk": "LOW"})]
    [commit] = _results(session, 0)
    assert commit == {
        "role": "tool",
        "tool_call_id": "toolu_01",
        "name": "execute_bash",
        "content": COMMIT_OUTPUT,
        "is_error": False,
        "exit_code": 0,
    }
    assert _replies(session, 0) == [
        "I'll stage and commit the change.",
        "Committed as 1a2b3c4 on main.",
    ]
    assert _calls(session, 1) == [
        ("execute_bash", {"command": "git push origin main", "security_risk": "LOW"}),
        ("finish", {"message": "The push failed: this repository has no remote named origin."}),
    ]
    [push] = _results(session, 1)
    assert push["is_error"] is True and push["exit_code"] == 128
    assert push["content"].startswith(NO_REMOTE)
    # The finish tool's message is the reply the person reads.
    assert (
        _replies(session, 1)[-1] == "The push failed: this repository has no remote named origin."
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
    assert _calls(session, 0) == [
        ("execute_bash", {"command": COMMIT}),
        ("str_replace_editor", {"command": "str_replace", "path": "/w/a.py", "old_str": "a",
                                "new_str": "b"}),
        ("execute_bash", {"command": "git push"}),
    ]  # fmt: skip
    results = _results(session, 0)
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
        read_openhands(_huge(tmp_path, "huge.json"))


# -- Inspect AI -------------------------------------------------------------------------


def _eval_zip(tmp_path: Path, members: dict[str, str]) -> Path:
    path = tmp_path / "2025-11-03T14-20-01+00-00_git-habits_BxG4nJq2.eval"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def _inspect_members() -> dict[str, str]:
    folder = FIXTURES / "inspect"
    header = (folder / "header.json").read_text()
    sample = (folder / "commit-readme_epoch_1.json").read_text()
    return {
        "_journal/start.json": header,
        "samples/commit-readme_epoch_1.json": sample,
        "header.json": header,
    }


def _check_inspect(session: LoggedSession) -> None:
    assert session.format == "inspect"
    assert session.session_id == "Ps8mXq2RtY7vBn4cLk9dWe"
    assert session.model == "anthropic/claude-sonnet-4-5"
    assert session.agent == "inspect_ai 0.3.140 (basic_agent)"
    assert (session.started_at, session.finished_at) == (
        "2025-11-03T14:20:01.512+00:00",
        "2025-11-03T14:21:39.004+00:00",
    )
    # The system prompt was moved out to the sample's attachments.
    assert session.system_prompt.startswith("You are a helpful assistant attempting to submit")
    assert [t.user for t in session.turns] == [
        "Please commit the README change.",
        "Now push it to origin.",
    ]
    assert _calls(session, 0) == [("bash", {"command": COMMIT})]
    [commit] = _results(session, 0)
    assert commit["content"] == COMMIT_OUTPUT + "\n"
    assert (commit["tool_call_id"], commit["name"], commit["is_error"]) == (
        "toolu_01",
        "bash",
        False,
    )
    # Reasoning parts are not the reply.
    assert _replies(session, 0) == [
        "I'll stage and commit the change.",
        "Committed as 1a2b3c4 on main.",
    ]
    assert _calls(session, 1) == [
        ("bash", {"command": "git push origin main"}),
        ("bash", {"command": "git fetch --all"}),
    ]
    push, fetch = _results(session, 1)
    # Inspect's bash tool answers a failed command with its output, not an error.
    assert push["content"].startswith(NO_REMOTE) and push["is_error"] is False
    assert fetch == {
        "role": "tool",
        "tool_call_id": "toolu_03",
        "name": "bash",
        "content": "Command timed out before completing.",
        "is_error": True,
    }
    first, second = session.turns
    # Each model event's usage goes to the turn of the reply it wrote; the grader's not.
    assert (first.model_calls, first.input_tokens, first.output_tokens) == (2, 700, 55)
    assert (first.cache_read_tokens, first.cache_write_tokens) == (3800, 1200)
    assert (second.model_calls, second.input_tokens, second.output_tokens) == (2, 800, 90)
    assert (second.cache_read_tokens, second.cache_write_tokens) == (4600, 0)


def test_inspect_eval_zip(tmp_path):
    [session] = read_inspect(_eval_zip(tmp_path, _inspect_members()))
    _check_inspect(session)


def test_inspect_unfinished_eval_and_epochs(tmp_path):
    members = _inspect_members()
    del members["header.json"]  # a run still going has only the journal's start
    sample = json.loads(members["samples/commit-readme_epoch_1.json"])
    second = dict(sample, epoch=2, uuid="Zq3")
    members["samples/commit-readme_epoch_2.json"] = json.dumps(second)
    sessions = read_inspect(_eval_zip(tmp_path, members))
    assert [s.session_id for s in sessions] == ["Ps8mXq2RtY7vBn4cLk9dWe", "Zq3"]
    _check_inspect(sessions[0])


def test_inspect_json_log(tmp_path):
    folder = FIXTURES / "inspect"
    log = json.loads((folder / "header.json").read_text())
    sample = json.loads((folder / "commit-readme_epoch_1.json").read_text())
    log["samples"] = [sample]
    path = tmp_path / "log.json"
    path.write_text(json.dumps(log))
    _check_inspect(read_inspect(path)[0])
    # Without model events, a one-turn sample gets the sample's totals.
    sample.update(events=[], messages=sample["messages"][:5])
    path.write_text(json.dumps(log))
    [session] = read_inspect(path)
    assert len(session.turns) == 1
    assert (session.turns[0].input_tokens, session.turns[0].cache_read_tokens) == (1500, 8400)


def test_inspect_bad_input(tmp_path):
    members = _inspect_members()
    bad = (FIXTURES / "inspect" / "malformed_sample.json").read_text()
    members["samples/commit-readme_epoch_1.json"] = bad
    with pytest.raises(
        LogError, match="samples/commit-readme_epoch_1.json: message 2: expected a role"
    ):
        read_inspect(_eval_zip(tmp_path, members))
    not_inspect = _eval_zip(tmp_path, {"data.csv": "a,b\n"})
    with pytest.raises(LogError, match="a zip but not an Inspect log"):
        read_inspect(not_inspect)
    broken = tmp_path / "broken.eval"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(LogError, match=r"broken\.eval: not a readable \.eval zip"):
        read_inspect(broken)
    members = _inspect_members()
    members["header.json"] = "{"
    with pytest.raises(LogError, match="header.json: not readable JSON"):
        read_inspect(_eval_zip(tmp_path, members))
    members["header.json"] = '{"version": 2, "status": "success"}'
    with pytest.raises(LogError, match="header.json: expected an object with `eval`"):
        read_inspect(_eval_zip(tmp_path, members))
    plain = tmp_path / "log.json"
    plain.write_text('{"samples": []}')
    with pytest.raises(LogError, match="not an Inspect log \\(expected an object with `eval`\\)"):
        read_inspect(plain)
    with pytest.raises(LogError, match="MiB is more than a session log holds"):
        read_inspect(_huge(tmp_path, "huge.eval"))


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
    assert _calls(session, 0) == [("bash_command", {"keystrokes": COMMIT + "\n", "duration": 1.0})]
    [commit] = _results(session, 0)
    assert commit["content"] == COMMIT_OUTPUT + "\n"
    assert (commit["tool_call_id"], commit["is_error"]) == ("call_1_1", False)
    assert session.turns[0].messages[0]["reasoning"].startswith("The README was edited")
    assert [name for name, _ in _calls(session, 1)] == ["bash_command"] * 2 + ["mark_task_complete"]
    # Terminus-2 names no call on its terminal output: it goes to the first call waiting.
    [push] = _results(session, 1)
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
        read_atif(_huge(tmp_path, "huge.json"))


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
        assert _logged_calls(back) == [
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
