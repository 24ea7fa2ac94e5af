"""`anthropic:<model>`: the Messages API with tool_use / tool_result blocks, through the
official SDK, with prompt caching on the growing transcript."""

from __future__ import annotations

import json

import anthropic

from stickiness.agents.models.base import ModelReply, Usage
from stickiness.agents.models.remote import RemoteModel

DEFAULT_MAX_TOKENS = 4096
CACHE = {"type": "ephemeral"}


def _tool_input(arguments: str) -> dict:
    # Anthropic wants an object; a call we recorded as malformed is replayed as its text.
    try:
        value = json.loads(arguments) if arguments else {}
    except (json.JSONDecodeError, RecursionError):  # malformed, or nested past any use
        return {"_unparsed_arguments": arguments}
    return value if isinstance(value, dict) else {"_unparsed_arguments": arguments}


def _arguments(value: object) -> str:
    """The JSON text of a tool_use input; one nested past any use is handed to the tool
    as text it will refuse, rather than failing the run."""
    try:
        return json.dumps(value)
    except (RecursionError, TypeError, ValueError):
        return "<tool input too deeply nested to record>"


def to_anthropic(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """Neutral messages -> (system blocks, Messages API messages).

    Tool results and the next user text share one user message, as the API requires
    strict user/assistant alternation. Two cache breakpoints: after the system prompt
    (which caches the tools too) and at the end of the transcript, so each call reads
    everything before it from the cache.
    """
    system: list[dict] = []
    out: list[dict] = []

    def add(role: str, block: dict) -> None:
        if out and out[-1]["role"] == role:
            out[-1]["content"].append(block)
        else:
            out.append({"role": role, "content": [block]})

    for m in messages:
        role = m["role"]
        if role == "system":
            system.append({"type": "text", "text": m["content"]})
        elif role == "user":
            add("user", {"type": "text", "text": m["content"]})
        elif role == "assistant":
            if m.get("content"):
                add("assistant", {"type": "text", "text": m["content"]})
            for c in m.get("tool_calls") or []:
                add(
                    "assistant",
                    {
                        "type": "tool_use",
                        "id": c["id"],
                        "name": c["name"],
                        "input": _tool_input(c["arguments"]),
                    },
                )
        elif role == "tool":
            add(
                "user",
                {
                    "type": "tool_result",
                    "tool_use_id": m["tool_call_id"],
                    "content": m["content"],
                    "is_error": bool(m.get("is_error")),
                },
            )
    if system:
        system[-1] = system[-1] | {"cache_control": CACHE}
    if out:
        out[-1]["content"][-1] = out[-1]["content"][-1] | {"cache_control": CACHE}
    return system, out


def tools_for_anthropic(tools: list[dict]) -> list[dict]:
    return [
        {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
        for t in tools
    ]


class AnthropicMessagesModel(RemoteModel):
    sdk_errors = (anthropic.APIStatusError, anthropic.APIConnectionError, anthropic.APIError)

    client_class = anthropic.Anthropic

    def request(self, messages: list[dict], tools: list[dict]) -> dict:
        system, converted = to_anthropic(messages)
        body: dict = {
            "model": self.settings.spec.name,
            "messages": converted,
            "max_tokens": self.settings.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            body["system"] = system
        if tools:
            body["tools"] = tools_for_anthropic(tools)
        if self.settings.temperature is not None:
            body["temperature"] = self.settings.temperature
        return body

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        body = self.request(messages, tools)
        resp = self.send(lambda: self._client.messages.create(**body))
        texts, calls = [], []
        for block in resp.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                calls.append(
                    {"id": block.id, "name": block.name, "arguments": _arguments(block.input)}
                )
        u = resp.usage
        return ModelReply(
            content="\n".join(texts),
            tool_calls=calls,
            usage=Usage(
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
                cache_read_tokens=u.cache_read_input_tokens or 0,
                cache_write_tokens=u.cache_creation_input_tokens or 0,
            ),
        )
