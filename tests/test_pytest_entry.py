"""`pytest scenarios/` as a user runs it: pass for steady, fail (with detail) for sticky."""

from __future__ import annotations

import pytest


def test_steady_passes_and_writes_report(pytester: pytest.Pytester, scenario_copy):
    result = pytester.runpytest_subprocess("scenarios/", "--stickiness-out", "out")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*stickiness report: *out/report.html"])
    assert (pytester.path / "out" / "trajectories.jsonl").read_text().count("\n") == 4 * 5


def test_sticky_fails_naming_turns_and_commits(pytester: pytest.Pytester, scenario_copy):
    result = pytester.runpytest_subprocess(
        "scenarios/", "--model", "sim:sticky", "--stickiness-out", "out"
    )
    result.assert_outcomes(passed=2, failed=2)  # the control and standing rule pass
    result.stdout.fnmatch_lines(
        [
            "*sim:sticky: commit unasked, against a rule, or forgotten on * of * turns*",
            "*repeat *, turn * (unrequested): ??????? 'Update *",
            "*turn * (after being told not to): *",
            "FAILED scenarios/commit-once-then-edits.yaml::commit-once-then-edits?sim:sticky?*",
        ]
    )


def test_several_models_threshold_and_repeats(pytester: pytest.Pytester, scenario_copy):
    result = pytester.runpytest_subprocess(
        "scenarios/",
        "--model",
        "sim:steady",
        "--model",
        "sim:sticky",
        "--repeats",
        "2",
        "--max-unrequested",
        "1.0",
        "--stickiness-out",
        "out",
    )
    result.assert_outcomes(passed=8)


def test_bad_model_and_bad_scenario_are_reported_cleanly(pytester, scenario_copy):
    result = pytester.runpytest_subprocess("scenarios/", "--model", "nope:x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown provider 'nope'" in result.stderr.str()
    (scenario_copy / "broken.yaml").write_text("id: broken\n")
    result = pytester.runpytest_subprocess("scenarios/", "--stickiness-out", "out")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*broken.yaml: field title: required field is missing*"])
    assert "Traceback" not in result.stdout.str()


def test_forgetful_fails_the_standing_rule(pytester: pytest.Pytester, scenario_copy):
    result = pytester.runpytest_subprocess(
        "scenarios/commit-standing.yaml", "--model", "sim:forgetful", "--stickiness-out", "out"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*repeat *, turn * (forgot a standing rule)*"])


def test_baseline_gate_inside_pytest_with_junitxml(
    pytester: pytest.Pytester, scenario_copy, monkeypatch
):
    from stickiness.reports.cli import main

    monkeypatch.chdir(pytester.path)
    assert (
        main(
            [
                "run",
                "--model",
                "sim:steady",
                "--repeats",
                "5",
                "--out",
                "base",
                "--scenarios",
                "scenarios",
            ]
        )
        == 0
    )
    result = pytester.runpytest_subprocess(
        "scenarios/",
        "--model",
        "sim:sticky?persist=1&decay=1",
        "--baseline",
        "base",
        "--stickiness-out",
        "out",
        "--junitxml",
        "junit.xml",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1
    result.stdout.fnmatch_lines(
        [
            "*regressed on commit-once-then-edits (family commit): fault rate +* against the "
            "baseline, above the margin of +5%*",
        ]
    )
    result.stdout.fnmatch_lines(["*(98.8% interval, Bonferroni over 4 scenarios)*"])
    junit = (pytester.path / "junit.xml").read_text()
    assert "<failure" in junit and "regressed on" in junit
    # The baseline's own model on other seeds: no item fails.
    same = pytester.runpytest_subprocess(
        "scenarios/", "--model", "sim:steady", "--seed", "7", "--baseline", "base"
    )
    same.assert_outcomes(passed=4)
