"""Reading an agent's event stream: one JSON object per line, from a process whose
output is not ours to trust (lines that are not JSON objects are skipped)."""

from __future__ import annotations

import json
from collections.abc import Iterator


def json_events(lines: list[str]) -> Iterator[dict]:
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            yield event


def text_of(content: object) -> str:
    """A tool result's or reply's content as text: a string, or text blocks joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, str):
                parts.append(block)
        return "\n".join(parts)
    return json.dumps(content, ensure_ascii=False)
