"""Where runs are played: this machine's threads, or a Ray cluster (`--executor ray`).

Ray is an optional extra, imported only when asked for."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stickiness.agents.call_limits import LimitError, LocalLimits, parse_limits
from stickiness.agents.models import PROVIDERS
from stickiness.agents.ray_executor import ExecutorError
from stickiness.agents.scheduler import Executor

EXECUTORS = ("local", "ray")


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="where runs are played: this machine's threads (default), or a Ray cluster "
        "(needs pip install 'stickiness[ray]'); the run folder is written here either way",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="with --executor ray: the cluster to use, e.g. ray://head:10001 or auto "
        "(default: a Ray started on this machine for the command)",
    )
    parser.add_argument(
        "--ray-workers",
        type=int,
        metavar="N",
        help="with --executor ray: worker processes, each playing its share of "
        "--concurrency on threads (default: one per CPU of the cluster)",
    )
    parser.add_argument(
        "--ray-runtime-env",
        metavar="FILE",
        help="with --executor ray: a JSON file with Ray's runtime_env for the workers "
        "(pip packages, environment variables, an image)",
    )
    parser.add_argument(
        "--provider-limit",
        action="append",
        metavar="PROVIDER=N",
        help="at most N model calls in flight to PROVIDER over the whole plan, across "
        "every worker (an agent CLI holds one for a whole turn); repeatable",
    )


def check_executor_options(args: argparse.Namespace) -> str | None:
    """A usage error in these options, or None."""
    ray_flags = [
        flag
        for flag, value in (
            ("--ray-address", args.ray_address),
            ("--ray-workers", args.ray_workers),
            ("--ray-runtime-env", args.ray_runtime_env),
        )
        if value is not None
    ]
    if ray_flags and args.executor != "ray":
        return f"{ray_flags[0]} needs --executor ray"
    if args.ray_workers is not None and args.ray_workers < 1:
        return "--ray-workers must be at least 1"
    try:
        parse_limits(args.provider_limit, PROVIDERS)
    except LimitError as exc:
        return str(exc)
    return None


def local_limits(args: argparse.Namespace) -> LocalLimits | None:
    """The provider limits when this process plays the runs (Ray keeps its own)."""
    limits = parse_limits(args.provider_limit, PROVIDERS)
    return LocalLimits(limits) if limits and args.executor == "local" else None


def _runtime_env(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExecutorError(f"--ray-runtime-env {path}: cannot read it: {exc.strerror}") from None
    except ValueError as exc:
        raise ExecutorError(f"--ray-runtime-env {path}: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ExecutorError(f"--ray-runtime-env {path}: expected a JSON object (Ray's runtime_env)")
    return value


@contextmanager
def executor_for(args: argparse.Namespace) -> Iterator[Executor | None]:
    """The executor the options ask for (None: the local thread pool), closed after."""
    if args.executor != "ray":
        yield None
        return
    from stickiness.agents.ray_executor import RayExecutor, RaySettings

    settings = RaySettings(
        address=args.ray_address,
        workers=args.ray_workers,
        runtime_env=_runtime_env(args.ray_runtime_env),
        limits=parse_limits(args.provider_limit, PROVIDERS),
    )
    executor = RayExecutor(settings)
    try:
        yield executor
    finally:
        executor.close()
