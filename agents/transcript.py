"""What a model wrote, bounded before it is recorded.

The model sees every message exactly as exchanged; the trajectory keeps each text
field (a reply, a tool call's arguments, a tool result) up to a limit, so a model that
writes 100 MB in one call makes a 64 KB record, not a 100 MB line.
"""

from __future__ import annotations

MAX_RECORDED_CHARS = 65_536


def clip_text(text: object, limit: int = MAX_RECORDED_CHARS) -> object:
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit:,} more characters not recorded]"


def bounded_message(message: dict) -> dict:
    out = dict(message)
    for key in ("content", "arguments"):
        if key in out:
            out[key] = clip_text(out[key])
    if out.get("tool_calls"):
        out["tool_calls"] = [
            call | {"arguments": clip_text(call.get("arguments", ""))} for call in out["tool_calls"]
        ]
    return out


def bounded_messages(messages: list[dict]) -> list[dict]:
    """Copies of `messages` with every long text clipped."""
    return [bounded_message(m) for m in messages]
