"""The self-contained HTML report: jinja2 with autoescape, figures inline."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from agents.trajectory import Trajectory
from analysis.metrics import ModelSummary, per_scenario, summarise
from analysis.observe import observe
from reports import figures
from reports.verdict import pct, sentence, with_interval

_env = Environment(
    loader=PackageLoader("reports", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["pct"] = pct
_env.filters["interval"] = with_interval


def _runs_view(trajectories: list[Trajectory], events: pd.DataFrame) -> list[dict]:
    """Per run: a cell per turn with what the analyser saw."""
    marks = events.set_index(["run_id", "turn"])
    out = []
    for t in sorted(trajectories, key=lambda t: (t.model, t.scenario, t.repeat)):
        cells = []
        for turn in t.turns:
            row = marks.loc[(t.run_id, turn.turn)]
            if row["violation"]:
                state = "violation"
            elif row["unrequested"]:
                state = "unrequested"
            elif row["requested"]:
                state = "requested"
            else:
                state = "clean"
            cells.append({"turn": turn, "state": state})
        out.append({"run": t, "cells": cells})
    return out


def render_report(trajectories: list[Trajectory], *, title: str = "Stickiness report") -> str:
    events = observe(trajectories)
    summaries: list[ModelSummary] = summarise(events) if not events.empty else []
    scenarios = per_scenario(events) if not events.empty else pd.DataFrame()
    scenario_meta = {t.scenario: t for t in trajectories}
    return _env.get_template("report.html.j2").render(
        title=title,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        summaries=summaries,
        sentences={(s.model, s.harness): sentence(s) for s in summaries},
        figure=figures.unrequested_rates(summaries) if summaries else None,
        scenario_rows=scenarios.to_dict("records"),
        scenario_meta=scenario_meta,
        runs=_runs_view(trajectories, events) if not events.empty else [],
        errors=[t for t in trajectories if t.status != "ok"],
        seeds=sorted({t.seed for t in trajectories}),
        versions=trajectories[0].versions if trajectories else {},
        any_simulated=any(t.simulated for t in trajectories),
    )


def write_report(trajectories: list[Trajectory], path: Path, **kwargs: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(trajectories, **kwargs), encoding="utf-8")
    return path
