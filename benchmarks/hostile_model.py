"""A hostile model, end to end: every call of tests/hostile_calls.py played through the
official openai SDK, the LangGraph loop, the tools and a real git sandbox, then the
worst cases for time and memory that the tools' budgets allow.

  python benchmarks/hostile_model.py [--limit SECONDS]

Part 1: a scripted model on 127.0.0.1 (tests/llm_server.py) sends each hostile call in
a run of its own (one turn: the call, then a final reply), played by `run_one` like any
run. Counted: calls, tool errors, answers other than expected, escapes (anything next to
the sandbox created, changed or removed, checked around every call), hangs (calls over
`--limit` seconds), runs that ended in an error, and commit records that are not the
commit git holds. Part 2: the largest inputs the budgets let through, straight into the
tools, each timed and its Python allocations traced. Peak memory is this process's
ru_maxrss (and its children's: git). Exits 1 if anything escaped, hung or answered
otherwise than expected.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hostile_calls import (  # noqa: E402
    CALL_SECONDS,
    FILES,
    HOSTILE_CALLS,
    HostileCall,
    args,
    make_canary,
    prepare,
    tree_state,
)
from llm_server import OPENAI, FakeLLMServer, openai_reply  # noqa: E402

from stickiness.agents import loop, runner, static_check  # noqa: E402
from stickiness.agents.models import CallOptions, ModelSpec  # noqa: E402
from stickiness.agents.runner import RunOptions, plan_runs, run_one  # noqa: E402
from stickiness.agents.sandbox import Sandbox  # noqa: E402
from stickiness.agents.tools import ToolResult, execute  # noqa: E402
from stickiness.scenarios import load_scenarios  # noqa: E402
from stickiness.scenarios.model import Scenario  # noqa: E402
from stickiness.scenarios.patterns import compile_pattern  # noqa: E402

HOSTILE_ID, PREP_ID = "call_hostile", "call_prep"


@dataclass
class Observed:
    call_id: str
    seconds: float
    result: ToolResult
    escaped: bool


class Watch:
    """Stands in for the loop's `execute`: runs the real one, timing it and checking
    that nothing next to the sandbox changed."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.seen: list[Observed] = []

    def __call__(self, box: Sandbox, name: str, arguments: str, allowed=None) -> ToolResult:
        skip = {box.root, box.remote, box.root.parent / "snapshot.index"}
        before = tree_state(self.scratch, skip)
        started = time.monotonic()
        result = execute(box, name, arguments, allowed)
        seconds = time.monotonic() - started
        escaped = tree_state(self.scratch, skip) != before
        call_id = PREP_ID if name == "write_file" and '"dirty.txt"' in arguments else HOSTILE_ID
        self.seen.append(Observed(call_id, seconds, result, escaped))
        return result


def prepared_sandbox(canary: Path, steps: tuple[str, ...]) -> type[Sandbox]:
    class Prepared(Sandbox):
        """The runner's sandbox plus the fixtures no tool can make (links out, a FIFO,
        oversized files), counted as the scenario's own files."""

        def __init__(self, files: dict[str, str], *, keep: bool = False) -> None:
            super().__init__(files, keep=keep)
            prepare(self.root, canary, steps)
            self.baseline = self.usage()

    return Prepared


def scenario(folder: Path) -> Scenario:
    text = yaml.safe_dump(
        {
            "id": "hostile",
            "title": "A model that sends hostile tool calls",
            "behaviour": "commit",
            "arm": "control",
            "kind": "control",
            "workspace": {"files": dict(FILES)},
            "turns": [{"user": "Go ahead.", "requests": ["edit:*"]}],
        }
    )
    (folder / "hostile.yaml").write_text(text)
    return load_scenarios([folder])[0]


def play_all(scratch: Path, canary: Path, played: Scenario, limit: float) -> dict:
    watch = Watch(scratch)
    figures = dict(calls=0, prep=0, errors=0, expected_errors=0, unexpected=[], escapes=[])
    figures |= dict(hangs=[], failed_runs=[], commits=0, bad_commits=[], slowest=(0.0, ""))
    options = RunOptions(max_steps=4, call=CallOptions(timeout=120, max_retries=0), run_retries=0)
    # The loop looks `execute` up at every tool call, the runner `Sandbox` at every run.
    loop.execute = watch
    try:
        with FakeLLMServer(default=None) as server:
            spec = ModelSpec.parse(f"openai:hostile?base_url={server.openai_url}&key_env=none")
            (run_spec,) = plan_runs([played], [spec], 1)
            for hostile in HOSTILE_CALLS:
                watch.seen.clear()
                server.requests.clear()  # each request holds the whole transcript
                runner.Sandbox = prepared_sandbox(canary, hostile.setup)
                calls = [(HOSTILE_ID, hostile.tool, hostile.raw_arguments(canary))]
                if hostile.dirty:
                    prep = (PREP_ID, "write_file", args(path="dirty.txt", content="a change\n"))
                    calls.insert(0, prep)
                server.queue(OPENAI, openai_reply(None, calls), openai_reply("Done."))
                run = run_one(run_spec, options)
                _judge(hostile, run, watch.seen, server, limit, figures)
    finally:
        loop.execute = execute
        runner.Sandbox = Sandbox
    return figures


