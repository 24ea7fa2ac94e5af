"""`codex:<model>`: the OpenAI Codex CLI, one `codex exec --json` process per turn,
resumed by thread id. The turn's messages come from Codex's own session log (its
`rollout-*.jsonl`), which holds every call and result, also those its event stream
leaves out (a command its sandbox refused); the stream gives the thread id and errors.

Spec parameters, besides base_url, key_env, home, project and bin: `sandbox`
(workspace-write, Codex's own default, where `.git` is read-only so a commit fails and
is recorded as a blocked attempt; danger-full-access; read-only). The private
`$CODEX_HOME/config.toml` is the setup's own (`home=` with `.codex/config.toml`) with
the server, the approval policy and the settings that keep Codex off other hosts
written over it. AGENTS.md at the repository's root comes from `project=`.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Protocol

import tomli_w

from stickiness.agents.external.base import AgentTurn, Cli, ExternalAgent
from stickiness.agents.external.events import json_events, text_of
from stickiness.agents.external.process import ProcessResult
from stickiness.agents.models.base import ModelSpecError

CODEX = Cli("codex", "@openai/codex", "0.171.0", "codex")
SANDBOXES = ("workspace-write", "danger-full-access", "read-only")
PROVIDER = "stickiness"


class CodexAgent(ExternalAgent):
    cli = CODEX
    extra_params = ("sandbox",)

    def __init__(self, spec, options=None) -> None:
        super().__init__(spec, options)
        self.sandbox = spec.param("sandbox", "workspace-write")
        if self.sandbox not in SANDBOXES:
            raise ModelSpecError(
                f"model {spec}: sandbox={self.sandbox}: expected one of {', '.join(SANDBOXES)}"
            )
        self._log_offset = 0  # how much of Codex's session log earlier turns read

    def mode(self) -> dict:
        return {"sandbox": self.sandbox, "approval_policy": "never"}

    @property
    def codex_home(self) -> Path:
        return self.home / ".codex"

    def extra_env(self) -> dict[str, str]:
        return {"CODEX_HOME": str(self.codex_home)}

    def configure(self, home: Path) -> None:
        path = home / ".codex" / "config.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            config = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ModelSpecError(f"model {self.spec}: {path.name} of the setup: {exc}") from None
        config |= {
            "model": self.model_spec.name,
            "model_provider": PROVIDER,
            "approval_policy": "never",
            "sandbox_mode": self.sandbox,
            "check_for_update_on_startup": False,
            "web_search": "disabled",
        }
        # Each of these otherwise makes a start reach for hosts other than the server.
        config["features"] = config.get("features", {}) | {
            "plugins": False,
            "remote_plugin": False,
            "plugin_sharing": False,
            "apps": False,
        }
        config["analytics"] = {"enabled": False}
        config["otel"] = {"exporter": "none"}
        config.setdefault("model_providers", {})[PROVIDER] = {
            "name": PROVIDER,
            "base_url": self.settings.base_url,
            "env_key": self.key_var,
            "wire_api": "responses",
        }
        path.write_text(tomli_w.dumps(config), encoding="utf-8")

    def command(self, text: str) -> list[str]:
        cmd = [str(self.binary), "exec"]
        if self.session_id is not None:
            cmd += ["resume"]
        cmd += ["--json", "--skip-git-repo-check"]
        if self.session_id is not None:
            cmd += [self.session_id]
        return [*cmd, "--", text]

    def transcript(self) -> Path | None:
        if self.home is None or self.session_id is None:
            return None
        found = sorted((self.codex_home / "sessions").rglob(f"rollout-*{self.session_id}*.jsonl"))
        return found[0] if found else None

    def parse(self, result: ProcessResult) -> AgentTurn:
        turn = AgentTurn()
        failed, items = None, []
        for event in json_events(result.lines):
            kind = event.get("type")
            if kind == "thread.started" and event.get("thread_id"):
                self.session_id = str(event["thread_id"])
            elif kind == "item.completed":
                items.append(event.get("item") or {})
            elif kind in ("turn.failed", "error"):
                error = event.get("error") if kind == "turn.failed" else event
                failed = str((error or {}).get("message") or kind)
        # The session log holds every call, also those the event stream leaves out (a
        # command its sandbox refused, such as a commit under a read-only .git).
        if not self._read_session_log(turn):
            for item in items:
                _add_item(turn, item)
        if failed is not None:
            turn.error = self.failure(result, f"turn failed: {failed}")
        return turn

    def _read_session_log(self, turn: AgentTurn) -> bool:
        """This turn's part of Codex's own session log; False if there is none."""
        path = self.transcript()
        if path is None:
            return False
        with open(path, "rb") as fh:
            fh.seek(self._log_offset)
            data = fh.read()
        # A line still being written is left for the next turn.
        whole = data[: data.rfind(b"\n") + 1]
        self._log_offset += len(whole)
        for entry in json_events(whole.decode("utf-8", "replace").splitlines()):
            payload = entry.get("payload")
            if not isinstance(payload, dict):
                continue
            if entry.get("type") == "response_item":
                add_response_item(turn, payload)
            elif entry.get("type") == "token_usage_record":
                add_usage(turn, payload.get("usage") or {})
        return True


_EXIT_CODE = re.compile(r"Process exited with code (-?\d+)")


class TurnLike(Protocol):
    """Where a rollout's items and usage go: a live turn, or one read from a saved log."""

    messages: list[dict]
    model_calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int


