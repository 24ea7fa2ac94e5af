"""`ScenarioError`, and short one-line descriptions of what is wrong with a scenario.

Scenario files are untrusted, so whatever a message echoes from one is clipped and
escaped: a message stays a few short lines whatever the file holds.
"""

from __future__ import annotations

import functools
import re
import reprlib
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

MAX_SHOWN_CHARS = 80
MAX_PROBLEM_CHARS = 300
MAX_PROBLEMS = 5
MAX_NAMES = 8

_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,40}")
# Model-wide checks say which field they are about at the start of their message.
_NAME_PART = r"[A-Za-z_][A-Za-z0-9_-]*"
_FIELD_PREFIX = re.compile(rf"field ({_NAME_PART}(?:\.{_NAME_PART}|\[\d+\])*): ")
_LOC_PART = re.compile(rf"{_NAME_PART}|\[(\d+)\]")

_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxstring = MAX_SHOWN_CHARS
_REPR.maxother = MAX_SHOWN_CHARS
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4


@functools.cache
def _repr_for(limit: int) -> reprlib.Repr:
    """A reprlib that shortens strings only past `limit`, not at its own default."""
    if limit == MAX_SHOWN_CHARS:
        return _REPR
    wide = reprlib.Repr()
    wide.maxlevel, wide.maxstring, wide.maxother = 2, limit, limit
    wide.maxlist = wide.maxtuple = wide.maxdict = wide.maxset = 4
    return wide


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message names file and field."""


def shown(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """`repr(value)`, clipped to `limit` characters (and cheap for any value): how an
    untrusted value is quoted in a message."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length():,} bits"
    try:
        text = _repr_for(limit).repr(value)
    except Exception:  # a value whose repr fails still gets a description
        text = f"a {type(value).__name__}"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def printable(text: str) -> str:
    """`text` with every character a terminal could act on (controls, bidirectional
    overrides, line separators) written as its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def shown_path(path: str | Path) -> str:
    """A file name as it goes at the start of a message: as is, unless it holds
    characters that would break the line."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def shown_name(name: str) -> str:
    """A name as it is when it is short and plain, else quoted and clipped."""
    return name if _SAFE_NAME.fullmatch(name) else shown(name)


def names(items: Iterable[str]) -> str:
    """Names listed for `expected one of: ...`, the first few only."""
    items = list(items)
    listed = ", ".join(map(shown_name, items[:MAX_NAMES]))
    more = len(items) - MAX_NAMES
    return listed + (f", ... ({more} more)" if more > 0 else "")


def field_path(loc: tuple[int | str, ...]) -> str:
    """`turns[2].requests[0]` for pydantic's ('turns', 2, 'requests', 0)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":  # pydantic's mark for a check of the key itself
            continue
        elif _SAFE_NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{shown(part)}]"
    return out or "(top level)"


def parse_field(message: str) -> tuple[tuple[int | str, ...] | None, str]:
    """The field a model-wide check names at the start of `message`, and the rest."""
    match = _FIELD_PREFIX.match(message)
    if not match:
        return None, message
    loc = tuple(
        int(m.group(1)) if m.group(1) else m.group(0) for m in _LOC_PART.finditer(match.group(1))
    )
    return loc, message[match.end() :]


def describe(error: dict) -> str:
    """What one pydantic error says, with the offending input clipped."""
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    # pydantic prefixes messages raised in validators with "Value error, ".
    msg = str(error["msg"]).removeprefix("Value error, ")
    if kind not in {"value_error", "assertion_error"} and "input" in error:
        msg = f"{msg} (got {shown(error['input'])})"
    return msg


def problems(
    exc: ValidationError, limit: int = MAX_PROBLEMS
) -> list[tuple[tuple[int | str, ...] | None, str]]:
    """The first `limit` errors as (field, what is wrong); field None when no field is
    to blame. `exc.error_count()` says how many there are in all."""
    out = []
    for error in exc.errors(include_url=False)[:limit]:
        loc, message = tuple(error["loc"]), describe(error)
        if not loc:
            parsed, message = parse_field(message)
            loc = parsed
        out.append((loc, message))
    return out


def problem_text(loc: tuple[int | str, ...] | None, message: str) -> str:
    """`field X: what is wrong`, or what is wrong alone."""
    return f"field {field_path(loc)}: {message}" if loc is not None else message


def report(path: str | Path, lines: list[str], total: int | None = None) -> str:
    """The message for a file: its first few problems, one line each, each starting
    with the file name; `total` counts the problems not in `lines` too."""
    where = shown_path(path)
    out = []
    for line in lines[:MAX_PROBLEMS]:
        # Escaped as well as clipped: a message quoting a file (RE2's, PyYAML's) may hold
        # its control characters, which a terminal would act on.
        line = printable(" ".join(line[: 2 * MAX_PROBLEM_CHARS].splitlines()))
        if len(line) > MAX_PROBLEM_CHARS:
            line = line[: MAX_PROBLEM_CHARS - 3] + "..."
        out.append(f"{where}: {line}")
    more = max(len(lines), total or 0) - len(out)
    if more > 0:
        out.append(f"{where}: ... and {more} more problem{'s' if more > 1 else ''}")
    return "\n".join(out)
