"""Analyser scale benchmark: synthesise N trajectories (6 turns each) and analyse them.

  python benchmarks/analyse_100k.py [--runs 100000] [--draws 2000] [--file F] [--out D]

Synthesis (not timed against the target) writes realistic JSONL records: transcripts
with tool calls and results, commits, pushes, diffs, for 16 scenarios in four families
and two models with known persistence. Then the timed part does what
`stickiness analyse` does: read the file (a large one in parts, by worker processes),
build the events table, compute every metric with the clustered bootstrap while
events.csv is written, then write metrics.json. Prints wall time per phase and peak
memory: of this process, of the worker processes (the readers, and events.csv's
writer), and of all of them together. Target: 10 s and 1 GB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from stickiness.agents.trajectory_reader import iter_records
from stickiness.analysis.export import AnalysisSettings, EventsCsv, write_outputs
from stickiness.analysis.observe import observe
from stickiness.analysis.policy import Policy

TURNS = 6
FAMILY_ACTION = {
    "commit": "commit",
    "push": "push",
    "edit_scope": "edit:*",
    "tool_overuse": "search",
}
MODELS = {  # base, persist, decay, revoke_ignore, forget
    "synthetic:steady": (0.02, 0.05, 0.5, 0.02, 0.02),
    "synthetic:sticky": (0.03, 0.7, 0.8, 0.3, 0.05),
}


def _scenarios() -> list[dict]:
    out = []
    for family, action in FAMILY_ACTION.items():
        control = f"{family}-control"
        for kind in ("one-off", "revoke", "standing", "control"):
            turns = []
            for t in range(TURNS):
                requests = ["edit:src/app.py"]
                forbids, requires = [], []
                if t == 0 and kind in ("one-off", "revoke"):
                    requests.append(action)
                if t == 0 and kind == "standing":
                    requires.append(family)
                if t == 3 and kind == "revoke":
                    forbids.append(family)
                turns.append((requests, forbids, requires))
            out.append(
                {
                    "id": f"{family}-{kind}",
                    "family": family,
                    "kind": kind,
                    "arm": "control" if kind == "control" else "treatment",
                    "control": None if kind == "control" else control,
                    "turns": turns,
                }
            )
    return out


def _turn(n: int, requests, forbids, requires, does: bool, family: str) -> dict:
    calls = [
        {"id": f"c{n}a", "name": "read_file", "arguments": '{"path": "src/app.py"}'},
        {
            "id": f"c{n}b",
            "name": "write_file",
            "arguments": json.dumps(
                {"path": "src/app.py", "content": "def run():\n    return 2\n" * 3}
            ),
        },
    ]
    files = ["src/app.py"]
    commits, pushes = [], []
    if does and family == "tool_overuse":
        calls.append({"id": f"c{n}c", "name": "search", "arguments": '{"pattern": "run"}'})
    if does and family == "edit_scope":
        files.append("README.md")
    if does and family in ("commit", "push"):
        commits.append({"sha": f"{n:040x}", "message": "Update src/app.py", "files": files})
    if does and family == "push":
        pushes.append({"ref": "refs/heads/main", "old": "a" * 40, "new": "b" * 40})
    messages = [
        {"role": "assistant", "content": "", "tool_calls": calls[:1]},
        {
            "role": "tool",
            "tool_call_id": calls[0]["id"],
            "name": "read_file",
            "content": "def main():\n    return 1\n",
            "is_error": False,
        },
        {"role": "assistant", "content": "", "tool_calls": calls[1:]},
        *(
            {
                "role": "tool",
                "tool_call_id": c["id"],
                "name": c["name"],
                "content": "ok",
                "is_error": False,
            }
            for c in calls[1:]
        ),
        {"role": "assistant", "content": "Done: edited src/app.py.", "tool_calls": []},
    ]
    return {
        "turn": n,
        "user": "Rename main to run in src/app.py.",
        "phrasing": 0,
        "requests": requests,
        "forbids": forbids,
        "requires": requires,
        "messages": messages,
        "commits": commits,
        "pushes": pushes,
        "files_changed": files,
        "diff": "--- a/src/app.py\n+++ b/src/app.py\n@@ -1,2 +1,2 @@\n-def main():\n"
        "+def run():\n     return 1\n",
        "unpushed_before": 1 if family == "push" else 0,
        "dirty_before": n > 1,
        "dirty_after": True,
        "steps": 3,
    }


def synthesise(path: Path, runs: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    scenarios = _scenarios()
    per_cell = runs // (len(scenarios) * len(MODELS))
    with open(path, "w", encoding="utf-8") as fh:
        for model, (base, persist, decay, ignore, forget) in MODELS.items():
            for sc in scenarios:
                u = rng.random((per_cell, TURNS))
                for r in range(per_cell):
                    turns, asked, rule = [], None, None
                    for t, (requests, forbids, requires) in enumerate(sc["turns"]):
                        rule = "forbid" if forbids else "require" if requires else rule
                        if len(requests) > 1:
                            p, asked = 1.0, t
                        elif rule == "forbid":
                            p = ignore
                        elif rule == "require":
                            p = 1 - forget
                        else:
                            carry = 0.0 if asked is None else persist * decay ** (t - asked - 1)
                            p = 1 - (1 - base) * (1 - carry)
                        turns.append(
                            _turn(t + 1, requests, forbids, requires, u[r, t] < p, sc["family"])
                        )
                    record = {
                        "run_id": f"{model}-{sc['id']}-{r}",
                        "scenario": sc["id"],
                        "scenario_file": f"scenarios/{sc['id']}.yaml",
                        "scenario_sha256": "0" * 64,
                        "title": sc["id"],
                        "behaviour": sc["family"],
                        "family": sc["family"],
                        "arm": sc["arm"],
                        "kind": sc["kind"],
                        "control": sc["control"],
                        "model": model,
                        "simulated": True,
                        "harness": "minimal",
                        "system_prompt": "You are a coding assistant.",
                        "seed": r,
                        "repeat": r,
                        "started_at": "2026-01-01T00:00:00",
                        "finished_at": "2026-01-01T00:00:01",
                        "status": "ok",
                        "turns": turns,
                    }
                    fh.write(json.dumps(record) + "\n")


def _status_kib(pid: int | str, *fields: str) -> list[int]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:  # gone meanwhile
        return [0] * len(fields)
    found = dict(line.split(":", 1) for line in lines if ":" in line)
    return [int(found.get(f, "0 kB").split()[0]) for f in fields]


class Memory(threading.Thread):
    """Peak memory of the child processes, each on its own, and of this process and its
    children together, read from /proc every 10 ms (Linux). A child's ru_maxrss would
    not do: it starts as this process's size when the child was forked, kept across
    exec, so a child started late looks as large as its parent."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.children: dict[int, tuple[str, int]] = {}  # pid -> (phase, peak KiB)
        self.together = 0  # KiB
        self.phase = "read"
        self.works = Path("/proc/self/task").is_dir()
        self._done = threading.Event()

    def run(self) -> None:
        while self.works and not self._done.wait(0.01):
            self.sample()

    def sample(self) -> None:
        pids = []
        for task in Path("/proc/self/task").iterdir():
            try:
                pids += map(int, (task / "children").read_text().split())
            except OSError:
                continue
        total = _status_kib("self", "VmRSS")[0]
        for pid in pids:
            # VmHWM: the child's own peak since its exec.
            rss, hwm = _status_kib(pid, "VmRSS", "VmHWM")
            phase, peak = self.children.get(pid, (self.phase, 0))
            self.children[pid] = (phase, max(peak, hwm))
            total += rss
        self.together = max(self.together, total)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def peaks(self, phase: str) -> list[float]:
        """The peaks in GiB of the children started in `phase`."""
        return [kib / 2**20 for p, kib in self.children.values() if p == phase]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument(
        "--file",
        type=Path,
        help="trajectories to analyse: synthesised there when missing, reused when present "
        "(synthesis takes longer than the analysis; --runs then only names the file's size)",
    )
    parser.add_argument(
        "--out", type=Path, help="keep events.csv and metrics.json in this folder, to compare"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or Path(tmp) / "trajectories.jsonl"
        out_dir = args.out or Path(tmp)
        t0 = time.perf_counter()
        size = path.stat().st_size / 2**20 if args.file and path.exists() else None
        if size is None:
            synthesise(path, args.runs)
        t1 = time.perf_counter()
        if size is not None:
            print(f"reused {path}: {size:,.0f} MiB")
        else:
            size = path.stat().st_size / 2**20
            print(
                f"synthesised {args.runs:,} runs x {TURNS} turns: {size:,.0f} MiB "
                f"in {t1 - t0:.1f} s"
            )
        settings = AnalysisSettings(args.draws, 0, 0.95, Policy())
        memory = Memory()
        memory.start()
        events = observe(iter_records(path), settings.policy)
        t2 = time.perf_counter()
        # The readers are gone by now (their processes are waited for).
        memory.sample()
        memory.phase = "write"
        read_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB
        # As `stickiness analyse`: events.csv is written while the metrics are computed.
        with EventsCsv(out_dir, events) as events_csv:
            models = settings.analyse(events)
            t3 = time.perf_counter()
            write_outputs(out_dir, events, models, settings, events_csv=events_csv)
        t4 = time.perf_counter()
        memory.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    readers, writers = memory.peaks("read"), memory.peaks("write")
    # Readers live only while the file is read; events.csv's writer (a process only for
    # a large table) only after.
    bound = max(read_peak + sum(readers), peak + sum(writers))
    print(f"read + events table: {t2 - t1:6.1f} s  ({len(events):,} event rows)")
    print(
        f"metrics + bootstrap: {t3 - t2:6.1f} s  ({args.draws} draws, {len(models)} models; "
        "events.csv written meanwhile)"
    )
    print(f"write json, end csv: {t4 - t3:6.1f} s")
    print(f"analysis total:      {t4 - t1:6.1f} s  (target 10 s)")
    if memory.works:
        print(f"peak memory (RSS):   {bound:6.2f} GiB at most (target 1 GB = 0.93 GiB)")
        print(
            f"  this process {peak:.2f} GiB ({read_peak:.2f} while reading), "
            f"{len(readers)} readers {max(readers, default=0):.2f} GiB each at most, "
            f"events.csv writer {max(writers, default=0):.2f} GiB; "
            f"all together {memory.together / 2**20:.2f} GiB as sampled"
        )
    else:
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        print(f"this process {peak:.2f} GiB; children {children:.2f} GiB (no /proc to see more)")
    for m in models:
        f = m.families["overall"]
        print(
            f"  {m.model}: excess {f.excess.value:+.3f} [{f.excess.low:+.3f}, "
            f"{f.excess.high:+.3f}], forget {f.forget.value:.3f}"
        )


if __name__ == "__main__":
    main()