def _judge(hostile: HostileCall, run, seen: list[Observed], server, limit, figures) -> None:
    if run.status != "ok":
        figures["failed_runs"].append(f"{hostile.id}: {run.error}")
        return
    prep = [o for o in seen if o.call_id == PREP_ID]
    played = [o for o in seen if o.call_id == HOSTILE_ID]
    if len(played) != 1:
        figures["unexpected"].append(f"{hostile.id}: played {len(played)} times")
        return
    (mine,) = played
    figures["calls"] += 1
    figures["prep"] += len(prep)
    figures["errors"] += mine.result.is_error
    figures["expected_errors"] += hostile.expect == "error"
    answered = {m.get("tool_call_id"): m for m in server.bodies(OPENAI)[-1]["messages"]}
    if (
        mine.result.is_error != (hostile.expect == "error")
        or hostile.says not in mine.result.content
        or any(o.result.is_error for o in prep)
        or answered[HOSTILE_ID]["content"] != mine.result.content
    ):
        figures["unexpected"].append(f"{hostile.id}: {mine.result.content[:120]!r}")
    for o in [mine, *prep]:
        if o.escaped:
            figures["escapes"].append(hostile.id)
        if o.seconds > limit:
            figures["hangs"].append(f"{hostile.id} ({o.seconds:.1f} s)")
        if o.seconds > figures["slowest"][0]:
            figures["slowest"] = (o.seconds, hostile.id)
    for commit in run.turns[0].commits:
        figures["commits"] += 1
        if commit.files != ["dirty.txt"] or set(commit.sha) <= {"0"} or len(commit.sha) != 40:
            figures["bad_commits"].append(f"{hostile.id}: {commit}")


# -- part 2: the largest inputs the budgets let through ---------------------------------


def _measure(label: str, box: Sandbox, tool: str, arguments: str) -> tuple[str, float, int]:
    """Wall time of one call, then its peak of Python allocations in a second, traced
    call (tracing slows the parser down several times)."""
    started = time.monotonic()
    execute(box, tool, arguments)
    seconds = time.monotonic() - started
    tracemalloc.start()
    execute(box, tool, arguments)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return label, seconds, peak


