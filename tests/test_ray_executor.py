"""`--executor ray` on a local Ray cluster: a head and a second node, each its own set
of processes on this machine, with the scripted server for the real SDK's calls."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from llm_server import FakeLLMServer

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from stickiness.agents.call_limits import LocalLimits  # noqa: E402
from stickiness.agents.models import ModelSpec, ResponseCache  # noqa: E402
from stickiness.agents.ray_executor import ExecutorError, RayExecutor, RaySettings  # noqa: E402
from stickiness.agents.run_store import RunStore  # noqa: E402
from stickiness.agents.runner import RunOptions, plan_runs  # noqa: E402
from stickiness.agents.scheduler import run_all  # noqa: E402
from stickiness.agents.trajectory_reader import read_trajectories  # noqa: E402

TIMING = ("started_at", "finished_at")


@pytest.fixture(scope="module")
def cluster():
    """Head and one more node, one CPU each; this process is connected as the driver."""
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    made.add_node(num_cpus=1)
    made.wait_for_nodes()
    ray.init(address=made.address, log_to_driver=False)
    yield made
    ray.shutdown()
    made.shutdown()


def openai_spec(server: FakeLLMServer) -> ModelSpec:
    return ModelSpec.parse(f"openai:gpt-4o?key_env=none&base_url={server.openai_url}")


def records(path: Path) -> dict[str, dict]:
    """Each run's record by id, without its timing fields."""
    runs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for key in TIMING:
            record.pop(key)
        assert record["run_id"] not in runs, "a run was recorded twice"
        runs[record["run_id"]] = record
    return runs


def cli(tmp_path: Path, *args: str, **popen) -> subprocess.Popen:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = os.environ | {"TMPDIR": str(tmp_path / "tmp")}
    command = [sys.executable, "-m", "stickiness.reports.cli", *args]
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    )


def test_the_cluster_plays_the_plan_as_this_machine_does(cluster, tmp_path, commit_folder):
    with FakeLLMServer() as server:
        common = ["run", "--scenarios", str(commit_folder), "--repeats", "2"]
        common += ["--model", "sim:sticky", "--model", str(openai_spec(server))]
        common += ["--concurrency", "4"]
        local = cli(tmp_path, *common, "--out", "local")
        out, err = local.communicate(timeout=300)
        assert local.returncode == 0, err
        remote = cli(
            tmp_path, *common, "--out", "ray", "--executor", "ray", "--ray-address", cluster.address
        )
        out, err = remote.communicate(timeout=300)
        assert remote.returncode == 0, err
    assert "Traceback" not in err and "16 runs" in out
    here, there = (
        records(tmp_path / "local" / "trajectories.jsonl"),
        records(tmp_path / "ray" / "trajectories.jsonl"),
    )
    assert len(here) == 16 and here.keys() == there.keys()
    for run_id, record in here.items():
        assert there[run_id] == record, run_id
    assert {r["status"] for r in there.values()} == {"ok"}
    assert (tmp_path / "ray" / "report.html").is_file()


def test_a_worker_killed_mid_plan_loses_no_run_and_duplicates_none(
    cluster, tmp_path, commit_scenarios
):
    executor = RayExecutor(RaySettings(workers=2))
    with FakeLLMServer(latency=0.2) as server:
        specs = plan_runs(commit_scenarios.values(), [openai_spec(server)], 4)
        killed = []

        def kill_once(trajectory) -> None:
            if not killed:
                victim = executor.workers[0]
                os.kill(victim.pid, signal.SIGKILL)
                killed.append(victim.name)

        try:
            done = run_all(
                specs,
                tmp_path / "t.jsonl",
                RunOptions(),
                concurrency=8,
                on_done=kill_once,
                executor=executor,
            )
            started = [w.name for w in executor.workers]
        finally:
            executor.close()
    assert killed and executor.lost >= 1  # runs were in flight on the killed worker
    assert len(started) == 3  # one started in its place
    runs = records(tmp_path / "t.jsonl")
    assert runs.keys() == {s.run_id for s in specs} and len(done) == len(specs)
    assert {r["status"] for r in runs.values()} == {"ok"}


@pytest.mark.parametrize("where", ["local", "ray"])
def test_a_provider_limit_holds_over_every_worker(cluster, tmp_path, commit_scenarios, where):
    with FakeLLMServer(latency=0.1) as server:
        specs = plan_runs(commit_scenarios.values(), [openai_spec(server)], 2)
        if where == "ray":
            executor = RayExecutor(RaySettings(workers=2, limits={"openai": 2}))
            options = RunOptions()
        else:
            executor, options = None, RunOptions(limits=LocalLimits({"openai": 2}))
        try:
            run_all(specs, tmp_path / "t.jsonl", options, concurrency=8, executor=executor)
            peaks = executor.peaks() if executor else {"openai": 2}
        finally:
            if executor:
                executor.close()
        assert server.peak_in_flight == 2  # eight runs in flight, two calls at a time
    assert peaks == {"openai": 2}
    assert len(records(tmp_path / "t.jsonl")) == len(specs)


