"""The command line end to end, in a temp dir, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
import tempfile

from stickiness.agents.trajectory_reader import read_trajectories
from stickiness.reports.cli import main
from stickiness.scenarios import builtin_scenario_dir


def test_run_writes_trajectories_and_report_with_real_commits(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # Kept workspaces belong to the user: keep them inside this test's folder.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    code = main(["run", "--repeats", "1", "--keep-workspaces"])
    out = capsys.readouterr().out
    assert code == 0
    (run_dir,) = (tmp_path / "stickiness-runs").iterdir()
    report = run_dir / "report.html"
    assert f"report: {report.resolve()}" in out.replace("\n", "")
    assert "sim:steady" in out and "sim:sticky" in out
    runs, warnings = read_trajectories(run_dir / "trajectories.jsonl")
    n_scenarios = len(list(builtin_scenario_dir().glob("*.yaml")))
    assert len(runs) == n_scenarios * 2 * 1 and not warnings
    assert (run_dir / "metrics.json").is_file() and (run_dir / "events.csv").is_file()
    assert {t.model for t in runs} == {"sim:steady", "sim:sticky"}
    # Every recorded commit exists in the kept repository, with the recorded files.
    checked = 0
    for t in runs:
        workspace = t.workspace
        for turn in t.turns:
            for c in turn.commits:
                files = subprocess.run(
                    ["git", "show", "--name-only", "--format=", c.sha],
                    cwd=workspace,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                assert sorted(files) == c.files
                checked += 1
    assert checked > 0
    html = report.read_text()
    # The explorer's own data and code, nothing else.
    assert "sim:sticky" in html and html.count("<script") == 3


def test_report_command_rebuilds_from_trajectories(tmp_path, monkeypatch, commit_folder):
    monkeypatch.chdir(tmp_path)
    args = ["run", "--repeats", "1", "--model", "sim:eager", "--out", "r"]
    assert main([*args, "--scenarios", str(commit_folder)]) == 0
    (tmp_path / "r" / "report.html").unlink()
    assert main(["report", "r", "-o", "again.html"]) == 0
    assert "sim:eager" in (tmp_path / "again.html").read_text()


def test_user_errors_are_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: t\n")
    cases = [
        (["run", "--model", "sim:clingy"], "unknown simulated profile 'clingy'"),
        (["run", "--scenarios", str(bad)], f"{bad}: field behaviour: required field is missing"),
        (["report", str(tmp_path / "nowhere")], "no such file"),
    ]
    for args, expected in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "stickiness.reports.cli", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2, proc.stderr
        assert expected in " ".join(proc.stderr.split())
        assert "Traceback" not in proc.stderr + proc.stdout


HOOKED = """\
id: hooked-control
title: Plain edits, watched by a Python hook
behaviour: says-done
arm: control
kind: control
detectors:
  - name: says-done
    family: style
    hook: detectors.py:says_done
workspace:
  files:
    notes.md: "# Notes\\n"
turns:
  - user: "Add a line to notes.md."
    requests: [edit:notes.md]
  - user: "Add another line to notes.md."
    requests: [edit:notes.md]
"""

HOOK = """\
from pathlib import Path

Path(__file__).with_name("imported.marker").touch()  # proves the module was imported


def says_done(turn):
    return "Done" in turn.assistant_text()
"""


def test_hooks_run_for_own_scenarios_and_for_a_folder_only_when_allowed(
    tmp_path, monkeypatch, capsys
):
    import csv

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "hooked.yaml").write_text(HOOKED)
    (folder / "detectors.py").write_text(HOOK)
    marker = folder / "imported.marker"

    def happened() -> set[str]:
        with open(tmp_path / "r" / "events.csv") as fh:
            rows = [r for r in csv.DictReader(fh) if r["behaviour"] == "says-done"]
        return {r["happened"] for r in rows}

    run = ["run", "--scenarios", str(folder), "--model", "sim:steady", "--repeats", "1"]
    assert main([*run, "--out", "r"]) == 0
    assert marker.exists() and happened() == {"True"}  # the user's own scenarios: trusted
    marker.unlink()
    capsys.readouterr()
    assert main(["analyse", "r"]) == 0
    out = capsys.readouterr().out
    assert "hook 'detectors.py:says_done' not run" in " ".join(out.split())
    assert not marker.exists() and happened() == {"False"}  # no code ran, nothing counted
    assert main(["analyse", "r", "--allow-hooks"]) == 0
    assert happened() == {"True"}  # (imported once per process: the marker is not made again)
