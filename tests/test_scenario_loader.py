from __future__ import annotations

import os
import re
import time
import tracemalloc
from pathlib import Path

import pytest

from stickiness.reports.cli import main
from stickiness.scenarios import ScenarioError, load_scenario, load_scenarios
from stickiness.scenarios.yaml_limits import YamlError, load_yaml

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


# Untrusted files: limits, bounded messages, template values.

TEMPLATE = """\
id: demo
title: Demo
behaviour: commit
arm: control
kind: control
vars:
  module: [orders, "..", billing]
workspace:
  files:
    src/orders.py: "x = 1\\n"
turns:
  - user: "Change the ${module} module."
    requests: ["edit:src/${module}/main.py"]
"""


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["x-laughs:", '  a0: &a0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n" + VALID.replace("title: Demo", f"title: *a{levels}")


def load_measured(path: Path) -> tuple[str, float, int]:
    """The error message, seconds taken and peak bytes allocated loading `path`."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = error_of(path)
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return message, seconds, peak


def one_line(message: str, path: Path) -> None:
    assert "\n" not in message and message.startswith(f"{path}: "), message


def test_billion_laughs_is_refused_at_once_in_little_memory(tmp_path):
    path = write(tmp_path, billion_laughs())
    assert path.stat().st_size < 1000
    message, seconds, peak = load_measured(path)
    one_line(message, path)
    assert "expands the document to more than 100,000 nodes" in message and "line " in message
    assert seconds < 1 and peak < 5_000_000


def test_alias_amplification_of_text_is_refused(tmp_path):
    text = "x-text: &t0 '" + "x" * 5_000 + "'\n"
    for i in range(1, 5):
        text += f"x-{i}: &t{i} [{', '.join([f'*t{i - 1}'] * 10)}]\n"
    path = write(tmp_path, text + VALID)
    message, seconds, peak = load_measured(path)
    one_line(message, path)
    assert "characters of text" in message and "expected at most" in message
    assert seconds < 1 and peak < 5_000_000


def test_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, VALID.replace("title: Demo", "title: &t [*t]"))
    message = error_of(path)
    one_line(message, path)
    assert "line 2, column 12" in message and "recursive alias" in message


@pytest.mark.parametrize(
    "nested",
    ["[" * 2_000 + "]" * 2_000, "\n" + "".join("  " * i + "- \n" for i in range(80))],
    ids=["flow", "block"],
)
def test_deep_nesting_is_refused(tmp_path, nested):
    path = write(tmp_path, VALID.replace("title: Demo", f"title: {nested}"))
    message = error_of(path)
    one_line(message, path)
    assert "nested deeper than 50 levels" in message


def test_huge_integers_are_refused_not_converted(tmp_path):
    path = write(tmp_path, VALID.replace("title: Demo", "title: " + "9" * 100_000))
    message = error_of(path)
    one_line(message, path)
    assert "integer of 100,000 digits; expected at most 50" in message
    quoted = VALID.replace("title: Demo", "title: '" + "9" * 100_000 + "'")
    assert len(load_scenario(write(tmp_path, quoted)).title) == 100_000


def test_file_size_is_limited_before_reading_it_all(tmp_path):
    path = write(tmp_path, VALID + "# " + "x" * (1 << 20) + "\n")
    message = error_of(path)
    one_line(message, path)
    assert "expected at most 1,048,576" in message


def test_text_problems_give_line_and_column(tmp_path):
    cases = {
        VALID.replace("Demo", "De\x00mo"): "line 2, column 10: character '\\x00'",
        VALID.replace("title: Demo", "title: 2001-02-30"): "line 2, column 8: cannot read",
        VALID + "title: Again\n": "line 12, column 1: key 'title' appears twice",
    }
    for text, expected in cases.items():
        path = write(tmp_path, text)
        message = error_of(path)
        one_line(message, path)
        assert expected in message
    path = tmp_path / "latin1.yaml"
    path.write_bytes(VALID.replace("Demo", "D\xe9mo").encode("latin-1"))
    assert "line 2, column 9: byte 0xe9 is not UTF-8 text" in error_of(path)


def test_special_files_are_not_read(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert "not a regular file" in error_of(fifo)


def test_errors_echo_little_of_the_input_and_list_few_problems(tmp_path):
    long_title = "[" + ", ".join(["'" + "y" * 1000 + "'"] * 50) + "]"
    path = write(tmp_path, VALID.replace("title: Demo", f"title: {long_title}"))
    message = error_of(path)
    one_line(message, path)
    assert len(message) < 300 and "got [" in message
    many = "".join(f"  x{i}: 1\n" for i in range(40))
    path = write(tmp_path, VALID.replace("workspace:\n", "workspace:\n" + many))
    lines = error_of(path).splitlines()
    assert len(lines) == 6 and all(line.startswith(f"{path}: ") for line in lines)
    assert lines[-1] == f"{path}: ... and 35 more problems"


def test_detector_patterns_are_checked_with_re2(tmp_path):
    detector = (
        "detectors:\n  - name: shouting\n    family: style\n    pattern: '{}'\n"
        "behaviour: shouting\n"
    )
    ok = VALID.replace("behaviour: commit\n", detector.format("[A-Z]{5}"))
    assert load_scenario(write(tmp_path, ok)).detectors[0].pattern == "[A-Z]{5}"
    # Python's engine takes lookahead; RE2, which the analyser uses, does not.
    message = error_of(write(tmp_path, ok.replace("[A-Z]{5}", "(?=x)y")))
    assert "field detectors[0].pattern" in message and "RE2" in message
    # RE2 quotes the pattern in its reason: a control character in it is escaped.
    message = error_of(write(tmp_path, ok.replace("'[A-Z]{5}'", '"(\\e]0;x\\a"')))
    assert message.isprintable() and "\\x1b" in message


@pytest.mark.parametrize(
    "hook",
    ["../up.py:shouts", "/etc/abs.py:shouts", '"a\\x01b.py:shouts"', "x.txt:shouts", "'a.py:'"],
)
def test_hook_paths_must_be_relative_and_plain(tmp_path, hook):
    detector = (
        "detectors:\n  - name: shouting\n    family: style\n    hook: {}\nbehaviour: shouting\n"
    )
    ok = VALID.replace("behaviour: commit\n", detector.format("detectors.py:shouts"))
    assert load_scenario(write(tmp_path, ok)).detectors[0].hook == "detectors.py:shouts"
    message = error_of(write(tmp_path, ok.replace("detectors.py:shouts", hook)))
    assert "field detectors[0].hook: expected FILE.py:FUNCTION" in message


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("a.py: ", '"a\\x01.py": ', "workspace.files"),
        ("edit:a.py", '"edit:a\\nb.py"', "turns[0].requests[0]"),
        ("a.py: ", "'': ", "workspace.files"),
        ("a.py: ", "'./': ", "workspace.files"),
    ],
)
def test_paths_refuse_control_characters_and_empty_names(tmp_path, old, new, field):
    message = error_of(write(tmp_path, VALID.replace(old, new)))
    assert f"field {field}" in message and "expected a relative path" in message
    assert "\n" not in message


def test_template_values_are_checked_when_loaded(tmp_path):
    path = write(tmp_path, TEMPLATE)
    message = error_of(path)
    one_line(message, path)
    assert message == (
        f"{path}: field vars.module[1]: value '..' makes turns[0].requests[0] invalid: "
        "edit:PATH: expected a relative path inside the workspace (no '..', no leading '/', "
        "nothing under .git, no control characters), got 'src/../main.py'"
    )


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (".git/hooks", "workspace.files['.git/hooks/x.py']"),
        ("/etc", "workspace.files['/etc/x.py']"),
        ("  ", "turns[0].user"),
    ],
)
def test_every_value_of_every_var_is_checked(tmp_path, value, field):
    text = (
        TEMPLATE.replace('"..", ', "")
        .replace("[orders, billing]", f"[orders, billing, '{value}']")
        .replace("src/orders.py:", "${module}/x.py:")
        .replace('"Change the ${module} module."', '"${module}"')
    )
    message = error_of(write(tmp_path, text))
    assert f"field vars.module[2]: value '{value}' makes {field} invalid: " in message


def test_render_never_raises_a_raw_validation_error(tmp_path):
    # Each value is fine on its own; two of them together make '..'.
    text = TEMPLATE.replace('module: [orders, "..", billing]', "a: [x, '.']\n  b: ['.', y]")
    text = text.replace("${module}", "${a}${b}")
    scenario = load_scenario(write(tmp_path, text))
    failures = []
    for seed in range(40):
        try:
            scenario.render(seed)
        except ScenarioError as exc:
            failures.append(str(exc))
    assert failures
    assert failures[0].startswith(f"{scenario.source}: seed ")
    assert (
        "vars.a[1], vars.b[0]: values '.', '.' make turns[0].requests[0] invalid" in (failures[0])
    )


def test_template_limits(tmp_path):
    message = error_of(write(tmp_path, TEMPLATE.replace('".."', '"${other}"')))
    assert "field vars.module[1]: a value is put in as it is" in message
    many = "[" + ", ".join(f"m{i}" for i in range(101)) + "]"
    message = error_of(write(tmp_path, TEMPLATE.replace('[orders, "..", billing]', many)))
    assert "field vars.module: List should have at most 100 items" in message
    # Rendering 100 times a scenario of 100 KB is more checking than a file may ask for.
    big = TEMPLATE.replace('[orders, "..", billing]', many.replace(", m100", "")).replace(
        '"x = 1\\n"', "'" + "x" * 100_000 + "'"
    )
    message = error_of(write(tmp_path, big))
    assert "field vars: checking every value renders the scenario 100 times" in message


def test_bad_template_values_stop_validate_and_run_with_one_line(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, TEMPLATE)
    monkeypatch.chdir(tmp_path)
    assert main(["scenarios", "validate", "--scenarios", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "vars.module[1]" in err and "Traceback" not in err
    args = ["run", "--scenarios", str(path), "--model", "sim:steady", "--repeats", "1"]
    assert main([*args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "Traceback" not in err


@pytest.mark.parametrize("libyaml", [True, False], ids=["libyaml", "python"])
def test_limits_hold_with_either_parser(libyaml):
    cases = {
        billion_laughs().encode(): "more than 100,000 nodes",
        b"a: &a [*a]\n": "recursive alias",
        b"a: " + b"[" * 100 + b"]" * 100: "nested deeper than 50",
        b"a: " + b"1" * 60: "integer of 60 digits",
        b"a: 1\na: 2\n": "appears twice",
        b"a: \x07\n": "character '\\x07'",
    }
    for raw, expected in cases.items():
        with pytest.raises(YamlError, match=re.escape(expected)):
            load_yaml(raw, libyaml=libyaml)
    assert load_yaml(VALID.encode(), libyaml=libyaml) == load_yaml(VALID.encode())
    assert load_yaml(b"a: &x {b: 1}\nc: {<<: *x, d: 2}\n", libyaml=libyaml) == {
        "a": {"b": 1},
        "c": {"b": 1, "d": 2},
    }


def test_show_writes_out_what_a_terminal_would_act_on(tmp_path, capsys):
    text = VALID.replace("title: Demo", 'title: "\\e[31mDemo"').replace(
        '"Change a.py."', '"Change a.py.\\e]0;owned\\a\\nthen stop \\u202e"'
    )
    path = write(tmp_path, text)
    assert main(["scenarios", "show", "demo", "--scenarios", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "\\x1b[31mDemo" in out and "\\x1b]0;owned\\x07" in out and "\\u202e" in out
