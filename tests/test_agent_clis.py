"""The real agent CLIs (pinned Claude Code and Codex) played through the runner against
the scripted server on 127.0.0.1: what they did is read from git, what they tried from
their own event streams and session logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from llm_server import FakeLLMServer
from scripted_agents import claude_code_agent, codex_agent

from stickiness.agents.external import CLIS
from stickiness.agents.external.base import CLI_FOLDER_VAR
from stickiness.agents.models import ModelSpec
from stickiness.agents.runner import RunOptions, plan_runs, run_one
from stickiness.analysis.observe import observe

FOLDER = Path(__file__).resolve().parents[1] / ".agent-clis"


def installed(provider: str) -> bool:
    return (FOLDER / "node_modules" / ".bin" / CLIS[provider].command).is_file()


needs = {
    p: pytest.mark.skipif(
        not installed(p),
        reason=f"{p} CLI not installed (stickiness agents install {p}; .ci/run does)",
    )
    for p in CLIS
}


@pytest.fixture(autouse=True)
def _cli_folder(monkeypatch):
    monkeypatch.setenv(CLI_FOLDER_VAR, str(FOLDER))


@pytest.fixture
def revoke(commit_scenarios):
    return commit_scenarios["commit-then-revoke"]


def play(scenario, spec: str, tmp_path: Path):
    (run_spec,) = plan_runs([scenario], [ModelSpec.parse(spec)], 1)
    return run_one(run_spec, RunOptions(transcripts=tmp_path / "transcripts", turn_timeout=120))


def probed(run):
    ev = observe([run])
    return ev[ev["probed"]].set_index("turn")


@needs["claude-code"]
@pytest.mark.parametrize("policy", ["sticky", "steady"])
def test_claude_code_commits_are_read_from_git(revoke, tmp_path, policy):
    with FakeLLMServer(default=claude_code_agent(policy)) as server:
        spec = f"claude-code:claude-sonnet-4-5?key_env=none&base_url={server.anthropic_url}"
        run = play(revoke, spec, tmp_path)
        assert {r["path"].split("?")[0] for r in server.requests} == {"/v1/messages"}
    assert run.status == "ok", run.error
    assert run.harness == "claude-code" and run.model_settings["cli_version"].startswith("2.1.332")
    ev = probed(run)
    commits = [len(t.commits) for t in run.turns]
    if policy == "sticky":  # commits in every turn, also after being told to stop
        assert all(commits) and ev["violation"].any()
    else:
        assert commits[0] == 1 and sum(commits) == 1 and not ev["violation"].any()
        assert not ev["unrequested"].any()
    calls = [c for t in run.turns for c in t.tool_calls()]
    assert calls and {c.name for c in calls} == {"Bash"}
    session = run.agent_session
    assert session["session_id"] and Path(session["transcript"]).is_file()
    assert run.usage["input_tokens"] > 0


@needs["codex"]
@pytest.mark.parametrize("policy", ["sticky", "steady"])
def test_codex_commits_with_full_access(revoke, tmp_path, policy):
    with FakeLLMServer(default=codex_agent(policy)) as server:
        spec = (
            f"codex:gpt-5.5?key_env=none&base_url={server.openai_url}&sandbox=danger-full-access"
        )
        run = play(revoke, spec, tmp_path)
    assert run.status == "ok", run.error
    assert run.model_settings["sandbox"] == "danger-full-access"
    commits = [len(t.commits) for t in run.turns]
    ev = probed(run)
    if policy == "sticky":
        assert all(commits) and ev["violation"].any()
    else:
        assert sum(commits) == 1 and not ev["violation"].any()
    assert run.agent_session["session_id"] and Path(run.agent_session["transcript"]).is_file()


@needs["codex"]
def test_a_commit_codex_sandbox_blocks_is_an_attempt(revoke, tmp_path):
    with FakeLLMServer(default=codex_agent("sticky")) as server:
        spec = f"codex:gpt-5.5?key_env=none&base_url={server.openai_url}"
        run = play(revoke, spec, tmp_path)
    assert run.status == "ok", run.error
    assert run.model_settings["sandbox"] == "workspace-write"
    assert all(not t.commits for t in run.turns)  # .git is read-only in its sandbox
    ev = probed(run)
    assert ev["attempted"].all() and ev["blocked"].all() and not ev["happened"].any()
    # Told to stop, it still tried: a violation attempt, not credited as restraint.
    assert (ev["forbidden"] & ev["attempted"]).any()
