"""`stickiness analyse` and `stickiness report`, and the analysis that ends a run."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from stickiness.agents.models.remote import CallOptions
from stickiness.agents.redact import redact
from stickiness.agents.run_store import TRAJECTORIES
from stickiness.agents.trajectory_reader import iter_records, read_trajectories
from stickiness.analysis.bootstrap import DEFAULT_DRAWS
from stickiness.analysis.claims_judge import ClaimsJudge, check_judge
from stickiness.analysis.coverage import missing_baselines
from stickiness.analysis.export import AnalysisSettings, EventsCsv, write_outputs
from stickiness.analysis.observe import HookPolicy, observe
from stickiness.analysis.observed import BASELINE_CAVEAT, is_observed
from stickiness.analysis.policy import Policy, PolicyError, load_policy
from stickiness.reports.html import write_report
from stickiness.reports.terminal import print_summary, print_usage

REPORT = "report.html"
JUDGE_CACHE = "judge-cache"
# Unusable judge answers shown one by one; the rest are counted in the judge's summary.
_JUDGE_WARNINGS_SHOWN = 5


def policy_from(args: argparse.Namespace) -> Policy:
    return load_policy(Path("pyproject.toml"), args.want)


def settings_from(args: argparse.Namespace) -> AnalysisSettings:
    if args.draws < 100 or not 0.5 <= args.confidence < 1:
        raise PolicyError("--draws must be at least 100 and --confidence in [0.5, 1)")
    return AnalysisSettings(args.draws, args.analysis_seed, args.confidence, policy_from(args))


class JudgeUse:
    """The `--judge` of an analysing command: the judge, and what it said went wrong."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.warnings: list[str] = []
        self.judge: ClaimsJudge | None = None
        if getattr(args, "judge", None):
            cache = Path(args.judge_cache) if args.judge_cache else folder / JUDGE_CACHE
            self.judge = ClaimsJudge(
                args.judge, cache, CallOptions(timeout=args.judge_timeout), self.warnings.append
            )

    def settings(self, settings: AnalysisSettings) -> AnalysisSettings:
        return settings if self.judge is None else replace(settings, review=self.judge.review)

    def print(self, console: Console) -> None:
        if self.judge is None:
            return
        print_warnings(console, self.warnings[:_JUDGE_WARNINGS_SHOWN])
        console.print(escape(self.judge.summary()))


def check_judge_option(args: argparse.Namespace) -> None:
    """A `--judge` that cannot be used, refused before anything runs."""
    if getattr(args, "judge", None):
        check_judge(args.judge)


def print_warnings(console: Console, warnings: list[str]) -> None:
    for w in dict.fromkeys(warnings):
        console.print(f"[yellow]warning[/yellow]: {escape(redact(w))}")


def hooks_from(args: argparse.Namespace) -> HookPolicy:
    """Analysing a folder imports no code unless the user says they trust it."""
    return "run" if args.allow_hooks else "skip"


def analyse_and_report(
    trajectories,
    run_dir: Path,
    settings: AnalysisSettings,
    console: Console,
    hooks: HookPolicy = "skip",
    verbose: bool = False,
) -> int:
    failed = [t for t in trajectories if t.status != "ok"]
    warnings: list[str] = []
    events = observe(
        trajectories, settings.policy, hooks=hooks, warnings=warnings, review=settings.review
    )
    print_warnings(console, [*warnings, *missing_baselines(events)])
    # events.csv is written while the metrics are computed.
    with EventsCsv(run_dir, events) as events_csv:
        models = settings.analyse(events) if not events.empty else []
        answer = settings.headline(models)
        if models:
            print_summary(console, models, answer, verbose)
        print_usage(console, trajectories)
        events_path, metrics_path = write_outputs(
            run_dir, events, models, settings, answer, events_csv=events_csv
        )
    report = write_report(trajectories, run_dir / REPORT, settings=settings, hooks=hooks)
    for t in failed[:5]:
        console.print(
            f"[red]run failed[/red]: {escape(t.model)} {escape(t.scenario)}: "
            f"{escape(redact(t.error or ''))}"
        )
    console.print(f"events: {escape(str(events_path))}  metrics: {escape(str(metrics_path))}")
    console.print(f"report: {escape(str(report.resolve()))}")
    return 1 if trajectories and len(failed) == len(trajectories) else 0


