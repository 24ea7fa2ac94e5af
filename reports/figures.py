"""Matplotlib figures, rendered to inline PNG data URIs (the report needs no network).

Each figure has a builder (`*_figure`, returning the matplotlib Figure, or None when
there is nothing to draw) and the data URI the report embeds. Sizes are chosen so a PNG
fits the report's column (1100 px, less padding) at its own size: text set in 10 pt or
more is then shown at 10 pt or more, whatever the number of models.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import textwrap
from collections.abc import Callable, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from stickiness.analysis.bootstrap import Estimate
from stickiness.analysis.metrics import OVERALL, FamilyMetrics, ModelMetrics
from stickiness.reports.verdict import turns

DPI = 110
MAX_WIDTH_IN = 9.4  # 1034 px at DPI: inside the report's 1052 px column, never shrunk
FONT_PT = 10
# One colour and marker per model, the same in every figure, so a model is found again
# without reading the legend twice; markers tell models apart in greyscale too.
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "h")
_STYLE = {
    "text.parse_math": False,
    "text.usetex": False,
    "font.size": FONT_PT,
    "axes.titlesize": FONT_PT + 1,
    "axes.labelsize": FONT_PT,
    "xtick.labelsize": FONT_PT,
    "ytick.labelsize": FONT_PT,
    "legend.fontsize": FONT_PT,
}
_CHAR_IN = 0.08  # rough width of one character at FONT_PT, for layout sums


def _styled(draw: Callable) -> Callable:
    """Every figure at one readable font size. Model names and labels are text, not
    mathtext: `$x$` in a name would otherwise be parsed as TeX (and fail the report)."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_STYLE):
            return draw(*args, **kwargs)

    return wrapper


def data_uri(fig: Figure | None) -> str | None:
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _label(m: ModelMetrics, width: int = 30) -> str:
    """Model (and harness) name, wrapped: one long name must not widen a whole figure."""
    name = m.model + ("" if m.harness == "minimal" else f" / {m.harness}")
    return textwrap.fill(name, width, break_on_hyphens=False)


def _style(i: int) -> tuple[str, str]:
    return COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]


def _percent(signed: bool = False) -> Callable:
    """A tick formatter; a signed zero (+0%, -0%) would read as a direction."""

    def text(v: float, _=None) -> str:
        return "0%" if abs(v) < 0.005 else (f"{v:+.0%}" if signed else f"{v:.0%}")

    return text


def _span(
    numbers: Sequence[float], lo: float, hi: float, keep: Sequence[float] = (0.0,)
) -> tuple[float, float]:
    """Axis limits around the finite `numbers` and `keep`, padded, within [lo, hi]: rates
    and differences of rates cannot leave their range, so neither does the axis."""
    finite = [v for v in [*numbers, *keep] if math.isfinite(v)]
    low, high = max(lo, min(finite)), min(hi, max(finite))
    pad = max(0.05, 0.08 * (high - low))
    return max(lo, low - pad), min(hi, high + pad)


def _errors(estimates: Sequence[Estimate], lo: float, hi: float) -> np.ndarray:
    """Error bar lengths of intervals clipped to [lo, hi]; none where there is none."""
    value = np.array([e.value for e in estimates], dtype=float)
    low = np.clip(np.array([e.low for e in estimates], dtype=float), lo, hi)
    high = np.clip(np.array([e.high for e in estimates], dtype=float), lo, hi)
    return np.nan_to_num(np.vstack([value - low, high - value]), nan=0.0).clip(min=0)


