"""At most N model calls in flight per provider, over the whole plan.

A provider's rate limit belongs to its key, not to a worker: twenty workers sharing one
key must share one budget. The local executor keeps the budget in this process
(`LocalLimits`); the Ray executor keeps it in one actor of the cluster (see
`ray_services`). Both hand out slots through the same `CallLimits` interface, and a model
call (or, for an agent CLI, which makes its own calls, a whole turn) holds one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

from stickiness.agents.loop import RunStopped
from stickiness.agents.models.base import ModelReply

# How often a caller waiting for a slot looks whether its run is being stopped.
POLL_SECONDS = 0.25


class LimitError(ValueError):
    """A `--provider-limit` that cannot be used; the message says why."""


def parse_limits(items: list[str] | None, providers: tuple[str, ...]) -> dict[str, int]:
    """`["openai=8", ...]` as {"openai": 8}, checked against the known providers."""
    limits: dict[str, int] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise LimitError(f"--provider-limit {item!r}: expected PROVIDER=N, e.g. openai=8")
        if name not in providers:
            raise LimitError(
                f"--provider-limit {item!r}: unknown provider {name!r}; "
                f"expected one of: {', '.join(providers)}"
            )
        try:
            count = int(value)
        except ValueError:
            count = 0
        if count < 1:
            raise LimitError(f"--provider-limit {item!r}: expected a whole number of at least 1")
        limits[name] = count
    return limits


class CallLimits(Protocol):
    def acquire(self, provider: str, timeout: float) -> bool:
        """Take one of the provider's slots; False if none came free in `timeout` s."""

    def release(self, provider: str) -> None: ...

    def limited(self, provider: str) -> bool: ...


class LocalLimits:
    """Slots kept in this process, for runs played by its threads."""

    def __init__(self, limits: Mapping[str, int]) -> None:
        self._slots = {name: threading.BoundedSemaphore(n) for name, n in limits.items()}

    def acquire(self, provider: str, timeout: float) -> bool:
        return self._slots[provider].acquire(timeout=timeout)

    def release(self, provider: str) -> None:
        self._slots[provider].release()

    def limited(self, provider: str) -> bool:
        return provider in self._slots


@contextmanager
def slot(
    limits: CallLimits | None, provider: str, should_stop: Callable[[], bool]
) -> Iterator[None]:
    """Hold one of `provider`'s slots for the block; a stop request ends the wait."""
    if limits is None or not limits.limited(provider):
        yield
        return
    while not limits.acquire(provider, POLL_SECONDS):
        if should_stop():
            raise RunStopped
    try:
        yield
    finally:
        limits.release(provider)


class LimitedModel:
    """Wraps a real adapter: each request it sends holds a slot of its provider.
    Placed under the response cache, so a cached reply takes no slot."""

    def __init__(
        self, inner, provider: str, limits: CallLimits, should_stop: Callable[[], bool]
    ) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.simulated = inner.simulated
        self._provider, self._limits, self._should_stop = provider, limits, should_stop

    def __getattr__(self, name: str):
        # `settings`, `request` and the rest, as the cache and the runner expect them.
        return getattr(self.inner, name)

    def describe(self) -> dict:
        return self.inner.describe()

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        with slot(self._limits, self._provider, self._should_stop):
            return self.inner.complete(messages, tools)
