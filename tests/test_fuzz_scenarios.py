"""Scenario files from anywhere: whatever the bytes, `load_scenario` returns a scenario
or raises `ScenarioError` with a few short lines, each starting with the file's path;
never another exception, never a long wait, never a large allocation. A scenario that
loads renders for any seed, or names the values that broke it.

Valid scenarios (the library's, and ones with detectors and template values) are
damaged: fields replaced by wrong types, removed or added, unicode and control
characters, huge numbers, deep nesting, anchors and aliases, bombs, truncation and
random bytes.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from fuzzing import fuzz_settings
from hypothesis import event, given, settings
from hypothesis import strategies as st

from stickiness.reports.cli import main
from stickiness.scenarios import Scenario, ScenarioError, builtin_scenario_dir, load_scenario
from stickiness.scenarios.errors import MAX_PROBLEMS

FUZZ = fuzz_settings(max_examples=150)
MAX_LINE = 400  # characters of one problem, beyond the file's path
RAW = "@@RAW@@"  # a value replaced by raw YAML text once the document is written


def _bases() -> list[dict]:
    library = [yaml.safe_load(p.read_text()) for p in sorted(builtin_scenario_dir().glob("*.yaml"))]
    detectors = {
        "id": "style-demo",
        "title": "Detectors of every kind",
        "behaviour": "bullets",
        "arm": "control",
        "kind": "control",
        "vars": {"module": ["orders", "billing"], "name": ["total", "count"]},
        "detectors": [
            {"name": "bullets", "family": "style", "pattern": "(?m)^- ", "example": "- x"},
            {"name": "tabs", "family": "style", "pattern": "^\t", "in": "edits"},
            {"name": "parser-task", "family": "topic", "files": ["src/${module}.py"]},
            {"name": "shouting", "family": "style", "hook": "hooks.py:shouts"},
        ],
        "workspace": {"files": {"src/${module}.py": "def ${name}():\n    pass\n"}},
        "turns": [
            {
                "user": ["Fix ${name}() in src/${module}.py.", "Please fix it."],
                "requests": ["edit:src/${module}.py", "bullets"],
            },
            {"user": "Now plain text.", "forbids": ["bullets"], "requires": ["tabs"]},
        ],
    }
    return [*library, detectors]


BASES = _bases()


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a document: keys of mappings, indexes of lists."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_paths(value, (*prefix, i)))
    return out


def _copy(node: object) -> object:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


long_texts = st.integers(100, 50_000).map(lambda n: "y" * n)
texts = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Co"]), max_size=10),
    long_texts,
    st.sampled_from(
        [
            "",
            " ",
            "..",
            "../x.py",
            "/etc/passwd",
            ".git/hooks/pre-commit",
            "a\x00b",
            "a\nb",
            "${module}",
            "${nope}",
            "$${x}",
            "edit:",
            "edit:../x",
            "edit:/x",
            "edit:*",
            "commit",
            "push",
            "bullets",
            "(?=x)y",
            "(a|aa)+$",
            "[",
            "\\",
            "a" * 3000,
            "hooks.py:shouts",
            "../h.py:f",
            "/h.py:f",
            "h.py:f\n",
            "h.py:1x",
            "\ufeff",
            "é" * 99,
            "(\x1b",
            "[\u202e",
            "\x1b]0;title\x07",
            "x{2,1}\x07",
        ]
    ),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([10**60, -(10**80), 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
)
values = st.recursive(
    st.one_of(texts, numbers, st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def _bomb(levels: int, width: int, leaf: str = '"lol"') -> tuple[str, str]:
    """Anchors for the top of a document, and the alias that expands to all of it."""
    lines = [f"x-bomb-0: &b0 {leaf}"]
    for i in range(1, levels + 1):
        lines.append(f"x-bomb-{i}: &b{i} [{', '.join([f'*b{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n", f"*b{levels}"


raw_snippets = st.one_of(
    st.integers(1, 200).map(_deep),
    st.integers(40, 20_000).map(lambda n: "9" * n),
    st.sampled_from(
        [
            "&a [*a]",
            "&m {k: *m}",
            "*undefined",
            "!!python/object:os.system x",
            "!!int abc",
            "!!float x",
            "!!binary '@@'",
            "!!timestamp 2001-02-30",
            "2001-02-30",
            "!!set {a, b}",
            "!!omap [a: 1]",
            "!custom x",
            "{a: 1, a: 2}",
            "[a, b",
            "{? [a]: b}",
            "0x" + "f" * 80,
            "0o" + "7" * 80,
            "1_000_000",
            "1:20:30",
            ".inf",
            ".nan",
            "~",
            "|\n  block",
            "\t- tab",
            "'unterminated",
            '"\\uD800"',
            '"\\x00"',
            "&x 1 *x",
        ]
    ),
)


@st.composite
def damaged_documents(draw: st.DrawFn) -> bytes:
    doc = _copy(draw(st.sampled_from(BASES)))
    prefix = ""
    for _ in range(draw(st.integers(1, 3))):
        places = _paths(doc)
        place = draw(st.sampled_from(places))
        parent = doc
        for part in place[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "remove", "add", "raw", "bomb"]))
        event(action)
        if not place:  # the whole document
            if action in {"replace", "raw"}:
                doc = draw(values)
            continue
        key = place[-1]
        if action == "remove":
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(texts)] = draw(values)
        elif action == "add":
            parent.insert(key, draw(values))
        elif action == "replace":
            parent[key] = draw(values)
        else:
            parent[key] = RAW
            if action == "bomb":
                levels, width = draw(st.integers(2, 12)), draw(st.integers(2, 12))
                prefix, snippet = _bomb(levels, width)
            else:
                snippet = draw(raw_snippets)
            break
    else:
        snippet = ""
    if not isinstance(doc, dict | list):
        return yaml.safe_dump(doc).encode()
    text = yaml.safe_dump(doc, allow_unicode=draw(st.booleans()), sort_keys=False, width=80)
    if snippet:
        text = prefix + text.replace(f"'{RAW}'", snippet)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def damaged_text(draw: st.DrawFn) -> bytes:
    raw = yaml.safe_dump(draw(st.sampled_from(BASES)), sort_keys=False).encode()
    how = draw(st.sampled_from(["cut", "insert", "flip"]))
    event(how)
    at = draw(st.integers(0, len(raw)))
    if how == "cut":
        return raw[:at]
    if how == "flip":
        return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    insert = draw(
        st.one_of(
            raw_snippets.map(str.encode),
            st.binary(max_size=20),
            st.sampled_from([b"\n---\n", b"\n...\n", b"%YAML 1.1\n", b"\xef\xbb\xbf", b": "]),
        )
    )
    return raw[:at] + insert + raw[at:]


def check_outcome(path: Path, raw: bytes) -> Scenario | None:
    """Load `raw` from `path`: a scenario, or None after checking the message."""
    path.write_bytes(raw)
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        check_message(path, str(exc))
        return None
    for seed in range(3):
        try:
            scenario.render(seed)
        except ScenarioError as exc:
            check_message(path, str(exc))
    return scenario


def check_message(path: Path, message: str) -> None:
    lines = message.split("\n")
    assert 1 <= len(lines) <= MAX_PROBLEMS + 1, message
    for line in lines:
        assert line.startswith(f"{path}: "), line
        assert len(line) - len(str(path)) <= MAX_LINE, line
        assert line.isprintable(), line


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzzed.yaml"


def test_the_unchanged_bases_load(scratch):
    for base in BASES:
        assert check_outcome(scratch, yaml.safe_dump(base).encode()) is not None


@FUZZ
@given(raw=damaged_documents())
def test_damaged_documents_load_or_say_why(scratch, raw):
    event("loaded" if check_outcome(scratch, raw) else "refused")


@FUZZ
@given(raw=damaged_text())
def test_damaged_text_loads_or_says_why(scratch, raw):
    event("loaded" if check_outcome(scratch, raw) else "refused")


@FUZZ
@given(raw=st.one_of(st.binary(max_size=400), st.text(max_size=300).map(str.encode)))
def test_random_bytes_are_refused_in_one_line(scratch, raw):
    assert check_outcome(scratch, raw) is None


@settings(FUZZ, max_examples=60)
@given(
    levels=st.integers(2, 14),
    width=st.integers(2, 16),
    leaf=st.sampled_from(['"lol"', "'" + "z" * 2000 + "'", "{k: v}", "[1, 2]"]),
    field=st.sampled_from(["title", "turns[0].user", "workspace.files", "vars", "detectors"]),
)
def test_bombs_are_refused_quickly_in_little_memory(scratch, levels, width, leaf, field):
    anchors, alias = _bomb(levels, width, leaf)
    doc = _copy(BASES[-1])
    if field == "turns[0].user":
        doc["turns"][0]["user"] = RAW
    else:
        doc[field] = RAW
    raw = (anchors + yaml.safe_dump(doc, sort_keys=False).replace(f"'{RAW}'", alias)).encode()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        loaded = check_outcome(scratch, raw)
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    expanded = width**levels
    assert loaded is None or expanded < 100_000
    assert peak < 50_000_000, f"{peak:,} bytes for {width}**{levels}"
    assert seconds < 2


def test_validate_reports_a_bomb_in_one_line(tmp_path, capsys):
    anchors, alias = _bomb(9, 9)
    doc = _copy(BASES[-1])
    doc["title"] = RAW
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(anchors + yaml.safe_dump(doc, sort_keys=False).replace(f"'{RAW}'", alias))
    assert main(["scenarios", "validate", "--scenarios", str(bomb)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and str(bomb) in lines[0] and "100,000 nodes" in lines[0]
    assert "Traceback" not in captured.err + captured.out
