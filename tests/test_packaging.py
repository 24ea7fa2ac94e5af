"""The wheel installs one import package, `stickiness`, so it lives beside other
distributions that use generic names (openai-agents installs `agents`)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPENAI_AGENTS = "openai-agents==0.24.0"
OFFLINE = ("Could not find a version", "No matching distribution", "NewConnectionError")


def _pip(*args: str, python: str = sys.executable, cwd: Path | None = None):
    return subprocess.run(
        [python, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = _pip("wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT))
    if built.returncode and any(s in built.stderr for s in OFFLINE):
        pytest.skip(f"no package index for the build backend: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("stickiness-*.whl")
    return path


def test_the_wheel_holds_only_the_stickiness_package(wheel):
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"stickiness"}
    names = zipfile.ZipFile(wheel).namelist()
    assert "stickiness/scenarios/commit-standing.yaml" in names
    assert "stickiness/reports/templates/report.html.j2" in names


def test_installed_next_to_openai_agents_both_import(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    installed = _pip("install", "--quiet", str(wheel), OPENAI_AGENTS, python=python)
    if installed.returncode and any(s in installed.stderr for s in OFFLINE):
        pytest.skip(f"no package index for {OPENAI_AGENTS}: {installed.stderr[-300:]}")
    assert installed.returncode == 0, installed.stderr
    probe = (
        "import agents, stickiness.agents.runner, stickiness.reports.cli;"
        "from agents import Agent, Runner;"
        "print(agents.__file__); print(stickiness.agents.runner.__file__)"
    )
    # Run from an empty folder: the checkout's own top-level folders must not be seen.
    seen = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert seen.returncode == 0, seen.stderr
    theirs, ours = seen.stdout.split()
    assert theirs.endswith("site-packages/agents/__init__.py")
    assert ours.endswith("site-packages/stickiness/agents/runner.py")
    cli = subprocess.run(
        [str(venv / "bin" / "stickiness"), "scenarios", "list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert cli.returncode == 0 and "commit-standing" in cli.stdout, cli.stderr
