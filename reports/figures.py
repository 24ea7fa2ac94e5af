"""Matplotlib figures, rendered to inline PNG data URIs (the report needs no network)."""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.figure import Figure

from analysis.metrics import FamilyMetrics


def _data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _errors(estimates: list) -> np.ndarray:
    value = np.array([e.value for e in estimates], dtype=float)
    low = np.array([e.low for e in estimates], dtype=float)
    high = np.array([e.high for e in estimates], dtype=float)
    return np.nan_to_num(np.vstack([value - low, high - value]), nan=0.0).clip(min=0)


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
