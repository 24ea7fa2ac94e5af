"""How long a turn takes, how much CPU it costs and how much memory an agent CLI
process holds, at several concurrencies, so a user can size a run.

Each pinned CLI plays the commit-then-revoke scenario (5 user turns) against the local
scripted server (no model latency: what is measured is the CLI and the harness), with
`--concurrency` 1, 4 and 8; Claude Code both ways it can run, one process for the whole
run (`process=run`, the default) and one per turn (`process=turn`). CPU is this
process's and its reaped children's (the agents and everything they started, git
included). A sampler reads /proc every 50 ms and sums the resident memory of each agent
process group (the CLI and everything it started).

    python benchmarks/agent_clis.py [--runs-per-slot 2] [--concurrency 1 4 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from llm_server import FakeLLMServer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from scripted_agents import claude_code_agent, codex_agent  # noqa: E402

from stickiness.agents.external import CLIS  # noqa: E402
from stickiness.agents.external.base import CLI_FOLDER_VAR, cli_folder  # noqa: E402
from stickiness.agents.models import ModelSpec  # noqa: E402
from stickiness.agents.runner import RunOptions, plan_runs  # noqa: E402
from stickiness.agents.scheduler import run_all  # noqa: E402
from stickiness.scenarios import builtin_scenario_dir, load_scenarios  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
# label -> (CLI, scripted behaviour, spec for the server)
AGENTS = {
    "claude-code process=run": (
        "claude-code",
        claude_code_agent,
        lambda s: (
            f"claude-code:claude-sonnet-4-5?key_env=none&base_url={s.anthropic_url}&process=run"
        ),
    ),
    "claude-code process=turn": (
        "claude-code",
        claude_code_agent,
        lambda s: (
            f"claude-code:claude-sonnet-4-5?key_env=none&base_url={s.anthropic_url}&process=turn"
        ),
    ),
    "codex": (
        "codex",
        codex_agent,
        lambda s: f"codex:gpt-5.5?key_env=none&base_url={s.openai_url}&sandbox=danger-full-access",
    ),
}


class GroupMemory:
    """Peak resident memory per agent process group (a session led by the CLI)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker  # a piece of the CLI's command line
        self.peaks: dict[int, int] = {}
        self.total_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> GroupMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            groups: dict[int, int] = {}
            leaders: set[int] = set()
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    stat = Path(entry.path, "stat").read_text()
                    fields = stat.rsplit(")", 1)[1].split()
                    session, rss = int(fields[3]), int(fields[21]) * PAGE
                    if int(entry.name) == session:
                        cmdline = Path(entry.path, "cmdline").read_bytes()
                        if self.marker.encode() in cmdline:
                            leaders.add(session)
                except (OSError, IndexError, ValueError):
                    continue
                groups[session] = groups.get(session, 0) + rss
            total = 0
            for session in leaders:
                self.peaks[session] = max(self.peaks.get(session, 0), groups[session])
                total += groups[session]
            self.total_peak = max(self.total_peak, total)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(label: str, concurrency: int, runs: int, scenario) -> dict:
    cli, behaviour, spec_of = AGENTS[label]
    with FakeLLMServer(default=behaviour("sticky")) as server, tempfile.TemporaryDirectory() as tmp:
        spec = ModelSpec.parse(spec_of(server))
        plan = plan_runs([scenario], [spec], runs)
        # The leader of each group is the process the runner started: .bin/<command>.
        with GroupMemory(f"node_modules/.bin/{CLIS[cli].command}") as memory:
            started, cpu = time.perf_counter(), _cpu()
            done = run_all(
                plan, Path(tmp) / "t.jsonl", RunOptions(turn_timeout=300), concurrency=concurrency
            )
            wall, cpu = time.perf_counter() - started, _cpu() - cpu
    per_turn = []
    for t in done:
        seconds = (
            datetime.fromisoformat(t.finished_at) - datetime.fromisoformat(t.started_at)
        ).total_seconds()
        per_turn.append(seconds / max(1, len(t.turns)))
    peaks = sorted(memory.peaks.values())
    return {
        "runs": len(done),
        "failed": sum(t.status != "ok" for t in done),
        "turns": sum(len(t.turns) for t in done),
        "wall": wall,
        "cpu": cpu,
        "per_turn": statistics.median(per_turn) if per_turn else float("nan"),
        "agent_peak": peaks[-1] if peaks else 0,
        "agent_median": statistics.median(peaks) if peaks else 0,
        "total_peak": memory.total_peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--runs-per-slot", type=int, default=2, help="runs = this x concurrency")
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(AGENTS))
    args = parser.parse_args()
    os.environ.setdefault(CLI_FOLDER_VAR, str(Path(__file__).resolve().parents[1] / ".agent-clis"))
    scenario = {s.id: s for s in load_scenarios([builtin_scenario_dir()])}["commit-then-revoke"]
    console = Console(width=140)
    table = Table(title=f"Agent CLIs against the local server ({os.cpu_count()} cores)")
    for name in (
        "agent",
        "concurrency",
        "runs (failed)",
        "turns",
        "wall",
        "s per turn (median)",
        "turns per s",
        "CPU s per turn",
        "peak MB per agent (max / median)",
        "peak MB, all agents",
    ):
        table.add_column(name, justify="right")
    for label in args.agents:
        cli = AGENTS[label][0]
        binary = cli_folder() / "node_modules" / ".bin" / CLIS[cli].command
        if not binary.is_file():
            console.print(f"{label}: not installed (stickiness agents install {cli})")
            continue
        for c in args.concurrency:
            r = measure(label, c, c * args.runs_per_slot, scenario)
            table.add_row(
                label,
                str(c),
                f"{r['runs']} ({r['failed']})",
                str(r["turns"]),
                f"{r['wall']:.1f} s",
                f"{r['per_turn']:.2f}",
                f"{r['turns'] / r['wall']:.2f}",
                f"{r['cpu'] / max(1, r['turns']):.2f}",
                f"{r['agent_peak'] / 2**20:.0f} / {r['agent_median'] / 2**20:.0f}",
                f"{r['total_peak'] / 2**20:.0f}",
            )
    console.print(table)


if __name__ == "__main__":
    main()
