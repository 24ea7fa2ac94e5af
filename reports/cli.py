"""`stickiness`: run scenarios against models, summarise, and write the report."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stickiness.agents.harness import HARNESSES, HarnessError, get_harness
from stickiness.agents.models import CallOptions, ModelSpecError, ResponseCache, check_model
from stickiness.agents.pricing import PriceError, load_prices
from stickiness.agents.runner import (
    DEFAULT_MAX_STEPS,
    RunOptions,
    finished_run_ids,
    plan_runs,
    run_all,
)
from stickiness.agents.trajectory import TrajectoryError, iter_records, read_trajectories
from stickiness.analysis.bootstrap import DEFAULT_DRAWS
from stickiness.analysis.export import AnalysisSettings, write_outputs
from stickiness.analysis.gate import GateError
from stickiness.analysis.metrics import analyse
from stickiness.analysis.observe import DetectorError, observe
from stickiness.analysis.policy import Policy, PolicyError, load_policy
from stickiness.reports import gate_commands, scenario_commands
from stickiness.reports.html import write_report
from stickiness.reports.terminal import print_summary, print_usage
from stickiness.scenarios import ScenarioError, builtin_scenario_dir, load_scenarios

DEFAULT_MODELS = ["sim:steady", "sim:sticky"]
DEFAULT_REPEATS = 10
DEFAULT_CONCURRENCY = 4
RUNS_DIR = Path("stickiness-runs")
TRAJECTORIES = "trajectories.jsonl"
REPORT = "report.html"

RUN_CONFIG = "run.json"
USER_ERRORS = (
    GateError,
    PriceError,
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


def _aliases(pyproject: Path = Path("pyproject.toml")) -> dict[str, str]:
    """`[tool.stickiness.models]`: short names for long specs (servers, key variables)."""
    if not pyproject.is_file():
        return {}
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelSpecError(f"{pyproject}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("stickiness", {}).get("models", {})
    bad = [k for k, v in table.items() if not isinstance(v, str)]
    if bad:
        raise ModelSpecError(
            f"{pyproject}: field tool.stickiness.models.{bad[0]}: expected a model spec string"
        )
    return table


def _run_config(args: argparse.Namespace) -> dict:
    """What defines the plan of a run folder, saved so `--resume` can rebuild it."""
    if args.resume:
        path = Path(args.resume) / RUN_CONFIG
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise TrajectoryError(f"{path}: cannot read the run's settings to resume") from None
    aliases = _aliases()
    return {
        "scenarios": [str(p) for p in (args.scenarios or [default_scenarios()])],
        "models": [aliases.get(m, m) for m in (args.model or DEFAULT_MODELS)],
        "repeats": args.repeats,
        "seed": args.seed,
        "harness": args.harness,
        "max_steps": args.max_steps,
    }


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    settings = _settings(args)
    config = _run_config(args)
    call = CallOptions(timeout=args.timeout, max_retries=args.max_retries)
    scenarios = load_scenarios(config["scenarios"])
    models = [check_model(m, call) for m in config["models"]]
    get_harness(config["harness"])
    specs = plan_runs(scenarios, models, config["repeats"], config["seed"], config["harness"])
    run_dir = Path(args.resume or args.out or new_run_dir())
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RUN_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    out_file = run_dir / TRAJECTORIES
    finished = finished_run_ids(out_file)
    todo = [s for s in specs if s.run_id not in finished]
    console.print(
        f"{len(scenarios)} scenarios x {len(models)} models x {config['repeats']} repeats "
        f"= {len(specs)} runs"
        + (f", {len(specs) - len(todo)} already done" if finished else "")
        + f" -> {escape(str(out_file))}"
    )
    options = RunOptions(
        max_steps=config["max_steps"],
        keep_workspaces=args.keep_workspaces,
        call=call,
        cache=ResponseCache(Path(args.cache)) if args.cache else None,
        prices=load_prices(Path("pyproject.toml")),
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("running", total=len(todo))

        def advance(t):
            progress.update(task, advance=1, description=f"{t.model} {t.scenario}")

        try:
            run_all(todo, out_file, options, concurrency=args.concurrency, on_done=advance)
        except KeyboardInterrupt:
            console.print(
                f"interrupted: finished runs are kept in {escape(str(out_file))}; "
                f"continue with: stickiness run --resume {escape(str(run_dir))}"
            )
            return 130
    trajectories, _ = read_trajectories(out_file) if out_file.exists() else ([], [])
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
    print_usage(console, trajectories)
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


def _call_options(parser: argparse.ArgumentParser) -> None:
    """How runs reach the models: shared by `run` and `compare`."""
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"runs at the same time (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="per model call (default 120)",
    )
    parser.add_argument(
        "--max-retries",
        type=int,
        default=4,
        metavar="N",
        help="retries of a failed call, with backoff honouring retry-after (default 4)",
    )
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help="cache model responses on disk, keyed on the exact request: "
        "re-runs with the same seeds cost nothing",
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
    _call_options(run)
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="finish an interrupted run folder: only missing runs are played, "
        "with the settings it was started with",
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

    gt = sub.add_parser("gate", help="compare two run folders: pass, regression or inconclusive")
    gt.add_argument("--baseline", required=True, metavar="RUN_DIR")
    gt.add_argument("--candidate", required=True, metavar="RUN_DIR")
    gate_commands.add_gate_options(gt)
    gt.set_defaults(func=gate_commands.cmd_gate)

    cp = sub.add_parser("compare", help="run two models on the same seeds, then gate them")
    cp.add_argument("--baseline", required=True, metavar="SPEC")
    cp.add_argument("--candidate", required=True, metavar="SPEC")
    cp.add_argument("--scenarios", action="append", metavar="PATH")
    cp.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        metavar="N",
        help=f"repeats per scenario (default {DEFAULT_REPEATS})",
    )
    cp.add_argument(
        "--until-decided",
        action="store_true",
        help="add batches of repeats until the verdict is decided",
    )
    cp.add_argument(
        "--batch",
        type=int,
        default=1,
        metavar="N",
        help="with --until-decided: repeats per scenario added between looks (default 1)",
    )
    cp.add_argument(
        "--max-runs",
        type=int,
        default=50,
        metavar="N",
        help="with --until-decided: most repeats per scenario (default 50)",
    )
    cp.add_argument("--seed", type=int, default=0)
    cp.add_argument("--out", default=str(RUNS_DIR / "compare"), metavar="DIR")
    _call_options(cp)
    gate_commands.add_gate_options(cp)
    cp.set_defaults(func=lambda a, c: gate_commands.cmd_compare(a, c, default_scenarios()))

    sc = sub.add_parser("scenarios", help="list, validate or show scenario files")
    sc_sub = sc.add_subparsers(dest="action", required=True)
    for name, func, helptext in (
        ("list", scenario_commands.cmd_list, "one line per scenario"),
        ("validate", scenario_commands.cmd_validate, "check every file, with warnings"),
        ("show", scenario_commands.cmd_show, "the turns as a model sees them, annotated"),
    ):
        p = sc_sub.add_parser(name, help=helptext)
        if name == "show":
            p.add_argument("id", metavar="ID")
            p.add_argument(
                "--seed",
                type=int,
                default=0,
                help="seed of the phrasings and template values (default 0)",
            )
        p.add_argument(
            "--scenarios",
            action="append",
            metavar="PATH",
            help="scenario file or folder (default: ./scenarios, else built-in)",
        )
        p.set_defaults(func=lambda a, c, f=func: f(a, c, default_scenarios()))

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
    if any(getattr(args, k, 1) < 1 for k in ("repeats", "max_steps", "concurrency")) or (
        getattr(args, "max_retries", 0) < 0 or getattr(args, "timeout", 1) <= 0
    ):
        console.print(
            "error: --repeats, --max-steps and --concurrency must be at least 1, "
            "--max-retries at least 0 and --timeout positive",
            style="red",
        )
        return 2
    try:
        return args.func(args, console)
    except USER_ERRORS as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[red]error:[/red] {escape(str(exc))}"
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
