"""One seeded run of one scenario with one model, observed from git turn by turn."""

from __future__ import annotations

import errno
import functools
import hashlib
import importlib.metadata
import platform
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stickiness.agents.call_limits import CallLimits, slot
from stickiness.agents.external import ExternalAgent
from stickiness.agents.harness import Harness, get_harness
from stickiness.agents.loop import RunStopped, build_agent
from stickiness.agents.models import CallOptions, ModelSpec, ResponseCache, create_model
from stickiness.agents.pricing import DEFAULT_PRICES, PriceTable
from stickiness.agents.retry import RetryingModel
from stickiness.agents.sandbox import Sandbox
from stickiness.agents.trajectory import Trajectory, TurnRecord
from stickiness.agents.turns import (
    RepoState,
    TurnFailed,
    TurnOutcome,
    agent_turn,
    clip_error,
    loop_turn,
    observe_turn,
)
from stickiness.scenarios.model import Scenario

DEFAULT_MAX_STEPS = 20
DEFAULT_TURN_TIMEOUT = 900.0  # seconds of wall clock per user turn
AGENT_SYSTEM_PROMPT = "(the agent's own)"
# Failures of the machine rather than of the run: worth playing the run again later.
_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EAGAIN})


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
    # Where an agent CLI's own transcript of each run is copied (None: not kept).
    transcripts: Path | None = None
    # Model calls in flight per provider, shared by every run of the plan (None: no limit).
    limits: CallLimits | None = None


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


Player = Callable[[str], TurnOutcome]


def _loop_player(model, box: Sandbox, harness: Harness, options: RunOptions, price) -> Player:
    """Turns through our LangGraph loop; the conversation grows turn by turn."""
    graph = build_agent(
        model, box, harness, options.max_steps, should_stop=options.stop.is_set, clock=options.clock
    )
    history: list[dict] = [{"role": "system", "content": harness.system_prompt}]

    def play(text: str) -> TurnOutcome:
        nonlocal history
        out = loop_turn(
            graph,
            history,
            text,
            max_steps=options.max_steps,
            deadline=options.clock() + options.turn_timeout,
            clock=options.clock,
            price=price,
        )
        history = [*history, {"role": "user", "content": text}, *out.messages]
        return out

    return play


def _agent_player(
    agent: ExternalAgent, provider: str, box: Sandbox, options: RunOptions, price
) -> Player:
    """Turns through an agent CLI, which keeps its own conversation (its session)."""
    if agent.prepare(box.root, box.root.parent):
        # The setup's project files (CLAUDE.md, AGENTS.md) are part of the starting
        # state, committed and pushed like the scenario's own files.
        box.git("add", "--all")
        box.git("commit", "--quiet", "-m", "Agent setup")
        box.git("push", "--quiet", "origin", "HEAD:refs/heads/main")

    def play(text: str) -> TurnOutcome:
        # The CLI makes its own calls: a whole turn holds the provider's slot.
        with slot(options.limits, provider, options.stop.is_set):
            return agent_turn(
                agent,
                text,
                deadline=options.clock() + options.turn_timeout,
                should_stop=options.stop.is_set,
                clock=options.clock,
                price=price,
            )

    return play


def _keep_transcript(agent: ExternalAgent, folder: Path | None, run_id: str) -> dict:
    """The agent's session id and its own transcript, copied out of the private home
    (which goes with the sandbox) into `folder`, if given."""
    session = agent.session()
    source = agent.transcript()
    if folder is not None and source is not None and source.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{run_id}{source.suffix}"
        shutil.copyfile(source, target)
        session["transcript"] = str(target)
    return session


