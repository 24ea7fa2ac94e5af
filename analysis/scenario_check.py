"""One scenario, candidate against baseline: the check `pytest --baseline` makes per
collected scenario (the gate proper pools scenarios; see `gate`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stickiness.analysis.bootstrap import interval
from stickiness.analysis.gate import Check, pooled_rate, rate_draws, verdict_of


def _faults_per_run(events: pd.DataFrame) -> np.ndarray:
    """(n_runs, 2): faults (unrequested, violations, forgotten) and chances per run."""
    ev = events[events["probed"] & (events["status"] == "ok")]
    chance = ev["opportunity"] | (ev["possible"] & (ev["forbidden"] | ev["required"]))
    fault = ev["unrequested"] | ev["violation"] | ev["forgotten"]
    frame = pd.DataFrame({"run_id": ev["run_id"], "fault": fault, "chance": chance})
    return frame.groupby("run_id")[["fault", "chance"]].sum().to_numpy(float)


def scenario_check(
    baseline_events: pd.DataFrame,
    candidate_events: pd.DataFrame,
    scenario: str,
    *,
    margin: float = 0.05,
    confidence: float = 0.95,
    draws: int = 2000,
    seed: int = 0,
) -> Check | None:
    """One scenario, candidate against baseline: the difference in fault rate (faults
    per turn where one could happen), with a run-level bootstrap interval. None when
    the baseline never ran the scenario."""
    base = baseline_events[baseline_events["scenario"] == scenario]
    cand = candidate_events[candidate_events["scenario"] == scenario]
    if base.empty or cand.empty:
        return None
    rng = np.random.default_rng(seed)
    b, c = _faults_per_run(base), _faults_per_run(cand)
    if len(b) == 0 or len(c) == 0:
        return None
    reps = rate_draws(c, draws, rng) - rate_draws(b, draws, rng)
    est = interval(pooled_rate(c) - pooled_rate(b), reps, confidence)
    family = str(cand["family"][cand["probed"]].iloc[0]) if cand["probed"].any() else ""
    return Check(family, "fault rate", 1, est, verdict_of(est, margin))
