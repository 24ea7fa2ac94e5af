"""Run scenarios x models x repeats, each seeded, into an append-only JSONL file."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import platform
import random
import subprocess
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stickiness.agents.harness import Harness, get_harness
from stickiness.agents.loop import build_agent, recursion_limit
from stickiness.agents.models import CallOptions, ModelSpec, ResponseCache, create_model
from stickiness.agents.pricing import DEFAULT_PRICES, Price, PriceTable
from stickiness.agents.sandbox import Sandbox
from stickiness.agents.trajectory import (
    CommitRecord,
    PushRecord,
    Trajectory,
    TurnRecord,
    append_trajectory,
    iter_records,
)
from stickiness.scenarios.model import Scenario, Turn

DEFAULT_MAX_STEPS = 20
MAX_DIFF_CHARS = 50_000


def _clip(diff: str) -> str:
    return diff if len(diff) <= MAX_DIFF_CHARS else diff[:MAX_DIFF_CHARS] + "\n(diff clipped)\n"


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
    keep_workspaces: bool = False
    call: CallOptions = field(default_factory=CallOptions)
    cache: ResponseCache | None = None
    prices: PriceTable = field(default_factory=lambda: PriceTable(dict(DEFAULT_PRICES)))
    # Set to stop between turns; a run stopped this way is not recorded.
    stop: threading.Event = field(default_factory=threading.Event)


class RunStopped(Exception):
    """The run was asked to stop (Ctrl-C) before it finished."""


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


def _play_turn(
    agent,
    box: Sandbox,
    history: list[dict],
    turn: Turn,
    index: int,
    phrasing: int,
    max_steps: int,
    before: RepoState,
    price: Price | None,
) -> tuple[TurnRecord, list[dict], RepoState]:
    """One user turn, observed from git as the change from `before` to its end state."""
    text = turn.user[phrasing]
    state = agent.invoke(
        {"messages": [*history, {"role": "user", "content": text}], "steps": 0},
        config={"recursion_limit": recursion_limit(max_steps)},
    )
    messages = state["messages"]
    produced = messages[len(history) + 1 :]
    calls = [m for m in produced if m["role"] == "assistant"]
    usage = [m.get("usage") or {} for m in calls]
    billed = [m.get("usage") or {} for m in calls if not m.get("cached")]
    cost = None if price is None else sum(price.cost(u) for u in billed)
    after = before.next(box)
    pushes = [
        PushRecord(ref=ref, old=before.refs.get(ref), new=after.refs.get(ref))
        for ref in sorted(set(before.refs) | set(after.refs))
        if before.refs.get(ref) != after.refs.get(ref)
    ]
    record = TurnRecord(
        turn=index + 1,
        user=text,
        phrasing=phrasing,
        requests=list(turn.requests),
        forbids=list(turn.forbids),
        requires=list(turn.requires),
        messages=produced,
        commits=[
            CommitRecord(sha=c.sha, message=c.message, files=c.files)
            for c in (box.commits_since(before.head) if after.head != before.head else [])
        ],
        pushes=pushes,
        files_changed=box.changed_between(before.tree, after.tree),
        diff=_clip(box.diff_between(before.tree, after.tree)),
        unpushed_before=before.unpushed,
        dirty_before=before.dirty,
        dirty_after=after.dirty,
        steps=state["steps"],
        # The loop ends on a tool message only when the step limit cut it short.
        step_limit_hit=produced[-1]["role"] == "tool",
        input_tokens=sum(u.get("input_tokens", 0) for u in usage),
        output_tokens=sum(u.get("output_tokens", 0) for u in usage),
        cache_read_tokens=sum(u.get("cache_read_tokens", 0) for u in usage),
        cache_write_tokens=sum(u.get("cache_write_tokens", 0) for u in usage),
        model_calls=len(calls),
        cost_usd=cost,
    )
    return record, messages, after


def run_one(spec: RunSpec, options: RunOptions | None = None) -> Trajectory:
    """Play one scenario with one model. Failures become a record with status error;
    a stop request raises `RunStopped`."""
    options = options or RunOptions()
    max_steps, keep_workspace = options.max_steps, options.keep_workspaces
    price = options.prices.lookup(spec.model.provider, spec.model.name)
    harness: Harness = get_harness(spec.harness)
    scenario, values = spec.scenario.render(spec.seed)
    phrasings = draw_phrasings(scenario, spec.seed)
    turns: list[TurnRecord] = []
    started, status, error = _now(), "ok", None
    model_settings: dict = {}
    workspace: str | None = None
    simulated = spec.model.provider == "sim"
    try:
        model = create_model(spec.model, scenario, spec.seed, options.call, options.cache)
        model_settings, simulated = model.describe(), model.simulated
        with Sandbox(dict(scenario.workspace.files), keep=keep_workspace) as box:
            agent = build_agent(model, box, harness, max_steps)
            history: list[dict] = [{"role": "system", "content": harness.system_prompt}]
            state = RepoState.initial(box)
            for index, phrasing in enumerate(phrasings):
                if options.stop.is_set():
                    raise RunStopped
                record, history, state = _play_turn(
                    agent,
                    box,
                    history,
                    scenario.turns[index],
                    index,
                    phrasing,
                    max_steps,
                    state,
                    price,
                )
                turns.append(record)
            workspace = str(box.root) if keep_workspace else None
    except RunStopped:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure is recorded and the rest go on
        status, error = "error", f"{type(exc).__name__}: {exc}"
    costs = [t.cost_usd for t in turns]
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
        usage={
            key: sum(getattr(t, key) for t in turns)
            for key in (
                "model_calls",
                "input_tokens",
                "output_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
            )
        },
        cost_usd=None if None in costs else sum(costs),
        turns=turns,
    )


def run_all(
    specs: list[RunSpec],
    out_file: Path,
    options: RunOptions | None = None,
    *,
    concurrency: int = 1,
    on_done: Callable[[Trajectory], None] | None = None,
) -> list[Trajectory]:
    """Run the specs, `concurrency` at a time, appending each finished run to `out_file`
    at once. On Ctrl-C: no new runs start, runs in flight stop at their next turn and
    are not recorded, every finished run is kept; then KeyboardInterrupt is re-raised."""
    options = options or RunOptions()
    lock = threading.Lock()
    done: list[Trajectory] = []

    def one(spec: RunSpec) -> Trajectory | None:
        if options.stop.is_set():
            return None
        try:
            trajectory = run_one(spec, options)
        except RunStopped:
            return None
        with lock:
            append_trajectory(out_file, trajectory)
            done.append(trajectory)
        return trajectory

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="run")
    futures = [pool.submit(one, spec) for spec in specs]
    try:
        for future in as_completed(futures):
            trajectory = future.result()
            if trajectory is not None and on_done:
                on_done(trajectory)
    except KeyboardInterrupt:
        options.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return done


def finished_run_ids(out_file: Path) -> set[str]:
    """Run ids already recorded in a trajectories file (for --resume)."""
    if not out_file.exists():
        return set()
    return {record["run_id"] for record in iter_records(out_file, warnings=[])}
