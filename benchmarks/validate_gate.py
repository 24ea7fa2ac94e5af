"""Does the gate decide right, without crying wolf? Seeded trials on simulated agents.

  python benchmarks/validate_gate.py [--trials 40] [--repeats 10] [--regression-trials 10]
                                     [--seq-trials 20] [--max-batches 15]
                                     [--families commit push ...] [--keep DIR]

Every trial runs a sim:steady baseline with fresh seeds and gates four candidates
against it: sim:steady with other seeds (regression in at most 5% of trials, a pass in
at least 80%), sim:steady?lift=0.05, whose excess is exactly 5 points (the margin)
above the baseline's (a pass in at most 5%: what makes a pass mean something), a sticky
candidate with persist 0.5 (regression in at least 95%) and sim:forgetful (caught by
the forget-rate check); the last two in --regression-trials trials only. The fixed
design gates once after --repeats repeats per scenario; the sequential design (batches
of one repeat, a look after every batch from the third, at most --max-batches) should
reach the same error rates with fewer repeats on average. It looks at the same seeds'
runs as they were played, so its first --repeats repeats are the fixed design's. The
at-the-margin candidate's true difference is measured on the same seeds as the null
candidate and printed. Runs the whole library unless --families
narrows it; about 2 minutes per fixed trial on two cores. --keep DIR keeps the runs so
a second call only re-gates.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from stickiness.agents.models import ModelSpec
from stickiness.agents.run_store import RunStore
from stickiness.agents.runner import plan_runs
from stickiness.agents.scheduler import run_all, runs_to_play
from stickiness.agents.trajectory_reader import iter_records
from stickiness.analysis.gate import INCONCLUSIVE, PASS, REGRESSION, gate
from stickiness.analysis.observe import observe
from stickiness.analysis.sequential_gate import sequential_gate
from stickiness.scenarios import builtin_scenario_dir, load_scenarios

BASELINE = "sim:steady"
CANDIDATES = {
    "steady (null)": "sim:steady",
    "at the margin (+5 pts)": "sim:steady?lift=0.05",
    "sticky persist 0.5": "sim:sticky?persist=0.5",
    "forgetful": "sim:forgetful",
}
TARGETS = {
    "steady (null)": "regression <= 5%, pass >= 80%",
    "at the margin (+5 pts)": "pass <= 5%",
    "sticky persist 0.5": "regression >= 95%",
    "forgetful": "forget check catches it",
}
# Clear regressions are decided in every trial; they get fewer trials than the claims
# near the margin, whose rates are what the validation is about.
REGRESSIONS = ("sticky persist 0.5", "forgetful")


class Runner:
    def __init__(self, scenarios, folder: Path) -> None:
        self.scenarios, self.folder, self.runs, self.played = scenarios, folder, 0, 0

    def events(self, spec: str, repeats: int, seed: int) -> pd.DataFrame:
        """The first `repeats` repeats of `spec` on `seed`. One file per model and seed:
        repeats are seeded one by one, so a longer call only plays the repeats missing
        (the sequential design's cap extends the fixed design's runs)."""
        name = re.sub(r"[^A-Za-z0-9.=-]+", "_", spec)
        path = self.folder / f"{name}-{seed}.jsonl"
        plan = plan_runs(self.scenarios, [ModelSpec.parse(spec)], repeats, seed)
        self.runs += len(plan)
        # Runs kept from an earlier validation (--keep) are read, not played again.
        todo, _ = runs_to_play(plan, RunStore(path).recorded())
        if todo:
            run_all(todo, path, concurrency=4)
            self.played += len(todo)
        ev = observe(iter_records(path))
        return ev[ev["repeat"] < repeats].reset_index(drop=True)


def forget_caught(result) -> bool:
    return any(c.measure == "forget" and c.verdict == REGRESSION for c in result.checks)


def fixed(runner: Runner, trials: int, repeats: int, regression_trials: int) -> dict[str, dict]:
    out = {name: {"verdicts": [], "forget": [], "advice": []} for name in CANDIDATES}
    for trial in range(trials):
        base = runner.events(BASELINE, repeats, 10_000 + trial)
        for name, spec in CANDIDATES.items():
            if name in REGRESSIONS and trial >= regression_trials:
                continue
            cand = runner.events(spec, repeats, 20_000 + trial)
            result = gate(base, cand, seed=trial, draws=1000)
            out[name]["verdicts"].append(result.verdict)
            out[name]["forget"].append(forget_caught(result))
            if result.more_repeats is not None:
                out[name]["advice"].append(result.more_repeats)
        print(f"  fixed trial {trial + 1}/{trials} done", flush=True)
    return out


def sequential(
    runner: Runner, trials: int, max_batches: int, regression_trials: int, fixed_repeats: int
) -> dict[str, dict]:
    """Every trial plays up to the cap on the fixed design's seeds and looks at the runs
    in the order they were played (repeat 0, 1, ...), as `compare --until-decided`
    would: with the cap at --repeats, both designs judge the very same runs."""
    out = {name: {"verdicts": [], "forget": [], "used": []} for name in CANDIDATES}
    for trial in range(trials):
        for name, spec in CANDIDATES.items():
            if name in REGRESSIONS and trial >= regression_trials:
                continue
            # Runs are played only as far as the looks need them: first the fixed
            # design's, then the rest up to the cap if still undecided.
            played = min(fixed_repeats, max_batches)
            base = runner.events(BASELINE, played, 10_000 + trial)
            cand = runner.events(spec, played, 20_000 + trial)
            for used in range(1, max_batches + 1):
                if used > played:
                    played = max_batches
                    base = runner.events(BASELINE, played, 10_000 + trial)
                    cand = runner.events(spec, played, 20_000 + trial)
                result = sequential_gate(
                    base[base["repeat"] < used],
                    cand[cand["repeat"] < used],
                    batch=1,
                    max_batches=max_batches,
                    seed=trial,
                    draws=1000,
                )
                if result.verdict != INCONCLUSIVE:
                    break
            out[name]["verdicts"].append(result.verdict)
            out[name]["forget"].append(forget_caught(result))
            out[name]["used"].append(used)
        print(f"  sequential trial {trial + 1}/{trials} done", flush=True)
    return out


def margin_truth(runner: Runner, trials: int, repeats: int) -> tuple[float, float, int]:
    """The at-the-margin candidate's true excess over sim:steady, measured on the same
    seeds (the simulated agents draw the same numbers, so only the lift differs):
    mean and standard error of the overall excess difference, and how many pairs."""
    diffs = []
    for trial in range(trials):
        steady = runner.events(CANDIDATES["steady (null)"], repeats, 20_000 + trial)
        lifted = runner.events(CANDIDATES["at the margin (+5 pts)"], repeats, 20_000 + trial)
        result = gate(steady, lifted, seed=trial, draws=200)
        overall = [c for c in result.checks if c.family == "overall" and c.measure == "excess"]
        diffs += [c.difference.value for c in overall]
    if len(diffs) < 2:
        return float("nan"), float("nan"), len(diffs)
    return float(np.mean(diffs)), float(np.std(diffs, ddof=1) / np.sqrt(len(diffs))), len(diffs)


def share(values, what) -> str:
    return f"{Counter(values)[what] / len(values):.0%}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--regression-trials",
        type=int,
        default=10,
        help="trials for the clearly regressed candidates (default 10)",
    )
    parser.add_argument("--seq-trials", type=int, default=20)
    parser.add_argument("--max-batches", type=int, default=15)
    parser.add_argument(
        "--families", nargs="+", help="scenario families of the library to run (default all)"
    )
    parser.add_argument(
        "--keep", metavar="DIR", help="keep the runs here and reuse them on the next call"
    )
    args = parser.parse_args()
    scenarios = [
        s
        for s in load_scenarios([builtin_scenario_dir()])
        if not args.families or s.family in args.families
    ]
    families = sorted({s.family for s in scenarios})
    print(f"{len(scenarios)} scenarios ({', '.join(families)}); baseline {BASELINE}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(scenarios, Path(args.keep or tmp))
        runner.folder.mkdir(parents=True, exist_ok=True)
        fixed_out = fixed(runner, args.trials, args.repeats, args.regression_trials)
        seq_out = sequential(
            runner, args.seq_trials, args.max_batches, args.regression_trials, args.repeats
        )
        truth = margin_truth(runner, args.trials, args.repeats)
    table = Table(
        title=f"Gate validation: fixed design {args.trials} trials x {args.repeats} repeats; "
        f"sequential {args.seq_trials} trials, batches of 1 repeat, at most {args.max_batches}"
    )
    for col in (
        "candidate",
        "design",
        "regression",
        "pass",
        "inconclusive",
        "forget check",
        "repeats used",
        "advised repeats (median)",
        "target",
    ):
        table.add_column(col)
    for name in CANDIDATES:
        for design, res in (("fixed", fixed_out[name]), ("sequential", seq_out[name])):
            if not res["verdicts"]:
                continue
            used = res.get("used")
            table.add_row(
                name,
                design,
                share(res["verdicts"], REGRESSION),
                share(res["verdicts"], PASS),
                share(res["verdicts"], INCONCLUSIVE),
                f"{np.mean(res['forget']):.0%}",
                f"{np.mean(used):.1f}" if used else str(args.repeats),
                f"{np.median(res['advice']):.0f}" if res.get("advice") else "-",
                TARGETS[name],
            )
    console = Console(width=160)
    console.print(table)
    mean, se, pairs = truth
    console.print(
        f"at-the-margin candidate, measured on the same seeds as sim:steady ({pairs} pairs): "
        f"overall excess {mean:+.3f} ± {se:.3f} (standard error) above it; built as +0.050"
    )
    console.print(
        f"{runner.runs} simulated runs ({runner.played} played now, the rest kept from "
        f"before) in {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
