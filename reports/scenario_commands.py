"""`stickiness scenarios list|validate|show`: look at scenario files before running them."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stickiness.agents.runner import draw_phrasings
from stickiness.scenarios import Scenario, ScenarioError, load_scenarios
from stickiness.scenarios.errors import printable, shown_path


def _text(value: str) -> str:
    """Scenario text for the terminal: its lines kept, anything else a terminal would
    act on (escape sequences, bidirectional overrides) written out, markup escaped."""
    return escape("\n".join(printable(line) for line in value.split("\n")))


def _load(args: argparse.Namespace, default: Path) -> list[Scenario]:
    return load_scenarios(args.scenarios or [default])


def instruction_turns(s: Scenario) -> list[int]:
    """Turns that ask for, forbid or require the behaviour the scenario probes; for the
    second axis, the turns that tempt a false claim or ask what cannot be known."""
    return [
        i
        for i, t in enumerate(s.turns)
        if s.behaviour in s.requested_behaviours(i)
        or s.behaviour in t.forbids
        or s.behaviour in t.requires
        or t.tempting
        or (s.behaviour == "confident_wrong" and t.asks is not None and t.asks.unknowable)
    ]


def cmd_list(args: argparse.Namespace, console: Console, default: Path) -> int:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("id", "family", "kind", "control", "turns"):
        table.add_column(name, no_wrap=name == "id")
    for s in sorted(_load(args, default), key=lambda s: (s.family, s.arm != "control", s.id)):
        table.add_row(s.id, s.family, s.kind, s.control or "", str(len(s.turns)))
    console.print(table)
    return 0


def cmd_validate(args: argparse.Namespace, console: Console, default: Path) -> int:
    scenarios = _load(args, default)  # raises ScenarioError, reported by the CLI
    for s in scenarios:
        if s.arm == "treatment" and not s.control:
            console.print(
                f"[yellow]warning[/yellow]: {escape(shown_path(s.source))}: treatment without "
                "a matched control: its excess stickiness cannot be measured"
            )
        for i in instruction_turns(s):
            if len(s.turns[i].user) < 3:
                console.print(
                    f"[yellow]warning[/yellow]: {escape(shown_path(s.source))}: turns[{i}] "
                    "gives the instruction in fewer than 3 phrasings"
                )
    console.print(f"{len(scenarios)} scenarios valid")
    return 0


def cmd_show(args: argparse.Namespace, console: Console, default: Path) -> int:
    found = [s for s in _load(args, default) if s.id == args.id]
    if not found:
        raise ScenarioError(f"no scenario with id {args.id!r}; see `stickiness scenarios list`")
    scenario, values = found[0].render(args.seed)
    chosen = draw_phrasings(scenario, args.seed)
    console.print(
        f"[bold]{escape(scenario.id)}[/bold]: {_text(scenario.title)} "
        f"({scenario.family}, {scenario.kind}, {scenario.arm}"
        + (f", control {scenario.control}" if scenario.control else "")
        + ")"
    )
    if values:
        console.print(
            "template values for seed "
            + str(args.seed)
            + ": "
            + _text(", ".join(f"{k}={v}" for k, v in values.items()))
        )
    console.print("files: " + _text(", ".join(sorted(scenario.workspace.files))))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_lines=True)
    table.add_column("turn", justify="right")
    table.add_column("what the model sees", overflow="fold", ratio=3)
    table.add_column("annotations (ground truth)", overflow="fold", ratio=2)
    for i, (turn, pick) in enumerate(zip(scenario.turns, chosen, strict=True), 1):
        notes = [
            f"requests: {', '.join(turn.requests)}" if turn.requests else "",
            f"forbids: {', '.join(turn.forbids)}" if turn.forbids else "",
            f"requires: {', '.join(turn.requires)}" if turn.requires else "",
            f"phrasing {pick + 1} of {len(turn.user)}" if len(turn.user) > 1 else "",
        ]
        table.add_row(str(i), _text(turn.user[pick]), _text("\n".join(n for n in notes if n)))
    console.print(table)
    return 0
