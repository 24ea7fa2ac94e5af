"""ACP agents (`acp:<agent>`): the JSON-RPC client against a small fake ACP agent written
here (messages, tool calls, permissions, refused methods, deadlines, crashes, the
process group), then the pinned claude-agent-acp through the runner against the scripted
server on 127.0.0.1, its commits read from git."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from processes import alive, gone

from stickiness.agents.external import CLIS
from stickiness.agents.external.acp import CLAUDE_AGENT_ACP, AcpAgent
from stickiness.agents.external.base import AgentRunError
from stickiness.agents.loop import RunStopped
from stickiness.agents.models import ModelSpec, ModelSpecError, check_model
from stickiness.agents.runner import RunOptions, plan_runs, run_one
from stickiness.analysis.extract import attempted_actions
from stickiness.reports import agent_commands
from stickiness.reports.cli import main
from stickiness.scenarios import load_scenarios

HERE = Path(__file__).resolve().parent


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "fake_acp.py"
    # The system's Python where there is one: it stays visible under isolate=bwrap.
    python = "/usr/bin/python3" if Path("/usr/bin/python3").is_file() else sys.executable
    script.write_text(f"#!{python}\n" + (HERE / "fake_acp_agent.py").read_text())
    script.chmod(0o755)
    return script


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def agents(tmp_path: Path, fake: Path):
    """Makes a prepared AcpAgent on the fake (in a git workspace under tmp_path); every
    agent made is closed at the end."""
    made: list[AcpAgent] = []

    def make(params: str = "", args: str = "") -> AcpAgent:
        command = quote(f"{fake} {args}".strip())
        spec = f"acp:fake?command={command}&key_env=none&base_url=http://127.0.0.1:9{params}"
        agent = AcpAgent(ModelSpec.parse(spec))
        base = tmp_path / f"run{len(made)}"
        workspace = base / "ws"
        workspace.mkdir(parents=True)
        git(workspace, "init", "-q", "-b", "main")
        git(workspace, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
            "--allow-empty", "-m", "start")  # fmt: skip
        agent.prepare(workspace, base)
        agent.cancel_grace = 1.0
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.close()


def turn(agent: AcpAgent, text: str, seconds: float = 30.0, stop=lambda: False):
    return agent.run_turn(text, time.monotonic() + seconds, stop)


def transcript(agent: AcpAgent) -> list[dict]:
    path = agent.transcript()
    assert path is not None
    return [json.loads(line) for line in path.read_text().splitlines()]


def sent(agent: AcpAgent) -> list[str]:
    return [r["message"].get("method") for r in transcript(agent) if r["from"] == "client"]


# -- the client, against the fake --------------------------------------------------------


def test_updates_become_text_tool_calls_and_results(agents):
    agent = agents()
    out = turn(
        agent,
        "say: Hello there; think: hmm; run: printf hi; run: exit 3; edit: notes.md; "
        "run: git add -A && git commit -qm fake; usage",
    )
    assert out.error is None and not out.time_limit_hit
    first, hi, second, failed, *rest = out.messages
    assert first["role"] == "assistant" and first["content"] == "Hello there"
    assert first["reasoning"] == "hmm"
    (call,) = first["tool_calls"]  # the call joins the text it came after
    assert call["name"] == "execute" and json.loads(call["arguments"]) == {"command": "printf hi"}
    assert call["title"] == "printf hi"
    assert hi == {
        "role": "tool",
        "tool_call_id": call["id"],
        "name": "execute",
        "content": "hi",
        "is_error": False,
        "status": "completed",
        "permission": "allowed",
    }
    assert second["tool_calls"][0]["arguments"] == '{"command": "exit 3"}'
    assert failed["is_error"] and failed["status"] == "failed"
    edit_call, edit_result, commit_call, commit_result = rest
    assert edit_call["tool_calls"][0]["name"] == "edit"
    assert "+line" in edit_result["content"] and not edit_result["is_error"]
    # A commit through the agent's shell is an attempt the analysis sees, and real.
    assert attempted_actions(commit_call["tool_calls"][0]) == {"commit"}
    assert not commit_result["is_error"]
    assert git(agent.workspace, "log", "-1", "--format=%s").strip() == "fake"
    assert out.model_calls == 4  # one per assistant message
    assert (out.input_tokens, out.output_tokens) == (11, 7)
    assert (out.cache_read_tokens, out.cache_write_tokens) == (5, 2)
    assert out.cost_usd == pytest.approx(0.25)
    # The next turn: the same process and session; its cost is its own.
    again = turn(agent, "say: again; usage")
    assert again.messages[0]["content"] == "again" and again.cost_usd == pytest.approx(0.25)
    plain = turn(agent, "say: no cost reported")
    assert plain.cost_usd is None and plain.input_tokens == 0
    session = agent.session()
    assert session["session_id"] == "sess-1" and session["starts"] == "1"
    assert (session["agent_name"], session["agent_version"]) == ("fake-acp", "1.2.3")
    assert session["protocol_version"] == "1" and session["permissions"] == "allow"
    assert session["permission_requests"] == "allowed 3, denied 0, cancelled 0"
    assert session["stop_reasons"] == "end_turn, end_turn, end_turn"
    assert all(isinstance(v, str | None) for v in session.values())  # as recorded
    assert agent.describe()["permissions"] == "allow" and agent.harness == "acp:fake"
    assert sent(agent)[:3] == ["initialize", "session/new", "session/prompt"]
    init = transcript(agent)[0]["message"]["params"]
    # Nothing offered that the client does not do: the agent uses its own tools.
    assert init["clientCapabilities"] == {
        "fs": {"readTextFile": False, "writeTextFile": False},
        "terminal": False,
    }
    assert init["protocolVersion"] == 1


def test_permission_requests_are_answered_by_the_policy(agents):
    agent = agents("&permissions=deny")
    out = turn(agent, "run: touch made.txt; say: done")
    assert not (agent.workspace / "made.txt").exists()
    result = out.messages[1]
    assert result["outcome"] == "denied" and result["is_error"]
    assert result["permission"] == "denied" and result["content"] == "refused"
    assert out.messages[-1]["content"] == "done"
    assert agent.session()["permission_requests"] == "allowed 0, denied 1, cancelled 0"
    assert agent.describe()["permissions"] == "deny"


def test_methods_not_offered_are_answered_method_not_found(agents):
    agent = agents()
    out = turn(agent, "ask: fs/read_text_file; ask: terminal/create; ask: x/anything")
    texts = [m["content"] for m in out.messages]
    assert len(texts) == 3 and all('"code": -32601' in t for t in texts)
    assert texts[0].startswith("fs/read_text_file -> ")
    assert agent.session()["refused_methods"] == (
        "fs/read_text_file x1, terminal/create x1, x/anything x1"
    )
    assert out.error is None


def test_a_turn_past_its_deadline_is_cancelled_and_the_session_goes_on(agents):
    agent = agents()
    pid = None
    out = turn(agent, "say: working; hang", seconds=1.0)
    assert out.time_limit_hit and out.error is None
    assert out.messages[0]["content"] == "working"
    assert "session/cancel" in sent(agent)
    pid = agent.acp.channel.proc.pid
    after = turn(agent, "say: still here")
    assert after.messages[0]["content"] == "still here" and not after.time_limit_hit
    assert agent.acp.channel.proc.pid == pid  # the same process, the same session
    session = agent.session()
    assert session["stop_reasons"] == "cancelled, end_turn" and session["starts"] == "1"


def test_an_agent_ignoring_cancel_is_killed_and_its_session_loaded_again(agents):
    agent = agents()
    turn(agent, "child")
    child = int((agent.home / "child.pid").read_text())
    first = agent.acp.channel.proc.pid
    out = turn(agent, "say: thinking; stubborn", seconds=1.0)
    assert out.time_limit_hit and out.messages[0]["content"] == "thinking"
    assert gone(first) and gone(child)  # the whole group, reaped
    back = turn(agent, "say: back")
    assert [m["content"] for m in back.messages] == ["back"]  # the replay is not the turn's
    assert sent(agent).count("session/load") == 1 and agent.session()["starts"] == "2"
    assert agent.session()["session_id"] == "sess-1"


def test_without_load_session_a_killed_agent_ends_the_conversation(agents):
    agent = agents(args="--no-load")
    assert turn(agent, "stubborn", seconds=1.0).time_limit_hit
    out = turn(agent, "say: back")
    assert isinstance(out.error, AgentRunError)
    assert "cannot load its session" in str(out.error)


def test_a_crashed_agent_is_a_clear_error_and_leaves_no_process(agents):
    agent = agents()
    out = turn(agent, "say: about to fail; crash")
    assert isinstance(out.error, AgentRunError)
    message = str(out.error)
    assert "exited with code 3 during session/prompt" in message
    assert "fake agent crashed" in message  # the stderr tail
    assert out.messages[0]["content"] == "about to fail"
    child = int((agent.home / "child.pid").read_text())
    assert gone(child) and agent.acp.channel is None


def test_close_kills_the_group_and_reaps_it(agents):
    agent = agents()
    turn(agent, "child")
    proc = agent.acp.channel.proc
    child = int((agent.home / "child.pid").read_text())
    assert alive(proc.pid) and alive(child)
    agent.close()
    assert proc.returncode is not None and gone(child)
    agent.close()  # twice is harmless


def test_a_stop_request_cancels_the_turn(agents):
    agent = agents()
    turn(agent, "say: started")
    with pytest.raises(RunStopped):
        turn(agent, "hang", stop=lambda: True)
    assert "session/cancel" in sent(agent)


def test_the_agent_sees_its_own_variables_only(agents, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "fake-secret-value-123")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-decoy-0123456789abcdef")
    agent = agents("&key_env=FAKE_KEY&base_url_env=FAKE_URL&model_env=FAKE_MODEL&model=fake-large")
    out = turn(agent, "env")
    seen = json.loads(out.messages[0]["content"])
    env = seen["env"]
    assert env["FAKE_KEY"] == "fake-secret-value-123"
    assert env["FAKE_URL"] == "http://127.0.0.1:9" and env["FAKE_MODEL"] == "fake-large"
    assert "OPENAI_API_KEY" not in env and "ANTHROPIC_API_KEY" not in env
    assert env["HOME"] == str(agent.home) and env["PWD"] == str(agent.workspace)
    assert seen["cwd"] == str(agent.workspace)
    # The transcript keeps what was exchanged, the key redacted.
    assert "fake-secret-value-123" not in agent.transcript().read_text()


@pytest.mark.skipif(
    shutil.which("bwrap") is None or not Path("/usr/bin/python3").is_file(),
    reason="bubblewrap or the system's python3 not installed",
)
def test_isolated_the_agent_sees_only_its_sandbox(agents, tmp_path):
    (tmp_path / "outside.txt").write_text("private")
    agent = agents("&isolate=bwrap")
    out = turn(agent, f"run: cat {tmp_path}/outside.txt; run: printf x > inside.txt")
    hidden, written = out.messages[1], out.messages[3]
    assert hidden["is_error"] and "No such file" in hidden["content"]
    assert not written["is_error"] and (agent.workspace / "inside.txt").read_text() == "x"
    assert agent.describe()["isolation"] == "bwrap"
    agent.close()
    assert agent.session()["agent_name"] == "fake-acp"


def test_the_model_is_chosen_through_the_session_config_option(agents):
    agent = agents("&model=fake-large")
    out = turn(agent, "model")
    assert out.messages[0]["content"] == "fake-large"
    assert agent.session()["model_option"] == "fake-large"
    assert "session/set_config_option" in sent(agent)
    turn(agent, "switch: fake-small")  # the agent's own change is noted too
    assert agent.session()["model_option"] == "fake-small"
    unknown = turn(agents("&model=fake-huge"), "model")
    assert "offers no such model (fake-small, fake-large)" in str(unknown.error)


def test_an_agent_speaking_another_protocol_version_is_refused(agents):
    out = turn(agents(args="--protocol 2"), "say: hi")
    assert "speaks ACP version 2" in str(out.error)


def test_specs_are_checked_before_any_run(fake):
    base = "key_env=none&base_url=http://127.0.0.1:9"
    with pytest.raises(ModelSpecError, match=r"unknown ACP agent 'nothing'.*command=PATH"):
        check_model(f"acp:nothing?{base}", reachability=False)
    with pytest.raises(ModelSpecError, match="permissions=maybe"):
        check_model(f"acp:x?command={fake}&permissions=maybe&{base}", reachability=False)
    with pytest.raises(ModelSpecError, match="not a variable name"):
        check_model(f"acp:x?command={fake}&base_url_env=1BAD&{base}", reachability=False)
    with pytest.raises(ModelSpecError, match="not an executable"):
        check_model(f"acp:x?command=/nonexistent/agent&{base}", reachability=False)
    with pytest.raises(ModelSpecError, match="not both"):
        check_model(f"acp:x?command={fake}&bin={fake}&{base}", reachability=False)
    with pytest.raises(ModelSpecError, match="no server"):
        check_model(f"acp:x?command={fake}&key_env=none&base_url_env=NO_SUCH_VAR_X")
    assert check_model(f"acp:x?command={fake}&{base}", reachability=False).provider == "acp"


def test_install_and_list_include_the_pinned_acp_agent(monkeypatch, tmp_path, capsys):
    assert CLIS["claude-agent-acp"] is CLAUDE_AGENT_ACP.cli
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setenv("STICKINESS_AGENT_CLIS", str(tmp_path / "clis"))
    monkeypatch.setenv("COLUMNS", "250")
    npm = SimpleNamespace(which=lambda name: "/usr/bin/npm" if name == "npm" else None)
    monkeypatch.setattr(agent_commands, "shutil", npm)
    monkeypatch.setattr(
        agent_commands, "subprocess", SimpleNamespace(run=fake_run, DEVNULL=subprocess.DEVNULL)
    )
    assert main(["agents", "install", "claude-agent-acp"]) == 0
    (argv,) = calls
    assert argv[1:4] == ["install", "--prefix", str(tmp_path / "clis")]
    assert argv[-1] == "@agentclientprotocol/claude-agent-acp@0.101.0"
    out = capsys.readouterr().out
    assert "acp:claude-agent-acp?model=<model>" in out and "claude-code:<model>" in out


SCENARIO = """\
id: fake-acp
title: Commit, then edit
behaviour: commit
arm: control
kind: control
workspace:
  files:
    notes.md: "# notes\\n"
