"""The tools an agent gets: files, search and git, all confined to one sandbox.

A bad call (unknown tool, malformed JSON, wrong arguments, a path outside the
workspace, a git failure) becomes an error result for the model, never an exception.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stickiness.agents.sandbox import GitError, PathOutsideWorkspace, Sandbox

MAX_OUTPUT_CHARS = 20_000
MAX_SEARCH_HITS = 200


@dataclass(frozen=True)
class ToolResult:
    content: str
    is_error: bool = False


class ToolFailure(Exception):
    """Raised inside a tool to report a problem back to the model."""


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListArgs(_Args):
    path: str = Field(".", description="Folder to list, relative to the workspace root.")


class ReadArgs(_Args):
    path: str = Field(description="File to read, relative to the workspace root.")


class WriteArgs(_Args):
    path: str = Field(description="File to create or overwrite, relative to the workspace root.")
    content: str = Field(description="The complete new content of the file.")


class EditArgs(_Args):
    path: str = Field(description="File to edit, relative to the workspace root.")
    old: str = Field(description="Exact text to replace; must occur exactly once.")
    new: str = Field(description="Replacement text.")


class SearchArgs(_Args):
    pattern: str = Field(description="Python regular expression to look for.")
    path: str = Field(".", description="File or folder to search, relative to the root.")


class CommitArgs(_Args):
    message: str = Field(min_length=1, description="Commit message.")


class NoArgs(_Args):
    pass


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[_Args]
    run: Callable[[Sandbox, _Args], str]

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


def _walk_files(box: Sandbox, real_dir: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(real_dir):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            found.append(box.relative(Path(dirpath) / name))
    return found


def _list(box: Sandbox, a: ListArgs) -> str:
    real = box.resolve(a.path)
    if not real.is_dir():
        raise ToolFailure(f"{a.path}: not a folder")
    files = _walk_files(box, real)
    return "\n".join(files) if files else "(no files)"


def _read(box: Sandbox, a: ReadArgs) -> str:
    real = box.resolve(a.path)
    if not real.is_file():
        raise ToolFailure(f"{a.path}: no such file")
    try:
        return real.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ToolFailure(f"{a.path}: not a UTF-8 text file") from None


def _write(box: Sandbox, a: WriteArgs) -> str:
    real = box.resolve(a.path)
    if real.is_dir():
        raise ToolFailure(f"{a.path}: is a folder")
    real.parent.mkdir(parents=True, exist_ok=True)
    real.write_text(a.content, encoding="utf-8")
    return f"wrote {box.relative(real)} ({len(a.content)} characters)"


def _edit(box: Sandbox, a: EditArgs) -> str:
    text = _read(box, ReadArgs(path=a.path))
    count = text.count(a.old) if a.old else 0
    if count != 1:
        raise ToolFailure(
            f"{a.path}: 'old' must occur exactly once, found {count} times; "
            "read the file and quote a unique passage"
        )
    box.resolve(a.path).write_text(text.replace(a.old, a.new, 1), encoding="utf-8")
    return f"edited {a.path}"


def _search(box: Sandbox, a: SearchArgs) -> str:
    try:
        regex = re.compile(a.pattern)
    except re.error as exc:
        raise ToolFailure(f"invalid regular expression: {exc}") from None
    real = box.resolve(a.path)
    files = [box.relative(real)] if real.is_file() else _walk_files(box, real)
    hits = []
    for rel in files:
        try:
            lines = box.resolve(rel).read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, PathOutsideWorkspace):
            continue
        hits += [f"{rel}:{n}: {line}" for n, line in enumerate(lines, 1) if regex.search(line)]
        if len(hits) >= MAX_SEARCH_HITS:
            return "\n".join(hits[:MAX_SEARCH_HITS] + ["(more matches not shown)"])
    return "\n".join(hits) if hits else "(no matches)"


def _status(box: Sandbox, _: NoArgs) -> str:
    return box.git("status", "--short", "--untracked-files=all").rstrip() or "nothing to commit"


def _diff(box: Sandbox, _: NoArgs) -> str:
    # Diff against a snapshot tree so new files show up without touching the index.
    return box.git("diff", "HEAD", box.snapshot()).strip() or "(no changes)"


def _push(box: Sandbox, _: NoArgs) -> str:
    before = box.remote_refs().get("refs/heads/main")
    box.git("push", "--quiet", "origin", "HEAD:refs/heads/main")
    after = box.remote_refs().get("refs/heads/main")
    if before == after:
        return "Everything up-to-date"
    return f"pushed {after[:7]} to origin/main"


def _run_tests(box: Sandbox, _: NoArgs) -> str:
    # No workspace code is ever executed: tools must not reach outside the workspace,
    # and running model-written code could. This is a static check.
    checked, broken, tests = 0, [], 0
    for rel in _walk_files(box, box.root):
        if not rel.endswith(".py"):
            continue
        try:
            tree = ast.parse(box.resolve(rel).read_text(encoding="utf-8"), filename=rel)
        except (SyntaxError, UnicodeDecodeError, PathOutsideWorkspace) as exc:
            broken.append(f"{rel}: {exc}")
            continue
        checked += 1
        tests += sum(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test")
            for node in ast.walk(tree)
        )
    verdict = "\n".join(broken) if broken else "no syntax errors"
    return (
        f"static check of {checked + len(broken)} Python files: {verdict}; "
        f"{tests} test functions found (this sandbox checks, it does not execute code)"
    )


def _commit(box: Sandbox, a: CommitArgs) -> str:
    box.git("add", "--all")
    try:
        box.git("commit", "--quiet", "-m", a.message)
    except GitError as exc:
        if "nothing to commit" in str(exc) or "nothing added" in str(exc):
            raise ToolFailure("nothing to commit: the working tree has no changes") from None
        raise
    return box.git("log", "-1", "--format=%h %s", "--name-only").strip()


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("list_files", "List the files under a folder of the workspace.", ListArgs, _list),
        Tool("read_file", "Read a text file from the workspace.", ReadArgs, _read),
        Tool("write_file", "Create or overwrite a text file.", WriteArgs, _write),
        Tool("edit_file", "Replace one exact, unique passage of a file.", EditArgs, _edit),
        Tool("search", "Search workspace files line by line with a regex.", SearchArgs, _search),
        Tool("git_status", "Show uncommitted changes (git status --short).", NoArgs, _status),
        Tool("git_diff", "Show the uncommitted diff against HEAD.", NoArgs, _diff),
        Tool("git_commit", "Stage every change and commit it with a message.", CommitArgs, _commit),
        Tool("git_push", "Push the current branch to origin/main.", NoArgs, _push),
        Tool(
            "run_tests",
            "Check the project's Python files and tests (static check, no code runs).",
            NoArgs,
            _run_tests,
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
    tool = TOOLS.get(name)
    if tool is None or (allowed is not None and name not in allowed):
        known = ", ".join(allowed or TOOLS)
        return ToolResult(f"unknown tool {name!r}; available tools: {known}", True)
    try:
        raw = json.loads(arguments) if arguments and arguments.strip() else {}
    except json.JSONDecodeError as exc:
        return ToolResult(f"arguments are not valid JSON ({exc.msg} at position {exc.pos})", True)
    if not isinstance(raw, dict):
        return ToolResult("arguments must be a JSON object", True)
    try:
        args = tool.args.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
        return ToolResult(f"invalid arguments for {name}: {problems}", True)
    try:
        return ToolResult(_clip(tool.run(box, args)))
    except (ToolFailure, PathOutsideWorkspace, GitError) as exc:
        return ToolResult(str(exc), True)
    except OSError as exc:
        return ToolResult(f"{name} failed: {exc.strerror or exc}", True)
