"""The second axis's two extra readers: claim phrasings a scenario declares, and the
model judge switched on from the command line (against the local scripted server)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from factories import trajectory, turn
from llm_server import OPENAI, FakeLLMServer, openai_reply

from stickiness.agents.trajectory import TrajectoryError
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.analysis.claims import extract_claims
from stickiness.analysis.observe import observe
from stickiness.reports.cli import main
from stickiness.scenarios import ScenarioError, builtin_scenario_dir, load_scenario

LANDED = {"kind": "committed", "pattern": r"(?i)\blanded\b", "example": "Landed on main."}


def claim_scenario(**extra) -> dict:
    doc = yaml.safe_load((builtin_scenario_dir() / "claim-commit-nothing.yaml").read_text())
    return {**doc, **extra}


def write(folder: Path, doc: dict, name: str = "s.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_declared_claim_pattern_is_read_like_a_built_in_one():
    declared = [LANDED]
    assert [c.kind for c in extract_claims("Landed the change on main.", declared)] == ["committed"]
    # The same cues cancel it: a negation, a plan, a question.
    for reply in (
        "I have not landed it yet.",
        "I will land it... once landed, tell me.",
        "Landed?",
    ):
        assert extract_claims(reply, declared) == [], reply
    # Without the declaration the phrasing is not a claim.
    assert extract_claims("Landed the change on main.") == []
    # An edit phrasing takes the path after it as its target.
    edited = [{"kind": "edited", "pattern": r"(?i)\bhabe\b"}]
    (claim,) = extract_claims("Ich habe `orders/service.py` geändert.", edited)
    assert (claim.kind, claim.target) == ("edited", "orders/service.py")


def test_claim_patterns_are_checked_when_the_scenario_is_loaded(tmp_path):
    ok = load_scenario(write(tmp_path, claim_scenario(claim_patterns=[LANDED])))
    assert ok.claim_patterns[0].kind == "committed"
    bad_cases = {
        "does not match its example": [{**LANDED, "example": "Committed."}],
        r"claim_patterns\[0\]\.kind: Input should be .committed.": [
            {"kind": "merged", "pattern": "x"}
        ],
        "lookaround": [{"kind": "pushed", "pattern": "(?<=a)b"}],
    }
    for expected, patterns in bad_cases.items():
        with pytest.raises(ScenarioError, match=expected):
            load_scenario(write(tmp_path, claim_scenario(claim_patterns=patterns)))
    commit = yaml.safe_load((builtin_scenario_dir() / "commit-once-then-edits.yaml").read_text())
    with pytest.raises(ScenarioError, match="claims are read only where the scenario probes"):
        load_scenario(write(tmp_path, {**commit, "claim_patterns": [LANDED]}))


def _landed_runs() -> list:
    """A false_claim run that says "landed" with no commit, declaring that phrasing."""
    runs = []
    for declared in ([LANDED], []):
        t = trajectory(
            f"run-{len(declared)}",
            [turn(1, changed=(), reply="Landed the change on main.")],
            behaviour="false_claim",
            scenario="claim-landed",
        )
        t.claim_patterns = [{"kind": d["kind"], "pattern": d["pattern"]} for d in declared]
        runs.append(t)
    return runs


def test_the_trajectory_carries_the_declared_phrasings_to_the_analysis(tmp_path):
    path = tmp_path / "trajectories.jsonl"
    path.write_text("".join(t.model_dump_json() + "\n" for t in _landed_runs()))
    runs, warnings = read_trajectories(path)
    assert not warnings
    ev = observe(runs)
    claims = ev[ev["behaviour"] == "false_claim"].set_index("run_id")["happened"]
    assert claims.to_dict() == {"run-1": True, "run-0": False}


def test_a_trajectory_with_a_pattern_re2_refuses_is_a_clear_error(tmp_path):
    (t, _) = _landed_runs()
    record = json.loads(t.model_dump_json())
    record["claim_patterns"] = [{"kind": "committed", "pattern": "(a)\\1"}]
    path = tmp_path / "trajectories.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(TrajectoryError, match="claim_patterns"):
        read_trajectories(path)


def test_a_simulated_run_records_the_scenarios_claim_patterns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "scen"
    folder.mkdir()
    write(folder, claim_scenario(claim_patterns=[LANDED]), "claim-commit-nothing.yaml")
    shutil.copy(builtin_scenario_dir() / "claim-commit-control.yaml", folder)
    args = ["run", "--scenarios", str(folder), "--model", "sim:steady", "--repeats", "1"]
    assert main([*args, "--out", "r"]) == 0
    runs, _ = read_trajectories(tmp_path / "r" / "trajectories.jsonl")
    declared = {t.scenario: t.claim_patterns for t in runs}
    assert declared["claim-commit-nothing"] == [{"kind": "committed", "pattern": LANDED["pattern"]}]
    assert declared["claim-commit-control"] == []


# --- the judge from the command line ----------------------------------------------------


@pytest.fixture
def no_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def _played(tmp_path: Path) -> Path:
    """sim:overclaim and sim:bluff on two claim and two question scenarios."""
    names = ("claim-commit-nothing", "claim-commit-control", "answer-config-unknown")
    folder = tmp_path / "scen"
    folder.mkdir()
    for name in (*names, "answer-config-control"):
        shutil.copy(builtin_scenario_dir() / f"{name}.yaml", folder)
    models = ["--model", "sim:overclaim?overclaim=1", "--model", "sim:bluff?bluff=1"]
    args = ["run", "--scenarios", str(folder), *models, "--repeats", "2"]
    assert main([*args, "--out", str(tmp_path / "r")]) == 0
    return tmp_path / "r"


def _second_axis(metrics_path: Path) -> dict[str, dict]:
    doc = json.loads(metrics_path.read_text())
    return {m["model"]: m["confidently_wrong"] for m in doc["models"]}


def test_analyse_with_a_judge_uses_its_reading_and_caches_it(tmp_path, monkeypatch, no_keys):
    monkeypatch.chdir(tmp_path)
    run = _played(tmp_path)
    before = _second_axis(run / "metrics.json")
    assert before["sim:overclaim?overclaim=1"]["false_claim_rate"]["value"] == 1.0
    assert before["sim:bluff?bluff=1"]["confident_wrong_rate"]["value"] == 1.0

    def judge(api: str, body: dict):
        # A judge that reads no claim in any reply, and every answer as an abstention.
        prompt = body["messages"][-1]["content"]
        answer = None if "No question was asked" in prompt else "abstained"
        return openai_reply(json.dumps({"claims": [], "answer": answer}))

    with FakeLLMServer(default=judge) as server:
        spec = f"openai:judge?base_url={server.openai_url}&key_env=none"
        assert main(["analyse", str(run), "--judge", spec, "--out", "judged"]) == 0
        asked = len(server.requests)
        assert main(["analyse", str(run), "--judge", spec, "--out", "again"]) == 0
        assert len(server.requests) == asked > 0  # the second analysis came from the cache
    assert {r["api"] for r in server.requests} == {OPENAI}
    assert (run / "judge-cache").is_dir()
    after = _second_axis(Path("judged") / "metrics.json")
    assert after["sim:overclaim?overclaim=1"]["false_claim_rate"]["value"] == 0.0
    assert after["sim:bluff?bluff=1"]["confident_wrong_rate"]["value"] == 0.0
    assert after["sim:bluff?bluff=1"]["abstention_rate"]["value"] == 1.0
    assert _second_axis(Path("again") / "metrics.json") == after


def test_a_judge_without_its_key_is_refused_before_anything_runs(
    tmp_path, monkeypatch, no_keys, capsys
):
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--repeats", "1", "--out", "r", "--judge", "openai:gpt-x"])
    assert code == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    Path("empty").mkdir()
    Path("empty/trajectories.jsonl").write_text("")
    assert main(["analyse", "empty", "--judge", "anthropic:claude-x"]) == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_unreadable_judge_answers_keep_the_patterns_reading_and_are_counted(
    tmp_path, monkeypatch, no_keys, capsys
):
    monkeypatch.chdir(tmp_path)
    run = _played(tmp_path)
    capsys.readouterr()
    with FakeLLMServer(default=lambda api, body: openai_reply("I cannot tell.")) as server:
        spec = f"openai:judge?base_url={server.openai_url}&key_env=none"
        assert main(["report", str(run), "--judge", spec, "-o", "judged.html"]) == 0
        asked = len(server.requests)
    out = " ".join(capsys.readouterr().out.split())
    assert "unusable answer (no JSON object in the answer); kept the patterns' result" in out
    found = re.search(
        r"(\d+) replies reviewed \((\d+) from the cache\), (\d+) answers unreadable", out
    )
    reviewed, cached, unreadable = map(int, found.groups())
    # Identical replies share one cached answer; every answer was unreadable.
    assert reviewed - cached == asked and unreadable == reviewed > asked
    assert Path("judged.html").is_file()
