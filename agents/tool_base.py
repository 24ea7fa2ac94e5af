"""What every tool stands on: the failure it reports to the model, the limits several tools
share, and reading workspace files without blocking or holding more than a budget.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from stickiness.agents.sandbox import Sandbox

MAX_OUTPUT_CHARS = 20_000
# A file written or edited by a tool; far above any source file an agent should write.
MAX_FILE_BYTES = 1 << 20
MAX_DETAIL_CHARS = 200


class ToolFailure(Exception):
    """Raised inside a tool to report a problem back to the model."""


def detail(text: str) -> str:
    """Something quoted back to the model (a name, a message): one short line."""
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + "..."


def encode(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ToolFailure(
            f"{what} is not valid Unicode text (a lone surrogate at position {exc.start})"
        ) from None


def walk_files(box: Sandbox, real_dir: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(real_dir):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            found.append(box.relative(Path(dirpath) / name))
    return found


def regular_size(real: Path) -> int | None:
    """The size of a regular file, or None for anything else (a FIFO would block)."""
    try:
        info = real.stat()
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def read_bytes(real: Path, limit: int) -> bytes:
    """At most `limit` bytes from the start of the file, never more in memory."""
    with real.open("rb") as handle:
        return handle.read(limit)
