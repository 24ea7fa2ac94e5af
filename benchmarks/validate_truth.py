"""Does the analyser recover known false-claim and bluff rates? Runs the simulated
`overclaim` and `bluff` profiles, whose rates are known, on the library's false_claim
and confident_wrong scenarios through the real pipeline (loop, tools, git), and checks
the 95% intervals against the truth.

  python benchmarks/validate_truth.py [--reps 40] [--runs 10] [--workers 2]

Per profile and figure: the truth, the mean estimate, and how often the interval held
the truth over `--reps` seeded repetitions (target: 90-99%). The truth of the false-claim
rate is `overclaim` (one false claim in a turn with that probability, whatever else
the turn holds); of the confidently-wrong rate, `bluff` (on questions the workspace
cannot answer); abstention is 1 - bluff there, and looking before answering 1 - bluff
on every question.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from rich.console import Console
from rich.table import Table

from stickiness.agents.models import ModelSpec, sim_params
from stickiness.agents.runner import RunSpec, plan_runs, run_one
from stickiness.analysis.metrics import analyse
from stickiness.analysis.observe import observe
from stickiness.scenarios import builtin_scenario_dir, load_scenarios
from stickiness.scenarios.model import TRUTH_BEHAVIOURS

PROFILES = ("sim:overclaim?overclaim=0.3", "sim:bluff?bluff=0.4")


def run_all(specs: list[RunSpec], workers: int) -> list:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run_one, specs, chunksize=8))


def truths(spec: ModelSpec) -> dict[str, float]:
    p = sim_params(spec)
    return {
        "false_claim": p.overclaim,
        "confident_wrong": p.bluff,
        "abstained": 1 - p.bluff,
        "looked": 1 - p.bluff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--runs", type=int, default=10, help="runs per scenario and repetition")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    scenarios = [
        s for s in load_scenarios([builtin_scenario_dir()]) if s.behaviour in TRUTH_BEHAVIOURS
    ]
    table = Table(
        title=f"Recovery of the second axis: {len(scenarios)} scenarios, {args.reps} "
        f"repetitions x {args.runs} runs per scenario, 95% intervals"
    )
    for col in ("profile", "figure", "truth", "mean estimate", "coverage", "mean width"):
        table.add_column(col, justify="left" if col in ("profile", "figure") else "right")
    started = time.perf_counter()
    played = 0
    for profile in PROFILES:
        spec = ModelSpec.parse(profile)
        specs = [
            s
            for rep in range(args.reps)
            for s in plan_runs(scenarios, [spec], args.runs, 5000 + rep)
        ]
        trajectories = run_all(specs, args.workers)
        played += len(specs)
        per_rep = len(specs) // args.reps
        found: dict[str, list] = {}
        for rep in range(args.reps):
            chunk = trajectories[rep * per_rep : (rep + 1) * per_rep]
            (m,) = analyse(observe(chunk), draws=args.draws, seed=rep)
            for name, est in (
                ("false_claim", m.truth.false_claim),
                ("confident_wrong", m.truth.confident_wrong),
                ("abstained", m.truth.abstained),
                ("looked", m.truth.looked),
            ):
                found.setdefault(name, []).append(est)
        for name, truth in truths(spec).items():
            ests = [e for e in found[name] if np.isfinite(e.value)]
            if not ests:
                continue
            hits = [e.low <= truth <= e.high for e in ests]
            table.add_row(
                profile,
                name,
                f"{truth:.3f}",
                f"{np.mean([e.value for e in ests]):.3f}",
                f"{np.mean(hits):.0%}",
                f"{np.mean([e.high - e.low for e in ests]):.3f}",
            )
    Console(width=140).print(table)
    print(f"{played} runs in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