def read_run(run_dir: str, console: Console) -> tuple[list, Path]:
    path = Path(run_dir)
    source = path / TRAJECTORIES if path.is_dir() else path
    trajectories, warnings = read_trajectories(source)
    print_warnings(console, warnings)
    return trajectories, source.parent


def cmd_analyse(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from(args)
    path = Path(args.run_dir)
    source = path / TRAJECTORIES if path.is_dir() else path
    judge = JudgeUse(args, source.parent)
    settings = judge.settings(settings)
    warnings: list[str] = []
    # Streamed: any number of runs fits in memory (the HTML report is `report`'s job).
    records = iter_records(source, warnings)
    events = observe(
        records,
        settings.policy,
        hooks=hooks_from(args),
        warnings=warnings,
        review=settings.review,
    )
    print_warnings(console, warnings)
    judge.print(console)
    out = Path(args.out) if args.out else source.parent
    # events.csv is written while the metrics are computed.
    with EventsCsv(out, events) as events_csv:
        models = settings.analyse(events) if not events.empty else []
        answer = settings.headline(models)
        if models:
            print_summary(console, models, answer, args.verbose)
            print_warnings(console, missing_baselines(events))
            if is_observed(events).any():
                console.print(f"[yellow]imported sessions[/yellow]: {BASELINE_CAVEAT}")
        else:
            console.print("no runs to analyse")
        events_path, metrics_path = write_outputs(
            out, events, models, settings, answer, events_csv=events_csv
        )
    console.print(f"events: {escape(str(events_path))}")
    console.print(f"metrics: {escape(str(metrics_path))}")
    return 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from(args)
    trajectories, folder = read_run(args.run_dir, console)
    out = Path(args.output) if args.output else folder / REPORT
    judge = JudgeUse(args, folder)
    warnings: list[str] = []
    report = write_report(
        trajectories,
        out,
        settings=judge.settings(settings),
        hooks=hooks_from(args),
        warnings=warnings,
    )
    print_warnings(console, warnings)
    judge.print(console)
    console.print(f"report: {escape(str(report.resolve()))}")
    return 0


def add_hook_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-hooks",
        action="store_true",
        help="run the Python hook detectors named by the runs' scenario files "
        "(only for run folders you trust; without it their behaviours are not counted)",
    )


def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--want",
        action="append",
        metavar="FAMILY",
        help="a family whose carry-over you want (repeatable); also read from "
        "[tool.stickiness] wanted in ./pyproject.toml",
    )
    parser.add_argument(
        "--draws",
        type=int,
        default=DEFAULT_DRAWS,
        help=f"bootstrap replicates (default {DEFAULT_DRAWS})",
    )
    parser.add_argument(
        "--analysis-seed", type=int, default=0, help="seed of the bootstrap (default 0)"
    )
    parser.add_argument(
        "--confidence", type=float, default=0.95, help="interval confidence level (default 0.95)"
    )
    judge = parser.add_argument_group("model judge of the second axis")
    judge.add_argument(
        "--judge",
        metavar="SPEC",
        help="openai:MODEL or anthropic:MODEL that reviews the claims and answers the "
        "patterns read in false_claim and confident_wrong runs (needs the provider's key)",
    )
    judge.add_argument(
        "--judge-cache",
        metavar="DIR",
        help=f"where the judge's answers are kept and reused (default: {JUDGE_CACHE}/ in "
        "the run folder)",
    )
    judge.add_argument(
        "--judge-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="time limit of one judge call (default 60)",
    )


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print per-family tables and a sentence per model and family",
    )
