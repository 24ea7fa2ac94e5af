"""What every model adapter speaks: neutral messages in, one assistant reply out.

Messages are plain dicts, the same for every provider:
  {"role": "system" | "user", "content": str}
  {"role": "assistant", "content": str, "tool_calls": [{"id", "name", "arguments"}]}
  {"role": "tool", "tool_call_id": str, "name": str, "content": str, "is_error": bool}
Tool-call arguments stay the raw JSON text the model produced, so malformed ones can be
recorded and reported back to the model as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl


class ModelSpecError(ValueError):
    """A model spec cannot be used; the message says what was expected."""


class ModelCallError(RuntimeError):
    """A provider call failed for good (after the SDK's retries); says model and cause.

    `transient` marks failures worth trying again later: the server unreachable,
    overloaded, rate-limiting or timing out (a run lost to them is played again)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class ModelSpec:
    """`provider:name[?k=v&...]`, parsed."""

    provider: str
    name: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        provider, sep, rest = text.strip().partition(":")
        name, _, query = rest.partition("?")
        if not sep or not provider or not name:
            raise ModelSpecError(
                f"model {text!r}: expected provider:name[?key=value&...], e.g. sim:steady"
            )
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
        except ValueError:
            raise ModelSpecError(
                f"model {text!r}: parameters must look like ?key=value&key=value"
            ) from None
        return cls(provider, name, tuple(pairs))

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params)
        return f"{self.provider}:{self.name}" + (f"?{query}" if query else "")

    def param(self, key: str, default: str | None = None) -> str | None:
        return dict(self.params).get(key, default)


@dataclass(frozen=True)
class Usage:
    """Tokens of one call. `input_tokens` excludes cache reads and writes, which are
    counted apart because they are priced apart."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class ModelReply:
    content: str = ""
    tool_calls: list[dict] = field(default_factory=list)
    usage: Usage = Usage()
    cached: bool = False  # served from the on-disk response cache: no call was made

    def as_message(self) -> dict:
        return {"role": "assistant", "content": self.content, "tool_calls": self.tool_calls}


class ModelAdapter(Protocol):
    """One conversation's model. Adapters are created per run and may keep state."""

    spec: str
    simulated: bool

    def describe(self) -> dict:
        """Resolved settings worth recording in the trajectory (never secrets)."""
        ...

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply: ...
