"""The tools an agent gets: files, search and git, all confined to one sandbox.

Every call is hostile input. A bad call (unknown tool, malformed JSON, wrong arguments,
a path outside the workspace, a git failure, anything a tool did not expect) becomes an
error result for the model, never an exception, and no call may take unbounded time or
memory: files, searches and the static check all have size budgets.
"""

from __future__ import annotations

import ast
import codecs
import functools
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import re2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stickiness.agents.sandbox import GitError, PathOutsideWorkspace, Sandbox
from stickiness.scenarios.patterns import PatternError, compile_pattern

MAX_OUTPUT_CHARS = 20_000
MAX_SEARCH_HITS = 200
MAX_HIT_CHARS = 300
# A file written or edited by a tool; far above any source file an agent should write.
MAX_FILE_BYTES = 1 << 20
# How much the workspace may grow beyond the scenario's files over a whole run (every
# tool and every turn's bookkeeping walks it, and git stores what it holds).
MAX_GROWTH_BYTES = 16 << 20
MAX_NEW_ENTRIES = 1_000  # files and folders
# Arguments larger than any valid call (a full file JSON-escaped at 6 characters a byte)
# are refused before they are parsed.
MAX_ARGUMENT_CHARS = 8_000_000
MAX_COMMIT_MESSAGE_CHARS = 20_000
# `read_file` of a file too large to read whole: enough bytes to fill the output.
READ_PREFIX_BYTES = 4 * MAX_OUTPUT_CHARS
# `search` budget. RE2 is linear in the text, but the factor is the pattern's program
# size (up to ~150,000 instructions under the pattern length limit: 20 s for 100 KB),
# so the work budget counts bytes x instructions; small patterns reach the byte limit.
MAX_SEARCH_FILE_BYTES = MAX_FILE_BYTES
MAX_SEARCH_BYTES = 4 << 20
MAX_SEARCH_LINES = 200_000
MIN_PROGRAM_SIZE = 16
MAX_SEARCH_WORK = MAX_SEARCH_BYTES * MIN_PROGRAM_SIZE
# Static check budget: ast.parse takes about 1 KB of memory per byte of source (an
# 18 MB file needs 7.7 GB) and is quadratic on long f-strings, so files are parsed only
# up to this size (~70 MB, ~0.4 s at worst each) and up to this much in all.
MAX_CHECK_FILE_BYTES = 64 << 10
MAX_CHECK_BYTES = 256 << 10
MAX_DETAIL_CHARS = 200


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
    pattern: str = Field(
        description="Regular expression to look for (Python syntax without lookaround "
        "or backreferences)."
    )
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


def _detail(text: str) -> str:
    """Something quoted back to the model (a name, a message): one short line."""
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + "..."


def _regular_size(real: Path) -> int | None:
    """The size of a regular file, or None for anything else (a FIFO would block)."""
    try:
        info = real.stat()
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _read_bytes(real: Path, limit: int) -> bytes:
    """At most `limit` bytes from the start of the file, never more in memory."""
    with real.open("rb") as handle:
        return handle.read(limit)


def _list(box: Sandbox, a: ListArgs) -> str:
    real = box.resolve(a.path)
    if not real.is_dir():
        raise ToolFailure(f"{a.path}: not a folder")
    files = _walk_files(box, real)
    return "\n".join(files) if files else "(no files)"


def _read(box: Sandbox, a: ReadArgs) -> str:
    real = box.resolve(a.path)
    size = _regular_size(real)
    if size is None:
        raise ToolFailure(f"{a.path}: no such file")
    if size <= MAX_FILE_BYTES:
        return _decode(_read_bytes(real, MAX_FILE_BYTES + 1), a.path)
    # A huge file is shown by its start; a character cut at the end is left out.
    head = _decode(_read_bytes(real, READ_PREFIX_BYTES), a.path, final=False)
    note = f"\n(file of {size:,} bytes; only its start is shown)"
    return head[: MAX_OUTPUT_CHARS - len(note)] + note


def _decode(data: bytes, path: str, final: bool = True) -> str:
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
    except UnicodeDecodeError:
        raise ToolFailure(f"{path}: not a UTF-8 text file") from None


