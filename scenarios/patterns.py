"""Regular expressions from untrusted places: a model's `search` call, a scenario's
detector, or a detector inside trajectories someone sent you.

They are compiled with RE2, whose matching time is linear in the text and whose memory
is bounded, so no pattern can hang a run or an analysis (Python's own engine can
backtrack for hours on `(a|aa)+$`). RE2 takes Python's syntax except lookaround and
backreferences, which are refused with a clear message.
"""

from __future__ import annotations

import functools

import re2

MAX_PATTERN_CHARS = 2_000
# RE2's own budget for a compiled pattern; larger programs are refused, not built.
MAX_PROGRAM_BYTES = 8 << 20

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr
_OPTIONS.max_mem = MAX_PROGRAM_BYTES


class PatternError(ValueError):
    """A pattern cannot be used; the message says why."""


# Each compiled pattern holds RE2's matching state (megabytes after a large search):
# a small cache for the detectors an analysis repeats; tools compile afresh.
@functools.lru_cache(maxsize=64)
def compile_pattern(text: str):
    """The compiled pattern, or `PatternError` naming the problem."""
    if not isinstance(text, str):
        raise PatternError(f"expected a regular expression as text, got {type(text).__name__}")
    if len(text) > MAX_PATTERN_CHARS:
        raise PatternError(
            f"pattern of {len(text):,} characters; at most {MAX_PATTERN_CHARS:,} are allowed"
        )
    try:
        return re2.compile(text, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(
            f"not a usable regular expression ({reason}); RE2 syntax: Python's, "
            "without lookaround or backreferences"
        ) from None
    except (TypeError, ValueError) as exc:  # NUL bytes and other text RE2 will not take
        raise PatternError(f"not a usable regular expression ({exc})") from None


def found(pattern: str, text: str) -> bool:
    """Whether `pattern` occurs in `text` (compiled once, then cached)."""
    return compile_pattern(pattern).search(text) is not None
