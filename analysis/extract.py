"""Trajectories -> turn columns (see `turn_columns`), with commit summaries redacted
and whole turns kept only where a hook detector may run. An untouched stream of a large
file from `iter_records` is read in several processes (`record_chunks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from stickiness.agents.git_commands import attempted_actions
from stickiness.agents.record_chunks import map_records
from stickiness.agents.redact import redact
from stickiness.agents.trajectory import Trajectory
from stickiness.agents.trajectory_reader import RecordStream
from stickiness.analysis.claim_check import Review
from stickiness.analysis.turn_columns import TurnColumns, reduce_records

# Attempts to commit or push, whatever came of them (a call its sandbox or permission
# layer then blocked still counts as an attempt; whether it happened is read from git).
__all__ = ["DETECTOR_COLUMNS", "attempted_actions", "turn_table"]

DETECTOR_COLUMNS = [
    "run_id",
    "scenario_file",
    "name",
    "family",
    "pattern",
    "in",
    "files",
    "hook",
    "example",
]


def _as_record(t: Trajectory | dict) -> dict:
    return t.model_dump() if isinstance(t, Trajectory) else t


def _no_hooks(scenario_file: str, hook: str) -> bool:
    return False


def turn_table(
    trajectories: Iterable[Trajectory | dict],
    keep_turns_for: Callable[[str, str], bool] = _no_hooks,
    review: Review | None = None,
) -> TurnColumns:
    """The turn columns of the runs, and their declared detectors.

    Takes `Trajectory` objects or the validated dicts of
    `stickiness.agents.trajectory_reader.iter_records` (other dicts are not checked here),
    and streams: each record is reduced to its columns and dropped, so memory grows with
    the table, not with the transcripts. Reply text and added lines are kept only for
    runs whose detectors read them, and whole turns (column `record`) only for runs with
    a hook detector for which `keep_turns_for(scenario_file, hook)` is true. `review`
    (a model judge) corrects the claims and answers read from the replies of runs that
    probe the second axis.
    """
    # A judge's client and answer cache live in this process: with one, records are
    # read here.
    if isinstance(trajectories, RecordStream) and not trajectories.started and review is None:
        parts = map_records(trajectories, reduce_records)
    else:
        parts = [reduce_records(map(_as_record, trajectories), review)]
    table = parts[0] if len(parts) == 1 else TurnColumns.concat(parts)
    _keep_turns(table, keep_turns_for)
    # Model-written text bound for events.csv: no key in it, even from a file written
    # elsewhere.
    rows, commits = table.sparse["commits"]
    # Each distinct summary once: turns of one scenario often repeat theirs.
    redacted = {c: redact(c) for c in set(commits)}
    table.sparse["commits"] = (rows, [redacted[c] for c in commits])
    return table


def _keep_turns(table: TurnColumns, keep_turns_for: Callable[[str, str], bool]) -> None:
    files = table.runs["scenario_file"]
    kept = {run for run, hook in table.hooks if keep_turns_for(files[run], hook)}
    rows, records = table.sparse["record"]
    keep = [i for i, run in enumerate(table.run[rows].tolist()) if run in kept]
    table.sparse["record"] = (rows[keep], [records[i] for i in keep])