def run_one(spec: RunSpec, options: RunOptions | None = None) -> Trajectory:
    """Play one scenario with one model. Failures become a record with status error
    (the turn it failed in keeps its transcript); a stop request raises `RunStopped`."""
    options = options or RunOptions()
    price = options.prices.lookup(spec.model.provider, spec.model.name)
    harness: Harness = get_harness(spec.harness)
    harness_name, system_prompt = harness.name, harness.system_prompt
    turns: list[TurnRecord] = []
    started, status, error, error_kind = _now(), "ok", None, None
    model_settings: dict = {}
    session: dict = {}
    workspace: str | None = None
    workspace_source = None  # where a cloned workspace came from
    simulated = spec.model.provider == "sim"
    # Until rendered: two template values that only clash together fail this run alone.
    scenario, values = spec.scenario, {}
    model = None
    try:
        scenario, values = spec.scenario.render(spec.seed)
        phrasings = draw_phrasings(scenario, spec.seed)
        raw = create_model(
            spec.model,
            scenario,
            spec.seed,
            options.call,
            options.cache,
            options.limits,
            options.stop.is_set,
        )
        if isinstance(raw, ExternalAgent):
            # The agent brings its own prompt and tools: it is its own harness.
            model, harness_name, system_prompt = raw, raw.harness, AGENT_SYSTEM_PROMPT
        else:
            model = RetryingModel(
                raw, options.run_retries, options.retry_backoff, options.stop.wait, spec.run_id
            )
        model_settings, simulated = model.describe(), model.simulated
        with Sandbox(
            dict(scenario.workspace.files),
            keep=options.keep_workspaces,
            repo=scenario.workspace_repo,
            commit=scenario.workspace.commit,
        ) as box:
            workspace_source = vars(box.source) if box.source else None
            try:
                if isinstance(model, ExternalAgent):
                    play = _agent_player(model, spec.model.provider, box, options, price)
                else:
                    play = _loop_player(model, box, harness, options, price)
                state = RepoState.initial(box)
                for index, phrasing in enumerate(phrasings):
                    if options.stop.is_set():
                        raise RunStopped
                    turn = scenario.turns[index]
                    outcome = play(turn.user[phrasing])
                    try:
                        record, state = observe_turn(box, state, turn, index, phrasing, outcome)
                    except TurnFailed as failed:
                        turns.append(failed.record)
                        raise failed.cause from None
                    turns.append(record)
            finally:
                if isinstance(model, ExternalAgent):
                    model.close()
                    session = _keep_transcript(model, options.transcripts, spec.run_id)
            workspace = str(box.root) if options.keep_workspaces else None
    except RunStopped:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure is recorded and the rest go on
        if options.stop.is_set():
            # Failing because we are stopping (a killed child, a closed connection) is
            # not the run's fault: drop it, to be played again.
            raise RunStopped from exc
        status, error = "error", clip_error(f"{type(exc).__name__}: {exc}")
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
    if getattr(model, "retried", 0):
        usage["retried_calls"] = model.retried
    return _trajectory(
        spec,
        scenario,
        values,
        simulated=simulated,
        model_settings=model_settings,
        harness=harness_name,
        system_prompt=system_prompt,
        agent_session=session,
        workspace=workspace,
        workspace_source=workspace_source,
        started_at=started,
        status=status,
        error=error,
        error_kind=error_kind,
        usage=usage,
        cost_usd=None if None in costs else sum(costs),
        turns=turns,
    )


def _trajectory(spec: RunSpec, scenario: Scenario, values: dict, **played) -> Trajectory:
    """The record of a run: what the plan and the scenario say, and what was `played`."""
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
        claim_patterns=[{"kind": c.kind, "pattern": c.pattern} for c in scenario.claim_patterns],
        arm=spec.scenario.arm,
        kind=spec.scenario.kind,
        control=spec.scenario.control,
        model=str(spec.model),
        seed=spec.seed,
        repeat=spec.repeat,
        versions=tool_versions(),
        finished_at=_now(),
        **played,
    )


def unplayed_run(spec: RunSpec, error: str, attempts: int) -> Trajectory:
    """A run that no attempt could play to its end (its worker was lost each time): a
    transient error, so that `--resume` plays it again."""
    harness = get_harness(spec.harness)
    return _trajectory(
        spec,
        spec.scenario,
        {},
        simulated=spec.model.provider == "sim",
        harness=harness.name,
        system_prompt=harness.system_prompt,
        started_at=_now(),
        status="error",
        error=clip_error(error),
        error_kind="transient",
        attempts=attempts,
    )
