"""Tables printed at the end of a run or an analysis, with rich."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stickiness.analysis.metrics import OVERALL, FamilyMetrics, ModelMetrics
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
        "Stickiness: unrequested behaviour after a one-off request (95% intervals)",
        ("unrequested", "base", "excess", "half-life\n(turns)"),
    ),
    ("Rules and consistency (95% intervals)", ("ignored\nstop", "reverted", "forgot", "clean^")),
)


def metrics_tables(models: list[ModelMetrics]) -> list[Table]:
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


def print_summary(console: Console, models: list[ModelMetrics]) -> None:
    for table in metrics_tables(models):
        console.print(table)
    for m in models:
        for family, sentence in model_sentences(m):
            console.print(
                f"[bold]{escape(m.model)}[/bold] ({escape(m.harness)}, {family}): "
                f"{escape(sentence)}",
                highlight=False,
            )


def usage_table(trajectories) -> Table | None:
    """Model calls, tokens and cost per model (cost only where a price is known)."""
    rows = usage_rows(trajectories)
    if not any(r["model_calls"] for r in rows):
        return None
    table = Table(title="Usage", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in (
        "model",
        "runs",
        "calls",
        "input",
        "output",
        "cache read",
        "cache write",
        "cost (USD)",
    ):
        table.add_column(name, justify="left" if name == "model" else "right")
    for r in rows:
        cost = f"{r['cost_usd']:.4f}" if r["cost_usd"] is not None else "no price"
        table.add_row(
            escape(r["model"]),
            str(r["runs"]),
            f"{r['model_calls']:,}",
            f"{r['input_tokens']:,}",
            f"{r['output_tokens']:,}",
            f"{r['cache_read_tokens']:,}",
            f"{r['cache_write_tokens']:,}",
            cost,
        )
    return table


def print_usage(console: Console, trajectories) -> None:
    table = usage_table(trajectories)
    if table is not None:
        console.print(table)
