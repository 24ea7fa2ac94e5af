"""The report's run explorer: a compact summary of every run to filter in the browser,
and each run's transcript gzip-compressed, decoded only when someone opens it.

Everything here comes from models or from logs, so it is untrusted: each string is
redacted and clipped before it is compressed (nothing can redact compressed bytes
later), and the JSON is made safe to sit inside a `<script>` element. The page shows it
with `textContent` only.
"""

from __future__ import annotations

import base64
import gc
import gzip
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import orjson
import pandas as pd

from stickiness.agents.redact import redact
from stickiness.agents.trajectory import Trajectory, TurnRecord

CLIP_CHARS = 600  # of one text, tool argument or result, as the report always clipped
REASON_CHARS = 160  # of an annotation's reason
# Redaction sees this much past the clip point, so a key cut by it is still recognised
# whole; the rest of a long text is never shown and need not be scanned.
REDACT_MARGIN = 2048
# Runs per compressed block: bigger blocks compress better (runs of one scenario share
# their user turns), smaller ones open faster.
BLOCK_RUNS = 64

# A turn's state for the probed behaviour, first match wins (as the report always read).
STATE_CODES = {"violation": "v", "forgotten": "f", "unrequested": "u", "requested": "r"}
CLEAN = "c"
# A run's outcome as bits, so the browser filters 10,000 runs with one comparison each.
OUTCOME_BITS = {"unrequested": 1, "violation": 2, "forgotten": 4, "error": 8}


