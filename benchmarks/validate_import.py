"""How well `stickiness import` reads real sessions: figures against a hand-labelled set.

Usage: python benchmarks/validate_import.py [--judge SPEC] [--repeats N]

1. Gold set (benchmarks/gold: real Claude Code and Codex sessions under free licences,
   every commit and push labelled requested / unrequested by hand). For each commit
   that ran, the importer's verdict (unrequested: neither requested nor under a standing
   rule in that turn) against the hand label: precision and recall of "unrequested
   commit", for the rule layer and, with --judge, rules + judge; and the unrequested
   rate the import reports against the gold rate. Also per typed turn, whether the
   inferred request / forbid / standing rule matches the hand label.
2. Round trip on the scenario library: simulated runs exported as Claude Code logs and
   Codex rollouts, imported with no labels (how often the rules recover the scenarios'
   own annotations) and with the scenarios' annotations given back (events identical).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from stickiness.agents.imported.build import build_trajectory
from stickiness.agents.imported.export_logs import EXPORT_NAMESPACE, to_claude_code, to_codex
from stickiness.agents.imported.intent import infer_intents
from stickiness.agents.imported.judge import Judge
from stickiness.agents.imported.labels import label_of
from stickiness.agents.imported.session import LoggedSession
from stickiness.agents.imported.sources import find_logs, reader
from stickiness.agents.models import ModelSpec
from stickiness.agents.runner import RunOptions, plan_runs, run_one
from stickiness.analysis.observe import observe
from stickiness.scenarios import builtin_scenario_dir, load_scenarios

GOLD = Path(__file__).parent / "gold"
BEHAVIOURS = ("commit", "push")


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _import_gold(judge: Judge | None) -> dict[str, tuple[LoggedSession, object]]:
    """file name -> (session, trajectory)."""
    logs, problems = find_logs([GOLD / "sessions"])
    for line in problems:
        print(f"skipped: {line}", file=sys.stderr)
    out = {}
    for path, fmt in logs:
        for session in reader(fmt)(path):
            intents = infer_intents(session.turns)
            if judge is not None:
                judge.label(session.turns, intents)
            out[path.name] = (session, build_trajectory(session, intents))
    return out


def _verdicts(imported: dict) -> dict[tuple[str, str], tuple[str, bool]]:
    """(file, call id) -> (importer's label of the commit, whether it saw it happen)."""
    out = {}
    for name, (_, run) in imported.items():
        ev = observe([run])
        ev = ev[ev["behaviour"] == "commit"].set_index("turn")
        for turn in run.turns:
            row = ev.loc[turn.turn]
            asked = bool(row["requested"] or row["required"])
            for call in turn.tool_calls():
                out[(name, call.id)] = (
                    "requested" if asked else "unrequested",
                    bool(row["happened"]),
                )
    return out


def _precision_recall(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """pairs of (gold, predicted); positive = unrequested."""
    tp = sum(g == p == "unrequested" for g, p in pairs)
    fp = sum(g == "requested" and p == "unrequested" for g, p in pairs)
    fn = sum(g == "unrequested" and p == "requested" for g, p in pairs)
    gold_rate = sum(g == "unrequested" for g, _ in pairs) / len(pairs)
    seen_rate = sum(p == "unrequested" for _, p in pairs) / len(pairs)
    return {
        "n": len(pairs),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "gold_rate": gold_rate,
        "imported_rate": seen_rate,
        "abs_error": abs(seen_rate - gold_rate),
    }


def gold_figures(judge: Judge | None) -> tuple[dict, dict, int]:
    imported = _import_gold(judge)
    verdicts = _verdicts(imported)
    pairs, missed = [], 0
    for row in _read_csv(GOLD / "actions.csv"):
        if row["action"] != "commit" or row["label"] not in ("requested", "unrequested"):
            continue
        seen = verdicts.get((row["file"], row["call_id"]))
        if seen is None or not seen[1]:
            missed += 1  # a commit the importer did not see happen
            continue
        pairs.append((row["label"], seen[0]))
    agreement: Counter = Counter()
    by_ref = {
        (name, turn.ref): annotated
        for name, (session, run) in imported.items()
        for turn, annotated in zip(session.turns, run.turns, strict=True)
    }
    for row in _read_csv(GOLD / "turns.csv"):
        turn = by_ref.get((row["file"], row["user_uuid"]))
        if turn is None:
            agreement["turn not found"] += 1
            continue
        for field in ("requests", "forbids", "requires"):
            expected = set(row[field].split())
            got = set(getattr(turn, field)) & set(BEHAVIOURS)
            agreement[f"{field} match"] += expected == got
            agreement[f"{field} total"] += 1
    return _precision_recall(pairs), agreement, missed


def _labels(run) -> list[tuple[int, str, str]]:
    return [(t.turn, b, label_of(t, b)) for t in run.turns for b in BEHAVIOURS]


def round_trip(repeats: int) -> dict[str, dict[str, float]]:
    scenarios = load_scenarios([builtin_scenario_dir()])
    specs = [ModelSpec.parse(s) for s in ("sim:sticky", "sim:steady", "sim:forgetful")]
    runs = [run_one(spec, RunOptions()) for spec in plan_runs(scenarios, specs, repeats)]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, write in (("claude-code", to_claude_code), ("codex", to_codex)):
            agree = total = 0
            for run in runs:
                path = Path(tmp) / f"{uuid.uuid5(EXPORT_NAMESPACE, run.run_id)}.jsonl"
                lines = write(run)
                path.write_text("".join(json.dumps(x) + "\n" for x in lines))
                (session,) = reader(fmt)(path)
                back = build_trajectory(session, infer_intents(session.turns))
                for want, got in zip(_labels(run), _labels(back), strict=True):
                    agree += want == got
                    total += 1
            out[fmt] = {"runs": len(runs), "labels": total, "agreement": agree / total}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judge", metavar="SPEC", help="also measure rules + this judge")
    parser.add_argument("--repeats", type=int, default=2, help="library repeats for the round trip")
    args = parser.parse_args()
    console = Console()
    table = Table(title="Unrequested commits: importer against the hand labels")
    for col in (
        "layers",
        "commits",
        "precision",
        "recall",
        "gold rate",
        "imported rate",
        "abs error",
    ):
        table.add_column(col, justify="right")
    layers = [("rules", None)]
    if args.judge:
        with tempfile.TemporaryDirectory() as cache:
            layers.append(("rules + judge", Judge(args.judge, Path(cache))))
            results = [(name, gold_figures(j)) for name, j in layers]
    else:
        results = [(name, gold_figures(j)) for name, j in layers]
    for name, (f, _, _) in results:
        table.add_row(
            name,
            str(f["n"]),
            f"{f['precision']:.0%}",
            f"{f['recall']:.0%}",
            f"{f['gold_rate']:.0%}",
            f"{f['imported_rate']:.0%}",
            f"{f['abs_error'] * 100:.1f} pts",
        )
    console.print(table)
    if not args.judge:
        console.print("rules + judge: not measured (pass --judge openai:MODEL with its key set)")
    _, agreement, missed = results[0][1]
    console.print(f"commits that ran but the importer did not see: {missed}")
    for field in ("requests", "forbids", "requires"):
        total = agreement[f"{field} total"]
        console.print(
            f"typed turns whose {field} match the hand label: "
            f"{agreement[f'{field} match']}/{total} ({agreement[f'{field} match'] / total:.0%})"
        )
    if agreement["turn not found"]:
        console.print(
            f"hand-labelled turns not found as typed turns: {agreement['turn not found']}"
        )
    trip = Table(title="Round trip on the scenario library (simulated runs, rules only)")
    for col in ("format", "runs", "turn x behaviour labels", "rules agree with the scenario"):
        trip.add_column(col, justify="right")
    for fmt, f in round_trip(args.repeats).items():
        trip.add_row(fmt, str(f["runs"]), str(f["labels"]), f"{f['agreement']:.1%}")
    console.print(trip)
    return 0


if __name__ == "__main__":
    sys.exit(main())
