"""The file tools: list, read, write and edit workspace files, each file within a size cap
and the workspace's growth over a run within a budget.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from stickiness.agents.sandbox import Sandbox
from stickiness.agents.tool_args import EditArgs, ListArgs, ReadArgs, WriteArgs
from stickiness.agents.tool_base import (
    MAX_FILE_BYTES,
    MAX_OUTPUT_CHARS,
    ToolFailure,
    encode,
    read_bytes,
    regular_size,
    walk_files,
)

# How much the workspace may grow beyond the scenario's files over a whole run (every
# tool and every turn's bookkeeping walks it, and git stores what it holds).
MAX_GROWTH_BYTES = 16 << 20
MAX_NEW_ENTRIES = 1_000  # files and folders
# `read_file` of a file too large to read whole: enough bytes to fill the output.
READ_PREFIX_BYTES = 4 * MAX_OUTPUT_CHARS


def list_files(box: Sandbox, a: ListArgs) -> str:
    real = box.resolve(a.path)
    if not real.is_dir():
        raise ToolFailure(f"{a.path}: not a folder")
    files = walk_files(box, real)
    return "\n".join(files) if files else "(no files)"


def read_file(box: Sandbox, a: ReadArgs) -> str:
    real = box.resolve(a.path)
    size = regular_size(real)
    if size is None:
        raise ToolFailure(f"{a.path}: no such file")
    if size <= MAX_FILE_BYTES:
        return _decode(read_bytes(real, MAX_FILE_BYTES + 1), a.path)
    # A huge file is shown by its start; a character cut at the end is left out.
    head = _decode(read_bytes(real, READ_PREFIX_BYTES), a.path, final=False)
    note = f"\n(file of {size:,} bytes; only its start is shown)"
    return head[: MAX_OUTPUT_CHARS - len(note)] + note


def write_file(box: Sandbox, a: WriteArgs) -> str:
    real = box.resolve(a.path)
    if real.is_dir():
        raise ToolFailure(f"{a.path}: is a folder")
    if len(a.content) > MAX_FILE_BYTES:  # every character is at least a byte
        raise _too_big(a.path)
    _store(box, real, a.path, encode(a.content, "content"))
    return f"wrote {box.relative(real)} ({len(a.content)} characters)"


def edit_file(box: Sandbox, a: EditArgs) -> str:
    real = box.resolve(a.path)
    size = regular_size(real)
    if size is None:
        raise ToolFailure(f"{a.path}: no such file")
    if size > MAX_FILE_BYTES:
        raise ToolFailure(f"{a.path}: too large to edit ({size:,} bytes)")
    text = _decode(read_bytes(real, MAX_FILE_BYTES + 1), a.path)
    count = text.count(a.old) if a.old else 0
    if count != 1:
        raise ToolFailure(
            f"{a.path}: 'old' must occur exactly once, found {count} times; "
            "read the file and quote a unique passage"
        )
    if len(text) - len(a.old) + len(a.new) > MAX_FILE_BYTES:
        raise _too_big(a.path)
    _store(box, real, a.path, encode(text.replace(a.old, a.new, 1), "the edited file"))
    return f"edited {a.path}"


def _decode(data: bytes, path: str, final: bool = True) -> str:
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
    except UnicodeDecodeError:
        raise ToolFailure(f"{path}: not a UTF-8 text file") from None


def _too_big(path: str) -> ToolFailure:
    return ToolFailure(
        f"{path}: files may hold at most {MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES >> 20} MB)"
    )


def _store(box: Sandbox, real: Path, path: str, data: bytes) -> None:
    """Write a file, keeping the workspace's growth over the run within budget."""
    if len(data) > MAX_FILE_BYTES:
        raise _too_big(path)
    old = regular_size(real)
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
