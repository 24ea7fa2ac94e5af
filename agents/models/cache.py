"""Opt-in on-disk response cache, keyed on the exact request.

Re-running the same scenarios with the same seeds sends the same requests, so every
call is served from disk: no cost, and identical trajectories.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from stickiness.agents.models.base import ModelReply, Usage
from stickiness.agents.redact import redact


class ResponseCache:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(identity: dict, request: dict) -> str:
        text = json.dumps({"to": identity, "request": request}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> ModelReply | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            return ModelReply(data["content"], data["tool_calls"], Usage(**data["usage"]), True)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or damaged: ask the model again

    def put(self, key: str, reply: ModelReply) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "content": reply.content,
            "tool_calls": reply.tool_calls,
            "usage": asdict(reply.usage),
        }
        # Write then rename: concurrent runs never see half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            # The cache is an output folder like any other: no key a server echoed.
            fh.write(redact(json.dumps(data)))
        os.replace(tmp, path)


class CachedModel:
    """Wraps a real adapter: looks each request up before sending it."""

    def __init__(self, inner, cache: ResponseCache) -> None:
        self.inner = inner
        self.cache = cache
        self.spec = inner.spec
        self.simulated = inner.simulated

    def describe(self) -> dict:
        return self.inner.describe() | {"response_cache": str(self.cache.folder)}

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        settings = self.inner.settings
        identity = {"provider": settings.spec.provider, "base_url": settings.base_url}
        key = self.cache.key(identity, self.inner.request(messages, tools))
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        reply = self.inner.complete(messages, tools)
        self.cache.put(key, reply)
        return reply
