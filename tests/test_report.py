from __future__ import annotations

import base64
import gzip
import json
import re
from html.parser import HTMLParser

from factories import three_scenario_runs, trajectory, turn

from stickiness.reports.html import render_report

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def embedded_runs(html: str) -> list[dict]:
    """The run explorer's transcripts as the page embeds them, decompressed."""
    blocks = re.search(r'<script type="application/json" id="x-details">(.*?)</script>', html)
    return [
        run
        for block in json.loads(blocks.group(1))
        for run in json.loads(gzip.decompress(base64.b64decode(block)))
    ]


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.handlers: list[str] = []
        self.scripts: list[dict] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "script":
            self.scripts.append(dict(attrs))
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


def hostile_run():
    messages = [
        {
            "role": "assistant",
            "content": HOSTILE,
            "tool_calls": [{"id": "1", "name": "write_file", "arguments": HOSTILE}],
        },
        {
            "role": "tool",
            "tool_call_id": "1",
            "name": "write_file",
            "content": HOSTILE,
            "is_error": True,
        },
    ]
    t = turn(1, commits=1, text=HOSTILE, messages=messages)
    t.commits[0].message = HOSTILE
    return trajectory("evil", [t], model=f"sim:{HOSTILE}", scenario="s-evil", arm="control")


def test_everything_a_model_wrote_is_escaped():
    html = render_report([hostile_run()])
    parser = TagCollector()
    parser.feed(html)
    # The only scripts are the run explorer's: its code and its two JSON data blocks.
    assert parser.scripts == [
        {"type": "application/json", "id": "x-summary"},
        {"type": "application/json", "id": "x-details"},
        {},
    ]
    assert html.count("<script") == 3 and "<script>alert" not in html
    assert parser.handlers == []  # no on* attribute survived
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # The only <img> tags are our own inline figures.
    imgs = html.count("<img ")
    assert imgs == html.count('<img alt="')


def test_report_labels_simulated_models_and_shows_runs(commit_scenarios):
    from stickiness.agents.models import ModelSpec
    from stickiness.agents.runner import plan_runs, run_one

    runs = [
        run_one(s)
        for s in plan_runs(list(commit_scenarios.values()), [ModelSpec.parse("sim:sticky")], 2)
    ]
    html = render_report(runs)
    assert "simulated" in html and "sim:sticky" in html
    assert f"{len(runs)} runs" in html and 'id="x-summary"' in html
    assert "data:image/png;base64," in html
    for sid in commit_scenarios:
        assert sid in html


def _model_runs(model: str, carry: bool, forget: bool) -> list:
    return three_scenario_runs(model, lambda _: carry, lambda _: forget)


def test_similarity_of_behaviour_profiles():
    from stickiness.analysis.metrics import analyse
    from stickiness.analysis.observe import observe
    from stickiness.analysis.similarity import distance, distance_matrix, family_differences

    runs = (
        _model_runs("sim:a", True, False)
        + _model_runs("sim:b", True, False)
        + _model_runs("sim:c", False, True)
    )
    a, b, c = analyse(observe(runs), draws=200)
    assert distance(a, b) == 0
    assert distance(a, c) > 0.3
    top = family_differences(a, c)[0]
    assert top["measure"] in ("commit: excess", "commit: forget") and abs(top["difference"]) > 0.3
    matrix = distance_matrix([a, b, c])
    assert matrix.shape == (3, 3) and matrix.loc["sim:a", "sim:c"] == matrix.loc["sim:c", "sim:a"]


def test_report_with_three_models_shows_the_figures_and_the_differences():
    runs = (
        _model_runs("sim:a", True, False)
        + _model_runs("sim:b", True, False)
        + _model_runs("sim:c", False, True)
    )
    html = render_report(runs)
    for alt in (
        "Excess stickiness per model and family",
        "Carry-over by lag",
        "Excess stickiness against forget rate",
    ):
        assert f'alt="{alt}' in html
    assert "How the models differ" in html and "Profile distance" in html
    assert html.count("where they differ most") == 3  # every pair of three models


def test_two_models_get_the_gate_verdict_in_the_report():
    runs = _model_runs("sim:a", False, False) + _model_runs("sim:b", True, False)
    html = render_report(runs, baseline="sim:a")
    assert "Gate: sim:b against sim:a" in html
    assert "regression" in html


def test_model_names_are_text_not_mathtext_and_secrets_are_redacted():
    from stickiness.agents.redact import register_secret

    register_secret("report-canary-0123456789", "REPORT_TEST_KEY")
    odd = "openai:$\\frac{unclosed$^{x}_"
    runs = three_scenario_runs(odd, lambda i: i % 2 == 0, lambda i: False)
    runs += three_scenario_runs("sim:steady", lambda i: False, lambda i: False)
    runs[0].turns[0].messages[0]["content"] = "the key is report-canary-0123456789"
    html = render_report(runs)  # mathtext would fail to parse this name
    assert "$\\frac{unclosed$" in html and "<img" in html
    assert "report-canary-0123456789" not in html
    assert "[REDACTED REPORT_TEST_KEY]" in json.dumps(embedded_runs(html))
