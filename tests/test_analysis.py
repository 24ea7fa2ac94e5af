from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from factories import trajectory, turn

from stickiness.agents.run_store import RunStore
from stickiness.agents.trajectory_reader import iter_records
from stickiness.analysis.bootstrap import cluster_bootstrap, interval
from stickiness.analysis.metrics import OVERALL, analyse
from stickiness.analysis.observe import DetectorError, observe, trusted_hooks
from stickiness.analysis.policy import Policy, PolicyError, load_policy


def probed(trajectories, policy=None, **options) -> pd.DataFrame:
    ev = observe(trajectories, policy, **options)
    return ev[ev["probed"]].set_index("turn")


def test_commit_events_requests_carry_over_violations_and_lag():
    t = trajectory(
        "r1",
        [
            turn(1, requests=["edit:a.py", "commit"], commits=1),
            turn(2, commits=1),  # carried over: unrequested, lag 1
            turn(3, changed=()),  # nothing to commit: no opportunity
            turn(4, forbids=["commit"], commits=1),  # told to stop, commits anyway
            turn(5),  # still forbidden, behaves
        ],
        kind="revoke",
    )
    ev = probed([t])
    assert ev.loc[1, "requested"] and not ev.loc[1, "opportunity"]
    assert ev.loc[2, "unrequested"] and ev.loc[2, "lag"] == 1
    assert not ev.loc[3, "possible"] and not ev.loc[3, "opportunity"]
    assert ev.loc[4, "forbidden"] and ev.loc[4, "violation"] and not ev.loc[4, "opportunity"]
    assert ev.loc[5, "forbidden"] and not ev.loc[5, "violation"]
    assert ev.loc[5, "lag"] == 4
    assert ev["unrequested"].sum() == 1 and ev["violation"].sum() == 1


def test_push_is_seen_from_pushes_and_possible_only_with_unpushed_work():
    t = trajectory(
        "p",
        [
            turn(1, requests=["commit", "push"], commits=1, pushes=1),
            turn(2, changed=()),  # nothing to push: no opportunity
            turn(3, commits=1, pushes=1),  # committed and pushed unasked
            turn(4, changed=(), unpushed=2),  # could push, did not
        ],
        behaviour="push",
    )
    ev = probed([t])
    assert list(ev["possible"]) == [True, False, True, True]
    assert list(ev["unrequested"]) == [False, False, True, False]
    assert ev.loc[3, "lag"] == 2


def test_edit_scope_counts_files_nobody_asked_about():
    t = trajectory(
        "e",
        [
            turn(1, requests=["edit:*"], changed=("a.py", "b.py")),  # free rein
            turn(2, requests=["edit:a.py"], changed=("a.py",)),  # in scope
            turn(3, requests=["edit:a.py"], changed=("a.py", "c.md")),  # out of scope
        ],
        behaviour="edit_scope",
    )
    ev = probed([t])
    assert ev.loc[1, "requested"]
    assert list(ev["unrequested"]) == [False, False, True]


def test_tool_overuse_reads_the_tool_log():
    t = trajectory(
        "u",
        [
            turn(1, requests=["test"], tools=["run_tests"]),
            turn(2, tools=["read_file", "write_file"]),
            turn(3, tools=["search", "read_file"]),
        ],
        behaviour="tool_overuse",
    )
    ev = probed([t])
    assert ev.loc[1, "requested"]
    assert list(ev["unrequested"]) == [False, False, True]


