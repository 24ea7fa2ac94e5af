"""Report rendering at scale: 10,000 runs into one HTML file, then opened in Chromium.

  python benchmarks/render_report.py [--runs 10000] [--seed 0] [--from RUN_DIR]
                                     [--browser-repeats 3] [--keep report.html]

Synthesizes the runs (seeded) from the built-in scenarios: their real user turns,
annotations and workspace files, with made-up replies, tool calls, results, commits
and pushes, four models, 2% failed runs. Or reads a run folder's trajectories (--from).
Prints the render time and what each part of it cost, the file size, and in headless
Chromium (Debian's `chromium`) the time until the run explorer is usable, a filter
applied, a run opened and two models shown side by side.
Targets: render under 30 s, file under 25 MB, first filter applied under 2 s.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jinja2

from stickiness.agents.runner import derive_seed, draw_phrasings
from stickiness.agents.trajectory import CommitRecord, PushRecord, Trajectory, TurnRecord
from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.analysis.export import AnalysisSettings
from stickiness.reports import figures, html
from stickiness.scenarios import builtin_scenario_dir, load_scenarios
from stickiness.scenarios.model import Scenario

# Probability of doing the probed behaviour unasked on a turn, per model.
MODELS = {"sim:steady": 0.05, "sim:sticky": 0.5, "sim:eager": 0.3, "sim:forgetful": 0.15}
FAILED = 0.02
VOCABULARY = (
    "the fix function test file change update module value return error check "
    "commit branch review small simple now done keep read write run add remove"
)
WORDS = VOCABULARY.split()
TOOLS = ("read_file", "write_file", "run_shell", "list_files", "search")


def _sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def _exchange(rng: random.Random, files: dict[str, str], n: int) -> list[dict]:
    """A reply with tool calls and their results, sized like a coding agent's."""
    messages: list[dict] = []
    for k in range(rng.randint(1, 4)):
        path = rng.choice(sorted(files)) if files else "README.md"
        name = rng.choice(TOOLS)
        body = files.get(path, "") * rng.randint(1, 3)
        if name == "write_file":
            args = {"path": path, "content": body + _sentence(rng, 5, 40)}
        elif name == "run_shell":
            args = {"command": f"python -m pytest -q {path} && git status"}
        else:
            args = {"path": path}
        call = {"id": f"c{n}_{k}", "name": name, "arguments": json.dumps(args)}
        messages.append(
            {"role": "assistant", "content": _sentence(rng, 4, 30), "tool_calls": [call]}
        )
        result = body if name == "read_file" else _sentence(rng, 3, 200)
        messages.append(
            {
                "role": "tool",
                "tool_call_id": call["id"],
                "name": name,
                "content": result,
                "is_error": rng.random() < 0.05,
            }
        )
    messages.append({"role": "assistant", "content": _sentence(rng, 10, 80), "tool_calls": []})
    return messages


def _run(scenario: Scenario, model: str, repeat: int, unasked: float, base: int) -> Trajectory:
    seed = derive_seed(base, scenario.id, repeat)
    rendered, values = scenario.render(seed)
    rng = random.Random(f"{seed}|{model}")
    files = dict(rendered.workspace.files)
    turns = []
    for n, (spec, phrasing) in enumerate(
        zip(rendered.turns, draw_phrasings(rendered, seed), strict=True), start=1
    ):
        asked = any(r in ("commit", "push") for r in spec.requests)
        act = asked or rng.random() < unasked
        commit = act and ("commit" in spec.requests or rng.random() < 0.8)
        turns.append(
            TurnRecord(
                turn=n,
                user=spec.user[phrasing],
                phrasing=phrasing,
                requests=spec.requests,
                forbids=spec.forbids,
                requires=spec.requires,
                messages=_exchange(rng, files, n),
                commits=[
                    CommitRecord(
                        sha=f"{rng.getrandbits(160):040x}",
                        message=_sentence(rng, 2, 8),
                        files=sorted(files)[:2],
                    )
                ]
                if commit
                else [],
                pushes=[PushRecord(ref="refs/heads/main", old="a" * 40, new="b" * 40)]
                if act and "push" in scenario.behaviour
                else [],
                files_changed=sorted(files)[:1],
                steps=rng.randint(1, 6),
                model_calls=rng.randint(1, 6),
                input_tokens=rng.randint(500, 9000),
                output_tokens=rng.randint(50, 900),
            )
        )
    failed = rng.random() < FAILED
    if failed:
        turns = turns[: rng.randint(1, len(turns))]
        turns[-1].error = "ProviderError: 503 upstream overloaded"
    return Trajectory(
        run_id=f"{scenario.id}-{model}-{repeat}",
        scenario=scenario.id,
        scenario_file=scenario.source,
        scenario_sha256=scenario.sha256,
        title=rendered.title,
        behaviour=scenario.behaviour,
        family=scenario.family,
        template_values=values,
        detectors=[d.model_dump(by_alias=True, exclude_defaults=True) for d in scenario.detectors],
        arm=scenario.arm,
        kind=scenario.kind,
        control=scenario.control,
        model=model,
        simulated=True,
        harness="minimal",
        system_prompt="You are a coding agent.",
        seed=seed,
        repeat=repeat,
        started_at="2026-01-01T00:00:00",
        finished_at="2026-01-01T00:01:00",
        status="error" if failed else "ok",
        error="ProviderError: 503 upstream overloaded" if failed else None,
        turns=turns,
    )


