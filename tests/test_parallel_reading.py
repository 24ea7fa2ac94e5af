"""A large trajectories file is read in parts by worker processes: the same events, the
same refusals and warnings, in the same words, as reading it line by line."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from factories import three_scenario_runs, trajectory, turn

from stickiness.agents import record_chunks
from stickiness.agents.process_pool import WorkerError
from stickiness.agents.trajectory import TrajectoryError
from stickiness.agents.trajectory_reader import iter_records
from stickiness.analysis.observe import observe
from stickiness.analysis.turn_columns import reduce_records


@pytest.fixture
def small_parts(monkeypatch):
    """Every file counts as large and is cut into parts of a few lines."""
    monkeypatch.setattr(record_chunks, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(record_chunks, "MIN_PART_BYTES", 1)
    monkeypatch.setattr(record_chunks, "worker_count", lambda workers=None: 2)


def lines_of_runs() -> list[str]:
    runs = three_scenario_runs("sim:a", lambda i: i % 2 == 0, lambda i: i % 3 == 0, repeats=8)
    runs += three_scenario_runs("sim:b", lambda i: True, lambda i: False, repeats=8)
    question = turn(1, changed=(), reply="It is 4.2.1.")
    runs.append(trajectory("q-1", [question], behaviour="false_claim", scenario="claim"))
    return [r.model_dump_json() + "\n" for r in runs]


def write(path, lines: list[str], torn: str = "") -> None:
    path.write_text("".join(lines) + torn)


def serial(path):
    """The file read line by line (a plain list is never split into parts)."""
    warnings: list[str] = []
    return list(iter_records(path, warnings)), warnings


def test_parts_read_by_workers_give_the_same_events(tmp_path, small_parts):
    path = tmp_path / "t.jsonl"
    write(path, lines_of_runs())
    stream = iter_records(path)
    parts = record_chunks.map_records(stream, reduce_records)
    assert len(parts) > 2  # really cut, really read by workers
    records, _ = serial(path)
    pd.testing.assert_frame_equal(observe(iter_records(path)), observe(records))


def _error(call) -> str:
    with pytest.raises(TrajectoryError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("damage", ["not json", "bad field", "duplicate"])
def test_a_refusal_in_a_later_part_is_the_serial_readers(tmp_path, small_parts, damage):
    lines = lines_of_runs()
    at = len(lines) * 2 // 3
    if damage == "not json":
        lines[at] = "{this is not json\n"
    elif damage == "bad field":
        record = json.loads(lines[at])
        record["turns"][0]["turn"] = -1
        lines[at] = json.dumps(record) + "\n"
    else:
        lines[at] = lines[3]  # the run_id of line 4 again
    path = tmp_path / "t.jsonl"
    write(path, lines)
    expected = _error(lambda: serial(path))
    assert f":{at + 1}" in expected or f"line {at + 1}" in expected
    assert _error(lambda: observe(iter_records(path))) == expected


def test_a_torn_last_line_is_the_same_warning(tmp_path, small_parts):
    path = tmp_path / "t.jsonl"
    write(path, lines_of_runs(), torn='{"schema_version": 3, "run_id": "cut sho')
    records, expected = serial(path)
    warnings: list[str] = []
    stream = iter_records(path, warnings)
    parts = record_chunks.map_records(stream, reduce_records)
    assert len(parts) > 2 and warnings == expected and len(expected) == 1
    pd.testing.assert_frame_equal(observe(iter_records(path)), observe(records))


def test_workers_that_cannot_start_leave_the_file_read_here(tmp_path, small_parts, monkeypatch):
    class Broken:
        def __init__(self, *args):
            raise WorkerError("no interpreter")

    monkeypatch.setattr(record_chunks, "ProcessMap", Broken)
    path = tmp_path / "t.jsonl"
    write(path, lines_of_runs())
    records, _ = serial(path)
    pd.testing.assert_frame_equal(observe(iter_records(path)), observe(records))
