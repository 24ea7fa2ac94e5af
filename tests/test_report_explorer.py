"""The report's run explorer: filters, lazily decoded transcripts, two models side by
side, in headless Chromium (skipped where Debian's `chromium` is missing); and what the
page embeds, checked without a browser.
"""

from __future__ import annotations

import json
import re

import pytest
from factories import trajectory, turn
from test_report import HOSTILE, embedded_runs
from test_report_in_browser import CHROMIUM, FLAGS

from stickiness.agents.redact import register_secret
from stickiness.reports.html import render_report

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian package chromium not installed"
)
REPEATS = 60  # two models: more runs than one page of the list holds
# Model text that would run script or add elements if it were ever parsed as HTML.
BREAKOUT = "</script><script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"
SECRET = "explorer-canary-5f3a9c1e77"
TOOLS = {"sim:a": "edit_file", "sim:b": "run_shell"}


def _exchange(model: str, n: int, note: str = "") -> list[dict]:
    call = {"id": f"{n}", "name": TOOLS[model], "arguments": json.dumps({"turn": n, "by": model})}
    return [
        {"role": "assistant", "content": f"{model} at turn {n}. {note}", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"{n}", "content": f"done {n}", "is_error": False},
    ]


def _run(model: str, scenario: str, repeat: int, turns: list, **kwargs):
    t = trajectory(
        f"{model}-{scenario}-{repeat}",
        turns,
        model=model,
        scenario=scenario,
        repeat=repeat,
        **kwargs,
    )
    t.seed = 1000 + repeat  # both models play a repeat with the same seed
    return t


def explorer_runs() -> list:
    runs = []
    for model in TOOLS:
        for i in range(REPEATS):
            note = BREAKOUT + HOSTILE if (model, i) == ("sim:b", 1) else ""
            treatment = [
                turn(
                    1,
                    requests=["commit"],
                    commits=1,
                    text=f"please commit, repeat {i}",
                    messages=_exchange(model, 1, note),
                ),
                turn(2, commits=int(model == "sim:b" or i % 3 == 0), messages=_exchange(model, 2)),
                turn(3, messages=_exchange(model, 3)),
            ]
            runs.append(_run(model, "s1", i, treatment, control="c"))
            control = [turn(1, messages=_exchange(model, 1)), turn(2, messages=_exchange(model, 2))]
            runs.append(_run(model, "c", i, control, arm="control"))
    # A violation, a forgotten standing rule, another family, and a failed run.
    runs.append(
        _run(
            "sim:b",
            "v",
            0,
            [turn(1, requests=["commit"], commits=1), turn(2, forbids=["commit"], commits=1)],
            control="c",
        )
    )
    runs.append(
        _run(
            "sim:a",
            "s",
            0,
            [turn(1, requires=["commit"], commits=1), turn(2)],
            kind="standing",
            control="c",
        )
    )
    runs.append(_run("sim:a", "p1", 0, [turn(1, pushes=1)], behaviour="push", arm="control"))
    failed = turn(1, text=f"the key is {SECRET}")
    failed.error = "the provider went away"
    runs.append(_run("sim:b", "c", REPEATS, [failed], arm="control", status="error"))
    runs[-1].error = f"the provider went away (key {SECRET})"
    return runs


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    register_secret(SECRET, "EXPLORER_TEST_KEY")
    path = tmp_path_factory.mktemp("explorer") / "report.html"
    path.write_text(render_report(explorer_runs()), encoding="utf-8")
    return path


