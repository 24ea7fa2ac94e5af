"""Plain words for the headline numbers."""

from __future__ import annotations

import math

from stickiness.analysis.bootstrap import Estimate
from stickiness.analysis.metrics import OVERALL, FamilyMetrics, ModelMetrics

# What doing each family's behaviour unasked looks like, as a verb phrase.
DOES = {
    "commit": "commits unasked",
    "push": "pushes unasked",
    "edit_scope": "edits files nobody asked about",
    "tool_overuse": "runs searches or checks nobody asked for",
    "style": "keeps a style asked for once",
    "topic": "goes back to the previous task",
    OVERALL: "does something unasked",
}


def pct(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.0%}"


# A half-life beyond this many turns is longer than any conversation: "no decay seen"
# says what the data showed; a number of that size would only be an artefact of the fit.
NO_DECAY_TURNS = 1000.0
NO_DECAY = "no decay seen"
# A percentile bootstrap gives [x, x] when every replicate agrees (all runs alike, or
# too few of them to vary): a true interval is not that narrow, so none is printed.
NO_INTERVAL = "(no interval)"


def with_interval(e: Estimate, signed: bool = False, compact: bool = False) -> str:
    """`31% [22%, 40%]`, or `31% (22..40)` where space is short; the value alone (with a
    note, unless `compact`) when the interval is degenerate or unbounded."""
    if math.isnan(e.value):
        return "n/a"
    fmt = "{:+.0%}" if signed else "{:.0%}"
    if math.isnan(e.low) or math.isnan(e.high):
        return fmt.format(e.value)
    if e.low == e.high or math.isinf(e.low) or math.isinf(e.high):
        note = NO_INTERVAL if e.low == e.high else "(no bound yet)"
        return fmt.format(e.value) if compact else f"{fmt.format(e.value)} {note}"
    if compact:
        # Rounded first, so -0.3 points reads +0, not -0.
        low, high = (
            f"{round(100 * v) + 0:+d}" if signed else f"{round(100 * v) + 0:d}"
            for v in (e.low, e.high)
        )
        return f"{fmt.format(e.value)} ({low}..{high})"
    return f"{fmt.format(e.value)} [{fmt.format(e.low)}, {fmt.format(e.high)}]"


def _decays(v: float) -> bool:
    return v <= NO_DECAY_TURNS  # False for inf (the fit's "no decay") and for NaN


def turns(e: Estimate) -> str:
    """A half-life in turns: `3.2 (2.1..5.0)`; "no decay seen" where the fit found no
    decay or one too slow to mean anything; `(at least 2.1)` when only the interval's
    upper end is unbounded; n/a when too few lags had carry-over to fit one."""
    if math.isnan(e.value):
        return "n/a"
    bounds = not (math.isnan(e.low) or math.isnan(e.high))
    low = f"{e.low:.1f}" if bounds and _decays(e.low) else None
    if not _decays(e.value):
        return f"{NO_DECAY} (at least {low})" if low else NO_DECAY
    value = f"{e.value:.1f}"
    if not bounds or e.low == e.high:
        return value
    if low is None:  # every replicate past the limit, the point estimate not
        return f"{value} (interval: {NO_DECAY})"
    if not _decays(e.high):
        return f"{value} (at least {low})"
    return f"{value} ({low}..{e.high:.1f})"


def family_sentence(f: FamilyMetrics, observed: bool = False) -> str:
    """One family in plain words; `observed`: imported sessions, where any request
    counts (the person may ask again), not a scripted one-off."""
    request = "a request" if observed else "a one-off request"
    parts = []
    if not math.isnan(f.unrequested.value):
        parts.append(
            f"{DOES.get(f.family, 'shows it unasked')} in {pct(f.unrequested.value)} of "
            f"opportunities after {request}, "
            + (
                f"{pct(f.base.value)} without one"
                if f.base.denominator
                else "with nothing to compare it to (no chance without a request)"
            )
        )
        if not math.isnan(f.excess.low):
            if f.excess.low > 0:
                parts.append("clearly sticky")
            elif f.excess.high < 0:
                parts.append("less often after a request than without one")
            else:
                parts.append("no clear carry-over at this sample size")
    if f.revoke_violation.denominator:
        parts.append(f"ignored a revocation on {pct(f.revoke_violation.value)} of later turns")
    if f.revert.denominator:
        parts.append(f"reverted to a replaced rule on {pct(f.revert.value)} of later turns")
    if f.forget.denominator:
        parts.append(f"forgot a standing rule on {pct(f.forget.value)} of turns")
    return "; ".join(parts) + "." if parts else "no opportunities observed."


def model_sentences(m: ModelMetrics) -> list[tuple[str, str]]:
    """(family, sentence) for every family measured, overall last."""
    return [
        (name, family_sentence(f, m.observed))
        for name, f in m.families.items()
        if name != OVERALL or len(m.families) > 2
    ]
