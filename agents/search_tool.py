"""The search tool: workspace files matched line by line with an RE2 pattern, within a budget
of bytes, lines and matching work per search.
"""

from __future__ import annotations

import re2

from stickiness.agents.sandbox import PathOutsideWorkspace, Sandbox
from stickiness.agents.tool_args import SearchArgs
from stickiness.agents.tool_base import (
    MAX_FILE_BYTES,
    ToolFailure,
    read_bytes,
    regular_size,
    walk_files,
)
from stickiness.scenarios.patterns import PatternError, compile_pattern

MAX_SEARCH_HITS = 200
MAX_HIT_CHARS = 300
# RE2 is linear in the text, but the factor is the pattern's program size (up to
# ~150,000 instructions under the pattern length limit: 20 s for 100 KB), so the work
# budget counts bytes x instructions; small patterns reach the byte limit.
MAX_SEARCH_FILE_BYTES = MAX_FILE_BYTES
MAX_SEARCH_BYTES = 4 << 20
MAX_SEARCH_LINES = 200_000
MIN_PROGRAM_SIZE = 16
MAX_SEARCH_WORK = MAX_SEARCH_BYTES * MIN_PROGRAM_SIZE

# A compiled pattern keeps the DFA RE2 built while matching (megabytes), and a model can
# send a thousand distinct patterns: the search compiles past compile_pattern's cache,
# and empties re2's own (128 patterns, ~3 MB each after a 50 KB search) when done.
_compile_uncached = getattr(compile_pattern, "__wrapped__", compile_pattern)


def search(box: Sandbox, a: SearchArgs) -> str:
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
    files = [box.relative(real)] if real.is_file() else walk_files(box, real)
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
        size = regular_size(target)
        if size is None:
            continue
        if size > MAX_SEARCH_FILE_BYTES:
            too_large.append(rel)
            continue
        if scanned + size > MAX_SEARCH_BYTES or (scanned + size) * program > MAX_SEARCH_WORK:
            stopped = rel
            break
        try:
            lines = read_bytes(target, MAX_SEARCH_FILE_BYTES + 1).decode("utf-8").splitlines()
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
