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
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

INSPECT_VERSION = "0.3.285"  # the version these numbers were taken with
HARNESS = "minimal"
MODEL_NAME = "bench"
DUMMY_KEY = "sk-local-dummy"
FILES = {"README.md": "# notes\n"}
TURNS = [
    "Start notes.md with a first note.",
    "Add a second note to notes.md, then commit.",
    "Add a third note to notes.md.",
    "Add a fourth note to notes.md.",
    "Add a fifth note to notes.md, then commit.",
]
# The tool calls the model makes in each turn, one per reply, before its closing text.
PLAN = [["write"], ["write", "commit"], ["write"], ["write"], ["write", "commit"]]
CALLS_PER_CONVERSATION = sum(len(calls) + 1 for calls in PLAN)
WRITES = sum(c == "write" for calls in PLAN for c in calls)
COMMITS = sum(c == "commit" for calls in PLAN for c in calls)
TOOL_NAMES = ("stickiness", "inspect")


def scenario_yaml() -> str:
    lines = [
        "id: vs-inspect",
        "title: Five notes, two commits",
        "behaviour: commit",
        "arm: control",
        "kind: control",
        "workspace:",
        "  files:",
        *(f"    {k}: {json.dumps(v)}" for k, v in FILES.items()),
        "turns:",
    ]
    for text, calls in zip(TURNS, PLAN, strict=True):
        requests = ["edit:notes.md"] + (["commit"] if "commit" in calls else [])
        lines += [f"  - user: {json.dumps(text)}", f"    requests: [{', '.join(requests)}]"]
    return "\n".join(lines) + "\n"


# -- the model server ------------------------------------------------------------------


def scripted(api: str, body: dict):
    """The reply to a Chat Completions request, from the conversation alone: which user
    turn this is, and how many tool results have come back since that turn began."""
    from llm_server import OPENAI, error_reply, openai_reply

    if api != OPENAI:
        return error_reply(400, f"only Chat Completions is scripted, not {api}", api=api)
    messages = body.get("messages") or []
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users or len(users) > len(PLAN):
        return error_reply(400, f"unexpected conversation: {len(users)} user messages")
    turn = len(users)
    done = sum(m.get("role") == "tool" for m in messages[users[-1] + 1 :])
    plan = PLAN[turn - 1]
    if done >= len(plan):
        return openai_reply(f"Done with turn {turn}.")
    if plan[done] == "write":
        notes = "".join(f"note {n}\n" for n in range(1, turn + 1))
        name, args = "write_file", {"path": "notes.md", "content": notes}
    else:
        name, args = "git_commit", {"message": f"Notes 1 to {turn}"}
    return openai_reply(None, [(f"call_{turn}_{done}", name, json.dumps(args))])


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


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def summarise(results: dict, runs: int, latency: float) -> list[dict]:
    expected = runs * CALLS_PER_CONVERSATION
    out = []
    for (tool, concurrency), rows in results.items():
        good = [r for r in rows if "error" not in r]
        calls = sorted({sum(r["server"]["calls"].values()) for r in rows})
        row = {"tool": tool, "concurrency": concurrency, "calls": calls, "expected": expected}
        if good:
            wall, cpu = _median(good, "wall"), _median(good, "cpu")
            # C above N cannot help: at most N conversations are ever in flight.
            ideal = runs * CALLS_PER_CONVERSATION * latency / min(concurrency, runs)
            row |= {
                "wall": wall,
                "ideal": ideal,
                "ratio": wall / ideal if ideal else float("nan"),
                "rate": runs / wall,
                "cpu": cpu,
                "cpu_per_call": cpu / max(1, calls[-1]),
                "startup_cpu": _median(good, "startup_cpu"),
                "rss": _median(good, "rss"),
                "conversations": min(r["conversations"] for r in good),
                "tool_ok": min(r["tool_ok"] for r in good),
                "tool_errors": max(r["tool_errors"] for r in good),
                "commits": min(r["commits"] for r in good),
                "server_cpu": _median([r["server"] for r in good], "cpu"),
            }
        out.append(row)
    return out


