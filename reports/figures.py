"""Matplotlib figures, rendered to inline PNG data URIs (the report needs no network)."""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from stickiness.analysis.metrics import FamilyMetrics


def _plain_text(draw: Callable) -> Callable:
    """Model names and labels are text, not mathtext: `$x$` in a name would otherwise
    be parsed as TeX (and fail the whole report when it does not parse)."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
            return draw(*args, **kwargs)

    return wrapper


def _data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _errors(estimates: list) -> np.ndarray:
    value = np.array([e.value for e in estimates], dtype=float)
    low = np.array([e.low for e in estimates], dtype=float)
    high = np.array([e.high for e in estimates], dtype=float)
    return np.nan_to_num(np.vstack([value - low, high - value]), nan=0.0).clip(min=0)


@_plain_text
def unrequested_rates(rows: list[tuple[str, FamilyMetrics]]) -> str:
    """Grouped bars: unrequested rate after a one-off request vs. without one."""
    labels = [label for label, _ in rows]
    summaries = [f for _, f in rows]
    x = np.arange(len(summaries))
    width = 0.38
    fig = Figure(figsize=(max(5.0, 1.4 * len(summaries) + 2), 3.6))
    ax = fig.add_subplot()
    for offset, attr, name, colour in (
        (-width / 2, "unrequested", "after a one-off request (treatment)", "#c0392b"),
        (width / 2, "base", "never asked (control)", "#7f8c8d"),
    ):
        estimates = [getattr(s, attr) for s in summaries]
        values = np.nan_to_num([e.value for e in estimates], nan=0.0)
        ax.bar(
            x + offset,
            values,
            width,
            label=name,
            color=colour,
            yerr=_errors(estimates),
            capsize=4,
            error_kw={"elinewidth": 1},
        )
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("unrequested behaviour\nper opportunity")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Unrequested behaviour (95% intervals, clustered by scenario and run)", fontsize=9)
    return _data_uri(fig)


def _label(m) -> str:
    return m.model + ("" if m.harness == "minimal" else f" / {m.harness}")


@_plain_text
def family_heatmap(models: list) -> str | None:
    """Model x family grid of excess stickiness (points), the report's map at a glance."""
    families = sorted({f for m in models for f in m.families if f != "overall"})
    if not families:
        return None
    grid = np.array(
        [
            [m.families[f].excess.value if f in m.families else np.nan for f in families]
            for m in models
        ],
        dtype=float,
    )
    fig = Figure(figsize=(1.3 * len(families) + 2.5, 0.55 * len(models) + 1.6))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(families)), families, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(models)), [_label(m) for m in models], fontsize=8)
    for (i, j), value in np.ndenumerate(grid):
        text = "n/a" if np.isnan(value) else f"{value:+.0%}"
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=8,
            color="white" if not np.isnan(value) and abs(value) > 0.5 else "black",
        )
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02).ax.tick_params(labelsize=7)
    ax.set_title("Excess stickiness by family (treatment minus control)", fontsize=9)
    return _data_uri(fig)


@_plain_text
def carry_over(models: list) -> str | None:
    """Carry-over by lag (overall) with its interval band; half-life in the legend."""
    curves = [
        (m, m.families["overall"])
        for m in models
        if "overall" in m.families and m.families["overall"].carry_over
    ]
    if not curves:
        return None
    fig = Figure(figsize=(6.0, 3.4))
    ax = fig.add_subplot()
    for m, f in curves:
        lags = [lag for lag, _ in f.carry_over]
        values = [e.value for _, e in f.carry_over]
        lows = [e.low for _, e in f.carry_over]
        highs = [e.high for _, e in f.carry_over]
        life = f.half_life.value
        note = "n/a" if np.isnan(life) else ("no decay" if np.isinf(life) else f"{life:.1f}")
        (line,) = ax.plot(lags, values, marker="o", label=f"{_label(m)} (half-life {note})")
        ax.fill_between(lags, lows, highs, color=line.get_color(), alpha=0.15)
    ax.axhline(0, color="#999", linewidth=0.8)
    ax.set_xlabel("turns since the one-off request")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("carry-over, net of base rate")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(frameon=False, fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("How long a one-off instruction sticks (95% bands)", fontsize=9)
    return _data_uri(fig)


@_plain_text
def stickiness_vs_forgetting(models: list) -> str | None:
    """Each model as a point: excess stickiness against forget rate. Low on both is best;
    a model that ignores instructions escapes stickiness only by forgetting."""
    points = [(m, m.families["overall"]) for m in models if "overall" in m.families]
    points = [
        (m, f) for m, f in points if not (np.isnan(f.excess.value) or np.isnan(f.forget.value))
    ]
    if not points:
        return None
    fig = Figure(figsize=(5.2, 4.0))
    ax = fig.add_subplot()
    ax.axvspan(-1, 0.05, ymin=0, ymax=1, color="#e8f6ec", zorder=0)
    for m, f in points:
        ax.errorbar(
            f.excess.value,
            f.forget.value,
            xerr=[
                [max(0, f.excess.value - f.excess.low)],
                [max(0, f.excess.high - f.excess.value)],
            ],
            yerr=[
                [max(0, f.forget.value - f.forget.low)],
                [max(0, f.forget.high - f.forget.value)],
            ],
            fmt="o",
            capsize=3,
        )
        ax.annotate(
            _label(m),
            (f.excess.value, f.forget.value),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.set_xlim(-0.2, 1)
    ax.set_ylim(-0.02, 1)
    ax.set_xlabel("excess stickiness (overall)")
    ax.set_ylabel("forget rate (standing rules)")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Stickiness against forgetting: the ideal is the lower left", fontsize=9)
    return _data_uri(fig)


@_plain_text
def by_phrasing(table) -> str | None:
    """Fault rate per model by the phrasing of the instruction, all families together."""
    if table is None or table.empty:
        return None
    pooled = table.groupby(["model", "phrasing"], sort=True)[["faults", "chances"]].sum()
    pooled["rate"] = pooled["faults"] / pooled["chances"].where(pooled["chances"] > 0)
    models = list(dict.fromkeys(pooled.index.get_level_values(0)))
    phrasings = sorted(set(pooled.index.get_level_values(1)))
    width = 0.8 / max(1, len(phrasings))
    fig = Figure(figsize=(max(4.5, 1.5 * len(models) + 2), 3.2))
    ax = fig.add_subplot()
    x = np.arange(len(models))
    for k, p in enumerate(phrasings):
        values = [pooled["rate"].get((m, p), np.nan) for m in models]
        ax.bar(
            x + (k - (len(phrasings) - 1) / 2) * width,
            np.nan_to_num(values),
            width,
            label=f"phrasing {p + 1}",
        )
    ax.set_xticks(x, models, fontsize=8)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_ylabel("fault rate")
    ax.legend(frameon=False, fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Does the wording matter? Faults by phrasing of the instruction", fontsize=9)
    return _data_uri(fig)
