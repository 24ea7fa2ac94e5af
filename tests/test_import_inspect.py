"""Reading Inspect AI logs: `.eval` zips (finished or not) and the older `.json`."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

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

from stickiness.agents.imported.inspect_log import read_inspect
from stickiness.agents.imported.session import LogError, LoggedSession

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
    assert calls_of(session, 0) == [("bash", {"command": COMMIT})]
    [commit] = results_of(session, 0)
    assert commit["content"] == COMMIT_OUTPUT + "\n"
    assert (commit["tool_call_id"], commit["name"], commit["is_error"]) == (
        "toolu_01",
        "bash",
        False,
    )
    # Reasoning parts are not the reply.
    assert replies_of(session, 0) == [
        "I'll stage and commit the change.",
        "Committed as 1a2b3c4 on main.",
    ]
    assert calls_of(session, 1) == [
        ("bash", {"command": "git push origin main"}),
        ("bash", {"command": "git fetch --all"}),
    ]
    push, fetch = results_of(session, 1)
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
        read_inspect(huge_file(tmp_path, "huge.eval"))
