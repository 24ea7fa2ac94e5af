"""`stickiness import`: a person's own agent sessions as a run folder.

Reads the logs, infers per turn what was asked (rules, then the optional judge, then
the person's own corrections), turns each session into a trajectory and writes them
to RUN_DIR/trajectories.jsonl, which `analyse`, `report` and `gate` read as they read
played runs. Importing again into the same folder replaces the sessions it holds.
Writes RUN_DIR/review.csv: the turns whose label decides an unrequested commit or push.
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from stickiness.agents.imported.build import Privacy, build_trajectory, pattern_scrubber, run_id_of
from stickiness.agents.imported.intent import infer_intents
from stickiness.agents.imported.judge import Judge, JudgeError
from stickiness.agents.imported.labels import LabelsError, apply_labels, read_labels
from stickiness.agents.imported.repo_check import RepoError, Repository, check_commits
from stickiness.agents.imported.session import LogError, LoggedSession
from stickiness.agents.imported.sources import FORMATS, find_logs, reader
from stickiness.agents.models.remote import CallOptions
from stickiness.agents.redact import redact
from stickiness.agents.run_store import TRAJECTORIES, RunStore
from stickiness.agents.trajectory import Trajectory
from stickiness.analysis.observe import observe
from stickiness.analysis.review import review_rows, write_review
from stickiness.scenarios.patterns import PatternError, compile_pattern

REVIEW = "review.csv"
IMPORT_ERRORS = (LogError, JudgeError, LabelsError, RepoError)


class ImportOptionError(ValueError):
    """An option of `stickiness import` is not usable; the message names it."""


def add_import_parser(sub) -> None:
    p = sub.add_parser(
        "import",
        help="import your own agent sessions (Claude Code, Codex, ...) as a run folder",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="session log files or folders")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to write")
    p.add_argument("--format", choices=FORMATS, help="read every source as this format")
    p.add_argument("--repo", metavar="PATH", help="check commits against this repository")
    p.add_argument(
        "--judge", metavar="SPEC", help="openai:MODEL or anthropic:MODEL that labels turns"
    )
    p.add_argument("--labels", metavar="FILE", help="review.csv with correct_label filled in")
    p.add_argument(
        "--redact",
        action="append",
        default=[],
        metavar="PATTERN",
        help="also remove text matching this pattern (RE2; repeatable)",
    )
    p.add_argument(
        "--omit-text",
        action="store_true",
        help="keep no message text, only actions (git commands stay readable)",
    )
    p.add_argument("--since", metavar="DATE", help="only sessions started on or after DATE")
    p.add_argument("--until", metavar="DATE", help="only sessions started before DATE")
    p.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_import)


def _date(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ImportOptionError(f"{option} {text!r}: expected a date such as 2026-11-01") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _in_window(session: LoggedSession, since: datetime | None, until: datetime | None) -> bool:
    if since is None and until is None:
        return True
    started = _date(session.started_at, "start") if session.started_at else None
    if started is None:
        return False  # undated sessions cannot be placed in a period
    return (since is None or started >= since) and (until is None or started < until)


def _privacy(args: argparse.Namespace) -> Privacy:
    scrubbers = []
    for text in args.redact:
        try:
            scrubbers.append(pattern_scrubber(compile_pattern(text)))
        except PatternError as exc:
            raise ImportOptionError(f"--redact {text!r}: {exc}") from None
    return Privacy(patterns=scrubbers, omit_text=args.omit_text)


def import_sessions(
    args: argparse.Namespace, console: Console
) -> tuple[list[Trajectory], list[str]]:
    out = Path(args.out)
    since, until = _date(args.since, "--since"), _date(args.until, "--until")
    privacy = _privacy(args)
    labels = read_labels(Path(args.labels)) if args.labels else {}
    repo = Repository.open(Path(args.repo).expanduser()) if args.repo else None
    judge = (
        Judge(args.judge, out / "judge-cache", CallOptions(timeout=args.timeout))
        if args.judge
        else None
    )
    logs, problems = find_logs([Path(s).expanduser() for s in args.sources], args.format)
    layers = _Layers(since, until, judge, labels, privacy, repo)
    runs: dict[str, Trajectory] = {}
    # A folder of a thousand sessions takes a while: say where it is.
    status = console.status("") if console.is_terminal else nullcontext()
    with status as spinner:
        for number, (path, fmt) in enumerate(logs, 1):
            if spinner is not None:
                spinner.update(escape(f"reading {number}/{len(logs)}: {path.name}"))
            _import_one(path, fmt, layers, runs, problems)
    if judge is not None:
        s = judge.stats
        console.print(
            f"judge {escape(judge.spec)}: {s.asked} turns labelled ({s.cached} from cache), "
            f"{s.unreadable} answers unreadable, {s.failed} calls failed (rules kept there)"
        )
    return list(runs.values()), problems


@dataclass
class _Layers:
    """How each session is read: the period kept, the annotation layers, the privacy
    applied and the repository checked against."""

    since: datetime | None
    until: datetime | None
    judge: Judge | None
    labels: dict
    privacy: Privacy
    repo: Repository | None


def _import_one(
    path: Path, fmt: str, layers: _Layers, runs: dict[str, Trajectory], problems: list[str]
) -> None:
    """The sessions of one log file, into `runs`; what cannot be read goes to `problems`."""
    try:
        sessions = reader(fmt)(path)
    except LogError as exc:
        problems.append(str(exc))
        return
    for session in sessions:
        if not _in_window(session, layers.since, layers.until):
            continue
        intents = infer_intents(session.turns)
        if layers.judge is not None:
            layers.judge.label(session.turns, intents)
        apply_labels(run_id_of(session), intents, layers.labels)
        try:
            run = build_trajectory(session, intents, layers.privacy)
        except ValueError as exc:  # a value the record cannot hold
            problems.append(f"{path}: session {session.session_id[:80]}: {str(exc)[:300]}")
            continue
        if layers.repo is not None:
            check_commits(run, layers.repo)
        # The same session found twice (a copied folder): the longer copy wins.
        held = runs.get(run.run_id)
        if held is None or len(run.turns) > len(held.turns):
            runs[run.run_id] = run


def cmd_import(args: argparse.Namespace, console: Console) -> int:
    try:
        runs, problems = import_sessions(args, console)
    except (*IMPORT_ERRORS, ImportOptionError) as exc:
        console.print(f"[red]error:[/red] {escape(redact(str(exc)))}")
        return 2
    for line in problems:
        console.print(f"[yellow]skipped[/yellow]: {escape(redact(line))}")
    if not runs:
        console.print("[red]error:[/red] no sessions to import", style="red")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with RunStore(out / TRAJECTORIES) as store:
        held = {r.run_id for r in store.recorded()}
        store.set_aside(held & {r.run_id for r in runs})
        for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
            store.append(run)
    rows = review_rows(runs, observe(runs))
    write_review(rows, out / REVIEW)
    turns = sum(len(r.turns) for r in runs)
    commits = sum(len(t.commits) for r in runs for t in r.turns)
    pushes = sum(len(t.pushes) for r in runs for t in r.turns)
    models = sorted({r.model for r in runs})
    console.print(
        f"imported {len(runs)} sessions ({turns} turns, {commits} commits, {pushes} pushes; "
        f"models: {escape(', '.join(models))}) into {escape(str(out / TRAJECTORIES))}"
    )
    console.print(
        f"review: {len(rows)} turns decide an unrequested commit or push; check them in "
        f"{escape(str(out / REVIEW))} (fill correct_label, then import again with --labels)"
    )
    console.print(f"next: stickiness report {escape(str(out))}")
    return 0
