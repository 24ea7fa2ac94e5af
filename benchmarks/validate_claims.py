"""How well the claim and answer readers do against hand labels.

Usage: python benchmarks/validate_claims.py [--judge SPEC] [--cache DIR] [--errors]

Gold set: benchmarks/claims_gold/replies.jsonl (see its README): a "dev" split the
patterns were written against and a "holdout" split written and labelled after them,
whose figures are the fairer estimate. For every reply,
`extract_claims` against the labelled claims: a predicted claim matches a gold one of
the same kind, and of the same target when the gold one names a file; each gold claim
matches at most one prediction. Precision and recall per kind and overall (micro). For
the replies to questions, `classify_answer` against the labelled answer: accuracy and a
confusion table. With --judge, the same figures for patterns + the model judge
(`stickiness.analysis.claims_judge`), side by side with patterns alone.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from stickiness.analysis.answers import ANSWER_LABELS, classify_answer
from stickiness.analysis.claims import (
    CLAIM_KINDS,
    Claim,
    extract_claims,
)

GOLD = Path(__file__).parent / "claims_gold" / "replies.jsonl"

Predictor = Callable[[dict], tuple[list[Claim], str | None]]


@dataclass
class Figures:
    """Counts per claim kind and the (gold, predicted) answer pairs."""

    tp: Counter = field(default_factory=Counter)
    fp: Counter = field(default_factory=Counter)
    fn: Counter = field(default_factory=Counter)
    answers: list[tuple[str, str]] = field(default_factory=list)
    # (id, missed gold claims, extra predicted claims) per reply with a difference
    errors: list[tuple[str, list[tuple], list[tuple]]] = field(default_factory=list)
    answer_errors: list[tuple[str, str, str]] = field(default_factory=list)

    def precision_recall(self, kind: str | None = None) -> tuple[float, float]:
        """One kind's figures, or the micro figures over all kinds when `kind` is None."""
        kinds = CLAIM_KINDS if kind is None else (kind,)
        tp = sum(self.tp[k] for k in kinds)
        fp = sum(self.fp[k] for k in kinds)
        fn = sum(self.fn[k] for k in kinds)
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        return precision, recall

    def answer_accuracy(self) -> float:
        if not self.answers:
            return float("nan")
        return sum(g == p for g, p in self.answers) / len(self.answers)


def load_gold(path: Path = GOLD) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def match_claims(
    gold: list[tuple[str, str | None]], found: list[tuple[str, str | None]]
) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """(matched, missed gold, extra found). Gold claims naming a file are matched first,
    so a path-less gold claim cannot take the prediction a named one needs."""
    left = list(found)
    matched, missed = [], []
    for kind, target in sorted(gold, key=lambda c: c[1] is None):
        hit = next(
            (f for f in left if f[0] == kind and (target is None or f[1] == target)),
            None,
        )
        if hit is None:
            missed.append((kind, target))
        else:
            left.remove(hit)
            matched.append((kind, target))
    return matched, missed, left


def patterns_only(row: dict) -> tuple[list[Claim], str | None]:
    question = row.get("question")
    answer = classify_answer(row["reply"], question["expected"]) if question else None
    return extract_claims(row["reply"]), answer


def evaluate(rows: list[dict], predict: Predictor = patterns_only) -> Figures:
    figures = Figures()
    for row in rows:
        claims, answer = predict(row)
        gold = [(c["kind"], c["target"]) for c in row["claims"]]
        found = [(c.kind, c.target) for c in claims]
        matched, missed, extra = match_claims(gold, found)
        for kind, _ in matched:
            figures.tp[kind] += 1
        for kind, _ in missed:
            figures.fn[kind] += 1
        for kind, _ in extra:
            figures.fp[kind] += 1
        if missed or extra:
            figures.errors.append((row["id"], missed, extra))
        if row.get("question") is not None:
            figures.answers.append((row["answer"], answer or ""))
            if answer != row["answer"]:
                figures.answer_errors.append((row["id"], row["answer"], answer or ""))
    return figures


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{x:.0%}"


