"""`claude-code:<model>`: Claude Code in print mode, its stream-json events turned into
the turn's messages. By default one process serves the whole run (`--input-format
stream-json`: each turn's text is written to its stdin, and the turn ends with its
`result` line); `process=turn` starts one `claude -p` per turn instead, resumed by
session id. Both play the same session: the same requests reach the model, the same
events come back. A long-lived process that dies or runs out of time is replaced at
the next turn by one that resumes the session.

Spec parameters, besides base_url, key_env, home, project and bin:
`permission_mode` (default acceptEdits), `allowed_tools` (default
"Bash,Edit,Write,Read,Glob,Grep"; tools not allowed are denied, and the denial is
recorded) and `process` (run or turn). The private home gets `.claude/` from `home=`;
CLAUDE.md and .mcp.json at the repository's root come from `project=`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from stickiness.agents.external.base import AgentTurn, Cli, ExternalAgent
from stickiness.agents.external.events import json_events, text_of
from stickiness.agents.external.long_lived import LongLivedProcess
from stickiness.agents.external.process import ProcessResult
from stickiness.agents.models.base import ModelSpecError

CLAUDE_CODE = Cli("claude-code", "@anthropic-ai/claude-code", "2.1.332", "claude")
DEFAULT_TOOLS = "Bash,Edit,Write,Read,Glob,Grep"
PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk")
PROCESS_MODES = ("run", "turn")  # one process per run, or one per turn


class ClaudeCodeAgent(ExternalAgent):
    cli = CLAUDE_CODE
    extra_params = ("permission_mode", "allowed_tools", "process")

    def __init__(self, spec, options=None) -> None:
        super().__init__(spec, options)
        self.permission_mode = spec.param("permission_mode", "acceptEdits")
        if self.permission_mode not in PERMISSION_MODES:
            raise ModelSpecError(
                f"model {spec}: permission_mode={self.permission_mode}: expected one of "
                f"{', '.join(PERMISSION_MODES)}"
            )
        self.allowed_tools = spec.param("allowed_tools", DEFAULT_TOOLS)
        self.process = spec.param("process", "run")
        if self.process not in PROCESS_MODES:
            raise ModelSpecError(
                f"model {spec}: process={self.process}: expected run (one process for the "
                "whole run) or turn (one per turn)"
            )
        self._session_cost = 0.0
        self._live: LongLivedProcess | None = None
        self._started = 0  # processes started in this run

    def mode(self) -> dict:
        return {
            "permission_mode": self.permission_mode,
            "allowed_tools": self.allowed_tools,
            "process": self.process,
        }

    def extra_env(self) -> dict[str, str]:
        # Claude Code refuses to bypass permissions as root unless told it is sandboxed;
        # it is: a throwaway repository and a private home.
        if self.permission_mode == "bypassPermissions" and os.geteuid() == 0:
            return {"IS_SANDBOX": "1"}
        return {}

    def command(self, text: str | None) -> list[str]:
        """The command for one turn's `text`, or (None) for a process reading turns as
        stream-json on its stdin."""
        cmd = [str(self.binary), "-p", "--model", self.model_spec.name]
        if text is None:
            cmd += ["--input-format", "stream-json"]
        cmd += ["--output-format", "stream-json", "--verbose"]
        cmd += ["--permission-mode", self.permission_mode, "--allowedTools", self.allowed_tools]
        if self.session_id is None:
            # Chosen here, so a run's session is known even if its first turn fails.
            self.session_id = str(uuid.uuid4())
            cmd += ["--session-id", self.session_id]
        else:
            cmd += ["--resume", self.session_id]
        return cmd if text is None else [*cmd, "--", text]

    def run_turn(
        self,
        text: str,
        deadline: float,
        should_stop: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> AgentTurn:
        if self.process == "turn":
            return super().run_turn(text, deadline, should_stop, clock)
        if self.home is None or self.workspace is None:
            raise RuntimeError("ClaudeCodeAgent.run_turn before prepare()")
        if self._live is None or self._live.gone:
            self._started += 1
            self._live = LongLivedProcess(
                self.launchable(self.command(None)),
                self.workspace,
                self.environment(),
                self.home / f"stderr-process-{self._started}.log",
            )
        message = {"type": "user", "message": {"role": "user", "content": text}}
        return self.turn_from(self._live.turn(message, _is_result, deadline, should_stop, clock))

    def close(self) -> None:
        if self._live is not None:
            self._live.close()
            self._live = None

    def transcript(self) -> Path | None:
        if self.home is None or self.session_id is None:
            return None
        found = sorted((self.home / ".claude" / "projects").glob(f"*/{self.session_id}.jsonl"))
        return found[0] if found else None

    def parse(self, result: ProcessResult) -> AgentTurn:
        turn = AgentTurn()
        calls: dict[str, dict] = {}  # tool_use id -> the call, for its result's name
        last_id = None
        final = None
        for event in json_events(result.lines):
            kind = event.get("type")
            if kind == "system" and event.get("session_id"):
                self.session_id = str(event["session_id"])
            elif kind == "assistant":
                message = event.get("message") or {}
                # One API response may arrive as several lines, one per content block.
                if message.get("id") != last_id or not turn.messages:
                    turn.messages.append({"role": "assistant", "content": "", "tool_calls": []})
                    turn.model_calls += 1
                    last_id = message.get("id")
                _add_blocks(turn.messages[-1], message.get("content"), calls)
            elif kind == "user":
                last_id = None
                for block in (event.get("message") or {}).get("content") or []:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        call = calls.get(str(block.get("tool_use_id")), {})
                        turn.messages.append(
                            {
                                "role": "tool",
                                "tool_call_id": str(block.get("tool_use_id")),
                                "name": call.get("name", ""),
                                "content": text_of(block.get("content")),
                                "is_error": bool(block.get("is_error")),
                            }
                        )
            elif kind == "result":
                final = event
        if final is not None:
            _apply_result(turn, final)
            if turn.cost_usd is not None:
                # Claude Code reports the session's cost so far, across resumes.
                turn.cost_usd, self._session_cost = (
                    turn.cost_usd - self._session_cost,
                    turn.cost_usd,
                )
            if final.get("is_error"):
                turn.error = self.failure(result, f"ended in error: {text_of(final.get('result'))}")
        elif result.returncode is not None:
            turn.error = self.failure(result, "ended without a result")
        return turn


def _is_result(line: str) -> bool:
    """The line that ends a turn: the `result` event (checked cheaply first, as every
    event line passes here)."""
    if '"result"' not in line:
        return False
    return any(e.get("type") == "result" for e in json_events([line]))


def _add_blocks(message: dict, content: object, calls: dict[str, dict]) -> None:
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and block.get("text"):
            sep = "\n" if message["content"] else ""
            message["content"] += sep + str(block["text"])
        elif block.get("type") == "tool_use":
            call = {
                "id": str(block.get("id")),
                "name": str(block.get("name")),
                "arguments": json.dumps(block.get("input"), ensure_ascii=False),
            }
            message["tool_calls"].append(call)
            calls[call["id"]] = call


def _apply_result(turn: AgentTurn, final: dict) -> None:
    usage = final.get("usage") or {}
    turn.input_tokens = int(usage.get("input_tokens") or 0)
    turn.output_tokens = int(usage.get("output_tokens") or 0)
    turn.cache_read_tokens = int(usage.get("cache_read_input_tokens") or 0)
    turn.cache_write_tokens = int(usage.get("cache_creation_input_tokens") or 0)
    if isinstance(final.get("total_cost_usd"), int | float):
        turn.cost_usd = float(final["total_cost_usd"])  # the session's, so far
    # A denied call: the permission layer stopped it, which the record must say.
    denied = {str(d.get("tool_use_id")) for d in final.get("permission_denials") or []}
    for m in turn.messages:
        if m["role"] == "tool" and m["tool_call_id"] in denied:
            m["outcome"] = "denied"
            m["is_error"] = True
