from __future__ import annotations

import pytest

from stickiness.agents.models import ModelSpec, ModelSpecError, check_model
from stickiness.agents.models.sim import PROFILES, SimParams
from stickiness.agents.runner import RunOptions, plan_runs, run_one
from stickiness.analysis.observe import observe

VOLATILE = {"started_at", "finished_at"}


def runs_for(scenarios, model: str, repeats: int, seed: int = 0):
    return [run_one(s) for s in plan_runs(scenarios, [ModelSpec.parse(model)], repeats, seed)]


def test_same_seed_gives_identical_trajectories(commit_scenarios):
    scenarios = [commit_scenarios["commit-once-then-edits"]]
    a = runs_for(scenarios, "sim:sticky", 3, seed=7)
    b = runs_for(scenarios, "sim:sticky", 3, seed=7)
    assert [t.model_dump(exclude=VOLATILE) for t in a] == [
        t.model_dump(exclude=VOLATILE) for t in b
    ]
    assert all(t.status == "ok" for t in a)


def test_different_seeds_give_different_runs(commit_scenarios):
    scenarios = [commit_scenarios["commit-once-then-edits"]]
    a = runs_for(scenarios, "sim:sticky", 4, seed=1)
    b = runs_for(scenarios, "sim:sticky", 4, seed=2)
    assert [t.seed for t in a] != [t.seed for t in b]
    commits = lambda runs: [[len(turn.commits) for turn in t.turns] for t in runs]  # noqa: E731
    phrasings = lambda runs: [[turn.phrasing for turn in t.turns] for t in runs]  # noqa: E731
    assert (commits(a), phrasings(a)) != (commits(b), phrasings(b))


def test_sticky_makes_more_unrequested_commits_than_steady_on_same_seeds(commit_scenarios):
    scenarios = list(commit_scenarios.values())
    counts = {}
    for model in ("sim:steady", "sim:sticky"):
        events = observe(runs_for(scenarios, model, 4))
        counts[model] = int((events["unrequested"] | events["violation"]).sum())
    assert counts["sim:sticky"] > counts["sim:steady"] + 5


def test_requested_commits_are_real_and_recorded_per_turn(commit_scenarios):
    (run,) = runs_for([commit_scenarios["commit-once-then-edits"]], "sim:steady", 1)
    first = run.turns[0]
    assert first.requests == ["edit:src/calc.py", "commit"]
    assert len(first.commits) == 1 and first.commits[0].files == ["src/calc.py"]
    assert len(first.commits[0].sha) == 40
    assert first.files_changed == ["src/calc.py"] and not first.dirty_after
    names = [c.name for c in first.tool_calls()]
    assert names == ["read_file", "write_file", "git_status", "git_commit"]


def test_sim_probability_follows_the_annotations(commit_scenarios):
    from stickiness.agents.models.sim import SimModel

    p = SimParams(base=0.1, persist=0.5, decay=0.5, revoke_ignore=0.2, forget=0.3)
    assert p.unrequested_probability(None) == pytest.approx(0.1)
    assert p.unrequested_probability(1) == pytest.approx(1 - 0.9 * 0.5)
    assert p.unrequested_probability(3) == pytest.approx(1 - 0.9 * (1 - 0.125))
    # lift: the same chances plus a flat amount once asked, never before.
    lifted = SimParams(base=0.1, persist=0.5, decay=0.5, lift=0.05)
    assert lifted.unrequested_probability(None) == pytest.approx(0.1)
    assert lifted.unrequested_probability(3) == pytest.approx(p.unrequested_probability(3) + 0.05)
    assert SimParams(base=0.99, lift=0.05).unrequested_probability(1) == 1.0
    revoke = commit_scenarios["commit-then-revoke"]
    sim = SimModel(ModelSpec.parse("sim:sticky?revoke_ignore=0.2"), revoke, seed=0)
    assert sim.probability("commit", 0) == 1.0  # asked
    assert sim.probability("commit", 1) == pytest.approx(
        PROFILES["sticky"].unrequested_probability(1)
    )
    assert sim.probability("commit", 3) == pytest.approx(0.2)  # forbidden since turn 3


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("sim:clingy", "unknown simulated profile 'clingy'; expected one of: steady"),
        ("sim:sticky?persist=2", "persist must be a number from 0 to 1"),
        ("sim:sticky?persist=abc", "persist must be a number from 0 to 1"),
        ("sim:sticky?stickiness=1", "unknown parameter 'stickiness'"),
        ("gpt-5", "expected provider:name"),
        ("acme:model-1", "unknown provider 'acme'; expected one of: sim"),
    ],
)
def test_bad_model_specs_are_explained(spec, expected):
    with pytest.raises(ModelSpecError, match=expected.replace("(", r"\(")):
        check_model(spec)


def test_spec_parameters_override_the_profile():
    from stickiness.agents.models.sim import sim_params

    params = sim_params(ModelSpec.parse("sim:sticky?persist=0.6&decay=0.7"))
    assert (params.persist, params.decay) == (0.6, 0.7)
    assert params.base == PROFILES["sticky"].base


def test_step_limit_is_recorded_per_turn(commit_scenarios):
    (spec,) = plan_runs(
        [commit_scenarios["commit-once-then-edits"]], [ModelSpec.parse("sim:steady")], 1
    )
    run = run_one(spec, RunOptions(max_steps=2))
    first = run.turns[0]  # read, write, status, commit: needs four steps
    assert first.step_limit_hit and first.steps == 2 and not first.commits
    assert run.status == "ok"


def test_values_that_clash_only_together_fail_that_run_alone(tmp_path):
    from test_scenario_loader import TEMPLATE, write

    from stickiness.scenarios import load_scenario

    text = TEMPLATE.replace('module: [orders, "..", billing]', "a: [x, '.']\n  b: ['.', y]")
    scenario = load_scenario(write(tmp_path, text.replace("${module}", "${a}${b}")))
    runs = [run_one(s) for s in plan_runs([scenario], [ModelSpec.parse("sim:steady")], 12)]
    failed = [r for r in runs if r.status == "error"]
    assert failed and len(failed) < len(runs)  # the other draws ran
    assert all(r.error_kind == "fatal" and "make turns[0]" in r.error for r in failed)
