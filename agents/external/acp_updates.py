"""What an ACP agent reports in `session/update`, as the turn's messages and usage.

Message chunks are the assistant's text; each tool call is a call named by its ACP
`kind` ("execute", "edit", "read", ...: a shell command is an `execute` call, which the
analysis reads for git commits) with its `rawInput` as arguments, and its last
`tool_call_update` is the result (`failed` -> is_error). A permission denied is recorded
on the call's result (`outcome: "denied"`). Tokens are the prompt response's `usage` and
cost the `usage_update` notifications' (ACP makes both optional: 0 and None without
them).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field

from stickiness.agents.external.base import AgentTurn

_FINAL = ("completed", "failed")
_UNSET = object()


@dataclass
class ToolCall:
    """A tool call as its updates come in; `call` sits in an assistant message."""

    call: dict
    status: str = "pending"
    raw_input: object = _UNSET
    content: list = field(default_factory=list)
    raw_output: object = _UNSET
    permission: str | None = None  # "allowed" | "denied" | "cancelled", if asked
    result: dict | None = None  # the tool message, once the call ended

    def merge(self, update: dict) -> None:
        call = self.call
        if isinstance(update.get("kind"), str) and update["kind"]:
            call["name"] = update["kind"]
        if isinstance(update.get("title"), str):
            call["title"] = update["title"]
        if isinstance(update.get("name"), str) and update["name"]:
            call["tool"] = update["name"]
        if update.get("rawInput") is not None:
            self.raw_input = update["rawInput"]
        if isinstance(update.get("status"), str):
            self.status = update["status"]
        if isinstance(update.get("content"), list):
            self.content = update["content"]
        if update.get("rawOutput") is not None:
            self.raw_output = update["rawOutput"]
        call["arguments"] = self.arguments()
        if self.result is not None:
            self.result.update(self.outcome())

    def arguments(self) -> str:
        """The raw input as JSON; an agent that gives none (or gives it empty) is
        represented by its title, which names the command or file."""
        raw = self.raw_input
        if raw is _UNSET or raw == {}:
            raw = {"title": self.call["title"]} if self.call.get("title") else {}
        elif not isinstance(raw, dict):
            raw = {"input": raw}
        return json.dumps(raw, ensure_ascii=False)

    def output(self) -> str:
        if isinstance(self.raw_output, str):
            return self.raw_output
        text = _content_text(self.content)
        if text or self.raw_output is _UNSET:
            return text
        return json.dumps(self.raw_output, ensure_ascii=False)

    def outcome(self) -> dict:
        denied = self.permission in ("denied", "cancelled")
        fields = {
            "name": self.call["name"],
            "content": self.output(),
            "is_error": self.status == "failed" or denied,
            "status": self.status,
        }
        if self.permission is not None:
            fields["permission"] = self.permission
        if denied:
            fields["outcome"] = "denied"
        return fields


def _content_text(content: list) -> str:
    parts = []
    for item in content:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "content":
            parts.append(_block_text(item.get("content")))
        elif kind == "diff":
            path = str(item.get("path") or "")
            old = str(item.get("oldText") or "").splitlines(keepends=True)
            new = str(item.get("newText") or "").splitlines(keepends=True)
            diff = "".join(difflib.unified_diff(old, new, path, path))
            parts.append(diff or f"(no change to {path})")
        elif kind == "terminal":
            parts.append(f"[terminal {item.get('terminalId')}]")
    return "\n".join(p for p in parts if p)


def _block_text(block: object) -> str:
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text") or "")
    if kind == "resource":
        resource = block.get("resource") or {}
        return str(resource.get("text") or f"[resource {resource.get('uri')}]")
    if kind == "resource_link":
        return f"[{block.get('name') or 'link'}: {block.get('uri')}]"
    return f"[{kind}]"


def session_cost(update: dict) -> float | None:
    """The session's cost so far in USD, as a `usage_update` gives it (None if not)."""
    cost = update.get("cost")
    if isinstance(cost, dict) and cost.get("currency") == "USD":
        amount = cost.get("amount")
        if isinstance(amount, int | float) and amount >= 0:
            return float(amount)
    return None


