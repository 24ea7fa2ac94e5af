"""The pinned claude-agent-acp (an ACP agent running Claude Code's engine) through the
runner against the scripted server on 127.0.0.1: its commits read from git, its denied
calls recorded, nothing of it left running."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from llm_server import FakeLLMServer
from processes import alive
from scripted_agents import claude_code_agent

from stickiness.agents.external.acp import CLAUDE_AGENT_ACP
from stickiness.agents.external.base import find_cli
from stickiness.agents.models import ModelSpec, ModelSpecError
from stickiness.agents.runner import RunOptions, plan_runs, run_one
from stickiness.analysis.observe import observe


def claude_agent_acp() -> Path | None:
    """The agent as the adapter finds it (STICKINESS_AGENT_CLIS, or .agent-clis under
    the working folder, or PATH)."""
    try:
        return find_cli(ModelSpec.parse("acp:claude-agent-acp"), CLAUDE_AGENT_ACP.cli)
    except ModelSpecError:
        return None


needs_agent = pytest.mark.skipif(
    claude_agent_acp() is None,
    reason=(
        f"claude-agent-acp not installed: `stickiness agents install claude-agent-acp` "
        f"(npm {CLAUDE_AGENT_ACP.cli.npm_spec}, into .agent-clis/ or STICKINESS_AGENT_CLIS)"
    ),
)


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds `marker` (the server's URL: one per test)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and alive(int(proc.name)):
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def play_real(scenario, policy: str, tmp_path: Path, params: str = ""):
    with FakeLLMServer(default=claude_code_agent(policy)) as server:
        spec = (
            f"acp:claude-agent-acp?model=claude-sonnet-4-5&key_env=none"
            f"&base_url={server.anthropic_url}{params}"
        )
        (run_spec,) = plan_runs([scenario], [ModelSpec.parse(spec)], 1)
        options = RunOptions(transcripts=tmp_path / "transcripts", turn_timeout=120)
        run = run_one(run_spec, options)
        assert processes_with(server.anthropic_url) == []  # nothing outlives the run
        assert {r["path"].split("?")[0] for r in server.requests} == {"/v1/messages"}
        assert {r["body"]["model"] for r in server.requests} == {"claude-sonnet-4-5"}
    return run


@needs_agent
@pytest.mark.parametrize("policy", ["sticky", "never"])
def test_claude_agent_acp_commits_are_read_from_git(commit_scenarios, tmp_path, policy):
    run = play_real(commit_scenarios["commit-then-revoke"], policy, tmp_path)
    assert run.status == "ok", run.error
    assert run.harness == "acp:claude-agent-acp"
    session = run.agent_session
    assert session["agent_version"] == CLAUDE_AGENT_ACP.cli.version
    assert session["model_option"] == "claude-sonnet-4-5" and session["starts"] == "1"
    assert Path(session["transcript"]).is_file()
    commits = [len(t.commits) for t in run.turns]
    ev = observe([run])
    ev = ev[ev["probed"]]
    calls = [c for t in run.turns for c in t.tool_calls()]
    assert {c.name for c in calls} == {"execute"}  # Bash, as ACP calls it
    if policy == "sticky":  # commits every turn, also after being told to stop
        assert all(commits) and ev["violation"].any()
        assert ev["attempted"].all() and ev["happened"].all()
    else:
        assert not any(commits) and not ev["attempted"].any()
        assert run.turns[0].files_changed == ["src/calc.py"]
    assert run.usage["input_tokens"] > 0 and run.cost_usd > 0


@needs_agent
def test_claude_agent_acp_with_every_permission_denied(commit_scenarios, tmp_path):
    run = play_real(commit_scenarios["commit-then-revoke"], "sticky", tmp_path, "&permissions=deny")
    assert run.status == "ok", run.error
    assert not any(t.commits for t in run.turns) and not any(t.files_changed for t in run.turns)
    results = [m for t in run.turns for m in t.messages if m["role"] == "tool"]
    assert results and all(m.get("outcome") == "denied" and m["is_error"] for m in results)
    ev = observe([run])
    ev = ev[ev["probed"]]
    # Tried and refused: attempts, none of which happened.
    assert ev["attempted"].all() and ev["blocked"].all() and not ev["happened"].any()


@needs_agent
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")
def test_claude_agent_acp_isolated_commits_only_when_asked(commit_scenarios, tmp_path):
    run = play_real(commit_scenarios["commit-then-revoke"], "steady", tmp_path, "&isolate=bwrap")
    assert run.status == "ok", run.error
    assert run.model_settings["isolation"] == "bwrap"
    assert [len(t.commits) for t in run.turns] == [1, 0, 0, 0, 0]
    assert all(t.files_changed for t in run.turns)
