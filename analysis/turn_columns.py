"""Records -> turn columns: what each turn of each run did, one entry per run x turn.

This is the only place that walks the records one by one, and it may run in worker
processes (`record_chunks.map_records`), so it keeps to plain data: counts and flags in
numpy arrays, a turn's lists flattened into one list per column with a length per turn,
and texts that are mostly empty as (row, text) pairs. A run that failed before its first
turn gets a single row with turn 0, so it is still counted.

Commit summaries are left unredacted here: the secrets to redact are known to the
process that writes the outputs, not necessarily to a worker.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

import numpy as np

from stickiness.agents.git_commands import GIT_TOOLS, SHELL_TOOLS, attempted_actions
from stickiness.analysis.claim_check import Review, check_turn
from stickiness.scenarios.model import TRUTH_BEHAVIOURS

OVERUSE_TOOLS = frozenset({"search", "run_tests"})
# Only these calls can try to commit or push (see `attempted_actions`).
_GIT_CALLS = frozenset(GIT_TOOLS) | SHELL_TOOLS

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
COUNT_COLUMNS = [
    "turn",
    "phrasing",
    "out_of_scope",
    "n_changed",
    "n_commits",
    "n_pushes",
    "unpushed_before",
    "n_overuse",
    "false_claims",
]
FLAG_COLUMNS = ["dirty_before", "commit_attempted", "push_attempted", "unknowable", "looked"]
LIST_COLUMNS = ["requests", "forbids", "requires", "clears", "asked", "unasked_changed"]
# Empty (or None) on most turns: only the rows that have one are kept. `commits` is the
# unredacted summary, `answer` the label of a scored question, `record` the whole turn
# (kept for runs with a hook detector).
SPARSE_COLUMNS = ["commits", "reply", "added", "answer", "record"]
_EMPTY_TURN = {"turn": 0, "phrasing": 0}


@dataclass
class TurnColumns:
    runs: dict[str, list]  # RUN_FIELDS, one entry per run
    detectors: list[dict]  # one per run x declared detector, with run_id and scenario_file
    hooks: list[tuple[int, str]]  # (run, hook) for each hook detector
    run: np.ndarray  # per turn: the index of its run in `runs`
    values: dict[str, np.ndarray]  # COUNT_COLUMNS (int64) and FLAG_COLUMNS (bool), per turn
    lists: dict[str, tuple[np.ndarray, list[str]]]  # per turn its length; all items in order
    sparse: dict[str, tuple[np.ndarray, list]]  # rows that have a value, and the values

    @property
    def n_turns(self) -> int:
        return len(self.run)

    @property
    def n_runs(self) -> int:
        return len(self.runs["run_id"])

    def items(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(row, item) for every item of a list column, in order."""
        lengths, items = self.lists[column]
        values = np.empty(len(items), dtype=object)
        values[:] = items
        return np.repeat(np.arange(self.n_turns), lengths), values

    def dense(self, column: str, empty: object) -> list:
        """A sparse column with `empty` on the rows that have no value."""
        out = [empty] * self.n_turns
        for row, value in zip(*self.sparse[column], strict=True):
            out[row] = value
        return out

    @staticmethod
    def concat(parts: list[TurnColumns]) -> TurnColumns:
        runs_before = np.cumsum([0] + [p.n_runs for p in parts])
        turns_before = np.cumsum([0] + [p.n_turns for p in parts])
        first = parts[0] if parts else reduce_records(())
        return TurnColumns(
            runs={k: [v for p in parts for v in p.runs[k]] for k in RUN_FIELDS},
            detectors=[d for p in parts for d in p.detectors],
            hooks=[
                (run + int(runs_before[i]), h) for i, p in enumerate(parts) for run, h in p.hooks
            ],
            run=_joined([p.run + runs_before[i] for i, p in enumerate(parts)], np.int64),
            values={
                k: _joined([p.values[k] for p in parts], first.values[k].dtype)
                for k in first.values
            },
            lists={
                k: (
                    _joined([p.lists[k][0] for p in parts], np.int64),
                    [v for p in parts for v in p.lists[k][1]],
                )
                for k in LIST_COLUMNS
            },
            sparse={
                k: (
                    _joined([p.sparse[k][0] + turns_before[i] for i, p in enumerate(parts)]),
                    [v for p in parts for v in p.sparse[k][1]],
                )
                for k in SPARSE_COLUMNS
            },
        )


def _joined(arrays: list[np.ndarray], dtype: object = np.int64) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.empty(0, dtype=dtype)


