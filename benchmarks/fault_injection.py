"""Runs against a flaky server: every run completes, none twice, none lost.

The scripted OpenAI-compatible server on 127.0.0.1 fails a share of requests (rate
limits with retry-after, 500s, 503 overloads, and replies slower than the client's
timeout). `stickiness run` plays the plan through the official SDK (which retries a
call `--max-retries` times) and plays a run that still failed again (`--run-retries`);
what is left is played by one `--resume`. Prints, per fault rate: runs complete after
the first pass and after the resume, duplicated and lost runs, faults injected.

    python benchmarks/fault_injection.py [--runs 300] [--rates 0.3 0.6] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from llm_server import FakeLLMServer, Faults  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from stickiness.agents.trajectory_reader import iter_records  # noqa: E402
from stickiness.scenarios import builtin_scenario_dir  # noqa: E402

SCENARIOS = (
    "commit-never-then-edits",
    "commit-once-then-edits",
    "commit-then-revoke",
    "commit-standing",
)


def _stickiness(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "stickiness.reports.cli", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)


def _count(path: Path, planned: int) -> dict:
    records = list(iter_records(path)) if path.exists() else []
    ids = [r["run_id"] for r in records]
    ok = sum(r["status"] == "ok" for r in records)
    return {
        "recorded": len(records),
        "ok": ok,
        "errors": len(records) - ok,
        "duplicated": len(ids) - len(set(ids)),
        "missing": planned - len(set(ids)),
        "replayed": sum(r.get("attempts", 1) > 1 for r in records),
        "calls retried": sum(r["usage"].get("retried_calls", 0) for r in records),
    }


def trial(rate: float, runs: int, concurrency: int, seed: int, work: Path) -> dict:
    folder = work / "scenarios"
    folder.mkdir(exist_ok=True)
    for sid in SCENARIOS:
        shutil.copy(builtin_scenario_dir() / f"{sid}.yaml", folder)
    repeats = max(1, runs // len(SCENARIOS))
    planned = repeats * len(SCENARIOS)
    out = work / f"rate-{rate}"
    faults = Faults(rate=rate, seed=seed, timeout_delay=1.5)
    with FakeLLMServer(faults=faults) as server:
        env = os.environ | {
            "OPENAI_API_KEY": "sk-benchmark-local-0000",
            "OPENAI_BASE_URL": server.openai_url,
        }
        plan = ["--model", "openai:gpt-4o", "--scenarios", str(folder), "--repeats", str(repeats)]
        options = ["--concurrency", str(concurrency), "--timeout", "1", "--draws", "200"]
        started = time.perf_counter()
        first = _stickiness(["run", *plan, *options, "--out", str(out)], env, work)
        first_wall = time.perf_counter() - started
        after_first = _count(out / "trajectories.jsonl", planned)
        resumed = None
        if after_first["ok"] < planned:
            resumed = _stickiness(["run", "--resume", str(out), *options], env, work)
        after_resume = _count(out / "trajectories.jsonl", planned)
        requests = len(server.requests)
    return {
        "rate": rate,
        "planned": planned,
        "first": after_first,
        "resumed": resumed is not None,
        "final": after_resume,
        "exit": (first.returncode, resumed.returncode if resumed else None),
        "faults": dict(faults.counts),
        "requests": requests,
        "wall": time.perf_counter() - started,
        "first_wall": first_wall,
        "stderr": (first.stderr + (resumed.stderr if resumed else ""))[-500:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.3, 0.6])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    console = Console(width=160)
    table = Table(title=f"Fault injection: {args.runs} runs, concurrency {args.concurrency}")
    for name in (
        "fault rate",
        "requests",
        "faults (429/500/529/timeout)",
        "ok after first pass",
        "calls tried again",
        "runs played again",
        "resume",
        "ok after resume",
        "duplicated",
        "lost",
        "wall",
    ):
        table.add_column(name, justify="right")
    for rate in args.rates:
        with tempfile.TemporaryDirectory(prefix="fault-bench-") as tmp:
            r = trial(rate, args.runs, args.concurrency, args.seed, Path(tmp))
        f, final = r["first"], r["final"]
        faults = "/".join(str(r["faults"].get(k, 0)) for k in ("429", "500", "529", "timeout"))
        table.add_row(
            f"{rate:.0%}",
            f"{r['requests']:,}",
            faults,
            f"{f['ok']}/{r['planned']} ({f['ok'] / r['planned']:.1%})",
            str(f["calls retried"]),
            str(f["replayed"]),
            "yes" if r["resumed"] else "not needed",
            f"{final['ok']}/{r['planned']} ({final['ok'] / r['planned']:.1%})",
            str(final["duplicated"]),
            str(final["missing"]),
            f"{r['wall']:.0f} s",
        )
        if final["ok"] < r["planned"]:
            console.print(f"[yellow]rate {rate}: exit codes {r['exit']}[/]: {r['stderr']}")
    console.print(table)


if __name__ == "__main__":
    main()
