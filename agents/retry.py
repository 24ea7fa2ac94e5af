"""Patience with a flaky provider, above the SDK's own retries.

The SDKs retry a call a few times within seconds. An outage or a rate limit can last
longer; then the call is tried again in place after a longer backoff (2, 4, 8 s...,
with jitter), because a failed call changed nothing: the conversation and the sandbox
are as they were, and the calls already paid for are kept. Only when that fails too is
the run recorded as a transient error (and played again by the scheduler or
`--resume`).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from stickiness.agents.models.base import ModelCallError, ModelReply

MAX_BACKOFF = 60.0


def backoff_delay(key: str, attempt: int, base: float) -> float:
    """Seconds to wait before try `attempt + 1`: doubling from `base`, capped, with a
    jitter seeded by `key` so a retry storm spreads out and stays reproducible."""
    jitter = random.Random(f"{key}:{attempt}").uniform(0.5, 1.0)
    return min(MAX_BACKOFF, base * 2 ** (attempt - 1)) * jitter


class RetryingModel:
    """Wraps an adapter: a call that failed transiently is tried again, at most
    `retries` more times; `wait(seconds)` returns True when the run is being stopped."""

    def __init__(
        self,
        inner,
        retries: int,
        base: float,
        wait: Callable[[float], bool],
        key: str,
    ) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.simulated = inner.simulated
        self._retries, self._base, self._wait, self._key = retries, base, wait, key
        self._calls = 0
        self.retried = 0  # calls tried again, over the run

    def describe(self) -> dict:
        return self.inner.describe()

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        self._calls += 1
        attempt = 0
        while True:
            try:
                return self.inner.complete(messages, tools)
            except ModelCallError as exc:
                attempt += 1
                if not exc.transient or attempt > self._retries:
                    raise
                delay = backoff_delay(f"{self._key}:{self._calls}", attempt, self._base)
                if self._wait(delay):
                    raise
                self.retried += 1
