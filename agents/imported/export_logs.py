"""This tool's trajectories written as Claude Code session logs and Codex rollouts.

So that played runs can be read by whatever reads those agents' logs, and so that the
importer can be checked on runs whose truth is known: export, import, compare. The
harness's own git tools become the shell commands a CLI agent would have run, with
git's own output for the commits and pushes git recorded (`[main 1a2b3c4] subject`,
`old..new  HEAD -> main`); every other call keeps its name, arguments and result.
Shapes as `claude_code_log` and `codex_rollout` read them (Claude Code 2.1.332,
Codex 0.171.0).
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from stickiness.agents.trajectory import CommitRecord, PushRecord, Trajectory, TurnRecord

SHELL = {"claude-code": "Bash", "codex": "exec_command"}
EXPORT_NAMESPACE = uuid.UUID("6f1c1e0a-5d1b-4d0e-9a43-1b2f3c4d5e6f")


def _commit_output(commit: CommitRecord) -> str:
    lines = [f"[main {commit.sha[:7]}] {commit.message.splitlines()[0] if commit.message else ''}"]
    lines.append(f" {len(commit.files)} files changed")
    return "\n".join(lines)


def _push_output(push: PushRecord) -> str:
    if push.old and push.new:
        return f"To origin\n   {push.old[:7]}..{push.new[:7]}  HEAD -> main"
    return "To origin\n * [new branch]      HEAD -> main"


def shell_calls(turn: TurnRecord, shell: str) -> Iterator[dict]:
    """The turn's messages, the harness's git tools turned into shell commands."""
    commits, pushes = iter(turn.commits), iter(turn.pushes)
    names: dict[str, str] = {}
    for m in turn.messages:
        if m["role"] == "assistant":
            calls = []
            for call in m.get("tool_calls") or []:
                names[call["id"]] = call["name"]
                if call["name"] == "git_commit":
                    try:
                        message = str(json.loads(call["arguments"]).get("message", ""))
                    except (ValueError, AttributeError):
                        message = ""
                    command = f"git add --all && git commit -m {shlex.quote(message)}"
                    call = {**call, "name": shell, "arguments": json.dumps({"command": command})}
                elif call["name"] == "git_push":
                    command = "git push origin HEAD:main"
                    call = {**call, "name": shell, "arguments": json.dumps({"command": command})}
                calls.append(call)
            yield {**m, "tool_calls": calls}
        elif m["role"] == "tool":
            content = m["content"]
            tool = names.get(m["tool_call_id"])
            if tool == "git_commit" and not m["is_error"]:
                done = next(commits, None)
                content = _commit_output(done) if done else content
            elif tool == "git_push" and not m["is_error"]:
                done = next(pushes, None)
                content = _push_output(done) if done else "Everything up-to-date"
            yield {**m, "content": content}
        else:
            yield m


def _times(trajectory: Trajectory) -> Iterator[str]:
    """A timestamp per line: the run's start, a second apart."""
    try:
        start = datetime.fromisoformat(trajectory.started_at.replace("Z", "+00:00"))
    except ValueError:
        start = datetime(2026, 1, 1)
    step = 0
    while True:
        yield (start + timedelta(seconds=step)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        step += 1


def to_claude_code(trajectory: Trajectory, cwd: str = "/workspace") -> list[dict]:
    """The lines of a Claude Code session log of one run."""
    session = str(uuid.uuid5(EXPORT_NAMESPACE, trajectory.run_id))
    clock = _times(trajectory)
    lines: list[dict] = []
    parent: str | None = None

    def add(kind: str, message: dict) -> None:
        nonlocal parent
        entry_id = str(uuid.uuid5(EXPORT_NAMESPACE, f"{trajectory.run_id}/{len(lines)}"))
        lines.append(
            {
                "parentUuid": parent,
                "isSidechain": False,
                "type": kind,
                "message": message,
                "uuid": entry_id,
                "timestamp": next(clock),
                "userType": "external",
                "cwd": cwd,
                "sessionId": session,
                "version": "stickiness-export",
                "gitBranch": "main",
            }
        )
        parent = entry_id

    for turn in trajectory.turns:
        add("user", {"role": "user", "content": turn.user})
        first = True
        for n, m in enumerate(shell_calls(turn, SHELL["claude-code"])):
            if m["role"] == "assistant":
                blocks: list[dict] = (
                    [{"type": "text", "text": m["content"]}] if m.get("content") else []
                )
                blocks += [
                    {
                        "type": "tool_use",
                        "id": c["id"],
                        "name": c["name"],
                        "input": _object(c["arguments"]),
                    }
                    for c in m.get("tool_calls") or []
                ]
                usage = _usage(turn) if first else {}
                first = False
                add(
                    "assistant",
                    {
                        "id": f"msg_{trajectory.run_id}_{turn.turn}_{n}",
                        "type": "message",
                        "role": "assistant",
                        "model": trajectory.model,
                        "content": blocks,
                        "usage": usage,
                    },
                )
            elif m["role"] == "tool":
                block = {
                    "type": "tool_result",
                    "tool_use_id": m["tool_call_id"],
                    "content": m["content"],
                }
                add("user", {"role": "user", "content": [block | {"is_error": m["is_error"]}]})
    return lines


def _usage(turn: TurnRecord) -> dict:
    return {
        "input_tokens": turn.input_tokens,
        "output_tokens": turn.output_tokens,
        "cache_read_input_tokens": turn.cache_read_tokens,
        "cache_creation_input_tokens": turn.cache_write_tokens,
    }


def _object(arguments: str) -> object:
    try:
        return json.loads(arguments)
    except ValueError:
        return {"raw_arguments": arguments}


def to_codex(trajectory: Trajectory, cwd: str = "/workspace") -> list[dict]:
    """The lines of a Codex rollout of one run."""
    session = str(uuid.uuid5(EXPORT_NAMESPACE, trajectory.run_id))
    clock = _times(trajectory)
    lines: list[dict] = []

    def add(kind: str, payload: dict) -> None:
        lines.append({"timestamp": next(clock), "type": kind, "payload": payload})

    add(
        "session_meta",
        {"id": session, "cwd": cwd, "cli_version": "stickiness-export", "git": {"branch": "main"}},
    )
    for turn in trajectory.turns:
        add("turn_context", {"cwd": cwd, "model": trajectory.model})
        add("response_item", _codex_message("user", "input_text", turn.user))
        for m in shell_calls(turn, SHELL["codex"]):
            if m["role"] == "assistant":
                if m.get("content"):
                    add("response_item", _codex_message("assistant", "output_text", m["content"]))
                for c in m.get("tool_calls") or []:
                    arguments = c["arguments"]
                    if c["name"] == SHELL["codex"]:  # Codex names the command `cmd`
                        arguments = json.dumps({"cmd": json.loads(arguments)["command"]})
                    add(
                        "response_item",
                        {
                            "type": "function_call",
                            "name": c["name"],
                            "arguments": arguments,
                            "call_id": c["id"],
                        },
                    )
            elif m["role"] == "tool":
                code = 1 if m["is_error"] else 0
                output = f"Process exited with code {code}\nOutput:\n{m['content']}"
                add(
                    "response_item",
                    {
                        "type": "function_call_output",
                        "call_id": m["tool_call_id"],
                        "output": output,
                    },
                )
        calls = max(turn.model_calls, 1)
        for _ in range(calls):  # one record per model response, the turn's tokens spread
            add(
                "token_usage_record",
                {
                    "usage": {
                        "input_tokens": (turn.input_tokens + turn.cache_read_tokens) // calls,
                        "cached_input_tokens": turn.cache_read_tokens // calls,
                        "output_tokens": turn.output_tokens // calls,
                    }
                },
            )
    return lines


def _codex_message(role: str, part: str, text: str) -> dict:
    return {"type": "message", "role": role, "content": [{"type": part, "text": text}]}
