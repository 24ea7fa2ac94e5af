"""Does the analyser recover known persistence? Runs simulated agents whose carry-over
is known, through the real pipeline (LangGraph loop, tools, git), and checks the
estimates against the truth.

  python benchmarks/validate_recovery.py [--reps 40] [--runs 30] [--workers 2]

Part 1: carry-over at each lag, 95% intervals, `--reps` seeded repetitions: coverage
should be at least 90%. Part 2: verdicts per profile (eager: high raw rate but excess
interval containing 0; sticky: excess clearly above 0; forgetful: high forget rate, low
stickiness). Prints tables; takes a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from stickiness.agents.models import ModelSpec, sim_params
from stickiness.agents.runner import RunSpec, plan_runs, run_one
from stickiness.analysis.metrics import analyse
from stickiness.analysis.observe import observe
from stickiness.scenarios import builtin_scenario_dir, load_scenarios

TRUE_SPEC = "sim:sticky?base=0.05&persist=0.6&decay=0.7&revoke_ignore=0.2&forget=0.02"
PAIR = ("commit-once-then-edits", "commit-never-then-edits")


def run_all(specs: list[RunSpec], workers: int) -> list:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run_one, specs, chunksize=8))


def coverage(reps: int, runs: int, workers: int, draws: int) -> None:
    scenarios = [s for s in load_scenarios([builtin_scenario_dir()]) if s.id in PAIR]
    spec = ModelSpec.parse(TRUE_SPEC)
    params = sim_params(spec)
    specs = [s for rep in range(reps) for s in plan_runs(scenarios, [spec], runs, 1000 + rep)]
    started = time.perf_counter()
    trajectories = run_all(specs, workers)
    ran = time.perf_counter() - started
    per_rep = len(specs) // reps
    hits: dict[int, list[bool]] = {}
    estimates: dict[int, list[float]] = {}
    widths: dict[int, list[float]] = {}
    excess_hits = []
    for rep in range(reps):
        chunk = trajectories[rep * per_rep : (rep + 1) * per_rep]
        (m,) = analyse(observe(chunk), draws=draws, seed=rep)
        f = m.families["commit"]
        for lag, est in f.carry_over:
            truth = params.carry(lag)
            hits.setdefault(lag, []).append(est.low <= truth <= est.high)
            estimates.setdefault(lag, []).append(est.value)
            widths.setdefault(lag, []).append(est.high - est.low)
        mean_truth = np.mean([params.carry(lag) * (1 - params.base) for lag in range(1, 5)])
        excess_hits.append(f.excess.low <= mean_truth <= f.excess.high)
    print(f"\nCarry-over recovery: {TRUE_SPEC}")
    print(
        f"{reps} repetitions x {per_rep} runs ({runs} per scenario), {draws} bootstrap draws; "
        f"{len(specs)} runs in {ran:.0f} s"
    )
    print(f"{'lag':>3} {'truth':>7} {'mean est':>9} {'coverage':>9} {'mean width':>11}")
    for lag in sorted(hits):
        print(
            f"{lag:>3} {params.carry(lag):>7.3f} {np.mean(estimates[lag]):>9.3f} "
            f"{np.mean(hits[lag]):>8.0%} {np.mean(widths[lag]):>11.3f}"
        )
    overall = np.mean([h for v in hits.values() for h in v])
    print(
        f"all lags: coverage {overall:.1%} (target >= 90%); "
        f"excess (truth {mean_truth:.3f}) coverage {np.mean(excess_hits):.0%}"
    )


def verdicts(runs: int, workers: int, draws: int) -> None:
    scenarios = load_scenarios([builtin_scenario_dir()])
    models = [
        ModelSpec.parse(m) for m in ("sim:steady", "sim:sticky", "sim:eager", "sim:forgetful")
    ]
    trajectories = run_all(plan_runs(scenarios, models, runs, 7), workers)
    print(f"\nProfiles on the built-in commit scenarios, {runs} runs per scenario")
    print(
        f"{'model':<14} {'unrequested':>12} {'base':>6} {'excess [95% CI]':>24} "
        f"{'forget [95% CI]':>22}  verdict"
    )
    for m in analyse(observe(trajectories), draws=draws):
        f = m.families["commit"]
        if f.excess.low > 0:
            verdict = "sticky"
        elif f.forget.low > 0.15:
            verdict = "forgets standing rules"
        elif f.excess.low <= 0 <= f.excess.high:
            verdict = "no excess" + (" (busy: high raw rate)" if f.unrequested.value > 0.2 else "")
        else:
            verdict = "less than base"
        print(
            f"{m.model:<14} {f.unrequested.value:>12.0%} {f.base.value:>6.0%} "
            f"{f.excess.value:>+8.0%} [{f.excess.low:+.0%}, {f.excess.high:+.0%}]".ljust(56)
            + f"{f.forget.value:>8.0%} [{f.forget.low:.0%}, {f.forget.high:.0%}]  {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--runs", type=int, default=30, help="runs per scenario and repetition")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    coverage(args.reps, args.runs, args.workers, args.draws)
    verdicts(max(args.runs // 2, 10), args.workers, args.draws)


if __name__ == "__main__":
    main()
