"""Cluster bootstrap: resample matched scenario groups, then runs within each scenario.

A group is a control scenario with the treatments matched to it, so a treatment and its
control are always drawn together (a paired design). Groups are drawn separately per
family (stratified), so each replicate has every family's number of groups. Turns of
one run are never resampled on their own: they are not independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_DRAWS = 2000


@dataclass(frozen=True)
class Estimate:
    value: float  # point estimate on the observed data
    low: float
    high: float
    numerator: float | None = None  # for rates: the counts behind the value
    denominator: float | None = None

    @classmethod
    def from_dict(cls, d: dict) -> Estimate:
        """Back from `as_dict` (None is NaN there)."""

        def number(x: float | None) -> float:
            return float("nan") if x is None else float(x)

        return cls(
            number(d.get("value")),
            number(d.get("low")),
            number(d.get("high")),
            d.get("numerator"),
            d.get("denominator"),
        )

    def as_dict(self) -> dict:
        def clean(x: float) -> float | None:
            return None if x is None or not np.isfinite(x) else round(float(x), 6)

        out = {"value": clean(self.value), "low": clean(self.low), "high": clean(self.high)}
        if self.denominator is not None:
            out |= {"numerator": int(self.numerator), "denominator": int(self.denominator)}
        return out


def interval(
    point: float,
    replicates: np.ndarray,
    confidence: float = 0.95,
    numerator: float | None = None,
    denominator: float | None = None,
) -> Estimate:
    """Percentile interval; NaN replicates (no denominator drawn) are left out."""
    finite = replicates[np.isfinite(replicates)]
    if not np.isfinite(point) or finite.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), numerator, denominator)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Estimate(float(point), float(low), float(high), numerator, denominator)


@dataclass
class Slots:
    """Per-scenario sums of resampled runs: one slot per scenario copy in a replicate."""

    replicate: np.ndarray  # (n_slots,) replicate index of each slot
    scenario: np.ndarray  # (n_slots,) scenario code
    sums: np.ndarray  # (n_slots, m)


@dataclass
class Resampled:
    observed: np.ndarray  # (m,) column sums over the observed runs
    totals: np.ndarray  # (draws, m) column sums per replicate
    slots: Slots


def _resample_runs(values: np.ndarray, copies: int, rng: np.random.Generator) -> np.ndarray:
    """`copies` bootstrap resamples of the rows of `values`, each summed: (copies, m)."""
    k = values.shape[0]
    picks = rng.integers(0, k, size=(copies, k))
    # Count how often each run was drawn per copy, then one matrix product sums them.
    flat = picks + (np.arange(copies) * k)[:, None]
    counts = np.bincount(flat.ravel(), minlength=copies * k).reshape(copies, k)
    return counts @ values


def cluster_bootstrap(
    runs: pd.DataFrame, values: np.ndarray, draws: int, rng: np.random.Generator
) -> dict[str, Resampled]:
    """Resample per stratum. `runs` has columns stratum, group, scenario (one row per run,
    aligned with `values`, shape (n_runs, m)). Returns one `Resampled` per stratum."""
    out: dict[str, Resampled] = {}
    m = values.shape[1]
    scen_codes, _ = pd.factorize(runs["scenario"])
    for stratum, members in runs.groupby("stratum", sort=True).indices.items():
        group_codes, groups = pd.factorize(runs["group"].to_numpy()[members])
        n_groups = len(groups)
        picked = rng.integers(0, n_groups, size=(draws, n_groups))
        times = np.zeros((draws, n_groups), dtype=np.int64)
        np.add.at(times, (np.repeat(np.arange(draws), n_groups), picked.ravel()), 1)
        totals = np.zeros((draws, m))
        rep_parts, scen_parts, sum_parts = [], [], []
        for g in range(n_groups):
            in_group = members[group_codes == g]
            replicate = np.repeat(np.arange(draws), times[:, g])
            for s in np.unique(scen_codes[in_group]):
                rows = in_group[scen_codes[in_group] == s]
                sums = _resample_runs(values[rows], replicate.size, rng)
                np.add.at(totals, replicate, sums)
                rep_parts.append(replicate)
                scen_parts.append(np.full(replicate.size, s))
                sum_parts.append(sums)
        slots = Slots(
            np.concatenate(rep_parts), np.concatenate(scen_parts), np.concatenate(sum_parts)
        )
        out[stratum] = Resampled(values[members].sum(axis=0), totals, slots)
    return out
