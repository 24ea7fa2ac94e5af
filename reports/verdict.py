"""Plain-words sentences for the headline numbers."""

from __future__ import annotations

import math

from analysis.bootstrap import Estimate
from analysis.metrics import ModelSummary


def pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.0%}"


def with_interval(e: Estimate, signed: bool = False, compact: bool = False) -> str:
    """`31% [22%, 40%]`, or `31% (22-40)` where space is short."""
    if math.isnan(e.value):
        return "n/a"
    fmt = "{:+.0%}" if signed else "{:.0%}"
    if compact:
        low, high = (f"{100 * v:+.0f}" if signed else f"{100 * v:.0f}" for v in (e.low, e.high))
        return f"{fmt.format(e.value)} ({low}..{high})"
    return f"{fmt.format(e.value)} [{fmt.format(e.low)}, {fmt.format(e.high)}]"


def sentence(s: ModelSummary) -> str:
    parts = [
        f"commits unasked in {pct(s.unrequested.value)} of opportunities after a one-off "
        f"commit request, {pct(s.base.value)} without one"
    ]
    if not math.isnan(s.excess.value):
        if s.excess.low > 0:
            parts.append("clearly stickier than its own base rate")
        elif s.excess.high < 0:
            parts.append("commits less after a request than without one")
        else:
            parts.append("no clear carry-over at this sample size")
    if s.violations.denominator:
        parts.append(f"ignored a 'stop committing' in {pct(s.violations.value)} of later edits")
    return "; ".join(parts) + "."