def _legend_below(fig: Figure, handles: list, labels: list[str], width_in: float) -> None:
    longest = max((len(line) for text in labels for line in text.splitlines()), default=1)
    ncol = max(1, min(len(labels), int(width_in // (0.6 + _CHAR_IN * longest))))
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False)


def _request(models: list[ModelMetrics]) -> str:
    """What the treatment is called: imported sessions have requests, not one-off ones."""
    return "a request" if models and all(m.observed for m in models) else "a one-off request"


def _profile_rows(models: list[ModelMetrics]) -> list[str]:
    families = sorted({f for m in models for f in m.families if f != OVERALL})
    # With one family, "overall" is that family again.
    overall = len(families) > 1 and any(OVERALL in m.families for m in models)
    return [OVERALL, *families] if overall else families


@_styled
def profile_figure(models: list[ModelMetrics], confidence: float | None = None) -> Figure | None:
    """Excess stickiness per family (rows) and model (dots with their interval, dodged
    within a row): the whole comparison in one figure, for one to eight models."""
    rows = _profile_rows(models)
    if not rows:
        return None
    n = len(models)
    step = min(0.22, 0.8 / n)  # rows are 1 apart; the dots of one row fill 0.8 of it
    height = len(rows) * max(0.5, 0.11 * n + 0.25) + 1.6 + 0.25 * math.ceil(n / 3)
    fig = Figure(figsize=(7.6, height), layout="constrained")
    ax = fig.add_subplot()
    found = [m.families[r].excess for m in models for r in rows if r in m.families]
    xlim = _span([v for e in found for v in (e.value, e.low, e.high)], -1.0, 1.0)
    handles = []
    for j, m in enumerate(models):
        ys, estimates = [], []
        for i, r in enumerate(rows):
            e = m.families[r].excess if r in m.families else None
            if e is not None and not math.isnan(e.value):
                ys.append(i + (j - (n - 1) / 2) * step)
                estimates.append(e)
        colour, marker = _style(j)
        handles.append(
            ax.errorbar(
                [e.value for e in estimates],
                ys,
                xerr=_errors(estimates, *xlim) if estimates else None,
                fmt=marker,
                color=colour,
                markersize=6,
                elinewidth=1.4,
                capsize=2.5,
            )
        )
    for i in range(0, len(rows), 2):
        ax.axhspan(i - 0.5, i + 0.5, color="#f2f2f2", zorder=0)
    if rows[0] == OVERALL:
        ax.axhline(0.5, color="#888", linewidth=0.8)
    ax.axvline(0, color="#444", linewidth=1)
    ax.set_yticks(range(len(rows)), rows)
    if rows[0] == OVERALL:
        ax.get_yticklabels()[0].set_fontweight("bold")
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
    ax.set_xlim(*xlim)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(_percent(signed=True))
    ax.grid(axis="x", color="#ddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", length=0)
    ax.spines[["top", "right", "left"]].set_visible(False)
    never = "before any" if _request(models) == "a request" else "when never asked"
    ax.set_xlabel(f"excess: done unasked after {_request(models)}, minus {never}")
    level = f"{confidence:.0%} " if confidence else ""
    ax.set_title(f"Stickiness profile: excess per family, with {level}intervals", loc="left")
    _legend_below(fig, handles, [_label(m) for m in models], 7.4)
    return fig


def stickiness_profile(models: list[ModelMetrics], confidence: float | None = None) -> str | None:
    return data_uri(profile_figure(models, confidence))


@_styled
def heatmap_figure(models: list[ModelMetrics]) -> Figure | None:
    """Model x family grid of excess stickiness (points), the report's map at a glance."""
    families = sorted({f for m in models for f in m.families if f != OVERALL})
    if not families:
        return None
    grid = np.array(
        [
            [m.families[f].excess.value if f in m.families else np.nan for f in families]
            for m in models
        ],
        dtype=float,
    )
    labels = [_label(m) for m in models]
    label_in = _CHAR_IN * max(len(line) for text in labels for line in text.splitlines())
    cell = min(1.2, max(0.6, (MAX_WIDTH_IN - label_in - 1.0) / len(families)))
    fig = Figure(
        figsize=(cell * len(families) + label_in + 1.0, 0.42 * len(models) + 1.9),
        layout="constrained",
    )
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(families)), families, rotation=30, ha="right")
    ax.set_yticks(range(len(models)), labels)
    for (i, j), value in np.ndenumerate(grid):
        text = "n/a" if np.isnan(value) else _percent(signed=True)(value)
        dark = not np.isnan(value) and abs(value) > 0.5
        ax.text(j, i, text, ha="center", va="center", color="white" if dark else "black")
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    bar.ax.yaxis.set_major_formatter(_percent(signed=True))
    ax.set_title("Excess stickiness by family (treatment minus control)", loc="left")
    return fig


