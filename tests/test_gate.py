"""The regression gate: verdicts, forgetting, multiple families, sequential looks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from factories import three_scenario_runs

from stickiness.agents.models import ModelSpec
from stickiness.agents.runner import plan_runs
from stickiness.agents.scheduler import run_all
from stickiness.analysis.gate import (
    EXIT_CODES,
    GateError,
    _two_stage_means,
    gate,
)
from stickiness.analysis.group_sequential import boundaries, boundary_at, look_schedule
from stickiness.analysis.observe import observe
from stickiness.analysis.scenario_check import scenario_check
from stickiness.analysis.sequential_gate import sequential_gate
from stickiness.reports.cli import main


def side(model: str, carries, forgets, repeats: int = 8):
    return observe(three_scenario_runs(model, carries, forgets, repeats))


def never(_):
    return False


def always(_):
    return True


def test_a_sticky_candidate_is_a_regression():
    result = gate(side("sim:a", never, never), side("sim:b", always, never), draws=500)
    assert result.verdict == "regression" and result.exit_code == EXIT_CODES["regression"] == 1
    excess = next(c for c in result.checks if c.family == "commit" and c.measure == "excess")
    assert excess.difference.value == pytest.approx(0.5)  # carried at turn 2, not turn 3
    assert excess.verdict == "regression"


def test_the_same_behaviour_passes_once_there_is_enough_to_bound_it():
    # 0 of 8 is no proof that a rate is under 5 points: the intervals stay honest.
    few = gate(side("sim:a", never, never), side("sim:b", never, never), draws=500)
    excess = next(c for c in few.checks if c.measure == "excess" and c.family == "overall")
    assert excess.difference.value == 0 and excess.difference.high > 0.05
    assert few.verdict == "inconclusive" and few.exit_code == 3
    many = gate(side("sim:a", never, never, repeats=300), side("sim:b", never, never, repeats=300))
    assert many.verdict == "pass" and many.exit_code == 0


def test_forgetting_cannot_pass():
    result = gate(side("sim:a", never, never), side("sim:b", never, always), draws=500)
    forget = next(c for c in result.checks if c.family == "commit" and c.measure == "forget")
    assert forget.verdict == "regression" and result.verdict == "regression"


def test_ignoring_a_revocation_is_caught_even_without_carry_over(tmp_path, commit_scenarios):
    # No carry-over at all (persist 0), but every "stop committing" is ignored: excess
    # stickiness cannot see it, the violation check does.
    scenarios = [
        commit_scenarios["commit-then-revoke"],
        commit_scenarios["commit-never-then-edits"],
    ]

    def events(spec: str) -> pd.DataFrame:
        plan = plan_runs(scenarios, [ModelSpec.parse(spec)], 6, 3)
        return observe(run_all(plan, tmp_path / f"{spec.split('?')[0]}.jsonl", concurrency=2))

    result = gate(events("sim:steady"), events("sim:sticky?persist=0&revoke_ignore=1"))
    by_measure = {c.measure: c for c in result.checks if c.family == "commit"}
    assert by_measure["violation"].verdict == "regression"
    assert by_measure["violation"].difference.value == pytest.approx(1.0)
    assert by_measure["excess"].verdict != "regression"
    assert result.verdict == "regression"


def test_noisy_small_differences_are_inconclusive_and_intervals_are_corrected():
    base = side("sim:a", lambda i: i % 4 == 0, never)
    cand = side("sim:b", lambda i: i % 3 == 0, never)
    result = gate(base, cand, draws=500)
    assert result.verdict in ("inconclusive", "pass")
    assert result.check_confidence == pytest.approx(1 - 0.05 / len(result.checks))
    assert result.exit_code in (0, 3)


def test_the_pass_bound_needs_no_correction_and_the_regression_bound_does():
    base = side("sim:a", lambda i: i % 4 == 0, never, repeats=40)
    cand = side("sim:b", lambda i: i % 3 == 0, never, repeats=40)
    result = gate(base, cand, draws=2000, seed=1)
    assert result.pass_confidence == 0.95 and result.check_confidence > 0.95
    for c in result.checks:
        # The two bounds are one-sided: the regression one (low) Bonferroni-widened.
        assert c.difference.low <= c.difference.value <= c.difference.high
    shown = result.as_dict()
    assert shown["pass_confidence"] == 0.95 and shown["repeats"] == 40


def test_an_undecided_gate_says_how_many_repeats_would_likely_decide_it():
    few = gate(side("sim:a", never, never, repeats=8), side("sim:b", never, never, repeats=8))
    assert few.verdict == "inconclusive" and few.repeats == 8
    assert few.more_repeats is not None and few.more_repeats > 8
    # Played to that many repeats, the same models are decided: a pass.
    enough = few.more_repeats + 4
    decided = gate(
        side("sim:a", never, never, repeats=enough), side("sim:b", never, never, repeats=enough)
    )
    assert decided.verdict == "pass" and decided.more_repeats is None


def test_runs_of_several_models_on_one_side_are_refused():
    mixed = side("sim:a", never, never)
    mixed = mixed.assign(model=np.where(mixed.index % 2 == 0, "sim:a", "sim:x"))
    with pytest.raises(GateError, match="one model and harness"):
        gate(mixed, side("sim:b", never, never))


def test_group_sequential_boundaries_spend_alpha_over_all_looks():
    # One look at the cap is the fixed one-sided test.
    assert boundaries(0.05, (1.0,))[0] == pytest.approx(1.6449, abs=1e-3)
    looks = look_schedule(1, 20, 3)
    assert looks == tuple(range(3, 21))
    cs = np.array(boundaries(0.05, tuple(n / 20 for n in looks)))
    # Pocock-type spending: near-flat boundaries, each stricter than one fixed look.
    assert (cs > 1.645).all() and cs.max() - cs.min() < 0.3
    # Under the null the z-statistics are a Brownian motion seen at the looks; crossing
    # at any look must happen in alpha of the paths (and would in far more at 1.645).
    rng = np.random.default_rng(0)
    t = np.array(looks) / 20
    paths = np.cumsum(rng.normal(size=(40_000, len(t))) * np.sqrt(np.diff(t, prepend=0)), 1)
    z = paths / np.sqrt(t)
    assert (z >= cs).any(1).mean() == pytest.approx(0.05, abs=0.005)
    assert (z >= 1.645).any(1).mean() > 0.15
    assert boundary_at(0.05, looks, 2) is None and boundary_at(0.05, looks, 25) == cs[-1]
    with pytest.raises(ValueError, match="increasing"):
        boundaries(0.05, (0.5, 0.5))


def test_two_stage_draws_count_run_noise_once():
    rng = np.random.default_rng(0)

    def variance_of_mean(true_effects: np.ndarray, noise: float) -> float:
        point = true_effects + rng.normal(0, noise, len(true_effects))
        reps = point + rng.normal(0, noise, (4000, len(point)))
        return float(_two_stage_means(point, reps, rng).var())

    # Scenarios that differ only by run noise: the variance of the mean is the noise's
    # (0.01 / 40); resampling scenarios and then runs, unadjusted, gives twice that.
    assert variance_of_mean(np.zeros(40), 0.1) == pytest.approx(0.01 / 40, rel=0.3)
    # Scenarios that really differ: their spread dominates, as in scenario resampling.
    spread = rng.normal(0, 0.5, 40)
    assert variance_of_mean(spread, 0.1) == pytest.approx(spread.var() / 40, rel=0.35)


def test_sequential_gate_decides_from_batches():
    base = side("sim:a", never, never, repeats=24)
    cand = side("sim:b", always, never, repeats=24)

    def looked_at(repeats: int, candidate=cand):
        return sequential_gate(
            base[base["repeat"] < repeats],
            candidate[candidate["repeat"] < repeats],
            batch=2,
            max_batches=12,
            draws=500,
        )

    # Batches of 2: no look before 3 repeats per scenario, then one at 4, 6, ...
    early = looked_at(2)
    assert early.verdict == "inconclusive" and early.sequential
    assert all(c.difference.low == -np.inf for c in early.checks)
    assert looked_at(4).verdict == "regression"
    # Each look is stricter than one fixed look on the same runs: it shares alpha.
    same = side("sim:b", never, never, repeats=24)
    seq = looked_at(12, same)
    fixed = gate(base[base["repeat"] < 12], same[same["repeat"] < 12], draws=500)
    pick = lambda r: next(c for c in r.checks if (c.family, c.measure) == ("overall", "excess"))  # noqa: E731
    assert pick(seq).difference.value == pick(fixed).difference.value
    assert pick(seq).difference.high > pick(fixed).difference.high
    assert seq.check_confidence == pytest.approx(1 - 0.05 / len(seq.checks))


def test_scenario_check_names_family_and_difference():
    check = scenario_check(
        side("sim:a", never, never), side("sim:b", always, never), "s1", draws=300
    )
    assert check.family == "commit" and check.verdict == "regression"
    assert check.difference.value > 0.4
    assert (
        scenario_check(side("sim:a", never, never), side("sim:b", never, never), "missing") is None
    )


def test_gate_command_exit_codes(tmp_path, monkeypatch, commit_folder, capsys):
    monkeypatch.chdir(tmp_path)
    for model, out in (("sim:steady", "base"), ("sim:sticky?persist=1&decay=1", "sticky")):
        assert (
            main(
                [
                    "run",
                    "--model",
                    model,
                    "--repeats",
                    "4",
                    "--out",
                    out,
                    "--scenarios",
                    str(commit_folder),
                ]
            )
            == 0
        )
    capsys.readouterr()
    assert main(["gate", "--baseline", "base", "--candidate", "sticky", "--json", "g.json"]) == 1
    out = capsys.readouterr().out
    assert "regression" in out and "verdict: regression (exit code 1)" in out
    saved = json.loads((tmp_path / "g.json").read_text())
    assert saved["verdict"] == "regression" and saved["exit_code"] == 1
    commit = next(c for c in saved["checks"] if (c["family"], c["measure"]) == ("commit", "excess"))
    assert commit["difference"]["low"] > 0.05 and commit["verdict"] == "regression"
    assert {r["scenario"] for r in saved["scenarios"]} >= {"commit-once-then-edits"}
    # Against itself: never a regression; 4 repeats cannot prove a pass within 5 points.
    assert main(["gate", "--baseline", "base", "--candidate", "base"]) == 3
    assert "repeats per scenario (now" in " ".join(capsys.readouterr().out.split())
    assert main(["gate", "--baseline", "base", "--candidate", "nowhere"]) == 2


def test_compare_until_decided_stops_early_and_says_what_it_saved(
    tmp_path, monkeypatch, commit_folder, capsys
):
    monkeypatch.chdir(tmp_path)
    args = ["compare", "--baseline", "sim:steady", "--candidate", "sim:sticky?persist=1&decay=1"]
    args += ["--scenarios", str(commit_folder), "--until-decided", "--max-runs", "12"]
    assert main([*args, "--out", "seq"]) == 1
    out = capsys.readouterr().out
    # Batches of one repeat; the first look is at 3 repeats per scenario.
    assert "after 2 repeats per scenario: inconclusive" in out
    assert "after 3 repeats per scenario: regression" in out
    assert "stopped after 3 of at most 12 repeats per scenario: 72 runs saved" in out
    runs = [json.loads(line) for line in (tmp_path / "seq/candidate/trajectories.jsonl").open()]
    assert sorted({r["repeat"] for r in runs}) == [0, 1, 2]
    assert (tmp_path / "seq" / "report.html").is_file()
    assert json.loads((tmp_path / "seq" / "gate.json").read_text())["verdict"] == "regression"


def test_two_models_of_one_run_folder_are_gated(tmp_path, monkeypatch, commit_folder, capsys):
    monkeypatch.chdir(tmp_path)
    sticky = "sim:sticky?persist=1&decay=1"
    args = ["run", "--scenarios", str(commit_folder), "--repeats", "4", "--out", "both"]
    assert main([*args, "--model", "sim:steady", "--model", sticky]) == 0
    capsys.readouterr()
    pick = ["--baseline-model", "sim:steady", "--candidate-model", sticky]
    assert main(["gate", "--baseline", "both", *pick]) == 1
    said = " ".join(capsys.readouterr().out.split())
    assert f"Gate: {sticky} against sim:steady" in said
    assert main(["gate", "--baseline", "both", "--baseline-model", "sim:steady"]) == 2
    assert "--baseline-model and --candidate-model" in " ".join(capsys.readouterr().err.split())
    wrong = ["--baseline-model", "sim:steady", "--candidate-model", "sim:eager"]
    assert main(["gate", "--baseline", "both", *wrong]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "--candidate-model 'sim:eager': no runs of it in both; found: sim:steady, " + sticky in err
    )
