"""What the report says about imported sessions: where their figures come from, and
what a baseline without a control arm can and cannot rule out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from stickiness.agents.trajectory import Trajectory
from stickiness.analysis.observed import BASELINE_CAVEAT

ESTIMATE_NOTE = (
    "Estimated, not read: which files a shell command changed, whether the working tree "
    "was dirty, how many commits were unpushed. A turn counts as a chance to commit when "
    "the agent's edit tools changed files (or it committed); edits made only through the "
    "shell are not seen, so commit opportunities may be undercounted. Commits and pushes "
    "themselves are read from what git printed in the log."
)


@dataclass
class ImportedSummary:
    sessions: int
    formats: dict[str, int]
    turns: int
    sources: dict[str, int]  # annotations by where they came from
    labels: dict[str, int]  # annotations by label
    repo_checked: int
    notes: list[tuple[str, int]] = field(default_factory=list)
    caveat: str = BASELINE_CAVEAT
    estimate_note: str = ESTIMATE_NOTE


def imported_summary(trajectories: list[Trajectory]) -> ImportedSummary | None:
    runs = [t for t in trajectories if t.imported is not None]
    if not runs:
        return None
    annotations = [a for t in runs for turn in t.turns for a in turn.annotations]
    notes: Counter[str] = Counter()
    for t in runs:
        for note in t.imported.notes:
            # "3 entries on rewound branches left out" -> counted per kind of note
            head, _, rest = note.partition(" ")
            notes[rest if head.isdigit() else note] += int(head) if head.isdigit() else 1
    return ImportedSummary(
        sessions=len(runs),
        formats=dict(Counter(t.imported.format for t in runs)),
        turns=sum(len(t.turns) for t in runs),
        sources=dict(Counter(a.source for a in annotations)),
        labels=dict(Counter(f"{a.behaviour} {a.label}" for a in annotations)),
        repo_checked=sum(t.imported.repo_checked for t in runs),
        notes=sorted(((text, n) for text, n in notes.items()), key=lambda x: -x[1]),
    )
