"""Reading a trajectories file someone else wrote: whatever the bytes, the readers and
`observe` either work or refuse with one bounded line naming the file and the line (or
the scenario file and detector); never another exception.

Valid records from the factories are serialised, then damaged: wrong types at random
places, keys removed or added, huge numbers, unicode and control characters, other
schema versions, lines duplicated, a torn last line, random bytes.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from factories import trajectory, turn
from fuzzing import fuzz_settings
from hypothesis import event, given
from hypothesis import strategies as st

from stickiness.agents.trajectory import TrajectoryError
from stickiness.agents.trajectory_reader import iter_records, iter_trajectories
from stickiness.analysis.observe import DetectorError, observe

FUZZ = fuzz_settings(max_examples=300)
MAX_MESSAGE = 400  # characters of error text beyond the file's own path


def _base_records() -> list[dict]:
    bullets = {"name": "bullets", "family": "style", "pattern": r"(?m)^- "}
    tabs = {"name": "tabs", "family": "style", "pattern": "^\t", "in": "edits"}
    parser = {"name": "parser-task", "family": "topic", "files": ["src/parser.py"]}
    shouts = {"name": "shouting", "family": "style", "hook": "hooks.py:shouts"}
    diff = "--- a/a.py\n+++ b/a.py\n@@ -1 +1,2 @@\n x = 1\n+\ty = 2\n"
    runs = [
        trajectory(
            "commit-run",
            [
                turn(1, requests=["edit:a.py", "commit"], commits=1, tools=["search"]),
                turn(2, commits=1, pushes=1, reply="Done."),
                turn(3, forbids=["commit"], changed=()),
            ],
            kind="revoke",
        ),
        trajectory(
            "style-run",
            [
                turn(1, requests=["bullets"], reply="- one\n- two", diff=diff),
                turn(2, requests=["edit:src/parser.py"], changed=("src/parser.py",)),
                turn(3, requires=["tabs"], reply="PLAIN", diff=diff),
            ],
            behaviour="bullets",
            family="style",
            detectors=[bullets, tabs, parser, shouts],
            scenario_file="scenarios/style.yaml",
        ),
        trajectory("failed-run", [], arm="control", status="error"),
    ]
    return [json.loads(r.model_dump_json()) for r in runs]


BASE = _base_records()

long_texts = st.integers(1_000, 20_000).map(lambda n: "x" * n)
texts = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp"]), max_size=20),
    long_texts,
    st.sampled_from(["\ud800", "\x00", "\u202e", "é" * 500, "../../etc/passwd", "(a|aa)+$"]),
    st.sampled_from(["done(?=!)", "a.py:f", "/abs.py:f", "../up.py:f", "x.py:f\n", "[", ""]),
    st.sampled_from(["system", "user", "assistant", "tool", "ok", "error", "edit:*", "commit"]),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, 2, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)


def _like(value: object):
    """Values of the same JSON type as `value`: damage a schema may well let through."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.one_of(st.integers(0, 2**63 - 1), st.sampled_from([0, 1, 2**63 - 1]))
    if isinstance(value, str):
        return texts
    if isinstance(value, list):
        return st.just(value * 2) | st.just([])
    return values


def _node(data: object, draw) -> tuple[object, object]:
    """A random (container, key) inside `data`, deeper more often than not."""
    parent, key = None, None
    node = data
    while isinstance(node, dict | list) and node and draw(st.integers(0, 5)) > 0:
        keys = sorted(node) if isinstance(node, dict) else range(len(node))
        parent, key = node, draw(st.sampled_from(list(keys)))
        node = node[key]
    return parent, key


@st.composite
def damaged_record(draw, run_id: str) -> dict:
    record = json.loads(json.dumps(draw(st.sampled_from(BASE))))
    record["run_id"] = run_id
    for _ in range(draw(st.integers(0, 2))):
        parent, key = _node(record, draw)
        op = draw(st.sampled_from(["alike"] * 4 + ["set", "delete", "extra", "version"]))
        if op == "version":
            record["schema_version"] = draw(st.one_of(numbers, st.sampled_from([1, 2, 3, "2"])))
        elif parent is None:
            record[draw(texts)] = draw(values)
        elif op == "alike":
            parent[key] = draw(_like(parent[key]))
        elif op == "set":
            parent[key] = draw(values)
        elif op == "delete":
            del parent[key]
        elif isinstance(parent[key], dict):
            parent[key][draw(texts)] = draw(values)
        else:
            parent[key] = draw(values)
    return record


def _encode(record: dict, draw) -> bytes:
    try:
        text = json.dumps(record, ensure_ascii=draw(st.booleans()))
    except ValueError:  # a float json will not write; keep it as Python spells it
        text = repr(record)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def trajectory_file(draw) -> bytes:
    count = draw(st.integers(1, 3))
    lines = [_encode(draw(damaged_record(f"run-{i}")), draw) for i in range(count)]
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["bytes", "duplicate", "blank", "none"]))
        at = draw(st.integers(0, len(lines)))
        if op == "bytes":
            lines.insert(at, draw(st.binary(max_size=40)).replace(b"\n", b" "))
        elif op == "duplicate":
            lines.insert(at, draw(st.sampled_from(lines)))
        elif op == "blank":
            lines.insert(at, b"   ")
    content = b"".join(line + draw(st.sampled_from([b"\n", b"\r\n"])) for line in lines)
    if draw(st.integers(0, 3)) == 0:  # torn tail
        content = content[: len(content) - draw(st.integers(1, len(lines[-1]) + 1))]
    return content