turns:
  - user: "say: committing; run: printf 'a\\\\n' >> notes.md && git commit -qam one"
    requests: [edit:notes.md, commit]
  - user: "run: printf 'b\\\\n' >> notes.md"
    requests: [edit:notes.md]
"""


def test_the_fake_agent_through_the_runner(tmp_path, fake):
    (tmp_path / "sc").mkdir()
    (tmp_path / "sc" / "fake.yaml").write_text(SCENARIO)
    (scenario,) = load_scenarios([tmp_path / "sc"])
    spec = f"acp:fake?command={fake}&key_env=none&base_url=http://127.0.0.1:9"
    (run_spec,) = plan_runs([scenario], [ModelSpec.parse(spec)], 1)
    run = run_one(run_spec, RunOptions(transcripts=tmp_path / "kept", turn_timeout=30))
    assert run.status == "ok", run.error
    assert run.harness == "acp:fake" and run.model_settings["permissions"] == "allow"
    assert [len(t.commits) for t in run.turns] == [1, 0]
    assert run.turns[1].files_changed == ["notes.md"] and run.turns[1].dirty_after
    kept = Path(run.agent_session["transcript"])
    assert kept.parent == tmp_path / "kept" and kept.is_file()
    assert run.agent_session["agent_name"] == "fake-acp"
