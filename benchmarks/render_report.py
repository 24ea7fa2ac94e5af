"""Report rendering at scale: 1,000 runs of the scenario library into one HTML file.

  python benchmarks/render_report.py [--runs 1000] [--from RUN_DIR]

Plays the runs with the simulated agents (a couple of minutes; or reuses a run folder
with --from), then times `stickiness report`'s work: analysis, figures, template.
Targets: under 20 s and under 10 MB.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from stickiness.agents.models import ModelSpec
from stickiness.agents.runner import plan_runs
from stickiness.agents.scheduler import run_all
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.reports.html import write_report
from stickiness.scenarios import builtin_scenario_dir, load_scenarios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--from", dest="source", metavar="RUN_DIR")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.source:
            trajectories, _ = read_trajectories(Path(args.source) / "trajectories.jsonl")
        else:
            scenarios = load_scenarios([builtin_scenario_dir()])
            models = [ModelSpec.parse(m) for m in ("sim:steady", "sim:sticky")]
            repeats = -(-args.runs // (len(scenarios) * len(models)))
            specs = plan_runs(scenarios, models, repeats)[: args.runs]
            started = time.perf_counter()
            trajectories = run_all(specs, Path(tmp) / "t.jsonl", concurrency=4)
            print(f"played {len(trajectories)} runs in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        out = write_report(trajectories, Path(tmp) / "report.html")
        elapsed = time.perf_counter() - started
        size = out.stat().st_size / 2**20
    print(
        f"rendered {len(trajectories)} runs in {elapsed:.1f} s (target < 20 s), "
        f"{size:.1f} MiB (target < 10 MB)"
    )


if __name__ == "__main__":
    main()