def _encode(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ToolFailure(
            f"{what} is not valid Unicode text (a lone surrogate at position {exc.start})"
        ) from None


def _too_big(path: str) -> ToolFailure:
    return ToolFailure(
        f"{path}: files may hold at most {MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES >> 20} MB)"
    )


def _store(box: Sandbox, real: Path, path: str, data: bytes) -> None:
    """Write a file, keeping the workspace's growth over the run within budget."""
    if len(data) > MAX_FILE_BYTES:
        raise _too_big(path)
    old = _regular_size(real)
    if old is None and real.exists():
        raise ToolFailure(f"{path}: not a regular file")
    now = box.usage()
    grown = now.bytes - (old or 0) + len(data) - box.baseline.bytes
    if grown > MAX_GROWTH_BYTES:
        raise ToolFailure(
            f"{path}: the workspace may grow by at most {MAX_GROWTH_BYTES >> 20} MB over a run"
        )
    made = 0 if old is not None else 1 + _missing_folders(box, real.parent)
    if now.entries + made - box.baseline.entries > MAX_NEW_ENTRIES:
        raise ToolFailure(
            f"{path}: at most {MAX_NEW_ENTRIES:,} new files and folders may be made in a run"
        )
    real.parent.mkdir(parents=True, exist_ok=True)
    real.write_bytes(data)


def _missing_folders(box: Sandbox, folder: Path) -> int:
    missing = 0
    while folder != box.root and not folder.exists():
        missing, folder = missing + 1, folder.parent
    return missing


def _write(box: Sandbox, a: WriteArgs) -> str:
    real = box.resolve(a.path)
    if real.is_dir():
        raise ToolFailure(f"{a.path}: is a folder")
    if len(a.content) > MAX_FILE_BYTES:  # every character is at least a byte
        raise _too_big(a.path)
    _store(box, real, a.path, _encode(a.content, "content"))
    return f"wrote {box.relative(real)} ({len(a.content)} characters)"


def _edit(box: Sandbox, a: EditArgs) -> str:
    real = box.resolve(a.path)
    size = _regular_size(real)
    if size is None:
        raise ToolFailure(f"{a.path}: no such file")
    if size > MAX_FILE_BYTES:
        raise ToolFailure(f"{a.path}: too large to edit ({size:,} bytes)")
    text = _decode(_read_bytes(real, MAX_FILE_BYTES + 1), a.path)
    count = text.count(a.old) if a.old else 0
    if count != 1:
        raise ToolFailure(
            f"{a.path}: 'old' must occur exactly once, found {count} times; "
            "read the file and quote a unique passage"
        )
    if len(text) - len(a.old) + len(a.new) > MAX_FILE_BYTES:
        raise _too_big(a.path)
    _store(box, real, a.path, _encode(text.replace(a.old, a.new, 1), "the edited file"))
    return f"edited {a.path}"


# A compiled pattern keeps the DFA RE2 built while matching (megabytes), and a model can
# send a thousand distinct patterns: the search compiles past compile_pattern's cache,
# and empties re2's own (128 patterns, ~3 MB each after a 50 KB search) when done.
_compile_uncached = getattr(compile_pattern, "__wrapped__", compile_pattern)


def _search(box: Sandbox, a: SearchArgs) -> str:
    try:
        regex = _compile_uncached(a.pattern)
    except PatternError as exc:
        raise ToolFailure(str(exc)) from None
    try:
        return _search_files(box, a, regex)
    finally:
        del regex
        re2.purge()


def _search_files(box: Sandbox, a: SearchArgs, regex) -> str:
    real = box.resolve(a.path)
    files = [box.relative(real)] if real.is_file() else _walk_files(box, real)
    program = max(regex.programsize, MIN_PROGRAM_SIZE)
    hits: list[str] = []
    too_large: list[str] = []
    scanned = lines_seen = searched = 0
    stopped = ""
    for rel in files:
        try:
            target = box.resolve(rel)
        except PathOutsideWorkspace:
            continue
        size = _regular_size(target)
        if size is None:
            continue
        if size > MAX_SEARCH_FILE_BYTES:
            too_large.append(rel)
            continue
        if scanned + size > MAX_SEARCH_BYTES or (scanned + size) * program > MAX_SEARCH_WORK:
            stopped = rel
            break
        try:
            lines = _read_bytes(target, MAX_SEARCH_FILE_BYTES + 1).decode("utf-8").splitlines()
        except UnicodeDecodeError:
            continue
        if lines_seen + len(lines) > MAX_SEARCH_LINES:
            stopped = rel
            break
        scanned, lines_seen, searched = scanned + size, lines_seen + len(lines), searched + 1
        for n, line in enumerate(lines, 1):
            if regex.search(line):
                shown = line if len(line) <= MAX_HIT_CHARS else line[:MAX_HIT_CHARS] + "..."
                hits.append(f"{rel}:{n}: {shown}")
                if len(hits) > MAX_SEARCH_HITS:
                    return "\n".join(hits[:MAX_SEARCH_HITS] + ["(more matches not shown)"])
    notes = []
    if too_large:
        notes.append(
            f"(not searched, over {MAX_SEARCH_FILE_BYTES:,} bytes: {', '.join(too_large[:20])}"
            + (f" and {len(too_large) - 20} more)" if len(too_large) > 20 else ")")
        )
    if stopped:
        notes.append(
            f"(search stopped at {stopped} after {searched} files and {scanned:,} bytes: "
            "the budget of one search is spent; this pattern allows "
            f"{min(MAX_SEARCH_BYTES, MAX_SEARCH_WORK // program):,} bytes and "
            f"{MAX_SEARCH_LINES:,} lines; narrow the path or simplify the pattern)"
        )
    return "\n".join((hits or ["(no matches)"]) + notes)


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


def _parse_failure(exc: BaseException) -> str:
    if isinstance(exc, RecursionError | MemoryError):
        return f"nested too deeply to parse ({type(exc).__name__})"
    return _detail(str(exc)) or type(exc).__name__


def _run_tests(box: Sandbox, _: NoArgs) -> str:
    # No workspace code is ever executed: tools must not reach outside the workspace,
    # and running model-written code could. This is a static check.
    checked, broken, tests, budget = 0, [], 0, MAX_CHECK_BYTES
    too_large: list[str] = []
    unchecked: list[str] = []
    for rel in _walk_files(box, box.root):
        if not rel.endswith(".py"):
            continue
        try:
            real = box.resolve(rel)
        except PathOutsideWorkspace as exc:
            broken.append(f"{rel}: {exc}")
            continue
        size = _regular_size(real)
        if size is None:
            continue
        if size > MAX_CHECK_FILE_BYTES:
            too_large.append(f"{rel} ({size:,} bytes)")
            continue
        if size > budget:
            unchecked.append(rel)
            continue
        budget -= size
        try:
            source = _read_bytes(real, MAX_CHECK_FILE_BYTES + 1).decode("utf-8")
            tree = ast.parse(source, filename=rel)
        # Hostile source fails in all of these ways (NUL bytes raise ValueError, deep
        # nesting RecursionError or MemoryError), and each is a finding, not a crash.
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            broken.append(f"{rel}: {_parse_failure(exc)}")
            continue
        checked += 1
        tests += sum(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test")
            for node in ast.walk(tree)
        )
        # Dropped now, or the next file's tree would be built while this one is alive.
        del tree, source
    verdict = "\n".join(broken) if broken else "no syntax errors"
    report = (
        f"static check of {checked + len(broken)} Python files: {verdict}; "
        f"{tests} test functions found (this sandbox checks, it does not execute code)"
    )
    if too_large:
        report += f"\ntoo large to check (over {MAX_CHECK_FILE_BYTES:,} bytes): " + ", ".join(
            too_large
        )
    if unchecked:
        report += (
            f"\nnot checked (the check reads at most {MAX_CHECK_BYTES:,} bytes in all): "
            + ", ".join(unchecked)
        )
    return report


def _commit(box: Sandbox, a: CommitArgs) -> str:
    if "\0" in a.message:
        raise ToolFailure("the commit message contains a NUL character, which git cannot store")
    if len(a.message) > MAX_COMMIT_MESSAGE_CHARS:
        raise ToolFailure(
            f"the commit message has {len(a.message):,} characters; "
            f"at most {MAX_COMMIT_MESSAGE_CHARS:,} are allowed"
        )
    _encode(a.message, "the commit message")
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
    result = _execute(box, name, arguments, allowed)
    return ToolResult(_clip(result.content), result.is_error)


def _execute(box: Sandbox, name: str, arguments: str, allowed: list[str] | None) -> ToolResult:
    tool = TOOLS.get(name) if isinstance(name, str) else None
    if tool is None or (allowed is not None and name not in allowed):
        known = ", ".join(allowed or TOOLS)
        return ToolResult(f"unknown tool {_detail(repr(name))}; available tools: {known}", True)
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
            f"{_detail('.'.join(map(str, e['loc'])) or 'arguments')}: {e['msg']}"
            for e in exc.errors()
        )
        return ToolResult(f"invalid arguments for {name}: {problems}", True)
    try:
        return ToolResult(tool.run(box, args))
    except (ToolFailure, PathOutsideWorkspace, GitError) as exc:
        return ToolResult(str(exc), True)
    except OSError as exc:
        return ToolResult(f"{name} failed: {_detail(exc.strerror or str(exc))}", True)
    except Exception as exc:  # noqa: BLE001 - the last resort: one bad call never ends a run
        return ToolResult(f"{name} failed: {type(exc).__name__}: {_detail(str(exc))}", True)
