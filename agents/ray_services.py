"""What the workers of a Ray plan share, kept in one place of the cluster.

Two small actors, both started on the driver's node: the response cache (so `--cache
DIR` is the driver's folder, wherever a run is played) and the per-provider call
limits (so a limit holds over the whole cluster, not per worker). The proxies the
workers hold have the interfaces the runner already uses: `ResponseCache` and
`CallLimits`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import ray

from stickiness.agents.models.base import ModelReply
from stickiness.agents.models.cache import ResponseCache


@ray.remote(num_cpus=0)
class CacheService:
    """The driver's response cache, read and written for every worker."""

    def __init__(self, folder: str) -> None:
        self.cache = ResponseCache(Path(folder))

    def get(self, key: str) -> ModelReply | None:
        return self.cache.get(key)

    def put(self, key: str, reply: ModelReply) -> None:
        self.cache.put(key, reply)


class RemoteCache(ResponseCache):
    """A worker's view of the driver's cache. `folder` is the driver's, as recorded in
    every trajectory's model settings; nothing is written on the worker."""

    def __init__(self, service, folder: str) -> None:  # noqa: D107 - no mkdir here
        self.folder = Path(folder)
        self._service = service

    def get(self, key: str) -> ModelReply | None:
        return ray.get(self._service.get.remote(key))

    def put(self, key: str, reply: ModelReply) -> None:
        ray.get(self._service.put.remote(key, reply))


@ray.remote(num_cpus=0)
class LimitService:
    """Slots per provider for the whole cluster. Each slot is held by a named holder
    (a worker), so the slots of a worker that died can be given back."""

    def __init__(self, limits: dict[str, int]) -> None:
        self.limits = dict(limits)
        self.free = dict(limits)
        self.held: dict[tuple[str, str], int] = {}
        self.peak = dict.fromkeys(limits, 0)
        self.changed = asyncio.Condition()

    async def acquire(self, provider: str, holder: str, timeout: float) -> bool:
        async with self.changed:
            try:
                await asyncio.wait_for(
                    self.changed.wait_for(lambda: self.free[provider] > 0), timeout
                )
            except TimeoutError:
                return False
            self.free[provider] -= 1
            key = (provider, holder)
            self.held[key] = self.held.get(key, 0) + 1
            in_use = self.limits[provider] - self.free[provider]
            self.peak[provider] = max(self.peak[provider], in_use)
            return True

    async def release(self, provider: str, holder: str) -> None:
        async with self.changed:
            key = (provider, holder)
            if self.held.get(key, 0) > 0:
                self.held[key] -= 1
                self.free[provider] += 1
                self.changed.notify_all()

    async def release_all(self, holder: str) -> int:
        """Give back every slot `holder` held (it died with calls in flight)."""
        async with self.changed:
            freed = 0
            for (provider, who), count in list(self.held.items()):
                if who == holder and count:
                    self.free[provider] += count
                    self.held[(provider, who)] = 0
                    freed += count
            self.changed.notify_all()
            return freed

    async def peaks(self) -> dict[str, int]:
        return dict(self.peak)


class ClusterLimits:
    """A worker's handle on the cluster's slots (the `CallLimits` interface)."""

    def __init__(self, service, limits: dict[str, int], holder: str) -> None:
        self._service, self._limits, self._holder = service, dict(limits), holder

    def limited(self, provider: str) -> bool:
        return provider in self._limits

    def acquire(self, provider: str, timeout: float) -> bool:
        return ray.get(self._service.acquire.remote(provider, self._holder, timeout))

    def release(self, provider: str) -> None:
        ray.get(self._service.release.remote(provider, self._holder))
