"""Turn columns -> event rows: one per run x turn x behaviour the run involves, in the
order of the events table (run, behaviour, turn), with what each turn asked.

A run involves its probed behaviour, every behaviour a turn's annotations name, every
detector it declares, and (an imported session) every action its log can show. Run ids
and behaviours become integer codes ranked like their names, so one sort puts the rows
in order and a rule carries forward within each run x behaviour block; runs that share
a run_id share their blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stickiness.analysis.observed import OBSERVED, OBSERVED_BEHAVIOURS
from stickiness.analysis.turn_columns import TurnColumns
from stickiness.scenarios.model import ACTION_BEHAVIOUR

# A turn's rule for a behaviour; when a turn names several, the strongest holds.
NONE, CLEAR, REQUIRE, FORBID = 0, 1, 2, 3
_RULES = (("forbids", FORBID), ("requires", REQUIRE), ("clears", CLEAR))


@dataclass
class EventRows:
    turn: np.ndarray  # the turn row each event is about (index into the turn columns)
    behaviour: np.ndarray  # names (object)
    run_id: np.ndarray  # names (object)
    family: np.ndarray  # the declaring detector's family, else the behaviour (object)
    probed: np.ndarray
    requested: np.ndarray
    forbidden: np.ndarray
    required: np.ndarray
    lag: pd.arrays.FloatingArray  # turns since the last request of it in the run; NA if none


def _objects(values: list | np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _codes(names: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """Codes of `names` in the sorted `vocabulary` (every name is in it)."""
    return pd.Index(vocabulary).get_indexer(names).astype(np.int64)


def _lookup(keys: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position in the sorted `table`, found) for each key."""
    pos = np.searchsorted(table, keys)
    clipped = np.minimum(pos, max(len(table) - 1, 0))
    found = (pos < len(table)) & (table[clipped] == keys) if len(table) else pos < 0
    return clipped, found


def _requested(table: TurnColumns, detectors: pd.DataFrame, run_ids: np.ndarray):
    """(turn row, behaviour name) for each behaviour a turn asks for: its requests (an
    action names its behaviour; edit:PATH asks for a file, not a behaviour) and the
    watched files of a detector that the turn asks to edit."""
    rows, items = table.items("requests")
    codes, uniques = pd.factorize(items)
    mapped = _objects([ACTION_BEHAVIOUR.get(u, u) for u in uniques])
    keep = np.array([not m.startswith("edit:") for m in mapped], dtype=bool)
    kept = (codes >= 0) & keep[np.maximum(codes, 0)] if len(uniques) else codes >= 0
    out_rows, out_names = [rows[kept]], [mapped[codes[kept]]]
    watched = detectors.explode("files").dropna(subset=["files"])
    if not watched.empty:
        asked_rows, asked = table.items("asked")
        frame = pd.DataFrame({"row": asked_rows, "value": asked, "run_id": run_ids[asked_rows]})
        hit = frame.merge(watched, left_on=["run_id", "value"], right_on=["run_id", "files"])
        out_rows.append(hit["row"].to_numpy(dtype=np.int64))
        out_names.append(_objects(hit["name"].to_numpy()))
    return np.concatenate(out_rows), np.concatenate(out_names)


