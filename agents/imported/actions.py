"""What an agent did to the repository, read back from its own log.

A log has no git: commits and pushes are read from what git printed in the result of the
shell call that ran it (`[main 1a2b3c4] message`, `a..b  main -> main`). A call that
tried and printed no such line (refused at a permission prompt, failed, nothing to
commit) is an attempt only. Files are those the agent's edit tools name; files a shell
command changed cannot be known from the log, so the list is an estimate.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field

from stickiness.agents.git_commands import (
    COMMIT_LINE,
    GIT_TOOLS,
    PUSH_LINE,
    SHELL_TOOLS,
    attempted_actions,
)
from stickiness.agents.trajectory import CommitRecord, PushRecord

# Edit tools and the argument naming their file, as Claude Code, Codex, OpenHands and
# common tool sets call them.
EDIT_TOOLS = {
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "Write": "file_path",
    "NotebookEdit": "notebook_path",
    "str_replace_editor": "path",
    "str_replace_based_edit_tool": "path",
    "edit_file": "path",
    "write_file": "path",
    "create_file": "path",
    "replace_in_file": "path",
    "write_to_file": "path",
}
_PATCH_FILE = re.compile(r"^\*\*\* (?:Add|Update|Delete) File: (.+)$", re.MULTILINE)
_CREATE_MODE = re.compile(r"^ (?:create|delete) mode \d+ (.+)$", re.MULTILINE)
# Read-only commands of an editor tool: looking is not editing.
_VIEW_COMMANDS = frozenset({"view", "read"})


@dataclass
class TurnActions:
    commits: list[CommitRecord] = field(default_factory=list)
    pushes: list[PushRecord] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Shell calls that may have changed files the log does not name.
    shell_calls: int = 0


def _arguments(call: dict) -> dict:
    try:
        value = json.loads(call.get("arguments") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _relative(path: str, cwd: str | None) -> str:
    if cwd and posixpath.isabs(path):
        rel = posixpath.relpath(path, cwd)
        if not rel.startswith(".."):
            return rel
    return path


def edited_files(call: dict, cwd: str | None) -> list[str]:
    """Files an edit tool call names (relative to the session's folder where it can)."""
    name = str(call.get("name"))
    args = _arguments(call)
    paths: list[str] = []
    if name in EDIT_TOOLS:
        if str(args.get("command", "")) in _VIEW_COMMANDS:
            return []
        value = args.get(EDIT_TOOLS[name])
        if isinstance(value, str) and value:
            paths.append(value)
    elif name in SHELL_TOOLS:
        # Codex applies its patches through the shell too: `apply_patch "*** Begin Patch..."`.
        command = args.get("command") or args.get("cmd") or ""
        text = "\n".join(map(str, command)) if isinstance(command, list) else str(command)
        if "*** Begin Patch" in text:
            paths += _PATCH_FILE.findall(text)
    elif name == "apply_patch":
        text = args.get("input") or args.get("patch") or call.get("arguments") or ""
        if isinstance(text, str):
            paths += _PATCH_FILE.findall(text)
        for change in args.get("changes") or []:
            if isinstance(change, dict) and isinstance(change.get("path"), str):
                paths.append(change["path"])
    return [_relative(p.strip(), cwd) for p in paths]


# What the harness's own git tools answer: `1a2b3c4 subject` then the files, one a line;
# `pushed 1a2b3c4 to origin/main`.
_OWN_COMMIT = re.compile(r"\A([0-9a-f]{7,40}) (.*)")
_OWN_PUSH = re.compile(r"\Apushed ([0-9a-f]{7,40}) to origin/main")


def _own_git_tool(name: str, text: str, out: TurnActions) -> None:
    if name == "git_commit":
        hit = _OWN_COMMIT.match(text)
        if hit:
            files = [line for line in text.splitlines()[1:] if line.strip()]
            out.commits.append(CommitRecord(sha=hit[1], message=hit[2], files=files))
    else:
        hit = _OWN_PUSH.match(text)
        if hit:
            out.pushes.append(PushRecord(ref="refs/heads/main", old=None, new=hit[1]))


def read_actions(messages: list[dict], cwd: str | None) -> TurnActions:
    """Commits, pushes and edited files of one turn's messages."""
    results = {m.get("tool_call_id"): m for m in messages if m.get("role") == "tool"}
    out = TurnActions()
    for m in messages:
        for call in m.get("tool_calls") or ():
            for path in edited_files(call, cwd):
                if path not in out.files:
                    out.files.append(path)
            tried = attempted_actions(call)
            if not tried:
                continue
            out.shell_calls += 1
            result = results.get(call.get("id")) or {}
            if result.get("outcome") == "denied":
                continue
            text = str(result.get("content") or "")
            if call.get("name") in GIT_TOOLS:  # this tool's own harness
                if not result.get("is_error"):
                    _own_git_tool(str(call.get("name")), text, out)
                continue
            if "commit" in tried:
                touched = _CREATE_MODE.findall(text)
                for hit in COMMIT_LINE.finditer(text):
                    out.commits.append(
                        CommitRecord(sha=hit["sha"], message=hit["message"], files=touched)
                    )
                    touched = []
            if "push" in tried:
                for hit in PUSH_LINE.finditer(text):
                    out.pushes.append(PushRecord(ref=hit["ref"], old=hit["old"], new=hit["new"]))
    return out
