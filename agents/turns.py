"""One user turn: played by the model (through our LangGraph loop, or by an agent CLI
with its own), then observed from git as the change from the state before it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stickiness.agents.external import ExternalAgent
from stickiness.agents.loop import RunStopped, recursion_limit
from stickiness.agents.pricing import Price
from stickiness.agents.sandbox import Sandbox
from stickiness.agents.trajectory import CommitRecord, PushRecord, TurnRecord
from stickiness.agents.transcript import bounded_messages
from stickiness.scenarios.model import Turn

MAX_DIFF_CHARS = 50_000
MAX_ERROR_CHARS = 2_000


def clip_error(text: str) -> str:
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return text[:MAX_ERROR_CHARS] + f"... ({len(text) - MAX_ERROR_CHARS:,} more characters)"


def _clip_diff(diff: str) -> str:
    return diff if len(diff) <= MAX_DIFF_CHARS else diff[:MAX_DIFF_CHARS] + "\n(diff clipped)\n"


class TurnFailed(Exception):
    """A turn ended in an exception; `record` holds what was exchanged until then."""

    def __init__(self, record: TurnRecord, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.record = record
        self.cause = cause


@dataclass(frozen=True)
class RepoState:
    """What git says between two turns. Nothing touches the workspace between turns,
    so one turn's end state is the next one's start: each is read once."""

    head: str
    tree: str  # snapshot of the working files
    refs: dict[str, str]  # origin's refs
    unpushed: int
    dirty: bool

    @classmethod
    def initial(cls, box: Sandbox) -> RepoState:
        # The sandbox has just committed every file and pushed: the working files are
        # HEAD's tree and origin has HEAD.
        head, head_tree = box.head_and_tree()
        return cls(head, head_tree, {"refs/heads/main": head}, 0, False)

    def next(self, box: Sandbox) -> RepoState:
        """The state now, re-reading the unpushed count only if HEAD or origin moved."""
        head, head_tree = box.head_and_tree()
        tree, refs = box.snapshot(), box.remote_refs()
        moved = head != self.head or refs != self.refs
        unpushed = box.unpushed_count(refs) if moved else self.unpushed
        return RepoState(head, tree, refs, unpushed, tree != head_tree)


@dataclass
class TurnOutcome:
    """What the model did in a turn, before git is read."""

    messages: list[dict] = field(default_factory=list)
    steps: int = 0
    failure: BaseException | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    model_calls: int = 0
    cost_usd: float | None = None
    step_limit_hit: bool = False
    time_limit_hit: bool = False


def _stream(graph, history: list[dict], text: str, max_steps: int, deadline: float):
    """Play one user turn through the graph, yielding each node's new messages as it
    ends, so a failure part-way keeps what came before it. Returns the step count."""
    steps = 0
    messages = [*history, {"role": "user", "content": text}]
    for update in graph.stream(
        {"messages": messages, "steps": 0, "deadline": deadline},
        config={"recursion_limit": recursion_limit(max_steps)},
        stream_mode="updates",
    ):
        for node in update.values():
            if node:
                steps = node.get("steps", steps)
                yield node.get("messages", [])
    return steps


def loop_turn(
    graph,
    history: list[dict],
    text: str,
    *,
    max_steps: int,
    deadline: float,
    clock: Callable[[], float],
    price: Price | None,
) -> TurnOutcome:
    """The turn through our LangGraph loop and tools."""
    out = TurnOutcome()
    stream = _stream(graph, history, text, max_steps, deadline)
    try:
        while True:
            out.messages += next(stream)
    except StopIteration as end:
        out.steps = end.value
    except RunStopped:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded with the turn, then re-raised
        out.failure = exc
        out.steps = sum(m["role"] == "assistant" for m in out.messages)
    calls = [m for m in out.messages if m["role"] == "assistant"]
    usage = [m.get("usage") or {} for m in calls]
    for key in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
        setattr(out, key, sum(u.get(key, 0) for u in usage))
    out.model_calls = len(calls)
    billed = [m.get("usage") or {} for m in calls if not m.get("cached")]
    out.cost_usd = None if price is None else sum(price.cost(u) for u in billed)
    # The loop ends on a tool message only when a step or time limit cut it short.
    cut_short = out.failure is None and bool(out.messages) and out.messages[-1]["role"] == "tool"
    out.step_limit_hit = cut_short and out.steps >= max_steps
    out.time_limit_hit = cut_short and clock() >= deadline
    return out


def agent_turn(
    agent: ExternalAgent,
    text: str,
    *,
    deadline: float,
    should_stop: Callable[[], bool],
    clock: Callable[[], float],
    price: Price | None,
) -> TurnOutcome:
    """The turn through an agent CLI with its own loop and tools."""
    turn = agent.run_turn(text, deadline, should_stop, clock)
    out = TurnOutcome(
        messages=turn.messages,
        steps=turn.model_calls,
        failure=turn.error,
        input_tokens=turn.input_tokens,
        output_tokens=turn.output_tokens,
        cache_read_tokens=turn.cache_read_tokens,
        cache_write_tokens=turn.cache_write_tokens,
        model_calls=turn.model_calls,
        time_limit_hit=turn.time_limit_hit,
    )
    usage = {k: getattr(turn, k) for k in ("input_tokens", "output_tokens")} | {
        "cache_read_tokens": turn.cache_read_tokens,
        "cache_write_tokens": turn.cache_write_tokens,
    }
    # The CLI's own figure when it gives one; else the price table's.
    out.cost_usd = (
        turn.cost_usd
        if turn.cost_usd is not None
        else (None if price is None else price.cost(usage))
    )
    return out


def observe_turn(
    box: Sandbox,
    before: RepoState,
    turn: Turn,
    index: int,
    phrasing: int,
    outcome: TurnOutcome,
) -> tuple[TurnRecord, RepoState]:
    """The turn's record, with what git says it did. Raises `TurnFailed` carrying the
    record when the turn failed (or git cannot be read)."""
    failure = outcome.failure
    try:
        after = before.next(box)
        commits = box.commits_since(before.head) if after.head != before.head else []
        changed = box.changed_between(before.tree, after.tree)
        diff = _clip_diff(box.diff_between(before.tree, after.tree))
    except Exception as exc:  # noqa: BLE001 - git could not be read: keep the transcript
        failure = failure or exc
        after, commits, changed, diff = before, [], [], ""
    pushes = [
        PushRecord(ref=ref, old=before.refs.get(ref), new=after.refs.get(ref))
        for ref in sorted(set(before.refs) | set(after.refs))
        if before.refs.get(ref) != after.refs.get(ref)
    ]
    record = TurnRecord(
        turn=index + 1,
        user=turn.user[phrasing],
        phrasing=phrasing,
        requests=list(turn.requests),
        forbids=list(turn.forbids),
        requires=list(turn.requires),
        asks=turn.asks.model_dump() if turn.asks else None,
        messages=bounded_messages(outcome.messages),
        commits=[CommitRecord(sha=c.sha, message=c.message, files=c.files) for c in commits],
        pushes=pushes,
        files_changed=changed,
        diff=diff,
        unpushed_before=before.unpushed,
        dirty_before=before.dirty,
        dirty_after=after.dirty,
        steps=outcome.steps,
        step_limit_hit=outcome.step_limit_hit,
        time_limit_hit=outcome.time_limit_hit,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        cache_read_tokens=outcome.cache_read_tokens,
        cache_write_tokens=outcome.cache_write_tokens,
        model_calls=outcome.model_calls,
        cost_usd=outcome.cost_usd,
        error=None if failure is None else clip_error(f"{type(failure).__name__}: {failure}"),
    )
    if failure is not None:
        raise TurnFailed(record, failure)
    return record, after
