from __future__ import annotations

import pytest
from factories import trajectory, turn

from stickiness.agents.trajectory import TrajectoryError, append_trajectory, read_trajectories


def test_append_then_read_round_trip(tmp_path):
    path = tmp_path / "runs" / "trajectories.jsonl"
    runs = [trajectory(f"r{i}", [turn(1, commits=1)]) for i in range(3)]
    for r in runs:
        append_trajectory(path, r)
    back, warnings = read_trajectories(path)
    assert back == runs and warnings == []
    assert len(path.read_text().splitlines()) == 3


def test_torn_last_line_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "t.jsonl"
    append_trajectory(path, trajectory("r1", [turn(1)]))
    with open(path, "a") as fh:
        fh.write('{"run_id": "r2", "turns": [')  # a process killed mid-write
    back, warnings = read_trajectories(path)
    assert [t.run_id for t in back] == ["r1"]
    assert "line 2 is incomplete" in warnings[0]


def test_damage_before_the_end_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("not json\n")
    append_trajectory(path, trajectory("r1", [turn(1)]))
    with pytest.raises(TrajectoryError, match="line 1: not a trajectory record"):
        read_trajectories(path)
    with pytest.raises(TrajectoryError, match="no such file"):
        read_trajectories(tmp_path / "missing.jsonl")


def test_fast_record_reader_matches_and_checks_fields(tmp_path):
    from stickiness.agents.trajectory import iter_records

    path = tmp_path / "t.jsonl"
    runs = [trajectory(f"r{i}", [turn(1, commits=1)]) for i in range(2)]
    for r in runs:
        append_trajectory(path, r)
    assert [rec["run_id"] for rec in iter_records(path)] == ["r0", "r1"]
    with open(path, "a") as fh:
        fh.write('{"run_id": "torn"')
    warnings: list[str] = []
    assert len(list(iter_records(path, warnings))) == 2 and "line 3 is incomplete" in warnings[0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"run_id": "x", "turns": []}\n')
    with pytest.raises(TrajectoryError, match="line 1: not a trajectory record: missing field"):
        list(iter_records(bad))
    record = runs[0].model_dump()
    del record["turns"][0]["messages"]
    import json

    bad.write_text(json.dumps(record) + "\n")
    with pytest.raises(TrajectoryError, match=r"field turns\[0\]: missing messages"):
        list(iter_records(bad))
