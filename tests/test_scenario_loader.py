from __future__ import annotations

from pathlib import Path

import pytest

from stickiness.scenarios import ScenarioError, load_scenario, load_scenarios

VALID = """\
id: demo
title: Demo
behaviour: commit
arm: control
kind: control
workspace:
  files:
    a.py: "x = 1\\n"
turns:
  - user: "Change a.py."
    requests: [edit:a.py]
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return str(info.value)


def test_builtin_scenarios_load_with_matching_controls(builtin_scenarios):
    assert {"commit-once-then-edits", "commit-never-then-edits", "commit-then-revoke"} <= set(
        builtin_scenarios
    )
    for s in builtin_scenarios.values():
        assert len(s.sha256) == 64 and s.source.endswith(".yaml")
        if s.arm == "treatment":
            assert builtin_scenarios[s.control].arm == "control"


def test_valid_file_loads_and_single_phrasing_becomes_a_list(tmp_path):
    s = load_scenario(write(tmp_path, VALID))
    assert s.turns[0].user == ["Change a.py."]
    assert s.turns[0].edit_paths() == ["a.py"]


def test_missing_field_names_file_and_field(tmp_path):
    path = write(tmp_path, VALID.replace("title: Demo\n", ""))
    msg = error_of(path)
    assert str(path) in msg and "field title" in msg and "required" in msg


def test_unknown_action_says_what_was_expected(tmp_path):
    msg = error_of(write(tmp_path, VALID.replace("edit:a.py", "comit")))
    assert "field turns[0].requests[0]" in msg
    assert "'comit'" in msg and "commit, push, search, test, edit:*, edit:PATH" in msg


def test_unknown_field_and_bad_enum(tmp_path):
    msg = error_of(write(tmp_path, VALID.replace("arm: control", "arm: controll\ncolour: red")))
    assert "field arm" in msg and "'treatment' or 'control'" in msg
    assert "field colour: unknown field" in msg


def test_yaml_syntax_error_gives_line(tmp_path):
    msg = error_of(write(tmp_path, VALID + "turns: [unclosed\n"))
    assert "invalid YAML" in msg and "line" in msg


def test_top_level_must_be_a_mapping(tmp_path):
    assert "expected a mapping" in error_of(write(tmp_path, "- just\n- a list\n"))


def test_workspace_paths_must_stay_inside(tmp_path):
    msg = error_of(write(tmp_path, VALID.replace("a.py: ", "../a.py: ")))
    assert "field workspace.files" in msg and "'..'" in msg


def test_arm_and_kind_must_agree(tmp_path):
    msg = error_of(write(tmp_path, VALID.replace("kind: control", "kind: one-off")))
    assert "does not fit kind" in msg


def test_duplicate_ids_and_dangling_control(tmp_path):
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, VALID, "b.yaml")
    with pytest.raises(ScenarioError, match="already used"):
        load_scenarios([tmp_path])
    (tmp_path / "b.yaml").write_text(
        VALID.replace("id: demo", "id: treat")
        .replace("arm: control", "arm: treatment")
        .replace("kind: control", "kind: one-off\ncontrol: missing-one")
    )
    with pytest.raises(ScenarioError, match="field control: no scenario with id 'missing-one'"):
        load_scenarios([tmp_path])


def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(ScenarioError, match="no scenario files"):
        load_scenarios([tmp_path])
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenarios([tmp_path / "nope.yaml"])
