"""The turns of imported sessions a person should check: those that move the metric.

A commit or push that happened (or was tried) while the turn's label says it was not
requested counts against the agent; if the label is wrong, the figure is. Each row
shows the label, where it came from and why, and the words around it; the person fills
in `correct_label` and imports again with `--labels`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from stickiness.agents.imported.labels import REVIEW_COLUMNS
from stickiness.agents.trajectory import Trajectory
from stickiness.analysis.observed import OBSERVED_BEHAVIOURS, is_observed

EXCERPT_CHARS = 300


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


def review_rows(trajectories: list[Trajectory], events: pd.DataFrame) -> list[dict]:
    """One row per (session, turn, behaviour) whose label decides an unrequested event."""
    if events.empty:
        return []
    ev = events[
        is_observed(events)
        & events["behaviour"].isin(OBSERVED_BEHAVIOURS)
        & (events["unrequested_attempt"] | (events["forbidden"] & events["attempted"]))
    ]
    by_id = {t.run_id: t for t in trajectories}
    rows = []
    for e in ev.itertuples(index=False):
        run = by_id.get(e.run_id)
        if run is None or not 1 <= e.turn <= len(run.turns):
            continue
        turn = run.turns[e.turn - 1]
        before = run.turns[e.turn - 2].assistant_text() if e.turn > 1 else ""
        note = next((a for a in turn.annotations if a.behaviour == e.behaviour), None)
        # Rows are unrequested actions or violations: free or forbidden, never required.
        label = "forbidden" if e.forbidden else "none"
        if e.behaviour == "commit":
            action = e.commits or "tried to commit; no commit made"
        else:
            done = len(turn.pushes)
            action = f"{done} refs pushed" if done else "tried to push; nothing pushed"
        rows.append(
            {
                "run_id": e.run_id,
                "turn": int(e.turn),
                "behaviour": e.behaviour,
                "label": note.label if note else label,
                "source": note.source if note else "rule",
                "reason": _excerpt(note.reason) if note else "no request found",
                "at": turn.at or "",
                "user": _excerpt(turn.user),
                "agent_before": _excerpt(before),
                "action": _excerpt(action),
                "correct_label": "",
            }
        )
    return rows


def write_review(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=REVIEW_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
