"""Server-sent events: a scripted reply body, streamed as the real service streams it
(Anthropic Messages, OpenAI Responses, Chat Completions), so one scripted reply serves a
streaming client and a plain one alike."""

from __future__ import annotations

import json


def sse(event: str | None, data: dict) -> str:
    """One server-sent event (the `event:` line is left out when `event` is None)."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


def _pieces(text: str, size: int = 24) -> list[str]:
    """Text cut into deltas, as a real stream delivers it (at least one, maybe empty)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def anthropic_events(message: dict) -> str:
    """A Messages API body as the stream the API sends for it: message_start, per content
    block content_block_start / _delta... / _stop (text_delta, input_json_delta,
    thinking_delta + signature_delta), message_delta (stop_reason, usage), message_stop."""
    usage = dict(message.get("usage") or {})
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": min(1, usage.get("output_tokens", 0))}
    out = [sse("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message.get("content") or []):
        kind = block["type"]
        if kind == "text":
            opening, deltas = (
                {"type": "text", "text": ""},
                [{"type": "text_delta", "text": p} for p in _pieces(block["text"])],
            )
        elif kind == "tool_use":
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": p}
                for p in _pieces(json.dumps(block["input"]))
            ]
        elif kind == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": p} for p in _pieces(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block.get("signature", "")})
        else:  # sent whole (redacted_thinking, server tool results...)
            opening, deltas = block, []
        out.append(
            sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            )
        )
        if index == 0:
            out.append(sse("ping", {"type": "ping"}))
        out += [
            sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        ]
        out.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": message.get("stop_reason"), "stop_sequence": None}
    out.append(sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    out.append(sse("message_stop", {"type": "message_stop"}))
    return "".join(out)


def responses_events(response: dict) -> str:
    """A Responses API object as the stream the API sends for it: response.created,
    response.in_progress, per output item output_item.added, its deltas
    (content_part / output_text, function_call_arguments), output_item.done, then
    response.completed carrying the whole response with its usage."""
    seq = iter(range(1_000_000))

    def ev(kind: str, **fields: object) -> str:
        return sse(kind, {"type": kind, "sequence_number": next(seq), **fields})

    pending = {**response, "status": "in_progress", "output": [], "usage": None}
    out = [ev("response.created", response=pending), ev("response.in_progress", response=pending)]
    for n, item in enumerate(response.get("output") or []):
        item_id = item.get("id", f"item_{n}")
        at = {"item_id": item_id, "output_index": n}
        if item["type"] == "message":
            out.append(
                ev(
                    "response.output_item.added",
                    output_index=n,
                    item={**item, "status": "in_progress", "content": []},
                )
            )
            for c, part in enumerate(item["content"]):
                text = part.get("text", "")
                empty = {**part, "text": ""}
                out.append(ev("response.content_part.added", **at, content_index=c, part=empty))
                out += [
                    ev("response.output_text.delta", **at, content_index=c, delta=p, logprobs=[])
                    for p in _pieces(text)
                ]
                out.append(
                    ev("response.output_text.done", **at, content_index=c, text=text, logprobs=[])
                )
                out.append(ev("response.content_part.done", **at, content_index=c, part=part))
        elif item["type"] == "function_call":
            added = {**item, "status": "in_progress", "arguments": ""}
            out.append(ev("response.output_item.added", output_index=n, item=added))
            out += [
                ev("response.function_call_arguments.delta", **at, delta=p)
                for p in _pieces(item["arguments"])
            ]
            out.append(
                ev("response.function_call_arguments.done", **at, arguments=item["arguments"])
            )
        else:
            out.append(ev("response.output_item.added", output_index=n, item=item))
        out.append(ev("response.output_item.done", output_index=n, item=item))
    out.append(ev("response.completed", response=response))
    return "".join(out)


def openai_chunks(completion: dict, include_usage: bool) -> str:
    """A Chat Completions body as `chat.completion.chunk` events: the role, the content
    in pieces, each tool call (id and name first, then its arguments in pieces), the
    finish reason, the usage chunk when asked for (stream_options.include_usage), [DONE]."""
    (choice,) = completion["choices"]
    message = choice["message"]
    base = {k: completion[k] for k in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"

    def chunk(delta: dict, finish: str | None = None) -> str:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}]
        return sse(None, {**base, "choices": choices})

    out = [chunk({"role": "assistant", "content": ""})]
    if message.get("content"):
        out += [chunk({"content": p}) for p in _pieces(message["content"])]
    for n, call in enumerate(message.get("tool_calls") or []):
        fn = call["function"]
        head = {"index": n, "id": call["id"], "type": "function"}
        out.append(chunk({"tool_calls": [{**head, "function": {"name": fn["name"]}}]}))
        out += [
            chunk({"tool_calls": [{"index": n, "function": {"arguments": p}}]})
            for p in _pieces(fn["arguments"])
        ]
    out.append(chunk({}, choice["finish_reason"]))
    if include_usage:
        out.append(sse(None, {**base, "choices": [], "usage": completion["usage"]}))
    out.append("data: [DONE]\n\n")
    return "".join(out)