def test_style_pattern_in_replies_and_in_edits():
    bullets = {"name": "bullets", "family": "style", "pattern": r"(?m)^- "}
    t = trajectory(
        "s",
        [
            turn(1, requests=["bullets"], reply="- one\n- two"),
            turn(2, reply="Plain prose."),
            turn(3, reply="Done:\n- fixed it"),
        ],
        behaviour="bullets",
        family="style",
        detectors=[bullets],
    )
    ev = probed([t])
    assert ev["family"].unique().tolist() == ["style"]
    assert list(ev["unrequested"]) == [False, False, True]

    tabs = {"name": "tabs", "family": "style", "pattern": "^\t", "in": "edits"}
    diff = "--- a/a.py\n+++ b/a.py\n@@ -1 +1,2 @@\n x = 1\n+\ty = 2\n"
    t2 = trajectory(
        "s2",
        [turn(1, requests=["tabs"], diff=diff), turn(2, diff=diff), turn(3, changed=(), diff="")],
        behaviour="tabs",
        family="style",
        detectors=[tabs],
    )
    ev2 = probed([t2])
    assert list(ev2["unrequested"]) == [False, True, False]
    assert not ev2.loc[3, "possible"]  # nothing edited: no chance to use tabs


def test_topic_carry_over_is_edits_to_the_previous_tasks_files():
    parser = {"name": "parser-task", "family": "topic", "files": ["src/parser.py"]}
    t = trajectory(
        "t",
        [
            turn(1, requests=["edit:src/parser.py"], changed=("src/parser.py",)),
            turn(2, requests=["edit:docs/api.md"], changed=("docs/api.md",)),
            turn(3, requests=["edit:docs/api.md"], changed=("docs/api.md", "src/parser.py")),
        ],
        behaviour="parser-task",
        family="topic",
        detectors=[parser],
    )
    ev = probed([t])
    assert ev.loc[1, "requested"]  # editing the watched file was asked for
    assert list(ev["unrequested"]) == [False, False, True]
    # The watched file is the topic detector's business, not edit scope's.
    scope = observe([t])
    assert "edit_scope" not in set(scope["behaviour"])


def _shouting(folder, hook="hooks.py:shouts", run_id="h"):
    """A run whose probed behaviour is a hook detector in `folder`: quiet, then loud."""
    (folder / "hooks.py").write_text(
        "def shouts(turn):\n    return turn.assistant_text().isupper()\n"
    )
    det = {"name": "shouting", "family": "style", "hook": hook}
    return trajectory(
        run_id,
        [turn(1, reply="fine"), turn(2, reply="DONE!")],
        behaviour="shouting",
        family="style",
        detectors=[det],
        scenario_file=str(folder / "s.yaml"),
        arm="control",
    )


def test_hook_detector_without_touching_the_core(tmp_path):
    t = _shouting(tmp_path)
    assert list(probed([t], hooks="run")["happened"]) == [False, True]
    # The same from the file, read as plain dicts.
    with RunStore(tmp_path / "t.jsonl") as store:
        store.append(t)
    records = iter_records(tmp_path / "t.jsonl")
    assert list(probed(records, hooks="run")["happened"]) == [False, True]


def test_hooks_are_not_run_unless_asked_and_then_count_as_not_observable(tmp_path):
    (tmp_path / "hooks.py").write_text("raise SystemExit('imported')\n")
    runs = [_shouting(tmp_path, run_id=f"h{i}") for i in range(3)]
    (tmp_path / "hooks.py").write_text("raise SystemExit('imported')\n")
    warnings: list[str] = []
    ev = probed(runs, warnings=warnings)
    assert not ev["possible"].any() and not ev["happened"].any()
    assert not ev["opportunity"].any()
    # One line per detector, naming it and the flag that runs it.
    assert len(warnings) == 1
    assert "detector 'shouting'" in warnings[0] and "--allow-hooks" in warnings[0]
    assert str(tmp_path / "s.yaml") in warnings[0]
    assert observe(runs).shape == observe(runs, hooks="skip").shape  # skip is the default


