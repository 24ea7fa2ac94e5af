"""Played runs exported as Claude Code logs, Codex rollouts and ATIF, then imported: what
happened comes back the same. Annotations are given back as the person's labels (the
scenarios' own), so every event can be compared; how well the rules alone recover
them is a figure of benchmarks/validate_import.py."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

import pytest

from stickiness.agents.imported.build import run_id_of
from stickiness.agents.imported.export_logs import EXPORT_NAMESPACE
from stickiness.agents.imported.labels import label_of
from stickiness.agents.imported.session import LoggedSession
from stickiness.agents.models import ModelSpec
from stickiness.agents.run_store import TRAJECTORIES, RunStore
from stickiness.agents.runner import RunOptions, plan_runs, run_one
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.analysis.observe import observe
from stickiness.reports.cli import main

COMPARED = [
    "requested",
    "forbidden",
    "required",
    "possible",
    "happened",
    "attempted",
    "unrequested",
    "unrequested_attempt",
    "violation",
    "forgotten",
]


@pytest.fixture(scope="module")
def played(builtin_scenarios, tmp_path_factory):
    chosen = [
        builtin_scenarios[s]
        for s in ("commit-once-then-edits", "commit-then-revoke", "commit-standing", "push-once")
    ]
    specs = [ModelSpec.parse("sim:sticky"), ModelSpec.parse("sim:steady")]
    runs = [run_one(spec, RunOptions()) for spec in plan_runs(chosen, specs, 2)]
    folder = tmp_path_factory.mktemp("played")
    with RunStore(folder / TRAJECTORIES) as store:
        for run in runs:
            store.append(run)
    return folder, runs


def imported_id(run, fmt: str) -> str:
    """The run id an exported run comes back with (ATIF keeps the session id)."""
    session = run.run_id if fmt == "atif" else str(uuid.uuid5(EXPORT_NAMESPACE, run.run_id))
    return run_id_of(LoggedSession(source="", format=fmt, session_id=session))


def scripted_labels(runs, fmt: str, path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["run_id", "turn", "behaviour", "correct_label"])
        for run in runs:
            run_id = imported_id(run, fmt)
            for turn in run.turns:
                for b in ("commit", "push"):
                    writer.writerow([run_id, turn.turn, b, label_of(turn, b)])


@pytest.mark.parametrize("fmt", ["claude-code", "codex", "atif"])
def test_export_then_import_gives_the_same_events(played, tmp_path, fmt):
    folder, runs = played
    assert main(["export", str(folder), "--as", fmt, "--out", str(tmp_path / "logs")]) == 0
    labels = tmp_path / "labels.csv"
    scripted_labels(runs, fmt, labels)
    out = tmp_path / "back"
    args = ["import", str(tmp_path / "logs"), "--out", str(out), "--labels", str(labels)]
    assert main(args) == 0
    back, _ = read_trajectories(out / TRAJECTORIES)
    assert len(back) == len(runs)
    ids = {imported_id(r, fmt): r.run_id for r in runs}
    by_id = {r.run_id: r for r in runs}
    for run in back:
        original = by_id[ids[run.run_id]]
        assert [t.user for t in run.turns] == [t.user for t in original.turns]
        assert [[c.sha[:7] for c in t.commits] for t in run.turns] == [
            [c.sha[:7] for c in t.commits] for t in original.turns
        ]
        assert [len(t.pushes) for t in run.turns] == [len(t.pushes) for t in original.turns]
    keys = ["run_id", "turn", "behaviour"]
    before = observe(runs)
    before = before[before["behaviour"].isin(["commit", "push"])]
    after = observe(back)
    after = after.assign(run_id=after["run_id"].map(ids))
    both = before[keys + COMPARED].merge(after[keys + COMPARED], on=keys, suffixes=("", "_back"))
    assert len(both) == len(before) > 0
    for column in COMPARED:
        assert (both[column] == both[f"{column}_back"]).all(), column
    assert both["unrequested"].any() and both["violation"].any()
