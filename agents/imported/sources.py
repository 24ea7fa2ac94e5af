"""Which files hold sessions, and in which format: found by reading them, not by name.

A source is a file or a folder (searched recursively: `~/.claude/projects/myrepo`,
`~/.codex/sessions`). Subagent logs that Claude Code keeps beside a session
(`subagents/`, `agent-*.jsonl`) are not sessions of their own: what subagents do is not
counted as the agent's.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from stickiness.agents.imported.session import LogError, LoggedSession

FORMATS = ("claude-code", "codex", "openhands", "inspect", "atif", "messages")
# format -> (module, reader function), imported when a file of that format is read.
_READERS = {
    "claude-code": ("claude_code_log", "read_claude_code"),
    "codex": ("codex_rollout", "read_codex"),
    "openhands": ("openhands", "read_openhands"),
    "inspect": ("inspect_log", "read_inspect"),
    "atif": ("atif", "read_atif"),
    "messages": ("message_lists", "read_message_lists"),
}
_SUFFIXES = (".jsonl", ".json", ".eval")
_SNIFF_BYTES = 64 * 1024


def reader(fmt: str) -> Callable[[Path], list[LoggedSession]]:
    module, name = _READERS[fmt]
    read = getattr(importlib.import_module(f"stickiness.agents.imported.{module}"), name)

    def guarded(path: Path) -> list[LoggedSession]:
        # The readers check what they use; a value of a shape no reader expected still
        # ends as one line naming the file, not a traceback.
        try:
            return read(path)
        except LogError:
            raise
        except (AttributeError, TypeError, ValueError, KeyError, IndexError, RecursionError) as exc:
            raise LogError(
                f"{path}: not a {fmt} log this version can read "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from None

    return guarded


def _first_json_line(head: bytes) -> dict:
    for raw in head.split(b"\n"):
        if raw.strip():
            try:
                value = json.loads(raw)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def sniff(path: Path) -> str | None:
    """The format of a file, from its first bytes; None if it is no session log."""
    if path.is_dir():
        events = path / "events" if (path / "events").is_dir() else path
        numbered = [p for p in events.glob("*.json") if p.stem.isdigit()]
        every = list(events.glob("*.json"))
        return "openhands" if numbered and len(numbered) == len(every) else None
    if path.suffix == ".eval":
        return "inspect" if zipfile.is_zipfile(path) else None
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise LogError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if path.suffix == ".jsonl":
        first = _first_json_line(head)
        if first.get("type") == "session_meta" or path.name.startswith("rollout-"):
            return "codex"
        if "sessionId" in first or b'"parentUuid"' in head:
            return "claude-code"
        if "role" in first or "messages" in first:
            return "messages"
        if "history" in first and "instance_id" in first:  # an OpenHands evaluation's output
            return "openhands"
        return None
    text = head.lstrip()
    if text.startswith(b"{"):
        if b'"ATIF' in head:
            return "atif"
        if b'"samples"' in head and b'"eval"' in head:
            return "inspect"
        if b'"messages"' in head:
            return "messages"
        if head.lstrip(b"{ \n\r\t").startswith(b'"trajectory"'):  # OpenHands' download
            return "openhands"
        return None
    if text.startswith(b"["):
        first = _first_element(text.decode("utf-8", "replace"))
        if first is not None:
            if "role" in first:
                return "messages"
            if "source" in first and ("action" in first or "observation" in first):
                return "openhands"
            return None
        if b'"source"' in head and (b'"action"' in head or b'"observation"' in head):
            return "openhands"
        if b'"role"' in head:
            return "messages"
    return None


def _first_element(text: str) -> dict | None:
    """The first object of a JSON list, if it fits in the bytes read."""
    try:
        value, _ = json.JSONDecoder().raw_decode(text, text.index("[") + 1 + _blank(text))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _blank(text: str) -> int:
    start = text.index("[") + 1
    return len(text[start:]) - len(text[start:].lstrip())


def _candidates(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if "subagents" in rel or path.name.startswith("agent-"):
            continue
        event_folder = path.is_dir() and path.name == "events"
        log_file = path.is_file() and path.suffix in _SUFFIXES and "events" not in rel[:-1]
        if event_folder or log_file:
            yield path


def find_logs(
    sources: list[Path], fmt: str | None = None
) -> tuple[list[tuple[Path, str]], list[str]]:
    """(file, format) pairs to read, and a line for each source that held none."""
    found: list[tuple[Path, str]] = []
    problems: list[str] = []
    for source in sources:
        if not source.exists():
            problems.append(f"{source}: no such file or folder")
            continue
        paths = [source] if source.is_file() or sniff(source) else list(_candidates(source))
        hits = 0
        for path in paths:
            kind = fmt or sniff(path)
            if kind is None:
                if path == source:
                    problems.append(
                        f"{source}: not a session log this version reads "
                        f"({', '.join(FORMATS)}; --format names one)"
                    )
                continue
            found.append((path, kind))
            hits += 1
        if not hits and source.is_dir():
            problems.append(f"{source}: no session logs found in this folder")
    return found, problems
