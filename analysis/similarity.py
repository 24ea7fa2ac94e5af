"""How alike two models behave: two models can score the same on a leaderboard and still
feel different to work with. Profiles are the per-family excess stickiness and forget
rates; the distance between two models is the mean absolute difference of their
profiles (percentage points) over the entries both have."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from stickiness.analysis.metrics import OVERALL, ModelMetrics


def label(m: ModelMetrics) -> str:
    return m.model if m.harness == "minimal" else f"{m.model} / {m.harness}"


def profile(m: ModelMetrics) -> dict[str, float]:
    out = {}
    for family, f in m.families.items():
        if family == OVERALL:
            continue
        out[f"{family}: excess"] = f.excess.value
        out[f"{family}: forget"] = f.forget.value
    return {k: v for k, v in out.items() if not np.isnan(v)}


def distance(a: ModelMetrics, b: ModelMetrics) -> float:
    pa, pb = profile(a), profile(b)
    shared = sorted(set(pa) & set(pb))
    if not shared:
        return float("nan")
    return float(np.mean([abs(pa[k] - pb[k]) for k in shared]))


def distance_matrix(models: list[ModelMetrics]) -> pd.DataFrame:
    labels = [label(m) for m in models]
    grid = [[distance(a, b) for b in models] for a in models]
    return pd.DataFrame(grid, index=labels, columns=labels)


def family_differences(a: ModelMetrics, b: ModelMetrics) -> list[dict]:
    """Profile entries where the two differ most, largest first."""
    pa, pb = profile(a), profile(b)
    rows = [
        {"measure": k, "a": pa[k], "b": pb[k], "difference": pb[k] - pa[k]}
        for k in sorted(set(pa) & set(pb))
    ]
    return sorted(rows, key=lambda r: -abs(r["difference"]))


def scenario_differences(
    per_scenario: pd.DataFrame,
    a: ModelMetrics,
    b: ModelMetrics,
) -> list[dict]:
    """Scenarios where the unrequested rates differ most, largest first."""

    def rates(m: ModelMetrics) -> pd.Series:
        rows = per_scenario[
            (per_scenario["model"] == m.model) & (per_scenario["harness"] == m.harness)
        ]
        return rows.set_index("scenario")["unrequested_rate"]

    joined = pd.concat({"a": rates(a), "b": rates(b)}, axis=1).dropna()
    joined["difference"] = joined["b"] - joined["a"]
    joined = joined.reindex(joined["difference"].abs().sort_values(ascending=False).index)
    return [{"scenario": s, **row} for s, row in joined.to_dict("index").items()]


def pairs(models: list[ModelMetrics]) -> list[tuple[ModelMetrics, ModelMetrics]]:
    return list(combinations(models, 2))
