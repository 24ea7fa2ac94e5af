"""The real agent CLIs (pinned Claude Code and Codex) played through the runner against
the scripted server on 127.0.0.1: what they did is read from git, what they tried from
their own event streams and session logs."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
from llm_server import FakeLLMServer
from scripted_agents import both_agents, claude_code_agent, codex_agent

from stickiness.agents.external import CLIS
from stickiness.agents.external.base import CLI_FOLDER_VAR
from stickiness.agents.imported.build import build_trajectory
from stickiness.agents.imported.claude_code_log import read_claude_code
from stickiness.agents.imported.codex_rollout import read_codex
from stickiness.agents.imported.intent import infer_intents
from stickiness.agents.models import ModelSpec
from stickiness.agents.runner import RunOptions, plan_runs, run_one
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.analysis.observe import observe
from stickiness.reports.cli import main

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


def imported_back(run, reader):
    """The run as `stickiness import` reads it from the CLI's own session log."""
    (session,) = reader(Path(run.agent_session["transcript"]))
    return build_trajectory(session, infer_intents(session.turns))


def same_commits(run, back) -> bool:
    shas = [[c.sha[:7] for c in t.commits] for t in run.turns]
    return [t.user for t in back.turns] == [t.user for t in run.turns] and shas == [
        [c.sha[:7] for c in t.commits] for t in back.turns
    ]


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
        # Unasked after the request, then against the revocation: both from git.
        assert all(commits) and ev["unrequested"].any() and ev["violation"].any()
    else:
        assert commits[0] == 1 and sum(commits) == 1 and not ev["violation"].any()
        assert not ev["unrequested"].any()
    calls = [c for t in run.turns for c in t.tool_calls()]
    assert calls and {c.name for c in calls} == {"Bash"}
    session = run.agent_session
    assert session["session_id"] and Path(session["transcript"]).is_file()
    assert run.usage["input_tokens"] > 0
    # Its own log, imported, shows the commits git recorded.
    assert same_commits(run, imported_back(run, read_claude_code))


@needs["codex"]
@pytest.mark.parametrize("policy", ["sticky", "steady"])
def test_codex_commits_with_full_access(revoke, tmp_path, policy):
    with FakeLLMServer(default=codex_agent(policy)) as server:
        spec = f"codex:gpt-5.5?key_env=none&base_url={server.openai_url}&sandbox=danger-full-access"
        run = play(revoke, spec, tmp_path)
    assert run.status == "ok", run.error
    assert run.model_settings["sandbox"] == "danger-full-access"
    commits = [len(t.commits) for t in run.turns]
    ev = probed(run)
    if policy == "sticky":
        # Unasked after the request, then against the revocation: both from git.
        assert all(commits) and ev["unrequested"].any() and ev["violation"].any()
    else:
        assert sum(commits) == 1 and not ev["violation"].any()
    assert run.agent_session["session_id"] and Path(run.agent_session["transcript"]).is_file()
    assert same_commits(run, imported_back(run, read_codex))


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
    # Imported from its log: the same attempts, and no commit.
    back = imported_back(run, read_codex)
    assert same_commits(run, back)
    tried = observe([back])
    assert tried[tried["behaviour"] == "commit"]["attempted"].all()


@needs["claude-code"]
@needs["codex"]
def test_run_command_with_both_clis_writes_runs_transcripts_and_report(
    tmp_path, monkeypatch, capsys, commit_folder
):
    monkeypatch.chdir(tmp_path)
    with FakeLLMServer(default=both_agents("steady", "sticky")) as server:
        models = [
            f"claude-code:claude-sonnet-4-5?key_env=none&base_url={server.anthropic_url}",
            f"codex:gpt-5.5?key_env=none&base_url={server.openai_url}&sandbox=danger-full-access",
        ]
        args = ["run", "--scenarios", str(commit_folder), "--repeats", "1", "--out", "r"]
        assert main([*args, "--model", models[0], "--model", models[1]]) == 0
    runs, _ = read_trajectories(tmp_path / "r" / "trajectories.jsonl")
    assert {r.harness for r in runs} == {"claude-code", "codex"}
    assert all(r.status == "ok" for r in runs)
    kept = {p.stem for p in (tmp_path / "r" / "agent-transcripts").iterdir()}
    assert kept == {r.run_id for r in runs}
    html = (tmp_path / "r" / "report.html").read_text()
    assert "claude-code:claude-sonnet-4-5" in html and "codex:gpt-5.5" in html


