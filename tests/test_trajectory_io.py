from __future__ import annotations

import json

import pytest
from factories import trajectory, turn

from stickiness.agents.run_store import RunStore
from stickiness.agents.trajectory import READABLE_VERSIONS, TrajectoryError
from stickiness.agents.trajectory_reader import iter_records, iter_trajectories, read_trajectories

READERS = [iter_records, iter_trajectories]


def _record(run_id: str = "r1", **changes) -> dict:
    """A valid record as JSON data, from the factories, with top-level fields changed."""
    record = json.loads(
        trajectory(
            run_id,
            [turn(1, commits=1, tools=["search"], reply="done"), turn(2)],
        ).model_dump_json()
    )
    record.update(changes)
    return record


def _write(path, *records: dict | str) -> None:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
        encoding="utf-8",
    )


def _refusal(reader, path) -> str:
    with pytest.raises(TrajectoryError) as info:
        list(reader(path))
    return str(info.value)


def test_append_then_read_round_trip(tmp_path):
    path = tmp_path / "runs" / "trajectories.jsonl"
    runs = [trajectory(f"r{i}", [turn(1, commits=1)]) for i in range(3)]
    with RunStore(path) as store:
        for r in runs:
            store.append(r)
    back, warnings = read_trajectories(path)
    assert back == runs and warnings == []
    assert len(path.read_text().splitlines()) == 3


@pytest.mark.parametrize("reader", READERS)
def test_torn_last_line_is_skipped_with_a_warning(tmp_path, reader):
    path = tmp_path / "t.jsonl"
    with RunStore(path) as store:
        store.append(trajectory("r1", [turn(1)]))
    with open(path, "a") as fh:
        fh.write('{"run_id": "r2", "turns": [')  # a process killed mid-write
    warnings: list[str] = []
    assert [r for r in reader(path, warnings)][0] is not None
    assert len(warnings) == 1 and "line 2 is incomplete" in warnings[0]


@pytest.mark.parametrize("reader", READERS)
def test_a_tail_torn_inside_a_character_is_still_only_torn(tmp_path, reader):
    path = tmp_path / "t.jsonl"
    line = json.dumps(_record("r2", title="caf\u00e9 \u2603"), ensure_ascii=False).encode()
    cut = line.index("\u2603".encode()) + 1  # the middle of a three-byte character
    path.write_bytes(json.dumps(_record("r1")).encode() + b"\n" + line[:cut])
    warnings: list[str] = []
    assert len(list(reader(path, warnings))) == 1 and "line 2 is incomplete" in warnings[0]


@pytest.mark.parametrize("reader", READERS)
def test_damage_before_the_end_is_an_error_naming_the_line(tmp_path, reader):
    path = tmp_path / "t.jsonl"
    _write(path, "not json", _record("r1"))
    assert f"{path}: line 1: not valid JSON" in _refusal(reader, path)
    # An unparseable last line that did get its newline was not cut short: damage too.
    _write(path, _record("r1"), '{"run_id": "r2"')
    assert f"{path}: line 2: not valid JSON" in _refusal(reader, path)
    with pytest.raises(TrajectoryError, match="no such file"):
        list(reader(tmp_path / "missing.jsonl"))


