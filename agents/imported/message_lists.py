"""Plain message lists, for every agent whose own log format is not read here.

Accepted, in a `.json` file: a list of messages, or an object with `messages` (and
optionally `model`, `system`, `id`); in a `.jsonl` file: one message per line, or one
such object per line (one session each). Messages are OpenAI Chat Completions messages
(`role` system / developer / user / assistant / tool, `content` text or parts,
assistant `tool_calls` [{id, function: {name, arguments}}], tool `tool_call_id`) or
Anthropic Messages (`role` user / assistant, `content` blocks `text`, `tool_use`,
`tool_result` with `is_error`); both may be mixed.
"""

from __future__ import annotations

import json
from pathlib import Path

from stickiness.agents.imported.jsonl import check_size, json_lines, text_of
from stickiness.agents.imported.session import LogError, LoggedSession, LoggedTurn


def _load(path: Path) -> list[tuple[str, dict | list]]:
    """(where, conversation) pairs: a conversation is a message list or an object."""
    if path.suffix == ".jsonl":
        lines = list(json_lines(path))
        if lines and all("role" in obj for _, obj in lines):
            return [(str(path), [obj for _, obj in lines])]
        return [(f"{path}: line {n}", obj) for n, obj in lines]
    check_size(path)
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise LogError(f"{path}: not a JSON file ({exc})") from None
    return [(str(path), data)]


def _messages(where: str, data: object) -> tuple[list, dict]:
    if isinstance(data, list):
        return data, {}
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        return data["messages"], data
    raise LogError(f"{where}: expected a list of messages or an object with 'messages'")


def _session(where: str, source: Path, index: int, data: object) -> LoggedSession:
    messages, meta = _messages(where, data)
    session = LoggedSession(
        source=str(source),
        format="messages",
        session_id=str(meta.get("id") or (source.stem if index == 0 else f"{source.stem}-{index}")),
        model=str(meta.get("model") or "unknown"),
        system_prompt=text_of(meta.get("system")),
    )
    turn: LoggedTurn | None = None
    names: dict[str, str] = {}
    for position, m in enumerate(messages, 1):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise LogError(f"{where}: message {position}: expected an object with a 'role'")
        role, content = m["role"], m.get("content")
        if role in ("system", "developer"):
            session.system_prompt = session.system_prompt or text_of(content)
            continue
        blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
        results = [b for b in blocks if b.get("type") == "tool_result"]
        if role == "user" and not results:
            turn = LoggedTurn(user=text_of(content))
            session.turns.append(turn)
            continue
        if turn is None:
            raise LogError(f"{where}: message {position}: a {role} message before any user message")
        if role == "user":  # Anthropic tool results
            for b in results:
                call_id = str(b.get("tool_use_id"))
                turn.messages.append(
                    _result(call_id, names.get(call_id, ""), b.get("content"), b.get("is_error"))
                )
        elif role == "tool":
            call_id = str(m.get("tool_call_id"))
            name = names.get(call_id, "")
            turn.messages.append(_result(call_id, name, content, m.get("is_error")))
        elif role == "assistant":
            turn.model_calls += 1
            calls = [_openai_call(c) for c in m.get("tool_calls") or () if isinstance(c, dict)]
            calls += [
                {
                    "id": str(b.get("id")),
                    "name": str(b.get("name")),
                    "arguments": json.dumps(b.get("input") or {}, ensure_ascii=False),
                }
                for b in blocks
                if b.get("type") == "tool_use"
            ]
            names.update({c["id"]: c["name"] for c in calls})
            message: dict = {"role": "assistant", "content": text_of(content)}
            if calls:
                message["tool_calls"] = calls
            turn.messages.append(message)
        else:
            raise LogError(f"{where}: message {position}: unknown role {role[:40]!r}")
    return session


def _openai_call(call: dict) -> dict:
    function = call.get("function") if isinstance(call.get("function"), dict) else call
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments or {}, ensure_ascii=False)
    return {"id": str(call.get("id")), "name": str(function.get("name")), "arguments": arguments}


def _result(call_id: str, name: str, content: object, is_error: object) -> dict:
    return {
        "role": "tool",
        "tool_call_id": call_id,
        "name": name,
        "content": text_of(content),
        "is_error": bool(is_error),
    }


def read_message_lists(path: Path) -> list[LoggedSession]:
    """The sessions a message-list file holds."""
    sessions = [
        _session(where, path, index, data) for index, (where, data) in enumerate(_load(path))
    ]
    return [s for s in sessions if s.turns]
