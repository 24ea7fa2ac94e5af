"""Machine-readable outputs of an analysis: events.csv and metrics.json."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from stickiness.agents.process_pool import ProcessMap, WorkerError, can_start_workers
from stickiness.agents.record_chunks import worker_count
from stickiness.analysis.claim_check import Review
from stickiness.analysis.events_csv import write_events_csv
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


# From this many rows events.csv is written by a process of its own (see `EventsCsv`):
# below it, starting one (about half a second with pandas) costs more than it saves.
PROCESS_ROWS = 250_000


class EventsCsv:
    """events.csv, written by a thread from the moment this is made: made before the
    metrics are computed, the writing overlaps with them. `events` must not change
    meanwhile. A large table is handed to a process of its own to write (when this one
    may use two CPUs), as both the writing and the metrics hold the interpreter for most
    of their time; the file's bytes are the same either way. As a context manager,
    leaving it waits for the writing (`write_outputs` takes it and raises what writing
    raised)."""

    def __init__(self, out_dir: Path, events: pd.DataFrame) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / "events.csv"
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._write, args=(events,), name="events.csv", daemon=True
        )
        self._thread.start()

    def _write(self, events: pd.DataFrame) -> None:
        try:
            if len(events) < PROCESS_ROWS or worker_count() < 2 or not can_start_workers():
                write_events_csv(events, self.path)
                return
            try:
                job = (events, self.path.absolute())
                with ProcessMap(write_events_csv, [job], 1) as written:
                    list(written)
            except WorkerError:
                # No process could start, or it was killed: the file is written here.
                write_events_csv(events, self.path)
        except BaseException as exc:  # raised again in the caller's thread, by `wait`
            self._error = exc

    def join(self) -> None:
        self._thread.join()

    def __enter__(self) -> EventsCsv:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # Left by an error: the thread is not left writing behind the caller's back, and
        # the caller's error is the one raised (`wait` raises the writer's own).
        self._thread.join()

    def wait(self) -> Path:
        """The file's path once written; what writing it raised, raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.path


def write_outputs(
    out_dir: Path,
    events: pd.DataFrame,
    models: list[ModelMetrics],
    settings: AnalysisSettings,
    answer: Headline | None = None,
    events_csv: EventsCsv | None = None,
) -> tuple[Path, Path]:
    """events.csv and metrics.json in `out_dir`. `events_csv`: the same table's file
    already being written (see `EventsCsv`); else it is written here, beside the
    metrics document."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = out_dir / "metrics.json"
    csv = events_csv or EventsCsv(out_dir, events)
    try:
        document = metrics_document(models, settings, per_phrasing(events))
        if answer is not None:
            document["headline"] = answer.as_dict()
        if not events.empty and is_observed(events).any():
            document["imported_sessions"] = {
                "baseline": BASELINE_CAVEAT,
                "clusters": "sessions (turns after a request against turns before any)",
                "estimated": ESTIMATED_FIGURES,
            }
        text = json.dumps(document, indent=2, default=_plain) + "\n"
    except BaseException:
        csv.join()  # not left writing behind the caller's back; this error comes first
        raise
    events_path = csv.wait()
    metrics_path.write_text(text, encoding="utf-8")
    return events_path, metrics_path
