"""The sequential gate: look after every batch of repeats, stay valid however often.

`compare --until-decided` adds batches of repeats and gates after each. Every look
computes what the fixed gate does (`gate.check_draws`: each check's scenario-mean
difference and its bootstrap spread) on all repeats so far, and compares the
z-statistic of each claim with a group-sequential boundary (`group_sequential`):
- pass: z = (margin - difference) / se must reach the boundary for alpha = 1 - C at
  this look, for every overall check at the same look (intersection-union, as in the
  fixed gate);
- regression: z = (difference - margin) / se must reach the boundary for
  alpha = (1 - C) / checks at this look (a union over checks: Bonferroni).
A claim that errs when it crosses its boundary at any look, and whose boundaries spend
alpha over all looks together, errs at most alpha however the looks end. A check's
bounds are shown as difference -/+ boundary x se.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stickiness.analysis.bootstrap import Estimate
from stickiness.analysis.gate import (
    Check,
    GateResult,
    check_draws,
    repeats_of,
    single_model,
    verdict_of,
)
from stickiness.analysis.group_sequential import boundary_at, look_schedule

# With fewer repeats per scenario the spread of a scenario's rate is itself too rough
# to divide by.
FIRST_LOOK = 3


def sequential_gate(
    baseline_events: pd.DataFrame,
    candidate_events: pd.DataFrame,
    *,
    batch: int,
    max_batches: int,
    margin: float = 0.05,
    confidence: float = 0.95,
    draws: int = 2000,
    seed: int = 0,
) -> GateResult:
    """Gate the repeats so far as one look of a design with a look after every batch of
    `batch` repeats per scenario, from FIRST_LOOK repeats up to `max_batches` batches."""
    base_label = single_model(baseline_events, "baseline")
    cand_label = single_model(candidate_events, "candidate")
    found, table, skipped = check_draws(baseline_events, candidate_events, draws, seed)
    repeats = repeats_of(baseline_events, candidate_events)
    looks = look_schedule(batch, max_batches, FIRST_LOOK)
    alpha = 1 - confidence
    check_alpha = alpha / len(found)
    to_pass = boundary_at(alpha, looks, repeats)
    to_regress = boundary_at(check_alpha, looks, repeats)
    checks = []
    for c in found:
        finite = c.replicates[np.isfinite(c.replicates)]
        se = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
        if to_pass is None or to_regress is None or not np.isfinite(se):
            est = Estimate(c.point, float("-inf"), float("inf"))
        else:
            est = Estimate(c.point, c.point - to_regress * se, c.point + to_pass * se)
        checks.append(Check(c.family, c.measure, c.scenarios, est, verdict_of(est, margin)))
    return GateResult(
        base_label,
        cand_label,
        margin,
        confidence,
        1 - check_alpha,
        checks,
        table,
        skipped,
        repeats,
        sequential=True,
    )
