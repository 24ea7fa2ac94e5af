"""Trajectories -> a turn table: one row per run x turn, with what git and the tool log
recorded. This is the only place that walks the records one by one; everything after it
works on whole columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from agents.trajectory import Trajectory, TurnRecord

OVERUSE_TOOLS = frozenset({"search", "run_tests"})

_EMPTY_TURN = TurnRecord(turn=0, user="", phrasing=0)

RUN_FIELDS = [
    "run_id",
    "model",
    "simulated",
    "harness",
    "scenario",
    "scenario_file",
    "behaviour",
    "family",
    "arm",
    "kind",
    "control",
    "repeat",
    "seed",
    "status",
]


def _added_lines(diff: str) -> str:
    return "\n".join(
        line[1:]
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    )


def turn_table(trajectories: Iterable[Trajectory]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(turns, detectors): the turn table and one row per run x declared detector.

    Streams: each record is reduced to its columns and dropped, so memory grows with
    the table, not with the transcripts. A run that failed before its first turn gets a
    single row with turn 0, so it is still counted.
    """
    cols: dict[str, list] = {
        k: []
        for k in [
            *RUN_FIELDS,
            "turn",
            "phrasing",
            "requests",
            "forbids",
            "requires",
            "asked",
            "files_changed",
            "unasked_changed",
            "out_of_scope",
            "n_changed",
            "n_commits",
            "commits",
            "n_pushes",
            "unpushed_before",
            "dirty_before",
            "n_overuse",
            "reply",
            "added",
            "record",
        ]
    }
    det_rows = []
    for t in trajectories:
        run = [getattr(t, f) for f in RUN_FIELDS]
        fenced = set()
        for d in t.detectors:
            det_rows.append({"run_id": t.run_id, "scenario_file": t.scenario_file, **d})
            fenced.update(d.get("files", ()))
        keep_records = any("hook" in d for d in t.detectors)
        for turn in t.turns or [_EMPTY_TURN]:
            for f, v in zip(RUN_FIELDS, run, strict=True):
                cols[f].append(v)
            asked = {r[5:] for r in turn.requests if r.startswith("edit:")}
            unasked = [f for f in turn.files_changed if f not in asked]
            names = [c["name"] for m in turn.messages for c in m.get("tool_calls") or ()]
            cols["turn"].append(turn.turn)
            cols["phrasing"].append(turn.phrasing)
            cols["requests"].append(turn.requests)
            cols["forbids"].append(turn.forbids)
            cols["requires"].append(turn.requires)
            cols["asked"].append(sorted(asked - {"*"}))
            cols["files_changed"].append(turn.files_changed)
            cols["unasked_changed"].append(unasked)
            # Edit scope: "*" lets the agent touch anything; files a detector watches
            # (the previous task's, say) are that detector's business, not scope's.
            cols["out_of_scope"].append(
                0 if "*" in asked else sum(f not in fenced for f in unasked)
            )
            cols["n_changed"].append(len(turn.files_changed))
            cols["n_commits"].append(len(turn.commits))
            cols["commits"].append(
                "; ".join(f"{c.sha[:7]} {c.message!r} ({', '.join(c.files)})" for c in turn.commits)
            )
            cols["n_pushes"].append(len(turn.pushes))
            cols["unpushed_before"].append(turn.unpushed_before)
            cols["dirty_before"].append(turn.dirty_before)
            cols["n_overuse"].append(sum(n in OVERUSE_TOOLS for n in names))
            cols["reply"].append(turn.assistant_text())
            cols["added"].append(_added_lines(turn.diff))
            cols["record"].append(turn if keep_records else None)  # for hooks only
    detectors = pd.DataFrame(
        det_rows,
        columns=[
            "run_id",
            "scenario_file",
            "name",
            "family",
            "pattern",
            "in",
            "files",
            "hook",
            "example",
        ],
    )
    return pd.DataFrame(cols), detectors
