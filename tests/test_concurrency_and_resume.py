"""Many runs at once, a clean stop, and resuming without duplicates."""

from __future__ import annotations

import json

from llm_server import FakeLLMServer

from stickiness.agents.models import ModelSpec
from stickiness.agents.run_store import RunStore
from stickiness.agents.runner import RunOptions, plan_runs
from stickiness.agents.scheduler import run_all
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.reports.cli import main


def test_concurrent_runs_each_land_once_with_whole_lines(tmp_path, commit_scenarios):
    specs = plan_runs(list(commit_scenarios.values()), [ModelSpec.parse("sim:sticky")], 3)
    out = tmp_path / "t.jsonl"
    done = run_all(specs, out, concurrency=4)
    runs, warnings = read_trajectories(out)
    assert not warnings and len(runs) == len(specs) == len(done)
    assert sorted(r.run_id for r in runs) == sorted(s.run_id for s in specs)


def test_stop_keeps_finished_runs_and_resume_adds_only_the_rest(tmp_path, commit_scenarios):
    specs = plan_runs(list(commit_scenarios.values()), [ModelSpec.parse("sim:steady")], 3)
    out = tmp_path / "t.jsonl"
    options = RunOptions()

    def stop_after_first(_):
        options.stop.set()  # what Ctrl-C does

    first = run_all(specs, out, options, concurrency=2, on_done=stop_after_first)
    assert 1 <= len(first) < len(specs)
    recorded = {r.run_id for r in RunStore(out).recorded()}
    assert recorded == {t.run_id for t in first}
    rest = [s for s in specs if s.run_id not in recorded]
    run_all(rest, out, concurrency=2)
    runs, _ = read_trajectories(out)
    assert sorted(r.run_id for r in runs) == sorted(s.run_id for s in specs)  # no duplicates


def test_cli_resume_uses_the_saved_settings(tmp_path, monkeypatch, capsys, commit_folder):
    monkeypatch.chdir(tmp_path)
    args = ["run", "--repeats", "2", "--model", "sim:eager", "--out", "r"]
    assert main([*args, "--scenarios", str(commit_folder)]) == 0
    saved = json.loads((tmp_path / "r" / "run.json").read_text())
    assert saved["models"] == ["sim:eager"] and saved["repeats"] == 2
    lines = (tmp_path / "r" / "trajectories.jsonl").read_text().splitlines()
    (tmp_path / "r" / "trajectories.jsonl").write_text("\n".join(lines[:3]) + "\n")
    capsys.readouterr()
    assert main(["run", "--resume", "r"]) == 0
    assert "3 already done" in capsys.readouterr().out
    runs, _ = read_trajectories(tmp_path / "r" / "trajectories.jsonl")
    assert len(runs) == len(lines) and len({r.run_id for r in runs}) == len(lines)


def test_cli_with_an_openai_compatible_server_and_cache(
    tmp_path, monkeypatch, capsys, commit_folder
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    with FakeLLMServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
        args = [
            "run",
            "--repeats",
            "1",
            "--model",
            "openai:gpt-4o",
            "--cache",
            "c",
            "--concurrency",
            "3",
            "--scenarios",
            str(commit_folder),
        ]
        assert main([*args, "--out", "a"]) == 0
        out = capsys.readouterr().out
        assert "gpt-4o" in out and "Usage" in out and "cost" in out
        calls = len(server.requests)
        assert calls > 0
        assert main([*args, "--out", "b"]) == 0
        assert len(server.requests) == calls  # all served from the cache
    a, _ = read_trajectories(tmp_path / "a" / "trajectories.jsonl")
    b, _ = read_trajectories(tmp_path / "b" / "trajectories.jsonl")
    strip = {"started_at", "finished_at", "cost_usd", "turns"}
    assert sorted(r.model_dump_json(exclude=strip) for r in a) == sorted(
        r.model_dump_json(exclude=strip) for r in b
    )
    html = (tmp_path / "a" / "report.html").read_text()
    assert "gpt-4o" in html and "Usage and cost" in html and "no price" not in html


def test_cli_refuses_to_start_without_a_key(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert main(["run", "--model", "anthropic:claude-haiku-4-5"]) == 2
    err = capsys.readouterr().err
    assert "ANTHROPIC_API_KEY is not set" in err
    assert not (tmp_path / "stickiness-runs").exists()  # nothing started


def test_compare_replays_a_paid_model_from_the_cache(tmp_path, monkeypatch, capsys, commit_folder):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    args = ["compare", "--baseline", "sim:steady", "--candidate", "openai:gpt-4o"]
    args += ["--repeats", "1", "--cache", "c", "--scenarios", str(commit_folder)]
    with FakeLLMServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
        first = main([*args, "--out", "a"])
        calls = len(server.requests)
        assert calls > 0 and first in (0, 1, 3)
        assert main([*args, "--out", "b"]) == first
        assert len(server.requests) == calls  # the second comparison cost nothing
    assert "verdict:" in capsys.readouterr().out
    assert (tmp_path / "b" / "candidate" / "trajectories.jsonl").read_text().count("\n") == 4
