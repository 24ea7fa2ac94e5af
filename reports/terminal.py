"""Tables printed at the end of a run or an analysis, with rich."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from analysis.metrics import OVERALL, ModelMetrics
from reports.verdict import model_sentences, turns, with_interval


def metrics_table(models: list[ModelMetrics]) -> Table:
    table = Table(
        title="Stickiness per model and family (95% intervals)",
        caption="excess = unrequested rate after a one-off request minus the control's rate"
        + ("; * simulated model" if any(m.simulated for m in models) else ""),
    )
    for name, justify in [
        ("model", "left"),
        ("family", "left"),
        ("unrequested", "right"),
        ("base", "right"),
        ("excess", "right"),
        ("half-life", "right"),
        ("ignored stop", "right"),
        ("reverted", "right"),
        ("forgot", "right"),
        ("clean^k", "right"),
    ]:
        table.add_column(name, justify=justify, overflow="fold")
    harnesses = {m.harness for m in models}
    for m in models:
        label = m.model + ("*" if m.simulated else "")
        if len(harnesses) > 1:
            label += f" / {m.harness}"
        if m.failed_runs:
            label += f" ({m.failed_runs} of {m.runs} runs failed)"
        shown = [(n, f) for n, f in m.families.items() if n != OVERALL or len(m.families) > 2]
        for i, (name, f) in enumerate(shown):
            clean = (
                f"k={f.clean_k[-1][0]}: {with_interval(f.clean_k[-1][1], compact=True)}"
                if f.clean_k
                else "n/a"
            )
            table.add_row(
                escape(label) if i == 0 else "",
                name,
                with_interval(f.unrequested, compact=True),
                with_interval(f.base, compact=True),
                with_interval(f.excess, signed=True, compact=True),
                turns(f.half_life),
                with_interval(f.revoke_violation, compact=True),
                with_interval(f.revert, compact=True),
                with_interval(f.forget, compact=True),
                clean,
                end_section=i == len(shown) - 1,
            )
    return table


def print_summary(console: Console, models: list[ModelMetrics]) -> None:
    console.print(metrics_table(models))
    for m in models:
        for family, sentence in model_sentences(m):
            console.print(
                f"[bold]{escape(m.model)}[/bold] ({escape(m.harness)}, {family}): "
                f"{escape(sentence)}",
                highlight=False,
            )
