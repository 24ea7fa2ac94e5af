"""Trajectories -> a turn table: one row per run x turn, with what git and the tool log
recorded. This is the only place that walks the records one by one; everything after it
works on whole columns.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable

import pandas as pd

from stickiness.agents.git_commands import attempted_actions
from stickiness.agents.redact import redact
from stickiness.agents.trajectory import Trajectory
from stickiness.analysis.claim_check import Review, check_turn
from stickiness.scenarios.model import TRUTH_BEHAVIOURS

OVERUSE_TOOLS = frozenset({"search", "run_tests"})
# Attempts to commit or push, whatever came of them (a call its sandbox or permission
# layer then blocked still counts as an attempt; whether it happened is read from git).
__all__ = ["attempted_actions", "turn_table"]


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
TURN_COLUMNS = [
    "turn",
    "phrasing",
    "requests",
    "forbids",
    "requires",
    "clears",
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
    "commit_attempted",
    "push_attempted",
    "reply",
    "added",
    "record",
    "false_claims",
    "answer",
    "unknowable",
    "looked",
]
_EMPTY_TURN = {"turn": 0, "phrasing": 0}


def _added_lines(diff: str) -> str:
    return "\n".join(
        line[1:]
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    )


def _as_record(t: Trajectory | dict) -> dict:
    return t.model_dump() if isinstance(t, Trajectory) else t


def _no_hooks(scenario_file: str, hook: str) -> bool:
    return False


def turn_table(
    trajectories: Iterable[Trajectory | dict],
    keep_turns_for: Callable[[str, str], bool] = _no_hooks,
    review: Review | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(turns, detectors): the turn table and one row per run x declared detector.

    Takes `Trajectory` objects or the validated dicts of
    `stickiness.agents.trajectory_reader.iter_records` (other dicts are not checked here), and
    streams: each record is reduced to its columns and dropped, so memory grows with
    the table, not with the transcripts. A run that failed before its first turn gets a
    single row with turn 0, so it is still counted. Reply text and added lines are kept
    only for runs whose detectors read them, and whole turns (column `record`) only for
    runs with a hook detector for which `keep_turns_for(scenario_file, hook)` is true.
    `review` (a model judge) corrects the claims and answers read from the replies of
    runs that probe the second axis.
    """
    # The cyclic garbage collector would rescan the growing column lists again and
    # again; nothing built here forms cycles, so it is paused for the loop.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _turn_table(trajectories, keep_turns_for, review)
    finally:
        if collecting:
            gc.enable()


def _turn_table(
    trajectories: Iterable[Trajectory | dict],
    keep_turns_for: Callable[[str, str], bool],
    review: Review | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs: dict[str, list] = {k: [] for k in RUN_FIELDS}
    cols: dict[str, list] = {k: [] for k in ["run", *TURN_COLUMNS]}
    det_rows = []
    for index, t in enumerate(map(_as_record, trajectories)):
        for f in RUN_FIELDS:
            runs[f].append(t.get(f))
        fenced: set[str] = set()
        detectors = t.get("detectors") or []
        for d in detectors:
            det_rows.append({**d, "run_id": t["run_id"], "scenario_file": t["scenario_file"]})
            fenced.update(d.get("files") or ())
        keep_records = any(
            d.get("hook") and keep_turns_for(t["scenario_file"], d["hook"]) for d in detectors
        )
        keep_reply = any(d.get("pattern") and d.get("in", "reply") == "reply" for d in detectors)
        keep_added = any(d.get("pattern") and d.get("in") == "edits" for d in detectors)
        # Replies are read for claims and answers only where the scenario probes them.
        truth_run = t.get("behaviour") in TRUTH_BEHAVIOURS
        declared = t.get("claim_patterns") or ()
        for turn in t.get("turns") or [_EMPTY_TURN]:
            requests = turn.get("requests") or []
            changed = turn.get("files_changed") or []
            asked = {r[5:] for r in requests if r.startswith("edit:")}
            unasked = [f for f in changed if f not in asked] if asked else changed
            overuse, texts, tried = 0, [], set()
            for m in turn.get("messages") or ():
                if m.get("role") == "assistant":
                    if keep_reply and m.get("content"):
                        texts.append(m["content"])
                    for c in m.get("tool_calls") or ():
                        overuse += c["name"] in OVERUSE_TOOLS
                        tried |= attempted_actions(c)
            commits = turn.get("commits") or ()
            cols["run"].append(index)
            cols["turn"].append(turn["turn"])
            cols["phrasing"].append(turn["phrasing"])
            cols["requests"].append(requests)
            cols["forbids"].append(turn.get("forbids") or [])
            cols["requires"].append(turn.get("requires") or [])
            cols["clears"].append(turn.get("clears") or [])
            cols["asked"].append(sorted(asked - {"*"}))
            cols["files_changed"].append(changed)
            cols["unasked_changed"].append(unasked)
            # Edit scope: "*" lets the agent touch anything; files a detector watches
            # (the previous task's, say) are that detector's business, not scope's.
            cols["out_of_scope"].append(
                0 if "*" in asked else sum(f not in fenced for f in unasked)
            )
            cols["n_changed"].append(len(changed))
            cols["n_commits"].append(len(commits))
            # Model-written text bound for events.csv: no key in it, even from a file
            # written elsewhere.
            cols["commits"].append(
                redact(
                    "; ".join(
                        f"{c['sha'][:7]} {c['message']!r} ({', '.join(c['files'])})"
                        for c in commits
                    )
                )
                if commits
                else ""
            )
            cols["n_pushes"].append(len(turn.get("pushes") or ()))
            cols["unpushed_before"].append(turn.get("unpushed_before", 0))
            cols["dirty_before"].append(turn.get("dirty_before", False))
            cols["n_overuse"].append(overuse)
            cols["commit_attempted"].append("commit" in tried)
            cols["push_attempted"].append("push" in tried)
            cols["reply"].append("\n".join(texts))
            cols["added"].append(_added_lines(turn.get("diff") or "") if keep_added else "")
            cols["record"].append(turn if keep_records else None)
            truth = (
                check_turn(turn, declared, review)
                if truth_run and turn.get("turn", 0) > 0
                else None
            )
            asks = turn.get("asks") or {}
            cols["false_claims"].append(truth.false_claims if truth else 0)
            cols["answer"].append(truth.answer if truth else None)
            cols["unknowable"].append(bool(asks.get("unknowable")))
            cols["looked"].append(truth.looked if truth else False)
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
    turns = pd.DataFrame(cols)
    # Run fields joined once, column-wise, instead of appended for every turn.
    run_frame = pd.DataFrame(runs).take(turns.pop("run").to_numpy()).reset_index(drop=True)
    return pd.concat([run_frame, turns], axis=1), detectors
