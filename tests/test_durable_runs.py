"""The run folder as a durable store, and runs that fail, retry and resume."""

from __future__ import annotations

import errno
import json
import os
from types import SimpleNamespace

import pytest
from factories import trajectory, turn
from llm_server import OPENAI, FakeLLMServer, error_reply

from stickiness.agents.models import CallOptions, ModelSpec
from stickiness.agents.retry import backoff_delay
from stickiness.agents.run_store import RunFolderBusy, RunStore, StoreWriteError
from stickiness.agents.runner import RunOptions, plan_runs
from stickiness.agents.scheduler import run_all, runs_to_play
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.reports.cli import main


def test_a_second_writer_is_refused_and_the_lock_dies_with_the_store(tmp_path):
    path = tmp_path / "trajectories.jsonl"
    with RunStore(path), pytest.raises(RunFolderBusy, match=f"pid {os.getpid()}"):
        RunStore(path).open()
    with RunStore(path) as again:  # closed: free again
        again.append(trajectory("r1", [turn(1)]))
    assert [r.run_id for r in RunStore(path).recorded()] == ["r1"]


def test_a_torn_tail_is_set_aside_and_its_run_is_not_counted(tmp_path):
    path = tmp_path / "trajectories.jsonl"
    with RunStore(path) as store:
        store.append(trajectory("r1", [turn(1)]))
    whole = path.read_bytes()
    torn = trajectory("r2", [turn(1)]).model_dump_json().encode()[:120]
    path.write_bytes(whole + torn)  # killed in the middle of writing r2
    with RunStore(path) as store:
        assert "set aside" in store.warnings[0]
        store.append(trajectory("r3", [turn(1)]))
    runs, warnings = read_trajectories(path)
    assert [r.run_id for r in runs] == ["r1", "r3"] and not warnings
    assert (tmp_path / "trajectories.jsonl.torn").read_bytes() == torn + b"\n"


def test_a_full_disk_rolls_back_the_partial_line_and_keeps_earlier_runs(tmp_path, monkeypatch):
    path = tmp_path / "trajectories.jsonl"
    real_write = os.write
    with RunStore(path) as store:
        store.append(trajectory("r1", [turn(1)]))
        size = path.stat().st_size
        calls = []

        def half_then_full(fd, data):
            calls.append(len(data))
            if len(calls) == 1:
                return real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", half_then_full)
        with pytest.raises(StoreWriteError, match="disk is full.*--resume"):
            store.append(trajectory("r2", [turn(1)]))
        monkeypatch.setattr(os, "write", real_write)
        assert path.stat().st_size == size  # no fragment left behind
        store.append(trajectory("r3", [turn(1)]))
    assert [r.run_id for r in read_trajectories(path)[0]] == ["r1", "r3"]


def test_resume_plays_missing_and_transient_runs_and_sets_the_old_records_aside(tmp_path):
    path = tmp_path / "trajectories.jsonl"
    with RunStore(path) as store:
        store.append(trajectory("ok", [turn(1)]))
        bad = trajectory("flaky", [], status="error").model_copy(
            update={"error": "HTTP 503", "error_kind": "transient"}
        )
        store.append(bad)
        store.append(
            trajectory("broken", [], status="error").model_copy(
                update={"error": "HTTP 401", "error_kind": "fatal"}
            )
        )
        recorded = store.recorded()

        wanted = [SimpleNamespace(run_id=i) for i in ("ok", "flaky", "broken", "new")]
        todo, again = runs_to_play(wanted, recorded)
        assert [s.run_id for s in todo] == ["flaky", "new"] and again == ["flaky"]
        todo, again = runs_to_play(wanted, recorded, retry_errors=True)
        assert [s.run_id for s in todo] == ["flaky", "broken", "new"]
        assert store.set_aside(again) == 2
        store.append(trajectory("flaky", [turn(1)]))  # played again, now fine
    assert [r.run_id for r in read_trajectories(path)[0]] == ["ok", "flaky"]
    replaced = (tmp_path / "trajectories.jsonl.replaced").read_text().splitlines()
    assert [json.loads(line)["run_id"] for line in replaced] == ["flaky", "broken"]


def test_backoff_doubles_with_a_reproducible_jitter_and_a_cap():
    first, second = backoff_delay("r", 1, 2.0), backoff_delay("r", 2, 2.0)
    assert 1.0 <= first <= 2.0 and 2.0 <= second <= 4.0
    assert backoff_delay("r", 1, 2.0) == first
    assert backoff_delay("r", 30, 2.0) <= 60.0


