"""Claude Code's session logs: `~/.claude/projects/<folder>/<session id>.jsonl`.

One JSON object per line. Those that make the conversation have `type` "user",
"assistant" or "system", a `uuid` and the `parentUuid` of the entry before them (null at
the start and after a compaction, which keeps the link in `logicalParentUuid`), plus
`sessionId`, `timestamp`, `cwd`, `gitBranch`, `version`, `isSidechain` (a subagent's
entry) and `message` (the API message: `model`, `usage`, `content` blocks `text`,
`tool_use`, `tool_result` with `is_error`). One API response is written as one entry
per content block, all with the same `message.id`. Other line types (summaries,
queue operations, cost state, request blobs) are bookkeeping.

Rewinding the conversation leaves the abandoned entries in the file: the kept branch
is the chain of parents from the last entry back to the start. What the person typed
is told apart from what Claude Code wrote in their name by its markers, as the CLI
itself writes them: `isMeta` and `isCompactSummary` entries, `[Request interrupted by
user]`, `<bash-input>` (a `!` shell escape, run by the person), `<command-name>` (a
slash command), and the tool results "The user doesn't want to proceed with this tool
use" (a refusal at the permission prompt) and "User has approved your plan".
(Checked against the log Claude Code 2.1.332 writes and the strings in its binary.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from stickiness.agents.imported.jsonl import json_lines, text_of
from stickiness.agents.imported.session import LogError, LoggedSession, LoggedTurn

REFUSED = "The user doesn't want to proceed with this tool use"
_PLAN = re.compile(r"^User has approved your plan[\s\S]*?\n## Approved Plan[^\n]*:\n([\s\S]*)$")
_INTERRUPTED = "[Request interrupted by user"
_BASH_INPUT = re.compile(r"<bash-input>([\s\S]*?)</bash-input>")
_COMMAND = re.compile(r"<command-name>([\s\S]*?)</command-name>")
_COMMAND_ARGS = re.compile(r"<command-args>([\s\S]*?)</command-args>")
# Output Claude Code shows the person, written as a user entry: not typed by them.
_ECHOES = ("<bash-stdout>", "<bash-stderr>", "<local-command-stdout>", "<local-command-caveat>")
_CONVERSATION = ("user", "assistant", "system")


def _path(leaf: dict, by_id: dict[str, dict], root_of: dict[str, str]) -> tuple[list[str], str]:
    """The uuids from an entry back to its root (or to an entry whose root is known),
    and the root's uuid."""
    seen: list[str] = []
    node: dict | None = leaf
    while node is not None and node["uuid"] not in seen:
        if node["uuid"] in root_of:
            return seen, root_of[node["uuid"]]
        seen.append(node["uuid"])
        parent = node.get("parentUuid") or node.get("logicalParentUuid")
        node = by_id.get(parent) if isinstance(parent, str) else None
    return seen, seen[-1]


def _kept_branch(entries: list[dict], by_id: dict[str, dict]) -> list[dict]:
    """The main conversation's entries on the branch that was kept, in file order.

    A rewind leaves a branch hanging off the conversation: of all entries that share a
    root, only the path back from the last of them was kept. Chains with roots of their
    own (a conversation continued in the same file) are each kept the same way."""
    main = [e for e in entries if not e.get("isSidechain") and e.get("type") != "system"]
    if not main:
        return []
    keep: set[str] = set()
    done_roots: set[str] = set()
    root_of: dict[str, str] = {}
    for entry in reversed(main):  # the last entry of each root's tree is its leaf
        if entry["uuid"] in root_of:
            continue
        path, root = _path(entry, by_id, root_of)
        for uid in path:
            root_of.setdefault(uid, root)
        if root not in done_roots:
            done_roots.add(root)
            keep.update(path)
    # Results of parallel calls may hang off a sibling entry: keep any result whose
    # call is on the branch.
    calls = {
        b.get("id")
        for e in main
        if e["uuid"] in keep and e.get("type") == "assistant"
        for b in _blocks(e)
        if b.get("type") == "tool_use"
    }
    for e in main:
        if e.get("type") == "user" and any(
            b.get("type") == "tool_result" and b.get("tool_use_id") in calls for b in _blocks(e)
        ):
            keep.add(e["uuid"])
    return [e for e in main if e["uuid"] in keep]


