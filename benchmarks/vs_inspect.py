"""This project's runner side by side with Inspect AI, on the same scripted work.

  python benchmarks/vs_inspect.py [--runs 200] [--concurrency 1 8 32] [--latency 0.2]
                                  [--repeats 3] [--quick] [--cold]

Needs Inspect AI, an optional benchmark dependency: pip install inspect-ai==0.3.285

The work, the same for both: `--runs` conversations of five user turns; the model asks
for a write of notes.md in every turn and a commit in turns 2 and 5, so a conversation is
12 model calls, 5 file writes and 2 real git commits. Both send the same system prompt,
user turns and ten tools (this project's names and JSON schemas) to one local server
speaking the OpenAI Chat Completions wire format, which adds `--latency` seconds to every
reply and decides each reply from the conversation it is sent (the user turns and tool
results so far), so both receive the same tool calls. The server runs in a process of its
own, so its CPU is not counted against either tool, and counts the calls it answered.

Each measurement runs in a fresh process, which plays one unmeasured warm-up
conversation first (`--cold` skips it); then the measured run's wall time, CPU (its own
and its children's: git, Inspect's setup scripts) and the process's peak RSS are read
there with getrusage. The two tools' measurements alternate (A B A B ...) and the table
shows medians over `--repeats`. The printed "What differs" list names what is not the
same between the two set-ups, partly from what the server saw.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import resource
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from vs_inspect_report import (  # noqa: E402
    observed_differences,
    print_table,
    setup_differences,
    summarise,
)
from vs_inspect_work import (  # noqa: E402
    CALLS_PER_CONVERSATION,
    FILES,
    TOOL_NAMES,
    TURNS,
    scenario_yaml,
    scripted,
)

INSPECT_VERSION = "0.3.285"  # the version these numbers were taken with
HARNESS = "minimal"
MODEL_NAME = "bench"
DUMMY_KEY = "sk-local-dummy"


def _serve(latency: float, conn) -> None:
    """The server process: answers requests, and on each "snapshot" sends what it saw since
    the last one (call counts, the distinct tool lists, request fields and message shapes)."""
    from llm_server import FakeLLMServer

    class CountingServer(FakeLLMServer):
        # Keeps counts and shapes instead of every request body: a full run sends tens
        # of thousands of ever longer transcripts.
        def _next(self, api, body, headers, path=""):
            with self._lock:
                seen["calls"][api] += 1
                seen["tools"][json.dumps(body.get("tools"), sort_keys=True)] += 1
                seen["fields"][",".join(sorted(body))] += 1
                roles = ",".join(m.get("role", "?") for m in body.get("messages", []))
                seen["roles"][roles] += 1
            return scripted(api, body)

    def fresh() -> dict:
        return {k: Counter() for k in ("calls", "tools", "fields", "roles")}

    seen = fresh()
    with CountingServer(default=None, latency=latency) as server:
        conn.send(server.port)
        cpu = 0.0
        while conn.recv() == "snapshot":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            now = usage.ru_utime + usage.ru_stime
            with server._lock:
                taken, seen = seen, fresh()
            conn.send({**{k: dict(v) for k, v in taken.items()}, "cpu": now - cpu})
            cpu = now


# -- one measurement, in a process of its own -------------------------------------------


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _run_stickiness(url: str, concurrency: int, folder: Path, shared: dict):
    from stickiness.agents.models import ModelSpec
    from stickiness.agents.runner import RunOptions, plan_runs
    from stickiness.agents.scheduler import run_all
    from stickiness.scenarios import load_scenarios

    (folder / "vs-inspect.yaml").write_text(scenario_yaml())
    scenarios = load_scenarios([folder])
    spec = ModelSpec.parse(f"openai:{MODEL_NAME}?key_env=none&base_url={url}")

    def run(runs: int, label: str) -> dict:
        specs = plan_runs(scenarios, [spec], runs, harness=HARNESS)
        store = folder / f"{label}.jsonl"
        done = run_all(specs, store, RunOptions(), concurrency=concurrency)
        results = [
            m for t in done for turn in t.turns for m in turn.messages if m["role"] == "tool"
        ]
        return {
            "conversations": sum(t.status == "ok" for t in done),
            "tool_ok": sum(not m.get("is_error") for m in results),
            "tool_errors": sum(bool(m.get("is_error")) for m in results),
            "commits": sum(len(turn.commits) for t in done for turn in t.turns),
        }

    return run


def _run_inspect(url: str, concurrency: int, folder: Path, shared: dict):
    # Inspect's trace log (every model call, tool call and subprocess, by default) goes to
    # this measurement's folder, at error level only, so it is not what is measured.
    os.environ["INSPECT_TRACE_FILE"] = str(folder / "trace.log")
    os.environ["INSPECT_TRACE_LEVEL"] = "error"
    os.environ["OPENAI_API_KEY"] = DUMMY_KEY
    import vs_inspect_task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import GenerateConfig, get_model

    model = get_model(
        f"openai/{MODEL_NAME}",
        base_url=url,
        api_key=DUMMY_KEY,
        config=GenerateConfig(max_connections=concurrency),
        responses_api=False,
    )

    def run(runs: int, label: str) -> dict:
        task = vs_inspect_task.build_task(
            runs, TURNS, shared["system_prompt"], FILES, shared["schemas"]
        )
        vs_inspect_task.COUNTS.clear()
        logs = inspect_eval(
            task,
            model=model,
            display="none",
            log_level="error",
            log_dir=str(folder / label),
            log_samples=False,
            log_realtime=False,
            log_model_api=False,
            score=False,
            ctl_server=False,
            fail_on_error=False,
            max_samples=concurrency,
            max_connections=concurrency,
            max_subprocesses=max(concurrency, os.cpu_count() or 1),
        )
        counts = {"conversations": 0, **vs_inspect_task.COUNTS}
        counts["status"] = logs[0].status
        return counts

    return run


RUNNERS = {"stickiness": _run_stickiness, "inspect": _run_inspect}


def _measure(tool: str, url: str, runs: int, concurrency: int, shared: dict, conn) -> None:
    try:
        with tempfile.TemporaryDirectory(prefix=f"vs-inspect-{tool}-") as tmp:
            run = RUNNERS[tool](url, concurrency, Path(tmp), shared)
            if shared["warm_up"]:
                # One conversation first, so that lazy imports and first-use costs (large
                # on Inspect's side) are counted as startup, not as the run's.
                run(1, "warm-up")
            conn.send("ready")  # the parent starts the server's counts from here
            conn.recv()
            startup = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            counts = run(runs, "measured")
            wall = time.perf_counter() - started
            cpu = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - startup
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        conn.send({"wall": wall, "cpu": cpu, "startup_cpu": startup, "rss": rss, **counts})
    except BaseException:  # noqa: BLE001 - reported to the parent, which shows it
        conn.send({"error": traceback.format_exc()})


def measure(tool: str, url: str, runs: int, concurrency: int, shared: dict, server) -> dict:
    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_measure, args=(tool, url, runs, concurrency, shared, child))
    proc.start()
    child.close()
    try:
        message = conn.recv()
        if message == "ready":
            server.send("snapshot")
            server.recv()  # the warm-up's calls, and anything before it
            conn.send("go")
            message = conn.recv()
        result = message
    except EOFError:
        result = {"error": f"the {tool} process died (exit code {proc.exitcode})"}
    proc.join()
    server.send("snapshot")
    result["server"] = server.recv()
    return result


# -- the report ---------------------------------------------------------------------------


def count_git(url: str, shared: dict, server) -> dict[str, float]:
    """git processes started per conversation by each tool, through a logging wrapper
    placed first on PATH (both resolve git through PATH). Untimed: the wrapper costs a
    shell per git call. Only calls in a temporary folder count: a run also asks git about
    the current checkout once, to stamp versions."""
    real = shutil.which("git")
    if real is None:
        return {}
    runs, tmp_root = 2, os.path.realpath(tempfile.gettempdir())
    counts: dict[str, float] = {}
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="vs-inspect-git-") as tmp:
        for tool in TOOL_NAMES:
            # The log's path is written into the wrapper: this project runs git with a
            # scrubbed environment that would drop a variable naming it.
            folder, log = Path(tmp) / tool, Path(tmp) / f"{tool}.log"
            folder.mkdir()
            log.touch()
            wrapper = folder / "git"
            wrapper.write_text(
                f'#!/bin/sh\necho "$PWD" >> {shlex.quote(str(log))}\n'
                f'exec {shlex.quote(real)} "$@"\n'
            )
            wrapper.chmod(0o755)
            os.environ["PATH"] = f"{folder}{os.pathsep}{saved.get('PATH', '')}"
            try:
                measure(tool, url, runs, 1, shared | {"warm_up": False}, server)
            finally:
                os.environ.clear()
                os.environ.update(saved)
            lines = log.read_text().splitlines()
            calls = [p for p in lines if os.path.realpath(p).startswith(tmp_root)]
            counts[tool] = len(calls) / runs
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="conversations per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added per reply")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="16 conversations, one repeat")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="no warm-up conversation before each measured run (first-use costs in the run)",
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.repeats = 16, 1
    if importlib.util.find_spec("inspect_ai") is None:
        print(
            "Inspect AI is not installed; this benchmark needs it:\n"
            f"  pip install inspect-ai=={INSPECT_VERSION}",
            file=sys.stderr,
        )
        return 2

    from stickiness.agents.harness import get_harness
    from stickiness.agents.tools import tool_schemas

    harness = get_harness(HARNESS)
    shared = {
        "system_prompt": harness.system_prompt,
        "schemas": tool_schemas(list(harness.tools)),
        "warm_up": not args.cold,
    }

    ctx = multiprocessing.get_context("spawn")
    server, server_end = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(args.latency, server_end), daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{server.recv()}/v1"
    results: dict[tuple[str, int], list[dict]] = {}
    try:
        for repeat in range(args.repeats):
            for concurrency in args.concurrency:
                for tool in TOOL_NAMES:
                    r = measure(tool, url, args.runs, concurrency, shared, server)
                    results.setdefault((tool, concurrency), []).append(r)
                    calls = sum(r["server"]["calls"].values())
                    if "error" in r:
                        print(f"{tool} C={concurrency}: failed\n{r['error']}", file=sys.stderr)
                    else:
                        print(
                            f"[{repeat + 1}/{args.repeats}] {tool:10} C={concurrency:<3} "
                            f"wall {r['wall']:6.1f} s  CPU {r['cpu']:6.1f} s  "
                            f"{calls} calls  {r['conversations']} conversations ok  "
                            f"(server CPU {r['server']['cpu']:.1f} s)",
                            flush=True,
                        )
        git = count_git(url, shared, server)
    finally:
        server.send("stop")
        proc.join(timeout=10)

    order = {t: i for i, t in enumerate(TOOL_NAMES)}
    rows = sorted(
        summarise(results, args.runs, args.latency),
        key=lambda r: (r["concurrency"], order[r["tool"]]),
    )
    print()
    print_table(rows, args.runs, args.latency, args.repeats)
    print("\nWhat differs:")
    start = "Process start: each measurement is a fresh process. " + (
        "Without a warm-up (--cold), the run includes first-use costs: Inspect imports "
        "much of itself lazily during its first eval."
        if args.cold
        else "Before its measured run it plays one unmeasured warm-up conversation "
        "(its calls are not in the server's counts): imports, first-use costs and the "
        "warm-up are the startup CPU column, not in wall or CPU."
    )
    for note in [*observed_differences(results), *setup_differences(git), start]:
        print(f"- {note}")
    expected = args.runs * CALLS_PER_CONVERSATION
    same = all(r["calls"] == [expected] for r in rows)
    print(
        f"\nModel calls counted by the server: {'all' if same else 'NOT all'} "
        f"measurements made {expected} ({args.runs} x {CALLS_PER_CONVERSATION})."
    )
    return 0 if same and all("wall" in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
