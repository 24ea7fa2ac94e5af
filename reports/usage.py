"""Token usage and cost per model and harness, summed over runs."""

from __future__ import annotations

from stickiness.agents.trajectory import Trajectory

USAGE_KEYS = (
    "model_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
)


def usage_rows(trajectories: list[Trajectory]) -> list[dict]:
    """One row per model and harness; `cost_usd` is None when any run had no price,
    `simulated` when every run was a simulated model's."""
    rows: dict[tuple[str, str], dict] = {}
    for t in trajectories:
        row = rows.setdefault(
            (t.model, t.harness),
            {"model": t.model, "harness": t.harness, "runs": 0, "cost_usd": 0.0}
            | {"simulated": True}
            | dict.fromkeys(USAGE_KEYS, 0),
        )
        row["runs"] += 1
        # A simulated model costs nothing: its cost is not a measured 0.
        row["simulated"] = row["simulated"] and t.simulated
        for key in USAGE_KEYS:
            row[key] += t.usage.get(key, 0)
        if t.cost_usd is None or row["cost_usd"] is None:
            row["cost_usd"] = None
        else:
            row["cost_usd"] += t.cost_usd
    return [rows[k] for k in sorted(rows)]