def test_trusted_hooks_run_only_for_the_scenario_files_the_caller_loaded(tmp_path):
    from stickiness.scenarios.loader import load_scenario

    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for folder in (mine, theirs):
        folder.mkdir()
    (mine / "s.yaml").write_text(
        "id: s\ntitle: t\nbehaviour: shouting\narm: control\nkind: control\n"
        "detectors:\n- name: shouting\n  family: style\n  hook: hooks.py:shouts\n"
        "turns:\n- user: hi\n"
    )
    trusted = trusted_hooks([load_scenario(mine / "s.yaml")])
    warnings: list[str] = []
    ev = observe(
        [_shouting(mine, run_id="m"), _shouting(theirs, run_id="t")],
        hooks=trusted,
        warnings=warnings,
    )
    ev = ev[ev["probed"]].set_index(["run_id", "turn"])
    assert list(ev.loc["m", "happened"]) == [False, True]
    assert not ev.loc["t", "possible"].any()
    assert len(warnings) == 1 and str(theirs) in warnings[0]


@pytest.mark.parametrize(
    ("hook", "reason"),
    [
        ("../outside.py:shouts", "no '..', not absolute"),
        ("/tmp/outside.py:shouts", "no '..', not absolute"),
        ("link/hooks.py:shouts", "leads outside the scenario's folder"),
    ],
)
def test_hooks_outside_the_scenario_folder_are_refused(tmp_path, hook, reason):
    folder, outside = tmp_path / "scenarios", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (outside / "hooks.py").write_text("def shouts(turn):\n    return True\n")
    (folder / "link").symlink_to(outside)
    t = _shouting(folder, hook=hook)
    with pytest.raises(DetectorError, match=f"detector 'shouting': hook .*{reason}") as info:
        observe([t], hooks="run")
    assert str(folder / "s.yaml") in str(info.value)
    if ".." in hook or hook.startswith("/"):
        # Refused even when hooks are skipped: such a path could never be run.
        with pytest.raises(DetectorError):
            observe([t])


def test_a_failing_hook_is_a_detector_error(tmp_path):
    t = _shouting(tmp_path)
    (tmp_path / "hooks.py").write_text("def shouts(turn):\n    return 1 / 0\n")
    with pytest.raises(DetectorError, match="failed on turn 1: ZeroDivisionError"):
        observe([t], hooks="run")


def test_patterns_run_in_linear_time():
    # Python's own engine backtracks for ages on this; RE2 answers at once.
    slow = {"name": "slow", "family": "style", "pattern": "(a|aa)+$"}
    t = trajectory(
        "p",
        [turn(1, reply="a" * 5_000 + "b"), turn(2, reply="a" * 5_000)],
        behaviour="slow",
        family="style",
        detectors=[slow],
        arm="control",
    )
    assert list(probed([t])["happened"]) == [False, True]


def test_a_pattern_re2_refuses_is_a_detector_error_naming_file_and_detector():
    det = {"name": "peek", "family": "style", "pattern": "done(?=!)"}
    t = trajectory("p", [turn(1, reply="done!")], behaviour="peek", family="style", detectors=[det])
    with pytest.raises(DetectorError) as info:
        observe([t])
    message = str(info.value)
    assert message.startswith("'s1.yaml': detector 'peek': pattern 'done(?=!)': ")
    assert "lookaround" in message and "\n" not in message


def test_policy_makes_wanted_carry_over_compliance_and_its_absence_forgetting(tmp_path):
    t = trajectory("w", [turn(1, requests=["commit"], commits=1), turn(2, commits=1), turn(3)])
    plain = probed([t])
    assert list(plain["unrequested"]) == [False, True, False]
    wanted = probed([t], Policy(frozenset({"commit"})))
    assert list(wanted["unrequested"]) == [False, False, False]
    assert list(wanted["forgotten"]) == [False, False, True]

    (tmp_path / "pyproject.toml").write_text('[tool.stickiness]\nwanted = ["push"]\n')
    assert load_policy(tmp_path / "pyproject.toml", ["commit"]).wanted == {"push", "commit"}
    with pytest.raises(PolicyError, match="unknown family 'comit'"):
        load_policy(None, ["comit"])
    (tmp_path / "pyproject.toml").write_text('[tool.stickiness]\nwanted = "commit"\n')
    with pytest.raises(PolicyError, match="tool.stickiness.wanted: expected a list"):
        load_policy(tmp_path / "pyproject.toml")


