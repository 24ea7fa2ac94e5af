"""The summary table printed at the end of a run, with rich."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from analysis.metrics import ModelSummary
from reports.verdict import sentence, with_interval


def summary_table(summaries: list[ModelSummary]) -> Table:
    table = Table(
        title="Unrequested commits per opportunity, 95% intervals",
        caption="* simulated model" if any(s.simulated for s in summaries) else None,
    )
    table.add_column("model", overflow="fold")
    table.add_column("runs", justify="right")
    table.add_column("after request", justify="right")
    table.add_column("never asked", justify="right")
    table.add_column("excess", justify="right")
    table.add_column("ignored stop", justify="right")
    harnesses = {s.harness for s in summaries}
    for s in summaries:
        label = s.model + ("*" if s.simulated else "")
        if len(harnesses) > 1:
            label += f" / {s.harness}"
        runs = str(s.runs) + (f" ({s.failed_runs} failed)" if s.failed_runs else "")
        table.add_row(
            escape(label),
            runs,
            with_interval(s.unrequested, compact=True),
            with_interval(s.base, compact=True),
            with_interval(s.excess, signed=True, compact=True),
            with_interval(s.violations, compact=True),
        )
    return table


def print_summary(console: Console, summaries: list[ModelSummary]) -> None:
    console.print(summary_table(summaries))
    for s in summaries:
        console.print(
            f"[bold]{escape(s.model)}[/bold] ({escape(s.harness)}): {escape(sentence(s))}",
            highlight=False,
        )