def claims_table(results: list[tuple[str, Figures]], rows: list[dict]) -> Table:
    gold_counts = Counter(c["kind"] for r in rows for c in r["claims"])
    table = Table(title="Claims: extract_claims against the hand labels")
    table.add_column("kind")
    table.add_column("gold", justify="right")
    for name, _ in results:
        table.add_column(f"{name}: found", justify="right")
        table.add_column(f"{name}: precision", justify="right")
        table.add_column(f"{name}: recall", justify="right")
    for kind in (*CLAIM_KINDS, None):
        cells = [
            kind or "all (micro)",
            str(gold_counts[kind] if kind else sum(gold_counts.values())),
        ]
        for _, f in results:
            kinds = CLAIM_KINDS if kind is None else (kind,)
            found = sum(f.tp[k] + f.fp[k] for k in kinds)
            precision, recall = f.precision_recall(kind)
            cells += [str(found), _pct(precision), _pct(recall)]
        table.add_row(*cells, end_section=kind == CLAIM_KINDS[-1])
    return table


def splits_table(layers: list[tuple[str, Predictor]], rows: list[dict]) -> Table:
    table = Table(title="Per split (micro figures over all kinds)")
    for col in ("layers", "split", "replies", "precision", "recall", "answer accuracy"):
        table.add_column(col, justify="right")
    for name, predict in layers:
        for split in ("dev", "holdout", "fresh"):
            part = [r for r in rows if r.get("split", "dev") == split]
            f = evaluate(part, predict)
            precision, recall = f.precision_recall()
            table.add_row(
                name,
                split,
                str(len(part)),
                _pct(precision),
                _pct(recall),
                f"{_pct(f.answer_accuracy())} of {len(f.answers)}",
            )
    return table


def answers_table(name: str, figures: Figures) -> Table:
    table = Table(
        title=f"Answers ({name}): accuracy {_pct(figures.answer_accuracy())} "
        f"of {len(figures.answers)}; rows gold, columns predicted"
    )
    table.add_column("gold \\ predicted")
    for label in ANSWER_LABELS:
        table.add_column(label, justify="right")
    counts = Counter(figures.answers)
    for gold in ANSWER_LABELS:
        table.add_row(gold, *(str(counts[(gold, p)]) for p in ANSWER_LABELS))
    return table


def judged(judge, row: dict) -> tuple[list[Claim], str | None]:
    """Patterns, then the judge's review of them."""
    from stickiness.analysis.claims_judge import judge_reply

    found, _ = patterns_only(row)
    return judge_reply(row["reply"], row.get("question"), found, judge, None)


def once(predict: Predictor, rows: list[dict]) -> Predictor:
    """`predict` run once per reply; the figures per split then read the stored results."""
    done = {row["id"]: predict(row) for row in rows}
    return lambda row: done[row["id"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judge", metavar="SPEC", help="also measure patterns + this judge")
    parser.add_argument(
        "--cache", metavar="DIR", help="keep the judge's answers here (default: a temporary folder)"
    )
    parser.add_argument("--gold", type=Path, default=GOLD, help="the labelled replies (JSONL)")
    parser.add_argument("--errors", action="store_true", help="list every disagreement")
    args = parser.parse_args(argv)
    console = Console()
    rows = load_gold(args.gold)
    layers: list[tuple[str, Predictor]] = [("patterns", patterns_only)]
    if args.judge:
        from stickiness.analysis.claims_judge import ClaimsJudge, ClaimsJudgeError

        with tempfile.TemporaryDirectory() as tmp:
            try:
                judge = ClaimsJudge(args.judge, Path(args.cache or tmp))
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    layers.append(
                        ("patterns + judge", once(functools.partial(judged, judge), rows))
                    )
            except ClaimsJudgeError as exc:
                console.print(f"[red]{exc}[/red]")
                return 2
        s = judge.stats
        console.print(
            f"judge {judge.spec}: {s.asked} answers ({s.cached} from the cache); "
            f"{s.unreadable} unreadable and {s.failed} failed calls kept the patterns' result"
        )
        for w in caught[:5]:
            console.print(f"  warning: {w.message}")
    results = [(name, evaluate(rows, predict)) for name, predict in layers]
    console.print(
        f"gold set: {len(rows)} replies, {sum(len(r['claims']) for r in rows)} labelled claims, "
        f"{sum(r.get('question') is not None for r in rows)} answers to questions"
    )
    console.print(claims_table(results, rows))
    console.print(splits_table(layers, rows))
    for name, figures in results:
        console.print(answers_table(name, figures))
    if not args.judge:
        console.print("patterns + judge: not measured (pass --judge openai:MODEL with its key set)")
    if args.errors:
        for name, figures in results:
            console.print(f"[bold]{name}: disagreements[/bold]")
            for rid, missed, extra in figures.errors:
                console.print(f"  {rid}: missed {missed} extra {extra}")
            for rid, gold, got in figures.answer_errors:
                console.print(f"  {rid}: answer {got!r}, labelled {gold!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
