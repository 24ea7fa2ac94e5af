"""Small, seeded versions of the validation script's claims on the built-in scenarios.

The simulated profiles have known parameters, so the analyser's verdicts are checkable:
sticky carries over, eager is busy but not sticky, forgetful drops standing rules.
"""

from __future__ import annotations

import pytest

from stickiness.agents.models import ModelSpec
from stickiness.agents.runner import plan_runs, run_one
from stickiness.analysis.metrics import analyse
from stickiness.analysis.observe import observe


@pytest.fixture(scope="module")
def commit_metrics(commit_scenarios):
    scenarios = list(commit_scenarios.values())
    models = [
        ModelSpec.parse(m) for m in ("sim:steady", "sim:sticky", "sim:eager", "sim:forgetful")
    ]
    runs = [run_one(s) for s in plan_runs(scenarios, models, 8, base_seed=2026)]
    return {m.model: m.families["commit"] for m in analyse(observe(runs), draws=1000)}


def test_sticky_is_clearly_sticky(commit_metrics):
    f = commit_metrics["sim:sticky"]
    assert f.excess.low > 0.2
    lag1 = dict(f.carry_over)[1]
    assert lag1.low <= 0.8 <= lag1.high  # the profile's persist
    assert f.revoke_violation.value > 0.1


def test_eager_is_busy_but_not_sticky(commit_metrics):
    f = commit_metrics["sim:eager"]
    assert f.unrequested.value > 0.25  # high raw rate ...
    assert f.excess.low <= 0 <= f.excess.high  # ... which the control explains


def test_forgetful_forgets_and_is_not_sticky(commit_metrics):
    f = commit_metrics["sim:forgetful"]
    assert f.forget.value > 0.3 and f.forget.low > 0.15
    assert f.excess.high < 0.15
    assert commit_metrics["sim:steady"].forget.value < 0.1
