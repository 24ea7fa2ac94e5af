from __future__ import annotations

import numpy as np
import pytest
from factories import trajectory, turn

from analysis.bootstrap import interval, ratio_draws
from analysis.metrics import summarise
from analysis.observe import observe


def test_events_mark_requests_carry_over_violations_and_lag():
    t = trajectory(
        "r1",
        [
            turn(1, requests=["edit:a.py", "commit"], commits=1),
            turn(2, commits=1),  # carried over: unrequested, lag 1
            turn(3, changed=()),  # nothing to commit: no opportunity
            turn(4, forbids=["commit"], commits=1),  # told to stop, commits anyway
            turn(5),  # still forbidden, behaves
        ],
    )
    ev = observe([t]).set_index("turn")
    assert ev.loc[1, "requested"] and not ev.loc[1, "opportunity"]
    assert ev.loc[2, "unrequested"] and ev.loc[2, "lag"] == 1
    assert not ev.loc[3, "possible"] and not ev.loc[3, "opportunity"]
    assert ev.loc[4, "forbidden"] and ev.loc[4, "violation"] and not ev.loc[4, "opportunity"]
    assert ev.loc[5, "forbidden"] and not ev.loc[5, "violation"]
    assert ev.loc[5, "lag"] == 4
    assert ev["unrequested"].sum() == 1 and ev["violation"].sum() == 1


def test_summary_rates_and_excess():
    treat = [
        trajectory(
            f"t{i}",
            [turn(1, requests=["commit"], commits=1), turn(2, commits=i % 2), turn(3)],
            repeat=i,
        )
        for i in range(4)
    ]
    ctrl = [
        trajectory(
            f"c{i}",
            [turn(1), turn(2), turn(3, commits=int(i == 0))],
            scenario="s0",
            arm="control",
            repeat=i,
        )
        for i in range(4)
    ]
    (s,) = summarise(observe(treat + ctrl), draws=500, seed=3)
    assert (s.unrequested.numerator, s.unrequested.denominator) == (2, 8)
    assert (s.base.numerator, s.base.denominator) == (1, 12)
    assert s.excess.value == pytest.approx(2 / 8 - 1 / 12)
    assert s.unrequested.low <= s.unrequested.value <= s.unrequested.high
    again = summarise(observe(treat + ctrl), draws=500, seed=3)[0]
    assert repr(again) == repr(s)  # seeded: reproducible to the last digit


def test_failed_runs_are_counted_not_analysed():
    ok = trajectory("a", [turn(1, commits=1)], arm="control")
    bad = trajectory("b", [turn(1, commits=1)], arm="control", status="error")
    (s,) = summarise(observe([ok, bad]), draws=100)
    assert (s.runs, s.failed_runs) == (2, 1)
    assert s.base.denominator == 1


def test_bootstrap_resamples_whole_runs_within_scenarios():
    rng = np.random.default_rng(0)
    # One scenario, runs that are all-or-nothing: a turn-level bootstrap would give a
    # narrow interval; resampling runs gives the honest, wide one.
    scen = np.array(["s"] * 10)
    num = np.array([5, 0] * 5, dtype=float)
    den = np.full(10, 5.0)
    reps = ratio_draws(scen, num, den, 2000, rng)
    est = interval(0.5, reps)
    assert est.low < 0.25 and est.high > 0.75
    # Each replicate is a mixture of whole runs: a multiple of 1/10.
    assert np.allclose(reps * 10, np.round(reps * 10))


def test_bootstrap_with_one_scenario_per_arm_is_still_defined():
    rng = np.random.default_rng(1)
    reps = ratio_draws(np.array(["a", "a"]), np.array([0.0, 0.0]), np.array([0.0, 0.0]), 50, rng)
    assert np.isnan(reps).all()
    assert np.isnan(interval(float("nan"), reps).value)
