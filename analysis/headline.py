"""The answer a reader wants first: which model is stickier, by how much, where, and
how sure. One record per model, ranked stickiest first, each compared with a
reference model (the baseline named, else the least sticky)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from stickiness.analysis.bootstrap import Estimate
from stickiness.analysis.metrics import OVERALL, ModelMetrics
from stickiness.scenarios.model import TRUTH_BEHAVIOURS

NAN = Estimate(float("nan"), float("nan"), float("nan"))
TOP_FAMILIES = 2  # named in "most in ..."


def model_label(m: ModelMetrics) -> str:
    return m.model if m.harness == "minimal" else f"{m.model} / {m.harness}"


@dataclass(frozen=True)
class ModelAnswer:
    model: str  # "model" or "model / harness"
    simulated: bool
    observed: bool  # imported sessions
    rank: int  # 1 = stickiest
    excess: Estimate  # overall excess stickiness
    ignored_stop: Estimate  # overall rate of doing it after a revocation
    forgot: Estimate  # overall rate of forgetting a standing rule
    top_families: list[str] = field(default_factory=list)  # clearly sticky, most first
    unrequested: Estimate = NAN  # overall rate of doing it unasked after a request
    # The second axis (see truth_metrics): NaN where no scenario probed it.
    false_claim: Estimate = NAN
    confident_wrong: Estimate = NAN
    looked: Estimate = NAN
    reference: str | None = None  # the model it is compared with
    difference: Estimate = NAN  # excess minus the reference's
    # Adjacent in the ranking but not told apart: the paired difference with the next
    # model's interval holds 0.
    tied_with_next: bool = False

    @property
    def sticky_word(self) -> str:
        """One word for the overall excess: what the interval allows one to say."""
        e = self.excess
        if math.isnan(e.value):
            return "n/a"
        if math.isnan(e.low):
            return "too few runs"
        if e.low > 0:
            return "sticky"
        if e.high < 0:
            return "less"  # less often after a request than without one
        return "unclear"

    @classmethod
    def from_dict(cls, d: dict) -> ModelAnswer:
        """Back from metrics.json's `headline`."""
        return cls(
            model=d["model"],
            simulated=d["simulated"],
            observed=d["observed"],
            rank=d["rank"],
            excess=Estimate.from_dict(d["excess"]),
            ignored_stop=Estimate.from_dict(d["ignored_stop"]),
            forgot=Estimate.from_dict(d["forgot"]),
            top_families=list(d["top_families"]),
            unrequested=Estimate.from_dict(d.get("unrequested", {})),
            false_claim=Estimate.from_dict(d.get("false_claim", {})),
            confident_wrong=Estimate.from_dict(d.get("confident_wrong", {})),
            looked=Estimate.from_dict(d.get("looked", {})),
            reference=d["reference"],
            difference=Estimate.from_dict(d["difference"]),
            tied_with_next=d["tied_with_next"],
        )

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "simulated": self.simulated,
            "observed": self.observed,
            "rank": self.rank,
            "verdict": self.sticky_word,
            "excess": self.excess.as_dict(),
            "ignored_stop": self.ignored_stop.as_dict(),
            "forgot": self.forgot.as_dict(),
            "top_families": self.top_families,
            "unrequested": self.unrequested.as_dict(),
            "false_claim": self.false_claim.as_dict(),
            "confident_wrong": self.confident_wrong.as_dict(),
            "looked": self.looked.as_dict(),
            "reference": self.reference,
            "difference": self.difference.as_dict(),
            "tied_with_next": self.tied_with_next,
        }


@dataclass(frozen=True)
class Headline:
    confidence: float
    answers: list[ModelAnswer]  # stickiest first

    def as_dict(self) -> dict:
        return {"confidence": self.confidence, "models": [a.as_dict() for a in self.answers]}