def _rules(table: TurnColumns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(turn row, behaviour name, rule) for each rule a turn sets or clears."""
    parts = [(*table.items(column), rule) for column, rule in _RULES]
    rows = np.concatenate([r for r, _, _ in parts])
    names = np.concatenate([n for _, n, _ in parts])
    rules = np.concatenate([np.full(len(r), rule, dtype=np.int8) for r, _, rule in parts])
    named = ~pd.isna(names)
    return rows[named], names[named], rules[named]


def _strongest(keys: np.ndarray, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys, each with its highest rank."""
    order = np.lexsort((ranks, keys))
    keys, ranks = keys[order], ranks[order]
    last = np.append(keys[1:] != keys[:-1], True) if len(keys) else np.zeros(0, dtype=bool)
    return keys[last], ranks[last]


def event_rows(table: TurnColumns, detectors: pd.DataFrame, wanted: frozenset[str]) -> EventRows:
    """The event rows of the turn columns. `detectors`: one row per run x declared
    detector (run_id, name, family, files); `wanted`: the families whose requests stand
    as rules (`Policy.wanted`)."""
    run_of_turn = table.run
    n = table.n_turns
    # Runs that share a run_id (objects given twice) are one run here, as a join on
    # run_id would make them.
    rid_of_run, rid_names = pd.factorize(_objects(table.runs["run_id"]), sort=True)
    rid = rid_of_run[run_of_turn]
    run_ids = _objects(rid_names)[rid]

    req_rows, req_names = _requested(table, detectors, run_ids)
    rule_rows, rule_names, rule_ranks = _rules(table)
    det_runs = _codes(_objects(detectors["run_id"].to_numpy()), rid_names)
    det_names = _objects(detectors["name"].to_numpy())
    kinds = _objects(table.runs["kind"])
    observed = np.unique(rid_of_run[kinds == OBSERVED])
    probed_names = _objects(table.runs["behaviour"])

    # Behaviours ranked like their names, so codes sort as the names do.
    names = np.concatenate(
        [probed_names, req_names, rule_names, det_names, _objects(OBSERVED_BEHAVIOURS)]
    )
    b_names = np.sort(pd.unique(names))
    nb = max(len(b_names), 1)
    probed_code = _codes(probed_names, b_names)
    req_code = _codes(req_names, b_names)
    rule_code = _codes(rule_names, b_names)
    det_code = _codes(det_names, b_names)
    obs_code = _codes(_objects(OBSERVED_BEHAVIOURS), b_names)

    involved = np.unique(
        np.concatenate(
            [
                rid * nb + probed_code[run_of_turn],
                rid[req_rows] * nb + req_code,
                rid[rule_rows] * nb + rule_code,
                det_runs * nb + det_code,
                (observed[:, None] * nb + obs_code[None, :]).ravel(),
            ]
        )
    )
    # Every turn row x every behaviour its run involves.
    starts = np.searchsorted(involved // nb, np.arange(len(rid_names) + 1))
    count = np.diff(starts)[rid]
    ev_turn = np.repeat(np.arange(n), count)
    ends = np.cumsum(count)
    pick = np.repeat(starts[rid] - (ends - count), count) + np.arange(ends[-1] if n else 0)
    ev_b = involved[pick] % nb
    # Stable: rows alike in run, behaviour and turn number keep the order of their turns.
    turn_no = table.values["turn"]
    order = np.lexsort((turn_no[ev_turn], ev_b, rid[ev_turn]))
    ev_turn, ev_b = ev_turn[order], ev_b[order]
    ev_rid = rid[ev_turn]
    key = ev_turn * nb + ev_b

    requested = np.isin(key, req_rows * nb + req_code)
    rule_keys, rule_marks = _strongest(rule_rows * nb + rule_code, rule_ranks)
    pos, found = _lookup(key, rule_keys)
    mark = np.where(found, rule_marks[pos] if len(rule_keys) else NONE, NONE)

    behaviour = b_names[ev_b]
    family = behaviour.copy()
    if len(det_names):
        det_keys, first = np.unique(det_runs * nb + det_code, return_index=True)
        det_family = _objects(detectors["family"].to_numpy())[first]
        pos, found = _lookup(ev_rid * nb + ev_b, det_keys)
        found &= ~pd.isna(det_family[pos])
        family[found] = det_family[pos[found]]
    is_wanted = pd.Series(family, dtype=object).isin(wanted).to_numpy()
    mark[requested & is_wanted & (mark == NONE)] = REQUIRE

    # Within each run x behaviour block: the last rule so far, and the last request before.
    here = np.arange(len(key))
    new_block = np.ones(len(key), dtype=bool)
    new_block[1:] = (ev_rid[1:] != ev_rid[:-1]) | (ev_b[1:] != ev_b[:-1])
    block_start = np.maximum.accumulate(np.where(new_block, here, 0))
    last_rule = np.maximum.accumulate(np.where(mark != NONE, here, -1))
    rule = np.where(last_rule >= block_start, mark[np.maximum(last_rule, 0)], NONE)
    last_request = np.maximum.accumulate(np.where(requested, here, -1))
    before = np.concatenate([[-1], last_request[:-1]])
    has_lag = before >= block_start
    turns = turn_no[ev_turn].astype(float)
    lag = turns - np.where(has_lag, turns[np.maximum(before, 0)], np.nan)
    return EventRows(
        turn=ev_turn,
        behaviour=behaviour,
        run_id=_objects(rid_names)[ev_rid],
        family=family,
        probed=ev_b == probed_code[run_of_turn[ev_turn]],
        requested=requested,
        forbidden=(rule == FORBID) & ~requested,
        required=(rule == REQUIRE) & ~requested,
        lag=pd.arrays.FloatingArray(np.where(has_lag, lag, 0.0), ~has_lag),
    )
