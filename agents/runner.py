"""One seeded run of one scenario with one model, observed from git turn by turn."""

from __future__ import annotations

import errno
import functools
import hashlib
import importlib.metadata
import platform
import random
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stickiness.agents.harness import Harness, get_harness
from stickiness.agents.loop import RunStopped, build_agent, recursion_limit
from stickiness.agents.models import CallOptions, ModelSpec, ResponseCache, create_model
from stickiness.agents.pricing import DEFAULT_PRICES, Price, PriceTable
from stickiness.agents.retry import RetryingModel
from stickiness.agents.sandbox import Sandbox
from stickiness.agents.trajectory import CommitRecord, PushRecord, Trajectory, TurnRecord
from stickiness.agents.transcript import bounded_messages
from stickiness.scenarios.model import Scenario, Turn

DEFAULT_MAX_STEPS = 20
DEFAULT_TURN_TIMEOUT = 900.0  # seconds of wall clock per user turn
MAX_DIFF_CHARS = 50_000
MAX_ERROR_CHARS = 2_000
# Failures of the machine rather than of the run: worth playing the run again later.
_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EAGAIN})


def _clip(diff: str) -> str:
    return diff if len(diff) <= MAX_DIFF_CHARS else diff[:MAX_DIFF_CHARS] + "\n(diff clipped)\n"


def _clip_error(text: str) -> str:
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return text[:MAX_ERROR_CHARS] + f"... ({len(text) - MAX_ERROR_CHARS:,} more characters)"


def is_transient(exc: BaseException) -> bool:
    """A failure that another attempt may not meet: a provider outage, rate limit or
    timeout (the adapters mark those), or the machine short of disk or memory."""
    if getattr(exc, "transient", False):
        return True
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS


def derive_seed(base_seed: int, scenario_id: str, repeat: int) -> int:
    """Seed of one run. It leaves the model out on purpose: two models on the same
    scenario and repeat get the same phrasings and the same random stream."""
    digest = hashlib.sha256(f"{base_seed}|{scenario_id}|{repeat}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def draw_phrasings(scenario: Scenario, seed: int) -> list[int]:
    rng = random.Random(f"phrasing:{seed}")
    return [rng.randrange(len(turn.user)) for turn in scenario.turns]


@dataclass(frozen=True)
class RunOptions:
    max_steps: int = DEFAULT_MAX_STEPS
    turn_timeout: float = DEFAULT_TURN_TIMEOUT
    keep_workspaces: bool = False
    call: CallOptions = field(default_factory=CallOptions)
    cache: ResponseCache | None = None
    prices: PriceTable = field(default_factory=lambda: PriceTable(dict(DEFAULT_PRICES)))
    # A model call that failed transiently is tried again in place after a backoff, at
    # most this many times; a run that still failed transiently is played again.
    run_retries: int = 3
    retry_backoff: float = 2.0  # seconds before the first retry; doubles each time
    # Set to stop runs at their next step; a run stopped this way is not recorded.
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], float] = time.monotonic


class TurnFailed(Exception):
    """A turn ended in an exception; `record` holds what was exchanged until then."""

    def __init__(self, record: TurnRecord, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.record = record
        self.cause = cause


@dataclass(frozen=True)
class RunSpec:
    scenario: Scenario
    model: ModelSpec
    harness: str
    repeat: int
    seed: int

    @property
    def run_id(self) -> str:
        key = f"{self.scenario.id}|{self.model}|{self.harness}|{self.repeat}|{self.seed}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def plan_runs(
    scenarios: Iterable[Scenario],
    models: Iterable[ModelSpec],
    repeats: int,
    base_seed: int = 0,
    harness: str = "minimal",
) -> list[RunSpec]:
    models = list(models)
    return [
        RunSpec(s, m, harness, r, derive_seed(base_seed, s.id, r))
        for s in scenarios
        for r in range(repeats)
        for m in models
    ]


