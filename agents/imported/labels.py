"""The third layer: the person's own corrections, read back from the review file.

`stickiness import` writes `review.csv`, one row per turn whose label moves a metric
(an action that happened, or was tried, while not requested). Filling `correct_label`
in (requested, forbidden, standing, conditional or none) and importing again with
`--labels review.csv` puts that label in place, marked as a person's.
"""

from __future__ import annotations

import csv
from pathlib import Path

from stickiness.agents.imported.intent import Annotation, TurnIntent
from stickiness.agents.trajectory import TurnRecord

REVIEW_COLUMNS = [
    "run_id",
    "turn",
    "behaviour",
    "label",
    "source",
    "reason",
    "at",
    "user",
    "agent_before",
    "action",
    "correct_label",
]
HUMAN_LABELS = ("requested", "forbidden", "standing", "conditional", "none")
Labels = dict[tuple[str, int, str], str]  # (run id, turn, behaviour) -> label


class LabelsError(ValueError):
    """A labels file cannot be used; the message names file, row and field."""


def label_of(turn: TurnRecord, behaviour: str) -> str:
    """A turn's annotation of one behaviour as a label (as the review file writes it)."""
    if behaviour in turn.requests:
        return "requested"
    if behaviour in turn.forbids:
        return "forbidden"
    return "standing" if behaviour in turn.requires else "none"


def read_labels(path: Path) -> Labels:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LabelsError(f"{path}: cannot read the labels file: {exc}") from None
    labels: Labels = {}
    for number, row in enumerate(rows, 2):  # row 1 is the header
        missing = [c for c in ("run_id", "turn", "behaviour", "correct_label") if c not in row]
        if missing:
            raise LabelsError(f"{path}: expected columns {', '.join(missing)} (see review.csv)")
        label = (row.get("correct_label") or "").strip().lower()
        if not label:
            continue
        if label not in HUMAN_LABELS:
            raise LabelsError(
                f"{path}: row {number}: correct_label {label[:40]!r}: expected one of "
                f"{', '.join(HUMAN_LABELS)}"
            )
        try:
            turn = int(row["turn"])
        except (TypeError, ValueError):
            raise LabelsError(f"{path}: row {number}: turn: expected a whole number") from None
        labels[(str(row["run_id"]), turn, str(row["behaviour"]))] = label
    return labels


def apply_labels(run_id: str, intents: list[TurnIntent], labels: Labels) -> int:
    """Puts the person's labels in place for one session; returns how many applied."""
    applied = 0
    for number, intent in enumerate(intents, 1):
        for (rid, turn, behaviour), label in labels.items():
            if rid != run_id or turn != number:
                continue
            intent.annotations = [a for a in intent.annotations if a.behaviour != behaviour]
            intent.scoped_forbids = [b for b in intent.scoped_forbids if b != behaviour]
            intent.annotations.append(
                Annotation(behaviour, label, "human", "corrected in the review file")  # type: ignore[arg-type]
            )
            applied += 1
    return applied