def _overall(m: ModelMetrics):
    """The stickiness figures: overall, else the one family measured (the truth
    families are the other axis)."""
    if OVERALL in m.families:
        return m.families[OVERALL]
    return next((f for n, f in m.families.items() if n not in TRUTH_BEHAVIOURS), None)


@dataclass(frozen=True)
class _Unmeasured:
    """Stickiness figures of a model whose runs probed only the other axis."""

    excess: Estimate = NAN
    revoke_violation: Estimate = NAN
    forget: Estimate = NAN
    unrequested: Estimate = NAN


_UNMEASURED = _Unmeasured()


def _top_families(m: ModelMetrics) -> list[str]:
    clear = [
        (f.excess.value, name)
        for name, f in m.families.items()
        if name != OVERALL
        and name not in TRUTH_BEHAVIOURS
        and not math.isnan(f.excess.low)
        and f.excess.low > 0
    ]
    return [name for _, name in sorted(clear, reverse=True)[:TOP_FAMILIES]]


def excess_difference(model: ModelMetrics, reference: ModelMetrics, confidence: float) -> Estimate:
    """Overall excess of `model` minus `reference`'s: the difference of the two figures
    the tables show, with an interval from their bootstrap replicates. Each model is
    resampled on its own, which ignores that both ran the same scenarios and seeds (a
    positive correlation), so the interval errs on the wide side."""
    a, b = _overall(model), _overall(reference)
    if a is None or b is None:
        return NAN
    point = a.excess.value - b.excess.value
    ra, rb = a.excess_replicates, b.excess_replicates
    if ra is None or rb is None or math.isnan(point):
        return Estimate(point, float("nan"), float("nan"))
    n = min(len(ra), len(rb))
    spread = (ra[:n] - rb[:n])[np.isfinite(ra[:n] - rb[:n])]
    if spread.size == 0:
        return Estimate(point, float("nan"), float("nan"))
    spread = spread - spread.mean()
    tail = (1 - confidence) / 2
    low, high = np.quantile(spread, [tail, 1 - tail])
    return Estimate(point, point + float(low), point + float(high))


def headline(
    models: list[ModelMetrics], *, confidence: float = 0.95, baseline: str | None = None
) -> Headline:
    """Rank the models by overall excess and compare each with the reference."""
    measured = [m for m in models if _overall(m) is not None or m.truth.measured]

    def excess_of(m: ModelMetrics) -> float:
        o = _overall(m)
        value = o.excess.value if o is not None else math.nan
        return -math.inf if math.isnan(value) else value

    ranked = sorted(measured, key=excess_of, reverse=True)
    reference = next((m for m in ranked if baseline in (m.model, model_label(m))), None)
    if reference is None and len(ranked) > 1:
        reference = ranked[-1]

    def diff(a: ModelMetrics, b: ModelMetrics) -> Estimate:
        return excess_difference(a, b, confidence)

    answers = []
    for rank, m in enumerate(ranked, 1):
        o = _overall(m) or _UNMEASURED
        compared = reference is not None and m is not reference
        nxt = ranked[rank] if rank < len(ranked) else None
        gap = diff(m, nxt) if nxt is not None else NAN
        tied = not math.isnan(gap.low) and gap.low <= 0 <= gap.high
        answers.append(
            ModelAnswer(
                model=model_label(m),
                simulated=m.simulated,
                observed=m.observed,
                rank=rank,
                excess=o.excess,
                ignored_stop=o.revoke_violation if o.revoke_violation.denominator else NAN,
                forgot=o.forget if o.forget.denominator else NAN,
                top_families=_top_families(m),
                unrequested=o.unrequested,
                false_claim=m.truth.false_claim,
                confident_wrong=m.truth.confident_wrong,
                looked=m.truth.looked,
                reference=model_label(reference) if compared else None,
                difference=diff(m, reference) if compared else NAN,
                tied_with_next=tied,
            )
        )
    return Headline(confidence, answers)