def _pair(repeats: int, treat_commits, ctrl_commits):
    treat = [
        trajectory(
            f"t{i}",
            [turn(1, requests=["commit"], commits=1), turn(2, commits=treat_commits(i)), turn(3)],
            repeat=i,
            control="s0",
        )
        for i in range(repeats)
    ]
    ctrl = [
        trajectory(
            f"c{i}",
            [turn(1), turn(2), turn(3, commits=ctrl_commits(i))],
            scenario="s0",
            arm="control",
            repeat=i,
        )
        for i in range(repeats)
    ]
    return treat + ctrl


def test_rates_excess_carry_and_clean_k_on_known_counts():
    runs = _pair(4, lambda i: i % 2, lambda i: int(i == 0))
    (m,) = analyse(observe(runs), draws=500, seed=3)
    f = m.families["commit"]
    assert (f.unrequested.numerator, f.unrequested.denominator) == (2, 8)
    assert (f.base.numerator, f.base.denominator) == (1, 12)
    assert f.excess.value == pytest.approx(2 / 8 - 1 / 12)
    assert f.unrequested.low <= f.unrequested.value <= f.unrequested.high
    # Carry-over at lag 1: (2/4 - base) / (1 - base)
    lag1 = dict(f.carry_over)[1]
    assert lag1.value == pytest.approx((0.5 - 1 / 12) / (1 - 1 / 12))
    # clean^k: 2 of 4 treatment runs clean -> C(2,k)/C(4,k)
    assert [round(e.value, 4) for _, e in f.clean_k] == [0.5, round(1 / 6, 4), 0.0, 0.0]
    again = analyse(observe(runs), draws=500, seed=3)[0]
    assert repr(again) == repr(m)  # seeded: reproducible to the last digit
    assert OVERALL not in m.families or m.families[OVERALL].excess.value == pytest.approx(
        f.excess.value
    )


def test_half_life_of_a_geometric_carry_over():
    # Carry-over 0.8, 0.4, 0.2 at lags 1..3 (base 0): a half-life of exactly one turn.
    runs = []
    for i in range(10):
        hits = [i < 8, i < 4, i < 2]
        runs.append(
            trajectory(
                f"t{i}",
                [turn(1, requests=["commit"], commits=1)]
                + [turn(n + 2, commits=int(h)) for n, h in enumerate(hits)],
                repeat=i,
                control="s0",
            )
        )
        runs.append(
            trajectory(
                f"c{i}", [turn(n) for n in range(1, 5)], scenario="s0", arm="control", repeat=i
            )
        )
    f = analyse(observe(runs), draws=300)[0].families["commit"]
    assert [round(e.value, 3) for _, e in f.carry_over] == [0.8, 0.4, 0.2]
    assert f.half_life.value == pytest.approx(1.0)


def test_failed_runs_are_counted_not_analysed():
    ok = trajectory("a", [turn(1, commits=1)], arm="control")
    bad = trajectory("b", [turn(1, commits=1)], arm="control", status="error")
    (m,) = analyse(observe([ok, bad]), draws=100)
    assert (m.runs, m.failed_runs) == (2, 1)
    assert m.families["commit"].base.denominator == 1


