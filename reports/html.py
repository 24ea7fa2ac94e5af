"""The self-contained HTML report: jinja2 with autoescape, figures inline."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from stickiness.agents.redact import redact
from stickiness.agents.trajectory import Trajectory
from stickiness.analysis import similarity
from stickiness.analysis.bootstrap import DEFAULT_DRAWS
from stickiness.analysis.coverage import missing_baselines
from stickiness.analysis.export import AnalysisSettings
from stickiness.analysis.gate import GateError, GateResult, gate
from stickiness.analysis.metrics import ModelMetrics, per_phrasing, per_scenario
from stickiness.analysis.observe import HookPolicy, observe
from stickiness.analysis.policy import Policy
from stickiness.analysis.similarity import label
from stickiness.reports import figures
from stickiness.reports.answer import answer_text, ranking_line
from stickiness.reports.explorer import explorer_data
from stickiness.reports.imported_view import imported_summary
from stickiness.reports.usage import usage_rows
from stickiness.reports.verdict import model_sentences, pct, turns, with_interval


def _no_secrets(value: object) -> object:
    """Every value the template prints, redacted; the figures' data URIs are ours."""
    if not isinstance(value, str) or value.startswith("data:image/"):
        return value
    # Already-escaped markup stays markup: the replacement holds no HTML characters.
    return Markup(redact(value)) if isinstance(value, Markup) else redact(value)


_env = Environment(
    loader=PackageLoader("stickiness.reports", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_no_secrets,
)
_env.filters["pct"] = pct
_env.filters["interval"] = with_interval
_env.filters["turns"] = turns
MAX_PAIRS = 10  # pairwise comparisons shown in full


def _headline_rows(models: list[ModelMetrics]) -> list[dict]:
    rows = []
    for m in models:
        sentences = dict(model_sentences(m))
        for name, f in m.families.items():
            if name in sentences:
                rows.append({"model": m, "family": name, "f": f, "sentence": sentences[name]})
    return rows


def _two_model_gate(
    events: pd.DataFrame, models: list[ModelMetrics], baseline: str | None
) -> GateResult | None:
    """With exactly two models, the gate's verdict: the named baseline (else the first
    in order) against the other."""
    if len(models) != 2:
        return None
    first, second = models
    if baseline is not None and second.model == baseline:
        first, second = second, first

    def of(m: ModelMetrics) -> pd.DataFrame:
        return events[(events["model"] == m.model) & (events["harness"] == m.harness)]

    try:
        return gate(of(first), of(second))
    except GateError:
        return None


def render_report(
    trajectories: list[Trajectory],
    *,
    title: str = "Stickiness report",
    settings: AnalysisSettings | None = None,
    baseline: str | None = None,
    hooks: HookPolicy = "skip",
    warnings: list[str] | None = None,
) -> str:
    """The report; `settings` (bootstrap draws, seed, confidence, policy) as the
    terminal and metrics.json used them, so all three show the same numbers."""
    settings = settings or AnalysisSettings(DEFAULT_DRAWS, 0, 0.95, Policy())
    events = observe(
        trajectories, settings.policy, hooks=hooks, warnings=warnings, review=settings.review
    )
    models = settings.analyse(events) if not events.empty else []
    answer = settings.headline(models, baseline)
    rows = _headline_rows(models)
    scenarios = per_scenario(events) if not events.empty else pd.DataFrame()
    phrasing = per_phrasing(events) if not events.empty else None
    comparisons = [
        {
            "a": label(a),
            "b": label(b),
            "families": similarity.family_differences(a, b)[:4],
            "scenarios": similarity.scenario_differences(scenarios, a, b)[:5],
        }
        for a, b in similarity.pairs(models)[:MAX_PAIRS]
    ]
    distances = similarity.distance_matrix(models) if len(models) >= 3 else None
    gate_result = _two_model_gate(events, models, baseline)
    return _env.get_template("report.html.j2").render(
        title=title,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        answer=answer,
        answer_lines=[(a, answer_text(a)) for a in answer.answers],
        ranking=ranking_line(answer),
        confidence=settings.confidence,
        notes=missing_baselines(events),
        truth_rows=[(label(m), m.truth) for m in models if m.truth.measured],
        rows=rows,
        figure=figures.stickiness_profile(models),
        heatmap=figures.family_heatmap(models) if models else None,
        carry_figure=figures.carry_over(models),
        tradeoff_figure=figures.stickiness_vs_forgetting(models),
        phrasing_figure=figures.by_phrasing(phrasing),
        comparisons=comparisons,
        distances=distances,
        gate=gate_result,
        scenario_rows=scenarios.to_dict("records"),
        scenario_meta={t.scenario: t for t in trajectories},
        runs=explorer_data(trajectories, events),
        errors=[t for t in trajectories if t.status != "ok"],
        seeds=sorted({t.seed for t in trajectories}),
        versions=trajectories[0].versions if trajectories else {},
        any_simulated=any(t.simulated for t in trajectories),
        policy=settings.policy.as_dict(),
        usage=usage_rows(trajectories),
        phrasing_rows=phrasing.to_dict("records") if phrasing is not None else [],
        imported=imported_summary(trajectories),
    )


def write_report(trajectories: list[Trajectory], path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(trajectories, **kwargs), encoding="utf-8")
    return path
