"""The hand-labelled sessions of benchmarks/gold import cleanly, and every labelled commit
or push call is found where the labels say (the validation's figures rest on it)."""

from __future__ import annotations

import csv
from pathlib import Path

from stickiness.agents.run_store import TRAJECTORIES
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.reports.cli import main

GOLD = Path(__file__).parents[1] / "benchmarks" / "gold"


def test_gold_sessions_import_and_hold_every_labelled_call(tmp_path, capsys):
    out = tmp_path / "gold"
    assert main(["import", str(GOLD / "sessions"), "--out", str(out)]) == 0
    assert "skipped" not in capsys.readouterr().out
    runs, _ = read_trajectories(out / TRAJECTORIES)
    calls = {c.id for r in runs for t in r.turns for c in t.tool_calls()}
    with open(GOLD / "actions.csv", newline="") as fh:
        labelled = list(csv.DictReader(fh))
    assert len(labelled) >= 50
    assert {row["call_id"] for row in labelled} <= calls
    commits = sum(len(t.commits) for r in runs for t in r.turns)
    ran = {row["call_id"] for row in labelled if row["action"] == "commit"}
    ran -= {row["call_id"] for row in labelled if row["label"] in ("failed", "refused")}
    assert commits >= len(ran) - 1  # one commit's output was trimmed from the gold copy