def _check_refusal(message: str, path: str, lines: int) -> None:
    assert "\n" not in message and "\r" not in message, message
    assert len(message) <= len(path) + MAX_MESSAGE, message
    match = re.match(rf"{re.escape(path)}: line (\d+): \S", message)
    assert match and 1 <= int(match[1]) <= lines, message


def _check_detector_error(message: str) -> None:
    assert "\n" not in message and len(message) <= MAX_MESSAGE, message
    assert ": detector " in message, message


def _read(reader, path) -> tuple[list | None, str | None, list[str]]:
    warnings: list[str] = []
    try:
        return list(reader(path, warnings)), None, warnings
    except TrajectoryError as exc:
        return None, str(exc), warnings


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(content=trajectory_file())
def test_reading_and_observing_damaged_files_work_or_refuse_in_one_line(folder, content):
    path = folder / "trajectories.jsonl"
    path.write_bytes(content)
    lines = max(1, content.count(b"\n") + 1)
    records, refused, warnings = _read(iter_records, path)
    runs, refused_too, _ = _read(iter_trajectories, path)
    # One schema, two readers: they accept and refuse the same lines, in the same words.
    assert refused == refused_too
    if refused is not None:
        event("refused: " + refused.split(": ", 2)[2].split(" ")[0])
        _check_refusal(refused, str(path), lines)
        return
    event(f"read {len(records)} runs")
    assert [r["run_id"] for r in records] == [t.run_id for t in runs]
    for w in warnings:
        assert "\n" not in w and w.startswith(f"{path}: line ")
    outcomes = []
    for given_runs in (records, runs):
        try:
            outcomes.append(observe(given_runs))
            event("observed")
        except DetectorError as exc:
            event("detector error")
            _check_detector_error(str(exc))
            outcomes.append(str(exc))
    # Dicts with fields left out and objects with defaults filled in: the same events.
    if isinstance(outcomes[0], str):
        assert outcomes[0] == outcomes[1]
    else:
        pd.testing.assert_frame_equal(outcomes[0], outcomes[1])


@FUZZ
@given(data=st.data())
def test_torn_last_line_is_a_warning_and_only_there(folder, data):
    whole = [json.dumps(r).encode() for r in BASE]
    cut_line = data.draw(st.sampled_from(whole))
    torn = cut_line[: data.draw(st.integers(1, len(cut_line) - 1))]
    path = folder / "torn.jsonl"
    path.write_bytes(b"\n".join(whole) + b"\n" + torn)
    warnings: list[str] = []
    assert len(list(iter_records(path, warnings))) == len(BASE)
    assert warnings == [f"{path}: line {len(BASE) + 1} is incomplete (interrupted run?); skipped"]
    # The same fragment with its newline, or before another line, is damage.
    path.write_bytes(torn + b"\n" + whole[0] + b"\n")
    with pytest.raises(TrajectoryError, match=rf"^{re.escape(str(path))}: line 1: "):
        list(iter_records(path))


patterns = texts | st.sampled_from([r"(?m)^- ", r"\d+", "(?i)DONE", "a{1000}{1000}", "(?P<x>a)"])
hooks = texts | st.sampled_from(["h.py:f", "../h.py:f", "/h.py:f", "./h.py:f", "a/../../h.py:f"])
names = st.sampled_from(["bullets", "tabs", "x", "y", "z", "w", "v", "commit", "A b"])
detectors = st.one_of(
    st.fixed_dictionaries(
        {"name": names, "family": st.just("style"), "pattern": patterns},
        optional={"in": st.sampled_from(["reply", "edits"])},
    ),
    st.fixed_dictionaries({"name": names, "family": st.just("topic"), "files": st.lists(texts)}),
    st.fixed_dictionaries({"name": names, "family": st.just("style"), "hook": hooks}),
)


@FUZZ
@given(declared=st.lists(detectors, min_size=1, max_size=3))
def test_declared_detectors_from_a_file_work_or_refuse_in_one_line(folder, declared):
    record = json.loads(json.dumps(BASE[1]))
    record["detectors"] = declared
    path = folder / "detectors.jsonl"
    path.write_text(json.dumps(record) + "\n")
    records, refused, _ = _read(iter_records, path)
    if refused is not None:
        event("refused")
        _check_refusal(refused, str(path), 1)
        return
    warnings: list[str] = []
    try:
        observe(records, warnings=warnings)
        event("observed")
    except DetectorError as exc:
        event("detector error")
        _check_detector_error(str(exc))
        assert "scenarios/style.yaml" in str(exc)
    for w in warnings:
        assert "\n" not in w and "--allow-hooks" in w
