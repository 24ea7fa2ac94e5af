"""`stickiness gate` and `stickiness compare`: is the candidate a regression?"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stickiness.agents.leftovers import remove_stale_sandboxes
from stickiness.agents.models import ModelSpec, check_model
from stickiness.agents.run_store import TRAJECTORIES, RunStore
from stickiness.agents.runner import plan_runs
from stickiness.agents.scheduler import RunsInterrupted, run_all
from stickiness.agents.trajectory_reader import iter_records, read_trajectories
from stickiness.analysis.gate import REGRESSION, GateError, GateResult, gate
from stickiness.analysis.observe import HookPolicy, observe, trusted_hooks
from stickiness.analysis.sequential_gate import sequential_gate
from stickiness.reports.analysis_commands import hooks_from, print_warnings
from stickiness.reports.executor_options import executor_for
from stickiness.reports.html import write_report
from stickiness.reports.interrupts import report_interrupted, stop_on_signals
from stickiness.reports.progress import run_progress
from stickiness.reports.run_command import (
    AGENT_TRANSCRIPTS,
    new_run_dir,
    refuse_used_folder,
    run_options,
)
from stickiness.scenarios import load_scenarios

VERDICT_STYLE = {"pass": "green", "regression": "bold red", "inconclusive": "yellow"}


def gate_table(result: GateResult) -> Table:
    if result.sequential:
        # Each look's bounds are stricter than these levels: the looks share the error.
        bounds = (
            f"group-sequential bounds after {result.repeats} repeats: regression "
            f"{result.check_confidence:.1%} per check, pass {result.pass_confidence:.0%}, "
            "over all looks"
        )
    else:
        bounds = (
            f"one-sided bounds: regression {result.check_confidence:.1%} per check, "
            f"pass {result.pass_confidence:.0%}"
        )
    table = Table(
        title=f"Gate: {result.candidate} against {result.baseline} "
        f"(margin {result.margin:+.0%}; {bounds})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    columns = ("family", "measure", "scenarios", "candidate - baseline [regr., pass bound]")
    for name in (*columns, "verdict"):
        table.add_column(name, justify="right" if name in ("scenarios",) else "left")
    for c in result.checks:
        d = c.difference
        # One decimal: an interval that ends at "+5%" must not read as touching a 5% margin.
        diff = "n/a" if math.isnan(d.value) else f"{d.value:+.1%} [{d.low:+.1%}, {d.high:+.1%}]"
        table.add_row(
            c.family,
            c.measure,
            str(c.scenarios),
            diff,
            f"[{VERDICT_STYLE[c.verdict]}]{c.verdict}[/]",
        )
    return table


def print_gate(console: Console, result: GateResult) -> None:
    console.print(gate_table(result))
    for s in result.skipped:
        console.print(
            f"[yellow]skipped[/yellow] {escape(s)}: not run by both sides "
            "(or its control is missing)"
        )
    style = VERDICT_STYLE[result.verdict]
    console.print(f"verdict: [{style}]{result.verdict}[/] (exit code {result.exit_code})")
    if result.more_repeats is not None:
        console.print(
            f"about {result.more_repeats} repeats per scenario (now {result.repeats}) would "
            "likely decide it, judging by the spread seen so far"
        )
    elif result.verdict == "inconclusive" and not result.sequential:
        console.print(
            "no affordable number of repeats is likely to decide it: the difference sits "
            "at the margin"
        )


def _events(run_dir: str | Path, hooks: HookPolicy, warnings: list[str] | None = None):
    path = Path(run_dir)
    records = iter_records(path / TRAJECTORIES if path.is_dir() else path, warnings)
    return observe(records, hooks=hooks, warnings=warnings)


def _one_model(events, wanted: str | None, option: str, folder: str):
    """The events of the model named `wanted` ("model" or "model / harness")."""
    if wanted is None:
        return events
    label = events["model"].where(
        events["harness"] == "minimal", events["model"] + " / " + events["harness"]
    )
    picked = events[(events["model"] == wanted) | (label == wanted)]
    if picked.empty:
        found = ", ".join(sorted(set(label))) or "none"
        raise GateError(f"{option} {wanted!r}: no runs of it in {folder}; found: {found}")
    return picked


def cmd_gate(args: argparse.Namespace, console: Console) -> int:
    warnings: list[str] = []
    candidate_dir = args.candidate or args.baseline
    if args.candidate is None and (args.baseline_model is None or args.candidate_model is None):
        raise GateError(
            "--candidate RUN_DIR, or --baseline-model and --candidate-model to gate two "
            "models of one run folder"
        )
    baseline = _events(args.baseline, hooks_from(args), warnings)
    candidate = (
        baseline
        if candidate_dir == args.baseline
        else _events(candidate_dir, hooks_from(args), warnings)
    )
    print_warnings(console, warnings)
    baseline = _one_model(baseline, args.baseline_model, "--baseline-model", args.baseline)
    candidate = _one_model(candidate, args.candidate_model, "--candidate-model", candidate_dir)
    result = gate(
        baseline,
        candidate,
        margin=args.margin,
        confidence=args.confidence,
        draws=args.draws,
    )
    print_gate(console, result)
    if args.json:
        _write_json(result, Path(args.json), console)
    return result.exit_code


def _write_json(result: GateResult, path: Path, console: Console) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
    console.print(f"gate: {escape(str(path.resolve()))}")


def _compare_dir(args: argparse.Namespace) -> Path:
    if not args.out:
        return new_run_dir(prefix="compare-")
    out = Path(args.out)
    for side in ("baseline", "candidate"):
        refuse_used_folder(out / side, "--out", "its gate can be run again with `stickiness gate`")
    return out


def cmd_compare(args: argparse.Namespace, console: Console, default_scenarios) -> int:
    """Run baseline and candidate on the same scenarios and seeds, then gate. With
    --until-decided, repeats are added in batches until the verdict is decided."""
    options = run_options(args)
    specs = {
        "baseline": check_model(args.baseline, options.call),
        "candidate": check_model(args.candidate, options.call),
    }
    scenarios = load_scenarios(args.scenarios or [default_scenarios])
    out = _compare_dir(args)
    remove_stale_sandboxes()
    options = replace(options, transcripts=out / AGENT_TRANSCRIPTS)
    with (
        RunStore(out / "baseline" / TRAJECTORIES) as base_store,
        RunStore(out / "candidate" / TRAJECTORIES) as cand_store,
        stop_on_signals() as signals,
    ):
        stores = {"baseline": base_store, "candidate": cand_store}
        try:
            with executor_for(args) as executor:
                result, done = _compare_batches(
                    args, console, specs, scenarios, stores, options, out, executor
                )
        except RunsInterrupted as exc:
            hint = "stickiness compare ... --out NEW_DIR (add --cache DIR to replay paid calls)"
            return report_interrupted(
                console, exc, out / "candidate" / TRAJECTORIES, hint, signals.exit_code
            )
    print_gate(console, result)
    both = [
        *read_trajectories(out / "baseline" / TRAJECTORIES)[0],
        *read_trajectories(out / "candidate" / TRAJECTORIES)[0],
    ]
    _write_json(result, Path(args.json) if args.json else out / "gate.json", console)
    report = write_report(
        both, out / "report.html", baseline=str(specs["baseline"]), hooks=trusted_hooks(scenarios)
    )
    console.print(f"report: {escape(str(report.resolve()))}")
    if args.until_decided:
        saved = (args.max_runs - done) * len(scenarios) * 2
        console.print(
            f"stopped after {done} of at most {args.max_runs} repeats per scenario: "
            f"{saved} runs saved"
        )
    return result.exit_code


def _compare_batches(args, console, specs, scenarios, stores, options, out, executor):
    """Play batches of repeats on both sides and gate after each; (result, repeats)."""
    if executor is not None:
        # Workers are started once, checked for both sides' models.
        executor.prepare(
            plan_runs(scenarios, list(specs.values()), 1, args.seed), options, args.concurrency
        )
    batch = args.batch if args.until_decided else args.repeats
    done, result = 0, None
    limit = args.max_runs if args.until_decided else batch
    while done < limit:
        step = min(batch, limit - done)
        for side, spec in specs.items():
            plan = plan_runs(scenarios, [spec], done + step, args.seed)
            todo = [s for s in plan if s.repeat >= done]
            console.print(escape(f"{side}: {spec}, repeats {done + 1}..{done + step}"))
            with run_progress(console, len(todo)) as advance:
                run_all(
                    todo,
                    stores[side],
                    options,
                    concurrency=args.concurrency,
                    on_done=advance,
                    executor=executor,
                )
        done += step
        hooks = trusted_hooks(scenarios)
        base, cand = _events(out / "baseline", hooks), _events(out / "candidate", hooks)
        if args.until_decided:
            # Looking after every batch: each look gets a group-sequential boundary.
            result = sequential_gate(
                base,
                cand,
                batch=batch,
                max_batches=max(1, args.max_runs // batch),
                margin=args.margin,
                confidence=args.confidence,
                draws=args.draws,
            )
        else:
            result = gate(
                base, cand, margin=args.margin, confidence=args.confidence, draws=args.draws
            )
        console.print(f"after {done} repeats per scenario: {result.verdict}")
        if not args.until_decided or result.verdict != "inconclusive":
            break
    return result, done


def add_gate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--margin",
        type=float,
        default=0.05,
        help="allowed increase, as a rate (default 0.05 = 5 points)",
    )
    p.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        help="overall confidence, split over the checks (default 0.95)",
    )
    p.add_argument("--draws", type=int, default=2000, help="bootstrap replicates")
    p.add_argument("--json", metavar="FILE", help="also write the verdict and every check as JSON")


__all__ = ["REGRESSION", "add_gate_options", "cmd_compare", "cmd_gate", "print_gate", "ModelSpec"]
