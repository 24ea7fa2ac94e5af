"""`stickiness`: the command line. Each command lives in a module of its own."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.markup import escape

from stickiness.agents.harness import HarnessError
from stickiness.agents.leftovers import remove_stale_sandboxes
from stickiness.agents.models import ModelSpecError
from stickiness.agents.pricing import PriceError
from stickiness.agents.ray_executor import ExecutorError
from stickiness.agents.redact import redact
from stickiness.agents.trajectory import TrajectoryError
from stickiness.analysis.claims_judge import ClaimsJudgeError
from stickiness.analysis.gate import GateError
from stickiness.analysis.observe import DetectorError
from stickiness.analysis.policy import PolicyError
from stickiness.reports import gate_commands, scenario_commands
from stickiness.reports.agent_commands import add_agents_parser
from stickiness.reports.analysis_commands import (
    add_analysis_options,
    add_hook_option,
    add_verbose_option,
    cmd_analyse,
    cmd_report,
)
from stickiness.reports.executor_options import check_executor_options
from stickiness.reports.export_command import add_export_parser
from stickiness.reports.import_command import add_import_parser
from stickiness.reports.run_command import (
    DEFAULT_REPEATS,
    add_call_options,
    add_run_parser,
    default_scenarios,
)
from stickiness.scenarios import ScenarioError

USER_ERRORS = (
    ExecutorError,
    ClaimsJudgeError,
    GateError,
    PriceError,
    ScenarioError,
    ModelSpecError,
    HarnessError,
    TrajectoryError,
    PolicyError,
    DetectorError,
)


def cmd_clean(args: argparse.Namespace, console: Console) -> int:
    removed = remove_stale_sandboxes()
    console.print(f"removed {len(removed)} sandboxes left behind by stopped runs")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stickiness", description="Measure how sticky LLM coding agents are."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)

    ana = sub.add_parser(
        "analyse",
        aliases=["analyze"],
        help="analyse a run folder: tables, events.csv, metrics.json (no HTML: see report)",
    )
    ana.add_argument("run_dir", metavar="RUN_DIR", help="run folder or trajectories.jsonl")
    ana.add_argument("--out", metavar="DIR", help="where to write (default: the run folder)")
    add_analysis_options(ana)
    add_verbose_option(ana)
    add_hook_option(ana)
    ana.set_defaults(func=cmd_analyse)

    gt = sub.add_parser("gate", help="compare two run folders: pass, regression or inconclusive")
    gt.add_argument(
        "--baseline", required=True, metavar="RUN_DIR", help="run folder of the baseline model"
    )
    gt.add_argument("--candidate", metavar="RUN_DIR", help="default: the baseline's folder")
    gt.add_argument(
        "--baseline-model", metavar="MODEL", help="the baseline's model in a mixed run folder"
    )
    gt.add_argument(
        "--candidate-model", metavar="MODEL", help="the candidate's model in a mixed run folder"
    )
    gate_commands.add_gate_options(gt)
    add_hook_option(gt)
    gt.set_defaults(func=gate_commands.cmd_gate)

    cp = sub.add_parser("compare", help="run two models on the same seeds, then gate them")
    cp.add_argument(
        "--baseline", required=True, metavar="SPEC", help="model spec the candidate must match"
    )
    cp.add_argument(
        "--candidate", required=True, metavar="SPEC", help="model spec to check against it"
    )
    cp.add_argument(
        "--scenarios",
        action="append",
        metavar="PATH",
        help="scenario file or folder (repeatable; default: ./scenarios, else the built-in ones)",
    )
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
        default=15,
        metavar="N",
        help="with --until-decided: most repeats per scenario (default 15)",
    )
    cp.add_argument("--seed", type=int, default=0, help="base seed of both sides (default 0)")
    cp.add_argument(
        "--out", metavar="DIR", help="new folder (default stickiness-runs/compare-<time>)"
    )
    add_call_options(cp)
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
    add_analysis_options(rep)
    add_hook_option(rep)
    rep.set_defaults(func=cmd_report)

    add_agents_parser(sub)
    add_import_parser(sub)
    add_export_parser(sub)

    cl = sub.add_parser("clean", help="remove sandboxes left behind by killed runs")
    cl.set_defaults(func=cmd_clean)
    return parser


def _bad_numbers(args: argparse.Namespace) -> bool:
    at_least_one = ("repeats", "max_steps", "concurrency", "batch", "max_runs")
    # None: not given (the default comes later, or from a resumed folder).
    if any(getattr(args, k, None) is not None and getattr(args, k) < 1 for k in at_least_one):
        return True
    if getattr(args, "max_retries", 0) < 0 or getattr(args, "run_retries", 0) < 0:
        return True
    return getattr(args, "timeout", 1) <= 0 or getattr(args, "turn_timeout", 1) <= 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=False, highlight=False)
    if _bad_numbers(args):
        console.print(
            "error: --repeats, --max-steps, --concurrency, --batch and --max-runs must be at "
            "least 1, --max-retries and --run-retries at least 0, --timeout and "
            "--turn-timeout positive",
            style="red",
        )
        return 2
    if hasattr(args, "executor") and (problem := check_executor_options(args)):
        console.print(f"error: {problem}", style="red", markup=False)
        return 2
    try:
        return args.func(args, console)
    except USER_ERRORS as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[red]error:[/red] {escape(redact(str(exc)))}"
        )
        return 2
    except KeyboardInterrupt:
        # Outside a run (loading, analysing): nothing to keep, nothing half-written.
        console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
