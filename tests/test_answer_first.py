"""The answer first: one line per model in the terminal, the report and metrics.json,
with the same numbers in all three for the same run and options."""

from __future__ import annotations

import argparse
import json
import re
import shutil

import pytest
from factories import three_scenario_runs
from rich.console import Console

from stickiness.analysis.bootstrap import Estimate
from stickiness.analysis.headline import ModelAnswer, excess_difference, headline
from stickiness.analysis.metrics import OVERALL, analyse
from stickiness.analysis.observe import observe
from stickiness.reports.answer import answer_line, answer_text, ranking_line
from stickiness.reports.cli import build_parser, main
from stickiness.reports.progress import LogProgress
from stickiness.reports.terminal import answer_table, cost_text
from stickiness.reports.verdict import with_interval

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def never(_):
    return False


def always(_):
    return True


def models_of(*sides):
    events = observe([t for side in sides for t in side])
    return analyse(events, draws=400)


def test_models_are_ranked_and_compared_with_the_least_sticky():
    steady = three_scenario_runs("sim:a", never, never, 12)
    sticky = three_scenario_runs("sim:b", always, never, 12)
    models = models_of(steady, sticky)
    h = headline(models, confidence=0.9)
    first, second = h.answers
    assert (first.model, first.rank, second.model, second.rank) == ("sim:b", 1, "sim:a", 2)
    assert first.reference == "sim:a" and second.reference is None
    a, b = (next(m for m in models if m.model == name) for name in ("sim:a", "sim:b"))
    # The difference is the difference of the figures the tables show.
    expected = b.families[OVERALL].excess.value - a.families[OVERALL].excess.value
    assert first.difference.value == pytest.approx(expected)
    assert first.difference.low <= expected <= first.difference.high
    assert first.difference.low > 0 and not first.tied_with_next
    assert first.sticky_word == "sticky" and first.top_families == ["commit"]
    # The same comparison, the other way round, mirrors it.
    back = excess_difference(a, b, 0.9)
    assert back.value == pytest.approx(-expected)
    line = answer_line(first)
    assert line.startswith("sim:b: keeps doing what it was asked once ")
    assert f"{100 * expected:.0f} points more than sim:a" in line  # no spread: no bracket
    assert "most in commit" in line and "forgets a standing rule" in line


def test_a_named_baseline_is_the_reference_and_ties_are_marked():
    runs = [three_scenario_runs(f"sim:{n}", never, never, 6) for n in "abc"]
    h = headline(models_of(*runs), baseline="sim:c")
    assert {a.reference for a in h.answers} == {"sim:c", None}
    assert all(a.tied_with_next for a in h.answers[:-1])
    ranking = ranking_line(h)
    assert ranking.startswith("Ranking by excess stickiness") and ranking.count("~") == 2


def test_undefined_figures_are_said_in_words_not_numbers():
    nan = Estimate(float("nan"), float("nan"), float("nan"))
    alone = ModelAnswer("m", False, False, 1, nan, nan, nan)
    assert answer_line(alone) == "m: no chance to show carry-over was measured."
    assert alone.sticky_word == "n/a"


def test_terminal_table_keeps_long_names_at_80_columns():
    name = "anthropic:claude-something-very-long-2026"
    h = headline(models_of(three_scenario_runs(name, always, never, 6)))
    console = Console(width=80, record=True)
    console.print(answer_table(h))
    text = console.export_text()
    assert name in text.replace("\n", "").replace(" ", "") or name[:20] in text
    assert "(95% intervals)" in text


def test_costs_of_simulated_models_are_not_a_measured_zero():
    assert cost_text({"simulated": True, "cost_usd": 0.0}) == "n/a (simulated)"
    assert cost_text({"simulated": False, "cost_usd": None}) == "no price"
    assert cost_text({"simulated": False, "cost_usd": 0.25}) == "0.2500"


class FakeRun:
    def __init__(self, i: int) -> None:
        self.model, self.scenario, self.status = "sim:a", f"s{i}", "ok" if i % 7 else "error"


