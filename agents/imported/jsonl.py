"""Reading a session log line by line: bounded, and every bad line named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from stickiness.agents.imported.session import LogError

# Logs of a long session reach tens of MB; past this, a file is not a session log.
MAX_LOG_BYTES = 512 * 1024 * 1024


def check_size(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LogError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if size > MAX_LOG_BYTES:
        raise LogError(
            f"{path}: {size / 2**20:.0f} MiB is more than a session log holds "
            f"(at most {MAX_LOG_BYTES // 2**20} MiB)"
        )


def json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each line; a torn last line (a session still being
    written) is skipped, any other bad line is an error naming it."""
    check_size(path)
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise LogError(f"{path}: cannot read: {exc.strerror or exc}") from None
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except RecursionError:
            raise LogError(f"{path}: line {number}: nested too deeply to be a log entry") from None
        except ValueError as exc:
            if number - 1 == last and not raw.endswith(b"}"):
                return  # torn tail
            raise LogError(f"{path}: line {number}: not a JSON line ({exc})") from None
        if not isinstance(value, dict):
            raise LogError(
                f"{path}: line {number}: expected a JSON object, got {type(value).__name__}"
            )
        yield number, value


def text_of(content: object) -> str:
    """The text of a message's content: a string, or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "\n".join(parts)
    return ""
