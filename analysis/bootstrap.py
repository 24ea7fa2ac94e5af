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


# Runs drawn per block of copies: the block's draws, counts and products stay in the CPU's
# caches instead of being written to and read back from memory several times over.
_BLOCK_DRAWS = 1 << 17
# Sums of whole numbers stay exact below this, in any order of adding them up.
_EXACT = 2.0**53


def _distinct_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct rows of `values` and each row's index among them, when every column
    holds whole numbers small enough that summing by distinct row instead of by run
    gives the same floats; None otherwise."""
    k = values.shape[0]
    if k == 0 or not np.all(np.isfinite(values)) or not np.array_equal(values, np.trunc(values)):
        return None
    # -0.0 equals 0.0, and would be summed as whichever of them stood for both.
    if float(np.abs(values).max()) * k >= _EXACT or np.signbit(values[values == 0]).any():
        return None
    # A row's key built column by column, renumbered after each so it stays below k:
    # sorting whole rows (np.unique(axis=0)) costs more than the resampling it saves.
    key = np.zeros(k, dtype=np.intp)
    for column in values.T:
        uniques, codes = np.unique(column, return_inverse=True)
        key = np.unique(key * len(uniques) + codes, return_inverse=True)[1]
    first = np.unique(key, return_index=True)[1]
    return values[first], key


def _resample_runs(values: np.ndarray, copies: int, rng: np.random.Generator) -> np.ndarray:
    """`copies` bootstrap resamples of the rows of `values`, each summed: (copies, m)."""
    k = values.shape[0]
    distinct = _distinct_rows(values)
    if distinct is None:
        picks = rng.integers(0, k, size=(copies, k))
        # Count how often each run was drawn per copy, then one matrix product sums them.
        flat = picks + (np.arange(copies) * k)[:, None]
        counts = np.bincount(flat.ravel(), minlength=copies * k).reshape(copies, k)
        return counts @ values
    # Runs of one scenario mostly share a few rows of counts: count the draws of each
    # distinct row, and the product is over those few rows instead of every run.
    # Drawn block by block, the picks are the same numbers as drawn all at once.
    rows, which = distinct
    u = rows.shape[0]
    which = which.astype(np.intp, copy=False)
    out = np.empty((copies, values.shape[1]))
    step = max(1, _BLOCK_DRAWS // max(k, 1))
    offsets = np.arange(step, dtype=np.intp)[:, None] * u
    for start in range(0, copies, step):
        n = min(step, copies - start)
        picks = rng.integers(0, k, size=(n, k))
        flat = which[picks]
        flat += offsets[:n]
        counts = np.bincount(flat.ravel(), minlength=n * u).reshape(n, u)
        out[start : start + n] = counts @ rows
    return out


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
