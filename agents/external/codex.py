"""`codex:<model>`: the OpenAI Codex CLI, one `codex exec --json` process per turn,
resumed by thread id, its JSONL events turned into the turn's messages.

Spec parameters, besides base_url, key_env, home, project and bin: `sandbox`
(workspace-write, Codex's own default, where `.git` is read-only so a commit fails and
is recorded as a blocked attempt; danger-full-access; read-only). The private
`$CODEX_HOME/config.toml` is the setup's own (`home=` with `.codex/config.toml`) with
the server, the approval policy and the settings that keep Codex off other hosts
written over it. AGENTS.md at the repository's root comes from `project=`.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import tomli_w

from stickiness.agents.external.base import AgentTurn, Cli, ExternalAgent
from stickiness.agents.external.events import json_events
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
        failed = None
        for event in json_events(result.lines):
            kind = event.get("type")
            if kind == "thread.started" and event.get("thread_id"):
                self.session_id = str(event["thread_id"])
            elif kind == "item.completed":
                _add_item(turn, event.get("item") or {})
            elif kind == "turn.completed":
                usage = event.get("usage") or {}
                cached = int(usage.get("cached_input_tokens") or 0)
                turn.input_tokens += int(usage.get("input_tokens") or 0) - cached
                turn.cache_read_tokens += cached
                turn.output_tokens += int(usage.get("output_tokens") or 0)
            elif kind in ("turn.failed", "error"):
                error = event.get("error") if kind == "turn.failed" else event
                failed = str((error or {}).get("message") or kind)
        if failed is not None:
            turn.error = self.failure(result, f"turn failed: {failed}")
        return turn


def _call(turn: AgentTurn, item: dict, name: str, arguments: dict, result: str, ok: bool):
    call_id = str(item.get("id"))
    turn.messages.append(
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": call_id,
                    "name": name,
                    "arguments": json.dumps(arguments, ensure_ascii=False),
                }
            ],
        }
    )
    message = {"role": "tool", "tool_call_id": call_id, "name": name, "content": result}
    turn.messages.append(message | {"is_error": not ok})
    return turn.messages[-1]


def _add_item(turn: AgentTurn, item: dict) -> None:
    kind = item.get("type")
    if kind == "agent_message":
        turn.messages.append({"role": "assistant", "content": str(item.get("text") or "")})
        turn.model_calls += 1
    elif kind == "command_execution":
        code = item.get("exit_code")
        message = _call(
            turn,
            item,
            "shell",
            {"command": item.get("command")},
            str(item.get("aggregated_output") or ""),
            code == 0,
        )
        message["exit_code"] = code
        turn.model_calls += 1
    elif kind == "file_change":
        changes = item.get("changes") or []
        _call(turn, item, "apply_patch", {"changes": changes}, str(item.get("status")), True)
        turn.model_calls += 1
    elif kind == "mcp_tool_call":
        name = f"mcp:{item.get('server')}/{item.get('tool')}"
        result = json.dumps(item.get("result") or item.get("error"), ensure_ascii=False)
        _call(turn, item, name, item.get("arguments") or {}, result, item.get("status") != "failed")
        turn.model_calls += 1
