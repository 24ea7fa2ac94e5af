"""Machine-readable outputs of an analysis: events.csv and metrics.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from stickiness.analysis.claim_check import Review
from stickiness.analysis.headline import Headline, headline
from stickiness.analysis.metrics import ModelMetrics, analyse, per_phrasing
from stickiness.analysis.observed import BASELINE_CAVEAT, ESTIMATED_FIGURES, is_observed
from stickiness.analysis.policy import Policy

METRICS_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class AnalysisSettings:
    draws: int
    seed: int
    confidence: float
    policy: Policy
    # A model judge over the replies of the second axis; None reads them by patterns.
    review: Review | None = None

    def analyse(self, events: pd.DataFrame) -> list[ModelMetrics]:
        return analyse(events, draws=self.draws, seed=self.seed, confidence=self.confidence)

    def headline(self, models: list[ModelMetrics], baseline: str | None = None) -> Headline:
        return headline(models, confidence=self.confidence, baseline=baseline)


def metrics_document(
    models: list[ModelMetrics], settings: AnalysisSettings, phrasing: pd.DataFrame | None = None
) -> dict:
    by_phrasing = (
        []
        if phrasing is None
        else [
            {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in phrasing.astype(object).to_dict("records")
        ]
    )
    return {
        "schema_version": METRICS_SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "bootstrap": {
            "draws": settings.draws,
            "seed": settings.seed,
            "confidence": settings.confidence,
            "clusters": "matched scenario groups (stratified by family), then runs",
        },
        "policy": settings.policy.as_dict(),
        "models": [m.as_dict() for m in models],
        "by_phrasing": by_phrasing,
    }


def _plain(value: object) -> object:
    """numpy scalars (from pandas rows) as JSON numbers."""
    return value.item() if hasattr(value, "item") else str(value)


def write_outputs(
    out_dir: Path,
    events: pd.DataFrame,
    models: list[ModelMetrics],
    settings: AnalysisSettings,
    answer: Headline | None = None,
) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    events_path, metrics_path = out_dir / "events.csv", out_dir / "metrics.json"
    events.to_csv(events_path, index=False)
    document = metrics_document(models, settings, per_phrasing(events))
    if answer is not None:
        document["headline"] = answer.as_dict()
    if not events.empty and is_observed(events).any():
        document["imported_sessions"] = {
            "baseline": BASELINE_CAVEAT,
            "clusters": "sessions (turns after a request against turns before any)",
            "estimated": ESTIMATED_FIGURES,
        }
    metrics_path.write_text(json.dumps(document, indent=2, default=_plain) + "\n", encoding="utf-8")
    return events_path, metrics_path