def _added_lines(diff: str) -> str:
    return "\n".join(
        line[1:]
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    )


def reduce_records(records: Iterable[dict], review: Review | None = None) -> TurnColumns:
    """The turn columns of `records` (validated dicts: `iter_records`, or a
    `Trajectory`'s `model_dump()`). `review` (a model judge) corrects the claims and
    answers read from the replies of runs that probe the second axis."""
    # The cyclic garbage collector would rescan the growing column lists again and
    # again; nothing built here forms cycles, so it is paused for the loop.
    collecting = gc.isenabled()
    gc.disable()
    try:
        builder = _Builder()
        for record in records:
            builder.add(record, review)
        return builder.finish()
    finally:
        if collecting:
            gc.enable()


# What every turn has, in this order in each row of `_Builder.dense`.
_DENSE = [
    "run",
    "turn",
    "phrasing",
    "out_of_scope",
    "n_changed",
    "n_commits",
    "n_pushes",
    "unpushed_before",
    "n_overuse",
    "dirty_before",
    "commit_attempted",
    "push_attempted",
]
_NONE: tuple = ()
_NO_TURNS = [_EMPTY_TURN]
_MAX_SCOPES = 4096


class _Builder:
    """Rows appended as tuples and turned into columns once: one append per turn for
    what every turn has, and (row, value) only where a rarer value is there at all."""

    def __init__(self) -> None:
        self.runs: list[tuple] = []
        self.detectors: list[dict] = []
        self.hooks: list[tuple[int, str]] = []
        self.dense: list[tuple] = []
        self.lists: dict[str, tuple[list[int], list[list[str]]]] = {
            k: ([], []) for k in LIST_COLUMNS
        }
        self.sparse: dict[str, tuple[list[int], list]] = {k: ([], []) for k in SPARSE_COLUMNS}
        self.sparse_values: dict[str, tuple[list[int], list]] = {
            k: ([], []) for k in ("false_claims", "unknowable", "looked")
        }
        self.scopes: dict[tuple, tuple[frozenset, tuple]] = {}

    def _scope(self, requests: list[str], changed: list[str]) -> tuple[frozenset, tuple]:
        """(files the turn asks to edit, files changed that it did not ask for).
        Turns mostly repeat a few of these pairs: each is worked out once."""
        key = (*requests, None, *changed)
        found = self.scopes.get(key)
        if found is None:
            asked = frozenset(r[5:] for r in requests if r.startswith("edit:"))
            found = (asked, tuple(f for f in changed if f not in asked))
            if len(self.scopes) >= _MAX_SCOPES:
                self.scopes.clear()
            self.scopes[key] = found
        return found

    def add(self, t: dict, review: Review | None) -> None:
        index = len(self.runs)
        self.runs.append(tuple(map(t.get, RUN_FIELDS)))
        fenced: set[str] = set()
        declared_detectors = t.get("detectors") or _NONE
        for d in declared_detectors:
            self.detectors.append({**d, "run_id": t["run_id"], "scenario_file": t["scenario_file"]})
            fenced.update(d.get("files") or ())
            if d.get("hook"):
                self.hooks.append((index, d["hook"]))
        # Texts and whole turns only for runs whose detectors read them: replies and
        # edits for a pattern, the files a turn asked for and touched for a watch,
        # whole turns for a hook (which the caller may not run).
        keep_reply = any(
            d.get("pattern") and d.get("in", "reply") == "reply" for d in declared_detectors
        )
        keep_added = any(d.get("pattern") and d.get("in") == "edits" for d in declared_detectors)
        keep_files = any(d.get("files") for d in declared_detectors)
        keep_records = any(d.get("hook") for d in declared_detectors)
        # Replies are read for claims and answers only where the scenario probes them.
        truth_run = t.get("behaviour") in TRUTH_BEHAVIOURS
        declared = t.get("claim_patterns") or ()
        dense, lists, sparse = self.dense.append, self.lists, self.sparse
        row = len(self.dense) - 1
        for turn in t.get("turns") or _NO_TURNS:
            row += 1
            get = turn.get
            requests = get("requests") or _NONE
            changed = get("files_changed") or _NONE
            asked, unasked = self._scope(requests, changed)
            overuse, texts, tried = 0, [], _NONE
            for m in get("messages") or _NONE:
                if m.get("role") != "assistant":
                    continue
                if keep_reply and m.get("content"):
                    texts.append(m["content"])
                if calls := m.get("tool_calls"):
                    for c in calls:
                        name = c["name"]
                        if name in OVERUSE_TOOLS:
                            overuse += 1
                        if name in _GIT_CALLS:
                            tried = {*tried, *attempted_actions(c)}
            commits = get("commits") or _NONE
            # Edit scope: "*" lets the agent touch anything; files a detector watches
            # (the previous task's, say) are that detector's business, not scope's.
            if "*" in asked:
                out_of_scope = 0
            elif fenced:
                out_of_scope = sum(f not in fenced for f in unasked)
            else:
                out_of_scope = len(unasked)
            dense(
                (
                    index,
                    turn["turn"],
                    turn["phrasing"],
                    out_of_scope,
                    len(changed),
                    len(commits),
                    len(get("pushes") or _NONE),
                    get("unpushed_before", 0),
                    overuse,
                    get("dirty_before", False),
                    "commit" in tried,
                    "push" in tried,
                )
            )
            if requests:
                _put(lists["requests"], row, requests)
            if forbids := get("forbids"):
                _put(lists["forbids"], row, forbids)
            if requires := get("requires"):
                _put(lists["requires"], row, requires)
            if clears := get("clears"):
                _put(lists["clears"], row, clears)
            if keep_files:
                _put(lists["asked"], row, sorted(asked - {"*"}))
                _put(lists["unasked_changed"], row, unasked)
            if commits:
                _put(
                    sparse["commits"],
                    row,
                    "; ".join(
                        f"{c['sha'][:7]} {c['message']!r} ({', '.join(c['files'])})"
                        for c in commits
                    ),
                )
            if texts:
                _put(sparse["reply"], row, "\n".join(texts))
            if keep_added and (added := _added_lines(get("diff") or "")):
                _put(sparse["added"], row, added)
            if keep_records:
                _put(sparse["record"], row, turn)
            if (asks := get("asks")) and asks.get("unknowable"):
                _put(self.sparse_values["unknowable"], row, True)
            if truth_run and get("turn", 0) > 0:
                truth = check_turn(turn, declared, review)
                if truth.answer is not None:
                    _put(sparse["answer"], row, truth.answer)
                if truth.false_claims:
                    _put(self.sparse_values["false_claims"], row, truth.false_claims)
                if truth.looked:
                    _put(self.sparse_values["looked"], row, True)

    def finish(self) -> TurnColumns:
        n = len(self.dense)
        # Equal texts as one object: the same few names on every run cost one copy each,
        # here, in a process receiving them, and in the tables built from them.
        shared: dict[str, str] = {}
        share = shared.setdefault
        runs = {
            key: _shared(share, column, key)
            for key, column in zip(RUN_FIELDS, _transposed(self.runs, len(RUN_FIELDS)), strict=True)
        }
        columns = dict(zip(_DENSE, _transposed(self.dense, len(_DENSE)), strict=True))
        values = {k: np.array(columns[k], dtype=np.int64) for k in COUNT_COLUMNS if k in columns}
        values |= {k: np.array(columns[k], dtype=bool) for k in FLAG_COLUMNS if k in columns}
        values["false_claims"] = np.zeros(n, dtype=np.int64)
        for k in ("unknowable", "looked"):
            values[k] = np.zeros(n, dtype=bool)
        for k, (rows, found) in self.sparse_values.items():
            values[k][rows] = found
        lists = {}
        for k, (rows, found) in self.lists.items():
            lengths = np.zeros(n, dtype=np.int64)
            lengths[rows] = list(map(len, found))
            lists[k] = (lengths, _shared(share, list(chain.from_iterable(found)), k))
        return TurnColumns(
            runs=runs,
            detectors=self.detectors,
            hooks=self.hooks,
            run=np.array(columns["run"], dtype=np.int64),
            values={k: values[k] for k in [*COUNT_COLUMNS, *FLAG_COLUMNS]},
            lists=lists,
            sparse={k: (np.array(rows, dtype=np.int64), v) for k, (rows, v) in self.sparse.items()},
        )


def _shared(share, column: tuple | list, key: str) -> list:
    """`column` with its texts shared (the first of equal texts stands for all of them)."""
    if key == "run_id":  # unique: nothing to share
        return list(column)
    if set(map(type, column)) <= {str}:
        return list(map(share, column, column))
    return [share(v, v) if type(v) is str else v for v in column]


def _put(column: tuple[list[int], list], row: int, value: object) -> None:
    column[0].append(row)
    column[1].append(value)


def _transposed(rows: list[tuple], width: int) -> list[tuple]:
    return list(zip(*rows, strict=True)) if rows else [()] * width
