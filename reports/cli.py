"""`stickiness`: run scenarios against models, summarise, and write the report."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.harness import HARNESSES, HarnessError, get_harness
from agents.models import ModelSpecError, check_model
from agents.runner import DEFAULT_MAX_STEPS, plan_runs, run_all
from agents.trajectory import TrajectoryError, iter_records, read_trajectories
from analysis.bootstrap import DEFAULT_DRAWS
from analysis.export import AnalysisSettings, write_outputs
from analysis.metrics import analyse
from analysis.observe import DetectorError, observe
from analysis.policy import Policy, PolicyError, load_policy
from reports.html import write_report
from reports.terminal import print_summary
from scenarios import ScenarioError, builtin_scenario_dir, load_scenarios

DEFAULT_MODELS = ["sim:steady", "sim:sticky"]
DEFAULT_REPEATS = 10
RUNS_DIR = Path("stickiness-runs")
TRAJECTORIES = "trajectories.jsonl"
REPORT = "report.html"

USER_ERRORS = (
    ScenarioError,
    ModelSpecError,
    HarnessError,
    TrajectoryError,
    PolicyError,
    DetectorError,
)


def default_scenarios() -> Path:
    local = Path("scenarios")
    has_files = local.is_dir() and any(local.glob("*.y*ml"))
    return local if has_files else builtin_scenario_dir()


def new_run_dir(base: Path = RUNS_DIR) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path, n = base / stamp, 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def _policy(args: argparse.Namespace) -> Policy:
    return load_policy(Path("pyproject.toml"), args.want)


def _settings(args: argparse.Namespace) -> AnalysisSettings:
    if args.draws < 100 or not 0.5 <= args.confidence < 1:
        raise PolicyError("--draws must be at least 100 and --confidence in [0.5, 1)")
    return AnalysisSettings(args.draws, args.analysis_seed, args.confidence, _policy(args))


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    settings = _settings(args)
    scenarios = load_scenarios(args.scenarios or [default_scenarios()])
    models = [check_model(m) for m in (args.model or DEFAULT_MODELS)]
    get_harness(args.harness)
    specs = plan_runs(scenarios, models, args.repeats, args.seed, args.harness)
    run_dir = Path(args.out) if args.out else new_run_dir()
    out_file = run_dir / TRAJECTORIES
    console.print(
        f"{len(scenarios)} scenarios x {len(models)} models x {args.repeats} repeats "
        f"= {len(specs)} runs -> {escape(str(out_file))}"
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("running", total=len(specs))

        def advance(t):
            progress.update(task, advance=1, description=f"{t.model} {t.scenario}")

        try:
            trajectories = run_all(
                specs,
                out_file,
                max_steps=args.max_steps,
                keep_workspaces=args.keep_workspaces,
                on_done=advance,
            )
        except KeyboardInterrupt:
            console.print(f"interrupted; finished runs are kept in {escape(str(out_file))}")
            return 130
    return _analyse_and_report(trajectories, run_dir, settings, console)


def _analyse_and_report(
    trajectories,
    run_dir: Path,
    settings: AnalysisSettings,
    console: Console,
    report_path: Path | None = None,
) -> int:
    failed = [t for t in trajectories if t.status != "ok"]
    events = observe(trajectories, settings.policy)
    models = (
        analyse(events, draws=settings.draws, seed=settings.seed, confidence=settings.confidence)
        if not events.empty
        else []
    )
    if models:
        print_summary(console, models)
    events_path, metrics_path = write_outputs(run_dir, events, models, settings)
    report = write_report(trajectories, report_path or run_dir / REPORT, policy=settings.policy)
    for t in failed[:5]:
        console.print(
            f"[red]run failed[/red]: {escape(t.model)} {escape(t.scenario)}: "
            f"{escape(t.error or '')}"
        )
    console.print(f"events: {escape(str(events_path))}  metrics: {escape(str(metrics_path))}")
    console.print(f"report: {escape(str(report.resolve()))}")
    return 1 if trajectories and len(failed) == len(trajectories) else 0


def _read_run(run_dir: str, console: Console) -> tuple[list, Path]:
    path = Path(run_dir)
    source = path / TRAJECTORIES if path.is_dir() else path
    trajectories, warnings = read_trajectories(source)
    for w in warnings:
        console.print(f"[yellow]warning[/yellow]: {escape(w)}")
    return trajectories, source.parent


def _cmd_analyse(args: argparse.Namespace, console: Console) -> int:
    settings = _settings(args)
    path = Path(args.run_dir)
    source = path / TRAJECTORIES if path.is_dir() else path
    warnings: list[str] = []
    # Streamed: any number of runs fits in memory (the HTML report is `report`'s job).
    events = observe(iter_records(source, warnings), settings.policy)
    for w in warnings:
        console.print(f"[yellow]warning[/yellow]: {escape(w)}")
    models = []
    if not events.empty:
        models = analyse(
            events, draws=settings.draws, seed=settings.seed, confidence=settings.confidence
        )
        print_summary(console, models)
    else:
        console.print("no runs to analyse")
    out = Path(args.out) if args.out else source.parent
    events_path, metrics_path = write_outputs(out, events, models, settings)
    console.print(f"events: {escape(str(events_path))}")
    console.print(f"metrics: {escape(str(metrics_path))}")
    return 0


def _cmd_report(args: argparse.Namespace, console: Console) -> int:
    trajectories, folder = _read_run(args.run_dir, console)
    out = Path(args.output) if args.output else folder / REPORT
    report = write_report(trajectories, out, policy=_policy(args))
    console.print(f"report: {escape(str(report.resolve()))}")
    return 0


def _analysis_options(parser: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stickiness", description="Measure how sticky LLM coding agents are."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run scenarios against models and write a report")
    run.add_argument(
        "--scenarios",
        action="append",
        metavar="PATH",
        help="scenario file or folder (repeatable; default: ./scenarios, else the built-in ones)",
    )
    run.add_argument(
        "--model",
        action="append",
        metavar="SPEC",
        help=f"model spec, repeatable (default: {' '.join(DEFAULT_MODELS)})",
    )
    run.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        metavar="N",
        help=f"seeded repeats per scenario and model (default {DEFAULT_REPEATS})",
    )
    run.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    run.add_argument(
        "--harness",
        default="minimal",
        choices=sorted(HARNESSES),
        help="system prompt and tool set (default minimal)",
    )
    run.add_argument("--out", metavar="DIR", help="run folder (default stickiness-runs/<time>)")
    run.add_argument(
        "--max-steps",
        type=int,
        default=DEFAULT_MAX_STEPS,
        metavar="N",
        help=f"model calls allowed per turn (default {DEFAULT_MAX_STEPS})",
    )
    run.add_argument(
        "--keep-workspaces",
        action="store_true",
        help="keep each run's git workspace for inspection",
    )
    _analysis_options(run)
    run.set_defaults(func=_cmd_run)

    ana = sub.add_parser(
        "analyse",
        aliases=["analyze"],
        help="analyse a run folder: table, events.csv, metrics.json, report",
    )
    ana.add_argument("run_dir", metavar="RUN_DIR", help="run folder or trajectories.jsonl")
    ana.add_argument("--out", metavar="DIR", help="where to write (default: the run folder)")
    _analysis_options(ana)
    ana.set_defaults(func=_cmd_analyse)

    rep = sub.add_parser("report", help="rebuild the HTML report from a run folder")
    rep.add_argument("run_dir", metavar="RUN_DIR", help="run folder or trajectories.jsonl")
    rep.add_argument("-o", "--output", metavar="FILE", help="where to write the HTML")
    rep.add_argument(
        "--want",
        action="append",
        metavar="FAMILY",
        help="a family whose carry-over you want (repeatable)",
    )
    rep.set_defaults(func=_cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=False, highlight=False)
    if getattr(args, "repeats", 1) < 1 or getattr(args, "max_steps", 1) < 1:
        console.print("error: --repeats and --max-steps must be at least 1", style="red")
        return 2
    try:
        return args.func(args, console)
    except USER_ERRORS as exc:
        Console(stderr=True, highlight=False).print(f"[red]error:[/red] {escape(str(exc))}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
