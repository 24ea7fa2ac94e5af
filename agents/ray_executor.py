"""The plan played on a Ray cluster; this process (the driver) records every run.

Workers are Ray actors (`RunWorker`), each playing several runs at once on threads. The
driver sends runs to the least busy worker, at most `concurrency` in flight over the
cluster, and writes each finished run as it comes back, so the run folder keeps the
local executor's rules: one writer, one whole line per run, `--resume` plays what is
missing. A worker lost with its process or node loses only the runs it had in flight:
they are sent to another worker (a replacement is started, wherever the cluster has
room) and each run is recorded once, from the attempt that finished.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import math
import signal
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stickiness.agents.models import AGENT_PROVIDERS
from stickiness.agents.models.remote import spec_variables
from stickiness.agents.runner import RunOptions, RunSpec, unplayed_run
from stickiness.agents.trajectory import Trajectory

START_TIMEOUT = 120.0  # seconds for a worker to be placed, started and checked
MAX_LOSSES = 3  # a run whose worker was lost this many times is recorded as an error
WAIT_STEP = 0.5  # seconds between looks at the runs in flight
CLOSE_TIMEOUT = 10.0  # seconds for the workers to clear their folders before they go


class ExecutorError(RuntimeError):
    """The cluster cannot play the plan; the message says what to change."""


@dataclass(frozen=True)
class RunResources:
    """What one run in flight asks of the node it runs on (Ray's logical resources)."""

    cpu: float
    memory_mib: int


# An agent CLI is a Node or native process of a few hundred MB that works while the
# model thinks; an API run is a thread waiting on a socket.
RESOURCES = {
    "sim": RunResources(cpu=0.05, memory_mib=64),
    "api": RunResources(cpu=0.05, memory_mib=128),
    "agent": RunResources(cpu=0.5, memory_mib=768),
}


def run_kind(provider: str) -> str:
    if provider == "sim":
        return "sim"
    return "agent" if provider in AGENT_PROVIDERS else "api"


@dataclass(frozen=True)
class RaySettings:
    address: str | None = None  # None: a Ray started on this machine for the plan
    workers: int | None = None  # None: one per CPU of the cluster, at most concurrency
    runtime_env: dict | None = None
    limits: dict[str, int] = field(default_factory=dict)  # calls in flight per provider


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError(
            "--executor ray needs Ray, an optional extra: pip install 'stickiness[ray]'"
        ) from None
    return ray


@dataclass
class _Worker:
    handle: object
    name: str
    threads: int
    where: str = "?"
    pid: int | None = None
    busy: int = 0
    alive: bool = True


class RayExecutor:
    """Plays specs on Ray. `lost` counts run attempts lost with their worker."""

    def __init__(self, settings: RaySettings) -> None:
        self.settings = settings
        self.ray = _import_ray()
        self.lost = 0
        self.workers: list[_Worker] = []
        self._started_ray = False
        self._services: list = []
        self._limiter = None
        self._names = 0

    # -- the cluster -------------------------------------------------------------------
    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return  # the caller's own connection (a test, a notebook)
        # Ray puts handlers of its own on SIGINT and SIGTERM, which end the process at
        # once; this command's own (stop the runs, keep the finished ones) come back.
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            ray.init(
                address=self.settings.address,
                runtime_env=self.settings.runtime_env,
                namespace="stickiness",
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.settings.address or "a Ray on this machine"
            raise ExecutorError(f"--executor ray: cannot start or reach {where}: {exc}") from None
        finally:
            for sig, handler in handlers.items():
                if handler is not None:
                    signal.signal(sig, handler)
        self._started_ray = True

    def _shared(self, specs: list[RunSpec], options: RunOptions):
        from stickiness.agents.external.base import CLI_FOLDER_VAR, cli_folder
        from stickiness.agents.ray_services import CacheService, LimitService
        from stickiness.agents.ray_worker import Shared, shipped_options

        here = self.ray.get_runtime_context().get_node_id()
        on_driver = {"scheduling_strategy": _node_affinity(self.ray, here)}
        cache = cache_folder = None
        if options.cache is not None:
            cache_folder = str(Path(options.cache.folder).resolve())
            cache = CacheService.options(**on_driver).remote(cache_folder)
            self._services.append(cache)
        limits = dict(self.settings.limits)
        if limits:
            self._limiter = LimitService.options(**on_driver).remote(limits)
            self._services.append(self._limiter)
        env = {}
        for model in {s.model for s in specs}:
            env |= spec_variables(model)
        if any(s.model.provider in AGENT_PROVIDERS for s in specs):
            env[CLI_FOLDER_VAR] = str(cli_folder())
        return Shared(shipped_options(options), cache, cache_folder, self._limiter, limits, env)

    def _needs(self, specs: list[RunSpec], options: RunOptions):
        from stickiness.agents.ray_worker import Needs, cli_version_of

        models = sorted({str(s.model) for s in specs})
        versions = {
            m: cli_version_of(m, options) for m in models if m.split(":", 1)[0] in AGENT_PROVIDERS
        }
        repos = sorted({str(s.scenario.workspace_repo) for s in specs if s.scenario.workspace_repo})
        return Needs(
            importlib.metadata.version("stickiness"), tuple(models), versions, tuple(repos)
        )

    def _start(self, count: int, threads: int, shared, needs, kind: RunResources) -> list:
        from stickiness.agents.ray_worker import RunWorker

        started = []
        for _ in range(count):
            self._names += 1
            name = f"worker-{self._names}"
            handle = RunWorker.options(
                max_concurrency=threads,
                num_cpus=round(threads * kind.cpu, 3),
                memory=threads * kind.memory_mib * 2**20,
                scheduling_strategy="SPREAD",
            ).remote(shared, name)
            started.append(_Worker(handle, name, threads))
        checks = {w.handle.check.remote(needs): w for w in started}
        ready, waiting = self.ray.wait(list(checks), num_returns=len(checks), timeout=START_TIMEOUT)
        problems = []
        if waiting:
            total = self.ray.cluster_resources()
            problems.append(
                f"{len(waiting)} of {len(checks)} workers did not start within "
                f"{START_TIMEOUT:.0f} s; each asks for {threads * kind.cpu:.2f} CPU and "
                f"{threads * kind.memory_mib} MiB (for {threads} runs at once), the cluster "
                f"has {total.get('CPU', 0):g} CPU and {total.get('memory', 0) / 2**20:.0f} MiB: "
                "give it more, or lower --concurrency or raise --ray-workers"
            )
        for ref in ready:
            worker = checks[ref]
            try:
                found = self.ray.get(ref)
            except self.ray.exceptions.RayError as exc:
                problems.append(f"{worker.name}: could not start: {_first_line(exc)}")
                continue
            worker.where, worker.pid = f"{found['host']} pid {found['pid']}", found["pid"]
            problems += [f"{worker.name} on {worker.where}: {p}" for p in found["problems"]]
        if problems:
            for w in started:
                self.ray.kill(w.handle)
            raise ExecutorError(
                "the Ray workers cannot play this plan:\n  " + "\n  ".join(problems)
            )
        return started

    def close(self) -> None:
        alive = [w.handle.close.remote() for w in self.workers if w.alive]
        if alive:
            self.ray.wait(alive, num_returns=len(alive), timeout=CLOSE_TIMEOUT)
        for w in self.workers:
            self.ray.kill(w.handle)
        for service in self._services:
            self.ray.kill(service)
        self.workers, self._services = [], []
        if self._started_ray:
            self.ray.shutdown()
            self._started_ray = False

    def peaks(self) -> dict[str, int]:
        """Most calls in flight at once per limited provider, over the whole cluster."""
        if self._limiter is None:
            return {}
        return self.ray.get(self._limiter.peaks.remote())

    # -- the plan ----------------------------------------------------------------------
    def prepare(self, specs: list[RunSpec], options: RunOptions, concurrency: int) -> None:
        """Start and check the workers for a plan of these specs, once: later `run`
        calls (a comparison's batches) reuse them. Raises `ExecutorError`."""
        if self.workers:
            return
        self._connect()
        concurrency = max(1, concurrency)
        kind = max(
            (RESOURCES[run_kind(s.model.provider)] for s in specs), key=lambda r: r.memory_mib
        )
        count, threads = self._shape(concurrency, kind)
        self._plan = (self._shared(specs, options), self._needs(specs, options), kind)
        self._transcripts = options.transcripts
        self.workers = self._start(count, threads, *self._plan)
        self._replacements = 2 * count

    def _shape(self, concurrency: int, kind: RunResources) -> tuple[int, int]:
        """(workers, threads each): `--ray-workers` if given, else one per CPU of the
        cluster, and more when that many would not fit on its largest node."""
        if self.settings.workers:
            count = min(concurrency, self.settings.workers)
            return count, math.ceil(concurrency / count)
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        cpus = int(sum(n.get("CPU", 0) for n in nodes)) or 1
        fits = max(
            1,
            min(
                int(max((n.get("CPU", 0) for n in nodes), default=1) / kind.cpu),
                int(max((n.get("memory", 0) for n in nodes), default=0) / 2**20 / kind.memory_mib)
                or 1,
            ),
        )
        count = max(1, min(concurrency, max(cpus, math.ceil(concurrency / fits))))
        return count, math.ceil(concurrency / count)

    def run(
        self,
        specs: list[RunSpec],
        record: Callable[[Trajectory], None],
        options: RunOptions,
        concurrency: int,
        grace: float,
    ) -> None:
        """Play `specs`, calling `record` with each finished run, in this thread. On
        KeyboardInterrupt, the workers stop their runs at the next step; those finishing
        within `grace` are still recorded. Raises `RunsInterrupted` then."""
        if not specs:
            return
        self.prepare(specs, options, concurrency)
        concurrency = max(1, concurrency)
        todo = deque(specs)
        flying: dict = {}  # ref -> (spec, worker)
        losses: Counter[str] = Counter()
        try:
            while todo or flying:
                self._send(todo, flying, concurrency)
                ready, _ = self.ray.wait(list(flying), num_returns=1, timeout=WAIT_STEP)
                for ref in ready:
                    spec, worker = flying.pop(ref)
                    worker.busy -= 1
                    self._settle(ref, spec, worker, record, todo, losses)
        except KeyboardInterrupt:
            self._interrupt(flying, record, grace)
        except self.ray.exceptions.RayError as exc:
            # The cluster itself is gone (its head, the connection): nothing to wait for.
            raise ExecutorError(
                f"lost the Ray cluster with {len(flying)} runs in flight: {_first_line(exc)}; "
                "the runs recorded so far are kept: `--resume` plays the rest"
            ) from None

    def _send(self, todo: deque, flying: dict, concurrency: int) -> None:
        while todo and len(flying) < concurrency:
            alive = [w for w in self.workers if w.alive and w.busy < w.threads]
            if not alive:
                return
            worker = min(alive, key=lambda w: w.busy)
            spec = todo.popleft()
            flying[worker.handle.play.remote(spec)] = (spec, worker)
            worker.busy += 1

    def _settle(self, ref, spec: RunSpec, worker: _Worker, record, todo, losses) -> None:
        ray = self.ray
        try:
            played = ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            self.lost += 1
            losses[spec.run_id] += 1
            if losses[spec.run_id] >= MAX_LOSSES:
                message = f"WorkerLost: its worker was lost {MAX_LOSSES} times; last: "
                record(unplayed_run(spec, message + _first_line(exc), losses[spec.run_id]))
            else:
                todo.appendleft(spec)  # first in line: it was started before the rest
            self._lose(worker)
            if todo and not any(w.alive for w in self.workers):
                raise ExecutorError(
                    f"every Ray worker was lost (the last: {worker.name} on {worker.where}); "
                    "the runs recorded so far are kept: `--resume` plays the rest"
                ) from None
            return
        except ray.exceptions.RayError as exc:
            raise ExecutorError(f"run {spec.run_id} failed on {worker.name}: {exc}") from None
        if played is not None:
            record(self._received(played))

    def _received(self, played) -> Trajectory:
        """The trajectory as the driver keeps it, the agent's transcript written into the
        run folder, where the local executor would have copied it."""
        trajectory = played.trajectory
        if played.transcript is None:
            return trajectory
        session = dict(trajectory.agent_session)
        session["transcript"] = None
        if self._transcripts is not None:
            self._transcripts.mkdir(parents=True, exist_ok=True)
            target = self._transcripts / Path(played.transcript_name).name
            target.write_bytes(played.transcript)
            session["transcript"] = str(target)
        return trajectory.model_copy(update={"agent_session": session})

    def _lose(self, worker: _Worker) -> None:
        """`worker` died: give back the slots it held and start another in its place,
        while the budget of replacements lasts."""
        if not worker.alive:
            return
        worker.alive = False
        if self._limiter is not None:
            self.ray.get(self._limiter.release_all.remote(worker.name))
        if self._replacements > 0:
            self._replacements -= 1
            # No room left for it: the plan goes on with the workers it has.
            with contextlib.suppress(ExecutorError):
                self.workers += self._start(1, worker.threads, *self._plan)

    def _interrupt(self, flying: dict, record, grace: float) -> None:
        from stickiness.agents.scheduler import RunsInterrupted

        ray = self.ray
        for w in self.workers:
            if w.alive:
                w.handle.halt.remote()
        deadline = time.monotonic() + grace
        dropped = 0
        try:
            while flying and time.monotonic() < deadline:
                ready, _ = ray.wait(list(flying), num_returns=1, timeout=WAIT_STEP)
                for ref in ready:
                    flying.pop(ref)
                    try:
                        played = ray.get(ref)
                    except ray.exceptions.RayError:
                        played = None
                    if played is None:
                        dropped += 1
                    else:
                        record(self._received(played))
        except KeyboardInterrupt:  # a second Ctrl-C: do not wait any longer
            pass
        raise RunsInterrupted(not flying, dropped + len(flying)) from None


def _node_affinity(ray, node_id: str):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id, soft=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
