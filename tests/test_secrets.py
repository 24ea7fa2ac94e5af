"""A key the server echoes back never reaches an output file or the terminal."""

from __future__ import annotations

import json
import shutil

from llm_server import OPENAI, FakeLLMServer, Reply, error_reply, key_of, openai_reply

from stickiness.agents.redact import Redactor, redact
from stickiness.reports.cli import main

CANARY = "canary-7f3a9c1e5b2d-do-not-leak"


def test_key_values_and_key_shapes_are_redacted():
    r = Redactor()
    r.add_environment({"MY_API_KEY": CANARY, "GIT_AUTHOR_NAME": "Ada Lovelace", "HF_TOKEN": "x"})
    text = f"k={CANARY} by Ada Lovelace; sk-proj-AbC123dEf456gHi789jKl and a task-list-item"
    out = r(text)
    assert CANARY not in out and "[REDACTED MY_API_KEY]" in out
    assert "Ada Lovelace" in out and "task-list-item" in out
    assert "sk-proj" not in out
    assert r(json.dumps({"k": CANARY})) == json.dumps({"k": "[REDACTED MY_API_KEY]"})


def _echo(headers: dict) -> dict:
    """Says the key it was sent, and has it written into a file and a commit."""
    key = key_of(headers)
    args = json.dumps({"path": "leak.txt", "content": f"key: {key}\n"})
    return openai_reply(f"The key you sent is {key}.", [("call_1", "write_file", args)]).body


def test_an_echoed_key_appears_in_no_output_file(tmp_path, monkeypatch, capsys, commit_folder):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(commit_folder / "commit-never-then-edits.yaml", one)
    args = ["run", "--model", "openai:gpt-4o", "--scenarios", str(one), "--repeats", "1"]
    with FakeLLMServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
        server.queue(OPENAI, Reply(body=_echo))
        commit = json.dumps({"message": f"Add the key {CANARY}"})
        server.queue(OPENAI, openai_reply(None, [("call_2", "git_commit", commit)]))
        assert main([*args, "--out", "echo"]) == 0
        # A 401 whose body quotes the key: a fatal error, its message recorded and shown.
        server.queue(OPENAI, error_reply(401, f"Incorrect API key provided: {CANARY}"))
        assert main([*args, "--out", "denied", "--cache", "cache"]) == 1
        assert any(CANARY in key_of(r["headers"]) for r in server.requests)  # it was sent
    seen = capsys.readouterr()
    assert CANARY not in seen.out + seen.err and "Incorrect API key" in seen.out
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "commit-scenarios" not in p.parts]
    assert any(p.name == "trajectories.jsonl" for p in written)
    leaks = [p for p in written if CANARY.encode() in p.read_bytes()]
    assert leaks == []
    trajectories = (tmp_path / "echo" / "trajectories.jsonl").read_text()
    assert "[REDACTED OPENAI_API_KEY]" in trajectories and redact(CANARY) != CANARY
