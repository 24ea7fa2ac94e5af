"""`stickiness run`: play the scenarios into a run folder, then analyse and report.

A run folder is defined by its plan (scenarios, models, repeats, seed, harness, step
limit), saved in `run.json`. `--resume` finishes a folder with that plan and no other;
a new run never writes into a folder that already holds one.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from stickiness.agents.harness import HARNESSES, get_harness
from stickiness.agents.leftovers import remove_stale_sandboxes
from stickiness.agents.models import CallOptions, ModelSpecError, ResponseCache, check_model
from stickiness.agents.pricing import load_prices
from stickiness.agents.run_store import TRAJECTORIES, RunStore
from stickiness.agents.runner import DEFAULT_MAX_STEPS, DEFAULT_TURN_TIMEOUT, RunOptions, plan_runs
from stickiness.agents.scheduler import RunsInterrupted, run_all, runs_to_play
from stickiness.agents.trajectory import TrajectoryError
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.analysis.observe import trusted_hooks
from stickiness.reports.analysis_commands import (
    JudgeUse,
    add_analysis_options,
    add_verbose_option,
    analyse_and_report,
    check_judge_option,
    settings_from,
)
from stickiness.reports.executor_options import (
    add_executor_options,
    executor_for,
    local_limits,
)
from stickiness.reports.interrupts import report_interrupted, stop_on_signals
from stickiness.reports.progress import run_progress
from stickiness.scenarios import builtin_scenario_dir, load_scenarios

DEFAULT_MODELS = ["sim:steady", "sim:sticky"]
DEFAULT_REPEATS = 10
DEFAULT_CONCURRENCY = 4
RUNS_DIR = Path("stickiness-runs")
RUN_CONFIG = "run.json"
AGENT_TRANSCRIPTS = "agent-transcripts"  # agent CLIs' own session logs, one per run
# The plan of a run folder: given with --resume, they could only contradict run.json.
PLAN_OPTIONS = {
    "scenarios": "--scenarios",
    "model": "--model",
    "repeats": "--repeats",
    "seed": "--seed",
    "harness": "--harness",
    "max_steps": "--max-steps",
}


class RunFolderError(TrajectoryError):
    """A run folder cannot be used the way it was asked for."""


def default_scenarios() -> Path:
    local = Path("scenarios")
    has_files = local.is_dir() and any(local.glob("*.y*ml"))
    return local if has_files else builtin_scenario_dir()


def new_run_dir(base: Path = RUNS_DIR, prefix: str = "") -> Path:
    stamp = prefix + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path, n = base / stamp, 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def holds_a_run(folder: Path) -> bool:
    return any((folder / name).exists() for name in (RUN_CONFIG, TRAJECTORIES))


def refuse_used_folder(folder: Path, option: str, resume_hint: str) -> None:
    if holds_a_run(folder):
        raise RunFolderError(
            f"{option} {folder} already holds a run; {resume_hint}, or choose another {option}"
        )


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


def _saved_config(run_dir: Path) -> dict:
    path = run_dir / RUN_CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise RunFolderError(f"{path}: cannot read the run's settings to resume") from None
    types = {"scenarios": list, "models": list, "repeats": int, "seed": int, "harness": str}
    for key, kind in types.items():
        if not isinstance(config.get(key), kind):
            raise RunFolderError(
                f"{path}: field {key}: expected {kind.__name__}; is this a run folder?"
            )
    config.setdefault("max_steps", DEFAULT_MAX_STEPS)
    return config


def run_config(args: argparse.Namespace) -> dict:
    """The plan: saved in the folder for `--resume`, else from the options."""
    if args.resume:
        given = [flag for name, flag in PLAN_OPTIONS.items() if getattr(args, name) is not None]
        if given:
            raise RunFolderError(
                f"--resume replays the settings saved in {Path(args.resume) / RUN_CONFIG}; "
                f"{given[0]} cannot change them: start a new run folder for other settings"
            )
        if args.out:
            raise RunFolderError("--resume writes into RUN_DIR itself; leave out --out")
        return _saved_config(Path(args.resume))
    aliases = _aliases()
    return {
        "scenarios": [str(p) for p in (args.scenarios or [default_scenarios()])],
        "models": [aliases.get(m, m) for m in (args.model or DEFAULT_MODELS)],
        "repeats": DEFAULT_REPEATS if args.repeats is None else args.repeats,
        "seed": 0 if args.seed is None else args.seed,
        "harness": args.harness or "minimal",
        "max_steps": DEFAULT_MAX_STEPS if args.max_steps is None else args.max_steps,
    }


def run_options(args: argparse.Namespace, **extra) -> RunOptions:
    """How runs reach their models, from the options `add_call_options` defines."""
    return RunOptions(
        call=CallOptions(timeout=args.timeout, max_retries=args.max_retries),
        turn_timeout=args.turn_timeout,
        run_retries=args.run_retries,
        cache=ResponseCache(Path(args.cache)) if args.cache else None,
        prices=load_prices(Path("pyproject.toml")),
        limits=local_limits(args),
        **extra,
    )


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from(args)
    check_judge_option(args)
    config = run_config(args)
    options = run_options(args, max_steps=config["max_steps"], keep_workspaces=args.keep_workspaces)
    scenarios = load_scenarios(config["scenarios"])
    models = [check_model(m, options.call) for m in config["models"]]
    get_harness(config["harness"])
    specs = plan_runs(scenarios, models, config["repeats"], config["seed"], config["harness"])
    if args.resume:
        run_dir = Path(args.resume)
        if not run_dir.is_dir():
            raise RunFolderError(f"--resume {run_dir}: no such run folder")
    elif args.out:
        run_dir = Path(args.out)
        hint = f"continue it with `stickiness run --resume {run_dir}`"
        refuse_used_folder(run_dir, "--out", hint)
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = new_run_dir()
    remove_stale_sandboxes()
    options = replace(options, transcripts=run_dir / AGENT_TRANSCRIPTS)
    out_file = run_dir / TRAJECTORIES
    resume_hint = f"stickiness run --resume {run_dir}"
    with RunStore(out_file) as store, stop_on_signals() as signals:
        for w in store.warnings:
            console.print(f"[yellow]warning[/yellow]: {escape(w)}")
        if not args.resume:
            (run_dir / RUN_CONFIG).write_text(json.dumps(config, indent=2) + "\n", "utf-8")
        recorded = store.recorded()
        todo, again = runs_to_play(specs, recorded, retry_errors=args.retry_errors)
        store.set_aside(again)
        done = len(specs) - len(todo)
        console.print(
            f"{len(scenarios)} scenarios x {len(models)} models x {config['repeats']} repeats "
            f"= {len(specs)} runs"
            + (f", {done} already done" if done else "")
            + (f", {len(again)} played again after an error" if again else "")
            + f" -> {escape(str(out_file))}"
        )
        try:
            with executor_for(args) as executor:
                _play(todo, store, options, args.concurrency, console, executor)
        except RunsInterrupted as exc:
            return report_interrupted(console, exc, out_file, resume_hint, signals.exit_code)
    trajectories, _ = read_trajectories(out_file) if out_file.exists() else ([], [])
    judge = JudgeUse(args, run_dir)
    # The scenarios were loaded here, by the user's own command: their hooks may run.
    code = analyse_and_report(
        trajectories,
        run_dir,
        judge.settings(settings),
        console,
        trusted_hooks(scenarios),
        args.verbose,
    )
    judge.print(console)
    return code


def _play(todo, store: RunStore, options: RunOptions, concurrency: int, console, executor) -> None:
    with run_progress(console, len(todo)) as advance:
        run_all(todo, store, options, concurrency=concurrency, on_done=advance, executor=executor)


def add_call_options(parser: argparse.ArgumentParser) -> None:
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
        "--run-retries",
        type=int,
        default=3,
        metavar="N",
        help="times a model call that failed transiently (outage, rate limit, timeout) "
        "is tried again after a longer backoff, and a run that still failed is played "
        "again (default 3)",
    )
    parser.add_argument(
        "--turn-timeout",
        type=float,
        default=DEFAULT_TURN_TIMEOUT,
        metavar="SECONDS",
        help=f"wall-clock budget of one user turn (default {DEFAULT_TURN_TIMEOUT:.0f})",
    )
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help="cache model responses on disk, keyed on the exact request: "
        "re-runs with the same seeds cost nothing",
    )
    add_executor_options(parser)


def add_run_parser(sub) -> None:
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
        metavar="N",
        help=f"seeded repeats per scenario and model (default {DEFAULT_REPEATS})",
    )
    run.add_argument("--seed", type=int, help="base seed (default 0)")
    run.add_argument(
        "--harness",
        choices=sorted(HARNESSES),
        help="system prompt and tool set (default minimal)",
    )
    run.add_argument("--out", metavar="DIR", help="new run folder (default stickiness-runs/<time>)")
    run.add_argument(
        "--max-steps",
        type=int,
        metavar="N",
        help=f"model calls allowed per turn (default {DEFAULT_MAX_STEPS})",
    )
    add_call_options(run)
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="finish a run folder with the settings it was started with: plays the runs "
        "that are missing, were stopped, or failed transiently",
    )
    run.add_argument(
        "--retry-errors",
        action="store_true",
        help="with --resume: also play again the runs that ended in any other error",
    )
    run.add_argument(
        "--keep-workspaces",
        action="store_true",
        help="keep each run's git workspace for inspection",
    )
    add_analysis_options(run)
    add_verbose_option(run)
    run.set_defaults(func=cmd_run)
