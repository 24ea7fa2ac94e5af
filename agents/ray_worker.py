"""A Ray worker process that plays runs: one actor, a thread per run in flight.

Runs are I/O-bound (most of a run is waiting for a model), so a worker plays several
at once on threads, as the local executor does, and builds every run's sandbox on its
own disk. It returns each finished run to the driver, which alone writes the run
folder; an agent CLI's own transcript travels back with it for the same reason.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass, fields
from pathlib import Path

import ray

from stickiness.agents.leftovers import remove_stale_sandboxes, sandbox_prefix
from stickiness.agents.models import AGENT_PROVIDERS, ModelSpec, ModelSpecError, check_model
from stickiness.agents.ray_services import ClusterLimits, RemoteCache
from stickiness.agents.runner import RunOptions, RunSpec
from stickiness.agents.scheduler import play_with_retries
from stickiness.agents.trajectory import Trajectory

# Options that travel to the workers as they are; the rest are made there.
_LOCAL_ONLY = frozenset({"stop", "cache", "transcripts", "limits", "clock"})
CONTROL = "control"  # the concurrency group of the calls that must not wait for runs


def shipped_options(options: RunOptions) -> dict:
    return {f.name: getattr(options, f.name) for f in fields(options) if f.name not in _LOCAL_ONLY}


@dataclass(frozen=True)
class Shared:
    """What every worker of a plan gets at its start."""

    options: dict  # `shipped_options`
    cache: object | None  # a CacheService handle
    cache_folder: str | None
    limiter: object | None  # a LimitService handle
    limits: dict[str, int]
    env: dict[str, str]  # the key variables the plan's specs name, and where CLIs are


@dataclass(frozen=True)
class Needs:
    """What the plan needs of a worker, checked before any run is sent to it."""

    version: str  # this package's, on the driver
    models: tuple[str, ...]
    cli_versions: dict[str, str]  # agent spec -> the CLI version the driver found
    repositories: tuple[str, ...]  # scenarios' workspace repositories


@dataclass(frozen=True)
class Played:
    """A finished run as it travels back: the record and the agent's own transcript."""

    trajectory: Trajectory
    transcript_name: str | None = None
    transcript: bytes | None = None


@ray.remote(max_restarts=0, concurrency_groups={CONTROL: 1})
class RunWorker:
    def __init__(self, shared: Shared, holder: str) -> None:
        for name, value in shared.env.items():
            os.environ.setdefault(name, value)
        # What workers killed on this machine left behind (their sandboxes and folders
        # are named for their process), as `stickiness run` does at its start.
        remove_stale_sandboxes()
        self.stop = threading.Event()
        # Transcripts wait here between a run's end and its return to the driver.
        self.transcripts = Path(tempfile.mkdtemp(prefix=f"{sandbox_prefix()}transcripts-"))
        cache = RemoteCache(shared.cache, shared.cache_folder) if shared.cache is not None else None
        limits = (
            ClusterLimits(shared.limiter, shared.limits, holder)
            if shared.limiter is not None
            else None
        )
        self.options = RunOptions(
            **shared.options,
            stop=self.stop,
            cache=cache,
            transcripts=self.transcripts,
            limits=limits,
        )

    @ray.method(concurrency_group=CONTROL)
    def check(self, needs: Needs) -> dict:
        """Where this worker is, and what it lacks of what the plan needs."""
        problems = []
        if shutil.which("git") is None:
            problems.append("git is not installed (not on PATH)")
        try:
            version = importlib.metadata.version("stickiness")
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        if version != needs.version:
            problems.append(f"stickiness {version} here, {needs.version} on the driver")
        for text in needs.models:
            try:
                spec = check_model(text, self.options.call)
            except ModelSpecError as exc:
                problems.append(str(exc))
                continue
            if spec.provider in AGENT_PROVIDERS and text in needs.cli_versions:
                here = _cli_version(spec, self.options)
                if here != needs.cli_versions[text]:
                    problems.append(
                        f"model {text}: CLI version {here} here, "
                        f"{needs.cli_versions[text]} on the driver"
                    )
        for repo in needs.repositories:
            if not Path(repo, ".git").exists() and not Path(repo, "HEAD").is_file():
                problems.append(f"the scenarios' workspace repository {repo} is not here")
        return {"host": socket.gethostname(), "pid": os.getpid(), "problems": problems}

    @ray.method(concurrency_group=CONTROL)
    def close(self) -> None:
        shutil.rmtree(self.transcripts, ignore_errors=True)

    @ray.method(concurrency_group=CONTROL)
    def halt(self) -> None:
        """Stop the runs in flight at their next step (they come back as None)."""
        self.stop.set()

    def play(self, spec: RunSpec) -> Played | None:
        trajectory = play_with_retries(spec, self.options)
        if trajectory is None:
            return None
        source = trajectory.agent_session.get("transcript")
        if not source:
            return Played(trajectory)
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError:
            return Played(trajectory)
        path.unlink(missing_ok=True)
        return Played(trajectory, path.name, data)


def cli_version_of(text: str, options: RunOptions) -> str:
    """The version of the agent CLI a spec runs, here (the spec was checked already)."""
    return _cli_version(ModelSpec.parse(text), options)


def _cli_version(spec, options: RunOptions) -> str:
    from stickiness.agents.external import AGENTS

    return AGENTS[spec.provider](spec, options.call).version