def test_both_readers_read_the_same_runs(tmp_path):
    path = tmp_path / "t.jsonl"
    with RunStore(path) as store:
        for i in range(2):
            store.append(trajectory(f"r{i}", [turn(1, commits=1)]))
    assert [rec["run_id"] for rec in iter_records(path)] == ["r0", "r1"]
    # Fields left out stay out of the dicts; the objects fill in their defaults.
    sparse = _record("r2")
    del sparse["turns"][0]["messages"], sparse["attempts"]
    _write(path, sparse)
    (record,) = iter_records(path)
    (run,) = iter_trajectories(path)
    assert "messages" not in record["turns"][0] and run.turns[0].messages == []
    assert run.attempts == 1


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r.pop("scenario"), "field scenario: missing"),
        (lambda r: r.update(status="fine"), "field status: expected 'ok' or 'error'"),
        (lambda r: r.update(arm="both"), "field arm: expected 'treatment' or 'control'"),
        (lambda r: r["turns"][1].update(turn="2"), "field turns[1].turn: expected a whole number"),
        (lambda r: r["turns"][0].update(turn=2**64 - 1), "field turns[0].turn: expected at most"),
        (lambda r: r["turns"][0].update(commits={}), "field turns[0].commits: expected a list"),
        (lambda r: r.update(turns=[5]), "field turns[0]: expected an object, got 5"),
        (lambda r: r.update(simulated="yes"), "field simulated: expected true or false"),
        (
            lambda r: r["turns"][0]["messages"][0].update(role="robot"),
            "field turns[0].messages[0].role: expected one of 'system', 'user', 'assistant', "
            "'tool', got 'robot'",
        ),
        (
            lambda r: r["turns"][0]["messages"][0]["tool_calls"][0].update(arguments={}),
            "field turns[0].messages[0].tool_calls[0].arguments: expected text, got an object",
        ),
        (
            lambda r: r["turns"][0]["messages"].append({"role": "tool", "content": "ok"}),
            "field turns[0].messages[1].tool_call_id: missing",
        ),
        (
            lambda r: r.update(detectors=[{"name": "x", "family": "style"}]),
            "field detectors[0]: expected exactly one of pattern, files or hook",
        ),
        (
            lambda r: r.update(detectors=[{"name": "x", "family": "mood", "pattern": "a"}]),
            "field detectors[0].family: expected 'commit', 'push'",
        ),
    ],
)
def test_a_bad_field_is_refused_naming_file_line_and_field(tmp_path, reader, change, expected):
    path = tmp_path / "t.jsonl"
    bad = _record("r2")
    change(bad)
    _write(path, _record("r1"), bad)
    message = _refusal(reader, path)
    assert message.startswith(f"{path}: line 2: {expected}")
    assert "\n" not in message


@pytest.mark.parametrize("reader", READERS)
def test_extra_message_keys_are_kept(tmp_path, reader):
    path = tmp_path / "t.jsonl"
    record = _record()
    record["turns"][0]["messages"][0] |= {"usage": {"input_tokens": 3}, "cached": True}
    record["turns"][0]["messages"].append(
        {"role": "user", "content": "say something", "harness_notice": True}
    )
    _write(path, record)
    (run,) = reader(path)
    messages = run["turns"][0]["messages"] if isinstance(run, dict) else run.turns[0].messages
    assert messages[0]["cached"] is True and messages[1]["harness_notice"] is True


@pytest.mark.parametrize("reader", READERS)
def test_schema_versions_not_read_here_are_refused(tmp_path, reader):
    path = tmp_path / "t.jsonl"
    # Whatever else is wrong with a record from a newer version, the version is named.
    _write(path, _record(schema_version=999, turns="new shape"))
    assert _refusal(reader, path) == (
        f"{path}: line 1: schema_version 999 is not one this version reads "
        f"({', '.join(map(str, READABLE_VERSIONS))}); upgrade stickiness"
    )


def test_version_1_records_read_as_if_the_newer_fields_were_unset(tmp_path):
    path = tmp_path / "t.jsonl"
    old = _record(schema_version=1)
    for key in ("error_kind", "attempts"):
        del old[key]
    for t in old["turns"]:
        del t["error"], t["time_limit_hit"]
    _write(path, old)
    (run,) = iter_trajectories(path)
    assert (run.schema_version, run.error_kind, run.attempts) == (1, None, 1)
    assert not run.turns[0].time_limit_hit
    assert next(iter_records(path))["run_id"] == "r1"


@pytest.mark.parametrize("reader", READERS)
def test_a_run_recorded_twice_is_refused_naming_both_lines(tmp_path, reader):
    path = tmp_path / "t.jsonl"
    _write(path, _record("r1"), _record("r2"), "", _record("r1"))
    assert _refusal(reader, path) == (
        f"{path}: line 4: run_id 'r1' is also on line 1: the file was written twice for one run"
    )


@pytest.mark.parametrize("reader", READERS)
def test_error_text_is_one_bounded_line(tmp_path, reader):
    path = tmp_path / "t.jsonl"
    huge = "x\n" * 100_000
    records = [
        _record(status=huge),
        _record(template_values={huge: 1}),
        _record(title=["\x00" * 10_000]),
        "[" + "1," * 100_000 + "1]",
        "\x01" * 100_000,
    ]
    for record in records:
        _write(path, record)
        message = _refusal(reader, path)
        assert message.startswith(f"{path}: line 1: ")
        assert "\n" not in message and len(message) < len(str(path)) + 400, message