def family_heatmap(models: list[ModelMetrics]) -> str | None:
    return data_uri(heatmap_figure(models))


def _life_note(f: FamilyMetrics) -> str:
    """The half-life as the legend says it, with the table's words for what is no number."""
    text = turns(Estimate(f.half_life.value, math.nan, math.nan))
    try:
        float(text)
    except ValueError:
        return f"half-life {text}" if text == "n/a" else text
    return f"half-life {text} turns"


# More curves than this in one panel, with their bands, are a tangle: one panel each.
_OVERLAID = 3


@_styled
def carry_over_figure(models: list[ModelMetrics]) -> Figure | None:
    """Carry-over by lag (overall) with its interval band; half-life in the legend. Up to
    three models share one panel; more get a panel each, on the same axes."""
    curves = [
        (j, m, m.families[OVERALL])
        for j, m in enumerate(models)
        if OVERALL in m.families and m.families[OVERALL].carry_over
    ]
    if not curves:
        return None
    found = [e for _, _, f in curves for _, e in f.carry_over]
    ylim = _span([v for e in found for v in (e.value, e.low, e.high)], -1.0, 1.0)
    overlaid = len(curves) <= _OVERLAID
    cols = 1 if overlaid else min(4, len(curves))
    rows = 1 if overlaid else math.ceil(len(curves) / cols)
    size = (7.0, 4.2) if overlaid else (MAX_WIDTH_IN, 2.3 * rows + 1.0)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    handles, labels = [], []
    for k, (j, m, f) in enumerate(curves):
        ax = axes[0 if overlaid else k]
        colour, marker = _style(j)
        lags = [lag for lag, _ in f.carry_over]
        estimates = [e for _, e in f.carry_over]
        lows = np.clip([e.low for e in estimates], *ylim)
        highs = np.clip([e.high for e in estimates], *ylim)
        values = np.clip([e.value for e in estimates], *ylim)
        (line,) = ax.plot(lags, values, marker=marker, color=colour)
        ax.fill_between(lags, lows, highs, color=colour, alpha=0.15, linewidth=0)
        if overlaid:
            handles.append(line)
            labels.append(f"{_label(m)} ({_life_note(f)})")
        else:
            ax.set_title(f"{_label(m, 24)}\n{_life_note(f)}", fontsize=FONT_PT, color=colour)
    for ax in axes[len(curves) :] if not overlaid else []:
        ax.set_visible(False)
    for ax in axes:
        ax.axhline(0, color="#999", linewidth=0.8)
        ax.set_ylim(*ylim)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.yaxis.set_major_formatter(_percent(signed=True))
        ax.spines[["top", "right"]].set_visible(False)
    title = "How long a one-off instruction sticks (bands: intervals)"
    lags = f"turns since {_request(models).replace('a ', 'the ', 1)}"
    if overlaid:
        axes[0].set_xlabel(lags)
        axes[0].set_ylabel("carry-over, net of base rate")
        axes[0].set_title(title, loc="left")
        _legend_below(fig, handles, labels, size[0])
    else:
        fig.supxlabel(lags, fontsize=FONT_PT)
        fig.supylabel("carry-over, net of base rate", fontsize=FONT_PT)
        fig.suptitle(title, fontsize=FONT_PT + 1)
    return fig


def carry_over(models: list[ModelMetrics]) -> str | None:
    return data_uri(carry_over_figure(models))