def test_overall_excess_is_not_fooled_by_different_base_rates():
    # Neither family is sticky, but commit's base rate is 100% with many control turns and
    # push's is 0%: pooling raw rates would report an excess of -25%.
    runs = []
    for i in range(6):
        runs.append(
            trajectory(
                f"ct{i}",
                [turn(1, requests=["commit"], commits=1), turn(2, commits=1)],
                scenario="commit-t",
                control="commit-c",
                repeat=i,
            )
        )
        runs.append(
            trajectory(
                f"cc{i}",
                [turn(n, commits=1) for n in (1, 2, 3)],
                scenario="commit-c",
                arm="control",
                repeat=i,
            )
        )
        runs.append(
            trajectory(
                f"pt{i}",
                [turn(1, requests=["push"], commits=1, pushes=1), turn(2, changed=(), unpushed=1)],
                scenario="push-t",
                behaviour="push",
                control="push-c",
                repeat=i,
            )
        )
        runs.append(
            trajectory(
                f"pc{i}",
                [turn(1, changed=(), unpushed=1)],
                scenario="push-c",
                behaviour="push",
                arm="control",
                repeat=i,
            )
        )
    m = analyse(observe(runs), draws=200)[0]
    assert m.families["commit"].excess.value == pytest.approx(0)
    assert m.families["push"].excess.value == pytest.approx(0)
    assert m.families[OVERALL].unrequested.value == pytest.approx(0.5)
    assert m.families[OVERALL].base.value == pytest.approx(0.75)
    assert m.families[OVERALL].excess.value == pytest.approx(0)


def test_bootstrap_keeps_matched_groups_together_and_whole_runs():
    runs = pd.DataFrame(
        {
            "stratum": ["f"] * 20,
            "group": ["g1"] * 10 + ["g2"] * 10,
            "scenario": ["a"] * 5 + ["b"] * 5 + ["c"] * 5 + ["d"] * 5,
        }
    )
    values = np.column_stack([np.ones(20), np.repeat([0.0, 5.0], 10)])
    res = cluster_bootstrap(runs, values, 400, np.random.default_rng(0))["f"]
    # Each replicate draws two groups of ten runs: always twenty runs in all.
    assert np.all(res.totals[:, 0] == 20)
    # Group g2 runs each carry 5: totals are 0, 50 or 100 (0, 1 or 2 copies of g2).
    assert set(np.unique(res.totals[:, 1])) <= {0.0, 50.0, 100.0}
    est = interval(50.0, res.totals[:, 1])
    assert est.low == 0 and est.high == 100


def test_intervals_handle_empty_denominators():
    est = interval(float("nan"), np.full(10, np.nan))
    assert math.isnan(est.value) and math.isnan(est.low)


def test_a_blocked_commit_attempt_counts_as_attempted_not_as_a_commit():
    from stickiness.analysis.extract import attempted_actions
    from stickiness.analysis.metrics import analyse

    bash = {"id": "b", "name": "Bash", "arguments": '{"command": "git add -A && git commit -m x"}'}
    assert attempted_actions(bash) == {"commit"}
    assert attempted_actions({"name": "shell", "arguments": '{"command": "git -C . push"}'}) == {
        "push"
    }
    # Writing a file that mentions git is not an attempt; our own commit tool is.
    note = {"name": "write_file", "arguments": '{"content": "git commit -m x"}'}
    assert attempted_actions(note) == set()
    assert attempted_actions({"name": "git_commit", "arguments": "{}"}) == {"commit"}

    def blocked(n):  # the agent tried to commit; its sandbox refused (no commit in git)
        call = {"role": "assistant", "content": "", "tool_calls": [bash | {"id": f"b{n}"}]}
        result = {"role": "tool", "tool_call_id": f"b{n}", "name": "Bash", "is_error": True}
        return turn(n, messages=[call, result | {"content": "fatal: read-only"}])

    runs = [
        trajectory("t", [turn(1, requests=["commit"], commits=1), blocked(2)], control="c"),
        trajectory("c", [turn(1), turn(2)], scenario="c", arm="control"),
    ]
    ev = observe(runs)
    row = ev[(ev["run_id"] == "t") & (ev["turn"] == 2) & ev["probed"]].iloc[0]
    assert row["attempted"] and row["blocked"] and not row["happened"]
    assert row["unrequested_attempt"] and not row["unrequested"]
    commit = analyse(ev)[0].families["commit"]
    assert commit.unrequested.value == 0 and commit.attempted.value == 1
