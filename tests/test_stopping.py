"""Stopping: a stop request reaches a run mid-turn, a turn has a time budget, and
SIGTERM or Ctrl-C to the whole process group stop `stickiness run` cleanly."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llm_server import FakeLLMServer
from test_agent_loop import ScriptedModel, call

from stickiness.agents.harness import get_harness
from stickiness.agents.leftovers import (
    KEPT_MARKER,
    remove_own_sandboxes,
    remove_stale_sandboxes,
    sandbox_prefix,
)
from stickiness.agents.loop import RunStopped, build_agent, recursion_limit
from stickiness.agents.models import ModelSpec
from stickiness.agents.models.base import ModelReply
from stickiness.agents.runner import RunOptions, plan_runs, run_one
from stickiness.agents.sandbox import Sandbox
from stickiness.agents.trajectory_reader import read_trajectories


def writes(n: int) -> list[ModelReply]:
    return [
        ModelReply(tool_calls=[call(i, "write_file", f'{{"path": "f{i}.txt", "content": "x"}}')])
        for i in range(n)
    ]


def test_a_stop_request_reaches_a_run_in_the_middle_of_a_turn():
    model = ScriptedModel(writes(10))
    with Sandbox({"a.txt": "a"}) as box:
        stop = iter([False, False, False, True])
        agent = build_agent(model, box, get_harness("minimal"), 20, should_stop=lambda: next(stop))
        with pytest.raises(RunStopped):
            agent.invoke(
                {"messages": [{"role": "user", "content": "go"}], "steps": 0},
                config={"recursion_limit": recursion_limit(20)},
            )
    assert len(model.seen) == 2  # stopped before the third model call


def test_a_turn_ends_when_its_time_is_up_after_its_tools_ran(commit_scenarios):
    ticks = itertools.count()  # a fake clock: one second per reading
    options = RunOptions(clock=lambda: float(next(ticks)), turn_timeout=2.5)
    (spec,) = plan_runs(
        [commit_scenarios["commit-once-then-edits"]], [ModelSpec.parse("sim:steady")], 1
    )
    run = run_one(spec, options)
    first = run.turns[0]
    assert run.status == "ok" and first.time_limit_hit and not first.step_limit_hit
    assert first.messages[-1]["role"] == "tool"  # every call got its result
    assert first.steps < 5


def test_a_stop_between_turns_drops_the_run(commit_scenarios):
    options = RunOptions()
    options.stop.set()
    (spec,) = plan_runs([commit_scenarios["commit-standing"]], [ModelSpec.parse("sim:steady")], 1)
    with pytest.raises(RunStopped):
        run_one(spec, options)


def test_clean_removes_sandboxes_of_dead_processes_only(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / f"stickiness-{dead.stdout.strip()}-1-abc"
    live = tmp_path / f"{sandbox_prefix()}abc"
    kept = tmp_path / f"stickiness-{dead.stdout.strip()}-1-kept"
    other = tmp_path / "stickiness-runs"  # not a sandbox
    for folder in (stale, live, kept, other):
        folder.mkdir()
    (kept / KEPT_MARKER).touch()
    assert remove_stale_sandboxes(tmp_path) == [stale]
    assert live.exists() and kept.exists() and other.exists() and not stale.exists()


def test_sandboxes_are_named_for_their_owner_and_kept_ones_are_marked():
    with Sandbox({"a.txt": "a"}) as box:
        assert box.root.parent.name.startswith(sandbox_prefix())
    assert not box.root.exists()
    kept = Sandbox({"a.txt": "a"}, keep=True)
    try:
        kept.close()
        assert (kept.root.parent / KEPT_MARKER).exists()
        assert kept.root.parent not in remove_own_sandboxes(kept.root.parent.parent)
    finally:
        shutil.rmtree(kept.root.parent)


def _start_run(tmp_path: Path, server: FakeLLMServer, scenarios: Path) -> subprocess.Popen:
    env = os.environ | {
        "TMPDIR": str(tmp_path / "tmp"),
        "OPENAI_API_KEY": "sk-test-only",
        "OPENAI_BASE_URL": server.openai_url,
    }
    (tmp_path / "tmp").mkdir()
    command = [sys.executable, "-m", "stickiness.reports.cli", "run", "--model", "openai:gpt-4o"]
    command += ["--scenarios", str(scenarios), "--repeats", "3", "--concurrency", "4"]
    command += ["--out", str(tmp_path / "r")]
    # A session of its own: the signal goes to the whole group, as a terminal's does.
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_requests(server: FakeLLMServer, proc: subprocess.Popen, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(server.requests) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached the server"
        time.sleep(0.05)


def _check_folder(tmp_path: Path) -> None:
    runs, warnings = read_trajectories(tmp_path / "r" / "trajectories.jsonl")
    assert not warnings and len({r.run_id for r in runs}) == len(runs)
    assert all(r.status == "ok" for r in runs)  # runs in flight were dropped, not failed
    assert not list((tmp_path / "tmp").glob("stickiness-*"))  # no sandbox left behind


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_the_process_group_stops_cleanly(tmp_path, commit_folder, sig, code):
    with FakeLLMServer(latency=0.2) as server:
        proc = _start_run(tmp_path, server, commit_folder)
        _wait_for_requests(server, proc, 12)
        os.killpg(proc.pid, sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "interrupted" in out and "--resume" in out and "Traceback" not in err
    _check_folder(tmp_path)


def test_a_second_signal_leaves_at_once_without_waiting_for_the_model(tmp_path, commit_folder):
    with FakeLLMServer(latency=30) as server:
        proc = _start_run(tmp_path, server, commit_folder)
        _wait_for_requests(server, proc, 4)
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        time.sleep(0.5)  # let the first signal land before the second
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    assert proc.returncode == 143 and "left without them" in out, (out, err)
    assert took < 10  # far less than the model's 30 s
    _check_folder(tmp_path)