@_styled
def tradeoff_figure(models: list[ModelMetrics]) -> Figure | None:
    """Each model as a point: excess stickiness against forget rate. Low on both is best;
    a model that ignores instructions escapes stickiness only by forgetting."""
    points = [
        (j, m, m.families[OVERALL])
        for j, m in enumerate(models)
        if OVERALL in m.families
        and not (
            np.isnan(m.families[OVERALL].excess.value) or np.isnan(m.families[OVERALL].forget.value)
        )
    ]
    if not points:
        return None
    xs = [v for _, _, f in points for v in (f.excess.value, f.excess.low, f.excess.high)]
    ys = [v for _, _, f in points for v in (f.forget.value, f.forget.low, f.forget.high)]
    xlim = _span(xs, -1.0, 1.0, keep=(0.0, 0.1))
    # A floor on the forget axis: zoomed to 0-5%, a 1-point difference would look large.
    ylim = _span(ys, 0.0, 1.0, keep=(0.0, 0.2))
    ylim = (min(ylim[0], -0.02), ylim[1])  # a forget rate of 0 sits on the axis, not under it
    fig = Figure(figsize=(6.4, 4.6 + 0.25 * math.ceil(len(points) / 2)), layout="constrained")
    ax = fig.add_subplot()
    ax.axvspan(xlim[0], 0.05, color="#e8f6ec", zorder=0)
    handles = []
    for j, _, f in points:
        colour, marker = _style(j)
        handles.append(
            ax.errorbar(
                f.excess.value,
                f.forget.value,
                xerr=_errors([f.excess], *xlim),
                yerr=_errors([f.forget], *ylim),
                fmt=marker,
                color=colour,
                markersize=7,
                capsize=3,
            )
        )
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("excess stickiness (overall)")
    ax.set_ylabel("forget rate (standing rules)")
    ax.xaxis.set_major_formatter(_percent(signed=True))
    ax.yaxis.set_major_formatter(_percent())
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Stickiness against forgetting: the ideal is the lower left", loc="left")
    _legend_below(fig, handles, [_label(m) for _, m, _ in points], 6.2)
    return fig


def stickiness_vs_forgetting(models: list[ModelMetrics]) -> str | None:
    return data_uri(tradeoff_figure(models))


@_styled
def phrasing_figure(table: pd.DataFrame | None) -> Figure | None:
    """Fault rate per model by the phrasing of the instruction, all families together:
    models as rows, so their names read across however many there are."""
    if table is None or table.empty:
        return None
    pooled = table.groupby(["model", "phrasing"], sort=True)[["faults", "chances"]].sum()
    pooled["rate"] = pooled["faults"] / pooled["chances"].where(pooled["chances"] > 0)
    models = list(dict.fromkeys(pooled.index.get_level_values(0)))
    phrasings = sorted(set(pooled.index.get_level_values(1)))
    rates = pooled["rate"].dropna()
    if rates.empty:
        return None
    height = 0.8 / len(phrasings)
    fig = Figure(
        figsize=(7.0, len(models) * (0.15 * len(phrasings) + 0.2) + 1.8), layout="constrained"
    )
    ax = fig.add_subplot()
    # Shades of one hue: the distinct colours stand for models in the other figures.
    shades = matplotlib.colormaps["cividis"](np.linspace(0.1, 0.8, len(phrasings)))
    for k, p in enumerate(phrasings):
        shown = [(i, pooled["rate"].get((m, p), np.nan)) for i, m in enumerate(models)]
        shown = [(i, r) for i, r in shown if not np.isnan(r)]  # no bar where nothing was seen
        bars = ax.barh(
            [i + (k - (len(phrasings) - 1) / 2) * height for i, _ in shown],
            [r for _, r in shown],
            height,
            label=f"phrasing {p + 1}",
            color=shades[k],
        )
        # The number too: a rate of 0 draws no bar, and would look like no data.
        ax.bar_label(bars, labels=[_percent()(r) for _, r in shown], padding=3)
    ax.set_yticks(
        range(len(models)), [textwrap.fill(m, 30, break_on_hyphens=False) for m in models]
    )
    ax.set_ylim(len(models) - 0.5, -0.5)
    ax.set_xlim(*_span(rates.tolist(), 0.0, 1.0, keep=(0.0, 0.1)))
    ax.set_xlim(0, ax.get_xlim()[1])  # bars start at zero
    ax.xaxis.set_major_formatter(_percent())
    ax.set_xlabel("fault rate (unrequested, ignored stop or forgotten rule, per chance)")
    ax.grid(axis="x", color="#ddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Does the wording matter? Faults by phrasing of the instruction", loc="left")
    handles, labels = ax.get_legend_handles_labels()
    _legend_below(fig, handles, labels, 6.8)
    return fig


def by_phrasing(table: pd.DataFrame | None) -> str | None:
    return data_uri(phrasing_figure(table))
