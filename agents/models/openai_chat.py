"""`openai:<model>`: Chat Completions with tools, through the official SDK.

Chat Completions is what every OpenAI-compatible server speaks (vLLM, Ollama, llama.cpp,
Moonshot/Kimi, OpenRouter), so this adapter serves them all via `base_url`.
"""

from __future__ import annotations

import openai
from openai.types.chat import ChatCompletion

from stickiness.agents.models.base import ModelCallError, ModelReply, Usage
from stickiness.agents.models.remote import RemoteModel


def to_openai(messages: list[dict]) -> list[dict]:
    """Neutral messages -> Chat Completions messages."""
    out = []
    for m in messages:
        role = m["role"]
        if role in ("system", "user"):
            out.append({"role": role, "content": m["content"]})
        elif role == "assistant":
            msg: dict = {"role": "assistant", "content": m.get("content") or None}
            if m.get("tool_calls"):
                msg["tool_calls"] = [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for c in m["tool_calls"]
                ]
            out.append(msg)
        elif role == "tool":
            out.append({"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]})
    return out


def tools_for_openai(tools: list[dict]) -> list[dict]:
    return [{"type": "function", "function": t} for t in tools]


class OpenAIChatModel(RemoteModel):
    sdk_errors = (openai.APIStatusError, openai.APIConnectionError, openai.APIError)

    client_class = openai.OpenAI

    def request(self, messages: list[dict], tools: list[dict]) -> dict:
        body: dict = {"model": self.settings.spec.name, "messages": to_openai(messages)}
        if self.settings.max_tokens is not None:
            body["max_completion_tokens"] = self.settings.max_tokens
        if tools:
            body["tools"] = tools_for_openai(tools)
        if self.settings.temperature is not None:
            body["temperature"] = self.settings.temperature
        return body

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        # The SDK's generic post (its documented way to send a body as-is) rather than
        # the typed create(): create() re-walks the whole transcript against its type
        # hints on every call, which cost more CPU than everything else in the runner
        # at 32 concurrent runs. Auth, retries and errors are the same.
        body = self.request(messages, tools)
        resp = self.send(
            lambda: self._client.post("/chat/completions", body=body, cast_to=ChatCompletion)
        )
        if not resp.choices:
            raise ModelCallError(f"{self.spec}: the server returned no choices")
        message = resp.choices[0].message
        calls = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments or ""}
            for c in message.tool_calls or []
            if getattr(c, "function", None) is not None
        ]
        usage = resp.usage
        cached = 0
        if usage is not None and usage.prompt_tokens_details is not None:
            cached = usage.prompt_tokens_details.cached_tokens or 0
        return ModelReply(
            content=message.content or "",
            tool_calls=calls,
            usage=Usage(
                input_tokens=(usage.prompt_tokens - cached) if usage else 0,
                output_tokens=usage.completion_tokens if usage else 0,
                cache_read_tokens=cached,
            ),
        )