def add_usage(turn: TurnLike, usage: dict) -> None:
    """One model response's tokens (the log has a record per response)."""
    cached = _count(usage.get("cached_input_tokens"))
    turn.input_tokens += max(0, _count(usage.get("input_tokens")) - cached)
    turn.cache_read_tokens += cached
    turn.output_tokens += _count(usage.get("output_tokens"))
    turn.model_calls += 1


def _count(value: object) -> int:
    """A token count from a log, which may hold anything."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def add_response_item(turn: TurnLike, item: dict) -> None:
    kind = item.get("type")
    if kind == "message" and item.get("role") == "assistant":
        text = text_of(
            [
                {"type": "text", "text": str(b.get("text", ""))}
                for b in (item.get("content") if isinstance(item.get("content"), list) else [])
                if isinstance(b, dict)
            ]
        )
        turn.messages.append({"role": "assistant", "content": text})
    elif kind in ("function_call", "custom_tool_call"):
        arguments = item.get("arguments") if kind == "function_call" else item.get("input")
        call = {"id": str(item.get("call_id")), "name": str(item.get("name")), "arguments": ""}
        call["arguments"] = arguments if isinstance(arguments, str) else json.dumps(arguments)
        turn.messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
    elif kind == "local_shell_call":  # older rollouts: the shell as a built-in tool
        action = item.get("action") or {}
        command = action.get("command")
        text = " ".join(map(str, command)) if isinstance(command, list) else str(command or "")
        call = {"id": str(item.get("call_id")), "name": "local_shell"}
        call["arguments"] = json.dumps({"command": text}, ensure_ascii=False)
        turn.messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
    elif kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        text = output if isinstance(output, str) else text_of((output or {}).get("content"))
        text, exit_code = _unwrapped(text)
        code = _EXIT_CODE.search(text) if exit_code is None else None
        name = next(
            (
                c["name"]
                for m in reversed(turn.messages)
                for c in m.get("tool_calls") or ()
                if c["id"] == str(item.get("call_id"))
            ),
            "",
        )
        message = {"role": "tool", "tool_call_id": str(item.get("call_id")), "name": name}
        message |= {"content": text, "is_error": bool(code) and code.group(1) != "0"}
        if code:
            message["exit_code"] = int(code.group(1))
        elif exit_code is not None:
            message |= {"exit_code": exit_code, "is_error": exit_code != 0}
        turn.messages.append(message)


def _unwrapped(text: str) -> tuple[str, int | None]:
    """Older rollouts wrap a command's output as JSON text: `{"output": ..., "metadata":
    {"exit_code": ...}}`. Returns the output and its exit code (None if not wrapped)."""
    if not text.startswith('{"output"'):
        return text, None
    try:
        data = json.loads(text)
    except ValueError:
        return text, None
    if not isinstance(data, dict) or not isinstance(data.get("output"), str):
        return text, None
    code = (data.get("metadata") or {}).get("exit_code")
    return data["output"], code if isinstance(code, int) else None


def _call(turn: AgentTurn, item: dict, name: str, arguments: dict, result: str, ok: bool):
    """A finished item as a tool call and its result; returns the result message."""
    call_id = str(item.get("id"))
    call = {"id": call_id, "name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}
    turn.messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
    message = {"role": "tool", "tool_call_id": call_id, "name": name, "content": result}
    turn.messages.append(message | {"is_error": not ok})
    return turn.messages[-1]


def _add_item(turn: AgentTurn, item: dict) -> None:
    """A completed item of the event stream (used when no session log is found)."""
    kind = item.get("type")
    if kind == "agent_message":
        turn.messages.append({"role": "assistant", "content": str(item.get("text") or "")})
    elif kind == "command_execution":
        code = item.get("exit_code")
        output = str(item.get("aggregated_output") or "")
        message = _call(turn, item, "exec_command", {"cmd": item.get("command")}, output, code == 0)
        message["exit_code"] = code
    elif kind == "file_change":
        changes = item.get("changes") or []
        _call(turn, item, "apply_patch", {"changes": changes}, str(item.get("status")), True)
    elif kind == "mcp_tool_call":
        name = f"mcp:{item.get('server')}/{item.get('tool')}"
        result = json.dumps(item.get("result") or item.get("error"), ensure_ascii=False)
        _call(turn, item, name, item.get("arguments") or {}, result, item.get("status") != "failed")
