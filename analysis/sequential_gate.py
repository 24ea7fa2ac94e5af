"""The sequential gate: look after every batch of repeats, stay valid however often.

`compare --until-decided` adds batches of repeats and gates after each. Each batch gives
one scenario-level mean difference per check, and a time-uniform confidence sequence
over the batches decides (Waudby-Smith et al., 2021). The claims and their bounds are
the fixed gate's (`gate`): one-sided, the regression bound Bonferroni-widened, the pass
bound not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stickiness.analysis.bootstrap import Estimate
from stickiness.analysis.gate import (
    Check,
    GateError,
    GateResult,
    Unit,
    gate_runs,
    paired_units,
    repeats_of,
    single_model,
    unit_stat,
    verdict_of,
)
from stickiness.analysis.metrics import OVERALL

MIN_BATCHES = 5


def confidence_sequence(
    x: np.ndarray, alpha: float, t_star: int, sigma_floor: float = 1e-3
) -> tuple[float, float, float]:
    """Mean and a time-uniform interval for i.i.d. observations `x` (one per batch).

    The asymptotic confidence sequence of Waudby-Smith et al. (2021, "Time-uniform
    central limit theory"): valid simultaneously at every look, so the verdict may be
    checked after every batch. `t_star` is the number of batches it is tightest at;
    `sigma_floor` is the least standard deviation a batch's mean is taken to have.
    """
    x = x[np.isfinite(x)]
    t = len(x)
    # The variance is estimated from the batches, so a handful are needed before the
    # interval means anything: no decision before MIN_BATCHES.
    if t < MIN_BATCHES:
        return (float(x.mean()) if t else float("nan")), float("-inf"), float("inf")
    sigma = max(float(x.std(ddof=1)), sigma_floor, 1e-9)
    rho2 = (-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / max(t_star, 1)
    width = sigma * np.sqrt(
        2 * (t * rho2 + 1) / (t**2 * rho2) * np.log(np.sqrt(t * rho2 + 1) / alpha)
    )
    mean = float(x.mean())
    return mean, mean - width, mean + width


def _running_interval(
    x: np.ndarray, alpha: float, t_star: int, sigma_floor: float = 1e-3
) -> Estimate:
    """The confidence sequence intersected over every look so far. A confidence
    sequence covers the truth at all looks at once, so its running intersection does
    too; a check decided at some look then stays decided."""
    low, high = float("-inf"), float("inf")
    for t in range(MIN_BATCHES, len(x) + 1):
        _, lo, hi = confidence_sequence(x[:t], alpha, t_star, sigma_floor)
        low, high = max(low, lo), min(high, hi)
    finite = x[np.isfinite(x)]
    return Estimate(float(finite.mean()) if len(finite) else float("nan"), low, high)


def _pooled_rates(batches: list[list[Unit]]) -> dict[tuple, float]:
    """Jeffreys-smoothed rate of every (scenario, measure, side, part) over all batches."""
    totals: dict[tuple, np.ndarray] = {}
    for units in batches:
        for u in units:
            for side, parts in u.parts.items():
                for i, values in enumerate(parts):
                    key = (u.scenario, u.measure, side, i)
                    totals[key] = totals.get(key, 0) + values.sum(0)
    return {k: (t[0] + 0.5) / (t[1] + 1) for k, t in totals.items()}


def _binomial_variance(u: Unit, pooled: dict[tuple, float]) -> float:
    """Variance of the unit's difference if every chance were an independent draw at
    the pooled rate: what the batch-to-batch spread is at least."""
    total = 0.0
    for side, parts in u.parts.items():
        for i, values in enumerate(parts):
            den = values[:, 1].sum()
            if den > 0:
                p = pooled[(u.scenario, u.measure, side, i)]
                total += p * (1 - p) / den
    return total


def sequential_gate(
    baseline_events: pd.DataFrame,
    candidate_events: pd.DataFrame,
    *,
    batch: int,
    max_batches: int,
    margin: float = 0.05,
    confidence: float = 0.95,
) -> GateResult:
    """Gate after any number of batches of `batch` repeats, valid under repeated looks:
    each batch gives one scenario-level mean difference per check, and a confidence
    sequence over batches decides."""
    base_label = single_model(baseline_events, "baseline")
    cand_label = single_model(candidate_events, "candidate")
    n_batches = int(
        max(baseline_events["repeat"].max(), candidate_events["repeat"].max()) // batch + 1
    )
    base_batch = baseline_events["repeat"] // batch
    cand_batch = candidate_events["repeat"] // batch
    batches, skipped = [], []
    for b in range(n_batches):
        units, skipped = paired_units(
            gate_runs(baseline_events[base_batch == b]),
            gate_runs(candidate_events[cand_batch == b]),
        )
        batches.append(units)
    pooled = _pooled_rates(batches)
    per_batch: list[dict[tuple[str, str], list[tuple[float, float]]]] = []
    for units in batches:
        per_batch.append({})
        for u in units:
            d = unit_stat(u.parts["cand"], None, None) - unit_stat(u.parts["base"], None, None)
            if np.isfinite(d):
                for key in ((u.family, u.measure), (OVERALL, u.measure)):
                    per_batch[-1].setdefault(key, []).append((d, _binomial_variance(u, pooled)))
    found = {k for b in per_batch for k in b}
    keys = sorted(k for k in found if k[0] != OVERALL) + sorted(k for k in found if k[0] == OVERALL)
    if not keys:
        raise GateError("no treatment scenario was run by both sides (with its control)")
    check_conf = 1 - (1 - confidence) / len(keys)
    checks = []
    for key in keys:
        # One observation per batch: the mean difference over its scenarios, and the
        # binomial variance that mean would have at the pooled rates (a floor for the
        # spread between batches, which a few quiet batches would otherwise put at 0).
        pairs = [b.get(key, []) for b in per_batch]
        x = np.array([np.mean([d for d, _ in p]) if p else np.nan for p in pairs])
        var = [sum(v for _, v in p) / len(p) ** 2 for p in pairs if p]
        floor = float(np.sqrt(np.mean(var)))
        # One-sided bounds from two-sided sequences at twice the error: the regression
        # bound Bonferroni-widened, the pass bound not (see the module's docstring).
        low = _running_interval(x, min(2 * (1 - check_conf), 0.99), max_batches // 2, floor)
        high = _running_interval(x, min(2 * (1 - confidence), 0.99), max_batches // 2, floor)
        est = Estimate(low.value, low.low, high.high)
        scenarios = max(len(p) for p in pairs)
        checks.append(Check(key[0], key[1], scenarios, est, verdict_of(est, margin)))
    return GateResult(
        base_label,
        cand_label,
        margin,
        confidence,
        check_conf,
        checks,
        pd.DataFrame(),
        skipped,
        repeats_of(baseline_events, candidate_events),
        sequential=True,
    )
