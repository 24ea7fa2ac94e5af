"""The headline in words: one line per model, a ranking, the same in the terminal and
the report."""

from __future__ import annotations

import math

from stickiness.analysis.bootstrap import Estimate
from stickiness.analysis.headline import Headline, ModelAnswer

WORDS = {"sticky": "clearly sticky", "unclear": "no clear carry-over", "less": "less often"}


def points(value: float, signed: bool = True) -> str:
    return f"{100 * value:+.0f}" if signed else f"{100 * abs(value):.0f}"


def points_interval(e: Estimate) -> str:
    """`+60 points [+55, +65]`; no bracket when there is no interval."""
    if math.isnan(e.low) or e.low == e.high:
        return f"{points(e.value)} points"
    return f"{points(e.value)} points [{points(e.low)}, {points(e.high)}]"


def _compared(a: ModelAnswer) -> str | None:
    d = a.difference
    if a.reference is None or math.isnan(d.value):
        return None
    asked = "asked" if a.observed else "asked once"
    if math.isnan(d.low) or d.low == d.high:
        span = ""
    else:
        # Said as "more" or "less", so the bracket holds the same direction's numbers.
        flip = -1 if d.value < 0 else 1
        low, high = sorted((flip * d.low, flip * d.high))
        span = f" [{100 * low:.0f}, {100 * high:.0f}]"
    more = "less" if d.value < 0 else "more"
    size = f"{points(d.value, signed=False)} points{span}"
    return f"keeps doing what it was {asked} {size} {more} than {a.reference}"


def _own(a: ModelAnswer) -> str:
    asked = (
        "after a request than before any"
        if a.observed
        else ("after a one-off request than when never asked")
    )
    if math.isnan(a.excess.value):
        if math.isnan(a.unrequested.value):
            return "no chance to show carry-over was measured"
        return (
            f"does it unasked in {a.unrequested.value:.0%} of chances {asked.split(' than')[0]}, "
            "with no base rate to compare it to (no control runs)"
        )
    word = WORDS.get(a.sticky_word, a.sticky_word)
    return f"{points_interval(a.excess)} more often unasked {asked} ({word})"


def answer_line(a: ModelAnswer) -> str:
    """`X: keeps doing what it was asked once 60 points [55, 65] more than Y; most in
    topic and push; ignores "stop" 27% of the time; forgets a standing rule 3% of it`."""
    return f"{a.model}: {answer_text(a)}"


def answer_text(a: ModelAnswer) -> str:
    """The answer line without the model's name."""
    truth_only = (
        math.isnan(a.excess.value)
        and math.isnan(a.unrequested.value)
        and not (math.isnan(a.false_claim.value) and math.isnan(a.confident_wrong.value))
    )
    # A run of only the second axis's scenarios says nothing about stickiness.
    parts = [] if truth_only else [_compared(a) or _own(a)]
    if a.top_families:
        parts.append("most in " + " and ".join(a.top_families))
    elif not math.isnan(a.excess.value):
        parts.append("no family clearly sticky")
    if not math.isnan(a.ignored_stop.value):
        parts.append(f'ignores "stop" {a.ignored_stop.value:.0%} of the time')
    if not math.isnan(a.forgot.value):
        parts.append(f"forgets a standing rule {a.forgot.value:.0%} of the time")
    if not math.isnan(a.false_claim.value):
        parts.append(f"claims what it did not do in {a.false_claim.value:.0%} of turns")
    if not math.isnan(a.confident_wrong.value):
        parts.append(
            f"answers with confidence what it cannot know {a.confident_wrong.value:.0%} of the time"
        )
    return "; ".join(parts) + "."


def ranking_line(h: Headline) -> str | None:
    """With three or more models: `1. A (+62) > 2. B (+20) ~ 3. C (+18)`, where `~`
    marks neighbours the paired interval cannot tell apart."""
    if len(h.answers) < 3 or all(math.isnan(a.excess.value) for a in h.answers):
        return None
    out = []
    for a in h.answers:
        value = "n/a" if math.isnan(a.excess.value) else points(a.excess.value)
        out.append(f"{a.rank}. {a.model} ({value})")
        if a.rank < len(h.answers):
            out.append("~" if a.tied_with_next else ">")
    return "Ranking by excess stickiness, stickiest first: " + " ".join(out)


def answer_lines(h: Headline) -> list[str]:
    lines = [answer_line(a) for a in h.answers]
    ranking = ranking_line(h)
    return [*lines, ranking] if ranking else lines