def synthesize(runs: int, seed: int = 0) -> list[Trajectory]:
    scenarios = load_scenarios([builtin_scenario_dir()])
    out: list[Trajectory] = []
    repeat = 0
    while len(out) < runs:
        for scenario in scenarios:
            for model, unasked in MODELS.items():
                if len(out) < runs:
                    out.append(_run(scenario, model, repeat, unasked, seed))
        repeat += 1
    return out


@contextmanager
def timed(costs: dict[str, float], parts: list[tuple[object, str, str]]) -> Iterator[None]:
    """Each `owner.name` timed into costs[label] while the block runs; a call made
    inside another timed call (a figure's helper) counts for the outer one only."""
    depth = [0]

    def timer(original, label):
        def wrapper(*args, **kwargs):
            depth[0] += 1
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    costs[label] += time.perf_counter() - started

        return wrapper

    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in parts]
    try:
        for (owner, name, original), (_, _, label) in zip(originals, parts, strict=True):
            setattr(owner, name, timer(original, label))
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def render(trajectories: list[Trajectory], path: Path) -> tuple[float, dict[str, float]]:
    """Seconds for the whole report, and per part (the template's time includes the
    explorer's template, not the making of its data)."""
    costs: dict[str, float] = defaultdict(float)
    parts: list[tuple[object, str, str]] = [
        (html, "observe", "events (observe)"),
        (AnalysisSettings, "analyse", "metrics and bootstrap (analyse)"),
        (html, "analyse", "metrics and bootstrap (analyse)"),
        (html, "per_scenario", "per-scenario table"),
        (html, "per_phrasing", "per-phrasing table"),
        (html, "explorer_data", "run explorer data (explorer_data)"),
        (html, "usage_rows", "usage table"),
        (html, "_two_model_gate", "gate"),
        (jinja2.Template, "render", "template (incl. the embedding)"),
    ]
    parts += [
        (figures, n, f"figure {n}")
        for n, value in vars(figures).items()
        if not n.startswith("_") and getattr(value, "__module__", "") == figures.__name__
    ]
    # Whichever of these this version of the report calls.
    parts = [(owner, name, label) for owner, name, label in parts if hasattr(owner, name)]
    started = time.perf_counter()
    with timed(costs, parts):
        html.write_report(trajectories, path)
    return time.perf_counter() - started, dict(costs)


def in_browser(path: Path, chromium: str) -> dict[str, float]:
    """Milliseconds from navigation start until the explorer lists runs and until a first
    filter is applied, and how long opening a run and a side-by-side view take."""
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=flags)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("http*://**", lambda route: route.abort())
        page.goto(path.as_uri(), wait_until="commit")
        page.wait_for_selector("#x-rows tr")
        listed = page.evaluate("performance.now()")
        filtered = page.evaluate(
            """() => {
                const select = document.getElementById("x-model");
                const started = performance.now();
                select.value = select.options[2].value;
                select.dispatchEvent(new Event("change"));
                document.getElementById("x-rows").getBoundingClientRect();  // laid out
                return [performance.now(), performance.now() - started];
            }"""
        )
        opened = page.evaluate(_until("#x-rows button", ".x-transcript"))
        side = page.evaluate(_until("#x-cmp-show", "table.x-side"))
        timing = page.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return [n.domInteractive, n.loadEventEnd]; })()"
        )
        browser.close()
    return {
        "HTML parsed (domInteractive)": timing[0],
        "load event": timing[1],
        "runs listed": listed,
        "first filter applied": filtered[0],
        "  the filter itself": filtered[1],
        "open a run (decompress, render)": opened,
        "side by side": side,
    }


def _until(click: str, appears: str) -> str:
    return f"""async () => {{
        const started = performance.now();
        document.querySelector({click!r}).click();
        while (!document.querySelector({appears!r}))
            await new Promise((done) => requestAnimationFrame(done));
        return performance.now() - started;
    }}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0, help="of the synthesized runs")
    parser.add_argument("--from", dest="source", metavar="RUN_DIR")
    parser.add_argument("--browser-repeats", type=int, default=3)
    parser.add_argument("--keep", metavar="FILE", help="copy the report here")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.source:
        trajectories, _ = read_trajectories(Path(args.source) / "trajectories.jsonl")
    else:
        trajectories = synthesize(args.runs, args.seed)
    turns = sum(len(t.turns) for t in trajectories)
    print(f"{len(trajectories):,} runs, {turns:,} turns ({time.perf_counter() - started:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        elapsed, costs = render(trajectories, path)
        size = path.stat().st_size / 1e6
        print(f"rendered in {elapsed:.1f} s (target < 30 s), {size:.1f} MB (target < 25 MB)")
        for label, seconds in sorted(costs.items(), key=lambda kv: -kv[1]):
            if seconds >= 0.05:
                print(f"  {seconds:6.1f} s  {label}")
        print(f"  {elapsed - sum(costs.values()):6.1f} s  everything else")
        text = path.read_text(encoding="utf-8")
        for name in ("x-summary", "x-details"):
            start = text.index(f'id="{name}">')
            print(f"  {(text.index('</script>', start) - start) / 1e6:6.1f} MB  embedded {name}")
        if args.keep:
            shutil.copy(path, args.keep)
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            print("no chromium: browser timings skipped")
            return
        for attempt in range(1, args.browser_repeats + 1):
            figures_ms = in_browser(path, chromium)
            shown = ", ".join(f"{k.strip()} {v:,.0f} ms" for k, v in figures_ms.items())
            print(f"browser #{attempt}: {shown} (target: first filter < 2,000 ms)")


if __name__ == "__main__":
    main()
