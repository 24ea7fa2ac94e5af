from __future__ import annotations

from html.parser import HTMLParser

from factories import trajectory, turn

from reports.html import render_report

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
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
    assert "script" not in parser.tags and "<script" not in html
    assert parser.handlers == []  # no on* attribute survived
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # The only <img> tags are our own inline figures.
    imgs = html.count("<img ")
    assert imgs == html.count('<img alt="')


def test_report_labels_simulated_models_and_shows_runs(commit_scenarios):
    from agents.models import ModelSpec
    from agents.runner import plan_runs, run_one

    runs = [
        run_one(s)
        for s in plan_runs(list(commit_scenarios.values()), [ModelSpec.parse("sim:sticky")], 2)
    ]
    html = render_report(runs)
    assert "simulated" in html and "sim:sticky" in html
    assert html.count('class="run"') == len(runs)
    assert "data:image/png;base64," in html
    for sid in commit_scenarios:
        assert sid in html