@dataclass(frozen=True)
class Embedded:
    """JSON text already safe inside `<script>`. Not a `str`: the report's page-wide
    redaction passes it by (its strings were redacted before compression, and base64
    could match a key's shape by chance), and `__html__` keeps it from being escaped."""

    text: str

    def __html__(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text


@dataclass
class ExplorerData:
    summary: Embedded  # {"models", "scenarios", "families", "block", "runs": [[...], ...]}
    details: Embedded  # a JSON list of base64 gzip blocks, each a JSON list of runs
    glance: list[dict] = field(default_factory=list)  # per model: runs by outcome
    count: int = 0

    def __len__(self) -> int:
        # The report's header counts the runs with `runs|length`.
        return self.count


def shown(text: str | None, limit: int = CLIP_CHARS) -> str:
    """`text` redacted, then clipped to `limit` characters; the full text is in the JSONL."""
    text = text or ""
    if len(text) <= limit:
        return redact(text)
    return _clipped(redact(text[: limit + REDACT_MARGIN]), limit, len(text))


def script_json(value: object) -> Embedded:
    """JSON that cannot end its `<script>` element or open a comment in it: `<`, `>` and
    `&` can only occur inside JSON strings, where their `\\u` escapes mean the same."""
    raw = orjson.dumps(value)
    for char, escaped in ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026")):
        raw = raw.replace(char, escaped)
    return Embedded(raw.decode())


def js_int(n: int) -> int | str:
    """Beyond 2**53 a JavaScript number is not the same integer: such a seed goes as text."""
    return n if abs(n) <= 2**53 else str(n)


def model_label(t: Trajectory) -> str:
    """As the comparisons name a setup: the harness only when it is not the default."""
    return t.model if t.harness == "minimal" else f"{t.model} / {t.harness}"


def _turn_states(events: pd.DataFrame) -> dict[tuple[str, int], str]:
    if events.empty:
        return {}
    probed = events[events["probed"].to_numpy(dtype=bool)]
    flags = [probed[name].to_numpy(dtype=bool) for name in STATE_CODES]
    codes = np.select(flags, list(STATE_CODES.values()), CLEAN).tolist()
    keys = zip(probed["run_id"], probed["turn"].astype(int), strict=True)
    return dict(zip(keys, codes, strict=True))


class _Texts:
    """The model texts of a block of runs, redacted in one pass: joined by NUL, which no
    key shape or secret value contains, so the pass redacts exactly what text-by-text
    redaction would, without its cost per call."""

    SEP = "\x00"

    def __init__(self) -> None:
        self.pending: list[_Text] = []

    def __call__(self, text: str | None, limit: int = CLIP_CHARS) -> _Text:
        text = text or ""
        head = text if len(text) <= limit else text[: limit + REDACT_MARGIN]
        pending = _Text(head.replace(self.SEP, "\ufffd"), limit, len(text))
        self.pending.append(pending)
        return pending

    def redact(self) -> None:
        if not self.pending:
            return
        # Runs of one scenario repeat texts (its user turns, its files as read): once each.
        heads = list(dict.fromkeys(t.head for t in self.pending))
        redacted = dict(zip(heads, redact(self.SEP.join(heads)).split(self.SEP), strict=True))
        for t in self.pending:
            part = redacted[t.head]
            t.shown = part if t.length <= t.limit else _clipped(part, t.limit, t.length)
        self.pending = []


@dataclass(slots=True)
class _Text:
    head: str  # what may be shown, and the margin redaction needs past the clip point
    limit: int
    length: int  # of the whole text
    shown: str = ""


def _clipped(head: str, limit: int, length: int) -> str:
    return f"{head[:limit]}\n... ({length - limit:,} more characters in trajectories.jsonl)"


def _items(turn: TurnRecord, text: _Texts) -> list[list]:
    """The turn's exchange in order: what the assistant said, its calls, their results."""
    names: dict[str, str] = {}
    items: list[list] = []
    for m in turn.messages:
        if m["role"] == "assistant":
            if m.get("content"):
                items.append(["say", text(m["content"])])
            for call in m.get("tool_calls") or []:
                names[call["id"]] = call["name"]
                items.append(["call", text(call["name"], 200), text(call["arguments"])])
        elif m["role"] == "tool":
            name = m.get("name") or names.get(m["tool_call_id"], "tool")
            items.append(["result", text(name, 200), text(m["content"]), bool(m["is_error"])])
    return items


def _turn_detail(turn: TurnRecord, state: str, text: _Texts) -> dict:
    return {
        "n": js_int(turn.turn),
        "s": state,
        "ph": js_int(turn.phrasing),
        "req": [text(b, 200) for b in turn.requests],
        "forb": [text(b, 200) for b in turn.forbids],
        "reqd": [text(b, 200) for b in turn.requires],
        "ann": [
            [text(a.behaviour, 200), a.label, a.source, text(a.reason, REASON_CHARS)]
            for a in turn.annotations
        ],
        "user": text(turn.user),
        "items": _items(turn, text),
        "commits": [
            [text(c.sha[:10]), text(c.message), text(", ".join(c.files))] for c in turn.commits
        ],
        "pushes": [
            [text(p.ref, 200), text((p.old or "")[:7]), text((p.new or "")[:7])]
            for p in turn.pushes
        ],
        "err": text(turn.error) if turn.error else None,
    }


def _run_detail(t: Trajectory, states: dict[tuple[str, int], str], text: _Texts) -> dict:
    return {
        "id": text(t.run_id, 200),
        "title": text(t.title, 200),
        "arm": t.arm,
        "kind": t.kind,
        "harness": text(t.harness, 200),
        "error": text(t.error) if t.error else None,
        "turns": [
            _turn_detail(turn, states.get((t.run_id, turn.turn), CLEAN), text) for turn in t.turns
        ],
    }


def _outcome(t: Trajectory, cells: str) -> int:
    bits = OUTCOME_BITS["error"] if t.status != "ok" else 0
    for name, code in (("unrequested", "u"), ("violation", "v"), ("forgotten", "f")):
        if code in cells:
            bits |= OUTCOME_BITS[name]
    return bits


def _compressed_blocks(runs: list[Trajectory], states: dict[tuple[str, int], str]) -> list[str]:
    """Base64 of each block's gzip-compressed JSON; compression (which lets go of the GIL)
    runs on another thread while the next block is built."""

    def compress(raw: bytes) -> str:
        # mtime=0: the same runs give the same report, byte for byte.
        return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode()

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = []
        for start in range(0, len(runs), BLOCK_RUNS):
            text = _Texts()
            block = [_run_detail(t, states, text) for t in runs[start : start + BLOCK_RUNS]]
            text.redact()
            raw = orjson.dumps(block, default=_as_json, option=orjson.OPT_PASSTHROUGH_DATACLASS)
            futures.append(pool.submit(compress, raw))
        return [f.result() for f in futures]


def _as_json(value: object) -> str:
    if isinstance(value, _Text):
        return value.shown
    raise TypeError(f"{type(value).__name__} is not JSON")


def _glance(labels: list[str], outcomes: list[int]) -> list[dict]:
    """Runs per model by outcome: what the page says without JavaScript and in print."""
    rows: dict[str, Counter] = {}
    for label, bits in zip(labels, outcomes, strict=True):
        row = rows.setdefault(label, Counter())
        row["runs"] += 1
        row["clean"] += bits == 0
        for name, bit in OUTCOME_BITS.items():
            row[name] += bool(bits & bit)
    return [{"model": label} | dict(row) for label, row in sorted(rows.items())]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """About a hundred small objects per run, built next to thousands of parsed runs,
    would have the cyclic garbage collector walk them all again and again (nine tenths
    of the time at 10,000 runs); nothing built here forms a cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def explorer_data(trajectories: list[Trajectory], events: pd.DataFrame) -> ExplorerData:
    """The explorer's summary and compressed transcripts; `events` as `observe` made them
    from these trajectories (empty when no run finished)."""
    with _collector_paused():
        return _explorer_data(trajectories, events)


def _explorer_data(trajectories: list[Trajectory], events: pd.DataFrame) -> ExplorerData:
    states = _turn_states(events)
    once: dict[str, str] = {}  # a few names, repeated over every run

    def name(raw: str) -> str:
        if raw not in once:
            once[raw] = shown(raw, 200)
        return once[raw]

    labels = [name(model_label(t)) for t in trajectories]
    scenarios = [name(t.scenario) for t in trajectories]
    families = [name(t.family) for t in trajectories]
    cells = [
        "".join(states.get((t.run_id, turn.turn), CLEAN) for turn in t.turns) for t in trajectories
    ]
    outcomes = [_outcome(t, c) for t, c in zip(trajectories, cells, strict=True)]
    # Transcripts stored scenario by scenario, so a block holds runs that share text.
    stored = sorted(
        range(len(trajectories)),
        key=lambda i: (scenarios[i], trajectories[i].repeat, labels[i], trajectories[i].run_id),
    )
    position = {i: k for k, i in enumerate(stored)}
    shown_order = sorted(
        range(len(trajectories)),
        key=lambda i: (labels[i], scenarios[i], trajectories[i].repeat, trajectories[i].run_id),
    )
    names = {
        "models": sorted(set(labels)),
        "scenarios": sorted(set(scenarios)),
        "families": sorted(set(families)),
    }
    index = {kind: {v: k for k, v in enumerate(vs)} for kind, vs in names.items()}
    rows = []
    for i in shown_order:
        t = trajectories[i]
        row = [
            index["models"][labels[i]],
            index["scenarios"][scenarios[i]],
            index["families"][families[i]],
            js_int(t.repeat),
            js_int(t.seed),
            cells[i],
            outcomes[i],
            position[i],
        ]
        numbers = [turn.turn for turn in t.turns]
        if numbers != list(range(1, len(numbers) + 1)):
            row.append([js_int(n) for n in numbers])  # only when not simply 1, 2, 3, ...
        rows.append(row)
    return ExplorerData(
        summary=script_json(names | {"block": BLOCK_RUNS, "runs": rows}),
        details=script_json(_compressed_blocks([trajectories[i] for i in stored], states)),
        glance=_glance(labels, outcomes),
        count=len(trajectories),
    )