def print_table(rows: list[dict], runs: int, latency: float, repeats: int) -> None:
    from importlib.metadata import version

    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=(
            f"stickiness {version('stickiness')} and Inspect AI {version('inspect-ai')}: "
            f"{runs} conversations x {len(TURNS)} turns ({CALLS_PER_CONVERSATION} model calls, "
            f"{WRITES} writes, {COMMITS} commits each), {latency * 1000:.0f} ms per reply; "
            f"median of {repeats}"
        )
    )
    for name, justify in [
        ("tool", "left"),
        ("C", "right"),
        ("wall s", "right"),
        ("ideal s", "right"),
        ("x ideal", "right"),
        ("conv/s", "right"),
        ("CPU s", "right"),
        ("CPU ms/call", "right"),
        ("startup CPU s", "right"),
        ("peak RSS MiB", "right"),
        ("calls (server)", "right"),
        ("conv ok", "right"),
        ("tool results ok/err", "right"),
        ("commits", "right"),
    ]:
        table.add_column(name, justify=justify)
    for r in rows:
        calls = "/".join(str(c) for c in r["calls"])
        calls += " ✓" if r["calls"] == [r["expected"]] else f" ✗ (expected {r['expected']})"
        if "wall" not in r:
            table.add_row(r["tool"], str(r["concurrency"]), "failed", *[""] * 7, calls)
            continue
        table.add_row(
            r["tool"],
            str(r["concurrency"]),
            f"{r['wall']:.1f}",
            f"{r['ideal']:.1f}",
            f"{r['ratio']:.2f}" if r["ideal"] else "-",
            f"{r['rate']:.2f}",
            f"{r['cpu']:.1f}",
            f"{r['cpu_per_call'] * 1000:.1f}",
            f"{r['startup_cpu']:.1f}",
            f"{r['rss']:.0f}",
            calls,
            f"{r['conversations']}/{runs}",
            f"{r['tool_ok']}/{r['tool_errors']}",
            f"{r['commits']}",
        )
    Console(width=200).print(table)
    print(
        f"ideal = conversations x {CALLS_PER_CONVERSATION} calls x latency / min(C, "
        "conversations). CPU: the measuring process and its children (git; for Inspect also "
        "its setup scripts) during the run; CPU ms/call: that over the calls the server "
        "counted; startup CPU: imports, building the run and the warm-up before it. "
        f"{os.cpu_count()} cores. At C=1 a process sleeps through every reply, and each "
        "wake-up costs CPU that depends on the machine's other load, on both sides alike."
    )


def observed_differences(results: dict) -> list[str]:
    """What the server saw that was not the same from both tools."""
    seen: dict[str, dict[str, set]] = {t: {} for t in TOOL_NAMES}
    for (tool, _), rows in results.items():
        for r in rows:
            for key in ("tools", "fields", "roles"):
                seen[tool].setdefault(key, set()).update(r["server"].get(key, {}))
    a, b = (seen[t] for t in TOOL_NAMES)
    notes = []
    if a.get("tools") == b.get("tools"):
        notes.append("The tool list sent with every call was the same JSON on both sides.")
    else:
        notes.append(_tool_schema_difference(a.get("tools", set()), b.get("tools", set())))
    if a.get("fields") != b.get("fields"):
        notes.append(
            "Request fields: this project sends "
            + "; ".join(sorted(a.get("fields", set())))
            + ", Inspect sends "
            + "; ".join(sorted(b.get("fields", set())))
            + "."
        )
    ours, theirs = a.get("roles", set()), b.get("roles", set())
    as_system = {r.replace("developer", "system") for r in theirs}
    if ours == theirs:
        notes.append(
            f"Every call carried the same sequence of message roles on both sides "
            f"({len(ours)} distinct sequences, one per call of a conversation)."
        )
    elif ours == as_system:
        notes.append(
            "Inspect sends the system prompt with role 'developer', this project with role "
            "'system'; otherwise every call carried the same sequence of message roles "
            f"({len(ours)} distinct sequences, one per call of a conversation)."
        )
    else:
        notes.append(
            "The sequences of message roles differed: this project "
            + " | ".join(sorted(ours))
            + "; Inspect "
            + " | ".join(sorted(theirs))
        )
    return notes


