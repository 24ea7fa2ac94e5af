"""The report's figures stay readable and honest from one model to eight, and its
numbers never print an artefact (a 7e30-turn half-life, a zero-width interval)."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pandas as pd
import pytest
from factories import three_scenario_runs
from matplotlib.image import imread
from matplotlib.text import Text

from stickiness.analysis.bootstrap import Estimate
from stickiness.analysis.metrics import OVERALL, FamilyMetrics, ModelMetrics, analyse
from stickiness.analysis.observe import observe
from stickiness.reports import figures
from stickiness.reports.html import render_report
from stickiness.reports.verdict import turns, with_interval

NAN = Estimate(math.nan, math.nan, math.nan)
FAMILIES = ("commit", "push", "edit_scope", "style", "tool_overuse", "topic")
REPORT_COLUMN_PX = 1100 - 2 * 24  # the report's max-width less its padding


def est(value: float, spread: float = 0.1) -> Estimate:
    return Estimate(value, value - spread, value + spread)


def family(
    name: str,
    excess: Estimate,
    *,
    carry: list[Estimate] = (),
    half_life: Estimate = NAN,
    forget: Estimate = NAN,
) -> FamilyMetrics:
    return FamilyMetrics(
        family=name,
        scenarios=3,
        treatment_runs=10,
        control_runs=5,
        unrequested=est(0.5),
        base=est(0.2),
        excess=excess,
        carry_over=[(lag, e) for lag, e in enumerate(carry, start=1)],
        half_life=half_life,
        revoke_violation=NAN,
        revert=NAN,
        forget=forget,
        clean_k=[],
    )


def model(name: str, excess: float, **overall) -> ModelMetrics:
    """Every family at `excess` (shifted a little per family), plus overall."""
    families = {f: family(f, est(excess + 0.02 * i)) for i, f in enumerate(FAMILIES)}
    families[OVERALL] = family(OVERALL, est(excess), **overall)
    return ModelMetrics(name, "minimal", True, 40, 0, families)


def eight_models() -> list[ModelMetrics]:
    return [
        model(
            f"provider/some-long-model-name-{i}",
            -0.3 + 0.1 * i,
            carry=[est(0.6 - 0.1 * lag, 0.3) for lag in range(5)],
            half_life=Estimate(2.0 + i, 1.0, 8.0),
            forget=est(0.05 * i, 0.05),
        )
        for i in range(8)
    ]


def png_width(uri: str) -> int:
    return imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png").shape[1]


def smallest_text(fig) -> float:
    shown = [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_figure() is not None
    ]
    assert shown
    return min(t.get_fontsize() for t in shown)


def points_plotted(ax) -> int:
    return sum(
        int(np.isfinite(np.asarray(c.lines[0].get_xdata(), dtype=float)).sum())
        for c in ax.containers
    )


def test_profile_of_eight_models_is_readable_at_its_size():
    models = eight_models()
    fig = figures.profile_figure(models, 0.95)
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows[0] == OVERALL and sorted(rows[1:]) == sorted(FAMILIES)
    assert points_plotted(ax) == 8 * 7  # every model in every row, overall included
    assert len(fig.legends[0].get_texts()) == 8
    assert smallest_text(fig) >= 10
    # Shown at its own size in the report's column, so 10 pt stays 10 pt.
    assert png_width(figures.stickiness_profile(models)) <= REPORT_COLUMN_PX
    assert "95% intervals" in ax.get_title(loc="left")


def test_profile_dots_of_one_row_stay_in_that_row():
    fig = figures.profile_figure(eight_models())
    ys = np.concatenate([c.lines[0].get_ydata() for c in fig.axes[0].containers]).astype(float)
    # Dodged within the row, never into the next one.
    assert np.all(np.abs(ys - np.round(ys)) < 0.45)
    assert len(set(np.round(ys, 6))) == len(ys)


def test_profile_axis_is_tight_to_the_data_and_keeps_zero():
    models = [model("a", 0.1), model("b", 0.2)]
    low, high = figures.profile_figure(models).axes[0].get_xlim()
    assert -0.1 <= low <= 0 and 0.4 <= high <= 0.6  # data spans 0..0.4 with its intervals
    extreme = [model("a", -0.95), model("b", 0.95)]
    low, high = figures.profile_figure(extreme).axes[0].get_xlim()
    assert (low, high) == (-1.0, 1.0)  # a difference of rates cannot leave [-100%, 100%]


def test_profile_leaves_out_what_was_not_measured():
    a = model("a", 0.2)
    families = dict(a.families)
    families["push"] = family("push", NAN)
    del families["topic"]
    gappy = ModelMetrics("gappy", "minimal", True, 40, 0, families)
    fig = figures.profile_figure([a, gappy])
    assert points_plotted(fig.axes[0]) == 7 + 5


def test_profile_of_one_family_has_no_separate_overall_row():
    one = ModelMetrics(
        "a",
        "minimal",
        True,
        10,
        0,
        {"commit": family("commit", est(0.3)), OVERALL: family(OVERALL, est(0.3))},
    )
    fig = figures.profile_figure([one])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["commit"]
    assert figures.profile_figure([]) is None


def test_profile_of_real_metrics():
    runs = three_scenario_runs("sim:a", lambda i: True, lambda i: False)
    runs += three_scenario_runs("sim:b", lambda i: i % 2 == 0, lambda i: True)
    models = analyse(observe(runs), draws=100)
    fig = figures.profile_figure(models)
    assert points_plotted(fig.axes[0]) >= 2
    assert figures.stickiness_profile(models).startswith("data:image/png;base64,")


def test_carry_over_axis_stays_within_plus_minus_100_percent():
    eager = model(
        "eager",
        -0.4,
        carry=[Estimate(-1.5, -2.4, -0.6), Estimate(-0.2, -1.1, 0.7)],
        half_life=NAN,
    )
    fig = figures.carry_over_figure([eager, model("b", 0.3, carry=[est(0.5), est(0.3)])])
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert low >= -1.0 and high <= 1.0
    for band in ax.collections:
        ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        assert ys.min() >= -1.0 and ys.max() <= 1.0
    assert min(ax.lines[0].get_ydata()) >= -1.0


def test_carry_over_of_eight_models_gets_a_panel_each():
    models = eight_models()
    fig = figures.carry_over_figure(models)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 8 and all(len(ax.collections) == 1 for ax in panels)
    assert smallest_text(fig) >= 10
    assert png_width(figures.carry_over(models)) <= REPORT_COLUMN_PX


def test_carry_over_says_no_decay_instead_of_a_huge_half_life():
    curve = [est(0.6), est(0.6), est(0.6)]
    flat = model("flat", 0.5, carry=curve, half_life=Estimate(7.0e30, 3.0, math.inf))
    decaying = model("decaying", 0.5, carry=curve, half_life=Estimate(2.5, 1.5, 4.0))
    fig = figures.carry_over_figure([flat, decaying])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["flat (no decay seen)", "decaying (half-life 2.5 turns)"]
    assert not any("e+" in t.get_text() for t in fig.findobj(Text))


def test_tradeoff_shows_a_model_far_below_zero_excess():
    models = [model("eager", -0.6, forget=est(0.1, 0.05)), model("b", 0.4, forget=est(0.3))]
    ax = figures.tradeoff_figure(models).axes[0]
    low, high = ax.get_xlim()
    assert -1.0 <= low < -0.7 and 0.5 < high <= 1.0  # the old fixed -20% hid the first
    assert ax.get_ylim()[1] <= 1.0


def test_tradeoff_heatmap_and_phrasing_with_eight_models_stay_readable():
    models = eight_models()
    table = pd.DataFrame(
        [
            {"model": m.model, "phrasing": p, "faults": 3 * p + i, "chances": 40}
            for i, m in enumerate(models)
            for p in range(3)
        ]
    )
    for build, encode, data in (
        (figures.tradeoff_figure, figures.stickiness_vs_forgetting, models),
        (figures.heatmap_figure, figures.family_heatmap, models),
        (figures.phrasing_figure, figures.by_phrasing, table),
    ):
        fig = build(data)
        assert smallest_text(fig) >= 10, build.__name__
        assert png_width(encode(data)) <= REPORT_COLUMN_PX, build.__name__
    assert len(figures.tradeoff_figure(models).legends[0].get_texts()) == 8


def test_phrasing_draws_no_bar_where_nothing_was_seen():
    table = pd.DataFrame(
        [
            {"model": "a", "phrasing": 0, "faults": 2, "chances": 10},
            {"model": "a", "phrasing": 1, "faults": 0, "chances": 0},
            {"model": "b", "phrasing": 0, "faults": 0, "chances": 10},
        ]
    )
    ax = figures.phrasing_figure(table).axes[0]
    assert len(ax.patches) == 2
    assert sorted(t.get_text() for t in ax.texts) == ["0%", "20%"]


def test_report_shows_the_profile_in_place_of_the_bar_chart():
    runs = three_scenario_runs("sim:a", lambda i: True, lambda i: False)
    runs += three_scenario_runs("sim:b", lambda i: False, lambda i: False)
    html = render_report(runs)
    assert 'alt="Stickiness profile: excess stickiness per family and model' in html
    assert "Unrequested rates per model and family" not in html


@pytest.mark.parametrize("name", ["stickiness_profile", "family_heatmap", "carry_over"])
def test_figures_of_no_models_are_none(name):
    assert getattr(figures, name)([]) is None


@pytest.mark.parametrize(
    ("half_life", "shown"),
    [
        (Estimate(math.inf, math.inf, math.inf), "no decay seen"),
        (Estimate(7.0e30, 5.0e29, math.inf), "no decay seen"),
        (Estimate(1.0e30, 4.0, math.inf), "no decay seen (at least 4.0)"),
        (Estimate(3.2, 2.1, math.inf), "3.2 (at least 2.1)"),
        (Estimate(3.2, 2.1, 5000.0), "3.2 (at least 2.1)"),
        (Estimate(3.2, 2000.0, 5000.0), "3.2 (interval: no decay seen)"),
        (Estimate(3.2, 2.1, 5.0), "3.2 (2.1..5.0)"),
        (Estimate(3.2, math.nan, math.nan), "3.2"),
        (NAN, "n/a"),
    ],
)
def test_half_life_in_words_where_no_number_means_anything(half_life, shown):
    assert turns(half_life) == shown


def test_a_degenerate_interval_is_not_printed_as_one():
    degenerate = Estimate(1 / 3, 1 / 3, 1 / 3)
    assert with_interval(degenerate, compact=True) == "33%"
    assert with_interval(degenerate) == "33% (no interval)"
    assert with_interval(Estimate(0.0, 0.0, 0.0), signed=True, compact=True) == "+0%"
    # A real interval, however narrow, is still printed.
    assert with_interval(Estimate(0.331, 0.33, 0.334)) == "33% [33%, 33%]"
    assert with_interval(Estimate(0.31, 0.22, 0.40), compact=True) == "31% (22..40)"
    assert with_interval(Estimate(0.31, 0.22, 0.40), signed=True) == "+31% [+22%, +40%]"


def test_an_unbounded_interval_prints_no_infinity():
    open_ended = Estimate(0.05, -math.inf, math.inf)
    assert with_interval(open_ended, signed=True) == "+5% (no bound yet)"
    assert with_interval(open_ended, signed=True, compact=True) == "+5%"
    assert with_interval(NAN) == "n/a"