def worst_cases() -> list[tuple[str, float, int]]:
    per_file, total = static_check.MAX_CHECK_FILE_BYTES, static_check.MAX_CHECK_BYTES
    files = total // per_file
    rows = []
    with Sandbox({}) as box:
        # The most AST per byte of source: one two-byte statement after another.
        for n in range(files):
            (box.root / f"s{n}.py").write_text("a\n" * (per_file // 2))
        rows.append(_measure(f"run_tests: {files} x 64 KB of `a` lines", box, "run_tests", "{}"))
    with Sandbox({}) as box:
        # ast.parse is quadratic in the fields of one f-string.
        for n in range(files):
            (box.root / f"f{n}.py").write_text("x = f'" + "{a}" * ((per_file - 10) // 3) + "'\n")
        rows.append(_measure(f"run_tests: {files} x 64 KB f-strings", box, "run_tests", "{}"))
    with Sandbox({}) as box:
        # Random a/b in long lines: RE2's DFA thrashes and its cost per byte grows with
        # the program, so each pattern gets as far as its work budget allows.
        rng = random.Random(3)
        for n in range(64):
            line = "".join(rng.choice("ab") for _ in range(4_000))
            (box.root / f"ab{n:02}.txt").write_text((line + "\n") * 16)  # 64 KB each
        for pattern in [
            "(a|b)*a(a|b){3}",
            "(a|b)*a(a|b){30}",
            "(?:a|b)*a[ab]{300}",
            "(.*){100}",
            "(.*){1000}",
            "(?:a|b)*a" + "[ab]{999}" * 150,
            "zzz",
        ]:
            size = compile_pattern.__wrapped__(pattern).programsize
            label = f"search: {pattern[:18]!r} ({size:,} instructions)"
            rows.append(_measure(label, box, "search", args(pattern=pattern)))
    with Sandbox({}) as box:
        for n in range(4):
            (box.root / f"short{n}.txt").write_text("a\n" * 50_000)
        rows.append(_measure("search: 200,000 one-letter lines", box, "search", args(pattern="b")))
    with Sandbox({}) as box:
        # A compiled pattern keeps RE2's DFA (megabytes) alive while it is cached.
        rng = random.Random(4)
        (box.root / "ab.txt").write_text("".join(rng.choice("ab") for _ in range(50_000)))
        before, started = _rss(), time.monotonic()
        for n in range(100):
            execute(box, "search", args(pattern=f"(a|b)*a(a|b){{{20 + n % 40}}}b{{{n}}}"))
        label = f"search: 100 distinct heavy patterns (RSS {_rss() - before:+,.0f} MB)"
        rows.append((label, time.monotonic() - started, 0))
    with Sandbox({}) as box:
        for name in ("huge.log", "huge.py"):
            with (box.root / name).open("wb") as handle:
                handle.truncate(4 << 30)  # sparse: 4 GB that take no disk
        rows.append(_measure("read_file: 4 GB file", box, "read_file", args(path="huge.log")))
        rows.append(_measure("search: next to 4 GB files", box, "search", args(pattern="a")))
        rows.append(_measure("run_tests: a 4 GB .py file", box, "run_tests", "{}"))
        big = '{"path": "big.txt", "content": "' + "x" * 100_000_000 + '"}'
        rows.append(_measure("write_file: 100 MB", box, "write_file", big))
        del big
    with Sandbox({}) as box:
        chunk = args(path="c.txt", content="y" * (1 << 20))
        started = time.monotonic()
        refused = 0
        for n in range(20):
            result = execute(box, "write_file", chunk.replace('"c.txt"', f'"c{n}.txt"'))
            refused += result.is_error
        label = f"write_file: 20 x 1 MB ({refused} refused by the growth cap)"
        rows.append((label, time.monotonic() - started, 0))
    return rows


def _rss() -> float:
    """Resident memory now, in MB (Linux; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * resource.getpagesize() / 2**20


def _mb(kilobytes: int) -> str:
    return f"{kilobytes / 1024:,.0f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=float, default=CALL_SECONDS, help="hang threshold (s)")
    limit = parser.parse_args().limit
    shm = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(prefix="hostile-model-", dir=shm if shm.is_dir() else None))
    tempfile.tempdir = str(scratch)  # sandboxes are made here, next to the canary
    try:
        return report(scratch, limit)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def report(scratch: Path, limit: float) -> int:
    canary = make_canary(scratch)
    played = scenario(scratch)
    outside_before = tree_state(scratch, set())

    started = time.monotonic()
    f = play_all(scratch, canary, played, limit)
    part1 = time.monotonic() - started
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    left_behind = tree_state(scratch, set()) != outside_before
    print("part 1: hostile calls through the real loop (openai SDK, FakeLLMServer on 127.0.0.1)")
    for label, value in [
        ("calls", f"{f['calls']} (and {f['prep']} preparatory writes)"),
        ("tool errors", f"{f['errors']} (expected {f['expected_errors']})"),
        ("unexpected answers", len(f["unexpected"])),
        ("escapes", len(f["escapes"]) + left_behind),
        (f"hangs (> {limit:g} s)", len(f["hangs"])),
        ("slowest call", f"{f['slowest'][0]:.2f} s ({f['slowest'][1]})"),
        ("runs ended in error", len(f["failed_runs"])),
        ("commit records", f"{f['commits']}, {len(f['bad_commits'])} not the real commit"),
        ("peak memory", f"{_mb(self_kb)} (ru_maxrss: SDK, server, loop and tools)"),
        ("wall time", f"{part1:.1f} s"),
    ]:
        print(f"  {label:<20} {value}")
    for name in ("unexpected", "escapes", "hangs", "failed_runs", "bad_commits"):
        for line in f[name]:
            print(f"    {name}: {line}")

    started = time.monotonic()
    rows = worst_cases()
    print("part 2: worst cases straight into the tools")
    print(f"  {'case':<52} {'time':>7} {'traced peak':>12}")
    for label, seconds, peak in rows:
        traced = f"{peak / 2**20:,.1f} MB" if peak else "-"
        print(f"  {label:<52} {seconds:6.2f}s {traced:>12}")
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"  {'peak memory':<20} {_mb(self_kb)} (the 100 MB argument itself included)")
    print(f"  {'wall time':<20} {time.monotonic() - started:.1f} s")
    # The rows of 100 searches or 20 writes are many calls; every other row is one.
    worst = max(seconds for label, seconds, peak in rows if peak)
    failed = f["unexpected"] or f["escapes"] or left_behind or f["hangs"] or f["failed_runs"]
    return 1 if failed or f["bad_commits"] or worst > limit else 0


if __name__ == "__main__":
    sys.exit(main())