def _count(value: object) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return value if ok else 0


class TurnLog:
    """The messages of one turn, built from the agent's updates as they arrive."""

    def __init__(self, ended: set[str]) -> None:
        self.turn = AgentTurn()
        self.calls: dict[str, ToolCall] = {}
        self.ended = ended  # ids of calls from earlier turns: late updates are dropped
        self.assistant: dict | None = None  # the message text and calls go into
        self.message_id: object = None

    @property
    def messages(self) -> list[dict]:
        return self.turn.messages

    def apply(self, update: dict) -> None:
        """A `session/update` of this turn's: text, a tool call or a plan."""
        kind = update.get("sessionUpdate")
        if kind == "agent_message_chunk":
            self.text(update)
        elif kind == "agent_thought_chunk":
            self.text(update, key="reasoning")
        elif kind in ("tool_call", "tool_call_update"):
            self.tool_call(update)
        elif kind == "plan":
            self.plan(update)

    def _open(self) -> dict:
        if self.assistant is None:
            self.assistant = {"role": "assistant", "content": "", "tool_calls": []}
            self.messages.append(self.assistant)
        return self.assistant

    def text(self, update: dict, key: str = "content") -> None:
        text = _block_text(update.get("content"))
        message_id = update.get("messageId")
        if message_id is not None and message_id != self.message_id:
            self.assistant = None  # a new message
            self.message_id = message_id
        if self.assistant is not None and self.assistant["tool_calls"] and key == "content":
            self.assistant = None  # text after the calls: the next step's
        message = self._open()
        message[key] = message.get(key, "") + text

    def plan(self, update: dict) -> None:
        entries = update.get("entries")
        if isinstance(entries, list):
            self._open()["plan"] = entries

    def tool_call(self, update: dict) -> ToolCall | None:
        call_id = update.get("toolCallId")
        if not isinstance(call_id, str | int) or str(call_id) in self.ended:
            return None
        call_id = str(call_id)
        state = self.calls.get(call_id)
        if state is None:
            call = {"id": call_id, "name": "other", "arguments": "{}"}
            self._open()["tool_calls"].append(call)
            state = self.calls[call_id] = ToolCall(call)
        state.merge(update)
        if state.result is None and state.status in _FINAL:
            self._result(state)
        return state

    def permission(self, tool: dict, decision: str) -> None:
        """The answer to a permission request for `tool`, noted on its call."""
        state = self.tool_call(tool)
        if state is not None:
            state.permission = decision
            if state.result is not None:
                state.result.update(state.outcome())

    def usage(self, usage: dict) -> None:
        """The tokens a prompt response's `usage` counts."""
        turn = self.turn
        turn.input_tokens = _count(usage.get("inputTokens"))
        turn.output_tokens = _count(usage.get("outputTokens"))
        turn.cache_read_tokens = _count(usage.get("cachedReadTokens"))
        turn.cache_write_tokens = _count(usage.get("cachedWriteTokens"))

    def _result(self, state: ToolCall) -> None:
        state.result = {"role": "tool", "tool_call_id": state.call["id"], **state.outcome()}
        self.messages.append(state.result)
        self.assistant = None

    def finish(self) -> AgentTurn:
        """Calls that never ended get a result saying so; the turn is handed back."""
        for state in self.calls.values():
            if state.result is None:
                self._result(state)
                state.result["content"] = (
                    state.result["content"]
                    or f"(no result: the turn ended while the call was {state.status})"
                )
                state.result["is_error"] = True
        self.ended.update(self.calls)
        self.turn.model_calls = sum(m["role"] == "assistant" for m in self.messages)
        return self.turn