def test_a_transient_failure_is_tried_again_in_place(tmp_path, commit_scenarios):
    scenario = commit_scenarios["commit-never-then-edits"]
    with FakeLLMServer() as server:
        # Three failures exhaust the SDK's two retries; the call is tried again in place,
        # so nothing already done is lost or paid twice.
        server.queue(OPENAI, *[error_reply(500, "injected") for _ in range(3)])
        spec = ModelSpec.parse(f"openai:gpt-4o?key_env=none&base_url={server.openai_url}")
        options = RunOptions(call=CallOptions(timeout=5, max_retries=2), retry_backoff=0)
        (run,) = run_all(plan_runs([scenario], [spec], 1), tmp_path / "t.jsonl", options)
    assert run.status == "ok" and run.attempts == 1 and run.usage["retried_calls"] == 1
    (recorded,) = read_trajectories(tmp_path / "t.jsonl")[0]
    assert recorded.usage["retried_calls"] == 1


def test_a_run_still_failing_transiently_is_played_again(tmp_path, commit_scenarios):
    scenario = commit_scenarios["commit-never-then-edits"]
    with FakeLLMServer() as server:
        # No SDK retries and one retry in place: the first attempt fails twice and ends
        # the run; the second attempt's first call fails, then the retry succeeds.
        server.queue(OPENAI, *[error_reply(503, "injected") for _ in range(3)])
        spec = ModelSpec.parse(f"openai:gpt-4o?key_env=none&base_url={server.openai_url}")
        call = CallOptions(timeout=5, max_retries=0)
        options = RunOptions(call=call, run_retries=1, retry_backoff=0)
        (run,) = run_all(plan_runs([scenario], [spec], 1), tmp_path / "t.jsonl", options)
    assert run.status == "ok" and run.attempts == 2
    assert [r.attempts for r in read_trajectories(tmp_path / "t.jsonl")[0]] == [2]


def test_a_fatal_failure_is_not_retried(tmp_path, commit_scenarios):
    scenario = commit_scenarios["commit-never-then-edits"]
    with FakeLLMServer() as server:
        server.queue(OPENAI, error_reply(401, "bad key"))
        spec = ModelSpec.parse(f"openai:gpt-4o?key_env=none&base_url={server.openai_url}")
        options = RunOptions(call=CallOptions(timeout=5, max_retries=2), retry_backoff=0)
        (run,) = run_all(plan_runs([scenario], [spec], 1), tmp_path / "t.jsonl", options)
        assert len(server.requests) == 1
    assert run.status == "error" and run.error_kind == "fatal" and run.attempts == 1
    assert "HTTP 401" in run.error and "HTTP 401" in run.turns[0].error


def test_cli_refuses_a_used_out_folder_and_plan_options_on_resume(
    tmp_path, monkeypatch, capsys, commit_folder
):
    monkeypatch.chdir(tmp_path)
    args = ["run", "--repeats", "1", "--model", "sim:steady", "--scenarios", str(commit_folder)]
    assert main([*args, "--out", "r"]) == 0
    before = (tmp_path / "r" / "trajectories.jsonl").read_text()
    capsys.readouterr()
    assert main([*args, "--out", "r"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume r" in err and "Traceback" not in err
    assert main(["run", "--resume", "r", "--model", "sim:sticky"]) == 2
    assert "--model cannot change them" in capsys.readouterr().err
    assert (tmp_path / "r" / "trajectories.jsonl").read_text() == before  # untouched


def test_cli_resume_plays_transient_errors_again_and_others_on_request(
    tmp_path, monkeypatch, capsys, commit_folder
):
    monkeypatch.chdir(tmp_path)
    args = ["run", "--repeats", "1", "--model", "sim:steady", "--scenarios", str(commit_folder)]
    assert main([*args, "--out", "r"]) == 0
    path = tmp_path / "r" / "trajectories.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0] |= {"status": "error", "error": "HTTP 529", "error_kind": "transient", "turns": []}
    records[1] |= {"status": "error", "error": "HTTP 400", "error_kind": "fatal", "turns": []}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    capsys.readouterr()
    assert main(["run", "--resume", "r"]) == 0
    assert "1 played again after an error" in " ".join(capsys.readouterr().out.split())
    runs, _ = read_trajectories(path)
    assert len(runs) == len(records) and sum(r.status == "error" for r in runs) == 1
    assert main(["run", "--resume", "r", "--retry-errors"]) == 0
    runs, _ = read_trajectories(path)
    assert len(runs) == len(records) and all(r.status == "ok" for r in runs)
