"""OpenHands event lists: a conversation as OpenHands saves or exports it.

Read from: a JSON list of events (`save_trajectory_path`, the GUI's download, which
wraps it as `{"trajectory": [...]}`), the file store's own folder of events
(`sessions/<sid>/events/<n>.json`, one event per file), or the evaluation harness's
`output.jsonl` (one run a line, its events in `history`).

An event is `id`, `timestamp`, `source` ("user", "agent", "environment"), `message`,
`cause` (the action an observation answers), `tool_call_metadata` (`function_name`,
`tool_call_id`, `model_response`: the LLM's whole response, litellm's shape, with
`id`, `model`, `usage`, `choices[0].message.tool_calls`), `llm_metrics` (running totals,
`accumulated_token_usage`), and either `action` + `args` or `observation` + `content` +
`extras`. Actions: `message` (`content`), `system` (`content`, `openhands_version`,
`agent_class`), `run` (`command`), `run_ipython` (`code`), `read`/`edit`/`write`
(`path`, `command`, `file_text`, `old_str`, `new_str`, `content`), `finish`
(`final_thought`), `think`, `call_tool_mcp` (`name`, `arguments`). A command's exit code
is `extras.metadata.exit_code` (`extras.exit_code` in older logs; -1 is unknown); an
`error` observation is a failed call, `user_rejected` one the person refused.
(Fields from All-Hands-AI/OpenHands at 156d068, Nov 2025: openhands/events/serialization/
{event,action,observation}.py, events/{action,observation}/*.py, events/tool.py,
llm/{metrics,llm,tool_names}.py, storage/locations.py, evaluation/utils/shared.py.)
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from stickiness.agents.imported.jsonl import MAX_LOG_BYTES, check_size, json_lines, text_of
from stickiness.agents.imported.session import LogError, LoggedSession, LoggedTurn

# Tools the CodeAct agent offers, by the action each one becomes: used for actions
# logged without a tool call (older agents), with the arguments the tool takes.
_TOOLS: dict[str, tuple[str, dict[str, str]]] = {
    "run": ("execute_bash", {"command": "command"}),
    "run_ipython": ("execute_ipython_cell", {"code": "code"}),
    "browse": ("web_read", {"url": "url"}),
    "browse_interactive": ("browser", {"code": "browser_actions"}),
    "think": ("think", {"thought": "thought"}),
    "finish": ("finish", {"message": "final_thought"}),
    "reject": ("reject", {"outputs": "outputs"}),
    "delegate": ("delegate", {"agent": "agent", "inputs": "inputs"}),
    "task_tracking": ("task_tracker", {"command": "command", "task_list": "task_list"}),
}
_EDITOR = ("read", "edit", "write")
_EDITOR_ARGS = ("file_text", "old_str", "new_str", "insert_line", "view_range")


def _load(path: Path) -> list[tuple[str, str | None, list]]:
    """(session id, model named beside the events, events) for each run the path holds."""
    if path.is_dir():
        return [_load_folder(path)]
    check_size(path)
    try:
        if path.suffix == ".jsonl":  # the evaluation harness's output, a run a line
            return [_run(run, f"{path.stem}-{n}", f"{path}:{n}") for n, run in json_lines(path)]
        data = json.loads(path.read_bytes())
    except LogError:
        raise
    except (OSError, ValueError, RecursionError) as exc:
        raise LogError(f"{path}: not readable JSON ({exc})") from None
    if isinstance(data, dict) and "history" in data:
        return [_run(data, path.stem, str(path))]
    if isinstance(data, dict) and isinstance(data.get("trajectory"), list):
        data = data["trajectory"]
    if not isinstance(data, list):
        raise LogError(f"{path}: expected a JSON list of OpenHands events")
    return [(path.stem, None, data)]


def _run(output: dict, fallback_id: str, where: str) -> tuple[str, str | None, list]:
    """One run of the evaluation harness: `instance_id`, `metadata.llm_config`, `history`."""
    if not isinstance(output.get("history"), list):
        raise LogError(f"{where}: expected an evaluation output with a `history` list of events")
    model = _dict(_dict(output.get("metadata")).get("llm_config")).get("model")
    name = str(output.get("instance_id") or fallback_id)
    return name, model if isinstance(model, str) else None, output["history"]


def _load_folder(path: Path) -> tuple[str, str | None, list]:
    folder = path / "events" if (path / "events").is_dir() else path
    numbered = (f for f in folder.glob("*.json") if f.stem.isdigit())
    files = sorted(numbered, key=lambda f: int(f.stem))
    if not files:
        raise LogError(f"{path}: no OpenHands events (<n>.json files) in this folder")
    events, total = [], 0
    for f in files:
        try:
            total += f.stat().st_size
            data = json.loads(f.read_bytes()) if total <= MAX_LOG_BYTES else None
        except (OSError, ValueError, RecursionError) as exc:
            raise LogError(f"{f}: not a readable JSON event ({exc})") from None
        if total > MAX_LOG_BYTES:
            raise LogError(f"{path}: more than {MAX_LOG_BYTES // 2**20} MiB of events")
        events.append(data)
    return folder.parent.name if folder.name == "events" else folder.name, None, events


def _usage(usage: object) -> tuple[int, int, int, int]:
    """(input, output, cache read, cache write) of litellm's usage or OpenHands' totals;
    their prompt count includes the cached tokens, this project's input count does not."""
    usage = _dict(usage)
    read = _int(_dict(usage.get("prompt_tokens_details")).get("cached_tokens"))
    read = read or _int(usage.get("cache_read_input_tokens") or usage.get("cache_read_tokens"))
    write = _int(usage.get("cache_creation_input_tokens") or usage.get("cache_write_tokens"))
    prompt = _int(usage.get("prompt_tokens"))
    return max(0, prompt - read - write), _int(usage.get("completion_tokens")), read, write


