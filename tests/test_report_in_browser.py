"""The report in a real browser: headless Chromium opens it from a file URL.

Needs Debian's `chromium` (`.ci/run` installs it); skipped where it is missing.
"""

from __future__ import annotations

import shutil

import pytest
from factories import trajectory, turn
from test_report import HOSTILE, hostile_run

from stickiness.reports.html import render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not installed")

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_report_opens_offline_without_console_errors_and_runs_no_model_text(tmp_path):
    from playwright.sync_api import sync_playwright

    runs = (
        [hostile_run()]
        + [
            trajectory(
                f"r{i}",
                [
                    turn(1, requests=["commit"], commits=1),
                    turn(2, commits=i % 2),
                    turn(3, text=HOSTILE),
                ],
                control="c",
                repeat=i,
            )
            for i in range(3)
        ]
        + [
            trajectory(f"c{i}", [turn(1), turn(2)], scenario="c", arm="control", repeat=i)
            for i in range(3)
        ]
    )
    report = tmp_path / "report.html"
    report.write_text(render_report(runs), encoding="utf-8")
    problems, dialogs, requests = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        # A timeline cell opens its run's transcript at its turn.
        cell = page.locator("a.cell").first
        target = cell.get_attribute("href")
        cell.click()
        page.wait_for_selector(target)
        opened = page.evaluate("id => document.activeElement.id === id", target[1:])
        images = page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        browser.close()
    assert problems == [] and dialogs == []  # no errors, and no model text ran as script
    assert all(u.startswith(("file:", "data:")) for u in requests)  # nothing from the network
    assert opened and images
    assert (tmp_path / "report.png").stat().st_size > 10_000
