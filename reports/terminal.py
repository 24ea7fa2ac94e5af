"""Tables printed at the end of a run or an analysis, with rich."""

from __future__ import annotations

import math

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stickiness.analysis.headline import Headline
from stickiness.analysis.metrics import OVERALL, FamilyMetrics, ModelMetrics
from stickiness.reports.answer import answer_lines
from stickiness.reports.usage import usage_rows
from stickiness.reports.verdict import model_sentences, turns, with_interval


def _shown(m: ModelMetrics) -> list[tuple[str, FamilyMetrics]]:
    return [(n, f) for n, f in m.families.items() if n != OVERALL or len(m.families) > 2]


def _cells(f: FamilyMetrics) -> dict[str, str]:
    clean = with_interval(f.clean_k[-1][1], compact=True) if f.clean_k else "n/a"
    cells = {
        "unrequested": with_interval(f.unrequested, compact=True),
        "base": with_interval(f.base, compact=True),
        "excess": with_interval(f.excess, signed=True, compact=True),
        "half-life\n(turns)": turns(f.half_life),
        "ignored\nstop": with_interval(f.revoke_violation, compact=True),
        "reverted": with_interval(f.revert, compact=True),
        "forgot": with_interval(f.forget, compact=True),
        f"clean^{f.clean_k[-1][0] if f.clean_k else 'k'}": clean,
    }
    return cells


# Two tables rather than one wide one: each fits an 80-column CI log.
_TABLES = (
    (
        "Stickiness: unrequested behaviour after a one-off request ({:.0%} intervals)",
        ("unrequested", "base", "excess", "half-life\n(turns)"),
    ),
    ("Rules and consistency ({:.0%} intervals)", ("ignored\nstop", "reverted", "forgot", "clean^")),
)


TRUTH_COLUMNS = (("false\nclaims", "false_claim"), ("wrong\nanswers", "confident_wrong"))


def answer_table(h: Headline) -> Table:
    """One line per model, stickiest first: the figures a reader wants before any other."""
    table = Table(
        title=f"Stickiness, stickiest first ({h.confidence:.0%} intervals)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    # Long model names keep their width (up to a point) and the figures wrap instead,
    # at the space between value and interval, so a name is never cut to nothing.
    longest = max((len(a.model) + 1 for a in h.answers), default=5)
    table.add_column("model", overflow="fold", min_width=min(longest, 28))
    # The second axis only where some scenario probed it.
    truth = [
        (name, attr)
        for name, attr in TRUTH_COLUMNS
        if any(not math.isnan(getattr(a, attr).value) for a in h.answers)
    ]
    sticky = [
        (name, attr)
        for name, attr in (
            ("excess", "excess"),
            ("ignored\nstop", "ignored_stop"),
            ("forgot", "forgot"),
        )
        if any(not math.isnan(getattr(a, attr).value) for a in h.answers)
    ] or [("excess", "excess")]
    shown = [*sticky, *truth]
    for name, _ in shown:
        # Figures wrap at the space between value and interval rather than lose digits.
        table.add_column(name, justify="right", min_width=6, overflow="fold")
    table.add_column("verdict", min_width=6)
    for a in h.answers:
        table.add_row(
            escape(a.model + ("*" if a.simulated else "")),
            *(
                with_interval(getattr(a, attr), signed=attr == "excess", compact=True)
                for _, attr in shown
            ),
            a.sticky_word,
        )
    table.caption = (
        "excess: how much more often done unasked after a request than "
        + ("before any" if all(a.observed for a in h.answers) else "when never asked")
        + "; "
        "sticky / unclear / less: its interval lies above / holds / lies below 0"
        + ("; * simulated model" if any(a.simulated for a in h.answers) else "")
    )
    return table


def metrics_tables(models: list[ModelMetrics], confidence: float = 0.95) -> list[Table]:
    rows = []
    harnesses = {m.harness for m in models}
    for m in models:
        label = m.model + ("*" if m.simulated else "")
        if len(harnesses) > 1:
            label += f" / {m.harness}"
        if m.failed_runs:
            label += f" ({m.failed_runs}/{m.runs} failed)"
        shown = _shown(m)
        for i, (name, f) in enumerate(shown):
            rows.append((label if i == 0 else "", name, _cells(f), i == len(shown) - 1))
    every = list(dict.fromkeys(k for _, _, cells, _ in rows for k in cells))
    tables = []
    for title, wanted in _TABLES:
        # Columns that say n/a on every row (no revoke scenario, say) are left out.
        columns = [
            c
            for c in every
            if c.startswith(wanted) and any(cells.get(c, "n/a") != "n/a" for _, _, cells, _ in rows)
        ]
        if not columns:
            continue
        title = title.format(confidence)
        if all(m.observed for m in models):  # imported sessions: any request counts
            title = title.replace("a one-off request", "a request")
        table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("model", overflow="fold")
        table.add_column("family")
        for c in columns:
            table.add_column(c, justify="right")
        for label, name, cells, last in rows:
            table.add_row(
                escape(label), name, *(cells.get(c, "") for c in columns), end_section=last
            )
        tables.append(table)
    if tables and any(m.simulated for m in models):
        tables[-1].caption = "* simulated model"
    return tables


def print_summary(
    console: Console, models: list[ModelMetrics], h: Headline, verbose: bool = False
) -> None:
    """The answer first (a table and a line per model); per-family tables and the
    long sentences with `verbose`."""
    console.print(answer_table(h))
    for line in answer_lines(h):
        console.print(escape(line), highlight=False)
    if not verbose:
        console.print("[dim]per-family tables and sentences: -v[/dim]")
        return
    for table in metrics_tables(models, h.confidence):
        console.print(table)
    for m in models:
        for family, sentence in model_sentences(m):
            console.print(
                f"[bold]{escape(m.model)}[/bold] ({escape(m.harness)}, {family}): "
                f"{escape(sentence)}",
                highlight=False,
            )


def cost_text(row: dict) -> str:
    if row["simulated"]:
        return "n/a (simulated)"
    return f"{row['cost_usd']:.4f}" if row["cost_usd"] is not None else "no price"


def usage_table(trajectories) -> Table | None:
    """Model calls, tokens and cost per model (cost only where a price is known)."""
    rows = usage_rows(trajectories)
    if not any(r["model_calls"] for r in rows):
        return None
    table = Table(title="Usage", box=box.SIMPLE_HEAD, pad_edge=False)
    counts = {
        "calls": "model_calls",
        "input": "input_tokens",
        "output": "output_tokens",
        "cache read": "cache_read_tokens",
        "cache write": "cache_write_tokens",
    }
    # Token columns nobody used (simulated models, no prompt cache) would only push the
    # cost off an 80-column log.
    shown = {name: key for name, key in counts.items() if any(r[key] for r in rows)}
    table.add_column("model", overflow="fold")
    table.add_column("runs", justify="right")
    for name in shown:
        table.add_column(name, justify="right")
    table.add_column("cost (USD)", justify="right", no_wrap=True)
    for r in rows:
        table.add_row(
            escape(r["model"]),
            str(r["runs"]),
            *(f"{r[key]:,}" for key in shown.values()),
            cost_text(r),
        )
    return table


def print_usage(console: Console, trajectories) -> None:
    table = usage_table(trajectories)
    if table is not None:
        console.print(table)
