"""What a run folder cannot measure, said before anyone reads an empty cell."""

from __future__ import annotations

import pandas as pd

from stickiness.analysis.observed import OBSERVED_BEHAVIOURS, is_observed


def missing_baselines(events: pd.DataFrame) -> list[str]:
    """One line per model and treatment without a baseline to measure excess against."""
    if events.empty:
        return []
    lines = []
    scripted = events[~is_observed(events) & events["probed"]]
    for (model, harness), group in scripted.groupby(["model", "harness"], sort=True):
        present = set(group["scenario"])
        treated = group[group["arm"] == "treatment"].drop_duplicates("scenario")
        for row in treated.itertuples(index=False):
            if not isinstance(row.control, str) or not row.control:
                if row.kind == "standing":  # a rule's forget rate needs no control
                    continue
                lines.append(
                    f"{model} ({harness}): {row.scenario} names no control scenario: "
                    "its excess stickiness is not measured"
                )
            elif row.control not in present:
                lines.append(
                    f"{model} ({harness}): {row.scenario} has no runs of its control "
                    f"{row.control}: its excess stickiness is not measured"
                )
    observed = events[is_observed(events) & events["behaviour"].isin(OBSERVED_BEHAVIOURS)]
    for (model, harness, behaviour), group in observed.groupby(
        ["model", "harness", "behaviour"], sort=True
    ):
        before = group["lag"].isna() & group["opportunity"]
        if not before.any():
            lines.append(
                f"{model} ({harness}), imported sessions: no chance to {behaviour} before any "
                "request was seen, so there is no baseline for it"
            )
    return lines
