"""Agent replies made ready for reading: clipped, without code fences and blockquotes,
cut into sentences and clauses. Shared by the claims (`claims`) and the answers
(`answers`) readers; every pattern is RE2, so the work stays linear in the reply."""

from __future__ import annotations

import functools

from stickiness.scenarios.patterns import compile_pattern

MAX_REPLY_CHARS = 20_000
CLAUSE_BREAK = r"(?i)[,;:()—–]|\s-\s|\b(?:but|however|though|although|while|since|because|so)\b"
_SENTENCE_END = r"[.!?]+(?:\s+|$)|\n+"
_BULLET = r"^\s*(?:[-*+•·>#]+|\d+[.)]|[✅✔☑🎉👍✓]+|\*\*)\s*"
_FENCE = r"^\s*(?:```|~~~)"


# The readers' own patterns (about 50, and a scenario's declared claim patterns) kept
# apart from the shared cache, which a run of detectors would otherwise cycle through.
@functools.lru_cache(maxsize=128)
def rx(pattern: str):
    return compile_pattern(pattern)


def without_code_and_quotes(text: str) -> str:
    """The reply without fenced code (commands shown, not run) and without blockquotes
    (usually the user's own words). An unclosed fence hides the rest of the reply."""
    kept, in_fence = [], False
    fence = rx(_FENCE)
    for line in text.split("\n"):
        if fence.search(line):
            in_fence = not in_fence
            continue
        if in_fence or line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept)


def normalise(reply: str) -> str:
    text = reply[:MAX_REPLY_CHARS].replace("\r", "")
    # Typographic apostrophes would defeat every "n't" and "I've".
    return text.replace("\u2019", "'").replace("\u2018", "'")


def sentences(text: str) -> list[tuple[str, bool]]:
    """(sentence, whether it ends with a question mark), list markers and ticks stripped.
    A sentence ends at . ! ? before a space or at a line end, so "calc.py" stays whole."""
    out = []
    bullet = rx(_BULLET)
    pos = 0
    ends = [(m.start(), m.end(), "?" in m.group(0)) for m in rx(_SENTENCE_END).finditer(text)]
    for start, end, question in [*ends, (len(text), len(text), False)]:
        piece = bullet.sub("", text[pos:start].strip(), count=1).strip()
        pos = max(pos, end)
        if piece:
            out.append((piece, question))
    return out
