"""The shipped scenario library: coverage, matched controls, phrasings, fresh text."""

from __future__ import annotations

import pytest
from factories import trajectory, turn

from stickiness.analysis.metrics import per_phrasing
from stickiness.analysis.observe import observe
from stickiness.reports.cli import main
from stickiness.reports.scenario_commands import instruction_turns
from stickiness.scenarios import FAMILIES, ScenarioError, load_scenario


def test_library_covers_every_family_and_kind(builtin_scenarios):
    assert len(builtin_scenarios) >= 24
    assert {s.family for s in builtin_scenarios.values()} == set(FAMILIES)
    kinds = {s.kind for s in builtin_scenarios.values()}
    assert kinds == {"one-off", "revoke", "supersede", "standing", "control"}
    for family in FAMILIES:
        of_family = [s for s in builtin_scenarios.values() if s.family == family]
        assert {"one-off", "control"} <= {s.kind for s in of_family}, family


def test_every_treatment_has_a_control_that_differs_only_in_the_instruction(
    builtin_scenarios,
):
    for s in builtin_scenarios.values():
        if s.arm == "control":
            assert not instruction_turns(s), s.id
            continue
        control = builtin_scenarios[s.control]
        assert control.behaviour == s.behaviour
        assert control.workspace == s.workspace and control.vars == s.vars, s.id
        assert len(control.turns) == len(s.turns), s.id
        instructed = set(instruction_turns(s))
        assert instructed, s.id
        for i, (t, c) in enumerate(zip(s.turns, control.turns, strict=True)):
            if i not in instructed:
                assert t == c, f"{s.id} turn {i + 1} differs from {control.id}"


def test_instructions_come_in_three_phrasings(builtin_scenarios):
    for s in builtin_scenarios.values():
        for i in instruction_turns(s):
            phrasings = s.turns[i].user
            assert len(phrasings) >= 3 and len(set(phrasings)) == len(phrasings), (s.id, i)


def test_templates_give_the_same_text_for_a_seed_and_new_text_for_others(builtin_scenarios):
    templated = [s for s in builtin_scenarios.values() if s.vars]
    assert templated
    s = templated[0]
    first, values = s.render(5)
    again, _ = s.render(5)
    assert first == again and values
    texts = {str(s.render(seed)[0].model_dump()) for seed in range(12)}
    assert len(texts) > 1
    rendered = first.model_dump_json()
    assert "${" not in rendered
    assert all(v in rendered for v in values.values())


def test_undeclared_template_values_are_refused(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "id: t\ntitle: t\nbehaviour: commit\narm: control\nkind: control\n"
        "turns:\n  - user: 'Fix ${module}.py'\n"
    )
    with pytest.raises(ScenarioError, match=r"field vars: \$\{module\} is used but not declared"):
        load_scenario(path)


def test_results_break_down_by_phrasing():
    runs = []
    for i in range(6):
        first = turn(1, requests=["commit"], commits=1)
        first.phrasing = i % 2
        runs.append(
            trajectory(f"r{i}", [first, turn(2, commits=i % 2), turn(3)], control="c", repeat=i)
        )
    table = per_phrasing(observe(runs)).set_index("phrasing")
    assert table.loc[0, "faults"] == 0 and table.loc[1, "faults"] == 3
    assert table.loc[1, "fault_rate"] == pytest.approx(3 / 6)
    assert list(table["runs"]) == [3, 3]


def test_scenarios_commands(capsys):
    assert main(["scenarios", "validate"]) == 0
    assert "scenarios valid" in capsys.readouterr().out
    assert main(["scenarios", "list"]) == 0
    listing = capsys.readouterr().out
    assert "push-revoke" in listing and "topic-control" in listing
    assert main(["scenarios", "show", "push-revoke", "--seed", "4"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "forbids: push" in shown and "template values for seed 4" in shown
    assert "${" not in shown
    assert main(["scenarios", "show", "nope"]) == 2