def test_the_response_cache_is_the_drivers(cluster, tmp_path, commit_scenarios):
    cache = ResponseCache(tmp_path / "cache")
    with FakeLLMServer() as server:
        specs = plan_runs(list(commit_scenarios.values())[:2], [openai_spec(server)], 1)
        for name in ("first", "second"):
            executor = RayExecutor(RaySettings(workers=2))
            try:
                run_all(
                    specs, tmp_path / f"{name}.jsonl", RunOptions(cache=cache), executor=executor
                )
            finally:
                executor.close()
            if name == "first":
                asked = len(server.requests)
    assert asked > 0 and len(server.requests) == asked  # the second plan asked nothing
    assert len(list((tmp_path / "cache").rglob("*.json"))) == asked
    first, second = records(tmp_path / "first.jsonl"), records(tmp_path / "second.jsonl")
    replies = [
        m
        for r in second.values()
        for t in r["turns"]
        for m in t["messages"]
        if m["role"] == "assistant"
    ]
    assert replies and all(m["cached"] for m in replies)
    assert replayed(first) == replayed(second)


def replayed(runs: dict[str, dict]) -> dict[str, dict]:
    """The runs without what a replay from the cache changes: the marks and the costs."""
    for record in runs.values():
        record.pop("cost_usd")
        for turn in record["turns"]:
            turn.pop("cost_usd")
            for message in turn["messages"]:
                message.pop("cached", None)
    return runs