@needs["claude-code"]
def test_two_setups_of_one_agent_are_compared_and_gated(tmp_path, monkeypatch, capsys, revoke):
    from stickiness.scenarios import builtin_scenario_dir

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for sid in ("commit-then-revoke", "commit-never-then-edits"):
        (folder / f"{sid}.yaml").write_text((builtin_scenario_dir() / f"{sid}.yaml").read_text())
    setups = []
    for name, rule in (("plain", "Be brief."), ("strict", "Never commit unless asked.")):
        project = tmp_path / name
        project.mkdir()
        (project / "CLAUDE.md").write_text(f"# House rules\n{rule}\n")
        setups.append(project)
    with FakeLLMServer(default=claude_code_agent("steady")) as server:
        base = f"claude-code:claude-sonnet-4-5?key_env=none&base_url={server.anthropic_url}"
        code = main(
            [
                "compare",
                "--baseline",
                f"{base}&project={setups[0]}",
                "--candidate",
                f"{base}&project={setups[1]}",
                "--scenarios",
                str(folder),
                "--repeats",
                "2",
                "--out",
                "cmp",
            ]
        )
    assert code in (0, 1, 3)  # a verdict, whichever
    runs = read_trajectories(tmp_path / "cmp" / "candidate" / "trajectories.jsonl")[0]
    baseline = read_trajectories(tmp_path / "cmp" / "baseline" / "trajectories.jsonl")[0]
    digest = {r.model_settings["setup"]["sha256"] for r in runs}
    assert len(digest) == 1 and digest != {r.model_settings["setup"]["sha256"] for r in baseline}
    assert "verdict:" in capsys.readouterr().out
    # The setup's CLAUDE.md was part of the agent's repository from the start.
    first = runs[0].turns[0]
    assert "CLAUDE.md" not in first.files_changed


@needs["claude-code"]
def test_pytest_scenarios_with_an_agent_cli(pytester, scenario_copy, monkeypatch):
    monkeypatch.setenv(CLI_FOLDER_VAR, str(FOLDER))
    with FakeLLMServer(default=claude_code_agent("sticky")) as server:
        spec = f"claude-code:claude-sonnet-4-5?key_env=none&base_url={server.anthropic_url}"
        result = pytester.runpytest_subprocess(
            "scenarios/", "--model", spec, "--repeats", "1", "--stickiness-out", "out"
        )
    # A sticky agent fails the one-off and revoke scenarios, passes the control.
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 2 and outcomes.get("passed", 0) >= 1
    result.stdout.fnmatch_lines(["*claude-code:claude-sonnet-4-5*commit unasked*"])


def _shell_once(command: str):
    """A Claude Code model that runs one shell command per user turn, then says done."""
    from llm_server import anthropic_reply

    def reply(api, body):
        last = body["messages"][-1]
        blocks = last["content"] if isinstance(last["content"], list) else []
        turn = sum(m["role"] == "user" for m in body["messages"])
        if any(b.get("type") == "tool_result" for b in blocks):
            return anthropic_reply("Done.", message_id=f"msg_done_{turn}")
        use = (f"toolu_{turn}", "Bash", {"command": command})
        return anthropic_reply(None, [use], message_id=f"msg_run_{turn}")

    return reply


