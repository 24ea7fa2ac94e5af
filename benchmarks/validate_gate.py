"""Does the gate decide right, without crying wolf? Seeded trials on simulated agents.

  python benchmarks/validate_gate.py [--trials 40] [--repeats 6] [--seq-trials 20]

Fixed design, each trial with fresh seeds: sim:steady against sim:steady (regression in
at most 5% of trials), a sticky candidate (persist 0.5) against steady (regression in at
least 95%), sim:forgetful against steady (caught by the forget-rate check). Sequential
mode (batches of one repeat, looked at after every batch): the same error rates, and
the repeats used against the fixed design's. Runs the library's scenarios of the chosen
families (default: commit).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from agents.models import ModelSpec
from agents.runner import plan_runs, run_all
from analysis.gate import REGRESSION, gate, sequential_gate
from analysis.observe import observe
from scenarios import builtin_scenario_dir, load_scenarios

IDS = ("commit-never-then-edits", "commit-once-then-edits", "commit-then-revoke", "commit-standing")
CANDIDATES = {
    "steady (null)": "sim:steady",
    "sticky persist 0.5": "sim:sticky?persist=0.5",
    "forgetful": "sim:forgetful",
}


def events(scenarios, spec: str, repeats: int, seed: int, folder: Path):
    path = folder / f"{abs(hash((spec, seed)))}.jsonl"
    runs = run_all(
        plan_runs(scenarios, [ModelSpec.parse(spec)], repeats, seed), path, concurrency=4
    )
    return observe(runs)


def fixed(scenarios, trials: int, repeats: int, folder: Path) -> None:
    print(f"Fixed design: {trials} trials, {repeats} repeats per scenario")
    outcomes = {name: [] for name in CANDIDATES}
    forget_caught = []
    for trial in range(trials):
        base = events(scenarios, "sim:steady", repeats, 10_000 + trial, folder)
        for name, spec in CANDIDATES.items():
            result = gate(
                base,
                events(scenarios, spec, repeats, 20_000 + trial, folder),
                seed=trial,
                draws=1000,
            )
            outcomes[name].append(result.verdict == REGRESSION)
            if name == "forgetful":
                forget_caught.append(
                    any(c.measure == "forget" and c.verdict == REGRESSION for c in result.checks)
                )
    for name, hits in outcomes.items():
        print(f"  {name:<20} regression in {np.mean(hits):.0%} of trials")
    print(f"  forgetful caught by the forget check in {np.mean(forget_caught):.0%}")


def sequential(scenarios, trials: int, max_batches: int, folder: Path) -> None:
    print(f"Sequential: {trials} trials, batches of 1 repeat, at most {max_batches}")
    for name in ("steady (null)", "sticky persist 0.5"):
        spec, verdicts, used = CANDIDATES[name], [], []
        for trial in range(trials):
            base_ev, cand_ev, result = None, None, None
            for b in range(max_batches):
                new_b = events(scenarios, "sim:steady", 1, 30_000 + trial * 100 + b, folder)
                new_c = events(scenarios, spec, 1, 40_000 + trial * 100 + b, folder)
                new_b["repeat"], new_c["repeat"] = b, b
                base_ev = pd.concat([base_ev, new_b], ignore_index=True)
                cand_ev = pd.concat([cand_ev, new_c], ignore_index=True)
                result = sequential_gate(base_ev, cand_ev, batch=1, max_batches=max_batches)
                if result.verdict != "inconclusive":
                    break
            verdicts.append(result.verdict)
            used.append(b + 1)
        print(
            f"  {name:<20} regression {np.mean([v == REGRESSION for v in verdicts]):.0%}, "
            f"pass {np.mean([v == 'pass' for v in verdicts]):.0%}, "
            f"mean repeats used {np.mean(used):.1f} of {max_batches}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--seq-trials", type=int, default=20)
    parser.add_argument("--max-batches", type=int, default=20)
    parser.add_argument(
        "--families",
        nargs="+",
        default=["commit"],
        help="scenario families of the library to run (default commit)",
    )
    args = parser.parse_args()
    scenarios = [s for s in load_scenarios([builtin_scenario_dir()]) if s.family in args.families]
    print(f"{len(scenarios)} scenarios: {', '.join(args.families)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        fixed(scenarios, args.trials, args.repeats, Path(tmp))
        if args.seq_trials > 0:
            sequential(scenarios, args.seq_trials, args.max_batches, Path(tmp))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
