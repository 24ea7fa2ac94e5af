"""Runner throughput against a slow model, and the harness's own overhead per call.

  python benchmarks/concurrency_latency.py [--runs 200] [--concurrency 32] [--latency 0.2]

Part 1: a local server speaking the OpenAI wire format adds `--latency` seconds to every
reply; `--runs` runs of a 4-turn scenario (two model calls per turn) go through the
real pipeline (SDK, LangGraph loop, tools, git sandbox) at `--concurrency`. Wall time is
compared with the ideal: calls per run x latency x ceil(runs / concurrency).
Part 2: the same with zero latency, one run at a time: the time per model call spent
outside the server (SDK, loop, tool execution), with the per-turn git bookkeeping and
commits excluded. Targets: within 1.3x of the ideal; median overhead under 5 ms.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from llm_server import FakeLLMServer  # noqa: E402

from stickiness.agents.models import ModelSpec, create_model  # noqa: E402
from stickiness.agents.runner import RunOptions, plan_runs  # noqa: E402
from stickiness.agents.scheduler import run_all  # noqa: E402
from stickiness.scenarios import load_scenarios  # noqa: E402

TURNS = 4
SCENARIO = """\
id: four-notes
title: Four notes
behaviour: commit
arm: control
kind: control
workspace:
  files:
    README.md: "# notes\\n"
turns:
""" + "".join(
    f'  - user: "Write note {n} in notes.md."\n    requests: [edit:notes.md]\n'
    for n in range(1, TURNS + 1)
)


def scenario(folder: Path):
    (folder / "four-notes.yaml").write_text(SCENARIO)
    return load_scenarios([folder])[0]


def _serve(latency: float, port_out, calls_out, stop) -> None:
    with FakeLLMServer(latency=latency) as server:
        port_out.send(server.port)
        stop.wait()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        calls_out.send((len(server.requests), usage.ru_utime + usage.ru_stime))


def throughput(runs: int, concurrency: int, latency: float, folder: Path) -> None:
    sc = scenario(folder)
    # The model server runs in its own process, as a real one would: it must not
    # compete with the runner for this interpreter's lock.
    ctx = multiprocessing.get_context("spawn")
    port_rx, port_tx = ctx.Pipe(duplex=False)
    calls_rx, calls_tx = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    proc = ctx.Process(target=_serve, args=(latency, port_tx, calls_tx, stop), daemon=True)
    proc.start()
    try:
        url = f"http://127.0.0.1:{port_rx.recv()}/v1"
        spec = ModelSpec.parse(f"openai:bench?key_env=none&base_url={url}")
        specs = plan_runs([sc], [spec], runs)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = run_all(specs, folder / "t.jsonl", RunOptions(), concurrency=concurrency)
        wall = time.perf_counter() - started
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        stop.set()
        calls, server_cpu = calls_rx.recv()
        proc.join(timeout=10)
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    failed = sum(t.status != "ok" for t in done)
    per_run = calls / runs
    ideal = per_run * latency * math.ceil(runs / concurrency)
    print(
        f"{runs} runs x {TURNS} turns at concurrency {concurrency}, {latency * 1000:.0f} ms "
        f"per reply: {calls} calls ({per_run:.1f} per run), {failed} failed"
    )
    print(f"  wall {wall:.1f} s, ideal {ideal:.1f} s: {wall / ideal:.2f}x (target <= 1.3x)")
    runner = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    children = kids1.ru_utime - kids0.ru_utime + kids1.ru_stime - kids0.ru_stime
    print(
        f"  CPU: runner {runner:.1f} s, git {children - server_cpu:.1f} s, model server "
        f"{server_cpu:.1f} s; {os.cpu_count()} cores"
    )


class Timed:
    """Wraps an adapter, timing the SDK call so the loop's share can be measured."""

    def __init__(self, inner) -> None:
        self.inner, self.spec, self.simulated = inner, inner.spec, False
        self.calls: list[float] = []

    def describe(self) -> dict:
        return self.inner.describe()

    def complete(self, messages, tools):
        t = time.perf_counter()
        reply = self.inner.complete(messages, tools)
        self.calls.append(time.perf_counter() - t)
        return reply


def overhead(folder: Path, runs: int = 20) -> None:
    from stickiness.agents import loop as loop_module
    from stickiness.agents.harness import get_harness
    from stickiness.agents.sandbox import Sandbox

    sc = scenario(folder)
    harness = get_harness("minimal")
    per_call: list[float] = []
    sdk: list[float] = []
    with FakeLLMServer(latency=0.0) as server:
        spec = ModelSpec.parse(f"openai:bench?key_env=none&base_url={server.openai_url}")
        for seed in range(runs):
            model = Timed(create_model(spec, sc, seed))
            with Sandbox(dict(sc.workspace.files)) as box:
                agent = loop_module.build_agent(model, box, harness, 20)
                history = [{"role": "system", "content": harness.system_prompt}]
                for turn in sc.turns:
                    before = len(model.calls)
                    t = time.perf_counter()
                    state = agent.invoke(
                        {
                            "messages": [*history, {"role": "user", "content": turn.user[0]}],
                            "steps": 0,
                        },
                        config={"recursion_limit": loop_module.recursion_limit(20)},
                    )
                    elapsed = time.perf_counter() - t
                    history = state["messages"]
                    n = len(model.calls) - before
                    per_call.append(elapsed / n)
                    sdk.extend(model.calls[before:])
    print(
        f"zero-latency model calls: {len(sdk)}; median per call, whole step "
        f"(SDK + loop + tools): {statistics.median(per_call) * 1000:.2f} ms; "
        f"SDK + local server alone: {statistics.median(sdk) * 1000:.2f} ms"
    )
    harness_only = [max(0.0, a - b) for a, b in zip(per_call, sdk, strict=False)]
    print(
        f"  harness overhead per call (step minus SDK round trip), median "
        f"{statistics.median(harness_only) * 1000:.2f} ms (target < 5 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        throughput(args.runs, args.concurrency, args.latency, Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        overhead(Path(tmp))


if __name__ == "__main__":
    main()
