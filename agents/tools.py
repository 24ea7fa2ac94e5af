"""The tools an agent gets: files, search and git, all confined to one sandbox.

Every call is hostile input. A bad call (unknown tool, malformed JSON, wrong arguments,
a path outside the workspace, a git failure, anything a tool did not expect) becomes an
error result for the model, never an exception, and no call may take unbounded time or
memory: files, searches and the static check all have size budgets.

This module is the registry and the one entry point, `execute`; the tools themselves live
in `file_tools`, `search_tool`, `git_tools` and `static_check`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from stickiness.agents.file_tools import edit_file, list_files, read_file, write_file
from stickiness.agents.git_tools import git_commit, git_diff, git_push, git_status
from stickiness.agents.sandbox import GitError, PathOutsideWorkspace, Sandbox
from stickiness.agents.search_tool import search
from stickiness.agents.static_check import run_tests
from stickiness.agents.tool_args import (
    CommitArgs,
    EditArgs,
    ListArgs,
    NoArgs,
    ReadArgs,
    SearchArgs,
    ToolArgs,
    WriteArgs,
)
from stickiness.agents.tool_base import MAX_FILE_BYTES, MAX_OUTPUT_CHARS, ToolFailure, detail

# Arguments larger than any valid call (a full file JSON-escaped at 6 characters a byte)
# are refused before they are parsed.
MAX_ARGUMENT_CHARS = 8_000_000


@dataclass(frozen=True)
class ToolResult:
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[ToolArgs]
    run: Callable[[Sandbox, ToolArgs], str]

    def schema(self) -> dict:
        """Neutral JSON-schema description; model adapters translate it."""
        return _schema(self)

    def _build_schema(self) -> dict:
        params = self.args.model_json_schema()
        params.pop("title", None)
        for prop in params.get("properties", {}).values():
            prop.pop("title", None)
        return {"name": self.name, "description": self.description, "parameters": params}


@functools.cache
def _schema(tool: Tool) -> dict:
    return tool._build_schema()


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("list_files", "List the files under a folder of the workspace.", ListArgs, list_files),
        Tool("read_file", "Read a text file from the workspace.", ReadArgs, read_file),
        Tool("write_file", "Create or overwrite a text file.", WriteArgs, write_file),
        Tool("edit_file", "Replace one exact, unique passage of a file.", EditArgs, edit_file),
        Tool("search", "Search workspace files line by line with a regex.", SearchArgs, search),
        Tool("git_status", "Show uncommitted changes (git status --short).", NoArgs, git_status),
        Tool("git_diff", "Show the uncommitted diff against HEAD.", NoArgs, git_diff),
        Tool(
            "git_commit", "Stage every change and commit it with a message.", CommitArgs, git_commit
        ),
        Tool("git_push", "Push the current branch to origin/main.", NoArgs, git_push),
        Tool(
            "run_tests",
            "Check the project's Python files and tests (static check, no code runs).",
            NoArgs,
            run_tests,
        ),
    )
}


def tool_schemas(names: list[str] | None = None) -> list[dict]:
    return [TOOLS[n].schema() for n in (names or list(TOOLS))]


def _clip(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return text[:MAX_OUTPUT_CHARS] + f"\n(output cut at {MAX_OUTPUT_CHARS} characters)"


def execute(
    box: Sandbox, name: str, arguments: str, allowed: list[str] | None = None
) -> ToolResult:
    """Run one tool call. `arguments` is the raw JSON text the model produced."""
    result = _execute(box, name, arguments, allowed)
    return ToolResult(_clip(result.content), result.is_error)


def _execute(box: Sandbox, name: str, arguments: str, allowed: list[str] | None) -> ToolResult:
    tool = TOOLS.get(name) if isinstance(name, str) else None
    if tool is None or (allowed is not None and name not in allowed):
        known = ", ".join(allowed or TOOLS)
        return ToolResult(f"unknown tool {detail(repr(name))}; available tools: {known}", True)
    if not isinstance(arguments, str):
        return ToolResult("arguments must be JSON text", True)
    if len(arguments) > MAX_ARGUMENT_CHARS:
        return ToolResult(
            f"arguments of {len(arguments):,} characters; at most {MAX_ARGUMENT_CHARS:,} are "
            f"taken, and files may hold at most {MAX_FILE_BYTES:,} bytes",
            True,
        )
    try:
        raw = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError as exc:
        return ToolResult(f"arguments are not valid JSON ({exc.msg} at position {exc.pos})", True)
    except RecursionError:
        return ToolResult("arguments are not valid JSON (nested too deeply)", True)
    if not isinstance(raw, dict):
        return ToolResult("arguments must be a JSON object", True)
    try:
        args = tool.args.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{detail('.'.join(map(str, e['loc'])) or 'arguments')}: {e['msg']}"
            for e in exc.errors()
        )
        return ToolResult(f"invalid arguments for {name}: {problems}", True)
    try:
        return ToolResult(tool.run(box, args))
    except (ToolFailure, PathOutsideWorkspace, GitError) as exc:
        return ToolResult(str(exc), True)
    except OSError as exc:
        return ToolResult(f"{name} failed: {detail(exc.strerror or str(exc))}", True)
    except Exception as exc:  # noqa: BLE001 - the last resort: one bad call never ends a run
        return ToolResult(f"{name} failed: {type(exc).__name__}: {detail(str(exc))}", True)