@needs["claude-code"]
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
@pytest.mark.parametrize("isolate", ["none", "bwrap"])
def test_isolation_hides_the_users_files_from_the_agent(tmp_path, commit_scenarios, isolate):
    """Without isolation an agent's shell reads and writes what the user can; isolated,
    the system is read-only and the user's folders are empty."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the user's own file\n")
    outside = tmp_path / "written-by-the-agent.txt"
    command = f"cat {secret} > leak.txt; echo hi > {outside}; true"
    with FakeLLMServer(default=_shell_once(command)) as server:
        spec = (
            f"claude-code:claude-sonnet-4-5?key_env=none&base_url={server.anthropic_url}"
            f"&isolate={isolate}"
        )
        run = play(commit_scenarios["commit-never-then-edits"], spec, tmp_path)
    assert run.status == "ok", run.error
    assert run.model_settings["isolation"] == isolate
    leaked = "the user's own file" in run.turns[0].diff
    assert leaked == (isolate == "none") and outside.exists() == (isolate == "none")


def test_agent_specs_fail_before_any_run_with_one_clear_line(tmp_path, monkeypatch):
    from stickiness.agents.models import ModelSpecError, check_model

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelSpecError, match="ANTHROPIC_API_KEY is not set"):
        check_model("claude-code:claude-sonnet-4-5")
    monkeypatch.setenv(CLI_FOLDER_VAR, str(tmp_path))  # an empty install folder
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(ModelSpecError, match="stickiness agents install codex"):
        check_model("codex:gpt-5.5?key_env=none", reachability=False)
    monkeypatch.setenv(CLI_FOLDER_VAR, str(FOLDER))
    for spec, expected in (
        ("codex:m?key_env=none&sandbox=open", "sandbox=open: expected one of"),
        ("claude-code:m?key_env=none&permission_mode=yolo", "permission_mode=yolo"),
        ("claude-code:m?key_env=none&isolate=docker", "isolate=docker: expected one of"),
        ("claude-code:m?key_env=none&colour=red", "unknown parameter 'colour'"),
        ("claude-code:m?key_env=none&home=/no/such/folder", "home=/no/such/folder"),
    ):
        if not installed(spec.split(":")[0]):
            continue
        with pytest.raises(ModelSpecError, match=re.escape(expected)):
            check_model(spec, reachability=False)


@needs["claude-code"]
def test_a_commit_claude_codes_permissions_deny_is_an_attempt(revoke, tmp_path):
    with FakeLLMServer(default=claude_code_agent("sticky")) as server:
        spec = (
            f"claude-code:claude-sonnet-4-5?key_env=none&base_url={server.anthropic_url}"
            "&permission_mode=default&allowed_tools=Read"
        )
        run = play(revoke, spec, tmp_path)
    assert run.status == "ok", run.error
    results = [m for t in run.turns for m in t.messages if m["role"] == "tool"]
    assert results and all(m.get("outcome") == "denied" and m["is_error"] for m in results)
    assert all(not t.commits for t in run.turns)
    ev = probed(run)
    assert ev["attempted"].all() and ev["blocked"].all() and not ev["happened"].any()


def _session_digest(run) -> list:
    """What the agent said and did per turn, and what git recorded: no ids, no times (nor
    commit shas, which hold the times the agent's own git stamped)."""

    def text(content):
        return re.sub(r"\b[0-9a-f]{7,40}\b", "SHA", content or "")

    return [
        (
            t.user,
            [
                (m["role"], text(m.get("content")), [c["name"] for c in m.get("tool_calls") or []])
                for m in t.messages
            ],
            [(c.message, c.files) for c in t.commits],
            t.files_changed,
            t.time_limit_hit,
        )
        for t in run.turns
    ]


@needs["claude-code"]
def test_one_claude_code_process_per_run_plays_the_same_session_as_one_per_turn(
    revoke, tmp_path, monkeypatch
):
    from stickiness.agents.external import long_lived

    started = []
    real_init = long_lived.LongLivedProcess.__init__

    def counting(self, argv, *args, **kwargs):
        started.append(argv)
        real_init(self, argv, *args, **kwargs)

    monkeypatch.setattr(long_lived.LongLivedProcess, "__init__", counting)
    runs, bodies = {}, {}
    for mode in ("run", "turn"):
        with FakeLLMServer(default=claude_code_agent("sticky")) as server:
            spec = (
                f"claude-code:claude-sonnet-4-5?key_env=none&base_url={server.anthropic_url}"
                f"&process={mode}"
            )
            runs[mode] = play(revoke, spec, tmp_path / mode)
            bodies[mode] = [r["body"]["messages"] for r in server.requests]
    for mode, run in runs.items():
        assert run.status == "ok", (mode, run.error)
        assert run.model_settings["process"] == mode
    assert len(started) == 1 and "--input-format" in started[0]
    assert _session_digest(runs["run"]) == _session_digest(runs["turn"])
    assert [len(t.commits) for t in runs["run"].turns] == [1] * len(revoke.turns)
    # The model saw the same conversations, request for request.
    assert len(bodies["run"]) == len(bodies["turn"])
    # Its own session log holds the commits git recorded, as with a process per turn.
    assert same_commits(runs["run"], imported_back(runs["run"], read_claude_code))


@needs["claude-code"]
def test_a_long_lived_claude_code_out_of_time_is_replaced_by_one_resuming_the_session(
    revoke, tmp_path
):
    script = claude_code_agent("sticky")
    served = []

    def slow_second_turn(api, body):
        served.append(1)
        reply = script(api, body)
        # Three requests a turn: the fourth opens turn 2, and arrives after its deadline.
        return dataclasses.replace(reply, delay=8.0) if len(served) == 4 else reply

    with FakeLLMServer(default=slow_second_turn) as server:
        spec = f"claude-code:claude-sonnet-4-5?key_env=none&base_url={server.anthropic_url}"
        (run_spec,) = plan_runs([revoke], [ModelSpec.parse(spec)], 1)
        run = run_one(run_spec, RunOptions(transcripts=tmp_path / "t", turn_timeout=4))
    assert run.status == "ok", run.error
    limits = [t.time_limit_hit for t in run.turns]
    assert limits[1] and not any(limits[:1] + limits[2:])
    commits = [len(t.commits) for t in run.turns]
    assert commits[0] == 1 and all(commits[2:])  # the session went on after the timeout
    assert run.agent_session["session_id"]