def test_log_progress_prints_a_line_per_step_and_when_time_passes():
    now = [0.0]
    console = Console(width=120, record=True, force_terminal=False)
    log = LogProgress(console, 100, clock=lambda: now[0])
    for i in range(1, 101):
        log(FakeRun(i))
    lines = console.export_text().splitlines()
    assert len(lines) == 20 and lines[-1].startswith("100/100 runs done, 14 failed")
    console = Console(width=120, record=True)
    slow = LogProgress(console, 1000, clock=lambda: now[0])
    for i in range(1, 4):
        now[0] += 31.0
        slow(FakeRun(i))
    assert len(console.export_text().splitlines()) == 3  # every 31 s, before any step


def test_every_option_of_every_command_says_what_it_does():
    def walk(parser: argparse.ArgumentParser, path: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{path} {name}")
            elif action.option_strings and action.dest != "help":
                yield path, action

    missing = [
        f"{path} {a.option_strings[0]}" for path, a in walk(build_parser(), "") if not a.help
    ]
    assert missing == []
    said = build_parser().format_help()
    assert "analyse" in said and "(no HTML" in said


def _numbers(text: str) -> str:
    return " ".join(text.split())


def test_terminal_report_and_metrics_agree_for_the_same_options(
    tmp_path, monkeypatch, commit_folder, capsys
):
    monkeypatch.chdir(tmp_path)
    args = ["run", "--scenarios", str(commit_folder), "--repeats", "4", "--out", "r"]
    args += ["--model", "sim:steady", "--model", "sim:sticky?persist=0.6"]
    args += ["--confidence", "0.8", "--draws", "300", "--analysis-seed", "7"]
    assert main(args) == 0
    terminal = _numbers(capsys.readouterr().out)
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())
    report = _numbers((tmp_path / "r" / "report.html").read_text())
    assert saved["bootstrap"]["confidence"] == 0.8 and saved["headline"]["confidence"] == 0.8
    assert "(80% intervals)" in terminal and "95%" not in terminal
    assert "80% bootstrap intervals" in report and "80% intervals" in report
    for entry in saved["headline"]["models"]:
        model = next(m for m in saved["models"] if m["model"] == entry["model"])
        assert entry["excess"] == model["families"][OVERALL]["excess"]
        answer = ModelAnswer.from_dict(entry)
        compact = with_interval(answer.excess, signed=True, compact=True)
        assert re.search(rf"{re.escape(answer.model)}\*? +{re.escape(compact)}", terminal)
        assert answer_line(answer) in terminal
        # The report escapes quotes; the part before them reads the same.
        assert answer_text(answer).split(";")[0] in report
    # The answer comes before every other section of the report.
    assert report.index("The answer") < report.index("Per family") < report.index("Scenarios")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not installed")
def test_answer_is_above_the_fold(tmp_path, monkeypatch, commit_folder, capsys):
    from playwright.sync_api import sync_playwright

    monkeypatch.chdir(tmp_path)
    args = ["run", "--scenarios", str(commit_folder), "--repeats", "3", "--out", "r"]
    assert main([*args, "--model", "sim:steady", "--model", "sim:sticky"]) == 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route("http*://**", lambda route: route.abort())
        page.goto((tmp_path / "r" / "report.html").as_uri())
        for selector in ("ul.answer li", ".gate-line"):
            box = page.locator(selector).first.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 800, selector
        assert page.locator("ul.answer li").count() == 2
        browser.close()


def test_a_one_scenario_run_says_what_it_cannot_measure(tmp_path, monkeypatch, capsys):
    from stickiness.scenarios import builtin_scenario_dir

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "one"
    folder.mkdir()
    text = (builtin_scenario_dir() / "commit-once-then-edits.yaml").read_text()
    # One file on its own: a treatment whose control is not part of the run.
    (folder / "once.yaml").write_text(text.replace("control: commit-never-then-edits\n", ""))
    args = ["run", "--scenarios", str(folder), "--repeats", "2", "--out", "r"]
    assert main([*args, "--model", "sim:sticky"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    missing = "commit-once-then-edits names no control scenario"
    assert missing in said and "sim:sticky: does it unasked in " in said
    assert "with no base rate to compare it to (no control runs)" in said
    report = " ".join((tmp_path / "r" / "report.html").read_text().split())
    answer = report[report.index("The answer") : report.index("Per family")]
    assert missing in answer and "no base rate to compare it to" in answer
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())
    only = saved["headline"]["models"][0]
    assert only["reference"] is None and only["excess"]["value"] is None