def _blocks(entry: dict) -> list[dict]:
    content = _dict(entry.get("message")).get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _typed_text(entry: dict) -> str | None:
    """What the person typed in a user entry, or None if the entry is not that."""
    if any(entry.get(k) for k in ("isMeta", "isCompactSummary", "isVisibleInTranscriptOnly")):
        return None
    content = _dict(entry.get("message")).get("content")
    if isinstance(content, list) and any(b.get("type") == "tool_result" for b in _blocks(entry)):
        return None
    text = text_of(content).strip()
    if not text or text.startswith(_ECHOES) or text.startswith(_INTERRUPTED):
        return None
    command = _COMMAND.search(text)
    if command:
        args = _COMMAND_ARGS.search(text)
        return f"{command.group(1).strip()} {args.group(1).strip() if args else ''}".strip()
    return text


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.session = LoggedSession(source=str(path), format="claude-code", session_id=path.stem)
        self.turn: LoggedTurn | None = None
        self.calls: dict[str, str] = {}  # tool_use id -> tool name
        self.models: dict[str, int] = {}
        self.last_response: str | None = None
        self.last_usage: dict = {}

    def read(self) -> LoggedSession:
        entries, linked = [], {}
        for number, entry in json_lines(self.path):
            if entry.get("type") in _CONVERSATION:
                if not isinstance(entry.get("uuid"), str):
                    raise LogError(
                        f"{self.path}: line {number}: a {entry['type']} entry without a uuid"
                    )
                entries.append(entry)
            if isinstance(entry.get("uuid"), str):
                linked[entry["uuid"]] = entry  # attachments are links of the chain too
        kept = _kept_branch(entries, linked)
        left = sum(1 for e in entries if not e.get("isSidechain") and e.get("type") != "system")
        if left - len(kept):
            self.session.notes.append(f"{left - len(kept)} entries on rewound branches left out")
        sidechains = sum(1 for e in entries if e.get("isSidechain"))
        if sidechains:
            self.session.notes.append(
                f"{sidechains} subagent entries left out (what subagents do is not counted "
                "as the agent's)"
            )
        for entry in kept:
            self._meta(entry)
            if entry["type"] == "user":
                self._user(entry)
            elif entry["type"] == "assistant":
                self._assistant(entry)
        self._close_response()
        self.session.turns = [t for t in self.session.turns if _kept_turn(t)]
        if self.models:
            self.session.model = max(self.models, key=self.models.__getitem__)
        return self.session

    def _meta(self, entry: dict) -> None:
        s = self.session
        if isinstance(entry.get("sessionId"), str):
            s.session_id = entry["sessionId"]
        s.cwd = s.cwd or _str(entry.get("cwd"))
        s.branch = s.branch or _str(entry.get("gitBranch"))
        if entry.get("version") and not s.agent:
            s.agent = f"claude-code {entry['version']}"
        stamp = _str(entry.get("timestamp"))
        if stamp:
            s.started_at = s.started_at or stamp
            s.finished_at = stamp

    def _user(self, entry: dict) -> None:
        text = text_of(_dict(entry.get("message")).get("content"))
        if self.turn is not None and text.strip().startswith(_INTERRUPTED):
            self.turn.interrupted = True
        shell = _BASH_INPUT.search(text)
        if shell:
            if self.turn is not None:
                self.turn.user_commands.append(shell.group(1).strip())
            return
        typed = _typed_text(entry)
        if typed is not None:
            self._close_response()
            self.turn = LoggedTurn(user=typed, at=_str(entry.get("timestamp")), ref=entry["uuid"])
            self.session.turns.append(self.turn)
            return
        if self.turn is None:
            return
        for block in _blocks(entry):
            if block.get("type") != "tool_result":
                continue
            call_id = str(block.get("tool_use_id"))
            result = text_of(block.get("content"))
            message = {
                "role": "tool",
                "tool_call_id": call_id,
                "name": self.calls.get(call_id, ""),
                "content": result,
                "is_error": bool(block.get("is_error")),
            }
            if result.startswith(REFUSED):
                message["outcome"] = "denied"
                message["is_error"] = True
            plan = _PLAN.match(result)
            if plan:
                self.turn.plan = plan.group(1).strip()
            self.turn.messages.append(message)

    def _assistant(self, entry: dict) -> None:
        if self.turn is None:
            return
        message = _dict(entry.get("message"))
        response = _str(message.get("id")) or entry["uuid"]
        if entry.get("isApiErrorMessage"):
            self.turn.error = text_of(message.get("content"))[:500] or "API error"
            return
        if response != self.last_response or not self.turn.messages:
            self._close_response()
            self.last_response = response
            self.turn.messages.append({"role": "assistant", "content": "", "tool_calls": []})
            self.turn.model_calls += 1
            model = _str(message.get("model"))
            if model and model != "<synthetic>":
                self.models[model] = self.models.get(model, 0) + 1
        current = self.turn.messages[-1]
        if current.get("role") != "assistant":
            current = {"role": "assistant", "content": "", "tool_calls": []}
            self.turn.messages.append(current)
        self.last_usage = _dict(message.get("usage")) or self.last_usage
        for block in _blocks(entry):
            if block.get("type") == "text" and block.get("text"):
                current["content"] += ("\n" if current["content"] else "") + str(block["text"])
            elif block.get("type") == "tool_use":
                call = {
                    "id": str(block.get("id")),
                    "name": str(block.get("name")),
                    "arguments": _json(block.get("input")),
                }
                current["tool_calls"].append(call)
                self.calls[call["id"]] = call["name"]

    def _close_response(self) -> None:
        """Counts a finished response's tokens once (each of its entries repeats them)."""
        usage, self.last_usage, self.last_response = self.last_usage, {}, None
        if self.turn is None or not usage:
            return
        self.turn.input_tokens += _int(usage.get("input_tokens"))
        self.turn.output_tokens += _int(usage.get("output_tokens"))
        self.turn.cache_read_tokens += _int(usage.get("cache_read_input_tokens"))
        self.turn.cache_write_tokens += _int(usage.get("cache_creation_input_tokens"))


def _kept_turn(turn: LoggedTurn) -> bool:
    # A slash command the CLI answered itself (/model, /cost) is not a turn of the agent.
    return bool(turn.messages) or not turn.user.startswith("/")


def _json(value: object) -> str:
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def read_claude_code(path: Path) -> list[LoggedSession]:
    """The session one Claude Code log holds (none if it holds no conversation)."""
    session = _Reader(path).read()
    return [session] if session.turns else []
