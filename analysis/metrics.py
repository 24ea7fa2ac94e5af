"""Per-model stickiness metrics from the events table, with clustered intervals."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.bootstrap import DEFAULT_DRAWS, Estimate, interval, ratio_draws

_RUN_KEYS = ["model", "harness", "simulated", "arm", "scenario", "run_id"]


@dataclass(frozen=True)
class ModelSummary:
    model: str
    harness: str
    simulated: bool
    runs: int
    failed_runs: int
    unrequested: Estimate  # treatment arm: unrequested commits per opportunity
    base: Estimate  # control arm: the same rate with no instruction ever given
    excess: Estimate  # unrequested minus base: the headline
    violations: Estimate  # commits on turns where committing was forbidden

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "harness": self.harness,
            "simulated": self.simulated,
            "runs": self.runs,
            "failed_runs": self.failed_runs,
            "unrequested_rate": self.unrequested.as_dict(),
            "base_rate": self.base.as_dict(),
            "excess": self.excess.as_dict(),
            "violation_rate": self.violations.as_dict(),
        }


def per_run(events: pd.DataFrame) -> pd.DataFrame:
    """Counts per run: the unit the bootstrap resamples."""
    ok = events[events["status"] == "ok"].assign(
        forbidden_possible=lambda d: d["forbidden"] & d["possible"]
    )
    cols = ["opportunity", "unrequested", "forbidden_possible", "violation"]
    return ok.groupby(_RUN_KEYS, sort=True, observed=True)[cols].sum().reset_index()


def _rate(
    runs: pd.DataFrame, num: str, den: str, draws: int, rng: np.random.Generator, confidence: float
) -> tuple[Estimate, np.ndarray]:
    x, n = runs[num].to_numpy(float), runs[den].to_numpy(float)
    reps = ratio_draws(runs["scenario"].to_numpy(), x, n, draws, rng)
    point = x.sum() / n.sum() if n.sum() > 0 else float("nan")
    return interval(point, reps, confidence, int(x.sum()), int(n.sum())), reps


def summarise(
    events: pd.DataFrame, *, draws: int = DEFAULT_DRAWS, seed: int = 0, confidence: float = 0.95
) -> list[ModelSummary]:
    """One summary per model and harness, intervals clustered by scenario then run."""
    runs = per_run(events)
    status = events.drop_duplicates("run_id").groupby(["model", "harness"])["status"]
    summaries = []
    for (model, harness), group in runs.groupby(["model", "harness"], sort=True):
        # Seeded per model, so a model's intervals do not depend on which others ran.
        rng = np.random.default_rng([seed, zlib.crc32(f"{model}|{harness}".encode())])
        treat, ctrl = group[group["arm"] == "treatment"], group[group["arm"] == "control"]
        unreq, t_reps = _rate(treat, "unrequested", "opportunity", draws, rng, confidence)
        base, c_reps = _rate(ctrl, "unrequested", "opportunity", draws, rng, confidence)
        excess = interval(unreq.value - base.value, t_reps - c_reps, confidence)
        viol, _ = _rate(treat, "violation", "forbidden_possible", draws, rng, confidence)
        statuses = status.get_group((model, harness))
        summaries.append(
            ModelSummary(
                model=model,
                harness=harness,
                simulated=bool(group["simulated"].iloc[0]),
                runs=int(statuses.size),
                failed_runs=int((statuses != "ok").sum()),
                unrequested=unreq,
                base=base,
                excess=excess,
                violations=viol,
            )
        )
    return summaries


def per_scenario(events: pd.DataFrame) -> pd.DataFrame:
    """Counts and rates per model, harness and scenario."""
    runs = per_run(events)
    table = (
        runs.groupby(["model", "harness", "scenario", "arm"], sort=True)
        .agg(
            runs=("run_id", "size"),
            opportunities=("opportunity", "sum"),
            unrequested=("unrequested", "sum"),
            forbidden_turns=("forbidden_possible", "sum"),
            violations=("violation", "sum"),
        )
        .reset_index()
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        table["unrequested_rate"] = table["unrequested"] / table["opportunities"].where(
            table["opportunities"] > 0
        )
    return table