@functools.cache
def tool_versions() -> dict[str, str]:
    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    return {
        "stickiness": version("stickiness"),
        "langgraph": version("langgraph"),
        "python": platform.python_version(),
        "git": git.stdout.strip().removeprefix("git version "),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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


def _stream_turn(agent, history: list[dict], text: str, max_steps: int, deadline: float):
    """Play one user turn through the graph, yielding each node's new messages as it
    ends, so a failure part-way keeps what came before it. Returns the step count."""
    steps = 0
    messages = [*history, {"role": "user", "content": text}]
    for update in agent.stream(
        {"messages": messages, "steps": 0, "deadline": deadline},
        config={"recursion_limit": recursion_limit(max_steps)},
        stream_mode="updates",
    ):
        for node in update.values():
            if node:
                steps = node.get("steps", steps)
                yield node.get("messages", [])
    return steps


def _play_turn(
    agent,
    box: Sandbox,
    history: list[dict],
    turn: Turn,
    index: int,
    phrasing: int,
    options: RunOptions,
    before: RepoState,
    price: Price | None,
) -> tuple[TurnRecord, list[dict], RepoState]:
    """One user turn, observed from git as the change from `before` to its end state.
    Raises `TurnFailed` carrying the partial record if the turn ends in an exception."""
    text = turn.user[phrasing]
    produced: list[dict] = []
    steps, failure = 0, None
    deadline = options.clock() + options.turn_timeout
    stream = _stream_turn(agent, history, text, options.max_steps, deadline)
    try:
        while True:
            produced += next(stream)
    except StopIteration as end:
        steps = end.value
    except RunStopped:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded with the turn, then re-raised
        failure = exc
        steps = sum(m["role"] == "assistant" for m in produced)
    calls = [m for m in produced if m["role"] == "assistant"]
    usage = [m.get("usage") or {} for m in calls]
    billed = [m.get("usage") or {} for m in calls if not m.get("cached")]
    cost = None if price is None else sum(price.cost(u) for u in billed)
    try:
        after = before.next(box)
        commits = box.commits_since(before.head) if after.head != before.head else []
        changed = box.changed_between(before.tree, after.tree)
        diff = _clip(box.diff_between(before.tree, after.tree))
    except Exception as exc:  # noqa: BLE001 - git could not be read: keep the transcript
        if failure is None:
            failure = exc
        after, commits, changed, diff = before, [], [], ""
    pushes = [
        PushRecord(ref=ref, old=before.refs.get(ref), new=after.refs.get(ref))
        for ref in sorted(set(before.refs) | set(after.refs))
        if before.refs.get(ref) != after.refs.get(ref)
    ]
    # The loop ends on a tool message only when a step or time limit cut it short.
    cut_short = failure is None and bool(produced) and produced[-1]["role"] == "tool"
    record = TurnRecord(
        turn=index + 1,
        user=text,
        phrasing=phrasing,
        requests=list(turn.requests),
        forbids=list(turn.forbids),
        requires=list(turn.requires),
        messages=bounded_messages(produced),
        commits=[CommitRecord(sha=c.sha, message=c.message, files=c.files) for c in commits],
        pushes=pushes,
        files_changed=changed,
        diff=diff,
        unpushed_before=before.unpushed,
        dirty_before=before.dirty,
        dirty_after=after.dirty,
        steps=steps,
        step_limit_hit=cut_short and steps >= options.max_steps,
        time_limit_hit=cut_short and options.clock() >= deadline,
        input_tokens=sum(u.get("input_tokens", 0) for u in usage),
        output_tokens=sum(u.get("output_tokens", 0) for u in usage),
        cache_read_tokens=sum(u.get("cache_read_tokens", 0) for u in usage),
        cache_write_tokens=sum(u.get("cache_write_tokens", 0) for u in usage),
        model_calls=len(calls),
        cost_usd=cost,
        error=None if failure is None else _clip_error(f"{type(failure).__name__}: {failure}"),
    )
    if failure is not None:
        raise TurnFailed(record, failure)
    history = [*history, {"role": "user", "content": text}, *produced]
    return record, history, after


def run_one(spec: RunSpec, options: RunOptions | None = None) -> Trajectory:
    """Play one scenario with one model. Failures become a record with status error
    (the turn it failed in keeps its transcript); a stop request raises `RunStopped`."""
    options = options or RunOptions()
    price = options.prices.lookup(spec.model.provider, spec.model.name)
    harness: Harness = get_harness(spec.harness)
    turns: list[TurnRecord] = []
    started, status, error, error_kind = _now(), "ok", None, None
    model_settings: dict = {}
    workspace: str | None = None
    simulated = spec.model.provider == "sim"
    # Until rendered: two template values that only clash together fail this run alone.
    scenario, values = spec.scenario, {}
    model: RetryingModel | None = None
    try:
        scenario, values = spec.scenario.render(spec.seed)
        phrasings = draw_phrasings(scenario, spec.seed)
        model = RetryingModel(
            create_model(spec.model, scenario, spec.seed, options.call, options.cache),
            options.run_retries,
            options.retry_backoff,
            options.stop.wait,
            key=spec.run_id,
        )
        model_settings, simulated = model.describe(), model.simulated
        with Sandbox(dict(scenario.workspace.files), keep=options.keep_workspaces) as box:
            agent = build_agent(
                model,
                box,
                harness,
                options.max_steps,
                should_stop=options.stop.is_set,
                clock=options.clock,
            )
            history: list[dict] = [{"role": "system", "content": harness.system_prompt}]
            state = RepoState.initial(box)
            for index, phrasing in enumerate(phrasings):
                if options.stop.is_set():
                    raise RunStopped
                try:
                    record, history, state = _play_turn(
                        agent,
                        box,
                        history,
                        scenario.turns[index],
                        index,
                        phrasing,
                        options,
                        state,
                        price,
                    )
                except TurnFailed as failed:
                    turns.append(failed.record)
                    raise failed.cause from None
                turns.append(record)
            workspace = str(box.root) if options.keep_workspaces else None
    except RunStopped:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure is recorded and the rest go on
        if options.stop.is_set():
            # Failing because we are stopping (a killed child, a closed connection) is
            # not the run's fault: drop it, to be played again.
            raise RunStopped from exc
        status, error = "error", _clip_error(f"{type(exc).__name__}: {exc}")
        error_kind = "transient" if is_transient(exc) else "fatal"
    costs = [t.cost_usd for t in turns]
    usage = {
        key: sum(getattr(t, key) for t in turns)
        for key in (
            "model_calls",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
        )
    }
    if model is not None and model.retried:
        usage["retried_calls"] = model.retried
    return Trajectory(
        run_id=spec.run_id,
        scenario=spec.scenario.id,
        scenario_file=spec.scenario.source,
        scenario_sha256=spec.scenario.sha256,
        title=scenario.title,
        behaviour=scenario.behaviour,
        family=scenario.family,
        template_values=values,
        detectors=[d.model_dump(by_alias=True, exclude_defaults=True) for d in scenario.detectors],
        arm=spec.scenario.arm,
        kind=spec.scenario.kind,
        control=spec.scenario.control,
        model=str(spec.model),
        simulated=simulated,
        model_settings=model_settings,
        harness=harness.name,
        system_prompt=harness.system_prompt,
        seed=spec.seed,
        repeat=spec.repeat,
        versions=tool_versions(),
        workspace=workspace,
        started_at=started,
        finished_at=_now(),
        status=status,
        error=error,
        error_kind=error_kind,
        usage=usage,
        cost_usd=None if None in costs else sum(costs),
        turns=turns,
    )