def _json_diff(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(a.keys() | b.keys()):
            where = f"{path}.{key}" if path else key
            if key not in a:
                out.append(f"{where} added ({json.dumps(b[key])})")
            elif key not in b:
                out.append(f"{where} dropped (was {json.dumps(a[key])})")
            else:
                out += _json_diff(a[key], b[key], where)
        return out
    return [] if a == b else [f"{path}: {json.dumps(a)} -> {json.dumps(b)}"]


def _tool_schema_difference(ours: set[str], theirs: set[str]) -> str:
    def by_name(variants: set[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for variant in variants:
            for tool in json.loads(variant) or []:
                out[tool.get("function", tool).get("name", "?")] = tool
        return out

    a, b = by_name(ours), by_name(theirs)
    changes: dict[str, list[str]] = {}
    for name in sorted(a.keys() | b.keys()):
        if name not in a or name not in b:
            changes.setdefault("only one side has the tool", []).append(name)
            continue
        for change in _json_diff(a[name], b[name]):
            changes.setdefault(change.removeprefix("function."), []).append(name)
    parts = [f"{change} in {', '.join(names)}" for change, names in changes.items()]
    return (
        "The tool schemas as sent differ, Inspect's against this project's: "
        + "; ".join(parts)
        + ". Otherwise the same names, descriptions and parameters."
    )


def setup_differences(git: dict[str, float]) -> list[str]:
    counted = ", ".join(f"{tool} {n:g}" for tool, n in git.items())
    return [
        "Per-turn observation: this project reads the repository after every turn (HEAD, a "
        "snapshot of the working files, origin's refs, the turn's diff and commits) to "
        "record what the agent did, in-process through libgit2 where it can; the Inspect "
        "solver only plays the turns.",
        "Sandbox set-up: this project makes each starting repository in-process (libgit2, "
        "falling back to git); Inspect's local sandbox writes the sample's files, copies the "
        "setup script to /tmp and runs chmod, bash (git init, init --bare, remote add, add, "
        "commit, push) and rm. Both commit with real git (add, commit, log). git processes "
        f"per conversation, counted in an untimed pass through a wrapper on PATH: {counted}.",
        "Records: this project writes one JSON line per finished conversation (the "
        "trajectory: every message, diff and commit); Inspect runs with display='none', "
        "log_level='error', log_samples=False, log_realtime=False, log_model_api=False, no "
        "scorer, and its trace log at error level in a temporary folder: it still builds its "
        "in-memory transcript of events per sample and writes one .eval log (header and "
        "summary) per run.",
        "Tool execution: this project's tools are synchronous Python, run in one thread per "
        "conversation, with its full argument validation, path checks and size budgets; the "
        "Inspect tools are async functions that Inspect validates against the same JSON "
        "schema (jsonschema), writing files through sandbox().write_file and running git "
        "through sandbox().exec, with lighter path checks.",
        "Concurrency: this project runs C conversations on C threads, each with a synchronous "
        "openai client; Inspect runs C samples (max_samples = max_connections = C) as async "
        "tasks on one event loop with the async openai client, its subprocesses limited to "
        "max(C, cores).",
        "Retries and timeouts: each keeps its own policy (this project: SDK retries, then "
        "backoff and replay of a run; Inspect: its own retry loop around the SDK). The server "
        "never fails, so no call was retried: the server's counts show it.",
    ]


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