def test_a_worker_without_git_is_refused_before_any_run(cluster, tmp_path, commit_folder):
    # The workers' PATH: every program of this one but git.
    bare = tmp_path / "bin"
    bare.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        for program in Path(folder).glob("*") if Path(folder).is_dir() else ():
            target = bare / program.name
            if program.name != "git" and not target.exists():
                target.symlink_to(program)
    (tmp_path / "env.json").write_text(json.dumps({"env_vars": {"PATH": str(bare)}}))
    proc = cli(
        tmp_path,
        "run",
        "--scenarios",
        str(commit_folder),
        "--repeats",
        "1",
        "--out",
        "r",
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
        "--ray-runtime-env",
        "env.json",
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "Traceback" not in err
    assert "the Ray workers cannot play this plan" in err and "git is not installed" in err
    assert not (tmp_path / "r" / "trajectories.jsonl").read_text()


def test_ctrl_c_keeps_finished_runs_and_resume_plays_the_rest(cluster, tmp_path, commit_folder):
    with FakeLLMServer(latency=0.3) as server:
        common = ["--executor", "ray", "--ray-address", cluster.address]
        proc = cli(
            tmp_path,
            "run",
            "--scenarios",
            str(commit_folder),
            "--repeats",
            "3",
            "--concurrency",
            "4",
            "--model",
            str(openai_spec(server)),
            "--out",
            "r",
            *common,
        )
        trajectories = tmp_path / "r" / "trajectories.jsonl"
        deadline = time.monotonic() + 120
        while not (trajectories.exists() and trajectories.read_text().count("\n") >= 2):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "interrupted" in out and "--resume" in out and "Traceback" not in err
        kept = records(trajectories)
        assert 2 <= len(kept) < 12
        resumed = cli(tmp_path, "run", "--resume", "r", *common)
        out, err = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, err
    runs = records(trajectories)  # each run once
    assert len(runs) == 12 and {r["status"] for r in runs.values()} == {"ok"}
    assert all(runs[k] == v for k, v in kept.items())


def test_the_options_are_checked_before_anything_runs(tmp_path):
    cases = {
        ("--ray-address", "auto"): "--ray-address needs --executor ray",
        ("--provider-limit", "openai=0"): "expected a whole number of at least 1",
        ("--provider-limit", "nobody=2"): "unknown provider 'nobody'",
        ("--executor", "ray", "--ray-workers", "0"): "--ray-workers must be at least 1",
    }
    for args, message in cases.items():
        proc = cli(tmp_path, "run", "--repeats", "1", "--out", "r", *args)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2 and message in out + err, (args, out, err)
        assert "Traceback" not in err


def test_ray_is_imported_only_when_asked_for(commit_folder):
    code = (
        "import sys, stickiness.reports.cli, stickiness.reports.pytest_plugin; "
        "from stickiness.reports.cli import main; "
        "main(['run', '--repeats', '1', '--out', sys.argv[1], '--scenarios', sys.argv[2]]); "
        "print('ray' in sys.modules)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-c", code, str(Path(tmp) / "r"), str(commit_folder)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_without_ray_the_message_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(ExecutorError, match=r"pip install 'stickiness\[ray\]'"):
        RayExecutor(RaySettings())


def test_pytest_scenarios_on_the_cluster(cluster, scenario_copy, pytester):
    result = pytester.runpytest_subprocess(
        str(scenario_copy),
        "--repeats",
        "2",
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
        "--stickiness-out",
        str(pytester.path / "runs"),
    )
    result.assert_outcomes(passed=4)
    _, warnings = read_trajectories(pytester.path / "runs" / "trajectories.jsonl")
    assert not warnings and len(records(pytester.path / "runs" / "trajectories.jsonl")) == 8


def test_a_run_lost_on_every_attempt_is_a_transient_error(cluster, tmp_path, commit_scenarios):
    """A run that kills its worker each time ends as an error `--resume` plays again."""
    executor = RayExecutor(RaySettings(workers=1))
    with FakeLLMServer(latency=0.3) as server:
        (spec,) = plan_runs([commit_scenarios["commit-standing"]], [openai_spec(server)], 1)
        with RunStore(tmp_path / "t.jsonl") as store:
            executor.prepare([spec], RunOptions(), 1)

            def record(trajectory) -> None:
                store.append(trajectory)

            killer = _Killer(executor, server)
            killer.start()
            try:
                executor.run([spec], record, RunOptions(), 1, 1.0)
            finally:
                killer.done = True
                executor.close()
    (run,) = read_trajectories(tmp_path / "t.jsonl")[0]
    assert run.status == "error" and run.error_kind == "transient"
    assert run.error.startswith("WorkerLost") and run.attempts == 3


class _Killer:
    """Kills whichever worker is playing, each time the server sees a request."""

    def __init__(self, executor: RayExecutor, server: FakeLLMServer) -> None:
        import threading

        self.executor, self.server, self.done = executor, server, False
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _loop(self) -> None:
        seen = 0
        while not self.done:
            if self.server.in_flight and len(self.server.requests) > seen:
                seen = len(self.server.requests)
                for worker in self.executor.workers:
                    if worker.alive and worker.busy and worker.pid:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(worker.pid, signal.SIGKILL)
            time.sleep(0.02)


def test_compare_on_the_cluster_gates_as_locally(cluster, tmp_path, commit_folder):
    common = ["compare", "--baseline", "sim:steady", "--candidate", "sim:sticky"]
    common += ["--scenarios", str(commit_folder), "--repeats", "2", "--draws", "200"]
    local = cli(tmp_path, *common, "--out", "local")
    remote = cli(
        tmp_path, *common, "--out", "ray", "--executor", "ray", "--ray-address", cluster.address
    )
    local.communicate(timeout=300)
    _, remote_err = remote.communicate(timeout=300)
    assert remote.returncode == local.returncode and "Traceback" not in remote_err, remote_err
    for side in ("baseline", "candidate"):
        here = records(tmp_path / "local" / side / "trajectories.jsonl")
        there = records(tmp_path / "ray" / side / "trajectories.jsonl")
        assert len(here) == 8 and here == there
    verdicts = [json.loads((tmp_path / d / "gate.json").read_text()) for d in ("local", "ray")]
    assert verdicts[0]["verdict"] == verdicts[1]["verdict"]


CLIS = Path(__file__).resolve().parents[1] / ".agent-clis"


@pytest.mark.skipif(
    not (CLIS / "node_modules" / ".bin" / "claude").is_file(),
    reason="Claude Code not installed (stickiness agents install claude-code; .ci/run does)",
)
def test_an_agent_cli_runs_on_a_worker_and_its_transcript_comes_back(
    cluster, tmp_path, commit_scenarios, monkeypatch
):
    from scripted_agents import both_agents

    from stickiness.agents.external.base import CLI_FOLDER_VAR

    monkeypatch.setenv(CLI_FOLDER_VAR, str(CLIS))
    executor = RayExecutor(RaySettings(workers=1))
    with FakeLLMServer(default=both_agents("sticky", "sticky")) as server:
        spec = f"claude-code:claude-sonnet-4-5?key_env=none&base_url={server.anthropic_url}"
        specs = plan_runs([commit_scenarios["commit-then-revoke"]], [ModelSpec.parse(spec)], 1)
        options = RunOptions(transcripts=tmp_path / "transcripts", turn_timeout=120)
        try:
            (run,) = run_all(specs, tmp_path / "t.jsonl", options, executor=executor)
        finally:
            executor.close()
    assert run.status == "ok", run.error
    kept = Path(run.agent_session["transcript"])
    assert kept.parent == tmp_path / "transcripts" and kept.stem == run.run_id
    assert kept.stat().st_size > 0 and run.agent_session["session_id"]
    assert any(t.commits for t in run.turns)  # read from git on the worker