def _synthetic_call(kind: str, args: dict) -> tuple[str, dict]:
    if kind in _EDITOR:
        if kind == "edit" and args.get("impl_source") == "llm_based_edit":
            keys = ("path", "content", "start", "end")
            return "edit_file", {k: args[k] for k in keys if k in args}
        command = {"read": "view", "write": "create"}.get(kind) or args.get("command") or "edit"
        out = {"command": command, "path": args.get("path")}
        if kind == "write":
            out["file_text"] = args.get("content", "")
        out.update({k: args[k] for k in _EDITOR_ARGS if args.get(k) is not None})
        return "str_replace_editor", out
    if kind == "call_tool_mcp":
        return str(args.get("name") or kind), args.get("arguments") or {}
    name, keys = _TOOLS.get(kind, (kind, {}))
    return name, {k: args[a] for k, a in keys.items() if a in args}


class _Reader:
    def __init__(self, path: Path, session_id: str, model: str | None) -> None:
        self.session = LoggedSession(
            str(path), "openhands", session_id, model=model or "unknown", agent="OpenHands"
        )
        self.turn: LoggedTurn | None = None
        self.calls: dict[str, str] = {}  # pending call id -> tool name
        self.by_action: dict[int | str, str] = {}  # action event id -> its call id
        # The last reply and its response: calls of one response run one after another.
        self.response: str | None = None
        self.reply: dict = {}
        self.models: Counter[str] = Counter()
        self.running: tuple = (0, 0, 0, 0)  # the log's running token totals
        self.stamp: str | None = None  # the current event's time
        # Per turn: running totals at its start and end, and its responses' own usage.
        self.meter: list[tuple[tuple, tuple, list[tuple]]] = []

    def read(self, events: list) -> LoggedSession:
        for number, event in enumerate(events, 1):
            if not isinstance(event, dict):
                raise LogError(f"{self.session.source}: event {number}: expected a JSON object")
            kind = event.get("action", event.get("observation"))
            if not isinstance(kind, str) or not isinstance(event.get("args") or {}, dict):
                raise LogError(
                    f"{self.session.source}: event {number}: expected an action (its `args` "
                    "an object) or an observation"
                )
            self.stamp = event.get("timestamp") if isinstance(event.get("timestamp"), str) else None
            self.session.started_at = self.session.started_at or self.stamp
            self.session.finished_at = self.stamp or self.session.finished_at
            if "action" in event:
                self._action(event, kind, event.get("args") or {})
                if event.get("source") == "agent":
                    self._metrics(event)  # an observation's metrics are a helper model's
            else:
                self._observation(event, kind)
        self._finish()
        return self.session

    def _new_turn(self, text: str) -> LoggedTurn:
        self.turn = LoggedTurn(user=text, at=self.stamp)
        self.session.turns.append(self.turn)
        self.meter.append((self.running, self.running, []))
        self.response, self.reply = None, {}
        return self.turn

    def _action(self, event: dict, kind: str, args: dict) -> None:
        source = event.get("source")
        if kind == "system":
            self.session.system_prompt = str(args.get("content") or "")
            agent = args.get("agent_class")
            parts = ("OpenHands", args.get("openhands_version"), agent and f"({agent})")
            self.session.agent = " ".join(str(p) for p in parts if p)
        elif source == "user" and kind == "message":
            self._new_turn(str(args.get("content") or event.get("message") or ""))
        elif source == "user" and kind == "run":
            (self.turn or self._new_turn("")).user_commands.append(str(args.get("command", "")))
        elif source == "user" and kind == "change_agent_state":
            if self.turn is not None and args.get("agent_state") in ("stopped", "paused"):
                self.turn.interrupted = True
        elif source == "agent" and kind == "message":
            turn = self.turn or self._new_turn("")
            turn.messages.append(
                {"role": "assistant", "content": str(args.get("content") or ""), "tool_calls": []}
            )
            turn.model_calls += 1
            self.response, self.reply = None, {}
        elif source == "agent" and (kind in _TOOLS or kind in _EDITOR or kind == "call_tool_mcp"):
            self._call(event, kind, args)

    def _call(self, event: dict, kind: str, args: dict) -> None:
        turn = self.turn or self._new_turn("")
        meta = _dict(event.get("tool_call_metadata"))
        response = _dict(meta.get("model_response"))
        choices = response.get("choices")
        message = _dict(choices[0]) if isinstance(choices, list) and choices else {}
        message = _dict(message.get("message"))
        name, synthetic = _synthetic_call(kind, args)
        call_id = str(meta.get("tool_call_id") or f"openhands-{event.get('id')}")
        name = str(meta.get("function_name") or name)
        calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
        by_id = {str(c.get("id")): c for c in map(_dict, calls)}
        raw = _dict(_dict(by_id.get(call_id)).get("function")).get("arguments")
        # The model's own JSON text where the response is kept, else the action's fields.
        arguments = raw if isinstance(raw, str) else json.dumps(synthetic, ensure_ascii=False)
        response_id = str(response.get("id") or "") or None
        if response_id is None or response_id != self.response or not self.reply:
            thought = text_of(message.get("content")) or str(args.get("thought") or "")
            self.reply = {"role": "assistant", "content": thought, "tool_calls": []}
            turn.messages.append(self.reply)
            turn.model_calls += 1
            self.response = response_id
            if response_id:
                self.meter[-1][2].append(_usage(response.get("usage")))
                if isinstance(response.get("model"), str):
                    self.models[response["model"]] += 1
        if kind == "finish" and not self.reply["content"]:
            # The finish tool's message is what the person reads as the reply.
            self.reply["content"] = str(args.get("final_thought") or args.get("thought") or "")
        self.reply["tool_calls"].append({"id": call_id, "name": name, "arguments": arguments})
        self.calls[call_id] = name
        if isinstance(event.get("id"), int | str):
            self.by_action[event["id"]] = call_id

    def _observation(self, event: dict, kind: str) -> None:
        call_id = str(_dict(event.get("tool_call_metadata")).get("tool_call_id"))
        if call_id not in self.calls and isinstance(event.get("cause"), int | str):
            call_id = self.by_action.get(event["cause"], "")
        if call_id not in self.calls or self.turn is None:
            if kind == "error":
                self.session.notes.append(f"event {event.get('id')}: an error of no call left out")
            return
        extras = _dict(event.get("extras"))
        result = {
            "role": "tool",
            "tool_call_id": call_id,
            "name": self.calls.pop(call_id),
            "content": text_of(event.get("content")),
            "is_error": kind in ("error", "user_rejected"),
        }
        if kind == "user_rejected":
            result["outcome"] = "denied"
        if kind == "run":
            code = _dict(extras.get("metadata")).get("exit_code", extras.get("exit_code"))
            if isinstance(code, int) and not isinstance(code, bool):
                # OpenHands counts any code but 0 as failed, -1 (not known) included.
                result["is_error"] = code != 0
                if code != -1:
                    result["exit_code"] = code
            elif event.get("success") is False:
                result["is_error"] = True
        self.turn.messages.append(result)

    def _metrics(self, event: dict) -> None:
        usage = _dict(event.get("llm_metrics")).get("accumulated_token_usage")
        if isinstance(usage, dict):
            self.running = _usage(usage)
            if self.meter:
                self.meter[-1] = (self.meter[-1][0], self.running, self.meter[-1][2])

    def _finish(self) -> None:
        # Running totals cover every model call, including those that wrote no event
        # with a response attached; the responses are the fallback when a log has none.
        metered = any(end != start for start, end, _ in self.meter)
        for turn, (start, end, parts) in zip(self.session.turns, self.meter, strict=True):
            if metered:
                used = tuple(max(0, e - s) for e, s in zip(end, start, strict=True))
            else:
                used = tuple(sum(p[i] for p in parts) for i in range(4))
            turn.input_tokens, turn.output_tokens = used[0], used[1]
            turn.cache_read_tokens, turn.cache_write_tokens = used[2], used[3]
        if self.models:
            self.session.model = self.models.most_common(1)[0][0]


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def read_openhands(path: Path) -> list[LoggedSession]:
    """The sessions an OpenHands event list, events folder or `output.jsonl` holds."""
    sessions = []
    for session_id, model, events in _load(path):
        session = _Reader(path, session_id, model).read(events)
        if session.turns:
            sessions.append(session)
    return sessions
