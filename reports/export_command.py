"""`stickiness export`: a run folder's trajectories in another tool's format.

ATIF (Harbor's trajectory format, one `<run id>.json` each), Claude Code session logs
(`<project>/<session>.jsonl`, as under `~/.claude/projects`) or Codex rollouts
(`sessions/YYYY/MM/DD/rollout-...-<id>.jsonl`, as under `~/.codex`).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from stickiness.agents.imported.atif import to_atif
from stickiness.agents.imported.export_logs import to_claude_code, to_codex
from stickiness.agents.run_store import TRAJECTORIES
from stickiness.agents.trajectory import Trajectory
from stickiness.agents.trajectory_reader import read_trajectories

EXPORT_FORMATS = ("atif", "claude-code", "codex")


def add_export_parser(sub) -> None:
    p = sub.add_parser(
        "export", help="write a run folder's runs as ATIF, Claude Code or Codex logs"
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder or trajectories.jsonl")
    p.add_argument(
        "--as",
        dest="fmt",
        required=True,
        choices=EXPORT_FORMATS,
        help="log format to write: " + ", ".join(EXPORT_FORMATS),
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    p.set_defaults(func=cmd_export)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:100] or "run"


def _jsonl(lines: list[dict]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def export_run(run: Trajectory, fmt: str, out: Path) -> Path:
    if fmt == "atif":
        path = out / f"{_safe(run.run_id)}.json"
        text = json.dumps(to_atif(run), ensure_ascii=False, indent=1)
    elif fmt == "claude-code":
        lines = to_claude_code(run)
        path = (
            out
            / _safe(run.scenario)
            / f"{lines[0]['sessionId'] if lines else _safe(run.run_id)}.jsonl"
        )
        text = _jsonl(lines)
    else:
        lines = to_codex(run)
        day = (run.started_at or "2026-01-01")[:10].split("-")
        session = lines[0]["payload"]["id"]
        path = (
            out
            / "sessions"
            / Path(*day)
            / f"rollout-{_safe(run.started_at[:19] or 'run')}-{session}.jsonl"
        )
        text = _jsonl(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    path = Path(args.run_dir)
    runs, warnings = read_trajectories(path / TRAJECTORIES if path.is_dir() else path)
    for w in warnings:
        console.print(f"[yellow]warning[/yellow]: {escape(w)}")
    out = Path(args.out)
    written = [export_run(run, args.fmt, out) for run in runs if run.turns]
    console.print(f"wrote {len(written)} {args.fmt} logs under {escape(str(out))}")
    return 0
