"""OpenAI Codex CLI rollouts: `~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`.

Each line is `{"timestamp", "type", "payload"}`. `session_meta` names the session
(`id`, `cwd`, `cli_version`, `git`), `turn_context` the model of each turn, and
`response_item` the conversation as the Responses API sees it: `message` (role user,
assistant or developer), `function_call` / `custom_tool_call` / `local_shell_call` and
their `*_output`. Codex writes its own context as user messages too (AGENTS.md,
`<environment_context>`, `<user_shell_command>` for a `!` escape the person ran); those
are told apart by the markers codex-rs writes (`model_visible_context`). A call the
person declined is answered "exec command rejected by user" or "patch rejected by user".
(Checked against the rollouts Codex 0.171.0 writes and codex-rs.)
"""

from __future__ import annotations

import re
from pathlib import Path

from stickiness.agents.external.codex import add_response_item, add_usage
from stickiness.agents.imported.jsonl import json_lines, text_of
from stickiness.agents.imported.session import LoggedSession, LoggedTurn

# What Codex writes in the person's name, never typed by them.
_CONTEXT = (
    "<environment_context>",
    "<user_instructions>",
    "# AGENTS.md instructions for ",
    "<skill",
    "<turn_aborted>",
    "<plugins>",
    "<apps_instructions>",
    "<collaboration_mode>",
)
_SHELL = "<user_shell_command>"
_SHELL_COMMAND = re.compile(r"<command>\s*([\s\S]*?)\s*</command>")
DECLINED = ("exec command rejected by user", "patch rejected by user")


def _read(path: Path) -> LoggedSession:
    session = LoggedSession(source=str(path), format="codex", session_id=path.stem)
    turn: LoggedTurn | None = None
    models: dict[str, int] = {}
    model = None
    for _, line in json_lines(path):
        kind, payload = line.get("type"), line.get("payload")
        stamp = line.get("timestamp") if isinstance(line.get("timestamp"), str) else None
        if stamp:
            session.started_at = session.started_at or stamp
            session.finished_at = stamp
        if not isinstance(payload, dict):
            continue
        if kind == "session_meta":
            session.session_id = str(payload.get("id") or session.session_id)
            git = payload.get("git") if isinstance(payload.get("git"), dict) else {}
            session.cwd = session.cwd or _str(payload.get("cwd"))
            session.branch = session.branch or _str(git.get("branch"))
            if payload.get("cli_version"):
                session.agent = f"codex {payload['cli_version']}"
            if isinstance(payload.get("instructions"), str):
                session.system_prompt = payload["instructions"]
        elif kind == "turn_context":
            model = _str(payload.get("model")) or model
        elif kind == "event_msg" and turn is not None:
            if payload.get("type") == "turn_aborted":
                turn.interrupted = True
            elif payload.get("type") == "error":
                turn.error = str(payload.get("message") or "error")[:500]
        elif kind == "token_usage_record" and turn is not None:
            usage = payload.get("usage")
            add_usage(turn, usage if isinstance(usage, dict) else {})
        elif kind == "response_item":
            role = payload.get("role")
            if payload.get("type") == "message" and role == "user":
                text = text_of(payload.get("content")).strip()
                if text.startswith(_SHELL):
                    found = _SHELL_COMMAND.search(text)
                    if turn is not None:
                        turn.user_commands.append(found.group(1) if found else text)
                elif text and not text.startswith(_CONTEXT):
                    turn = LoggedTurn(user=text, at=stamp, ref=str(len(session.turns) + 1))
                    session.turns.append(turn)
            elif payload.get("type") == "message" and role in ("developer", "system"):
                if not session.turns and not session.system_prompt:
                    session.system_prompt = text_of(payload.get("content"))
            elif turn is not None:
                before = len(turn.messages)
                add_response_item(turn, payload)
                _mark_declined(turn.messages[before:])
                if payload.get("type") == "message" and role == "assistant" and model:
                    models[model] = models.get(model, 0) + 1
    if models:
        session.model = max(models, key=models.__getitem__)
    elif model:
        session.model = model
    return session


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _mark_declined(messages: list[dict]) -> None:
    for m in messages:
        if m.get("role") == "tool" and str(m.get("content", "")).strip().startswith(DECLINED):
            m["outcome"] = "denied"
            m["is_error"] = True


def read_codex(path: Path) -> list[LoggedSession]:
    """The session one Codex rollout holds (none if no one typed anything)."""
    session = _read(path)
    return [session] if session.turns else []