class Watched:
    """A page that fails the test on console errors, dialogs, scripts from model text
    and any request but the report itself."""

    def __init__(self, browser, report) -> None:
        self.url = report.as_uri()
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.context.route("**/*", self._route)
        # Counts decompressions, to tell a transcript decoded on opening from one at load.
        self.context.add_init_script(
            """(() => {
                const Real = window.DecompressionStream;
                window.decoded = 0;
                window.DecompressionStream = class extends Real {
                    constructor(format) { super(format); window.decoded++; }
                };
            })()"""
        )
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("dialog", lambda d: (self.problems.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(self.url)
        self.page.wait_for_selector("#x-rows tr")

    def _route(self, route) -> None:
        if route.request.url == self.url or route.request.url.startswith("data:"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def assert_clean(self) -> None:
        assert self.problems == [] and self.blocked == []
        assert all(u == self.url or u.startswith("data:") for u in self.requests)
        assert self.page.evaluate("window.pwned") is None
        assert self.page.locator("script").count() == 3  # the explorer's own
        # Images: only the report's own figures, none made from model text.
        assert self.page.evaluate(
            "[...document.images].every(i => i.src.startsWith('data:image/png;base64,'))"
        )


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian package chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def watched(browser, report):
    w = Watched(browser, report)
    yield w
    w.context.close()


def _rows(page) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#x-rows tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )


@needs_chromium
def test_filters_narrow_the_list_and_the_count_is_announced(watched):
    page, total = watched.page, 4 * REPEATS + 4
    count = page.locator("#x-count")
    assert count.get_attribute("aria-live") == "polite"
    assert count.text_content() == f"{total} of {total} runs match; showing 1–100."
    assert len(_rows(page)) == 100
    page.click("#x-next")
    assert count.text_content() == f"{total} of {total} runs match; showing 101–200."

    page.select_option("#x-model", label="sim:b")
    page.select_option("#x-scenario", label="s1")
    assert count.text_content() == f"{REPEATS} of {total} runs match; showing 1–{REPEATS}."
    rows = _rows(page)
    assert {(r[0], r[1]) for r in rows} == {("sim:b", "s1")}
    assert [r[3] for r in rows] == [str(i) for i in range(REPEATS)]  # by repeat
    assert {r[6] for r in rows} == {"done unasked"}

    page.select_option("#x-scenario", label="all scenarios")
    page.select_option("#x-outcome", label="done after being told not to")
    assert [(r[1], r[6]) for r in _rows(page)] == [("v", "violation")]
    page.select_option("#x-outcome", label="failed")
    assert [(r[1], r[6]) for r in _rows(page)] == [("c", "failed")]
    page.select_option("#x-model", label="sim:a")
    assert _rows(page) == [] and "No run of" in count.text_content()
    page.select_option("#x-outcome", label="standing rule forgotten")
    assert [r[1] for r in _rows(page)] == ["s"]
    page.select_option("#x-outcome", label="any outcome")
    page.select_option("#x-family", label="push")
    assert [r[1] for r in _rows(page)] == ["p1"]
    # The cells: one per turn, coloured by what the analyser saw, named for a reader.
    page.select_option("#x-family", label="commit")
    page.select_option("#x-scenario", label="s1")
    strip = page.locator("#x-rows tr").first.locator(".x-cells")
    assert (
        strip.get_attribute("aria-label") == "turn 1 requested, turn 2 done unasked, turn 3 clean"
    )
    assert strip.locator("a.cell.requested").count() == 1

    page.click("#x-clear")
    assert count.text_content() == f"{total} of {total} runs match; showing 1–100."
    watched.assert_clean()


@needs_chromium
def test_opening_a_run_decodes_its_transcript_then_and_moves_focus_to_it(watched):
    page = watched.page
    page.select_option("#x-model", label="sim:a")
    page.select_option("#x-scenario", label="s1")
    assert page.locator(".x-transcript").count() == 0 and page.locator("#x-run").is_hidden()
    assert "please commit, repeat 4" not in page.inner_text("body")
    assert page.evaluate("window.decoded") == 0

    # From the keyboard: the row's Open button.
    button = page.locator("#x-rows tr").nth(4).locator("button")
    assert button.get_attribute("aria-label") == "Open sim:a · s1 · repeat 4"
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#x-run .x-transcript")
    assert page.evaluate("document.activeElement.id") == "x-run-h"
    assert page.evaluate("window.decoded") == 1  # the block holding this run
    run = page.locator("#x-run")
    assert page.inner_text("#x-run-h") == "sim:a · s1 · repeat 4"
    text = run.inner_text()
    assert "User: please commit, repeat 4" in text and "seed 1004" in text
    assert run.locator(".turn").count() == 3
    turn1 = run.locator(".turn").first
    assert turn1.locator("code").first.inner_text() == "→ edit_file"
    assert json.loads(turn1.locator("pre").first.inner_text()) == {"turn": 1, "by": "sim:a"}
    assert "← edit_file" in turn1.inner_text() and "done 1" in turn1.inner_text()
    assert "Commit 0000000000 “commit 1” — a.py" in turn1.inner_text()
    assert "(requested; phrasing 0; requests: commit)" in text

    # Closing gives the focus back; a cell opens its run at its turn.
    page.click("#x-run-close")
    assert page.locator(".x-transcript").count() == 0
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "Open sim:a · s1 · repeat 4"
    )
    page.locator("#x-rows tr").nth(2).locator("a.cell").nth(1).click()
    page.wait_for_selector("#x-run .x-transcript")
    assert page.evaluate("document.activeElement.textContent").startswith("Turn 2")

    # A failed run shows why, redacted.
    page.click("#x-clear")
    page.select_option("#x-outcome", label="failed")
    page.locator("#x-rows button").first.click()
    page.wait_for_function("document.querySelector('#x-run').innerText.includes('Failed:')")
    text = page.inner_text("#x-run")
    assert "[REDACTED EXPLORER_TEST_KEY]" in text and SECRET not in page.content()
    assert "The run failed in this turn: the provider went away" in text
    watched.assert_clean()


@needs_chromium
def test_side_by_side_aligns_two_models_turn_by_turn(watched):
    page = watched.page
    assert page.locator("table.x-side").count() == 0
    # The first two models by default.
    assert page.eval_on_selector("#x-cmp-a", "s => s.selectedOptions[0].text") == "sim:a"
    assert page.eval_on_selector("#x-cmp-b", "s => s.selectedOptions[0].text") == "sim:b"
    page.select_option("#x-cmp-scenario", label="s1")
    page.select_option("#x-cmp-repeat", label="1")
    page.click("#x-cmp-show")
    page.wait_for_selector("table.x-side")
    assert page.inner_text("table.x-side caption") == "s1 · repeat 1 · seed 1001"
    heads = page.eval_on_selector_all("table.x-side thead th", "ths => ths.map(t => t.innerText)")
    assert heads == ["turn", "sim:a", "sim:b"]
    rows = page.locator("table.x-side tbody tr")
    assert rows.count() == 3
    for n in (1, 2, 3):
        row = rows.nth(n - 1)
        assert row.locator("th").inner_text().startswith(f"Turn {n}")
        left, right = row.locator("td").nth(0), row.locator("td").nth(1)
        assert "→ edit_file" in left.inner_text() and "→ run_shell" in right.inner_text()
        assert json.loads(left.locator("pre").first.inner_text()) == {"turn": n, "by": "sim:a"}
        assert json.loads(right.locator("pre").first.inner_text()) == {"turn": n, "by": "sim:b"}
    # Turn 2: sim:b commits unasked, sim:a (repeat 1) does not.
    second = rows.nth(1)
    assert "Commit" not in second.locator("td").nth(0).inner_text()
    assert "Commit 0000000000 “commit 2” — a.py" in second.locator("td").nth(1).inner_text()
    assert "done unasked" in second.locator("td").nth(1).inner_text()
    # sim:b's hostile reply is text in its cell, and ran nothing.
    assert BREAKOUT in rows.nth(0).locator("td").nth(1).inner_text()

    # From an opened run: the same scenario and repeat, this run's model on the left.
    page.select_option("#x-model", label="sim:b")
    page.select_option("#x-scenario", label="s1")
    page.locator("#x-rows tr").nth(7).locator("button").click()
    page.wait_for_selector("#x-run .x-transcript")
    page.click("#x-run-compare")
    page.wait_for_function(
        "document.querySelector('table.x-side caption').textContent.includes('repeat 7')"
    )
    assert page.evaluate("document.activeElement.id") == "x-compare-h"
    heads = page.eval_on_selector_all("table.x-side thead th", "ths => ths.map(t => t.innerText)")
    assert heads == ["turn", "sim:b", "sim:a"]
    watched.assert_clean()


@needs_chromium
def test_hostile_model_text_stays_text(watched):
    page = watched.page
    page.select_option("#x-model", label="sim:b")
    page.select_option("#x-scenario", label="s1")
    page.locator("#x-rows tr").nth(1).locator("button").click()
    page.wait_for_selector("#x-run .x-transcript")
    said = page.locator("#x-run .x-said").nth(1).inner_text()
    assert said == f"Assistant: sim:b at turn 1. {BREAKOUT}{HOSTILE}"
    assert page.locator("#x-run img, #x-run script").count() == 0
    watched.assert_clean()


@needs_chromium
def test_print_hides_the_controls_and_keeps_the_summary(watched):
    page = watched.page
    page.emulate_media(media="print")
    assert page.locator(".x-controls").first.is_hidden() and page.locator("#x-next").is_hidden()
    assert page.locator("table.x-glance").is_visible()
    watched.assert_clean()


def test_embedded_json_cannot_close_its_script_and_secrets_are_redacted():
    register_secret(SECRET, "EXPLORER_TEST_KEY")
    runs = explorer_runs()
    evil = f"sim:{BREAKOUT}</SCRIPT ><!-- {SECRET} sk-proj-abcdefghijklmnop123456"
    runs[0].model = evil
    runs[0].turns[0].messages[0]["content"] = f"{'x' * 590}{SECRET} and more {'y' * 2000}"
    runs[0].turns[0].commits[0].message = f"{BREAKOUT} {SECRET}"
    html = render_report(runs)
    assert SECRET not in html and "sk-proj-abcdefghijklmnop123456" not in html
    for name in ("x-summary", "x-details"):
        body = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', html)
        text = body.group(1)
        assert not re.search(r"[<>&]", text)  # no </script, no <!--, no entity
        json.loads(text)
    summary = re.search(r'id="x-summary">(.*?)</script>', html).group(1)
    models = json.loads(summary)["models"]
    assert f"sim:{BREAKOUT}</SCRIPT ><!-- [REDACTED EXPLORER_TEST_KEY] [REDACTED]" in models
    details = json.dumps(embedded_runs(html))
    assert SECRET not in details and "[REDACTED EXPLORER_TEST_KEY]" in details
    first = next(r for r in embedded_runs(html) if r["id"] == runs[0].run_id)
    said = first["turns"][0]["items"][0][1]
    # The key straddles the clip point: redacted whole, then clipped.
    assert said.startswith("x" * 590 + "[REDACTED") and SECRET[:5] not in said
    assert said.endswith("more characters in trajectories.jsonl)")
    assert first["turns"][0]["commits"][0][1] == f"{BREAKOUT} [REDACTED EXPLORER_TEST_KEY]"


@needs_chromium
def test_one_model_has_nothing_to_put_side_by_side(browser, tmp_path):
    path = tmp_path / "one.html"
    runs = [_run("sim:a", "s1", i, [turn(1, requests=["commit"], commits=1)]) for i in range(3)]
    path.write_text(render_report(runs), encoding="utf-8")
    watched = Watched(browser, path)
    page = watched.page
    assert page.locator("#x-cmp-controls").is_hidden()
    assert page.inner_text("#x-cmp-status").startswith("Side by side needs two models")
    page.locator("#x-rows button").first.click()
    page.wait_for_selector("#x-run .x-transcript")
    assert page.locator("#x-run-compare").is_hidden()
    watched.assert_clean()
    watched.context.close()
