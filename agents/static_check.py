"""The run_tests tool: a static check of the workspace's Python files (syntax, and a count of
test functions) that never executes them.
"""

from __future__ import annotations

import ast

from stickiness.agents.sandbox import PathOutsideWorkspace, Sandbox
from stickiness.agents.tool_args import NoArgs
from stickiness.agents.tool_base import detail, read_bytes, regular_size, walk_files

# ast.parse takes about 1 KB of memory per byte of source (an 18 MB file needs 7.7 GB)
# and is quadratic on long f-strings, so files are parsed only up to this size (~70 MB,
# ~0.4 s at worst each) and up to this much in all.
MAX_CHECK_FILE_BYTES = 64 << 10
MAX_CHECK_BYTES = 256 << 10


def run_tests(box: Sandbox, _: NoArgs) -> str:
    # No workspace code is ever executed: tools must not reach outside the workspace,
    # and running model-written code could. This is a static check.
    checked, broken, tests, budget = 0, [], 0, MAX_CHECK_BYTES
    too_large: list[str] = []
    unchecked: list[str] = []
    for rel in walk_files(box, box.root):
        if not rel.endswith(".py"):
            continue
        try:
            real = box.resolve(rel)
        except PathOutsideWorkspace as exc:
            broken.append(f"{rel}: {exc}")
            continue
        size = regular_size(real)
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
            source = read_bytes(real, MAX_CHECK_FILE_BYTES + 1).decode("utf-8")
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


def _parse_failure(exc: BaseException) -> str:
    if isinstance(exc, RecursionError | MemoryError):
        return f"nested too deeply to parse ({type(exc).__name__})"
    return detail(str(exc)) or type(exc).__name__
